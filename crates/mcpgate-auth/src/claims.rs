//! The verified caller: what a tool learns about who is calling.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::types::ScopeSet;

/// A verified access token's identity and claims.
///
/// It is built only by the verifier, after the signature, issuer, audience and
/// lifetime checks passed. It deliberately does not carry the raw token: tools
/// have no use for it, and the MCP specification forbids passing it on.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessToken {
    subject: String,
    client_id: Option<String>,
    scopes: ScopeSet,
    issuer: String,
    /// The issuer's canonical identity (`issuer` unless the verifier maps an alias).
    issuer_id: String,
    audiences: Vec<String>,
    expires_at: u64,
    token_id: Option<String>,
    /// Which provider's verifier accepted the token (`scalekit`, `auth0`, …).
    provider: String,
    claims: Map<String, Value>,
}

impl AccessToken {
    /// Builds an `AccessToken` from a claims object whose `iss`, `sub`, `aud` and
    /// `exp` have already been validated. Returns `None` if one of them is
    /// missing or of the wrong type.
    #[cfg(test)]
    pub(crate) fn from_verified_claims(claims: Map<String, Value>) -> Option<Self> {
        Self::from_verified_claims_with(claims, &crate::verify::DEFAULT_SCOPE_CLAIMS, "jwt")
    }

    /// As [`from_verified_claims`](Self::from_verified_claims), reading scopes
    /// from `scope_claims` (names or `/`-pointers) and naming `provider`.
    pub(crate) fn from_verified_claims_with<S: AsRef<str>>(
        claims: Map<String, Value>,
        scope_claims: &[S],
        provider: &str,
    ) -> Option<Self> {
        let subject = claims.get("sub")?.as_str()?.to_owned();
        let issuer = claims.get("iss")?.as_str()?.to_owned();
        let expires_at = claims.get("exp")?.as_u64()?;
        let audiences = match claims.get("aud")? {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => return None,
        };
        // Scalekit's user tokens use `azp`-less `client_id`; some issuers only send `azp`.
        let client_id = ["client_id", "azp", "cid"]
            .iter()
            .find_map(|k| claims.get(*k).and_then(Value::as_str))
            .map(str::to_owned);
        let token_id = claims.get("jti").and_then(Value::as_str).map(str::to_owned);
        let scopes = scopes_from_claims(&claims, scope_claims);
        Some(Self {
            subject,
            client_id,
            scopes,
            issuer_id: issuer.clone(),
            issuer,
            audiences,
            expires_at,
            token_id,
            provider: provider.to_owned(),
            claims,
        })
    }

    /// Which provider verified the token: the name its verifier was given
    /// (`scalekit`, `oidc`, `auth0`, `workos`, `keycloak`, `entra`,
    /// `descope`, or your own), so tools and policies can tell callers of
    /// several authorization servers apart. Pair it with
    /// [`issuer`](Self::issuer) for the exact authorization server.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The `sub` claim: the user (`usr_…`), or the client id for machine-to-machine tokens.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The OAuth client the token was issued to (`client_id`, else `azp`).
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The granted scopes: the union of the configured scope claims (by
    /// default `scope`, `scopes` and `scp`).
    pub fn scopes(&self) -> &ScopeSet {
        &self.scopes
    }

    /// The `iss` claim, exactly as issued.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The issuer's canonical identity: the `iss` claim, except that every
    /// name of one authorization server maps to one value (for Scalekit, both
    /// `{env}` and `{env}/resources/{res}` give `{env}/resources/{res}`). Key
    /// per-user data on this and [`subject`](Self::subject), not on `iss`.
    pub fn issuer_id(&self) -> &str {
        &self.issuer_id
    }

    pub(crate) fn set_issuer_id(&mut self, canonical: &str) {
        canonical.clone_into(&mut self.issuer_id);
    }

    /// The `aud` claim as a list.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The `exp` claim as seconds since the Unix epoch.
    pub fn expires_at_unix(&self) -> u64 {
        self.expires_at
    }

    /// The `exp` claim as a time.
    pub fn expires_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.expires_at)
    }

    /// The `jti` claim, useful for logs and deny-lists.
    pub fn token_id(&self) -> Option<&str> {
        self.token_id.as_deref()
    }

    /// All claims of the token.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// One claim by name.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    /// The claims deserialised into your own type.
    pub fn claims_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(Value::Object(self.claims.clone()))
    }

    /// A token for unit-testing your own tools and policies, built from
    /// `claims` **without any verification**. Missing registered claims get
    /// test values: `sub` `"test-user"`, `iss` `"https://issuer.test"`, `aud`
    /// `["test-resource"]`, `exp` one hour from now. Scopes come from `scope`,
    /// `scopes` or `scp` as for real tokens.
    ///
    /// Requests never produce such a token: only the verifier builds
    /// `AccessToken`s for them.
    ///
    /// ```
    /// use mcpgate_auth::AccessToken;
    /// let token = AccessToken::for_testing(serde_json::json!({"sub": "usr_1", "scope": "todo:read"}));
    /// assert_eq!(token.subject(), "usr_1");
    /// assert!(token.scopes().contains("todo:read"));
    /// ```
    ///
    /// # Panics
    /// If `claims` is not a JSON object, or a registered claim has the wrong type.
    pub fn for_testing(claims: Value) -> Self {
        let Value::Object(mut claims) = claims else {
            panic!("AccessToken::for_testing takes a JSON object of claims");
        };
        let hour_from_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            + 3600;
        claims.entry("sub").or_insert_with(|| "test-user".into());
        claims
            .entry("iss")
            .or_insert_with(|| "https://issuer.test".into());
        claims
            .entry("aud")
            .or_insert_with(|| Value::from(vec!["test-resource"]));
        claims.entry("exp").or_insert_with(|| hour_from_now.into());
        Self::from_verified_claims_with(claims, &crate::verify::DEFAULT_SCOPE_CLAIMS, "test")
            .expect("AccessToken::for_testing: `sub`/`iss` must be strings, `aud` a string or list, `exp` a number")
    }

    /// The identity a session is bound to: issuer (its canonical identity),
    /// subject and client id.
    pub(crate) fn principal(&self) -> Principal {
        Principal {
            issuer: self.issuer_id.clone(),
            subject: self.subject.clone(),
            client_id: self.client_id.clone(),
        }
    }
}

