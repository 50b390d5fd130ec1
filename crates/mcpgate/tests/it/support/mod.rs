//! Shared test support, split by concern:
//!
//! - `keys`: signing keys, token forging, claim editing;
//! - `standin`: the Scalekit stand-in (JWKS and AS metadata, with failure modes);
//! - `server`: servers under test on a loopback port;
//! - `client`: raw HTTP requests, expected challenges, rmcp's client.
//!
//! Everything listens on `127.0.0.1:0`; nothing leaves the machine.

mod client;
mod keys;
mod server;
mod standin;

pub(crate) use client::*;
pub(crate) use keys::*;
pub(crate) use server::*;
pub(crate) use standin::*;
