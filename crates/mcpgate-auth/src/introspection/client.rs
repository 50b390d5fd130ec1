//! The HTTP exchange with the introspection endpoint: how the resource server
//! authenticates itself (RFC 6749 §2.3.1) and how much of the answer it reads.
//! What the answer *means* is `response.rs`'s business.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use url::Url;
use url::form_urlencoded;

/// The client secret the resource server authenticates to the introspection
/// endpoint with.
///
/// Like [`BearerToken`](crate::BearerToken) it has no `Display`, its `Debug`
/// prints nothing of the value, and it is not `Serialize`, so it cannot end up
/// in a log line, an error message or a dumped configuration by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself. **Security:** only for sending to the endpoint.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// How the resource server authenticates to the introspection endpoint
/// (the RFC 8414 `introspection_endpoint_auth_methods_supported` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// HTTP Basic with the form-urlencoded client id and secret (RFC 6749
    /// §2.3.1); what RFC 7662 examples use and every server must support.
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// Why one introspection request produced no usable body (logged, never sent to clients).
#[derive(Debug, thiserror::Error)]
pub(super) enum ExchangeError {
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("unexpected status {0}")]
    Status(reqwest::StatusCode),
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the introspection task ended without an answer")]
    Abandoned,
}

/// Sends introspection requests for one endpoint with one client identity.
pub(super) struct Introspector {
    http: reqwest::Client,
    endpoint: Url,
    client_id: String,
    secret: ClientSecret,
    method: ClientAuthMethod,
    max_body_bytes: usize,
}

impl Introspector {
    pub(super) fn new(
        endpoint: Url,
        client_id: String,
        secret: ClientSecret,
        method: ClientAuthMethod,
        connect_timeout: Duration,
        request_timeout: Duration,
        max_body_bytes: usize,
    ) -> Self {
        // The same client settings as the JWKS fetcher: bounded connect and
        // total time, and no redirects (a redirect would carry the token and
        // credentials somewhere the configuration never named).
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            http,
            endpoint,
            client_id,
            secret,
            method,
            max_body_bytes,
        }
    }

    pub(super) fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    pub(super) fn client_id(&self) -> &str {
        &self.client_id
    }

    pub(super) fn method(&self) -> ClientAuthMethod {
        self.method
    }

    /// POSTs `token` and returns the body of a `200` answer, at most
    /// `max_body_bytes` long.
    pub(super) async fn introspect(&self, token: &str) -> Result<Vec<u8>, ExchangeError> {
        let mut response = self.request(token).send().await?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(ExchangeError::Status(response.status()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > self.max_body_bytes as u64)
        {
            return Err(ExchangeError::TooLarge(self.max_body_bytes));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err(ExchangeError::TooLarge(self.max_body_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The request for `token`, with client authentication. Not `async`: the
    /// form serializer is not `Send` and must not live across an await.
    fn request(&self, token: &str) -> reqwest::RequestBuilder {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("token", token)
            .append_pair("token_type_hint", "access_token");
        let mut request = self
            .http
            .post(self.endpoint.clone())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        match self.method {
            ClientAuthMethod::ClientSecretBasic => {
                request = request.header(AUTHORIZATION, self.basic_credentials());
            }
            ClientAuthMethod::ClientSecretPost => {
                form.append_pair("client_id", &self.client_id)
                    .append_pair("client_secret", self.secret.expose_secret());
            }
        }
        request.body(form.finish())
    }

    /// `Basic base64(urlencode(id) ":" urlencode(secret))`: RFC 6749 §2.3.1
    /// form-encodes both parts first, so a `:` in the id cannot shift the split.
    fn basic_credentials(&self) -> HeaderValue {
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let pair = format!(
            "{}:{}",
            encode(&self.client_id),
            encode(self.secret.expose_secret())
        );
        let mut value = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(pair)))
            // Base64 output is always a valid header value.
            .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
        // Keeps the credentials out of HTTP/2 header compression tables and
        // out of reqwest's own debug output.
        value.set_sensitive(true);
        value
    }
}
