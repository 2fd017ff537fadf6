//! Version 2 in the chat state machine, without a socket: version-2 clients are played
//! here with the real cryptography (member key, group key, sealed envelopes), 0.9 ones
//! by the protocol client (`dyspatcher-client`). Every frame each connection receives is
//! kept, as JSON, so the tests assert on what a client would see.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::envelope::Envelope;
use super::*;
use crate::crypto::{
    PublicIdentity, SecretKey, b64_decode, b64_encode, envelope_signed_bytes, group_key_aad,
    join_proof_message, open_payload, seal_payload,
};
use dyspatcher_client::{ClientEvent, ClientSession};

const HOST: &str = "chat.test:8080";
const NOW_MS: u64 = 1_764_633_600_000;

fn key(name: &str) -> Arc<KeyPair> {
    let path = format!(
        "{}/tests/vectors/{name}.pkcs8.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    Arc::new(KeyPair::from_pem(&std::fs::read_to_string(path).unwrap()).unwrap())
}

/// More keys than the vectors hold, made once (2048 bits: quick).
fn extra_key(n: usize) -> Arc<KeyPair> {
    static KEYS: OnceLock<Vec<Arc<KeyPair>>> = OnceLock::new();
    KEYS.get_or_init(|| {
        (0..3)
            .map(|_| Arc::new(KeyPair::generate(2048).unwrap()))
            .collect()
    })[n]
        .clone()
}

/// A version-2 client, as small as the tests need.
struct V2Client {
    name: String,
    keys: Arc<KeyPair>,
    member_key: Option<SecretKey>,
    /// Group keys by epoch, as received.
    groups: HashMap<u64, SecretKey>,
    sent: u64,
}

enum Client {
    V2(Box<V2Client>),
    Old(Box<ClientSession>),
}

struct H {
    chat: Chat,
    now: Instant,
    admin: Arc<KeyPair>,
    clients: HashMap<ConnId, Client>,
    /// Every frame each connection received, parsed.
    frames: HashMap<ConnId, Vec<Value>>,
    /// What the 0.9 clients made of theirs.
    events: HashMap<ConnId, Vec<ClientEvent>>,
    /// Every `Send` output: its recipients and text.
    sends: Vec<(Vec<ConnId>, FrameText)>,
    closed: HashSet<ConnId>,
    console: Vec<String>,
}

fn settings() -> Settings {
    Settings {
        admin_name: "ADMIN".into(),
        disable_all: false,
        only_admin: false,
        welcome: None,
        allow_unproven_keys: false,
        allow_unproven_admin: false,
    }
}

impl H {
    fn new() -> Self {
        Self::with(settings())
    }

    fn with(settings: Settings) -> Self {
        Self::with_limits(settings, Limits::default())
    }

    fn with_limits(settings: Settings, limits: Limits) -> Self {
        let admin = key("admin");
        let now = Instant::now();
        let mut chat = Chat::new(
            settings,
            limits,
            admin.clone(),
            GroupKey::generate(),
            [9; 32],
            now,
        );
        chat.set_wall_clock(NOW_MS);
        Self {
            chat,
            now,
            admin,
            clients: HashMap::new(),
            frames: HashMap::new(),
            events: HashMap::new(),
            sends: Vec::new(),
            closed: HashSet::new(),
            console: Vec::new(),
        }
    }

    fn pump(&mut self) {
        while let Some(out) = self.chat.poll_output() {
            match out {
                Output::Send { to, frame } => {
                    let text = frame.to_text();
                    for &conn in &to {
                        assert!(
                            !self.closed.contains(&conn),
                            "frame after close: {text:.80}"
                        );
                        self.deliver(conn, &text);
                    }
                    self.sends.push((to.to_vec(), frame));
                }
                Output::Close { conn, .. } => {
                    self.closed.insert(conn);
                }
                Output::Console(line) => self.console.push(line.text()),
                Output::PrivateKey { job, op } => {
                    let result = op.run(&self.admin);
                    self.chat.private_key_done(job, result, self.now);
                }
                Output::RefreshAdmission => self.chat.admission_refreshed(None),
                Output::Quit | Output::Resume { .. } => {}
            }
        }
    }

    /// A frame reaches a client, which answers a challenge and takes its keys.
    fn deliver(&mut self, conn: ConnId, text: &str) {
        let value: Value = serde_json::from_str(text).expect("every frame is JSON");
        self.frames.entry(conn).or_default().push(value.clone());
        let data = &value["data"];
        let proof = match self.clients.get_mut(&conn).expect("a known client") {
            Client::Old(session) => {
                let mut proofs = None;
                for event in session.handle(text) {
                    if let ClientEvent::Challenge { nonce } = &event {
                        proofs = Some(session.proof_frame(HOST, nonce));
                    }
                    self.events.entry(conn).or_default().push(event);
                }
                proofs
            }
            Client::V2(client) => match (value["cmd"].as_str(), data["code"].as_str()) {
                (Some("signal"), Some("chat-challenge")) => {
                    let nonce = data["nonce"].as_str().unwrap();
                    let signature = client.keys.sign(&join_proof_message(HOST, nonce));
                    Some(
                        json!({"cmd":"signal","user":client.name,"data":{"code":"chat-proof","signature":b64_encode(&signature)}})
                            .to_string(),
                    )
                }
                (Some("config"), _) => {
                    assert!(data.get("aeskey").is_none(), "no 0.9 key for version 2");
                    client.name = data["user"].as_str().unwrap().to_string();
                    let wrapped = b64_decode(data["memberkey"].as_str().unwrap()).unwrap();
                    let raw = client.keys.decrypt(&wrapped).expect("wrapped for my key");
                    client.member_key = SecretKey::from_slice(&raw);
                    None
                }
                (Some("signal"), Some("chat-groupkey")) => {
                    let epoch = data["epoch"].as_u64().unwrap();
                    let iv = b64_decode(data["iv"].as_str().unwrap()).unwrap();
                    let wrapped = b64_decode(data["key"].as_str().unwrap()).unwrap();
                    let aad = group_key_aad(epoch, &client.name);
                    let raw = client
                        .member_key
                        .as_ref()
                        .unwrap()
                        .decrypt(&iv, &wrapped, &aad);
                    let group = SecretKey::from_slice(&raw.expect("my group key")).unwrap();
                    client.groups.insert(epoch, group);
                    None
                }
                _ => None,
            },
        };
        if let Some(proof) = proof {
            self.chat.received(conn, &proof, self.now);
        }
    }

    fn open(&mut self, conn: ConnId, client: Client) -> String {
        let join = match &client {
            Client::V2(c) => json!({"cmd":"signal","user":c.name,"data":{"code":"chat-join",
                "publickey":c.keys.public().spki_b64(),"prove":true,"v":2}})
            .to_string(),
            Client::Old(session) => session.join_frame(),
        };
        self.clients.insert(conn, client);
        self.chat.opened(conn, Some(HOST), self.now);
        join
    }

    /// Opens and sends the join, without draining: joins of one turn.
    fn start_v2(&mut self, conn: ConnId, name: &str, keys: Arc<KeyPair>) {
        let client = Client::V2(Box::new(V2Client {
            name: name.to_string(),
            keys,
            member_key: None,
            groups: HashMap::new(),
            sent: 0,
        }));
        let join = self.open(conn, client);
        self.chat.received(conn, &join, self.now);
    }

    fn join_v2(&mut self, conn: ConnId, name: &str, keys: Arc<KeyPair>) {
        self.start_v2(conn, name, keys);
        self.pump();
    }

    fn join_old(&mut self, conn: ConnId, name: &str, keys: Arc<KeyPair>) {
        let join = self.open(conn, Client::Old(Box::new(ClientSession::new(name, keys))));
        self.chat.received(conn, &join, self.now);
        self.pump();
    }

    fn send(&mut self, conn: ConnId, frame: &str) {
        self.chat.received(conn, frame, self.now);
        self.pump();
    }

    fn v2(&mut self, conn: ConnId) -> &mut V2Client {
        match self.clients.get_mut(&conn) {
            Some(Client::V2(c)) => c,
            _ => panic!("not a version-2 client"),
        }
    }

    fn take(&mut self, conn: ConnId) -> Vec<Value> {
        self.frames.remove(&conn).unwrap_or_default()
    }

    /// The `cmd`, or the signal's `code`, of each frame `conn` received since last time.
    fn codes(&mut self, conn: ConnId) -> Vec<String> {
        self.take(conn).iter().map(code).collect()
    }

    /// A message to all from a version-2 client, of `epoch`, with `envelope` changed
    /// by `tamper` before it is signed.
    fn message_to_all(
        &mut self,
        conn: ConnId,
        text: &str,
        epoch: u64,
        tamper: impl Fn(&mut Envelope),
    ) -> String {
        let c = self.v2(conn);
        c.sent += 1;
        let id = format!("m{}", c.sent);
        let mut envelope = Envelope::text(&c.name, "all", id.clone(), NOW_MS, epoch, text);
        tamper(&mut envelope);
        let body = envelope.to_bytes();
        let signature = c.keys.sign(&envelope_signed_bytes(&body));
        let sealed = seal_payload(&signature, &body).unwrap();
        let group = c
            .groups
            .get(&epoch)
            .cloned()
            .unwrap_or_else(SecretKey::generate);
        let (iv, ciphertext) = group.encrypt(&sealed, b"");
        json!({"cmd":"message","user":c.name,"data":{"v":2,"to":"all","id":id,"epoch":epoch,
            "iv":b64_encode(&iv),"ciphertext":b64_encode(&ciphertext)}})
        .to_string()
    }

    /// A 1:1 message from a version-2 client to `to`, wrapped for `recipient`.
    fn direct(&mut self, conn: ConnId, to: &str, recipient: &PublicIdentity, text: &str) -> String {
        self.direct_as(conn, to, to, recipient, text)
    }

    /// The same, its envelope addressed to `envelope_to`.
    fn direct_as(
        &mut self,
        conn: ConnId,
        to: &str,
        envelope_to: &str,
        recipient: &PublicIdentity,
        text: &str,
    ) -> String {
        let c = self.v2(conn);
        c.sent += 1;
        let id = format!("m{}", c.sent);
        let envelope = Envelope::text(&c.name, envelope_to, id.clone(), NOW_MS, 1, text);
        let body = envelope.to_bytes();
        let signature = c.keys.sign(&envelope_signed_bytes(&body));
        let sealed = seal_payload(&signature, &body).unwrap();
        let key = SecretKey::generate();
        let (iv, ciphertext) = key.encrypt(&sealed, b"");
        let wrapped = recipient.encrypt(key.as_bytes()).unwrap();
        json!({"cmd":"message","user":c.name,"data":{"v":2,"to":to,"id":id,
            "wrapped":b64_encode(&wrapped),"iv":b64_encode(&iv),"ciphertext":b64_encode(&ciphertext)}})
        .to_string()
    }

    /// Opens a version-2 message frame `conn` received: the sealed payload.
    fn open_message(&mut self, conn: ConnId, frame: &Value) -> Vec<u8> {
        let data = &frame["data"];
        assert_eq!(data["v"], 2, "{frame}");
        let iv = b64_decode(data["iv"].as_str().unwrap()).unwrap();
        let ciphertext = b64_decode(data["ciphertext"].as_str().unwrap()).unwrap();
        let c = self.v2(conn);
        let key = match data["wrapped"].as_str() {
            Some(wrapped) => {
                let raw = c.keys.decrypt(&b64_decode(wrapped).unwrap()).unwrap();
                SecretKey::from_slice(&raw).unwrap()
            }
            None => c.groups[&data["epoch"].as_u64().unwrap()].clone(),
        };
        key.decrypt(&iv, &ciphertext, b"").expect("decrypts")
    }

    /// The envelope of a version-2 message `conn` received, its signature checked
    /// with `signer`.
    fn envelope(&mut self, conn: ConnId, frame: &Value, signer: &PublicIdentity) -> Envelope {
        let payload = self.open_message(conn, frame);
        let (signature, body) = open_payload(&payload).unwrap();
        assert!(signer.verify(&envelope_signed_bytes(body), signature));
        serde_json::from_slice(body).unwrap()
    }

    /// Sends of frames whose code is `code`.
    fn sends_of(&self, code_wanted: &str) -> Vec<&Vec<ConnId>> {
        self.sends
            .iter()
            .filter(|(_, f)| code(&serde_json::from_str(&f.to_text()).unwrap()) == code_wanted)
            .map(|(to, _)| to)
            .collect()
    }
}

fn code(frame: &Value) -> String {
    frame["data"]["code"]
        .as_str()
        .or(frame["cmd"].as_str())
        .unwrap_or("?")
        .to_string()
}

fn message_frames(frames: &[Value]) -> Vec<&Value> {
    frames.iter().filter(|f| f["cmd"] == "message").collect()
}

#[test]
fn a_version_2_join_gets_config_key_then_users_and_0_9_clients_no_version_2_frame() {
    let mut h = H::new();
    h.join_old(1, "carol", key("bob"));
    h.join_v2(2, "alice", key("alice"));
    let frames = h.take(2);
    let codes: Vec<String> = frames.iter().map(code).collect();
    assert_eq!(
        codes,
        ["chat-challenge", "config", "chat-groupkey", "chat-users"]
    );
    let config = &frames[1]["data"];
    assert_eq!(config["v"], 2);
    assert_eq!(config["admin"], "ADMIN");
    assert_eq!(config["adminkey"]["hash"], h.admin.public().key_id());
    assert_eq!(config["max-text"], 65536);
    assert_eq!(frames[2]["data"]["epoch"], 1);
    assert_eq!(
        frames[3]["data"]["users"],
        json!([
            ["ADMIN", h.admin.public().key_id()],
            ["carol", key("bob").public().key_id(), "0.9"],
            ["alice", key("alice").public().key_id()]
        ])
    );
    assert!(h.v2(2).groups.contains_key(&1));
    // The 0.9 client hears of alice as in 0.9, with her key, and nothing else.
    let old = h.take(1);
    let joined: Vec<&Value> = old.iter().filter(|f| code(f) == "chat-join").collect();
    assert_eq!(joined.len(), 1);
    assert_eq!(
        joined[0]["data"]["publickey"]["text"],
        key("alice").public().spki_b64()
    );
    // Leaving, @all both ways, a console @all: still no version-2 frame for carol.
    let all = h.message_to_all(2, "hello", 1, |_| {});
    h.send(2, &all);
    h.console_line("@all from the console");
    h.chat.closed(2, None);
    h.pump();
    for frame in h.take(1) {
        assert!(frame["data"].get("v").is_none(), "{frame}");
        let c = code(&frame);
        assert!(
            [
                "chat-left",
                "config",
                "message",
                "chat-join",
                "chat-userslist"
            ]
            .contains(&c.as_str()),
            "{frame}"
        );
    }
}

#[test]
fn version_2_needs_a_proof() {
    let mut h = H::new();
    let keys = key("alice");
    h.clients.insert(
        1,
        Client::Old(Box::new(ClientSession::new("alice", keys.clone()))),
    );
    h.chat.opened(1, Some(HOST), h.now);
    let join = json!({"cmd":"signal","user":"alice","data":{"code":"chat-join",
        "publickey":keys.public().spki_b64(),"v":2}});
    h.send(1, &join.to_string());
    let frames = h.take(1);
    assert_eq!(frames[0]["data"]["notice"], join::V2_NEEDS_PROOF);
    assert!(h.closed.contains(&1));
}

#[test]
fn joins_of_one_turn_share_one_users_list_and_one_presence() {
    let mut h = H::new();
    h.join_v2(1, "alice", key("alice"));
    h.join_old(2, "carol", key("small2048"));
    h.take(1);
    h.sends.clear();
    h.start_v2(3, "bobby", key("bob"));
    h.start_v2(4, "dave", extra_key(0));
    h.start_v2(5, "erin", extra_key(1));
    h.pump();
    let users = h.sends_of("chat-users");
    assert_eq!(users.len(), 1, "one encoding for the turn");
    assert_eq!(users[0], &vec![3, 4, 5]);
    let presence = h.sends_of("chat-presence");
    assert_eq!(presence, [&vec![1]], "the other version-2 member only");
    let frames = h.take(1);
    assert_eq!(frames.len(), 1);
    let changes = &frames[0]["data"]["changes"];
    assert_eq!(changes.as_array().unwrap().len(), 3);
    assert_eq!(
        changes[0],
        json!(["join", "bobby", key("bob").public().key_id()])
    );
    // Each joiner is in the list it got, after the group key.
    let frames = h.take(4);
    let codes: Vec<String> = frames.iter().map(code).collect();
    assert_eq!(&codes[1..], ["config", "chat-groupkey", "chat-users"]);
    let names: Vec<&str> = frames[3]["data"]["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u[0].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ADMIN", "alice", "carol", "bobby", "dave", "erin"]);
    // The 0.9 client heard of each join its own way.
    let joins = h.take(2).iter().filter(|f| code(f) == "chat-join").count();
    assert_eq!(joins, 3);
}

