//! The gateway's MCP server side: an rmcp `ServerHandler` that answers every
//! request by forwarding it, as a fresh request built from its params only,
//! to the caller's upstream. Nothing of the caller's HTTP request (headers,
//! token) is part of what is forwarded.

#![allow(deprecated)] // logging/setLevel is current in the revisions served

use std::sync::Arc;

use mcpgate_auth::AccessToken;
use mcpgate_auth::policy::ItemKind;
use rmcp::model::RequestMetaObject;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, CancelledNotificationParam,
    ClientRequest, CompleteRequest, CompleteRequestParams, CompleteResult, CompletionInfo,
    GetPromptRequest, GetPromptRequestParams, GetPromptResponse, InputRequests,
    InputRequiredResult, ListPromptsRequest, ListPromptsResult, ListResourceTemplatesRequest,
    ListResourceTemplatesResult, ListResourcesRequest, ListResourcesResult, ListToolsRequest,
    ListToolsResult, PaginatedRequestParams, ProtocolVersion, ReadResourceRequest,
    ReadResourceRequestParams, ReadResourceResponse, Reference, ResourceContents, ResultType,
    ServerCapabilities, ServerConfig, ServerResult, SetLevelRequest, SetLevelRequestParams,
    SubscribeRequest, SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequest,
    UnsubscribeRequestParams,
};
use rmcp::service::{PeerRequestOptions, RequestContext, ServiceError, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};

use crate::config::{GatewayConfig, Isolation};
use crate::exchange::{Exchanger, SubjectToken};
use crate::metrics::{Metrics, Outcome};
use crate::mount::{Namespace, route_name, route_uri};
use crate::mrtr::{self, Resume, Waiting};
use crate::policy::Visibility;
use crate::pool::{AcquireError, Lease, Pool, PrincipalKey};
use crate::routes::{CallerInput, LogGate, Route, Routes};
use crate::sealed_state::Sealer;
use crate::upstream::Era;

/// One upstream behind the gateway: how its names appear, its settings and
/// its connections.
pub(crate) struct MountState {
    pub(crate) ns: Namespace,
    pub(crate) config: Arc<GatewayConfig>,
    pub(crate) pool: Arc<Pool>,
    /// What the upstream offered at start-up: a list is not asked of an
    /// upstream that has nothing of the kind.
    pub(crate) capabilities: ServerCapabilities,
    /// On-behalf-of tokens for this upstream, when it takes them.
    pub(crate) exchanger: Option<Arc<Exchanger>>,
}

/// What every session's handler shares.
pub(crate) struct Shared {
    pub(crate) mounts: Vec<MountState>,
    /// Advertised to callers: the upstreams' capabilities (as far as the
    /// gateway relays them), the name and instructions of a single upstream.
    pub(crate) info: ServerConfig,
    /// Counts for the admin endpoint's `/metrics`.
    pub(crate) metrics: Arc<Metrics>,
    /// 2026-07-28 calls waiting for the caller's input (see `mrtr`).
    pub(crate) parked: Arc<mrtr::ParkedCalls>,
    /// Binds 2026-07-28 upstreams' `requestState` to their callers.
    pub(crate) sealer: Sealer,
    /// Calls forwarded on the fast path (`fast_forward`).
    pub(crate) fast_forwards: crate::fast_forward::FastForwards,
}

impl Shared {
    /// One unnamed upstream: requests pass through unchanged, pagination included.
    pub(crate) fn single(&self) -> bool {
        self.mounts.len() == 1 && self.mounts[0].ns.name().is_none()
    }

    fn namespaces(&self) -> Vec<&Namespace> {
        self.mounts.iter().map(|m| &m.ns).collect()
    }

    /// The caller's connection of `era` to upstream `mount` (started if
    /// needed), with its on-behalf-of token when the upstream takes one.
    pub(crate) async fn lease(
        &self,
        mount: usize,
        key: PrincipalKey,
        token: Option<&AccessToken>,
        subject_token: Option<&SubjectToken>,
        era: Era,
        method: &str,
    ) -> Result<Lease, ErrorData> {
        let mount = &self.mounts[mount];
        let metrics = &self.metrics;
        let credential = match &mount.exchanger {
            Some(exchanger) => {
                let raw = subject_token.map(|s| &s.0);
                let exchanged = exchanger.token_for(&key, token, raw).await;
                match exchanged {
                    Ok(credential) => Some(credential),
                    Err(e) => {
                        tracing::warn!(
                            upstream = mount.ns.name().unwrap_or(""),
                            "on-behalf-of token: {e}"
                        );
                        metrics.request(method, Outcome::Unavailable);
                        return Err(ErrorData::internal_error(
                            format!("no on-behalf-of token for the upstream: {e}"),
                            None,
                        ));
                    }
                }
            }
            None => None,
        };
        let lease = mount
            .pool
            .acquire_with(key, credential, era)
            .await
            .inspect_err(|_| {
                metrics.request(method, Outcome::Unavailable);
            });
        let lease = lease.map_err(|e| match e {
            AcquireError::AtCapacity => ErrorData::internal_error(
                "the gateway is at its upstream limit (max children); retry later",
                None,
            ),
            AcquireError::Unavailable(problem) => ErrorData::internal_error(problem, None),
        })?;
        Ok(lease)
    }
}

