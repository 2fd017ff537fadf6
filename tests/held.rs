//! Messages held for a short absence (docs/PROTOCOL.md, "Version 2", "Held"): the real
//! binary, real clients doing the real cryptography.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;

const ADMIN_KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/admin.pkcs8.pem");

fn server(extra: &[&str]) -> Server {
    let mut args = vec!["--admin-private-key", ADMIN_KEY];
    args.extend_from_slice(extra);
    Server::start(&args)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// alice and bobby on version 2, each having seen the other.
fn alice_and_bobby(url: &str) -> (Client, Client) {
    let mut alice = Client::join_v2(url, "alice", keys("alice"));
    let bobby = Client::join_v2(url, "bobby", keys("bob"));
    alice.expect_joined("bobby");
    (alice, bobby)
}

/// alice writes to bobby, who has just left: the frames are made while alice still
/// has bobby's key, sent once she has seen him leave. Returns the message's id.
fn write_to_bobby_gone(alice: &mut Client, bobby: Client, text: &str) -> String {
    alice.fetch_key("bobby");
    let out = alice
        .session
        .message_to("bobby", text)
        .expect("bobby's key");
    bobby.close();
    alice.expect(
        |e| matches!(e, ClientEvent::Left { name } if name == "bobby"),
        WAIT,
    );
    for frame in out.frames() {
        alice.send(frame);
    }
    out.id
}

#[test]
fn a_message_to_someone_who_comes_back_with_the_same_key_is_delivered_then_acked() {
    let server = server(&[]);
    let url = server.ws_url();
    let (mut alice, bobby) = alice_and_bobby(&url);
    let before = now_ms();
    let id = write_to_bobby_gone(&mut alice, bobby, "kept for you");
    let ClientEvent::Held {
        id: held,
        to,
        until,
    } = alice.expect(|e| matches!(e, ClientEvent::Held { .. }), WAIT)
    else {
        unreachable!()
    };
    assert_eq!((held.as_str(), to.as_str()), (id.as_str(), "bobby"));
    let window = until.saturating_sub(before);
    assert!(
        (590_000..=610_000).contains(&window),
        "until {window} ms from now"
    );

    // Back with the same key: the message, once; alice's ack.
    let mut back = Client::join_v2(&url, "bobby", keys("bob"));
    back.expect_v2_text("alice", "kept for you", WAIT);
    alice.expect(|e| *e == ClientEvent::Ack { id: id.clone() }, WAIT);
    back.expect_none(
        |e| matches!(e, ClientEvent::V2Message { .. }),
        Duration::from_millis(300),
    );
}

#[test]
fn a_hold_expires_and_the_sender_is_told_why() {
    let server = server(&["--hold-for", "1"]);
    let url = server.ws_url();
    let (mut alice, bobby) = alice_and_bobby(&url);
    let id = write_to_bobby_gone(&mut alice, bobby, "too late");
    alice.expect(|e| matches!(e, ClientEvent::Held { .. }), WAIT);
    let ClientEvent::Undelivered {
        id: report,
        reason,
        why,
        ..
    } = alice.expect(|e| matches!(e, ClientEvent::Undelivered { .. }), WAIT)
    else {
        unreachable!()
    };
    assert_eq!(report, id);
    assert_eq!(why.as_deref(), Some("hold-expired"));
    assert_eq!(
        reason,
        "bobby did not come back within 1 second: not delivered."
    );
    // Coming back after the window brings nothing.
    let mut back = Client::join_v2(&url, "bobby", keys("bob"));
    back.expect_none(
        |e| matches!(e, ClientEvent::V2Message { .. }),
        Duration::from_millis(300),
    );
}

#[test]
fn with_the_hold_off_a_message_to_someone_gone_is_not_delivered() {
    let server = server(&["--hold-for", "0"]);
    let (mut alice, bobby) = alice_and_bobby(&server.ws_url());
    write_to_bobby_gone(&mut alice, bobby, "nobody holds this");
    let event = alice.expect(
        |e| {
            matches!(
                e,
                ClientEvent::Held { .. } | ClientEvent::Undelivered { .. }
            )
        },
        WAIT,
    );
    assert!(
        matches!(&event, ClientEvent::Undelivered { why: Some(w), .. } if w == "not-connected"),
        "{event:?}"
    );
}
