//! Hostile identities against the real binary (issue 12, holes 2, 4, 5, 6): public keys
//! are in every users list, so a join must prove the private key; a key has one live
//! session; client keys are the sizes browsers make; RSA fields have exactly the size
//! their keys give.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Client, ClientEvent, CloseInfo, QUIET, Server, WAIT, keys, pool_key};
use dyspatcher_client::frame;
use dyspatcher_crypto::b64_encode;
use rsa::pkcs8::EncodePublicKey as _;
use serde_json::json;

const PROOF_FAILED: &str = "Your client could not prove it holds this key: join refused.";
const KEY_CONNECTED: &str = "This key is already connected.";
const REPLACED: &str = "You joined from another place: this connection is closed.";
const KEY_RULE: &str = "2048 to 4096 bits with exponent 65537 are accepted.";

/// The server with the administrator's vector key and `args`.
fn server(args: &[&str]) -> Server {
    let mut all = vec!["--admin-private-key", "tests/vectors/admin.pkcs8.pem"];
    all.extend(args);
    Server::start(&all)
}

fn allow_list(name: &str, lines: &[(&str, &str)]) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("dyspatcher-identity-{name}-{}", std::process::id()));
    let text: String = lines
        .iter()
        .map(|(key, user)| format!("{},{user}\n", keys(key).public().key_id()))
        .collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// Waits for the server to close `client`; returns the notices it got, the close, and
/// panics if the client was let in (a config).
fn refused(client: &mut Client) -> (Vec<String>, CloseInfo) {
    let close = client
        .wait_closed(WAIT)
        .unwrap_or_else(|| client.fail("not closed"));
    let mut notices = Vec::new();
    for event in client.history() {
        match event {
            ClientEvent::Config { .. } => client.fail("let in"),
            ClientEvent::Notice(text) => notices.push(text.clone()),
            _ => {}
        }
    }
    (notices, close)
}

/// A join frame under `name` with `key`'s public key, whatever keys the client holds.
fn join_with_public_key_of(client: &Client, name: &str, key: &str, prove: bool) -> String {
    let mut data = json!({"code": "chat-join", "publickey": keys(key).public().spki_b64()});
    if prove {
        data["prove"] = json!(true);
    }
    let _ = client;
    frame("signal", name, data)
}

fn join_refused_with(close: &CloseInfo) {
    assert_eq!(
        (close.code, close.reason.as_str()),
        (1008, "join refused"),
        "{close:?}"
    );
}

#[test]
fn an_impostor_with_a_listed_public_key_is_refused() {
    let list = allow_list("impostor", &[("alice", "alice"), ("bob", "bobby")]);
    let server = server(&["--allow-list", list.to_str().unwrap()]);
    let mut bobby = Client::join(&server.ws_url(), "bobby", keys("bob"));
    // The impostor has alice's public key (from any users list), not her private key.
    let mut impostor = Client::connect_as(&server.ws_url(), "alice", pool_key(0));
    let join = join_with_public_key_of(&impostor, "alice", "alice", true);
    impostor.send(&join);
    let (notices, close) = refused(&mut impostor);
    assert_eq!(notices, [PROOF_FAILED]);
    join_refused_with(&close);
    assert!(
        !impostor
            .frames()
            .iter()
            .any(|f| f.contains("aeskey") || f.contains("userslist")),
        "no group key, no users list: {:?}",
        impostor.frames()
    );
    bobby.expect_none(|e| matches!(e, ClientEvent::Joined(_)), QUIET);
    // The real alice still joins, under her listed name.
    let mut alice = Client::join(&server.ws_url(), "whoever", keys("alice"));
    assert_eq!(alice.name(), "alice");
    bobby.expect_joined("alice");
    alice.say_all("it is me");
    bobby.expect_text("alice", "it is me", WAIT);
}

#[test]
fn an_impostor_with_the_administrators_public_key_is_refused() {
    let server = server(&[]);
    let mut alice = Client::join(&server.ws_url(), "alice", keys("alice"));
    let mut impostor = Client::connect_as(&server.ws_url(), "boss", pool_key(0));
    let join = join_with_public_key_of(&impostor, "boss", "admin", true);
    impostor.send(&join);
    let (notices, close) = refused(&mut impostor);
    assert_eq!(notices, [PROOF_FAILED]);
    join_refused_with(&close);
    // Nor as a 0.9 client, which proves nothing.
    let mut legacy = Client::connect_as(&server.ws_url(), "boss", pool_key(0));
    let join = join_with_public_key_of(&legacy, "boss", "admin", false);
    legacy.send(&join);
    let (notices, close) = refused(&mut legacy);
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].contains("--allow-unproven-admin"), "{notices:?}");
    join_refused_with(&close);
    // The real web administrator joins, and sees alice.
    let admin = Client::join(&server.ws_url(), "ADMIN", keys("admin"));
    assert!(admin.session.is_admin());
    assert!(admin.session.user("alice").is_some());
    alice.expect_none(|e| matches!(e, ClientEvent::Joined(_)), QUIET);
}

