//! One module per subcommand.

pub(crate) mod dev;
pub(crate) mod proxy;
pub(crate) mod proxy_config;
