//! The README's "Identity providers" examples are real: every environment
//! block is read by `providers::from_vars` and every `[auth]` table parsed as
//! the gateway parses it, and each builds a protected resource. (The Rust
//! block there is compiled with `mcpgate`'s doc tests.)

use std::collections::BTreeSet;

use mcpgate_auth::Env;
use mcpgate_auth::providers::{self, ProviderConfig};

const MCP_URL: &str = "https://mcp.example.com/mcp";

/// The README's "Identity providers" section.
fn section() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let start = readme
        .find("\n## Identity providers\n")
        .expect("an Identity providers section");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end].to_owned()
}

/// The bodies of the fenced blocks tagged `lang`.
fn blocks(text: &str, lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match &mut current {
            None if line.trim_end() == format!("```{lang}") => current = Some(String::new()),
            Some(_) if line.trim_end() == "```" => out.extend(current.take()),
            Some(body) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    out
}

#[derive(serde::Deserialize)]
struct GatewayFile {
    auth: ProviderConfig,
}

#[test]
fn every_environment_example_builds_its_provider() {
    let examples = blocks(&section(), "sh");
    assert_eq!(examples.len(), 8, "one per provider but `multi`");
    for example in examples {
        let pairs: Vec<(String, String)> = example
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .map(|l| {
                let (k, v) = l.split_once('=').expect("NAME=value");
                (k.trim().to_owned(), v.trim().to_owned())
            })
            .collect();
        let provider = providers::from_vars(&Env::from_pairs(pairs))
            .unwrap_or_else(|e| panic!("{e}\n{example}"))
            .unwrap_or_else(|| panic!("no provider selected by\n{example}"));
        let resource = provider
            .build()
            .unwrap_or_else(|e| panic!("{e}\n{example}"));
        assert_eq!(resource.resource().as_str(), MCP_URL, "{example}");
    }
}

#[test]
fn every_toml_example_builds_its_provider() {
    let examples = blocks(&section(), "toml");
    let env = Env::from_pairs([("INTROSPECTION_CLIENT_SECRET", "example-secret")]);
    let mut names = BTreeSet::new();
    for example in &examples {
        let file: GatewayFile =
            toml::from_str(example).unwrap_or_else(|e| panic!("{e}\n{example}"));
        let resource = file
            .auth
            .build_with_env(&env, None)
            .unwrap_or_else(|e| panic!("{}\n{example}", e.within("auth")));
        assert_eq!(resource.resource().as_str(), MCP_URL, "{example}");
        names.insert(file.auth.name());
        match &file.auth {
            ProviderConfig::Introspection(_) => {
                assert!(resource.jwt_verifiers().is_empty());
                assert!(resource.opaque_verifier().is_some());
            }
            ProviderConfig::Multi(_) => {
                assert_eq!(resource.jwt_verifiers().len(), 2);
                assert_eq!(resource.authorization_servers().len(), 2);
            }
            _ => {}
        }
    }
    let expected: BTreeSet<&str> = [
        "scalekit",
        "oidc",
        "auth0",
        "workos",
        "keycloak",
        "entra",
        "descope",
        "introspection",
        "multi",
    ]
    .into();
    assert_eq!(names, expected);
    assert!(
        examples.iter().any(|e| e.contains("[auth.introspection]")),
        "the mixed JWT + introspection example"
    );
}
