//! Authorization-server providers. Each turns its own settings into a
//! [`ProtectedResource`]; the HTTP layer knows nothing about any particular
//! provider. A provider outside this crate implements [`AuthProvider`] and
//! builds its resource with [`ProtectedResource::builder`].

pub mod scalekit;

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
/// place that knows every provider's variables.
pub fn from_vars(vars: &Env) -> Result<Option<Box<dyn AuthProvider>>, ConfigError> {
    Ok(scalekit::ScalekitProvider::from_vars(vars)?.map(|p| Box::new(p) as Box<dyn AuthProvider>))
}
