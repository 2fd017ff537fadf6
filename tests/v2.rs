//! Protocol version 2 end to end (docs/PROTOCOL.md, "Version 2"): the real binary, real
//! WebSocket clients doing the real cryptography through `dyspatcher_client`.

mod common;

use common::*;
use serde_json::Value;

const ADMIN_KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/admin.pkcs8.pem");

/// Emoji with skin tones and ZWJ sequences, CJK, Arabic and Hebrew (right to left),
/// combining marks.
const MIXED: &str = "👩🏽‍💻 👨‍👩‍👧‍👦 🏳️‍🌈 👍🏿 漢字かな한국어 مرحبا بالعالم שלום עולם e\u{301}a\u{308}\u{20DD}ṩ̃ ";

fn server(extra: &[&str]) -> Server {
    let mut args = vec!["--admin-private-key", ADMIN_KEY];
    args.extend_from_slice(extra);
    Server::start(&args)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// alice and bobby on version 2, each having seen the other.
fn alice_and_bobby(url: &str) -> (Client, Client) {
    let mut alice = Client::join_v2(url, "alice", keys("alice"));
    let bobby = Client::join_v2(url, "bobby", keys("bob"));
    alice.expect_joined("bobby");
    (alice, bobby)
}

/// Waits until `client` holds the group key of `epoch`.
fn expect_epoch(client: &mut Client, epoch: u64) {
    client.expect(|e| *e == ClientEvent::GroupKey { epoch }, WAIT);
}

#[test]
fn a_20000_character_mixed_script_message_arrives_byte_exact() {
    let server = server(&[]);
    let (mut alice, mut bobby) = alice_and_bobby(&server.ws_url());
    let long: String = MIXED.chars().cycle().take(20_000).collect();
    assert_eq!(long.chars().count(), 20_000);
    assert!(long.len() > 40_000, "{} UTF-8 bytes", long.len());

    alice.say_to("bobby", &long);
    let ClientEvent::V2Message { envelope, .. } = bobby.expect_v2_text("alice", &long, WAIT) else {
        unreachable!()
    };
    assert_eq!(envelope.to, "bobby");
    assert_eq!(envelope.text.as_bytes(), long.as_bytes());

    alice.say_all(&long);
    let ClientEvent::V2Message { envelope, .. } = bobby.expect_v2_text("alice", &long, WAIT) else {
        unreachable!()
    };
    assert_eq!(envelope.to, "all");
    assert_eq!(envelope.text.as_bytes(), long.as_bytes());

    // And back, the other way round.
    bobby.say_to("alice", &long);
    alice.expect_v2_text("bobby", &long, WAIT);
}

#[test]
fn a_kicked_member_decrypts_nothing_sent_after_its_kick() {
    let mut server = server(&[]);
    let url = server.ws_url();
    let (mut alice, mut bobby) = alice_and_bobby(&url);
    let mut carol = Client::join_v2(&url, "carol", keys("small2048"));
    alice.expect_joined("carol");
    bobby.expect_joined("carol");
    // carol reads the room before her kick.
    alice.say_all("before the kick");
    carol.expect_v2_text("alice", "before the kick", WAIT);
    bobby.expect_v2_text("alice", "before the kick", WAIT);
    let epoch = carol.session.epoch().expect("carol has the group key");

    let (seen_by_alice, seen_by_bobby) = (alice.frames().len(), bobby.frames().len());
    server.console("/kick carol");
    assert!(carol.wait_closed(WAIT).is_some(), "kicked");
    for member in [&mut alice, &mut bobby] {
        member.expect(
            |e| {
                *e == ClientEvent::Left {
                    name: "carol".into(),
                }
            },
            WAIT,
        );
        expect_epoch(member, epoch + 1);
    }
    alice.say_all("after the kick, to all");
    bobby.expect_v2_text("alice", "after the kick, to all", WAIT);
    bobby.say_all("bobby to all, after");
    alice.expect_v2_text("bobby", "bobby to all, after", WAIT);
    alice.say_to("bobby", "alice to bobby, after");
    bobby.expect_v2_text("alice", "alice to bobby, after", WAIT);
    bobby.say_to("alice", "bobby to alice, after");
    alice.expect_v2_text("bobby", "bobby to alice, after", WAIT);

    // Every frame alice and bobby received after the kick, handed to carol's session.
    let after: Vec<String> = alice.frames()[seen_by_alice..]
        .iter()
        .chain(&bobby.frames()[seen_by_bobby..])
        .cloned()
        .collect();
    let messages: Vec<&String> = after
        .iter()
        .filter(|f| json(f)["cmd"] == "message")
        .collect();
    assert!(messages.len() >= 4, "{messages:?}");
    assert!(
        after.iter().any(|f| f.contains("chat-groupkey")),
        "the new epoch's keys were captured too"
    );
    for frame in &messages {
        assert_eq!(
            carol.session.decrypt_payload(frame),
            None,
            "carol decrypts {frame:.120}"
        );
    }
    for frame in &after {
        for event in carol.session.handle(frame) {
            assert!(
                !matches!(
                    event,
                    ClientEvent::V2Message { .. }
                        | ClientEvent::Message { .. }
                        | ClientEvent::GroupKey { .. }
                ),
                "carol read {event:?} from {frame:.120}"
            );
        }
    }
    assert_eq!(
        carol.session.epoch(),
        Some(epoch),
        "carol never got a newer key"
    );
}

#[test]
fn replayed_redirected_and_forged_frames_are_dropped_the_last_two_flagged() {
    let server = server(&[]);
    let url = server.ws_url();
    let (mut alice, mut bobby) = alice_and_bobby(&url);
    let mut carol = Client::join_v2(&url, "carol", keys("small2048"));
    alice.expect_joined("carol");
    bobby.expect_joined("carol");

    // The same frame sent twice: relayed twice, read once.
    alice.fetch_key("bobby");
    let out = alice.session.message_to("bobby", "only once").unwrap();
    alice.send(&out.frame);
    bobby.expect_v2_text("alice", "only once", WAIT);
    alice.send(&out.frame);
    let dropped = bobby.expect(|e| matches!(e, ClientEvent::V2Dropped { .. }), WAIT);
    assert_eq!(
        dropped,
        ClientEvent::V2Dropped {
            from: "alice".into(),
            reason: DropReason::Replay { id: out.id.clone() }
        }
    );
    // The same for a message to all.
    let all = alice.session.message_to_all("to all, only once").unwrap();
    alice.send(&all.frame);
    bobby.expect_v2_text("alice", "to all, only once", WAIT);
    alice.send(&all.frame);
    let dropped = bobby.expect(|e| matches!(e, ClientEvent::V2Dropped { .. }), WAIT);
    assert_eq!(
        dropped,
        ClientEvent::V2Dropped {
            from: "alice".into(),
            reason: DropReason::Replay { id: all.id.clone() }
        }
    );

    // bobby re-encrypts alice's signed 1:1 envelope for carol.
    alice.say_to("bobby", "for bobby's eyes only");
    bobby.expect_v2_text("alice", "for bobby's eyes only", WAIT);
    let relayed = bobby
        .frames()
        .iter()
        .rev()
        .find(|f| json(f)["data"]["from"] == "alice")
        .unwrap()
        .clone();
    let payload = bobby.session.decrypt_payload(&relayed).unwrap();
    bobby.fetch_key("carol");
    let carol_key = bobby.session.user("carol").unwrap().key.clone().unwrap();
    let redirected = dyspatcher_client::direct_data(&carol_key, "carol", "redirect1", &payload);
    bobby.send(&bobby.session.message_frame(redirected));
    let flagged = carol.expect(|e| matches!(e, ClientEvent::Flagged { .. }), WAIT);
    assert_eq!(
        flagged,
        ClientEvent::Flagged {
            claimed_from: "alice".into(),
            why: FlagReason::NotFromRelay {
                relay_from: "bobby".into()
            }
        }
    );
    // alice herself sending carol an envelope signed for bobby: addressed elsewhere.
    alice.fetch_key("carol");
    let carol_key = alice.session.user("carol").unwrap().key.clone().unwrap();
    let epoch = alice.session.epoch().unwrap();
    let payload = alice
        .session
        .sealed_payload("bobby", "elsewhere1", epoch, "for bobby");
    let data = dyspatcher_client::direct_data(&carol_key, "carol", "elsewhere1", &payload);
    alice.send(&alice.session.message_frame(data));
    let flagged = carol.expect(|e| matches!(e, ClientEvent::Flagged { .. }), WAIT);
    assert_eq!(
        flagged,
        ClientEvent::Flagged {
            claimed_from: "alice".into(),
            why: FlagReason::AddressedElsewhere { to: "bobby".into() }
        }
    );

    // A broken signature (the server relays 1:1 frames without reading them).
    let mut payload = alice
        .session
        .sealed_payload("carol", "forged1", epoch, "is this alice?");
    payload[20] ^= 0x40;
    let data = dyspatcher_client::direct_data(&carol_key, "carol", "forged1", &payload);
    alice.send(&alice.session.message_frame(data));
    let flagged = carol.expect(|e| matches!(e, ClientEvent::Flagged { .. }), WAIT);
    assert_eq!(
        flagged,
        ClientEvent::Flagged {
            claimed_from: "alice".into(),
            why: FlagReason::BadSignature
        }
    );
    // None of them was shown as a message: carol read only alice's messages to all.
    let shown: Vec<&ClientEvent> = carol
        .history()
        .iter()
        .filter(|e| match e {
            ClientEvent::V2Message { envelope, .. } => envelope.to != "all",
            ClientEvent::Message { .. } => true,
            _ => false,
        })
        .collect();
    assert!(shown.is_empty(), "{shown:?}");
    let flagged = carol
        .history()
        .iter()
        .filter(|e| matches!(e, ClientEvent::Flagged { .. }))
        .count();
    assert_eq!(flagged, 3);
}

/// A 0.9 client: no proof, no version 2.
fn old_client(url: &str, name: &str) -> Client {
    let mut client = Client::connect_as(url, name, keys("bob"));
    client.session.set_proves(false);
    client.send_join();
    client.expect(|e| matches!(e, ClientEvent::Config { .. }), WAIT);
    client.expect(|e| matches!(e, ClientEvent::UsersList(_)), WAIT);
    client
}

/// Both ways 1:1 and to all between version-2 alice and 0.9 bobby.
fn chat_across_versions(alice: &mut Client, bobby: &mut Client, round: &str) {
    let text = format!("{round}: alice to bobby ✓");
    alice.say_to("bobby", &text);
    bobby.expect_text("alice", &text, WAIT);

    let text = format!("{round}: bobby to alice, as 0.9 sends it");
    let frame = bobby.session.legacy_message_to("alice", &text).unwrap();
    bobby.send(&frame);
    let got = alice.expect_text("bobby", &text, WAIT);
    assert!(
        matches!(
            got,
            ClientEvent::Message {
                algo: Algo::Rsa,
                ..
            }
        ),
        "{got:?}"
    );

    let text = format!("{round}: alice to all");
    alice.say_all(&text);
    let got = bobby.expect_text("alice", &text, WAIT);
    assert!(
        matches!(
            got,
            ClientEvent::Message {
                algo: Algo::Aes,
                ..
            }
        ),
        "{got:?}"
    );

    let text = format!("{round}: bobby to all");
    let frame = bobby.session.legacy_message_to_all(&text).unwrap();
    bobby.send(&frame);
    let got = alice.expect_text("bobby", &text, WAIT);
    assert!(
        matches!(
            got,
            ClientEvent::Message {
                algo: Algo::Aes,
                ..
            }
        ),
        "{got:?}"
    );
}

#[test]
fn a_0_9_client_chats_with_version_2_users_before_and_after_a_rotation() {
    let server = server(&[]);
    let url = server.ws_url();
    let mut alice = Client::join_v2(&url, "alice", keys("alice"));
    let mut bobby = old_client(&url, "bobby");
    let joined = alice.expect_joined("bobby");
    assert!(
        matches!(&joined, ClientEvent::Joined(u) if u.old_client),
        "{joined:?}"
    );
    let mut carol = Client::join_v2(&url, "carol", keys("small2048"));
    alice.expect_joined("carol");
    bobby.expect_joined("carol");

    chat_across_versions(&mut alice, &mut bobby, "epoch 1");
    // carol (version 2) reads alice's message to all, and bobby's through the server.
    carol.expect_v2_text("alice", "epoch 1: alice to all", WAIT);
    carol.expect_text("bobby", "epoch 1: bobby to all", WAIT);

    let epoch = alice.session.epoch().unwrap();
    carol.close();
    expect_epoch(&mut alice, epoch + 1);
    // bobby's new group key comes in a fresh config.
    let old_key = bobby.session.group_key().unwrap().to_b64();
    bobby.expect(|e| matches!(e, ClientEvent::Config { .. }), WAIT);
    assert_ne!(bobby.session.group_key().unwrap().to_b64(), old_key);

    chat_across_versions(&mut alice, &mut bobby, "epoch 2");
}

#[test]
fn lazy_keys_the_users_list_has_no_keys_and_a_key_frame_is_shared() {
    let server = server(&[]);
    let url = server.ws_url();
    let (_alice, mut bobby) = alice_and_bobby(&url);

    let mut carol = Client::connect_as(&url, "carol", keys("small2048"));
    carol.session.set_version(2);
    carol.send_join();
    carol.expect(|e| matches!(e, ClientEvent::UsersList(_)), WAIT);
    let users = carol
        .frames()
        .iter()
        .find(|f| f.contains("chat-users"))
        .unwrap()
        .clone();
    for key in ["alice", "bob", "admin"] {
        let spki = keys(key).public().spki_b64().to_owned();
        assert!(
            !users.contains(&spki[..40]),
            "no key in the users list: {users}"
        );
    }
    let alice_id = keys("alice").public().key_id().to_owned();
    assert_eq!(
        json(&users)["data"]["users"],
        serde_json::json!([
            ["ADMIN", keys("admin").public().key_id()],
            ["alice", alice_id],
            ["bobby", keys("bob").public().key_id()],
            ["carol", keys("small2048").public().key_id()],
        ])
    );
    assert!(carol.session.user("alice").unwrap().key.is_none());

    // carol and bobby both fetch alice's key: the same frame.
    let key_frame = |client: &mut Client| {
        client.fetch_key("alice");
        client
            .frames()
            .iter()
            .rev()
            .find(|f| f.contains("chat-key"))
            .unwrap()
            .clone()
    };
    let (for_carol, for_bobby) = (key_frame(&mut carol), key_frame(&mut bobby));
    assert_eq!(for_carol, for_bobby);
    let data = &json(&for_carol)["data"];
    assert_eq!(data["keyid"], alice_id.as_str());
    assert_eq!(data["name"], "alice");
    assert_eq!(data["publickey"], keys("alice").public().spki_b64());
    assert_eq!(
        carol
            .session
            .user("alice")
            .unwrap()
            .key
            .as_ref()
            .map(|k| k.key_id()),
        Some(alice_id.as_str())
    );

    // A Key ID nobody has.
    let nobody = "0".repeat(64);
    let ask = carol.session.raw_frame(
        "signal",
        serde_json::json!({"code": "chat-getkeys", "keyids": [nobody]}),
    );
    carol.send(&ask);
    let answer = std::iter::from_fn(|| carol.recv_frame(WAIT))
        .find(|f| f.contains("chat-key"))
        .expect("an answer");
    assert_eq!(json(&answer)["data"]["missing"], true, "{answer}");
}

#[test]
fn a_message_sealed_under_the_old_epoch_is_refused_and_resent() {
    let server = server(&[]);
    let url = server.ws_url();
    let (mut alice, mut bobby) = alice_and_bobby(&url);
    let carol = Client::join_v2(&url, "carol", keys("small2048"));
    alice.expect_joined("carol");
    let epoch = alice.session.epoch().unwrap();
    // Sealed under the current epoch, sent after carol left.
    let out = alice
        .session
        .message_to_all("sealed before the rotation")
        .unwrap();
    carol.close();
    expect_epoch(&mut alice, epoch + 1);
    expect_epoch(&mut bobby, epoch + 1);
    alice.send(&out.frame);
    let refused = alice.expect(|e| matches!(e, ClientEvent::Undelivered { .. }), WAIT);
    assert!(
        matches!(&refused, ClientEvent::Undelivered { id, why: Some(why), epoch: Some(e), .. }
            if *id == out.id && why == "stale-epoch" && *e == epoch + 1),
        "{refused:?}"
    );
    // The harness sent the session's Resend at once.
    assert!(
        alice
            .history()
            .iter()
            .any(|e| matches!(e, ClientEvent::Resend { id, .. } if *id == out.id)),
        "{:?}",
        alice.history()
    );
    let got = bobby.expect_v2_text("alice", "sealed before the rotation", WAIT);
    assert!(
        matches!(&got, ClientEvent::V2Message { envelope, .. } if envelope.epoch == epoch + 1 && envelope.id == out.id),
        "{got:?}"
    );
    alice.expect(|e| *e == ClientEvent::Ack { id: out.id.clone() }, WAIT);
    bobby.expect_none(|e| matches!(e, ClientEvent::V2Message { .. }), QUIET);
}
