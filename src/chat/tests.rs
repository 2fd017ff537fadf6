//! The chat state machine driven without any socket: sessions of the protocol client
//! (the dyspatcher-client crate) play the browsers, and the outputs are routed to them by hand.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::console::{Dispatch, Dispatcher};
use dyspatcher_client::{Algo as ClientAlgo, ClientEvent, ClientSession};

fn key(name: &str) -> Arc<KeyPair> {
    let path = format!(
        "{}/tests/vectors/{name}.pkcs8.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    Arc::new(KeyPair::from_pem(&std::fs::read_to_string(path).unwrap()).unwrap())
}

/// The `Host` every harness connection was opened with.
const HOST: &str = "chat.test:8080";

struct Harness {
    chat: Chat,
    now: Instant,
    sessions: HashMap<ConnId, ClientSession>,
    /// Events each connection received, in order.
    inbox: HashMap<ConnId, Vec<ClientEvent>>,
    closed: HashMap<ConnId, (u16, String)>,
    /// What the chat answered to each connection's last frame.
    reading: HashMap<ConnId, Reading>,
    console: Vec<String>,
    quit: bool,
    /// The administrator's key, for the private-key jobs run here inline.
    admin: Arc<KeyPair>,
    /// While set, jobs wait here instead of being run: as a busy worker pool would.
    held: Option<Vec<(JobId, PrivateOp)>>,
}

impl Harness {
    fn new(settings: Settings) -> Self {
        Self::with_limits(settings, Limits::default())
    }

    fn with_limits(settings: Settings, limits: Limits) -> Self {
        let admin = key("admin");
        let now = Instant::now();
        Self {
            chat: Chat::new(
                settings,
                limits,
                admin.clone(),
                GroupKey::generate(),
                [7; 32],
                now,
            ),
            admin,
            held: None,
            now,
            sessions: HashMap::new(),
            inbox: HashMap::new(),
            closed: HashMap::new(),
            reading: HashMap::new(),
            console: Vec::new(),
            quit: false,
        }
    }

    fn default_settings() -> Settings {
        Settings {
            admin_name: "ADMIN".into(),
            disable_all: false,
            only_admin: false,
            welcome: None,
            allow_unproven_keys: false,
            allow_unproven_admin: false,
        }
    }

    fn pump(&mut self) {
        while let Some(out) = self.chat.poll_output() {
            match out {
                Output::Send { to, frame } => {
                    for conn in to {
                        assert!(
                            !self.closed.contains_key(&conn),
                            "frame after close to {conn}: {frame:?}"
                        );
                        let session = self
                            .sessions
                            .get_mut(&conn)
                            .expect("frame to an unknown connection");
                        let mut events = session.handle(&frame.to_text());
                        // Challenges are answered here, as a client of ours does.
                        let proofs: Vec<String> = events
                            .iter()
                            .filter_map(|e| match e {
                                ClientEvent::Challenge { nonce } => {
                                    Some(session.proof_frame(HOST, nonce))
                                }
                                _ => None,
                            })
                            .collect();
                        events.retain(|e| !matches!(e, ClientEvent::Challenge { .. }));
                        self.inbox.entry(conn).or_default().extend(events);
                        for proof in proofs {
                            let reading = self.chat.received(conn, &proof, self.now);
                            self.reading.insert(conn, reading);
                        }
                    }
                }
                Output::Close { conn, code, reason } => {
                    self.closed
                        .entry(conn)
                        .or_insert((code, reason.into_owned()));
                }
                Output::Console(line) => self.console.push(line.text()),
                Output::RefreshAdmission => self.chat.admission_refreshed(None),
                Output::Quit => self.quit = true,
                Output::PrivateKey { job, op } => match &mut self.held {
                    Some(held) => held.push((job, op)),
                    None => {
                        let result = op.run(&self.admin);
                        self.chat.private_key_done(job, result, self.now);
                    }
                },
            }
        }
    }

    /// Runs the jobs held so far, in the order `order` gives (indices into them), and
    /// holds no more.
    fn run_held(&mut self, order: impl Fn(usize) -> usize) {
        let held = self.held.take().unwrap_or_default();
        let count = held.len();
        let mut held: Vec<Option<(JobId, PrivateOp)>> = held.into_iter().map(Some).collect();
        for i in 0..count {
            let (job, op) = held[order(i)].take().expect("each job once");
            let result = op.run(&self.admin);
            self.chat.private_key_done(job, result, self.now);
        }
        self.pump();
    }

    fn connect(&mut self, conn: ConnId, name: &str, keys: Arc<KeyPair>) {
        self.sessions.insert(conn, ClientSession::new(name, keys));
        self.chat.opened(conn, Some(HOST), self.now);
        let join = self.sessions[&conn].join_frame();
        self.chat.received(conn, &join, self.now);
        self.pump();
    }

    /// Joins as a 0.9 client does: without offering a proof.
    fn connect_unproven(&mut self, conn: ConnId, name: &str, keys: Arc<KeyPair>) {
        let mut session = ClientSession::new(name, keys);
        session.set_proves(false);
        self.sessions.insert(conn, session);
        self.chat.opened(conn, Some(HOST), self.now);
        let join = self.sessions[&conn].join_frame();
        let reading = self.chat.received(conn, &join, self.now);
        self.reading.insert(conn, reading);
        self.pump();
    }

    fn send(&mut self, conn: ConnId, frame: &str) {
        let reading = self.chat.received(conn, frame, self.now);
        self.reading.insert(conn, reading);
        self.pump();
    }

    /// Until when the chat asked the shell to stop reading `conn`, if it did.
    fn paused_until(&self, conn: ConnId) -> Option<Instant> {
        match self.reading.get(&conn)? {
            Reading::PauseUntil(at) => Some(*at),
            Reading::Continue => None,
        }
    }

    /// A console line, routed as the event loop routes it.
    fn console(&mut self, line: &str) {
        match Dispatcher::default().dispatch(line) {
            Dispatch::Chat(command) => self.chat.command(command, self.now),
            Dispatch::TunnelStatus => panic!("no tunnel here"),
            Dispatch::Answer(lines) => self.console.extend(lines.iter().map(|l| l.text())),
        }
        self.pump();
    }

    fn session(&mut self, conn: ConnId) -> &mut ClientSession {
        self.sessions.get_mut(&conn).unwrap()
    }

    fn take(&mut self, conn: ConnId) -> Vec<ClientEvent> {
        self.inbox.remove(&conn).unwrap_or_default()
    }

    fn messages(&mut self, conn: ConnId) -> Vec<(String, String, String)> {
        self.take(conn)
            .into_iter()
            .filter_map(|e| match e {
                ClientEvent::Message {
                    from,
                    to,
                    text,
                    verified: true,
                    ..
                } => Some((from, to, text)),
                _ => None,
            })
            .collect()
    }

    fn console_has(&self, needle: &str) -> bool {
        self.console.iter().any(|l| l.contains(needle))
    }
}

fn msg(from: &str, to: &str, text: &str) -> (String, String, String) {
    (from.into(), to.into(), text.into())
}

#[test]
fn a_join_gets_config_then_users_list_then_welcome() {
    let mut h = Harness::new(Settings {
        welcome: Some("Hello, be kind".into()),
        ..Harness::default_settings()
    });
    h.connect(1, "alice", key("alice"));
    let events = h.take(1);
    let ClientEvent::Config {
        name,
        is_admin,
        disable_all,
        key_id,
    } = &events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!(
        (name.as_str(), *is_admin, *disable_all),
        ("alice", false, false)
    );
    assert_eq!(key_id, key("alice").public().key_id());
    let ClientEvent::UsersList(users) = &events[1] else {
        panic!("{events:?}")
    };
    assert_eq!(users[0].name, "ADMIN");
    assert_eq!(users[0].hash, key("admin").public().key_id());
    assert!(users.iter().all(|u| u.hash_matches_key()));
    assert!(
        matches!(&events[2], ClientEvent::Message { from, text, verified: true, .. }
        if from == "ADMIN" && text == "Hello, be kind")
    );
    assert_eq!(events.len(), 3);
    assert!(h.console_has("alice joined, Key ID 3a2a05238472"));
}

#[test]
fn others_hear_of_joins_and_departures() {
    let mut h = Harness::new(Harness::default_settings());
    h.connect(1, "alice", key("alice"));
    h.take(1);
    h.connect(2, "bobby", key("bob"));
    let events = h.take(1);
    assert!(
        matches!(&events[..], [ClientEvent::Joined(u)] if u.name == "bobby" && u.hash_matches_key())
    );
    let ClientEvent::UsersList(users) = &h.take(2)[1] else {
        panic!()
    };
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["ADMIN", "alice", "bobby"]);
    h.chat.closed(2, None);
    h.pump();
    // Then a fresh config: the 0.9 group key changed with the departure.
    let events = h.take(1);
    assert_eq!(
        events[0],
        ClientEvent::Left {
            name: "bobby".into()
        }
    );
    assert!(
        matches!(&events[1..], [ClientEvent::Config { name, .. }] if name == "alice"),
        "{events:?}"
    );
    assert!(h.console_has("bobby left"));
    // The list a newcomer gets no longer has bobby.
    h.connect(3, "carol", key("small2048"));
    let ClientEvent::UsersList(users) = &h.take(3)[1] else {
        panic!()
    };
    assert_eq!(
        users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
        ["ADMIN", "alice", "carol"]
    );
}

