//! What each version-2 member is told of the room (docs/PROTOCOL.md, "Large rooms: the
//! list is a view"): everybody is told of the same **listed** users (the first
//! `list_size` version-2 users in join order, with the 0.9 users and the administrator),
//! and each member also of the users it **looked up** (`chat-find`, `chat-getkeys`).
//! Telling everybody of everybody would cost O(N²) frames and bytes over N joins.
//!
//! This holds the bookkeeping only; `presence.rs` turns it into frames.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use super::ConnId;

#[derive(Debug, Default)]
pub struct View {
    /// Version-2 users listed to everybody, and their join sequence.
    listed: HashMap<ConnId, u64>,
    /// The same by join sequence: the order of `chat-users`.
    listed_order: BTreeMap<u64, ConnId>,
    /// Version-2 users not listed, by join sequence: the first is listed next.
    unlisted: BTreeMap<u64, ConnId>,
    /// The users each member looked up, oldest first (unlisted ones only: the listed
    /// are followed by everybody anyway).
    looked_up: HashMap<ConnId, VecDeque<ConnId>>,
    /// Who looked up each user: who hears of its departure.
    followers: HashMap<ConnId, HashSet<ConnId>>,
}

/// What a departure changes in the view.
#[derive(Debug, PartialEq, Eq)]
pub enum Departure {
    /// A listed user left; `promoted` (the first unlisted one, if any) is now listed.
    Listed { promoted: Option<ConnId> },
    /// An unlisted user left: only these followers are told.
    Unlisted { followers: Vec<ConnId> },
    /// Not a version-2 user of the view (0.9, the web administrator, unknown).
    Other,
}

impl View {
    /// A version-2 user joined, `seq` its place in join order. `true`: it is listed (to
    /// be announced to everybody).
    pub fn joined(&mut self, conn: ConnId, seq: u64, list_size: usize) -> bool {
        if self.listed.len() < list_size {
            self.listed.insert(conn, seq);
            self.listed_order.insert(seq, conn);
            true
        } else {
            self.unlisted.insert(seq, conn);
            false
        }
    }

    pub fn is_listed(&self, conn: ConnId) -> bool {
        self.listed.contains_key(&conn)
    }

