//! dyspatcher: a standalone end-to-end encrypted chat server. See docs/ARCHITECTURE.md.
//!
//! The modules are private: the binary (src/main.rs) sees only its four steps below, and
//! the fuzz targets, with the `fuzzing` feature, the pure parts they drive. So the
//! compiler reports whatever nothing uses.

mod allow_list;
mod chat;
mod cli;
mod console;
mod daemon;
mod http;
mod limits;
mod names;
mod qr;
mod server;
mod startup;
mod tls;
mod token_bucket;
mod tunnel;
mod wall_clock;

// The chat's cryptography is its own crate (the protocol client and the load tool share
// it); the server's modules keep naming it `crate::crypto`.
use dyspatcher_crypto as crypto;

// Parse the command line; start up; go to the background if asked; run the event loop.
pub use cli::{HELP, Invocation, Options, parse as parse_arguments};
pub use console::ConsoleLine;
pub use daemon::{Role, detach_if_asked};
pub use server::{Server, ServerParts, ensure_standard_fds};
pub use startup::{Prepared, StartupError, start};

/// What the fuzz targets (fuzz/) drive: parsers and state machines with no I/O.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    pub use crate::chat::frames::{ClientFrame, parse_client_frame, relayed};
    pub use crate::chat::{Chat, ConnId, Output, Settings};
    pub use crate::console::{Dispatch, Dispatcher};
    pub use crate::http::{Parsed, parse_head};
    pub use crate::limits::Limits;
    pub use crate::server::websocket_config;
}
