//! Version 2's signed envelope (docs/PROTOCOL.md, "The sealed payload"): what a message
//! says about itself (sender, recipient, id, time, epoch) under the sender's signature.

use serde::{Deserialize, Serialize};

use dyspatcher_crypto::{KeyPair, envelope_signed_bytes, open_payload, seal_payload};

/// The only `kind` this version knows.
pub const KIND_TEXT: &str = "text";

/// An envelope `E`, as built by a sender or read by a receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u64,
    pub from: String,
    /// The recipient's name, or `"all"`.
    pub to: String,
    pub id: String,
    /// The sender's clock, milliseconds since 1970-01-01 UTC.
    pub time: u64,
    pub epoch: u64,
    pub kind: String,
    /// Absent for kinds other than `text` (a receiver ignores kinds it does not know).
    #[serde(default)]
    pub text: String,
    /// Kind `file`: the file an offer announces (crate::file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<crate::file::FileInfo>,
}

impl Envelope {
    /// A text envelope.
    pub fn text(from: &str, to: &str, id: &str, time: u64, epoch: u64, text: &str) -> Self {
        Self {
            v: 2,
            from: from.to_owned(),
            to: to.to_owned(),
            id: id.to_owned(),
            time,
            epoch,
            kind: KIND_TEXT.to_owned(),
            text: text.to_owned(),
            file: None,
        }
    }

    /// `E` as sent: its JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope always serialises")
    }

    /// The sealed payload `u16be(len S) ‖ S ‖ E`, `S` signed by `signer`.
    pub fn seal(&self, signer: &KeyPair) -> Vec<u8> {
        sign_and_seal(&self.to_bytes(), signer)
    }
}

/// `u16be(len S) ‖ S ‖ E` for envelope bytes `E` as they are (a hostile test may sign
/// bytes no honest client would make).
pub fn sign_and_seal(envelope: &[u8], signer: &KeyPair) -> Vec<u8> {
    let signature = signer.sign(&envelope_signed_bytes(envelope));
    seal_payload(&signature, envelope).expect("an RSA signature is far below 64 KiB")
}

/// A sealed payload taken apart: the signature, the envelope's bytes as sent, and the
/// envelope parsed (`None` when it is not an envelope of this version).
pub struct Opened<'a> {
    pub signature: &'a [u8],
    pub bytes: &'a [u8],
    pub envelope: Option<Envelope>,
}

/// `None` when the payload is shorter than its signature length says.
pub fn open(payload: &[u8]) -> Option<Opened<'_>> {
    let (signature, bytes) = open_payload(payload)?;
    let envelope = serde_json::from_slice::<Envelope>(bytes)
        .ok()
        .filter(|e| e.v == 2);
    Some(Opened {
        signature,
        bytes,
        envelope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_in_the_spec_order_and_reads_back() {
        let e = Envelope::text("alice", "bob", "m1", 1_764_633_600_123, 7, "hé 👋🏽");
        let bytes = e.to_bytes();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"v":2,"from":"alice","to":"bob","id":"m1","time":1764633600123,"epoch":7,"kind":"text","text":"hé 👋🏽"}"#
        );
        let sealed = seal_payload(b"sig", &bytes).unwrap();
        let opened = open(&sealed).unwrap();
        assert_eq!(opened.signature, b"sig");
        assert_eq!(opened.bytes, &bytes[..]);
        assert_eq!(opened.envelope, Some(e));
    }

    #[test]
    fn other_versions_and_garbage_are_not_envelopes() {
        for body in [
            &br#"{"v":3,"from":"a","to":"b","id":"i","time":1,"epoch":1,"kind":"text"}"#[..],
            b"[]",
            b"\xff",
            b"",
        ] {
            let sealed = seal_payload(b"", body).unwrap();
            assert_eq!(open(&sealed).unwrap().envelope, None);
        }
        assert!(open(&[0, 9, 1]).is_none());
    }
}
