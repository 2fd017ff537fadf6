//! Messages from clients: rate limits, checks, and where each one goes.
//!
//! - `aes` (to everybody): decrypted with the group key, checked (sender, signature,
//!   `--disable-all`), printed on the console, relayed to every joined connection.
//! - `rsa` with `to` (our routing extension): to that recipient alone; to the console
//!   and the web administrator when the recipient is the administrator.
//! - `rsa` with `to` the administrator: decrypted off the loop (a private-key job),
//!   then shown on the console, in the order each sender sent them.
//! - `rsa` without `to` (0.9 clients): relayed to everyone else at once, as 0.9 does;
//!   when its size fits, the administrator's key is tried on it later, off the loop,
//!   and if it decrypts it is shown on the console.

use std::time::Instant;

use super::frames::{Algo, MessageData, Plaintext};
use super::private_work::{Lane, PrivateOp, Sender, Task};
use super::v2_frames::{self, V2Data, Why};
use super::{Chat, ConnId, frames};
use crate::console::ConsoleLine;
use crate::crypto::{GROUP_IV_LEN, b64_decode, b64_encode, seal_payload};

const NOT_FOR_ADMIN: &str =
    "The message was not encrypted with the administrator's key: not delivered.";
const ADMIN_QUEUE_FULL: &str = "Too many messages to the administrator are waiting to be read: this one was not delivered. Send it again in a moment.";
const ONLY_ADMIN: &str = "On this server you can only write to the administrator.";
const ALL_DISABLED: &str = "Messages to everybody are disabled on this server.";
const BAD_SIGNATURE: &str = "The message's signature does not match your key: not delivered.";
const NOT_YOURS: &str = "The message's sender is not you: not delivered.";
const MALFORMED: &str = "The message is malformed (base64 fields expected): not delivered.";
const V2_SENDS_V2: &str =
    "A version-2 client sends its messages to everybody as version-2 frames: not delivered.";
const WRONG_SIZE: &str =
    "The message's ciphertext or signature does not have the size its key gives: not delivered.";

impl Chat {
    /// Takes a token for a frame of a joined connection, in debt if need be: the
    /// shell stops reading a connection whose budget is empty ([`super::Reading`]), so
    /// a debt comes only from frames already on their way.
    pub(super) fn charge(&mut self, conn: ConnId, data: Option<&MessageData>, now: Instant) {
        let Some(member) = self.users.member_mut(conn) else {
            return;
        };
        if let Some(data) = data {
            member.uses_extensions |= data.uses_extensions();
        }
        member.budgets.messages.spend(now);
    }

    pub(super) fn message(&mut self, conn: ConnId, data: MessageData) {
        match (data.algo, data.to.clone()) {
            (Algo::Aes, _) => self.deliver_to_all(conn, data),
            (Algo::Rsa, Some(to)) if to == self.settings.admin_name => {
                self.deliver_to_admin(conn, data)
            }
            (Algo::Rsa, Some(to)) => self.deliver_to_user(conn, &to, data),
            (Algo::Rsa, None) => self.legacy_one_to_one(conn, data),
        }
    }

