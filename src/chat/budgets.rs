//! What one key may still spend: messages and joins. A key's budgets
//! outlive its connection for a while, so reconnecting does not refill them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::limits::Limits;
use crate::token_bucket::TokenBucket;

#[derive(Debug, Clone)]
pub struct Budgets {
    pub messages: TokenBucket,
    pub joins: TokenBucket,
    /// Joins refused for want of a join token since the last one accepted.
    pub refused_joins: u32,
}

impl Budgets {
    pub fn fresh(limits: &Limits, now: Instant) -> Self {
        Self {
            messages: TokenBucket::new(limits.messages_per_second, limits.message_burst, now),
            joins: TokenBucket::new(limits.rejoins_per_second, limits.rejoin_burst, now),
            refused_joins: 0,
        }
    }
}

/// Budgets of keys that left recently, by Key ID.
#[derive(Debug, Default)]
pub struct Remembered {
    keys: HashMap<String, (Budgets, Instant)>,
}

impl Remembered {
    /// The budgets a key left with, or fresh ones.
    pub fn take(&mut self, key_id: &str, limits: &Limits, now: Instant) -> Budgets {
        match self.keys.remove(key_id) {
            Some((budgets, left)) if !is_old(left, limits, now) => budgets,
            _ => Budgets::fresh(limits, now),
        }
    }

    /// Whether a key that left recently has no join left: then the join is refused
    /// before any costly work. Counts the refusal; `Some(count)` when refused.
    pub fn refuse_join(&mut self, key_id: &str, limits: &Limits, now: Instant) -> Option<u32> {
        let (budgets, left) = self.keys.get_mut(key_id)?;
        if is_old(*left, limits, now) {
            return None;
        }
        if budgets.joins.ready(now) {
            return None;
        }
        budgets.refused_joins += 1;
        Some(budgets.refused_joins)
    }

    /// Keeps a key's budgets; when the table is full of keys that left recently they
    /// are dropped (the key then starts afresh, as without this table). Old entries are
    /// forgotten here, when room is needed, rather than on a timer: until then they are
    /// ignored.
    pub fn keep(&mut self, key_id: &str, budgets: Budgets, limits: &Limits, now: Instant) {
        if self.keys.len() >= limits.remembered_keys && !self.keys.contains_key(key_id) {
            self.forget_older_than(limits.remember_for, now);
        }
        if self.keys.len() < limits.remembered_keys || self.keys.contains_key(key_id) {
            self.keys.insert(key_id.to_string(), (budgets, now));
        }
    }

    /// Forgets keys gone longer than `age`: by then their budgets are full again anyway.
    fn forget_older_than(&mut self, age: Duration, now: Instant) {
        self.keys
            .retain(|_, (_, left)| now.saturating_duration_since(*left) < age);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.keys.len()
    }
}

/// A key that left longer than `remember_for` ago is as good as unknown.
fn is_old(left: Instant, limits: &Limits, now: Instant) -> bool {
    now.saturating_duration_since(left) >= limits.remember_for
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_survive_a_reconnection_and_are_forgotten_later() {
        let limits = Limits {
            remembered_keys: 2,
            ..Limits::default()
        };
        let now = Instant::now();
        let mut r = Remembered::default();
        let mut b = r.take("k1", &limits, now);
        while b.messages.take(now) {}
        r.keep("k1", b, &limits, now);
        let mut again = r.take("k1", &limits, now);
        assert!(!again.messages.take(now), "not refilled by reconnecting");
        r.keep("k1", again, &limits, now);
        r.keep("k2", Budgets::fresh(&limits, now), &limits, now);
        r.keep("k3", Budgets::fresh(&limits, now), &limits, now);
        assert_eq!(r.len(), 2, "bounded");
        r.forget_older_than(Duration::from_secs(60), now + Duration::from_secs(61));
        assert_eq!(r.len(), 0);
    }
}
