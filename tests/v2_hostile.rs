//! Version 2 at its edges against the real binary: negotiation (a 0.9 client never sees
//! a version-2 frame), refusals with their `why`, bounded key requests, and the
//! administrator (console and welcome) speaking version 2.

mod common;

use common::*;
use serde_json::{Value, json};

const ADMIN_KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/admin.pkcs8.pem");

fn server(extra: &[&str]) -> Server {
    let mut args = vec!["--admin-private-key", ADMIN_KEY];
    args.extend_from_slice(extra);
    Server::start(&args)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn old_client(url: &str, name: &str) -> Client {
    let mut client = Client::connect_as(url, name, keys("bob"));
    client.session.set_proves(false);
    client.send_join();
    client.expect(|e| matches!(e, ClientEvent::Config { .. }), WAIT);
    client.expect(|e| matches!(e, ClientEvent::UsersList(_)), WAIT);
    client
}

/// The refusal of `id` (`why` and all).
fn undelivered(client: &mut Client, id: &str) -> ClientEvent {
    client.expect(
        |e| matches!(e, ClientEvent::Undelivered { id: i, .. } if i == id),
        WAIT,
    )
}

fn why_of(event: &ClientEvent) -> Option<&str> {
    match event {
        ClientEvent::Undelivered { why, .. } => why.as_deref(),
        _ => None,
    }
}

#[test]
fn a_0_9_client_never_receives_a_version_2_frame() {
    let server = server(&[]);
    let url = server.ws_url();
    let mut bobby = old_client(&url, "bobby");
    let mut alice = Client::join_v2(&url, "alice", keys("alice"));
    let carol = Client::join_v2(&url, "carol", keys("small2048"));
    bobby.expect_joined("carol");
    alice.say_all("to all, from version 2");
    bobby.expect_text("alice", "to all, from version 2", WAIT);
    alice.say_to("bobby", "1:1 to a 0.9 client");
    bobby.expect_text("alice", "1:1 to a 0.9 client", WAIT);
    carol.close();
    bobby.expect(
        |e| {
            *e == ClientEvent::Left {
                name: "carol".into(),
            }
        },
        WAIT,
    );
    bobby.expect(|e| matches!(e, ClientEvent::Config { .. }), WAIT);
    bobby.expect_silence(QUIET);

    let v1_codes = [
        "chat-userslist",
        "chat-join",
        "chat-left",
        "notice",
        "chat-ack",
    ];
    for frame in bobby.frames() {
        let v = json(frame);
        let data = &v["data"];
        assert!(data.get("v").is_none(), "a version-2 frame: {frame:.200}");
        match v["cmd"].as_str().unwrap() {
            "config" => assert!(data["aeskey"].is_string(), "{frame:.200}"),
            "signal" => assert!(
                v1_codes.contains(&data["code"].as_str().unwrap()),
                "{frame:.200}"
            ),
            "message" => assert!(data["algo"].is_string(), "{frame:.200}"),
            other => panic!("{other}: {frame:.200}"),
        }
    }
    // And a version-2 client never receives the 0.9 group key.
    assert!(
        !alice.frames().iter().any(|f| f.contains("aeskey")),
        "{:?}",
        alice.frames()
    );
}

#[test]
fn version_2_without_a_proof_is_refused() {
    let server = server(&[]);
    let mut mallory = Client::connect_as(&server.ws_url(), "mallory", keys("alice"));
    let join = mallory.session.raw_frame(
        "signal",
        json!({"code": "chat-join", "publickey": keys("alice").public().spki_b64(), "v": 2}),
    );
    mallory.send(&join);
    let notice = mallory.expect(|e| matches!(e, ClientEvent::Notice(_)), WAIT);
    assert_eq!(
        notice,
        ClientEvent::Notice("Version 2 needs a proof of the key: join refused.".into())
    );
    let close = mallory.wait_closed(WAIT).expect("closed");
    assert_eq!((close.code, close.reason.as_str()), (1008, "join refused"));
}

#[test]
fn refusals_name_their_cause() {
    let server = server(&[]);
    let url = server.ws_url();
    let mut alice = Client::join_v2(&url, "alice", keys("alice"));
    let _bobby = old_client(&url, "bobby");
    let mut carol = Client::join_v2(&url, "carol", keys("small2048"));
    alice.expect_joined("carol");
    alice.fetch_key("bobby");
    alice.fetch_key("carol");
    let epoch = alice.session.epoch().unwrap();

    // Version 2 to a 0.9 client.
    let bob_key = alice.session.user("bobby").unwrap().key.clone().unwrap();
    let payload = alice.session.sealed_payload("bobby", "v1", epoch, "hi");
    let data = dyspatcher_client::direct_data(&bob_key, "bobby", "v1", &payload);
    alice.send(&alice.session.message_frame(data));
    assert_eq!(why_of(&undelivered(&mut alice, "v1")), Some("old-client"));

    // `wrapped` for a 4096-bit key sent to carol's 2048-bit one.
    let data = dyspatcher_client::direct_data(keys("bob").public(), "carol", "v2", &payload);
    alice.send(&alice.session.message_frame(data));
    assert_eq!(why_of(&undelivered(&mut alice, "v2")), Some("bad-size"));

    // Nobody of that name.
    let data = dyspatcher_client::direct_data(keys("bob").public(), "nobody", "v3", &payload);
    alice.send(&alice.session.message_frame(data));
    assert_eq!(
        why_of(&undelivered(&mut alice, "v3")),
        Some("not-connected")
    );

    // To all, signed by alice but claiming to be from carol.
    let mut envelope = alice.session.envelope("all", "v4", epoch, "I am carol");
    envelope.from = "carol".into();
    let payload = dyspatcher_client::sign_and_seal(&envelope.to_bytes(), alice.session.keys());
    let group = alice.session.epoch_key(epoch).unwrap().clone();
    let data = dyspatcher_client::all_data(&group, epoch, "v4", &payload, false);
    alice.send(&alice.session.message_frame(data));
    let refused = undelivered(&mut alice, "v4");
    assert!(
        matches!(why_of(&refused), Some("not-yours" | "malformed")),
        "{refused:?}"
    );
    // Garbage under the group key.
    let data = dyspatcher_client::all_data(&group, epoch, "v5", b"\x00\x01x", false);
    alice.send(&alice.session.message_frame(data));
    assert!(why_of(&undelivered(&mut alice, "v5")).is_some());
    // carol was shown none of it.
    carol.expect_none(
        |e| {
            matches!(
                e,
                ClientEvent::V2Message { .. } | ClientEvent::Flagged { .. }
            )
        },
        QUIET,
    );
}

#[test]
fn key_requests_are_answered_for_64_key_ids_at_most() {
    let server = server(&[]);
    let url = server.ws_url();
    let _alice = Client::join_v2(&url, "alice", keys("alice"));
    let mut carol = Client::join_v2(&url, "carol", keys("small2048"));
    let mut ids: Vec<String> = vec![keys("alice").public().key_id().to_owned()];
    ids.extend((1..100).map(|i| format!("{i:064x}")));
    let ask = carol
        .session
        .raw_frame("signal", json!({"code": "chat-getkeys", "keyids": ids}));
    carol.send(&ask);
    let mut answers = Vec::new();
    while let Some(frame) = carol.recv_frame(QUIET * 2) {
        if frame.contains("chat-key") {
            answers.push(json(&frame));
        }
    }
    assert_eq!(answers.len(), 64, "{answers:?}");
    // The first 64 asked for, in any order: alice's key and 63 missing.
    let found: Vec<&Value> = answers
        .iter()
        .filter(|a| a["data"]["missing"] != true)
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["data"]["name"], "alice");
    let missing: Vec<&str> = answers
        .iter()
        .filter_map(|a| a["data"]["keyid"].as_str())
        .filter(|id| *id != ids[0])
        .collect();
    assert_eq!(missing.len(), 63);
    assert!(missing.iter().all(|id| ids[1..64].iter().any(|i| i == id)));
    // Garbage in a request costs nothing more than a frame.
    for data in [
        json!({"code": "chat-getkeys"}),
        json!({"code": "chat-getkeys", "keyids": "x"}),
        json!({"code": "chat-getkeys", "keyids": [1, null, {"a": 2}]}),
    ] {
        carol.send(&carol.session.raw_frame("signal", data));
    }
    carol.say_all("still here");
    assert!(!carol.is_closed());
}

