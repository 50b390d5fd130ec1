//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document):
//! a client whose `client_id` is an HTTPS URL is described by the JSON document
//! served at that URL, so it needs no registration.
//!
//! Fetching a URL a stranger chose is a server-side request, and this server
//! runs on a developer's machine, next to their browser and their intranet. So:
//! - only `https` URLs are fetched, and only when every address the host
//!   resolves to is public (not loopback, private, link-local, unspecified,
//!   multicast or otherwise reserved); IP literals are checked the same way,
//!   without any lookup;
//! - the connection goes to the addresses that were checked (the name is pinned
//!   to them, so DNS cannot rebind between the check and the connection), with
//!   no proxy and no redirects;
//! - loopback is allowed only for `host:port` authorities the server was
//!   configured with ([`DevAuthServerConfig::cimd_loopback_hosts`]), over http
//!   or https, and never the server's own address;
//! - a fetch has a timeout and a size cap; concurrent requests for one URL
//!   share one fetch, and at most [`MAX_CONCURRENT_FETCHES`] run at once;
//! - documents are cached briefly, and failures too (so a URL cannot be
//!   hammered through this server);
//! - the client is only ever told that the document could not be used; why
//!   (connection refused, HTTP status, address refused) goes to the log, so
//!   the server cannot be used to probe what answers where.
//!
//! [`DevAuthServerConfig::cimd_loopback_hosts`]: crate::DevAuthServerConfig::cimd_loopback_hosts

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::OnceCell;
use url::{Host, Url};

use crate::client::{AuthMethod, Client, ClientMetadata};
use crate::config::{DevAuthServerConfig, loopback_authority};
use crate::error::Error;

/// Whole budget of one fetch: lookup, connect, TLS, response and body.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
pub(crate) const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// Short enough that editing the document during development shows up quickly.
const CACHE_TTL: Duration = Duration::from_secs(60);
/// How long a failed URL is answered from memory instead of being fetched again.
const NEGATIVE_TTL: Duration = Duration::from_secs(10);
const MAX_CACHE_ENTRIES: usize = 256;
const MAX_NEGATIVE_ENTRIES: usize = 1024;
/// Distinct URLs being fetched at once; more is refused until one finishes.
pub(crate) const MAX_CONCURRENT_FETCHES: usize = 8;

/// What the client is told about any document that could not be used, whatever
/// the reason (the log has the reason).
pub(crate) const UNUSABLE_DOCUMENT: &str = "its client metadata document could not be retrieved or is not valid \
     (the authorization server's log says why)";

/// Why a metadata document could not be used. Only [`CimdError::BadUrl`] and
/// [`CimdError::Busy`] reach the client as they are (see
/// [`CimdError::public_description`]); the rest are for the log.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum CimdError {
    #[error("client_id {0:?} is not a usable metadata document URL: {1}")]
    BadUrl(String, &'static str),
    #[error("too many client metadata documents are being fetched; try again shortly")]
    Busy,
    #[error("cannot resolve the metadata document host: {0}")]
    Resolve(String),
    #[error("refused to fetch from {0}: {1}")]
    Refused(SocketAddr, &'static str),
    #[error("fetching the client metadata document failed: {0}")]
    Fetch(String),
    #[error("fetching the client metadata document took longer than {FETCH_TIMEOUT:?}")]
    Timeout,
    #[error("the client metadata document answered HTTP {0} (redirects are not followed)")]
    Status(u16),
    #[error("the client metadata document is larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    #[error("the client metadata document is not JSON: {0}")]
    NotJson(String),
    #[error("the client metadata document's client_id does not equal its URL")]
    ClientIdMismatch,
    #[error("the client metadata document is invalid: {0}")]
    Metadata(String),
    #[error("the client metadata document failed less than {NEGATIVE_TTL:?} ago")]
    RecentlyFailed,
}

impl CimdError {
    /// What the client may be told. Anything learnt by connecting somewhere
    /// (whether and how a host answered) is replaced by one generic sentence.
    pub(crate) fn public_description(&self) -> String {
        match self {
            Self::BadUrl(..) | Self::Busy => self.to_string(),
            _ => UNUSABLE_DOCUMENT.to_owned(),
        }
    }
}

/// Whether `client_id` names a metadata document rather than a registered client.
pub(crate) fn is_metadata_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// Where a fetch goes: the URL and the checked addresses its host is pinned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FetchTarget {
    pub(crate) url: Url,
    pub(crate) addrs: Vec<SocketAddr>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Name lookup and the HTTP GET, separated so tests can prove what would be
/// contacted without contacting anything.
pub(crate) trait Transport: Send + Sync + std::fmt::Debug {
    fn lookup(&self, host: &str, port: u16) -> BoxFuture<std::io::Result<Vec<SocketAddr>>>;
    /// GETs `target.url`, connecting only to `target.addrs`.
    fn get(&self, target: FetchTarget) -> BoxFuture<Result<Vec<u8>, CimdError>>;
}

/// The real network: the system resolver and a reqwest client per fetch, with
/// the host pinned to the checked addresses, no proxy and no redirects.
#[derive(Debug)]
struct HttpTransport;

impl Transport for HttpTransport {
    fn lookup(&self, host: &str, port: u16) -> BoxFuture<std::io::Result<Vec<SocketAddr>>> {
        let host = host.to_owned();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), port))
                .await?
                .collect())
        })
    }

    fn get(&self, target: FetchTarget) -> BoxFuture<Result<Vec<u8>, CimdError>> {
        Box::pin(http_get(target))
    }
}

