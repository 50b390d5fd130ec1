//! What a dev authorization server is told at start: the protected MCP server it
//! issues tokens for, its scopes, lifetimes, issuer form and storage, and the
//! limits that keep it safe to run next to a browser (allowed origins, client
//! metadata document hosts, registration cap, per-IP rate limits).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::error::Error;
use crate::keys::KeyAlgorithm;
pub use crate::limits::{RateLimit, RateLimits};

/// Scopes advertised when the caller does not choose: the OIDC basics Scalekit
/// offers, `offline_access` (which unlocks refresh tokens) and one MCP scope.
pub const DEFAULT_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access", "mcp:tools"];

/// Browser origins allowed to call the registration, token and revocation
/// endpoints by default: MCP Inspector's web UI.
pub const DEFAULT_ALLOWED_ORIGINS: &[&str] = &["http://localhost:6274", "http://127.0.0.1:6274"];

/// How many dynamically registered clients a server keeps by default.
pub const DEFAULT_MAX_REGISTERED_CLIENTS: usize = 1000;

/// Which `iss` the server writes into the access tokens it mints.
///
/// Scalekit historically issued `{env}` and is migrating to `{env}/resources/{res}`;
/// a resource server has to accept both, and [`IssuerForm::Alternate`] lets tests
/// prove that it does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IssuerForm {
    /// `iss` is the environment URL, `{env}`.
    Env,
    /// `iss` is `{env}/resources/{res_id}`, the issuer named in the AS metadata.
    #[default]
    Resource,
    /// Tokens alternate between the two forms, starting with [`IssuerForm::Env`].
    Alternate,
}

/// Where clients, signing keys, refresh-token families and the dev user live.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Storage {
    /// An in-memory SQLite database: everything is forgotten when the server stops.
    #[default]
    Memory,
    /// A SQLite database at `{data_dir}/dev-as.sqlite3`; the directory is created
    /// if missing. Restarting on the same directory keeps clients and keys.
    Sqlite(PathBuf),
}

/// Configuration of a [`DevAuthServer`](crate::DevAuthServer).
///
/// Built with [`DevAuthServerConfig::new`] and adjusted with the `with_*` methods;
/// every field documents its default.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DevAuthServerConfig {
    /// The protected MCP server's URL (the "Server URL" of a Scalekit resource).
    ///
    /// It goes into every token's `aud` next to the resource id, and an RFC 8707
    /// `resource` parameter must name it. Compared in canonical form (see
    /// [`DevAuthServerConfig::canonical_mcp_url`]). No default.
    pub mcp_url: Url,
    /// The resource id, `res_<digits>`.
    ///
    /// Default `None`: a random id is generated and, with [`Storage::Sqlite`],
    /// remembered in the data directory so restarts keep the same issuer.
    pub resource_id: Option<String>,
    /// Scopes a client may request. Default: [`DEFAULT_SCOPES`].
    pub scopes_supported: Vec<String>,
    /// Lifetime of access tokens. Default: one hour.
    pub token_lifetime: Duration,
    /// Lifetime of refresh tokens. Default: 30 days.
    pub refresh_token_lifetime: Duration,
    /// Which `iss` minted tokens carry. Default: [`IssuerForm::Resource`].
    pub issuer_form: IssuerForm,
    /// Where state is kept. Default: [`Storage::Memory`].
    pub storage: Storage,
    /// How long a key replaced by [`rotate_keys`](crate::DevAuthServer::rotate_keys)
    /// stays published in the JWKS. Default: one hour.
    pub key_rotation_grace: Duration,
    /// Whether RFC 7591 dynamic client registration is offered. Default: `true`.
    pub dynamic_client_registration: bool,
    /// Whether Client ID Metadata Documents are accepted. Default: `true`.
    pub client_id_metadata_documents: bool,
    /// Browser origins (`scheme://host[:port]`) that may call the registration,
    /// token and revocation endpoints cross-origin. A request carrying any other
    /// `Origin` is refused with 403, and gets no CORS grant. Requests without
    /// `Origin` (non-browser clients) are unaffected, and the discovery documents
    /// and JWKS stay readable from any origin.
    /// Default: [`DEFAULT_ALLOWED_ORIGINS`] (MCP Inspector).
    pub allowed_origins: Vec<String>,
    /// Loopback `host:port` authorities (such as `127.0.0.1:3000` or
    /// `localhost:3000`) from which Client ID Metadata Documents may be fetched,
    /// over `http` or `https`. Every other metadata document URL must be `https`
    /// and resolve to public addresses only. The server's own address is refused
    /// even if listed. Default: none.
    pub cimd_loopback_hosts: Vec<String>,
    /// How many clients dynamic registration may create; past it, registration
    /// answers 403. Default: [`DEFAULT_MAX_REGISTERED_CLIENTS`].
    pub max_registered_clients: usize,
    /// Per-IP rate limits of the registration, token/revocation and
    /// authorization endpoints. Default: [`RateLimits::default`].
    pub rate_limits: RateLimits,
    /// The algorithm tokens are signed with. Default `None`: whatever the
    /// stored key signs with, and RS256 (Scalekit's) for a new one. With
    /// `Some`, a data directory holding a key of another kind gets a new key
    /// of this kind at start; the old one stays published for the rotation
    /// grace period.
    pub signing_algorithm: Option<KeyAlgorithm>,
    /// Audiences (upstream URLs or logical names) RFC 8693 token exchange may
    /// issue tokens for, besides the MCP URL itself. An exchange asking for
    /// any other audience is refused with `invalid_target`. URLs compare in
    /// canonical form (no lone trailing `/`). Default: none.
    pub exchange_audiences: Vec<String>,
}

