//! Every provider preset against a loopback stand-in shaped like that
//! provider (its discovery and JWKS paths, its issuer form, its token
//! claims), and the same rejection table run against each: wrong issuer,
//! wrong audience, expired, an algorithm outside the allow-list (with a key
//! of the right type), `none`, HS256 keyed with the public key, a
//! key-choosing header, an unknown `kid`, and a rotated key that is accepted
//! on the next JWKS refetch: at most the default 5 s refetch interval later
//! (Auth0 runs with the defaults; the others with a 1 s interval, which only
//! shortens the wait).

use std::sync::Arc;

use mcpgate_auth::jwks::JwksConfig;
use mcpgate_auth::providers::ProviderConfig;
use mcpgate_auth::providers::presets;
use mcpgate_auth::verify::SigningAlgorithm;
use mcpgate_auth::{
    AccessToken, AuthError, BearerToken, OidcProvider, ProtectedResource, ScalekitProvider,
    TokenRejection,
};
use serde_json::{Value, json};

use crate::standin::{StandIn, TestKey, now};

const MCP_URL: &str = "https://mcp.example.com/mcp";

/// JWKS settings with a 1 s refetch interval, so the unknown-`kid` and
/// rotation rows wait less than with the default 5 s.
fn quick() -> JwksConfig {
    JwksConfig::default().with_refetch_interval(std::time::Duration::from_secs(1))
}

/// One provider under test: its resource, its stand-in, how it signs and
/// what a good token of its shape looks like.
struct Case {
    name: &'static str,
    resource: ProtectedResource,
    standin: StandIn,
    key: TestKey,
    alg: &'static str,
    /// An algorithm the key could sign with that the provider does not allow.
    disallowed_alg: &'static str,
    typ: Option<&'static str>,
    claims: Value,
    scopes: &'static [&'static str],
    provider: &'static str,
    /// A fresh key of the same type for the rotation step.
    next_key: fn() -> TestKey,
}

impl Case {
    fn header(&self, kid: &str, alg: &str) -> Value {
        let mut h = json!({"alg": alg, "kid": kid});
        if let Some(typ) = self.typ {
            h["typ"] = json!(typ);
        }
        h
    }

    fn token(&self, claims: &Value) -> String {
        self.key
            .sign(self.alg, &self.header(&self.key.kid, self.alg), claims)
    }

    async fn verify(&self, token: &str) -> Result<Arc<AccessToken>, AuthError> {
        self.resource.verify(&BearerToken::new(token)).await
    }
}

fn with(claims: &Value, name: &str, value: Value) -> Value {
    let mut c = claims.clone();
    c[name] = value;
    c
}

type Forge = fn(&Case) -> String;

/// The rejection table: name, how to forge the token, the expected answer.
fn rejections() -> Vec<(&'static str, Forge, AuthError)> {
    use TokenRejection as R;
    vec![
        (
            "wrong issuer",
            |c| c.token(&with(&c.claims, "iss", json!("https://evil.example.com/"))),
            R::WrongIssuer.into(),
        ),
        (
            "wrong audience",
            |c| c.token(&with(&c.claims, "aud", json!("https://other.example.com"))),
            R::WrongAudience.into(),
        ),
        (
            "expired",
            |c| {
                let c2 = with(
                    &with(&c.claims, "exp", json!(now() - 3600)),
                    "iat",
                    json!(now() - 7200),
                );
                c.token(&with(&c2, "nbf", json!(now() - 7200)))
            },
            R::Expired.into(),
        ),
        (
            "alg not allowed",
            |c| {
                // With the provider's own key where it can sign that algorithm
                // (the key type matches), else with an RSA key under its `kid`.
                let signer = if c.key.can_sign(c.disallowed_alg) {
                    c.key.clone()
                } else {
                    TestKey::rsa(&c.key.kid, 0)
                };
                signer.sign(
                    c.disallowed_alg,
                    &c.header(&c.key.kid, c.disallowed_alg),
                    &c.claims,
                )
            },
            R::UnsupportedAlgorithm.into(),
        ),
        (
            "alg none",
            |c| {
                let t = c.token(&c.claims);
                let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
                parts[0] = crate::standin::b64(
                    &serde_json::to_vec(&c.header(&c.key.kid, "none")).unwrap(),
                );
                format!("{}.{}.", parts[0], parts[1])
            },
            R::UnsupportedAlgorithm.into(),
        ),
        (
            "HS256 keyed with the public key",
            |c| {
                TestKey::hs256(
                    &c.key.public_bytes(),
                    &c.header(&c.key.kid, "HS256"),
                    &c.claims,
                )
            },
            R::UnsupportedAlgorithm.into(),
        ),
        (
            "jku header",
            |c| {
                let mut h = c.header(&c.key.kid, c.alg);
                h["jku"] = json!("https://evil.example.com/jwks");
                c.key.sign(c.alg, &h, &c.claims)
            },
            R::ForbiddenHeader("jku").into(),
        ),
        (
            "unknown kid",
            |c| {
                c.key
                    .sign(c.alg, &c.header("no-such-kid", c.alg), &c.claims)
            },
            R::UnknownKey.into(),
        ),
    ]
}

