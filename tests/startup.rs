//! The process: command-line mistakes, ports that cannot be bound, the console's stdin
//! in its various states, and the ways to stop.

mod common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Client, ClientEvent, Server, WAIT, keys};

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_dyspatcher"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn help_and_version() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("--ip-address") && out.contains("Examples:") && out.contains("--self-signed")
    );
    let (code, out, _) = run(&["-V"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        out.trim(),
        format!("dyspatcher {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn mistakes_are_one_line_and_exit_2_before_binding() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    for (args, needle) in [
        (vec!["-p", "eighty"], "is not a port"),
        (vec!["--bogus"], "unknown option"),
        (vec!["-n", "lower"], "capital letters"),
        (
            vec!["--admin-private-key", "/no/such/key.pem"],
            "cannot read --admin-private-key",
        ),
        (
            vec!["--admin-private-key", "Cargo.toml"],
            "not an RSA private key",
        ),
        (vec!["-i", "not-an-ip"], "is not an IP address"),
        (vec!["--welcome", &"w".repeat(1001)], "at most 1000"),
        // A usage error is reported even when a port is taken: nothing is bound first.
        (
            vec!["-p", &port, "--only-admin", "--frob"],
            "unknown option",
        ),
    ] {
        let (code, out, err) = run(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(out.is_empty(), "nothing started: {out}");
    }
}

#[test]
fn a_port_in_use_is_named_with_the_fix() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (code, _, err) = run(&[
        "-i",
        "127.0.0.1",
        "-p",
        &port,
        "-w",
        "0",
        "--admin-private-key",
        "tests/vectors/admin.pkcs8.pem",
    ]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!("port {port} is already in use")),
        "{err}"
    );
    assert!(err.contains("-p 8080 -w 8081"), "{err}");
    let (code, _, err) = run(&[
        "-i",
        "192.0.2.1",
        "-p",
        "0",
        "-w",
        "0",
        "--admin-private-key",
        "tests/vectors/admin.pkcs8.pem",
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("not an address of this machine"), "{err}");
}

#[test]
fn a_generated_admin_key_says_how_long_it_took() {
    let server = Server::start(&["--single-port"]);
    assert!(
        server
            .output()
            .contains("Administrator's key: new RSA-4096, made in "),
        "{}",
        server.output()
    );
}

#[test]
fn without_a_readable_stdin_the_server_runs_without_a_console() {
    for stdin in [
        Stdio::null(),
        Stdio::from(std::fs::File::open("Cargo.toml").unwrap()),
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dyspatcher"))
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                "0",
                "--single-port",
                "--admin-private-key",
                "tests/vectors/admin.pkcs8.pem",
            ])
            .stdin(stdin)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        assert!(child.try_wait().unwrap().is_none(), "still running");
        // SAFETY: signalling the child this test started.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0));
        let mut out = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
        assert!(out.contains("No console (stdin cannot be read)"), "{out}");
        assert!(out.contains("SIGTERM received: stopping"));
    }
}

#[test]
fn the_console_ending_leaves_the_chat_running() {
    let mut server = Server::start(&["--admin-private-key", "tests/vectors/admin.pkcs8.pem"]);
    server.close_stdin();
    server.wait_for_output("the console's input ended: the chat keeps running", WAIT);
    let mut alice = Client::join(&server.ws_url(), "alice", keys("alice"));
    alice.say_to("ADMIN", "anyone?");
    server.wait_for_output("alice → ADMIN: anyone?", WAIT);
}

#[test]
fn quit_ctrl_c_and_sigterm_close_connections_and_exit_0() {
    for how in ["/quit", "/q", "SIGINT", "SIGTERM"] {
        let mut server = Server::start(&["--admin-private-key", "tests/vectors/admin.pkcs8.pem"]);
        let mut alice = Client::join(&server.ws_url(), "alice", keys("alice"));
        match how {
            "SIGINT" => server.signal(libc::SIGINT),
            "SIGTERM" => server.signal(libc::SIGTERM),
            line => server.console(line),
        }
        let closed = alice
            .wait_closed(WAIT)
            .unwrap_or_else(|| panic!("{how}: not closed"));
        assert_eq!(
            (closed.code, closed.reason.as_str()),
            (1001, "server shutting down"),
            "{how}"
        );
        let status = server
            .wait_exit(WAIT)
            .unwrap_or_else(|| panic!("{how}: still running"));
        assert_eq!(status.code(), Some(0), "{how}");
    }
}

#[test]
fn console_mistakes_get_a_message_not_a_crash() {
    let mut server = Server::start(&["--admin-private-key", "tests/vectors/admin.pkcs8.pem"]);
    let mut alice = Client::join(&server.ws_url(), "alice", keys("alice"));
    for line in [
        "/nope",
        "hello",
        "@",
        "/kick",
        "/key sideways",
        "@nobody hi",
    ] {
        server.console(line);
    }
    server.wait_for_output("unknown command \"/nope\"", WAIT);
    server.wait_for_output("nobody called \"nobody\" is connected", WAIT);
    // A line far longer than one RSA-OAEP message: sent in parts, not a crash.
    let long = "long ".repeat(300);
    server.console(&format!("@alice {long}"));
    server.wait_for_output("(sent in ", WAIT);
    let mut got = String::new();
    while got.split_whitespace().count() < 300 {
        match alice.expect_message(WAIT) {
            ClientEvent::Message {
                from,
                text,
                verified: true,
                ..
            } if from == "ADMIN" => {
                got.push_str(&text);
                got.push(' ');
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got.split_whitespace().count(), 300);
    // A console line over the limit is refused as a whole.
    server.console(&"x".repeat(20_000));
    server.wait_for_output("console line longer than", WAIT);
    server.console("/users");
    server.wait_for_output("1 connected", WAIT);
}

#[test]
fn ipv6_addresses_are_accepted_and_shown_in_brackets() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dyspatcher"))
        .args([
            "-i",
            "::1",
            "-p",
            "0",
            "--single-port",
            "--admin-private-key",
            "tests/vectors/admin.pkcs8.pem",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let port: u16 = loop {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut reader, &mut line).unwrap() > 0,
            "no banner"
        );
        if let Some(rest) = line.trim().strip_prefix("Chat page: http://[::1]:") {
            break rest.trim_end_matches('/').parse().unwrap();
        }
    };
    let mut stream = std::net::TcpStream::connect(("::1", port)).unwrap();
    std::io::Write::write_all(
        &mut stream,
        b"GET / HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer:.100}");
    assert!(
        answer.contains("connect-src 'self' ws://[::1] wss://[::1]"),
        "{answer:.600}"
    );
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"/q\n").unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
