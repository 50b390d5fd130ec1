//! Configuration from variables (`Env::from_pairs`, never the process
//! environment) and from a `.env` file: both naming schemes, and errors that
//! name the exact variable at fault.

use std::path::PathBuf;

use mcpgate::{BearerToken, ConfigError, Env, ProtectedResource, ScalekitProvider};
use serde_json::{Value, json};

use crate::support::StandIn;

const ENV_URL: &str = "https://acme.scalekit.com";
const RES: &str = "res_123456789012345678";
const CLASS: &str = "fastmcp.server.auth.providers.scalekit.ScalekitProvider";
const FM: &str = "FASTMCP_SERVER_AUTH_SCALEKITPROVIDER_";

fn fm(suffix: &str) -> String {
    format!("{FM}{suffix}")
}

fn build(pairs: &[(&str, &str)]) -> Result<ProtectedResource, ConfigError> {
    let env = Env::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    ScalekitProvider::from_vars(&env)?
        .expect("auth variables are set")
        .build()
}

/// Asserts that `resource` accepts a token the stand-in signs for `claims`
/// (its keys are fetched from the stand-in the variables point at).
async fn assert_verifies(resource: &ProtectedResource, idp: &StandIn, claims: &Value) {
    let token = BearerToken::new(idp.mint(claims));
    let access = resource
        .verify(&token)
        .await
        .expect("a token from the configured environment verifies");
    assert_eq!(access.subject(), claims["sub"].as_str().unwrap());
    assert_eq!(
        idp.keys_hits(),
        1,
        "keys fetched from the configured environment"
    );
}

fn document(pairs: &[(&str, &str)]) -> Value {
    build(pairs)
        .expect("valid configuration")
        .metadata_document()
}

#[track_caller]
fn assert_error_names(pairs: &[(&str, &str)], variable: &str) {
    match build(pairs) {
        Ok(_) => panic!("expected an error about {variable}"),
        Err(e) => {
            assert_eq!(e.source_name, variable, "{e}");
            assert!(
                e.to_string().starts_with(variable),
                "message names the variable: {e}"
            );
            assert!(!e.problem.is_empty());
        }
    }
}

// --- Scalekit's names ------------------------------------------------------------------

#[tokio::test]
async fn scalekit_variables_produce_a_working_provider() {
    let doc = document(&[
        ("SCALEKIT_ENVIRONMENT_URL", ENV_URL),
        ("SCALEKIT_RESOURCE_ID", RES),
        ("MCP_URL", "https://mcp.example.com/mcp"),
        ("SCALEKIT_CLIENT_ID", "skc_1"),
    ]);
    assert_eq!(
        doc,
        json!({
            "resource": "https://mcp.example.com/mcp",
            "authorization_servers": [format!("{ENV_URL}/resources/{RES}")],
            "bearer_methods_supported": ["header"],
        })
    );
    let resource = build(&[
        ("SCALEKIT_ENVIRONMENT_URL", &format!("{ENV_URL}/")),
        ("SCALEKIT_RESOURCE_ID", RES),
    ])
    .unwrap();
    assert_eq!(
        resource.jwt_verifier().unwrap().keys().jwks_uri(),
        format!("{ENV_URL}/keys"),
        "trailing slash dropped"
    );

    // Pointed at a (stand-in) environment, the provider verifies its tokens.
    let idp = StandIn::start().await;
    let mcp_url = "https://mcp.example.com/mcp";
    let resource = build(&[
        ("SCALEKIT_ENVIRONMENT_URL", idp.url()),
        ("SCALEKIT_RESOURCE_ID", idp.res_id()),
        ("MCP_URL", mcp_url),
    ])
    .unwrap();
    assert_verifies(&resource, &idp, &idp.user_claims(mcp_url)).await;
}

#[test]
fn mcp_url_defaults_to_localhost_8000() {
    let resource = build(&[
        ("SCALEKIT_ENVIRONMENT_URL", ENV_URL),
        ("SCALEKIT_RESOURCE_ID", RES),
    ])
    .unwrap();
    assert_eq!(resource.resource().as_str(), "http://localhost:8000/mcp");
    assert_eq!(
        resource.metadata_document()["resource"],
        "http://localhost:8000/mcp"
    );
}

