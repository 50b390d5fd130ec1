//! OAuth form and query parameters as the dev authorization server's
//! endpoints read them, and the values they carry: `scope` lists,
//! `redirect_uri` rules and matching, `client_id` metadata-document URLs.
//!
//! Input: an `application/x-www-form-urlencoded` body or query string.
//!
//! Asserts:
//! - a parse succeeds exactly when no parameter other than `resource` has
//!   two non-empty values; then every non-empty parameter reads back as sent,
//!   empty ones read as absent, and `resource` keeps every value in order;
//! - what was parsed survives re-encoding and parsing again;
//! - a split `scope` has no empty or repeated entries, keeps first-seen
//!   order, and splitting its own joined form changes nothing;
//! - an accepted `redirect_uri` is absolute, has no fragment, uses https with
//!   a host, http on a loopback host, or a private-use scheme that cannot run
//!   code in a browser, and designates itself;
//! - a loopback IP `http` redirect URI also matches on any other port, and
//!   nothing else matches across ports;
//! - an accepted metadata-document `client_id` is its own normalized URL,
//!   http(s), with a path, no fragment, no credentials.

#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use mcpgate_dev_as::__fuzz::{
    check_metadata_url, find_redirect_uri, is_metadata_url, parse_params, split_scopes,
    validate_redirect_uri,
};
use url::{Host, Url};

fn loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn check_scopes(scope: &str) {
    let split = split_scopes(scope);
    for (i, s) in split.iter().enumerate() {
        assert!(!s.is_empty() && !s.contains(' '), "bad scope entry {s:?}");
        assert!(!split[..i].contains(s), "repeated scope {s:?}");
    }
    let firsts: Vec<&str> = {
        let mut seen: Vec<&str> = Vec::new();
        for s in scope.split(' ').filter(|s| !s.is_empty()) {
            if !seen.contains(&s) {
                seen.push(s);
            }
        }
        seen
    };
    assert_eq!(split, firsts, "scope split out of order");
    assert_eq!(
        split_scopes(&split.join(" ")),
        split,
        "scope split not idempotent"
    );
}

fn check_redirect_uri(uri: &str) {
    let Ok(()) = validate_redirect_uri(uri) else {
        return;
    };
    let url = Url::parse(uri).expect("an accepted redirect URI parses");
    assert!(url.fragment().is_none(), "accepted a fragment: {uri:?}");
    match url.scheme() {
        "https" => assert!(url.host().is_some(), "accepted https without host: {uri:?}"),
        "http" => assert!(
            loopback(&url),
            "accepted http to a non-loopback host: {uri:?}"
        ),
        s => assert!(
            ![
                "javascript",
                "data",
                "file",
                "vbscript",
                "blob",
                "about",
                "ftp",
                "ws",
                "wss"
            ]
            .contains(&s),
            "accepted scheme {s:?}"
        ),
    }
    let registered = vec![uri.to_owned()];
    assert_eq!(
        find_redirect_uri(&registered, uri).as_deref(),
        Some(uri),
        "a redirect URI does not designate itself"
    );
    let loopback_ip = url.scheme() == "http"
        && matches!(url.host(), Some(Host::Ipv4(_) | Host::Ipv6(_)))
        && loopback(&url);
    for port in [1u16, 8080, 65535] {
        let mut other = url.clone();
        if other.set_port(Some(port)).is_err() || other.as_str() == uri {
            continue;
        }
        let found = find_redirect_uri(&registered, other.as_str());
        if loopback_ip {
            assert!(found.is_some(), "loopback {uri:?} refused port {port}");
        } else if url.port_or_known_default() != Some(port) {
            assert!(found.is_none(), "{uri:?} matched {other} on another port");
        }
    }
}

fn check_client_id(client_id: &str) {
    let Ok(url) = check_metadata_url(client_id) else {
        return;
    };
    assert!(
        is_metadata_url(client_id),
        "{client_id:?} accepted but not a metadata URL"
    );
    assert_eq!(
        url.as_str(),
        client_id,
        "accepted a non-normalized client_id"
    );
    // http passes the URL rules; the resolver's fetch policy then allows it
    // only for configured loopback hosts.
    assert!(
        matches!(url.scheme(), "https" | "http"),
        "accepted client_id scheme {:?}",
        url.scheme()
    );
    assert!(url.fragment().is_none() && url.username().is_empty() && url.password().is_none());
    assert_ne!(url.path(), "/", "accepted a client_id without a path");
}

fuzz_target!(|data: &[u8]| {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(data)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (k, v) in &pairs {
        if !v.is_empty() && k != "resource" {
            *counts.entry(k).or_default() += 1;
        }
    }
    let repeated = counts.values().any(|n| *n > 1);
    let parsed = parse_params(data);
    let params = match parsed {
        Ok(p) => p,
        Err(e) => {
            assert!(repeated, "refused parameters with nothing repeated: {e}");
            return;
        }
    };
    assert!(!repeated, "accepted a repeated parameter");
    let resources: Vec<&str> = pairs
        .iter()
        .filter(|(k, v)| k == "resource" && !v.is_empty())
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(params.resources(), resources.as_slice());
    for (k, v) in &pairs {
        if k == "resource" {
            continue;
        }
        if !v.is_empty() {
            assert_eq!(params.get(k), Some(v.as_str()), "{k} does not read back");
        } else if !counts.contains_key(k.as_str()) {
            assert_eq!(params.get(k), None, "empty {k} reads as present");
        }
    }

    let mut again = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &pairs {
        if !v.is_empty() {
            again.append_pair(k, v);
        }
    }
    let again = again.finish();
    let reparsed = parse_params(again.as_bytes()).expect("re-encoded parameters parse");
    assert_eq!(reparsed.resources(), params.resources());
    for k in counts.keys() {
        assert_eq!(
            reparsed.get(k),
            params.get(k),
            "{k} changed in a round trip"
        );
    }

    if let Some(scope) = params.get("scope") {
        check_scopes(scope);
    }
    for name in ["redirect_uri", "resource"] {
        if let Some(uri) = params.get(name) {
            check_redirect_uri(uri);
        }
    }
    for uri in params.resources() {
        check_redirect_uri(uri);
    }
    if let Some(client_id) = params.get("client_id") {
        check_client_id(client_id);
    }
    // Input that is no form at all is taken as one value of each kind.
    if !data.contains(&b'=')
        && let Ok(raw) = std::str::from_utf8(data)
    {
        check_scopes(raw);
        check_redirect_uri(raw);
        check_client_id(raw);
    }
});
