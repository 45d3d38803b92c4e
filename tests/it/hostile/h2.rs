//! HTTP/2 with hand-made frames: floods, resets, bombs and malformed requests get GOAWAY or a
//! stream error as RFC 9113 says, Blnk sees nothing of them, and other connections are served.

use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::{assert_nothing_reached_blnk, open_h2, tls_gateway, wait_for, QUIET};
use crate::support::client::{bare, keyed_empty, send2};
use crate::support::clock::pace;
use crate::support::fake_blnk::Behavior;
use crate::support::gateway::TestGateway;
use crate::support::h2raw::*;

fn with_key(gw: &TestGateway, method: &str, path: &str) -> Vec<u8> {
    let mut b = request(method, path);
    b.extend(literal(b"x-blnk-key", gw.key.as_bytes()));
    b
}

/// A normal HTTP/2 client on its own connection still gets Blnk's answer.
async fn others_served(gw: &TestGateway) {
    let mut c = gw.h2().await;
    let a = send2(
        &mut c,
        keyed_empty("GET", "https://localhost/ledgers", &gw.key),
    )
    .await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn rapid_reset_gets_goaway_and_blnk_sees_a_bounded_number_of_requests() {
    let gw = tls_gateway(json!({})).await;
    let mut s = open_h2(&gw, &[]).await;
    let mut batch = Vec::new();
    // The exempt route: an outsider's cheapest way to make the gateway call Blnk.
    for i in 0..2000u32 {
        let id = 1 + 2 * i;
        batch.extend(headers(id, true, &request("GET", "/health")));
        batch.extend(rst(id, CANCEL));
    }
    let _ = s.write_all(&batch).await;
    let (frames, closed) = read_until(&mut s, QUIET, |f| goaway(f).is_some()).await;
    assert!(
        goaway(&frames) == Some(ENHANCE_YOUR_CALM) || closed,
        "no GOAWAY: {:?}",
        frames.iter().map(|f| f.ty).collect::<Vec<_>>()
    );
    let reached = gw.blnk.count();
    assert!(
        reached < 200,
        "{reached} of 2000 reset streams reached Blnk"
    );
    others_served(&gw).await;
}

#[tokio::test]
async fn a_continuation_flood_is_cut_off() {
    let gw = tls_gateway(json!({})).await;
    let mut s = open_h2(&gw, &[]).await;
    let _ = s
        .write_all(&frame(
            HEADERS,
            END_STREAM,
            1,
            &with_key(&gw, "GET", "/ledgers"),
        ))
        .await;
    let field = literal(b"x-flood", &[b'a'; 100]);
    let mut written = 0;
    for _ in 0..10_000 {
        if s.write_all(&frame(CONTINUATION, 0, 1, &field))
            .await
            .is_err()
        {
            break;
        }
        written += 1;
    }
    let (frames, closed) = read_until(&mut s, QUIET, |f| goaway(f).is_some()).await;
    assert!(
        goaway(&frames).is_some() || reset(&frames, 1).is_some() || closed,
        "flood of {written} CONTINUATION frames accepted"
    );
    assert_eq!(gw.blnk.count(), 0);
    others_served(&gw).await;
}

#[tokio::test]
async fn an_hpack_bomb_is_refused_within_the_header_list_limit() {
    let gw = tls_gateway(json!({})).await;
    let mut s = open_h2(&gw, &[]).await;
    // Stream 1 puts a 4000-byte field in the dynamic table (entry 62); stream 3 refers to it
    // 4000 times in 4000 bytes: 16 MB decoded from 4 KB sent.
    let mut first = request("GET", "/health");
    first.extend(literal_indexed(b"x-bomb", &[b'a'; 4000]));
    s.write_all(&headers(1, true, &first)).await.unwrap();
    let mut bomb = request("GET", "/health");
    bomb.extend(std::iter::repeat_n(0xbe, 4000));
    let _ = s.write_all(&headers(3, true, &bomb)).await;
    let (frames, closed) = read_until(&mut s, QUIET, |f| {
        goaway(f).is_some()
            || reset(f, 3).is_some()
            || f.iter().any(|f| f.ty == HEADERS && f.stream == 3)
    })
    .await;
    let refused = goaway(&frames).is_some()
        || reset(&frames, 3).is_some()
        || frames
            .iter()
            .any(|f| f.ty == HEADERS && f.stream == 3 && !f.is_ok_status())
        || closed;
    assert!(refused, "{frames:?}");
    // At most stream 1 (an ordinary /health request) reached Blnk.
    assert!(gw.blnk.count() <= 1);
    assert!(gw
        .blnk
        .requests()
        .iter()
        .all(|r| r.all("x-bomb").len() <= 1));
    others_served(&gw).await;
}

#[tokio::test(start_paused = true)]
async fn settings_and_ping_floods_are_answered_or_cut_and_others_are_served() {
    pace();
    const FLOOD: usize = 20_000;
    let gw = tls_gateway(json!({})).await;
    // Each flood, its frame type, and how many of the client's frames of that type ask for an
    // ACK: for SETTINGS, the opening's one too.
    for (flood, ty, asked) in [(settings(&[]), SETTINGS, FLOOD + 1), (ping(7), PING, FLOOD)] {
        let mut s = open_h2(&gw, &[]).await;
        let batch: Vec<u8> = flood
            .iter()
            .copied()
            .cycle()
            .take(flood.len() * FLOOD)
            .collect();
        let _ = s.write_all(&batch).await;
        // Meanwhile another connection is served; then read everything that came back.
        others_served(&gw).await;
        let (frames, _closed) = read_until(&mut s, QUIET, |_| false).await;
        // RFC 9113 lets the gateway answer a flood (an ACK for every frame that asks for one,
        // sections 6.5.3 and 6.7) or cut it (GOAWAY ENHANCE_YOUR_CALM), nothing in between:
        // - answered: no GOAWAY and exactly `asked` ACKs. Fewer is a flood silently dropped or
        //   a connection cut without a word; more is an answer to something never sent.
        // - cut: the GOAWAY says ENHANCE_YOUR_CALM, fewer than `asked` ACKs came, and none
        //   after the GOAWAY, which ends the exchange.
        // Either way a PING ACK echoes the ping's own payload and a SETTINGS ACK is empty.
        let acks: Vec<usize> = (0..frames.len())
            .filter(|&i| frames[i].ty == ty && frames[i].flags & ACK != 0)
            .collect();
        let expected = if ty == PING {
            ping(7)[9..].to_vec()
        } else {
            Vec::new()
        };
        assert!(
            acks.iter().all(|&i| frames[i].payload == expected),
            "an ACK that answers nothing sent"
        );
        // Frames by type, for the failure message.
        let kinds = frames
            .iter()
            .fold(std::collections::BTreeMap::new(), |mut m, f| {
                *m.entry(f.ty).or_insert(0) += 1;
                m
            });
        match frames.iter().position(|f| f.ty == GOAWAY) {
            None => assert_eq!(acks.len(), asked, "type {ty}, frames by type {kinds:?}"),
            Some(at) => {
                assert_eq!(frames[at].code(), Some(ENHANCE_YOUR_CALM), "{ty}");
                assert!(acks.len() < asked, "{ty}: cut, yet every frame answered");
                assert!(acks.iter().all(|&i| i < at), "{ty}: ACKs after the GOAWAY");
            }
        }
    }
    assert_eq!(gw.blnk.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_zero_window_that_never_opens_is_closed_at_the_idle_deadline_despite_pings() {
    pace();
    let gw = tls_gateway(
        json!({"limits": {"idle_timeout": "300ms", "upstream_response_timeout": "250ms"}}),
    )
    .await;
    gw.blnk.set_behavior(Behavior::Large(1024 * 1024));
    let mut s = open_h2(&gw, &[(SETTINGS_INITIAL_WINDOW_SIZE, 0)]).await;
    s.write_all(&headers(1, true, &with_key(&gw, "GET", "/ledgers")))
        .await
        .unwrap();
    // Keep the connection "busy" with PINGs, which are not progress on any request.
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(50));
    let mut closed = false;
    for i in 0..300u64 {
        tick.tick().await;
        if s.write_all(&ping(i)).await.is_err() {
            closed = true;
            break;
        }
        let (_, eof) = read_until(&mut s, std::time::Duration::from_millis(1), |_| false).await;
        if eof {
            closed = true;
            break;
        }
    }
    assert!(closed, "the stalled connection was kept open by PINGs");
    wait_for("the upstream exchange to be dropped", || {
        gw.blnk.closed_connections() >= 1
    })
    .await;
    gw.blnk.set_behavior(Behavior::Normal);
    others_served(&gw).await;
}

#[tokio::test]
async fn streams_over_the_concurrency_limit_are_refused() {
    let gw = tls_gateway(json!({"limits": {"h2_max_concurrent_streams": 3}})).await;
    let mut s = open_h2(&gw, &[]).await;
    // Three POSTs whose bodies never come hold their streams; the fourth is refused.
    let mut batch = Vec::new();
    for id in [1u32, 3, 5, 7] {
        let mut b = with_key(&gw, "POST", "/transactions");
        b.extend(literal(b"content-length", b"5"));
        batch.extend(headers(id, false, &b));
    }
    s.write_all(&batch).await.unwrap();
    let (frames, _) = read_until(&mut s, QUIET, |f| reset(f, 7).is_some()).await;
    assert_eq!(reset(&frames, 7), Some(REFUSED_STREAM), "{frames:?}");
    others_served(&gw).await;
}

#[tokio::test]
async fn malformed_requests_get_stream_errors_and_never_reach_blnk() {
    let gw = tls_gateway(json!({})).await;
    let mut s = open_h2(&gw, &[]).await;
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    for (name, value) in [
        (&b"connection"[..], &b"keep-alive"[..]),
        (b"transfer-encoding", b"chunked"),
        (b"keep-alive", b"timeout=5"),
        (b"upgrade", b"websocket"),
        (b"proxy-connection", b"keep-alive"),
        (b"te", b"gzip"),
        (b"X-Blnk-Key", b"uppercase-name"),
        (b"x-a", b"bad\r\nvalue"),
        (b"x-a", b"nul\0value"),
        (b":path", b"/second-path"),
    ] {
        let mut b = with_key(&gw, "GET", "/ledgers");
        b.extend(literal(name, value));
        cases.push((std::str::from_utf8(name).unwrap(), b));
    }
    // A pseudo-header after a regular one.
    let mut late = literal(b"x-a", b"b");
    late.extend(with_key(&gw, "GET", "/ledgers"));
    cases.push(("late pseudo-header", late));
    // Each on a connection of its own: some are stream errors (RST_STREAM), others connection
    // errors (GOAWAY), both with PROTOCOL_ERROR as RFC 9113 8.1.1 and 8.2 allow.
    for (name, block) in &cases {
        let mut s = open_h2(&gw, &[]).await;
        s.write_all(&headers(1, true, block)).await.unwrap();
        let (frames, _) = read_until(&mut s, QUIET, |f| {
            f.iter().any(|f| f.stream == 1 || f.ty == GOAWAY)
        })
        .await;
        assert!(
            reset(&frames, 1) == Some(PROTOCOL_ERROR)
                || goaway(&frames) == Some(PROTOCOL_ERROR)
                || frames
                    .iter()
                    .any(|f| f.ty == HEADERS && f.stream == 1 && !f.is_ok_status()),
            "{name}: {frames:?}"
        );
    }
    assert_eq!(gw.blnk.count(), 0);
    // te: trailers is the one TE allowed.
    let mut b = with_key(&gw, "GET", "/ledgers");
    b.extend(literal(b"te", b"trailers"));
    let id = 1;
    s.write_all(&headers(id, true, &b)).await.unwrap();
    let (frames, _) = read_until(&mut s, QUIET, |f| f.iter().any(|f| f.stream == id)).await;
    assert!(
        frames.iter().any(|f| f.stream == id && f.is_ok_status()),
        "{frames:?}"
    );
    assert!(gw.blnk.last().all("te").is_empty());
}

/// The gateway's own answer to a HEAD (401, no key) ends its stream with the HEADERS frame: a
/// DATA frame there is a protocol error to the client (RFC 9113 section 8.1.1).
#[tokio::test]
async fn a_local_answer_to_head_is_headers_only() {
    let gw = tls_gateway(json!({})).await;
    let mut s = open_h2(&gw, &[]).await;
    s.write_all(&headers(1, true, &request("HEAD", "/ledgers")))
        .await
        .unwrap();
    let (frames, _) = read_until(&mut s, QUIET, |f| {
        f.iter().any(|f| f.stream == 1 && f.flags & END_STREAM != 0) || reset(f, 1).is_some()
    })
    .await;
    let mine: Vec<_> = frames.iter().filter(|f| f.stream == 1).collect();
    assert!(
        matches!(mine.as_slice(), [h] if h.ty == HEADERS && h.flags & END_STREAM != 0 && !h.is_ok_status()),
        "{mine:?}"
    );
    let mut c = gw.h2().await;
    let a = send2(&mut c, bare("HEAD", "https://localhost/ledgers")).await;
    assert_eq!(a.status, 401);
    assert!(a.body.is_empty());
    assert_nothing_reached_blnk(&gw);
}

/// A `host` that names another authority than `:authority` makes the request malformed (RFC
/// 9113 section 8.3.1): 400, never forwarded. The same name in either case goes through.
#[tokio::test]
async fn a_host_that_differs_from_the_authority_is_refused() {
    let gw = tls_gateway(json!({})).await;
    let mut s = open_h2(&gw, &[]).await;
    for (id, host, refused) in [
        (1u32, &b"evil.example"[..], true),
        (3, b"localhost:8443", true),
        (5, b"LocalHost", false),
    ] {
        let mut b = with_key(&gw, "GET", "/ledgers");
        b.extend(literal(b"host", host));
        s.write_all(&headers(id, true, &b)).await.unwrap();
        let (frames, _) = read_until(&mut s, QUIET, |f| {
            f.iter().any(|f| f.stream == id && f.ty == HEADERS)
        })
        .await;
        let answer = frames.iter().find(|f| f.stream == id && f.ty == HEADERS);
        match refused {
            true => assert!(
                answer.is_some_and(Frame::is_bad_request_status),
                "{frames:?}"
            ),
            false => assert!(answer.is_some_and(Frame::is_ok_status), "{frames:?}"),
        }
    }
    assert_eq!(gw.blnk.count(), 1);
}

/// Streams HTTP/2 refuses before the gateway's checks see a request (a connection-specific
/// header: `PROTOCOL_ERROR`; one over the concurrency limit: `REFUSED_STREAM`) each have their
/// audit record and count; a malformed request the pipeline refuses itself has its one record,
/// with its path, and is not counted again.
#[tokio::test]
async fn streams_http2_refuses_have_their_record_and_count() {
    let gw = tls_gateway(json!({"limits": {"h2_max_concurrent_streams": 1}})).await;
    let count = |reason: &'static str| {
        let gw = &gw;
        async move {
            let name = format!("blnk_gateway_protocol_refusals_total{{reason=\"{reason}\"}}");
            gw.metric(&name).await
        }
    };
    // One at a time, each answered before the next is sent.
    let mut s = open_h2(&gw, &[]).await;
    let mut cases = Vec::new();
    let mut b = with_key(&gw, "GET", "/ledgers");
    b.extend(literal(b"connection", b"keep-alive"));
    cases.push((1u32, b, (1.0, 0.0)));
    let mut b = with_key(&gw, "GET", "/ledgers");
    b.extend(literal(b"x-a", b" padded"));
    cases.push((3, b, (1.0, 0.0)));
    for (id, block, (errors, refused)) in cases {
        s.write_all(&headers(id, true, &block)).await.unwrap();
        let (frames, _) = read_until(&mut s, QUIET, |f| reset(f, id).is_some()).await;
        assert_eq!(reset(&frames, id), Some(PROTOCOL_ERROR), "{frames:?}");
        assert_eq!(count("h2_stream_error").await, errors, "stream {id}");
        assert_eq!(count("h2_refused_stream").await, refused, "stream {id}");
    }
    // Stream 5 holds the one slot (its body never comes); stream 7 is refused.
    let mut b = with_key(&gw, "POST", "/transactions");
    b.extend(literal(b"content-length", b"5"));
    s.write_all(&headers(5, false, &b)).await.unwrap();
    s.write_all(&headers(7, true, &with_key(&gw, "GET", "/ledgers")))
        .await
        .unwrap();
    let (frames, _) = read_until(&mut s, QUIET, |f| reset(f, 7).is_some()).await;
    assert_eq!(reset(&frames, 7), Some(REFUSED_STREAM), "{frames:?}");
    assert_eq!(count("h2_stream_error").await, 1.0);
    assert_eq!(count("h2_refused_stream").await, 1.0);
    assert_eq!(gw.blnk.count(), 0);
    drop(s);
    let records = gw.stop_and_read_audit().await.requests();
    let mut seen: Vec<_> = records
        .iter()
        .map(|r| {
            (
                r["reason"].as_str().unwrap_or(""),
                r["path"].as_str().unwrap_or(""),
            )
        })
        .filter(|(reason, _)| *reason != "CLIENT_GONE")
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("GATEWAY_BAD_REQUEST", "/ledgers"),
            // The held stream, its body cut off when the client left.
            ("GATEWAY_BAD_REQUEST", "/transactions"),
            ("H2_REFUSED_STREAM", ""),
            ("H2_STREAM_ERROR", ""),
        ],
        "{records:?}"
    );
    assert!(records.iter().all(|r| r["http"] == "HTTP/2"), "{records:?}");
}

