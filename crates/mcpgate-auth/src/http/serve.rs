//! Serving an axum [`Router`] over HTTP/1.1 with bounded resources, for the
//! MCP server and any other mcpgate HTTP service (the dev authorization
//! server): `axum::serve` has no header-read or body-read timeout and no
//! connection cap, so one slow client per connection could hold sockets forever.
//!
//! [`serve`] adds, per accepted connection:
//! - `TCP_NODELAY` (small SSE frames otherwise wait ~40 ms on Nagle + delayed ACK);
//! - a header-read timeout: a request head (and the next one on an idle
//!   keep-alive connection) must arrive within [`ServeLimits::header_read_timeout`];
//! - a body-read deadline: a request body must be complete within
//!   [`ServeLimits::body_read_timeout`] of its head, however it trickles in;
//! - a cap on concurrent connections: beyond it a connection gets a
//!   best-effort `503` and is closed at once;
//! - `ConnectInfo<SocketAddr>` in every request's extensions (per-IP limits);
//! - graceful shutdown: stop accepting, let in-flight requests finish (up to
//!   [`ServeLimits::shutdown_grace`]), then close.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::response::Response;
use http::{HeaderValue, Request, StatusCode, header};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower_service::Service;

/// Default time a client has to send a request head (also how long an idle
/// keep-alive connection stays open). hyper's own default; long enough for a
/// slow mobile link, short enough that a slowloris pays for every socket.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Default time a request body has to arrive completely, measured from the
/// end of its head. MCP bodies are small JSON documents; 30 s still moves the
/// 4 MiB body cap at ~140 KB/s.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Default cap on concurrent connections. Each costs a socket and a few KiB of
/// buffers; 1,024 stays below the common soft limit on open files (1,024 on
/// many systems counts listeners and files too, so raise `ulimit -n` with it).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Default time in-flight requests get to finish after shutdown is asked for.
/// Streams that never end (an SSE `GET`) are cut after it.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What [`serve`] allows each client. Start from [`ServeLimits::default`]
/// and change what you need:
///
/// ```
/// use std::time::Duration;
/// use mcpgate_auth::http::ServeLimits;
///
/// let limits = ServeLimits::default()
///     .with_header_read_timeout(Duration::from_secs(10))
///     .with_max_connections(256);
/// assert_eq!(limits.max_connections, 256);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeLimits {
    /// Time to receive a request head; idle keep-alive connections are closed
    /// after it too. Default [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// Time to receive a whole request body after its head. Default
    /// [`DEFAULT_BODY_READ_TIMEOUT`].
    pub body_read_timeout: Duration,
    /// Concurrent connections served; more are answered `503` and closed.
    /// Default [`DEFAULT_MAX_CONNECTIONS`]; at least 1.
    pub max_connections: usize,
    /// After shutdown is asked for, how long open connections may finish
    /// their requests. Default [`DEFAULT_SHUTDOWN_GRACE`].
    pub shutdown_grace: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

impl ServeLimits {
    /// Sets [`header_read_timeout`](Self::header_read_timeout).
    #[must_use]
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Sets [`body_read_timeout`](Self::body_read_timeout).
    #[must_use]
    pub fn with_body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// Sets [`max_connections`](Self::max_connections) (0 is taken as 1).
    #[must_use]
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Sets [`shutdown_grace`](Self::shutdown_grace).
    #[must_use]
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }
}

