//! Who is connected: connections waiting to join, joined users in join order, and the
//! administrator's web session. Each user keeps its piece of the users list, so a join
//! shares those pieces rather than re-encoding (or copying) every key.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use super::ConnId;
use super::budgets::Budgets;
use super::frames;
use super::v2_frames;
use crate::crypto::PublicIdentity;

#[derive(Debug)]
pub struct Member {
    pub name: String,
    pub identity: PublicIdentity,
    pub is_web_admin: bool,
    /// Sent `to` or `id`: a client of ours, which understands the extension frames.
    pub uses_extensions: bool,
    pub budgets: Budgets,
    /// The member key of a version-2 session (`None`: a 0.9 client). Raw bytes, not a
    /// ready cipher (1.1 KiB with its key schedule): it is used once per rotation, and
    /// 10,000 members are 11 MB less.
    pub member_key: Option<[u8; 32]>,
    seq: u64,
    /// This user's piece of the 0.9 users list (see `frames::users_list_piece`), made
    /// when a 0.9 joiner first needs it: most of a big version-2 room never does.
    piece: OnceCell<frames::Piece>,
    /// This user's `chat-key` frame, made when somebody first asks for it.
    key_frame: OnceCell<frames::FrameText>,
}

impl Member {
    /// Its place in join order.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn is_v2(&self) -> bool {
        self.member_key.is_some()
    }

    pub fn piece(&self) -> frames::Piece {
        self.piece
            .get_or_init(|| {
                let id = &self.identity;
                frames::users_list_piece(&self.name, id.key_id(), id.spki_b64(), false)
            })
            .clone()
    }

    #[cfg(test)]
    pub fn has_piece(&self) -> bool {
        self.piece.get().is_some()
    }

    pub fn key_frame(&self) -> frames::FrameText {
        self.key_frame
            .get_or_init(|| {
                let id = &self.identity;
                v2_frames::key(id.key_id(), &self.name, id.spki_b64()).into()
            })
            .clone()
    }
}

/// A join that offered a proof of the key, waiting for the `chat-proof`.
#[derive(Debug)]
pub struct AwaitedProof {
    pub name: String,
    pub identity: PublicIdentity,
    /// The base64 nonce of the `chat-challenge` sent.
    pub nonce: String,
    /// The join asked for version 2.
    pub v2: bool,
}

#[derive(Debug)]
enum Slot {
    Pending {
        since: Instant,
        /// The `Host` of the upgrade request: what a proof is bound to.
        host: Option<String>,
        proof: Option<Box<AwaitedProof>>,
    },
    Joined(Box<Member>),
}

#[derive(Debug, Default)]
pub struct Users {
    slots: HashMap<ConnId, Slot>,
    /// The pending slots by opening time, so the oldest is found without a scan.
    pending: BTreeSet<(Instant, ConnId)>,
    /// Ordered, so that a prefix finds its names in one range (`chat-find`).
    by_name: BTreeMap<String, ConnId>,
    /// Joined connections by Key ID, the web administrator included: one per key.
    by_key: HashMap<String, ConnId>,
    order: BTreeMap<u64, ConnId>,
    /// The joined 0.9 sessions (the web administrator's included): a version-2 join
    /// tells them, and finding them must not cost a look at every member.
    legacy: BTreeSet<ConnId>,
    next_seq: u64,
    web_admin: Option<ConnId>,
}

impl Users {
    pub fn open(&mut self, conn: ConnId, host: Option<String>, now: Instant) {
        self.remove(conn);
        let slot = Slot::Pending {
            since: now,
            host,
            proof: None,
        };
        self.slots.insert(conn, slot);
        self.pending.insert((now, conn));
    }

    /// The `Host` a pending connection was opened with.
    pub fn host(&self, conn: ConnId) -> Option<&str> {
        match self.slots.get(&conn)? {
            Slot::Pending { host, .. } => host.as_deref(),
            Slot::Joined(_) => None,
        }
    }

    /// A pending connection now waits for the proof of its key. Returns false if the
    /// connection is not pending, or already waits for one.
    pub fn await_proof(&mut self, conn: ConnId, awaited: AwaitedProof) -> bool {
        match self.slots.get_mut(&conn) {
            Some(Slot::Pending {
                proof: p @ None, ..
            }) => {
                *p = Some(Box::new(awaited));
                true
            }
            _ => false,
        }
    }

    /// The proof a pending connection waits for, taken (a proof is tried once).
    pub fn take_awaited_proof(&mut self, conn: ConnId) -> Option<AwaitedProof> {
        match self.slots.get_mut(&conn)? {
            Slot::Pending { proof, .. } => proof.take().map(|p| *p),
            Slot::Joined(_) => None,
        }
    }

    /// Whether a pending connection has been challenged (its join was received).
    pub fn is_proving(&self, conn: ConnId) -> bool {
        matches!(
            self.slots.get(&conn),
            Some(Slot::Pending { proof: Some(_), .. })
        )
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

    /// Connected users (never the web administrator) whose name starts with `prefix`, in
    /// name order, at most `max`; `true` if there are more.
    pub fn by_prefix(&self, prefix: &str, max: usize) -> (Vec<ConnId>, bool) {
        let mut found = self
            .by_name
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(name, _)| name.starts_with(prefix))
            .map(|(_, &conn)| conn);
        let first: Vec<ConnId> = found.by_ref().take(max).collect();
        (first, found.next().is_some())
    }

    pub fn web_admin(&self) -> Option<ConnId> {
        self.web_admin
    }

    /// The joined connection of a key (the web administrator's included).
    pub fn by_key(&self, key_id: &str) -> Option<ConnId> {
        self.by_key.get(key_id).copied()
    }

    pub fn join(
        &mut self,
        conn: ConnId,
        name: String,
        identity: PublicIdentity,
        is_web_admin: bool,
        budgets: Budgets,
        member_key: Option<[u8; 32]>,
    ) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_key.insert(identity.key_id().to_string(), conn);
        if member_key.is_none() {
            self.legacy.insert(conn);
        }
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
            member_key,
            seq,
            piece: OnceCell::new(),
            key_frame: OnceCell::new(),
        };
        self.forget_slot(conn);
        self.slots.insert(conn, Slot::Joined(Box::new(member)));
    }

    /// Forgets a connection; returns the member if it had joined.
    pub fn remove(&mut self, conn: ConnId) -> Option<Box<Member>> {
        let Slot::Joined(member) = self.forget_slot(conn)? else {
            return None;
        };
        self.by_key.remove(member.identity.key_id());
        self.legacy.remove(&conn);
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
        if let Slot::Pending { since, .. } = slot {
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
        self.users().map(|(_, m)| m.piece())
    }

    /// The joined 0.9 users (never the web administrator).
    pub fn legacy_users(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.legacy
            .iter()
            .copied()
            .filter(|&c| Some(c) != self.web_admin)
    }

    /// Every joined connection of one version (the web administrator included).
    pub fn of_version(&self, v2: bool) -> Vec<ConnId> {
        if !v2 {
            return self.legacy.iter().copied().collect();
        }
        let mut all: Vec<ConnId> = self
            .order
            .values()
            .copied()
            .filter(|c| !self.legacy.contains(c))
            .collect();
        all.extend(self.web_admin.filter(|c| !self.legacy.contains(c)));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_connections_in_opening_order() {
        let t0 = Instant::now();
        let mut users = Users::default();
        users.open(7, None, t0 + Duration::from_secs(2));
        users.open(3, None, t0);
        users.open(5, None, t0 + Duration::from_secs(1));
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
