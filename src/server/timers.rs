//! The connections' deadlines in time order, so that a loop turn finds the next one,
//! and the expired ones, without looking at every connection.
//!
//! Invalidation is lazy where it is cheap to be: a deadline that moves later (every
//! message a WebSocket reads moves its ping deadline) keeps its earlier entry, which
//! then fires early; the loop asks the connection, which does nothing yet, and the
//! connection is scheduled again at its real deadline. A deadline that moves earlier
//! replaces the entry.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use crate::chat::ConnId;

#[derive(Debug, Default)]
pub struct Timers {
    queue: BTreeSet<(Instant, ConnId)>,
    /// Each connection's entry in `queue`.
    scheduled: HashMap<ConnId, Instant>,
}

impl Timers {
    /// `conn` has something to do at `deadline` (or earlier, if already scheduled so).
    pub fn schedule(&mut self, conn: ConnId, deadline: Instant) {
        if let Some(&at) = self.scheduled.get(&conn) {
            if at <= deadline {
                return;
            }
            self.queue.remove(&(at, conn));
        }
        self.queue.insert((deadline, conn));
        self.scheduled.insert(conn, deadline);
    }

    /// The connection is gone.
    pub fn forget(&mut self, conn: ConnId) {
        if let Some(at) = self.scheduled.remove(&conn) {
            self.queue.remove(&(at, conn));
        }
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.queue.first().map(|&(at, _)| at)
    }

    /// Takes the connections whose deadline is `now` or earlier; each must be
    /// scheduled again if it still has one.
    pub fn expired(&mut self, now: Instant) -> Vec<ConnId> {
        let mut due = Vec::new();
        while let Some(&(at, conn)) = self.queue.first() {
            if at > now {
                break;
            }
            self.queue.pop_first();
            self.scheduled.remove(&conn);
            due.push(conn);
        }
        due
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_first_and_only_the_expired() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut timers = Timers::default();
        assert_eq!(timers.next(), None);
        timers.schedule(1, t0 + 3 * s);
        timers.schedule(2, t0 + s);
        timers.schedule(3, t0 + 2 * s);
        assert_eq!(timers.next(), Some(t0 + s));
        assert_eq!(timers.expired(t0), Vec::<ConnId>::new());
        assert_eq!(timers.expired(t0 + 2 * s), vec![2, 3]);
        assert_eq!(timers.next(), Some(t0 + 3 * s));
        assert_eq!(timers.expired(t0 + 10 * s), vec![1]);
        assert_eq!(timers.next(), None);
    }

    #[test]
    fn later_deadlines_keep_the_entry_earlier_ones_replace_it() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut timers = Timers::default();
        timers.schedule(1, t0 + 30 * s);
        timers.schedule(1, t0 + 40 * s);
        assert_eq!(timers.next(), Some(t0 + 30 * s), "fires early, lazily");
        timers.schedule(1, t0 + 5 * s);
        assert_eq!(timers.next(), Some(t0 + 5 * s));
        assert_eq!(timers.len(), 1, "one entry per connection");
        assert_eq!(timers.expired(t0 + 5 * s), vec![1]);
        timers.schedule(1, t0 + 40 * s);
        assert_eq!(timers.next(), Some(t0 + 40 * s), "rescheduled after firing");
    }

    #[test]
    fn a_forgotten_connection_leaves_nothing() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        timers.schedule(4, t0);
        timers.forget(4);
        timers.forget(4);
        assert_eq!(timers.next(), None);
        assert_eq!(timers.len(), 0);
    }
}