#[test]
fn departures_of_one_turn_make_one_rotation_and_the_departed_get_no_key() {
    let mut h = H::new();
    h.join_v2(1, "alice", key("alice"));
    h.join_v2(2, "bobby", key("bob"));
    h.join_v2(3, "dave", extra_key(0));
    h.join_v2(4, "erin", extra_key(1));
    h.join_old(5, "carol", key("small2048"));
    for conn in 1..=5 {
        h.take(conn);
    }
    h.chat.closed(3, None);
    h.chat.closed(4, None);
    h.console_line("/kick bobby");
    // Kicked: told, closed, and never given the new key.
    assert!(h.closed.contains(&2));
    assert!(!h.codes(2).contains(&"chat-groupkey".to_string()));
    let frames = h.take(1);
    let codes: Vec<String> = frames.iter().map(code).collect();
    assert_eq!(
        codes,
        ["chat-presence", "chat-groupkey"],
        "one rotation, after the presence"
    );
    assert_eq!(
        frames[0]["data"]["changes"],
        json!([["left", "dave"], ["left", "erin"], ["left", "bobby"]])
    );
    assert_eq!(frames[1]["data"]["epoch"], 2);
    assert!(h.v2(1).groups.contains_key(&2));
    let groups = &h.v2(1).groups;
    assert_ne!(groups[&1].as_bytes(), groups[&2].as_bytes());
    // The 0.9 client got a new 0.9 key: a second config, distinct from the v2 key.
    let old = h.take(5);
    let configs: Vec<&Value> = old.iter().filter(|f| code(f) == "config").collect();
    assert_eq!(configs.len(), 1);
    let aeskey = b64_decode(configs[0]["data"]["aeskey"].as_str().unwrap()).unwrap();
    assert_ne!(&aeskey[..], &h.v2(1).groups[&2].as_bytes()[..]);
}

