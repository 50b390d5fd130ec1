//! `mcpgate proxy --config FILE`: the gateway described in TOML. Unknown
//! keys are errors (a misspelt limit must not silently fall back to its
//! default); `[auth]` is `mcpgate_auth`'s `ProviderConfig`, so every
//! provider the library knows can be configured here.
//!
//! ```toml
//! listen = "127.0.0.1:8000"            # default: MCP_URL's host and port
//! allow_origins = ["https://app.example"]
//!
//! [auth]                               # default: SCALEKIT_* / MCP_URL from the environment
//! provider = "scalekit"
//! environment_url = "https://acme.scalekit.com"
//! resource_id = "res_123"
//! mcp_url = "http://127.0.0.1:8000/mcp"
//!
//! [upstreams.weather]                  # tools `weather_*`, resources `scheme://weather/…`
//! command = ["python", "weather.py"]
//! env = { LOG_LEVEL = "debug" }
//! idle_timeout_secs = 300
//!
//! [upstreams.search]
//! url = "http://127.0.0.1:9000/mcp"
//! shared = true
//! headers_from_env = { "X-Api-Key" = "SEARCH_API_KEY" }
//! protocol = "session"                 # default "auto": 2026-07-28 if it serves it
//!
//! [upstreams.crm]                      # per-principal sessions told who calls
//! url = "http://127.0.0.1:9100/mcp"
//! identity_headers = { subject = "X-Mcp-Subject", client_id = "X-Mcp-Client" }
//!
//! [upstreams.billing]                  # an upstream with its own OAuth
//! url = "http://127.0.0.1:9200/mcp"
//! [upstreams.billing.on_behalf_of]     # RFC 8693: the caller's token exchanged
//! issuer = "https://acme.scalekit.com" # or token_endpoint = "https://…/oauth/token"
//! client_id = "skc_gateway"
//! client_secret_env = "BILLING_EXCHANGE_SECRET"
//! resource = "http://127.0.0.1:9200/mcp"   # and/or audience = "billing-api"
//! scopes = ["billing:read"]            # default: the authorization server's choice
//! ```
//!
//! A single `[upstream]` table instead of `[upstreams.NAME]` serves one
//! upstream with its names unchanged.
//!
//! Per-item policies (`mcpgate_auth`'s `PolicySetConfig`) are top-level
//! `[[policy]]` tables over the names **clients** see, after the mount
//! prefix, so one table can cover several upstreams:
//!
//! ```toml
//! deny_by_default = false              # top level (before any table); default false
//!
//! [[policy]]                           # the `crm` upstream's delete_* tools
//! tools = "crm_delete_*"
//! scopes = ["crm:admin"]
//! claims = { org_id = "org_1" }
//!
//! [[policy]]
//! resources = "db://crm/*"
//! prompts = ["weather_*"]
//! scopes = ["crm:read"]
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use mcpgate::auth::policy::{PolicyConfig, PolicySet, PolicySetConfig};
use mcpgate::providers::ProviderConfig;
use mcpgate_gateway::{
    GatewayConfig, HttpUpstream, Identity, Isolation, StdioCommand, TokenExchange, Upstream,
    UpstreamProtocol,
};
use serde::Deserialize;

/// The file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// Listening address (default: the MCP URL's host and port).
    pub(crate) listen: Option<SocketAddr>,
    /// Extra browser origins allowed to call the MCP endpoint.
    #[serde(default)]
    pub(crate) allow_origins: Vec<String>,
    /// The auth provider; absent: the environment, as without `--config`.
    pub(crate) auth: Option<ProviderConfig>,
    /// One upstream, names unchanged.
    upstream: Option<UpstreamEntry>,
    /// Several upstreams, each under its name.
    #[serde(default)]
    upstreams: BTreeMap<String, UpstreamEntry>,
    /// Deny items no `[[policy]]` matches (default `false`).
    #[serde(default)]
    deny_by_default: bool,
    /// Per-item policies over client-visible names (after mount prefixes).
    #[serde(default)]
    policy: Vec<PolicyConfig>,
}

