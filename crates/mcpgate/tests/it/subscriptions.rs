//! `subscriptions/listen` (2026-07-28): the stream opens with
//! `notifications/subscriptions/acknowledged`, every notification on it
//! carries the subscription id, and only the categories the client asked for
//! arrive — driven by the application's [`Notifier`]. The same notifier
//! reaches session-era clients (list changes, and updates of resources they
//! subscribed to).

use std::time::Duration;

use http::StatusCode;
use mcpgate::model::Resource;
use mcpgate::{McpServer, Notifier, State};
use rmcp::ClientHandler;
use rmcp::ServiceExt;
use rmcp::model::{ResourceUpdatedNotificationParam, SubscribeRequestParams};
use rmcp::service::{NotificationContext, RoleClient};
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::*;

const STATELESS: &str = "2026-07-28";

/// The frames of an SSE response, one JSON-RPC message at a time.
struct Frames {
    response: reqwest::Response,
    buffer: String,
}

impl Frames {
    /// The next message. The timeout only keeps a broken server from hanging
    /// the test; nothing here depends on how fast a message arrives.
    async fn next(&mut self) -> Value {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let event: String = self.buffer.drain(..end + 2).collect();
                    let data: String = event
                        .lines()
                        .filter_map(|l| l.strip_prefix("data:"))
                        .map(str::trim)
                        .collect();
                    if data.is_empty() {
                        continue; // a priming event or comment
                    }
                    return serde_json::from_str(&data).expect("JSON frame");
                }
                let chunk = self.response.chunk().await.unwrap().expect("stream open");
                self.buffer.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .expect("a frame")
    }
}

async fn listen(server: &Running, id: u64, filter: Value) -> Frames {
    let response = server
        .post(None)
        .header("mcp-protocol-version", STATELESS)
        .header("mcp-method", "subscriptions/listen")
        .json(&json!({
            "jsonrpc": "2.0", "id": id, "method": "subscriptions/listen",
            "params": {
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": STATELESS,
                    "io.modelcontextprotocol/clientCapabilities": {},
                },
                "notifications": filter,
            }
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    Frames {
        response,
        buffer: String::new(),
    }
}

fn subscription_id(frame: &Value) -> &Value {
    &frame["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"]
}

async fn server_with_notifier() -> (Running, Notifier) {
    let mut notifier = None;
    let server = Running::start(|url| {
        let server = McpServer::new("subscriptions")
            .mcp_url(url)
            .allow_unauthenticated()
            .tool("noop", "Does nothing", || async { "ok" })
            .prompt("hello", "Says hello", || async { "hello" });
        notifier = Some(server.notifier());
        server
    })
    .await;
    (server, notifier.unwrap())
}

#[tokio::test]
async fn a_listen_stream_is_acknowledged_tagged_and_filtered() {
    let (server, notifier) = server_with_notifier().await;
    let mut tools = listen(&server, 41, json!({"toolsListChanged": true})).await;
    let mut prompts = listen(&server, 42, json!({"promptsListChanged": true})).await;

    let ack = tools.next().await;
    assert_eq!(
        ack["method"], "notifications/subscriptions/acknowledged",
        "{ack}"
    );
    assert_eq!(subscription_id(&ack), 41, "{ack}");
    assert_eq!(
        ack["params"]["notifications"]["toolsListChanged"], true,
        "{ack}"
    );
    let ack = prompts.next().await;
    assert_eq!(
        ack["method"], "notifications/subscriptions/acknowledged",
        "{ack}"
    );
    assert_eq!(subscription_id(&ack), 42, "{ack}");

    // A tools change, then a prompts change: each stream gets its own kind
    // only. Changes arrive in order, so had the prompts stream been sent the
    // tools change, it would be its next frame.
    notifier.tools_list_changed();
    notifier.prompts_list_changed();
    let frame = tools.next().await;
    assert_eq!(
        frame["method"], "notifications/tools/list_changed",
        "{frame}"
    );
    assert_eq!(subscription_id(&frame), 41, "{frame}");
    let frame = prompts.next().await;
    assert_eq!(
        frame["method"], "notifications/prompts/list_changed",
        "{frame}"
    );
    assert_eq!(subscription_id(&frame), 42, "{frame}");

    // And the tools stream did not get the prompts change: its next frame
    // is the next tools change.
    notifier.prompts_list_changed();
    notifier.tools_list_changed();
    let frame = tools.next().await;
    assert_eq!(
        frame["method"], "notifications/tools/list_changed",
        "{frame}"
    );
}

#[tokio::test]
async fn a_tool_can_announce_a_change_to_open_streams() {
    let server = Running::start(|url| {
        let server = McpServer::new("subscriptions")
            .mcp_url(url)
            .allow_unauthenticated();
        let notifier = server.notifier();
        server.with_state(notifier).tool(
            "reload",
            "Announces a new tool list",
            |State(n): State<Notifier>| async move {
                n.tools_list_changed();
                "reloaded"
            },
        )
    })
    .await;
    let mut stream = listen(&server, 7, json!({"toolsListChanged": true})).await;
    assert_eq!(
        stream.next().await["method"],
        "notifications/subscriptions/acknowledged"
    );
    let response = server
        .post(None)
        .header("mcp-protocol-version", STATELESS)
        .header("mcp-method", "tools/call")
        .header("mcp-name", "reload")
        .json(&json!({
            "jsonrpc": "2.0", "id": 8, "method": "tools/call",
            "params": {
                "name": "reload", "arguments": {},
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": STATELESS,
                    "io.modelcontextprotocol/clientCapabilities": {},
                }
            }
        }))
        .send()
        .await
        .unwrap();
    let message = read_jsonrpc(response).await;
    assert_eq!(
        message["result"]["content"][0]["text"], "reloaded",
        "{message}"
    );
    let frame = stream.next().await;
    assert_eq!(
        frame["method"], "notifications/tools/list_changed",
        "{frame}"
    );
    assert_eq!(subscription_id(&frame), 7, "{frame}");
}

/// A session-era client that reports the notifications it receives.
#[derive(Clone)]
struct Recording(mpsc::UnboundedSender<String>);

impl ClientHandler for Recording {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.0.send("tools/list_changed".to_owned());
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(format!("resources/updated {}", params.uri));
    }
}

#[tokio::test]
#[allow(deprecated)] // resources/subscribe: current in the session-era revisions
async fn sessions_hear_list_changes_and_their_resource_updates() {
    let mut notifier = None;
    let server = Running::start(|url| {
        let server = McpServer::new("sessions")
            .mcp_url(url)
            .allow_unauthenticated()
            .tool("noop", "Does nothing", || async { "ok" })
            .resource(Resource::new("notes://a", "A"), || async { "a" })
            .resource(Resource::new("notes://b", "B"), || async { "b" });
        notifier = Some(server.notifier());
        server
    })
    .await;
    let notifier = notifier.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let client = Recording(tx)
        .serve(StreamableHttpClientTransport::from_uri(
            server.mcp_url.as_str(),
        ))
        .await
        .expect("connect");
    // Answered only once the session forwards changes.
    client
        .subscribe(SubscribeRequestParams::new("notes://a"))
        .await
        .expect("subscribe");

    notifier.resource_updated("notes://b"); // not subscribed: not sent
    notifier.resource_updated("notes://a");
    notifier.tools_list_changed();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a notification")
            .expect("client alive")
    };
    assert_eq!(next().await, "resources/updated notes://a");
    assert_eq!(next().await, "tools/list_changed");
    client.cancel().await.ok();
}