    fn deliver_to_all(&mut self, conn: ConnId, data: MessageData) {
        if self.users.member(conn).is_some_and(|m| m.is_v2()) {
            return self.undelivered(conn, &data, V2_SENDS_V2, Why::Malformed);
        }
        let decoded = (
            data.iv.as_deref().and_then(b64_decode),
            b64_decode(&data.ciphertext),
            b64_decode(&data.signature),
        );
        let (Some(iv), Some(ciphertext), Some(signature)) = decoded else {
            return self.undelivered(conn, &data, MALFORMED, Why::Malformed);
        };
        if iv.len() != GROUP_IV_LEN || !self.signed_at_size(conn, &signature) {
            return self.undelivered(conn, &data, WRONG_SIZE, Why::BadSize);
        }
        let Some((plain, stale)) = self.keys.legacy_decrypt(&iv, &ciphertext) else {
            return self.undelivered(
                conn,
                &data,
                "The message was not encrypted with this server's group key (reload the page): not delivered.",
                Why::Malformed,
            );
        };
        let member = self.users.member(conn).expect("checked by the caller");
        let Some(text) = Plaintext::parse(&plain) else {
            return self.undelivered(conn, &data, MALFORMED, Why::Malformed);
        };
        if text.from != member.name || text.to != "all" {
            return self.undelivered(conn, &data, NOT_YOURS, Why::NotYours);
        }
        if !member.identity.verify(&plain, &signature) {
            return self.undelivered(conn, &data, BAD_SIGNATURE, Why::NotYours);
        }
        if self.settings.disable_all && !member.is_web_admin {
            return self.undelivered(conn, &data, ALL_DISABLED, Why::Disabled);
        }
        let from_key = member.identity.key_id().to_string();
        let line = self.message_line(&text.from, member.is_web_admin, "all", &text.message);
        self.console(line);
        let mut data = data;
        if stale {
            // Sent just before its client had the new key: the others have only that.
            let (iv, ciphertext) = self.keys.legacy().encrypt(&plain);
            data.iv = Some(b64_encode(&iv));
            data.ciphertext = b64_encode(&ciphertext);
        }
        let legacy = self.users.of_version(false);
        self.send(legacy, frames::relayed(&data));
        self.relay_legacy_to_v2(&text.from, &from_key, &plain, &signature);
        self.delivered(conn, &data);
    }

    /// A 0.9 message to all, for the version-2 members: its plaintext and signature as
    /// the 0.9 client made them, sealed under the group key of the epoch.
    fn relay_legacy_to_v2(&mut self, from: &str, from_key: &str, plain: &[u8], signature: &[u8]) {
        let members = self.users.of_version(true);
        let Some(payload) = seal_payload(signature, plain) else {
            return;
        };
        if members.is_empty() {
            return;
        }
        let (iv, ciphertext) = self.keys.current().encrypt(&payload, b"");
        let data = V2Data {
            v: 2,
            from: None,
            fromkey: None,
            to: "all".into(),
            id: None,
            wrapped: None,
            epoch: Some(self.keys.epoch()),
            legacy: true,
            iv: b64_encode(&iv),
            ciphertext: b64_encode(&ciphertext),
            file: None,
        };
        self.send(members, data.relayed_from(from, from_key));
    }

    fn deliver_to_user(&mut self, conn: ConnId, to: &str, data: MessageData) {
        let sender_is_admin = self.users.member(conn).is_some_and(|m| m.is_web_admin);
        if self.settings.only_admin && !sender_is_admin {
            return self.undelivered(conn, &data, ONLY_ADMIN, Why::OnlyAdmin);
        }
        let (Some(ciphertext), Some(signature)) =
            (b64_decode(&data.ciphertext), b64_decode(&data.signature))
        else {
            return self.undelivered(conn, &data, MALFORMED, Why::Malformed);
        };
        let Some(recipient) = self.users.by_name(to) else {
            let reason = format!("{} is not connected: not delivered.", printable(to));
            return self.undelivered(conn, &data, &reason, Why::NotConnected);
        };
        // Exact sizes: a 1:1 frame is never larger than the recipient's key allows, so
        // junk cannot fill a recipient's queue.
        let fits = self
            .users
            .member(recipient)
            .is_some_and(|m| m.identity.modulus_bytes() == ciphertext.len());
        if !fits || !self.signed_at_size(conn, &signature) {
            return self.undelivered(conn, &data, WRONG_SIZE, Why::BadSize);
        }
        self.send_one(recipient, frames::relayed(&data));
        self.delivered(conn, &data);
    }

    fn deliver_to_admin(&mut self, conn: ConnId, data: MessageData) {
        let (Some(ciphertext), Some(signature)) =
            (b64_decode(&data.ciphertext), b64_decode(&data.signature))
        else {
            return self.undelivered(conn, &data, MALFORMED, Why::Malformed);
        };
        if ciphertext.len() != self.admin.public().modulus_bytes() {
            return self.undelivered(conn, &data, NOT_FOR_ADMIN, Why::NotYours);
        }
        if !self.signed_at_size(conn, &signature) {
            return self.undelivered(conn, &data, WRONG_SIZE, Why::BadSize);
        }
        if let Some(reason) = self.admin_queue_refusal(conn) {
            return self.undelivered(conn, &data, &reason, Why::AdminQueue);
        }
        self.queue_for_admin(conn, data, signature, ciphertext, false);
    }