/// Who owns a session: the same user through the same client at the same issuer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Principal {
    issuer: String,
    subject: String,
    client_id: Option<String>,
}

/// Scalekit sends `scope` (space-separated) on user tokens and `scopes` (array)
/// on machine tokens; other issuers use `scp` as either form, Auth0 adds
/// `permissions`, Entra `roles`, Keycloak nested role lists. Reading every
/// configured claim and taking the union means no token's scopes are silently
/// lost. A name starting with `/` is an RFC 6901 pointer into nested claims.
fn scopes_from_claims<S: AsRef<str>>(claims: &Map<String, Value>, names: &[S]) -> ScopeSet {
    let mut set = ScopeSet::new();
    for name in names {
        let name = name.as_ref();
        let value = match name.strip_prefix('/') {
            Some(_) => {
                let (first, rest) = name[1..].split_once('/').unwrap_or((&name[1..], ""));
                let first = first.replace("~1", "/").replace("~0", "~");
                claims.get(&first).and_then(|v| {
                    if rest.is_empty() {
                        Some(v)
                    } else {
                        v.pointer(&format!("/{rest}"))
                    }
                })
            }
            None => claims.get(name),
        };
        match value {
            Some(Value::String(s)) => set.extend(&ScopeSet::from_space_separated_lenient(s)),
            Some(Value::Array(items)) => {
                for item in items.iter().filter_map(Value::as_str) {
                    set.extend(&ScopeSet::from_space_separated_lenient(item));
                }
            }
            _ => {}
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token(extra: Value) -> AccessToken {
        let mut claims = json!({"sub": "usr_1", "iss": "https://e", "aud": ["res_1"], "exp": 10});
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        AccessToken::from_verified_claims(claims.as_object().unwrap().clone()).unwrap()
    }

    #[test]
    fn scopes_are_the_union_of_scope_scopes_and_scp() {
        let t = token(json!({"scope": "a b", "scopes": ["c", "a"], "scp": "d"}));
        assert_eq!(t.scopes().to_space_separated(), "a b c d");
        let t = token(json!({"scp": ["x", "y"]}));
        assert_eq!(t.scopes().to_space_separated(), "x y");
    }

    #[test]
    fn configured_scope_claims_include_nested_pointers() {
        let claims = json!({"sub": "u", "iss": "https://e", "aud": "a", "exp": 10,
            "permissions": ["read:x"], "realm_access": {"roles": ["admin"]},
            "resource_access": {"my/app": {"roles": ["editor"]}}, "scope": "openid"});
        let t = AccessToken::from_verified_claims_with(
            claims.as_object().unwrap().clone(),
            &[
                "permissions",
                "/realm_access/roles",
                "/resource_access/my~1app/roles",
            ],
            "keycloak",
        )
        .unwrap();
        assert_eq!(t.scopes().to_space_separated(), "read:x admin editor");
        assert_eq!(t.provider(), "keycloak");
    }

    #[test]
    fn client_id_falls_back_to_azp_and_typed_claims_work() {
        #[derive(serde::Deserialize)]
        struct Mine {
            oid: String,
        }
        let t = token(json!({"azp": "m2m_9", "oid": "org_7"}));
        assert_eq!(t.client_id(), Some("m2m_9"));
        assert_eq!(t.claims_as::<Mine>().unwrap().oid, "org_7");
        assert_eq!(t.audiences(), ["res_1"]);
    }
}
