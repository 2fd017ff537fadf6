//! Joins and departures.

use std::time::Instant;

use super::frames::FrameText;
use super::private_work::Lane;
use super::{Admission, Chat, ConnId, close_code, frames};
use crate::console::ConsoleLine;
use crate::crypto::{PublicIdentity, b64_decode, key_id_of_der};
use crate::names::is_valid_user_name;

pub const ADMIN_ALREADY_CONNECTED: &str = "Admin is already connected via web interface";
pub const NOT_ALLOWED: &str = "Your Public Key is not allowed to connect";
pub const REJOINING_TOO_OFTEN: &str =
    "You are reconnecting too often: wait a few seconds, then try again.";

impl Chat {
    pub(super) fn join(&mut self, conn: ConnId, name: String, public_key: &str, now: Instant) {
        // A key reconnecting in a loop is turned away before its key is even parsed.
        let claimed = b64_decode(public_key.trim()).map(|der| key_id_of_der(&der));
        if let Some(refusals) =
            claimed.and_then(|id| self.remembered.refuse_join(&id, &self.limits, now))
        {
            self.send_one(conn, frames::notice(REJOINING_TOO_OFTEN));
            self.users.remove(conn);
            self.close(conn, close_code::POLICY, "join refused");
            if refusals == 1 {
                self.console(ConsoleLine::warning(format!(
                    "joins refused for {:?}: reconnecting too often (said once until it joins again)",
                    name.chars().take(32).collect::<String>()
                )));
            }
            return;
        }
        let identity = match PublicIdentity::from_spki_b64(public_key) {
            Ok(identity) => identity,
            Err(err) => {
                self.send_one(
                    conn,
                    frames::notice(&format!("Your public key cannot be used: {err}.")),
                );
                self.refuse_join(conn, &name, &format!("unusable public key ({err})"));
                return;
            }
        };
        let listed_name = match &self.admission {
            Admission::Anyone => None,
            Admission::Listed(list) => list.name_for(identity.key_id()).map(str::to_string),
            Admission::Nobody(_) => None,
        };
        if listed_name.is_none() && !matches!(self.admission, Admission::Anyone) {
            self.send_one(conn, frames::notice(NOT_ALLOWED));
            let why = format!(
                "Key ID {} is not on the allow list",
                &identity.key_id()[..12]
            );
            self.refuse_join(conn, &name, &why);
            return;
        }
        let name = listed_name.unwrap_or(name);
        let is_web_admin = identity.key_id() == self.admin.public().key_id();
        let name = if is_web_admin {
            if self.users.web_admin().is_some() {
                self.send_one(conn, frames::notice(ADMIN_ALREADY_CONNECTED));
                self.refuse_join(
                    conn,
                    &name,
                    "the administrator is already connected on the web",
                );
                return;
            }
            self.settings.admin_name.clone()
        } else {
            // "admin" would pass for ADMIN in the others' lists: the administrator's name
            // is refused in every letter case.
            let admins = name.eq_ignore_ascii_case(&self.settings.admin_name);
            if admins || !is_valid_user_name(&name) || self.users.by_name(&name).is_some() {
                let admin = &self.settings.admin_name;
                let why = if name == *admin {
                    "the administrator's name".to_string()
                } else if admins {
                    format!("the administrator's name ({admin}) in other letters")
                } else if is_valid_user_name(&name) {
                    "name taken".to_string()
                } else {
                    "invalid name".to_string()
                };
                self.send_one(conn, frames::invalid_user());
                self.refuse_join(conn, &name, &why);
                return;
            }
            name
        };

        let mut budgets = self.remembered.take(identity.key_id(), &self.limits, now);
        if !budgets.joins.take(now) {
            self.remembered
                .keep(identity.key_id(), budgets, &self.limits, now);
            self.send_one(conn, frames::notice(REJOINING_TOO_OFTEN));
            self.refuse_join(conn, &name, "reconnecting too often");
            return;
        }
        budgets.refused_joins = 0;
        self.users
            .join(conn, name.clone(), identity.clone(), is_web_admin, budgets);

        let config = frames::config(
            self.settings.disable_all && !is_web_admin,
            &name,
            is_web_admin,
            identity.key_id(),
            &self.group_b64,
        );
        self.send_one(conn, config);
        let list = self.users_list_for(is_web_admin);
        self.send_one(conn, list);
        if self.settings.welcome.is_some() && !is_web_admin {
            self.pending_welcomes.push_back(conn);
            self.start_waiting_welcomes(now);
        }

        if is_web_admin {
            self.console(
                ConsoleLine::new()
                    .name(&name, true)
                    .plain(" joined on the web interface, Key ID ")
                    .key_id(identity.key_id()),
            );
            return;
        }
        let announce = frames::joined(&name, identity.key_id(), identity.spki_b64());
        let others: Vec<ConnId> = self
            .audience_of_presence()
            .into_iter()
            .filter(|&c| c != conn)
            .collect();
        self.send(others, announce);
        self.console(
            ConsoleLine::new()
                .name(&name, false)
                .plain(" joined, Key ID ")
                .key_id(identity.key_id()),
        );
    }

