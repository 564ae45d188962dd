//! [`RateLimiter`]: a token bucket per client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Token buckets: each client may make `burst` requests at once and `per_minute` on average.
/// Buckets idle for a while are forgotten, so memory stays bounded by the active clients.
pub struct RateLimiter {
    per_minute: u32,
    burst: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: u64,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` requests per minute with bursts of `burst`.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        RateLimiter {
            per_minute,
            burst: burst.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `client` at `now_ms`. `Err(seconds)` when none is left: how long
    /// until one is.
    pub fn check(&self, client: IpAddr, now_ms: u64) -> Result<(), u64> {
        let rate_per_ms = f64::from(self.per_minute) / 60_000.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 100_000 {
            // Forget the clients that would be full anyway.
            let full_after = (f64::from(self.burst) / rate_per_ms.max(1e-9)) as u64;
            buckets.retain(|_, b| now_ms.saturating_sub(b.at_ms) < full_after);
        }
        let b = buckets.entry(client).or_insert(Bucket {
            tokens: f64::from(self.burst),
            at_ms: now_ms,
        });
        let elapsed = now_ms.saturating_sub(b.at_ms) as f64;
        b.tokens = (b.tokens + elapsed * rate_per_ms).min(f64::from(self.burst));
        b.at_ms = now_ms;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else if rate_per_ms > 0.0 {
            Err((((1.0 - b.tokens) / rate_per_ms) / 1000.0).ceil().max(1.0) as u64)
        } else {
            Err(60)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_the_steady_rate() {
        let l = RateLimiter::new(60, 3); // one per second
        let c: IpAddr = "203.0.113.1".parse().unwrap();
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
        let (a, b): (IpAddr, IpAddr) = (
            "203.0.113.1".parse().unwrap(),
            "203.0.113.2".parse().unwrap(),
        );
        assert_eq!(l.check(a, 0), Ok(()));
        assert!(l.check(a, 0).is_err());
        assert_eq!(l.check(b, 0), Ok(()));
    }
}