impl DevAuthServerConfig {
    /// A configuration for the MCP server at `mcp_url`, everything else defaulted.
    pub fn new(mcp_url: Url) -> Self {
        Self {
            mcp_url,
            resource_id: None,
            scopes_supported: DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            token_lifetime: Duration::from_secs(3600),
            refresh_token_lifetime: Duration::from_secs(30 * 24 * 3600),
            issuer_form: IssuerForm::default(),
            storage: Storage::default(),
            key_rotation_grace: Duration::from_secs(3600),
            dynamic_client_registration: true,
            client_id_metadata_documents: true,
            allowed_origins: DEFAULT_ALLOWED_ORIGINS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            cimd_loopback_hosts: Vec::new(),
            max_registered_clients: DEFAULT_MAX_REGISTERED_CLIENTS,
            rate_limits: RateLimits::default(),
            signing_algorithm: None,
            exchange_audiences: Vec::new(),
        }
    }

    /// Lets token exchange issue tokens for these audiences (upstream URLs
    /// or names); see [`exchange_audiences`](Self::exchange_audiences).
    pub fn with_exchange_audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.exchange_audiences
            .extend(audiences.into_iter().map(Into::into));
        self
    }

    /// Signs tokens with `algorithm` (RS256, ES256 or EdDSA).
    pub fn with_signing_algorithm(mut self, algorithm: KeyAlgorithm) -> Self {
        self.signing_algorithm = Some(algorithm);
        self
    }

    /// Sets a fixed resource id instead of a generated one.
    pub fn with_resource_id(mut self, resource_id: impl Into<String>) -> Self {
        self.resource_id = Some(resource_id.into());
        self
    }

    /// Replaces the supported scopes.
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the access-token lifetime.
    pub fn with_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// Sets the refresh-token lifetime.
    pub fn with_refresh_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.refresh_token_lifetime = lifetime;
        self
    }

    /// Sets the issuer form of minted tokens.
    pub fn with_issuer_form(mut self, form: IssuerForm) -> Self {
        self.issuer_form = form;
        self
    }

    /// Sets where state is stored.
    pub fn with_storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }

    /// Shorthand for [`Storage::Sqlite`] in `data_dir`.
    pub fn with_data_dir(self, data_dir: impl Into<PathBuf>) -> Self {
        self.with_storage(Storage::Sqlite(data_dir.into()))
    }

    /// Sets how long a rotated-out key stays in the JWKS.
    pub fn with_key_rotation_grace(mut self, grace: Duration) -> Self {
        self.key_rotation_grace = grace;
        self
    }

    /// Turns dynamic client registration on or off.
    pub fn with_dynamic_client_registration(mut self, enabled: bool) -> Self {
        self.dynamic_client_registration = enabled;
        self
    }

    /// Turns Client ID Metadata Document support on or off.
    pub fn with_client_id_metadata_documents(mut self, enabled: bool) -> Self {
        self.client_id_metadata_documents = enabled;
        self
    }

    /// Allows these browser origins (`scheme://host[:port]`) in addition to the
    /// ones already allowed (MCP Inspector's by default); see
    /// [`allowed_origins`](Self::allowed_origins).
    pub fn with_allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_origins
            .extend(origins.into_iter().map(Into::into));
        self
    }

    /// Allows Client ID Metadata Documents served from these loopback
    /// `host:port` authorities (for a client under development); see
    /// [`cimd_loopback_hosts`](Self::cimd_loopback_hosts).
    pub fn with_cimd_loopback_hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cimd_loopback_hosts
            .extend(hosts.into_iter().map(Into::into));
        self
    }

    /// Sets how many clients dynamic registration may create.
    pub fn with_max_registered_clients(mut self, max: usize) -> Self {
        self.max_registered_clients = max;
        self
    }

    /// Sets the per-IP rate limits ([`RateLimits::unlimited`] turns them off).
    pub fn with_rate_limits(mut self, limits: RateLimits) -> Self {
        self.rate_limits = limits;
        self
    }

    /// The MCP URL as it appears in `aud` and must appear in `resource`.
    ///
    /// This is the parsed URL's serialization (so scheme and host are lower-case),
    /// without the lone `/` path `url` adds to a bare origin, because MCP prefers
    /// resource identifiers without a trailing slash.
    pub fn canonical_mcp_url(&self) -> String {
        canonical_resource(&self.mcp_url)
    }

    /// Checks the values a caller could have set to nonsense.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if !matches!(self.mcp_url.scheme(), "http" | "https") || self.mcp_url.host().is_none() {
            return Err(Error::Config(format!(
                "mcp_url must be an http(s) URL with a host, got {}",
                self.mcp_url
            )));
        }
        if self.mcp_url.fragment().is_some() {
            return Err(Error::Config("mcp_url must not have a fragment".into()));
        }
        if let Some(id) = &self.resource_id {
            // The id is spliced into URL paths, so keep it to path-safe characters.
            let safe = !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !safe {
                return Err(Error::Config(format!(
                    "resource id {id:?} must be non-empty [A-Za-z0-9_-]"
                )));
            }
        }
        if self.scopes_supported.is_empty() {
            return Err(Error::Config("scopes_supported must not be empty".into()));
        }
        if let Some(bad) = self.scopes_supported.iter().find(|s| !is_scope_token(s)) {
            return Err(Error::Config(format!(
                "{bad:?} is not a valid scope token (RFC 6749 §3.3)"
            )));
        }
        if self.token_lifetime.as_secs() == 0 || self.refresh_token_lifetime.as_secs() == 0 {
            return Err(Error::Config(
                "token lifetimes must be at least one second".into(),
            ));
        }
        for origin in &self.allowed_origins {
            normalize_origin(origin).map_err(Error::Config)?;
        }
        for host in &self.cimd_loopback_hosts {
            loopback_authority(host).map_err(Error::Config)?;
        }
        if let Some(bad) = self.exchange_audiences.iter().find(|a| {
            a.is_empty() || a.len() > 1024 || a.chars().any(|c| c.is_whitespace() || c.is_control())
        }) {
            return Err(Error::Config(format!(
                "exchange_audiences: {bad:?} must be a non-empty URL or name of at most 1024 bytes without spaces"
            )));
        }
        self.rate_limits.validate().map_err(Error::Config)?;
        Ok(())
    }
}