#[test]
fn no_auth_variables_means_no_provider() {
    let env = Env::from_pairs([
        ("MCP_URL", "https://mcp.example.com/mcp"),
        ("PATH", "/usr/bin"),
    ]);
    assert!(ScalekitProvider::from_vars(&env).unwrap().is_none());
    assert!(
        ScalekitProvider::from_vars(&Env::from_pairs(Vec::<(String, String)>::new()))
            .unwrap()
            .is_none()
    );
}

#[test]
fn missing_environment_url_names_scalekit_environment_url() {
    assert_error_names(&[("SCALEKIT_RESOURCE_ID", RES)], "SCALEKIT_ENVIRONMENT_URL");
    assert_error_names(
        &[
            ("SCALEKIT_ENVIRONMENT_URL", ""),
            ("SCALEKIT_RESOURCE_ID", RES),
        ],
        "SCALEKIT_ENVIRONMENT_URL",
    );
}

#[test]
fn malformed_environment_url_names_scalekit_environment_url() {
    for bad in [
        "acme.scalekit.com",
        "ftp://acme.scalekit.com",
        "https://acme.scalekit.com/?x=1",
        "https://u:p@acme.scalekit.com",
    ] {
        assert_error_names(
            &[
                ("SCALEKIT_ENVIRONMENT_URL", bad),
                ("SCALEKIT_RESOURCE_ID", RES),
            ],
            "SCALEKIT_ENVIRONMENT_URL",
        );
    }
}

#[test]
fn empty_or_missing_resource_id_names_scalekit_resource_id() {
    assert_error_names(
        &[("SCALEKIT_ENVIRONMENT_URL", ENV_URL)],
        "SCALEKIT_RESOURCE_ID",
    );
    assert_error_names(
        &[
            ("SCALEKIT_ENVIRONMENT_URL", ENV_URL),
            ("SCALEKIT_RESOURCE_ID", ""),
        ],
        "SCALEKIT_RESOURCE_ID",
    );
    assert_error_names(
        &[
            ("SCALEKIT_ENVIRONMENT_URL", ENV_URL),
            ("SCALEKIT_RESOURCE_ID", "   "),
        ],
        "SCALEKIT_RESOURCE_ID",
    );
    assert_error_names(
        &[
            ("SCALEKIT_ENVIRONMENT_URL", ENV_URL),
            ("SCALEKIT_RESOURCE_ID", "res_1 res_2"),
        ],
        "SCALEKIT_RESOURCE_ID",
    );
}

#[test]
fn malformed_mcp_url_names_mcp_url() {
    for bad in [
        "localhost:8000/mcp",
        "",
        "https://mcp.example.com/mcp?x=1",
        "https://mcp.example.com/mcp#frag",
        "ws://h/mcp",
    ] {
        assert_error_names(
            &[
                ("SCALEKIT_ENVIRONMENT_URL", ENV_URL),
                ("SCALEKIT_RESOURCE_ID", RES),
                ("MCP_URL", bad),
            ],
            "MCP_URL",
        );
    }
}

// --- FastMCP's names ----------------------------------------------------------------------

#[tokio::test]
async fn fastmcp_variables_produce_a_working_provider() {
    let doc = document(&[
        ("FASTMCP_SERVER_AUTH", CLASS),
        (&fm("ENVIRONMENT_URL"), ENV_URL),
        (&fm("RESOURCE_ID"), RES),
        (&fm("MCP_URL"), "https://mcp.example.com/mcp"),
        (&fm("CLIENT_ID"), "skc_1"),
    ]);
    assert_eq!(doc["resource"], "https://mcp.example.com/mcp");
    assert_eq!(
        doc["authorization_servers"],
        json!([format!("{ENV_URL}/resources/{RES}")])
    );
    assert!(doc.get("scopes_supported").is_none());

    // Pointed at a (stand-in) environment, the provider verifies its tokens.
    let idp = StandIn::start().await;
    let mcp_url = "https://mcp.example.com/mcp";
    let resource = build(&[
        ("FASTMCP_SERVER_AUTH", CLASS),
        (&fm("ENVIRONMENT_URL"), idp.url()),
        (&fm("RESOURCE_ID"), idp.res_id()),
        (&fm("MCP_URL"), mcp_url),
    ])
    .unwrap();
    assert_verifies(
        &resource,
        &idp,
        &idp.machine_claims(mcp_url, &["todo:read"]),
    )
    .await;
}