/// The caller's token, kept for an on-behalf-of exchange (see `exchange`).
fn subject_token(context: &RequestContext<RoleServer>) -> Option<&SubjectToken> {
    context
        .extensions
        .get::<http::request::Parts>()?
        .extensions
        .get::<SubjectToken>()
}

/// The rmcp handler; one per downstream session, all sharing the pools.
#[derive(Clone)]
pub(crate) struct Forwarder {
    pub(crate) shared: Arc<Shared>,
    /// The policies the endpoint enforces, filtering lists per caller.
    pub(crate) visibility: Visibility,
}

/// Most pages read from one upstream to merge its list with the others'.
const MAX_PAGES: usize = 100;

/// The verified caller, put into the request's extensions by the guard.
fn caller(context: &RequestContext<RoleServer>) -> Option<Arc<AccessToken>> {
    context
        .extensions
        .get::<http::request::Parts>()?
        .extensions
        .get::<Arc<AccessToken>>()
        .cloned()
}

/// The downstream session (session-era clients), to tell it about list changes.
fn session_id(context: &RequestContext<RoleServer>) -> Option<String> {
    let parts = context.extensions.get::<http::request::Parts>()?;
    let value = parts.headers.get("mcp-session-id")?.to_str().ok()?;
    Some(value.to_owned())
}

/// An upstream failure as the JSON-RPC error the caller gets.
pub(crate) fn service_error(error: ServiceError) -> ErrorData {
    match error {
        // The upstream's own error passes through unchanged.
        ServiceError::McpError(e) => e,
        ServiceError::TransportClosed => ErrorData::internal_error(
            "the upstream MCP server exited or closed the connection before answering; it is restarted on the next request",
            None,
        ),
        ServiceError::Timeout { timeout } => ErrorData::internal_error(
            format!(
                "the upstream MCP server did not answer within {} s (the gateway's per-call timeout); the call was cancelled",
                timeout.as_secs_f64()
            ),
            None,
        ),
        other => ErrorData::internal_error(format!("upstream: {other}"), None),
    }
}

/// Whether the caller speaks 2026-07-28 or later (no session; the protocol
/// version travels in `_meta`).
fn is_stateless(context: &RequestContext<RoleServer>) -> bool {
    context
        .meta
        .protocol_version()
        .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28)
}

/// The era of upstream connection a caller's request goes to.
fn era_of(context: &RequestContext<RoleServer>) -> Era {
    if is_stateless(context) {
        Era::Stateless
    } else {
        Era::Session
    }
}

/// The `_meta` a 2026-07-28 upstream gets with a caller's request: the
/// caller's own declared client capabilities (so the upstream asks only for
/// what this caller can give; none declared is `{}`, not the gateway's) and
/// log level. The protocol version and the gateway's client info are added
/// by the connection. Copied as JSON, so capability fields unknown to the
/// gateway reach the upstream too.
fn caller_meta(context: &RequestContext<RoleServer>) -> RequestMetaObject {
    const CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
    const LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
    let mut meta = RequestMetaObject::default();
    let capabilities = context
        .meta
        .get(CAPABILITIES)
        .filter(|c| c.is_object())
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    meta.insert(CAPABILITIES.to_owned(), capabilities);
    if let Some(level) = context.meta.get(LOG_LEVEL) {
        meta.insert(LOG_LEVEL.to_owned(), level.clone());
    }
    meta
}

/// `resources/subscribe` outside a session: 2026-07-28 callers subscribe
/// with `subscriptions/listen`.
fn no_session() -> ErrorData {
    ErrorData::invalid_request(
        "resources/subscribe and resources/unsubscribe need a session (protocol 2025-11-25 or earlier)",
        None,
    )
}

/// The metrics outcome of an upstream failure.
fn outcome_of(error: &ServiceError) -> Outcome {
    match error {
        ServiceError::McpError(_) => Outcome::Error,
        ServiceError::Timeout { .. } => Outcome::Timeout,
        ServiceError::TransportClosed => Outcome::UpstreamClosed,
        _ => Outcome::Error,
    }
}

