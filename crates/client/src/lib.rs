//! A sans-I/O protocol client: it builds the frames a chat client sends and turns the
//! frames a server sends into [`ClientEvent`]s, with the real cryptography, but owns no
//! socket. The integration tests (tests/common/) and the load tool drive it over their
//! own connections.
//!
//! ```text
//! let mut alice = ClientSession::new("alice", keys);
//! ws.send(alice.join_frame());
//! for frame in incoming { for event in alice.handle(&frame) { ... } }
//! ws.send(alice.message_to("bob", "hi")?.frame);
//! ```
//!
//! The frames it builds are plain `String`s: a load tool can build (sign and encrypt)
//! every message before it starts measuring, and send a frame as often as it likes.
//! With [`ClientSession::set_verify`] off, received messages are decrypted but their
//! signatures are not checked (a public-key operation per message).

mod event;
mod seal;
mod session;

pub use event::{Algo, ClientEvent, DropReason, User};
pub use seal::{ClientError, Outgoing, frame, plaintext, seal_aes, seal_rsa};
pub use session::ClientSession;

#[cfg(test)]
mod tests;
