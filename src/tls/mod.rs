//! TLS for both ports, terminated by rustls (ring provider) inside the event loop.
//!
//! - `certificate.rs`: the operator's certificate files, checked before anything binds.
//! - `self_signed.rs`: `--self-signed`: a certificate made at start, optionally kept.

pub mod certificate;
pub mod self_signed;

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// A ready TLS setup and what the banner says about it.
pub struct Tls {
    pub config: Arc<ServerConfig>,
    /// SHA-256 of the certificate, `AB:CD:…`, as browsers show it.
    pub fingerprint: String,
    /// Where the certificate came from, for the banner.
    pub origin: String,
}

/// The rustls server configuration for a chain (leaf first) and its key. Fails when the
/// key does not belong to the certificate.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// `AB:CD:…`: the SHA-256 of a certificate's DER, the way browsers display it.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
