//! The gateway's errors.

use mcpgate_auth::ConfigError;

/// Why the gateway could not start or serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// A setting is wrong; `key` names it.
    #[error("{key}: {problem}")]
    Config {
        /// The setting (flag, key or variable).
        key: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The auth configuration is wrong.
    #[error(transparent)]
    Auth(#[from] ConfigError),
    /// The upstream could not be started or did not complete `initialize`.
    #[error("upstream {upstream}: {problem}")]
    Upstream {
        /// The command line or URL.
        upstream: String,
        /// What went wrong.
        problem: String,
    },
    /// Serving failed (the listener).
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
}

impl GatewayError {
    pub(crate) fn config(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Config {
            key: key.into(),
            problem: problem.into(),
        }
    }
}