#[test]
fn bad_and_taken_names_are_refused() {
    let mut h = Harness::new(Harness::default_settings());
    h.connect(1, "alice", key("alice"));
    h.connect(2, "alice", key("bob"));
    assert_eq!(h.take(2), vec![ClientEvent::InvalidUser]);
    assert_eq!(h.closed[&2].0, close_code::POLICY);
    for (conn, name) in [(3, "Bob"), (4, "bob"), (5, "b o b"), (6, "ADMIN")] {
        h.connect(conn, name, key("bob"));
        assert_eq!(h.take(conn), vec![ClientEvent::InvalidUser], "{name}");
        assert!(h.closed.contains_key(&conn));
    }
    assert!(h.console_has("name taken"));
    assert_eq!(h.chat.user_count(), 1);
}

#[test]
fn frames_before_the_join_close_the_connection() {
    let mut h = Harness::new(Harness::default_settings());
    h.sessions
        .insert(1, ClientSession::new("alice", key("alice")));
    h.chat.opened(1, Some(HOST), h.now);
    h.send(1, r#"{"cmd":"message","user":"alice","data":{"algo":"aes","iv":"","ciphertext":"","signature":""}}"#);
    assert_eq!(h.closed[&1], (close_code::POLICY, "join first".into()));
}

#[test]
fn junk_after_the_join_is_ignored_and_the_user_stays() {
    let mut h = Harness::new(Harness::default_settings());
    h.connect(1, "alice", key("alice"));
    h.take(1);
    for junk in [
        "",
        "[]",
        "{}",
        r#"{"cmd":"message"}"#,
        r#"{"cmd":"message","data":7}"#,
        "{\"a\":".repeat(200).as_str(),
    ] {
        h.send(1, junk);
    }
    assert!(h.closed.is_empty());
    assert_eq!(h.take(1), vec![]);
}

#[test]
fn a_routed_message_reaches_its_recipient_only() {
    let mut h = Harness::new(Harness::default_settings());
    h.connect(1, "alice", key("alice"));
    h.connect(2, "bobby", key("bob"));
    h.connect(3, "carol", key("small2048"));
    h.take(1);
    h.take(2);
    h.take(3);
    let out = h.session(1).message_to("bobby", "hi bob").unwrap();
    h.send(1, &out.frame);
    assert_eq!(h.messages(2), vec![msg("alice", "bobby", "hi bob")]);
    assert_eq!(h.take(3), vec![], "carol never sees it");
    assert_eq!(h.take(1), vec![ClientEvent::Ack { id: out.id }]);
    assert!(!h.console_has("hi bob"), "not for the administrator");
}

#[test]
fn an_undeliverable_message_is_reported_to_its_sender() {
    let mut h = Harness::new(Harness::default_settings());
    h.connect(1, "alice", key("alice"));
    h.connect(2, "bobby", key("bob"));
    h.take(1);
    let out = h.session(1).message_to("bobby", "are you there").unwrap();
    h.chat.closed(2, None);
    h.pump();
    h.take(1);
    h.send(1, &out.frame);
    let events = h.take(1);
    assert!(
        matches!(&events[..], [ClientEvent::Undelivered { id, reason, .. }] if *id == out.id && reason.contains("bobby is not connected")),
        "{events:?}"
    );
}

#[test]
fn legacy_one_to_one_goes_to_everyone_else_as_in_0_9() {
    let mut h = Harness::new(Harness::default_settings());
    h.connect(1, "alice", key("alice"));
    h.connect(2, "bobby", key("bob"));
    h.connect(3, "carol", key("small2048"));
    for c in 1..=3 {
        h.take(c);
    }
    let frame = h
        .session(1)
        .legacy_message_to("bobby", "old style")
        .unwrap();
    h.send(1, &frame);
    assert_eq!(h.messages(2), vec![msg("alice", "bobby", "old style")]);
    let carol = h.take(3);
    assert!(
        matches!(
            &carol[..],
            [ClientEvent::Dropped {
                algo: ClientAlgo::Rsa,
                ..
            }]
        ),
        "{carol:?}"
    );
    assert_eq!(
        h.take(1),
        vec![],
        "not echoed to the sender, no extension frames for 0.9 clients"
    );
}

#[test]
fn messages_to_the_administrator_are_decrypted_on_the_console() {
    let mut h = Harness::new(Harness::default_settings());
    h.connect(1, "alice", key("alice"));
    h.connect(2, "bobby", key("bob"));
    h.take(1);
    h.take(2);
    let out = h.session(1).message_to("ADMIN", "routed to admin").unwrap();
    h.send(1, &out.frame);
    assert!(h.console_has("alice → ADMIN: routed to admin"));
    assert_eq!(h.take(1), vec![ClientEvent::Ack { id: out.id }]);
    let legacy = h
        .session(2)
        .legacy_message_to("ADMIN", "legacy to admin")
        .unwrap();
    h.send(2, &legacy);
    assert!(h.console_has("bobby → ADMIN: legacy to admin"));
    // Relayed to the others at once, before anyone knows it is for the administrator
    // (issue 12): alice cannot read it.
    let alice = h.take(1);
    assert!(
        matches!(
            &alice[..],
            [ClientEvent::Dropped {
                algo: ClientAlgo::Rsa,
                ..
            }]
        ),
        "{alice:?}"
    );
}

#[test]
fn identity_is_the_connections_whatever_the_frame_claims() {
    let mut h = Harness::new(Harness::default_settings());
    h.connect(1, "alice", key("alice"));
    h.connect(2, "bobby", key("bob"));
    h.take(1);
    h.take(2);
    // bobby forges a message "from alice" to everybody, signed with his own key.
    let frame = {
        let bob = h.session(2);
        let plain = dyspatcher_client::plaintext("alice", "all", "I am alice");
        let mut data =
            dyspatcher_client::seal_aes(bob.group_key().unwrap(), plain.as_bytes(), &key("bob"));
        data.insert("id".into(), "f1".into());
        bob.message_frame(data)
    };
    h.send(2, &frame);
    assert_eq!(h.messages(1), vec![], "never relayed");
    assert!(!h.console_has("I am alice"));
    let events = h.take(2);
    assert!(
        matches!(&events[..], [ClientEvent::Undelivered { reason, .. }] if reason.contains("not you")),
        "{events:?}"
    );
}

#[test]
fn a_bad_signature_is_dropped() {
    let mut h = Harness::new(Harness::default_settings());
    h.connect(1, "alice", key("alice"));
    h.connect(2, "bobby", key("bob"));
    h.take(1);
    h.take(2);
    let out = h.session(1).message_to_all("signed").unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&out.frame).unwrap();
    let other = h.session(2).message_to_all("other").unwrap();
    let ov: serde_json::Value = serde_json::from_str(&other.frame).unwrap();
    v["data"]["signature"] = ov["data"]["signature"].clone();
    h.send(1, &v.to_string());
    assert_eq!(h.messages(2), vec![]);
    assert!(
        matches!(&h.take(1)[..], [ClientEvent::Undelivered { reason, .. }] if reason.contains("signature"))
    );
}

