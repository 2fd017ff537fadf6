//! Version-2 sessions talking through hand-made server frames: a tiny room that makes
//! member keys, wraps group keys, answers key requests and relays with `from`.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde_json::{Value, json};

use super::*;
use dyspatcher_crypto::{KeyPair, SecretKey, b64_encode, group_key_aad, seal_payload};

const T: u64 = 1_764_633_600_000;

/// Emoji with skin tones and ZWJ sequences, CJK, Arabic and Hebrew, combining marks.
const MIXED: &str = "👩🏽‍💻 👨‍👩‍👧‍👦 🏳️‍🌈 漢字かな한국어 مرحبا بالعالم שלום עולם e\u{301}a\u{308}\u{20DD} ";

fn keys(name: &str) -> Arc<KeyPair> {
    static KEYS: OnceLock<HashMap<&'static str, Arc<KeyPair>>> = OnceLock::new();
    KEYS.get_or_init(|| {
        ["alice", "bob", "admin", "small2048"]
            .into_iter()
            .map(|n| {
                let path = format!(
                    "{}/../../tests/vectors/{n}.pkcs8.pem",
                    env!("CARGO_MANIFEST_DIR")
                );
                let pem = std::fs::read_to_string(path).unwrap();
                (n, Arc::new(KeyPair::from_pem(&pem).unwrap()))
            })
            .collect()
    })[name]
        .clone()
}

fn key_id(key: &str) -> String {
    keys(key).public().key_id().to_owned()
}

/// The server's side: member keys, the epochs' group keys, who is on 0.9.
struct Room {
    members: HashMap<String, SecretKey>,
    groups: HashMap<u64, SecretKey>,
    epoch: u64,
    /// `(name, key name, 0.9)` in join order, the administrator first.
    users: Vec<(String, &'static str, bool)>,
}

impl Room {
    fn new() -> Self {
        Room {
            members: HashMap::new(),
            groups: HashMap::from([(1, SecretKey::generate())]),
            epoch: 1,
            users: vec![("ADMIN".into(), "admin", false)],
        }
    }

    fn join(&mut self, name: &str, key: &'static str) -> ClientSession {
        let mut s = ClientSession::new_v2(name, keys(key));
        s.set_clock(Some(T));
        let join: Value = serde_json::from_str(&s.join_frame()).unwrap();
        assert_eq!(join["data"]["v"], 2);
        assert_eq!(join["data"]["prove"], true);
        let web_admin = name == "ADMIN";
        if !web_admin {
            self.users.push((name.into(), key, false));
        }
        let member = SecretKey::generate();
        let config = frame(
            "config",
            "",
            json!({"v": 2, "disable-all": false, "user": name, "is-admin": web_admin,
                "keyid": key_id(key), "admin": "ADMIN",
                "adminkey": {"hash": key_id("admin"), "text": keys("admin").public().spki_b64()},
                "memberkey": b64_encode(&keys(key).public().encrypt(member.as_bytes()).unwrap()),
                "max-text": 65536}),
        );
        self.members.insert(name.into(), member);
        let events = s.handle(&config);
        assert!(
            matches!(&events[..], [ClientEvent::Config { name: n, .. }] if n == name),
            "{events:?}"
        );
        let events = s.handle(&self.group_key(name, self.epoch));
        assert_eq!(events, [ClientEvent::GroupKey { epoch: self.epoch }]);
        let events = s.handle(&self.users_frame());
        let [ClientEvent::UsersList(list)] = &events[..] else {
            panic!("{events:?}")
        };
        // Keys come lazily: only ours and the administrator's are known.
        for u in list {
            assert_eq!(
                u.key.is_some(),
                u.name == name || u.name == "ADMIN",
                "{u:?}"
            );
        }
        s
    }

    /// Joins `name` and announces it to those already in (`chat-presence`).
    fn join_after(
        &mut self,
        name: &str,
        key: &'static str,
        earlier: &mut [&mut ClientSession],
    ) -> ClientSession {
        let session = self.join(name, key);
        let presence = frame(
            "signal",
            "",
            json!({"code": "chat-presence", "changes": [["join", name, key_id(key)]]}),
        );
        for s in earlier {
            let events = s.handle(&presence);
            assert!(
                matches!(&events[..], [ClientEvent::Joined(u)] if u.name == name && u.key.is_none()),
                "{events:?}"
            );
        }
        session
    }

    fn group_key(&self, name: &str, epoch: u64) -> String {
        let (iv, key) =
            self.members[name].encrypt(self.groups[&epoch].as_bytes(), &group_key_aad(epoch, name));
        frame(
            "signal",
            "",
            json!({"code": "chat-groupkey", "epoch": epoch, "iv": b64_encode(&iv), "key": b64_encode(&key)}),
        )
    }

