//! `--sshpfw-*`: the SSH tunnel's options, checked before anything is bound. Every
//! refusal is one line that says what is wrong and what is accepted.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::crypto::b64_decode;

/// Where the tunnel goes. Built only by [`parse_options`], which checked every field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelOptions {
    /// The SSH server; also the address it listens on for the chat (`-R <host>:...`).
    pub host: IpAddr,
    /// The SSH server's port.
    pub port: u16,
    /// The login on the SSH server.
    pub user: String,
    /// The private key, absolute (ssh runs after `--daemon`, from any directory).
    pub key_file: PathBuf,
    /// `--sshpfw-known-hosts`: strict host-key checking against this file. Without
    /// it, the first key the server shows is accepted and kept in [`Self::known_hosts`].
    pub strict_known_hosts: Option<PathBuf>,
}

impl TunnelOptions {
    /// The known_hosts file ssh reads and (without `--sshpfw-known-hosts`) writes:
    /// the given one, or `KEYFILE.known_hosts` beside the key file.
    pub fn known_hosts(&self) -> PathBuf {
        match &self.strict_known_hosts {
            Some(path) => path.clone(),
            None => {
                let mut name = self.key_file.clone().into_os_string();
                name.push(".known_hosts");
                PathBuf::from(name)
            }
        }
    }
}

const FLAGS: [&str; 4] = [
    "--sshpfw-ip-address",
    "--sshpfw-port",
    "--sshpfw-user",
    "--sshpfw-keyfile",
];
const KNOWN_HOSTS: &str = "--sshpfw-known-hosts";
/// Bytes of a key file read to check it: private keys are a few KiB.
const MAX_KEY_FILE: u64 = 1 << 20;

/// Takes the `--sshpfw-*` options out of `args`: `Ok(None)` when none is given, the
/// checked options when all four are, else the one line to show (exit status 2).
pub fn parse_options(args: &mut pico_args::Arguments) -> Result<Option<TunnelOptions>, String> {
    let mut values: Vec<Option<String>> = Vec::with_capacity(FLAGS.len());
    for flag in FLAGS {
        values.push(value(args, flag)?);
    }
    let known_hosts = value(args, KNOWN_HOSTS)?;
    if values.iter().all(Option::is_none) {
        return match known_hosts {
            Some(_) => Err(format!(
                "{KNOWN_HOSTS} goes with the SSH tunnel options {}",
                FLAGS.join(", ")
            )),
            None => Ok(None),
        };
    }
    let missing: Vec<&str> = FLAGS
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(f, _)| *f)
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the SSH tunnel needs all four of {}: {} missing",
            FLAGS.join(", "),
            missing.join(", ")
        ));
    }
    let [Some(ip), Some(port), Some(user), Some(key)] =
        <[Option<String>; 4]>::try_from(values).unwrap_or_else(|_| unreachable!("four flags"))
    else {
        unreachable!("checked above");
    };

    let host = parse_host(&ip)?;
    let port = match port.parse::<u16>() {
        Ok(p) if p > 0 => p,
        _ => {
            return Err(format!(
                "--sshpfw-port {port:?} is not a port: give the SSH server's port, 1 to 65535 (usually 22)"
            ));
        }
    };
    if !is_login_name(&user) {
        return Err(format!(
            "--sshpfw-user {user:?} is not a plain login name: 1 to 32 of a-z, 0-9, _ and -, starting with a letter or _"
        ));
    }
    let key_file = absolute("--sshpfw-keyfile", &key)?;
    check_key_file(&key_file)?;
    let strict_known_hosts = match known_hosts {
        Some(path) => {
            let path = absolute(KNOWN_HOSTS, &path)?;
            std::fs::File::open(&path)
                .and_then(|f| f.metadata())
                .map_err(|e| format!("cannot read {KNOWN_HOSTS} {}: {e}", path.display()))
                .and_then(|m| {
                    if m.is_file() {
                        Ok(())
                    } else {
                        Err(format!(
                            "{KNOWN_HOSTS} {} is not a file: give a known_hosts file holding the SSH server's host key",
                            path.display()
                        ))
                    }
                })?;
            Some(path)
        }
        None => None,
    };
    Ok(Some(TunnelOptions {
        host,
        port,
        user,
        key_file,
        strict_known_hosts,
    }))
}

fn value(args: &mut pico_args::Arguments, flag: &'static str) -> Result<Option<String>, String> {
    let v = args
        .opt_value_from_fn(flag, |v| Ok::<String, String>(v.to_string()))
        .map_err(|err| match err {
            pico_args::Error::OptionWithoutAValue(name) => {
                format!("{name} needs a value (see dyspatcher --help)")
            }
            other => format!("{other} (see dyspatcher --help)"),
        })?;
    match v {
        Some(v) if v.trim().is_empty() => Err(format!("{flag} is empty: give a value")),
        v => Ok(v),
    }
}

