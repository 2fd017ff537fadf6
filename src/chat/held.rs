//! Messages held for a short absence (docs/PROTOCOL.md, "Version 2", "Held"): a
//! version-2 1:1 message to a name that is not connected, whose user left less than
//! `hold_for` ago, is kept in memory as the frame that would have been relayed, for the
//! key that left. When that key joins again (under any name) within the window, the
//! frames go to it right after its users list and each sender gets its `chat-ack`;
//! when the window ends, each sender gets `chat-undelivered` (`hold-expired`).
//!
//! Held for a key, not a name: a public key is not an identity, and the wrapped message
//! key only opens with the key that left.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::frames::{self, FrameText};
use super::users::Member;
use super::v2_frames::{self, V2Data, Why};
use super::{Chat, ConnId};
use crate::console::ConsoleLine;
use crate::crypto::PublicIdentity;
use crate::wall_clock::LocalTime;

/// A key that left recently, and what waits for it.
#[derive(Debug)]
struct Departed {
    /// The name it left under: the one its senders used.
    name: String,
    /// Its key: a held frame's wrapped key has its modulus' size; the console wraps
    /// with it.
    identity: PublicIdentity,
    /// Its `chat-key` frame: a sender that did not fetch the key before it left still
    /// can (`lazy_keys.rs`), to write the message to be held.
    key_frame: FrameText,
    until: Instant,
    /// `until` on the wall clock, in milliseconds since 1970 (`chat-held`'s `until`).
    until_ms: u64,
    frames: VecDeque<HeldFrame>,
    bytes: usize,
}

#[derive(Debug)]
struct HeldFrame {
    frame: String,
    sender: HeldFor,
    id: Option<String>,
}

/// Who is told what became of a held frame.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HeldFor {
    /// A version-2 user, by Key ID: told wherever it is connected then.
    Key(String),
    /// The administrator's console.
    Console,
}

#[derive(Debug, Default)]
pub struct Held {
    /// By Key ID.
    keys: HashMap<String, Departed>,
    /// The name each recently departed key left under → its Key ID.
    names: HashMap<String, String>,
    /// Key IDs in departure order, with their window's end (entries of keys that came
    /// back or left again are stale and skipped): `hold_for` is the same for all, so the
    /// front ends first.
    order: VecDeque<(String, Instant)>,
    total_bytes: usize,
    /// Bytes held from each sending key (the console's are not counted).
    by_sender: HashMap<String, usize>,
}

/// A frame held, or why not.
pub enum Holding {
    /// Held until this wall-clock time (ms).
    Held(u64),
    /// Nobody of that name left recently: as without a hold.
    NotHeld,
    /// The user left recently, but the frame does not fit a bound.
    Full,
    /// The wrapped key does not have the departed key's size.
    BadSize,
}

/// What a sender is to be told about its held frame.
struct Notice {
    sender: HeldFor,
    id: Option<String>,
}

impl Held {
    fn forget_key(&mut self, key_id: &str) -> Option<Departed> {
        let departed = self.keys.remove(key_id)?;
        if self.names.get(&departed.name).map(String::as_str) == Some(key_id) {
            self.names.remove(&departed.name);
        }
        self.total_bytes -= departed.bytes;
        for frame in &departed.frames {
            self.uncount(&frame.sender, frame.frame.len());
        }
        Some(departed)
    }

    fn sent_by(&self, sender: &HeldFor) -> usize {
        match sender {
            HeldFor::Key(key) => self.by_sender.get(key).copied().unwrap_or(0),
            HeldFor::Console => 0,
        }
    }

    fn count(&mut self, sender: &HeldFor, bytes: usize) {
        if let HeldFor::Key(key) = sender {
            *self.by_sender.entry(key.clone()).or_default() += bytes;
        }
    }

    fn uncount(&mut self, sender: &HeldFor, bytes: usize) {
        if let HeldFor::Key(key) = sender
            && let Some(sent) = self.by_sender.get_mut(key)
        {
            *sent -= bytes;
            if *sent == 0 {
                self.by_sender.remove(key);
            }
        }
    }

    fn next_expiry(&mut self) -> Option<Instant> {
        while let Some((key_id, until)) = self.order.front() {
            if self.keys.get(key_id).is_some_and(|d| d.until == *until) {
                return Some(*until);
            }
            self.order.pop_front();
        }
        None
    }

    #[cfg(test)]
    pub fn total_bytes(&self) -> usize {
        self.total_bytes
    }

