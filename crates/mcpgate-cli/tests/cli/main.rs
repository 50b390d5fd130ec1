//! Integration tests of the `mcpgate` binary, one test binary (one link step)
//! with a module per concern.

mod support;

mod dev_command;
mod dev_options;
mod dev_token_logging;
mod oauth_flow_rmcp;
mod proxy_admin;
mod proxy_command;
mod proxy_policies;
