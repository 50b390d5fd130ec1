//! Per-IP rate limits for the endpoints anyone can call without credentials:
//! registration, the token (and revocation) endpoint and the authorization
//! endpoint. Past a limit the answer is `429 Too Many Requests` with
//! `Retry-After`.
//!
//! Each limit is a token bucket kept as GCRA's "theoretical arrival time": one
//! `Instant` per peer. The table of peers is bounded: when it is full, peers
//! whose bucket has refilled completely are forgotten first (forgetting them
//! changes nothing), then the one closest to full.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::consent::error_response;
use crate::error::OAuthError;
use crate::state::AppState;

/// Peers tracked per limit; beyond this the least recently limited are forgotten.
pub(crate) const MAX_TRACKED_PEERS: usize = 4096;

/// One per-IP limit: up to `burst` requests at once, then one every `refill_every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests a peer may make back to back.
    pub burst: u32,
    /// How often one more request becomes available.
    pub refill_every: Duration,
}

impl RateLimit {
    /// `burst` requests at once, then one every `refill_every`.
    pub const fn new(burst: u32, refill_every: Duration) -> Self {
        Self {
            burst,
            refill_every,
        }
    }
}

/// The per-IP limits of a [`DevAuthServer`](crate::DevAuthServer); `None` turns
/// a limit off.
///
/// Requests are counted per client IP address (per /64 for IPv6), taken from the
/// connection (`ConnectInfo<SocketAddr>`); a router served without connect info
/// counts every request against one shared bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimits {
    /// `POST …/clients:register`. Default: 20 at once, then one every 3 s.
    pub registration: Option<RateLimit>,
    /// `POST /oauth/token` and `POST /oauth/revoke`, one shared budget.
    /// Default: 60 at once, then ten a second.
    pub token: Option<RateLimit>,
    /// `GET /oauth/authorize`. Default: 30 at once, then two a second.
    pub authorize: Option<RateLimit>,
    /// The public documents (discovery metadata, JWKS): cheap, but still
    /// bounded so a page cannot keep the server busy. Default: 300 at once,
    /// then 50 a second.
    pub documents: Option<RateLimit>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            registration: Some(RateLimit::new(20, Duration::from_secs(3))),
            token: Some(RateLimit::new(60, Duration::from_millis(100))),
            authorize: Some(RateLimit::new(30, Duration::from_millis(500))),
            documents: Some(RateLimit::new(300, Duration::from_millis(20))),
        }
    }
}

impl RateLimits {
    /// No limits at all (for benchmarks and load tests).
    pub const fn unlimited() -> Self {
        Self {
            registration: None,
            token: None,
            authorize: None,
            documents: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        for (name, limit) in [
            ("registration", self.registration),
            ("token", self.token),
            ("authorize", self.authorize),
            ("documents", self.documents),
        ] {
            if let Some(l) = limit
                && (l.burst == 0 || l.refill_every.is_zero())
            {
                return Err(format!(
                    "the {name} rate limit needs a burst and a refill interval above zero (use None to turn it off)"
                ));
            }
        }
        Ok(())
    }
}

/// Which limit a route counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitClass {
    Registration,
    Token,
    Authorize,
    Documents,
}

/// The peers of one limit and how far ahead each is.
#[derive(Debug)]
pub(crate) struct PeerLimiter {
    interval: Duration,
    /// How far a peer's arrival time may run ahead of now: `(burst - 1) × interval`.
    tolerance: Duration,
    max_peers: usize,
    peers: Mutex<HashMap<IpAddr, Instant>>,
}

