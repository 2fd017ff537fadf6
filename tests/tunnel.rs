//! The SSH tunnel against a real OpenSSH server (Debian's `openssh-server`): each test
//! starts its own `sshd` on a free port of 127.0.0.2, the "remote" address, with a host
//! key, a client key and a config it makes. The server's back-off starts at 100 ms
//! (`DYSPATCHER_TUNNEL_BACKOFF_MS`), so restarts take well under a second.
//!
//! Needs `/usr/sbin/sshd` and `ssh` (apt-get install openssh-server openssh-client) and,
//! as root, the privilege separation directory /run/sshd (created here).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

const REMOTE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const SSHD: &str = "/usr/sbin/sshd";
/// Starting ssh, authenticating and forwarding, on a loaded machine.
const TUNNEL_WAIT: Duration = Duration::from_secs(20);

/// A directory of the test's own.
fn test_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("tunnel-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `ssh-keygen -t ed25519` without a passphrase: `dir/name` and `dir/name.pub`.
fn make_key(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen (apt-get install openssh-client)");
    assert!(status.success(), "ssh-keygen failed");
    path
}

fn pub_of(key: &Path) -> PathBuf {
    let mut p = key.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// A port free on both 127.0.0.1 (the chat's listener) and 127.0.0.2 (the forward).
fn free_port_pair() -> u16 {
    loop {
        let remote = TcpListener::bind((REMOTE, 0)).unwrap();
        let port = remote.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn current_user() -> String {
    // SAFETY: getpwuid on our own uid; the name is copied before any other call.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        assert!(!pw.is_null(), "no passwd entry for the current user");
        std::ffi::CStr::from_ptr((*pw).pw_name)
            .to_string_lossy()
            .into_owned()
    }
}

/// A running `sshd -D -e -f CONFIG` on 127.0.0.2, with the client key `client`.
struct Sshd {
    child: Child,
    port: u16,
    log: Arc<Mutex<String>>,
    client_key: PathBuf,
}

impl Sshd {
    fn start(dir: &Path) -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: apt-get install openssh-server"
        );
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // sshd as root insists on its privilege separation directory.
            std::fs::create_dir_all("/run/sshd").expect("cannot create /run/sshd");
        }
        let host_key = make_key(dir, "host_key");
        let client_key = make_key(dir, "client");
        std::fs::copy(pub_of(&client_key), dir.join("authorized_keys")).unwrap();
        let port = free_port_pair();
        let base = format!(
            "Port {port}\n\
             ListenAddress {REMOTE}\n\
             HostKey {host}\n\
             AuthorizedKeysFile {dir}/authorized_keys\n\
             AllowTcpForwarding yes\n\
             GatewayPorts clientspecified\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\n\
             PidFile none\n\
             StrictModes no\n\
             UsePAM no\n",
            host = host_key.display(),
            dir = dir.display(),
        );
        // OpenSSH 9.8+ shuts out addresses that failed to log in: not here.
        let config = dir.join("sshd_config");
        std::fs::write(&config, format!("{base}PerSourcePenalties no\n")).unwrap();
        let accepted = Command::new(SSHD)
            .arg("-t")
            .arg("-f")
            .arg(&config)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !accepted {
            std::fs::write(&config, &base).unwrap();
        }
        let mut child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start sshd");
        let log = Arc::new(Mutex::new(String::new()));
        let writer = log.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = writer.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut sshd = Sshd {
            child,
            port,
            log,
            client_key,
        };
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect((REMOTE, port)).is_err() {
            if let Ok(Some(status)) = sshd.child.try_wait() {
                panic!("sshd ended ({status}):\n{}", sshd.log());
            }
            assert!(
                Instant::now() < deadline,
                "sshd does not listen:\n{}",
                sshd.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        sshd
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // SAFETY: signalling the sshd this test started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// The chat server on fixed ports `web` and `ws` of 127.0.0.1, tunnelled to 127.0.0.2
/// through `ssh_port` with `key`.
fn start_server(web: u16, ws: u16, ssh_port: u16, key: &Path, extra: &[&str]) -> Server {
    let bin = std::env::var("DYSPATCHER_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_dyspatcher").to_owned());
    let mut command = match std::env::var("DYSPATCHER_RUNNER") {
        Ok(runner) if !runner.trim().is_empty() => {
            let mut words = runner.split_whitespace();
            let mut c = Command::new(words.next().unwrap());
            c.args(words).arg(&bin);
            c
        }
        _ => Command::new(&bin),
    };
    command.env("DYSPATCHER_TUNNEL_BACKOFF_MS", "100");
    let admin_key = format!(
        "{}/tests/vectors/admin.pkcs8.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut args: Vec<String> = [
        "-i",
        "127.0.0.1",
        "-p",
        &web.to_string(),
        "-w",
        &ws.to_string(),
        "--admin-private-key",
        &admin_key,
        "--sshpfw-ip-address",
        &REMOTE.to_string(),
        "--sshpfw-port",
        &ssh_port.to_string(),
        "--sshpfw-user",
        &current_user(),
        "--sshpfw-keyfile",
        &key.to_string_lossy(),
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|a| a.to_string()));
    Server::start_command(command, args, false)
}

/// `GET /` on `127.0.0.2:port`: the status code and the body.
fn get_remote(port: u16) -> (u16, String) {
    let mut stream = TcpStream::connect((REMOTE, port)).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {REMOTE}:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer through the tunnel: {text:?}"));
    (status, text)
}

/// `/tunnel`'s first line, and the ssh PID it names.
fn tunnel_status(server: &mut Server, state: &str) -> (String, u32) {
    server.console("/tunnel");
    let line = server.wait_for_output(&format!("SSH tunnel: {state}"), WAIT);
    let pid = line
        .split("ssh PID ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no ssh PID in {line:?}"));
    (line, pid)
}

/// PIDs of the ssh processes whose command line mentions `needle` (zombies have none).
fn processes_mentioning(needle: &Path) -> Vec<u32> {
    let needle = needle.as_os_str().as_encoded_bytes();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let program = cmdline.split(|&b| b == 0).next().unwrap_or_default();
            let ssh = program == b"ssh" || program.ends_with(b"/ssh");
            if ssh && cmdline.windows(needle.len()).any(|w| w == needle) {
                found.push(pid);
            }
        }
    }
    found
}