#[test]
fn a_message_of_an_old_epoch_is_refused_with_the_current_one() {
    let mut h = H::new();
    h.join_v2(1, "alice", key("alice"));
    h.join_v2(2, "bobby", key("bob"));
    h.join_v2(3, "dave", extra_key(0));
    h.chat.closed(3, None);
    h.pump();
    h.take(1);
    h.take(2);
    let stale = h.message_to_all(1, "late", 1, |_| {});
    h.send(1, &stale);
    let frames = h.take(1);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["data"]["code"], "chat-undelivered");
    assert_eq!(frames[0]["data"]["why"], "stale-epoch");
    assert_eq!(frames[0]["data"]["epoch"], 2);
    assert!(h.take(2).is_empty());
    let text = "Ünïcødé 世界 👩🏽‍💻 مرحبا";
    let fresh = h.message_to_all(1, text, 2, |_| {});
    h.send(1, &fresh);
    assert_eq!(h.codes(1), ["chat-ack"], "not relayed back to the sender");
    let frames = h.take(2);
    assert_eq!(frames[0]["data"]["from"], "alice");
    let envelope = h.envelope(2, &frames[0], key("alice").public());
    assert_eq!(envelope.text.as_deref(), Some(text));
    assert!(h.console.iter().any(|l| l.contains(text)));
    // Over max-text: refused, even though the frame would fit.
    let long = h.message_to_all(1, &"a".repeat(65_537), 2, |_| {});
    h.send(1, &long);
    assert_eq!(h.take(1)[0]["data"]["why"], "malformed");
    assert!(h.take(2).is_empty());
}