async fn run(case: Case) {
    let name = case.name;
    let good = case.verify(&case.token(&case.claims)).await;
    let access = good.unwrap_or_else(|e| panic!("{name}: a good token was refused: {e:?}"));
    assert_eq!(access.provider(), case.provider, "{name}: provider");
    for scope in case.scopes {
        assert!(
            access.scopes().contains(scope),
            "{name}: scope {scope} missing from {}",
            access.scopes()
        );
    }
    for (row, forge, expected) in rejections() {
        let token = forge(&case);
        let got = case.verify(&token).await;
        assert_eq!(got.err(), Some(expected), "{name}: {row}");
    }
    // Rotation: a key published after the cache was filled is accepted on
    // the next refetch, which the unknown-kid row above has just used, so
    // this waits for the next slot (at most the 5 s refetch interval).
    let next = (case.next_key)();
    case.standin.publish(next.clone());
    let token = next.sign(case.alg, &case.header(&next.kid, case.alg), &case.claims);
    let rotated = case.verify(&token).await;
    assert!(rotated.is_ok(), "{name}: rotated key refused: {rotated:?}");
}

fn base_claims(iss: &str, aud: Value, sub: &str) -> Value {
    json!({"iss": iss, "sub": sub, "aud": aud, "iat": now(), "exp": now() + 600})
}

#[tokio::test]
async fn auth0_tokens_with_permissions() {
    let key = TestKey::rsa("auth0-k1", 0);
    let s = StandIn::start("/.well-known/jwks.json", vec![key.clone()]).await;
    let issuer = format!("{}/", s.base);
    s.document(
        "/.well-known/openid-configuration",
        json!({"issuer": issuer, "jwks_uri": format!("{issuer}.well-known/jwks.json")}),
    );
    let resource = presets::auth0(&s.base, "https://api.acme.example", MCP_URL)
        .build()
        .unwrap();
    assert_eq!(
        resource.authorization_servers(),
        std::slice::from_ref(&issuer)
    );
    let mut claims = base_claims(
        &issuer,
        json!(["https://api.acme.example", format!("{issuer}userinfo")]),
        "auth0|6543",
    );
    claims["azp"] = json!("QxQ0clientid");
    claims["scope"] = json!("openid profile read:docs");
    claims["permissions"] = json!(["read:docs", "write:docs"]);
    claims["gty"] = json!("client-credentials");
    run(Case {
        name: "auth0",
        resource,
        standin: s,
        key,
        alg: "RS256",
        disallowed_alg: "RS384",
        typ: Some("JWT"),
        claims,
        scopes: &["read:docs", "write:docs", "openid"],
        provider: "auth0",
        next_key: || TestKey::rsa("auth0-k2", 1),
    })
    .await;
}