/// What a connection over the cap is told before it is closed.
const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// Serves `router` on `listener` with `limits` until `shutdown` completes,
/// then stops accepting, lets open connections finish their requests (at most
/// [`ServeLimits::shutdown_grace`]) and returns. HTTP/1.1 only (what MCP's
/// Streamable HTTP clients speak; HTTP/2 is the TLS terminator's job).
///
/// Handlers and middleware can extract `ConnectInfo<SocketAddr>`.
///
/// ```no_run
/// use mcpgate_auth::http::{ServeLimits, serve};
///
/// # async fn run() -> std::io::Result<()> {
/// let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
/// serve(listener, app, ServeLimits::default(), async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await
/// # }
/// ```
///
/// # Errors
/// Only if the listener's address cannot be read; accept errors (a peer that
/// went away, too many open files) are logged and retried.
pub async fn serve<F>(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let local = listener.local_addr()?;
    // The drain below acquires every permit at once, as a u32.
    let max = limits
        .max_connections
        .clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
    let slots = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    // Refusals are logged at most every 10 s: a flood must not flood the log.
    let mut refused = 0u64;
    let mut last_refusal_log: Option<Instant> = None;
    tracing::debug!(%local, ?limits, "accepting connections");
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) if is_per_connection(&error) => continue,
            Err(error) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::error!(%error, "accept failed; retrying in 1 s");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refused += 1;
            if last_refusal_log.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
                tracing::warn!(%peer, max, refused, "connections refused: too many open connections");
                last_refusal_log = Some(Instant::now());
                refused = 0;
            }
            // Best effort: a client that has not sent its request yet reads a 503.
            let _ = tcp.try_write(OVER_CAPACITY);
            drop(tcp);
            continue;
        };
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let router = router.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            serve_connection(tcp, peer, router, limits, stop).await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a slot until it ends; all slots back = all drained.
    let _ = slots.acquire_many(max as u32).await;
    tracing::debug!(%local, "all connections closed");
    Ok(())
}

/// Accept errors that concern one connection only (the peer gave up).
fn is_per_connection(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionRefused
    )
}

async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ServeLimits,
    mut stop: watch::Receiver<bool>,
) {
    let body_timeout = limits.body_read_timeout;
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let mut router = router.clone();
        let timed_out = Arc::new(AtomicBool::new(false));
        let mut request = request.map(|body| {
            Body::new(DeadlineBody {
                inner: body,
                deadline: Instant::now() + body_timeout,
                sleep: None,
                timed_out: timed_out.clone(),
            })
        });
        request.extensions_mut().insert(ConnectInfo(peer));
        async move {
            let response = Service::call(&mut router, request).await;
            if timed_out.load(Ordering::Relaxed) {
                // Whatever the handler made of the failed read (rmcp: a 500),
                // the client was too slow. hyper closes the connection after
                // this answer, as the body was not read to its end.
                tracing::debug!(%peer, "request body not received in time");
                return Ok(request_timeout());
            }
            response
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(tcp), service);
    let mut connection = std::pin::pin!(connection);
    let stopping = async move {
        let _ = stop.wait_for(|stop| *stop).await.map(|_| ());
    };
    tokio::select! {
        result = connection.as_mut() => log_end(peer, result),
        () = stopping => {
            // Finish the request in flight, answer it with `Connection: close`.
            connection.as_mut().graceful_shutdown();
            match tokio::time::timeout(limits.shutdown_grace, connection).await {
                Ok(result) => log_end(peer, result),
                Err(_) => tracing::debug!(%peer, "connection cut at the end of the shutdown grace period"),
            }
        }
    }
}

fn log_end(peer: SocketAddr, result: Result<(), hyper::Error>) {
    if let Err(error) = result {
        // Timeouts, resets and malformed requests: the client's problem.
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}

/// The error a request body reports when its deadline passes.
#[derive(Debug)]
struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request body not received in time")
    }
}

impl std::error::Error for BodyTimeout {}

/// `408 Request Timeout`, closing the connection.
fn request_timeout() -> Response {
    let mut response = Response::new(Body::from("request body not received in time"));
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A request body that fails once `deadline` passes before its end. The timer
/// is only created when the body actually has to wait, so a body that arrives
/// with its head (the usual small JSON) costs no timer.
struct DeadlineBody {
    inner: Incoming,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    /// Set when the deadline passed, for the connection to answer 408.
    timed_out: Arc<AtomicBool>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(sleep.as_mut().poll(cx));
        this.timed_out.store(true, Ordering::Relaxed);
        Poll::Ready(Some(Err(Box::new(BodyTimeout))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Resolves on Ctrl-C or, on Unix, `SIGTERM` (what container runtimes and
/// service managers send): the usual `shutdown` future for [`serve`].
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
