//! The errors of the server API: [`ServeError`] (start-up and serving) and
//! [`CallError`] (a handler's extractor failed).

use mcpgate_auth::ConfigError;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Invalid configuration; the message names the variable or field.
    // Transparent / source-only messages: error reporters that print the
    // source chain (anyhow's `{:#}`) would otherwise say everything twice.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Several configuration problems, all reported at once.
    #[error("{}", join(.0))]
    Configs(Vec<ConfigError>),
    /// The listening address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address (or `host:port`) asked for.
        addr: String,
        /// Why the operating system refused.
        #[source]
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("I/O error")]
    Io(#[from] std::io::Error),
    /// The MCP session over stdio (or another byte stream) failed.
    #[error("MCP transport error")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn join(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl ServeError {
    pub(crate) fn bind(addr: impl std::fmt::Display, source: std::io::Error) -> Self {
        Self::Bind {
            addr: addr.to_string(),
            source,
        }
    }

    /// The configuration problems, if that is why the server did not start.
    pub fn config_errors(&self) -> Vec<&ConfigError> {
        match self {
            Self::Config(e) => vec![e],
            Self::Configs(list) => list.iter().collect(),
            _ => Vec::new(),
        }
    }
}

/// An extractor failed; the message is shown to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CallError(pub String);

impl CallError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