#[tokio::test]
async fn workos_authkit_tokens() {
    let key = TestKey::rsa("key_01HX", 1);
    let s = StandIn::start("/oauth2/jwks", vec![key.clone()]).await;
    let issuer = s.base.clone();
    s.document(
        "/.well-known/oauth-authorization-server",
        json!({"issuer": issuer, "jwks_uri": format!("{issuer}/oauth2/jwks")}),
    );
    let resource = presets::workos(&s.base, MCP_URL)
        .jwks_config(quick())
        .build()
        .unwrap();
    let mut claims = base_claims(&issuer, json!(MCP_URL), "user_01HXYZ");
    claims["sid"] = json!("session_01HX");
    claims["org_id"] = json!("org_01HX");
    claims["role"] = json!("member");
    claims["permissions"] = json!(["docs:read"]);
    claims["jti"] = json!("01HXJTI");
    run(Case {
        name: "workos",
        resource,
        standin: s,
        key,
        alg: "RS256",
        disallowed_alg: "PS256",
        typ: None,
        claims,
        scopes: &["docs:read"],
        provider: "workos",
        next_key: || TestKey::rsa("key_01HY", 2),
    })
    .await;
}

#[tokio::test]
async fn keycloak_tokens_with_realm_and_client_roles() {
    let key = TestKey::rsa("kc-rsa-1", 2);
    let s = StandIn::start(
        "/realms/acme/protocol/openid-connect/certs",
        vec![key.clone()],
    )
    .await;
    let issuer = format!("{}/realms/acme", s.base);
    let resource = presets::keycloak(&s.base, "acme", "mcp-server", Some("mcp-client"), MCP_URL)
        .jwks_config(quick())
        .build()
        .unwrap();
    let mut claims = base_claims(
        &issuer,
        json!(["mcp-server", "account"]),
        "f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
    );
    claims["typ"] = json!("Bearer");
    claims["azp"] = json!("mcp-client");
    claims["scope"] = json!("openid profile email");
    claims["realm_access"] = json!({"roles": ["offline_access", "mcp-user"]});
    claims["resource_access"] =
        json!({"mcp-client": {"roles": ["tools:call"]}, "account": {"roles": ["view-profile"]}});
    claims["preferred_username"] = json!("alice");
    let case = Case {
        name: "keycloak",
        resource,
        standin: s,
        key,
        alg: "RS256",
        disallowed_alg: "RS512",
        typ: Some("JWT"),
        claims: claims.clone(),
        scopes: &["mcp-user", "tools:call", "openid"],
        provider: "keycloak",
        next_key: || TestKey::rsa("kc-rsa-2", 3),
    };
    // The client's roles count, another client's do not; `azp` must be the client.
    let access = case.verify(&case.token(&claims)).await.unwrap();
    assert!(!access.scopes().contains("view-profile"));
    let other_client = case.token(&with(&claims, "azp", json!("someone-else")));
    assert_eq!(
        case.verify(&other_client).await.err(),
        Some(TokenRejection::UnauthorizedParty.into())
    );
    run(case).await;
}

#[tokio::test]
async fn entra_v1_and_v2_tokens() {
    let key = TestKey::rsa("nOo3ZDrODXEK1jKWhXslHR_KXEg", 3).undeclared();
    let s = StandIn::start("/tenant-1/discovery/v2.0/keys", vec![key.clone()]).await;
    // The v1 issuer lives on another host (sts.windows.net); `localhost`
    // plays it here, on the same port.
    let sts = s.base.replace("127.0.0.1", "localhost");
    let resource = presets::entra_at(
        &s.base,
        &sts,
        "tenant-1",
        "11111111-2222-3333-4444-555555555555",
        None,
        MCP_URL,
    )
    .jwks_config(quick())
    .build()
    .unwrap();
    let v2 = format!("{}/tenant-1/v2.0", s.base);
    let v1 = format!("{sts}/tenant-1/");
    assert_eq!(resource.authorization_servers(), std::slice::from_ref(&v2));
    // A v1 token: application ID URI audience, app roles, `appid`.
    let mut v1_claims = base_claims(
        &v1,
        json!("api://11111111-2222-3333-4444-555555555555"),
        "svc-object-id",
    );
    v1_claims["appid"] = json!("99999999-0000-0000-0000-000000000000");
    v1_claims["roles"] = json!(["Tasks.ReadWrite.All"]);
    v1_claims["tid"] = json!("tenant-1");
    v1_claims["ver"] = json!("1.0");
    let header = json!({"typ": "JWT", "alg": "RS256", "x5t": key.kid, "kid": key.kid});
    let v1_token = key.sign("RS256", &header, &v1_claims);
    let access = resource.verify(&BearerToken::new(v1_token)).await.unwrap();
    assert!(access.scopes().contains("Tasks.ReadWrite.All"));
    assert_eq!(access.issuer(), v1);
    assert_eq!(
        access.issuer_id(),
        v2,
        "v1 and v2 are one authorization server"
    );
    // The v2 token goes through the whole table.
    let mut claims = base_claims(
        &v2,
        json!("11111111-2222-3333-4444-555555555555"),
        "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
    );
    claims["azp"] = json!("99999999-0000-0000-0000-000000000000");
    claims["scp"] = json!("Files.Read mcp.tools");
    claims["oid"] = json!("00000000-0000-0000-66f3-3332eca7ea81");
    claims["tid"] = json!("tenant-1");
    claims["ver"] = json!("2.0");
    run(Case {
        name: "entra",
        resource,
        standin: s,
        key,
        alg: "RS256",
        disallowed_alg: "PS256",
        typ: Some("JWT"),
        claims,
        scopes: &["Files.Read", "mcp.tools"],
        provider: "entra",
        next_key: || TestKey::rsa("rotated-entra", 0).undeclared(),
    })
    .await;
}

