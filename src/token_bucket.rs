//! A token bucket: `rate` tokens a second, at most `burst` saved up. It is behind every
//! rate limit: a key's budgets in the chat and new connections per address.

use std::time::Instant;

#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: f64, burst: f64, now: Instant) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes one token whether or not there is one: a debt that later refills pay off
    /// first. For a cost that must be counted but cannot be refused.
    pub fn spend(&mut self, now: Instant) {
        self.refill(now);
        self.tokens -= 1.0;
    }

    /// Takes `n` tokens if at least one is there, going into debt for the rest: a cost
    /// larger than the burst is still paid, by waiting longer for the next.
    pub fn take_many(&mut self, n: usize, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= n as f64;
            true
        } else {
            false
        }
    }

    /// Whether a token is there, without taking it.
    pub fn ready(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= 1.0
    }

    /// When the next token will be there (`now` if one is; `None` if never).
    pub fn ready_at(&mut self, now: Instant) -> Option<Instant> {
        self.refill(now);
        if self.tokens >= 1.0 {
            return Some(now);
        }
        if self.rate <= 0.0 {
            return None;
        }
        // Rounded up past the exact instant, so that then `ready` holds.
        let wait = ((1.0 - self.tokens) / self.rate * 1e6).ceil() as u64 + 1;
        Some(now + std::time::Duration::from_micros(wait))
    }

    /// Whether it has refilled completely: then it holds no information worth keeping.
    pub fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_cost_beyond_the_burst_is_paid_by_waiting() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1.0, 2.0, t0);
        assert!(b.take_many(5, t0), "one token is enough to start");
        assert!(
            !b.take_many(1, t0 + Duration::from_secs(3)),
            "3 of debt left"
        );
        assert!(b.take(t0 + Duration::from_millis(4001)));
    }

    #[test]
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(2.0, 3.0, t0);
        assert!(b.take(t0) && b.take(t0) && b.take(t0));
        assert!(!b.take(t0));
        assert!(!b.ready(t0 + Duration::from_millis(400)));
        assert!(b.take(t0 + Duration::from_millis(500)));
        assert!(!b.take(t0 + Duration::from_millis(500)));
        // Never more than the burst, however long it rested.
        let later = t0 + Duration::from_secs(3600);
        assert!(b.take(later) && b.take(later) && b.take(later) && !b.take(later));
    }

    #[test]
    fn ready_at_is_when_a_token_is_back() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(4.0, 1.0, t0);
        assert_eq!(b.ready_at(t0), Some(t0));
        assert!(b.take(t0));
        let at = b.ready_at(t0).unwrap();
        assert!(at > t0 + Duration::from_millis(249) && at < t0 + Duration::from_millis(251));
        assert!(!b.ready(at - Duration::from_millis(1)));
        assert!(b.ready(at));
        assert_eq!(TokenBucket::new(0.0, 0.0, t0).ready_at(t0), None);
    }
}
