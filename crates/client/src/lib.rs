//! A sans-I/O protocol client: it builds the frames a chat client sends and turns the
//! frames a server sends into [`ClientEvent`]s, with the real cryptography, but owns no
//! socket. The integration tests (tests/common/) and the load tool drive it over their
//! own connections.
//!
//! ```text
//! let mut alice = ClientSession::new("alice", keys);      // 0.9 with the ⊕ extensions
//! let mut alice = ClientSession::new_v2("alice", keys);   // version 2
//! ws.send(alice.join_frame());
//! for frame in incoming {
//!     for event in alice.handle(&frame) {
//!         match event {
//!             ClientEvent::Challenge { nonce } => ws.send(alice.proof_frame(host, &nonce)),
//!             // Version 2: frames the session needs sent.
//!             ClientEvent::NeedKeys { frame } | ClientEvent::Resend { frame, .. } => ws.send(frame),
//!             _ => ...
//!         }
//!     }
//! }
//! match alice.message_to("bob", "hi") {
//!     Ok(out) => for f in out.frames() { ws.send(f) },
//!     // Version 2: keys are fetched lazily; ask, wait for KeyArrived, try again.
//!     Err(ClientError::KeyNotFetched(name)) => ws.send(alice.key_request(&name).unwrap()),
//!     Err(e) => ...
//! }
//! ```
//!
//! The frames it builds are plain `String`s: a load tool can build (sign and encrypt)
//! every message before it starts measuring, and send a frame as often as it likes.
//! With [`ClientSession::set_verify`] off, received messages are decrypted but their
//! signatures are not checked (a public-key operation per message).
//!
//! # Version 2
//!
//! - The wall clock is an input: the system clock unless [`ClientSession::set_clock`]
//!   fixes it (envelopes are stamped with it and checked against it).
//! - Received messages become [`ClientEvent::V2Message`] (every check passed),
//!   [`ClientEvent::Flagged`] (a claimed sender that must not be shown: bad signature,
//!   addressed elsewhere, not the relay's sender) or [`ClientEvent::V2Dropped`]
//!   (undecryptable, replay, out of the window, ...).
//! - A message whose sender's key is not fetched waits (at most
//!   [`MAX_WAITING_FRAMES`]) while the session asks for it with [`ClientEvent::NeedKeys`];
//!   it is read when the key arrives.
//! - A message to all refused as `stale-epoch` is sealed again under the current epoch:
//!   [`ClientEvent::Resend`] (the last [`MAX_UNACKED_TO_ALL`] unacknowledged are kept).
//! - Messages of 0.9 users (the 0.9 `rsa` frame, the server's `legacy` frame to all)
//!   become [`ClientEvent::Message`], as from a 0.9 client.
//! - In a large room the users list is a view: the listed users and those the session
//!   looked up. [`ClientSession::count`] is the room's size ([`ClientEvent::Count`] when it
//!   changes); [`ClientSession::find`] asks for users by the start of their name
//!   ([`ClientEvent::Found`]); a message from a sender not in the view is checked with
//!   the key of the relay's `fromkey`, fetched first (the sender is looked up then).
//!   At most [`MAX_LOOKED_UP`] looked-up users are kept.

mod envelope;
mod epochs;
mod event;
mod file;
mod key_cache;
mod replay_guard;
mod room_view;
mod seal;
mod session;
mod v2_frames;
mod v2_receive;
mod v2_send;

pub use envelope::{Envelope, KIND_TEXT, sign_and_seal};
pub use event::{Algo, ClientEvent, DropReason, FlagReason, User};
pub use file::{
    FileError, FileInfo, IncomingFile, KIND_FILE, OutgoingFile, file_ack_frame, file_cancel_frame,
};
pub use key_cache::{MAX_KEYIDS_PER_REQUEST, MAX_WAITING_FRAMES};
pub use replay_guard::REPLAY_WINDOW_MS;
pub use room_view::MAX_LOOKED_UP;
pub use seal::{ClientError, Outgoing, frame, plaintext, seal_aes, seal_rsa};
pub use session::{ClientSession, DEFAULT_MAX_TEXT};
pub use v2_frames::{all_data, direct_data};
pub use v2_send::MAX_UNACKED_TO_ALL;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod v2_tests;
