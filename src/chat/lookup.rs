//! Looking people up in a large room (docs/PROTOCOL.md, "Large rooms: the list is a
//! view"): `chat-find` by the start of a name, and the users whose key a member asked
//! for. Either way the member then follows them: it hears of their departure.

use super::{Chat, ConnId, v2_frames};

impl Chat {
    /// Answers a `chat-find` at once. 0.9 clients are never answered (they would not
    /// know the frame); with `--only-admin` the answer is empty, as the list is.
    pub(super) fn find(&mut self, conn: ConnId, prefix: Option<&str>) {
        let Some(asker) = self.users.member(conn) else {
            return;
        };
        if !asker.is_v2() {
            return;
        }
        let hidden = self.settings.only_admin && !asker.is_web_admin;
        let (found, more) = match prefix {
            Some(prefix) if !hidden => self.users.by_prefix(prefix, self.limits.found_per_request),
            _ => (Vec::new(), false),
        };
        let mut entries = String::with_capacity(80 * found.len());
        for member in found.iter().filter_map(|&c| self.users.member(c)) {
            if !entries.is_empty() {
                entries.push(',');
            }
            let key_id = member.identity.key_id();
            v2_frames::push_user_entry(&mut entries, &member.name, key_id, !member.is_v2());
        }
        for &user in &found {
            self.look_up(conn, user);
        }
        self.send_one(conn, v2_frames::found(prefix.unwrap_or(""), &entries, more));
    }

    /// `member` was told of `user`: it follows it from now on, if it is an unlisted
    /// version-2 user.
    pub(super) fn look_up(&mut self, member: ConnId, user: ConnId) {
        if self
            .users
            .member(user)
            .is_some_and(|m| m.is_v2() && !m.is_web_admin)
        {
            self.view
                .look_up(member, user, self.limits.looked_up_per_member);
        }
    }
}
