//! One connection to the upstream: a stdio child (its stderr logged with the
//! principal's subject) or a Streamable HTTP session over the gateway's own
//! HTTP client, with the client handler that relays the upstream's
//! notifications and requests to the right caller.

#![allow(deprecated)] // sampling, roots and logging are current in the revisions relayed

use std::sync::Arc;

use rmcp::model::{
    ClientCapabilities, ClientConfig, ClientResult, CreateMessageRequest,
    CreateMessageRequestParams, CreateMessageResult, ElicitRequest, ElicitRequestParams,
    ElicitResult, Implementation, InputRequest, ListRootsRequest, ListRootsResult,
    LoggingMessageNotificationParam, ProgressNotificationParam, ProtocolVersion,
    ResourceUpdatedNotificationParam, ServerPeerInfo, ServerRequest,
};
use rmcp::service::{
    InboundStreamOrigin, NotificationContext, OriginatingRequestId, RequestContext, RunningService,
};
use rmcp::transport::IntoTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{
    ClientHandler, ClientLifecycleMode, ClientServiceExt, ErrorData, Peer, RoleClient, ServiceExt,
};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::bearer::{BearerClient, TokenCell};
use crate::config::{Identity, Upstream};
use crate::pool::PrincipalKey;
use crate::routes::{Caller, NO_CALL, Routes};

/// Longest stderr line logged as is; the rest of a longer line is dropped.
const MAX_STDERR_LINE: usize = 4096;

/// Which lifecycle a connection is opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Era {
    /// `initialize` and a session (2025-11-25 and earlier).
    Session,
    /// `server/discover` first, and 2026-07-28 when the upstream serves it;
    /// an upstream that does not gets the `initialize` handshake on the same
    /// transport (a session-era connection).
    Stateless,
}

/// Starts the MCP lifecycle of `era` over `transport`.
async fn handshake<T, E, A>(
    client: UpstreamClient,
    transport: T,
    era: Era,
) -> Result<RunningService<RoleClient, UpstreamClient>, rmcp::service::ClientInitializeError>
where
    T: IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    match era {
        Era::Session => client.serve(transport).await,
        Era::Stateless => {
            let lifecycle = ClientLifecycleMode::Auto {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                legacy_version: None,
            };
            client.serve_with_lifecycle(transport, lifecycle).await
        }
    }
}

/// A live upstream connection.
pub(crate) struct Connection {
    peer: Peer<RoleClient>,
    routes: Arc<Routes>,
    /// Kept to close the connection (and stop the child) on purpose.
    service: tokio::sync::Mutex<Option<RunningService<RoleClient, UpstreamClient>>>,
    info: Option<Arc<ServerPeerInfo>>,
    /// The upstream speaks 2026-07-28 on this connection: every request
    /// carries its `_meta`, and calls may end `input_required`.
    stateless: bool,
    pid: Option<u32>,
    /// The on-behalf-of token the session sends (HTTP upstreams that
    /// exchange the caller's token).
    credential: Option<Arc<TokenCell>>,
    /// What an HTTP upstream is sent on every request: the configured static
    /// headers and the caller's identity headers (the fast path sends them
    /// too).
    http_headers: Option<http::HeaderMap>,
}

