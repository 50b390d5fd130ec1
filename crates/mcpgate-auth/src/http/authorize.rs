//! Per-item authorization at the HTTP edge: the guard's last check before the
//! MCP service, turning a [`PolicySet`] decision into a `403` challenge.
//!
//! Which item a request uses is read as cheaply as its revision allows:
//!
//! - **2026-07-28 and later** (stateless): from the `Mcp-Method` and
//!   `Mcp-Name` headers, before the body is read. The MCP service rejects a
//!   request whose headers disagree with its body (rmcp answers `400`,
//!   `-32020`), so a caller cannot name an allowed tool in the header and
//!   call another in the body. A missing or duplicated header is left to
//!   that check too: such a request never runs anything.
//! - **Session era**: from the JSON-RPC body, read once (bounded by the
//!   same limit the MCP service applies) and parsed only for `method` and
//!   `params.name` / `params.uri`; the same bytes are then handed on. A
//!   batch (a JSON array, 2025-03-26) is decided message by message and
//!   refused whole if any message is refused (the answer of the first one
//!   refused; step-ups merge their scopes). A notification is decided like
//!   a request: the method names the item, whether or not an answer is
//!   expected. A body that is not JSON, or whose `method`/`params` have the
//!   wrong shape, is refused `400` (parse error) rather than passed on
//!   unchecked: fail closed.
//!
//! Governed methods: `tools/call` (the tool's name), `prompts/get` (the
//! prompt's name), `resources/read` and the session era's
//! `resources/subscribe` (the resource's URI, as [`ItemKind::Resource`]). A URI served by a resource template is also
//! decided as [`ItemKind::ResourceTemplate`] on the template's URI
//! template, when the endpoint knows its templates
//! ([`ResourceTemplates`]); the two decisions combine (a denial wins, then
//! a step-up with both sets of scopes). So `Policy::resource_templates(
//! "users://{id}/profile")` governs every URI that template serves, and
//! `Policy::resources("users://*")` governs by URI whatever serves it.
//! Everything else (lists, `initialize`, pings, `completion/complete`)
//! passes: lists are filtered by the MCP service, per caller, with the same
//! set, and so are completions (`mcpgate` answers a completion for a prompt
//! or template the caller may not use with no values).
//!
//! Cost: nothing without policies (the guard holds no [`EdgePolicy`]). An
//! allowed 2026-07-28 request costs a header lookup and the set's hash
//! lookup, with no allocation; an allowed session-era request also has its
//! body collected (one frame is kept without copying), scanned by a
//! borrowing parser and re-wrapped for the MCP service.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::challenge::{ChallengeParams, Rejection};
use crate::claims::AccessToken;
use crate::policy::{Decision, ItemKind, PolicySet};

/// Default bound on a session-era body read for a policy decision (the MCP
/// service's own default limit).
pub const DEFAULT_POLICY_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// Which resource template, if any, serves a URI: lets resource-template
/// policies apply to `resources/read` (given to
/// [`ProtectedEndpoint::resource_templates`](super::ProtectedEndpoint::resource_templates)).
pub trait ResourceTemplates: Send + Sync {
    /// The URI template (as listed, e.g. `users://{id}/profile`) that serves
    /// `uri`, or `None` if no template does (a fixed resource, or nothing).
    fn template_for(&self, uri: &str) -> Option<&str>;
}

/// How many requests the policies refused, by kind of answer. Cloned handles
/// share the counts ([`ProtectedEndpoint::policy_stats`](super::ProtectedEndpoint::policy_stats)).
#[derive(Debug, Clone, Default)]
pub struct PolicyStats {
    inner: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    step_ups: AtomicU64,
    denials: AtomicU64,
}

impl PolicyStats {
    /// Requests answered `403 insufficient_scope` (a step-up would help).
    pub fn step_ups(&self) -> u64 {
        self.inner.step_ups.load(Ordering::Relaxed)
    }

    /// Requests answered `403 access_denied` (no scope would help).
    pub fn denials(&self) -> u64 {
        self.inner.denials.load(Ordering::Relaxed)
    }
}

/// The policies the guard enforces, and what it needs to apply them.
pub(crate) struct EdgePolicy {
    pub(crate) set: Arc<PolicySet>,
    pub(crate) max_body_bytes: usize,
    pub(crate) templates: Option<Arc<dyn ResourceTemplates>>,
    pub(crate) stats: PolicyStats,
}