/// A session-era upstream sends results without `resultType`, which a
/// 2026-07-28 caller requires; a result without one is complete (rmcp
/// strips it again for session-era callers).
fn mark_complete(result: &mut ServerResult) {
    let result_type = match result {
        ServerResult::CompleteResult(r) => &mut r.result_type,
        ServerResult::GetPromptResult(r) => &mut r.result_type,
        ServerResult::ListPromptsResult(r) => &mut r.result_type,
        ServerResult::ListResourcesResult(r) => &mut r.result_type,
        ServerResult::ListResourceTemplatesResult(r) => &mut r.result_type,
        ServerResult::ReadResourceResult(r) => &mut r.result_type,
        ServerResult::ListToolsResult(r) => &mut r.result_type,
        ServerResult::CallToolResult(r) => &mut r.result_type,
        _ => return,
    };
    result_type.get_or_insert(ResultType::COMPLETE);
}

fn unexpected(method: &str) -> ErrorData {
    ErrorData::internal_error(
        format!("the upstream answered `{method}` with a result of another kind"),
        None,
    )
}

impl Forwarder {
    /// Forwards one request to the caller's upstream and waits for its
    /// answer, the per-call timeout, or the caller's cancellation (which is
    /// passed on as `notifications/cancelled`).
    async fn forward(
        &self,
        mount: usize,
        request: ClientRequest,
        context: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        self.forward_with(mount, request, context, era_of(context), |_| Ok(true))
            .await
    }

    /// [`forward`](Self::forward) over the caller's connection of `era`,
    /// with `before` run on the connection's routes once the caller's
    /// upstream is known: it may refuse the request, or answer it with an
    /// empty result without sending it (`Ok(false)`).
    async fn forward_with(
        &self,
        mount: usize,
        request: ClientRequest,
        context: &RequestContext<RoleServer>,
        era: Era,
        before: impl FnOnce(&Arc<Routes>) -> Result<bool, ErrorData>,
    ) -> Result<ServerResult, ErrorData> {
        let index = mount;
        let mount = &self.shared.mounts[mount];
        let metrics = &self.shared.metrics;
        // Owned: `request` moves into the upstream call below.
        let method = request.method().to_owned();
        let token = caller(context);
        // A 2026-07-28 retry of a call parked for input goes on with it.
        let principal = PrincipalKey::for_caller(Isolation::PerPrincipal, token.as_deref());
        let mut request = request;
        if let Resume::Parked(waiting, responses) =
            self.shared
                .parked
                .resume(&mut request, &principal, index, &self.shared.sealer)?
        {
            let mut waiting = *waiting;
            let pending = std::mem::take(&mut waiting.pending);
            waiting.pending = mrtr::deliver(pending, &responses).inspect_err(|_| {
                metrics.request(&method, Outcome::Error);
            })?;
            waiting.route.retarget(
                context.peer.clone(),
                context.id.clone(),
                context.meta.get_progress_token(),
                LogGate::for_request(&context.meta),
            );
            return self.wait(waiting, &method, context).await;
        }
        let lease = self.caller_lease(index, context, era, &method).await?;
        let connection = lease.connection();
        if !before(connection.routes())? {
            return Ok(ServerResult::empty(()));
        }
        let started = std::time::Instant::now();
        let target = mrtr::target_of(&request).to_owned();
        let mut options = PeerRequestOptions::with_timeout(mount.config.call_timeout);
        if connection.is_stateless() {
            options = options.with_meta(caller_meta(context));
        }
        if let Some(session) = session_id(context) {
            connection.routes().listen(&session, &context.peer);
        }
        // A 2026-07-28 caller cannot be sent the upstream's requests; its
        // tools/call, prompts/get and resources/read take them as
        // `inputRequests` instead (see `mrtr`).
        let (input, asks) = if is_stateless(context)
            && matches!(
                method.as_str(),
                "tools/call" | "prompts/get" | "resources/read"
            ) {
            let (tx, rx) = mrtr::channel();
            let declared = context.meta.client_capabilities();
            let input = CallerInput {
                asks: tx,
                sampling: declared.as_ref().is_some_and(|c| c.sampling.is_some()),
                elicitation: declared.as_ref().is_some_and(|c| c.elicitation.is_some()),
                roots: declared.as_ref().is_some_and(|c| c.roots.is_some()),
            };
            (Some(input), Some(rx))
        } else {
            (None, None)
        };
        // Registered before the request is sent: a fast upstream may ask for
        // input (or report progress) before `send_request` returns, and a
        // request that finds no call in flight would go to the previous
        // call's caller.
        let route = connection.routes().register(Route {
            downstream: context.peer.clone(),
            downstream_id: context.id.clone(),
            principal: principal.clone(),
            upstream_id: None,
            upstream_token: None,
            downstream_token: context.meta.get_progress_token(),
            logs: LogGate::for_request(&context.meta),
            input,
        });
        let handle = connection
            .peer()
            .send_request_with_option(request, options)
            .await
            .map_err(|e| {
                metrics.request(&method, outcome_of(&e));
                service_error(e)
            })?;
        route.bind(handle.id.clone(), handle.progress_token.clone());
        let upstream = handle.peer.clone();
        let upstream_id = handle.id.clone();
        let waiting = Waiting {
            mount: index,
            principal,
            response: Box::pin(handle.await_response()),
            asks,
            pending: Vec::new(),
            asked: 0,
            lease,
            route,
            upstream,
            upstream_id,
            started,
            target,
        };
        self.wait(waiting, &method, context).await
    }