#[test]
fn envelopes_not_the_senders_are_refused() {
    let mut h = H::new();
    h.join_v2(1, "alice", key("alice"));
    h.join_v2(2, "bobby", key("bob"));
    h.take(1);
    h.take(2);
    for tamper in [
        (|e: &mut Envelope| e.from = "bobby".into()) as fn(&mut Envelope),
        |e| e.to = "bobby".into(),
        |e| e.epoch = 7,
    ] {
        let frame = h.message_to_all(1, "x", 1, tamper);
        h.send(1, &frame);
        let frames = h.take(1);
        assert_eq!(frames[0]["data"]["why"], "not-yours", "{frames:?}");
    }
    // A broken signature: bob's key over alice's envelope.
    let mut frame: Value =
        serde_json::from_str(&h.message_to_all(2, "x", 1, |e| e.from = "alice".into())).unwrap();
    frame["user"] = json!("alice");
    h.send(1, &frame.to_string());
    assert_eq!(h.take(1)[0]["data"]["why"], "not-yours");
    assert!(h.take(2).is_empty());
}

#[test]
fn one_to_one_routing() {
    let mut h = H::new();
    h.join_v2(1, "alice", key("alice"));
    h.join_v2(2, "bobby", key("bob"));
    h.join_old(3, "carol", key("small2048"));
    for c in 1..=3 {
        h.take(c);
    }
    // To a version-2 user: that user alone, `from` added, byte-exact text.
    let text = "ü".repeat(20_000);
    let frame = h.direct(1, "bobby", key("bob").public(), &text);
    h.send(1, &frame);
    assert_eq!(h.codes(1), ["chat-ack"]);
    let frames = h.take(2);
    assert_eq!(frames[0]["data"]["from"], "alice");
    let envelope = h.envelope(2, &frames[0], key("alice").public());
    assert_eq!(envelope.text.as_deref(), Some(text.as_str()));
    assert!(h.take(3).is_empty());
    // To a 0.9 user: refused, old-client.
    let frame = h.direct(1, "carol", key("small2048").public(), "hi");
    h.send(1, &frame);
    assert_eq!(h.take(1)[0]["data"]["why"], "old-client");
    // Wrapped for the wrong size of key, to someone gone.
    let frame = h.direct(1, "bobby", key("small2048").public(), "hi");
    h.send(1, &frame);
    assert_eq!(h.take(1)[0]["data"]["why"], "bad-size");
    let frame = h.direct(1, "zed", key("bob").public(), "hi");
    h.send(1, &frame);
    assert_eq!(h.take(1)[0]["data"]["why"], "not-connected");
    assert!(h.take(2).is_empty() && h.take(3).is_empty());
    // To the administrator: decrypted for the console, acknowledged.
    let admin = h.admin.public().clone();
    let frame = h.direct(1, "ADMIN", &admin, "for the admin");
    h.send(1, &frame);
    assert_eq!(h.codes(1), ["chat-ack"]);
    assert!(
        h.console
            .iter()
            .any(|l| l.contains("alice → ADMIN: for the admin"))
    );
    // An envelope to someone else, wrapped for the administrator: refused.
    let frame = h.direct_as(1, "ADMIN", "bobby", &admin, "not for you");
    h.send(1, &frame);
    assert_eq!(h.take(1)[0]["data"]["why"], "not-yours");
    assert!(!h.console.iter().any(|l| l.contains("not for you")));
    // 0.9 frames from a version-2 client: reports carry a `why` too; no 0.9 `aes`.
    let rsa = json!({"cmd":"message","user":"alice","data":{"algo":"rsa","ciphertext":"AAAA",
        "signature":"AAAA","to":"zed","id":"r1"}});
    h.send(1, &rsa.to_string());
    let report = h.take(1);
    assert_eq!(
        (
            report[0]["data"]["why"].as_str(),
            report[0]["data"]["id"].as_str()
        ),
        (Some("not-connected"), Some("r1"))
    );
    let aes = json!({"cmd":"message","user":"alice","data":{"algo":"aes","iv":"AAAA","ciphertext":"AAAA",
        "signature":"AAAA","id":"a1"}});
    h.send(1, &aes.to_string());
    assert_eq!(h.take(1)[0]["data"]["why"], "malformed");
    assert!(h.take(2).is_empty() && h.take(3).is_empty());
}

