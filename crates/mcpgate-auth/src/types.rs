//! Small types that make invalid states unrepresentable: URLs that are parsed
//! once and keep one canonical string, scopes that are validated tokens, and a
//! bearer token that cannot be printed by accident.

use std::fmt;

use url::Url;

/// Why a URL or identifier given in configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidValue {
    /// The value was empty (or only whitespace).
    #[error("is empty")]
    Empty,
    /// The value is not an absolute URL.
    #[error("is not an absolute URL ({0})")]
    NotAUrl(String),
    /// The URL scheme is not http or https.
    #[error("must use http or https, not `{0}`")]
    BadScheme(String),
    /// The URL carries a part that has no meaning here.
    #[error("must not contain a {0}")]
    UnexpectedPart(&'static str),
    /// A scope contains characters RFC 6749 §3.3 does not allow.
    #[error("scope `{0}` contains characters not allowed in an OAuth scope")]
    BadScope(String),
}

fn parse_http_url(raw: &str) -> Result<Url, InvalidValue> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(InvalidValue::Empty);
    }
    let url = Url::parse(raw).map_err(|e| InvalidValue::NotAUrl(e.to_string()))?;
    match url.scheme() {
        "http" | "https" => {}
        other => return Err(InvalidValue::BadScheme(other.to_owned())),
    }
    if url.host_str().is_none() {
        return Err(InvalidValue::NotAUrl("no host".to_owned()));
    }
    if url.fragment().is_some() {
        return Err(InvalidValue::UnexpectedPart("fragment (#...)"));
    }
    // One trailing `/` is dropped from the canonical form; with two, that form
    // would not parse back to itself.
    if url.path().ends_with("//") {
        return Err(InvalidValue::UnexpectedPart("path ending in `//`"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(InvalidValue::UnexpectedPart("user name or password"));
    }
    Ok(url)
}

/// `Url` serialises a bare origin with a trailing `/`; issuers and resource
/// identifiers are compared as exact strings, so one spelling is chosen here
/// and used everywhere.
fn canonical_string(url: &Url) -> String {
    let s = url.as_str();
    s.strip_suffix('/').unwrap_or(s).to_owned()
}

/// The public URL of the MCP endpoint, e.g. `https://mcp.example.com/mcp`.
///
/// This is the RFC 9728 `resource` identifier. Its canonical string (scheme and
/// host lower-cased, no trailing slash) is the one value used in metadata,
/// challenges and audience checks, so they can never disagree.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct McpUrl {
    url: Url,
    canonical: String,
}

impl McpUrl {
    /// Parses and canonicalises an MCP URL.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let url = parse_http_url(raw)?;
        if url.query().is_some() {
            return Err(InvalidValue::UnexpectedPart("query string (?...)"));
        }
        let canonical = canonical_string(&url);
        Ok(Self { url, canonical })
    }

    /// The canonical string form (no trailing slash).
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The parsed URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The path the MCP endpoint is served at, without a trailing slash (`/mcp`);
    /// `/` when the URL has no path.
    pub fn path(&self) -> &str {
        let p = self.url.path();
        match p.strip_suffix('/') {
            Some("") | None => p,
            Some(trimmed) => trimmed,
        }
    }

    /// The origin (`scheme://host[:port]`), as a browser would send it in `Origin`.
    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }

    /// The RFC 9728 path-inserted metadata URL:
    /// `https://host/mcp` → `https://host/.well-known/oauth-protected-resource/mcp`.
    pub fn protected_resource_metadata_url(&self) -> String {
        let path = self.path();
        let suffix = if path == "/" { "" } else { path };
        format!(
            "{}/.well-known/oauth-protected-resource{suffix}",
            self.origin()
        )
    }
}

impl fmt::Display for McpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl fmt::Debug for McpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "McpUrl({})", self.canonical)
    }
}

/// The base URL of a Scalekit environment (the token issuer root),
/// e.g. `https://acme.scalekit.com`, kept without a trailing slash.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EnvironmentUrl {
    canonical: String,
}

impl EnvironmentUrl {
    /// Parses an environment URL; a trailing slash is dropped.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let url = parse_http_url(raw)?;
        if url.query().is_some() {
            return Err(InvalidValue::UnexpectedPart("query string (?...)"));
        }
        Ok(Self {
            canonical: canonical_string(&url),
        })
    }

    /// The canonical string form (no trailing slash).
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// `{env}/{path}` for a path without a leading slash.
    pub fn join(&self, path: &str) -> String {
        format!("{}/{}", self.canonical, path.trim_start_matches('/'))
    }
}

impl fmt::Display for EnvironmentUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl fmt::Debug for EnvironmentUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnvironmentUrl({})", self.canonical)
    }
}

/// One OAuth scope token (RFC 6749 §3.3: printable ASCII without space, `"` or `\`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(String);

