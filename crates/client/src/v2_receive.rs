//! What a version-2 session makes of the server's version-2 frames: the config and its
//! member key, group keys, users and presence with Key IDs only, lazily fetched keys,
//! and messages checked in the order of docs/PROTOCOL.md ("Receiving").

use serde_json::{Map, Value};

use super::envelope::{self, KIND_TEXT};
use super::event::{Algo, ClientEvent, DropReason, FlagReason, User};
use super::key_cache::KeyAnswer;
use super::replay_guard::Verdict;
use super::session::{ClientSession, Unread, b64_field, bool_field, str_field};
use dyspatcher_crypto::{
    PublicIdentity, SecretKey, b64_decode, envelope_signed_bytes, key_id_of_der, open_payload,
};

impl ClientSession {
    pub(crate) fn config_v2(&mut self, data: &Map<String, Value>) -> Result<ClientEvent, String> {
        let name = str_field(data, "user")?.to_owned();
        let is_admin = bool_field(data, "is-admin")?;
        let disable_all = bool_field(data, "disable-all")?;
        let key_id = str_field(data, "keyid")?.to_owned();
        let admin = str_field(data, "admin")?.to_owned();
        let admin_key = data
            .get("adminkey")
            .and_then(Value::as_object)
            .ok_or("no adminkey object")?;
        let admin_der =
            b64_decode(str_field(admin_key, "text")?).ok_or("adminkey text is not base64")?;
        if key_id_of_der(&admin_der) != str_field(admin_key, "hash")? {
            return Err("adminkey's hash is not the SHA-256 of its key".into());
        }
        let admin_key =
            PublicIdentity::from_spki_der(&admin_der).map_err(|_| "adminkey is not RSA")?;
        let wrapped = b64_decode(str_field(data, "memberkey")?).ok_or("memberkey not base64")?;
        let member = self
            .keys
            .decrypt(&wrapped)
            .and_then(|raw| SecretKey::from_slice(&raw))
            .ok_or("memberkey does not open with our key to 32 bytes")?;
        if let Some(max) = data.get("max-text").and_then(Value::as_u64) {
            self.max_text = usize::try_from(max).unwrap_or(usize::MAX);
        }
        self.key_cache.insert(admin_key);
        self.epochs.set_member_key(member);
        self.admin_name = Some(admin);
        self.configured = true;
        self.name.clone_from(&name);
        self.is_admin = is_admin;
        self.disable_all = disable_all;
        self.key_id = Some(key_id.clone());
        Ok(ClientEvent::Config {
            name,
            is_admin,
            disable_all,
            key_id,
        })
    }

    pub(crate) fn group_key_v2(
        &mut self,
        data: &Map<String, Value>,
    ) -> Result<ClientEvent, String> {
        let epoch = data
            .get("epoch")
            .and_then(Value::as_u64)
            .ok_or("no epoch")?;
        let iv = b64_decode(str_field(data, "iv")?).ok_or("iv not base64")?;
        let wrapped = b64_decode(str_field(data, "key")?).ok_or("key not base64")?;
        self.epochs
            .take_wrapped(&self.name, epoch, &iv, &wrapped)
            .map_err(|e| format!("chat-groupkey of epoch {epoch}: {e}"))?;
        Ok(ClientEvent::GroupKey { epoch })
    }

    /// `chat-users`: replaces the list, keys filled from those already fetched.
    pub(crate) fn users_v2(
        &mut self,
        data: &Map<String, Value>,
        events: &mut Vec<ClientEvent>,
    ) -> Result<(), String> {
        let users = self.v2_users(data)?;
        self.users.clone_from(&users);
        self.looked_up.clear();
        events.push(ClientEvent::UsersList(users));
        self.take_count(data, events);
        Ok(())
    }