/// Waits until no process mentions `needle`, or panics with the ones left.
fn assert_no_process_left(needle: &Path, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let left = processes_mentioning(needle);
        if left.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            let lines: Vec<String> = left
                .iter()
                .map(|pid| {
                    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                    format!(
                        "{pid}: {}",
                        String::from_utf8_lossy(&cmd).replace('\0', " ")
                    )
                })
                .collect();
            panic!("processes left behind:\n{}", lines.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_chat_goes_through_the_tunnel_and_the_tunnel_comes_back() {
    let dir = test_dir("through");
    let sshd = Sshd::start(&dir);
    let (web, ws) = (free_port_pair(), free_port_pair());
    let mut server = start_server(web, ws, sshd.port, &sshd.client_key, &[]);
    server.wait_for_output(
        &format!("Chat page from the internet (SSH tunnel): http://{REMOTE}:{web}/"),
        WAIT,
    );
    server.wait_for_output(
        &format!("WebSocket for 0.9 clients from the internet (SSH tunnel): ws://{REMOTE}:{ws}/"),
        WAIT,
    );
    let up = server.wait_for_output("SSH tunnel up", TUNNEL_WAIT);
    assert!(
        up.contains(&format!(
            "http://{REMOTE}:{web}/ and ws://{REMOTE}:{ws}/ reach this chat"
        )),
        "{up}"
    );

    // The page and a join, from "outside".
    let (status, page) = get_remote(web);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("<html") || page.contains("<!doctype"),
        "{page}"
    );
    let alice = Client::join(&format!("ws://{REMOTE}:{ws}/"), "alice", keys("alice"));
    server.wait_for_output("alice", WAIT);
    drop(alice);

    // The host key was accepted and kept beside the key file (maybe hashed).
    let found = Command::new("ssh-keygen")
        .arg("-F")
        .arg(format!("[{REMOTE}]:{}", sshd.port))
        .arg("-f")
        .arg(dir.join("client.known_hosts"))
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{}",
        String::from_utf8_lossy(&found.stderr)
    );

    server.console("/help");
    server.wait_for_output(
        &format!("From the internet (SSH tunnel; /tunnel shows its state): http://{REMOTE}:{web}/"),
        WAIT,
    );
    let (line, first) = tunnel_status(&mut server, "up for");
    assert!(line.contains("0 restarts"), "{line}");
    assert_eq!(
        processes_mentioning(&sshd.client_key),
        [first],
        "the PID /tunnel shows is our ssh"
    );

    // The link dies: the tunnel comes back on its own.
    // SAFETY: signalling the ssh our server started (checked above).
    unsafe { libc::kill(first as i32, libc::SIGKILL) };
    let down = server.wait_for_output("SSH tunnel down", WAIT);
    assert!(down.contains("killed by signal 9"), "{down}");
    server.wait_for_output("starting ssh again", WAIT);
    server.wait_for_output("SSH tunnel up", TUNNEL_WAIT);
    let (line, second) = tunnel_status(&mut server, "up for");
    assert_ne!(first, second);
    assert!(!line.contains(" 0 restarts"), "{line}");
    let bob = Client::join(&format!("ws://{REMOTE}:{ws}/"), "bobby", keys("bob"));
    server.wait_for_output("bobby", WAIT);
    assert_eq!(get_remote(web).0, 200);
    drop(bob);

    server.console("/quit");
    assert!(server.wait_exit(WAIT).is_some(), "the server did not stop");
    assert!(
        server
            .output()
            .contains(&format!("SSH tunnel closed (ssh PID {second} stopped)")),
        "{}",
        server.output()
    );
    assert_no_process_left(&sshd.client_key, Duration::ZERO);
}

