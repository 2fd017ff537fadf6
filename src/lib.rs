//! dyspatcher: a standalone end-to-end encrypted chat server. See docs/ARCHITECTURE.md.

pub mod allow_list;
pub mod chat;
pub mod cli;
pub mod console;
pub mod daemon;
pub mod http;
pub mod limits;
pub mod names;
pub mod server;
pub mod startup;
pub mod tls;
pub mod token_bucket;
pub mod tunnel;
pub mod wall_clock;

// The chat's cryptography is its own crate (the protocol client and the load tool share
// it); the server's modules keep naming it `crate::crypto`.
pub use dyspatcher_crypto as crypto;