impl Scope {
    /// Validates a scope token.
    pub fn new(raw: impl Into<String>) -> Result<Self, InvalidValue> {
        let raw = raw.into();
        let ok = !raw.is_empty()
            && raw
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if ok {
            Ok(Self(raw))
        } else {
            Err(InvalidValue::BadScope(raw))
        }
    }

    /// The scope as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// An ordered set of scopes without duplicates (insertion order is kept so
/// challenges list scopes the way they were configured).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(Vec<Scope>);

impl ScopeSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a set from strings, validating each.
    pub fn parse<I, S>(scopes: I) -> Result<Self, InvalidValue>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut set = Self::new();
        for s in scopes {
            set.insert(Scope::new(s)?);
        }
        Ok(set)
    }

    /// Builds a set from a space-separated list (the `scope` claim and parameter form).
    /// Tokens that are not valid scopes are skipped: this is for reading tokens,
    /// where one odd value must not make the whole list unreadable.
    pub fn from_space_separated_lenient(s: &str) -> Self {
        let mut set = Self::new();
        for part in s.split_ascii_whitespace() {
            if let Ok(scope) = Scope::new(part) {
                set.insert(scope);
            }
        }
        set
    }

    /// Adds a scope unless it is already present.
    pub fn insert(&mut self, scope: Scope) {
        if !self.0.contains(&scope) {
            self.0.push(scope);
        }
    }

    /// Adds every scope of `other`.
    pub fn extend(&mut self, other: &ScopeSet) {
        for s in &other.0 {
            self.insert(s.clone());
        }
    }

    /// Whether the set holds `scope`.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s.0 == scope)
    }

    /// Whether every scope of `required` is in this set.
    pub fn contains_all(&self, required: &ScopeSet) -> bool {
        required.0.iter().all(|s| self.contains(&s.0))
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of scopes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Iterates over the scopes as strings.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|s| s.0.as_str())
    }

    /// The space-separated form used in `scope` parameters and challenges.
    pub fn to_space_separated(&self) -> String {
        self.iter().collect::<Vec<_>>().join(" ")
    }
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.iter()).finish()
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_space_separated())
    }
}

impl serde::Serialize for ScopeSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// A bearer token as received from a client.
///
/// It has no `Display`, and its `Debug` prints only the length, so it cannot end
/// up in a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// Wraps a raw token.
    pub fn new(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    /// The raw token.
    ///
    /// **Security:** never log it and never forward it to another service; the
    /// MCP specification forbids passing a client's token through.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BearerToken(<redacted, {} bytes>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_url_is_canonical_and_derives_metadata_url() {
        let u = McpUrl::parse("HTTP://LocalHost:8000/mcp/").unwrap();
        assert_eq!(u.as_str(), "http://localhost:8000/mcp");
        assert_eq!(u.path(), "/mcp");
        assert_eq!(u.origin(), "http://localhost:8000");
        assert_eq!(
            u.protected_resource_metadata_url(),
            "http://localhost:8000/.well-known/oauth-protected-resource/mcp"
        );
        let root = McpUrl::parse("https://mcp.example.com").unwrap();
        assert_eq!(root.as_str(), "https://mcp.example.com");
        assert_eq!(root.path(), "/");
        assert_eq!(
            root.protected_resource_metadata_url(),
            "https://mcp.example.com/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn urls_reject_empty_and_foreign_schemes() {
        assert_eq!(McpUrl::parse("  "), Err(InvalidValue::Empty));
        assert!(matches!(
            McpUrl::parse("ftp://x/mcp"),
            Err(InvalidValue::BadScheme(_))
        ));
        assert!(McpUrl::parse("localhost:8000").is_err());
        assert!(matches!(
            EnvironmentUrl::parse("https://a/?x=1"),
            Err(InvalidValue::UnexpectedPart(_))
        ));
        assert_eq!(
            EnvironmentUrl::parse("https://acme.scalekit.com/")
                .unwrap()
                .as_str(),
            "https://acme.scalekit.com"
        );
    }

    #[test]
    fn scopes_are_validated_and_deduplicated() {
        assert!(Scope::new("todo:read").is_ok());
        assert!(Scope::new("a b").is_err());
        assert!(Scope::new("a\"b").is_err());
        assert!(Scope::new("").is_err());
        let s = ScopeSet::parse(["a", "b", "a"]).unwrap();
        assert_eq!(s.to_space_separated(), "a b");
        assert!(s.contains_all(&ScopeSet::parse(["b"]).unwrap()));
        assert!(!s.contains_all(&ScopeSet::parse(["c"]).unwrap()));
    }

    #[test]
    fn bearer_token_debug_is_redacted() {
        let t = BearerToken::new("secret-value");
        assert!(!format!("{t:?}").contains("secret"));
    }
}
