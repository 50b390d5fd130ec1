//! Client metadata (RFC 7591) as dynamic registration and Client ID Metadata
//! Documents validate it.
//!
//! Input: the first line is a `client_id` (the URL a metadata document was
//! fetched from), the rest a JSON document.
//!
//! Asserts, for registration (default `client_secret_basic`, the server's
//! scopes) and for documents (default `none`, any scope):
//! - accepted metadata keeps the rules: supported grant types, response type
//!   `code` only, a confidential client for `client_credentials`, redirect URIs
//!   for `authorization_code`, each redirect URI valid and designating
//!   itself, scopes within the server's, a name of at most 256 characters;
//! - the normalized form carries no server-assigned field, states the
//!   validated values, and validates again to itself (a stored client can
//!   always be loaded back);
//! - an accepted document names exactly the URL it came from, a valid
//!   metadata-document URL, and a public client.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mcpgate_dev_as::__fuzz::{
    Metadata, check_metadata_url, client_metadata, find_redirect_uri, metadata_document,
    validate_redirect_uri,
};
use mcpgate_fuzz::split_line;
use serde_json::{Value, json};

const SERVER_FIELDS: [&str; 6] = [
    "client_id",
    "client_secret",
    "client_id_issued_at",
    "client_secret_expires_at",
    "registration_access_token",
    "registration_client_uri",
];

fn check(m: &Metadata, default_auth: &str, supported: Option<&[String]>) {
    assert!(
        ["none", "client_secret_post", "client_secret_basic"].contains(&m.auth_method),
        "auth method {:?}",
        m.auth_method
    );
    assert!(!m.grant_types.is_empty(), "no grant type");
    for g in &m.grant_types {
        assert!(
            ["authorization_code", "refresh_token", "client_credentials"].contains(&g.as_str()),
            "grant type {g:?}"
        );
    }
    if m.grant_types.iter().any(|g| g == "client_credentials") {
        assert_ne!(
            m.auth_method, "none",
            "client_credentials for a public client"
        );
    }
    if m.grant_types.iter().any(|g| g == "authorization_code") {
        assert!(
            !m.redirect_uris.is_empty(),
            "authorization_code without redirect URIs"
        );
    }
    for uri in &m.redirect_uris {
        assert!(
            validate_redirect_uri(uri).is_ok(),
            "kept redirect URI {uri:?}"
        );
        assert!(
            find_redirect_uri(&m.redirect_uris, uri).is_some(),
            "{uri:?} does not designate itself"
        );
    }
    if let (Some(scopes), Some(supported)) = (&m.scope, supported) {
        for s in scopes {
            assert!(supported.contains(s), "scope {s:?} not supported");
        }
    }
    if let Some(scopes) = &m.scope {
        for s in scopes {
            assert!(!s.is_empty() && !s.contains(' '), "scope entry {s:?}");
        }
    }
    if let Some(name) = &m.client_name {
        assert!(name.chars().count() <= 256, "client_name too long");
    }

    let n = &m.normalized;
    for field in SERVER_FIELDS {
        assert!(!n.contains_key(field), "normalized metadata keeps {field}");
    }
    assert_eq!(
        n.get("token_endpoint_auth_method"),
        Some(&json!(m.auth_method))
    );
    assert_eq!(n.get("grant_types"), Some(&json!(m.grant_types)));
    assert_eq!(n.get("redirect_uris"), Some(&json!(m.redirect_uris)));
    let response_types = n
        .get("response_types")
        .and_then(Value::as_array)
        .expect("normalized response_types");
    assert!(
        response_types.iter().all(|r| r == "code"),
        "response types {response_types:?}"
    );

    let again = client_metadata(Value::Object(n.clone()), default_auth, supported)
        .unwrap_or_else(|e| panic!("normalized metadata refused: {e:?}"));
    assert_eq!(
        &again.normalized, n,
        "normalizing twice changed the metadata"
    );
    assert_eq!(again.auth_method, m.auth_method);
    assert_eq!(again.scope, m.scope);
    assert_eq!(again.client_name, m.client_name);
    // What the store keeps is loaded back with the registration default and no scope list.
    client_metadata(Value::Object(n.clone()), "client_secret_basic", None)
        .unwrap_or_else(|e| panic!("a stored client cannot be loaded: {e:?}"));
}

fuzz_target!(|data: &[u8]| {
    let (client_id, body) = split_line(data);
    let Ok(document) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let supported: Vec<String> = ["mcp:tools", "mcp:resources", "offline_access"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    for (default_auth, scopes) in [
        ("client_secret_basic", Some(supported.as_slice())),
        ("none", None),
    ] {
        match client_metadata(document.clone(), default_auth, scopes) {
            Ok(m) => check(&m, default_auth, scopes),
            Err((code, _)) => assert!(
                code == "invalid_client_metadata" || code == "invalid_redirect_uri",
                "error code {code:?}"
            ),
        }
    }

    let Ok(client_id) = std::str::from_utf8(client_id) else {
        return;
    };
    if let Ok(client) = metadata_document(client_id, body) {
        assert!(
            check_metadata_url(client_id).is_ok(),
            "document from a bad URL accepted"
        );
        assert_eq!(client.client_id, client_id);
        assert_eq!(
            document.get("client_id").and_then(Value::as_str),
            Some(client_id),
            "a document for another client_id accepted"
        );
        assert_eq!(
            client.auth_method, "none",
            "a metadata document made a confidential client"
        );
        let m = client_metadata(document, "none", None)
            .unwrap_or_else(|e| panic!("an accepted document fails validation: {e:?}"));
        assert_eq!(client.redirect_uris, m.redirect_uris);
        assert_eq!(client.grant_types, m.grant_types);
        assert_eq!(client.scope, m.scope);
        check(&m, "none", None);
    }
});