    /// `chat-presence`: `join` replaces an entry of the same name (a looked-up user is
    /// listed now), `left` of an unknown name is ignored; one event per change, in
    /// order, then [`ClientEvent::Count`] if the count changed (alone when `changes` is
    /// empty: in a large room, joins beyond the listed are not announced).
    pub(crate) fn presence_v2(
        &mut self,
        data: &Map<String, Value>,
        events: &mut Vec<ClientEvent>,
    ) -> Result<(), String> {
        let changes = data
            .get("changes")
            .and_then(Value::as_array)
            .ok_or("no changes array")?;
        for change in changes {
            let Some(items) = change.as_array() else {
                events.push(ClientEvent::Ignored {
                    reason: "a presence change is not an array".into(),
                });
                continue;
            };
            match items.first().and_then(Value::as_str) {
                Some("join") => match self.v2_user(&Value::Array(items[1..].to_vec())) {
                    Some(user) => {
                        self.users.retain(|u| u.name != user.name);
                        self.looked_up.remove(&user.name);
                        self.users.push(user.clone());
                        events.push(ClientEvent::Joined(user));
                    }
                    None => events.push(ClientEvent::Ignored {
                        reason: "a presence join is not [\"join\", name, Key ID(, \"0.9\")]".into(),
                    }),
                },
                Some("left") => {
                    if let Some(name) = items.get(1).and_then(Value::as_str)
                        && self.users.iter().any(|u| u.name == name)
                    {
                        self.users.retain(|u| u.name != name);
                        self.looked_up.remove(name);
                        events.push(ClientEvent::Left {
                            name: name.to_owned(),
                        });
                    }
                }
                _ => events.push(ClientEvent::Ignored {
                    reason: "an unknown presence change".into(),
                }),
            }
        }
        self.take_count(data, events);
        Ok(())
    }

    /// `[name, Key ID]` or `[name, Key ID, "0.9"]`, with the key if we hold it.
    /// The `users` array of `chat-users` or `chat-found`.
    pub(crate) fn v2_users(&self, data: &Map<String, Value>) -> Result<Vec<User>, String> {
        data.get("users")
            .and_then(Value::as_array)
            .ok_or("no users array")?
            .iter()
            .map(|entry| {
                self.v2_user(entry)
                    .ok_or_else(|| "a users entry is not [name, Key ID(, \"0.9\")]".to_string())
            })
            .collect()
    }

    pub(crate) fn v2_user(&self, entry: &Value) -> Option<User> {
        let items = entry.as_array()?;
        let (name, hash) = (items.first()?.as_str()?, items.get(1)?.as_str()?);
        let old_client = match items.get(2) {
            None => false,
            Some(Value::String(flag)) if flag == "0.9" => true,
            Some(_) => return None,
        };
        Some(User {
            name: name.to_owned(),
            hash: hash.to_owned(),
            key: self.key_cache.get(hash).cloned(),
            old_client,
        })
    }

    /// `chat-key`: the key goes to every known user of that Key ID, and the frames that
    /// waited for it are read now. The owner of a key asked for by a sender's `fromkey`
    /// is not known yet: it becomes looked up (the server follows it for us now).
    pub(crate) fn key_v2(
        &mut self,
        data: &Map<String, Value>,
        events: &mut Vec<ClientEvent>,
    ) -> Result<(), String> {
        let key_id = str_field(data, "keyid")?.to_owned();
        let answer = self.key_cache.answer(
            &key_id,
            data.get("name").and_then(Value::as_str),
            data.get("publickey").and_then(Value::as_str),
            data.get("missing").and_then(Value::as_bool) == Some(true),
        );
        match answer {
            KeyAnswer::Arrived { key_id, name } => {
                let key = self.key_cache.get(&key_id).cloned();
                for user in self.users.iter_mut().filter(|u| u.hash == key_id) {
                    user.key.clone_from(&key);
                }
                if self.user(&name).is_none() && name != self.name {
                    self.look_up(User {
                        name: name.clone(),
                        hash: key_id.clone(),
                        key,
                        old_client: false,
                    });
                }
                events.push(ClientEvent::KeyArrived {
                    key_id: key_id.clone(),
                    name,
                });
                for frame in self.key_cache.take_waiting(&key_id) {
                    events.extend(self.handle(&frame));
                }
            }
            KeyAnswer::Missing { key_id } => {
                events.push(ClientEvent::KeyMissing {
                    key_id: key_id.clone(),
                });
                for frame in self.key_cache.take_waiting(&key_id) {
                    let from = serde_json::from_str::<Value>(&frame)
                        .ok()
                        .and_then(|v| v["data"]["from"].as_str().map(str::to_owned))
                        .unwrap_or_default();
                    events.push(ClientEvent::V2Dropped {
                        reason: DropReason::UnknownSender(from.clone()),
                        from,
                    });
                }
            }
            KeyAnswer::Rejected(reason) => events.push(ClientEvent::Ignored { reason }),
        }
        Ok(())
    }

