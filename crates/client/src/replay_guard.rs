//! Version 2's replay window (docs/PROTOCOL.md, "Receiving", checks 4 and 5): a message
//! whose time is more than ten minutes off our clock is dropped, and a `(from, id)` seen
//! within the window is a replay. Ids are kept for the window's length only, so the
//! memory is bounded by what arrives in ten minutes.

use std::collections::{HashMap, VecDeque};

/// `|E.time − my clock|` at most this, in milliseconds.
pub const REPLAY_WINDOW_MS: u64 = 10 * 60 * 1000;

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Fresh,
    /// Signed `skew_ms` away from our clock (positive: in our future).
    OutOfWindow {
        skew_ms: i64,
    },
    Replay,
}

#[derive(Default)]
pub struct ReplayGuard {
    seen: HashMap<(String, String), u64>,
    /// `(when seen, from, id)`, oldest first: what to forget once out of the window.
    order: VecDeque<(u64, String, String)>,
}

impl ReplayGuard {
    /// Checks a verified envelope's time and `(from, id)` at `now`, and remembers it if fresh.
    pub fn check(&mut self, from: &str, id: &str, time: u64, now: u64) -> Verdict {
        self.forget_before(now.saturating_sub(REPLAY_WINDOW_MS));
        let skew = i128::from(time) - i128::from(now);
        if skew.unsigned_abs() > u128::from(REPLAY_WINDOW_MS) {
            return Verdict::OutOfWindow {
                skew_ms: i64::try_from(skew).unwrap_or(i64::MAX),
            };
        }
        let key = (from.to_owned(), id.to_owned());
        if self.seen.contains_key(&key) {
            return Verdict::Replay;
        }
        self.seen.insert(key, now);
        self.order.push_back((now, from.to_owned(), id.to_owned()));
        Verdict::Fresh
    }

    fn forget_before(&mut self, cutoff: u64) {
        while let Some((at, _, _)) = self.order.front()
            && *at < cutoff
        {
            let (at, from, id) = self.order.pop_front().expect("front exists");
            // Only if not seen again since (it cannot be: a replay is not re-recorded).
            if self.seen.get(&(from.clone(), id.clone())) == Some(&at) {
                self.seen.remove(&(from, id));
            }
        }
    }

    #[cfg(test)]
    pub fn remembered(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_764_633_600_000;

    #[test]
    fn window_and_duplicates() {
        let mut guard = ReplayGuard::default();
        assert_eq!(guard.check("alice", "m1", T, T), Verdict::Fresh);
        assert_eq!(guard.check("alice", "m1", T, T + 1), Verdict::Replay);
        assert_eq!(
            guard.check("bobby", "m1", T, T + 1),
            Verdict::Fresh,
            "per sender"
        );
        assert_eq!(
            guard.check("alice", "m2", T + REPLAY_WINDOW_MS + 1, T),
            Verdict::OutOfWindow {
                skew_ms: REPLAY_WINDOW_MS as i64 + 1
            }
        );
        assert_eq!(
            guard.check("alice", "m3", T - REPLAY_WINDOW_MS, T),
            Verdict::Fresh,
            "the edge is inside"
        );
        assert_eq!(
            guard.check("alice", "m4", 0, u64::MAX),
            Verdict::OutOfWindow { skew_ms: i64::MAX }
        );
    }

    #[test]
    fn ids_are_forgotten_once_out_of_the_window() {
        let mut guard = ReplayGuard::default();
        for i in 0..100 {
            guard.check("alice", &format!("m{i}"), T, T);
        }
        assert_eq!(guard.remembered(), 100);
        let later = T + REPLAY_WINDOW_MS + 1;
        assert_eq!(guard.check("alice", "new", later, later), Verdict::Fresh);
        assert_eq!(guard.remembered(), 1);
        // A replay of an old one is now out of the window anyway.
        assert!(matches!(
            guard.check("alice", "m1", T, later),
            Verdict::OutOfWindow { .. }
        ));
    }
}
