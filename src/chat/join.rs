//! Joins and departures. A join that offers a proof (`prove`) is challenged first: the
//! client signs a nonce with the Host it connected to, and nothing about the chat is sent
//! before the proof is checked.

use std::time::Instant;

use sha2::{Digest, Sha256};

use super::admin::Outgoing;
use super::budgets::Budgets;
use super::frames::FrameText;
use super::private_work::{Lane, Recipient};
use super::users::{AwaitedProof, Member};
use super::view::Departure;
use super::{Admission, Chat, ConnId, close_code, frames, v2_frames};
use crate::console::ConsoleLine;
use crate::crypto::{
    PublicIdentity, b64_decode, b64_encode, join_proof_message, key_id_of_der, random_bytes,
};
use crate::names::is_valid_user_name;

pub const ADMIN_ALREADY_CONNECTED: &str = "Admin is already connected via web interface";
pub const NOT_ALLOWED: &str = "Your Public Key is not allowed to connect";
pub const REJOINING_TOO_OFTEN: &str =
    "You are reconnecting too often: wait a few seconds, then try again.";
pub const PROOF_FAILED: &str = "Your client could not prove it holds this key: join refused.";
pub const UNPROVEN_LISTED: &str = "Your client cannot prove it holds this key, and this server admits listed keys only with that proof: join refused. The operator can allow such clients with --allow-unproven-keys.";
pub const UNPROVEN_ADMIN: &str = "Your client cannot prove it holds the administrator's key: join refused. The operator can allow such clients with --allow-unproven-admin.";
pub const KEY_CONNECTED: &str = "This key is already connected.";
pub const REPLACED: &str = "You joined from another place: this connection is closed.";
pub const V2_NEEDS_PROOF: &str = "Version 2 needs a proof of the key: join refused.";