#[test]
fn a_0_9_client_under_an_allow_list_needs_the_operators_consent() {
    let list = allow_list("legacy", &[("alice", "alice"), ("admin", "chief")]);
    let list = list.to_str().unwrap();
    for consent in [false, true] {
        let mut args = vec!["--allow-list", list];
        if consent {
            args.push("--allow-unproven-keys");
        }
        let server = server(&args);
        let mut alice = Client::connect_as(&server.ws_url(), "alice", keys("alice"));
        alice.session.set_proves(false);
        alice.send_join();
        if consent {
            alice.expect(|e| matches!(e, ClientEvent::Config { .. }), WAIT);
        } else {
            let (notices, close) = refused(&mut alice);
            assert_eq!(notices.len(), 1, "{notices:?}");
            assert!(
                notices[0].contains("cannot prove") && notices[0].contains("--allow-unproven-keys"),
                "{notices:?}"
            );
            join_refused_with(&close);
        }
    }
}

#[test]
fn a_0_9_web_administrator_needs_the_operators_consent() {
    for consent in [false, true] {
        let args: &[&str] = if consent {
            &["--allow-unproven-admin"]
        } else {
            &[]
        };
        let server = server(args);
        let mut admin = Client::connect_as(&server.ws_url(), "ADMIN", keys("admin"));
        admin.session.set_proves(false);
        admin.send_join();
        if consent {
            let config = admin.expect(|e| matches!(e, ClientEvent::Config { .. }), WAIT);
            assert!(matches!(config, ClientEvent::Config { is_admin: true, .. }));
        } else {
            let (notices, close) = refused(&mut admin);
            assert!(notices[0].contains("--allow-unproven-admin"), "{notices:?}");
            join_refused_with(&close);
        }
    }
}

#[test]
fn a_proof_made_for_another_host_is_refused() {
    let server = server(&[]);
    let mut alice = Client::connect_as(&server.ws_url(), "alice", keys("alice"));
    alice.proof_host = "chat.elsewhere.example:8080".into();
    alice.send_join();
    let (notices, close) = refused(&mut alice);
    assert_eq!(notices, [PROOF_FAILED]);
    join_refused_with(&close);
    // The same client with the right Host joins: the proof is what was wrong.
    let alice = Client::join(&server.ws_url(), "alice", keys("alice"));
    assert!(alice.session.joined());
}

#[test]
fn a_proving_client_is_challenged_before_anything_else() {
    let server = server(&[]);
    let mut alice = Client::join(&server.ws_url(), "alice", keys("alice"));
    let first: serde_json::Value = serde_json::from_str(&alice.frames()[0]).unwrap();
    assert_eq!(first["data"]["code"], "chat-challenge");
    let nonce = dyspatcher_crypto::b64_decode(first["data"]["nonce"].as_str().unwrap()).unwrap();
    assert_eq!(nonce.len(), 32);
    assert!(alice.frames()[1].contains("aeskey"), "then the config");
    alice.say_all("proven");
    alice.expect_text("alice", "proven", WAIT);
}

#[test]
fn a_0_9_client_without_an_allow_list_joins_and_chats() {
    let server = server(&[]);
    let mut bobby = Client::join(&server.ws_url(), "bobby", keys("bob"));
    let mut old = Client::connect_as(&server.ws_url(), "oldie", keys("alice"));
    old.session.set_proves(false);
    old.send_join();
    old.expect(|e| matches!(e, ClientEvent::Config { .. }), WAIT);
    old.expect(|e| matches!(e, ClientEvent::UsersList(_)), WAIT);
    bobby.expect_joined("oldie");
    let all = old.session.legacy_message_to_all("hello from 0.9").unwrap();
    old.send(&all);
    bobby.expect_text("oldie", "hello from 0.9", WAIT);
    let one = old.session.legacy_message_to("bobby", "just you").unwrap();
    old.send(&one);
    bobby.expect_text("oldie", "just you", WAIT);
}

#[test]
fn one_live_session_per_key() {
    let server = server(&[]);
    let mut bobby = Client::join(&server.ws_url(), "bobby", keys("bob"));
    let mut first = Client::join(&server.ws_url(), "alice", keys("alice"));
    bobby.expect_joined("alice");
    // The same key without a proof, under another name: refused.
    let mut unproven = Client::connect_as(&server.ws_url(), "alias", keys("alice"));
    unproven.session.set_proves(false);
    unproven.send_join();
    let (notices, close) = refused(&mut unproven);
    assert_eq!(notices, [KEY_CONNECTED]);
    join_refused_with(&close);
    // With a proof (a reconnection after a lost network): it replaces the first.
    let mut second = Client::join(&server.ws_url(), "alice", keys("alice"));
    let close = first
        .wait_closed(WAIT)
        .expect("the first session is closed");
    assert_eq!((close.code, close.reason.as_str()), (1008, "replaced"));
    assert!(
        first
            .history()
            .contains(&ClientEvent::Notice(REPLACED.into())),
        "{:?}",
        first.history()
    );
    bobby.expect(
        |e| matches!(e, ClientEvent::Left { name } if name == "alice"),
        WAIT,
    );
    bobby.expect_joined("alice");
    let alices = bobby
        .session
        .users()
        .iter()
        .filter(|u| u.name == "alice")
        .count();
    assert_eq!(alices, 1);
    second.say_all("back again");
    bobby.expect_text("alice", "back again", WAIT);
}

