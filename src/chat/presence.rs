//! The work a turn leaves for its end (docs/PROTOCOL.md, "Version 2"): joins and
//! departures are batched, so a turn with many of them costs one `chat-users` encoding
//! shared by all its version-2 joiners, one `chat-presence` shared by the other
//! version-2 members, and at most one rotation of the group keys however many left.
//!
//! The turn ends when the shell has drained the outputs ([`super::Chat::poll_output`]
//! runs [`super::Chat::end_of_turn`] when the queue runs dry): the event loop drains
//! once per turn, in `settle`.

use std::collections::{BTreeMap, HashSet};

use super::frames::{self, FrameText};
use super::v2_frames;
use super::{Chat, ConnId};

#[derive(Debug, Default)]
pub struct Turn {
    /// Version-2 connections that joined in this turn, in join order.
    joiners: Vec<ConnId>,
    /// `chat-presence` changes, comma-separated JSON arrays, in order.
    changes: String,
    /// A user (not the administrator) left: the group keys change.
    departed: bool,
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
        if !turn.changes.is_empty() {
            let told: HashSet<ConnId> = joiners.iter().copied().collect();
            let audience: Vec<ConnId> = self
                .audience_of_presence(true)
                .into_iter()
                .filter(|c| !told.contains(c))
                .collect();
            if !audience.is_empty() {
                self.send(audience, v2_frames::presence(&turn.changes));
            }
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

    /// The `chat-users` frame: the administrator, then (if `with_users`) the users in
    /// join order, 0.9 ones marked.
    fn users_v2(&self, with_users: bool) -> FrameText {
        let admin = self.admin.public().key_id();
        let mut entries = String::with_capacity(if with_users {
            80 * (self.users.user_count() + 1)
        } else {
            80
        });
        v2_frames::push_user_entry(&mut entries, &self.settings.admin_name, admin, false);
        if with_users {
            for (_, member) in self.users.users() {
                entries.push(',');
                let key_id = member.identity.key_id();
                v2_frames::push_user_entry(&mut entries, &member.name, key_id, !member.is_v2());
            }
        }
        v2_frames::users(&entries).into()
    }

    /// A new epoch: each version-2 member gets the new group key wrapped with its own
    /// member key; each 0.9 member a `config` with the new 0.9 key. Whoever left is no
    /// longer a member, so is sent neither.
    fn rotate(&mut self) {
        self.keys.rotate(self.limits.legacy_keys_kept);
        for conn in self.users.everyone() {
            let Some(member) = self.users.member(conn) else {
                continue;
            };
            let frame = match &member.member_key {
                Some(member_key) => self.keys.wrapped_for(&member.name, member_key),
                None => frames::config(
                    self.settings.disable_all && !member.is_web_admin,
                    &member.name,
                    member.is_web_admin,
                    member.identity.key_id(),
                    self.keys.legacy_b64(),
                ),
            };
            self.send_one(conn, frame);
        }
    }
}
