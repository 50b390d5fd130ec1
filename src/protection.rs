//! A validated protected-resource setup: what the HTTP layer needs to publish
//! metadata, challenge clients and verify tokens. Providers build it.

use std::sync::Arc;

use http::HeaderMap;
use serde_json::{Value, json};

use crate::bearer::bearer_token;
use crate::claims::AccessToken;
use crate::error::AuthError;
use crate::types::{McpUrl, ScopeSet};
use crate::verify::JwtVerifier;

/// Everything needed to protect one MCP endpoint with bearer tokens.
#[derive(Debug, Clone)]
pub struct ProtectedResource {
    pub(crate) resource: McpUrl,
    pub(crate) authorization_servers: Vec<String>,
    pub(crate) scopes_supported: ScopeSet,
    pub(crate) required_scopes: ScopeSet,
    pub(crate) resource_name: Option<String>,
    pub(crate) resource_documentation: Option<String>,
    pub(crate) verifier: JwtVerifier,
    /// Where the authorization server's RFC 8414 metadata lives, for the
    /// `/.well-known/oauth-authorization-server` forwarder older clients use.
    pub(crate) upstream_metadata_url: Option<String>,
}

impl ProtectedResource {
    /// The canonical MCP URL (the RFC 9728 `resource`).
    pub fn resource(&self) -> &McpUrl {
        &self.resource
    }

    /// Scopes every request must carry.
    pub fn required_scopes(&self) -> &ScopeSet {
        &self.required_scopes
    }

    /// The token verifier.
    pub fn verifier(&self) -> &JwtVerifier {
        &self.verifier
    }

    /// Authenticates one request from its headers: bearer token, signature and
    /// claims, then the server-wide required scopes.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<AccessToken>, AuthError> {
        let token = bearer_token(headers, self.verifier.max_token_bytes())?;
        let access = self.verifier.verify(&token).await?;
        if !access.scopes().contains_all(&self.required_scopes) {
            // Ask for what the token has plus what is missing, so a step-up
            // does not cost the client the permissions it already holds.
            let mut required = access.scopes().clone();
            required.extend(&self.required_scopes);
            return Err(AuthError::InsufficientScope { required });
        }
        Ok(access)
    }

    /// The RFC 9728 protected resource metadata document. Empty optional fields
    /// are omitted: some clients (VS Code) fail on `"scopes_supported": []`.
    pub fn metadata_document(&self) -> Value {
        let mut doc = json!({
            "resource": self.resource.as_str(),
            "authorization_servers": self.authorization_servers,
            "bearer_methods_supported": ["header"],
        });
        let obj = doc.as_object_mut().expect("literal object");
        if !self.scopes_supported.is_empty() {
            obj.insert("scopes_supported".into(), json!(self.scopes_supported));
        }
        if let Some(name) = &self.resource_name {
            obj.insert("resource_name".into(), json!(name));
        }
        if let Some(docs) = &self.resource_documentation {
            obj.insert("resource_documentation".into(), json!(docs));
        }
        doc
    }
}