/// What [`EdgePolicy::check`] did with the request.
pub(crate) enum Checked {
    /// Allowed: serve this request (a body read for the decision is put
    /// back as it was).
    Pass(Request),
    /// Refused: answer with this (the body was read if `body_read`).
    Refuse { response: Response, body_read: bool },
}

impl EdgePolicy {
    /// Decides `request` (authenticated as `token`) when it is a POST whose
    /// method names an item. `stateless`: a 2026-07-28 request, decided from
    /// its headers.
    pub(crate) async fn check(
        &self,
        request: Request,
        token: &AccessToken,
        stateless: bool,
        challenge: &Arc<ChallengeParams>,
    ) -> Checked {
        if request.method() != http::Method::POST {
            return Checked::Pass(request);
        }
        if stateless {
            let decision = match from_headers(request.headers()) {
                Some((kind, name)) => self.decide(kind, &name, token),
                None => Decision::Allow,
            };
            return match self.refusal(decision, token, challenge) {
                None => Checked::Pass(request),
                Some(response) => Checked::Refuse {
                    response,
                    body_read: false,
                },
            };
        }
        let (parts, body) = request.into_parts();
        let bytes = match read_body(body, self.max_body_bytes).await {
            Ok(bytes) => bytes,
            Err(response) => {
                return Checked::Refuse {
                    response,
                    body_read: false,
                };
            }
        };
        let decision = match self.decide_body(&bytes, token) {
            Ok(decision) => decision,
            Err(()) => {
                tracing::debug!("refused a request whose body could not be parsed for a policy");
                return Checked::Refuse {
                    response: parse_error(),
                    body_read: true,
                };
            }
        };
        match self.refusal(decision, token, challenge) {
            None => Checked::Pass(Request::from_parts(parts, Body::from(bytes))),
            Some(response) => Checked::Refuse {
                response,
                body_read: true,
            },
        }
    }

    /// One item's decision, including its resource template's.
    fn decide(&self, kind: ItemKind, name: &str, token: &AccessToken) -> Decision {
        let decision = self.set.decide(kind, name, token);
        if kind != ItemKind::Resource {
            return decision;
        }
        match self.templates.as_ref().and_then(|t| t.template_for(name)) {
            Some(template) => merge(
                decision,
                self.set.decide(ItemKind::ResourceTemplate, template, token),
            ),
            None => decision,
        }
    }

    /// The decision for a session-era body (one message or a batch);
    /// `Err` when it is not a JSON-RPC message or batch.
    fn decide_body(&self, bytes: &[u8], token: &AccessToken) -> Result<Decision, ()> {
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'[') {
            let batch: Vec<Head<'_>> = serde_json::from_slice(bytes).map_err(|_| ())?;
            let mut decision = Decision::Allow;
            for head in &batch {
                if let Some((kind, name)) = head.item() {
                    decision = merge(decision, self.decide(kind, name, token));
                    if matches!(decision, Decision::Deny { .. }) {
                        break;
                    }
                }
            }
            return Ok(decision);
        }
        let head: Head<'_> = serde_json::from_slice(bytes).map_err(|_| ())?;
        Ok(match head.item() {
            Some((kind, name)) => self.decide(kind, name, token),
            None => Decision::Allow,
        })
    }

    /// The 403 for a refusal, logged and counted; `None` when allowed.
    fn refusal(
        &self,
        decision: Decision,
        token: &AccessToken,
        challenge: &Arc<ChallengeParams>,
    ) -> Option<Response> {
        match &decision {
            Decision::Allow => return None,
            Decision::StepUp { required } => {
                self.stats.inner.step_ups.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    sub = token.subject(),
                    client_id = token.client_id(),
                    required = %required,
                    "policy refused: step-up needed (403 insufficient_scope)"
                );
            }
            Decision::Deny { reason } => {
                self.stats.inner.denials.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    sub = token.subject(),
                    client_id = token.client_id(),
                    %reason,
                    "policy refused: access denied (403)"
                );
            }
        }
        let error = decision.into_auth_error(token)?;
        Some(
            Rejection {
                error,
                params: challenge.clone(),
            }
            .into_response(),
        )
    }
}

