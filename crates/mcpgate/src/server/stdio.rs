//! Serving one MCP session over stdio or any byte stream pair, without auth
//! (the MCP specification leaves credentials to the environment there).

use rmcp::ServiceExt;

use super::McpServer;
use super::adapter::RmcpAdapter;
use crate::error::ServeError;

impl McpServer {
    /// Serves over stdio. Returns when the client disconnects.
    pub async fn serve_stdio(self) -> Result<(), ServeError> {
        let (stdin, stdout) = rmcp::transport::stdio();
        self.serve_io(stdin, stdout).await
    }

    /// Serves one MCP session over a byte stream pair (newline-delimited JSON-RPC,
    /// as on stdio), without auth. Returns when the peer disconnects. Bad
    /// builder input is reported before anything is read.
    pub async fn serve_io<R, W>(mut self, read: R, write: W) -> Result<(), ServeError>
    where
        R: tokio::io::AsyncRead + Send + Unpin + 'static,
        W: tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let mut problems = std::mem::take(&mut self.problems);
        if let Some(problem) = problems.pop() {
            return Err(if problems.is_empty() {
                ServeError::Config(problem)
            } else {
                problems.push(problem);
                ServeError::Configs(problems)
            });
        }
        let running = RmcpAdapter::new(self)
            .serve((read, write))
            .await
            .map_err(|e| ServeError::Transport(Box::new(e)))?;
        running
            .waiting()
            .await
            .map_err(|e| ServeError::Transport(Box::new(e)))?;
        Ok(())
    }
}
