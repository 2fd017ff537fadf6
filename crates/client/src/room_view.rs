//! Version 2 in a large room (docs/PROTOCOL.md, "Large rooms: the list is a view"): the
//! server tells a session of the listed users and of those it looked up, and `count`
//! says how many the room really has. The session's users list is that view: the listed
//! users plus the looked-up ones (found with `chat-find`, or whose key it fetched).

use std::collections::VecDeque;

use serde_json::{Map, Value, json};

use super::event::{ClientEvent, User};
use super::seal::frame;
use super::session::{ClientSession, str_field};

/// Looked-up users kept, as the server follows at most `looked_up_per_member` (256) for
/// each member: beyond it the server no longer announces the oldest one's departure, so
/// the session forgets it too rather than keep somebody who may be gone.
pub const MAX_LOOKED_UP: usize = 256;

/// The names in the users list only because this session looked them up, oldest first.
#[derive(Default)]
pub(crate) struct LookedUp {
    names: VecDeque<String>,
}

impl LookedUp {
    /// `name` was looked up (again: it becomes the most recent); the name no longer
    /// followed because of it, if any.
    fn add(&mut self, name: &str) -> Option<String> {
        self.remove(name);
        self.names.push_back(name.to_owned());
        (self.names.len() > MAX_LOOKED_UP)
            .then(|| self.names.pop_front())
            .flatten()
    }

    /// `name` is listed now, or left.
    pub(crate) fn remove(&mut self, name: &str) {
        self.names.retain(|n| n != name);
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    pub(crate) fn clear(&mut self) {
        self.names.clear();
    }
}

impl ClientSession {
    /// Version 2: how many users the room has (the administrator included), from the
    /// last `chat-users` or `chat-presence`; `None` before a frame carried it. Larger
    /// than the users listed in a large room: the others can be found with
    /// [`ClientSession::find`].
    pub fn count(&self) -> Option<usize> {
        self.count
    }

    /// Whether `name` is in the users list because this session looked it up (rather
    /// than because the server lists it to everybody).
    pub fn is_looked_up(&self, name: &str) -> bool {
        self.looked_up.contains(name)
    }

    /// Version 2: the `chat-find` frame asking for the connected users whose name starts
    /// with `prefix`. The server answers [`ClientEvent::Found`]; for anything but 1 to 15
    /// of `[a-z0-9]` its answer is empty (the frame is built as asked, so that a test
    /// can send bad input).
    pub fn find(&self, prefix: &str) -> String {
        frame(
            "signal",
            &self.name,
            json!({"code": "chat-find", "name": prefix}),
        )
    }

    /// The `count` of a `chat-users` or `chat-presence`, after its other events: an
    /// event when it changed. A frame without a usable `count` leaves it as it was.
    pub(crate) fn take_count(&mut self, data: &Map<String, Value>, events: &mut Vec<ClientEvent>) {
        let Some(count) = data
            .get("count")
            .and_then(Value::as_u64)
            .and_then(|c| usize::try_from(c).ok())
        else {
            return;
        };
        if self.count != Some(count) {
            self.count = Some(count);
            events.push(ClientEvent::Count { count });
        }
    }

    /// `chat-found`: its users become looked up.
    pub(crate) fn found(
        &mut self,
        data: &Map<String, Value>,
        events: &mut Vec<ClientEvent>,
    ) -> Result<(), String> {
        let name = str_field(data, "name")?.to_owned();
        let more = data.get("more").and_then(Value::as_bool).unwrap_or(false);
        let users = self.v2_users(data)?;
        for user in &users {
            self.look_up(user.clone());
        }
        events.push(ClientEvent::Found { name, users, more });
        Ok(())
    }

    /// The server now follows `user` for us. A listed entry of that name stays listed
    /// (its Key ID updated if the server's answer names another); otherwise the user is
    /// looked up, and the oldest looked-up one beyond [`MAX_LOOKED_UP`] is forgotten.
    pub(crate) fn look_up(&mut self, user: User) {
        let name = user.name.clone();
        let listed = !self.is_looked_up(&name);
        match self.users.iter_mut().find(|u| u.name == name) {
            Some(entry) => {
                if entry.hash != user.hash {
                    *entry = user;
                }
                if listed {
                    return;
                }
            }
            None => self.users.push(user),
        }
        if let Some(forgotten) = self.looked_up.add(&name) {
            self.users.retain(|u| u.name != forgotten);
        }
    }
}