#[test]
fn the_administrator_speaks_version_2() {
    let mut server = server(&["--welcome", "Welcome, version 2 ✓"]);
    let url = server.ws_url();
    let mut alice = Client::join_v2(&url, "alice", keys("alice"));
    alice.expect_v2_text("ADMIN", "Welcome, version 2 ✓", WAIT);

    alice.say_to("ADMIN", "to the console, 漢字 👍🏽");
    alice.expect(|e| matches!(e, ClientEvent::Ack { .. }), WAIT);
    server.wait_for_output("alice → ADMIN: to the console, 漢字 👍🏽", WAIT);

    server.console("@alice from the console ✓");
    let got = alice.expect_v2_text("ADMIN", "from the console ✓", WAIT);
    assert!(
        matches!(&got, ClientEvent::V2Message { envelope, .. } if envelope.to == "alice"),
        "{got:?}"
    );
    server.console("@all console to all");
    alice.expect_v2_text("ADMIN", "console to all", WAIT);

    alice.say_all("alice to all, on the console");
    server.wait_for_output("alice → all: alice to all, on the console", WAIT);
}

#[test]
fn the_web_administrator_on_version_2_gets_the_console_copies() {
    let mut server = server(&[]);
    let url = server.ws_url();
    let mut web = Client::join_v2(&url, "boss", keys("admin"));
    assert!(web.session.is_admin());
    assert_eq!(web.name(), "ADMIN");
    let mut alice = Client::join_v2(&url, "alice", keys("alice"));
    web.expect_joined("alice");

    alice.say_to("ADMIN", "to the administrator, wherever");
    web.expect_v2_text("alice", "to the administrator, wherever", WAIT);
    server.wait_for_output("alice → ADMIN: to the administrator, wherever", WAIT);

    // A console message to alice: alice gets it, the web session a copy of its own.
    server.console("@alice typed on the console");
    alice.expect_v2_text("ADMIN", "typed on the console", WAIT);
    let copy = web.expect_v2_text("ADMIN", "typed on the console", WAIT);
    assert!(
        matches!(&copy, ClientEvent::V2Message { envelope, .. } if envelope.to == "alice"),
        "{copy:?}"
    );

    // The web administrator writes to alice; the console shows it too.
    web.say_to("alice", "from the web administrator");
    alice.expect_v2_text("ADMIN", "from the web administrator", WAIT);
    server.wait_for_output("ADMIN (web) → alice: from the web administrator", WAIT);
}
