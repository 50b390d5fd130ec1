//! `mcpgate proxy --config` with per-item policies: `--check` reads and
//! checks the `[[policy]]` tables (names as clients see them, after the
//! mount prefix), and a wrong one is an error naming the key.

use std::process::Command;

use crate::support::{BIN, TempDir, run};

const AUTH: &str = r#"
[auth]
provider = "scalekit"
environment_url = "https://acme.scalekit.com"
resource_id = "res_1"
mcp_url = "http://127.0.0.1:8000/mcp"

[upstreams.crm]
command = ["crm-server"]
"#;

fn check(name: &str, policies: &str) -> (bool, String, String) {
    let dir = TempDir::new(name);
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, format!("{policies}\n{AUTH}")).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["proxy", "--check", "--config", config.to_str().unwrap()]);
    let (status, stdout, stderr) = run(cmd);
    (status.success(), stdout, stderr)
}

#[test]
fn check_accepts_policies_and_counts_them() {
    let (ok, stdout, stderr) = check(
        "proxy-policies-ok",
        r#"
deny_by_default = false

[[policy]]
tools = "crm_delete_*"
scopes = ["crm:admin"]
claims = { org_id = "org_1", roles = { contains = "admin" } }

[[policy]]
resources = ["docs://crm/*"]
prompts = "crm_*"
scopes = ["crm:read"]
"#,
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("configuration OK"), "{stdout}");
    // One policy per kind of target: the second table stands for two.
    assert!(stdout.contains("3 policies"), "{stdout}");
}

#[test]
fn an_unknown_policy_key_is_an_error_naming_it() {
    let (ok, _, stderr) = check(
        "proxy-policies-unknown",
        "[[policy]]\ntools = \"crm_*\"\nscope = [\"crm:read\"]\n",
    );
    assert!(!ok);
    assert!(stderr.contains("unknown field `scope`"), "{stderr}");

    let (ok, _, stderr) = check(
        "proxy-policies-claim-test",
        "[[policy]]\ntools = \"crm_*\"\nclaims = { roles = { has = \"admin\" } }\n",
    );
    assert!(!ok);
    assert!(stderr.contains("policy[0].claims.roles"), "{stderr}");

    let (ok, _, stderr) = check(
        "proxy-policies-no-target",
        "[[policy]]\nscopes = [\"crm:read\"]\n",
    );
    assert!(!ok);
    assert!(stderr.contains("policy[0]"), "{stderr}");
}
