//! The HTTP client of an upstream session that uses an on-behalf-of token:
//! every request of the session (POSTs, the GET stream, the DELETE) carries
//! the token currently in its [`TokenCell`], so a re-exchanged token takes
//! effect on the next request without reopening the session.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use http::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::common::client_side_sse::BoxedSseResponse;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};

/// The upstream token of one principal's session, replaced when it is
/// re-exchanged.
#[derive(Debug)]
pub(crate) struct TokenCell(RwLock<Arc<str>>);

impl TokenCell {
    pub(crate) fn new(token: Arc<str>) -> Arc<Self> {
        Arc::new(Self(RwLock::new(token)))
    }

    pub(crate) fn set(&self, token: Arc<str>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = token;
    }

    pub(crate) fn get(&self) -> String {
        self.0.read().unwrap_or_else(|e| e.into_inner()).to_string()
    }
}

/// The gateway's reqwest client with the cell's token as `Authorization`
/// (whatever the transport's own configuration says, which is nothing).
#[derive(Clone)]
pub(crate) struct BearerClient {
    pub(crate) inner: reqwest::Client,
    pub(crate) token: Arc<TokenCell>,
}

impl StreamableHttpClient for BearerClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.inner
            .post_message(
                uri,
                message,
                session_id,
                Some(self.token.get()),
                custom_headers,
            )
            .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.inner
            .post_message_with_max_sse_event_size(
                uri,
                message,
                session_id,
                Some(self.token.get()),
                custom_headers,
                max_sse_event_size,
            )
            .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.inner
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                Some(self.token.get()),
                custom_headers,
                limits,
            )
            .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.inner
            .delete_session(uri, session_id, Some(self.token.get()), custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxedSseResponse, StreamableHttpError<Self::Error>> {
        self.inner
            .get_stream(
                uri,
                session_id,
                last_event_id,
                Some(self.token.get()),
                custom_headers,
            )
            .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxedSseResponse, StreamableHttpError<Self::Error>> {
        self.inner
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                Some(self.token.get()),
                custom_headers,
                max_sse_event_size,
            )
            .await
    }
}
