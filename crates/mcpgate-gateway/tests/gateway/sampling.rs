//! The upstream's sampling request reaches the client whose call caused it:
//! over stdio (no link on the wire; one principal in flight) and over HTTP
//! (the request rides the call's response stream).

#![allow(deprecated)] // sampling is current in the revisions used here

use mcpgate_gateway::{GatewayConfig, HttpUpstream, Isolation, Upstream};
use rmcp::model::{
    ClientCapabilities, ClientConfig, CreateMessageRequestParams, CreateMessageResult,
    Implementation, SamplingMessage,
};
use rmcp::service::{RequestContext, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ErrorData, ServiceExt};

use crate::http_upstream::upstream;
use crate::support::{Running, call_text, stdio_upstream};

/// A client whose "model" answers with its own name.
#[derive(Clone)]
struct Model(&'static str);

impl ClientHandler for Model {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_sampling().build(),
            Implementation::new("sampling-test", "1"),
        )
    }

    async fn create_message(
        &self,
        _params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        Ok(CreateMessageResult::new(
            SamplingMessage::assistant_text(format!("from {}", self.0)),
            "test-model".to_owned(),
        ))
    }
}

async fn client(
    gw: &Running,
    subject: &str,
    model: &'static str,
) -> RunningService<RoleClient, Model> {
    let config = StreamableHttpClientTransportConfig::with_uri(gw.mcp_url.as_str())
        .auth_header(gw.token(subject));
    Model(model)
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_stdio_upstreams_sampling_request_reaches_its_caller() {
    let gw =
        Running::start(GatewayConfig::new(stdio_upstream()).isolation(Isolation::Shared)).await;
    let alice = client(&gw, "alice", "alice's model").await;
    let text = call_text(&alice, "sample").await.unwrap();
    assert_eq!(text, "sampled: from alice's model");
    drop(alice);
    gw.stop().await;
}

#[tokio::test]
async fn an_http_upstreams_sampling_request_reaches_its_caller() {
    let (url, _) = upstream().await;
    let gw = Running::start(
        GatewayConfig::new(Upstream::Http(HttpUpstream::new(&url).unwrap()))
            .isolation(Isolation::Shared),
    )
    .await;
    let alice = client(&gw, "alice", "alice's model").await;
    let bob = client(&gw, "bob", "bob's model").await;
    assert_eq!(
        call_text(&alice, "sample").await.unwrap(),
        "sampled: from alice's model"
    );
    assert_eq!(
        call_text(&bob, "sample").await.unwrap(),
        "sampled: from bob's model"
    );
    drop((alice, bob));
    gw.stop().await;
}