#[test]
fn messages_to_everybody_reach_everybody_and_the_console() {
    let mut h = Harness::new(Harness::default_settings());
    h.connect(1, "alice", key("alice"));
    h.connect(2, "bobby", key("bob"));
    h.take(1);
    h.take(2);
    let out = h.session(1).message_to_all("hello all").unwrap();
    h.send(1, &out.frame);
    assert_eq!(h.messages(2), vec![msg("alice", "all", "hello all")]);
    let mine = h.take(1);
    assert!(mine.contains(&ClientEvent::Ack { id: out.id }));
    assert!(h.console_has("alice → all: hello all"));
}

#[test]
fn disable_all_stops_users_not_the_administrator() {
    let mut h = Harness::new(Settings {
        disable_all: true,
        ..Harness::default_settings()
    });
    h.connect(1, "alice", key("alice"));
    h.connect(2, "bobby", key("bob"));
    assert!(matches!(
        &h.take(1)[0],
        ClientEvent::Config {
            disable_all: true,
            ..
        }
    ));
    h.take(2);
    let out = h.session(1).message_to_all("spam").unwrap();
    h.send(1, &out.frame);
    assert_eq!(h.messages(2), vec![]);
    assert!(
        matches!(&h.take(1)[..], [ClientEvent::Undelivered { reason, .. }] if reason.contains("disabled"))
    );
    h.console("@all from the console");
    assert_eq!(h.messages(2), vec![msg("ADMIN", "all", "from the console")]);
}

