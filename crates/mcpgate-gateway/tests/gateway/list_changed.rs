//! An upstream's `notifications/tools/list_changed` reaches the sessions
//! that use it. The upstream is a bare rmcp server over Streamable HTTP
//! whose `grow` tool announces a changed tool list.

use std::sync::Arc;

use mcpgate_gateway::{GatewayConfig, HttpUpstream, Upstream};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ClientHandler, ErrorData, RoleClient, RoleServer, ServerHandler, ServiceExt};
use tokio::sync::Notify;

use crate::support::{Running, call_text, guard};

#[derive(Clone)]
struct Growing;

impl ServerHandler for Growing {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = Arc::new(serde_json::Map::from_iter([(
            "type".to_owned(),
            serde_json::json!("object"),
        )]));
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "grow",
            "Announces a changed tool list",
            schema,
        )]))
    }

    async fn call_tool(
        &self,
        _request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let _ = context.peer.notify_tool_list_changed().await;
        Ok(CallToolResponse::Complete(CallToolResult::success(vec![
            ContentBlock::text("grown"),
        ])))
    }
}

async fn growing_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let service = StreamableHttpService::new(
        || Ok(Growing),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let router = axum::Router::new().route_service("/mcp", service);
    tokio::spawn(async move { axum::serve(listener, router).await.ok() });
    url
}

#[derive(Clone, Default)]
struct Watcher(Arc<Notify>);

impl ClientHandler for Watcher {
    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.0.notify_one();
    }
}

#[tokio::test]
async fn a_tool_list_change_reaches_the_session_that_uses_the_upstream() {
    let url = growing_upstream().await;
    let gw = Running::start(GatewayConfig::new(Upstream::Http(
        HttpUpstream::new(&url).unwrap(),
    )))
    .await;
    let watcher = Watcher::default();
    let config =
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
            gw.mcp_url.as_str(),
        )
        .auth_header(gw.token("alice"));
    let client = watcher
        .clone()
        .serve(rmcp::transport::StreamableHttpClientTransport::from_config(
            config,
        ))
        .await
        .unwrap();
    let caps = client
        .peer_info()
        .unwrap()
        .capabilities
        .tools
        .clone()
        .unwrap();
    assert_eq!(
        caps.list_changed,
        Some(true),
        "listChanged advertised as the upstream does"
    );
    assert_eq!(call_text(&client, "grow").await.unwrap(), "grown");
    guard("the list change to reach the client", watcher.0.notified()).await;
    drop(client);
    gw.stop().await;
}
