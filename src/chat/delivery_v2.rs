//! Version-2 messages from clients (docs/PROTOCOL.md, "Version 2", "Messages"):
//!
//! - 1:1 to a version-2 user: sizes checked, relayed to that user alone with `from`
//!   added; no cryptography on the server. To a 0.9 user: refused (`old-client`).
//! - 1:1 to the administrator: the message key unwrapped off the loop (a private-key
//!   job), the payload opened and its envelope checked, shown on the console, passed to
//!   a version-2 web administrator that did not send it.
//! - to all: of the current epoch only; decrypted with its group key, envelope and
//!   signature checked (public operations), shown, relayed to every other version-2
//!   member.
//! - to all, `legacy`: the 0.9 plaintext and signature inside, checked as a 0.9 `aes`
//!   frame is, then relayed to the 0.9 members as one, under their group key.

use super::delivery::printable;
use super::envelope::{Unsealed, open_signed};
use super::frames::{self, Algo, MessageData, Plaintext};
use super::held::Holding;
use super::private_work::{Lane, PrivateOp, Sender, Task};
use super::v2_frames::{self, V2Data, Why};
use super::{Chat, ConnId};
use crate::crypto::{SECRET_IV_LEN, SecretKey, b64_decode, b64_encode, open_payload};

const ONLY_ADMIN: &str = "On this server you can only write to the administrator.";
const ALL_DISABLED: &str = "Messages to everybody are disabled on this server.";
const MALFORMED: &str = "The message is malformed: not delivered.";
const NOT_YOURS: &str =
    "The message's envelope or signature is not yours for this recipient: not delivered.";
const BAD_SIZE: &str =
    "The message's wrapped key or IV does not have the size its key gives: not delivered.";
const NOT_FOR_ADMIN: &str =
    "The message's key was not wrapped with the administrator's key: not delivered.";
const TOO_LONG: &str = "The message's text is longer than this server takes: not delivered.";

/// The smallest AES-GCM ciphertext of a sealed payload: its tag and length prefix.
const MIN_SEALED_CIPHERTEXT: usize = 16 + 2;

impl Chat {
    pub(super) fn message_v2(&mut self, conn: ConnId, data: V2Data) {
        // A 0.9 session never asked for version 2: nothing of it is answered.
        if !self.users.member(conn).is_some_and(|m| m.is_v2()) {
            return;
        }
        let Some(data) = self.checked_file_offer(conn, data) else {
            return;
        };
        if data.to == "all" {
            return if data.legacy {
                self.legacy_copy_to_all(conn, data)
            } else {
                self.deliver_to_all_v2(conn, data)
            };
        }
        if data.to == self.settings.admin_name {
            return self.deliver_to_admin_v2(conn, data);
        }
        self.deliver_to_user_v2(conn, data)
    }

    fn deliver_to_user_v2(&mut self, conn: ConnId, data: V2Data) {
        let sender_is_admin = self.users.member(conn).is_some_and(|m| m.is_web_admin);
        if self.settings.only_admin && !sender_is_admin {
            return self.undelivered_v2(conn, &data, ONLY_ADMIN, Why::OnlyAdmin);
        }
        let decoded = (
            data.wrapped.as_deref().and_then(b64_decode),
            b64_decode(&data.iv),
            b64_decode(&data.ciphertext),
        );
        let (Some(wrapped), Some(iv), Some(ciphertext)) = decoded else {
            return self.undelivered_v2(conn, &data, MALFORMED, Why::Malformed);
        };
        let Some(recipient) = self.users.by_name(&data.to) else {
            return self.hold_or_refuse(conn, &data, wrapped.len(), &iv, &ciphertext);
        };
        let member = self.users.member(recipient).expect("by_name is joined");
        if !member.is_v2() {
            let reason = format!(
                "{}'s client does not read version 2: write to it as to a 0.9 client.",
                member.name
            );
            return self.undelivered_v2(conn, &data, &reason, Why::OldClient);
        }
        // A 1:1 frame is never larger than its text needs and its key gives.
        if wrapped.len() != member.identity.modulus_bytes()
            || iv.len() != SECRET_IV_LEN
            || ciphertext.len() < MIN_SEALED_CIPHERTEXT
        {
            return self.undelivered_v2(conn, &data, BAD_SIZE, Why::BadSize);
        }
        let member = self.users.member(conn).expect("checked");
        let frame = data.relayed_from(&member.name, member.identity.key_id());
        self.send_one(recipient, frame);
        self.delivered_v2(conn, &data);
    }

