//! The work a turn leaves for its end (docs/PROTOCOL.md, "Version 2"): joins and
//! departures are batched, so a turn with many of them costs one `chat-users` encoding
//! shared by all its version-2 joiners, one `chat-presence` shared by the other
//! version-2 members, and at most one rotation of the group keys however many left.
//!
//! The turn ends when the shell has drained the outputs ([`super::Chat::poll_output`]
//! runs [`super::Chat::end_of_turn`] when the queue runs dry): the event loop drains
//! once per turn, in `settle`.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use super::frames::{self, FrameText};
use super::v2_frames;
use super::{Chat, ConnId};
use crate::crypto::{SECRET_IV_LEN, random_fill};

/// The room's size as last announced to everybody, and when it may be again.
#[derive(Debug)]
pub struct SizeSent {
    pub sent: usize,
    pub next: Instant,
}

#[derive(Debug, Default)]
pub struct Turn {
    /// Version-2 connections that joined in this turn, in join order.
    joiners: Vec<ConnId>,
    /// `chat-presence` changes, comma-separated JSON arrays, in order.
    changes: String,
    /// A user (not the administrator) left: the group keys change.
    departed: bool,
    /// The room's size changed (an unlisted user joined or left, or a timer found it
    /// not yet announced).
    resized: bool,
    /// Departures of unlisted users, for the members who looked them up: changes as in
    /// `changes`, per member.
    followers_told: BTreeMap<ConnId, String>,
    /// Key IDs asked for (`chat-getkeys`), and who asked.
    key_requests: BTreeMap<String, Vec<ConnId>>,
}

impl Turn {
    pub fn v2_joiner(&mut self, conn: ConnId) {
        self.joiners.push(conn);
    }

    /// A user joined (never the administrator on the web: always listed).
    pub fn joined(&mut self, name: &str, key_id: &str, is_0_9: bool) {
        v2_frames::push_join_change(&mut self.changes, name, key_id, is_0_9);
    }

    /// A user left (never the administrator on the web).
    pub fn left(&mut self, name: &str) {
        v2_frames::push_left_change(&mut self.changes, name);
        self.departed = true;
    }

    /// An unlisted user left: only `followers` are told of it by name.
    pub fn left_unlisted(&mut self, name: &str, followers: Vec<ConnId>) {
        for follower in followers {
            v2_frames::push_left_change(self.followers_told.entry(follower).or_default(), name);
        }
        self.departed = true;
        self.resized = true;
    }

    /// The room's size changed with nothing else to announce.
    pub fn resized(&mut self) {
        self.resized = true;
    }

    pub fn ask_key(&mut self, key_id: String, conn: ConnId) {
        let askers = self.key_requests.entry(key_id).or_default();
        if !askers.contains(&conn) {
            askers.push(conn);
        }
    }

    fn is_empty(&self) -> bool {
        self.joiners.is_empty()
            && self.changes.is_empty()
            && !self.departed
            && !self.resized
            && self.key_requests.is_empty()
    }
}

impl Chat {
    /// The turn's batched work, in the order clients must see it: the users list for
    /// the joiners, the presence for the others, the new group key (after the
    /// departures are announced), the public keys asked for; then the welcomes.
    pub(super) fn end_of_turn(&mut self) {
        if self.turn.is_empty() {
            return;
        }
        let turn = std::mem::take(&mut self.turn);
        let joiners: Vec<ConnId> = turn
            .joiners
            .into_iter()
            .filter(|&c| self.users.member(c).is_some_and(|m| m.is_v2()))
            .collect();
        self.send_users_lists(&joiners);
        self.release_held(&joiners);
        let count = self.room_count(true);
        let told: HashSet<ConnId> = joiners.iter().copied().collect();
        for (follower, changes) in &turn.followers_told {
            if !told.contains(follower) && self.users.member(*follower).is_some() {
                self.send_one(*follower, v2_frames::presence(changes, count));
            }
        }
        // A size alone goes at most every `count_every`; a change of the listed goes
        // at once, with the size.
        let size_due = count != self.count.sent && self.clock >= self.count.next;
        if !turn.changes.is_empty() || size_due {
            let audience: Vec<ConnId> = self
                .audience_of_presence(true)
                .into_iter()
                .filter(|c| !told.contains(c))
                .collect();
            if !audience.is_empty() {
                self.send(audience, v2_frames::presence(&turn.changes, count));
            }
            if turn.changes.is_empty() {
                self.count.next = self.clock + self.limits.count_every;
            }
            self.count.sent = count;
        }
        if turn.departed {
            self.rotate();
        }
        self.answer_key_requests(turn.key_requests);
        if self.settings.welcome.is_some() {
            for conn in joiners {
                if self.users.member(conn).is_some_and(|m| !m.is_web_admin) {
                    self.pending_welcomes.push_back(conn);
                }
            }
            self.start_waiting_welcomes(self.clock);
        }
    }

