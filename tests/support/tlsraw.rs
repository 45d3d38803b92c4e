//! TLS ClientHellos written by hand, for what a modern TLS library refuses to send: old
//! versions, weak suites. Shared by the hostile tests and `benches/attacks.rs`.

#![allow(dead_code)]

pub const TLS_ECDHE_ECDSA_AES128_GCM_SHA256: u16 = 0xc02b;
pub const TLS_ECDHE_RSA_AES128_GCM_SHA256: u16 = 0xc02f;

/// A TLS 1.2-style ClientHello with these versions and suites and the extensions a server needs
/// to choose a suite (groups, point formats, signature algorithms), no supported_versions.
pub fn hello(record: u16, client: u16, suites: &[u16]) -> Vec<u8> {
    let mut ext = Vec::new();
    let mut put_ext = |ty: u16, body: &[u8]| {
        ext.extend_from_slice(&ty.to_be_bytes());
        ext.extend_from_slice(&(body.len() as u16).to_be_bytes());
        ext.extend_from_slice(body);
    };
    put_ext(0x000a, &[0, 4, 0x00, 0x1d, 0x00, 0x17]); // x25519, secp256r1
    put_ext(0x000b, &[1, 0]); // uncompressed points
    put_ext(0x000d, &[0, 6, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01]); // ecdsa, pss, pkcs1 (SHA-256)
    let mut body = Vec::new();
    body.extend_from_slice(&client.to_be_bytes());
    body.extend_from_slice(&[0x42; 32]); // random
    body.push(0); // no session id
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // null compression
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16];
    rec.extend_from_slice(&record.to_be_bytes());
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}