#[test]
fn only_admin_hides_users_from_each_other() {
    let mut h = Harness::new(Settings {
        only_admin: true,
        disable_all: true,
        ..Harness::default_settings()
    });
    h.connect(1, "alice", key("alice"));
    h.connect(2, "bobby", key("bob"));
    let ClientEvent::UsersList(users) = &h.take(2)[1] else {
        panic!()
    };
    assert_eq!(users.len(), 1, "only the administrator");
    assert_eq!(h.take(1).len(), 2, "alice is not told of bobby");
    // The web administrator sees everybody and is told of joins.
    h.connect(9, "whoever", key("admin"));
    let events = h.take(9);
    assert!(
        matches!(&events[0], ClientEvent::Config { is_admin: true, name, .. } if name == "ADMIN")
    );
    let ClientEvent::UsersList(users) = &events[1] else {
        panic!()
    };
    assert_eq!(
        users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
        ["ADMIN", "alice", "bobby"]
    );
    h.connect(3, "carol", key("small2048"));
    assert!(matches!(&h.take(9)[..], [ClientEvent::Joined(u)] if u.name == "carol"));
    assert_eq!(h.take(1), vec![]);
}

#[test]
fn console_messages_reach_users_and_copies_reach_the_web_administrator() {
    let mut h = Harness::new(Harness::default_settings());
    h.connect(1, "alice", key("alice"));
    h.connect(9, "anyname", key("admin"));
    h.take(1);
    h.take(9);
    assert!(h.console_has("ADMIN joined on the web interface"));
    h.console("@alice hello from the console");
    assert_eq!(
        h.messages(1),
        vec![msg("ADMIN", "alice", "hello from the console")]
    );
    let copies = h.take(9);
    assert!(
        matches!(&copies[..], [ClientEvent::WebAdminCopy { to, text, verified: true }] if to == "alice" && text == "hello from the console"),
        "{copies:?}"
    );
    // Admin to admin: the console writes to the web session.
    h.console("@ADMIN note to self");
    assert_eq!(h.messages(9), vec![msg("ADMIN", "ADMIN", "note to self")]);
    // Users' messages to the administrator reach the web session too.
    let out = h.session(1).message_to("ADMIN", "for the admin").unwrap();
    h.send(1, &out.frame);
    assert_eq!(h.messages(9), vec![msg("alice", "ADMIN", "for the admin")]);
    // The web administrator's copy of its own message to alice shows on the console.
    let plain = dyspatcher_client::plaintext("ADMIN", "alice", "web admin to alice");
    let mut data =
        dyspatcher_client::seal_rsa(key("admin").public(), plain.as_bytes(), &key("admin"))
            .unwrap();
    data.insert("to".into(), "ADMIN".into());
    let frame = h.session(9).message_frame(data);
    h.send(9, &frame);
    assert!(
        h.console_has("ADMIN (web) → alice: web admin to alice"),
        "{:?}",
        h.console
    );
    assert_eq!(
        h.messages(9),
        vec![],
        "not echoed to the web session that sent it"
    );
}

#[test]
fn only_one_web_administrator() {
    // A 0.9 client may be the web administrator only if the operator allows it; a
    // second one is refused while the first is there.
    let mut h = Harness::new(Settings {
        allow_unproven_admin: true,
        ..Harness::default_settings()
    });
    h.connect(1, "one", key("admin"));
    h.connect_unproven(2, "two", key("admin"));
    assert_eq!(
        h.take(2),
        vec![ClientEvent::Notice(join::ADMIN_ALREADY_CONNECTED.into())]
    );
    assert!(h.closed.contains_key(&2));
    assert!(!h.closed.contains_key(&1));
    h.chat.closed(1, None);
    h.pump();
    h.connect(3, "three", key("admin"));
    assert!(matches!(
        &h.take(3)[0],
        ClientEvent::Config { is_admin: true, .. }
    ));
}

#[test]
fn a_proven_join_replaces_the_session_of_its_key() {
    let mut h = Harness::new(Harness::default_settings());
    h.connect(1, "alice", key("alice"));
    h.connect(2, "bobby", key("bob"));
    h.take(1);
    h.take(2);
    // Without a proof: refused, the first session stays.
    h.connect_unproven(3, "alice2", key("alice"));
    assert_eq!(
        h.take(3),
        vec![ClientEvent::Notice(join::KEY_CONNECTED.into())]
    );
    assert_eq!(h.closed[&3], (close_code::POLICY, "join refused".into()));
    assert!(!h.closed.contains_key(&1));
    // With a proof: it takes over, and bobby sees alice leave and join again.
    h.connect(4, "alice", key("alice"));
    assert_eq!(h.take(1), vec![ClientEvent::Notice(join::REPLACED.into())]);
    assert_eq!(h.closed[&1], (close_code::POLICY, "replaced".into()));
    assert!(matches!(&h.take(4)[0], ClientEvent::Config { name, .. } if name == "alice"));
    let seen = h.take(2);
    assert!(matches!(&seen[0], ClientEvent::Left { name } if name == "alice"));
    assert!(matches!(&seen[1], ClientEvent::Joined(u) if u.name == "alice"));
    assert_eq!(h.chat.user_count(), 2);
    // The old connection's close changes nothing for the new one.
    h.chat.closed(1, None);
    h.pump();
    assert_eq!(h.take(2), vec![]);
    assert_eq!(h.chat.user_count(), 2);
}