    fn users_frame(&self) -> String {
        let users: Vec<Value> = self
            .users
            .iter()
            .map(|(n, k, old)| {
                if *old {
                    json!([n, key_id(k), "0.9"])
                } else {
                    json!([n, key_id(k)])
                }
            })
            .collect();
        frame("signal", "", json!({"code": "chat-users", "users": users}))
    }

    fn rotate(&mut self) -> u64 {
        self.epoch += 1;
        self.groups.insert(self.epoch, SecretKey::generate());
        self.epoch
    }
}

fn key_answer(key: &str, name: &str) -> String {
    frame(
        "signal",
        "",
        json!({"code": "chat-key", "keyid": key_id(key), "name": name, "publickey": keys(key).public().spki_b64()}),
    )
}

/// What the server relays: the sender's data object plus `from`.
fn relay(sent: &str, from: &str) -> String {
    let v: Value = serde_json::from_str(sent).unwrap();
    let mut data = v["data"].as_object().unwrap().clone();
    data.insert("from".into(), from.into());
    frame("message", "", Value::Object(data))
}

/// Fetches `name`'s key for `s` the way a caller does: ask, get the answer.
fn fetch(s: &mut ClientSession, name: &str, key: &str) {
    let ask: Value = serde_json::from_str(&s.key_request(name).unwrap()).unwrap();
    assert_eq!(ask["data"]["code"], "chat-getkeys");
    assert_eq!(ask["data"]["keyids"], json!([key_id(key)]));
    let events = s.handle(&key_answer(key, name));
    assert_eq!(
        events,
        [ClientEvent::KeyArrived {
            key_id: key_id(key),
            name: name.into()
        }]
    );
}

fn text_of(events: &[ClientEvent]) -> Vec<(&str, &str, &str)> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::V2Message {
                envelope,
                verified: true,
            } => Some((
                envelope.from.as_str(),
                envelope.to.as_str(),
                envelope.text.as_str(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn a_long_mixed_script_message_one_to_one_and_to_all_with_lazy_keys() {
    let mut room = Room::new();
    let mut alice = room.join("alice", "alice");
    let mut bobby = room.join_after("bobby", "bob", &mut [&mut alice]);
    let long: String = MIXED.chars().cycle().take(20_000).collect();
    assert!(long.len() > 40_000, "{} bytes", long.len());

    assert_eq!(
        alice.message_to("bobby", &long),
        Err(ClientError::KeyNotFetched("bobby".into()))
    );
    fetch(&mut alice, "bobby", "bob");
    let sent = alice.message_to("bobby", &long).unwrap();
    let data: Value = serde_json::from_str(&sent.frame).unwrap();
    assert_eq!(data["data"]["v"], 2);
    assert_eq!(data["data"]["to"], "bobby");
    assert_eq!(data["data"]["id"], sent.id.as_str());

    // bobby does not know alice's key: the message waits while the session asks for it.
    let events = bobby.handle(&relay(&sent.frame, "alice"));
    let [ClientEvent::NeedKeys { frame: ask }] = &events[..] else {
        panic!("{events:?}")
    };
    assert!(ask.contains(&key_id("alice")));
    // A second frame from alice waits too, without asking again.
    let all = alice.message_to_all(&long).unwrap();
    assert_eq!(all.copy, None, "no 0.9 users");
    assert!(bobby.handle(&relay(&all.frame, "alice")).is_empty());

    let events = bobby.handle(&key_answer("alice", "alice"));
    assert_eq!(
        text_of(&events),
        [
            ("alice", "bobby", long.as_str()),
            ("alice", "all", long.as_str())
        ]
    );
    assert!(matches!(&events[0], ClientEvent::KeyArrived { name, .. } if name == "alice"));
    let ClientEvent::V2Message { envelope, .. } = &events[1] else {
        panic!()
    };
    assert_eq!(
        (envelope.id.as_str(), envelope.time, envelope.epoch),
        (sent.id.as_str(), T, 1)
    );

    // Our own message to all comes back to nobody but is readable by us too.
    let own = alice.handle(&relay(&all.frame, "alice"));
    assert_eq!(text_of(&own), [("alice", "all", long.as_str())]);
}

#[test]
fn replays_out_of_window_and_unknown_kinds_are_dropped() {
    let mut room = Room::new();
    let mut alice = room.join("alice", "alice");
    let mut bobby = room.join_after("bobby", "bob", &mut [&mut alice]);
    fetch(&mut alice, "bobby", "bob");
    fetch(&mut bobby, "alice", "alice");

    let one = alice.message_to("bobby", "once").unwrap();
    let all = alice.message_to_all("once to all").unwrap();
    for sent in [&one, &all] {
        let relayed = relay(&sent.frame, "alice");
        assert_eq!(text_of(&bobby.handle(&relayed)).len(), 1);
        assert_eq!(
            bobby.handle(&relayed),
            [ClientEvent::V2Dropped {
                from: "alice".into(),
                reason: DropReason::Replay {
                    id: sent.id.clone()
                }
            }]
        );
    }

    bobby.set_clock(Some(T + REPLAY_WINDOW_MS + 1));
    let late = alice.message_to("bobby", "late").unwrap();
    assert_eq!(
        bobby.handle(&relay(&late.frame, "alice")),
        [ClientEvent::V2Dropped {
            from: "alice".into(),
            reason: DropReason::OutOfWindow {
                skew_ms: -(REPLAY_WINDOW_MS as i64) - 1
            }
        }]
    );
    bobby.set_clock(Some(T));

    let mut env = alice.envelope("bobby", "k1", 1, "");
    env.kind = "picture".into();
    let data = direct_data(
        keys("bob").public(),
        "bobby",
        "k1",
        &env.seal(&keys("alice")),
    );
    assert_eq!(
        bobby.handle(&relay(&alice.message_frame(data), "alice")),
        [ClientEvent::V2Dropped {
            from: "alice".into(),
            reason: DropReason::UnknownKind("picture".into())
        }]
    );
}

#[test]
fn forgeries_are_flagged_with_the_claimed_sender() {
    let mut room = Room::new();
    let mut alice = room.join("alice", "alice");
    let mut bobby = room.join_after("bobby", "bob", &mut [&mut alice]);
    let mut carol = room.join_after("carol", "small2048", &mut [&mut alice, &mut bobby]);
    fetch(&mut alice, "bobby", "bob");
    fetch(&mut carol, "alice", "alice");

    // A broken signature.
    let mut payload = alice.sealed_payload("bobby", "m9", 1, "signed?");
    payload[10] ^= 1;
    let data = direct_data(keys("bob").public(), "bobby", "m9", &payload);
    fetch(&mut bobby, "alice", "alice");
    assert_eq!(
        bobby.handle(&relay(&alice.message_frame(data), "alice")),
        [ClientEvent::Flagged {
            claimed_from: "alice".into(),
            why: FlagReason::BadSignature
        }]
    );

    // bobby re-encrypts alice's signed 1:1 envelope for carol.
    let sent = alice.message_to("bobby", "for bobby only").unwrap();
    let relayed = relay(&sent.frame, "alice");
    let payload = bobby.decrypt_payload(&relayed).unwrap();
    assert_eq!(text_of(&bobby.handle(&relayed)).len(), 1);
    let forged = direct_data(keys("small2048").public(), "carol", "x1", &payload);
    let forged = bobby.message_frame(forged);
    // The server says who sent it: bobby, not alice.
    assert_eq!(
        carol.handle(&relay(&forged, "bobby")),
        [ClientEvent::Flagged {
            claimed_from: "alice".into(),
            why: FlagReason::NotFromRelay {
                relay_from: "bobby".into()
            }
        }]
    );
    // Even a relay that lies about the sender cannot make it carol's.
    assert_eq!(
        carol.handle(&relay(&forged, "alice")),
        [ClientEvent::Flagged {
            claimed_from: "alice".into(),
            why: FlagReason::AddressedElsewhere { to: "bobby".into() }
        }]
    );
    // Nor can a message to all of one epoch pass in another's frame.
    let payload = alice.sealed_payload("all", "a1", 1, "epoch one");
    room.rotate();
    carol.handle(&room.group_key("carol", 2));
    let moved = all_data(&room.groups[&2], 2, "a1", &payload, false);
    assert_eq!(
        carol.handle(&relay(&alice.message_frame(moved), "alice")),
        [ClientEvent::Flagged {
            claimed_from: "alice".into(),
            why: FlagReason::AddressedElsewhere { to: "all".into() }
        }]
    );
}

#[test]
fn a_stale_epoch_refusal_is_sealed_again_under_the_new_key() {
    let mut room = Room::new();
    let mut alice = room.join("alice", "alice");
    let mut bobby = room.join_after("bobby", "bob", &mut [&mut alice]);
    fetch(&mut bobby, "alice", "alice");
    let sent = alice.message_to_all("sent at a rotation").unwrap();
    let epoch = room.rotate();
    bobby.handle(&room.group_key("bobby", epoch));
    let stale = frame(
        "signal",
        "",
        json!({"code": "chat-undelivered", "id": sent.id, "to": "all",
            "reason": "sent under an old group key", "why": "stale-epoch", "epoch": epoch}),
    );
    // The refusal comes before our new key: the resend waits for it.
    let events = alice.handle(&stale);
    assert!(
        matches!(&events[..], [ClientEvent::Undelivered { why: Some(w), epoch: Some(e), .. }] if w == "stale-epoch" && *e == epoch),
        "{events:?}"
    );
    let events = alice.handle(&room.group_key("alice", epoch));
    let [
        ClientEvent::GroupKey { .. },
        ClientEvent::Resend { id, frame: again },
    ] = &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!(id, &sent.id);
    let data: Value = serde_json::from_str(again).unwrap();
    assert_eq!(
        (data["data"]["epoch"].as_u64(), data["data"]["id"].as_str()),
        (Some(epoch), Some(sent.id.as_str()))
    );
    assert_eq!(
        text_of(&bobby.handle(&relay(again, "alice"))),
        [("alice", "all", "sent at a rotation")]
    );
    // Once acknowledged, a late second refusal resends nothing.
    alice.handle(&frame(
        "signal",
        "",
        json!({"code": "chat-ack", "id": sent.id}),
    ));
    let events = alice.handle(&stale);
    assert_eq!(events.len(), 1, "{events:?}");

    // The key of an epoch we were never given, or wrapped for someone else, is refused.
    let epoch = room.rotate();
    assert!(matches!(
        &alice.handle(&room.group_key("bobby", epoch))[..],
        [ClientEvent::Ignored { .. }]
    ));
    assert_eq!(alice.epoch(), Some(epoch - 1));
    let later = bobby.message_to_all("x");
    assert!(later.is_ok());
    let data = all_data(&room.groups[&epoch], epoch, "z", b"\0\0{}", false);
    assert_eq!(
        alice.handle(&relay(&bobby.message_frame(data), "bobby")),
        [ClientEvent::V2Dropped {
            from: "bobby".into(),
            reason: DropReason::NoKeyForEpoch(epoch)
        }]
    );
}

#[test]
fn mixed_rooms_legacy_copies_and_0_9_frames() {
    let mut room = Room::new();
    let mut alice = room.join("alice", "alice");
    // carol is on a 0.9 client.
    room.users.push(("carol".into(), "small2048", true));
    let events = alice.handle(&frame(
        "signal",
        "",
        json!({"code": "chat-presence", "changes": [["join", "carol", key_id("small2048"), "0.9"], ["left", "nobody"]]}),
    ));
    let [ClientEvent::Joined(carol)] = &events[..] else {
        panic!("{events:?}")
    };
    assert!(carol.old_client);

    // To all: the version-2 frame and a legacy copy with the 0.9 plaintext inside.
    let sent = alice.message_to_all("héllo 0.9 ✓").unwrap();
    let legacy = sent.copy.clone().unwrap();
    assert_eq!(sent.frames().count(), 2);
    let data: Value = serde_json::from_str(&legacy).unwrap();
    assert_eq!(data["data"]["legacy"], true);
    assert_ne!(data["data"]["id"], sent.id.as_str());
    let payload = alice.decrypt_payload(&legacy).unwrap();
    let (signature, plain) = dyspatcher_crypto::open_payload(&payload).unwrap();
    assert_eq!(plain, plaintext("alice", "all", "héllo 0.9 ✓").as_bytes());
    assert!(keys("alice").public().verify(plain, signature));

    // 1:1 to carol: the 0.9 frame, routed.
    fetch(&mut alice, "carol", "small2048");
    let one = alice.message_to("carol", "to a 0.9 client").unwrap();
    let data: Value = serde_json::from_str(&one.frame).unwrap();
    assert_eq!(
        (data["data"]["algo"].as_str(), data["data"]["to"].as_str()),
        (Some("rsa"), Some("carol"))
    );

    // From carol: a 0.9 rsa frame (key known now) and a legacy frame to all.
    let plain = plaintext("carol", "alice", "from 0.9");
    let rsa = seal_rsa(keys("alice").public(), plain.as_bytes(), &keys("small2048")).unwrap();
    let events = alice.handle(&frame("message", "", Value::Object(rsa)));
    assert!(
        matches!(&events[..], [ClientEvent::Message { from, text, verified: true, algo: Algo::Rsa, .. }] if from == "carol" && text == "from 0.9"),
        "{events:?}"
    );
    let plain = plaintext("carol", "all", "0.9 to all");
    let payload =
        seal_payload(&keys("small2048").sign(plain.as_bytes()), plain.as_bytes()).unwrap();
    let data = all_data(&room.groups[&1], 1, "c1", &payload, true);
    let events = alice.handle(&relay(
        &frame("message", "carol", Value::Object(data.clone())),
        "carol",
    ));
    assert!(
        matches!(&events[..], [ClientEvent::Message { from, text, verified: true, algo: Algo::Aes, .. }] if from == "carol" && text == "0.9 to all"),
        "{events:?}"
    );
    // The same legacy frame relayed as someone else's is flagged.
    let events = alice.handle(&relay(&frame("message", "", Value::Object(data)), "bobby"));
    assert!(
        matches!(&events[..], [ClientEvent::Flagged { claimed_from, .. }] if claimed_from == "carol"),
        "{events:?}"
    );

    // Without legacy copies: one frame.
    alice.set_legacy_copies(false);
    assert_eq!(alice.message_to_all("v2 only").unwrap().copy, None);
}

#[test]
fn a_key_answer_must_match_its_key_id() {
    let mut room = Room::new();
    let mut alice = room.join("alice", "alice");
    let _bobby = room.join_after("bobby", "bob", &mut [&mut alice]);
    let _ = alice.key_request("bobby").unwrap();
    // The server (or someone) answers bob's Key ID with another key.
    let wrong = frame(
        "signal",
        "",
        json!({"code": "chat-key", "keyid": key_id("bob"), "name": "bobby", "publickey": keys("admin").public().spki_b64()}),
    );
    assert!(
        matches!(&alice.handle(&wrong)[..], [ClientEvent::Ignored { reason }] if reason.contains("another Key ID"))
    );
    assert!(alice.user("bobby").unwrap().key.is_none());
    let missing = frame(
        "signal",
        "",
        json!({"code": "chat-key", "keyid": key_id("bob"), "missing": true}),
    );
    assert_eq!(
        alice.handle(&missing),
        [ClientEvent::KeyMissing {
            key_id: key_id("bob")
        }]
    );
    // Asked for again after a missing answer.
    assert!(alice.key_request("bobby").is_some());
}

#[test]
fn hostile_version_2_frames_never_panic() {
    let mut room = Room::new();
    let mut alice = room.join("alice", "alice");
    let datas = [
        json!({"v": 2}),
        json!({"v": 2, "from": "bobby"}),
        json!({"v": 2, "from": "bobby", "to": "all", "iv": "AAAA", "ciphertext": "AAAA"}),
        json!({"v": 2, "from": "bobby", "to": "all", "epoch": -1, "iv": "AAAA", "ciphertext": "AAAA"}),
        json!({"v": 2, "from": "bobby", "to": "alice", "wrapped": "!!", "iv": "AAAA", "ciphertext": "AAAA"}),
        json!({"v": 2, "from": 7, "to": []}),
    ];
    for data in datas {
        let events = alice.handle(&frame("message", "", data.clone()));
        assert!(
            matches!(
                &events[..],
                [ClientEvent::V2Dropped { .. } | ClientEvent::Ignored { .. }]
            ),
            "{data}: {events:?}"
        );
    }
    for data in [
        json!({"code": "chat-users", "users": [["x"]]}),
        json!({"code": "chat-users", "users": [["x", "y", "z"]]}),
        json!({"code": "chat-presence", "changes": [7, ["join"], ["fly", "x"]]}),
        json!({"code": "chat-groupkey", "epoch": 9, "iv": "AAAA", "key": "AAAA"}),
        json!({"code": "chat-key", "keyid": "00"}),
        json!({"code": "chat-undelivered", "id": "q", "reason": "r", "why": "stale-epoch", "epoch": 99}),
    ] {
        let _ = alice.handle(&frame("signal", "", data));
    }
    // The payload of a frame that decrypts may be anything.
    for payload in [
        &b""[..],
        b"\x00",
        b"\x00\x05ab",
        b"\x00\x00not json",
        b"\x00\x00{\"v\":2}",
    ] {
        let data = all_data(&room.groups[&1], 1, "h", payload, false);
        let events = alice.handle(&relay(&frame("message", "", Value::Object(data)), "alice"));
        assert!(
            matches!(
                &events[..],
                [ClientEvent::V2Dropped {
                    reason: DropReason::BadPlaintext,
                    ..
                }]
            ),
            "{events:?}"
        );
    }
    // The session still works.
    assert!(alice.message_to_all("still here").is_ok());
    assert_eq!(alice.user("x"), None);
}

#[test]
fn the_web_administrator_sends_a_console_copy_and_reads_its_own() {
    let mut room = Room::new();
    let mut alice = room.join("alice", "alice");
    let mut web = room.join_after("ADMIN", "admin", &mut []);
    alice.handle(&room.users_frame());
    web.handle(&room.users_frame());
    assert!(web.is_admin());
    fetch(&mut web, "alice", "alice");
    let sent = web.message_to("alice", "from the web").unwrap();
    let copy = sent.copy.clone().expect("a copy for the console");
    assert_eq!(sent.frames().count(), 2);
    let data: Value = serde_json::from_str(&copy).unwrap();
    assert_eq!(data["data"]["to"], "ADMIN");
    assert_ne!(data["data"]["id"], sent.id.as_str());
    assert_eq!(
        text_of(&alice.handle(&relay(&sent.frame, "ADMIN"))),
        [("ADMIN", "alice", "from the web")]
    );
    // The copy comes back to the web session (from its other place): shown as ours.
    assert_eq!(
        text_of(&web.handle(&relay(&copy, "ADMIN"))),
        [("ADMIN", "alice", "from the web")]
    );
    // alice's messages to the administrator carry no copy.
    assert_eq!(alice.message_to("ADMIN", "hi").unwrap().copy, None);
}

/// What a version-2 message costs a client (printed, never asserted):
/// `cargo test -p dyspatcher-client v2_costs -- --ignored --nocapture`.
#[test]
#[ignore]
fn v2_costs() {
    use std::time::Instant;
    let mut room = Room::new();
    let mut alice = room.join("alice", "alice");
    let mut bobby = room.join_after("bobby", "bob", &mut [&mut alice]);
    fetch(&mut alice, "bobby", "bob");
    fetch(&mut bobby, "alice", "alice");
    let long: String = MIXED.chars().cycle().take(20_000).collect();
    let rounds = 20;
    for (what, text) in [("short", "hello"), ("20,000 chars", long.as_str())] {
        let start = Instant::now();
        let frames: Vec<String> = (0..rounds)
            .map(|_| relay(&alice.message_to("bobby", text).unwrap().frame, "alice"))
            .collect();
        let sealed = start.elapsed() / rounds;
        let start = Instant::now();
        for f in &frames {
            assert_eq!(text_of(&bobby.handle(f)).len(), 1);
        }
        let read = start.elapsed() / rounds;
        let start = Instant::now();
        let frames: Vec<String> = (0..rounds)
            .map(|_| relay(&alice.message_to_all(text).unwrap().frame, "alice"))
            .collect();
        let sealed_all = start.elapsed() / rounds;
        let start = Instant::now();
        for f in &frames {
            assert_eq!(text_of(&bobby.handle(f)).len(), 1);
        }
        let read_all = start.elapsed() / rounds;
        println!(
            "{what}: 1:1 seal {sealed:?} read {read:?}; to all seal {sealed_all:?} read {read_all:?}; frame {} bytes",
            frames[0].len()
        );
    }
}

// ---- large rooms: count, chat-find, fromkey ----

fn signal(data: Value) -> String {
    frame("signal", "", data)
}

/// What the server relays in a large room: `from` and `fromkey`, the sending
/// connection's Key ID.
fn relay_with_key(sent: &str, from: &str, key: &str) -> String {
    let v: Value = serde_json::from_str(sent).unwrap();
    let mut data = v["data"].as_object().unwrap().clone();
    data.insert("from".into(), from.into());
    data.insert("fromkey".into(), key_id(key).into());
    frame("message", "", Value::Object(data))
}

#[test]
fn the_count_comes_with_the_list_and_alone_when_nothing_else_changed() {
    let mut alice = ClientSession::new_v2("alice", keys("alice"));
    assert_eq!(alice.count(), None);
    let events = alice.handle(&signal(json!({"code": "chat-users", "count": 300,
        "users": [["ADMIN", key_id("admin")], ["alice", key_id("alice")]]})));
    assert!(
        matches!(&events[..], [ClientEvent::UsersList(list), ClientEvent::Count { count: 300 }] if list.len() == 2),
        "{events:?}"
    );
    assert_eq!(alice.count(), Some(300));
    // Joins beyond the listed: only the count, in a frame of no changes.
    let count_only = |n: u64| signal(json!({"code": "chat-presence", "changes": [], "count": n}));
    assert_eq!(
        alice.handle(&count_only(312)),
        [ClientEvent::Count { count: 312 }]
    );
    assert_eq!(alice.handle(&count_only(312)), [], "unchanged: no event");
    assert_eq!(alice.count(), Some(312));
    // A listed user leaving: the first unlisted one listed in its place, in one frame.
    alice.handle(&signal(json!({"code": "chat-presence", "count": 313,
        "changes": [["join", "bobby", key_id("bob")]]})));
    let events = alice.handle(&signal(json!({"code": "chat-presence", "count": 312,
        "changes": [["left", "bobby"], ["join", "carol", key_id("small2048")]]})));
    assert!(
        matches!(&events[..], [
            ClientEvent::Left { name },
            ClientEvent::Joined(carol),
            ClientEvent::Count { count: 312 },
        ] if name == "bobby" && carol.name == "carol"),
        "{events:?}"
    );
    let names: Vec<&str> = alice.users().iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["ADMIN", "alice", "carol"]);
    // No count, or no usable one: the count stays what it was.
    for count in [json!(null), json!(-1), json!("313"), json!(1.5)] {
        let events = alice.handle(&signal(
            json!({"code": "chat-presence", "changes": [], "count": count}),
        ));
        assert_eq!(events, [], "{count}");
    }
    assert_eq!(alice.count(), Some(312));
}

#[test]
fn found_users_are_looked_up_until_they_leave() {
    let mut room = Room::new();
    let mut alice = room.join("alice", "alice");
    let ask: Value = serde_json::from_str(&alice.find("bo")).unwrap();
    assert_eq!(
        ask,
        json!({"cmd": "signal", "user": "alice", "data": {"code": "chat-find", "name": "bo"}})
    );
    // Bad input is sent as asked: the server's answer is empty.
    let ask: Value = serde_json::from_str(&alice.find("B-o\"")).unwrap();
    assert_eq!(ask["data"]["name"], "B-o\"");

    let events = alice.handle(&signal(
        json!({"code": "chat-found", "name": "bo", "more": true,
        "users": [["bob", key_id("small2048"), "0.9"], ["bobby", key_id("bob")]]}),
    ));
    let [
        ClientEvent::Found {
            name,
            users,
            more: true,
        },
    ] = &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!(name, "bo");
    let found: Vec<(&str, bool)> = users
        .iter()
        .map(|u| (u.name.as_str(), u.old_client))
        .collect();
    assert_eq!(found, [("bob", true), ("bobby", false)]);
    assert!(alice.is_looked_up("bobby") && alice.is_looked_up("bob"));
    assert!(!alice.is_looked_up("ADMIN"));
    assert_eq!(alice.user("bobby").unwrap().hash, key_id("bob"));

    // A looked-up user can be written to: its key is fetched like a listed one's.
    assert_eq!(
        alice.message_to("bobby", "found you"),
        Err(ClientError::KeyNotFetched("bobby".into()))
    );
    fetch(&mut alice, "bobby", "bob");
    assert!(alice.message_to("bobby", "found you").is_ok());

    // Its departure (announced to those who looked it up) forgets it.
    let events = alice.handle(&signal(
        json!({"code": "chat-presence", "changes": [["left", "bobby"]], "count": 3}),
    ));
    assert!(matches!(&events[0], ClientEvent::Left { name } if name == "bobby"));
    assert_eq!(alice.user("bobby"), None);
    assert!(!alice.is_looked_up("bobby"));
    assert_eq!(
        alice.message_to("bobby", "gone"),
        Err(ClientError::UnknownRecipient("bobby".into()))
    );

    // Listed now (a listed user left): it stays when looked-up ones are forgotten.
    alice.handle(&signal(
        json!({"code": "chat-presence", "changes": [["join", "bob", key_id("small2048"), "0.9"]]}),
    ));
    assert!(!alice.is_looked_up("bob"));

    // An empty answer, and answers that are not one.
    let events = alice.handle(&signal(
        json!({"code": "chat-found", "name": "zz", "users": [], "more": false}),
    ));
    assert!(
        matches!(&events[..], [ClientEvent::Found { users, more: false, .. }] if users.is_empty())
    );
    for bad in [
        json!({"code": "chat-found", "name": "zz"}),
        json!({"code": "chat-found", "users": []}),
        json!({"code": "chat-found", "name": "zz", "users": [["x"]]}),
        json!({"code": "chat-found", "name": "zz", "users": [["x", "y", "1.0"]]}),
    ] {
        assert!(
            matches!(
                &alice.handle(&signal(bad.clone()))[..],
                [ClientEvent::Ignored { .. }]
            ),
            "{bad}"
        );
    }
    assert_eq!(alice.user("x"), None);
}

#[test]
fn at_most_256_looked_up_users_the_oldest_forgotten() {
    let mut room = Room::new();
    let mut alice = room.join("alice", "alice");
    alice.handle(&signal(json!({"code": "chat-found", "name": "alice",
        "users": [["alice", key_id("alice")]]})));
    assert!(!alice.is_looked_up("alice"), "listed, not looked up");
    for batch in 0..15 {
        let users: Vec<Value> = (0..20)
            .map(|i| {
                let n = batch * 20 + i;
                json!([format!("u{n:03}"), format!("{n:064x}")])
            })
            .collect();
        alice.handle(&signal(
            json!({"code": "chat-found", "name": "u", "users": users, "more": true}),
        ));
        // Looking one up again makes it the most recent.
        alice.handle(&signal(json!({"code": "chat-found", "name": "u000",
            "users": [["u000", format!("{:064x}", 0)]]})));
    }
    assert_eq!(alice.users().len(), 2 + MAX_LOOKED_UP);
    assert!(alice.user("u000").is_some(), "looked up again each time");
    assert_eq!(alice.user("u001"), None, "the oldest is forgotten");
    assert!(alice.user("u299").is_some());
    assert!(alice.user("alice").is_some() && alice.user("ADMIN").is_some());
}

#[test]
fn a_sender_not_listed_is_verified_with_the_key_of_its_fromkey() {
    let mut room = Room::new();
    let mut alice = room.join("alice", "alice");
    // dave joins a large room: listed to nobody, so alice never hears of him.
    let mut dave = room.join("dave", "small2048");
    fetch(&mut dave, "alice", "alice");
    let one = dave.message_to("alice", "from the crowd").unwrap();
    let all = dave.message_to_all("to all, from the crowd").unwrap();

    // Without fromkey (a relay that does not say) the sender is unknown: dropped.
    assert_eq!(
        alice.handle(&relay(&one.frame, "dave")),
        [ClientEvent::V2Dropped {
            from: "dave".into(),
            reason: DropReason::UnknownSender("dave".into())
        }]
    );
    // Nor is a fromkey that is not a Key ID asked for.
    let mut bad: Value = serde_json::from_str(&relay(&one.frame, "dave")).unwrap();
    bad["data"]["fromkey"] = "../../etc".into();
    assert!(matches!(
        &alice.handle(&bad.to_string())[..],
        [ClientEvent::V2Dropped {
            reason: DropReason::UnknownSender(_),
            ..
        }]
    ));

    let events = alice.handle(&relay_with_key(&one.frame, "dave", "small2048"));
    let [ClientEvent::NeedKeys { frame: ask }] = &events[..] else {
        panic!("{events:?}")
    };
    let ask: Value = serde_json::from_str(ask).unwrap();
    assert_eq!(ask["data"]["keyids"], json!([key_id("small2048")]));
    assert_eq!(
        alice.handle(&relay_with_key(&all.frame, "dave", "small2048")),
        [],
        "waits without asking again"
    );
    // An answer with another key for that Key ID is refused: nothing is shown unverified.
    let wrong = signal(
        json!({"code": "chat-key", "keyid": key_id("small2048"), "name": "dave",
        "publickey": keys("bob").public().spki_b64()}),
    );
    assert!(matches!(
        &alice.handle(&wrong)[..],
        [ClientEvent::Ignored { .. }]
    ));
    assert_eq!(alice.user("dave"), None);

    let events = alice.handle(&key_answer("small2048", "dave"));
    assert!(matches!(&events[0], ClientEvent::KeyArrived { name, .. } if name == "dave"));
    assert_eq!(
        text_of(&events),
        [
            ("dave", "alice", "from the crowd"),
            ("dave", "all", "to all, from the crowd")
        ]
    );
    // dave is looked up now: alice can answer him, and hears of his departure.
    assert!(alice.is_looked_up("dave"));
    let back = alice.message_to("dave", "hello dave").unwrap();
    assert_eq!(
        text_of(&dave.handle(&relay_with_key(&back.frame, "alice", "alice"))),
        [("alice", "dave", "hello dave")]
    );

    // A signature by another key than the one the server names is flagged, not shown.
    let mut eve = room.join("eve", "bob");
    fetch(&mut eve, "alice", "alice");
    let mut env = eve.envelope("alice", "f1", 1, "I am dave");
    env.from = "dave".into();
    let data = direct_data(
        keys("alice").public(),
        "alice",
        "f1",
        &env.seal(&keys("bob")),
    );
    assert_eq!(
        alice.handle(&relay_with_key(
            &eve.message_frame(data),
            "dave",
            "small2048"
        )),
        [ClientEvent::Flagged {
            claimed_from: "dave".into(),
            why: FlagReason::BadSignature
        }]
    );

    // A sender whose key is missing (gone meanwhile): its frames are dropped.
    let mut frank = room.join("frank", "admin");
    fetch(&mut frank, "alice", "alice");
    let gone = frank.message_to("alice", "bye").unwrap();
    let mut relayed: Value = serde_json::from_str(&relay(&gone.frame, "frank")).unwrap();
    let unknown = "f".repeat(64);
    relayed["data"]["fromkey"] = unknown.clone().into();
    assert!(matches!(
        &alice.handle(&relayed.to_string())[..],
        [ClientEvent::NeedKeys { .. }]
    ));
    let events = alice.handle(&signal(
        json!({"code": "chat-key", "keyid": unknown, "missing": true}),
    ));
    assert_eq!(
        events,
        [
            ClientEvent::KeyMissing { key_id: unknown },
            ClientEvent::V2Dropped {
                from: "frank".into(),
                reason: DropReason::UnknownSender("frank".into())
            }
        ]
    );
    assert_eq!(alice.user("frank"), None);
}
