//! The TLS client for `wss://` and `https://`: rustls with the ring provider, as the
//! server uses. A load test's server usually has a self-signed certificate, so instead
//! of a CA the tool trusts the one certificate whose SHA-256 it is given (the server's
//! banner prints it), or, asked explicitly, any certificate.

use std::sync::Arc;

use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

/// Which server certificate to accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// The certificate with this SHA-256 of its DER.
    Pinned([u8; 32]),
    /// Any certificate (`--insecure`).
    Any,
}

impl Trust {
    /// `AB:CD:…` as the banner prints it, or plain hex.
    pub fn parse_sha256(text: &str) -> Result<Self, String> {
        let hex: String = text.chars().filter(|c| *c != ':').collect();
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect::<Option<Vec<u8>>>();
        bytes
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .map(Trust::Pinned)
            .ok_or_else(|| format!("--cert-sha256 {text}: expected 32 bytes in hex"))
    }
}

/// Every connection makes a full handshake (no resumption), as distinct browsers would.
pub fn client_config(trust: Trust) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(Verifier {
        trust,
        provider: provider.clone(),
    });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.resumption = Resumption::disabled();
    Arc::new(config)
}

#[derive(Debug)]
struct Verifier {
    trust: Trust,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.trust {
            Trust::Any => Ok(ServerCertVerified::assertion()),
            Trust::Pinned(want) => {
                let got: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
                if got == want {
                    Ok(ServerCertVerified::assertion())
                } else {
                    Err(rustls::Error::General(format!(
                        "the server's certificate has SHA-256 {}, not the --cert-sha256 given",
                        colon_hex(&got)
                    )))
                }
            }
        }
    }

    // The signatures are checked even for a pinned certificate: they prove the server
    // holds its private key.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::{ClientConnection, ServerConfig, ServerConnection};

    use super::*;

    /// A full handshake in memory against a server with a new self-signed certificate,
    /// as `--self-signed` makes; `trust` is given the certificate's DER.
    fn handshake(trust: impl FnOnce(&[u8]) -> Trust) -> Result<(), rustls::Error> {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let server_config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(
                    vec![cert.der().clone()],
                    PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
                )
                .unwrap();
        let mut server = ServerConnection::new(Arc::new(server_config)).unwrap();
        let mut client = ClientConnection::new(
            client_config(trust(cert.der())),
            ServerName::try_from("127.0.0.1").unwrap(),
        )
        .unwrap();
        while client.is_handshaking() || server.is_handshaking() {
            let mut wire = Vec::new();
            client.write_tls(&mut wire).unwrap();
            server.read_tls(&mut wire.as_slice()).unwrap();
            server.process_new_packets()?;
            let mut wire = Vec::new();
            server.write_tls(&mut wire).unwrap();
            client.read_tls(&mut wire.as_slice()).unwrap();
            client.process_new_packets()?;
        }
        Ok(())
    }

    #[test]
    fn the_pinned_certificate_is_accepted_and_another_refused() {
        assert_eq!(
            handshake(|der| Trust::Pinned(Sha256::digest(der).into())),
            Ok(())
        );
        let refused = handshake(|_| Trust::Pinned([0xAB; 32])).unwrap_err();
        assert!(
            refused.to_string().contains("not the --cert-sha256 given"),
            "{refused}"
        );
        assert_eq!(handshake(|_| Trust::Any), Ok(()));
    }

    #[test]
    fn fingerprints_parse_as_the_banner_prints_them() {
        let banner = colon_hex(&[0xAB; 32]);
        assert_eq!(Trust::parse_sha256(&banner), Ok(Trust::Pinned([0xAB; 32])));
        assert_eq!(
            Trust::parse_sha256(&"ab".repeat(32)),
            Ok(Trust::Pinned([0xAB; 32]))
        );
        assert!(Trust::parse_sha256("AB:CD").is_err());
        assert!(Trust::parse_sha256(&"zz".repeat(32)).is_err());
    }
}
