//! Integration tests of the `scalekit_server` binary, run as the README runs
//! it: a real process, a real environment (and `.env` file), real HTTP on
//! 127.0.0.1 against an in-process dev authorization server. One test binary
//! (one link step) with a module per concern.

mod support;

mod dotenv;
mod serve;
mod startup_errors;
mod token_logging;
