//! Sessions talking to each other through hand-made server frames. The keys are the
//! 4096-bit vectors: every signature or decryption costs ~15 ms, so they are counted.

use std::sync::{Arc, OnceLock};

use serde_json::{Value, json};

use super::*;
use dyspatcher_crypto::{GroupKey, KeyPair, b64_decode, b64_encode};

fn keys(name: &str) -> Arc<KeyPair> {
    static KEYS: OnceLock<[Arc<KeyPair>; 3]> = OnceLock::new();
    let all = KEYS.get_or_init(|| {
        ["alice", "bob", "admin"].map(|n| {
            let path = format!(
                "{}/../../tests/vectors/{n}.pkcs8.pem",
                env!("CARGO_MANIFEST_DIR")
            );
            Arc::new(KeyPair::from_pem(&std::fs::read_to_string(path).unwrap()).unwrap())
        })
    });
    let i = ["alice", "bob", "admin"]
        .iter()
        .position(|n| *n == name)
        .unwrap();
    all[i].clone()
}

fn entry(name: &str, key: &str) -> Value {
    let public = keys(key).public().clone();
    json!({"name": name, "publickey": {"hash": public.key_id(), "text": public.spki_b64()}})
}

/// The frames a server sends after a good join (ADMIN, alice, bob connected).
fn join_frames(name: &str, key: &str, group: &GroupKey) -> [String; 2] {
    let is_admin = key == "admin";
    let list = json!([
        entry("ADMIN", "admin"),
        entry("alice", "alice"),
        entry("bob", "bob")
    ]);
    [
        frame(
            "config",
            "",
            json!({"disable-all": false, "user": name, "is-admin": is_admin,
                   "keyid": keys(key).public().key_id(), "aeskey": group.to_b64()}),
        ),
        frame(
            "signal",
            "",
            json!({"code": "chat-userslist", "userslist": list.to_string()}),
        ),
    ]
}

fn session(name: &str, group: &GroupKey) -> ClientSession {
    let key = if name == "ADMIN" { "admin" } else { name };
    let mut s = ClientSession::new(name, keys(key));
    for f in join_frames(name, key, group) {
        let events = s.handle(&f);
        assert!(
            !matches!(events[0], ClientEvent::Ignored { .. }),
            "{events:?}"
        );
    }
    s
}

/// What the server relays: the sender's data object under `"user":""`.
fn relay(sent: &str) -> String {
    let v: Value = serde_json::from_str(sent).unwrap();
    frame("message", "", v["data"].clone())
}

fn one(session: &mut ClientSession, frame: &str) -> ClientEvent {
    let mut events = session.handle(frame);
    assert_eq!(events.len(), 1, "{events:?}");
    events.pop().unwrap()
}

#[test]
fn rsa_routed_and_legacy_round_trips() {
    let group = GroupKey::generate();
    let (mut alice, mut bob, mut admin) = (
        session("alice", &group),
        session("bob", &group),
        session("ADMIN", &group),
    );

    let sent = alice.message_to("bob", "hello bob ✓").unwrap();
    let data: Value = serde_json::from_str(&sent.frame).unwrap();
    assert_eq!(data["cmd"], "message");
    assert_eq!(data["user"], "alice");
    assert_eq!(data["data"]["to"], "bob");
    assert_eq!(data["data"]["id"], sent.id.as_str());
    assert_eq!(
        one(&mut bob, &relay(&sent.frame)),
        ClientEvent::Message {
            from: "alice".into(),
            to: "bob".into(),
            text: "hello bob ✓".into(),
            algo: Algo::Rsa,
            verified: true,
            id: Some(sent.id.clone()),
        }
    );
    // Routed elsewhere: not even tried.
    assert_eq!(
        one(&mut admin, &relay(&sent.frame)),
        ClientEvent::Dropped {
            algo: Algo::Rsa,
            reason: DropReason::NotForMe
        }
    );

    let legacy = alice.legacy_message_to("bob", "old style").unwrap();
    let data: Value = serde_json::from_str(&legacy).unwrap();
    assert!(data["data"].get("to").is_none() && data["data"].get("id").is_none());
    match one(&mut bob, &relay(&legacy)) {
        ClientEvent::Message {
            text, id, verified, ..
        } => {
            assert_eq!((text.as_str(), id, verified), ("old style", None, true));
        }
        other => panic!("{other:?}"),
    }
    // Broadcast as in 0.9: the others' keys do not decrypt it.
    assert!(matches!(
        one(&mut admin, &relay(&legacy)),
        ClientEvent::Dropped {
            reason: DropReason::NotForMe,
            ..
        }
    ));

    // Another message's signature does not verify this one.
    let mut forged: Value = serde_json::from_str(&legacy).unwrap();
    forged["data"]["signature"] = data_of(&sent.frame)["signature"].clone();
    assert_eq!(
        one(&mut bob, &relay(&forged.to_string())),
        ClientEvent::Dropped {
            algo: Algo::Rsa,
            reason: DropReason::BadSignature("alice".into())
        }
    );
}