async fn http_get(target: FetchTarget) -> Result<Vec<u8>, CimdError> {
    let mut builder = reqwest::Client::builder()
        // A proxy would make the connection go somewhere unchecked.
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("mcpgate-dev-as/", env!("CARGO_PKG_VERSION")));
    if let Some(Host::Domain(name)) = target.url.host() {
        // Connect to what was checked, never to a fresh lookup's answer.
        builder = builder.resolve_to_addrs(name, &target.addrs);
    }
    let http = builder
        .build()
        .map_err(|e| CimdError::Fetch(format!("cannot build HTTP client: {e}")))?;
    let mut response = http
        .get(target.url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| CimdError::Fetch(e.to_string()))?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(CimdError::Status(response.status().as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(CimdError::TooLarge);
    }
    // Content-Length may be absent or lie; count what actually arrives.
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| CimdError::Fetch(e.to_string()))?
    {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(CimdError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Which destinations a fetch may go to, besides public addresses.
#[derive(Debug, Clone, Default)]
pub(crate) struct FetchPolicy {
    /// Configured loopback `(host, port)` authorities.
    loopback_hosts: Vec<(String, u16)>,
    /// This server's own host (an IP, or `None` for a name) and port.
    own: Option<(Option<IpAddr>, u16)>,
}

impl FetchPolicy {
    pub(crate) fn new(config: &DevAuthServerConfig, env_url: &str) -> Result<Self, Error> {
        let loopback_hosts = config
            .cimd_loopback_hosts
            .iter()
            .map(|h| loopback_authority(h))
            .collect::<Result<_, _>>()
            .map_err(Error::Config)?;
        let own = Url::parse(env_url).ok().and_then(|u| {
            let port = u.port_or_known_default()?;
            let ip = match u.host()? {
                Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
                Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
                Host::Domain(_) => None,
            };
            Some((ip, port))
        });
        Ok(Self {
            loopback_hosts,
            own,
        })
    }

    /// Whether `url`'s authority is a configured loopback dev host.
    fn loopback_allowed(&self, url: &Url) -> bool {
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return false;
        };
        self.loopback_hosts
            .iter()
            .any(|(h, p)| *p == port && h.eq_ignore_ascii_case(host))
    }

    /// Whether `addr` is (or may be) this server itself.
    fn is_self(&self, addr: SocketAddr) -> bool {
        let Some((own_ip, own_port)) = self.own else {
            return false;
        };
        if addr.port() != own_port {
            return false;
        }
        let ip = canonical_ip(addr.ip());
        match own_ip.map(canonical_ip) {
            Some(own) => {
                own == ip || own.is_unspecified() || (own.is_loopback() && ip.is_loopback())
            }
            None => ip.is_loopback(),
        }
    }

    /// Why the fetch must not go to `addr`, if it must not.
    fn refuse(&self, addr: SocketAddr, loopback_allowed: bool) -> Option<&'static str> {
        if self.is_self(addr) {
            return Some("that is this authorization server");
        }
        let ip = canonical_ip(addr.ip());
        if loopback_allowed {
            (!ip.is_loopback())
                .then_some("a configured loopback host must resolve to loopback addresses only")
        } else {
            (!is_public_ip(ip)).then_some("not a public address")
        }
    }
}

fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Whether `ip` is a globally routable unicast address: not loopback, private,
/// shared (CGNAT), link-local, unspecified, multicast, broadcast, documentation,
/// benchmarking or reserved. IPv6 must be global unicast (`2000::/3`) outside
/// the special ranges; IPv4 embedded in IPv6 (mapped, NAT64, 6to4) is judged as
/// IPv4.
pub(crate) fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", including 0.0.0.0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254) // link-local
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168)
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    let o = ip.octets();
    // NAT64 well-known prefix 64:ff9b::/96: the last 32 bits are an IPv4 address.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    // 6to4, 2002::/16: bits 16..48 are an IPv4 address.
    if s[0] == 0x2002 {
        return is_public_v4(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    let global_unicast = s[0] & 0xe000 == 0x2000;
    // 2001::/23: Teredo, benchmarking, ORCHID and other IETF assignments;
    // 2001:db8::/32: documentation; 3ff0::/12: unallocated, around the
    // 3fff::/20 documentation range.
    let special = (s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8)) || s[0] & 0xfff0 == 0x3ff0;
    global_unicast && !special
}

/// Positive and negative caches.
#[derive(Debug, Default)]
struct Caches {
    documents: HashMap<String, (Instant, Client)>,
    failures: HashMap<String, Instant>,
}

type Flight = Arc<OnceCell<Result<Client, CimdError>>>;

/// What a request for a document joins.
enum Joined {
    Cached(Result<Client, CimdError>),
    Flight(Flight),
}