/// Two decisions about one request: a denial wins (the first), then a
/// step-up needing both sets of scopes, then allow.
fn merge(a: Decision, b: Decision) -> Decision {
    match (a, b) {
        (deny @ Decision::Deny { .. }, _) | (_, deny @ Decision::Deny { .. }) => deny,
        (Decision::StepUp { required: mut r }, Decision::StepUp { required }) => {
            r.extend(&required);
            Decision::StepUp { required: r }
        }
        (step @ Decision::StepUp { .. }, Decision::Allow)
        | (Decision::Allow, step @ Decision::StepUp { .. }) => step,
        (Decision::Allow, Decision::Allow) => Decision::Allow,
    }
}

/// The governed item a 2026-07-28 request's headers name. `None` for other
/// methods, and for a missing, duplicated or undecodable header (which the
/// MCP service refuses before running anything).
fn from_headers(headers: &HeaderMap) -> Option<(ItemKind, Cow<'_, str>)> {
    let kind = item_kind(single(headers, "mcp-method")?.to_str().ok()?)?;
    let raw = single(headers, "mcp-name")?.to_str().ok()?;
    Some((kind, decode_header_value(raw)?))
}

/// The only value of `name`, if it occurs exactly once.
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a http::HeaderValue> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    values.next().is_none().then_some(first)
}

/// SEP-2243's header encoding: a value that would not survive as a header
/// travels as `=?base64?<standard Base64>?=`.
fn decode_header_value(value: &str) -> Option<Cow<'_, str>> {
    match value
        .strip_prefix("=?base64?")
        .and_then(|inner| inner.strip_suffix("?="))
    {
        Some(inner) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(inner)
                .ok()?;
            String::from_utf8(bytes).ok().map(Cow::Owned)
        }
        None => Some(Cow::Borrowed(value)),
    }
}

/// The kind of item a method uses, for the governed methods.
fn item_kind(method: &str) -> Option<ItemKind> {
    match method {
        "tools/call" => Some(ItemKind::Tool),
        "prompts/get" => Some(ItemKind::Prompt),
        // Subscribing to a resource one may not read would still reveal
        // when it changes.
        "resources/read" | "resources/subscribe" => Some(ItemKind::Resource),
        _ => None,
    }
}

/// The part of a JSON-RPC message a decision needs; every other field is
/// skipped without being built. Strings borrow from the body unless they
/// contain escapes.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<Params<'a>>,
}

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    uri: Option<Cow<'a, str>>,
}

impl Head<'_> {
    /// The governed item this message uses. A governed method without its
    /// name is left to the MCP service, which refuses it (invalid params).
    fn item(&self) -> Option<(ItemKind, &str)> {
        let kind = item_kind(self.method.as_deref()?)?;
        let params = self.params.as_ref()?;
        let name = match kind {
            ItemKind::Resource => params.uri.as_deref(),
            _ => params.name.as_deref(),
        }?;
        Some((kind, name))
    }
}

/// Reads the body up to `max_bytes`, answering as the MCP service does when
/// it is larger (`413`, plain text) or fails (`400`). The usual body is one
/// frame, kept without copying.
async fn read_body(body: Body, max_bytes: usize) -> Result<Bytes, Response> {
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Payload Too Large: request body exceeds {max_bytes} bytes"),
        )
            .into_response()
    };
    if body.size_hint().lower() > max_bytes as u64 {
        return Err(too_large());
    }
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut rest: Vec<u8> = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let Ok(frame) = frame else {
            return Err((StatusCode::BAD_REQUEST, "Failed to read request body").into_response());
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let so_far = first.as_ref().map_or(0, Bytes::len) + rest.len();
        if data.len() > max_bytes.saturating_sub(so_far) {
            return Err(too_large());
        }
        match &first {
            None => first = Some(data),
            Some(head) => {
                if rest.is_empty() {
                    rest.extend_from_slice(head);
                }
                rest.extend_from_slice(&data);
            }
        }
    }
    Ok(if rest.is_empty() {
        first.unwrap_or_default()
    } else {
        Bytes::from(rest)
    })
}