impl Connection {
    /// Starts the upstream and completes the MCP handshake of `era`. `label`
    /// names the principal in logs (its subject; never a token).
    /// `credential`: the on-behalf-of token an HTTP session sends as
    /// `Authorization`.
    pub(crate) async fn open(
        upstream: &Upstream,
        label: &str,
        principal: &PrincipalKey,
        http: &reqwest::Client,
        credential: Option<Arc<str>>,
        era: Era,
    ) -> Result<Self, String> {
        let credential = credential.map(TokenCell::new);
        let routes = Arc::new(Routes::for_principal(principal));
        let client = UpstreamClient {
            routes: routes.clone(),
        };
        let mut http_headers = None;
        let (service, pid) = match upstream {
            Upstream::Stdio(command) => {
                let (transport, stderr) = TokioChildProcess::builder(command.to_command())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .map_err(|e| format!("cannot start `{}`: {e}", command.display()))?;
                let pid = transport.id();
                if let Some(stderr) = stderr {
                    tokio::spawn(log_stderr(stderr, label.to_owned(), pid));
                }
                let service = handshake(client, transport, era).await.map_err(|e| {
                    format!(
                        "`{}` did not complete the MCP handshake: {e}",
                        command.display()
                    )
                })?;
                (service, pid)
            }
            Upstream::Http(target) => {
                let mut headers: std::collections::HashMap<_, _> = target
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if let PrincipalKey::Principal {
                    issuer,
                    subject,
                    client_id,
                } = principal
                {
                    for (part, name) in target.identity_headers() {
                        let value = match part {
                            Identity::Subject => Some(subject),
                            Identity::ClientId => client_id.as_ref(),
                            Identity::Issuer => Some(issuer),
                        };
                        let Some(value) = value else { continue };
                        let value = http::HeaderValue::from_str(value).map_err(|_| {
                            format!("the caller's {part:?} cannot be sent in the {name} header")
                        })?;
                        headers.insert(name.clone(), value);
                    }
                }
                http_headers = Some(
                    headers
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                );
                let config = StreamableHttpClientTransportConfig::with_uri(target.url().as_str())
                    .custom_headers(headers);
                let failed = |e: rmcp::service::ClientInitializeError| {
                    format!("{} did not complete the MCP handshake: {e}", target.url())
                };
                let service = match &credential {
                    Some(token) => {
                        let bearer = BearerClient {
                            inner: http.clone(),
                            token: token.clone(),
                        };
                        let transport = StreamableHttpClientTransport::with_client(bearer, config);
                        handshake(client, transport, era).await.map_err(failed)?
                    }
                    None => {
                        let transport =
                            StreamableHttpClientTransport::with_client(http.clone(), config);
                        handshake(client, transport, era).await.map_err(failed)?
                    }
                };
                (service, None)
            }
        };
        let peer = service.peer().clone();
        let info = peer.peer_info();
        let stateless = info
            .as_ref()
            .is_some_and(|i| !i.protocol_version.has_initialize());
        Ok(Self {
            peer,
            routes,
            service: tokio::sync::Mutex::new(Some(service)),
            info,
            stateless,
            pid,
            credential,
            http_headers,
        })
    }

    /// The headers every request to an HTTP upstream carries (static and
    /// identity headers; not the on-behalf-of token, see
    /// [`bearer`](Self::bearer)).
    pub(crate) fn http_headers(&self) -> Option<&http::HeaderMap> {
        self.http_headers.as_ref()
    }

    /// The current on-behalf-of token, if the upstream takes one.
    pub(crate) fn bearer(&self) -> Option<String> {
        self.credential.as_ref().map(|cell| cell.get())
    }

    /// Replaces the on-behalf-of token the session sends from now on.
    pub(crate) fn refresh_credential(&self, token: Arc<str>) {
        if let Some(cell) = &self.credential {
            cell.set(token);
        }
    }

    pub(crate) fn peer(&self) -> &Peer<RoleClient> {
        &self.peer
    }

    pub(crate) fn routes(&self) -> &Arc<Routes> {
        &self.routes
    }

    /// What the upstream said about itself in the handshake.
    pub(crate) fn info(&self) -> Option<&Arc<ServerPeerInfo>> {
        self.info.as_ref()
    }

    /// Whether the upstream speaks 2026-07-28 on this connection.
    pub(crate) fn is_stateless(&self) -> bool {
        self.stateless
    }

    /// The child's process id (stdio upstreams).
    pub(crate) fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Whether the connection ended (the child exited, the session closed).
    pub(crate) fn is_closed(&self) -> bool {
        self.peer.is_transport_closed()
    }

    /// Closes the connection and waits for it to end; a child is given its
    /// stdin's end, then `SIGTERM`, then killed (rmcp's stdio shutdown).
    pub(crate) async fn close(&self) {
        let service = self.service.lock().await.take();
        if let Some(mut service) = service {
            let _ = service.close().await;
        }
    }
}