impl Chat {
    pub(super) fn join(
        &mut self,
        conn: ConnId,
        name: String,
        public_key: &str,
        prove: bool,
        v2: bool,
        now: Instant,
    ) {
        if self.users.is_proving(conn) {
            self.refuse_join(conn, &name, "a second join before the proof");
            return;
        }
        // A kicked or banned key, or one reconnecting in a loop, is turned away before
        // its key is even parsed.
        let claimed = b64_decode(public_key.trim()).map(|der| key_id_of_der(&der));
        if claimed
            .as_deref()
            .is_some_and(|id| self.refuse_kept_out(conn, &name, id, now))
        {
            return;
        }
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
        // The administrator's own key is the operator's choice; clients' keys must be
        // what browsers make, so that no key costs more to verify than theirs.
        let parsed = PublicIdentity::from_spki_b64(public_key).and_then(|identity| {
            if identity.key_id() != self.admin.public().key_id() {
                identity.check_client_key()?;
            }
            Ok(identity)
        });
        let identity = match parsed {
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
        if v2 && !prove {
            self.send_one(conn, frames::notice(V2_NEEDS_PROOF));
            self.refuse_join(conn, &name, "version 2 without a proof of the key");
            return;
        }
        if prove {
            let nonce = self.next_nonce();
            // Thousands may wait for their proof at once: they keep no parsed key.
            let awaited = AwaitedProof {
                name,
                identity: identity.compact(),
                nonce: nonce.clone(),
                v2,
            };
            if self.users.await_proof(conn, awaited) {
                self.send_one(conn, frames::challenge(&nonce));
            }
            return;
        }
        self.decide_join(conn, name, identity, false, false, now);
    }

    /// The answer to a `chat-challenge`: the join goes on only if the signature is the
    /// key's, over this connection's nonce and Host.
    pub(super) fn proof(&mut self, conn: ConnId, signature: &str, now: Instant) {
        let Some(awaited) = self.users.take_awaited_proof(conn) else {
            self.users.remove(conn);
            self.close(conn, close_code::POLICY, "join first");
            return;
        };
        let message = join_proof_message(self.users.host(conn).unwrap_or(""), &awaited.nonce);
        // Parsed once for the proof and the member key's encryption.
        let identity = awaited.identity.parsed();
        let proven = b64_decode(signature.trim())
            .is_some_and(|signature| identity.verify(&message, &signature));
        if !proven {
            self.send_one(conn, frames::notice(PROOF_FAILED));
            self.refuse_join(conn, &awaited.name, "no proof of the private key");
            return;
        }
        let v2 = awaited.v2;
        self.decide_join(conn, awaited.name, identity, true, v2, now);
    }

    /// Unpredictable without a clock or an RNG here: the secret is the shell's.
    fn next_nonce(&mut self) -> String {
        self.challenges_made += 1;
        let mut hash = Sha256::new();
        hash.update(self.join_secret);
        hash.update(self.challenges_made.to_be_bytes());
        b64_encode(&hash.finalize())
    }

    /// Admission, names and budgets, once the key is known (and proven, or not).
    fn decide_join(
        &mut self,
        conn: ConnId,
        name: String,
        identity: PublicIdentity,
        proven: bool,
        v2: bool,
        now: Instant,
    ) {
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
        let is_web_admin = identity.key_id() == self.admin.public().key_id();
        let name = listed_name.clone().unwrap_or(name);
        // One live session per key: a proven join takes over (a reconnection after a
        // lost network); an unproven one could be anybody.
        let existing = self.users.by_key(identity.key_id());
        if existing.is_some() && !proven {
            let notice = if is_web_admin {
                ADMIN_ALREADY_CONNECTED
            } else {
                KEY_CONNECTED
            };
            self.send_one(conn, frames::notice(notice));
            self.refuse_join(conn, &name, "the key is already connected");
            return;
        }
        // Public keys are in every users list: without a proof, a listed key or the
        // administrator's is anybody's.
        if !proven {
            let refusal = if is_web_admin {
                (!self.settings.allow_unproven_admin).then_some(UNPROVEN_ADMIN)
            } else {
                (listed_name.is_some() && !self.settings.allow_unproven_keys)
                    .then_some(UNPROVEN_LISTED)
            };
            if let Some(notice) = refusal {
                self.send_one(conn, frames::notice(notice));
                self.refuse_join(conn, &name, "the client did not prove its key");
                return;
            }
        }
        let name = if is_web_admin {
            self.settings.admin_name.clone()
        } else {
            // "admin" would pass for ADMIN in the others' lists: the administrator's name
            // is refused in every letter case.
            let admins = name.eq_ignore_ascii_case(&self.settings.admin_name);
            let taken = self
                .users
                .by_name(&name)
                .is_some_and(|c| Some(c) != existing);
            if admins || !is_valid_user_name(&name) || taken {
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

        let budgets = match existing {
            Some(old) => self.take_over(old, now),
            None => {
                let mut budgets = self.remembered.take(identity.key_id(), &self.limits, now);
                if budgets.joins.take(now) {
                    Some(budgets)
                } else {
                    self.remembered
                        .keep(identity.key_id(), budgets, &self.limits, now);
                    None
                }
            }
        };
        let Some(mut budgets) = budgets else {
            self.send_one(conn, frames::notice(REJOINING_TOO_OFTEN));
            self.refuse_join(conn, &name, "reconnecting too often");
            return;
        };
        budgets.refused_joins = 0;
        let member_key = v2.then(random_bytes::<32>);
        self.users.join(
            conn,
            name.clone(),
            identity.compact(),
            is_web_admin,
            budgets,
            member_key,
        );

        if let Some(member_key) = member_key {
            self.welcome_v2(conn, &name, &identity, is_web_admin, &member_key);
        } else {
            let config = frames::config(
                self.settings.disable_all && !is_web_admin,
                &name,
                is_web_admin,
                identity.key_id(),
                self.keys.legacy_b64(),
            );
            self.send_one(conn, config);
            let list = self.users_list_for(is_web_admin);
            self.send_one(conn, list);
            if self.settings.welcome.is_some() && !is_web_admin {
                self.pending_welcomes.push_back(conn);
                self.start_waiting_welcomes(now);
            }
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
        let others: Vec<ConnId> = self
            .audience_of_presence(false)
            .into_iter()
            .filter(|&c| c != conn)
            .collect();
        if !others.is_empty() {
            let announce = frames::joined(&name, identity.key_id(), identity.spki_b64());
            self.send(others, announce);
        }
        let seq = self.users.member(conn).map_or(0, |m| m.seq());
        if !v2 || self.view.joined(conn, seq, self.limits.list_size) {
            self.turn.joined(&name, identity.key_id(), !v2);
        } else {
            // Unlisted: nobody is told but by the room's size (PROTOCOL.md, "Large rooms").
            self.turn.resized();
        }
        self.console(
            ConsoleLine::new()
                .name(&name, false)
                .plain(" joined, Key ID ")
                .key_id(identity.key_id()),
        );
        self.key_seen(&name, identity.key_id());
    }

    /// A version-2 join: the version-2 `config` with the member key, then the group
    /// key of the epoch; the users list and the welcome follow at the end of the turn.
    fn welcome_v2(
        &mut self,
        conn: ConnId,
        name: &str,
        identity: &PublicIdentity,
        is_web_admin: bool,
        member_key: &[u8; 32],
    ) {
        // 32 bytes fit every key we accept (2048 bits carry 190).
        let wrapped = identity
            .encrypt(member_key)
            .expect("a member key fits any accepted key");
        let admin = self.admin.public();
        let config = v2_frames::config(&v2_frames::ConfigV2 {
            disable_all: self.settings.disable_all && !is_web_admin,
            name,
            is_admin: is_web_admin,
            key_id: identity.key_id(),
            admin_name: &self.settings.admin_name,
            admin_key_id: admin.key_id(),
            admin_spki: admin.spki_b64(),
            member_key_b64: &b64_encode(&wrapped),
            max_text: self.limits.max_text_bytes,
        });
        self.send_one(conn, config);
        let key = self.keys.wrapped_for(name, member_key);
        self.send_one(conn, key);
        self.turn.v2_joiner(conn);
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

    /// Who is told of users joining and leaving: those of one version.
    pub(super) fn audience_of_presence(&self, v2: bool) -> Vec<ConnId> {
        if self.settings.only_admin {
            let web = self
                .users
                .web_admin()
                .and_then(|c| self.users.member(c).map(|m| (c, m)));
            web.filter(|(_, m)| m.is_v2() == v2)
                .map(|(c, _)| c)
                .into_iter()
                .collect()
        } else {
            self.users.of_version(v2)
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
        let (name, identity, v2) = (member.name.clone(), member.identity.clone(), member.is_v2());
        let admin = self.settings.admin_name.clone();
        if v2 {
            // One version-2 message carries any welcome: one signature.
            let (envelope, id) = self.admin_envelope(&name, &text);
            let mut out = Outgoing::default();
            out.v2_direct(
                Recipient::Conn(conn),
                &identity,
                &name,
                &envelope,
                &id,
                None,
            );
            self.welcome_signatures.take_many(out.signatures(), now);
            return out.start(self, Lane::Conn(conn), None);
        }
        match self.seal_for(&identity, &admin, &name, &text, false) {
            Some(sealed) => {
                self.welcome_signatures.take_many(sealed.len(), now);
                let mut out = Outgoing::default();
                for part in sealed {
                    out.v09(Recipient::Conn(conn), part.frame);
                }
                out.start(self, Lane::Conn(conn), None);
            }
            None => self.console(ConsoleLine::warning(format!(
                "the welcome message does not fit {name}'s key; not sent"
            ))),
        }
    }

    /// A proven join of a key that is connected: the old connection is told and closed,
    /// and its budgets go on with the new one. `None` if the key has no join left.
    fn take_over(&mut self, old: ConnId, now: Instant) -> Option<Budgets> {
        let member = self.users.member_mut(old)?;
        if !member.budgets.joins.take(now) {
            return None;
        }
        let member = *self.users.remove(old)?;
        self.pending_welcomes.retain(|&c| c != old);
        self.send_one(old, frames::notice(REPLACED));
        self.close(old, close_code::POLICY, "replaced");
        self.announce_departure(old, &member, Some("joined from another place"));
        Some(member.budgets)
    }

    /// Forgets a connection; tells the others if it had joined.
    pub(super) fn leave(&mut self, conn: ConnId, why: Option<&str>) {
        let Some(member) = self.users.remove(conn) else {
            return;
        };
        let member = *member;
        self.announce_departure(conn, &member, why);
        self.remember_departure(&member);
        self.remembered.keep(
            member.identity.key_id(),
            member.budgets,
            &self.limits,
            self.clock,
        );
    }

    fn announce_departure(&mut self, conn: ConnId, member: &Member, why: Option<&str>) {
        let suffix = why.map(|w| format!(" ({w})")).unwrap_or_default();
        if member.is_web_admin {
            self.console(
                ConsoleLine::new()
                    .name(&member.name, true)
                    .plain(format!(" left the web interface{suffix}")),
            );
            return;
        }
        let audience = self.audience_of_presence(false);
        self.send(audience, frames::left(&member.name));
        match self.view.left(conn, member.seq()) {
            Departure::Listed { promoted } => {
                self.turn.left(&member.name);
                if let Some(next) = promoted.and_then(|c| self.users.member(c)) {
                    self.turn.joined(&next.name, next.identity.key_id(), false);
                }
            }
            Departure::Unlisted { followers } => {
                self.turn.left_unlisted(&member.name, followers);
            }
            Departure::Other => self.turn.left(&member.name),
        }
        self.console(
            ConsoleLine::new()
                .name(&member.name, false)
                .plain(format!(" left{suffix}")),
        );
    }
}
