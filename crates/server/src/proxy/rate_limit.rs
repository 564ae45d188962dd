//! [`RateLimiter`]: a token bucket per client address (IPv6 clients grouped by /64).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

/// How often buckets that are full again are forgotten, in milliseconds.
pub const PRUNE_EVERY_MS: u64 = 60_000;

/// Token buckets: each client may spend `burst` tokens at once and `per_minute` on average.
/// A bucket that has refilled is the same as no bucket, so [`RateLimiter::prune`] forgets
/// it; pruning runs on a timer (see [`crate::proxy::ProxyState::new`]) and at most every
/// [`PRUNE_EVERY_MS`] from [`RateLimiter::take`], so the map holds only the clients seen in
/// the last few minutes.
pub struct RateLimiter {
    per_minute: u32,
    burst: u32,
    state: Mutex<Buckets>,
}

struct Buckets {
    map: HashMap<IpAddr, Bucket>,
    pruned_at: u64,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: u64,
}

/// The key a client is limited under: its canonical address, or for IPv6 its /64 (one
/// subscriber usually holds a whole /64).
pub fn group(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

impl RateLimiter {
    /// A limiter allowing `per_minute` tokens per minute with bursts of `burst`.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        RateLimiter {
            per_minute,
            burst: burst.max(1),
            state: Mutex::new(Buckets {
                map: HashMap::new(),
                pruned_at: 0,
            }),
        }
    }

    fn rate_per_ms(&self) -> f64 {
        f64::from(self.per_minute) / 60_000.0
    }

    /// Takes one token for `client` at `now_ms`; see [`RateLimiter::take`].
    pub fn check(&self, client: IpAddr, now_ms: u64) -> Result<(), u64> {
        self.take(client, 1, now_ms)
    }

    /// Takes `n` tokens (at most the burst, so one request never needs more than a full
    /// bucket) for `client`'s group at `now_ms`. `Err(seconds)` when there are not enough:
    /// how long until there are; nothing is taken then.
    pub fn take(&self, client: IpAddr, n: u32, now_ms: u64) -> Result<(), u64> {
        let rate_per_ms = self.rate_per_ms();
        let need = f64::from(n.clamp(1, self.burst));
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if now_ms.saturating_sub(state.pruned_at) >= PRUNE_EVERY_MS {
            self.prune_locked(&mut state, now_ms);
        }
        let b = state.map.entry(group(client)).or_insert(Bucket {
            tokens: f64::from(self.burst),
            at_ms: now_ms,
        });
        let elapsed = now_ms.saturating_sub(b.at_ms) as f64;
        b.tokens = (b.tokens + elapsed * rate_per_ms).min(f64::from(self.burst));
        b.at_ms = b.at_ms.max(now_ms);
        if b.tokens >= need {
            b.tokens -= need;
            Ok(())
        } else if rate_per_ms > 0.0 {
            Err((((need - b.tokens) / rate_per_ms) / 1000.0).ceil().max(1.0) as u64)
        } else {
            Err(60)
        }
    }

    /// Forgets the buckets that are full again at `now_ms`; returns how many remain.
    pub fn prune(&self, now_ms: u64) -> usize {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.prune_locked(&mut state, now_ms);
        state.map.len()
    }

    fn prune_locked(&self, state: &mut Buckets, now_ms: u64) {
        let rate_per_ms = self.rate_per_ms();
        let burst = f64::from(self.burst);
        state.map.retain(|_, b| {
            let elapsed = now_ms.saturating_sub(b.at_ms) as f64;
            b.tokens + elapsed * rate_per_ms < burst
        });
        state.pruned_at = now_ms;
    }

    /// How many clients have a bucket.
    pub fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map
            .len()
    }

    /// Whether no client has a bucket.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn bursts_then_the_steady_rate() {
        let l = RateLimiter::new(60, 3); // one per second
        let c = ip("203.0.113.1");
        for _ in 0..3 {
            assert_eq!(l.check(c, 0), Ok(()));
        }
        assert_eq!(l.check(c, 0), Err(1));
        assert_eq!(l.check(c, 999), Err(1));
        assert_eq!(l.check(c, 1_000), Ok(()));
    }

    #[test]
    fn clients_have_their_own_buckets() {
        let l = RateLimiter::new(60, 1);
        let (a, b) = (ip("203.0.113.1"), ip("203.0.113.2"));
        assert_eq!(l.check(a, 0), Ok(()));
        assert!(l.check(a, 0).is_err());
        assert_eq!(l.check(b, 0), Ok(()));
    }

    #[test]
    fn ipv6_clients_share_their_64_and_mapped_ipv4_is_ipv4() {
        let l = RateLimiter::new(60, 1);
        assert_eq!(l.check(ip("2001:db8:1:2::1"), 0), Ok(()));
        assert!(
            l.check(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), 0).is_err(),
            "same /64"
        );
        assert_eq!(l.check(ip("2001:db8:1:3::1"), 0), Ok(()), "another /64");
        assert_eq!(l.check(ip("::ffff:198.51.100.1"), 0), Ok(()));
        assert!(l.check(ip("198.51.100.1"), 0).is_err(), "the same address");
        assert_eq!(group(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
    }

    #[test]
    fn tokens_by_count_never_more_than_the_burst() {
        let l = RateLimiter::new(600, 500); // ten per second
        let c = ip("203.0.113.1");
        assert_eq!(l.take(c, 400, 0), Ok(()));
        assert_eq!(l.take(c, 200, 0), Err(10), "100 left, 100 more take 10 s");
        assert_eq!(l.take(c, 100, 0), Ok(()));
        // A batch larger than the burst needs a full bucket, not more.
        assert_eq!(l.take(c, 10_000, 50_000), Ok(()));
    }

    #[test]
    fn full_buckets_are_forgotten() {
        let l = RateLimiter::new(60, 10);
        for i in 0..1000u32 {
            let _ = l.check(IpAddr::from(i.to_be_bytes()), 0);
        }
        assert_eq!(l.len(), 1000);
        assert_eq!(l.prune(500), 1000, "not refilled yet");
        assert_eq!(l.prune(1_000), 0, "one token a second refills one token");
        // Pruning also happens from take, once per interval.
        for i in 0..1000u32 {
            let _ = l.check(IpAddr::from(i.to_be_bytes()), 2_000);
        }
        let _ = l.check(ip("203.0.113.1"), 2_000 + PRUNE_EVERY_MS);
        assert_eq!(l.len(), 1);
    }
}