#[test]
fn mixed_rooms_messages_to_all_cross_versions() {
    let mut h = H::new();
    h.join_v2(1, "alice", key("alice"));
    h.join_old(2, "carol", key("bob"));
    h.take(1);
    h.take(2);
    h.events.clear();
    // 0.9 → all: the 0.9 frame to 0.9 clients, a legacy frame to version-2 ones.
    let Client::Old(carol) = h.clients.get_mut(&2).unwrap() else {
        panic!()
    };
    let frame = carol.legacy_message_to_all("from carol").unwrap();
    h.send(2, &frame);
    let frames = h.take(1);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["data"]["legacy"], true);
    assert_eq!(frames[0]["data"]["from"], "carol");
    let payload = h.open_message(1, &frames[0]);
    let (signature, plain) = open_payload(&payload).unwrap();
    assert!(key("bob").public().verify(plain, signature));
    let plain: Value = serde_json::from_slice(plain).unwrap();
    assert_eq!(plain["message"], "from carol");
    assert!(
        h.events
            .remove(&2)
            .unwrap()
            .iter()
            .any(|e| matches!(e, ClientEvent::Message { text, .. } if text == "from carol"))
    );
    // Version 2's legacy copy → the 0.9 clients, as a 0.9 aes frame they read.
    let plain = frames::Plaintext::new("alice", "all", "from alice").to_bytes();
    let signature = key("alice").sign(&plain);
    let sealed = seal_payload(&signature, &plain).unwrap();
    let (iv, ciphertext) = h.v2(1).groups[&1].encrypt(&sealed, b"");
    let copy = json!({"cmd":"message","user":"alice","data":{"v":2,"to":"all","legacy":true,"id":"L1",
        "epoch":1,"iv":b64_encode(&iv),"ciphertext":b64_encode(&ciphertext)}});
    h.send(1, &copy.to_string());
    assert_eq!(h.codes(1), ["chat-ack"]);
    let events = h.events.remove(&2).unwrap();
    assert!(
        events.iter().any(|e| matches!(e, ClientEvent::Message { from, text, verified: true, .. } if from == "alice" && text == "from alice")),
        "{events:?}"
    );
    assert!(
        !h.console.iter().any(|l| l.contains("from alice")),
        "a copy is not shown twice"
    );
}

#[test]
fn the_console_writes_version_2_to_version_2_members() {
    let mut h = H::with(Settings {
        welcome: Some("welcome here".into()),
        ..settings()
    });
    h.join_v2(1, "alice", key("alice"));
    let frames = h.take(1);
    let codes: Vec<String> = frames.iter().map(code).collect();
    assert_eq!(
        &codes[1..],
        ["config", "chat-groupkey", "chat-users", "message"]
    );
    let admin = h.admin.public().clone();
    let welcome = h.envelope(1, &frames[4], &admin);
    assert_eq!(
        (welcome.from.as_str(), welcome.to.as_str()),
        ("ADMIN", "alice")
    );
    assert_eq!(welcome.text.as_deref(), Some("welcome here"));
    assert_eq!(welcome.time, NOW_MS);
    h.join_old(2, "carol", key("bob"));
    h.take(1);
    h.take(2);
    h.events.clear();
    h.console_line("@alice just for you");
    let frames = h.take(1);
    let envelope = h.envelope(1, &frames[0], &admin);
    assert_eq!(envelope.text.as_deref(), Some("just for you"));
    assert_ne!(envelope.id, welcome.id);
    h.console_line("@all hello room");
    let frames = h.take(1);
    assert_eq!(message_frames(&frames).len(), 1);
    let envelope = h.envelope(1, &frames[0], &admin);
    assert_eq!((envelope.to.as_str(), envelope.epoch), ("all", 1));
    assert_eq!(envelope.text.as_deref(), Some("hello room"));
    let events = h.events.remove(&2).unwrap();
    assert!(events.iter().any(
        |e| matches!(e, ClientEvent::Message { text, verified: true, .. } if text == "hello room")
    ));
}

#[test]
fn a_version_2_web_administrator_gets_version_2_console_copies() {
    let mut h = H::new();
    h.join_v2(1, "alice", key("alice"));
    h.join_v2(9, "whoever", key("admin"));
    h.take(1);
    let frames = h.take(9);
    assert_eq!(frames[1]["data"]["is-admin"], true);
    h.console_line("@alice hi alice");
    let copy = h.take(9);
    assert_eq!(copy.len(), 1);
    let admin = h.admin.public().clone();
    let envelope = h.envelope(9, &copy[0], &admin);
    assert_eq!(
        (envelope.from.as_str(), envelope.to.as_str()),
        ("ADMIN", "alice")
    );
    let original = h.take(1);
    assert_eq!(h.envelope(1, &original[0], &admin).id, envelope.id);
    // The web administrator's copy for the console of its message to alice.
    let frame = h.direct_as(9, "ADMIN", "alice", &admin, "typed on the web");
    h.send(9, &frame);
    assert_eq!(h.codes(9), ["chat-ack"]);
    assert!(
        h.console
            .iter()
            .any(|l| l.contains("ADMIN (web) → alice: typed on the web"))
    );
}

#[test]
fn keys_are_fetched_lazily_one_shared_frame_per_key() {
    let mut h = H::new();
    h.join_v2(1, "alice", key("alice"));
    h.join_v2(2, "bobby", key("bob"));
    h.join_old(3, "carol", key("small2048"));
    for c in 1..=3 {
        h.take(c);
    }
    h.sends.clear();
    let carol = key("small2048").public().key_id().to_string();
    let unknown = "0".repeat(64);
    let ask = |ids: Vec<String>| {
        json!({"cmd":"signal","user":"x","data":{"code":"chat-getkeys","keyids":ids}}).to_string()
    };
    h.chat.received(
        1,
        &ask(vec![carol.clone(), unknown.clone(), "junk".into()]),
        h.now,
    );
    h.chat.received(2, &ask(vec![carol.clone()]), h.now);
    h.chat.received(3, &ask(vec![carol.clone()]), h.now);
    h.pump();
    let mut sends = h.sends_of("chat-key");
    sends.sort();
    assert_eq!(
        sends,
        [&vec![1], &vec![1, 2]],
        "carol's once for both; the unknown one"
    );
    let frames = h.take(1);
    let carols = frames
        .iter()
        .find(|f| f["data"]["keyid"] == carol.as_str())
        .unwrap();
    assert_eq!(carols["data"]["name"], "carol");
    assert_eq!(
        carols["data"]["publickey"],
        key("small2048").public().spki_b64()
    );
    assert!(frames.contains(
        &json!({"cmd":"signal","user":"","data":{"code":"chat-key","keyid":unknown,"missing":true}})
    ));
    assert!(h.take(3).is_empty(), "a 0.9 client is not answered");
    // Asked again later: the same encoded frame.
    let first = h
        .sends
        .iter()
        .find(|(to, _)| to == &vec![1, 2])
        .unwrap()
        .1
        .clone();
    h.sends.clear();
    h.send(2, &ask(vec![carol.clone()]));
    assert!(h.sends[0].1.shares_with(&first));
    // At most 64 per request.
    h.sends.clear();
    let many: Vec<String> = (0..100).map(|i| format!("{i:064x}")).collect();
    h.send(1, &ask(many));
    assert_eq!(h.sends_of("chat-key").len(), 64);
}

