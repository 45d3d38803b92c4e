//! Test certificates made fresh for each test run with rcgen: a CA, a server certificate for
//! localhost and 127.0.0.1 signed by it, a client certificate from the same CA, and a client
//! certificate from a different CA that the gateway must refuse. Nothing here is committed.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

pub struct Pem {
    pub cert: String,
    pub key: String,
}

pub struct Certs {
    pub ca: String,
    pub server: Pem,
    pub client: Pem,
    pub stranger: Pem,
    pub dir: PathBuf,
}

impl Certs {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Pem {
    /// The SHA-256 of the certificate's DER, in lower-case hex: how the gateway names a client
    /// certificate in its audit records and rate-limit overrides.
    pub fn sha256(&self) -> String {
        use rustls::pki_types::pem::PemObject;
        use sha2::Digest;
        let der = rustls::pki_types::CertificateDer::pem_slice_iter(self.cert.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        sha2::Sha256::digest(der.as_ref())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

fn ca(name: &str) -> (Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    (cert, key)
}

fn leaf(names: &[&str], client: bool, issuer: &(Certificate, KeyPair)) -> Pem {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.extended_key_usages = vec![if client {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    let cert = params.signed_by(&key, &issuer.0, &issuer.1).unwrap();
    Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

/// Makes the set and writes it under `dir` as ca.pem, server.pem, server.key, client.pem,
/// client.key, stranger.pem, stranger.key.
pub fn make(dir: &Path) -> Certs {
    let issuer = ca("blnk-gateway test CA");
    let server = leaf(&["localhost", "127.0.0.1"], false, &issuer);
    let client = leaf(&["client-app"], true, &issuer);
    let stranger = leaf(&["stranger-app"], true, &ca("stranger CA"));
    let certs = Certs {
        ca: issuer.0.pem(),
        server,
        client,
        stranger,
        dir: dir.to_path_buf(),
    };
    for (name, body) in [
        ("ca.pem", &certs.ca),
        ("server.pem", &certs.server.cert),
        ("server.key", &certs.server.key),
        ("client.pem", &certs.client.cert),
        ("client.key", &certs.client.key),
        ("stranger.pem", &certs.stranger.cert),
        ("stranger.key", &certs.stranger.key),
    ] {
        std::fs::write(dir.join(name), body).unwrap();
    }
    certs
}
