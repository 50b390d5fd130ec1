//! Bearer-token rules at the verifier: one table, one test per row. Each row
//! names how the provider is set up, how the token(s) are forged, and the
//! outcome `ProtectedResource::authenticate` must give (the exact
//! `error_description` a client would see). How outcomes become HTTP answers
//! is tested once, in `challenges`.

use std::time::Duration;

use http::{HeaderMap, HeaderValue, StatusCode, header};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcpgate::{ProtectedResource, ScalekitProvider};
use mcpgate_dev_as::keys::SigningKey;
use serde_json::{Value, json};

use crate::support::*;

/// The MCP URL tokens are for; no server listens there, the verifier only
/// needs it as an audience.
const MCP_URL: &str = "http://127.0.0.1:9/mcp";

/// A stand-in and the protected resource it backs, with the key cache warmed
/// as a server warms it at start.
struct Fixture {
    idp: StandIn,
    resource: ProtectedResource,
}

impl Fixture {
    async fn start(configure: fn(ScalekitProvider) -> ScalekitProvider) -> Self {
        let idp = StandIn::start().await;
        let resource = configure(idp.provider(MCP_URL))
            .build()
            .expect("valid provider");
        resource.jwt_verifier().unwrap().keys().prefetch().await;
        assert_eq!(idp.keys_hits(), 1, "warm-up fetch");
        Self { idp, resource }
    }

    fn claims(&self) -> Value {
        self.idp.user_claims(MCP_URL)
    }

    fn mint(&self, claims: &Value) -> String {
        self.idp.mint(claims)
    }

    fn token(&self) -> String {
        self.mint(&self.claims())
    }

    fn signer(&self) -> SigningKey {
        self.idp.signer()
    }

    fn kid(&self) -> String {
        self.signer().kid().to_owned()
    }

    /// A token signed by the current key under a custom (JSON) header.
    fn forged(&self, header: Value, claims: &Value) -> String {
        forge(&self.signer(), &header, claims)
    }

    /// A token signed by the current key with one header parameter added.
    fn with_header_param(&self, name: &str, value: Value) -> String {
        let mut header = scalekit_header(&self.kid());
        header[name] = value;
        self.forged(header, &self.claims())
    }

    /// A token whose claims have `name` set to `value`.
    fn minted_with(&self, name: &str, value: Value) -> String {
        self.mint(&with(self.claims(), name, value))
    }

    /// A token whose claims lack `name`.
    fn minted_without(&self, name: &str) -> String {
        self.mint(&without(self.claims(), name))
    }

    /// Authenticates `token` sent as a request sends it (`Authorization:
    /// Bearer …`); returns the verified claims.
    async fn authenticate(&self, token: &str) -> Result<Value, mcpgate::AuthError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).expect("header-safe token"),
        );
        self.resource
            .authenticate(&headers)
            .await
            .map(|access| Value::Object(access.claims().clone()))
    }
}

