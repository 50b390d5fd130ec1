//! Several upstreams behind one gateway (FastMCP's mount convention): a
//! stdio child mounted as `fix` and an HTTP server mounted as `web`.

use mcpgate_gateway::{GatewayConfig, HttpUpstream, Upstream};
use rmcp::model::{GetPromptRequestParams, ReadResourceRequestParams, ResourceContents};

use crate::http_upstream::upstream;
use crate::support::{Running, call_text, stdio_upstream};

#[tokio::test]
async fn mounted_upstreams_are_merged_under_their_names() {
    let (url, _) = upstream().await;
    let gw = Running::start_mounted(vec![
        ("fix", GatewayConfig::new(stdio_upstream())),
        (
            "web",
            GatewayConfig::new(Upstream::Http(HttpUpstream::new(&url).unwrap())),
        ),
    ])
    .await;
    let client = gw.client("alice").await;

    let tools: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(tools.contains(&"fix_pid".to_owned()), "{tools:?}");
    assert!(tools.contains(&"web_hello".to_owned()), "{tools:?}");
    assert!(!tools.contains(&"hello".to_owned()), "{tools:?}");
    assert_eq!(
        call_text(&client, "web_hello").await.unwrap(),
        "hello from upstream"
    );
    assert_eq!(call_text(&client, "fix_incr").await.unwrap(), "1");
    let unknown = call_text(&client, "nope_hello")
        .await
        .expect_err("unknown tool");
    assert!(unknown.contains("unknown tool"), "{unknown}");

    let resources: Vec<String> = client
        .list_all_resources()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.uri.clone())
        .collect();
    assert!(
        resources.contains(&"docs://web/motd".to_owned()),
        "{resources:?}"
    );
    let read = client
        .read_resource(ReadResourceRequestParams::new("docs://web/motd"))
        .await
        .unwrap();
    match &read.contents[..] {
        [ResourceContents::TextResourceContents { uri, text, .. }] => {
            assert_eq!(uri, "docs://web/motd");
            assert_eq!(text, "motd text");
        }
        other => panic!("{other:?}"),
    }

    let prompts: Vec<String> = client
        .list_all_prompts()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert!(prompts.contains(&"web_greet".to_owned()), "{prompts:?}");
    let prompt = client
        .get_prompt(GetPromptRequestParams::new("web_greet"))
        .await
        .unwrap();
    assert!(!prompt.messages.is_empty());
    drop(client);
    gw.stop().await;
}