/// `scheme://host[:port]` in the form browsers send in `Origin` (lower-case,
/// default port omitted), or why `origin` is not one.
pub(crate) fn normalize_origin(origin: &str) -> Result<String, String> {
    let bad = |why: &str| format!("allowed origin {origin:?} {why}");
    let url = Url::parse(origin.trim()).map_err(|_| bad("is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad("must be http(s)://host[:port]"));
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(bad(
            "must be an origin: no credentials, path, query or fragment",
        ));
    }
    Ok(url.origin().ascii_serialization())
}

/// A configured CIMD loopback host as `(host, port)`: the host lower-case and
/// as URLs write it (`localhost`, `127.0.0.1`, `[::1]`).
pub(crate) fn loopback_authority(authority: &str) -> Result<(String, u16), String> {
    let bad = |why: &str| format!("CIMD loopback host {authority:?} {why}");
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| bad("needs an explicit port (e.g. 127.0.0.1:3000)"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| bad("must be host:port with a numeric port"))?;
    let host = host.to_ascii_lowercase();
    let loopback = if host == "localhost" {
        true
    } else if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback())
    } else {
        host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
    };
    if !loopback {
        return Err(bad(
            "must be localhost or a loopback IP address, with a port",
        ));
    }
    // Written as `url` serializes hosts, so URL hosts compare as strings.
    let host = Url::parse(&format!("http://{host}:{port}/"))
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .ok_or_else(|| bad("is not host:port"))?;
    Ok((host, port))
}

/// See [`DevAuthServerConfig::canonical_mcp_url`].
pub(crate) fn canonical_resource(url: &Url) -> String {
    let s = url.as_str();
    if url.path() == "/" && url.query().is_none() && url.fragment().is_none() {
        s.trim_end_matches('/').to_owned()
    } else {
        s.to_owned()
    }
}

/// RFC 6749 §3.3 `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
pub(crate) fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}
