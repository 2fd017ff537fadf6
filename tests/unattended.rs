//! Running unattended, against the real binary: the allow list, the transcription
//! across a SIGKILL, and --daemon.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Client, ClientEvent, Server, WAIT, keys, pool_key};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "dyspatcher-unattended-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const NOT_ALLOWED: &str = "Your Public Key is not allowed to connect";

fn refused(server: &Server, name: &str, key: std::sync::Arc<dyspatcher_crypto::KeyPair>) {
    let mut client = Client::connect_as(&server.ws_url(), name, key);
    client.send_join();
    client.expect(
        |e| matches!(e, ClientEvent::Notice(n) if n == NOT_ALLOWED),
        WAIT,
    );
    assert!(
        client.wait_closed(WAIT).is_some(),
        "closed after the notice"
    );
}

#[test]
fn the_allow_list_decides_who_joins_and_under_which_name() {
    let dir = temp_dir("allow");
    let list = dir.join("allowed.csv");
    let alice_id = keys("alice").public().key_id().to_string();
    let admin_id = keys("admin").public().key_id().to_string();
    std::fs::write(
        &list,
        format!("# test list\n{alice_id},alicia\nthis line is broken\n\n{admin_id},admin\n"),
    )
    .unwrap();
    let mut server = Server::start(&[
        "--allow-list",
        list.to_str().unwrap(),
        "--admin-private-key",
        "tests/vectors/admin.pkcs8.pem",
    ]);
    server.wait_for_output("line 3: expected two fields", WAIT);

    // A listed key joins under the listed name, whatever it typed.
    let mut alice = Client::connect_as(&server.ws_url(), "whatever", keys("alice"));
    alice.send_join();
    let config = alice.expect(|e| matches!(e, ClientEvent::Config { .. }), WAIT);
    assert!(matches!(config, ClientEvent::Config { name, .. } if name == "alicia"));
    server.wait_for_output("alicia joined", WAIT);

    // An unlisted key is refused with the notice.
    refused(&server, "bobby", keys("bob"));
    server.wait_for_output("is not on the allow list", WAIT);

    // The web administrator must be listed too: it is.
    let mut web_admin = Client::connect_as(&server.ws_url(), "x", keys("admin"));
    web_admin.send_join();
    web_admin.expect(
        |e| matches!(e, ClientEvent::Config { is_admin: true, .. }),
        WAIT,
    );

    // Editing the file admits bob at his next join, without a restart.
    let bob_id = keys("bob").public().key_id().to_string();
    std::fs::write(
        &list,
        format!("{alice_id},alicia\n{admin_id},admin\n{bob_id},bobby\n"),
    )
    .unwrap();
    let mut bob = Client::join(&server.ws_url(), "bobby", keys("bob"));
    bob.say_to("alicia", "let in");
    alice.expect_text("bobby", "let in", WAIT);
    server.console("/allowlist");
    server.wait_for_output("allow list: 3 entries", WAIT);

    // Deleting it refuses everybody (those connected stay).
    std::fs::remove_file(&list).unwrap();
    refused(&server, "carol", pool_key(0));
    server.wait_for_output("nobody can join until it is back", WAIT);
    alice.say_to("bobby", "still connected");
    bob.expect_text("alicia", "still connected", WAIT);
}

#[test]
fn the_transcription_survives_a_sigkill() {
    let dir = temp_dir("transcript");
    let path = dir.join("chat.log");
    let mut server = Server::start(&[
        "--transcription",
        path.to_str().unwrap(),
        "--admin-private-key",
        "tests/vectors/admin.pkcs8.pem",
    ]);
    let mut alice = Client::join(&server.ws_url(), "alice", keys("alice"));
    alice.say_to("ADMIN", "for the record");
    server.wait_for_output("alice → ADMIN: for the record", WAIT);
    server.console("@alice noted");
    alice.expect_text("ADMIN", "noted", WAIT);
    server.console("/key private");
    server.wait_for_output("BEGIN PRIVATE KEY", WAIT);
    server.console("@all last words");
    alice.expect_text("ADMIN", "last words", WAIT);
    server.signal(libc::SIGKILL);
    server.wait_exit(WAIT).expect("killed");

    let text = std::fs::read_to_string(&path).unwrap();
    for expected in [
        "dyspatcher started",
        "alice joined, Key ID 3a2a05238472",
        "alice → ADMIN: for the record",
        "ADMIN → alice: noted",
        "ADMIN → all: last words",
    ] {
        assert!(text.contains(expected), "{expected:?} missing in:\n{text}");
    }
    assert!(
        !text.contains("PRIVATE KEY"),
        "key exports are never transcribed"
    );
    let first = text.lines().next().unwrap();
    assert!(
        first.as_bytes()[4] == b'-' && first.as_bytes()[13] == b':',
        "dated: {first}"
    );
    assert!(!text.contains('\u{1b}'), "no colour codes");

    // The default refuses an existing file; --transcription-append continues it.
    let output = Command::new(env!("CARGO_BIN_EXE_dyspatcher"))
        .args([
            "-p",
            "0",
            "-w",
            "0",
            "--transcription",
            path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--transcription-append"));
    let mut again = Server::start(&[
        "--transcription",
        path.to_str().unwrap(),
        "--transcription-append",
    ]);
    again.console("/q");
    again.wait_exit(WAIT).expect("stopped");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("for the record") && text.matches("dyspatcher started").count() == 2);
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

#[test]
fn daemon_detaches_and_stops_cleanly_on_sighup() {
    let dir = temp_dir("daemon");
    let log = dir.join("chat.log");
    let pid_file = dir.join("d.pid");
    let output = Command::new(env!("CARGO_BIN_EXE_dyspatcher"))
        .args(["-i", "127.0.0.1", "-p", "0", "--single-port", "-d"])
        .args(["--transcription", log.to_str().unwrap()])
        .args(["--admin-private-key", "tests/vectors/admin.pkcs8.pem"])
        .args(["--pid-file", pid_file.to_str().unwrap()])
        .output()
        .expect("the parent exits");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        stdout.contains(&format!("in the background as PID {pid}")),
        "{stdout}"
    );
    assert!(process_alive(pid));
    let port: u16 = stdout
        .split("Chat page: http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("the banner's port");

    let url = format!("ws://127.0.0.1:{port}/ws");
    let mut alice = Client::join(&url, "alice", keys("alice"));
    alice.say_to("ADMIN", "hello daemon");

    // SAFETY: signalling the daemon this test started.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGHUP) }, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while process_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!process_alive(pid), "stopped on SIGHUP");
    let closed = alice.wait_closed(WAIT).expect("closed by the server");
    assert_eq!(closed.code, 1001);
    let text = std::fs::read_to_string(&log).unwrap();
    for expected in [
        "alice → ADMIN: hello daemon",
        "SIGHUP received: stopping",
        "dyspatcher stopped",
    ] {
        assert!(text.contains(expected), "{expected:?} missing in:\n{text}");
    }
}