#[tokio::test]
async fn descope_tokens() {
    let key = TestKey::rsa("P2abc-key", 0);
    let s = StandIn::start("/P2abc/.well-known/jwks.json", vec![key.clone()]).await;
    let issuer = format!("{}/v1/apps/P2abc", s.base);
    let resource = presets::descope("P2abc", Some(&s.base), MCP_URL)
        .jwks_config(quick())
        .build()
        .unwrap();
    let mut claims = base_claims(&issuer, json!(["P2abc"]), "U2user");
    claims["roles"] = json!(["admin"]);
    claims["permissions"] = json!(["docs.read"]);
    claims["drn"] = json!("DS");
    claims["amr"] = json!(["oauth"]);
    run(Case {
        name: "descope",
        resource,
        standin: s,
        key,
        alg: "RS256",
        disallowed_alg: "RS384",
        typ: Some("JWT"),
        claims,
        scopes: &["docs.read", "admin"],
        provider: "descope",
        next_key: || TestKey::rsa("P2abc-key-2", 1),
    })
    .await;
}

#[tokio::test]
async fn scalekit_tokens() {
    let key = TestKey::rsa("snk_1", 1);
    let s = StandIn::start("/keys", vec![key.clone()]).await;
    let resource = ScalekitProvider::new(&s.base, "res_1", MCP_URL)
        .jwks_config(quick())
        .build()
        .unwrap();
    let mut claims = base_claims(&s.base, json!(["res_1"]), "usr_1");
    claims["scope"] = json!("todo:read");
    claims["client_id"] = json!("m2m_1");
    run(Case {
        name: "scalekit",
        resource,
        standin: s,
        key,
        alg: "RS256",
        disallowed_alg: "PS256",
        typ: Some("JWT"),
        claims,
        scopes: &["todo:read"],
        provider: "scalekit",
        next_key: || TestKey::rsa("snk_2", 2),
    })
    .await;
}

