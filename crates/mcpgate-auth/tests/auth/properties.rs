//! Property tests of the validation rules: scope tokens and sets, the
//! canonical form of URLs and the metadata URL derived from them, the
//! `Authorization: Bearer` grammar, and the challenge a refused request gets.
//! (`fuzz/` explores the same code coverage-guided; these run with `cargo test`.)

use std::future::poll_fn;

use axum::body::Body;
use axum::extract::Request;
use http::header::{AUTHORIZATION, HOST, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use mcpgate_auth::http::ProtectedEndpoint;
use mcpgate_auth::jwks::{JwksCache, JwksConfig};
use mcpgate_auth::types::InvalidValue;
use mcpgate_auth::verify::{JwtVerifier, SigningAlgorithm, VerifierSettings};
use mcpgate_auth::{
    AuthError, EnvironmentUrl, McpUrl, ProtectedResource, Scope, ScopeSet, TokenRejection,
    bearer_token,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower_service::Service;

/// RFC 6749 §3.3 `scope-token`: `1*( %x21 / %x23-5B / %x5D-7E )`.
const SCOPE_TOKEN: &str = "[!#-\\[\\]-~]{1,16}";

fn is_scope_char(c: char) -> bool {
    matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')
}

/// A character no scope token may contain.
fn forbidden_scope_char() -> impl Strategy<Value = char> {
    prop_oneof![
        Just(' '),
        Just('"'),
        Just('\\'),
        Just('\x7f'),
        prop::char::range('\0', '\x1f'),
        prop::char::range('\u{80}', '\u{10ffff}'),
    ]
}

/// First occurrences, in order.
fn dedup(items: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}

proptest! {
    #[test]
    fn scope_sets_round_trip_through_their_space_separated_form(
        scopes in prop::collection::vec(SCOPE_TOKEN, 0..8)
    ) {
        let set = ScopeSet::parse(scopes.clone()).expect("valid scope tokens");
        let distinct = dedup(&scopes);
        prop_assert_eq!(set.iter().collect::<Vec<_>>(), distinct.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert_eq!(set.len(), distinct.len());
        let text = set.to_space_separated();
        prop_assert_eq!(&set.to_string(), &text);
        prop_assert_eq!(&ScopeSet::from_space_separated_lenient(&text), &set);
        prop_assert_eq!(&ScopeSet::parse(set.iter()).expect("still valid"), &set);
        prop_assert_eq!(serde_json::to_value(&set).expect("serialises"), json!(distinct));
        prop_assert!(set.contains_all(&set));
        for s in &scopes {
            prop_assert!(set.contains(s));
        }
    }

    #[test]
    fn a_scope_with_a_forbidden_character_is_refused(
        prefix in "[!#-\\[\\]-~]{0,8}",
        bad in forbidden_scope_char(),
        suffix in "[!#-\\[\\]-~]{0,8}",
    ) {
        let raw = format!("{prefix}{bad}{suffix}");
        prop_assert_eq!(Scope::new(raw.clone()), Err(InvalidValue::BadScope(raw.clone())));
        prop_assert!(ScopeSet::parse(["mcp:tools".to_owned(), raw]).is_err());
    }

    #[test]
    fn scope_validity_is_exactly_rfc_6749(raw in prop_oneof![any::<String>(), "[ -~\t]{0,12}"]) {
        let valid = !raw.is_empty() && raw.chars().all(is_scope_char);
        prop_assert_eq!(Scope::new(raw.clone()).is_ok(), valid, "{:?}", raw);
    }

    #[test]
    fn lenient_reading_keeps_exactly_the_valid_tokens(
        raw in prop_oneof![any::<String>(), "[ -~\t\n]{0,40}"]
    ) {
        let set = ScopeSet::from_space_separated_lenient(&raw);
        let valid: Vec<String> = raw
            .split_ascii_whitespace()
            .filter(|t| Scope::new(*t).is_ok())
            .map(str::to_owned)
            .collect();
        let expected = dedup(&valid);
        prop_assert_eq!(set.iter().collect::<Vec<_>>(), expected.iter().map(String::as_str).collect::<Vec<_>>());
    }
}

/// `scheme://host[:port]/seg/…[/]` with mixed-case schemes and hosts, loopback
/// and IP hosts, default and explicit ports, dot segments and empty segments.
fn http_url() -> impl Strategy<Value = String> {
    let scheme = prop_oneof![Just("http"), Just("https"), Just("HTTP"), Just("Https")];
    let host = prop_oneof![
        "[a-z][a-z0-9]{0,8}(\\.[a-z]{2,4}){0,2}",
        "[A-Z][A-Za-z]{0,5}\\.Example",
        Just("localhost".to_owned()),
        Just("127.0.0.1".to_owned()),
        Just("[::1]".to_owned()),
    ];
    let port = prop_oneof![
        Just(String::new()),
        (1u16..=u16::MAX).prop_map(|p| format!(":{p}"))
    ];
    let segment = prop_oneof![
        4 => "[A-Za-z0-9_~-]{1,6}",
        1 => Just(".".to_owned()),
        1 => Just("..".to_owned()),
        1 => Just(String::new()),
    ];
    let path = prop::collection::vec(segment, 0..4);
    (scheme, host, port, path, any::<bool>()).prop_map(|(scheme, host, port, path, slash)| {
        let mut url = format!("{scheme}://{host}{port}");
        for s in path {
            url.push('/');
            url.push_str(&s);
        }
        if slash {
            url.push('/');
        }
        url
    })
}

/// A path ending in `//`: its canonical form (one trailing `/` dropped) would
/// not parse back to itself, so it is refused.
fn ends_in_empty_segment(raw: &str) -> bool {
    url::Url::parse(raw).is_ok_and(|u| u.path().ends_with("//"))
}

proptest! {
    #[test]
    fn mcp_urls_have_one_canonical_form_and_a_consistent_metadata_url(raw in http_url()) {
        if ends_in_empty_segment(&raw) {
            prop_assert!(matches!(McpUrl::parse(&raw), Err(InvalidValue::UnexpectedPart(_))));
            return Ok(());
        }
        let url = McpUrl::parse(&raw).expect("an absolute http(s) URL");
        let canonical = url.as_str();
        prop_assert!(!canonical.ends_with('/'), "{canonical}");
        prop_assert!(canonical.starts_with("http://") || canonical.starts_with("https://"));
        let again = McpUrl::parse(canonical).expect("the canonical form parses");
        prop_assert_eq!(again.as_str(), canonical, "canonical form of {} is not stable", raw);
        prop_assert_eq!(again.path(), url.path());
        prop_assert_eq!(again.origin(), url.origin());
        prop_assert_eq!(again.protected_resource_metadata_url(), url.protected_resource_metadata_url());

        // The resource is its origin and its path; the metadata URL puts the
        // well-known prefix between the two (RFC 9728 §3.1).
        let suffix = if url.path() == "/" { "" } else { url.path() };
        prop_assert_eq!(canonical, format!("{}{suffix}", url.origin()));
        let prm = url.protected_resource_metadata_url();
        prop_assert_eq!(&prm, &format!("{}/.well-known/oauth-protected-resource{suffix}", url.origin()));
        let parsed = url::Url::parse(&prm).expect("the metadata URL is a URL");
        prop_assert_eq!(parsed.origin().ascii_serialization(), url.origin());
        prop_assert_eq!(parsed.as_str(), prm.as_str());
    }

    #[test]
    fn environment_urls_have_one_canonical_form(raw in http_url(), path in "/?[a-z/]{0,12}") {
        if ends_in_empty_segment(&raw) {
            prop_assert!(matches!(EnvironmentUrl::parse(&raw), Err(InvalidValue::UnexpectedPart(_))));
            return Ok(());
        }
        let env = EnvironmentUrl::parse(&raw).expect("an absolute http(s) URL");
        let canonical = env.as_str();
        prop_assert!(!canonical.ends_with('/'), "{canonical}");
        let again = EnvironmentUrl::parse(canonical).expect("the canonical form parses");
        prop_assert_eq!(again.as_str(), canonical, "canonical form of {} is not stable", raw);
        prop_assert_eq!(env.join(&path), format!("{canonical}/{}", path.trim_start_matches('/')));
    }

    #[test]
    fn url_parsing_never_panics_and_accepts_only_http(
        raw in prop_oneof![any::<String>(), "(https?|ftp|HTTP)://[ -~]{0,30}", "[ -~]{0,30}"]
    ) {
        if let Ok(url) = McpUrl::parse(&raw) {
            prop_assert!(matches!(url.url().scheme(), "http" | "https"));
            prop_assert!(url.url().fragment().is_none() && url.url().query().is_none());
            prop_assert!(url.url().username().is_empty() && url.url().password().is_none());
            prop_assert!(McpUrl::parse(url.as_str()).is_ok());
        }
        if let Ok(env) = EnvironmentUrl::parse(&raw) {
            prop_assert!(EnvironmentUrl::parse(env.as_str()).is_ok());
        }
    }
}

fn authorization(values: &[&[u8]]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for v in values {
        headers.append(
            AUTHORIZATION,
            HeaderValue::from_bytes(v).expect("a header value"),
        );
    }
    headers
}

/// RFC 6750 §2.1 `b64token`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// The token of `OWS "Bearer" 1*(SP / HTAB) b64token OWS` (scheme in any case).
fn well_formed(value: &str) -> Option<&str> {
    let s = value.trim_matches([' ', '\t']);
    let scheme = s.get(..6)?;
    let rest = s.get(6..)?;
    let token = rest.trim_start_matches([' ', '\t']);
    (scheme.eq_ignore_ascii_case("bearer") && token.len() < rest.len() && is_b64token(token))
        .then_some(token)
}

proptest! {
    #[test]
    fn every_bearer_header_of_the_rfc_6750_form_is_accepted(
        scheme in "[bB][eE][aA][rR][eE][rR]",
        lead in "[ \t]{0,2}",
        sep in "[ \t]{1,3}",
        token in "[A-Za-z0-9._~+/-]{1,40}={0,2}",
        trail in "[ \t]{0,2}",
    ) {
        let value = format!("{lead}{scheme}{sep}{token}{trail}");
        let headers = authorization(&[value.as_bytes()]);
        let accepted = bearer_token(&headers, 8192).expect("a well-formed bearer header");
        prop_assert_eq!(accepted.secret(), token.as_str());
        prop_assert_eq!(
            bearer_token(&headers, token.len() - 1),
            Err(AuthError::InvalidToken(TokenRejection::TooLarge))
        );
    }

    #[test]
    fn every_other_header_is_refused(value in prop_oneof!["[ -~\t]{0,40}", "(Bearer|bearer|Basic) [ -~\t]{0,30}"]) {
        let headers = authorization(&[value.as_bytes()]);
        let result = bearer_token(&headers, 8192);
        match well_formed(&value) {
            Some(token) => prop_assert_eq!(result.map(|t| t.secret().to_owned()), Ok(token.to_owned())),
            None => {
                let scheme = value.trim().split([' ', '\t']).next().unwrap_or("");
                let expected_missing = !scheme.eq_ignore_ascii_case("bearer");
                match result {
                    Err(AuthError::MissingToken) => prop_assert!(expected_missing, "{:?}", value),
                    Err(AuthError::InvalidRequest(_)) => prop_assert!(!expected_missing, "{:?}", value),
                    other => prop_assert!(false, "{:?} gave {:?}", value, other),
                }
            }
        }
    }

    #[test]
    fn arbitrary_header_bytes_never_panic(
        values in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..48), 0..3)
    ) {
        let values: Vec<&[u8]> = values
            .iter()
            .map(Vec::as_slice)
            .filter(|v| HeaderValue::from_bytes(v).is_ok())
            .collect();
        let result = bearer_token(&authorization(&values), 8192);
        if values.len() > 1 {
            prop_assert!(matches!(result, Err(AuthError::InvalidRequest(_))), "{:?}", result);
        }
        if let Err(e) = result {
            prop_assert!(matches!(e.status(), StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED));
        }
    }
}

/// Splits `Bearer name="value", …` into its parameters, unescaping each
/// quoted-string (RFC 9110 §5.6.4); `None` if it is not that shape.
fn parse_challenge(header: &str) -> Option<Vec<(String, String)>> {
    let mut rest = header.strip_prefix("Bearer ")?;
    let mut params = Vec::new();
    loop {
        let (name, after) = rest.split_once("=\"")?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return None;
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (_, '\\') => value.push(chars.next()?.1),
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        params.push((name.to_owned(), value));
        rest = &after[end + 1..];
        if rest.is_empty() {
            return Some(params);
        }
        rest = rest.strip_prefix(", ")?;
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A protected endpoint at `mcp_url` requiring `scopes` and accepting `alg`,
/// over a key cache that is never contacted: every request below is refused
/// before a key is needed.
fn endpoint(mcp_url: &McpUrl, scopes: &[String], alg: SigningAlgorithm) -> axum::Router {
    let keys = JwksCache::new("http://127.0.0.1:9/keys", JwksConfig::default());
    let verifier = JwtVerifier::new(
        keys,
        VerifierSettings::new(["https://auth.example.com"], [mcp_url.as_str()], [alg]),
    )
    .expect("valid settings");
    let resource = ProtectedResource::builder(mcp_url.clone(), verifier)
        .authorization_server("https://auth.example.com")
        .required_scopes(scopes.iter().cloned())
        .build()
        .expect("a valid resource");
    ProtectedEndpoint::new(resource)
        .into_router(axum::routing::post(|| async { "{}" }))
        .expect("a valid endpoint")
}

async fn send(router: &mut axum::Router, request: Request) -> (StatusCode, HeaderMap, Vec<u8>) {
    poll_fn(|cx| <axum::Router as Service<Request>>::poll_ready(router, cx))
        .await
        .expect("infallible");
    let response = <axum::Router as Service<Request>>::call(router, request)
        .await
        .expect("infallible");
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .expect("an in-memory body");
    (parts.status, parts.headers, body.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_refusal_carries_a_well_formed_challenge(
        // Zero segments included: a root MCP URL (`https://host`) once made
        // `into_router` register its metadata route twice (an axum panic).
        path in prop::collection::vec("[A-Za-z0-9_~-]{1,6}", 0..3),
        scopes in prop::collection::vec(SCOPE_TOKEN, 0..4),
        credentials in prop_oneof![
            Just(vec![]),
            Just(vec!["Bearer not.a.jwt".to_owned()]),
            Just(vec!["Basic dXNlcjpwYXNz".to_owned()]),
            Just(vec!["Bearer a".to_owned(), "Bearer b".to_owned()]),
            "Bearer [ -~]{1,30}".prop_map(|v| vec![v]),
        ],
        // The answer must not depend on the key type the verifier expects.
        alg in prop::sample::select(vec![
            SigningAlgorithm::Rs256,
            SigningAlgorithm::Es256,
            SigningAlgorithm::EdDsa,
        ]),
    ) {
        let mcp_url = McpUrl::parse(&format!("https://mcp.example.com/{}", path.join("/")))
            .expect("a valid URL");
        let required = ScopeSet::parse(scopes.clone()).expect("valid scopes");
        let mut router = endpoint(&mcp_url, &scopes, alg);
        let (status, headers, prm) = runtime().block_on(async {
            let mut request = Request::builder()
                .method(Method::POST)
                .uri(mcp_url.path())
                .header(HOST, "mcp.example.com");
            for c in &credentials {
                request = request.header(AUTHORIZATION, c.as_str());
            }
            let (status, headers, _) =
                send(&mut router, request.body(Body::from("{}")).expect("a request")).await;
            let prm_path = url::Url::parse(&mcp_url.protected_resource_metadata_url())
                .expect("a URL")
                .path()
                .to_owned();
            let document = Request::get(prm_path)
                .header(HOST, "mcp.example.com")
                .body(Body::empty())
                .expect("a request");
            let (prm_status, _, prm) = send(&mut router, document).await;
            assert_eq!(prm_status, StatusCode::OK, "the metadata URL serves the document");
            (status, headers, prm)
        });

        let prm: Value = serde_json::from_slice(&prm).expect("JSON metadata");
        prop_assert_eq!(&prm["resource"], &json!(mcp_url.as_str()));

        prop_assert!(matches!(status, StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST), "{}", status);
        let challenge = headers
            .get(WWW_AUTHENTICATE)
            .expect("a challenge")
            .to_str()
            .expect("a visible-ASCII challenge");
        let params = parse_challenge(challenge);
        prop_assert!(params.is_some(), "malformed challenge {:?}", challenge);
        let params = params.unwrap_or_default();
        let get = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        for (i, (name, _)) in params.iter().enumerate() {
            prop_assert!(!params[..i].iter().any(|(n, _)| n == name), "{} repeated", name);
        }
        let metadata_url = mcp_url.protected_resource_metadata_url();
        prop_assert_eq!(get("resource_metadata"), Some(metadata_url.as_str()));
        let expected_scope = required.to_space_separated();
        prop_assert_eq!(get("scope"), (!required.is_empty()).then_some(expected_scope.as_str()));
        let missing = credentials.is_empty() || credentials[0].starts_with("Basic");
        prop_assert_eq!(get("error").is_none(), missing, "{:?}", challenge);
    }
}
