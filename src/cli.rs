//! The command line. Every mistake is one line saying what is wrong and what is
//! accepted; `main` prints it and exits with status 2 before anything is bound.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::limits::Limits;
use crate::names::{is_valid_admin_name, is_valid_hostname};
use crate::server::private_key_pool::MAX_CRYPTO_THREADS;

/// Bytes of `--welcome`: it is signed and sent at every join, in several RSA messages
/// when it does not fit one.
pub const MAX_WELCOME_BYTES: usize = 1000;

#[derive(Debug, Clone)]
pub struct Options {
    pub(crate) ip: IpAddr,
    /// `None`: 80, or 443 with TLS.
    pub(crate) port: Option<u16>,
    /// `None`: only the web port (`--single-port`).
    pub(crate) wsport: Option<u16>,
    pub(crate) admin_name: String,
    pub(crate) admin_key_file: Option<PathBuf>,
    pub(crate) welcome: Option<String>,
    pub(crate) disable_all: bool,
    pub(crate) only_admin: bool,
    pub(crate) tls: Option<TlsChoice>,
    pub(crate) allow_list: Option<PathBuf>,
    /// `--allow-unproven-keys`: 0.9 clients may join under a listed key.
    pub(crate) allow_unproven_keys: bool,
    /// `--allow-unproven-admin`: 0.9 clients may join with the administrator's key.
    pub(crate) allow_unproven_admin: bool,
    pub(crate) transcription: Option<PathBuf>,
    pub(crate) transcription_append: bool,
    pub(crate) daemon: bool,
    pub(crate) pid_file: Option<PathBuf>,
    /// `--redirect-http`: a plain-HTTP port that redirects to the HTTPS page.
    pub(crate) redirect_http: Option<u16>,
    /// `--allowed-origin`: web pages elsewhere that may open a WebSocket here.
    pub(crate) allowed_origins: Vec<String>,
    /// `--sshpfw-*`: the SSH tunnel.
    pub(crate) tunnel: Option<crate::tunnel::TunnelOptions>,
    pub(crate) limits: Limits,
    /// `--crypto-threads`; `None`: every core but one.
    pub(crate) crypto_threads: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsChoice {
    Files {
        certificate: PathBuf,
        key: PathBuf,
        cabundle: Option<PathBuf>,
    },
    SelfSigned {
        dir: Option<PathBuf>,
        hostnames: Vec<String>,
    },
}

#[derive(Debug)]
pub enum Invocation {
    Run(Box<Options>),
    Help,
    Version,
}

pub const HELP: &str = "\
dyspatcher: a standalone end-to-end encrypted chat. People join from a browser; you chat
and manage from this console.

Usage: dyspatcher [OPTIONS]

Network:
  -i, --ip-address IP        address to listen on (default 127.0.0.1; 0.0.0.0 or :: for all)
  -p, --port PORT            web port: the page, and WebSocket at /ws (default 80; 0 = any free port)
  -w, --wsport PORT          WebSocket port for dyspatcher 0.9 clients (default 81; 0 = any free port)
      --single-port          no separate WebSocket port (our page needs only the web port)

HTTPS (browsers allow the chat's cryptography only over HTTPS, or on this machine):
      --self-signed          make a certificate at start (its fingerprint is shown to compare
                             with what the browser shows); web port 443 unless -p
      --self-signed-dir DIR  keep that certificate in DIR and reuse it, so people accept it once
      --hostname NAME        a host name the certificate is for (repeatable), e.g. chat.lan
      --ssl-certificate FILE your certificate (PEM); with --ssl-key
      --ssl-key FILE         its private key (PEM: PKCS#8, PKCS#1 or SEC1)
      --ssl-cabundle FILE    intermediate certificates sent after yours (PEM)
      --redirect-http PORT   also answer plain HTTP on PORT with a redirect to the HTTPS page
      --allowed-origin ORIGIN
                             a web page elsewhere that may open the chat's WebSocket, e.g.
                             https://chat.example.org behind a reverse proxy (repeatable);
                             browsers' sockets from other pages are refused (403)

Chat:
  -n, --admin-nickname NAME  the administrator's name, 4-15 of A-Z and 0-9, one letter at least (default ADMIN)
      --admin-private-key FILE
                             the administrator's RSA key, PEM (PKCS#8 or PKCS#1, 2048-8192 bits);
                             without it a new RSA-4096 key is made at every start
      --welcome TEXT         message sent to every user who joins (at most 1000 bytes)
      --disable-all          users cannot write to everybody (@all); the administrator can
      --only-admin           users can write only to the administrator and see only them
                             (implies --disable-all)

Running unattended:
      --allow-list FILE      only keys listed in FILE may join: CSV lines keyid,username
                             (edits apply to the next join; an unreadable file lets nobody in)
      --allow-unproven-keys  let dyspatcher 0.9 clients, which cannot prove they hold their
                             private key, join under a listed key. Risk: anyone who has seen
                             a listed public key (every users list shows them) can join under
                             that person's name
      --allow-unproven-admin let dyspatcher 0.9 clients join with the administrator's key
                             without proving it. Risk: anyone who has seen the administrator's
                             public key (every users list shows it) can join as the
                             administrator, see every user and lock out the real one
      --transcription FILE   append everything the console shows (not keys, not help) to FILE,
                             timestamped; FILE must not exist yet...
      --transcription-append ...or continue an existing FILE
  -d, --daemon               go to the background once started (needs --transcription and
                             --admin-private-key); stop it with kill -TERM or -HUP
      --pid-file FILE        write the server's PID to FILE

Reach it from the internet through an SSH server (all four, or none; needs ssh):
      --sshpfw-ip-address IP the SSH server; it listens there for the chat, on the same ports
      --sshpfw-port PORT     its SSH port (usually 22)
      --sshpfw-user NAME     the login there (a user allowed to forward ports)
      --sshpfw-keyfile FILE  the private key for that login, without a passphrase (chmod 600)
      --sshpfw-known-hosts FILE
                             check the server's host key against FILE; without it the first key
                             seen is accepted and kept beside the key file (KEYFILE.known_hosts)

Limits (docs/LIMITS.md):
      --max-connections N    open connections in all (default 16384)
      --max-per-address N    open connections from one address (default 64; this machine is exempt)
      --connections-per-second N  new connections per second from one address (default 20,
                             bursts of 50; this machine itself: ten times more)
      --tunnel-max-connections N  open connections through the SSH tunnel, all of them
                             from this machine (default a quarter of --max-connections)
      --tunnel-connections-per-second N  new connections per second through the SSH
                             tunnel (default 50, bursts of 125)
      --messages-per-second N  messages one key may send per second (default 5, bursts of
                             20); a faster sender is read more slowly, nothing is dropped;
                             of those sent to the administrator, at most 20 from one user wait
                             to be decrypted for the console at a time (more are refused, saying so)
      --crypto-threads N     threads for the administrator's private-key work (decrypting
                             messages for the console, signing) (default: the cores but one, at
                             least 1; at most 16)
      --idle-timeout SECS    silence before a WebSocket is pinged, and again before it is
                             dropped (default 30)
      --kick-for SECS        how long /kick keeps a key out (default 600; /ban: the whole run)
      --max-file-size MIB    largest file relayed, in MiB (default 25)
      --hold-for SECS        how long a message to a user who left is held for their return
                             with the same key (default 600; 0: not held)
      --list-size N          users listed to everybody on our page (default 256); in a larger
                             room the others are found by name (1 to 100000)

  -h, --help                 this help
  -V, --version              the version

Examples:
  dyspatcher -p 8080 -w 8081
      chat on this machine: open http://127.0.0.1:8080/
  dyspatcher -i 0.0.0.0 -p 8443 --single-port --self-signed --self-signed-dir ~/.dyspatcher
      chat across a network: open https://<this machine's address>:8443/
  dyspatcher -i 192.168.1.20 -p 8443 -w 8444 --ssl-certificate cert.pem --ssl-key key.pem
      over HTTPS with your own certificate
  dyspatcher --admin-private-key admin.pem --welcome \"Hello, be kind\" --only-admin
      a help desk: everybody talks to the administrator only
  dyspatcher -p 8080 -w 8081 --sshpfw-ip-address 11.22.33.44 --sshpfw-port 22 \\
      --sshpfw-user dyspatcherpfw --sshpfw-keyfile dyspatcherpfw.key
      also from the internet: http://11.22.33.44:8080/ (that server must allow it: README)

Console commands: type /help once it runs.";

pub fn parse(args: Vec<OsString>) -> Result<Invocation, String> {
    let mut args = pico_args::Arguments::from_vec(args);
    if args.contains(["-h", "--help"]) {
        return Ok(Invocation::Help);
    }
    if args.contains(["-V", "--version"]) {
        return Ok(Invocation::Version);
    }
    let mut limits = Limits::default();

    let ip = match text(&mut args, ["-i", "--ip-address"])? {
        Some(v) => parse_ip(&v)?,
        None => IpAddr::from([127, 0, 0, 1]),
    };
    let port = text(&mut args, ["-p", "--port"])?
        .map(|v| parse_port("--port", &v))
        .transpose()?;
    let wsport_given = text(&mut args, ["-w", "--wsport"])?
        .map(|v| parse_port("--wsport", &v))
        .transpose()?;
    let single_port = args.contains("--single-port");
    let admin_name = text(&mut args, ["-n", "--admin-nickname"])?.unwrap_or_else(|| "ADMIN".into());
    let admin_key_file = text(&mut args, "--admin-private-key")?.map(PathBuf::from);
    let welcome = text(&mut args, "--welcome")?;
    let certificate = text(&mut args, "--ssl-certificate")?.map(PathBuf::from);
    let key = text(&mut args, "--ssl-key")?.map(PathBuf::from);
    let cabundle = text(&mut args, "--ssl-cabundle")?.map(PathBuf::from);
    let self_signed = args.contains("--self-signed");
    let self_signed_dir = text(&mut args, "--self-signed-dir")?.map(PathBuf::from);
    let hostnames: Vec<String> = args
        .values_from_str("--hostname")
        .map_err(|e| format!("--hostname: {e}"))?;
    let allowed_origins: Vec<String> = args
        .values_from_str("--allowed-origin")
        .map_err(|e| format!("--allowed-origin: {e}"))?;
    if let Some(bad) = allowed_origins
        .iter()
        .find(|o| !(o.starts_with("http://") || o.starts_with("https://")))
    {
        return Err(format!(
            "--allowed-origin: {bad:?} is not an origin; give the scheme and host as a browser names a page, e.g. https://chat.example.org"
        ));
    }
    let redirect_http = text(&mut args, "--redirect-http")?
        .map(|v| parse_port("--redirect-http", &v))
        .transpose()?;
    let allow_list = text(&mut args, "--allow-list")?.map(PathBuf::from);
    let allow_unproven_keys = args.contains("--allow-unproven-keys");
    let allow_unproven_admin = args.contains("--allow-unproven-admin");
    let transcription = text(&mut args, "--transcription")?.map(PathBuf::from);
    let transcription_append = args.contains("--transcription-append");
    let daemon = args.contains(["-d", "--daemon"]);
    let pid_file = text(&mut args, "--pid-file")?.map(PathBuf::from);
    let disable_all = args.contains("--disable-all");
    let only_admin = args.contains("--only-admin");
    if let Some(v) = text(&mut args, "--max-connections")? {
        limits.max_connections = parse_count("--max-connections", &v, 1_000_000)?;
    }
    limits.tunnel_max_connections = (limits.max_connections / 4).max(1);
    if let Some(v) = text(&mut args, "--tunnel-max-connections")? {
        limits.tunnel_max_connections =
            parse_count("--tunnel-max-connections", &v, limits.max_connections)?;
    }
    if let Some(v) = text(&mut args, "--tunnel-connections-per-second")? {
        let rate = parse_count("--tunnel-connections-per-second", &v, 1_000_000)?;
        limits.tunnel_connections_per_second = rate as f64;
        limits.tunnel_connection_burst = (rate * 5 / 2).max(1) as f64;
    }
    if let Some(v) = text(&mut args, "--max-per-address")? {
        limits.max_connections_per_address = parse_count("--max-per-address", &v, 1_000_000)?;
    }
    if let Some(v) = text(&mut args, "--connections-per-second")? {
        let rate = parse_count("--connections-per-second", &v, 1_000_000)?;
        limits.connections_per_second_per_address = rate as f64;
        limits.connection_burst_per_address = (rate * 5 / 2).max(1) as f64;
    }
    if let Some(v) = text(&mut args, "--messages-per-second")? {
        let rate = parse_count("--messages-per-second", &v, 10_000)?;
        limits.messages_per_second = rate as f64;
        limits.message_burst = (rate * 4) as f64;
    }
    let crypto_threads = text(&mut args, "--crypto-threads")?
        .map(|v| parse_count("--crypto-threads", &v, MAX_CRYPTO_THREADS))
        .transpose()?;
    if let Some(v) = text(&mut args, "--idle-timeout")? {
        let secs = parse_count("--idle-timeout", &v, 86_400)? as u64;
        limits.ping_after = std::time::Duration::from_secs(secs);
        limits.pong_timeout = std::time::Duration::from_secs(secs);
    }

    if let Some(v) = text(&mut args, "--kick-for")? {
        let secs = parse_count("--kick-for", &v, 86_400 * 365)? as u64;
        limits.kick_for = std::time::Duration::from_secs(secs);
    }
    if let Some(v) = text(&mut args, "--max-file-size")? {
        let mib = parse_count("--max-file-size", &v, 1024)? as u64;
        limits.max_file_bytes = mib * 1024 * 1024;
        // One file that size must fit the server-wide bound.
        limits.max_file_bytes_in_flight =
            limits.max_file_bytes_in_flight.max(limits.max_file_bytes);
    }

    if let Some(v) = text(&mut args, "--hold-for")? {
        let secs = match v.as_str() {
            "0" => 0,
            _ => parse_count("--hold-for", &v, 86_400)? as u64,
        };
        limits.hold_for = std::time::Duration::from_secs(secs);
    }

    if let Some(v) = text(&mut args, "--list-size")? {
        limits.list_size = parse_count("--list-size", &v, 100_000)?;
    }

    let tunnel = crate::tunnel::parse_options(&mut args)?;

    let rest = args.finish();
    if let Some(first) = rest.first() {
        let shown = first.to_string_lossy();
        return Err(if shown.starts_with('-') {
            format!("unknown option {shown:?}: see dyspatcher --help for the options")
        } else {
            format!(
                "unexpected argument {shown:?}: every value follows its option, e.g. -p 8080 (see dyspatcher --help)"
            )
        });
    }

    if !is_valid_admin_name(&admin_name) {
        return Err(format!(
            "--admin-nickname {admin_name:?} is not accepted: use 4 to 15 capital letters A-Z or digits, at least one of them a letter, e.g. ADMIN or OPS24"
        ));
    }
    if let Some(w) = &welcome {
        if w.trim().is_empty() {
            return Err(
                "--welcome is empty: give the text to send, e.g. --welcome \"Hello\"".into(),
            );
        }
        if w.len() > MAX_WELCOME_BYTES {
            return Err(format!(
                "--welcome is {} bytes long: at most {MAX_WELCOME_BYTES} are accepted",
                w.len()
            ));
        }
    }
    if transcription_append && transcription.is_none() {
        return Err("--transcription-append goes with --transcription FILE".into());
    }
    if daemon && (transcription.is_none() || admin_key_file.is_none()) {
        return Err(
            "--daemon needs --transcription FILE (to keep what the console would show) and --admin-private-key FILE (a key that survives restarts)"
                .into(),
        );
    }
    let tls = tls_choice(
        certificate,
        key,
        cabundle,
        self_signed,
        self_signed_dir,
        hostnames,
    )?;
    if redirect_http.is_some() && tls.is_none() {
        return Err(
            "--redirect-http redirects to HTTPS: add --self-signed or --ssl-certificate/--ssl-key"
                .into(),
        );
    }
    let wsport = match (single_port, wsport_given) {
        (true, Some(_)) => {
            return Err(
                "--wsport and --single-port contradict each other: give one of them".into(),
            );
        }
        (true, None) => None,
        (false, w) => Some(w.unwrap_or(81)),
    };
    if let (Some(p), Some(w)) = (port, wsport)
        && p == w
        && p != 0
    {
        return Err(format!(
            "--port and --wsport are both {p}: give two different ports, or --single-port to use one"
        ));
    }
    let web_default = if tls.is_some() { 443 } else { 80 };
    if port.is_none() && wsport == Some(web_default) {
        return Err(format!(
            "--wsport {web_default} is the default web port: choose another, e.g. -w 8444"
        ));
    }
    if let Some(r) = redirect_http {
        let web = port.unwrap_or(web_default);
        if r != 0 && (r == web || Some(r) == wsport) {
            return Err(format!(
                "--redirect-http {r} is already the web or WebSocket port: give another, e.g. --redirect-http 8080"
            ));
        }
    }

    Ok(Invocation::Run(Box::new(Options {
        ip,
        port,
        wsport,
        admin_name,
        admin_key_file,
        welcome,
        disable_all: disable_all || only_admin,
        only_admin,
        tls,
        allow_list,
        allow_unproven_keys,
        allow_unproven_admin,
        transcription,
        transcription_append,
        daemon,
        pid_file,
        redirect_http,
        allowed_origins,
        tunnel,
        limits,
        crypto_threads,
    })))
}

fn tls_choice(
    certificate: Option<PathBuf>,
    key: Option<PathBuf>,
    cabundle: Option<PathBuf>,
    self_signed: bool,
    self_signed_dir: Option<PathBuf>,
    hostnames: Vec<String>,
) -> Result<Option<TlsChoice>, String> {
    if let Some(bad) = hostnames.iter().find(|h| !is_valid_hostname(h)) {
        return Err(format!(
            "--hostname {bad:?} is not a host name: give letters, digits, hyphens and dots, e.g. chat.lan"
        ));
    }
    let self_signed = self_signed || self_signed_dir.is_some();
    match (certificate, key) {
        (Some(_), _) | (_, Some(_)) if self_signed => Err(
            "--self-signed and --ssl-certificate/--ssl-key contradict each other: give one of them"
                .into(),
        ),
        (Some(certificate), Some(key)) if hostnames.is_empty() => Ok(Some(TlsChoice::Files {
            certificate,
            key,
            cabundle,
        })),
        (Some(_), Some(_)) => Err(
            "--hostname goes with --self-signed; your certificate already names its hosts".into(),
        ),
        (Some(_), None) => {
            Err("--ssl-certificate needs --ssl-key FILE (the certificate's private key)".into())
        }
        (None, Some(_)) => {
            Err("--ssl-key needs --ssl-certificate FILE (the certificate of that key)".into())
        }
        (None, None) if cabundle.is_some() => {
            Err("--ssl-cabundle goes with --ssl-certificate and --ssl-key".into())
        }
        (None, None) if self_signed => Ok(Some(TlsChoice::SelfSigned {
            dir: self_signed_dir,
            hostnames,
        })),
        (None, None) if !hostnames.is_empty() => Err("--hostname goes with --self-signed".into()),
        (None, None) => Ok(None),
    }
}

/// The value of an option, as text.
fn text<A: Into<pico_args::Keys>>(
    args: &mut pico_args::Arguments,
    keys: A,
) -> Result<Option<String>, String> {
    args.opt_value_from_fn(keys, |v| Ok::<String, String>(v.to_string()))
        .map_err(|err| match err {
            pico_args::Error::OptionWithoutAValue(name) => {
                format!("{name} needs a value (see dyspatcher --help)")
            }
            other => format!("{other} (see dyspatcher --help)"),
        })
}

fn parse_ip(v: &str) -> Result<IpAddr, String> {
    let bare = v.trim_start_matches('[').trim_end_matches(']');
    if bare == "localhost" {
        return Ok(IpAddr::from([127, 0, 0, 1]));
    }
    bare.parse().map_err(|_| {
        format!(
            "--ip-address {v:?} is not an IP address: give one like 192.168.1.20, 0.0.0.0 (all), ::1 or :: (all, IPv6)"
        )
    })
}

fn parse_port(flag: &str, v: &str) -> Result<u16, String> {
    v.parse::<u16>().map_err(|_| {
        format!("{flag} {v:?} is not a port: give a number from 0 to 65535 (0 = any free port)")
    })
}

fn parse_count(flag: &str, v: &str, max: usize) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{flag} {v:?} is not accepted: give a whole number from 1 to {max}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, String> {
        match parse(args.iter().map(OsString::from).collect())? {
            Invocation::Run(o) => Ok(*o),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn crypto_threads_are_bounded() {
        assert_eq!(run(&[]).unwrap().crypto_threads, None);
        assert_eq!(
            run(&["--crypto-threads", "3"]).unwrap().crypto_threads,
            Some(3)
        );
        for bad in ["0", "17", "x"] {
            let err = run(&["--crypto-threads", bad]).unwrap_err();
            assert!(err.contains("from 1 to 16"), "{err}");
        }
    }

    #[test]
    fn the_hold_is_in_seconds_and_zero_turns_it_off() {
        use std::time::Duration;
        assert_eq!(run(&[]).unwrap().limits.hold_for, Duration::from_secs(600));
        let limits = run(&["--hold-for", "1"]).unwrap().limits;
        assert_eq!(limits.hold_for, Duration::from_secs(1));
        let limits = run(&["--hold-for", "0"]).unwrap().limits;
        assert!(limits.hold_for.is_zero());
        assert!(run(&["--hold-for", "-1"]).is_err());
        assert_eq!(run(&[]).unwrap().limits.list_size, 256);
        assert_eq!(run(&["--list-size", "2"]).unwrap().limits.list_size, 2);
        for bad in ["0", "100001", "x"] {
            assert!(run(&["--list-size", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_file_cap_is_in_mib_and_the_bytes_in_flight_follow_it() {
        let limits = run(&[]).unwrap().limits;
        assert_eq!(limits.max_file_bytes, 25 * 1024 * 1024);
        let limits = run(&["--max-file-size", "100"]).unwrap().limits;
        assert_eq!(limits.max_file_bytes, 100 * 1024 * 1024);
        assert_eq!(limits.max_file_bytes_in_flight, 100 * 1024 * 1024);
        for bad in ["0", "1025", "x"] {
            let err = run(&["--max-file-size", bad]).unwrap_err();
            assert!(err.contains("from 1 to 1024"), "{err}");
        }
    }

    #[test]
    fn defaults() {
        let o = run(&[]).unwrap();
        assert_eq!(o.ip, IpAddr::from([127, 0, 0, 1]));
        assert_eq!((o.port, o.wsport), (None, Some(81)));
        assert_eq!(o.admin_name, "ADMIN");
        assert!(!o.disable_all && !o.only_admin);
        assert!(!o.allow_unproven_keys && !o.allow_unproven_admin);
    }

    #[test]
    fn unproven_clients_are_allowed_only_when_asked() {
        let o = run(&["--allow-unproven-keys"]).unwrap();
        assert!(o.allow_unproven_keys && !o.allow_unproven_admin);
        let o = run(&["--allow-unproven-admin"]).unwrap();
        assert!(!o.allow_unproven_keys && o.allow_unproven_admin);
        for flag in ["--allow-unproven-keys", "--allow-unproven-admin"] {
            let line = HELP.lines().position(|l| l.contains(flag)).unwrap();
            let text: String = HELP.lines().skip(line).take(4).collect();
            assert!(text.contains("Risk: anyone who has seen"), "{text}");
        }
    }

    #[test]
    fn original_flags() {
        let o = run(&[
            "-i",
            "::1",
            "-p",
            "8080",
            "-w",
            "8081",
            "-n",
            "OPS24",
            "--admin-private-key",
            "k.pem",
            "--welcome",
            "hi",
            "--only-admin",
        ])
        .unwrap();
        assert_eq!(o.ip, "::1".parse::<IpAddr>().unwrap());
        assert_eq!((o.port, o.wsport), (Some(8080), Some(8081)));
        assert_eq!(o.admin_name, "OPS24");
        assert!(
            o.only_admin && o.disable_all,
            "--only-admin implies --disable-all"
        );
        let o = run(&["--port=0", "--single-port", "--ip-address", "[::]"]).unwrap();
        assert_eq!((o.port, o.wsport), (Some(0), None));
    }

    #[test]
    fn mistakes_are_one_clear_line() {
        for (args, needle) in [
            (&["-p", "http"][..], "is not a port"),
            (&["-p", "70000"][..], "0 to 65535"),
            (&["-i", "my-laptop"][..], "is not an IP address"),
            (&["-n", "admin"][..], "capital letters"),
            (&["--frobnicate"][..], "unknown option"),
            (&["8080"][..], "unexpected argument"),
            (&["-p"][..], "needs a value"),
            (&["--single-port", "-w", "81"][..], "contradict"),
            (&["-p", "8080", "-w", "8080"][..], "different ports"),
            (&["--welcome", ""][..], "empty"),
            (&["--max-connections", "0"][..], "from 1 to"),
            (
                &["--idle-timeout", "99999999999999999999"][..],
                "from 1 to 86400",
            ),
            (&["--ssl-certificate", "c.pem"][..], "needs --ssl-key"),
            (&["--ssl-key", "k.pem"][..], "needs --ssl-certificate"),
            (
                &["--self-signed", "--ssl-certificate", "c", "--ssl-key", "k"][..],
                "contradict",
            ),
            (&["--ssl-cabundle", "b.pem"][..], "goes with"),
            (&["--hostname", "chat.lan"][..], "goes with --self-signed"),
            (
                &["--self-signed", "--hostname", "a b"][..],
                "not a host name",
            ),
            (&["--redirect-http", "8080"][..], "redirects to HTTPS"),
            (
                &["--daemon", "--transcription", "t.txt"][..],
                "--daemon needs",
            ),
            (
                &["-d", "--admin-private-key", "k.pem"][..],
                "--daemon needs",
            ),
            (&["--transcription-append"][..], "goes with --transcription"),
            (
                &["--self-signed", "--redirect-http", "443"][..],
                "already the web",
            ),
        ] {
            let err = run(args).unwrap_err();
            assert!(err.contains(needle), "{args:?}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
        let long = "x".repeat(MAX_WELCOME_BYTES + 1);
        assert!(
            run(&["--welcome", &long])
                .unwrap_err()
                .contains("at most 1000")
        );
    }

    #[test]
    fn tls_choices() {
        let o = run(&[
            "--self-signed-dir",
            "/tmp/d",
            "--hostname",
            "chat.lan",
            "--hostname",
            "pi",
        ])
        .unwrap();
        assert_eq!(
            o.tls,
            Some(TlsChoice::SelfSigned {
                dir: Some("/tmp/d".into()),
                hostnames: vec!["chat.lan".into(), "pi".into()]
            })
        );
        let o = run(&[
            "--ssl-certificate",
            "c.pem",
            "--ssl-key",
            "k.pem",
            "--redirect-http",
            "8080",
        ])
        .unwrap();
        assert!(matches!(o.tls, Some(TlsChoice::Files { .. })));
        assert_eq!(o.redirect_http, Some(8080));
    }

    #[test]
    fn help_and_version() {
        assert!(matches!(parse(vec!["--help".into()]), Ok(Invocation::Help)));
        assert!(matches!(parse(vec!["-V".into()]), Ok(Invocation::Version)));
        assert!(HELP.contains("Examples:"));
    }
}
