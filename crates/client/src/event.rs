//! What a server frame means to a client.

use dyspatcher_crypto::PublicIdentity;

use super::envelope::Envelope;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    /// 1:1: RSA-OAEP with the recipient's key.
    Rsa,
    /// To everybody: AES-256-GCM with the group key.
    Aes,
}

impl Algo {
    pub fn as_str(self) -> &'static str {
        match self {
            Algo::Rsa => "rsa",
            Algo::Aes => "aes",
        }
    }
}

/// An entry of the users list, or a user announced by `chat-join`.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub name: String,
    /// The Key ID the server sent (`publickey.hash`).
    pub hash: String,
    /// The key parsed from `publickey.text`; `None` if it is not a usable RSA key, or,
    /// in version 2, until it was fetched (`chat-getkeys`).
    pub key: Option<PublicIdentity>,
    /// Version 2: the server marks the user as on a 0.9 client (`"0.9"`).
    pub old_client: bool,
}

impl User {
    /// The server's `hash` is the Key ID of the key it sent.
    pub fn hash_matches_key(&self) -> bool {
        self.key.as_ref().is_some_and(|k| k.key_id() == self.hash)
    }
}

/// Why a message frame did not become a [`ClientEvent::Message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// An rsa frame routed to somebody else, or that our key does not decrypt.
    NotForMe,
    /// An aes frame before the config gave us the group key.
    NoGroupKey,
    /// An aes frame the group key does not decrypt (or authenticate).
    Undecryptable,
    /// A field is missing or is not base64.
    Malformed(&'static str),
    /// The plaintext is not `{"from":..,"to":..,"message":..}`.
    BadPlaintext,
    /// The plaintext's `from` is not in our users list (or has no usable key).
    UnknownSender(String),
    /// The signature does not verify with the key of the plaintext's `from`.
    BadSignature(String),
    /// Version 2: no group key of the frame's epoch (neither the current nor the previous).
    NoKeyForEpoch(u64),
    /// Version 2: the envelope's `time` is more than the replay window off our clock
    /// (positive: in our future).
    OutOfWindow { skew_ms: i64 },
    /// Version 2: a `(from, id)` already seen within the replay window.
    Replay { id: String },
    /// Version 2: an envelope `kind` this version does not know (ignored, as the spec says).
    UnknownKind(String),
    /// Version 2: too many frames already wait for their sender's key.
    TooManyWaiting,
}

/// Why a version-2 message claiming a sender is flagged and not shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagReason {
    /// The signature does not verify with the claimed sender's key.
    BadSignature,
    /// The envelope's `from` is not the sender the server registered (`relay_from`).
    NotFromRelay { relay_from: String },
    /// Signed for someone else (`to`), or for all in another epoch than the frame's.
    AddressedElsewhere { to: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// `config`: the session now knows its registered name and the group key.
    Config {
        name: String,
        is_admin: bool,
        disable_all: bool,
        key_id: String,
    },
    /// `chat-userslist`, in the server's order (the administrator first).
    UsersList(Vec<User>),
    /// `chat-join` of somebody else.
    Joined(User),
    /// `chat-left`.
    Left { name: String },
    /// ⊕ `chat-challenge`: the server waits for [`crate::ClientSession::proof_frame`]
    /// with this nonce.
    Challenge { nonce: String },
    /// `chat-invaliduser` (the server closes next).
    InvalidUser,
    /// `notice`.
    Notice(String),
    /// ⊕ `chat-ack`.
    Ack { id: String },
    /// Version 2 `chat-held`: the recipient left a short while ago; the server holds
    /// the message until `until` (wall clock, ms since 1970), then acks or reports it.
    Held { id: String, to: String, until: u64 },
    /// ⊕ `chat-undelivered`.
    Undelivered {
        id: String,
        to: Option<String>,
        reason: String,
        /// Version 2: the machine-readable cause (`stale-epoch`, `not-connected`, ...).
        why: Option<String>,
        /// Version 2, with `why` = `stale-epoch`: the current epoch.
        epoch: Option<u64>,
    },
    /// A message decrypted, and verified unless verification is off.
    Message {
        from: String,
        to: String,
        text: String,
        algo: Algo,
        verified: bool,
        /// The ⊕ `id` of the data object, as the sender set it.
        id: Option<String>,
    },
    /// The copy of a console 1:1 message the web administrator receives.
    WebAdminCopy {
        to: String,
        text: String,
        verified: bool,
    },
    /// A message frame that could not be read or trusted.
    Dropped { algo: Algo, reason: DropReason },
    /// Version 2: a `chat-groupkey` opened; `epoch` is now the current one.
    GroupKey { epoch: u64 },
    /// Version 2: a message that passed every check of the spec, in its order.
    /// `verified` is false only with verification off ([`crate::ClientSession::set_verify`]).
    V2Message { envelope: Envelope, verified: bool },
    /// Version 2: a message claiming to be from `claimed_from` that must not be shown.
    Flagged {
        claimed_from: String,
        why: FlagReason,
    },
    /// Version 2: a message frame relayed `from` that was dropped (undecryptable, a
    /// replay, out of the window, ...).
    V2Dropped { from: String, reason: DropReason },
    /// Version 2: the session needs public keys; send `frame` (a `chat-getkeys`). Frames
    /// that wait for these keys are taken up when the keys arrive.
    NeedKeys { frame: String },
    /// Version 2: a public key arrived and matched its Key ID.
    KeyArrived { key_id: String, name: String },
    /// Version 2: no connected user has this key.
    KeyMissing { key_id: String },
    /// Version 2: a message to all refused as `stale-epoch`, sealed again under the
    /// current epoch with the same `id`: send `frame`.
    Resend { id: String, frame: String },
    /// Version 2: the room's size (`count` of `chat-users` and `chat-presence`, the
    /// administrator included) changed; in a large room it exceeds the users listed.
    Count { count: usize },
    /// Version 2 `chat-found`: the connected users whose name starts with `name`, in name
    /// order; `more`: the server has others it did not send. They are now looked up
    /// (in [`crate::ClientSession::users`], their departure announced).
    Found {
        name: String,
        users: Vec<User>,
        more: bool,
    },
    /// A frame that is not a server frame of the protocol.
    Ignored { reason: String },
}
