//! New connections per second from one address: a token bucket per address. This
//! machine itself gets ten times the rate, because the SSH tunnel (or a local proxy)
//! brings everybody from there. Addresses are forgotten lazily (no timer): when the
//! table has doubled since the last clean-up, the full buckets go.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use crate::limits::Limits;
use crate::token_bucket::TokenBucket;

const LOCAL_FACTOR: f64 = 10.0;
/// The table is never cleaned below this size.
const MIN_CLEAN_AT: usize = 64;

pub struct ConnectionRate {
    buckets: HashMap<IpAddr, TokenBucket>,
    rate: f64,
    burst: f64,
    /// The size at which the next new address cleans the table up first.
    clean_at: usize,
}

impl ConnectionRate {
    pub fn new(limits: &Limits) -> Self {
        Self {
            buckets: HashMap::new(),
            rate: limits.connections_per_second_per_address,
            burst: limits.connection_burst_per_address,
            clean_at: MIN_CLEAN_AT,
        }
    }

    /// Takes a token for a new connection from `ip`.
    pub fn allow(&mut self, ip: IpAddr, from_here: bool, now: Instant) -> bool {
        let factor = if from_here { LOCAL_FACTOR } else { 1.0 };
        if self.buckets.len() >= self.clean_at && !self.buckets.contains_key(&ip) {
            self.forget_idle(now);
            self.clean_at = (self.buckets.len() * 2).max(MIN_CLEAN_AT);
        }
        self.buckets
            .entry(ip)
            .or_insert_with(|| TokenBucket::new(self.rate * factor, self.burst * factor, now))
            .take(now)
    }

    /// Forgets addresses whose buckets are full again, so the table stays small.
    fn forget_idle(&mut self, now: Instant) {
        self.buckets.retain(|_, bucket| !bucket.is_full(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_the_rate_and_more_for_this_machine() {
        let limits = Limits {
            connections_per_second_per_address: 2.0,
            connection_burst_per_address: 3.0,
            ..Limits::default()
        };
        let mut rate = ConnectionRate::new(&limits);
        let now = Instant::now();
        let remote: IpAddr = "10.0.0.9".parse().unwrap();
        assert_eq!((0..5).filter(|_| rate.allow(remote, false, now)).count(), 3);
        assert!(rate.allow(remote, false, now + Duration::from_millis(500)));
        let here: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!((0..50).filter(|_| rate.allow(here, true, now)).count(), 30);
        rate.forget_idle(now + Duration::from_secs(60));
        assert!(rate.buckets.is_empty());
    }

    #[test]
    fn the_table_is_cleaned_when_it_doubled() {
        let limits = Limits::default();
        let mut rate = ConnectionRate::new(&limits);
        let now = Instant::now();
        for i in 0..MIN_CLEAN_AT {
            assert!(rate.allow(IpAddr::from([10, 0, 0, i as u8]), false, now));
        }
        assert_eq!(rate.buckets.len(), MIN_CLEAN_AT);
        let later = now + Duration::from_secs(3600);
        assert!(rate.allow("10.0.1.1".parse().unwrap(), false, later));
        assert_eq!(rate.buckets.len(), 1, "the refilled ones were forgotten");
    }
}
