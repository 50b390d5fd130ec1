//! 2026-07-28 `subscriptions/listen` through the gateway: the stream is
//! acknowledged, and an upstream's `notifications/tools/list_changed`
//! reaches the caller's open stream — from an upstream served in 2026-07-28
//! through the gateway's own `subscriptions/listen` there, and from one
//! bridged over a session through the notifications on that session.

use mcpgate::McpServer;
use mcpgate_gateway::{GatewayConfig, HttpUpstream, Upstream, UpstreamProtocol};
use rmcp::model::{CallToolRequestParams, ServerNotification, SubscriptionFilter};
use tokio::net::TcpListener;

use crate::support::{Running, guard};

/// An upstream whose `grow` tool announces a changed tool list.
async fn upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://127.0.0.1:{}/mcp", addr.port());
    let server = McpServer::new("growing upstream")
        .allow_unauthenticated()
        .mcp_url(url.clone());
    let notifier = server.notifier();
    let router = server
        .tool("grow", "Announces a changed tool list", move || {
            let notifier = notifier.clone();
            async move {
                notifier.tools_list_changed();
                "grown".to_owned()
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

#[tokio::test]
async fn a_2026_listen_stream_gets_a_2026_upstreams_list_changes() {
    list_changes_reach_the_stream(UpstreamProtocol::Auto).await;
}

#[tokio::test]
async fn a_2026_listen_stream_gets_a_bridged_upstreams_list_changes() {
    list_changes_reach_the_stream(UpstreamProtocol::Session).await;
}

async fn list_changes_reach_the_stream(protocol: UpstreamProtocol) {
    let config = GatewayConfig::new(Upstream::Http(
        HttpUpstream::new(&upstream().await).unwrap(),
    ))
    .upstream_protocol(protocol);
    let gw = Running::start(config).await;
    let client = gw.stateless_client("alice").await;

    let filter = SubscriptionFilter::builder().tools_list_changed().build();
    let mut stream = guard("subscriptions/listen", client.listen(filter))
        .await
        .expect("the gateway acknowledges the subscription");
    assert_eq!(stream.acknowledged().tools_list_changed, Some(true));

    guard("grow", client.call_tool(CallToolRequestParams::new("grow")))
        .await
        .unwrap();
    let notification = guard("the list change on the stream", stream.next())
        .await
        .unwrap()
        .expect("the stream stays open");
    assert!(
        matches!(
            notification,
            ServerNotification::ToolListChangedNotification(_)
        ),
        "{notification:?}"
    );

    stream.cancel().await.ok();
    client.cancel().await.ok();
    gw.stop().await;
}