/// Generic OIDC through discovery, with EC keys: ES256 allowed, ES384 (a key
/// of the right type for it is published) not.
#[tokio::test]
async fn generic_oidc_by_discovery_with_es256() {
    let key = TestKey::p256("ec-1");
    let s = StandIn::start("/oidc/jwks", vec![key.clone(), TestKey::p384("ec-384")]).await;
    let issuer = format!("{}/oidc", s.base);
    s.document(
        "/oidc/.well-known/openid-configuration",
        json!({"issuer": issuer, "jwks_uri": format!("{}/oidc/jwks", s.base)}),
    );
    let provider = OidcProvider::new(&issuer, MCP_URL)
        .scope_claims(["scp"])
        .jwks_config(quick());
    let resource = provider
        .clone()
        .algorithms([SigningAlgorithm::Es256])
        .build()
        .unwrap();
    let two_families = provider
        .algorithms([SigningAlgorithm::Es256, SigningAlgorithm::Rs256])
        .build()
        .unwrap();
    let mut claims = base_claims(&issuer, json!(MCP_URL), "svc-1");
    claims["scp"] = json!(["mcp:tools"]);
    let case = Case {
        name: "oidc",
        resource,
        standin: s,
        key,
        alg: "ES256",
        disallowed_alg: "RS256",
        typ: Some("at+jwt"),
        claims: claims.clone(),
        scopes: &["mcp:tools"],
        provider: "oidc",
        next_key: || TestKey::p256("ec-2"),
    };
    // ES384 with its own P-384 key: the key type matches, the allow-list does not.
    let p384 = TestKey::p384("ec-384");
    let es384 = p384.sign("ES384", &case.header("ec-384", "ES384"), &claims);
    assert_eq!(
        case.verify(&es384).await.err(),
        Some(TokenRejection::UnsupportedAlgorithm.into())
    );
    // With RS256 allowed too, an RS256 token naming the EC key's `kid` is
    // refused before any signature check: the key was not made for it.
    let rsa = TestKey::rsa("ec-1", 0);
    let mismatch = rsa.sign("RS256", &case.header("ec-1", "RS256"), &claims);
    assert_eq!(
        two_families.verify(&BearerToken::new(mismatch)).await.err(),
        Some(TokenRejection::AlgorithmKeyMismatch.into())
    );
    run(case).await;
}

/// EdDSA and the PSS family through the generic provider with an explicit JWKS URL.
#[tokio::test]
async fn eddsa_and_pss_keys() {
    let ed = TestKey::ed25519("ed-1");
    let rsa = TestKey::rsa("ps-1", 1).undeclared();
    let s = StandIn::start("/jwks", vec![ed.clone(), rsa.clone()]).await;
    let resource = OidcProvider::new(&s.base, MCP_URL)
        .jwks_uri(format!("{}/jwks", s.base))
        .algorithms([SigningAlgorithm::EdDsa, SigningAlgorithm::Ps384])
        .build()
        .unwrap();
    let claims = base_claims(&s.base, json!(MCP_URL), "svc");
    let header = |kid: &str, alg: &str| json!({"alg": alg, "kid": kid});
    let verify = |t: String| {
        let r = resource.clone();
        async move { r.verify(&BearerToken::new(t)).await }
    };
    assert!(
        verify(ed.sign("EdDSA", &header("ed-1", "EdDSA"), &claims))
            .await
            .is_ok()
    );
    assert!(
        verify(rsa.sign("PS384", &header("ps-1", "PS384"), &claims))
            .await
            .is_ok()
    );
    // Same RSA key, an algorithm outside the list.
    assert_eq!(
        verify(rsa.sign("RS384", &header("ps-1", "RS384"), &claims))
            .await
            .err(),
        Some(TokenRejection::UnsupportedAlgorithm.into())
    );
    // A signature by another Ed25519 key under ed-1's kid.
    let other = TestKey::ed25519("ed-1");
    assert_eq!(
        verify(other.sign("EdDSA", &header("ed-1", "EdDSA"), &claims))
            .await
            .err(),
        Some(TokenRejection::BadSignature.into())
    );
}