#[test]
fn the_users_list_of_a_big_version_2_room_keeps_no_0_9_pieces() {
    let mut h = H::new();
    h.join_v2(1, "alice", key("alice"));
    h.join_v2(2, "bobby", key("bob"));
    let made = |h: &H| h.chat.users.users().filter(|(_, m)| m.has_piece()).count();
    assert_eq!(made(&h), 0);
    h.join_old(3, "carol", key("small2048"));
    assert_eq!(made(&h), 3, "made when a 0.9 joiner needed the list");
}

impl H {
    fn console_line(&mut self, line: &str) {
        match crate::console::Dispatcher::default().dispatch(line) {
            crate::console::Dispatch::Chat(command) => self.chat.command(command, self.now),
            _ => panic!("not a chat command"),
        }
        self.pump();
    }
}

/// The server's CPU for one rotation (and the presence that comes with it) at 1,000
/// and 10,000 version-2 members: measured, not asserted. Members are put in directly
/// (one key for all: the rotation never looks at it).
/// `cargo test --lib rotation_cost -- --ignored --nocapture`
#[test]
#[ignore]
fn rotation_cost() {
    for count in [1_000, 10_000] {
        let mut h = H::new();
        let identity = key("alice").public().clone();
        let limits = Limits::default();
        for conn in 0..count {
            let budgets = super::budgets::Budgets::fresh(&limits, h.now);
            let name = format!("user{conn}");
            let member_key = Some(crate::crypto::random_bytes::<32>());
            h.chat
                .users
                .join(conn, name, identity.clone(), false, budgets, member_key);
        }
        let mut best = std::time::Duration::MAX;
        for round in 0..5 {
            h.chat.turn.left(&format!("gone{round}"));
            let started = Instant::now();
            let mut frames = 0;
            while let Some(out) = h.chat.poll_output() {
                if matches!(out, Output::Send { .. }) {
                    frames += 1;
                }
            }
            best = best.min(started.elapsed());
            assert_eq!(frames, count + 1, "a key each, and one presence");
        }
        println!("rotation at {count} version-2 members: {best:?} (best of 5)");
    }
}

/// The parts of a rotation: a wrap, an IV (measured, not asserted).
#[test]
#[ignore]
fn rotation_cost_parts() {
    let key = SecretKey::generate();
    let g = SecretKey::generate();
    let started = Instant::now();
    for i in 0..1000u64 {
        let aad = group_key_aad(i, "user123");
        std::hint::black_box(key.encrypt(g.as_bytes(), &aad));
    }
    println!("1000 wraps: {:?}", started.elapsed());
    let started = Instant::now();
    for _ in 0..1000u64 {
        std::hint::black_box(crate::crypto::random_bytes::<12>());
    }
    println!("1000 IVs: {:?}", started.elapsed());
}

/// What a member costs in memory, inline (its key's heap parts come on top): measured
/// for docs/ARCHITECTURE.md, `cargo test --lib member_sizes -- --ignored --nocapture`.
#[test]
#[ignore]
fn member_sizes() {
    println!(
        "SecretKey {} PublicIdentity {} Member {}",
        std::mem::size_of::<SecretKey>(),
        std::mem::size_of::<PublicIdentity>(),
        std::mem::size_of::<super::users::Member>()
    );
}

#[test]
fn a_message_to_someone_gone_a_short_while_is_held_and_delivered_on_return() {
    let mut h = H::new();
    h.join_v2(1, "alice", key("alice"));
    h.join_v2(2, "bobby", key("bob"));
    h.chat.closed(2, None);
    h.pump();
    h.take(1);
    // Its key is still given, for a message to be written.
    let ask = json!({"cmd":"signal","user":"alice","data":{"code":"chat-getkeys",
        "keyids":[key("bob").public().key_id()]}});
    h.send(1, &ask.to_string());
    let answer = h.take(1);
    assert_eq!(code(&answer[0]), "chat-key");
    assert_eq!(
        answer[0]["data"]["publickey"],
        key("bob").public().spki_b64()
    );
    let first = h.direct(1, "bobby", key("bob").public(), "first");
    let second = h.direct(1, "bobby", key("bob").public(), "second");
    h.send(1, &first);
    h.send(1, &second);
    let held = h.take(1);
    assert_eq!(held.len(), 2);
    assert_eq!(code(&held[0]), "chat-held", "{}", held[0]);
    assert_eq!(
        (&held[0]["data"]["id"], &held[0]["data"]["to"]),
        (&json!("m1"), &json!("bobby"))
    );
    assert_eq!(held[0]["data"]["until"], NOW_MS + 600_000);
    // Back with the same key, under another name: the users list, then both, in order.
    h.now += Duration::from_secs(300);
    h.join_v2(3, "bobcat", key("bob"));
    let frames = h.take(3);
    let users = frames.iter().position(|f| code(f) == "chat-users").unwrap();
    let messages: Vec<usize> = (0..frames.len())
        .filter(|&i| frames[i]["cmd"] == "message")
        .collect();
    assert_eq!(messages.len(), 2);
    assert!(messages[0] > users);
    let texts: Vec<String> = messages
        .iter()
        .map(|&i| {
            let f = frames[i].clone();
            h.envelope(3, &f, key("alice").public()).text.unwrap()
        })
        .collect();
    assert_eq!(texts, ["first", "second"]);
    let acks: Vec<Value> = h
        .take(1)
        .into_iter()
        .filter(|f| code(f) == "chat-ack")
        .collect();
    assert_eq!(acks.len(), 2);
    assert_eq!(
        (&acks[0]["data"]["id"], &acks[1]["data"]["id"]),
        (&json!("m1"), &json!("m2"))
    );
    // Given once: leaving and coming back again brings nothing more.
    h.chat.closed(3, None);
    h.pump();
    h.join_v2(4, "bobby", key("bob"));
    assert!(message_frames(&h.take(4)).is_empty());
    assert_eq!((h.chat.held.total_bytes(), h.chat.held.senders()), (0, 0));
}