/// Fetches, validates and briefly caches metadata documents.
#[derive(Debug)]
pub(crate) struct CimdResolver {
    policy: FetchPolicy,
    transport: Box<dyn Transport>,
    caches: Mutex<Caches>,
    /// One entry per URL being fetched; later requests for it wait on the same cell.
    flights: Mutex<HashMap<String, Flight>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain maps stay consistent even if a holder panicked.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl CimdResolver {
    pub(crate) fn new(config: &DevAuthServerConfig, env_url: &str) -> Result<Self, Error> {
        Ok(Self::with_transport(
            FetchPolicy::new(config, env_url)?,
            Box::new(HttpTransport),
        ))
    }

    pub(crate) fn with_transport(policy: FetchPolicy, transport: Box<dyn Transport>) -> Self {
        Self {
            policy,
            transport,
            caches: Mutex::default(),
            flights: Mutex::default(),
        }
    }

    /// The client described at `client_id`, from cache or freshly fetched.
    pub(crate) async fn resolve(&self, client_id: &str) -> Result<Client, CimdError> {
        let url = check_url(client_id)?;
        let loopback_allowed = self.policy.loopback_allowed(&url);
        if url.scheme() == "http" && !loopback_allowed {
            return Err(CimdError::BadUrl(
                client_id.to_owned(),
                "must be https (http only for a loopback host the server is configured to allow)",
            ));
        }
        let flight = match self.join_flight(client_id)? {
            Joined::Cached(answer) => return answer,
            Joined::Flight(flight) => flight,
        };
        let result = flight
            .get_or_init(|| self.fetch_and_remember(client_id, url, loopback_allowed))
            .await
            .clone();
        let mut flights = lock(&self.flights);
        if flights
            .get(client_id)
            .is_some_and(|f| Arc::ptr_eq(f, &flight))
        {
            flights.remove(client_id);
        }
        result
    }

    /// A cached answer, or the flight to wait on (new or under way), or `Busy`.
    fn join_flight(&self, client_id: &str) -> Result<Joined, CimdError> {
        let mut flights = lock(&self.flights);
        // Checked under the flights lock: a flight stores its result in the
        // cache before it leaves the table, so no answer falls in between.
        if let Some(cached) = self.cached(client_id) {
            return Ok(Joined::Cached(cached));
        }
        if let Some(flight) = flights.get(client_id) {
            return Ok(Joined::Flight(flight.clone()));
        }
        if flights.len() >= MAX_CONCURRENT_FETCHES {
            // Flights nobody waits on any more (their requests were dropped).
            flights.retain(|_, f| Arc::strong_count(f) > 1);
            if flights.len() >= MAX_CONCURRENT_FETCHES {
                tracing::warn!(
                    client_id,
                    "too many client metadata documents being fetched"
                );
                return Err(CimdError::Busy);
            }
        }
        let flight = Flight::default();
        flights.insert(client_id.to_owned(), flight.clone());
        Ok(Joined::Flight(flight))
    }

    fn cached(&self, client_id: &str) -> Option<Result<Client, CimdError>> {
        let caches = lock(&self.caches);
        if let Some((at, client)) = caches.documents.get(client_id)
            && at.elapsed() < CACHE_TTL
        {
            return Some(Ok(client.clone()));
        }
        caches
            .failures
            .get(client_id)
            .filter(|at| at.elapsed() < NEGATIVE_TTL)
            .map(|_| Err(CimdError::RecentlyFailed))
    }

    /// One fetch: its result goes into the cache (good or bad) and the log.
    async fn fetch_and_remember(
        &self,
        client_id: &str,
        url: Url,
        loopback_allowed: bool,
    ) -> Result<Client, CimdError> {
        let result = match tokio::time::timeout(
            FETCH_TIMEOUT,
            self.fetch_document(client_id, url, loopback_allowed),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(CimdError::Timeout),
        };
        let mut caches = lock(&self.caches);
        let now = Instant::now();
        match &result {
            Ok(client) => {
                caches.failures.remove(client_id);
                insert_bounded(
                    &mut caches.documents,
                    MAX_CACHE_ENTRIES,
                    client_id,
                    (now, client.clone()),
                    |(at, _)| *at,
                    CACHE_TTL,
                );
            }
            Err(e) => {
                tracing::warn!(client_id, error = %e, "client metadata document refused");
                insert_bounded(
                    &mut caches.failures,
                    MAX_NEGATIVE_ENTRIES,
                    client_id,
                    now,
                    |at| *at,
                    NEGATIVE_TTL,
                );
            }
        }
        result
    }

    async fn fetch_document(
        &self,
        client_id: &str,
        url: Url,
        loopback_allowed: bool,
    ) -> Result<Client, CimdError> {
        let addrs = self.destination(&url, loopback_allowed).await?;
        let body = self.transport.get(FetchTarget { url, addrs }).await?;
        parse_document(client_id, &body)
    }

    /// The addresses the fetch may connect to: all of the host's, each checked.
    async fn destination(
        &self,
        url: &Url,
        loopback_allowed: bool,
    ) -> Result<Vec<SocketAddr>, CimdError> {
        let port = url
            .port_or_known_default()
            .ok_or_else(|| CimdError::Resolve("no port".into()))?;
        let addrs = match url.host() {
            Some(Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            Some(Host::Domain(name)) => self
                .transport
                .lookup(name, port)
                .await
                .map_err(|e| CimdError::Resolve(e.to_string()))?,
            None => return Err(CimdError::Resolve("no host".into())),
        };
        if addrs.is_empty() {
            return Err(CimdError::Resolve("no addresses".into()));
        }
        // Every address must pass: the connection may use any of them.
        for addr in &addrs {
            if let Some(why) = self.policy.refuse(*addr, loopback_allowed) {
                return Err(CimdError::Refused(*addr, why));
            }
        }
        Ok(addrs)
    }
}

/// Inserts into a cache of at most `max` entries: expired ones go first, then
/// the oldest.
fn insert_bounded<V>(
    map: &mut HashMap<String, V>,
    max: usize,
    key: &str,
    value: V,
    at: impl Fn(&V) -> Instant,
    ttl: Duration,
) {
    if !map.contains_key(key) && map.len() >= max {
        map.retain(|_, v| at(v).elapsed() < ttl);
        if map.len() >= max
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, v)| at(v))
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
    }
    map.insert(key.to_owned(), value);
}

/// Validates a fetched document for `client_id`.
pub(crate) fn parse_document(client_id: &str, body: &[u8]) -> Result<Client, CimdError> {
    let document: Value =
        serde_json::from_slice(body).map_err(|e| CimdError::NotJson(e.to_string()))?;
    // The document must claim exactly the URL it was fetched from, or one
    // client could impersonate another by pointing at its document.
    if document.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return Err(CimdError::ClientIdMismatch);
    }
    let metadata = ClientMetadata::parse(document, AuthMethod::None, None)
        .map_err(|e| CimdError::Metadata(e.description))?;
    if metadata.auth_method != AuthMethod::None {
        // A secret cannot be shared through a public document.
        return Err(CimdError::Metadata(
            "token_endpoint_auth_method must be \"none\"".into(),
        ));
    }
    Ok(metadata.into_client(client_id.to_owned(), None))
}