    #[cfg(test)]
    pub fn senders(&self) -> usize {
        self.by_sender.len()
    }
}

impl Chat {
    /// A version-2 user left: its key is remembered with its name for `hold_for`.
    pub(super) fn remember_departure(&mut self, member: &Member) {
        if self.limits.hold_for.is_zero() || !member.is_v2() || member.is_web_admin {
            return;
        }
        let key_id = member.identity.key_id().to_string();
        let previous = self.held.forget_key(&key_id);
        while self.held.keys.len() >= self.limits.held_departed_keys.max(1) {
            // Full of keys that left recently: the one that left first is forgotten,
            // its senders told as if its window had ended.
            let Some(_) = self.held.next_expiry() else {
                break;
            };
            let (oldest, _) = self.held.order.pop_front().expect("next_expiry saw it");
            if let Some(departed) = self.held.forget_key(&oldest) {
                self.hold_ended(departed);
            }
        }
        let until = self.clock + self.limits.hold_for;
        let until_ms = self.wall_ms + self.limits.hold_for.as_millis() as u64;
        let mut departed = Departed {
            name: member.name.clone(),
            identity: member.identity.clone(),
            key_frame: member.key_frame(),
            until,
            until_ms,
            frames: VecDeque::new(),
            bytes: 0,
        };
        // Left again before its window ended (it cannot have been given them: it did
        // not join as version 2): what waited still waits, for the new window.
        if let Some(previous) = previous {
            departed.bytes = previous.bytes;
            departed.frames = previous.frames;
            self.held.total_bytes += departed.bytes;
            for frame in &departed.frames {
                self.held.count(&frame.sender, frame.frame.len());
            }
        }
        self.held.names.insert(member.name.clone(), key_id.clone());
        self.held.keys.insert(key_id.clone(), departed);
        self.held.order.push_back((key_id, until));
    }

    /// Holds `frame` (the relay of `data`) for the key that left under `data.to`.
    pub(super) fn hold(
        &mut self,
        sender_key: &str,
        data: &V2Data,
        wrapped_len: usize,
        frame: String,
    ) -> Holding {
        let Some(key_id) = self.held.names.get(&data.to).cloned() else {
            return Holding::NotHeld;
        };
        let sender = HeldFor::Key(sender_key.to_string());
        self.hold_for_key(&key_id, sender, data.valid_id(), wrapped_len, frame)
    }

    fn hold_for_key(
        &mut self,
        key_id: &str,
        sender: HeldFor,
        id: Option<&str>,
        wrapped_len: usize,
        frame: String,
    ) -> Holding {
        let sent = self.held.sent_by(&sender);
        let Some(departed) = self.held.keys.get_mut(key_id) else {
            return Holding::NotHeld;
        };
        if departed.until <= self.clock {
            return Holding::NotHeld;
        }
        if wrapped_len != departed.identity.modulus_bytes() {
            return Holding::BadSize;
        }
        let limits = &self.limits;
        if departed.frames.len() >= limits.held_per_user_frames
            || sent + frame.len() > limits.held_per_sender_bytes
            || departed.bytes + frame.len() > limits.held_per_user_bytes
            || self.held.total_bytes + frame.len() > limits.held_total_bytes
        {
            return Holding::Full;
        }
        departed.bytes += frame.len();
        self.held.total_bytes += frame.len();
        let bytes = frame.len();
        let sender_copy = sender.clone();
        departed.frames.push_back(HeldFrame {
            frame,
            sender,
            id: id.map(str::to_owned),
        });
        let until_ms = departed.until_ms;
        self.held.count(&sender_copy, bytes);
        Holding::Held(until_ms)
    }

    /// Version-2 joiners of this turn, after their users list: what was held for their
    /// key is theirs now, in order, and its senders are told it was delivered.
    pub(super) fn release_held(&mut self, joiners: &[ConnId]) {
        for &conn in joiners {
            let Some(member) = self.users.member(conn) else {
                continue;
            };
            let key_id = member.identity.key_id().to_string();
            let Some(departed) = self.held.forget_key(&key_id) else {
                continue;
            };
            let name = departed.name.clone();
            let mut acks = Vec::new();
            for held in departed.frames {
                self.send_one(conn, held.frame);
                acks.push(Notice {
                    sender: held.sender,
                    id: held.id,
                });
            }
            for notice in acks {
                match notice.sender {
                    HeldFor::Console => self.console(
                        ConsoleLine::new()
                            .plain("held message delivered to ")
                            .name(&name, false),
                    ),
                    HeldFor::Key(key) => {
                        if let (Some(sender), Some(id)) = (self.v2_conn_of(&key), notice.id) {
                            self.send_one(sender, frames::ack(&id));
                        }
                    }
                }
            }
        }
    }

