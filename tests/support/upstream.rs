//! An upstream that is not there, for what the gateway says and records when Blnk is down.

#![allow(dead_code)]

use std::net::SocketAddr;

use serde_json::json;

use super::fake_blnk::FakeBlnk;
use super::gateway::{merge, new_key, Setup, TestGateway};

/// An address on 127.0.0.1 where nothing listens: a port that was free a moment ago.
pub fn nothing_listens() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A gateway started with `setup` whose upstream is an address where nothing listens, and that
/// address. (The fake Blnk it also gets is never asked anything.)
pub async fn gateway_without_blnk(mut setup: Setup) -> (TestGateway, SocketAddr) {
    let free = nothing_listens();
    merge(
        &mut setup.gateway,
        &json!({"upstream": format!("http://{free}")}),
    );
    let key = new_key("down");
    let blnk = FakeBlnk::start(&key).await;
    (TestGateway::start_with(setup, key, blnk).await, free)
}
