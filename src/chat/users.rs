//! Who is connected: connections waiting to join, joined users in join order, and the
//! administrator's web session. Each user keeps its piece of the users list, so a join
//! shares those pieces rather than re-encoding (or copying) every key.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

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
    /// The pending slots by opening time, so the oldest is found without a scan.
    pending: BTreeSet<(Instant, ConnId)>,
    by_name: HashMap<String, ConnId>,
    order: BTreeMap<u64, ConnId>,
    next_seq: u64,
    web_admin: Option<ConnId>,
}

impl Users {
    pub fn open(&mut self, conn: ConnId, now: Instant) {
        self.remove(conn);
        self.slots.insert(conn, Slot::Pending { since: now });
        self.pending.insert((now, conn));
    }

    /// Whether the connection is open and has not joined yet.
    pub fn is_pending(&self, conn: ConnId) -> bool {
        matches!(self.slots.get(&conn), Some(Slot::Pending { .. }))
    }

    /// When the longest-waiting connection that has not joined was opened.
    pub fn oldest_pending(&self) -> Option<Instant> {
        self.pending.first().map(|&(since, _)| since)
    }

    /// Connections that have not joined within `timeout` of their opening, at `now`.
    pub fn pending_too_long(&self, timeout: Duration, now: Instant) -> Vec<ConnId> {
        self.pending
            .iter()
            .take_while(|&&(since, _)| since + timeout <= now)
            .map(|&(_, conn)| conn)
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
            seq,
            piece,
        };
        self.forget_slot(conn);
        self.slots.insert(conn, Slot::Joined(Box::new(member)));
    }

    /// Forgets a connection; returns the member if it had joined.
    pub fn remove(&mut self, conn: ConnId) -> Option<Box<Member>> {
        let Slot::Joined(member) = self.forget_slot(conn)? else {
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

    /// Removes a connection's slot, and its place among the pending ones.
    fn forget_slot(&mut self, conn: ConnId) -> Option<Slot> {
        let slot = self.slots.remove(&conn)?;
        if let Slot::Pending { since } = slot {
            self.pending.remove(&(since, conn));
        }
        Some(slot)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_connections_in_opening_order() {
        let t0 = Instant::now();
        let mut users = Users::default();
        users.open(7, t0 + Duration::from_secs(2));
        users.open(3, t0);
        users.open(5, t0 + Duration::from_secs(1));
        assert_eq!(users.oldest_pending(), Some(t0));
        let timeout = Duration::from_secs(30);
        assert_eq!(
            users.pending_too_long(timeout, t0 + Duration::from_secs(31)),
            [3, 5]
        );
        users.remove(3);
        assert!(!users.is_pending(3) && users.is_pending(5));
        assert_eq!(users.oldest_pending(), Some(t0 + Duration::from_secs(1)));
        users.remove(5);
        users.remove(7);
        assert_eq!(users.oldest_pending(), None);
    }
}
