//! Who is connected: connections waiting to join, joined users in join order, and the
//! administrator's web session. Each user keeps its piece of the users list, so a join
//! shares those pieces rather than re-encoding (or copying) every key.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use super::ConnId;
use super::budgets::Budgets;
use super::frames;
use crate::crypto::PublicIdentity;

#[derive(Debug)]
pub struct Member {
    pub name: String,
    pub identity: PublicIdentity,
    pub is_web_admin: bool,
    /// Sent `to` or `id`: a client of ours, which understands the extension frames.
    pub uses_extensions: bool,
    pub budgets: Budgets,
    /// Messages dropped in a row for the rate limit.
    pub dropped_in_a_row: u32,
    seq: u64,
    /// This user's piece of the users list (see `frames::users_list_piece`).
    piece: frames::Piece,
}

#[derive(Debug)]
enum Slot {
    Pending { since: Instant },
    Joined(Box<Member>),
}

#[derive(Debug, Default)]
pub struct Users {
    slots: HashMap<ConnId, Slot>,
    by_name: HashMap<String, ConnId>,
    order: BTreeMap<u64, ConnId>,
    next_seq: u64,
    web_admin: Option<ConnId>,
}

impl Users {
    pub fn open(&mut self, conn: ConnId, now: Instant) {
        self.slots.insert(conn, Slot::Pending { since: now });
    }

    /// Connections that have not joined since before `deadline`.
    pub fn pending_since_before(&self, deadline: Instant) -> Vec<ConnId> {
        self.slots
            .iter()
            .filter_map(|(&c, s)| match s {
                Slot::Pending { since } if *since < deadline => Some(c),
                _ => None,
            })
            .collect()
    }

    pub fn member(&self, conn: ConnId) -> Option<&Member> {
        match self.slots.get(&conn)? {
            Slot::Joined(m) => Some(m),
            Slot::Pending { .. } => None,
        }
    }

    pub fn member_mut(&mut self, conn: ConnId) -> Option<&mut Member> {
        match self.slots.get_mut(&conn)? {
            Slot::Joined(m) => Some(m),
            Slot::Pending { .. } => None,
        }
    }

    /// A connected user (never the web administrator) by name.
    pub fn by_name(&self, name: &str) -> Option<ConnId> {
        self.by_name.get(name).copied()
    }

    pub fn web_admin(&self) -> Option<ConnId> {
        self.web_admin
    }

    pub fn join(
        &mut self,
        conn: ConnId,
        name: String,
        identity: PublicIdentity,
        is_web_admin: bool,
        budgets: Budgets,
    ) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let piece = frames::users_list_piece(&name, identity.key_id(), identity.spki_b64(), false);
        if is_web_admin {
            self.web_admin = Some(conn);
        } else {
            self.by_name.insert(name.clone(), conn);
            self.order.insert(seq, conn);
        }
        let member = Member {
            name,
            identity,
            is_web_admin,
            uses_extensions: false,
            budgets,
            dropped_in_a_row: 0,
            seq,
            piece,
        };
        self.slots.insert(conn, Slot::Joined(Box::new(member)));
    }

    /// Forgets a connection; returns the member if it had joined.
    pub fn remove(&mut self, conn: ConnId) -> Option<Box<Member>> {
        let Slot::Joined(member) = self.slots.remove(&conn)? else {
            return None;
        };
        if member.is_web_admin {
            self.web_admin = None;
        } else {
            self.by_name.remove(&member.name);
            self.order.remove(&member.seq);
        }
        Some(member)
    }

    /// Joined users in join order, without the web administrator.
    pub fn users(&self) -> impl Iterator<Item = (ConnId, &Member)> {
        self.order
            .values()
            .filter_map(|&c| self.member(c).map(|m| (c, m)))
    }

    pub fn user_count(&self) -> usize {
        self.order.len()
    }

    /// Every joined connection, the web administrator included.
    pub fn everyone(&self) -> Vec<ConnId> {
        let mut all: Vec<ConnId> = self.order.values().copied().collect();
        all.extend(self.web_admin);
        all
    }

    /// The users' pieces of the users list, in join order.
    pub fn pieces(&self) -> impl Iterator<Item = frames::Piece> + '_ {
        self.users().map(|(_, m)| m.piece.clone())
    }
}
