//! The connection deadlines and the lingering close, on an in-memory duplex under paused time.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::server::wire::{H2_DATA, H2_HEADERS, H2_PREFACE};

const HEADER: Duration = Duration::from_secs(10);
const IDLE: Duration = Duration::from_secs(60);

fn pair() -> (
    Watched<tokio::io::DuplexStream>,
    tokio::io::DuplexStream,
    Arc<ConnClock>,
) {
    let (server, client) = tokio::io::duplex(1024);
    let clock = Arc::new(ConnClock::default());
    (
        Watched::new(server, clock.clone(), HEADER, IDLE),
        client,
        clock,
    )
}

async fn read_err_after(w: &mut Watched<tokio::io::DuplexStream>) -> (Duration, io::ErrorKind) {
    let start = Instant::now();
    let mut buf = [0u8; 64];
    loop {
        match w.read(&mut buf).await {
            Ok(_) => continue,
            Err(e) => return (start.elapsed(), e.kind()),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_partial_head_is_cut_at_the_header_deadline() {
    let (mut w, mut client, _clock) = pair();
    client.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
    let (elapsed, kind) = read_err_after(&mut w).await;
    assert_eq!(kind, io::ErrorKind::TimedOut);
    assert_eq!(elapsed, HEADER);
}

#[tokio::test(start_paused = true)]
async fn an_idle_keep_alive_connection_lasts_until_the_idle_deadline() {
    let (mut w, mut client, clock) = pair();
    client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    assert!(w.read(&mut buf).await.unwrap() > 0);
    // The head is complete; the request runs and finishes.
    clock.request_started();
    w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    clock.request_finished();
    // Now idle: the header deadline does not apply, the idle one does.
    let (elapsed, kind) = read_err_after(&mut w).await;
    assert_eq!(kind, io::ErrorKind::TimedOut);
    assert_eq!(elapsed, IDLE);
}

#[tokio::test(start_paused = true)]
async fn a_request_in_flight_is_not_cut_by_the_header_deadline() {
    let (mut w, mut client, clock) = pair();
    client
        .write_all(b"POST / HTTP/1.1\r\ncontent-length: 5\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(w.read(&mut buf).await.unwrap() > 0);
    clock.request_started();
    // The body trickles in well past the header deadline: only idleness counts now.
    for _ in 0..5 {
        tokio::time::advance(Duration::from_secs(20)).await;
        client.write_all(b"x").await.unwrap();
        assert_eq!(w.read(&mut buf).await.unwrap(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn a_new_connection_that_sends_nothing_is_closed_at_the_header_deadline() {
    let (mut w, _client, _clock) = pair();
    let (elapsed, kind) = read_err_after(&mut w).await;
    assert_eq!(kind, io::ErrorKind::TimedOut);
    assert_eq!(elapsed, HEADER);
}

fn h2_frame(ty: u8, len: usize) -> Vec<u8> {
    let mut f = (len as u32).to_be_bytes()[1..].to_vec();
    f.extend_from_slice(&[ty, 0, 0, 0, 0, 1]);
    f.extend(std::iter::repeat_n(0u8, len));
    f
}

const H2_PING: u8 = 0x6;

#[tokio::test(start_paused = true)]
async fn http2_pings_are_not_progress_so_a_stalled_connection_meets_the_idle_deadline() {
    let (mut w, mut client, clock) = pair();
    let mut buf = [0u8; 1024];
    client.write_all(H2_PREFACE).await.unwrap();
    client.write_all(&h2_frame(H2_HEADERS, 20)).await.unwrap();
    while w.read(&mut buf).await.unwrap() < 20 {}
    // A request in flight whose response cannot be sent (zero window); the client pings.
    clock.request_started();
    let start = Instant::now();
    let err = 'outer: loop {
        tokio::time::advance(Duration::from_secs(10)).await;
        client.write_all(&h2_frame(H2_PING, 8)).await.unwrap();
        // PING ACKs written back are not progress either.
        if let Err(e) = w.write_all(&h2_frame(H2_PING, 8)).await {
            break e;
        }
        // Read until the I/O would wait, as hyper does; that is when the deadline is checked.
        loop {
            match tokio::time::timeout(Duration::from_millis(1), w.read(&mut buf)).await {
                Ok(Ok(_)) => continue,
                Ok(Err(e)) => break 'outer e,
                Err(_) => break,
            }
        }
    };
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(
        start.elapsed() <= IDLE + Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn http2_data_keeps_a_connection_alive_and_a_dribbled_head_meets_the_header_deadline() {
    let (mut w, mut client, clock) = pair();
    let mut buf = [0u8; 1024];
    client.write_all(H2_PREFACE).await.unwrap();
    client.write_all(&h2_frame(H2_HEADERS, 4)).await.unwrap();
    while w.read(&mut buf).await.unwrap() < 4 {}
    clock.request_started();
    // A body arriving every 20 s for 200 s: progress each time.
    for _ in 0..10 {
        tokio::time::advance(Duration::from_secs(20)).await;
        client.write_all(&h2_frame(H2_DATA, 1)).await.unwrap();
        assert!(w.read(&mut buf).await.unwrap() > 0);
    }
    clock.request_finished();
    // Idle; a new request head starts and never ends (CONTINUATIONs never come).
    client.write_all(&h2_frame(H2_HEADERS, 4)).await.unwrap();
    assert!(w.read(&mut buf).await.unwrap() > 0);
    let (elapsed, kind) = read_err_after(&mut w).await;
    assert_eq!(kind, io::ErrorKind::TimedOut);
    assert_eq!(elapsed, HEADER);
}