/// One upstream and its settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpstreamEntry {
    /// A stdio server: program and arguments.
    command: Option<Vec<String>>,
    /// A Streamable HTTP server.
    url: Option<String>,
    /// Environment variables for a stdio child.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Working directory of a stdio child (relative to the config file).
    cwd: Option<PathBuf>,
    /// Static headers for an HTTP upstream.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Headers for an HTTP upstream whose values are read from environment variables.
    #[serde(default)]
    headers_from_env: BTreeMap<String, String>,
    /// Parts of the verified caller's identity an HTTP upstream is told, as headers.
    identity_headers: Option<IdentityHeaders>,
    /// RFC 8693 token exchange for an HTTP upstream with its own OAuth.
    on_behalf_of: Option<OnBehalfOf>,
    /// One upstream for every caller instead of one per principal.
    #[serde(default)]
    shared: bool,
    /// What the gateway speaks to the upstream for 2026-07-28 callers.
    protocol: Option<ProtocolKey>,
    max_children: Option<usize>,
    idle_timeout_secs: Option<u64>,
    call_timeout_secs: Option<u64>,
    connect_timeout_secs: Option<u64>,
}

/// `protocol = "auto" | "session"`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ProtocolKey {
    Auto,
    Session,
}

/// `[upstreams.NAME.on_behalf_of]`: where and as whom the gateway exchanges
/// the caller's token, and for what.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnBehalfOf {
    /// The token endpoint (or give `issuer`).
    token_endpoint: Option<String>,
    /// The authorization server, whose metadata names its token endpoint.
    issuer: Option<String>,
    /// The gateway's client id there (registered for token exchange).
    client_id: String,
    /// The environment variable holding the client secret.
    client_secret_env: String,
    /// The upstream as RFC 8707 `resource`.
    resource: Option<String>,
    /// The upstream as RFC 8693 `audience`.
    audience: Option<String>,
    /// Scopes asked for.
    #[serde(default)]
    scopes: Vec<String>,
}

impl OnBehalfOf {
    fn into_exchange(self, key: &str) -> anyhow::Result<TokenExchange> {
        let secret = std::env::var(&self.client_secret_env).map_err(|_| {
            anyhow::anyhow!(
                "{key}.client_secret_env: the environment variable {} is not set",
                self.client_secret_env
            )
        })?;
        let mut exchange = match (&self.token_endpoint, &self.issuer) {
            (Some(endpoint), None) => TokenExchange::new(endpoint, self.client_id, secret)
                .with_context(|| format!("{key}.token_endpoint"))?,
            (None, Some(issuer)) => TokenExchange::discover(issuer, self.client_id, secret)
                .with_context(|| format!("{key}.issuer"))?,
            _ => bail!("{key}: give exactly one of `token_endpoint` and `issuer`"),
        };
        if self.resource.is_none() && self.audience.is_none() {
            bail!("{key}: name the upstream with `resource` (its URL) or `audience`");
        }
        if let Some(resource) = self.resource {
            exchange = exchange.resource(resource);
        }
        if let Some(audience) = self.audience {
            exchange = exchange.audience(audience);
        }
        Ok(exchange.scopes(self.scopes))
    }
}

/// `identity_headers = { subject = "X-Mcp-Subject", ... }`: header names.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityHeaders {
    subject: Option<String>,
    client_id: Option<String>,
    issuer: Option<String>,
}

/// What the file says, ready to start.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) file: FileConfig,
    /// `None` for a single `[upstream]`, else each upstream's name.
    pub(crate) upstreams: Vec<(Option<String>, GatewayConfig)>,
    /// The `[[policy]]` tables, checked; `None` when there are none and
    /// nothing is denied by default.
    pub(crate) policies: Option<PolicySet>,
}