fn data_of(frame: &str) -> Value {
    serde_json::from_str::<Value>(frame).unwrap()["data"].clone()
}

#[test]
fn aes_round_trip_and_rejections() {
    let group = GroupKey::generate();
    let (mut alice, mut bob) = (session("alice", &group), session("bob", &group));

    let sent = alice.message_to_all("hello all").unwrap();
    let expected = ClientEvent::Message {
        from: "alice".into(),
        to: "all".into(),
        text: "hello all".into(),
        algo: Algo::Aes,
        verified: true,
        id: Some(sent.id.clone()),
    };
    assert_eq!(one(&mut bob, &relay(&sent.frame)), expected);
    assert_eq!(one(&mut alice, &relay(&sent.frame)), expected, "own copy");
    let legacy = alice.legacy_message_to_all("no id").unwrap();
    assert!(data_of(&legacy).get("id").is_none());

    // bob's signature over a plaintext claiming to be alice's.
    let claim = plaintext("alice", "all", "it was me");
    let forged = frame(
        "message",
        "",
        Value::Object(seal_aes(&group, claim.as_bytes(), &keys("bob"))),
    );
    assert_eq!(
        one(&mut bob, &forged),
        ClientEvent::Dropped {
            algo: Algo::Aes,
            reason: DropReason::BadSignature("alice".into())
        }
    );
    // Unverified, it reads: the signature is what tells.
    bob.set_verify(false);
    assert!(matches!(
        one(&mut bob, &forged),
        ClientEvent::Message {
            verified: false,
            ..
        }
    ));
    bob.set_verify(true);

    let stranger = frame(
        "message",
        "",
        Value::Object(seal_aes(
            &group,
            plaintext("mallory", "all", "hi").as_bytes(),
            &keys("bob"),
        )),
    );
    assert_eq!(
        one(&mut bob, &stranger),
        ClientEvent::Dropped {
            algo: Algo::Aes,
            reason: DropReason::UnknownSender("mallory".into())
        }
    );
    // Another group key, no group key, not a plaintext.
    let mut other = session("bob", &GroupKey::generate());
    assert!(matches!(
        one(&mut other, &relay(&sent.frame)),
        ClientEvent::Dropped {
            reason: DropReason::Undecryptable,
            ..
        }
    ));
    let mut fresh = ClientSession::new("bob", keys("bob"));
    assert!(matches!(
        one(&mut fresh, &relay(&sent.frame)),
        ClientEvent::Dropped {
            reason: DropReason::NoGroupKey,
            ..
        }
    ));
    assert_eq!(fresh.message_to_all("x"), Err(ClientError::NoGroupKey));
    let (iv, ct) = group.encrypt(b"[1,2]");
    let junk = frame(
        "message",
        "",
        json!({"algo": "aes", "iv": b64_encode(&iv), "ciphertext": b64_encode(&ct), "signature": "AAAA"}),
    );
    assert!(matches!(
        one(&mut bob, &junk),
        ClientEvent::Dropped {
            reason: DropReason::BadPlaintext,
            ..
        }
    ));
}

#[test]
fn web_admin_copy_is_recognised() {
    let group = GroupKey::generate();
    let mut admin = session("ADMIN", &group);
    assert!(admin.is_admin());
    let inner = json!({"message": "hi bob", "to": "bob"}).to_string();
    let plain =
        json!({"from": "ADMIN", "to": "ADMIN", "message": inner, "isWebAdminMsgCopy": true})
            .to_string();
    let data = seal_rsa(keys("admin").public(), plain.as_bytes(), &keys("admin")).unwrap();
    assert_eq!(
        one(&mut admin, &frame("message", "", Value::Object(data))),
        ClientEvent::WebAdminCopy {
            to: "bob".into(),
            text: "hi bob".into(),
            verified: true
        }
    );
}