/// An sshd of its own and a server whose tunnel through it is up.
fn tunnel_up(name: &str) -> (Sshd, Server) {
    let dir = test_dir(name);
    let sshd = Sshd::start(&dir);
    let (web, ws) = (free_port_pair(), free_port_pair());
    let mut server = start_server(web, ws, sshd.port, &sshd.client_key, &[]);
    server.wait_for_output("SSH tunnel up", TUNNEL_WAIT);
    (sshd, server)
}

#[test]
fn a_killed_server_leaves_no_ssh_behind() {
    let (sshd, mut server) = tunnel_up("orphan");
    let (_, pid) = tunnel_status(&mut server, "up for");
    server.signal(libc::SIGKILL);
    assert!(server.wait_exit(WAIT).is_some());
    // PR_SET_PDEATHSIG: the kernel sends ssh SIGTERM when the server dies.
    assert_no_process_left(&sshd.client_key, WAIT);
    assert!(
        !Path::new(&format!("/proc/{pid}/cmdline")).exists()
            || std::fs::read(format!("/proc/{pid}/cmdline"))
                .unwrap()
                .is_empty(),
        "ssh {pid} outlived the server"
    );
}

#[test]
fn sigterm_stops_the_tunnel_too() {
    let (sshd, mut server) = tunnel_up("sigterm");
    server.signal(libc::SIGTERM);
    server.wait_for_output("SSH tunnel closed", WAIT);
    assert!(server.wait_exit(WAIT).is_some());
    assert_no_process_left(&sshd.client_key, Duration::ZERO);
}

/// Waits for two failures with `needle` in them (a retry happened), and checks that
/// the server still runs and `/tunnel` says why.
fn fails_and_retries(server: &mut Server, needle: &str) {
    let first = server.wait_for_output("SSH tunnel down", TUNNEL_WAIT);
    assert!(first.contains(needle), "{first}");
    assert!(first.contains("trying again in"), "{first}");
    server.wait_for_output("starting ssh again", WAIT);
    let second = server.wait_for_output("SSH tunnel down", TUNNEL_WAIT);
    assert!(second.contains(needle), "{second}");
    server.console("/tunnel");
    server.wait_for_output("SSH tunnel: ", WAIT);
    let last = server.wait_for_output("last error", WAIT);
    assert!(last.contains(needle), "{last}");
    assert!(
        server.wait_exit(Duration::ZERO).is_none(),
        "the server crashed"
    );
}