    /// To a name not connected: held if its user left a short while ago (`held.rs`).
    fn hold_or_refuse(
        &mut self,
        conn: ConnId,
        data: &V2Data,
        wrapped_len: usize,
        iv: &[u8],
        ciphertext: &[u8],
    ) {
        let to = printable(&data.to);
        if iv.len() != SECRET_IV_LEN || ciphertext.len() < MIN_SEALED_CIPHERTEXT {
            return self.undelivered_v2(conn, data, BAD_SIZE, Why::BadSize);
        }
        if data.file.is_some() {
            // A file's chunks follow its offer at once: a transfer cannot wait.
            let reason = format!("{to} is not connected: not delivered.");
            return self.undelivered_v2(conn, data, &reason, Why::NotConnected);
        }
        let member = self.users.member(conn).expect("checked");
        let (from, sender_key) = (member.name.clone(), member.identity.key_id().to_string());
        let frame = data.relayed_from(&from, &sender_key);
        match self.hold(&sender_key, data, wrapped_len, frame) {
            Holding::Held(until_ms) => {
                let frame = v2_frames::held(data.valid_id(), &to, until_ms);
                self.send_one(conn, frame);
            }
            Holding::NotHeld => {
                let reason = format!("{to} is not connected: not delivered.");
                self.undelivered_v2(conn, data, &reason, Why::NotConnected);
            }
            Holding::Full => {
                let reason = format!(
                    "{to} is not connected, and the messages held (for {to}, from you, or in all) are at their limit: not delivered."
                );
                self.undelivered_v2(conn, data, &reason, Why::NotConnected);
            }
            Holding::BadSize => self.undelivered_v2(conn, data, BAD_SIZE, Why::BadSize),
        }
    }

    fn deliver_to_admin_v2(&mut self, conn: ConnId, data: V2Data) {
        let decoded = (
            data.wrapped.as_deref().and_then(b64_decode),
            b64_decode(&data.iv),
            b64_decode(&data.ciphertext),
        );
        let (Some(wrapped), Some(iv), Some(ciphertext)) = decoded else {
            return self.undelivered_v2(conn, &data, MALFORMED, Why::Malformed);
        };
        if wrapped.len() != self.admin.public().modulus_bytes() {
            return self.undelivered_v2(conn, &data, NOT_FOR_ADMIN, Why::BadSize);
        }
        if iv.len() != SECRET_IV_LEN || ciphertext.len() < MIN_SEALED_CIPHERTEXT {
            return self.undelivered_v2(conn, &data, BAD_SIZE, Why::BadSize);
        }
        if let Some(reason) = self.admin_queue_refusal(conn) {
            return self.undelivered_v2(conn, &data, &reason, Why::AdminQueue);
        }
        let task = Task::ForAdminV2 {
            sender: Box::new(self.sender(conn)),
            data,
            iv,
            ciphertext,
        };
        self.start_work(Lane::Conn(conn), task, vec![PrivateOp::Decrypt(wrapped)]);
    }

    /// The message key of a message to the administrator is unwrapped (`None`: it was
    /// not wrapped for the administrator's key). The envelope must be the sender's, to
    /// the administrator, or (the web administrator's console copy) to anyone.
    pub(super) fn decrypted_for_admin_v2(
        &mut self,
        sender: Sender,
        data: V2Data,
        key: Option<Vec<u8>>,
        iv: &[u8],
        ciphertext: &[u8],
    ) {
        let Some(key) = key.as_deref().and_then(SecretKey::from_slice) else {
            return self.refused_v2(&sender, &data, NOT_FOR_ADMIN, Why::NotYours);
        };
        let Some(payload) = key.decrypt(iv, ciphertext, b"") else {
            return self.refused_v2(&sender, &data, MALFORMED, Why::Malformed);
        };
        let envelope = match open_signed(&payload, &sender.identity) {
            Ok(envelope) => envelope,
            Err(Unsealed::Malformed) => {
                return self.refused_v2(&sender, &data, MALFORMED, Why::Malformed);
            }
            Err(Unsealed::BadSignature) => {
                return self.refused_v2(&sender, &data, NOT_YOURS, Why::NotYours);
            }
        };
        let admin = &self.settings.admin_name;
        if envelope.from != sender.name || (!sender.is_web_admin && envelope.to != *admin) {
            return self.refused_v2(&sender, &data, NOT_YOURS, Why::NotYours);
        }
        let line = self.message_line(
            &envelope.from,
            sender.is_web_admin,
            &envelope.to,
            &envelope.shown(),
        );
        self.console(line);
        let web_admin = self
            .users
            .web_admin()
            .filter(|&c| Some(c) != sender.conn)
            .filter(|&c| self.users.member(c).is_some_and(|m| m.is_v2()));
        if let Some(web_admin) = web_admin {
            let frame = data.relayed_from(&sender.name, sender.identity.key_id());
            self.send_one(web_admin, frame);
        }
        if let Some(conn) = sender.conn {
            self.delivered_v2(conn, &data);
        }
    }

