//! Micro-benchmarks of the functions every proxied request runs (issue 8).
//!
//! `cargo bench --bench hot_path` (about a minute once built). Measurement windows are short on
//! purpose: these are for comparing before and after a change on the same machine, next to the
//! load benchmark (`benches/load.sh`), not for absolute figures on a noisy 2-core box.
//!
//! Covered: the key check (SHA-256 digest + constant-time compare), the request and response
//! header rewrites on the headers a Blnk SDK request and a Blnk response really carry, and
//! request id generation, and reading a `POST /transactions` body as Blnk reads it (`gojson`).
//! The rate limiter and the audit record get their benchmarks here when they land.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::header::{HeaderMap, HeaderName, HeaderValue};

use blnk_gateway::gojson;
use blnk_gateway::proxy::rewrite::{
    rewrite_request, rewrite_response, strip_hop_by_hop, Forwarding, KeyHeader,
};
use blnk_gateway::request_id::RequestIds;
use blnk_gateway::secret::KeyDigest;

/// A 48-character key, as `openssl rand -hex 24` makes (the load benchmark's key).
const MASTER_KEY: &str = "5f1c0e9a7b3d2e4f6a8c0b1d3e5f7a9c1b3d5e7f9a0c2e4f";
const WRONG_KEY: &str = "5f1c0e9a7b3d2e4f6a8c0b1d3e5f7a9c1b3d5e7f9a0c2e4e";

