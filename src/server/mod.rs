//! The I/O shell around the chat: one thread, one mio `Poll`. It accepts connections,
//! speaks HTTP and WebSocket on them, reads the console, and moves the chat's outputs to
//! sockets and the terminal. It holds no chat logic: that is `crate::chat`.
//!
//! - `event_loop.rs`: the loop: poll until the next deadline, accept, read, hand to the
//!   chat, timeouts, drain the chat's outputs, flush, reap.
//! - `connection.rs`: one connection's phases (TLS handshake, HTTP, WebSocket,
//!   closing), their deadlines, its mio interest.
//! - `timers.rs`: the connections' deadlines in time order.
//! - `transport.rs`: plain TCP or TLS under a connection.
//! - `outbound.rs`: a connection's outgoing bytes, shared frames, vectored writes.
//! - `private_key_pool.rs`: the threads that do the administrator's private-key
//!   operations, and wake the loop with their results.
//! - `stdin.rs`: the console's input.
//! - `console_out.rs`: the console's output (terminal, transcription).
//! - `listeners.rs`: binding the ports, with messages that say how to fix a failure.

mod connection;
mod connection_rate;
mod console_out;
mod event_loop;
mod frame_encoding;
pub mod listeners;
mod outbound;
pub mod private_key_pool;
pub mod stdin;
mod terminal;
mod timers;
pub mod transcript;
mod transport;
mod tunnel_pool;

pub use crate::http::Site;
#[cfg(feature = "fuzzing")]
pub use connection::websocket_config;
pub use console_out::ConsoleOut;
pub use event_loop::{Server, ServerParts};
pub use stdin::ensure_standard_fds;
