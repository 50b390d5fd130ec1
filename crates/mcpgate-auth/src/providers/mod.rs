//! Authorization-server providers. Each turns its own settings into a
//! [`ProtectedResource`]; the HTTP layer knows nothing about any particular
//! provider. A provider outside this crate implements [`AuthProvider`] and
//! builds its resource with [`ProtectedResource::builder`].

pub mod config;
pub mod env;
pub mod oidc;
pub mod presets;
pub mod scalekit;

pub use config::ProviderConfig;

use crate::config::{ConfigError, Env};
use crate::protection::ProtectedResource;

/// Something that can configure token validation and resource metadata.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an auth provider",
    label = "expected an auth provider here",
    note = "pass a provider such as `ScalekitProvider::new(..)`, a built `ProtectedResource`, or implement `AuthProvider`"
)]
pub trait AuthProvider: Send + 'static {
    /// Validates the settings and builds the protected-resource setup.
    fn build(self: Box<Self>) -> Result<ProtectedResource, ConfigError>;
}

impl AuthProvider for ProtectedResource {
    fn build(self: Box<Self>) -> Result<ProtectedResource, ConfigError> {
        Ok(*self)
    }
}

/// The provider the variables select, or `None` when they name none: the one
/// place that knows every provider's variables. `FASTMCP_SERVER_AUTH` picks
/// any provider by FastMCP's class path or short name (see the tables in
/// [`env`](mod@env) and [`scalekit::env`](mod@scalekit::env));
/// `FASTMCP_SERVER_AUTH=introspection` (or FastMCP's
/// `IntrospectionTokenVerifier` class path) builds a resource that checks
/// every token by RFC 7662 introspection, from the
/// [`introspection::env`](crate::introspection::env) variables, with their
/// required scopes. Otherwise the `SCALEKIT_*` variables pick Scalekit.
pub fn from_vars(vars: &Env) -> Result<Option<Box<dyn AuthProvider>>, ConfigError> {
    if let Some(opaque_only) = env::introspection_from(vars)? {
        return Ok(Some(Box::new(opaque_only)));
    }
    if let Some(oidc) = env::provider_from(vars)? {
        return Ok(Some(Box::new(oidc)));
    }
    Ok(scalekit::ScalekitProvider::from_vars(vars)?.map(|p| Box::new(p) as Box<dyn AuthProvider>))
}
