//! Scalekit-shaped access tokens: what goes into them and the request type for
//! minting one directly (tests and `mcpgate token` skip the browser flow).

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::keys::random_digits_id;

/// How a token carries its scopes.
///
/// Scalekit's user (MCP) tokens carry `scope` as a space-separated string; its
/// machine-to-machine tokens carry `scopes` as an array.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ScopeClaim {
    /// `"scope": "a b c"`.
    #[default]
    Scope,
    /// `"scopes": ["a", "b", "c"]`.
    Scopes,
}

/// What to put in a token minted with [`DevAuthServer::mint_token`](crate::DevAuthServer::mint_token).
///
/// Unset fields take the server's defaults: the dev user as `sub`, the server's
/// token lifetime, a stable dev `client_id` (`skc_<digits>`), a fresh session.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TokenRequest {
    /// `sub`. Default: the dev user (`usr_<digits>`, stable per data directory).
    pub subject: Option<String>,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// Whether scopes go into `scope` or `scopes`. Default: [`ScopeClaim::Scope`].
    pub scope_claim: ScopeClaim,
    /// Time from `iat` to `exp`. Default: the server's token lifetime.
    pub lifetime: Option<Duration>,
    /// `client_id`. Default: the server's dev client id.
    pub client_id: Option<String>,
    /// `sid`. Default: a fresh `ses_<digits>`; absent on machine tokens.
    pub session_id: Option<String>,
    /// Claims added last, so they override any standard claim (`iss`, `aud`,
    /// `exp`…): handy for forging the faulty tokens a verifier must refuse.
    pub extra_claims: Map<String, Value>,
    machine: bool,
}

impl TokenRequest {
    /// A user token for the dev user, with no scopes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A user token for `subject`.
    pub fn user(subject: impl Into<String>) -> Self {
        Self {
            subject: Some(subject.into()),
            ..Self::default()
        }
    }

    /// A machine-to-machine token as `client_credentials` issues it: `sub` and
    /// `client_id` are `client_id`, scopes go into the `scopes` array, no `sid`.
    pub fn machine(client_id: impl Into<String>) -> Self {
        let client_id = client_id.into();
        Self {
            subject: Some(client_id.clone()),
            client_id: Some(client_id),
            scope_claim: ScopeClaim::Scopes,
            machine: true,
            ..Self::default()
        }
    }

    /// Sets the granted scopes.
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the lifetime.
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }

    /// Sets `client_id`.
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Sets `sid`.
    pub fn with_session_id(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// Chooses between `scope` and `scopes`.
    pub fn with_scope_claim(mut self, claim: ScopeClaim) -> Self {
        self.scope_claim = claim;
        self
    }

    /// Adds (or overrides) one claim.
    pub fn with_claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra_claims.insert(name.into(), value.into());
        self
    }
}

/// Server-side values a token needs besides the request.
#[derive(Debug)]
pub(crate) struct MintContext<'a> {
    pub(crate) issuer: String,
    pub(crate) mcp_url: &'a str,
    pub(crate) resource_id: &'a str,
    pub(crate) default_subject: &'a str,
    pub(crate) default_client_id: &'a str,
    pub(crate) org_id: &'a str,
    pub(crate) default_lifetime: Duration,
    pub(crate) now: i64,
}

/// The claims of an access token for `req`.
pub(crate) fn claims(req: &TokenRequest, cx: &MintContext<'_>) -> Map<String, Value> {
    let lifetime = req.lifetime.unwrap_or(cx.default_lifetime).as_secs();
    let exp = cx
        .now
        .saturating_add(i64::try_from(lifetime).unwrap_or(i64::MAX));
    let mut claims = Map::new();
    claims.insert("iss".into(), cx.issuer.clone().into());
    claims.insert("aud".into(), json!([cx.mcp_url, cx.resource_id]));
    claims.insert(
        "sub".into(),
        req.subject.as_deref().unwrap_or(cx.default_subject).into(),
    );
    claims.insert("iat".into(), cx.now.into());
    claims.insert("nbf".into(), cx.now.into());
    claims.insert("exp".into(), exp.into());
    claims.insert("jti".into(), random_digits_id("tkn_").into());
    claims.insert(
        "client_id".into(),
        req.client_id
            .as_deref()
            .unwrap_or(cx.default_client_id)
            .into(),
    );
    claims.insert("oid".into(), cx.org_id.into());
    if !req.machine {
        let sid = req
            .session_id
            .clone()
            .unwrap_or_else(|| random_digits_id("ses_"));
        claims.insert("sid".into(), sid.into());
    } else if let Some(sid) = &req.session_id {
        claims.insert("sid".into(), sid.clone().into());
    }
    match req.scope_claim {
        ScopeClaim::Scope => claims.insert("scope".into(), req.scopes.join(" ").into()),
        ScopeClaim::Scopes => claims.insert("scopes".into(), req.scopes.clone().into()),
    };
    for (name, value) in &req.extra_claims {
        claims.insert(name.clone(), value.clone());
    }
    claims
}
