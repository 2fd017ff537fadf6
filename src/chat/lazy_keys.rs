//! Lazy public keys (version 2): the users list carries Key IDs only, and a client asks
//! for a key when it first needs it (`chat-getkeys`). Requests are answered at the end
//! of the turn, one `chat-key` frame per key for everybody who asked for it in that
//! turn; a user's frame is made once and kept with the user. A key that left less than
//! `hold_for` ago is given too (`held.rs`): a message to it is held.

use std::collections::BTreeMap;

use super::v2_frames::{self, is_key_id};
use super::{Chat, ConnId};

impl Chat {
    /// Takes the first `max_keyids_per_request` Key IDs of a request (the rest, and
    /// anything that is not a Key ID, is ignored). 0.9 clients are never answered:
    /// they would not know the frame.
    pub(super) fn get_keys(&mut self, conn: ConnId, key_ids: Vec<String>) {
        if !self.users.member(conn).is_some_and(|m| m.is_v2()) {
            return;
        }
        for key_id in key_ids.into_iter().take(self.limits.max_keyids_per_request) {
            if is_key_id(&key_id) {
                self.turn.ask_key(key_id, conn);
            }
        }
    }

    /// One frame per key asked for in the turn, to all who asked and are still here.
    /// With `--only-admin` a user learns only the administrator's key (the others are
    /// hidden from it): other keys are `missing` for it.
    pub(super) fn answer_key_requests(&mut self, requests: BTreeMap<String, Vec<ConnId>>) {
        for (key_id, askers) in requests {
            let (mut sees_all, mut sees_admin): (Vec<ConnId>, Vec<ConnId>) = (vec![], vec![]);
            for conn in askers {
                match self.users.member(conn) {
                    Some(m) if !self.settings.only_admin || m.is_web_admin => sees_all.push(conn),
                    Some(_) => sees_admin.push(conn),
                    None => {}
                }
            }
            if key_id == self.admin.public().key_id() {
                sees_all.append(&mut sees_admin);
                let frame = self.admin_key_frame.clone();
                self.send(sees_all, frame);
                continue;
            }
            let owner = self.users.by_key(&key_id);
            let listed = owner
                .and_then(|c| self.users.member(c))
                .map(|member| member.key_frame());
            if let Some(owner) = owner {
                for &asker in &sees_all {
                    self.look_up(asker, owner);
                }
            }
            // A key that left a short while ago: still given, for a message to be held.
            let frame = match listed.or_else(|| self.departed_key_frame(&key_id)) {
                Some(frame) => frame,
                None => {
                    sees_all.append(&mut sees_admin);
                    v2_frames::key_missing(&key_id).into()
                }
            };
            self.send(sees_all, frame);
            if !sees_admin.is_empty() {
                self.send(sees_admin, v2_frames::key_missing(&key_id));
            }
        }
    }
}
