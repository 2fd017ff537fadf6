//! What a version-2 session sends: hybrid 1:1 messages, messages to all under the
//! current epoch (with a legacy copy for 0.9 users), key requests, and the resending of
//! a message to all the server refused as `stale-epoch`.

use std::collections::VecDeque;

use super::envelope::{Envelope, sign_and_seal};
use super::event::ClientEvent;
use super::seal::{ClientError, Outgoing, plaintext};
use super::session::ClientSession;
use super::v2_frames::{all_data, direct_data};
use dyspatcher_crypto::{PublicIdentity, SecretKey, seal_payload};

/// Messages to all kept (text and id) until acknowledged, to seal again after a
/// `stale-epoch` refusal; the oldest are forgotten beyond this.
pub const MAX_UNACKED_TO_ALL: usize = 256;

struct Unacked {
    id: String,
    text: String,
    legacy: bool,
    /// Refused as stale for this epoch, whose key has not arrived yet.
    waits_for: Option<u64>,
}

#[derive(Default)]
pub struct SentToAll {
    unacked: VecDeque<Unacked>,
}

impl SentToAll {
    fn remember(&mut self, id: &str, text: &str, legacy: bool) {
        if self.unacked.len() == MAX_UNACKED_TO_ALL {
            self.unacked.pop_front();
        }
        self.unacked.push_back(Unacked {
            id: id.to_owned(),
            text: text.to_owned(),
            legacy,
            waits_for: None,
        });
    }

    pub fn acked(&mut self, id: &str) {
        self.unacked.retain(|u| u.id != id);
    }
}

impl ClientSession {
    /// The envelope of a text message from us, stamped with the session's clock.
    pub fn envelope(&self, to: &str, id: &str, epoch: u64, text: &str) -> Envelope {
        Envelope::text(&self.name, to, id, self.now_ms(), epoch, text)
    }

    /// The `chat-getkeys` frame for `name`'s key, if it is listed, not known and not
    /// already asked for.
    pub fn key_request(&mut self, name: &str) -> Option<String> {
        let hash = self.user(name)?.hash.clone();
        self.key_cache.request(&self.name, &[&hash])
    }

    /// Version 2: the group key of `epoch` (the current or the previous one), for a
    /// hostile test that seals a payload of its own.
    pub fn epoch_key(&self, epoch: u64) -> Option<&SecretKey> {
        self.epochs.key(epoch)
    }

    /// The key of `key_id`, if the session has it (fetched, its own, the administrator's).
    pub fn known_key(&self, key_id: &str) -> Option<&PublicIdentity> {
        self.key_cache.get(key_id)
    }

    /// Version 2: the sealed payload of a message to `to` (1:1 or `"all"`) under `epoch`
    /// (for a hostile test: it can re-encrypt it for someone else).
    pub fn sealed_payload(&self, to: &str, id: &str, epoch: u64, text: &str) -> Vec<u8> {
        self.envelope(to, id, epoch, text).seal(&self.keys)
    }

    pub(crate) fn message_to_v2(&mut self, to: &str, text: &str) -> Result<Outgoing, ClientError> {
        self.check_text(text)?;
        let is_admin = self.admin_name.as_deref() == Some(to);
        let (key, old_client) = if is_admin {
            let hash = self.user(to).map(|u| u.hash.clone());
            let key = hash
                .and_then(|h| self.key_cache.get(&h))
                .ok_or_else(|| ClientError::UnknownRecipient(to.to_owned()))?;
            (key.clone(), false)
        } else {
            let key = self.recipient_key(to)?.clone();
            (key, self.user(to).is_some_and(|u| u.old_client))
        };
        let id = self.next_id();
        let epoch = self.epoch().unwrap_or(0);
        let payload = self.sealed_payload(to, &id, epoch, text);
        let data = if old_client {
            // A 0.9 user reads only 0.9 frames: one RSA block, routed.
            let mut data = super::seal::seal_rsa(
                &key,
                plaintext(&self.name, to, text).as_bytes(),
                &self.keys,
            )?;
            data.insert("to".into(), to.into());
            data.insert("id".into(), id.clone().into());
            data
        } else {
            direct_data(&key, to, &id, &payload)
        };
        // The web administrator's messages to others go to the console too: the same
        // envelope (its `to` the person written to), wrapped for the administrator's key.
        let copy = match self.admin_name.clone() {
            Some(admin) if self.is_admin && !is_admin => {
                let copy_id = self.next_id();
                let data = direct_data(self.keys.public(), &admin, &copy_id, &payload);
                Some(self.message_frame(data))
            }
            _ => None,
        };
        Ok(Outgoing {
            frame: self.message_frame(data),
            id,
            copy,
        })
    }

    pub(crate) fn message_to_all_v2(&mut self, text: &str) -> Result<Outgoing, ClientError> {
        self.check_text(text)?;
        let id = self.next_id();
        let frame = self.seal_to_all(&id, text, false)?;
        let legacy = if self.legacy_copies && self.users.iter().any(|u| u.old_client) {
            let legacy_id = self.next_id();
            let frame = self.seal_to_all(&legacy_id, text, true)?;
            self.sent_to_all.remember(&legacy_id, text, true);
            Some(frame)
        } else {
            None
        };
        self.sent_to_all.remember(&id, text, false);
        Ok(Outgoing {
            id,
            frame,
            copy: legacy,
        })
    }

    /// A frame to all under the current epoch; `legacy`: the 0.9 plaintext and its 0.9
    /// signature inside, for the 0.9 members.
    fn seal_to_all(&self, id: &str, text: &str, legacy: bool) -> Result<String, ClientError> {
        let (epoch, group) = self.epochs.current().ok_or(ClientError::NoGroupKey)?;
        let payload = if legacy {
            let plain = plaintext(&self.name, "all", text);
            seal_payload(&self.keys.sign(plain.as_bytes()), plain.as_bytes())
                .expect("an RSA signature is far below 64 KiB")
        } else {
            sign_and_seal(
                &self.envelope("all", id, epoch, text).to_bytes(),
                &self.keys,
            )
        };
        Ok(self.message_frame(all_data(group, epoch, id, &payload, legacy)))
    }

    fn check_text(&self, text: &str) -> Result<(), ClientError> {
        if text.len() > self.max_text {
            return Err(ClientError::TooLong {
                len: text.len(),
                max: self.max_text,
            });
        }
        Ok(())
    }

    /// `id` was refused as sealed under a stale epoch; the current one is `epoch`.
    pub(crate) fn stale(&mut self, id: &str, epoch: u64, events: &mut Vec<ClientEvent>) {
        let Some(unacked) = self.sent_to_all.unacked.iter_mut().find(|u| u.id == id) else {
            return;
        };
        unacked.waits_for = Some(epoch);
        self.resend_ready(events);
    }

    /// Seals again every refused message whose epoch key we now hold.
    pub(crate) fn resend_ready(&mut self, events: &mut Vec<ClientEvent>) {
        let Some(current) = self.epoch() else {
            return;
        };
        let ready: Vec<(String, String, bool)> = self
            .sent_to_all
            .unacked
            .iter_mut()
            .filter(|u| u.waits_for.is_some_and(|e| e <= current))
            .map(|u| {
                u.waits_for = None;
                (u.id.clone(), u.text.clone(), u.legacy)
            })
            .collect();
        for (id, text, legacy) in ready {
            if let Ok(frame) = self.seal_to_all(&id, &text, legacy) {
                events.push(ClientEvent::Resend { id, frame });
            }
        }
    }
}