fn quit(server: &mut Server, key: &Path) {
    server.console("/quit");
    assert!(server.wait_exit(WAIT).is_some(), "the server did not stop");
    assert_no_process_left(key, Duration::ZERO);
}

#[test]
fn a_key_the_server_refuses() {
    let dir = test_dir("wrongkey");
    let sshd = Sshd::start(&dir);
    let wrong = make_key(&dir, "wrong");
    let (web, ws) = (free_port_pair(), free_port_pair());
    let mut server = start_server(web, ws, sshd.port, &wrong, &[]);
    fails_and_retries(&mut server, &format!("refused the key {}", wrong.display()));
    assert!(server.output().contains("Permission denied (publickey)"));
    quit(&mut server, &wrong);
}

#[test]
fn an_unreachable_ssh_server() {
    let dir = test_dir("unreachable");
    let key = make_key(&dir, "client");
    let closed = TcpListener::bind((REMOTE, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (web, ws) = (free_port_pair(), free_port_pair());
    let mut server = start_server(web, ws, closed, &key, &[]);
    fails_and_retries(
        &mut server,
        &format!("nothing answers at {REMOTE} port {closed}"),
    );
    quit(&mut server, &key);
}

#[test]
fn a_refused_forward_is_retried_until_the_port_is_free() {
    let dir = test_dir("taken");
    let sshd = Sshd::start(&dir);
    let (web, ws) = (free_port_pair(), free_port_pair());
    // Somebody else listens on the remote web port.
    let squatter = TcpListener::bind((REMOTE, web)).unwrap();
    let mut server = start_server(web, ws, sshd.port, &sshd.client_key, &[]);
    fails_and_retries(
        &mut server,
        &format!("would not listen on {REMOTE} port {web}"),
    );
    assert!(server.output().contains(&format!(
        "remote port forwarding failed for listen port {web}"
    )));
    drop(squatter);
    server.wait_for_output("SSH tunnel up", TUNNEL_WAIT);
    assert_eq!(get_remote(web).0, 200);
    quit(&mut server, &sshd.client_key);
}

#[test]
fn a_host_key_that_does_not_match() {
    let dir = test_dir("hostkey");
    let sshd = Sshd::start(&dir);
    let other = make_key(&dir, "other_host");
    let other_pub = std::fs::read_to_string(pub_of(&other)).unwrap();
    let known = dir.join("known_hosts");
    let fields: Vec<&str> = other_pub.split_whitespace().take(2).collect();
    std::fs::write(
        &known,
        format!("[{REMOTE}]:{} {}\n", sshd.port, fields.join(" ")),
    )
    .unwrap();
    let (web, ws) = (free_port_pair(), free_port_pair());
    let known_arg = known.to_string_lossy().into_owned();
    let mut server = start_server(
        web,
        ws,
        sshd.port,
        &sshd.client_key,
        &["--sshpfw-known-hosts", &known_arg],
    );
    fails_and_retries(
        &mut server,
        &format!("host key is not the one in {}", known.display()),
    );
    quit(&mut server, &sshd.client_key);
}

#[test]
fn bad_options_are_refused_before_anything_starts() {
    let dir = test_dir("options");
    let key = make_key(&dir, "client");
    let bin = env!("CARGO_BIN_EXE_dyspatcher");
    let key_arg = key.to_string_lossy().into_owned();
    for (args, needle) in [
        (
            vec!["--sshpfw-ip-address", "127.0.0.2", "--sshpfw-port", "22"],
            "needs all four",
        ),
        (
            vec![
                "--sshpfw-ip-address",
                "127.0.0.2",
                "--sshpfw-port",
                "22",
                "--sshpfw-user",
                "Bad User",
                "--sshpfw-keyfile",
                &key_arg,
            ],
            "plain login name",
        ),
        (
            vec![
                "--sshpfw-ip-address",
                "127.0.0.2",
                "--sshpfw-port",
                "22",
                "--sshpfw-user",
                "pfw",
                "--sshpfw-keyfile",
                "/nonexistent/key",
            ],
            "cannot read --sshpfw-keyfile",
        ),
    ] {
        let out = Command::new(bin)
            .args(["-p", "0", "-w", "0"])
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}
