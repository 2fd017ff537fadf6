//! The protocol of docs/PROTOCOL.md end to end: the real binary on free ports, real
//! WebSocket clients doing the real cryptography, the console through stdin.

mod common;

use common::*;
use dyspatcher_client::{frame, plaintext, seal_aes, seal_rsa};
use dyspatcher_crypto::{GroupKey, b64_decode};
use serde_json::{Value, json};

const ADMIN_KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/admin.pkcs8.pem");

/// A server with the vector admin key (known Key ID, and a web administrator can join).
fn server(extra: &[&str]) -> Server {
    let mut args = vec!["--admin-private-key", ADMIN_KEY];
    args.extend_from_slice(extra);
    Server::start(&args)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn is_message(e: &ClientEvent) -> bool {
    matches!(
        e,
        ClientEvent::Message { .. }
            | ClientEvent::Dropped { .. }
            | ClientEvent::WebAdminCopy { .. }
    )
}

fn names(users: &[User]) -> Vec<&str> {
    users.iter().map(|u| u.name.as_str()).collect()
}

#[test]
fn join_order_users_list_welcome_and_join_left_signals() {
    let mut server = server(&["--welcome", "Welcome to the test chat"]);
    let admin_id = keys("admin").public().key_id().to_owned();

    // The raw frames, in order, as a 0.9 client gets them (a proving client gets a
    // challenge first: tests/hostile_identity.rs).
    let mut alice = Client::connect_as(&server.ws_url(), "alice", keys("alice"));
    alice.session.set_proves(false);
    alice.send_join();
    let config = json(&alice.recv_frame(WAIT).expect("config"));
    assert_eq!(config["cmd"], "config");
    assert_eq!(config["user"], "");
    let data = &config["data"];
    assert_eq!(data["disable-all"], false);
    assert_eq!(data["user"], "alice");
    assert_eq!(data["is-admin"], false);
    assert_eq!(data["keyid"], keys("alice").public().key_id());
    assert_eq!(
        b64_decode(data["aeskey"].as_str().unwrap()).unwrap().len(),
        32
    );
    let list = json(&alice.recv_frame(WAIT).expect("users list"));
    assert_eq!(list["cmd"], "signal");
    assert_eq!(list["data"]["code"], "chat-userslist");
    let inner = json(list["data"]["userslist"].as_str().expect("a JSON string"));
    assert_eq!(inner[0]["name"], "ADMIN");
    assert_eq!(inner[0]["publickey"]["hash"], admin_id.as_str());
    assert_eq!(
        inner[0]["publickey"]["text"],
        keys("admin").public().spki_b64()
    );
    let welcome = json(&alice.recv_frame(WAIT).expect("welcome"));
    assert_eq!(
        (&welcome["cmd"], &welcome["data"]["algo"]),
        (&json!("message"), &json!("rsa"))
    );

    // The same frames through the session.
    let frames = alice.frames().to_vec();
    let mut session = ClientSession::new("alice", keys("alice"));
    assert!(
        matches!(&session.handle(&frames[0])[0], ClientEvent::Config { name, .. } if name == "alice")
    );
    match &session.handle(&frames[1])[0] {
        ClientEvent::UsersList(users) => {
            assert_eq!(names(users), ["ADMIN", "alice"]);
            assert!(users.iter().all(User::hash_matches_key));
            assert_eq!(users[1].hash, keys("alice").public().key_id());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        session.handle(&frames[2])[0],
        ClientEvent::Message {
            from: "ADMIN".into(),
            to: "alice".into(),
            text: "Welcome to the test chat".into(),
            algo: Algo::Rsa,
            verified: true,
            id: None,
        }
    );
    alice.session = session;
    server.wait_for_output("alice joined", WAIT);

    // A second user: the list in join order, and the others told.
    let mut bobby = Client::join(&server.ws_url(), "bobby", keys("bob"));
    let users = bobby.session.users();
    assert_eq!(names(users), ["ADMIN", "alice", "bobby"]);
    assert_eq!(users[0].hash, admin_id);
    assert_eq!(users[2].hash, keys("bob").public().key_id());
    bobby.expect_text("ADMIN", "Welcome to the test chat", WAIT);
    match alice.expect(|e| matches!(e, ClientEvent::Joined(_)), WAIT) {
        ClientEvent::Joined(user) => {
            assert_eq!(user.name, "bobby");
            assert_eq!(user.hash, keys("bob").public().key_id());
            assert!(user.hash_matches_key());
        }
        _ => unreachable!(),
    }
    let raw_join = json(alice.frames().last().unwrap());
    assert_eq!(raw_join["user"], "bobby");
    bobby.close();
    assert_eq!(
        alice.expect(|e| matches!(e, ClientEvent::Left { .. }), WAIT),
        ClientEvent::Left {
            name: "bobby".into()
        }
    );
    assert_eq!(names(alice.session.users()), ["ADMIN", "alice"]);
    server.wait_for_output("bobby left", WAIT);
}

#[test]
fn invalid_and_taken_names_are_refused() {
    let server = server(&[]);
    let _alice = Client::join(&server.ws_url(), "alice", keys("alice"));
    for name in [
        "abc",
        "sixteencharsxxxx",
        "Alice",
        "ADMIN",
        "al ice",
        "alice",
        "",
        "émile",
    ] {
        let mut c = Client::connect_as(&server.ws_url(), name, keys("bob"));
        c.send_join();
        // The challenge comes first (and is answered); names are checked after the proof.
        assert_eq!(
            c.expect(|e| !matches!(e, ClientEvent::Challenge { .. }), WAIT),
            ClientEvent::InvalidUser,
            "{name:?}"
        );
        assert!(
            c.wait_closed(WAIT).is_some(),
            "{name:?}: closed after the refusal"
        );
    }
    // Still usable by a good name.
    let bobby = Client::join(&server.ws_url(), "bob4", keys("bob"));
    assert_eq!(bobby.session.users().len(), 3);
}

#[test]
fn routed_one_to_one_reaches_only_its_recipient() {
    let server = server(&[]);
    let url = server.ws_url();
    let mut alice = Client::join(&url, "alice", keys("alice"));
    let mut bobby = Client::join(&url, "bobby", keys("bob"));
    let mut carol = Client::join(&url, "carol", pool_key(0));
    alice.expect_joined("carol");
    bobby.expect_joined("carol");

    let id = alice.say_to("bobby", "for bobby only");
    assert_eq!(
        bobby.expect(is_message, WAIT),
        ClientEvent::Message {
            from: "alice".into(),
            to: "bobby".into(),
            text: "for bobby only".into(),
            algo: Algo::Rsa,
            verified: true,
            id: Some(id.clone()),
        }
    );
    assert_eq!(alice.expect(|_| true, WAIT), ClientEvent::Ack { id });
    carol.expect_silence(QUIET);

    // To somebody who left: undelivered, with the recipient and a reason.
    let later = alice.session.message_to("bobby", "too late").unwrap();
    bobby.close();
    alice.expect(
        |e| matches!(e, ClientEvent::Left { name } if name == "bobby"),
        WAIT,
    );
    alice.send(&later.frame);
    match alice.expect(|e| matches!(e, ClientEvent::Undelivered { .. }), WAIT) {
        ClientEvent::Undelivered { id, to, reason, .. } => {
            assert_eq!((id, to.as_deref()), (later.id, Some("bobby")));
            assert!(reason.contains("bobby is not connected"), "{reason}");
        }
        _ => unreachable!(),
    }
    carol.expect_none(is_message, QUIET);
}

#[test]
fn legacy_one_to_one_is_relayed_to_the_others_as_in_0_9() {
    let mut server = server(&[]);
    let url = server.ws_url();
    let mut alice = Client::join(&url, "alice", keys("alice"));
    let mut bobby = Client::join(&url, "bobby", keys("bob"));
    let mut carol = Client::join(&url, "carol", pool_key(0));
    alice.expect_joined("carol");

    let legacy = alice
        .session
        .legacy_message_to("bobby", "old client says hi")
        .unwrap();
    alice.send(&legacy);
    assert_eq!(
        bobby.expect(is_message, WAIT),
        ClientEvent::Message {
            from: "alice".into(),
            to: "bobby".into(),
            text: "old client says hi".into(),
            algo: Algo::Rsa,
            verified: true,
            id: None,
        }
    );
    // carol gets the frame and cannot read it; alice does not get her own.
    assert_eq!(
        carol.expect(is_message, WAIT),
        ClientEvent::Dropped {
            algo: Algo::Rsa,
            reason: DropReason::NotForMe
        }
    );
    alice.expect_none(is_message, QUIET);

    // Without `to`, for the administrator: the console reads it. The others get the
    // frame too and cannot read it (issue 12: relayed at once, before the costly trial
    // decryption could tell whom it is for).
    let to_admin = alice
        .session
        .legacy_message_to("ADMIN", "old client to admin")
        .unwrap();
    alice.send(&to_admin);
    server.wait_for_output("alice → ADMIN: old client to admin", WAIT);
    let unreadable = ClientEvent::Dropped {
        algo: Algo::Rsa,
        reason: DropReason::NotForMe,
    };
    assert_eq!(bobby.expect(is_message, WAIT), unreadable);
    assert_eq!(carol.expect(is_message, WAIT), unreadable);
    alice.expect_none(is_message, QUIET);
}

#[test]
fn aes_is_relayed_to_everybody_and_forgeries_are_dropped() {
    let mut server = server(&[]);
    let url = server.ws_url();
    let (mut alice, mut bobby) = Client::alice_and_bobby(&url);

    let id = alice.say_all("hello everybody");
    let expected = ClientEvent::Message {
        from: "alice".into(),
        to: "all".into(),
        text: "hello everybody".into(),
        algo: Algo::Aes,
        verified: true,
        id: Some(id.clone()),
    };
    assert_eq!(bobby.expect(is_message, WAIT), expected);
    assert_eq!(alice.expect(is_message, WAIT), expected, "the sender too");
    alice.expect(|e| *e == ClientEvent::Ack { id: id.clone() }, WAIT);
    server.wait_for_output("alice → all: hello everybody", WAIT);
    // Relayed under "user":"" with the data object as sent.
    let relayed = json(bobby.frames().last().unwrap());
    assert_eq!(relayed["user"], "");
    let mut data = alice.session.aes_data("as sent").unwrap();
    data.insert("id".into(), "assent".into());
    let sent = alice.session.message_frame(data);
    alice.send(&sent);
    bobby.expect_text("alice", "as sent", WAIT);
    alice.expect(
        |e| {
            *e == ClientEvent::Ack {
                id: "assent".into(),
            }
        },
        WAIT,
    );
    let relayed = json(bobby.frames().last().unwrap());
    assert_eq!(relayed["data"], json(&sent)["data"]);

    let legacy = alice
        .session
        .legacy_message_to_all("no id, as 0.9")
        .unwrap();
    alice.send(&legacy);
    bobby.expect_text("alice", "no id, as 0.9", WAIT);

    let group = GroupKey::from_bytes(
        b64_decode(&alice.session.group_key().unwrap().to_b64())
            .unwrap()
            .try_into()
            .unwrap(),
    );
    let forgeries = [
        // Claims to be bobby, signed by alice.
        (
            "from bobby",
            plaintext("bobby", "all", "I am bobby"),
            keys("alice"),
        ),
        // alice's plaintext, signed by bobby's key.
        (
            "bad signature",
            plaintext("alice", "all", "signed by bobby"),
            keys("bob"),
        ),
        // Not to all.
        (
            "to bobby",
            plaintext("alice", "bobby", "aes to one"),
            keys("alice"),
        ),
    ];
    for (n, (what, plain, signer)) in forgeries.into_iter().enumerate() {
        let mut data = seal_aes(&group, plain.as_bytes(), &signer);
        data.insert("id".into(), format!("forged{n}").into());
        alice.send(&alice.session.message_frame(data));
        match alice.expect(|e| !is_message(e), WAIT) {
            ClientEvent::Undelivered { id, .. } => assert_eq!(id, format!("forged{n}"), "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    // A signature that is not the message's: dropped too.
    let mut data = alice.session.aes_data("tampered").unwrap();
    data.insert(
        "signature".into(),
        json(&legacy)["data"]["signature"].clone(),
    );
    data.insert("id".into(), "tampered".into());
    alice.send(&alice.session.message_frame(data));
    assert!(matches!(
        alice.expect(|e| !is_message(e), WAIT),
        ClientEvent::Undelivered { id, .. } if id == "tampered"
    ));
    bobby.expect_none(is_message, QUIET);
    assert!(!server.output().contains("I am bobby") && !server.output().contains("tampered"));
}

#[test]
fn identity_is_the_connections_whatever_user_a_frame_claims() {
    let mut server = server(&[]);
    let url = server.ws_url();
    let (mut alice, mut bobby) = Client::alice_and_bobby(&url);

    // alice's message in a frame that says it is bobby's: relayed as alice's.
    let data = alice.session.aes_data("sent as alice").unwrap();
    alice.send(&frame("message", "bobby", Value::Object(data)));
    bobby.expect_text("alice", "sent as alice", WAIT);
    server.wait_for_output("alice → all: sent as alice", WAIT);
    let relayed = json(bobby.frames().last().unwrap());
    assert_eq!(relayed["user"], "", "relayed frames carry no name");

    // To the administrator under bobby's name: the console names alice.
    let data = alice.session.rsa_data("ADMIN", "who am I").unwrap();
    alice.send(&frame("message", "bobby", Value::Object(data)));
    server.wait_for_output("alice → ADMIN: who am I", WAIT);

    // A second join on the same connection changes nothing.
    let rejoin = ClientSession::new("carol", keys("bob")).join_frame();
    alice.send(&rejoin);
    alice.say_all("still alice");
    bobby.expect_text("alice", "still alice", WAIT);
    assert_eq!(names(bobby.session.users()), ["ADMIN", "alice", "bobby"]);
}

#[test]
fn messages_to_the_admin_are_printed_on_the_console() {
    let mut server = server(&[]);
    let url = server.ws_url();
    let mut alice = Client::join(&url, "alice", keys("alice"));
    let mut bobby = Client::join(&url, "bobby", keys("bob"));

    let id = alice.say_to("ADMIN", "hello admin ✓");
    server.wait_for_output("alice → ADMIN: hello admin ✓", WAIT);
    alice.expect(|e| *e == ClientEvent::Ack { id: id.clone() }, WAIT);

    // A bad signature: not printed, undelivered.
    let mut data = alice.session.rsa_data("ADMIN", "forged for admin").unwrap();
    let other = seal_rsa(
        keys("admin").public(),
        plaintext("alice", "ADMIN", "x").as_bytes(),
        &keys("bob"),
    )
    .unwrap();
    data.insert("signature".into(), other["signature"].clone());
    data.insert("to".into(), "ADMIN".into());
    data.insert("id".into(), "badsig".into());
    alice.send(&alice.session.message_frame(data));
    assert!(matches!(
        alice.expect(|e| !is_message(e), WAIT),
        ClientEvent::Undelivered { id, .. } if id == "badsig"
    ));
    bobby.expect_none(is_message, QUIET);
    assert!(!server.output().contains("forged for admin"));
}

#[test]
fn console_messages_reach_clients_decrypted_and_verified() {
    let mut server = server(&[]);
    let url = server.ws_url();
    let (mut alice, mut bobby) = Client::alice_and_bobby(&url);

    server.console("@alice hi alice, from the console");
    assert_eq!(
        alice.expect(is_message, WAIT),
        ClientEvent::Message {
            from: "ADMIN".into(),
            to: "alice".into(),
            text: "hi alice, from the console".into(),
            algo: Algo::Rsa,
            verified: true,
            id: None,
        }
    );
    server.wait_for_output("ADMIN → alice: hi alice, from the console", WAIT);
    bobby.expect_none(|e| matches!(e, ClientEvent::Message { .. }), QUIET);

    server.console("@all hello everyone");
    for c in [&mut alice, &mut bobby] {
        assert_eq!(
            c.expect(is_message, WAIT),
            ClientEvent::Message {
                from: "ADMIN".into(),
                to: "all".into(),
                text: "hello everyone".into(),
                algo: Algo::Aes,
                verified: true,
                id: None,
            }
        );
    }

    // Too long for one RSA-OAEP block: several verified messages, nothing lost.
    let words: Vec<String> = (0..150).map(|i| format!("w{i}")).collect();
    server.console(&format!("@bobby {}", words.join(" ")));
    server.wait_for_output("(sent in ", WAIT);
    let mut got = Vec::new();
    while got.len() < words.len() {
        match bobby.expect(is_message, WAIT) {
            ClientEvent::Message {
                from,
                text,
                verified: true,
                ..
            } if from == "ADMIN" => {
                got.extend(text.split(' ').map(str::to_owned));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, words);

    server.console("@nobody hello");
    server.wait_for_output("nobody called \"nobody\" is connected", WAIT);
}

#[test]
fn console_users_kick_and_quit() {
    let mut server = server(&[]);
    let url = server.ws_url();
    let (mut alice, mut bobby) = Client::alice_and_bobby(&url);

    server.console("/users");
    let head = server.wait_for_output("2 connected", WAIT);
    assert!(
        head.contains(&keys("admin").public().key_id()[..12]),
        "{head}"
    );
    for (name, key) in [("alice", "alice"), ("bobby", "bob")] {
        let line = server.wait_for_output(&format!("  {name} "), WAIT);
        assert!(line.contains(keys(key).public().key_id()), "{line}");
    }
    server.console("/u");
    server.wait_for_output("2 connected", WAIT);

    server.console("/kick bobby");
    assert!(matches!(
        bobby.expect(|_| true, WAIT),
        ClientEvent::Notice(n) if n.contains("disconnected by the administrator")
    ));
    assert!(bobby.wait_closed(WAIT).is_some(), "kicked");
    alice.expect(
        |e| {
            *e == ClientEvent::Left {
                name: "bobby".into(),
            }
        },
        WAIT,
    );
    server.console("/kick bobby");
    server.wait_for_output("nobody called \"bobby\" is connected", WAIT);

    server.console("/quit");
    let status = server.wait_exit(WAIT).expect("exits after /quit");
    assert_eq!(status.code(), Some(0), "{}", server.output());
    assert!(alice.wait_closed(WAIT).is_some(), "connections closed");
}

#[test]
fn the_administrator_on_the_web() {
    let mut server = server(&[]);
    let url = server.ws_url();
    let admin_id = keys("admin").public().key_id().to_owned();
    let mut alice = Client::join(&url, "alice", keys("alice"));

    // Renamed, is-admin, the full list; not announced to the others.
    let mut web = Client::join(&server.ws_web_url(), "someone", keys("admin"));
    assert_eq!(web.name(), "ADMIN");
    assert!(web.session.is_admin());
    assert_eq!(web.session.key_id(), Some(admin_id.as_str()));
    assert_eq!(names(web.session.users()), ["ADMIN", "alice"]);
    alice.expect_none(|e| matches!(e, ClientEvent::Joined(_)), QUIET);
    assert_eq!(names(alice.session.users()), ["ADMIN", "alice"]);

    // Only one at a time (a second that proves the key would take over:
    // tests/hostile_identity.rs).
    let mut second = Client::connect_as(&url, "other", keys("admin"));
    second.session.set_proves(false);
    second.send_join();
    assert_eq!(
        second.expect(|_| true, WAIT),
        ClientEvent::Notice("Admin is already connected via web interface".into())
    );
    assert!(second.wait_closed(WAIT).is_some());

    // The web administrator is told of joins.
    let mut bobby = Client::join(&url, "bobby", keys("bob"));
    web.expect_joined("bobby");

    // A console 1:1 message: to alice, and a copy to the web session.
    server.console("@alice console to alice");
    alice.expect_text("ADMIN", "console to alice", WAIT);
    assert_eq!(
        web.expect(is_message, WAIT),
        ClientEvent::WebAdminCopy {
            to: "alice".into(),
            text: "console to alice".into(),
            verified: true
        }
    );
    // @all reaches the web session like everybody.
    server.console("@all console to all");
    web.expect_text("ADMIN", "console to all", WAIT);
    alice.expect_text("ADMIN", "console to all", WAIT);

    // A user's message to the administrator reaches the console and the web session.
    alice.say_to("ADMIN", "alice to admin");
    server.wait_for_output("alice → ADMIN: alice to admin", WAIT);
    web.expect_text("alice", "alice to admin", WAIT);

    // The web administrator's message to bobby, and its copy for the console.
    web.say_to("bobby", "web admin to bobby");
    bobby.expect_text("ADMIN", "web admin to bobby", WAIT);
    // The copy for the console: the same plaintext, encrypted for the administrator.
    let plain = plaintext("ADMIN", "bobby", "web admin to bobby");
    let mut data = seal_rsa(keys("admin").public(), plain.as_bytes(), &keys("admin")).unwrap();
    data.insert("to".into(), "ADMIN".into());
    web.send(&web.session.message_frame(data));
    server.wait_for_output("ADMIN (web) → bobby: web admin to bobby", WAIT);
    alice.expect_none(is_message, QUIET);

    // Leaving is not announced either; the administrator stays listed.
    web.close();
    server.wait_for_output("left the web interface", WAIT);
    alice.expect_none(|e| matches!(e, ClientEvent::Left { .. }), QUIET);
}

#[test]
fn disable_all_leaves_messages_to_all_to_the_administrator() {
    let mut server = server(&["--disable-all"]);
    let url = server.ws_url();
    let mut alice = Client::join(&url, "alice", keys("alice"));
    let mut bobby = Client::join(&url, "bobby", keys("bob"));
    assert!(alice.session.disable_all());

    let id = alice.say_all("nobody hears this");
    match alice.expect(|e| matches!(e, ClientEvent::Undelivered { .. }), WAIT) {
        ClientEvent::Undelivered {
            id: got, reason, ..
        } => {
            assert_eq!(got, id);
            assert!(reason.contains("disabled"), "{reason}");
        }
        _ => unreachable!(),
    }
    bobby.expect_none(is_message, QUIET);
    assert!(!server.output().contains("nobody hears this"));

    server.console("@all the admin may");
    bobby.expect_text("ADMIN", "the admin may", WAIT);
    alice.expect_text("ADMIN", "the admin may", WAIT);
    // 1:1 still works.
    alice.say_to("bobby", "one to one");
    bobby.expect_text("alice", "one to one", WAIT);
}

#[test]
fn only_admin_lets_users_write_to_the_administrator_alone() {
    let mut server = server(&["--only-admin"]);
    let url = server.ws_url();
    let mut alice = Client::join(&url, "alice", keys("alice"));
    assert!(
        alice.session.disable_all(),
        "--only-admin implies --disable-all"
    );
    let mut bobby = Client::join(&url, "bobby", keys("bob"));
    assert_eq!(names(bobby.session.users()), ["ADMIN"]);
    alice.expect_none(|e| matches!(e, ClientEvent::Joined(_)), QUIET);

    // alice knows bobby's key from elsewhere: routed or not, it does not reach him.
    let plain = plaintext("alice", "bobby", "psst");
    let mut routed = seal_rsa(keys("bob").public(), plain.as_bytes(), &keys("alice")).unwrap();
    let legacy = alice.session.message_frame(routed.clone());
    routed.insert("to".into(), "bobby".into());
    routed.insert("id".into(), "routed".into());
    alice.send(&alice.session.message_frame(routed));
    assert!(matches!(
        alice.expect(|e| !is_message(e), WAIT),
        ClientEvent::Undelivered { id, .. } if id == "routed"
    ));
    alice.send(&legacy);
    bobby.expect_none(is_message, QUIET);

    alice.say_to("ADMIN", "only to you");
    server.wait_for_output("alice → ADMIN: only to you", WAIT);
    server.console("@bobby reply");
    bobby.expect_text("ADMIN", "reply", WAIT);

    // The web administrator sees everybody and every join.
    let mut web = Client::join(&url, "x", keys("admin"));
    assert_eq!(names(web.session.users()), ["ADMIN", "alice", "bobby"]);
    let _carol = Client::join(&url, "carol", pool_key(0));
    web.expect_joined("carol");
    alice.expect_none(|e| matches!(e, ClientEvent::Joined(_)), QUIET);
}