impl PeerLimiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self::with_capacity(limit, MAX_TRACKED_PEERS)
    }

    fn with_capacity(limit: RateLimit, max_peers: usize) -> Self {
        Self {
            interval: limit.refill_every,
            tolerance: limit.refill_every * limit.burst.saturating_sub(1),
            max_peers,
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request from `peer` at `now`; `Err` carries how long to wait.
    pub(crate) fn check(&self, peer: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        let tat = peers.get(&peer).copied().unwrap_or(now).max(now);
        let ahead = tat - now;
        if ahead > self.tolerance {
            return Err(ahead - self.tolerance);
        }
        if !peers.contains_key(&peer) && peers.len() >= self.max_peers {
            // Peers at or behind `now` have a full bucket: forgetting them is free.
            peers.retain(|_, t| *t > now);
            if peers.len() >= self.max_peers
                && let Some(oldest) = peers.iter().min_by_key(|(_, t)| **t).map(|(k, _)| *k)
            {
                peers.remove(&oldest);
            }
        }
        peers.insert(peer, tat + self.interval);
        Ok(())
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.peers.lock().unwrap().len()
    }
}

/// The limiters a server runs, built from [`RateLimits`].
#[derive(Debug)]
pub(crate) struct Limiters {
    registration: Option<PeerLimiter>,
    token: Option<PeerLimiter>,
    authorize: Option<PeerLimiter>,
    documents: Option<PeerLimiter>,
}

impl Limiters {
    pub(crate) fn new(limits: &RateLimits) -> Self {
        Self {
            registration: limits.registration.map(PeerLimiter::new),
            token: limits.token.map(PeerLimiter::new),
            authorize: limits.authorize.map(PeerLimiter::new),
            documents: limits.documents.map(PeerLimiter::new),
        }
    }

    fn get(&self, class: LimitClass) -> Option<&PeerLimiter> {
        match class {
            LimitClass::Registration => self.registration.as_ref(),
            LimitClass::Token => self.token.as_ref(),
            LimitClass::Authorize => self.authorize.as_ref(),
            LimitClass::Documents => self.documents.as_ref(),
        }
    }
}

/// The key a peer is counted under: its IP, IPv4-mapped IPv6 as IPv4, other
/// IPv6 addresses by /64 (one host usually owns a whole /64).
pub(crate) fn peer_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Middleware: counts the request against the route's limit; 429 past it.
pub(crate) async fn rate_limit(
    State((state, class)): State<(AppState, LimitClass)>,
    request: Request,
    next: Next,
) -> Response {
    let Some(limiter) = state.limiters.get(class) else {
        return next.run(request).await;
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(a)| a.ip());
    match limiter.check(peer_key(peer), Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            tracing::debug!(%peer, ?class, "rate limit exceeded");
            too_many_requests(class, wait)
        }
    }
}

fn too_many_requests(class: LimitClass, wait: Duration) -> Response {
    // Whole seconds, rounded up: waiting less would only be refused again.
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    let description = format!("too many requests from this address; retry in {secs} s");
    let mut response = match class {
        LimitClass::Authorize => error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            &format!("Too many sign-in requests from this address. Try again in {secs} s."),
        ),
        LimitClass::Registration | LimitClass::Token | LimitClass::Documents => OAuthError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "temporarily_unavailable",
            description,
        )
        .into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn burst_then_refill() {
        let limiter = PeerLimiter::new(RateLimit::new(3, Duration::from_secs(1)));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(ip(1), t0).is_ok());
        }
        let wait = limiter.check(ip(1), t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        // Another peer has its own bucket.
        assert!(limiter.check(ip(2), t0).is_ok());
        // One interval later, exactly one more request is allowed.
        let t1 = t0 + Duration::from_secs(1);
        assert!(limiter.check(ip(1), t1).is_ok());
        assert!(limiter.check(ip(1), t1).is_err());
    }

    #[test]
    fn the_peer_table_stays_bounded() {
        let limiter = PeerLimiter::with_capacity(RateLimit::new(2, Duration::from_secs(60)), 64);
        let t0 = Instant::now();
        for i in 0..10_000u32 {
            let peer = IpAddr::from(i.to_be_bytes());
            assert!(limiter.check(peer, t0).is_ok());
            assert!(limiter.tracked() <= 64);
        }
        // A limited peer is still limited while the table churns below capacity.
        let busy = ip(9);
        assert!(limiter.check(busy, t0).is_ok());
        assert!(limiter.check(busy, t0).is_ok());
        assert!(limiter.check(busy, t0).is_err());
    }

    #[test]
    fn ipv6_peers_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(peer_key(a), peer_key(b));
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(peer_key(mapped), IpAddr::from([127, 0, 0, 1]));
    }
}
