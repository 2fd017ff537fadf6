//! Hostile input, round two, against the real binary: each test here reproduces a hole an
//! outside review found (console and transcription injection, names that collide,
//! smuggled HTTP lengths, files others can read or links that point elsewhere).

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::Command;

use common::{Client, Server, WAIT, strip_ansi};

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("dyspatcher-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What the binary says for these arguments when it refuses to start.
fn refused_start(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_dyspatcher"))
        .args(["-i", "127.0.0.1", "-p", "0", "-w", "0"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A message with escape sequences and a forged console line reaches neither the
/// terminal nor the transcription as such.
#[test]
fn a_message_cannot_drive_the_terminal_or_forge_a_console_line() {
    let dir = temp_dir("inject");
    let log = dir.join("chat.log");
    let mut server = Server::start(&["--transcription", log.to_str().unwrap()]);
    let (mut alice, mut bobby) = Client::alice_and_bobby(&server.ws_url());
    let forged = "hello\x1b]0;pwned\x07\x1b[2J\n[12:00:00] ADMIN \u{2192} all: the meeting moved to the bridge";
    alice.say_all(forged);
    bobby.expect_text("alice", forged, WAIT);
    let shown = server.wait_for_output("the meeting moved", WAIT);
    let console = server.output();
    assert!(
        !console.contains("\x1b]0;pwned") && !console.contains("\x1b[2J"),
        "no escape sequence from the network reaches the terminal"
    );
    let lines: Vec<String> = console
        .lines()
        .map(strip_ansi)
        .filter(|l| l.contains("hello") || l.contains("the meeting moved"))
        .collect();
    assert_eq!(
        lines.len(),
        2,
        "one message, two lines: {lines:?} in {shown}"
    );
    assert!(
        lines[0].ends_with(r"hello\u{1b}]0;pwned\u{7}\u{1b}[2J"),
        "{:?}",
        lines[0]
    );
    assert!(
        !lines[1].starts_with('[') && lines[1].trim_start().starts_with('\u{2506}'),
        "the second line is marked as a continuation: {:?}",
        lines[1]
    );
    server.console("/q");
    server.wait_exit(WAIT).expect("stopped");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
    let record: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("hello") || l.contains("the meeting moved"))
        .collect();
    assert_eq!(record.len(), 2, "{record:?}");
    assert!(record[1].trim_start().starts_with('\u{2506}'), "{record:?}");
}

/// An all-digit administrator name would be a valid user name too.
#[test]
fn an_administrator_name_without_a_letter_is_refused() {
    let (code, stderr) = refused_start(&["-n", "1234"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("at least one of them a letter"), "{stderr}");
}

/// Two lengths, or a length beside a transfer coding, are how requests are smuggled.
#[test]
fn ambiguous_request_lengths_get_400() {
    let server = Server::start(&[]);
    for extra in [
        "Content-Length: 0\r\nContent-Length: 0\r\n",
        "Content-Length: 0\r\nContent-Length: 12\r\n",
        "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n",
    ] {
        let request = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n");
        let answer = String::from_utf8_lossy(&server.http_raw(request.as_bytes())).into_owned();
        assert!(answer.starts_with("HTTP/1.1 400 "), "{extra:?}: {answer}");
    }
    let (status, _, _) = server.http_get("/");
    assert_eq!(status, 200, "the server is still there");
}

#[test]
fn a_transcription_others_can_read_or_a_link_is_refused() {
    let dir = temp_dir("transcript-mode");
    let log = dir.join("chat.log");
    std::fs::write(&log, "earlier\n").unwrap();
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, stderr) = refused_start(&[
        "--transcription",
        log.to_str().unwrap(),
        "--transcription-append",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("chmod 600"), "{stderr}");

    let target = dir.join("elsewhere");
    std::fs::write(&target, "").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.join("link.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for append in [true, false] {
        let mut args = vec!["--transcription", link.to_str().unwrap()];
        if append {
            args.push("--transcription-append");
        }
        let (code, stderr) = refused_start(&args);
        assert_eq!(code, Some(2), "append {append}: {stderr}");
    }
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "",
        "nothing written through the link"
    );
}

#[test]
fn a_kept_certificate_key_others_can_read_is_made_private() {
    let dir = temp_dir("selfsigned-mode");
    let kept = dir.join("tls");
    let args = [
        "--single-port",
        "--self-signed",
        "--self-signed-dir",
        kept.to_str().unwrap(),
    ];
    let mut first = Server::start(&args);
    first.console("/q");
    first.wait_exit(WAIT).expect("stopped");
    let key = std::fs::read_dir(&kept)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("key"))
        .expect("a kept key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut again = Server::start(&args);
    again.wait_for_output("now 600", WAIT);
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    again.console("/q");
    again.wait_exit(WAIT).expect("stopped");
}