#[test]
fn a_wrong_proof_or_one_for_another_host_is_refused() {
    let mut h = Harness::new(Harness::default_settings());
    for (conn, host) in [(1, "elsewhere.example"), (2, HOST)] {
        let mut session = ClientSession::new("alice", key("alice"));
        h.chat.opened(conn, Some(HOST), h.now);
        h.chat.received(conn, &session.join_frame(), h.now);
        let Some(Output::Send { frame, .. }) = h.chat.poll_output() else {
            panic!("a challenge")
        };
        let [ClientEvent::Challenge { nonce }] = &session.handle(&frame.to_text())[..] else {
            panic!("{frame:?}")
        };
        let proof = if conn == 1 {
            session.proof_frame(host, nonce)
        } else {
            // Bob's signature over the right text is not alice's.
            let mut bob = ClientSession::new("alice", key("bob"));
            bob.set_proves(true);
            bob.proof_frame(host, nonce)
        };
        session.set_verify(true);
        h.sessions.insert(conn, session);
        h.send(conn, &proof);
        assert_eq!(
            h.take(conn),
            vec![ClientEvent::Notice(join::PROOF_FAILED.into())]
        );
        assert_eq!(h.closed[&conn], (close_code::POLICY, "join refused".into()));
    }
    assert_eq!(h.chat.user_count(), 0);
}

#[test]
fn nonces_differ_between_connections() {
    let mut h = Harness::new(Harness::default_settings());
    let mut nonces = Vec::new();
    for conn in 1..=3 {
        let session = ClientSession::new("alice", key("alice"));
        h.chat.opened(conn, Some(HOST), h.now);
        h.chat.received(conn, &session.join_frame(), h.now);
        let Some(Output::Send { frame, .. }) = h.chat.poll_output() else {
            panic!("a challenge")
        };
        nonces.push(frame.to_text());
    }
    nonces.dedup();
    assert_eq!(nonces.len(), 3);
}

#[test]
fn unproven_clients_under_an_allow_list_or_as_administrator() {
    let list = crate::allow_list::AllowList::parse(&format!(
        "{},alice\n{},chief\n",
        key("alice").public().key_id(),
        key("admin").public().key_id()
    ))
    .0;
    for allowed in [false, true] {
        let mut h = Harness::new(Settings {
            allow_unproven_keys: allowed,
            ..Harness::default_settings()
        });
        h.chat.set_admission(Admission::Listed(list.clone()));
        h.connect_unproven(1, "alice", key("alice"));
        h.connect_unproven(2, "x", key("admin"));
        let first = h.take(1);
        if allowed {
            assert!(matches!(&first[0], ClientEvent::Config { .. }), "{first:?}");
        } else {
            assert_eq!(
                first,
                vec![ClientEvent::Notice(join::UNPROVEN_LISTED.into())]
            );
        }
        assert_eq!(
            h.take(2),
            vec![ClientEvent::Notice(join::UNPROVEN_ADMIN.into())],
            "the administrator's key has its own flag"
        );
        // A proving client joins under the list either way.
        h.connect(3, "admin", key("admin"));
        assert!(matches!(
            &h.take(3)[0],
            ClientEvent::Config { is_admin: true, .. }
        ));
    }
}

#[test]
fn kick_tells_the_user_and_the_others() {
    let mut h = Harness::new(Harness::default_settings());
    h.connect(1, "alice", key("alice"));
    h.connect(2, "bobby", key("bob"));
    h.take(1);
    h.take(2);
    h.console("/kick bobby");
    assert!(
        matches!(&h.take(2)[..], [ClientEvent::Notice(n)] if n.contains("disconnected by the administrator"))
    );
    assert_eq!(h.closed[&2].0, close_code::NORMAL);
    // Then a fresh config: the 0.9 group key changed with the departure.
    let events = h.take(1);
    assert_eq!(
        events[0],
        ClientEvent::Left {
            name: "bobby".into()
        }
    );
    assert!(
        matches!(&events[1..], [ClientEvent::Config { name, .. }] if name == "alice"),
        "{events:?}"
    );
    h.console("/kick nobody");
    assert!(h.console_has("nobody called \"nobody\" is connected"));
    // The event loop reporting the close later changes nothing.
    h.chat.closed(2, None);
    h.pump();
    assert_eq!(h.take(1), vec![]);
}

#[test]
fn kicked_keys_wait_banned_ones_stay_out_until_unbanned() {
    let mut h = Harness::new(Harness::default_settings());
    h.connect(1, "bobby", key("bob"));
    h.take(1);
    h.console("/kick bobby");
    assert!(
        matches!(&h.take(1)[..], [ClientEvent::Notice(n)] if n.ends_with("you can join again in 10 minutes."))
    );
    h.now += Duration::from_secs(60);
    h.connect(2, "bobby", key("bob"));
    assert!(
        matches!(&h.take(2)[..], [ClientEvent::Notice(n)] if n.ends_with("you can join again in 9 minutes."))
    );
    assert_eq!(h.closed[&2].0, close_code::POLICY);
    assert!(h.console_has("join refused for \"bobby\": kicked, kept out for 9 minutes more"));
    h.console("/users");
    assert!(h.console_has("1 kept out"));
    assert!(h.console_has("kicked, for 9 minutes more"));
    h.console("/ban bobby");
    assert!(h.console_has("bobby is banned"));
    h.now += Duration::from_secs(3600);
    h.connect(3, "bobby", key("bob"));
    assert!(matches!(&h.take(3)[..], [ClientEvent::Notice(n)] if n.contains("banned")));
    h.console("/ban ADMIN");
    assert!(h.console_has("the administrator's key cannot be banned"));
    h.console("/unban BOBBY");
    assert!(h.console_has("bobby may join again"));
    h.connect(4, "bobby", key("bob"));
    assert!(matches!(&h.take(4)[..], [ClientEvent::Config { .. }, ..]));
}

