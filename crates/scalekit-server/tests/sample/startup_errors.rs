//! The real binary refusing to start: exit code 1 and one `error: <VAR>: …`
//! line naming the variable at fault. Each run has a cleared environment and a
//! working directory without `.env`, so only the variables shown are set.

use crate::support::{TempDir, command, run_to_exit};

/// Runs the binary with exactly `vars`; asserts it failed with exit code 1 and
/// returns its stderr.
fn refused(vars: &[(&str, &str)]) -> String {
    let cwd = TempDir::new();
    assert!(!cwd.path().join(".env").exists());
    let (status, stdout, stderr) = run_to_exit(command(cwd.path(), vars));
    assert_eq!(
        status.code(),
        Some(1),
        "expected exit code 1 ({status})\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert_eq!(stdout, "", "nothing on stdout");
    stderr
}

#[test]
fn nothing_set_names_scalekit_environment_url_as_not_set() {
    let stderr = refused(&[]);
    assert!(
        stderr.starts_with("error: SCALEKIT_ENVIRONMENT_URL: is not set"),
        "{stderr}"
    );
    // The hint names every variable the user has to set.
    for name in ["SCALEKIT_RESOURCE_ID", "MCP_URL", "FASTMCP_SERVER_AUTH"] {
        assert!(stderr.contains(name), "{name} not mentioned: {stderr}");
    }
}

#[test]
fn a_missing_resource_id_is_named() {
    let stderr = refused(&[
        ("SCALEKIT_ENVIRONMENT_URL", "http://127.0.0.1:9"),
        ("MCP_URL", "http://127.0.0.1:9/mcp"),
    ]);
    assert!(
        stderr.starts_with("error: SCALEKIT_RESOURCE_ID: is not set"),
        "{stderr}"
    );
}

#[test]
fn an_empty_resource_id_gets_the_message_the_readme_quotes() {
    let stderr = refused(&[
        ("SCALEKIT_ENVIRONMENT_URL", "http://127.0.0.1:9"),
        ("SCALEKIT_RESOURCE_ID", ""),
        ("MCP_URL", "http://127.0.0.1:9/mcp"),
    ]);
    assert_eq!(
        stderr.trim_end(),
        "error: SCALEKIT_RESOURCE_ID: is empty; copy the resource id (res_…) from Scalekit's MCP servers page"
    );
}

#[test]
fn a_malformed_environment_url_is_named() {
    let stderr = refused(&[
        ("SCALEKIT_ENVIRONMENT_URL", "not a url"),
        ("SCALEKIT_RESOURCE_ID", "res_123"),
        ("MCP_URL", "http://127.0.0.1:9/mcp"),
    ]);
    assert!(
        stderr.starts_with("error: SCALEKIT_ENVIRONMENT_URL:"),
        "{stderr}"
    );
}
