//! A smoke test of one build of the binary: by default the host build; with
//! `DYSPATCHER_BIN` (and `DYSPATCHER_RUNNER`, e.g. `qemu-aarch64`) a cross-built one run
//! under emulation — `cross/smoke TARGET` does exactly that. It serves the page, takes
//! WebSocket joins from clients doing the real cryptography, relays a message, decrypts
//! one for the console, signs one from it, and stops on `/quit`.

mod common;

use std::time::Duration;

use common::{Client, Server, keys};

/// Emulated RSA is tens of times slower than native.
const SLOW: Duration = Duration::from_secs(60);

#[test]
fn serves_the_page_relays_messages_and_quits() {
    let mut server = Server::start(&["--admin-private-key", "tests/vectors/admin.pkcs8.pem"]);
    let (status, head, body) = server.http_get("/");
    assert_eq!(status, 200, "{head}");
    assert!(
        String::from_utf8_lossy(&body)
            .to_ascii_lowercase()
            .contains("<!doctype html>")
    );

    let mut alice = Client::join(&server.ws_url(), "alice", keys("alice"));
    let mut bob = Client::join(&server.ws_web_url(), "bobby", keys("bob"));
    alice.expect(
        |e| matches!(e, common::ClientEvent::Joined(u) if u.name == "bobby"),
        SLOW,
    );
    alice.say_to("bobby", "hello from the device");
    bob.expect_text("alice", "hello from the device", SLOW);
    bob.say_all("hello everybody");
    alice.expect_text("bobby", "hello everybody", SLOW);

    alice.say_to("ADMIN", "to the console");
    server.wait_for_output("alice → ADMIN: to the console", SLOW);
    server.console("@bobby from the console");
    bob.expect_text("ADMIN", "from the console", SLOW);

    server.console("/quit");
    let status = server.wait_exit(SLOW).expect("stopped");
    assert_eq!(status.code(), Some(0));
    assert_eq!(alice.wait_closed(SLOW).map(|c| c.code), Some(1001));
}