    /// The caller's (`context`'s) connection of `era` to upstream `mount`.
    async fn caller_lease(
        &self,
        mount: usize,
        context: &RequestContext<RoleServer>,
        era: Era,
        method: &str,
    ) -> Result<Lease, ErrorData> {
        let token = caller(context);
        let isolation = self.shared.mounts[mount].config.isolation;
        let key = PrincipalKey::for_caller(isolation, token.as_deref());
        self.shared
            .lease(
                mount,
                key,
                token.as_deref(),
                subject_token(context),
                era,
                method,
            )
            .await
    }

    /// Waits for the upstream's answer, the caller's cancellation, or (for a
    /// 2026-07-28 call) a request of the upstream, which parks the call and
    /// answers the caller with an `InputRequiredResult`.
    async fn wait(
        &self,
        mut waiting: Waiting,
        method: &str,
        context: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let metrics = &self.shared.metrics;
        // Some of the last round's requests were not answered: ask again.
        if !waiting.pending.is_empty() {
            return self.park(waiting, method);
        }
        // A short-lived local: boxing the answer would cost an allocation
        // per call for nothing.
        #[allow(clippy::large_enum_variant)]
        enum Next {
            Answer(Result<ServerResult, ServiceError>),
            Ask(Option<mrtr::Asked>),
            Cancelled,
        }
        loop {
            let next = {
                let response = &mut waiting.response;
                let asks = &mut waiting.asks;
                let ask = async {
                    match asks {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    answer = response => Next::Answer(answer),
                    ask = ask => Next::Ask(ask),
                    () = context.ct.cancelled() => Next::Cancelled,
                }
            };
            match next {
                Next::Answer(answer) => {
                    metrics.upstream_latency(waiting.started.elapsed());
                    let mut result = answer.map_err(|e| {
                        metrics.request(method, outcome_of(&e));
                        service_error(e)
                    })?;
                    waiting.lease.succeeded().await;
                    if let ServerResult::InputRequiredResult(asked) = &mut result {
                        // A 2026-07-28 upstream's own round: its state goes
                        // to the caller bound to it (see `sealed_state`).
                        metrics.request(method, Outcome::InputRequired);
                        if let Some(state) = asked.request_state.as_mut() {
                            *state = self.shared.sealer.seal(
                                state,
                                &waiting.principal,
                                waiting.mount,
                                (method, &waiting.target),
                            );
                        }
                        return Ok(result);
                    }
                    metrics.request(method, Outcome::Ok);
                    mark_complete(&mut result);
                    return Ok(result);
                }
                Next::Ask(Some(first)) => {
                    let mut asks = vec![first];
                    // Requests the upstream made together go out together.
                    if let Some(rx) = waiting.asks.as_mut() {
                        while let Ok(more) = rx.try_recv() {
                            asks.push(more);
                        }
                    }
                    let undeclared = asks.iter().find_map(|a| match a {
                        mrtr::Asked::Undeclared(capability) => Some(*capability),
                        mrtr::Asked::Input(_) => None,
                    });
                    if let Some(capability) = undeclared {
                        // The whole call fails, as it would on a 2026-07-28
                        // server: the upstream's other requests are dropped
                        // unanswered (`asks`) and its call is cancelled.
                        metrics.request(method, Outcome::Error);
                        let _ = waiting
                            .upstream
                            .notify_cancelled(CancelledNotificationParam::new(
                                Some(waiting.upstream_id.clone()),
                                Some(format!(
                                    "the client did not declare the {capability} capability"
                                )),
                            ))
                            .await;
                        return Err(mrtr::missing_capability(capability));
                    }
                    for ask in asks {
                        let mrtr::Asked::Input(ask) = ask else {
                            continue;
                        };
                        waiting.asked += 1;
                        let key = format!("input-{}", waiting.asked);
                        waiting.pending.push((key, *ask));
                    }
                    return self.park(waiting, method);
                }
                // No request can come any more; wait for the answer alone.
                Next::Ask(None) => waiting.asks = None,
                Next::Cancelled => {
                    metrics.request(method, Outcome::Cancelled);
                    let _ = waiting
                        .upstream
                        .notify_cancelled(CancelledNotificationParam::new(
                            Some(waiting.upstream_id.clone()),
                            Some("cancelled by the client".to_owned()),
                        ))
                        .await;
                    return Err(ErrorData::internal_error("cancelled by the client", None));
                }
            }
        }
    }

    /// Parks a call whose upstream asked for input and answers the caller
    /// with those requests and the call's handle.
    fn park(&self, waiting: Waiting, method: &str) -> Result<ServerResult, ErrorData> {
        let requests: InputRequests = waiting
            .pending
            .iter()
            .map(|(key, ask)| (key.clone(), ask.request.clone()))
            .collect();
        let ttl = self.shared.mounts[waiting.mount].config.call_timeout;
        let Some(handle) = self.shared.parked.park(waiting, ttl) else {
            self.shared.metrics.request(method, Outcome::Unavailable);
            return Err(ErrorData::internal_error(
                "too many calls are waiting for client input; retry later",
                None,
            ));
        };
        self.shared.metrics.request(method, Outcome::InputRequired);
        Ok(ServerResult::InputRequiredResult(InputRequiredResult::new(
            Some(requests),
            Some(handle),
        )))
    }

    /// Every item of one kind from every upstream, renamed into its mount's
    /// namespace. An upstream that fails is left out (and logged) unless
    /// all fail.
    async fn list_merged<T>(
        &self,
        context: &RequestContext<RoleServer>,
        request: impl Fn(Option<PaginatedRequestParams>) -> ClientRequest,
        items: impl Fn(ServerResult) -> Option<(Vec<T>, Option<String>)>,
        rename: impl Fn(&Namespace, &mut T),
        offers: impl Fn(&ServerCapabilities) -> bool,
        method: &str,
    ) -> Result<Vec<T>, ErrorData> {
        let mut all = Vec::new();
        let mut first_error = None;
        let mut answered = 0;
        for (index, mount) in self.shared.mounts.iter().enumerate() {
            if !offers(&mount.capabilities) {
                continue;
            }
            let mut cursor: Option<String> = None;
            let mut failed = false;
            for _ in 0..MAX_PAGES {
                let params = cursor
                    .take()
                    .map(|c| PaginatedRequestParams::default().with_cursor(Some(c)));
                match self.forward(index, request(params), context).await {
                    Ok(result) => {
                        let Some((mut page, next)) = items(result) else {
                            failed = true;
                            first_error.get_or_insert_with(|| unexpected(method));
                            break;
                        };
                        for item in &mut page {
                            rename(&mount.ns, item);
                        }
                        all.append(&mut page);
                        match next {
                            Some(next) => cursor = Some(next),
                            None => break,
                        }
                    }
                    Err(e) => {
                        tracing::warn!(
                            upstream = mount.ns.name().unwrap_or(""),
                            "{method} failed: {}",
                            e.message
                        );
                        failed = true;
                        first_error.get_or_insert(e);
                        break;
                    }
                }
            }
            if !failed {
                answered += 1;
            }
        }
        match first_error {
            Some(e) if answered == 0 && all.is_empty() => Err(e),
            _ => Ok(all),
        }
    }

    /// The mount and upstream name for a tool or prompt name.
    fn route_name<'a>(&self, exposed: &'a str, what: &str) -> Result<(usize, &'a str), ErrorData> {
        route_name(&self.shared.namespaces(), exposed)
            .ok_or_else(|| ErrorData::invalid_params(format!("unknown {what} `{exposed}`"), None))
    }

