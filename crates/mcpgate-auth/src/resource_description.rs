//! What a protected resource requires of every token and says about itself
//! in its RFC 9728 metadata: required scopes, advertised scopes, name and
//! documentation. Every builder that makes a protected resource (the
//! [`ProtectedResourceBuilder`](crate::ProtectedResourceBuilder) and the
//! providers' builders) sets these the same way, so they share the fields
//! and, through [`setters!`], the public setter methods.

use crate::ConfigError;
use crate::types::ScopeSet;

/// The settings; see the module docs.
#[derive(Debug, Clone, Default)]
pub(crate) struct ResourceDescription {
    pub(crate) required_scopes: Vec<String>,
    pub(crate) scopes_supported: Option<Vec<String>>,
    pub(crate) name: Option<String>,
    pub(crate) documentation: Option<String>,
}

impl ResourceDescription {
    /// Checks the scope lists, naming the setting (a builder method or an
    /// environment variable) of each in the error.
    pub(crate) fn check_scopes(
        &self,
        required_name: &str,
        supported_name: &str,
    ) -> Result<(), ConfigError> {
        ScopeSet::parse(self.required_scopes.iter().cloned())
            .map_err(|e| ConfigError::new(required_name, e.to_string()))?;
        if let Some(supported) = &self.scopes_supported {
            ScopeSet::parse(supported.iter().cloned())
                .map_err(|e| ConfigError::new(supported_name, e.to_string()))?;
        }
        Ok(())
    }
}

/// The public setters of a builder whose `ResourceDescription` is in the
/// field `$field`.
macro_rules! setters {
    ($field:ident) => {
        /// Scopes every request must carry; a valid token without them gets
        /// 403 `insufficient_scope`.
        pub fn required_scopes<I, S>(mut self, scopes: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.$field.required_scopes = scopes.into_iter().map(Into::into).collect();
            self
        }

        /// Scopes advertised as `scopes_supported` in the protected resource
        /// metadata (default: the required scopes).
        pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.$field.scopes_supported = Some(scopes.into_iter().map(Into::into).collect());
            self
        }

        /// Human-readable name published as `resource_name`.
        pub fn resource_name(mut self, name: impl Into<String>) -> Self {
            self.$field.name = Some(name.into());
            self
        }

        /// Documentation URL published as `resource_documentation`.
        pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
            self.$field.documentation = Some(url.into());
            self
        }
    };
}

pub(crate) use setters;