    /// Keeps `frame` until the key of `key_id` comes, asking for it if not yet asked.
    pub(crate) fn wait_for_key(
        &mut self,
        key_id: &str,
        frame: &str,
        events: &mut Vec<ClientEvent>,
    ) {
        if !self.key_cache.wait(key_id, frame) {
            let from = serde_json::from_str::<Value>(frame)
                .ok()
                .and_then(|v| v["data"]["from"].as_str().map(str::to_owned))
                .unwrap_or_default();
            events.push(ClientEvent::V2Dropped {
                from,
                reason: DropReason::TooManyWaiting,
            });
            return;
        }
        let name = self.name.clone();
        if let Some(frame) = self.key_cache.request(&name, &[key_id]) {
            events.push(ClientEvent::NeedKeys { frame });
        }
    }

    /// The sealed payload of a version-2 message frame, decrypted and nothing checked;
    /// `None` when this session cannot decrypt it (a hostile test's tool).
    pub fn decrypt_payload(&self, frame: &str) -> Option<Vec<u8>> {
        let value: Value = serde_json::from_str(frame).ok()?;
        let data = value.get("data")?.as_object()?;
        self.decrypt_v2(data).ok()
    }

    fn decrypt_v2(&self, data: &Map<String, Value>) -> Result<Vec<u8>, DropReason> {
        let iv = b64_field(data, "iv")?;
        let ciphertext = b64_field(data, "ciphertext")?;
        if data.get("to").and_then(Value::as_str) == Some("all") {
            let epoch = data
                .get("epoch")
                .and_then(Value::as_u64)
                .ok_or(DropReason::Malformed("epoch"))?;
            let group = self
                .epochs
                .key(epoch)
                .ok_or(DropReason::NoKeyForEpoch(epoch))?;
            group
                .decrypt(&iv, &ciphertext, b"")
                .ok_or(DropReason::Undecryptable)
        } else {
            let wrapped = b64_field(data, "wrapped")?;
            let k = self
                .keys
                .decrypt(&wrapped)
                .and_then(|raw| SecretKey::from_slice(&raw))
                .ok_or(DropReason::NotForMe)?;
            k.decrypt(&iv, &ciphertext, b"")
                .ok_or(DropReason::Undecryptable)
        }
    }

    pub(crate) fn message_v2(
        &mut self,
        frame: &str,
        data: &Map<String, Value>,
        events: &mut Vec<ClientEvent>,
    ) -> Result<(), String> {
        let from = str_field(data, "from")?.to_owned();
        match self.read_v2(&from, data) {
            Ok(event) => events.push(event),
            Err(Unread::Drop(reason)) => events.push(ClientEvent::V2Dropped { from, reason }),
            Err(Unread::WaitForKey(key_id)) => self.wait_for_key(&key_id, frame, events),
        }
        Ok(())
    }