#[test]
fn console_commands() {
    let mut h = Harness::new(Harness::default_settings());
    h.connect(1, "alice", key("alice"));
    h.console("/users");
    assert!(h.console_has("1 connected besides ADMIN (console), Key ID b2a6523d60dc"));
    let listed = h
        .console
        .iter()
        .rev()
        .take_while(|l| !l.contains("connected besides"));
    assert_eq!(listed.count(), 1, "one line per user counted");
    assert!(h.console_has("alice"));
    h.console("/key public");
    assert!(h.console_has("-----BEGIN PUBLIC KEY-----"));
    h.console("/key private");
    assert!(h.console_has("-----BEGIN PRIVATE KEY-----"));
    h.console("/help");
    assert!(h.console_has("/kick NAME"));
    h.console("@nobody hi");
    assert!(h.console_has("nobody called \"nobody\""));
    h.console("hello?");
    assert!(h.console_has("unknown command"));
    assert!(!h.quit);
    h.console("/q");
    assert!(h.quit);
}

#[test]
fn a_console_message_too_long_for_the_key_is_split_not_fatal() {
    let mut h = Harness::new(Harness::default_settings());
    h.connect(3, "carol", key("small2048"));
    h.take(3);
    let long = "word ".repeat(200);
    h.console(&format!("@carol {long}"));
    let parts = h.messages(3);
    assert!(parts.len() >= 5, "{}", parts.len());
    let joined: Vec<String> = parts.iter().map(|(_, _, t)| t.clone()).collect();
    assert_eq!(joined.join(" ").split_whitespace().count(), 200);
    assert!(h.console_has("sent in"));
}

#[test]
fn a_sender_over_its_budget_is_paused_not_refused() {
    let limits = Limits {
        messages_per_second: 1.0,
        message_burst: 3.0,
        ..Limits::default()
    };
    let mut h = Harness::with_limits(Harness::default_settings(), limits);
    h.connect(1, "alice", key("alice"));
    h.connect(2, "bobby", key("bob"));
    h.take(1);
    h.take(2);
    let out = h.session(1).message_to("bobby", "flood").unwrap();
    for _ in 0..2 {
        h.send(1, &out.frame);
        assert_eq!(h.paused_until(1), None, "within the burst: read on");
    }
    h.send(1, &out.frame);
    let until = h.paused_until(1).expect("the burst is spent: paused");
    assert!(until > h.now && until <= h.now + Duration::from_millis(1001));
    assert_eq!(h.messages(2).len(), 3, "every one delivered");
    assert!(
        h.take(1)
            .iter()
            .all(|e| matches!(e, ClientEvent::Ack { .. })),
        "nothing refused, nothing to tell: acks only"
    );
    // The shell reads again at that time: one more token, one more message.
    h.now = until;
    h.send(1, &out.frame);
    assert_eq!(h.messages(2).len(), 1);
    assert!(h.paused_until(1).is_some_and(|at| at > h.now));
    // A frame already on its way when the pause came is taken in debt, never dropped,
    // and the pause is that much longer.
    h.send(1, &out.frame);
    assert_eq!(h.messages(2).len(), 1);
    assert!(
        h.paused_until(1)
            .is_some_and(|at| at > h.now + Duration::from_millis(1500))
    );
    assert!(h.closed.is_empty(), "nobody is cut for the rate");
}

#[test]
fn messages_to_the_administrator_wait_their_decryption_in_order_within_a_bound() {
    let limits = Limits {
        max_waiting_for_admin_per_sender: 3,
        ..Limits::default()
    };
    let mut h = Harness::with_limits(Harness::default_settings(), limits);
    h.connect(1, "alice", key("alice"));
    h.take(1);
    h.held = Some(Vec::new());
    let mut ids = Vec::new();
    for i in 0..4 {
        let out = h.session(1).message_to("ADMIN", &format!("m{i}")).unwrap();
        ids.push(out.id.clone());
        h.send(1, &out.frame);
    }
    assert!(!h.console_has("m0"), "nothing shown before its decryption");
    let events = h.take(1);
    assert!(
        matches!(&events[..], [ClientEvent::Undelivered { reason, .. }]
            if reason.contains("3 messages to the administrator still waiting to be read")),
        "{events:?}"
    );
    h.run_held(|i| 2 - i); // the workers finish them last first
    let shown: Vec<&String> = h.console.iter().filter(|l| l.contains("→ ADMIN")).collect();
    assert_eq!(shown.len(), 3);
    for (i, line) in shown.iter().enumerate() {
        assert!(line.ends_with(&format!("alice → ADMIN: m{i}")), "{line}");
    }
    let acks: Vec<ClientEvent> = ids[..3]
        .iter()
        .map(|id| ClientEvent::Ack { id: id.clone() })
        .collect();
    assert_eq!(h.take(1), acks, "acknowledged once shown, in order");
}

#[test]
fn a_message_to_the_administrator_is_shown_even_if_its_sender_left_meanwhile() {
    let mut h = Harness::new(Harness::default_settings());
    h.connect(1, "alice", key("alice"));
    h.take(1);
    h.held = Some(Vec::new());
    let out = h.session(1).message_to("ADMIN", "bye now").unwrap();
    h.send(1, &out.frame);
    h.chat.closed(1, None);
    h.closed.insert(1, (1000, "gone".into()));
    h.run_held(|i| i);
    assert!(h.console_has("alice → ADMIN: bye now"));
}