    /// The mount and upstream URI for a resource URI.
    fn route_uri(&self, exposed: &str) -> Result<(usize, String), ErrorData> {
        route_uri(&self.shared.namespaces(), exposed).ok_or_else(|| {
            ErrorData::resource_not_found(format!("unknown resource `{exposed}`"), None)
        })
    }
}

#[allow(deprecated)] // logging/setLevel is current in the revisions served
impl ServerHandler for Forwarder {
    fn get_info(&self) -> ServerConfig {
        self.shared.info.clone()
    }

    /// Every revision rmcp serves, whatever the upstream speaks: the gateway
    /// terminates MCP on both sides.
    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [ProtocolVersion]> {
        std::borrow::Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2026_07_28))
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let make = |params: Option<PaginatedRequestParams>| {
            ClientRequest::ListToolsRequest(match params {
                Some(params) => ListToolsRequest::with_param(params),
                None => ListToolsRequest::default(),
            })
        };
        let caller = caller(&context);
        let caller = caller.as_deref();
        if self.shared.single() {
            return match self.forward(0, make(request), &context).await? {
                ServerResult::ListToolsResult(mut result) => {
                    self.visibility
                        .retain(caller, ItemKind::Tool, &mut result.tools, |t| &t.name);
                    Ok(result)
                }
                _ => Err(unexpected("tools/list")),
            };
        }
        let mut tools = self
            .list_merged(
                &context,
                make,
                |r| match r {
                    ServerResult::ListToolsResult(r) => Some((r.tools, r.next_cursor)),
                    _ => None,
                },
                |ns, tool| tool.name = ns.expose_name(&tool.name).into(),
                |c| c.tools.is_some(),
                "tools/list",
            )
            .await?;
        self.visibility
            .retain(caller, ItemKind::Tool, &mut tools, |t| &t.name);
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        mut request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let (mount, inner) = self.route_name(&request.name, "tool")?;
        request.name = inner.to_owned().into();
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(request));
        match self.forward(mount, request, &context).await? {
            ServerResult::CallToolResult(result) => Ok(CallToolResponse::Complete(result)),
            ServerResult::InputRequiredResult(result) => {
                Ok(CallToolResponse::InputRequired(result))
            }
            ServerResult::CreateTaskResult(result) => Ok(CallToolResponse::Task(result)),
            _ => Err(unexpected("tools/call")),
        }
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let make = |params: Option<PaginatedRequestParams>| {
            ClientRequest::ListResourcesRequest(match params {
                Some(params) => ListResourcesRequest::with_param(params),
                None => ListResourcesRequest::default(),
            })
        };
        let caller = caller(&context);
        let caller = caller.as_deref();
        if self.shared.single() {
            return match self.forward(0, make(request), &context).await? {
                ServerResult::ListResourcesResult(mut result) => {
                    self.visibility.retain(
                        caller,
                        ItemKind::Resource,
                        &mut result.resources,
                        |r| &r.uri,
                    );
                    Ok(result)
                }
                _ => Err(unexpected("resources/list")),
            };
        }
        let mut resources = self
            .list_merged(
                &context,
                make,
                |r| match r {
                    ServerResult::ListResourcesResult(r) => Some((r.resources, r.next_cursor)),
                    _ => None,
                },
                |ns, resource| resource.uri = ns.expose_uri(&resource.uri),
                |c| c.resources.is_some(),
                "resources/list",
            )
            .await?;
        self.visibility
            .retain(caller, ItemKind::Resource, &mut resources, |r| &r.uri);
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let make = |params: Option<PaginatedRequestParams>| {
            ClientRequest::ListResourceTemplatesRequest(match params {
                Some(params) => ListResourceTemplatesRequest::with_param(params),
                None => ListResourceTemplatesRequest::default(),
            })
        };
        let caller = caller(&context);
        let caller = caller.as_deref();
        if self.shared.single() {
            return match self.forward(0, make(request), &context).await? {
                ServerResult::ListResourceTemplatesResult(mut result) => {
                    self.visibility.retain(
                        caller,
                        ItemKind::ResourceTemplate,
                        &mut result.resource_templates,
                        |t| &t.uri_template,
                    );
                    Ok(result)
                }
                _ => Err(unexpected("resources/templates/list")),
            };
        }
        let mut templates = self
            .list_merged(
                &context,
                make,
                |r| match r {
                    ServerResult::ListResourceTemplatesResult(r) => {
                        Some((r.resource_templates, r.next_cursor))
                    }
                    _ => None,
                },
                |ns, template| template.uri_template = ns.expose_uri(&template.uri_template),
                |c| c.resources.is_some(),
                "resources/templates/list",
            )
            .await?;
        self.visibility
            .retain(caller, ItemKind::ResourceTemplate, &mut templates, |t| {
                &t.uri_template
            });
        Ok(ListResourceTemplatesResult::with_all_items(templates))
    }

    async fn read_resource(
        &self,
        mut request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let (mount, inner) = self.route_uri(&request.uri)?;
        request.uri = inner;
        let request = ClientRequest::ReadResourceRequest(ReadResourceRequest::new(request));
        match self.forward(mount, request, &context).await? {
            ServerResult::ReadResourceResult(mut result) => {
                let ns = &self.shared.mounts[mount].ns;
                for contents in &mut result.contents {
                    rename_contents(ns, contents);
                }
                Ok(ReadResourceResponse::Complete(result))
            }
            ServerResult::InputRequiredResult(result) => {
                Ok(ReadResourceResponse::InputRequired(result))
            }
            _ => Err(unexpected("resources/read")),
        }
    }

    /// Passed to the upstream that owns the URI, over the caller's own
    /// upstream connection, so the subscription lives as long as it does.
    /// 2026-07-28 `subscriptions/listen`: list changes only (what the
    /// upstreams announce to the gateway's session with them); resource
    /// updates are not offered on a stream (session-era `resources/subscribe`
    /// is relayed instead). rmcp narrows the result to what is advertised.
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let mut accepted = requested.clone();
        accepted.resource_subscriptions = None;
        Some(accepted)
    }

    /// For every upstream, the caller's list changes: from an upstream that
    /// speaks 2026-07-28, by a `subscriptions/listen` of the gateway's own on
    /// the caller's 2026-07-28 connection (held open while the stream is),
    /// its notifications relayed; from a session-era upstream, by
    /// registering the stream on the caller's session-era connection
    /// (started if needed, as a call would), whose upstream announces list
    /// changes on the session. The caller's stream ends when an upstream's
    /// does (see below); a session-era connection stopped meanwhile (idle,
    /// crashed) takes the registration with it: its replacement starts
    /// without this stream.
    async fn listen(&self, subscription: SubscriptionContext) -> Result<(), ErrorData> {
        let context = subscription.request_context().clone();
        let mut registered: Vec<(Arc<Routes>, u64)> = Vec::new();
        let mut relays = Vec::new();
        let mut upstream_gone = false;
        for (index, mount) in self.shared.mounts.iter().enumerate() {
            let upstream = mount.ns.name().unwrap_or("");
            let lease = self
                .caller_lease(index, &context, Era::Stateless, "subscriptions/listen")
                .await;
            let lease = match lease {
                Ok(lease) => lease,
                Err(e) => {
                    tracing::warn!(upstream, "subscriptions/listen: {}", e.message);
                    continue;
                }
            };
            let connection = lease.connection();
            if connection.is_stateless() {
                let filter = subscription.accepted().clone();
                match connection.peer().listen(filter).await {
                    Ok(upstream_stream) => relays.push(relay_list_changes(
                        upstream_stream,
                        subscription.sink().clone(),
                        lease,
                    )),
                    // The upstream refuses: it has no list changes to give.
                    Err(ServiceError::McpError(e)) => {
                        tracing::warn!(upstream, "subscriptions/listen upstream: {}", e.message);
                    }
                    // It exited or closed: as if its stream had ended.
                    Err(e) => {
                        tracing::warn!(upstream, "subscriptions/listen upstream: {e}");
                        upstream_gone = true;
                    }
                }
            } else {
                let routes = connection.routes();
                registered.push((
                    routes.clone(),
                    routes.add_stream(subscription.sink().clone()),
                ));
            }
        }
        // When an upstream's stream ends (the upstream ended it, exited or
        // crashed), so does the caller's, gracefully: the caller listens
        // again and gets a fresh upstream stream, instead of an open stream
        // that would never carry anything again.
        let any_relay_ended = async {
            if upstream_gone {
                return;
            }
            if relays.is_empty() {
                std::future::pending::<()>().await;
            }
            futures::future::select_all(relays.into_iter().map(Box::pin)).await;
        };
        tokio::select! {
            () = any_relay_ended => {}
            () = subscription.cancelled() => {}
        }
        for (routes, id) in registered {
            routes.remove_stream(id);
        }
        Ok(())
    }

    /// The session is remembered on that connection, so the upstream's
    /// `notifications/resources/updated` for the URI reach it (and only the
    /// sessions that subscribed), under the URI the caller knows.
    async fn subscribe(
        &self,
        mut request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let exposed = request.uri.clone();
        let (mount, inner) = self.route_uri(&request.uri)?;
        let session = session_id(&context).ok_or_else(no_session)?;
        request.uri = inner.clone();
        let request = ClientRequest::SubscribeRequest(SubscribeRequest::new(request));
        let peer = context.peer.clone();
        let remember = |routes: &Arc<Routes>| {
            routes
                .subscribe(&inner, &exposed, &session, &peer)
                .map(|()| true)
                .map_err(|why| ErrorData::invalid_request(why, None))
        };
        match self
            .forward_with(mount, request, &context, Era::Session, remember)
            .await?
        {
            ServerResult::EmptyResult(_) => Ok(()),
            _ => Err(unexpected("resources/subscribe")),
        }
    }

    async fn unsubscribe(
        &self,
        mut request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let (mount, inner) = self.route_uri(&request.uri)?;
        let session = session_id(&context).ok_or_else(no_session)?;
        request.uri = inner.clone();
        let request = ClientRequest::UnsubscribeRequest(UnsubscribeRequest::new(request));
        // The upstream subscription is the connection's: it is ended only
        // when no other session of this connection still wants the URI.
        let last = |routes: &Arc<Routes>| Ok(routes.unsubscribe(&inner, &session));
        match self
            .forward_with(mount, request, &context, Era::Session, last)
            .await?
        {
            ServerResult::EmptyResult(_) => Ok(()),
            _ => Err(unexpected("resources/unsubscribe")),
        }
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let make = |params: Option<PaginatedRequestParams>| {
            ClientRequest::ListPromptsRequest(match params {
                Some(params) => ListPromptsRequest::with_param(params),
                None => ListPromptsRequest::default(),
            })
        };
        let caller = caller(&context);
        let caller = caller.as_deref();
        if self.shared.single() {
            return match self.forward(0, make(request), &context).await? {
                ServerResult::ListPromptsResult(mut result) => {
                    self.visibility
                        .retain(caller, ItemKind::Prompt, &mut result.prompts, |p| &p.name);
                    Ok(result)
                }
                _ => Err(unexpected("prompts/list")),
            };
        }
        let mut prompts = self
            .list_merged(
                &context,
                make,
                |r| match r {
                    ServerResult::ListPromptsResult(r) => Some((r.prompts, r.next_cursor)),
                    _ => None,
                },
                |ns, prompt| prompt.name = ns.expose_name(&prompt.name),
                |c| c.prompts.is_some(),
                "prompts/list",
            )
            .await?;
        self.visibility
            .retain(caller, ItemKind::Prompt, &mut prompts, |p| &p.name);
        Ok(ListPromptsResult::with_all_items(prompts))
    }

    async fn get_prompt(
        &self,
        mut request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let (mount, inner) = self.route_name(&request.name, "prompt")?;
        request.name = inner.to_owned();
        let request = ClientRequest::GetPromptRequest(GetPromptRequest::new(request));
        match self.forward(mount, request, &context).await? {
            ServerResult::GetPromptResult(result) => Ok(GetPromptResponse::Complete(result)),
            ServerResult::InputRequiredResult(result) => {
                Ok(GetPromptResponse::InputRequired(result))
            }
            _ => Err(unexpected("prompts/get")),
        }
    }

    async fn complete(
        &self,
        mut request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        if self.visibility.is_active() {
            let (kind, reference) = match &request.r#ref {
                Reference::Prompt(prompt) => (ItemKind::Prompt, prompt.name.as_str()),
                Reference::Resource(resource) => {
                    (ItemKind::ResourceTemplate, resource.uri.as_str())
                }
                _ => (ItemKind::Prompt, ""),
            };
            if !reference.is_empty()
                && !self
                    .visibility
                    .visible(caller(&context).as_deref(), kind, reference)
            {
                // As for an item hidden from lists: nothing to complete, and
                // no hint that it exists; the upstream is not asked.
                let info = CompletionInfo::with_pagination(Vec::new(), Some(0), false)
                    .map_err(|e| ErrorData::internal_error(e, None))?;
                return Ok(CompleteResult::new(info));
            }
        }
        let mount = match &mut request.r#ref {
            Reference::Prompt(prompt) => {
                let (mount, inner) = self.route_name(&prompt.name, "prompt")?;
                prompt.name = inner.to_owned();
                mount
            }
            Reference::Resource(resource) => {
                let (mount, inner) = self.route_uri(&resource.uri)?;
                resource.uri = inner;
                mount
            }
            _ => {
                return Err(ErrorData::invalid_params(
                    "unsupported completion reference",
                    None,
                ));
            }
        };
        let request = ClientRequest::CompleteRequest(CompleteRequest::new(request));
        match self.forward(mount, request, &context).await? {
            ServerResult::CompleteResult(result) => Ok(result),
            _ => Err(unexpected("completion/complete")),
        }
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if self.shared.info.capabilities.logging.is_none() {
            return Ok(());
        }
        for (index, mount) in self.shared.mounts.iter().enumerate() {
            if mount.capabilities.logging.is_none() {
                continue;
            }
            let request = ClientRequest::SetLevelRequest(SetLevelRequest::new(request.clone()));
            self.forward(index, request, &context).await?;
        }
        Ok(())
    }
}