/// What a row expects for every token it forges.
#[derive(Debug, Clone, Copy)]
struct Expect {
    outcome: Outcome,
    /// JWKS fetches the row causes after the warm-up (only an unknown `kid` may cause one).
    fetches: usize,
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// Authenticated, with exactly the claims that were signed.
    Accept,
    /// 401 `invalid_token` with this `error_description`.
    Reject(&'static str),
    /// 403 `insufficient_scope` with this `error_description`.
    Forbidden(&'static str),
}

const fn accept() -> Expect {
    Expect {
        outcome: Outcome::Accept,
        fetches: 0,
    }
}

const fn reject(description: &'static str) -> Expect {
    Expect {
        outcome: Outcome::Reject(description),
        fetches: 0,
    }
}

const fn forbidden(description: &'static str) -> Expect {
    Expect {
        outcome: Outcome::Forbidden(description),
        fetches: 0,
    }
}

impl Expect {
    const fn fetches(mut self, n: usize) -> Self {
        self.fetches = n;
        self
    }
}

async fn check(
    configure: fn(ScalekitProvider) -> ScalekitProvider,
    forge_tokens: fn(&Fixture) -> Vec<String>,
    expect: Expect,
) {
    let fixture = Fixture::start(configure).await;
    let tokens = forge_tokens(&fixture);
    assert!(!tokens.is_empty(), "a row forges at least one token");
    for (case, token) in tokens.iter().enumerate() {
        let result = fixture.authenticate(token).await;
        match expect.outcome {
            Outcome::Accept => {
                let claims = result.unwrap_or_else(|e| panic!("token {case} rejected: {e:?}"));
                assert_eq!(claims, payload_of(token), "token {case}: claims as signed");
            }
            Outcome::Reject(description) => {
                let error = result.expect_err(&format!("token {case} accepted"));
                assert_eq!(error.status(), StatusCode::UNAUTHORIZED, "token {case}");
                assert_eq!(error.error_code(), Some("invalid_token"), "token {case}");
                assert_eq!(
                    error.description().as_deref(),
                    Some(description),
                    "token {case}"
                );
            }
            Outcome::Forbidden(description) => {
                let error = result.expect_err(&format!("token {case} accepted"));
                assert_eq!(error.status(), StatusCode::FORBIDDEN, "token {case}");
                assert_eq!(
                    error.error_code(),
                    Some("insufficient_scope"),
                    "token {case}"
                );
                assert_eq!(
                    error.description().as_deref(),
                    Some(description),
                    "token {case}"
                );
            }
        }
    }
    assert_eq!(
        fixture.idp.keys_hits() - 1,
        expect.fetches,
        "JWKS fetches caused by the tokens"
    );
}

/// The table: `name: provider setup, tokens => expectation;` becomes one
/// `#[tokio::test]` per row.
macro_rules! rules {
    ($( $(#[doc = $doc:literal])* $name:ident: $configure:expr, $tokens:expr => $expect:expr; )+) => {
        $(
            $(#[doc = $doc])*
            #[tokio::test]
            async fn $name() {
                check($configure, $tokens, $expect).await;
            }
        )+
    };
}

fn defaults(provider: ScalekitProvider) -> ScalekitProvider {
    provider
}

fn no_leeway(provider: ScalekitProvider) -> ScalekitProvider {
    provider.leeway(Duration::ZERO)
}

fn requires_three_scopes(provider: ScalekitProvider) -> ScalekitProvider {
    provider.required_scopes(["todo:read", "todo:write", "admin"])
}

fn requires_read_and_write(provider: ScalekitProvider) -> ScalekitProvider {
    provider.required_scopes(["todo:read", "todo:write"])
}

/// An HS256 token keyed with `secret`, claiming the RSA key's `kid`.
fn hs256(f: &Fixture, secret: &[u8]) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(f.kid());
    header.typ = Some("JWT".into());
    jsonwebtoken::encode(&header, &f.claims(), &EncodingKey::from_secret(secret)).unwrap()
}

/// The header and claims segments of a well-formed token.
fn segments(f: &Fixture) -> (String, String) {
    (
        b64(scalekit_header(&f.kid()).to_string().as_bytes()),
        b64(f.claims().to_string().as_bytes()),
    )
}

rules! {
    // --- the happy path and size ---------------------------------------------------
    valid_scalekit_token_is_accepted: defaults, |f| vec![f.token()] => accept();
    machine_to_machine_token_with_scopes_array_is_accepted: defaults,
        |f| vec![f.mint(&f.idp.machine_claims(MCP_URL, &["todo:read"]))] => accept();
    /// A well-formed, validly signed token padded past 8 KiB, naming a kid we
    /// do not have: decoding it would cost a JWKS fetch.
    oversized_token_is_rejected_before_decoding: defaults,
        |f| {
            let claims = with(f.claims(), "padding", json!("x".repeat(8 * 1024)));
            let token = f.forged(scalekit_header("snk_000000000000000000"), &claims);
            assert!(token.len() > 8 * 1024);
            vec![token]
        } => reject("token too large");
    token_of_exactly_eight_kib_is_not_too_large: defaults,
        |_| vec!["a".repeat(8 * 1024)] => reject("malformed token");

    // --- header --------------------------------------------------------------------
    alg_none_is_rejected: defaults,
        |f| {
            let header = json!({"alg": "none", "kid": f.kid(), "typ": "JWT"});
            vec![format!(
                "{}.{}.",
                b64(header.to_string().as_bytes()),
                b64(f.claims().to_string().as_bytes())
            )]
        } => reject("unsupported algorithm");
    /// Key confusion: HMAC keyed with the public key, in each form an attacker might try.
    hs256_signed_with_the_rsa_public_key_is_rejected: defaults,
        |f| vec![
            hs256(f, f.signer().jwk()["n"].as_str().unwrap().as_bytes()),
            hs256(f, f.idp.jwks().to_string().as_bytes()),
        ] => reject("unsupported algorithm");
    other_rsa_algorithms_are_rejected: defaults,
        |f| {
            let mut header = Header::new(Algorithm::RS512);
            header.kid = Some(f.kid());
            vec![f.signer().sign_with_header(&header, &f.claims()).unwrap()]
        } => reject("unsupported algorithm");
    /// No fetch either: without a kid there is nothing to look up.
    missing_kid_is_rejected: defaults,
        |f| vec![
            f.forged(json!({"alg": "RS256", "typ": "JWT"}), &f.claims()),
            f.forged(json!({"alg": "RS256", "typ": "JWT", "kid": 7}), &f.claims()),
        ] => reject("token header has no kid");
    unknown_kid_is_rejected_after_one_refetch: defaults,
        |f| vec![f.forged(scalekit_header("snk_000000000000000000"), &f.claims())]
        => reject("unknown signing key").fetches(1);
    key_selecting_header_parameter_crit_is_rejected: defaults,
        |f| vec![f.with_header_param("crit", json!(["exp"]))]
        => reject("token header parameter `crit` not allowed");
    key_selecting_header_parameter_jku_is_rejected: defaults,
        |f| vec![f.with_header_param("jku", json!("https://attacker.example/keys"))]
        => reject("token header parameter `jku` not allowed");
    key_selecting_header_parameter_jwk_is_rejected: defaults,
        |f| vec![f.with_header_param("jwk", f.signer().jwk().clone())]
        => reject("token header parameter `jwk` not allowed");
    key_selecting_header_parameter_x5u_is_rejected: defaults,
        |f| vec![f.with_header_param("x5u", json!("https://attacker.example/cert.pem"))]
        => reject("token header parameter `x5u` not allowed");
    key_selecting_header_parameter_x5c_is_rejected: defaults,
        |f| vec![f.with_header_param("x5c", json!(["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]))]
        => reject("token header parameter `x5c` not allowed");
    rfc9068_and_absent_typ_are_accepted: defaults,
        |f| [Some("at+jwt"), Some("application/at+jwt"), Some("JWT"), None]
            .into_iter()
            .map(|typ| {
                let mut header = json!({"alg": "RS256", "kid": f.kid()});
                if let Some(typ) = typ {
                    header["typ"] = json!(typ);
                }
                f.forged(header, &f.claims())
            })
            .collect() => accept();
    unexpected_typ_is_rejected: defaults,
        |f| [json!("JOSE+foo"), json!("JOSE"), json!("id_token+jwt"), json!(1)]
            .into_iter()
            .map(|typ| f.forged(json!({"alg": "RS256", "kid": f.kid(), "typ": typ}), &f.claims()))
            .collect() => reject("unexpected token type");

    // --- time claims ---------------------------------------------------------------
    expired_token_is_rejected_with_invalid_token: defaults,
        |f| {
            let now = now();
            let claims = with(f.claims(), "exp", json!(now - 3600));
            let claims = with(claims, "iat", json!(now - 7200));
            vec![f.mint(&with(claims, "nbf", json!(now - 7200)))]
        } => reject("token expired");
    expired_token_within_leeway_is_accepted: defaults,
        |f| vec![f.minted_with("exp", json!(now() - 30))] => accept();
    /// Time only moves forward between minting and checking, so this can
    /// only get further outside the 60 s leeway.
    expired_token_beyond_the_leeway_is_rejected: defaults,
        |f| vec![f.minted_with("exp", json!(now() - 120))] => reject("token expired");
    configured_leeway_is_honoured: no_leeway,
        |f| vec![f.minted_with("exp", json!(now() - 5))] => reject("token expired");
    future_nbf_is_rejected: defaults,
        |f| vec![f.minted_with("nbf", json!(now() + 3600))] => reject("token not yet valid");
    /// An issuer clock 50 s ahead of ours is within the 60 s leeway (and the
    /// check only gets easier as time passes).
    nbf_within_the_leeway_is_accepted: defaults,
        |f| vec![f.minted_with("nbf", json!(now() + 50))] => accept();
    /// 120 s ahead is outside the leeway; it would take a minute between
    /// minting and checking to bring it back inside.
    nbf_beyond_the_leeway_is_rejected: defaults,
        |f| vec![f.minted_with("nbf", json!(now() + 120))] => reject("token not yet valid");
    future_iat_is_rejected: defaults,
        |f| vec![f.minted_with("iat", json!(now() + 3600))] => reject("token issued in the future");
    iat_within_the_leeway_is_accepted: defaults,
        |f| vec![f.minted_with("iat", json!(now() + 50))] => accept();
    iat_beyond_the_leeway_is_rejected: defaults,
        |f| vec![f.minted_with("iat", json!(now() + 120))] => reject("token issued in the future");
    string_exp_is_rejected: defaults,
        |f| vec![
            f.minted_with("exp", json!((now() + 3600).to_string())),
            f.minted_with("exp", json!(now() as f64 + 3600.5)),
        ] => reject("token claim `exp` is invalid");
    non_integer_nbf_is_rejected: defaults,
        |f| vec![f.minted_with("nbf", json!(now().to_string()))] => reject("token claim `nbf` is invalid");
    non_integer_iat_is_rejected: defaults,
        |f| vec![f.minted_with("iat", json!(now() as f64 + 0.5))] => reject("token claim `iat` is invalid");
    missing_exp_is_rejected: defaults,
        |f| vec![f.minted_without("exp")] => reject("token lacks the `exp` claim");

    // --- issuer, audience, subject ---------------------------------------------------
    missing_iss_is_rejected: defaults,
        |f| vec![f.minted_without("iss")] => reject("token lacks the `iss` claim");
    wrong_iss_is_rejected: defaults,
        |f| {
            let env = f.idp.url();
            [
                "https://attacker.scalekit.com".to_owned(),
                format!("{env}/"),
                format!("{env}/resources/res_999"),
                format!("{env}/resources/{}/", f.idp.res_id()),
            ]
            .into_iter()
            .map(|iss| f.minted_with("iss", json!(iss)))
            .collect()
        } => reject("wrong issuer");
    both_scalekit_issuer_forms_are_accepted: defaults,
        |f| vec![
            f.minted_with("iss", json!(f.idp.url())),
            f.minted_with("iss", json!(f.idp.resource_issuer())),
        ] => accept();
    missing_aud_is_rejected: defaults,
        |f| vec![f.minted_without("aud")] => reject("token lacks the `aud` claim");
    wrong_aud_is_rejected: defaults,
        |f| [
            json!(["res_999"]),
            json!(["http://127.0.0.1:1/mcp", "res_1"]),
            json!("https://other.example/mcp"),
            json!([format!("{MCP_URL}/")]),
            json!([]),
        ]
        .into_iter()
        .map(|aud| f.minted_with("aud", aud))
        .collect() => reject("wrong audience");
    aud_with_only_the_resource_id_is_accepted: defaults,
        |f| vec![f.minted_with("aud", json!([f.idp.res_id()]))] => accept();
    aud_with_only_the_mcp_url_is_accepted: defaults,
        |f| vec![f.minted_with("aud", json!([MCP_URL]))] => accept();
    aud_as_a_string_is_accepted: defaults,
        |f| vec![f.minted_with("aud", json!(f.idp.res_id()))] => accept();
    missing_sub_is_rejected: defaults,
        |f| vec![f.minted_without("sub")] => reject("token lacks the `sub` claim");
    empty_or_non_string_sub_is_rejected: defaults,
        |f| vec![f.minted_with("sub", json!("")), f.minted_with("sub", json!(42))]
        => reject("token claim `sub` is invalid");

    // --- structure -------------------------------------------------------------------
    token_without_three_segments_is_malformed: defaults,
        |f| {
            let valid = f.token();
            let parts: Vec<&str> = valid.split('.').collect();
            vec![
                parts[0].to_owned(),
                format!("{}.{}", parts[0], parts[1]),
                format!("{valid}.{}", parts[2]),
            ]
        } => reject("malformed token");
    jwe_with_five_segments_is_malformed: defaults,
        |_| {
            let header = b64(br#"{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"snk_1"}"#);
            vec![format!(
                "{header}.{}.{}.{}.{}",
                b64(b"key"),
                b64(b"iv"),
                b64(b"ciphertext"),
                b64(b"tag")
            )]
        } => reject("malformed token");
    /// `+`, `/` and `~` are legal in an RFC 6750 b64token but not in base64url.
    bad_base64_is_malformed: defaults,
        |f| {
            let (header, claims) = segments(f);
            let key = f.signer();
            vec![
                forge_raw(&key, &format!("{header}~"), &claims),
                forge_raw(&key, &header, &format!("{claims}+/")),
                forge_raw(&key, "e", &claims),
            ]
        } => reject("malformed token");
    bad_json_is_malformed: defaults,
        |f| {
            let (header, claims) = segments(f);
            let key = f.signer();
            vec![
                forge_raw(&key, &b64(b"{\"alg\":\"RS256\","), &claims),
                forge_raw(&key, &b64(b"[\"RS256\"]"), &claims),
                forge_raw(&key, &header, &b64(b"not json at all")),
                forge_raw(&key, &header, &b64(b"[1,2,3]")),
            ]
        } => reject("malformed token");
    tampered_claims_fail_the_signature_check: defaults,
        |f| {
            let token = f.token();
            let parts: Vec<&str> = token.split('.').collect();
            let claims = with(f.claims(), "sub", json!("usr_admin"));
            vec![format!("{}.{}.{}", parts[0], b64(claims.to_string().as_bytes()), parts[2])]
        } => reject("invalid signature");

    // --- scopes ----------------------------------------------------------------------
    scope_scopes_and_scp_union_satisfies_required_scopes: requires_three_scopes,
        |f| {
            let claims = with(f.claims(), "scope", json!("openid todo:read"));
            let claims = with(claims, "scopes", json!(["todo:write"]));
            vec![f.mint(&with(claims, "scp", json!(["admin"])))]
        } => accept();
    /// The answer asks for what the token has plus what it lacks.
    token_lacking_a_required_scope_is_insufficient_scope: requires_read_and_write,
        |f| vec![f.minted_with("scope", json!("openid todo:read"))]
        => forbidden("this resource requires scope: openid todo:read todo:write");
}

/// The verified-token cache remembers a token, never past its `exp`.
#[tokio::test]
async fn a_token_accepted_earlier_is_rejected_once_it_expires() {
    // Leeway 0, so the token is valid exactly while `now <= exp`. Nothing here
    // depends on how fast the machine is: an attempt that was too slow to
    // check the token while it was still valid proves nothing and is retried
    // with a fresh token, and the rejection is checked only once the wall
    // clock is past `exp`.
    let fixture = Fixture::start(no_leeway).await;
    let mut attempts = 0;
    let (token, exp) = loop {
        attempts += 1;
        let exp = now() + 5;
        let token = fixture.minted_with("exp", json!(exp));
        let first = fixture.authenticate(&token).await;
        let again = fixture.authenticate(&token).await;
        if now() <= exp {
            // Both checks ran while the token was valid: both must accept.
            first.unwrap_or_else(|e| panic!("valid token rejected: {e:?}"));
            again.unwrap_or_else(|e| panic!("valid token rejected from the cache: {e:?}"));
            break (token, exp);
        }
        assert!(
            attempts < 5,
            "{attempts} attempts each took over 5 s to check a token"
        );
    };
    // Wait for the wall clock to pass `exp` (bounded, in case it stands still).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while now() <= exp {
        assert!(
            std::time::Instant::now() < deadline,
            "the clock did not pass exp"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let error = fixture.authenticate(&token).await.unwrap_err();
    assert_eq!(error.description().as_deref(), Some("token expired"));
}