    /// The checks of docs/PROTOCOL.md "Receiving", in its order.
    fn read_v2(&mut self, from: &str, data: &Map<String, Value>) -> Result<ClientEvent, Unread> {
        // 1. Decrypt.
        let payload = self.decrypt_v2(data)?;
        let to_all = data.get("to").and_then(Value::as_str) == Some("all");
        if to_all && data.get("legacy").and_then(Value::as_bool) == Some(true) {
            return self.read_legacy(from, fromkey(data), &payload);
        }
        let opened = envelope::open(&payload).ok_or(DropReason::BadPlaintext)?;
        let Some(envelope) = opened.envelope else {
            return Err(DropReason::BadPlaintext.into());
        };
        // 2. From the relay's sender, signed by that sender.
        if envelope.from != from {
            return Ok(flag(
                &envelope.from,
                FlagReason::NotFromRelay {
                    relay_from: from.to_owned(),
                },
            ));
        }
        let verified = if self.verify {
            let key = self.sender_key(from, fromkey(data))?;
            if !key.verify(&envelope_signed_bytes(opened.bytes), opened.signature) {
                return Ok(flag(&envelope.from, FlagReason::BadSignature));
            }
            true
        } else {
            false
        };
        // 3. Addressed to us (or our own copy), or to all in the frame's epoch.
        let frame_epoch = data.get("epoch").and_then(Value::as_u64);
        let addressed = if to_all {
            envelope.to == "all" && Some(envelope.epoch) == frame_epoch
        } else {
            envelope.to == self.name || envelope.from == self.name
        };
        if !addressed {
            return Ok(flag(
                &envelope.from,
                FlagReason::AddressedElsewhere {
                    to: envelope.to.clone(),
                },
            ));
        }
        if envelope.kind != KIND_TEXT && !crate::file::is_file_offer(&envelope) {
            return Err(DropReason::UnknownKind(envelope.kind).into());
        }
        // 4 and 5. In the window, and not seen before.
        match self
            .replay
            .check(&envelope.from, &envelope.id, envelope.time, self.now_ms())
        {
            Verdict::Fresh => Ok(ClientEvent::V2Message { envelope, verified }),
            Verdict::OutOfWindow { skew_ms } => Err(DropReason::OutOfWindow { skew_ms }.into()),
            Verdict::Replay => Err(DropReason::Replay { id: envelope.id }.into()),
        }
    }

    /// A legacy frame to all: a 0.9 user's plaintext and 0.9 signature, relayed by the
    /// server under the epoch key. It carries no id or time: shown as a 0.9 message.
    fn read_legacy(
        &self,
        from: &str,
        fromkey: Option<&str>,
        payload: &[u8],
    ) -> Result<ClientEvent, Unread> {
        let (signature, plain) = open_payload(payload).ok_or(DropReason::BadPlaintext)?;
        let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(plain) else {
            return Err(DropReason::BadPlaintext.into());
        };
        let (Some(claimed), Some(to), Some(text)) = (
            fields.get("from").and_then(Value::as_str),
            fields.get("to").and_then(Value::as_str),
            fields.get("message").and_then(Value::as_str),
        ) else {
            return Err(DropReason::BadPlaintext.into());
        };
        if claimed != from {
            return Ok(flag(
                claimed,
                FlagReason::NotFromRelay {
                    relay_from: from.to_owned(),
                },
            ));
        }
        if to != "all" {
            return Ok(flag(
                claimed,
                FlagReason::AddressedElsewhere { to: to.to_owned() },
            ));
        }
        let verified = if self.verify {
            if !self.sender_key(from, fromkey)?.verify(plain, signature) {
                return Ok(flag(claimed, FlagReason::BadSignature));
            }
            true
        } else {
            false
        };
        Ok(ClientEvent::Message {
            from: from.to_owned(),
            to: to.to_owned(),
            text: text.to_owned(),
            algo: Algo::Aes,
            verified,
            id: None,
        })
    }
}

/// The relay's `fromkey`: the Key ID of the sending connection.
fn fromkey(data: &Map<String, Value>) -> Option<&str> {
    data.get("fromkey").and_then(Value::as_str)
}

fn flag(claimed_from: &str, why: FlagReason) -> ClientEvent {
    ClientEvent::Flagged {
        claimed_from: claimed_from.to_owned(),
        why,
    }
}
