//! TLS server configuration: certificates from PEM files, the protocol policy, and the explicit
//! development certificate.
//!
//! Policy: TLS 1.3 and 1.2 only, with the `ring` provider's suites, all of which are AEAD with
//! forward secrecy; no 0-RTT (a replayed `POST /transactions` would move money twice); rustls never
//! renegotiates. ALPN offers `h2` then `http/1.1`. A `client_ca` makes client certificates
//! mandatory. The result is a complete `ServerConfig`, so a reload swaps it whole.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{io_reason, Problems, Purpose, TlsFiles};
use crate::x509::CertFacts;

/// ALPN protocols offered, in order of preference.
pub const ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];
/// Names the development certificate is valid for.
const DEV_CERT_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];

/// Loads the TLS configuration named by `settings`, recording problems by key path; with it, the
/// facts of the leaf certificate (fingerprint, expiry) for logs and metrics.
pub fn load(
    files: &TlsFiles,
    purpose: Purpose,
    problems: &mut Problems,
    warnings: &mut Vec<String>,
) -> Option<(Arc<ServerConfig>, CertFacts)> {
    if files.dev_self_signed && !files.cert.exists() && !files.key.exists() {
        warnings.push(format!(
            "gateway.tls.dev_self_signed: using a self-signed development certificate at {}; never use this in production",
            files.cert.display()
        ));
        if purpose == Purpose::Check {
            return None;
        }
        if let Err(e) = write_dev_certificate(&files.cert, &files.key) {
            problems.push(
                "gateway.tls.dev_self_signed",
                format!("could not create the development certificate: {e}"),
            );
            return None;
        }
    }
    let certs = load_certs(&files.cert)
        .map_err(|m| {
            problems.push(
                "gateway.tls.cert",
                format!("{}: {m}{}", files.cert.display(), hint(files.cert.exists())),
            )
        })
        .ok();
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| {
            problems.push(
                "gateway.tls.key",
                format!(
                    "{}: {}{}",
                    files.key.display(),
                    pem_reason(e),
                    hint(files.key.exists())
                ),
            )
        })
        .ok();
    let roots = files.client_ca.as_ref().and_then(|ca| {
        load_roots(ca)
            .map_err(|m| problems.push("gateway.tls.client_ca", format!("{}: {m}", ca.display())))
            .ok()
    });
    let (certs, key) = (certs?, key?);
    if files.client_ca.is_some() && roots.is_none() {
        return None;
    }
    let facts = CertFacts::of(certs.first()?.as_ref());
    build(certs, key, roots)
        .map_err(|m| problems.push("gateway.tls", m))
        .ok()
        .map(|config| (config, facts))
}

/// Builds the server configuration from already-parsed material.
pub fn build(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_roots: Option<RootCertStore>,
) -> Result<Arc<ServerConfig>, String> {
    let provider = crate::crypto::provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("protocol versions: {e}"))?;
    let builder = match client_roots {
        Some(roots) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("client_ca: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("the certificate and key do not form a usable pair: {e}"))?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    config.max_early_data_size = 0;
    config.ignore_client_order = true;
    Ok(Arc::new(config))
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem_reason)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_reason)?;
    if certs.is_empty() {
        return Err("no PEM certificate in the file".into());
    }
    Ok(certs)
}

fn load_roots(path: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots
            .add(cert)
            .map_err(|e| format!("not a usable CA certificate: {e}"))?;
    }
    Ok(roots)
}

fn pem_reason(e: rustls_pki_types::pem::Error) -> String {
    match e {
        rustls_pki_types::pem::Error::Io(io) => io_reason(&io),
        rustls_pki_types::pem::Error::NoItemsFound => "no PEM private key in the file".into(),
        other => format!("not valid PEM ({other:?})"),
    }
}

/// Where a missing certificate or key comes from. No path into this repository: an installed
/// gateway has none.
fn hint(exists: bool) -> &'static str {
    if exists {
        ""
    } else {
        " (a certificate chain and its key from an ACME client such as certbot, or from your organisation's CA, readable by the user the gateway runs as; for development only, gateway.tls.dev_self_signed: true makes a self-signed pair)"
    }
}

/// Creates a self-signed certificate for localhost; the key file is created with mode 0600.
fn write_dev_certificate(cert_path: &Path, key_path: &Path) -> Result<(), String> {
    let names: Vec<String> = DEV_CERT_NAMES.iter().map(|s| s.to_string()).collect();
    let generated = rcgen::generate_simple_self_signed(names).map_err(|e| e.to_string())?;
    for dir in [cert_path.parent(), key_path.parent()]
        .into_iter()
        .flatten()
    {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut key_file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(key_path)
        .map_err(|e| format!("{}: {e}", key_path.display()))?;
    key_file
        .write_all(generated.key_pair.serialize_pem().as_bytes())
        .map_err(|e| format!("{}: {e}", key_path.display()))?;
    std::fs::write(cert_path, generated.cert.pem())
        .map_err(|e| format!("{}: {e}", cert_path.display()))
}
