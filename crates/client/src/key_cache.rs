//! Version 2's lazy public keys: the keys fetched by Key ID (`chat-getkeys` /
//! `chat-key`), the requests on their way, and the message frames waiting for a
//! sender's key. A users list only names Key IDs; a key is asked for when first needed.

use std::collections::{HashMap, HashSet, VecDeque};

use serde_json::json;

use super::seal::frame;
use dyspatcher_crypto::{PublicIdentity, b64_decode, key_id_of_der};

/// Key IDs per `chat-getkeys` frame: the server ignores more (docs/PROTOCOL.md).
pub const MAX_KEYIDS_PER_REQUEST: usize = 64;
/// Message frames kept while their sender's key is on its way; more are dropped, so a
/// flood of frames naming unknown keys cannot grow a client without bound.
pub const MAX_WAITING_FRAMES: usize = 256;

/// What a `chat-key` answer turned out to be.
#[derive(Debug, PartialEq)]
pub enum KeyAnswer {
    /// A key whose DER hashes to the Key ID asked for.
    Arrived { key_id: String, name: String },
    /// No connected user has that key.
    Missing { key_id: String },
    /// Not asked for, not the key of its Key ID, or not an RSA key: ignored.
    Rejected(String),
}

#[derive(Default)]
pub struct KeyCache {
    keys: HashMap<String, PublicIdentity>,
    requested: HashSet<String>,
    /// `(Key ID, the frame as received)`, oldest first.
    waiting: VecDeque<(String, String)>,
}

impl KeyCache {
    pub fn get(&self, key_id: &str) -> Option<&PublicIdentity> {
        self.keys.get(key_id)
    }

    /// A key the session got by other means (its own, the administrator's from the config).
    pub fn insert(&mut self, key: PublicIdentity) {
        self.keys.insert(key.key_id().to_owned(), key);
    }

    /// The `chat-getkeys` frame asking for those of `key_ids` neither known nor already
    /// asked for (at most [`MAX_KEYIDS_PER_REQUEST`]); `None` when there is nothing to ask.
    pub fn request(&mut self, sender: &str, key_ids: &[&str]) -> Option<String> {
        let mut asked = Vec::new();
        for id in key_ids {
            if asked.len() == MAX_KEYIDS_PER_REQUEST {
                break;
            }
            if !self.keys.contains_key(*id)
                && !asked.contains(id)
                && self.requested.insert((*id).to_owned())
            {
                asked.push(*id);
            }
        }
        (!asked.is_empty()).then(|| {
            frame(
                "signal",
                sender,
                json!({"code": "chat-getkeys", "keyids": asked}),
            )
        })
    }

    /// Takes a `chat-key` answer's fields. The Key ID must be one we asked for and the
    /// SHA-256 of the DER must be that Key ID.
    pub fn answer(
        &mut self,
        key_id: &str,
        name: Option<&str>,
        spki_b64: Option<&str>,
        missing: bool,
    ) -> KeyAnswer {
        if !self.requested.contains(key_id) {
            return KeyAnswer::Rejected(format!("a key nobody asked for: {key_id:.16}"));
        }
        if missing {
            self.requested.remove(key_id);
            return KeyAnswer::Missing {
                key_id: key_id.to_owned(),
            };
        }
        let (Some(name), Some(der)) = (name, spki_b64.and_then(b64_decode)) else {
            return KeyAnswer::Rejected("a chat-key without name or publickey".into());
        };
        if key_id_of_der(&der) != key_id {
            return KeyAnswer::Rejected(format!(
                "the key sent for {key_id:.16} has another Key ID"
            ));
        }
        let Ok(key) = PublicIdentity::from_spki_der(&der) else {
            return KeyAnswer::Rejected("the key sent is not an RSA key".into());
        };
        self.requested.remove(key_id);
        self.keys.insert(key_id.to_owned(), key);
        KeyAnswer::Arrived {
            key_id: key_id.to_owned(),
            name: name.to_owned(),
        }
    }

    /// Keeps `frame` until the key of `key_id` arrives; `false` when too many wait.
    pub fn wait(&mut self, key_id: &str, frame: &str) -> bool {
        if self.waiting.len() >= MAX_WAITING_FRAMES {
            return false;
        }
        self.waiting
            .push_back((key_id.to_owned(), frame.to_owned()));
        true
    }

    /// The frames that waited for `key_id`, in the order they came.
    pub fn take_waiting(&mut self, key_id: &str) -> Vec<String> {
        let (ready, rest) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|(id, _)| id == key_id);
        self.waiting = rest;
        ready.into_iter().map(|(_, frame)| frame).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dyspatcher_crypto::b64_encode;

    fn bob() -> PublicIdentity {
        let pem = std::fs::read_to_string(format!(
            "{}/../../tests/vectors/bob.pub.pem",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        PublicIdentity::from_pem(&pem).unwrap()
    }

    #[test]
    fn asks_once_and_takes_only_the_key_of_its_key_id() {
        let bob = bob();
        let id = bob.key_id().to_owned();
        let mut cache = KeyCache::default();
        let ask = cache.request("alice", &[&id, &id]).unwrap();
        let v: serde_json::Value = serde_json::from_str(&ask).unwrap();
        assert_eq!(v["data"]["keyids"], json!([id]));
        assert_eq!(cache.request("alice", &[&id]), None, "already on its way");

        let other = "0".repeat(64);
        assert!(matches!(
            cache.answer(&other, Some("bob"), Some(bob.spki_b64()), false),
            KeyAnswer::Rejected(_)
        ));
        cache.requested.insert(other.clone());
        assert!(matches!(
            cache.answer(&other, Some("bob"), Some(bob.spki_b64()), false),
            KeyAnswer::Rejected(why) if why.contains("another Key ID")
        ));
        let spki = b64_encode(&b64_decode(bob.spki_b64()).unwrap());
        assert_eq!(
            cache.answer(&id, Some("bob"), Some(&spki), false),
            KeyAnswer::Arrived {
                key_id: id.clone(),
                name: "bob".into()
            }
        );
        assert_eq!(cache.get(&id).unwrap().key_id(), id);
        assert_eq!(cache.request("alice", &[&id]), None, "known");
        assert_eq!(
            cache.answer(&other, None, None, true),
            KeyAnswer::Missing { key_id: other }
        );
    }

    #[test]
    fn at_most_64_per_request_and_a_bounded_wait() {
        let ids: Vec<String> = (0..100).map(|i| format!("{i:064}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut cache = KeyCache::default();
        let ask: serde_json::Value =
            serde_json::from_str(&cache.request("alice", &refs).unwrap()).unwrap();
        assert_eq!(ask["data"]["keyids"].as_array().unwrap().len(), 64);
        for i in 0..MAX_WAITING_FRAMES {
            assert!(cache.wait(&ids[i % 2], &format!("f{i}")));
        }
        assert!(!cache.wait(&ids[0], "one too many"));
        let first = cache.take_waiting(&ids[0]);
        assert_eq!(first.len(), MAX_WAITING_FRAMES / 2);
        assert_eq!(first[0], "f0");
        assert!(cache.wait(&ids[0], "room again"));
    }
}
