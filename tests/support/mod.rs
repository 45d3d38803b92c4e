//! Shared test support: a fake Blnk, certificates, clients, and an in-process gateway.

pub mod certs;
pub mod client;
pub mod clock;
pub mod fake_blnk;
pub mod gateway;
pub mod h2raw;
pub mod keys;
pub mod redis;
pub mod tlsraw;
pub mod upstream;
