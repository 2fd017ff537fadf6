//! The operator's certificate files (`--ssl-certificate`, `--ssl-key`, `--ssl-cabundle`),
//! read and checked at start: readable, PEM, not expired, and the key matching the
//! certificate. Every failure is one line that names the file and the fix.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use x509_cert::Certificate;
use x509_cert::der::Decode;

use super::{Tls, fingerprint, server_config};

pub fn load(
    cert: &Path,
    key: &Path,
    cabundle: Option<&Path>,
    now: SystemTime,
) -> Result<Tls, String> {
    let mut chain = read_certificates(cert, "--ssl-certificate")?;
    check_validity(&chain[0], cert, now)?;
    if let Some(bundle) = cabundle {
        chain.extend(read_certificates(bundle, "--ssl-cabundle")?);
    }
    let key_der = read_key(key)?;
    let print = fingerprint(&chain[0]);
    let config = server_config(chain, key_der).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => format!(
            "--ssl-key {} is not the key of --ssl-certificate {}: give the key the certificate was made with",
            key.display(),
            cert.display()
        ),
        other => format!("cannot use --ssl-certificate {} with --ssl-key {}: {other}", cert.display(), key.display()),
    })?;
    Ok(Tls {
        config,
        fingerprint: print,
        origin: format!("certificate {}", cert.display()),
    })
}

fn read_file(path: &Path, flag: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {flag} {}: {e}", path.display()))
}

pub fn read_certificates(path: &Path, flag: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = read_file(path, flag)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            format!(
                "{flag} {}: not a valid PEM certificate ({e})",
                path.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "{flag} {}: no certificate in it (a PEM file with \"BEGIN CERTIFICATE\" is expected)",
            path.display()
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = read_file(path, "--ssl-key")?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| {
        format!(
            "--ssl-key {}: no private key in it (PEM PKCS#8 \"BEGIN PRIVATE KEY\", PKCS#1 \"BEGIN RSA PRIVATE KEY\" or SEC1 \"BEGIN EC PRIVATE KEY\" is expected; a passphrase-protected key must be decrypted first: openssl pkey -in key.pem -out plain.pem)",
            path.display()
        )
    })
}

/// Unix seconds of a certificate's validity period.
pub fn validity(der: &[u8]) -> Option<(u64, u64)> {
    let cert = Certificate::from_der(der).ok()?;
    let validity = &cert.tbs_certificate().validity();
    Some((
        validity.not_before.to_unix_duration().as_secs(),
        validity.not_after.to_unix_duration().as_secs(),
    ))
}

fn check_validity(der: &[u8], path: &Path, now: SystemTime) -> Result<(), String> {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (not_before, not_after) = validity(der).ok_or_else(|| {
        format!(
            "--ssl-certificate {}: not a readable X.509 certificate",
            path.display()
        )
    })?;
    if now > not_after {
        return Err(format!(
            "--ssl-certificate {} expired on {}: renew it, or use --self-signed",
            path.display(),
            utc_date(not_after)
        ));
    }
    if now < not_before {
        return Err(format!(
            "--ssl-certificate {} is not valid before {}: check this machine's clock (date)",
            path.display(),
            utc_date(not_before)
        ));
    }
    Ok(())
}

pub fn utc_date(unix: u64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix as i64) {
        Ok(t) => format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()),
        Err(_) => format!("{unix} (Unix time)"),
    }
}