/// The URL rules of the draft (§3): https, a path, no fragment, no credentials,
/// no dot segments; `http` passes here too, and is then allowed only for a
/// configured loopback host (see [`CimdResolver::resolve`]).
pub(crate) fn check_url(client_id: &str) -> Result<Url, CimdError> {
    let bad = |why| CimdError::BadUrl(client_id.to_owned(), why);
    let url = Url::parse(client_id).map_err(|_| bad("not a URL"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(bad("must be https"));
    }
    if url.fragment().is_some() {
        return Err(bad("must not have a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not contain credentials"));
    }
    if url.path() == "/" {
        return Err(bad("must have a path"));
    }
    // Parsing resolves dot segments and normalizes case; the client_id must
    // already be in that form so that string comparison stays meaningful.
    if url.as_str() != client_id {
        return Err(bad(
            "must be in normalized form (no dot segments, lower-case scheme and host)",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;
    use tokio::sync::Notify;

    use super::*;

    #[test]
    fn metadata_url_rules() {
        assert!(check_url("https://client.example/meta.json").is_ok());
        assert!(check_url("http://127.0.0.1:9/meta.json").is_ok());
        assert!(check_url("ftp://client.example/meta.json").is_err());
        assert!(check_url("https://client.example/").is_err());
        assert!(check_url("https://client.example/a/../meta.json").is_err());
        assert!(check_url("https://u:p@client.example/meta.json").is_err());
        assert!(check_url("https://client.example/meta.json#x").is_err());
    }

    #[test]
    fn public_address_rules() {
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:4860:4860::8888",
        ] {
            assert!(is_public_ip(public.parse().unwrap()), "{public}");
        }
        for private in [
            "0.0.0.0",
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "192.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "198.51.100.1",
            "203.0.113.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
            "2001::1",
            "2001:db8::1",
            "3fff::1",
            "100::1",
            "::127.0.0.1",
            "fec0::1",
        ] {
            assert!(!is_public_ip(private.parse().unwrap()), "{private}");
        }
    }

    const DOC_URL: &str = "https://client.example/client.json";

    fn document(client_id: &str) -> Vec<u8> {
        json!({
            "client_id": client_id,
            "client_name": "Doc",
            "redirect_uris": ["http://127.0.0.1:7777/cb"],
            "token_endpoint_auth_method": "none",
        })
        .to_string()
        .into_bytes()
    }

    /// A network that is never touched: lookups come from a table, GETs are
    /// recorded and answered from memory, optionally held until released.
    #[derive(Debug, Default)]
    struct FakeNet {
        dns: HashMap<String, Vec<IpAddr>>,
        lookups: Mutex<Vec<String>>,
        gets: Mutex<Vec<FetchTarget>>,
        /// `None`: answer with a valid document for the URL; `Some(status)`: that status.
        status: Option<u16>,
        hold: Option<Arc<Notify>>,
        started: AtomicUsize,
    }

    impl Transport for Arc<FakeNet> {
        fn lookup(&self, host: &str, port: u16) -> BoxFuture<std::io::Result<Vec<SocketAddr>>> {
            lock(&self.lookups).push(host.to_owned());
            let found = self
                .dns
                .get(host)
                .map(|ips| ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect());
            Box::pin(async move { found.ok_or_else(|| std::io::Error::other("no such host")) })
        }

        fn get(&self, target: FetchTarget) -> BoxFuture<Result<Vec<u8>, CimdError>> {
            lock(&self.gets).push(target.clone());
            self.started.fetch_add(1, Ordering::SeqCst);
            let net = self.clone();
            Box::pin(async move {
                if let Some(hold) = &net.hold {
                    hold.notified().await;
                }
                match net.status {
                    None => Ok(document(target.url.as_str())),
                    Some(status) => Err(CimdError::Status(status)),
                }
            })
        }
    }

    fn resolver(net: &Arc<FakeNet>, policy: FetchPolicy) -> CimdResolver {
        CimdResolver::with_transport(policy, Box::new(net.clone()))
    }

    fn policy(loopback: &[&str], env_url: &str) -> FetchPolicy {
        let config = DevAuthServerConfig::new(Url::parse("http://127.0.0.1:9/mcp").unwrap())
            .with_cimd_loopback_hosts(loopback.iter().copied());
        FetchPolicy::new(&config, env_url).unwrap()
    }

    fn net_with(dns: &[(&str, &[&str])]) -> Arc<FakeNet> {
        Arc::new(FakeNet {
            dns: dns
                .iter()
                .map(|(h, ips)| {
                    (
                        (*h).to_owned(),
                        ips.iter().map(|ip| ip.parse().unwrap()).collect(),
                    )
                })
                .collect(),
            ..FakeNet::default()
        })
    }

    #[tokio::test]
    async fn non_public_ip_literals_are_refused_without_lookup_or_connection() {
        let net = net_with(&[]);
        let r = resolver(&net, policy(&[], "http://127.0.0.1:8001"));
        for url in [
            "https://10.0.0.1/client.json",
            "https://169.254.169.254/latest/meta-data",
            "https://192.168.1.1/client.json",
            "https://127.0.0.1/client.json",
            "https://0.0.0.0/client.json",
            "https://[::1]/client.json",
            "https://[fd00::1]/client.json",
            "https://[::ffff:a00:1]/client.json",
            "https://224.0.0.1/client.json",
        ] {
            let e = r.resolve(url).await.unwrap_err();
            assert!(matches!(e, CimdError::Refused(..)), "{url}: {e}");
            assert_eq!(e.public_description(), UNUSABLE_DOCUMENT, "{url}");
        }
        assert!(lock(&net.lookups).is_empty());
        assert!(lock(&net.gets).is_empty(), "nothing may be contacted");
    }

    #[tokio::test]
    async fn names_resolving_to_any_non_public_address_are_refused_before_connecting() {
        let net = net_with(&[
            ("intranet.example", &["10.1.2.3"]),
            ("mixed.example", &["8.8.8.8", "192.168.0.10"]),
            ("metadata.example", &["169.254.169.254"]),
            ("v6local.example", &["fe80::1"]),
        ]);
        let r = resolver(&net, policy(&[], "http://127.0.0.1:8001"));
        for host in [
            "intranet.example",
            "mixed.example",
            "metadata.example",
            "v6local.example",
        ] {
            let e = r
                .resolve(&format!("https://{host}/client.json"))
                .await
                .unwrap_err();
            assert!(matches!(e, CimdError::Refused(..)), "{host}: {e}");
        }
        assert_eq!(lock(&net.lookups).len(), 4);
        assert!(lock(&net.gets).is_empty(), "nothing may be contacted");
    }

    #[tokio::test]
    async fn a_public_name_is_fetched_from_exactly_the_checked_addresses() {
        let net = net_with(&[("client.example", &["8.8.8.8", "2606:4700:4700::1111"])]);
        let r = resolver(&net, policy(&[], "http://127.0.0.1:8001"));
        let client = r.resolve(DOC_URL).await.unwrap();
        assert_eq!(client.client_id, DOC_URL);
        let gets = lock(&net.gets);
        assert_eq!(
            gets.as_slice(),
            [FetchTarget {
                url: Url::parse(DOC_URL).unwrap(),
                addrs: vec![
                    "8.8.8.8:443".parse().unwrap(),
                    "[2606:4700:4700::1111]:443".parse().unwrap()
                ],
            }]
        );
    }

    #[tokio::test]
    async fn loopback_only_for_configured_hosts_and_never_this_server() {
        let net = net_with(&[("localhost", &["127.0.0.1"])]);
        let r = resolver(
            &net,
            policy(
                &["127.0.0.1:3000", "localhost:3001", "127.0.0.1:8001"],
                "http://127.0.0.1:8001",
            ),
        );
        assert!(r.resolve("http://127.0.0.1:3000/client.json").await.is_ok());
        assert!(r.resolve("http://localhost:3001/client.json").await.is_ok());
        // Another port on the same host is not configured.
        let e = r
            .resolve("http://127.0.0.1:3002/client.json")
            .await
            .unwrap_err();
        assert!(matches!(e, CimdError::BadUrl(..)), "{e}");
        let e = r
            .resolve("https://127.0.0.1:3002/client.json")
            .await
            .unwrap_err();
        assert!(matches!(e, CimdError::Refused(..)), "{e}");
        // The server's own address stays refused although it is configured.
        for own in [
            "http://127.0.0.1:8001/client.json",
            "https://127.0.0.1:8001/client.json",
        ] {
            let e = r.resolve(own).await.unwrap_err();
            assert!(
                matches!(e, CimdError::Refused(_, why) if why.contains("this authorization server")),
                "{own}: {e}"
            );
        }
        let fetched: Vec<String> = lock(&net.gets).iter().map(|t| t.url.to_string()).collect();
        assert_eq!(
            fetched,
            [
                "http://127.0.0.1:3000/client.json",
                "http://localhost:3001/client.json"
            ]
        );
    }

    #[tokio::test]
    async fn concurrent_requests_for_one_url_share_one_fetch() {
        let hold = Arc::new(Notify::new());
        let net = Arc::new(FakeNet {
            dns: [(
                "client.example".to_owned(),
                vec!["8.8.8.8".parse().unwrap()],
            )]
            .into(),
            hold: Some(hold.clone()),
            ..FakeNet::default()
        });
        let r = Arc::new(resolver(&net, policy(&[], "http://127.0.0.1:8001")));
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let r = r.clone();
                tokio::spawn(async move { r.resolve(DOC_URL).await })
            })
            .collect();
        // Wait (bounded) until the fetch started and all five wait on its flight.
        for _ in 0..10_000 {
            let waiting = lock(&r.flights).get(DOC_URL).map_or(0, Arc::strong_count);
            if net.started.load(Ordering::SeqCst) == 1 && waiting == 6 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(
            lock(&r.flights).get(DOC_URL).map(Arc::strong_count),
            Some(6)
        );
        hold.notify_waiters();
        for task in tasks {
            assert!(task.await.unwrap().is_ok());
        }
        assert_eq!(lock(&net.gets).len(), 1, "one fetch for five requests");
        assert!(lock(&r.flights).is_empty());
    }

    #[tokio::test]
    async fn failures_are_remembered_and_not_refetched() {
        let net = Arc::new(FakeNet {
            dns: [(
                "client.example".to_owned(),
                vec!["8.8.8.8".parse().unwrap()],
            )]
            .into(),
            status: Some(500),
            ..FakeNet::default()
        });
        let r = resolver(&net, policy(&[], "http://127.0.0.1:8001"));
        let first = r.resolve(DOC_URL).await.unwrap_err();
        assert!(matches!(first, CimdError::Status(500)));
        assert_eq!(first.public_description(), UNUSABLE_DOCUMENT);
        let second = r.resolve(DOC_URL).await.unwrap_err();
        assert!(matches!(second, CimdError::RecentlyFailed), "{second}");
        assert_eq!(lock(&net.gets).len(), 1);
        assert_eq!(lock(&net.lookups).len(), 1);
    }

    #[tokio::test]
    async fn distinct_urls_beyond_the_concurrency_cap_are_refused() {
        let hold = Arc::new(Notify::new());
        let net = Arc::new(FakeNet {
            dns: [(
                "client.example".to_owned(),
                vec!["8.8.8.8".parse().unwrap()],
            )]
            .into(),
            hold: Some(hold.clone()),
            ..FakeNet::default()
        });
        let r = Arc::new(resolver(&net, policy(&[], "http://127.0.0.1:8001")));
        let tasks: Vec<_> = (0..MAX_CONCURRENT_FETCHES)
            .map(|i| {
                let r = r.clone();
                tokio::spawn(
                    async move { r.resolve(&format!("https://client.example/{i}.json")).await },
                )
            })
            .collect();
        for _ in 0..10_000 {
            if net.started.load(Ordering::SeqCst) == MAX_CONCURRENT_FETCHES {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(net.started.load(Ordering::SeqCst), MAX_CONCURRENT_FETCHES);
        let e = r
            .resolve("https://client.example/one-more.json")
            .await
            .unwrap_err();
        assert!(matches!(e, CimdError::Busy), "{e}");
        hold.notify_waiters();
        for task in tasks {
            assert!(task.await.unwrap().is_ok());
        }
    }
}
