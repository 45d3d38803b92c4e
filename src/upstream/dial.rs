//! Opening a TCP connection to Blnk: every resolved address in turn, each with a share of the
//! connect budget, with `TCP_NODELAY` and keep-alive probes set.

use std::io;
use std::time::Duration;

use http::uri::Authority;
use tokio::net::TcpStream;

use crate::limits;

/// Connects to the first address of `authority` that answers, giving each address an equal
/// share of `budget`, so one that drops packets does not use it all up.
pub(super) async fn dial(authority: &Authority, budget: Duration) -> io::Result<TcpStream> {
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(80);
    let addrs: Vec<_> = tokio::net::lookup_host((host, port)).await?.collect();
    let each = budget / u32::try_from(addrs.len().max(1)).unwrap_or(u32::MAX);
    let mut last = None;
    for addr in addrs {
        let connected = tokio::time::timeout(each, TcpStream::connect(addr))
            .await
            .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")));
        match connected {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                let keepalive =
                    socket2::TcpKeepalive::new().with_time(limits::UPSTREAM_TCP_KEEPALIVE);
                socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive)?;
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address")))
}