#[test]
fn a_0_9_frame_is_relayed_at_once_and_tried_for_the_administrator_later() {
    let limits = Limits {
        max_private_jobs: 1,
        ..Limits::default()
    };
    let mut h = Harness::with_limits(Harness::default_settings(), limits);
    h.connect(1, "alice", key("alice"));
    h.connect(2, "bobby", key("bob"));
    h.take(1);
    h.take(2);
    h.held = Some(Vec::new());
    let first = h.session(1).legacy_message_to("ADMIN", "first").unwrap();
    h.send(1, &first);
    let second = h.session(1).legacy_message_to("ADMIN", "second").unwrap();
    h.send(1, &second);
    assert_eq!(h.take(2).len(), 2, "both relayed before any decryption");
    h.run_held(|i| i);
    assert!(h.console_has("alice → ADMIN: first"));
    assert!(!h.console_has("second"), "no room to try it");
    assert!(
        h.console_has("1 one-to-one messages from 0.9 clients were relayed but not tried"),
        "{:?}",
        h.console
    );
}

#[test]
fn console_messages_go_out_in_order_whatever_order_their_signatures_finish_in() {
    let mut h = Harness::new(Harness::default_settings());
    h.connect(3, "carol", key("small2048"));
    h.take(3);
    h.held = Some(Vec::new());
    let long = (0..200)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    h.console(&format!("@carol {long}"));
    h.console("@carol after");
    h.console("@all to everybody");
    assert!(h.messages(3).is_empty(), "nothing sent before it is signed");
    let count = h.held.as_ref().unwrap().len();
    assert!(count >= 4, "one signature per part: {count}");
    h.run_held(|i| count - 1 - i);
    let texts: Vec<String> = h.messages(3).into_iter().map(|(_, _, t)| t).collect();
    assert_eq!(texts.last().unwrap(), "to everybody");
    assert_eq!(texts[texts.len() - 2], "after");
    let words: Vec<&str> = texts[..texts.len() - 2]
        .iter()
        .flat_map(|t| t.split_whitespace())
        .collect();
    assert_eq!(words.join(" "), long, "the parts in order");
}

#[test]
fn joins_that_never_come_time_out() {
    let mut h = Harness::new(Harness::default_settings());
    h.chat.opened(1, Some(HOST), h.now);
    assert_eq!(h.chat.poll_timeout(), Some(h.now + Duration::from_secs(30)));
    h.chat.handle_timeout(h.now + Duration::from_secs(5));
    h.pump();
    assert!(h.closed.is_empty());
    h.chat.handle_timeout(h.now + Duration::from_secs(31));
    h.pump();
    assert_eq!(h.closed[&1], (close_code::POLICY, "no join in time".into()));
    assert_eq!(h.chat.poll_timeout(), None, "nothing left to wait for");
}

#[test]
fn the_join_deadline_is_the_oldest_pending_connection_s() {
    let mut h = Harness::new(Harness::default_settings());
    assert_eq!(h.chat.poll_timeout(), None, "an idle chat needs no timer");
    h.chat.opened(1, Some(HOST), h.now);
    h.chat
        .opened(2, Some(HOST), h.now + Duration::from_secs(10));
    assert_eq!(h.chat.poll_timeout(), Some(h.now + Duration::from_secs(30)));
    h.chat.handle_timeout(h.now + Duration::from_secs(30));
    h.pump();
    assert_eq!(h.closed[&1], (close_code::POLICY, "no join in time".into()));
    assert!(!h.closed.contains_key(&2));
    assert_eq!(h.chat.poll_timeout(), Some(h.now + Duration::from_secs(40)));
    h.connect(2, "alice", key("alice"));
    assert_eq!(h.chat.poll_timeout(), None, "joined: no deadline");
}

#[test]
fn a_watched_allow_list_is_refreshed_before_each_join_and_input_waits_for_it() {
    let mut h = Harness::new(Harness::default_settings());
    h.chat.watch_admission();
    h.connect(1, "alice", key("alice"));
    // The harness answers "unchanged": alice joins under the default policy.
    assert!(matches!(&h.take(1)[0], ClientEvent::Config { .. }));

    h.sessions
        .insert(2, ClientSession::new("bobby", key("bob")));
    h.chat.opened(2, Some(HOST), h.now);
    let join = h.sessions[&2].join_frame();
    h.chat.received(2, &join, h.now);
    let hello = h.session(1).message_to("ADMIN", "meanwhile").unwrap();
    h.chat.received(1, &hello.frame, h.now);
    assert_eq!(h.chat.poll_output(), Some(Output::RefreshAdmission));
    assert_eq!(
        h.chat.poll_output(),
        None,
        "nothing decided before the answer"
    );
    let (list, _) =
        crate::allow_list::AllowList::parse(&format!("{},alice\n", key("alice").public().key_id()));
    h.chat.admission_refreshed(Some(Admission::Listed(list)));
    h.pump();
    assert_eq!(
        h.take(2),
        vec![ClientEvent::Notice(join::NOT_ALLOWED.into())],
        "decided with the refreshed list"
    );
    assert!(
        h.console_has("meanwhile"),
        "the frame that waited is taken after"
    );
}

#[test]
fn the_allow_list_admits_listed_keys_under_their_listed_names() {
    let mut h = Harness::new(Harness::default_settings());
    let text = format!(
        "{},alice\n{},whatever\n",
        key("bob").public().key_id(),
        key("admin").public().key_id()
    );
    let (list, problems) = crate::allow_list::AllowList::parse(&text);
    assert!(problems.is_empty());
    h.chat.set_admission(Admission::Listed(list));
    h.connect(1, "bobby", key("bob"));
    assert!(
        matches!(&h.take(1)[0], ClientEvent::Config { name, .. } if name == "alice"),
        "listed name wins"
    );
    h.connect(2, "alice", key("alice"));
    assert_eq!(
        h.take(2),
        vec![ClientEvent::Notice(join::NOT_ALLOWED.into())]
    );
    assert!(h.closed.contains_key(&2));
    assert!(h.console_has("is not on the allow list"));
    h.connect(9, "web", key("admin"));
    assert!(matches!(
        &h.take(9)[0],
        ClientEvent::Config { is_admin: true, .. }
    ));
    h.console("/allowlist");
    assert!(h.console_has("allow list: 2 entries"));
    assert!(h.console_has("alice  connected as alice"));
    // Fail closed.
    h.chat
        .set_admission(Admission::Nobody("the allow list file is missing".into()));
    h.connect(3, "carol", key("small2048"));
    assert_eq!(
        h.take(3),
        vec![ClientEvent::Notice(join::NOT_ALLOWED.into())]
    );
    h.console("/a");
    assert!(h.console_has("nobody can join: the allow list file is missing"));
}

