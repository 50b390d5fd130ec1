//! Integration tests of the `mcpgate` binary, one test binary (one link step)
//! with a module per concern.

mod dev_command;
mod oauth_flow_rmcp;