/// Reads and checks `path`. Every error names the key (as `upstreams.NAME.key`).
pub(crate) fn load(path: &Path) -> anyhow::Result<Loaded> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --config {}", path.display()))?;
    let mut file: FileConfig = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let upstreams = match (file.upstream.take(), std::mem::take(&mut file.upstreams)) {
        (Some(_), named) if !named.is_empty() => bail!(
            "{}: give either one [upstream] table or [upstreams.NAME] tables, not both",
            path.display()
        ),
        (None, named) if named.is_empty() => bail!(
            "{}: no upstream; add an [upstream] table with `command = [...]` or `url = \"...\"`",
            path.display()
        ),
        (Some(one), _) => vec![(None, one.into_config("upstream", base)?)],
        (None, named) => named
            .into_iter()
            .map(|(name, entry)| {
                let config = entry.into_config(&format!("upstreams.{name}"), base)?;
                Ok((Some(name), config))
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let policies = PolicySetConfig {
        deny_by_default: file.deny_by_default,
        policy: std::mem::take(&mut file.policy),
    };
    let policies = if policies.policy.is_empty() && !policies.deny_by_default {
        None
    } else {
        // Each problem is named `policy[<index>].<key>`.
        Some(
            policies
                .build()
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        )
    };
    Ok(Loaded {
        file,
        upstreams,
        policies,
    })
}

impl UpstreamEntry {
    fn into_config(self, table: &str, base: &Path) -> anyhow::Result<GatewayConfig> {
        let key = |k: &str| format!("{table}.{k}");
        let upstream = match (self.command, self.url) {
            (Some(_), Some(_)) => bail!("{}: give either `command` or `url`, not both", table),
            (None, None) => bail!(
                "{}: needs `command = [\"program\", ...]` or `url = \"http://...\"`",
                table
            ),
            (Some(command), None) => {
                let Some((program, args)) = command.split_first() else {
                    bail!("{}: is empty; name the program first", key("command"));
                };
                if !self.headers.is_empty()
                    || !self.headers_from_env.is_empty()
                    || self.identity_headers.is_some()
                    || self.on_behalf_of.is_some()
                {
                    bail!("{}: headers apply to `url` upstreams only", key("headers"));
                }
                let mut cmd = StdioCommand::new(program, args);
                for (k, v) in self.env {
                    cmd = cmd.env(k, v);
                }
                if let Some(cwd) = self.cwd {
                    cmd = cmd.current_dir(base.join(cwd));
                }
                Upstream::Stdio(cmd)
            }
            (None, Some(url)) => {
                if !self.env.is_empty() || self.cwd.is_some() {
                    bail!(
                        "{}: `env` and `cwd` apply to `command` upstreams only",
                        table
                    );
                }
                let mut target = HttpUpstream::new(&url).with_context(|| key("url"))?;
                for (name, value) in &self.headers {
                    target = target
                        .header(name, value)
                        .with_context(|| key(&format!("headers.{name}")))?;
                }
                for (name, var) in &self.headers_from_env {
                    let value = std::env::var(var).map_err(|_| {
                        anyhow::anyhow!(
                            "{}: the environment variable {var} is not set",
                            key(&format!("headers_from_env.{name}"))
                        )
                    })?;
                    target = target
                        .header(name, &value)
                        .with_context(|| key(&format!("headers_from_env.{name}")))?;
                }
                if let Some(identity) = &self.identity_headers {
                    for (part, field, name) in [
                        (Identity::Subject, "subject", &identity.subject),
                        (Identity::ClientId, "client_id", &identity.client_id),
                        (Identity::Issuer, "issuer", &identity.issuer),
                    ] {
                        if let Some(name) = name {
                            target = target
                                .identity_header(part, name)
                                .with_context(|| key(&format!("identity_headers.{field}")))?;
                        }
                    }
                    if self.shared {
                        bail!(
                            "{}: needs one upstream session per principal; drop `shared = true`",
                            key("identity_headers")
                        );
                    }
                }
                if let Some(obo) = self.on_behalf_of {
                    if self.shared {
                        bail!(
                            "{}: needs one upstream session per principal; drop `shared = true`",
                            key("on_behalf_of")
                        );
                    }
                    target = target.on_behalf_of(obo.into_exchange(&key("on_behalf_of"))?);
                }
                Upstream::Http(target)
            }
        };
        let mut config = GatewayConfig::new(upstream).isolation(if self.shared {
            Isolation::Shared
        } else {
            Isolation::PerPrincipal
        });
        if let Some(n) = self.max_children {
            if n == 0 {
                bail!("{}: must be at least 1", key("max_children"));
            }
            config = config.max_children(n);
        }
        let seconds = |name: &str, v: u64| {
            if v == 0 {
                bail!("{}: must be at least 1", key(name));
            }
            Ok(Duration::from_secs(v))
        };
        if let Some(v) = self.idle_timeout_secs {
            config = config.idle_timeout(seconds("idle_timeout_secs", v)?);
        }
        if let Some(v) = self.call_timeout_secs {
            config = config.call_timeout(seconds("call_timeout_secs", v)?);
        }
        if let Some(v) = self.connect_timeout_secs {
            config = config.connect_timeout(seconds("connect_timeout_secs", v)?);
        }
        if let Some(protocol) = self.protocol {
            config = config.upstream_protocol(match protocol {
                ProtocolKey::Auto => UpstreamProtocol::Auto,
                ProtocolKey::Session => UpstreamProtocol::Session,
            });
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_takes_auto_or_session_and_names_the_key_otherwise() {
        assert!(load_str("[upstream]\ncommand = [\"x\"]\nprotocol = \"session\"\n").is_ok());
        assert!(load_str("[upstream]\ncommand = [\"x\"]\nprotocol = \"auto\"\n").is_ok());
        let e = load_str("[upstream]\ncommand = [\"x\"]\nprotocol = \"stateless\"\n").unwrap_err();
        let e = format!("{e:#}");
        assert!(e.contains("protocol") && e.contains("stateless"), "{e}");
    }

    fn load_str(text: &str) -> anyhow::Result<Loaded> {
        let dir = std::env::temp_dir().join(format!("mcpgate-proxy-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("c{n}.toml"));
        std::fs::write(&path, text).unwrap();
        let result = load(&path);
        let _ = std::fs::remove_file(&path);
        result
    }

    #[test]
    fn several_upstreams_with_their_settings() {
        let loaded = load_str(
            r#"
            listen = "127.0.0.1:8000"
            [auth]
            provider = "scalekit"
            environment_url = "https://acme.scalekit.com"
            resource_id = "res_1"
            mcp_url = "http://127.0.0.1:8000/mcp"
            [upstreams.a]
            command = ["python", "a.py"]
            idle_timeout_secs = 5
            [upstreams.b]
            url = "http://127.0.0.1:9000/mcp"
            shared = true
            headers = { "X-Api-Key" = "k" }
            "#,
        )
        .unwrap();
        let names: Vec<_> = loaded
            .upstreams
            .iter()
            .map(|(n, _)| n.clone().unwrap())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert!(loaded.file.auth.is_some());
    }

    #[test]
    fn on_behalf_of_is_read_and_checked() {
        // Any variable that is set will do as the secret's source.
        let var = "PATH";
        let loaded = load_str(&format!(
            "[upstream]\nurl = \"http://127.0.0.1:9/mcp\"\n[upstream.on_behalf_of]\ntoken_endpoint = \"http://127.0.0.1:8/oauth/token\"\nclient_id = \"c\"\nclient_secret_env = \"{var}\"\nresource = \"http://127.0.0.1:9/mcp\"\n"
        ))
        .unwrap();
        assert_eq!(loaded.upstreams.len(), 1);
        let e = load_str("[upstream]\nurl = \"http://127.0.0.1:9/mcp\"\n[upstream.on_behalf_of]\ntoken_endpoint = \"http://127.0.0.1:8/t\"\nclient_id = \"c\"\nclient_secret_env = \"MCPGATE_TEST_SURELY_UNSET\"\nresource = \"r\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("upstream.on_behalf_of.client_secret_env"), "{e}");
        let e = load_str(&format!("[upstream]\nurl = \"http://127.0.0.1:9/mcp\"\n[upstream.on_behalf_of]\nclient_id = \"c\"\nclient_secret_env = \"{var}\"\nresource = \"r\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("token_endpoint") && e.contains("issuer"), "{e}");
        let e = load_str(&format!("[upstream]\nurl = \"http://127.0.0.1:9/mcp\"\nshared = true\n[upstream.on_behalf_of]\nissuer = \"http://127.0.0.1:8\"\nclient_id = \"c\"\nclient_secret_env = \"{var}\"\naudience = \"a\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("upstream.on_behalf_of"), "{e}");
        let e = load_str("[upstream]\nurl = \"http://127.0.0.1:9/mcp\"\n[upstream.on_behalf_of]\nclient_secret = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("client_secret"), "{e}");
    }

    #[test]
    fn policies_are_read_and_checked() {
        let loaded = load_str(
            r#"
            deny_by_default = true
            [upstreams.crm]
            command = ["x"]
            [[policy]]
            tools = "crm_delete_*"
            scopes = ["crm:admin"]
            claims = { org_id = "org_1" }
            [[policy]]
            resources = "db://crm/*"
            scopes = ["crm:read"]
            "#,
        )
        .unwrap();
        let set = loaded.policies.expect("policies");
        assert_eq!(set.len(), 2);
        assert!(set.denies_by_default());
        assert!(
            load_str("[upstream]\ncommand = [\"x\"]\n")
                .unwrap()
                .policies
                .is_none()
        );

        let e =
            load_str("[upstream]\ncommand = [\"x\"]\n[[policy]]\ntools = \"a\"\nscope = [\"s\"]\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("scope") && e.contains("unknown field"), "{e}");
        let e = load_str("[upstream]\ncommand = [\"x\"]\n[[policy]]\nscopes = [\"s\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("policy[0]"), "{e}");
        let e =
            load_str("[upstreams.a]\ncommand = [\"x\"]\n[[upstreams.a.policy]]\ntools = \"t\"\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("policy"), "{e}");
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let e = load_str("[upstream]\ncommand = [\"x\"]\nidle_timeout = 5\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("idle_timeout"), "{e}");
        let e = load_str("lisen = \"x\"\n[upstream]\ncommand = [\"x\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("lisen"), "{e}");
        let e = load_str("[upstreams.w]\ncommand = [\"x\"]\ncall_timeout_secs = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("upstreams.w.call_timeout_secs"), "{e}");
        let e = load_str("[upstream]\nurl = \"http://127.0.0.1:1/mcp\"\nheaders_from_env = { \"X-K\" = \"MCPGATE_TEST_SURELY_UNSET\" }\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("upstream.headers_from_env.X-K") && e.contains("MCPGATE_TEST_SURELY_UNSET"),
            "{e}"
        );
        let e = load_str("[upstream]\nurl = \"http://127.0.0.1:1/mcp\"\nshared = true\nidentity_headers = { subject = \"X-S\" }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("upstream.identity_headers"), "{e}");
        let e = load_str(
            "[upstream]\nurl = \"http://127.0.0.1:1/mcp\"\nidentity_headers = { sub = \"X-S\" }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("sub"), "{e}");
        let e = load_str("[upstream]\n").unwrap_err().to_string();
        assert!(e.contains("needs `command"), "{e}");
        let e = load_str("listen = \"127.0.0.1:1\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no upstream"), "{e}");
        let e = load_str("[auth]\nprovider = \"scalekit\"\nenvironment_url = \"https://a.scalekit.com\"\nresource_id = \"r\"\nresourceid = \"x\"\n[upstream]\ncommand = [\"x\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("resourceid"), "{e}");
    }
}
