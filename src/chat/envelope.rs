//! The version-2 envelope (docs/PROTOCOL.md, "The sealed payload"): the signed JSON
//! inside every version-2 message, naming its sender, recipient, id, time and epoch.
//! The server reads the envelopes it can decrypt (to all, to the administrator) and
//! writes the administrator's own.

use serde::{Deserialize, Serialize};

use crate::crypto::{PublicIdentity, envelope_signed_bytes, open_payload};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u8,
    pub from: String,
    pub to: String,
    pub id: String,
    pub time: u64,
    pub epoch: u64,
    pub kind: String,
    /// Present for `kind: "text"`; other kinds are for later versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl Envelope {
    pub fn text(from: &str, to: &str, id: String, time: u64, epoch: u64, text: &str) -> Self {
        Self {
            v: 2,
            from: from.to_string(),
            to: to.to_string(),
            id,
            time,
            epoch,
            kind: "text".to_string(),
            text: Some(text.to_string()),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("strings and numbers always serialize")
    }

    /// What the console shows of it: the text, or what kind of message it was.
    pub fn shown(&self) -> String {
        match (&self.text, self.kind.as_str()) {
            (Some(text), "text") => text.clone(),
            _ => format!(
                "(a message of kind {:?})",
                self.kind.chars().take(32).collect::<String>()
            ),
        }
    }
}

/// Why a sealed payload was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsealed {
    /// Not `u16be(len) ‖ S ‖ E` with `E` an envelope of version 2.
    Malformed,
    /// The signature is not the sender's over this envelope.
    BadSignature,
}

/// Opens a decrypted sealed payload: the envelope, if it is well formed and signed by
/// `signer`. What it says (from, to, epoch) is for the caller to check.
pub fn open_signed(payload: &[u8], signer: &PublicIdentity) -> Result<Envelope, Unsealed> {
    let (signature, body) = open_payload(payload).ok_or(Unsealed::Malformed)?;
    let envelope: Envelope = serde_json::from_slice(body).map_err(|_| Unsealed::Malformed)?;
    if envelope.v != 2 {
        return Err(Unsealed::Malformed);
    }
    if !signer.verify(&envelope_signed_bytes(body), signature) {
        return Err(Unsealed::BadSignature);
    }
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_round_trips_and_shows_its_text() {
        let e = Envelope::text("alice", "all", "m1".into(), 17, 3, "héllo 世界");
        let back: Envelope = serde_json::from_slice(&e.to_bytes()).unwrap();
        assert_eq!(back, e);
        assert_eq!(e.shown(), "héllo 世界");
        let other = Envelope {
            kind: "poll".into(),
            text: None,
            ..e
        };
        assert_eq!(other.shown(), "(a message of kind \"poll\")");
    }
}