/// The HTTP client for upstream sessions: the gateway's own (no caller
/// headers, no cookies), and it follows no redirects, so the static headers
/// configured for an upstream (an API key) never reach another host.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Copies a child's stderr to the log, one event per line, bounded.
async fn log_stderr(stderr: impl AsyncRead + Unpin, subject: String, pid: Option<u32>) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        // Read at most one bounded line; the rest of an overlong line is skipped.
        let mut truncated = false;
        loop {
            let buf = match reader.fill_buf().await {
                Ok(buf) => buf,
                Err(_) => return,
            };
            if buf.is_empty() {
                if !line.is_empty() {
                    emit(&line, truncated, &subject, pid);
                }
                return;
            }
            let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
                Some(i) => (&buf[..i], Some(i + 1)),
                None => (buf, None),
            };
            let room = MAX_STDERR_LINE.saturating_sub(line.len());
            truncated |= chunk.len() > room;
            line.extend_from_slice(&chunk[..chunk.len().min(room)]);
            let consumed = done.unwrap_or(buf.len());
            reader.consume(consumed);
            if done.is_some() {
                break;
            }
        }
        emit(&line, truncated, &subject, pid);
    }
}

fn emit(line: &[u8], truncated: bool, subject: &str, pid: Option<u32>) {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches('\r');
    tracing::info!(target: "mcpgate_gateway::upstream", subject, pid, truncated, "stderr: {text}");
}

/// The gateway's MCP client toward the upstream: it declares sampling,
/// elicitation and roots (relayed to the caller whose call asks, if that
/// caller declared them) and relays progress and log messages.
#[derive(Clone)]
pub(crate) struct UpstreamClient {
    routes: Arc<Routes>,
}