fn parse_host(v: &str) -> Result<IpAddr, String> {
    let bare = v.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) if !ip.is_unspecified() && !ip.is_multicast() => Ok(ip),
        _ => Err(format!(
            "--sshpfw-ip-address {v:?} is not the SSH server's IP address: give one like 11.22.33.44 or 2001:db8::1"
        )),
    }
}

/// `^[a-z_][a-z0-9_-]{0,31}$`: no `@`, no option, nothing ssh would read otherwise.
pub fn is_login_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=32).contains(&bytes.len())
        && (bytes[0].is_ascii_lowercase() || bytes[0] == b'_')
        && bytes[1..]
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// An absolute path without the characters ssh would expand or split (`%`, `$`,
/// quotes, backslashes, control characters).
fn absolute(flag: &str, v: &str) -> Result<PathBuf, String> {
    if let Some(c) = v
        .chars()
        .find(|c| matches!(c, '%' | '$' | '"' | '\'' | '\\') || c.is_control())
    {
        return Err(format!(
            "{flag} {v:?}: ssh would misread the character {c:?} in a path; move or rename the file"
        ));
    }
    std::path::absolute(v).map_err(|e| format!("{flag} {v:?}: {e}"))
}

/// The key file exists, is readable, is a private key without a passphrase, and is not
/// readable by others (ssh ignores such a key).
fn check_key_file(path: &Path) -> Result<(), String> {
    use std::io::Read as _;
    let shown = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot read --sshpfw-keyfile {shown}: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read --sshpfw-keyfile {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "--sshpfw-keyfile {shown} is not a file: give the SSH private key"
        ));
    }
    let mut text = String::new();
    file.take(MAX_KEY_FILE)
        .read_to_string(&mut text)
        .map_err(|_| format!("--sshpfw-keyfile {shown} is not an SSH private key (not text)"))?;
    match private_key_kind(&text) {
        KeyText::Plain => {}
        KeyText::NotPrivate => {
            return Err(format!(
                "--sshpfw-keyfile {shown} is not an SSH private key (give the file without .pub; make one with ssh-keygen -t ed25519 -N '' -f FILE)"
            ));
        }
        KeyText::Encrypted => {
            return Err(format!(
                "--sshpfw-keyfile {shown} is protected by a passphrase: the tunnel runs unattended and needs a key without one (a dedicated key, or ssh-keygen -p -N '' -f FILE)"
            ));
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        // ssh's own rule (sshkey_perm_ok): a key of ours that others can read is ignored.
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        if meta.uid() == uid && meta.mode() & 0o077 != 0 {
            return Err(format!(
                "--sshpfw-keyfile {shown} can be read by others, so ssh would refuse it: chmod 600 {shown}"
            ));
        }
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum KeyText {
    Plain,
    Encrypted,
    NotPrivate,
}

/// What kind of text an SSH private key file holds (OpenSSH format, or PEM/PKCS#8).
fn private_key_kind(text: &str) -> KeyText {
    let Some(start) = text.find("-----BEGIN ") else {
        return KeyText::NotPrivate;
    };
    let text = &text[start..];
    let first = text.lines().next().unwrap_or("");
    if !first.ends_with("PRIVATE KEY-----") {
        return KeyText::NotPrivate;
    }
    if first.contains("ENCRYPTED") || text.contains("Proc-Type: 4,ENCRYPTED") {
        return KeyText::Encrypted;
    }
    if first == "-----BEGIN OPENSSH PRIVATE KEY-----" {
        // openssh-key-v1\0, then the cipher's name as an SSH string ("none" when plain).
        let body: String = text
            .lines()
            .skip(1)
            .take_while(|l| !l.starts_with("-----END"))
            .collect::<String>()
            .split_whitespace()
            .collect();
        let Some(bytes) = b64_decode(&body) else {
            return KeyText::NotPrivate;
        };
        const MAGIC: &[u8] = b"openssh-key-v1\0";
        let Some(rest) = bytes.strip_prefix(MAGIC) else {
            return KeyText::NotPrivate;
        };
        let Some(len) = rest
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        else {
            return KeyText::NotPrivate;
        };
        return match rest.get(4..4 + len as usize) {
            Some(b"none") => KeyText::Plain,
            Some(_) => KeyText::Encrypted,
            None => KeyText::NotPrivate,
        };
    }
    KeyText::Plain
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    /// A directory of its own under the system's temporary directory.
    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "dyspatcher-tunnel-opts-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    // A real, plain ed25519 key in OpenSSH format (made for these tests, used nowhere).
    const PLAIN_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACCtLEdrf0l/34o+Q2bCBZeRMi2MTe16LI4s7u1yChL9nAAAAJAr/ovYK/6L
2AAAAAtzc2gtZWQyNTUxOQAAACCtLEdrf0l/34o+Q2bCBZeRMi2MTe16LI4s7u1yChL9nA
AAAEDKbHI6gH4dSMqbcJh9z+releVTtE5gn4X4yS2Ch+ZEW60sR2t/SX/fij5DZsIFl5Ey
LYxN7Xosjizu7XIKEv2cAAAACnRlc3RAbG9jYWwBAgM=
-----END OPENSSH PRIVATE KEY-----
";
    // The same kind of key with a passphrase (cipher aes256-ctr).
    const ENCRYPTED_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABAyIJjBNZ
GXc3t2gpNQjCQOAAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIDgeqSEAwsoBgrLr
/lzrLE4nUPXKIeC4T+ugJCSWa2WkAAAAkOgpSg28ZQD4LW0/aIJJcizse4xYJ8savDxRzm
vcCuL3L7+WzUr/i8s/ARM/GtHiLA7na/l+agdcoTHFrDU7Kad8UEfHDwpUBuXjB9owHprl
6dSbeoK+ac4WUK2Xl5oDIwDgOIh/uT/2hfvc5hEDyKL5rxrOlNJCLoaxZX+BztRe6XCWDW
44qzpS0+Doi1x4Ag==
-----END OPENSSH PRIVATE KEY-----
";

    fn key_file(dir: &Path, name: &str, text: &str, mode: u32) -> String {
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path.to_string_lossy().into_owned()
    }

    fn parse(args: &[&str]) -> Result<Option<TunnelOptions>, String> {
        let mut args = pico_args::Arguments::from_vec(args.iter().map(OsString::from).collect());
        let parsed = parse_options(&mut args);
        if parsed.is_ok() {
            assert!(args.finish().is_empty(), "every --sshpfw option is taken");
        }
        parsed
    }

    fn four<'a>(ip: &'a str, port: &'a str, user: &'a str, key: &'a str) -> Vec<&'a str> {
        vec![
            "--sshpfw-ip-address",
            ip,
            "--sshpfw-port",
            port,
            "--sshpfw-user",
            user,
            "--sshpfw-keyfile",
            key,
        ]
    }

    #[test]
    fn none_given_is_no_tunnel() {
        assert_eq!(parse(&[]), Ok(None));
    }

    #[test]
    fn all_four_given() {
        let dir = temp_dir("ok");
        let key = key_file(&dir, "k", PLAIN_KEY, 0o600);
        let o = parse(&four("11.22.33.44", "22", "dyspatcherpfw", &key))
            .unwrap()
            .unwrap();
        assert_eq!(o.host, IpAddr::from([11, 22, 33, 44]));
        assert_eq!((o.port, o.user.as_str()), (22, "dyspatcherpfw"));
        assert_eq!(o.key_file, PathBuf::from(&key));
        assert_eq!(o.strict_known_hosts, None);
        assert_eq!(o.known_hosts(), PathBuf::from(format!("{key}.known_hosts")));

        let kh = key_file(&dir, "kh", "", 0o644);
        let mut args = four("[2001:db8::1]", "2222", "_tunnel-1", &key);
        args.extend(["--sshpfw-known-hosts", &kh]);
        let o = parse(&args).unwrap().unwrap();
        assert_eq!(o.host, "2001:db8::1".parse::<IpAddr>().unwrap());
        assert_eq!(o.strict_known_hosts.as_deref(), Some(Path::new(&kh)));
        assert_eq!(o.known_hosts(), PathBuf::from(&kh));
    }

    #[test]
    fn relative_key_path_becomes_absolute() {
        let dir = temp_dir("rel");
        key_file(&dir, "k", PLAIN_KEY, 0o600);
        let here = std::env::current_dir().unwrap();
        let relative = pathdiff(&dir.join("k"), &here);
        let o = parse(&four("10.0.0.1", "22", "u", &relative))
            .unwrap()
            .unwrap();
        assert!(o.key_file.is_absolute(), "{:?}", o.key_file);
    }

    /// `target` relative to `base` (both absolute), with `..` as needed.
    fn pathdiff(target: &Path, base: &Path) -> String {
        let t: Vec<_> = target.components().collect();
        let b: Vec<_> = base.components().collect();
        let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
        let mut out = PathBuf::new();
        for _ in common..b.len() {
            out.push("..");
        }
        for c in &t[common..] {
            out.push(c);
        }
        out.to_string_lossy().into_owned()
    }

    #[test]
    fn refusals_are_one_clear_line() {
        let dir = temp_dir("refusals");
        let key = key_file(&dir, "k", PLAIN_KEY, 0o600);
        let open = key_file(&dir, "open", PLAIN_KEY, 0o644);
        let public = key_file(
            &dir,
            "k.pub",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0sR2t/SX/fij5DZsIFl5EyLYxN7Xosjizu7XIKEv2c test@local\n",
            0o600,
        );
        let encrypted = key_file(&dir, "enc", ENCRYPTED_KEY, 0o600);
        let pem_encrypted = key_file(
            &dir,
            "pem",
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
            0o600,
        );
        let missing = dir.join("missing").to_string_lossy().into_owned();
        let dir_path = dir.to_string_lossy().into_owned();
        let mut with_missing_kh = four("1.2.3.4", "22", "u", &key);
        with_missing_kh.extend(["--sshpfw-known-hosts", &missing]);
        let too_long = "a".repeat(33);
        let mut cases: Vec<(Vec<&str>, &str)> = vec![
            (vec!["--sshpfw-ip-address", "1.2.3.4"], "needs all four"),
            (
                vec!["--sshpfw-port", "22", "--sshpfw-user", "u"],
                "--sshpfw-ip-address, --sshpfw-keyfile missing",
            ),
            (
                vec!["--sshpfw-known-hosts", "kh"],
                "goes with the SSH tunnel options",
            ),
            (vec!["--sshpfw-port"], "needs a value"),
            (
                four("example.org", "22", "u", &key),
                "not the SSH server's IP",
            ),
            (four("0.0.0.0", "22", "u", &key), "not the SSH server's IP"),
            (four("1.2.3.4", "0", "u", &key), "1 to 65535"),
            (four("1.2.3.4", "65536", "u", &key), "1 to 65535"),
            (four("1.2.3.4", "ssh", "u", &key), "is not a port"),
            (four("1.2.3.4", "22", "Root", &key), "plain login name"),
            (
                four("1.2.3.4", "22", "-oProxyCommand=x", &key),
                "plain login name",
            ),
            (four("1.2.3.4", "22", "u@evil", &key), "plain login name"),
            (four("1.2.3.4", "22", "1user", &key), "plain login name"),
            (four("1.2.3.4", "22", &too_long, &key), "plain login name"),
            (four("1.2.3.4", "22", "", &key), "is empty"),
            (
                four("1.2.3.4", "22", "u", &missing),
                "cannot read --sshpfw-keyfile",
            ),
            (four("1.2.3.4", "22", "u", &dir_path), "is not a file"),
            (
                four("1.2.3.4", "22", "u", &public),
                "not an SSH private key",
            ),
            (four("1.2.3.4", "22", "u", &encrypted), "passphrase"),
            (four("1.2.3.4", "22", "u", &pem_encrypted), "passphrase"),
            (four("1.2.3.4", "22", "u", "/tmp/100%key"), "misread"),
            (with_missing_kh, "cannot read --sshpfw-known-hosts"),
        ];
        // Even root: ssh ignores a key of one's own that others can read.
        cases.push((four("1.2.3.4", "22", "u", &open), "chmod 600"));
        for (args, needle) in &cases {
            let err = parse(args).unwrap_err();
            assert!(err.contains(needle), "{args:?}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn unreadable_key_file() {
        use std::os::unix::fs::PermissionsExt as _;
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            return; // root reads any file: nothing to check
        }
        let dir = temp_dir("unreadable");
        let key = key_file(&dir, "k", PLAIN_KEY, 0o600);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o000)).unwrap();
        let err = parse(&four("1.2.3.4", "22", "u", &key)).unwrap_err();
        assert!(err.contains("cannot read --sshpfw-keyfile"), "{err}");
    }

    #[test]
    fn login_names() {
        for ok in ["u", "_", "dyspatcherpfw", "a-b_c9", &"a".repeat(32)] {
            assert!(is_login_name(ok), "{ok}");
        }
        for bad in ["", "A", "9a", "-a", "a.b", "a b", "é", &"a".repeat(33)] {
            assert!(!is_login_name(bad), "{bad}");
        }
    }

    #[test]
    fn key_kinds() {
        assert_eq!(private_key_kind(PLAIN_KEY), KeyText::Plain);
        assert_eq!(private_key_kind(ENCRYPTED_KEY), KeyText::Encrypted);
        assert_eq!(
            private_key_kind("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            KeyText::Plain
        );
        assert_eq!(
            private_key_kind("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"),
            KeyText::Encrypted
        );
        assert_eq!(private_key_kind("hello"), KeyText::NotPrivate);
        assert_eq!(
            private_key_kind("-----BEGIN CERTIFICATE-----\n"),
            KeyText::NotPrivate
        );
    }

    #[test]
    fn through_the_command_line() {
        let err = match crate::cli::parse(vec!["--sshpfw-user".into(), "u".into()]) {
            Err(e) => e,
            Ok(_) => panic!("accepted"),
        };
        assert!(err.contains("needs all four"), "{err}");
    }
}