    fn legacy_one_to_one(&mut self, conn: ConnId, data: MessageData) {
        let (Some(ciphertext), Some(signature)) =
            (b64_decode(&data.ciphertext), b64_decode(&data.signature))
        else {
            return self.undelivered(conn, &data, MALFORMED, Why::Malformed);
        };
        // A 0.9 frame names no recipient: it must fit the administrator or one of the
        // others (each only tries it when it matches its own key).
        let fits = ciphertext.len() == self.admin.public().modulus_bytes()
            || self
                .users
                .users()
                .any(|(c, m)| c != conn && m.identity.modulus_bytes() == ciphertext.len());
        if !fits || !self.signed_at_size(conn, &signature) {
            return self.undelivered(conn, &data, WRONG_SIZE, Why::BadSize);
        }
        let sender_is_admin = self.users.member(conn).is_some_and(|m| m.is_web_admin);
        if self.settings.only_admin && !sender_is_admin {
            return self.undelivered(conn, &data, ONLY_ADMIN, Why::OnlyAdmin);
        }
        // Relayed at once, as 0.9 does: each client tries its own key. Whether it was
        // for the administrator is found out later, off the loop.
        let others: Vec<ConnId> = self
            .users
            .everyone()
            .into_iter()
            .filter(|&c| c != conn)
            .collect();
        self.send(others, frames::relayed(&data));
        self.delivered(conn, &data);
        // Only a ciphertext of the administrator's modulus size can be for the
        // administrator: anything else skips the costly private-key attempt.
        if ciphertext.len() != self.admin.public().modulus_bytes() {
            return;
        }
        // Only the overall bound: a 0.9 client sends its 1:1 messages, to anyone, this
        // way, so a brisk one would otherwise lose its messages to the administrator.
        if !self.has_room_for_jobs() {
            self.untried += 1;
            return;
        }
        self.report_untried();
        self.queue_for_admin(conn, data, signature, ciphertext, true);
    }

    /// Hands out the decryption of a message that may be for the administrator; it is
    /// shown, in the order its sender sent it, once decrypted.
    fn queue_for_admin(
        &mut self,
        conn: ConnId,
        data: MessageData,
        signature: Vec<u8>,
        ciphertext: Vec<u8>,
        trial: bool,
    ) {
        let task = Task::ForAdmin {
            sender: Box::new(self.sender(conn)),
            data,
            signature,
            trial,
        };
        self.start_work(Lane::Conn(conn), task, vec![PrivateOp::Decrypt(ciphertext)]);
    }

    /// Why a message from `conn` to the administrator cannot wait for its decryption now:
    /// too many of this sender's, or of everybody's, are waiting already.
    pub(super) fn admin_queue_refusal(&self, conn: ConnId) -> Option<String> {
        let waiting = self.work.waiting_in(Lane::Conn(conn));
        if waiting >= self.limits.max_waiting_for_admin_per_sender {
            return Some(format!(
                "You have {waiting} messages to the administrator still waiting to be read: this one was not delivered. Send it again in a moment."
            ));
        }
        (!self.has_room_for_jobs()).then(|| ADMIN_QUEUE_FULL.to_string())
    }

    /// A joined connection as the sender of a message waiting for a private-key job.
    pub(super) fn sender(&self, conn: ConnId) -> Sender {
        let member = self.users.member(conn).expect("checked by the caller");
        Sender {
            conn: Some(conn),
            name: member.name.clone(),
            identity: member.identity.clone(),
            is_web_admin: member.is_web_admin,
        }
    }