/// `400` with JSON-RPC `-32700`, for a body that is not a JSON-RPC message.
fn parse_error() -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": -32700, "message": "Parse error"},
    });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use crate::types::ScopeSet;
    use serde_json::json;

    fn edge(set: PolicySet) -> EdgePolicy {
        EdgePolicy {
            set: Arc::new(set),
            max_body_bytes: 1024,
            templates: None,
            stats: PolicyStats::default(),
        }
    }

    #[test]
    fn bodies_are_decided_by_method_and_name() {
        let e = edge(
            PolicySet::builder()
                .policy(Policy::tools("w*").scopes(["write"]))
                .policy(Policy::resources("secret://*").claim_equals("org", "x"))
                .build()
                .unwrap(),
        );
        let t = AccessToken::for_testing(json!({"scope": "read"}));
        let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"write_it","arguments":{"a":[1,2]}}}"#;
        assert!(matches!(
            e.decide_body(call, &t),
            Ok(Decision::StepUp { .. })
        ));
        let escaped = br#"{"method":"tools/call","params":{"name":"\u0077rite"}}"#;
        assert!(matches!(
            e.decide_body(escaped, &t),
            Ok(Decision::StepUp { .. })
        ));
        let read = br#"{"method":"resources/read","params":{"uri":"secret://a"}}"#;
        assert!(matches!(e.decide_body(read, &t), Ok(Decision::Deny { .. })));
        let list = br#"{"method":"tools/list","params":{"name":"write_it"}}"#;
        assert_eq!(e.decide_body(list, &t), Ok(Decision::Allow));
        let batch = br#"[{"method":"ping"},{"method":"tools/call","params":{"name":"write"}}]"#;
        assert!(matches!(
            e.decide_body(batch, &t),
            Ok(Decision::StepUp { .. })
        ));
        let response = br#"{"jsonrpc":"2.0","id":1,"result":{}}"#;
        assert_eq!(e.decide_body(response, &t), Ok(Decision::Allow));
        assert!(e.decide_body(b"not json", &t).is_err());
        assert!(
            e.decide_body(br#"{"method":"tools/call","params":[1]}"#, &t)
                .is_err()
        );
        assert!(
            e.decide_body(br#"{"method":"tools/call","method":"tools/list"}"#, &t)
                .is_err()
        );
    }

    #[test]
    fn refusals_are_counted_by_kind_and_allows_are_not() {
        let e = edge(PolicySet::builder().build().unwrap());
        let t = AccessToken::for_testing(json!({"scope": "a"}));
        let challenge = Arc::new(ChallengeParams {
            resource_metadata: "http://h/.well-known/oauth-protected-resource/mcp".into(),
            required_scopes: ScopeSet::new(),
        });
        assert!(e.refusal(Decision::Allow, &t, &challenge).is_none());
        let step_up = Decision::StepUp {
            required: ScopeSet::parse(["b"]).unwrap(),
        };
        let response = e.refusal(step_up, &t, &challenge).unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers()[http::header::WWW_AUTHENTICATE],
            r#"Bearer error="insufficient_scope", error_description="this resource requires scope: a b", scope="a b", resource_metadata="http://h/.well-known/oauth-protected-resource/mcp""#
        );
        let deny = Decision::Deny {
            reason: crate::policy::DenyReason::NoPolicy {
                kind: ItemKind::Tool,
            },
        };
        assert!(e.refusal(deny, &t, &challenge).is_some());
        assert_eq!((e.stats.step_ups(), e.stats.denials()), (1, 1));
    }

    #[test]
    fn header_names_are_decoded() {
        let mut h = HeaderMap::new();
        h.insert("mcp-method", "tools/call".parse().unwrap());
        h.insert("mcp-name", "=?base64?d3JpdGU=?=".parse().unwrap());
        let (kind, name) = from_headers(&h).unwrap();
        assert_eq!((kind, name.as_ref()), (ItemKind::Tool, "write"));
        h.append("mcp-name", "other".parse().unwrap());
        assert!(from_headers(&h).is_none());
    }

    #[test]
    fn merged_step_ups_need_both_scope_sets() {
        let a = Decision::StepUp {
            required: ScopeSet::parse(["a"]).unwrap(),
        };
        let b = Decision::StepUp {
            required: ScopeSet::parse(["b"]).unwrap(),
        };
        assert_eq!(
            merge(a, b),
            Decision::StepUp {
                required: ScopeSet::parse(["a", "b"]).unwrap()
            }
        );
    }
}