/// Relays an upstream's list-change notifications to a caller's stream
/// until either ends; the lease keeps the upstream connection from being
/// stopped as idle meanwhile. Dropping the upstream subscription cancels it.
async fn relay_list_changes(
    mut upstream: rmcp::service::Subscription,
    sink: rmcp::service::SubscriptionSink,
    lease: Lease,
) {
    use rmcp::model::ServerNotification;
    let _lease = lease;
    while let Ok(Some(notification)) = upstream.next().await {
        let sent = match notification {
            ServerNotification::ToolListChangedNotification(_) => {
                sink.notify_tool_list_changed().await
            }
            ServerNotification::PromptListChangedNotification(_) => {
                sink.notify_prompt_list_changed().await
            }
            ServerNotification::ResourceListChangedNotification(_) => {
                sink.notify_resource_list_changed().await
            }
            // Resource updates are not offered on the gateway's streams.
            _ => Ok(()),
        };
        if let Err(
            rmcp::service::SubscriptionSendError::SubscriptionClosed
            | rmcp::service::SubscriptionSendError::Service(_),
        ) = sent
        {
            // The caller's stream is gone.
            return;
        }
    }
}

/// A read result's URIs, in the mount's namespace.
fn rename_contents(ns: &Namespace, contents: &mut ResourceContents) {
    match contents {
        ResourceContents::TextResourceContents { uri, .. }
        | ResourceContents::BlobResourceContents { uri, .. } => *uri = ns.expose_uri(uri),
        #[allow(unreachable_patterns)]
        _ => {}
    }
}