#[tokio::test]
async fn a_content_length_that_disagrees_with_data_is_a_stream_error() {
    let gw = tls_gateway(json!({})).await;
    let mut s = open_h2(&gw, &[]).await;
    for (id, data) in [(1u32, &b"hello"[..]), (3, &b"hello, world!!!"[..])] {
        let mut b = with_key(&gw, "POST", "/transactions");
        b.extend(literal(b"content-length", b"10"));
        s.write_all(&headers(id, false, &b)).await.unwrap();
        s.write_all(&frame(DATA, END_STREAM, id, data))
            .await
            .unwrap();
        let (frames, _) = read_until(&mut s, QUIET, |f| {
            f.iter()
                .any(|f| f.stream == id && (f.ty == RST_STREAM || f.ty == HEADERS))
        })
        .await;
        assert!(
            reset(&frames, id) == Some(PROTOCOL_ERROR)
                || frames
                    .iter()
                    .any(|f| f.stream == id && f.ty == HEADERS && !f.is_ok_status()),
            "{frames:?}"
        );
    }
    assert_nothing_reached_blnk(&gw);
    others_served(&gw).await;
}

#[tokio::test]
async fn keys_in_h2_trailers_or_twice_are_never_forwarded() {
    let gw = tls_gateway(json!({})).await;
    let mut s = open_h2(&gw, &[]).await;
    // Trailers carrying another key: the request goes with the gateway's key and no trailers.
    s.write_all(&headers(1, false, &with_key(&gw, "POST", "/ledgers")))
        .await
        .unwrap();
    s.write_all(&frame(DATA, 0, 1, b"hello")).await.unwrap();
    s.write_all(&headers(1, true, &literal(b"x-blnk-key", b"trailer-key")))
        .await
        .unwrap();
    let (frames, _) = read_until(&mut s, QUIET, |f| {
        f.iter().any(|f| f.stream == 1 && f.ty == HEADERS)
    })
    .await;
    assert!(
        frames.iter().any(|f| f.stream == 1 && f.ty == HEADERS),
        "{frames:?}"
    );
    let seen = gw.blnk.last();
    assert_eq!(seen.all("x-blnk-key"), vec![gw.key.clone()]);
    assert!(seen.trailers.is_none());
    assert_eq!(&seen.body[..], b"hello");
    // Two keys: refused at the gateway.
    let mut b = with_key(&gw, "GET", "/ledgers");
    b.extend(literal(b"x-blnk-key", gw.key.as_bytes()));
    s.write_all(&headers(3, true, &b)).await.unwrap();
    let (frames, _) = read_until(&mut s, QUIET, |f| f.iter().any(|f| f.stream == 3)).await;
    assert!(frames
        .iter()
        .any(|f| f.stream == 3 && f.ty == HEADERS && !f.is_ok_status()));
    assert_eq!(gw.blnk.count(), 1);
}