    /// One `chat-users` text for all the joiners of the turn (two with
    /// `--only-admin`: the administrator on the web sees everybody, the others only the
    /// administrator).
    fn send_users_lists(&mut self, joiners: &[ConnId]) {
        if joiners.is_empty() {
            return;
        }
        let (web, others): (Vec<ConnId>, Vec<ConnId>) = joiners
            .iter()
            .partition(|&&c| self.users.member(c).is_some_and(|m| m.is_web_admin));
        let full = !self.settings.only_admin;
        let mut lists: Vec<(Vec<ConnId>, bool)> = Vec::new();
        if full {
            lists.push((joiners.to_vec(), true));
        } else {
            lists.push((web, true));
            lists.push((others, false));
        }
        for (to, with_users) in lists {
            if !to.is_empty() {
                let frame = self.users_v2(with_users);
                self.send(to, frame);
            }
        }
    }

    /// The entries of the complete users list, as `chat-users` and `chat-presence`
    /// count them: the administrator and the users (only the administrator when
    /// `--only-admin` hides the users).
    pub(super) fn room_count(&self, with_users: bool) -> usize {
        1 + if with_users {
            self.users.user_count()
        } else {
            0
        }
    }

    /// When the room's size, changed and not yet announced, may be announced.
    pub(super) fn size_timeout(&self) -> Option<Instant> {
        (self.room_count(true) != self.count.sent).then_some(self.count.next)
    }

    pub(super) fn size_timeouts(&mut self, now: Instant) {
        if self.room_count(true) != self.count.sent && now >= self.count.next {
            self.turn.resized();
        }
    }

    /// The `chat-users` frame: the administrator, then (if `with_users`) the listed
    /// users in join order, 0.9 ones marked.
    fn users_v2(&self, with_users: bool) -> FrameText {
        let admin = self.admin.public().key_id();
        // The listed version-2 users and every 0.9 one, in join order.
        let mut listed: Vec<(u64, ConnId)> = Vec::new();
        if with_users {
            listed.extend(self.view.listed());
            listed.extend(
                self.users
                    .legacy_users()
                    .filter_map(|c| self.users.member(c).map(|m| (m.seq(), c))),
            );
            listed.sort_unstable();
        }
        let mut entries = String::with_capacity(80 * (listed.len() + 1));
        v2_frames::push_user_entry(&mut entries, &self.settings.admin_name, admin, false);
        for member in listed.iter().filter_map(|&(_, c)| self.users.member(c)) {
            entries.push(',');
            let key_id = member.identity.key_id();
            v2_frames::push_user_entry(&mut entries, &member.name, key_id, !member.is_v2());
        }
        v2_frames::users(&entries, self.room_count(with_users)).into()
    }

    /// A new epoch: each version-2 member gets the new group key wrapped with its own
    /// member key; each 0.9 member a `config` with the new 0.9 key. Whoever left is no
    /// longer a member, so is sent neither.
    fn rotate(&mut self) {
        self.keys.rotate(self.limits.legacy_keys_kept);
        let everyone = self.users.everyone();
        let mut ivs = vec![0u8; SECRET_IV_LEN * everyone.len()];
        random_fill(&mut ivs);
        // Every version-2 member's frame in one buffer, each sent as its part of it:
        // one allocation for the rotation rather than one per member.
        let mut all = String::with_capacity(v2_frames::GROUP_KEY_FRAME_BYTES * everyone.len());
        let mut parts: Vec<(ConnId, std::ops::Range<usize>)> = Vec::with_capacity(everyone.len());
        let mut aad = Vec::new();
        for (conn, iv) in everyone.into_iter().zip(ivs.chunks_exact(SECRET_IV_LEN)) {
            let Some(member) = self.users.member(conn) else {
                continue;
            };
            match &member.member_key {
                Some(member_key) => {
                    let iv = iv.try_into().expect("chunks of the IV's length");
                    let start = all.len();
                    let name = &member.name;
                    self.keys
                        .push_wrapped(&mut all, &mut aad, name, member_key, iv);
                    parts.push((conn, start..all.len()));
                }
                None => {
                    let config = frames::config(
                        self.settings.disable_all && !member.is_web_admin,
                        &member.name,
                        member.is_web_admin,
                        member.identity.key_id(),
                        self.keys.legacy_b64(),
                    );
                    self.send_one(conn, config);
                }
            }
        }
        let whole: frames::Piece = std::rc::Rc::from(all.into_bytes());
        for (conn, range) in parts {
            self.send_one(conn, FrameText::slice(whole.clone(), range));
        }
    }
}