#[test]
fn fastmcp_names_win_over_scalekit_names() {
    let doc = document(&[
        ("FASTMCP_SERVER_AUTH", CLASS),
        (&fm("ENVIRONMENT_URL"), ENV_URL),
        (&fm("RESOURCE_ID"), RES),
        (&fm("MCP_URL"), "https://fastmcp.example.com/mcp"),
        ("SCALEKIT_ENVIRONMENT_URL", "https://other.scalekit.com"),
        ("SCALEKIT_RESOURCE_ID", "res_2"),
        ("MCP_URL", "https://scalekit.example.com/mcp"),
    ]);
    assert_eq!(doc["resource"], "https://fastmcp.example.com/mcp");
    assert_eq!(
        doc["authorization_servers"],
        json!([format!("{ENV_URL}/resources/{RES}")])
    );
}

#[test]
fn fastmcp_base_url_gets_the_mcp_path() {
    for (base, expected) in [
        ("https://mcp.example.com", "https://mcp.example.com/mcp"),
        ("https://mcp.example.com/", "https://mcp.example.com/mcp"),
        ("https://mcp.example.com/mcp", "https://mcp.example.com/mcp"),
        ("https://example.com/tools", "https://example.com/tools/mcp"),
    ] {
        let doc = document(&[
            ("FASTMCP_SERVER_AUTH", CLASS),
            (&fm("ENVIRONMENT_URL"), ENV_URL),
            (&fm("RESOURCE_ID"), RES),
            (&fm("BASE_URL"), base),
        ]);
        assert_eq!(doc["resource"], expected, "{base}");
    }
}

#[test]
fn fastmcp_required_scopes_parse_in_comma_space_and_json_forms() {
    for raw in [
        "todo:read,todo:write",
        "todo:read todo:write",
        "todo:read, todo:write",
        r#"["todo:read", "todo:write"]"#,
    ] {
        let resource = build(&[
            ("FASTMCP_SERVER_AUTH", CLASS),
            (&fm("ENVIRONMENT_URL"), ENV_URL),
            (&fm("RESOURCE_ID"), RES),
            (&fm("MCP_URL"), "https://mcp.example.com/mcp"),
            (&fm("REQUIRED_SCOPES"), raw),
        ])
        .unwrap();
        assert_eq!(
            resource.required_scopes().to_space_separated(),
            "todo:read todo:write",
            "{raw}"
        );
        assert_eq!(
            resource.metadata_document()["scopes_supported"],
            json!(["todo:read", "todo:write"]),
            "{raw}"
        );
    }
}

#[test]
fn fastmcp_short_class_names_are_accepted() {
    for class in ["ScalekitProvider", "scalekit"] {
        let doc = document(&[
            ("FASTMCP_SERVER_AUTH", class),
            (&fm("ENVIRONMENT_URL"), ENV_URL),
            (&fm("RESOURCE_ID"), RES),
            (&fm("MCP_URL"), "https://mcp.example.com/mcp"),
        ]);
        assert_eq!(doc["resource"], "https://mcp.example.com/mcp");
    }
}

#[test]
fn unsupported_fastmcp_class_names_fastmcp_server_auth() {
    for class in [
        "fastmcp.server.auth.providers.github.GitHubProvider",
        "",
        "fastmcp.server.auth.providers.scalekit",
    ] {
        assert_error_names(
            &[
                ("FASTMCP_SERVER_AUTH", class),
                (&fm("ENVIRONMENT_URL"), ENV_URL),
                (&fm("RESOURCE_ID"), RES),
                (&fm("MCP_URL"), "https://mcp.example.com/mcp"),
            ],
            "FASTMCP_SERVER_AUTH",
        );
    }
}

#[test]
fn fastmcp_without_mcp_url_or_base_url_names_the_mcp_url_variable() {
    assert_error_names(
        &[
            ("FASTMCP_SERVER_AUTH", CLASS),
            (&fm("ENVIRONMENT_URL"), ENV_URL),
            (&fm("RESOURCE_ID"), RES),
        ],
        &fm("MCP_URL"),
    );
}

