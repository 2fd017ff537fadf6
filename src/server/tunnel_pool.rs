//! The connections that arrive through the SSH tunnel. sshd hands them to our `ssh`,
//! which opens each one to us from this machine: they all come from one address, so the
//! per-address limits cannot tell one remote person from another. They get a pool of
//! their own instead — a cap on how many are open and on how many new ones come per
//! second — so that whoever comes through the tunnel cannot take the slots of the people
//! on the local network.

use std::time::Instant;

use crate::limits::Limits;
use crate::token_bucket::TokenBucket;

pub struct TunnelPool {
    open: usize,
    max: usize,
    new_connections: TokenBucket,
}

impl TunnelPool {
    pub fn new(limits: &Limits, now: Instant) -> Self {
        Self {
            open: 0,
            max: limits.tunnel_max_connections,
            new_connections: TokenBucket::new(
                limits.tunnel_connections_per_second,
                limits.tunnel_connection_burst,
                now,
            ),
        }
    }

    /// Takes a place for a new tunnelled connection, if the pool has one and its rate
    /// allows it.
    pub fn admit(&mut self, now: Instant) -> bool {
        if self.open >= self.max || !self.new_connections.take(now) {
            return false;
        }
        self.open += 1;
        true
    }

    /// A tunnelled connection is gone.
    pub fn left(&mut self) {
        self.open = self.open.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_pool_caps_open_connections_and_their_rate() {
        let limits = Limits {
            tunnel_max_connections: 3,
            tunnel_connections_per_second: 1.0,
            tunnel_connection_burst: 5.0,
            ..Limits::default()
        };
        let t0 = Instant::now();
        let mut pool = TunnelPool::new(&limits, t0);
        assert!((0..3).all(|_| pool.admit(t0)));
        assert!(!pool.admit(t0), "full");
        pool.left();
        pool.left();
        assert!(
            pool.admit(t0) && pool.admit(t0),
            "room again: burst of 5 taken"
        );
        pool.left();
        assert!(!pool.admit(t0), "room, but the rate is spent");
        assert!(pool.admit(t0 + Duration::from_secs(1)));
    }
}
