//! Servers under test on `127.0.0.1:0`: [`Running`] serves any `McpServer`;
//! [`TestServer`] is the seed's sample server (`scalekit_server::server()`)
//! protected by a fresh Scalekit stand-in.

use std::ops::Deref;
use std::time::Duration;

use mcpgate::{McpServer, ScalekitProvider, ServeError};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::client::http_client;
use super::standin::StandIn;

/// An `McpServer` serving on a loopback port until shut down or dropped.
pub(crate) struct Running {
    /// The listening port.
    pub(crate) port: u16,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    /// `http://127.0.0.1:PORT/mcp`, the resource identifier.
    pub(crate) mcp_url: String,
    /// An HTTP client that follows no redirects and uses no proxy.
    pub(crate) http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
}

impl Running {
    /// Binds a loopback port and serves what `build` makes for its MCP URL
    /// (the URL comes first: it is the audience tokens must name).
    pub(crate) async fn start(build: impl FnOnce(&str) -> McpServer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind MCP server");
        let port = listener.local_addr().unwrap().port();
        let base = format!("http://127.0.0.1:{port}");
        let mcp_url = format!("{base}/mcp");
        let server = build(&mcp_url);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve_with_shutdown(listener, async {
            let _ = rx.await;
        }));
        Self {
            port,
            base,
            mcp_url,
            http: http_client(),
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Stops the server and returns what serving returned (panics if it
    /// takes longer than 5 s).
    pub(crate) async fn shutdown(mut self) -> Result<(), ServeError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let task = self.task.take().expect("server task");
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(joined) => joined.expect("server task"),
            Err(_) => panic!("server did not shut down within 5 s"),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The seed's sample server ("My Scalekit Protected Server": `auth_status`,
/// `protected_action`, `inspect_token`, `auth://whoami`, `summarize_access`),
/// protected by a stand-in, on a loopback port. Derefs to its [`Running`].
pub(crate) struct TestServer {
    /// The Scalekit stand-in this server trusts.
    pub(crate) idp: StandIn,
    running: Running,
}

impl Deref for TestServer {
    type Target = Running;

    fn deref(&self) -> &Running {
        &self.running
    }
}

impl TestServer {
    /// A fresh stand-in and a server with the test JWKS settings.
    pub(crate) async fn start() -> Self {
        Self::start_with(StandIn::start().await, |p| p).await
    }

    /// A server trusting `idp`; `configure` adjusts the provider (it starts
    /// from [`StandIn::provider`], whose JWKS settings `configure` may replace).
    pub(crate) async fn start_with(
        idp: StandIn,
        configure: impl FnOnce(ScalekitProvider) -> ScalekitProvider,
    ) -> Self {
        Self::start_server(idp, configure, |s| s).await
    }

    /// Like [`start_with`](Self::start_with), also adjusting the server builder.
    pub(crate) async fn start_server(
        idp: StandIn,
        configure: impl FnOnce(ScalekitProvider) -> ScalekitProvider,
        server: impl FnOnce(McpServer) -> McpServer,
    ) -> Self {
        let running = Running::start(|mcp_url| {
            server(scalekit_server::server().auth(configure(idp.provider(mcp_url))))
        })
        .await;
        Self { idp, running }
    }

    /// Default user claims for this server.
    pub(crate) fn claims(&self) -> Value {
        self.idp.user_claims(&self.mcp_url)
    }

    /// Signs claims with the stand-in's current key.
    pub(crate) fn mint(&self, claims: &Value) -> String {
        self.idp.mint(claims)
    }

    /// A valid user token.
    pub(crate) fn token(&self) -> String {
        self.mint(&self.claims())
    }
}
