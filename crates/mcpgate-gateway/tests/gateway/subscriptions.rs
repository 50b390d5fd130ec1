#![allow(deprecated)] // resources/subscribe is the session-era API this file tests
//! Session-era resource subscriptions through the gateway: `resources/subscribe`
//! reaches the upstream that owns the URI (under its own URI), and the
//! upstream's `notifications/resources/updated` comes back to the subscribed
//! session under the URI the caller knows (the mount's namespace applied).

use std::sync::{Arc, Mutex};

use mcpgate::McpServer;
use mcpgate_gateway::{GatewayConfig, HttpUpstream, Upstream};
use rmcp::model::{
    CallToolRequestParams, ResourceUpdatedNotificationParam, SubscribeRequestParams,
    UnsubscribeRequestParams,
};
use rmcp::service::NotificationContext;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::support::{Running, guard};

/// An upstream with one resource and a tool that announces it changed.
async fn upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://127.0.0.1:{}/mcp", addr.port());
    let server = McpServer::new("resource upstream")
        .allow_unauthenticated()
        .mcp_url(url.clone());
    let notifier = server.notifier();
    let router = server
        .resource(
            mcpgate::model::Resource::new("docs://motd", "Message of the day"),
            || async { "motd text" },
        )
        .tool("touch", "Announces that docs://motd changed", move || {
            let notifier = notifier.clone();
            async move {
                notifier.resource_updated("docs://motd");
                "touched".to_owned()
            }
        })
        .into_http(Some(addr))
        .unwrap()
        .into_router();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .ok();
    });
    url
}

#[derive(Clone, Default)]
struct Updates {
    uris: Arc<Mutex<Vec<String>>>,
    arrived: Arc<Notify>,
}

impl ClientHandler for Updates {
    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        self.uris.lock().unwrap().push(params.uri);
        self.arrived.notify_one();
    }
}

#[tokio::test]
async fn updates_reach_the_subscribed_session_under_the_mounted_uri() {
    let config = GatewayConfig::new(Upstream::Http(
        HttpUpstream::new(&upstream().await).unwrap(),
    ));
    let gw = Running::start_mounted(vec![("kb", config)]).await;
    let updates = Updates::default();
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(gw.mcp_url.as_str())
            .auth_header(gw.token("alice")),
    );
    let client = guard("connect", updates.clone().serve(transport))
        .await
        .unwrap();

    let resources = guard("resources/list", client.list_all_resources())
        .await
        .unwrap();
    let exposed = resources
        .iter()
        .map(|r| r.uri.clone())
        .find(|uri| uri.contains("motd"))
        .expect("the upstream's resource is listed");
    assert_ne!(
        exposed, "docs://motd",
        "a mounted upstream's URI is namespaced"
    );

    guard(
        "subscribe",
        client.subscribe(SubscribeRequestParams::new(exposed.clone())),
    )
    .await
    .unwrap();
    guard(
        "touch",
        client.call_tool(CallToolRequestParams::new("kb_touch")),
    )
    .await
    .unwrap();
    guard("the update", updates.arrived.notified()).await;
    assert_eq!(*updates.uris.lock().unwrap(), vec![exposed.clone()]);

    // Unsubscribing goes through too (the last subscriber of the URI, so
    // the upstream is told). That no update follows is not asserted: it
    // would take waiting for something not to happen.
    guard(
        "unsubscribe",
        client.unsubscribe(UnsubscribeRequestParams::new(exposed.clone())),
    )
    .await
    .unwrap();

    client.cancel().await.ok();
    gw.stop().await;
}