#[test]
fn fastmcp_errors_name_fastmcp_variables() {
    let base: Vec<(String, String)> = vec![
        ("FASTMCP_SERVER_AUTH".into(), CLASS.into()),
        (fm("ENVIRONMENT_URL"), ENV_URL.into()),
        (fm("RESOURCE_ID"), RES.into()),
        (fm("MCP_URL"), "https://mcp.example.com/mcp".into()),
    ];
    let with = |name: &str, value: Option<&str>| -> Vec<(String, String)> {
        let mut pairs: Vec<_> = base.iter().filter(|(k, _)| k != name).cloned().collect();
        if let Some(v) = value {
            pairs.push((name.to_owned(), v.to_owned()));
        }
        pairs
    };
    let check = |pairs: Vec<(String, String)>, variable: &str| {
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_error_names(&refs, variable);
    };
    check(with(&fm("ENVIRONMENT_URL"), None), &fm("ENVIRONMENT_URL"));
    check(
        with(&fm("ENVIRONMENT_URL"), Some("not a url")),
        &fm("ENVIRONMENT_URL"),
    );
    check(with(&fm("RESOURCE_ID"), Some("")), &fm("RESOURCE_ID"));
    check(
        with(&fm("MCP_URL"), Some("mcp.example.com")),
        &fm("MCP_URL"),
    );
    check(
        with(&fm("REQUIRED_SCOPES"), Some(r#"["todo:read""#)),
        &fm("REQUIRED_SCOPES"),
    );
    check(
        with(&fm("REQUIRED_SCOPES"), Some(r#"["a\"b"]"#)),
        &fm("REQUIRED_SCOPES"),
    );
    let mut base_only = with(&fm("MCP_URL"), None);
    base_only.push((fm("BASE_URL"), "example.com".into()));
    check(base_only, &fm("BASE_URL"));
}

#[test]
fn bad_json_required_scopes_names_the_variable() {
    assert_error_names(
        &[
            ("FASTMCP_SERVER_AUTH", CLASS),
            (&fm("ENVIRONMENT_URL"), ENV_URL),
            (&fm("RESOURCE_ID"), RES),
            (&fm("BASE_URL"), "https://mcp.example.com"),
            (&fm("REQUIRED_SCOPES"), "[todo:read]"),
        ],
        &fm("REQUIRED_SCOPES"),
    );
}

// --- .env files ---------------------------------------------------------------------------

struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("mcpgate-env-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn dotenv_file_is_read() {
    let file = TempFile::new(
        "scalekit.env",
        &format!(
            "# Scalekit sample configuration\nSCALEKIT_ENVIRONMENT_URL={ENV_URL}\nSCALEKIT_RESOURCE_ID=\"{RES}\"\nexport MCP_URL='https://mcp.example.com/mcp'\n"
        ),
    );
    let env = Env::from_dotenv_file(&file.0).unwrap();
    assert_eq!(env.get("SCALEKIT_RESOURCE_ID"), Some(RES));
    let resource = ScalekitProvider::from_vars(&env)
        .unwrap()
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(resource.resource().as_str(), "https://mcp.example.com/mcp");
    assert_eq!(
        resource.metadata_document()["authorization_servers"],
        json!([format!("{ENV_URL}/resources/{RES}")])
    );
}

#[test]
fn fastmcp_dotenv_file_is_read() {
    let file = TempFile::new(
        "fastmcp.env",
        &format!(
            "FASTMCP_SERVER_AUTH={CLASS}\n{FM}ENVIRONMENT_URL={ENV_URL}\n{FM}RESOURCE_ID={RES}\n{FM}BASE_URL=http://localhost:8000\n{FM}REQUIRED_SCOPES='[\"todo:read\"]'\n"
        ),
    );
    let env = Env::from_dotenv_file(&file.0).unwrap();
    let resource = ScalekitProvider::from_vars(&env)
        .unwrap()
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(resource.resource().as_str(), "http://localhost:8000/mcp");
    assert_eq!(resource.required_scopes().to_space_separated(), "todo:read");
}

#[test]
fn missing_dotenv_file_is_empty() {
    let path = std::env::temp_dir().join("mcpgate-env-test-does-not-exist.env");
    let env = Env::from_dotenv_file(&path).unwrap();
    assert!(ScalekitProvider::from_vars(&env).unwrap().is_none());
}

#[test]
fn malformed_dotenv_file_names_the_file() {
    let file = TempFile::new(
        "broken.env",
        "SCALEKIT_ENVIRONMENT_URL=\"unterminated\nSCALEKIT_RESOURCE_ID=res_1\n",
    );
    let error = Env::from_dotenv_file(&file.0).unwrap_err();
    assert_eq!(error.source_name, file.0.display().to_string());
}