#[test]
fn a_hold_expires_and_its_sender_is_told() {
    let mut h = H::new();
    h.join_v2(1, "alice", key("alice"));
    h.join_v2(2, "bobby", key("bob"));
    h.chat.closed(2, None);
    h.pump();
    let frame = h.direct(1, "bobby", key("bob").public(), "too late");
    h.send(1, &frame);
    h.take(1);
    let due = h.chat.poll_timeout().expect("the window's end");
    assert_eq!(due, h.now + Duration::from_secs(600));
    h.now = due;
    h.chat.handle_timeout(h.now);
    h.pump();
    let report = h.take(1);
    assert_eq!(report.len(), 1);
    let data = &report[0]["data"];
    assert_eq!(
        (&data["code"], &data["why"], &data["id"]),
        (
            &json!("chat-undelivered"),
            &json!("hold-expired"),
            &json!("m1")
        )
    );
    assert_eq!(
        data["reason"],
        "bobby did not come back within 10 minutes: not delivered."
    );
    assert_eq!(h.chat.held.total_bytes(), 0);
    // Past the window: as without a hold.
    let frame = h.direct(1, "bobby", key("bob").public(), "later");
    h.send(1, &frame);
    assert_eq!(h.take(1)[0]["data"]["why"], "not-connected");
    h.join_v2(3, "bobby", key("bob"));
    assert!(message_frames(&h.take(3)).is_empty());
}

#[test]
fn the_hold_is_bounded_and_can_be_off() {
    let mut h = H::new();
    h.chat.limits.held_per_user_frames = 2;
    h.join_v2(1, "alice", key("alice"));
    h.join_v2(2, "bobby", key("bob"));
    h.join_v2(3, "carla", key("small2048"));
    h.chat.closed(2, None);
    h.chat.closed(3, None);
    h.pump();
    h.take(1);
    for _ in 0..3 {
        let frame = h.direct(1, "bobby", key("bob").public(), "x");
        h.send(1, &frame);
    }
    let whys: Vec<String> = h
        .take(1)
        .iter()
        .map(|f| f["data"]["why"].as_str().unwrap_or(&code(f)).to_string())
        .collect();
    assert_eq!(whys, ["chat-held", "chat-held", "not-connected"]);
    // Wrapped for a key of another size than the one that left.
    let frame = h.direct(1, "carla", key("bob").public(), "x");
    h.send(1, &frame);
    assert_eq!(h.take(1)[0]["data"]["why"], "bad-size");
    // One sender's share: alice has no room left, for anybody.
    h.chat.limits.held_per_sender_bytes = h.chat.held.total_bytes();
    let frame = h.direct(1, "carla", key("small2048").public(), "x");
    h.send(1, &frame);
    assert_eq!(h.take(1)[0]["data"]["why"], "not-connected");
    h.chat.limits.held_per_sender_bytes = usize::MAX;
    // The total: nothing more fits.
    h.chat.limits.held_total_bytes = h.chat.held.total_bytes();
    let frame = h.direct(1, "carla", key("small2048").public(), "x");
    h.send(1, &frame);
    let report = h.take(1);
    assert_eq!(report[0]["data"]["why"], "not-connected");
    assert!(
        report[0]["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("limit")
    );
    // Departed keys: past the bound the first to leave is forgotten, its senders told.
    h.chat.limits.held_departed_keys = 2;
    h.join_v2(4, "david", extra_key(0));
    h.chat.closed(4, None);
    h.pump();
    let whys: Vec<Value> = h
        .take(1)
        .iter()
        .filter(|f| code(f) == "chat-undelivered")
        .map(|f| f["data"]["why"].clone())
        .collect();
    assert_eq!(whys, [json!("hold-expired"), json!("hold-expired")]);
    assert_eq!((h.chat.held.total_bytes(), h.chat.held.senders()), (0, 0));
    // Off: a departure is not remembered.
    h.chat.limits.hold_for = Duration::ZERO;
    h.join_v2(5, "erina", extra_key(1));
    h.chat.closed(5, None);
    h.pump();
    h.take(1);
    let frame = h.direct(1, "erina", extra_key(1).public(), "x");
    h.send(1, &frame);
    assert_eq!(h.take(1)[0]["data"]["why"], "not-connected");
}

#[test]
fn the_console_writes_to_someone_gone_a_short_while_and_shows_what_became_of_it() {
    let mut h = H::new();
    h.join_v2(1, "bobby", key("bob"));
    h.join_v2(2, "alice", key("alice"));
    h.chat.closed(1, None);
    h.chat.closed(2, None);
    h.pump();
    h.console.clear();
    h.console_line("@bobby while you were away");
    assert!(
        h.console
            .iter()
            .any(|l| l.starts_with("held: waiting for bobby until ")),
        "{:?}",
        h.console
    );
    h.join_v2(3, "bobby", key("bob"));
    let frames = h.take(3);
    let admin = h.admin.public().clone();
    let messages = message_frames(&frames);
    assert_eq!(messages.len(), 1);
    let m = messages[0].clone();
    let envelope = h.envelope(3, &m, &admin);
    assert_eq!(envelope.text.as_deref(), Some("while you were away"));
    assert!(
        h.console
            .iter()
            .any(|l| l == "held message delivered to bobby")
    );
    // alice does not come back: the console says so when the window ends.
    h.console_line("@alice you will not read this");
    h.now += Duration::from_secs(600);
    h.chat.handle_timeout(h.now);
    h.pump();
    assert!(
        h.console
            .iter()
            .any(|l| l
                == "not delivered to alice: expired (alice did not come back within 10 minutes)"),
        "{:?}",
        h.console
    );
}

// Large rooms (PROTOCOL.md, "Large rooms: the list is a view"), with a list of two.

fn large_room() -> H {
    let limits = Limits {
        list_size: 2,
        found_per_request: 2,
        ..Limits::default()
    };
    let mut h = H::with_limits(settings(), limits);
    h.join_v2(1, "alice", key("alice"));
    h.join_v2(2, "bobby", key("bob"));
    h.join_v2(3, "carol", key("small2048"));
    h.join_v2(4, "dave", extra_key(0));
    h
}

fn names_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|entry| entry[0].as_str().unwrap().to_string())
        .collect()
}

