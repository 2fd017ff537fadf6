//! `--self-signed`: a certificate made at start for the listening address and the
//! names given with `--hostname`, so that HTTPS works with one flag. With
//! `--self-signed-dir` it is kept and reused while it still fits, so people accept it
//! once. Its SHA-256 fingerprint goes on the banner so they can check what the
//! browser shows them before accepting it.

use std::fs;
use std::io::Write as _;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{CertificateParams, DnType, KeyPair, SanType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::certificate::{utc_date, validity};
use super::{Tls, fingerprint, server_config};

/// Validity of a made certificate: under the 398 days browsers accept.
const LIFETIME: Duration = Duration::from_secs(397 * 24 * 3600);
/// A kept certificate closer than this to its end is replaced.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);

const CERT_FILE: &str = "cert.pem";
const KEY_FILE: &str = "key.pem";
const NAMES_FILE: &str = "names.txt";

/// The names a certificate is made for: the host names, then the addresses.
pub fn subject_names(listen: IpAddr, hostnames: &[String]) -> Vec<String> {
    let mut names: Vec<String> = vec!["localhost".into()];
    names.extend(hostnames.iter().cloned());
    let mut ips = if listen.is_unspecified() {
        local_addresses()
    } else {
        vec![listen]
    };
    ips.push(IpAddr::from([127, 0, 0, 1]));
    ips.sort();
    ips.dedup();
    names.extend(ips.iter().map(IpAddr::to_string));
    names.dedup();
    names
}

pub fn make_or_reuse(names: &[String], dir: Option<&Path>, now: SystemTime) -> Result<Tls, String> {
    if let Some(dir) = dir
        && let Some(tls) = reuse(dir, names, now)?
    {
        return Ok(tls);
    }
    let (cert_pem, key_pem) = make(names, now)?;
    let origin = match dir {
        Some(dir) => {
            save(dir, &cert_pem, &key_pem, names)?;
            format!("new self-signed certificate, kept in {}", dir.display())
        }
        None => {
            "new self-signed certificate (add --self-signed-dir DIR to keep it across restarts)"
                .into()
        }
    };
    from_pem(&cert_pem, &key_pem, origin)
}

fn make(names: &[String], now: SystemTime) -> Result<(String, String), String> {
    let key = KeyPair::generate().map_err(|e| format!("cannot make a TLS key: {e}"))?;
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "dyspatcher");
    params.subject_alt_names = names
        .iter()
        .map(|n| match n.parse::<IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => n
                .clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|_| format!("--hostname {n:?} is not a valid host name")),
        })
        .collect::<Result<_, _>>()?;
    let start = now - Duration::from_secs(24 * 3600);
    params.not_before = offset(start);
    params.not_after = offset(now + LIFETIME);
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("cannot make the self-signed certificate: {e}"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn offset(t: SystemTime) -> time::OffsetDateTime {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

fn from_pem(cert_pem: &str, key_pem: &str, origin: String) -> Result<Tls, String> {
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| format!("self-signed certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| format!("self-signed key: {e}"))?;
    let print = fingerprint(&cert);
    let config =
        server_config(vec![cert], key).map_err(|e| format!("self-signed certificate: {e}"))?;
    Ok(Tls {
        config,
        fingerprint: print,
        origin,
    })
}

/// The kept certificate, if it is there, readable, for these names, and not ending soon.
fn reuse(dir: &Path, names: &[String], now: SystemTime) -> Result<Option<Tls>, String> {
    let key_note = guard_kept_key(&dir.join(KEY_FILE))?;
    let read = |name: &str| fs::read_to_string(dir.join(name)).ok();
    let (Some(cert_pem), Some(key_pem), Some(kept_names)) =
        (read(CERT_FILE), read(KEY_FILE), read(NAMES_FILE))
    else {
        return Ok(None);
    };
    if kept_names.lines().collect::<Vec<_>>()
        != names.iter().map(String::as_str).collect::<Vec<_>>()
    {
        return Ok(None);
    }
    let Ok(der) = CertificateDer::from_pem_slice(cert_pem.as_bytes()) else {
        return Ok(None);
    };
    let Some((_, not_after)) = validity(&der) else {
        return Ok(None);
    };
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if now_secs + RENEW_BEFORE.as_secs() > not_after {
        return Ok(None);
    }
    let origin = format!(
        "self-signed certificate kept in {} (valid until {}){key_note}",
        dir.display(),
        utc_date(not_after)
    );
    Ok(from_pem(&cert_pem, &key_pem, origin).ok())
}

/// The kept private key must be ours alone: a symbolic link is refused (it could name
/// any file), and a key others may read is made private again (it is this program's own
/// file). Returns a note for the banner when the mode was fixed.
fn guard_kept_key(path: &Path) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(_) => return Ok(String::new()),
    };
    if meta.file_type().is_symlink() || !meta.is_file() {
        return Err(format!(
            "--self-signed-dir: {} is not a plain file (a symbolic link?): remove it, and a new certificate is made",
            path.display()
        ));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return Ok(String::new());
    }
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(|e| {
        format!(
            "--self-signed-dir: {} can be read by other users (mode {mode:o}) and cannot be made private ({e}): run chmod 600 on it",
            path.display()
        )
    })?;
    Ok(format!(
        "; its key could be read by other users (mode {mode:o}), now 600: make a new certificate (remove the folder) if others may have copied it"
    ))
}

fn save(dir: &Path, cert_pem: &str, key_pem: &str, names: &[String]) -> Result<(), String> {
    let fail = |e: std::io::Error| {
        format!(
            "cannot keep the certificate in --self-signed-dir {}: {e}",
            dir.display()
        )
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(fail)?;
    let write = |name: &str, text: &str, mode: u32| -> std::io::Result<()> {
        let tmp = dir.join(format!(".{name}.tmp"));
        // A new file, never one someone left there (a symbolic link to elsewhere, or a
        // file others can read): remove_file takes the link itself, not what it names.
        match fs::remove_file(&tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, dir.join(name))
    };
    write(KEY_FILE, key_pem, 0o600).map_err(fail)?;
    write(CERT_FILE, cert_pem, 0o644).map_err(fail)?;
    write(NAMES_FILE, &(names.join("\n") + "\n"), 0o644).map_err(fail)?;
    Ok(())
}

/// This machine's addresses (for a certificate when listening on all of them).
fn local_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list`, which we walk read-only and free once.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return out;
        }
        let mut cur = list;
        while !cur.is_null() {
            let addr = (*cur).ifa_addr;
            if !addr.is_null() {
                match i32::from((*addr).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(addr as *const libc::sockaddr_in);
                        out.push(IpAddr::from(
                            u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                        ));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(addr as *const libc::sockaddr_in6);
                        let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                        // Link-local addresses need a zone, which a URL cannot carry.
                        if ip.segments()[0] & 0xffc0 != 0xfe80 {
                            out.push(IpAddr::V6(ip));
                        }
                    }
                    _ => {}
                }
            }
            cur = (*cur).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cover_the_address_and_the_hostnames() {
        let names = subject_names("192.168.1.20".parse().unwrap(), &["chat.lan".into()]);
        assert_eq!(
            names,
            ["localhost", "chat.lan", "127.0.0.1", "192.168.1.20"]
        );
        let all = subject_names("0.0.0.0".parse().unwrap(), &[]);
        assert!(all.contains(&"127.0.0.1".to_string()));
    }

    #[test]
    fn a_kept_key_others_can_read_is_made_private_and_a_link_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("dyspatcher-keymode-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let key = dir.join(KEY_FILE);
        assert_eq!(
            guard_kept_key(&key).unwrap(),
            "",
            "no key yet: nothing to say"
        );
        fs::write(&key, "key").unwrap();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
        let note = guard_kept_key(&key).unwrap();
        assert!(
            note.contains("mode 644") && note.contains("now 600"),
            "{note}"
        );
        let mode = fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(guard_kept_key(&key).unwrap(), "");
        fs::remove_file(&key).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", &key).unwrap();
        let err = guard_kept_key(&key).unwrap_err();
        assert!(err.contains("not a plain file"), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_kept_certificate_is_reused_until_the_names_change() {
        let dir =
            std::env::temp_dir().join(format!("dyspatcher-selfsigned-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let names = subject_names("127.0.0.1".parse().unwrap(), &[]);
        let now = SystemTime::now();
        let first = make_or_reuse(&names, Some(&dir), now).unwrap();
        let again = make_or_reuse(&names, Some(&dir), now).unwrap();
        assert_eq!(first.fingerprint, again.fingerprint);
        assert!(again.origin.contains("kept in"));
        let key_mode = fs::metadata(dir.join(KEY_FILE)).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&key_mode.permissions()) & 0o777,
            0o600
        );
        let other = subject_names("127.0.0.1".parse().unwrap(), &["chat.lan".into()]);
        assert_ne!(
            make_or_reuse(&other, Some(&dir), now).unwrap().fingerprint,
            first.fingerprint
        );
        // Close to its end, it is replaced.
        let later = now + LIFETIME - Duration::from_secs(24 * 3600);
        assert_ne!(
            make_or_reuse(&other, Some(&dir), later)
                .unwrap()
                .fingerprint,
            first.fingerprint
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
