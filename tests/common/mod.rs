//! The harness for integration tests against the real binary: a [`Server`] process on
//! free ports, blocking WebSocket [`Client`]s that speak the protocol through
//! `dyspatcher_client::ClientSession`, and test [`keys`].
//!
//! Environment: `DYSPATCHER_BIN` replaces the binary under test (e.g. a cross-built
//! one), run through `DYSPATCHER_RUNNER` if set (e.g. `qemu-aarch64`).

#![allow(dead_code, unused_imports)]

mod client;
mod keys;
mod net;
mod server;

pub use client::{Client, CloseInfo};
pub use dyspatcher_client::{
    Algo, ClientError, ClientEvent, ClientSession, DropReason, FlagReason, User,
};
pub use keys::{keys, pool_key, pool_keys};
pub use net::connect_from_elsewhere;
pub use server::{Server, strip_ansi};

use std::time::Duration;

/// The default wait for something that should happen promptly.
pub const WAIT: Duration = Duration::from_secs(10);
/// How long to listen for something that must not happen.
pub const QUIET: Duration = Duration::from_millis(500);
