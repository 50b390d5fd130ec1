//! Authorization-server providers. Each turns its own settings into a
//! [`ProtectedResource`](crate::ProtectedResource); the HTTP layer knows
//! nothing about any particular provider.

pub mod scalekit;

use crate::config::ConfigError;
use crate::protection::ProtectedResource;

/// Something that can configure token validation and resource metadata.
pub trait AuthProvider: Send + 'static {
    /// Validates the settings and builds the protected-resource setup.
    fn build(self: Box<Self>) -> Result<ProtectedResource, ConfigError>;
}

impl AuthProvider for ProtectedResource {
    fn build(self: Box<Self>) -> Result<ProtectedResource, ConfigError> {
        Ok(*self)
    }
}