#[test]
fn a_second_session_of_a_key_does_not_get_fresh_budgets() {
    // 1 message a second, bursts of 4.
    let server = server(&["--messages-per-second", "1"]);
    let mut bobby = Client::join(&server.ws_url(), "bobby", keys("bob"));
    let mut first = Client::join(&server.ws_url(), "alice", keys("alice"));
    bobby.expect_joined("alice");
    for i in 0..4 {
        first.say_all(&format!("burst {i}"));
    }
    for i in 0..4 {
        bobby.expect_text("alice", &format!("burst {i}"), WAIT);
    }
    // The key's budget is spent: a second connection of the same key (another name,
    // as today's main lets it) must not bring a fresh burst.
    let mut second = Client::join(&server.ws_url(), "alicetwo", keys("alice"));
    let name = second.name().to_owned();
    for i in 0..3 {
        second.say_all(&format!("again {i}"));
    }
    // A fresh burst would deliver all three at once; the key's budget gives one a
    // second from here (whether the rest wait or are refused).
    let quick = bobby
        .expect_none(|_| false, Duration::from_millis(600))
        .into_iter()
        .filter(|e| matches!(e, ClientEvent::Message { from, .. } if *from == name))
        .count();
    assert!(
        quick <= 1,
        "{quick} messages at once: the second session had a budget of its own"
    );
}

/// A public key with any modulus size and exponent: the server only parses it.
fn odd_key(bits: usize, exponent: u64) -> String {
    let mut n = vec![0xa5u8; bits / 8];
    n[0] |= 0x80;
    *n.last_mut().unwrap() |= 1;
    let n = rsa::BoxedUint::from_be_slice(&n, bits as u32).unwrap();
    let e = rsa::BoxedUint::from(exponent);
    let key = rsa::PublicKey::new_unchecked(n, e);
    b64_encode(key.to_public_key_der().unwrap().as_bytes())
}

#[test]
fn costly_or_weak_client_keys_are_refused() {
    let server = server(&[]);
    for (bits, exponent, shown) in [
        (2048, 3, "an RSA key of 2048 bits with exponent 3"),
        (
            4096,
            (1 << 32) + 1,
            "an RSA key of 4096 bits with exponent 4294967297",
        ),
        (8192, 65537, "an RSA key of 8192 bits"),
        (1024, 65537, "an RSA key of 1024 bits"),
    ] {
        let mut client = Client::connect_as(&server.ws_url(), "mallory", pool_key(0));
        let join = frame(
            "signal",
            "mallory",
            json!({"code": "chat-join", "publickey": odd_key(bits, exponent)}),
        );
        client.send(&join);
        let (notices, close) = refused(&mut client);
        assert_eq!(
            notices,
            [format!(
                "Your public key cannot be used: {shown}; {KEY_RULE}"
            )]
        );
        join_refused_with(&close);
    }
}

#[test]
fn junk_one_to_one_frames_cannot_get_a_slow_reader_cut() {
    let server = server(&["--messages-per-second", "1000"]);
    let mut victim = Client::join(&server.ws_url(), "sloth", pool_key(1));
    // A slow link: a tiny receive window, and the victim does not read for now.
    victim.slow_link();
    let mut mallory = Client::join(&server.ws_url(), "mallory", keys("alice"));
    let junk = b64_encode(&vec![0x42; 45_000]);
    let signature = b64_encode(&[0x17; 512]);
    let mut refusals = 0;
    for i in 0..300 {
        let id = format!("j{i}");
        let data = json!({"algo": "rsa", "ciphertext": junk, "signature": signature,
                          "to": "sloth", "id": id});
        mallory.send(&frame("message", "mallory", data));
        while let Some(event) = mallory.recv_event(Duration::ZERO) {
            refusals += matches!(event, ClientEvent::Undelivered { .. }) as usize;
        }
    }
    let deadline = Instant::now() + WAIT;
    while refusals < 300 && Instant::now() < deadline {
        if let Some(event) = mallory.recv_event(Duration::from_millis(100)) {
            refusals += matches!(event, ClientEvent::Undelivered { .. }) as usize;
        }
    }
    assert_eq!(refusals, 300, "every junk frame is refused to its sender");
    assert!(
        !server.output_shows("sloth left", Duration::from_millis(500)),
        "the victim was cut"
    );
    // The victim is still there and gets a real message.
    let mut bobby = Client::join(&server.ws_url(), "bobby", keys("bob"));
    bobby.say_to("sloth", "still there?");
    victim.expect_text("bobby", "still there?", WAIT);
}