#[test]
fn welcomes_beyond_the_key_budget_wait_their_turn_instead_of_being_dropped() {
    let limits = Limits {
        welcome_signatures_per_second: 1.0,
        welcome_signature_burst: 1.0,
        ..Limits::default()
    };
    let settings = Settings {
        welcome: Some("hi".into()),
        ..Harness::default_settings()
    };
    let mut h = Harness::with_limits(settings, limits);
    h.connect(1, "alice", key("alice"));
    h.connect(2, "bobby", key("bob"));
    assert_eq!(h.messages(1), vec![msg("ADMIN", "alice", "hi")]);
    assert_eq!(
        h.messages(2),
        vec![],
        "no budget left for bobby's welcome yet"
    );
    h.chat.handle_timeout(h.now + Duration::from_millis(500));
    h.pump();
    assert_eq!(h.messages(2), vec![]);
    h.chat.handle_timeout(h.now + Duration::from_millis(1100));
    h.pump();
    assert_eq!(h.messages(2), vec![msg("ADMIN", "bobby", "hi")]);
}

#[test]
fn a_welcome_takes_one_token_per_part() {
    let limits = Limits {
        welcome_signatures_per_second: 1.0,
        welcome_signature_burst: 3.0,
        ..Limits::default()
    };
    let long = "word ".repeat(100);
    let settings = Settings {
        welcome: Some(long.trim().into()),
        ..Harness::default_settings()
    };
    let mut h = Harness::with_limits(settings, limits);
    h.connect(3, "carol", key("small2048"));
    let parts = h.messages(3).len();
    assert!(parts >= 3, "{parts}");
    h.connect(2, "bobby", key("bob"));
    assert!(
        h.messages(2).is_empty(),
        "carol's welcome took {parts} tokens"
    );
    h.chat.handle_timeout(h.now + Duration::from_millis(900));
    h.pump();
    assert!(h.messages(2).is_empty(), "still in debt");
    let back = Duration::from_millis(1000 * (parts as u64 - 3) + 1100);
    h.chat.handle_timeout(h.now + back);
    h.pump();
    assert!(!h.messages(2).is_empty());
}

#[test]
fn junk_frames_count_against_the_rate_too() {
    let limits = Limits {
        messages_per_second: 1.0,
        message_burst: 3.0,
        ..Limits::default()
    };
    let mut h = Harness::with_limits(Harness::default_settings(), limits);
    h.connect(1, "alice", key("alice"));
    h.take(1);
    for _ in 0..2 {
        h.send(1, "not json");
    }
    assert_eq!(h.take(1), vec![], "ignored quietly");
    assert_eq!(h.paused_until(1), None);
    h.send(1, "{}");
    assert!(h.paused_until(1).is_some(), "junk spent the budget");
    assert!(h.closed.is_empty());
}

#[test]
fn reconnecting_does_not_refill_a_keys_budget_nor_rejoin_without_end() {
    let limits = Limits {
        message_burst: 2.0,
        messages_per_second: 0.01,
        rejoin_burst: 3.0,
        rejoins_per_second: 0.01,
        ..Limits::default()
    };
    let mut h = Harness::with_limits(Harness::default_settings(), limits);
    h.connect(1, "alice", key("alice"));
    h.connect(2, "bobby", key("bob"));
    h.take(1);
    let out = h.session(2).message_to("alice", "spam").unwrap();
    h.send(2, &out.frame);
    h.send(2, &out.frame);
    assert_eq!(h.messages(1).len(), 2);
    h.chat.closed(2, None);
    h.pump();
    // The same key comes back at once: its message budget is still spent.
    h.connect(3, "bobby", key("bob"));
    h.take(1);
    let until = h
        .paused_until(3)
        .expect("the join's answer pauses the connection at once");
    assert!(until > h.now + Duration::from_secs(50), "{until:?}");
    // Third join of that key: allowed (burst 3); the fourth is refused.
    h.chat.closed(3, None);
    h.pump();
    h.connect(4, "bobby", key("bob"));
    h.chat.closed(4, None);
    h.pump();
    h.connect(5, "bobby", key("bob"));
    assert_eq!(
        h.take(5),
        vec![ClientEvent::Notice(join::REJOINING_TOO_OFTEN.into())]
    );
    assert!(h.closed.contains_key(&5));
    assert!(h.console_has("reconnecting too often"));
}

#[test]
fn the_administrators_name_is_refused_in_any_letter_case() {
    let mut h = Harness::new(Harness::default_settings());
    for (conn, name) in [(1, "admin"), (2, "Admin"), (3, "aDmIn"), (4, "ADMIN")] {
        h.connect(conn, name, key("bob"));
        assert_eq!(h.take(conn), vec![ClientEvent::InvalidUser], "{name}");
        assert!(h.closed.contains_key(&conn));
    }
    // The console names what the server was sent, and why.
    assert!(h.console_has(
        "join refused for \"admin\": the administrator's name (ADMIN) in other letters"
    ));
    assert!(h.console_has("join refused for \"Admin\""));
    assert!(h.console_has("join refused for \"ADMIN\": the administrator's name"));
    assert_eq!(h.chat.user_count(), 0);
    h.connect(5, "admin1", key("bob"));
    assert_eq!(h.chat.user_count(), 1);
}