/// The headers of a `POST /transactions` from a Blnk SDK (axios in Node), as the gateway gets it.
fn sdk_request_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in [
        ("host", "ledger.example.com"),
        ("accept", "application/json, text/plain, */*"),
        ("content-type", "application/json"),
        ("user-agent", "axios/1.7.9"),
        ("x-blnk-key", MASTER_KEY),
        ("content-length", "312"),
        ("accept-encoding", "gzip, compress, deflate, br"),
        ("connection", "keep-alive"),
    ] {
        h.append(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    h
}

/// The headers of a Blnk (gin) JSON response, with the rate-limit headers Blnk adds when its own
/// rate limiting is on (two of which the gateway strips).
fn blnk_response_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in [
        ("content-type", "application/json; charset=utf-8"),
        ("date", "Sun, 22 Nov 2026 02:40:00 GMT"),
        ("content-length", "415"),
        ("x-rate-limit-limit", "5000"),
        ("x-rate-limit-duration", "1"),
        ("x-rate-limit-request-forwarded-for", "127.0.0.1"),
        ("x-rate-limit-request-remote-addr", "127.0.0.1:52114"),
    ] {
        h.append(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    h
}

fn key_check(c: &mut Criterion) {
    let master = KeyDigest::of(MASTER_KEY.as_bytes());
    let mut g = c.benchmark_group("key_check");
    g.bench_function("digest_and_match/right_key", |b| {
        b.iter(|| KeyDigest::of(black_box(MASTER_KEY.as_bytes())).matches(&master))
    });
    g.bench_function("digest_and_match/wrong_key", |b| {
        b.iter(|| KeyDigest::of(black_box(WRONG_KEY.as_bytes())).matches(&master))
    });
    g.finish();
}

fn header_rewrite(c: &mut Criterion) {
    let key = HeaderValue::from_static(MASTER_KEY);
    let host = HeaderValue::from_static("127.0.0.1:5001");
    let request_id = HeaderValue::from_static("3f2a9c0d5e7b1a4c0000000000000001");
    let peer = HeaderValue::from_static("127.0.0.1");
    let fwd = Forwarding {
        peer: &peer,
        peer_trusted: false,
        tls: true,
        host: &host,
        request_id: &request_id,
    };
    let request = sdk_request_headers();
    let response = blnk_response_headers();

    let mut g = c.benchmark_group("header_rewrite");
    // The clone of the map is setup, not measured; what is measured is the rewrite alone.
    g.bench_function("request/sdk_post", |b| {
        b.iter_batched_ref(
            || request.clone(),
            |h| rewrite_request(h, KeyHeader::Set(&key), black_box(&fwd)),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("response/blnk_json", |b| {
        b.iter_batched_ref(
            || response.clone(),
            |h| rewrite_response(h, true, black_box(&request_id)),
            BatchSize::SmallInput,
        )
    });
    // Breakdown of the request rewrite, to show where its time goes.
    g.bench_function("request/sdk_post_capacity_reserved", |b| {
        b.iter_batched_ref(
            || {
                let mut h = request.clone();
                h.reserve(8);
                h
            },
            |h| rewrite_request(h, KeyHeader::Set(&key), black_box(&fwd)),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("request/strip_hop_by_hop_only", |b| {
        b.iter_batched_ref(
            || request.clone(),
            |h| strip_hop_by_hop(black_box(h)),
            BatchSize::SmallInput,
        )
    });
    // For scale: what the clone alone costs, since the proxy owns the map and never clones it.
    g.bench_function("baseline/clone_request_map", |b| {
        b.iter(|| black_box(&request).clone())
    });
    g.finish();
}

fn request_id(c: &mut Criterion) {
    let ids = RequestIds::new();
    let client = HeaderValue::from_static("req-2026-11-22_0001:checkout.v2");
    let mut g = c.benchmark_group("request_id");
    g.bench_function("generate", |b| b.iter(|| ids.generate()));
    g.bench_function("pick/client_id_kept", |b| {
        b.iter(|| ids.pick(black_box(Some(&client))))
    });
    g.bench_function("pick/none_generated", |b| {
        b.iter(|| ids.pick(black_box(None)))
    });
    g.finish();
}

/// A typical `POST /transactions` body (298 bytes): a transfer with a reference, a description
/// and a little metadata.
const TRANSFER_BODY: &[u8] = br#"{"amount":1250.75,"precision":100,"reference":"ref_01JD8X4T6Q2W5V9B3N7M1K0P4R","description":"Invoice 20261122-0042 settlement","currency":"USD","source":"@World","destination":"bln_0b8a6c2e-5d1f-4a3b-9e7c-2f4d6a8b0c1e","allow_overdraft":true,"meta_data":{"customer_id":"cus_5581","channel":"api"}}"#;

fn gojson_bind(c: &mut Criterion) {
    let split = br#"{"amount":100,"precision":100,"reference":"ref_split_0001","currency":"USD","sources":[{"identifier":"@World","distribution":"60%"},{"identifier":"bln_a","distribution":"left"}],"destination":"bln_b","skip_queue":true}"#;
    let bulk: Vec<u8> = [
        &br#"{"transactions":["#[..],
        &[TRANSFER_BODY; 10].join(&b","[..]),
        br#"],"atomic":true}"#,
    ]
    .concat();
    let mut g = c.benchmark_group("gojson");
    g.bench_function("transfer/typical", |b| {
        b.iter(|| gojson::transfer(black_box(TRANSFER_BODY)))
    });
    g.bench_function("transfer/typical_and_precise", |b| {
        b.iter(|| gojson::transfer(black_box(TRANSFER_BODY)).and_then(|t| t.precise()))
    });
    // The precise amount alone: a typical amount, and one whose digits times the precision
    // pass u128 though the result fits i128 (5001622.05 at precision 1e30).
    g.bench_function("precise/typical", |b| {
        b.iter(|| gojson::apply_precision(black_box(1250.75), black_box(100.0), None))
    });
    g.bench_function("precise/wide_product", |b| {
        b.iter(|| gojson::apply_precision(black_box(5001622.05), black_box(1e30), None))
    });
    g.bench_function("transfer/split", |b| {
        b.iter(|| gojson::transfer(black_box(&split[..])))
    });
    g.bench_function("bulk/10_items", |b| {
        b.iter(|| gojson::bulk(black_box(&bulk)))
    });
    // For scale: serde_json building a `Value` of the same body.
    g.bench_function("baseline/serde_json_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(TRANSFER_BODY)))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = key_check, header_rewrite, request_id, gojson_bind
}
criterion_main!(benches);