    fn refuse_join(&mut self, conn: ConnId, name: &str, why: &str) {
        self.users.remove(conn);
        self.close(conn, close_code::POLICY, "join refused");
        let shown: String = name.chars().take(32).collect();
        self.console(ConsoleLine::warning(format!(
            "join refused for {shown:?}: {why}"
        )));
    }

    /// The users list as `conn` may see it: the administrator first, then the users
    /// (unless `--only-admin` hides them from this joiner).
    fn users_list_for(&self, is_web_admin: bool) -> FrameText {
        let show_users = !self.settings.only_admin || is_web_admin;
        let users = self
            .users
            .pieces()
            .take(if show_users { usize::MAX } else { 0 });
        frames::users_list(std::iter::once(self.admin_piece.clone()).chain(users))
    }

    /// Who is told of users joining and leaving.
    pub(super) fn audience_of_presence(&self) -> Vec<ConnId> {
        if self.settings.only_admin {
            self.users.web_admin().into_iter().collect()
        } else {
            self.users.everyone()
        }
    }

    /// Starts the welcomes that wait, in join order, while the welcome budget has a
    /// token and the private-key jobs have room. A welcome takes one token per part (one
    /// signature each), going into debt for a long one rather than never going out.
    pub(super) fn start_waiting_welcomes(&mut self, now: Instant) {
        while !self.pending_welcomes.is_empty()
            && self.has_room_for_jobs()
            && self.welcome_signatures.ready(now)
        {
            let conn = self.pending_welcomes.pop_front().expect("not empty");
            self.start_welcome(conn, now);
        }
    }

    fn start_welcome(&mut self, conn: ConnId, now: Instant) {
        let Some(text) = self.settings.welcome.clone() else {
            return;
        };
        let Some(member) = self.users.member(conn) else {
            return;
        };
        let (name, identity) = (member.name.clone(), member.identity.clone());
        let admin = self.settings.admin_name.clone();
        match self.seal_for(&identity, &admin, &name, &text, false) {
            Some(sealed) => {
                self.welcome_signatures.take_many(sealed.len(), now);
                let sends = sealed.into_iter().map(|part| (conn, part.frame)).collect();
                self.sign_and_send(Lane::Conn(conn), sends, None);
            }
            None => self.console(ConsoleLine::warning(format!(
                "the welcome message does not fit {name}'s key; not sent"
            ))),
        }
    }

    /// Forgets a connection; tells the others if it had joined.
    pub(super) fn leave(&mut self, conn: ConnId, why: Option<&str>) {
        let Some(member) = self.users.remove(conn) else {
            return;
        };
        let member = *member;
        self.remembered.keep(
            member.identity.key_id(),
            member.budgets,
            &self.limits,
            self.clock,
        );
        let suffix = why.map(|w| format!(" ({w})")).unwrap_or_default();
        if member.is_web_admin {
            self.console(
                ConsoleLine::new()
                    .name(&member.name, true)
                    .plain(format!(" left the web interface{suffix}")),
            );
            return;
        }
        let audience = self.audience_of_presence();
        self.send(audience, frames::left(&member.name));
        self.console(
            ConsoleLine::new()
                .name(&member.name, false)
                .plain(format!(" left{suffix}")),
        );
    }
}