    /// The console's `@name` to nobody connected: the name and key of a version-2 user
    /// who left it within the window, if any.
    pub(super) fn departed_user(&self, name: &str) -> Option<(String, PublicIdentity)> {
        let key_id = self.held.names.get(name)?;
        let departed = self.held.keys.get(key_id)?;
        (departed.until > self.clock).then(|| (departed.name.clone(), departed.identity.clone()))
    }

    /// The console's frame to a user who left, signed: held for `identity`'s key; the
    /// console says so, or why not.
    pub(super) fn hold_from_console(&mut self, identity: &PublicIdentity, to: &str, frame: String) {
        let wrapped = identity.modulus_bytes();
        let line = match self.hold_for_key(
            identity.key_id(),
            HeldFor::Console,
            None,
            wrapped,
            frame,
        ) {
            Holding::Held(until_ms) => ConsoleLine::new()
                .plain("held: waiting for ")
                .name(to, false)
                .plain(format!(" until {}", clock_time(until_ms))),
            Holding::Full => ConsoleLine::warning(format!(
                "not delivered: {to} is not connected, and the messages held for {to} are at their limit"
            )),
            _ => ConsoleLine::warning(format!(
                "not delivered: {to} came back or stayed away too long while it was being signed; send it again"
            )),
        };
        self.console(line);
    }

    /// The `chat-key` frame of a key that left within its window.
    pub(super) fn departed_key_frame(&self, key_id: &str) -> Option<FrameText> {
        let departed = self.held.keys.get(key_id)?;
        (departed.until > self.clock).then(|| departed.key_frame.clone())
    }

    /// When the first window ends.
    pub(super) fn held_timeout(&mut self) -> Option<Instant> {
        self.held.next_expiry()
    }

    /// Windows that ended: their frames are dropped, their senders told.
    pub(super) fn held_timeouts(&mut self, now: Instant) {
        while let Some(until) = self.held.next_expiry() {
            if until > now {
                break;
            }
            let (key_id, _) = self.held.order.pop_front().expect("next_expiry saw it");
            if let Some(departed) = self.held.forget_key(&key_id) {
                self.hold_ended(departed);
            }
        }
    }

    fn hold_ended(&mut self, departed: Departed) {
        let window = in_words(self.limits.hold_for);
        let reason = format!(
            "{} did not come back within {window}: not delivered.",
            departed.name
        );
        for held in departed.frames {
            let HeldFor::Key(key) = &held.sender else {
                self.console(ConsoleLine::warning(format!(
                    "not delivered to {}: expired ({} did not come back within {window})",
                    departed.name, departed.name
                )));
                continue;
            };
            if let Some(sender) = self.v2_conn_of(key) {
                let frame = v2_frames::undelivered(
                    held.id.as_deref(),
                    &departed.name,
                    &reason,
                    Why::HoldExpired,
                );
                self.send_one(sender, FrameText::from(frame));
            }
        }
    }

    /// The connection of a version-2 member with this key, if connected.
    fn v2_conn_of(&self, key_id: &str) -> Option<ConnId> {
        let conn = self.users.by_key(key_id)?;
        self.users
            .member(conn)
            .is_some_and(|m| m.is_v2())
            .then_some(conn)
    }
}

/// `14:05`, local time, of a wall-clock time in milliseconds since 1970.
fn clock_time(ms: u64) -> String {
    let time = LocalTime::at(std::time::UNIX_EPOCH + Duration::from_millis(ms));
    format!("{:02}:{:02}", time.hour, time.minute)
}

/// "10 minutes", "1 minute", "90 seconds".
fn in_words(window: Duration) -> String {
    let secs = window.as_secs();
    match secs {
        60 => "1 minute".to_string(),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        1 => "1 second".to_string(),
        s => format!("{s} seconds"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_said_in_words() {
        assert_eq!(in_words(Duration::from_secs(600)), "10 minutes");
        assert_eq!(in_words(Duration::from_secs(60)), "1 minute");
        assert_eq!(in_words(Duration::from_secs(1)), "1 second");
        assert_eq!(in_words(Duration::from_secs(90)), "90 seconds");
    }
}
