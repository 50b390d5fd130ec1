//! Token-bucket rate limits with bounded memory: one bucket per key (a
//! principal, a client address), at most `max_keys` buckets.
//!
//! When the map is full, buckets that have refilled completely are dropped
//! first (forgetting them loses nothing: a new bucket starts full); if every
//! bucket is still in use, the least recently used tenth goes, so an insert
//! costs amortised O(1) even under churn.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// A token bucket: a sustained rate of requests, bursts up to a size.
///
/// ```
/// use mcpgate_auth::http::RateLimit;
///
/// let limit = RateLimit::per_second(50).burst(100);
/// assert_eq!(limit.per_second_rate(), 50.0);
/// assert_eq!(limit.burst_size(), 100);
/// assert_eq!(RateLimit::per_minute(30).per_second_rate(), 0.5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Tokens added per second.
    rate: f64,
    burst: u32,
}

impl RateLimit {
    /// `n` requests per second (at least 1), bursts of `2 × n` by default.
    pub const fn per_second(n: u32) -> Self {
        let n = if n == 0 { 1 } else { n };
        Self {
            rate: n as f64,
            burst: n.saturating_mul(2),
        }
    }

    /// `n` requests per minute (at least 1), bursts of `n` by default.
    pub const fn per_minute(n: u32) -> Self {
        let n = if n == 0 { 1 } else { n };
        Self {
            rate: n as f64 / 60.0,
            burst: n,
        }
    }

    /// Allows bursts of `n` requests (at least 1) before the rate applies.
    #[must_use]
    pub const fn burst(mut self, n: u32) -> Self {
        self.burst = if n == 0 { 1 } else { n };
        self
    }

    /// The sustained rate, in requests per second.
    pub const fn per_second_rate(&self) -> f64 {
        self.rate
    }

    /// The burst size.
    pub const fn burst_size(&self) -> u32 {
        self.burst
    }
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Buckets for many keys under one limit.
pub(crate) struct RateLimiter<K> {
    limit: RateLimit,
    max_keys: usize,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    pub(crate) fn new(limit: RateLimit, max_keys: usize) -> Self {
        Self {
            limit,
            max_keys: max_keys.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from `key`'s bucket: `Ok` when there was one, else
    /// `Err(retry_after)`, the time until the next token.
    pub(crate) fn check(&self, key: &K) -> Result<(), Duration> {
        let now = Instant::now();
        let rate = self.limit.rate;
        let burst = f64::from(self.limit.burst);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bucket) = buckets.get_mut(key) {
            let elapsed = now.duration_since(bucket.updated).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
            bucket.updated = now;
            if bucket.tokens >= 1.0 {
                bucket.tokens -= 1.0;
                return Ok(());
            }
            return Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate));
        }
        if buckets.len() >= self.max_keys {
            Self::make_room(&mut buckets, now, rate, burst, self.max_keys);
        }
        buckets.insert(
            key.clone(),
            Bucket {
                tokens: burst - 1.0,
                updated: now,
            },
        );
        Ok(())
    }

    fn make_room(
        buckets: &mut HashMap<K, Bucket>,
        now: Instant,
        rate: f64,
        burst: f64,
        max_keys: usize,
    ) {
        buckets
            .retain(|_, b| b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < burst);
        if buckets.len() < max_keys {
            return;
        }
        let mut ages: Vec<Instant> = buckets.values().map(|b| b.updated).collect();
        let evict = (ages.len() / 10).max(1);
        let (_, cutoff, _) = ages.select_nth_unstable(evict - 1);
        let cutoff = *cutoff;
        buckets.retain(|_, b| b.updated > cutoff);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.lock().unwrap().len()
    }
}

/// The key a client address is limited under: the IPv4 address, or the /64
/// an IPv6 address belongs to (one host usually has a whole /64, so keying
/// on single IPv6 addresses would limit nothing).
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

/// The `Retry-After` value for a wait: whole seconds, at least 1.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_then_rate() {
        let limiter = RateLimiter::new(RateLimit::per_second(2).burst(3), 10);
        for _ in 0..3 {
            assert!(limiter.check(&"a").is_ok());
        }
        let wait = limiter.check(&"a").unwrap_err();
        assert_eq!(retry_after_secs(wait), 1);
        assert!(wait <= Duration::from_millis(500));
        assert!(limiter.check(&"b").is_ok(), "keys are independent");
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(limiter.check(&"a").is_ok());
        assert!(limiter.check(&"a").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn memory_is_bounded() {
        let limiter = RateLimiter::new(RateLimit::per_second(1).burst(5), 100);
        for i in 0..1000 {
            let _ = limiter.check(&i);
            assert!(limiter.len() <= 100);
        }
        // Full buckets go first: after a refill, one new key frees all of them.
        tokio::time::advance(Duration::from_secs(10)).await;
        let _ = limiter.check(&5000);
        assert_eq!(limiter.len(), 1);
    }

    #[test]
    fn ipv6_is_keyed_by_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }
}
