//! What a server frame means to a client.

use dyspatcher_crypto::PublicIdentity;

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
    /// The key parsed from `publickey.text`; `None` if it is not a usable RSA key.
    pub key: Option<PublicIdentity>,
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
    /// ⊕ `chat-undelivered`.
    Undelivered {
        id: String,
        to: Option<String>,
        reason: String,
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
    /// A frame that is not a server frame of the protocol.
    Ignored { reason: String },
}