    /// The listed version-2 users with their join sequence, in join order.
    pub fn listed(&self) -> impl Iterator<Item = (u64, ConnId)> + '_ {
        self.listed_order.iter().map(|(&seq, &conn)| (seq, conn))
    }

    /// `conn` left (`seq` its join sequence): it is forgotten as a user and as a member
    /// who looked others up.
    pub fn left(&mut self, conn: ConnId, seq: u64) -> Departure {
        if let Some(seen) = self.looked_up.remove(&conn) {
            for user in seen {
                self.unfollow(user, conn);
            }
        }
        let followers: Vec<ConnId> = self
            .followers
            .remove(&conn)
            .map(|set| set.into_iter().collect())
            .unwrap_or_default();
        for &follower in &followers {
            if let Some(seen) = self.looked_up.get_mut(&follower) {
                seen.retain(|&c| c != conn);
            }
        }
        if self.listed.remove(&conn).is_some() {
            self.listed_order.remove(&seq);
            let promoted = self.unlisted.pop_first().map(|(next_seq, next)| {
                self.listed.insert(next, next_seq);
                self.listed_order.insert(next_seq, next);
                next
            });
            if let Some(next) = promoted {
                // Those who followed it now hear of it as everybody does.
                if let Some(set) = self.followers.remove(&next) {
                    for follower in set {
                        if let Some(seen) = self.looked_up.get_mut(&follower) {
                            seen.retain(|&c| c != next);
                        }
                    }
                }
            }
            Departure::Listed { promoted }
        } else if self.unlisted.remove(&seq).is_some() {
            let mut followers = followers;
            followers.sort_unstable();
            Departure::Unlisted { followers }
        } else {
            Departure::Other
        }
    }

    /// `member` looked `user` (a version-2 user, not the web administrator) up; `bound`
    /// is how many it follows at most (the oldest is dropped). A listed user, or
    /// oneself, needs no following.
    pub fn look_up(&mut self, member: ConnId, user: ConnId, bound: usize) {
        if member == user || self.is_listed(user) || bound == 0 {
            return;
        }
        let seen = self.looked_up.entry(member).or_default();
        if let Some(at) = seen.iter().position(|&c| c == user) {
            seen.remove(at);
            seen.push_back(user);
            return;
        }
        seen.push_back(user);
        let dropped = if seen.len() > bound {
            seen.pop_front()
        } else {
            None
        };
        self.followers.entry(user).or_default().insert(member);
        if let Some(old) = dropped {
            self.unfollow(old, member);
        }
    }

    fn unfollow(&mut self, user: ConnId, member: ConnId) {
        if let Some(set) = self.followers.get_mut(&user) {
            set.remove(&member);
            if set.is_empty() {
                self.followers.remove(&user);
            }
        }
    }

    #[cfg(test)]
    fn following(&self, member: ConnId) -> Vec<ConnId> {
        self.looked_up
            .get(&member)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(n: usize, list_size: usize) -> View {
        let mut view = View::default();
        for c in 0..n {
            view.joined(c, c as u64, list_size);
        }
        view
    }

    #[test]
    fn the_first_joiners_are_listed_the_rest_not() {
        let view = room(5, 2);
        assert!(view.is_listed(0) && view.is_listed(1));
        assert!(!view.is_listed(2) && !view.is_listed(4));
    }

    #[test]
    fn a_listed_departure_lists_the_first_unlisted() {
        let mut view = room(5, 2);
        assert_eq!(view.left(0, 0), Departure::Listed { promoted: Some(2) });
        assert!(view.is_listed(2));
        assert_eq!(view.left(2, 2), Departure::Listed { promoted: Some(3) });
        let mut small = room(2, 2);
        assert_eq!(small.left(1, 1), Departure::Listed { promoted: None });
        assert_eq!(small.left(9, 9), Departure::Other);
    }

    #[test]
    fn an_unlisted_departure_is_told_to_its_followers_only() {
        let mut view = room(6, 2);
        view.look_up(0, 4, 8);
        view.look_up(3, 4, 8);
        view.look_up(3, 3, 8); // oneself: nothing
        view.look_up(5, 1, 8); // listed: nothing
        assert_eq!(view.following(5), Vec::<ConnId>::new());
        assert_eq!(
            view.left(4, 4),
            Departure::Unlisted {
                followers: vec![0, 3]
            }
        );
        assert_eq!(view.following(0), Vec::<ConnId>::new());
        assert_eq!(view.left(5, 5), Departure::Unlisted { followers: vec![] });
    }

    #[test]
    fn following_is_bounded_oldest_dropped() {
        let mut view = room(8, 2);
        for user in [2, 3, 4, 5] {
            view.look_up(0, user, 3);
        }
        assert_eq!(view.following(0), vec![3, 4, 5]);
        view.look_up(0, 3, 3); // again: now the most recent
        assert_eq!(view.following(0), vec![4, 5, 3]);
        assert_eq!(view.left(2, 2), Departure::Unlisted { followers: vec![] });
    }

    #[test]
    fn a_follower_who_leaves_is_forgotten() {
        let mut view = room(6, 2);
        view.look_up(3, 4, 8);
        assert_eq!(view.left(3, 3), Departure::Unlisted { followers: vec![] });
        assert_eq!(view.left(4, 4), Departure::Unlisted { followers: vec![] });
    }

    #[test]
    fn a_followed_user_who_becomes_listed_is_told_to_everybody() {
        let mut view = room(4, 2);
        view.look_up(1, 2, 8);
        assert_eq!(view.left(0, 0), Departure::Listed { promoted: Some(2) });
        assert_eq!(view.following(1), Vec::<ConnId>::new());
        assert_eq!(view.left(2, 2), Departure::Listed { promoted: Some(3) });
    }
}
