//! Shared pieces of the fuzz targets: a chat with users already joined, driven by a
//! simulated clock; and the server's WebSocket configuration.

use std::time::{Duration, Instant};

use dyspatcher::fuzzing::{Chat, ConnId, Output, Settings};
use dyspatcher_crypto::{GroupKey, KeyPair, PublicIdentity};
use dyspatcher::fuzzing::Limits;

/// A 2048-bit administrator key: the same code paths as RSA-4096 at a quarter of the
/// cost of each private-key operation, so the fuzzer runs faster.
const ADMIN_PEM: &str = include_str!("../../tests/vectors/small2048.pkcs8.pem");
const ALICE_PUB: &str = include_str!("../../tests/vectors/alice.pub.pem");
const BOB_PUB: &str = include_str!("../../tests/vectors/bob.pub.pem");

/// The group key of every harness chat: seeds can be built with it.
pub const GROUP_KEY: [u8; 32] = [7; 32];

pub use dyspatcher::fuzzing::websocket_config;

pub struct Harness {
    pub chat: Chat,
    pub now: Instant,
    pub next_conn: ConnId,
}

pub const ALICE: ConnId = 1;
pub const BOB: ConnId = 2;
/// Opened, never joined.
pub const STRANGER: ConnId = 3;

impl Harness {
    /// A chat where alice (conn 1) and bob (conn 2) have joined and conn 3 is open.
    pub fn new(welcome: Option<&str>) -> Self {
        let admin = KeyPair::from_pem(ADMIN_PEM).expect("vector key");
        let now = Instant::now();
        let settings = Settings {
            admin_name: "ADMIN".into(),
            disable_all: false,
            only_admin: false,
            welcome: welcome.map(str::to_string),
            allow_unproven_keys: false,
            allow_unproven_admin: false,
        };
        let chat = Chat::new(
            settings,
            Limits::default(),
            std::sync::Arc::new(admin),
            GroupKey::from_bytes(GROUP_KEY),
            [0; 32],
            now,
        );
        let mut h = Self {
            chat,
            now,
            next_conn: 4,
        };
        for (conn, name, pem) in [(ALICE, "alice", ALICE_PUB), (BOB, "bob", BOB_PUB)] {
            let key = PublicIdentity::from_pem(pem).expect("vector key");
            h.chat.opened(conn, Some("fuzz"), now);
            let join = format!(
                r#"{{"cmd":"signal","user":"{name}","data":{{"code":"chat-join","publickey":"{}"}}}}"#,
                key.spki_b64()
            );
            h.chat.received(conn, &join, now);
        }
        h.chat.opened(STRANGER, Some("fuzz"), now);
        h.drain();
        h
    }

    pub fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
    }

    /// Takes every output and checks what must always hold: frames are JSON objects
    /// with `cmd`, `user` and `data`, and go to somebody.
    pub fn drain(&mut self) -> usize {
        let mut n = 0;
        while let Some(output) = self.chat.poll_output() {
            n += 1;
            if let Output::Send { to, frame } = output {
                assert!(!to.is_empty(), "a frame to nobody");
                let value: serde_json::Value =
                    serde_json::from_str(&frame.to_text()).expect("server frames are JSON");
                assert!(
                    value["cmd"].is_string()
                        && value["user"].is_string()
                        && value["data"].is_object(),
                    "bad frame {:.200}",
                    frame.to_text()
                );
            }
        }
        n
    }
}