    fn deliver_to_all_v2(&mut self, conn: ConnId, data: V2Data) {
        let Some(iv_ct) = self.open_to_all(conn, &data) else {
            return;
        };
        let member = self.users.member(conn).expect("checked by the caller");
        let envelope = match open_signed(&iv_ct, &member.identity) {
            Ok(envelope) => envelope,
            Err(Unsealed::Malformed) => {
                return self.undelivered_v2(conn, &data, MALFORMED, Why::Malformed);
            }
            Err(Unsealed::BadSignature) => {
                return self.undelivered_v2(conn, &data, NOT_YOURS, Why::NotYours);
            }
        };
        let epoch = self.keys.epoch();
        if envelope.from != member.name || envelope.to != "all" || envelope.epoch != epoch {
            return self.undelivered_v2(conn, &data, NOT_YOURS, Why::NotYours);
        }
        if envelope
            .text
            .as_ref()
            .is_some_and(|t| t.len() > self.limits.max_text_bytes)
        {
            return self.undelivered_v2(conn, &data, TOO_LONG, Why::Malformed);
        }
        let (from, from_key) = (member.name.clone(), member.identity.key_id().to_string());
        let line = self.message_line(&from, member.is_web_admin, "all", &envelope.shown());
        self.console(line);
        let others: Vec<ConnId> = self
            .users
            .of_version(true)
            .into_iter()
            .filter(|&c| c != conn)
            .collect();
        self.send(others, data.relayed_from(&from, &from_key));
        self.delivered_v2(conn, &data);
    }

    /// A version-2 client's copy of its message to all for the 0.9 members: the 0.9
    /// plaintext and signature, checked as in a 0.9 `aes` frame, go out as one.
    fn legacy_copy_to_all(&mut self, conn: ConnId, data: V2Data) {
        let Some(payload) = self.open_to_all(conn, &data) else {
            return;
        };
        let Some((signature, plain)) = open_payload(&payload) else {
            return self.undelivered_v2(conn, &data, MALFORMED, Why::Malformed);
        };
        let member = self.users.member(conn).expect("checked by the caller");
        let Some(text) = Plaintext::parse(plain) else {
            return self.undelivered_v2(conn, &data, MALFORMED, Why::Malformed);
        };
        if signature.len() != member.identity.modulus_bytes() {
            return self.undelivered_v2(conn, &data, BAD_SIZE, Why::BadSize);
        }
        if text.from != member.name || text.to != "all" || !member.identity.verify(plain, signature)
        {
            return self.undelivered_v2(conn, &data, NOT_YOURS, Why::NotYours);
        }
        let legacy = self.users.of_version(false);
        if !legacy.is_empty() {
            let (iv, ciphertext) = self.keys.legacy().encrypt(plain);
            let relayed = MessageData {
                algo: Algo::Aes,
                iv: Some(b64_encode(&iv)),
                ciphertext: b64_encode(&ciphertext),
                signature: b64_encode(signature),
                to: None,
                id: None,
            };
            self.send(legacy, frames::relayed(&relayed));
        }
        self.delivered_v2(conn, &data);
    }

    /// The checks every message to all passes first (`--disable-all`, the epoch, the
    /// sizes), then its decryption with the group key: the sealed payload, or `None`
    /// once the sender is told why not.
    fn open_to_all(&mut self, conn: ConnId, data: &V2Data) -> Option<Vec<u8>> {
        let member = self.users.member(conn)?;
        if self.settings.disable_all && !member.is_web_admin {
            self.undelivered_v2(conn, data, ALL_DISABLED, Why::Disabled);
            return None;
        }
        let epoch = self.keys.epoch();
        if data.epoch != Some(epoch) {
            let reason = format!(
                "The group key changed (epoch {epoch}): encrypt the message again with it."
            );
            self.undelivered_v2(conn, data, &reason, Why::StaleEpoch(epoch));
            return None;
        }
        let (Some(iv), Some(ciphertext)) = (b64_decode(&data.iv), b64_decode(&data.ciphertext))
        else {
            self.undelivered_v2(conn, data, MALFORMED, Why::Malformed);
            return None;
        };
        if iv.len() != SECRET_IV_LEN {
            self.undelivered_v2(conn, data, BAD_SIZE, Why::BadSize);
            return None;
        }
        let payload = self.keys.current().decrypt(&iv, &ciphertext, b"");
        if payload.is_none() {
            let reason =
                "The message was not encrypted with the group key of its epoch: not delivered.";
            self.undelivered_v2(conn, data, reason, Why::Malformed);
        }
        payload
    }

    fn delivered_v2(&mut self, conn: ConnId, data: &V2Data) {
        self.file_offer_delivered(conn, data);
        if let Some(id) = data.valid_id() {
            self.send_one(conn, frames::ack(id));
        }
    }

    fn undelivered_v2(&mut self, conn: ConnId, data: &V2Data, reason: &str, why: Why) {
        let to = if data.to == "all" {
            "all".to_string()
        } else {
            printable(&data.to)
        };
        self.send_one(
            conn,
            v2_frames::undelivered(data.valid_id(), &to, reason, why),
        );
    }

    fn refused_v2(&mut self, sender: &Sender, data: &V2Data, reason: &str, why: Why) {
        if let Some(conn) = sender.conn {
            self.undelivered_v2(conn, data, reason, why);
        }
    }
}