#[test]
fn parses_every_server_frame() {
    let group = GroupKey::generate();
    let mut s = ClientSession::new("carol", keys("alice"));
    assert!(!s.joined());
    let [config, list] = join_frames("carol2", "alice", &group);
    assert_eq!(
        one(&mut s, &config),
        ClientEvent::Config {
            name: "carol2".into(),
            is_admin: false,
            disable_all: false,
            key_id: keys("alice").public().key_id().into(),
        }
    );
    assert_eq!(s.name(), "carol2", "the name as registered");
    assert!(s.joined());
    assert_eq!(s.key_id(), Some(keys("alice").public().key_id()));
    match one(&mut s, &list) {
        ClientEvent::UsersList(users) => {
            let names: Vec<_> = users.iter().map(|u| u.name.as_str()).collect();
            assert_eq!(names, ["ADMIN", "alice", "bob"]);
            assert!(users.iter().all(User::hash_matches_key));
            assert_eq!(users[0].hash, keys("admin").public().key_id());
        }
        other => panic!("{other:?}"),
    }

    let bob = keys("bob").public().clone();
    let join = frame(
        "signal",
        "dave",
        json!({"code": "chat-join", "publickey": {"hash": bob.key_id(), "text": bob.spki_b64()}}),
    );
    match one(&mut s, &join) {
        ClientEvent::Joined(user) => {
            assert_eq!(user.name, "dave");
            assert!(user.hash_matches_key());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.users().len(), 4);
    assert_eq!(
        one(
            &mut s,
            &frame("signal", "dave", json!({"code": "chat-left"}))
        ),
        ClientEvent::Left {
            name: "dave".into()
        }
    );
    assert!(s.user("dave").is_none());
    assert_eq!(
        one(
            &mut s,
            &frame("signal", "", json!({"code": "chat-invaliduser"}))
        ),
        ClientEvent::InvalidUser
    );
    assert_eq!(
        one(
            &mut s,
            &frame(
                "signal",
                "",
                json!({"code": "notice", "notice": "Your Public Key is not allowed to connect"})
            )
        ),
        ClientEvent::Notice("Your Public Key is not allowed to connect".into())
    );
    assert_eq!(
        one(
            &mut s,
            &frame("signal", "", json!({"code": "chat-ack", "id": "m17"}))
        ),
        ClientEvent::Ack { id: "m17".into() }
    );
    assert_eq!(
        one(
            &mut s,
            &frame(
                "signal",
                "",
                json!({"code": "chat-undelivered", "id": "m17", "to": "bob", "reason": "bob is not connected"})
            )
        ),
        ClientEvent::Undelivered {
            id: "m17".into(),
            to: Some("bob".into()),
            reason: "bob is not connected".into(),
            why: None,
            epoch: None,
        }
    );
    // The users list is a JSON *string*; an array is not the protocol.
    let array = frame(
        "signal",
        "",
        json!({"code": "chat-userslist", "userslist": [entry("ADMIN", "admin")]}),
    );
    assert!(matches!(one(&mut s, &array), ClientEvent::Ignored { .. }));
    assert_eq!(s.users().len(), 3, "unchanged by an ignored frame");
}

#[test]
fn builders() {
    let group = GroupKey::generate();
    let mut alice = session("alice", &group);
    let mut fresh = ClientSession::new("alice", keys("alice"));
    let join: Value = serde_json::from_str(&fresh.join_frame()).unwrap();
    assert_eq!(
        join,
        json!({"cmd": "signal", "user": "alice",
               "data": {"code": "chat-join", "publickey": keys("alice").public().spki_b64(),
                        "prove": true}})
    );
    fresh.set_proves(false);
    let legacy: Value = serde_json::from_str(&fresh.join_frame()).unwrap();
    assert_eq!(
        legacy,
        json!({"cmd": "signal", "user": "alice",
               "data": {"code": "chat-join", "publickey": keys("alice").public().spki_b64()}}),
        "as a 0.9 client: no prove"
    );
    assert_eq!(
        plaintext("a\"b", "all", "x"),
        r#"{"from":"a\"b","to":"all","message":"x"}"#
    );
    assert_eq!(
        alice.message_to("zed", "hi"),
        Err(ClientError::UnknownRecipient("zed".into()))
    );
    assert_eq!(
        alice.message_to("bob", &"x".repeat(500)),
        Err(ClientError::TooLong { len: 540, max: 446 })
    );
    assert_eq!(
        (alice.next_id(), alice.next_id()),
        ("m1".into(), "m2".into())
    );
    let raw = alice.raw_frame("message", json!([1, 2]));
    assert_eq!(raw, r#"{"cmd":"message","data":[1,2],"user":"alice"}"#);
}

#[test]
fn malformed_frames_never_panic() {
    let group = GroupKey::generate();
    let mut s = session("bob", &group);
    let mut cases: Vec<String> = [
        "", "null", "[]", "[1]", "1", "\"x\"", "{", "{}", "{\"cmd\":1}",
        r#"{"cmd":"config","user":"","data":null}"#,
        r#"{"cmd":"config","user":"","data":{}}"#,
        r#"{"cmd":"config","user":"","data":{"user":"bob","is-admin":"no","disable-all":false,"keyid":"","aeskey":""}}"#,
        r#"{"cmd":"config","user":"","data":{"user":"bob","is-admin":false,"disable-all":false,"keyid":"","aeskey":"AAAA"}}"#,
        r#"{"cmd":"signal","user":"","data":{"code":"chat-userslist","userslist":"[{\"name\":1}]"}}"#,
        r#"{"cmd":"signal","user":"","data":{"code":"chat-userslist","userslist":"[{\"name\":\"x\",\"publickey\":\"abc\"}]"}}"#,
        r#"{"cmd":"signal","user":"","data":{"code":"chat-userslist","userslist":"{"}}"#,
        r#"{"cmd":"signal","user":"x","data":{"code":"chat-join","publickey":{"hash":"h","text":"not a key"}}}"#,
        r#"{"cmd":"signal","user":"x","data":{"code":"chat-join","publickey":"text"}}"#,
        r#"{"cmd":"signal","user":null,"data":{"code":"chat-left"}}"#,
        r#"{"cmd":"signal","user":"","data":{"code":"notice"}}"#,
        r#"{"cmd":"signal","user":"","data":{"code":"chat-ack","id":7}}"#,
        r#"{"cmd":"signal","user":"","data":{"code":7}}"#,
        r#"{"cmd":"message","user":"","data":{"algo":"des"}}"#,
        r#"{"cmd":"message","user":"","data":{"algo":"aes","iv":"!","ciphertext":"","signature":""}}"#,
        r#"{"cmd":"message","user":"","data":{"algo":"aes","iv":"AAAA","ciphertext":"AAAA","signature":"AAAA"}}"#,
        r#"{"cmd":"message","user":"","data":{"algo":"rsa","ciphertext":"AAAA","signature":"AAAA"}}"#,
        r#"{"cmd":"message","user":"","data":{"algo":"rsa","ciphertext":"AAAA","signature":"AAAA","to":5}}"#,
        &format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
    ]
    .iter()
    .map(|c| c.to_string())
    .collect();
    // Every truncation and some corruptions of real frames.
    let good = relay(&s.message_to_all("a message to mangle").unwrap().frame);
    let [config, list] = join_frames("bob", "bob", &group);
    for f in [&good, &config, &list] {
        for cut in (0..f.len()).filter(|&i| f.is_char_boundary(i)) {
            cases.push(f[..cut].to_owned());
        }
    }
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..500 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut bytes = good.clone().into_bytes();
        let at = (seed as usize) % bytes.len();
        bytes[at] = b"\"{}[]:,0aA/+=\\ "[(seed >> 32) as usize % 15];
        cases.push(String::from_utf8_lossy(&bytes).into_owned());
    }
    for case in &cases {
        let events = s.handle(case);
        assert_eq!(events.len(), 1);
        if case.len() < good.len() / 2 {
            assert!(
                !matches!(events[0], ClientEvent::Message { .. }),
                "{case}: {events:?}"
            );
        }
    }
    // Still a working session.
    assert!(s.joined());
}

#[test]
fn a_challenge_is_answered_with_a_signature_over_host_and_nonce() {
    let mut s = ClientSession::new("alice", keys("alice"));
    let challenge = frame(
        "signal",
        "",
        json!({"code": "chat-challenge", "nonce": "bm9uY2U="}),
    );
    assert_eq!(
        one(&mut s, &challenge),
        ClientEvent::Challenge {
            nonce: "bm9uY2U=".into()
        }
    );
    let proof: Value = serde_json::from_str(&s.proof_frame("chat.lan:8080", "bm9uY2U=")).unwrap();
    assert_eq!(proof["data"]["code"], "chat-proof");
    let signature = b64_decode(proof["data"]["signature"].as_str().unwrap()).unwrap();
    let key = keys("alice");
    let signed = dyspatcher_crypto::join_proof_message("chat.lan:8080", "bm9uY2U=");
    assert_eq!(
        signed,
        b"dyspatcher join proof v1\nchat.lan:8080\nbm9uY2U=".to_vec()
    );
    assert!(key.public().verify(&signed, &signature));
    let elsewhere = dyspatcher_crypto::join_proof_message("evil.example", "bm9uY2U=");
    assert!(!key.public().verify(&elsewhere, &signature));
}
