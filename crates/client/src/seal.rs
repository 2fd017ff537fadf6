//! Frame builders that need no session: the pieces a hostile test or a load tool
//! assembles by hand.

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value, json};

use dyspatcher_crypto::{GroupKey, KeyPair, PublicIdentity, b64_encode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// The recipient is not in the users list (or has no usable key).
    UnknownRecipient(String),
    /// No group key yet: the config has not arrived.
    NoGroupKey,
    /// The plaintext does not fit one RSA-OAEP block of the recipient's key (version 2:
    /// the text is longer than `max-text`).
    TooLong { len: usize, max: usize },
    /// Version 2: the recipient's key has not been fetched yet: send
    /// [`crate::ClientSession::key_request`]'s frame, wait for
    /// [`crate::ClientEvent::KeyArrived`], then try again.
    KeyNotFetched(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::UnknownRecipient(name) => write!(f, "{name} is not in the users list"),
            ClientError::NoGroupKey => write!(f, "no group key yet (no config received)"),
            ClientError::KeyNotFetched(name) => write!(f, "{name}'s key is not fetched yet"),
            ClientError::TooLong { len, max } => {
                write!(
                    f,
                    "a plaintext of {len} bytes; the recipient's key carries {max}"
                )
            }
        }
    }
}

impl std::error::Error for ClientError {}

/// A frame ready to send, with the ⊕ `id` it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub id: String,
    pub frame: String,
    /// Version 2: a second frame to send after `frame`, with an `id` of its own: the
    /// legacy copy of a message to all for the 0.9 users listed, or the web
    /// administrator's copy of a 1:1 message for the console.
    pub copy: Option<String>,
}

impl Outgoing {
    /// `frame`, then the copy if any.
    pub fn frames(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.frame.as_str()).chain(self.copy.as_deref())
    }
}

impl AsRef<str> for Outgoing {
    fn as_ref(&self) -> &str {
        &self.frame
    }
}

/// `{"cmd":cmd,"user":user,"data":data}`; `data` may be any JSON value (hostile tests).
pub fn frame(cmd: &str, user: &str, data: Value) -> String {
    json!({"cmd": cmd, "user": user, "data": data}).to_string()
}

/// The plaintext of a message: `{"from":..,"to":..,"message":..}`.
pub fn plaintext(from: &str, to: &str, text: &str) -> String {
    #[derive(Serialize)]
    struct Plain<'a> {
        from: &'a str,
        to: &'a str,
        message: &'a str,
    }
    serde_json::to_string(&Plain {
        from,
        to,
        message: text,
    })
    .expect("strings always serialise")
}

/// The data object of a 1:1 message, without `to` or `id`: `plaintext` encrypted for
/// `recipient` and signed by `signer`.
pub fn seal_rsa(
    recipient: &PublicIdentity,
    plaintext: &[u8],
    signer: &KeyPair,
) -> Result<Map<String, Value>, ClientError> {
    let ciphertext = recipient.encrypt(plaintext).ok_or(ClientError::TooLong {
        len: plaintext.len(),
        max: recipient.max_plaintext(),
    })?;
    let mut data = Map::new();
    data.insert("algo".into(), "rsa".into());
    data.insert("ciphertext".into(), b64_encode(&ciphertext).into());
    data.insert(
        "signature".into(),
        b64_encode(&signer.sign(plaintext)).into(),
    );
    Ok(data)
}

/// The data object of a message to everybody, without `id`.
pub fn seal_aes(group: &GroupKey, plaintext: &[u8], signer: &KeyPair) -> Map<String, Value> {
    let (iv, ciphertext) = group.encrypt(plaintext);
    let mut data = Map::new();
    data.insert("algo".into(), "aes".into());
    data.insert("iv".into(), b64_encode(&iv).into());
    data.insert("ciphertext".into(), b64_encode(&ciphertext).into());
    data.insert(
        "signature".into(),
        b64_encode(&signer.sign(plaintext)).into(),
    );
    data
}