/// Discovery that cannot be trusted or reached is a 503-class answer, never an accept.
#[tokio::test]
async fn failed_discovery_is_unavailable_not_accepted() {
    let key = TestKey::p256("d-1");
    let s = StandIn::start("/jwks", vec![key.clone()]).await;
    // The document names another issuer: refused (RFC 8414 §3.3).
    s.document(
        "/.well-known/openid-configuration",
        json!({"issuer": "https://evil.example.com", "jwks_uri": format!("{}/jwks", s.base)}),
    );
    let resource = OidcProvider::new(&s.base, MCP_URL)
        .algorithms([SigningAlgorithm::Es256])
        .build()
        .unwrap();
    let claims = base_claims(&s.base, json!(MCP_URL), "svc");
    let token = key.sign("ES256", &json!({"alg": "ES256", "kid": "d-1"}), &claims);
    let got = resource.verify(&BearerToken::new(token.clone())).await;
    assert!(
        matches!(got, Err(AuthError::KeysUnavailable { .. })),
        "{got:?}"
    );
    assert_eq!(got.unwrap_err().status().as_u16(), 503);
    assert_eq!(
        s.hits("/jwks"),
        0,
        "keys from an untrusted document are never fetched"
    );
    // No discovery document at all (both standard locations 404).
    let bare = StandIn::start("/jwks", vec![key.clone()]).await;
    let resource = OidcProvider::new(&bare.base, MCP_URL)
        .algorithms([SigningAlgorithm::Es256])
        .build()
        .unwrap();
    let token = key.sign(
        "ES256",
        &json!({"alg": "ES256", "kid": "d-1"}),
        &base_claims(&bare.base, json!(MCP_URL), "svc"),
    );
    let got = resource.verify(&BearerToken::new(token)).await;
    assert!(
        matches!(got, Err(AuthError::KeysUnavailable { .. })),
        "{got:?}"
    );
    assert_eq!(bare.hits("/.well-known/openid-configuration"), 1);
    assert_eq!(bare.hits("/.well-known/oauth-authorization-server"), 1);
}

/// Two authorization servers at once: the token's issuer selects the
/// verifier, the metadata lists both, and a token claiming one issuer but
/// signed by the other's key is refused.
#[tokio::test]
async fn several_issuers_at_once() {
    let users_key = TestKey::rsa("u-1", 0);
    let users = StandIn::start("/.well-known/jwks.json", vec![users_key.clone()]).await;
    let machines_key = TestKey::ed25519("m-1");
    let machines = StandIn::start("/oidc/jwks", vec![machines_key.clone()]).await;
    let m_issuer = format!("{}/oidc", machines.base);
    machines.document(
        "/oidc/.well-known/openid-configuration",
        json!({"issuer": m_issuer, "jwks_uri": format!("{}/oidc/jwks", machines.base)}),
    );
    let configs: Vec<ProviderConfig> = serde_json::from_value(json!([
        {"provider": "auth0", "domain": users.base, "audience": "https://api", "required_scopes": []},
        {"provider": "oidc", "issuer": m_issuer, "algorithms": ["EdDSA"], "audience": "https://api"},
    ]))
    .unwrap();
    let resource = ProviderConfig::build_all(&configs, Some(MCP_URL)).unwrap();
    let u_issuer = format!("{}/", users.base);
    assert_eq!(
        resource.metadata_document()["authorization_servers"],
        json!([u_issuer, m_issuer])
    );
    let u_claims = base_claims(&u_issuer, json!("https://api"), "auth0|1");
    let m_claims = base_claims(&m_issuer, json!("https://api"), "svc");
    let verify = |t: String| {
        let r = resource.clone();
        async move { r.verify(&BearerToken::new(t)).await }
    };
    let u = verify(users_key.sign("RS256", &json!({"alg": "RS256", "kid": "u-1"}), &u_claims))
        .await
        .unwrap();
    assert_eq!((u.provider(), u.issuer()), ("auth0", u_issuer.as_str()));
    let m = verify(machines_key.sign("EdDSA", &json!({"alg": "EdDSA", "kid": "m-1"}), &m_claims))
        .await
        .unwrap();
    assert_eq!((m.provider(), m.issuer()), ("oidc", m_issuer.as_str()));
    // Claims the machine issuer, signed with the user issuer's key: the
    // machine verifier runs, and its keys refuse the algorithm.
    let crossed = users_key.sign("RS256", &json!({"alg": "RS256", "kid": "u-1"}), &m_claims);
    assert_eq!(
        verify(crossed).await.err(),
        Some(TokenRejection::UnsupportedAlgorithm.into())
    );
    // An issuer nobody trusts.
    let stranger = users_key.sign(
        "RS256",
        &json!({"alg": "RS256", "kid": "u-1"}),
        &with(&u_claims, "iss", json!("https://evil.example.com/")),
    );
    assert_eq!(
        verify(stranger).await.err(),
        Some(TokenRejection::WrongIssuer.into())
    );
}