#[allow(deprecated)] // sampling, roots and logging are current in the revisions relayed
impl ClientHandler for UpstreamClient {
    fn get_info(&self) -> ClientConfig {
        let capabilities = ClientCapabilities::builder()
            .enable_sampling()
            .enable_elicitation()
            // Without list changes: the callers' roots/list_changed
            // notifications are not relayed (each caller's roots differ).
            .enable_roots()
            .build();
        ClientConfig::new(
            capabilities,
            Implementation::new("mcpgate-gateway", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let caller = self.caller("sampling/createMessage", &context)?;
        if let Some(input) = &caller.input {
            if !input.sampling {
                return Err(crate::mrtr::refuse(&input.asks, "sampling").await);
            }
            let request = InputRequest::CreateMessage(CreateMessageRequest::new(params));
            let answer = crate::mrtr::ask(&input.asks, request).await?;
            return serde_json::from_value(answer).map_err(|e| {
                ErrorData::invalid_params(format!("the client's sampling result: {e}"), None)
            });
        }
        if caller
            .peer
            .peer_info()
            .is_none_or(|info| info.capabilities.sampling.is_none())
        {
            return Err(ErrorData::invalid_request(
                "the client behind the gateway does not support sampling",
                None,
            ));
        }
        let mut request = CreateMessageRequest::new(params);
        request
            .extensions
            .insert(OriginatingRequestId(caller.request_id.clone()));
        match relay(caller, ServerRequest::CreateMessageRequest(request)).await? {
            ClientResult::CreateMessageResult(result) => Ok(*result),
            _ => Err(ErrorData::internal_error(
                "the client answered sampling with another result",
                None,
            )),
        }
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let caller = self.caller("elicitation/create", &context)?;
        if let Some(input) = &caller.input {
            if !input.elicitation {
                return Err(crate::mrtr::refuse(&input.asks, "elicitation").await);
            }
            let request = InputRequest::Elicitation(ElicitRequest::new(params));
            let answer = crate::mrtr::ask(&input.asks, request).await?;
            return serde_json::from_value(answer).map_err(|e| {
                ErrorData::invalid_params(format!("the client's elicitation result: {e}"), None)
            });
        }
        if caller
            .peer
            .peer_info()
            .is_none_or(|info| info.capabilities.elicitation.is_none())
        {
            return Err(ErrorData::invalid_request(
                "the client behind the gateway does not support elicitation",
                None,
            ));
        }
        let mut request = ElicitRequest::new(params);
        request
            .extensions
            .insert(OriginatingRequestId(caller.request_id.clone()));
        match relay(caller, ServerRequest::ElicitRequest(request)).await? {
            ClientResult::ElicitResult(result) => Ok(result),
            _ => Err(ErrorData::internal_error(
                "the client answered elicitation with another result",
                None,
            )),
        }
    }

    /// The caller's roots, asked of the caller whose call the request
    /// belongs to (a 2026-07-28 caller: as an `inputRequest`). A request
    /// outside any call (many servers ask right after the handshake) has no
    /// caller to ask: the gateway itself has no roots, so the list is empty.
    /// One whose caller cannot be told (several principals in flight on a
    /// shared upstream) is refused rather than answered for anyone.
    async fn list_roots(
        &self,
        context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        let origin = match context.extensions.get::<InboundStreamOrigin>() {
            Some(InboundStreamOrigin::OutboundRequest(id)) => Some(id),
            _ => None,
        };
        if origin.is_none() && self.routes.caller(None).is_err_and(|why| why == NO_CALL) {
            return Ok(ListRootsResult::default());
        }
        let caller = self.caller("roots/list", &context)?;
        if let Some(input) = &caller.input {
            if !input.roots {
                return Err(crate::mrtr::refuse(&input.asks, "roots").await);
            }
            let request = InputRequest::ListRoots(ListRootsRequest::default());
            let answer = crate::mrtr::ask(&input.asks, request).await?;
            return serde_json::from_value(answer).map_err(|e| {
                ErrorData::invalid_params(format!("the client's roots/list result: {e}"), None)
            });
        }
        if caller
            .peer
            .peer_info()
            .is_none_or(|info| info.capabilities.roots.is_none())
        {
            return Err(ErrorData::invalid_request(
                "the client behind the gateway does not support roots",
                None,
            ));
        }
        let mut request = ListRootsRequest::default();
        request
            .extensions
            .insert(OriginatingRequestId(caller.request_id.clone()));
        match relay(caller, ServerRequest::ListRootsRequest(request)).await? {
            ClientResult::ListRootsResult(result) => Ok(result),
            _ => Err(ErrorData::internal_error(
                "the client answered roots/list with another result",
                None,
            )),
        }
    }

    async fn on_progress(
        &self,
        mut params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Some((caller, token)) = self.routes.progress(&params.progress_token) {
            params.progress_token = token;
            let _ = caller.notify_progress(params).await;
        }
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        for peer in self.routes.listeners() {
            let _ = peer.notify_tool_list_changed().await;
        }
        // Outside a stream's filter, or a closed stream: nothing to do.
        for stream in self.routes.streams() {
            let _ = stream.notify_tool_list_changed().await;
        }
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        for peer in self.routes.listeners() {
            let _ = peer.notify_prompt_list_changed().await;
        }
        // Outside a stream's filter, or a closed stream: nothing to do.
        for stream in self.routes.streams() {
            let _ = stream.notify_prompt_list_changed().await;
        }
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        for peer in self.routes.listeners() {
            let _ = peer.notify_resource_list_changed().await;
        }
        // Outside a stream's filter, or a closed stream: nothing to do.
        for stream in self.routes.streams() {
            let _ = stream.notify_resource_list_changed().await;
        }
    }

    /// Only to the sessions that subscribed to the URI through the gateway,
    /// under the URI they know.
    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Some((exposed, peers)) = self.routes.subscribers(&params.uri) {
            for peer in peers {
                let _ = peer
                    .notify_resource_updated(ResourceUpdatedNotificationParam::new(exposed.clone()))
                    .await;
            }
        }
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        // Log messages carry no request id; they go to the caller only when
        // it is unambiguous whose they are.
        if let Ok(caller) = self.routes.caller(None)
            && caller.logs.admits(params.level)
        {
            let _ = caller.peer.notify_logging_message(params).await;
        }
    }
}

impl UpstreamClient {
    /// The caller an upstream request belongs to: the call whose response
    /// stream carried it (HTTP upstreams), else the unambiguous in-flight one.
    fn caller(
        &self,
        method: &str,
        context: &RequestContext<RoleClient>,
    ) -> Result<Caller, ErrorData> {
        let origin = match context.extensions.get::<InboundStreamOrigin>() {
            Some(InboundStreamOrigin::OutboundRequest(id)) => Some(id),
            _ => None,
        };
        self.routes.caller(origin).map_err(|why| {
            ErrorData::invalid_request(
                format!("the gateway cannot relay {method} to a client: {why}"),
                None,
            )
        })
    }
}

/// Sends a request to the caller. A fresh task, so that the request is
/// associated with the caller's request (set in its extensions) rather than
/// with the upstream request this handler is answering (rmcp takes that from
/// a task-local).
async fn relay(caller: Caller, request: ServerRequest) -> Result<ClientResult, ErrorData> {
    tokio::spawn(async move { caller.peer.send_request(request).await })
        .await
        .map_err(|e| ErrorData::internal_error(format!("relaying to the client: {e}"), None))?
        .map_err(crate::forward::service_error)
}