    /// Says on the console how many 0.9 one-to-one frames could not be tried with the
    /// administrator's key, once there is room again.
    pub(super) fn report_untried(&mut self) {
        if self.untried == 0 || !self.has_room_for_jobs() {
            return;
        }
        let count = std::mem::take(&mut self.untried);
        self.console(ConsoleLine::warning(format!(
            "{count} one-to-one messages from 0.9 clients were relayed but not tried with the administrator's key ({} private-key operations were already waiting): any of them meant for the administrator is not shown",
            self.limits.max_private_jobs
        )));
    }

    /// A message the administrator's key was tried on. Decrypted: checked, shown on the
    /// console, passed to the administrator's web session unless it came from there (or,
    /// a 0.9 frame, already reached it when relayed to everybody), and acknowledged.
    pub(super) fn decrypted_for_admin(
        &mut self,
        sender: Sender,
        data: MessageData,
        plain: Option<Vec<u8>>,
        signature: &[u8],
        trial: bool,
    ) {
        let Some(plain) = plain else {
            if !trial {
                self.refused(&sender, &data, NOT_FOR_ADMIN, Why::NotYours);
            }
            return;
        };
        let Some(text) = Plaintext::parse(&plain) else {
            return self.refused(&sender, &data, MALFORMED, Why::Malformed);
        };
        // A user writes to the administrator; only the web administrator writes
        // console copies of its messages to others.
        let admin = &self.settings.admin_name;
        if text.from != sender.name || (!sender.is_web_admin && text.to != *admin) {
            return self.refused(&sender, &data, NOT_YOURS, Why::NotYours);
        }
        if !sender.identity.verify(&plain, signature) {
            return self.refused(&sender, &data, BAD_SIGNATURE, Why::NotYours);
        }
        let line = self.message_line(&text.from, sender.is_web_admin, &text.to, &text.message);
        self.console(line);
        if trial {
            return;
        }
        if let Some(web_admin) = self.users.web_admin().filter(|&c| Some(c) != sender.conn) {
            self.send_one(web_admin, frames::relayed(&data));
        }
        if let Some(conn) = sender.conn {
            self.delivered(conn, &data);
        }
    }

    /// Whether a signature has the size of the sender's key, as every real one does.
    fn signed_at_size(&self, conn: ConnId, signature: &[u8]) -> bool {
        self.users
            .member(conn)
            .is_some_and(|m| m.identity.modulus_bytes() == signature.len())
    }

    /// [`Chat::undelivered`] for a sender that may have left meanwhile.
    fn refused(&mut self, sender: &Sender, data: &MessageData, reason: &str, why: Why) {
        if let Some(conn) = sender.conn {
            self.undelivered(conn, data, reason, why);
        }
    }

    fn delivered(&mut self, conn: ConnId, data: &MessageData) {
        if let Some(id) = data.valid_id() {
            self.send_one(conn, frames::ack(id));
        }
    }

    /// Tells the sender a message went nowhere: in our extension's terms to a client of
    /// ours (with the `why` of version 2 to a version-2 one), as a 0.9 notice otherwise.
    fn undelivered(&mut self, conn: ConnId, data: &MessageData, reason: &str, why: Why) {
        let Some(member) = self.users.member(conn) else {
            return;
        };
        let to = data
            .to
            .as_deref()
            .map(printable)
            .unwrap_or_else(|| "all".into());
        let frame = if member.is_v2() {
            v2_frames::undelivered(data.valid_id(), &to, reason, why)
        } else if member.uses_extensions {
            frames::undelivered(data.valid_id(), &to, reason)
        } else {
            frames::notice(reason)
        };
        self.send_one(conn, frame);
    }

    pub(super) fn message_line(
        &self,
        from: &str,
        from_web: bool,
        to: &str,
        text: &str,
    ) -> ConsoleLine {
        let admin = &self.settings.admin_name;
        let mut line = ConsoleLine::new().name(from, from == admin);
        if from_web {
            line = line.plain(" (web)");
        }
        line.plain(" → ")
            .name(to, to == admin)
            .plain(": ")
            .plain(text)
    }
}

/// A name from the network, cut short and stripped of anything odd, for a reason text.
pub(super) fn printable(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(15)
        .collect()
}