fn presences(frames: &[Value]) -> Vec<Value> {
    frames
        .iter()
        .filter(|f| code(f) == "chat-presence")
        .map(|f| f["data"].clone())
        .collect()
}

#[test]
fn a_large_room_lists_the_first_and_counts_the_others() {
    let mut h = large_room();
    let dave = h.take(4);
    let users = dave.iter().find(|f| code(f) == "chat-users").unwrap();
    assert_eq!(
        names_of(&users["data"]["users"]),
        ["ADMIN", "alice", "bobby"]
    );
    assert_eq!(users["data"]["count"], 5);
    // alice was told of bob's join (listed) at once, of carol and dave by the size
    // alone, and only when `count_every` allowed.
    let alice = presences(&h.take(1));
    assert_eq!(
        alice[0]["changes"],
        json!([["join", "bobby", key("bob").public().key_id()]])
    );
    assert_eq!(alice[0]["count"], 3);
    assert!(
        alice[1..].iter().all(|p| p["changes"] == json!([])),
        "{alice:?}"
    );
    let last = alice.last().unwrap()["count"].as_u64().unwrap();
    assert!(
        last < 5,
        "dave's join came in the same instant: not yet said"
    );
    assert_eq!(
        h.chat.poll_timeout(),
        Some(h.now + Duration::from_millis(500))
    );
    h.take(2);
    h.take(3);
    h.now += Duration::from_millis(500);
    h.chat.handle_timeout(h.now);
    h.pump();
    // dave's list already said 5: hearing it again is harmless.
    for conn in [1, 2, 3, 4] {
        let got = presences(&h.take(conn));
        assert_eq!(
            got,
            [json!({"code":"chat-presence","changes":[],"count":5})],
            "{conn}"
        );
    }
    assert_eq!(h.chat.poll_timeout(), None);
}

#[test]
fn chat_find_gives_names_by_prefix_and_follows_them() {
    let mut h = large_room();
    h.join_v2(5, "carlos", extra_key(1));
    h.take(1);
    let find = |name: &str| {
        json!({"cmd":"signal","user":"alice","data":{"code":"chat-find","name":name}}).to_string()
    };
    h.send(1, &find("ca"));
    let found: Vec<Value> = h
        .take(1)
        .into_iter()
        .filter(|f| code(f) == "chat-found")
        .collect();
    assert_eq!(found.len(), 1);
    assert_eq!(names_of(&found[0]["data"]["users"]), ["carlos", "carol"]);
    assert_eq!(found[0]["data"]["more"], false);
    assert_eq!(found[0]["data"]["name"], "ca");
    h.send(1, &find("c"));
    h.send(1, &find("ADMIN"));
    h.send(1, &find("b-o"));
    let answers: Vec<Value> = h.take(1).into_iter().map(|f| f["data"].clone()).collect();
    assert_eq!(answers[0]["more"], false, "two of two");
    assert_eq!(
        answers[1],
        json!({"code":"chat-found","name":"","users":[],"more":false})
    );
    assert_eq!(answers[2]["users"], json!([]));
    h.send(1, &find("d"));
    let d = h.take(1);
    assert_eq!(names_of(&d[0]["data"]["users"]), ["dave"]);
    // carol leaves: alice, who found her, is told by name; bob by the size only.
    h.chat.closed(3, None);
    h.pump();
    let alice = presences(&h.take(1));
    assert_eq!(alice[0]["changes"], json!([["left", "carol"]]));
    assert!(
        presences(&h.take(2))
            .iter()
            .all(|p| p["changes"] == json!([])),
        "bob never looked carol up"
    );
    // A listed user leaves: the first unlisted (dave, by join order) is listed.
    h.chat.closed(2, None);
    h.pump();
    let dave = key_of_extra(0);
    for conn in [1, 4, 5] {
        let got = presences(&h.take(conn));
        assert_eq!(
            got[0]["changes"],
            json!([["left", "bobby"], ["join", "dave", dave]]),
            "{conn}"
        );
        assert_eq!(got[0]["count"], 4);
    }
    h.join_v2(6, "erin", extra_key(2));
    let users = h
        .take(6)
        .into_iter()
        .find(|f| code(f) == "chat-users")
        .unwrap();
    assert_eq!(
        names_of(&users["data"]["users"]),
        ["ADMIN", "alice", "dave"]
    );
}

fn key_of_extra(n: usize) -> String {
    extra_key(n).public().key_id().to_string()
}

#[test]
fn asking_for_a_key_follows_its_user_and_relays_say_who_sent() {
    let mut h = large_room();
    h.take(4);
    let carol = key("small2048").public().key_id().to_string();
    let ask = json!({"cmd":"signal","user":"dave","data":{"code":"chat-getkeys","keyids":[carol]}});
    h.send(4, &ask.to_string());
    assert_eq!(h.codes(4), ["chat-key"]);
    // carol writes to all: the relay names her key, for those who do not list her.
    let epoch = h.chat.keys.epoch();
    let frame = h.message_to_all(3, "hi", epoch, |_| {});
    h.send(3, &frame);
    let got = h.take(2);
    let messages = message_frames(&got);
    assert_eq!(messages[0]["data"]["from"], "carol");
    assert_eq!(messages[0]["data"]["fromkey"], carol.as_str());
    h.chat.closed(3, None);
    h.pump();
    let dave = presences(&h.take(4));
    assert_eq!(dave[0]["changes"], json!([["left", "carol"]]));
}

#[test]
fn only_admin_finds_nobody() {
    let limits = Limits {
        list_size: 1,
        ..Limits::default()
    };
    let mut s = settings();
    s.only_admin = true;
    let mut h = H::with_limits(s, limits);
    h.join_v2(1, "alice", key("alice"));
    h.join_v2(2, "bobby", key("bob"));
    let find = json!({"cmd":"signal","user":"bobby","data":{"code":"chat-find","name":"al"}});
    h.take(2);
    h.send(2, &find.to_string());
    let got = h.take(2);
    assert_eq!(got[0]["data"]["users"], json!([]));
}
