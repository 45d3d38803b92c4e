//! The hand-written record line against serde's, and the texts a record keeps.

use super::*;

/// The hand-written line and serde's, byte for byte, over records that take every branch.
#[test]
fn request_lines_are_the_bytes_serde_would_write() {
    #[derive(Serialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum Reference<'a> {
        Request(RequestView<'a>),
    }
    let plain = Arc::new(ConnInfo::new(
        "10.1.2.3:4567".parse().unwrap(),
        None,
        Arc::default(),
    ));
    let tls = Arc::new(ConnInfo::new(
        "[::ffff:10.1.2.3]:443".parse().unwrap(),
        Some(crate::conn::TlsInfo {
            version: "TLSv1.3",
            alpn: crate::conn::Alpn::H2,
            client_cert: Some(crate::conn::CertHash::new([0xab; 32])),
        }),
        Arc::default(),
    ));
    let targets = [
        PathAndQuery::from_static("/ledgers"),
        PathAndQuery::from_static("/a%22b%5C/%C3%A9?q=%0A&x=y"),
    ];
    let ids = [
        HeaderValue::from_static("3f2a9c0d5e7b1a4c0000000000000001"),
        HeaderValue::from_static("client.id-1:2_3"),
    ];
    let decisions = [
        Decision::Abandoned,
        Decision::Forwarded { status: 201 },
        Decision::Rejected(Reject::InvalidKey),
    ];
    let mut checked = 0;
    for (conn, target, id, decision, include_query) in [
        (&plain, &targets[0], &ids[0], decisions[0], false),
        (&tls, &targets[1], &ids[1], decisions[1], true),
        (&plain, &targets[1], &ids[0], decisions[2], true),
        (&tls, &targets[0], &ids[1], decisions[1], false),
    ] {
        let head = RequestHead {
            method: &Method::POST,
            version: Version::HTTP_2,
            target,
            request_id: id,
        };
        let (text, path_truncated) = Texts::new(&head, include_query);
        let record = RequestRecord {
            time: SystemTime::UNIX_EPOCH + Duration::from_micros(1_795_000_000_123_456),
            latency: Duration::from_micros(1234),
            conn: conn.clone(),
            key_fingerprint: None,
            client_id: include_query.then(|| "ops\"té\u{1}am\n".to_string()),
            mode: if include_query {
                Mode::Inject
            } else {
                Mode::Verify
            },
            version: head.version,
            text,
            path_truncated,
            resource: if include_query {
                Resource::Transactions
            } else {
                Resource::Unknown
            },
            idempotency: include_query.then_some("replayed"),
            decision,
            sent_upstream: include_query,
            end: End::ClientGone,
            bytes_in: 0,
            bytes_out: u64::MAX,
        };
        let view = record.view();
        let mut ours = vec![b'{'];
        view.write_fields(&mut ours);
        let theirs = serde_json::to_vec(&Reference::Request(record.view())).unwrap();
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            String::from_utf8(theirs).unwrap()
        );
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn long_paths_are_cut_on_a_character_boundary() {
    let long = format!("/{}", "é".repeat(AUDIT_MAX_PATH_BYTES));
    let (cut, was_cut) = capped(&long);
    assert!(was_cut);
    assert!(cut.len() <= AUDIT_MAX_PATH_BYTES && cut.len() > AUDIT_MAX_PATH_BYTES - 2);
    assert_eq!(capped("/ledgers"), ("/ledgers", false));
}

#[test]
fn texts_keep_the_query_only_when_asked() {
    let target = PathAndQuery::from_static("/ledgers?name=alice");
    let id = HeaderValue::from_static("req-1");
    let head = RequestHead {
        method: &Method::GET,
        version: Version::HTTP_11,
        target: &target,
        request_id: &id,
    };
    let (t, cut) = Texts::new(&head, false);
    assert_eq!(
        (t.request_id(), t.method(), t.path(), t.query(), cut),
        ("req-1", "GET", "/ledgers", None, false)
    );
    let (t, _) = Texts::new(&head, true);
    assert_eq!(t.query(), Some("name=alice"));
}
