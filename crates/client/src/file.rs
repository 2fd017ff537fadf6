//! Files over version 2 (docs/PROTOCOL.md, "Version 2 — files"): the offer (a signed
//! envelope of kind `file`, with the file key), the chunks under that key, and their
//! reassembly and check at a recipient. The pacing (the window) is the caller's: it
//! sends chunk `seq` only while `seq < acked + window`, `acked` from `file-window`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::envelope::{Envelope, sign_and_seal};
use super::seal::{ClientError, Outgoing, frame};
use super::session::ClientSession;
use super::v2_frames::{all_data, direct_data};
use dyspatcher_crypto::{SecretKey, b64_decode, b64_encode, sha256_hex};

pub const KIND_FILE: &str = "file";

/// What an offer's envelope says of its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    pub tid: String,
    pub name: String,
    #[serde(rename = "type")]
    pub mime: String,
    pub size: u64,
    pub chunks: u64,
    #[serde(rename = "chunk-size")]
    pub chunk_size: u64,
    pub sha256: String,
    /// The file key `F`, base64.
    pub key: String,
}

pub fn is_file_offer(envelope: &Envelope) -> bool {
    envelope.kind == KIND_FILE && envelope.file.is_some()
}

/// What authenticates chunk `seq` of `from`'s transfer `tid` of `chunks` chunks.
pub fn chunk_aad(from: &str, tid: &str, seq: u64, chunks: u64) -> Vec<u8> {
    format!("dyspatcher file v2\n{from}\n{tid}\n{seq}\n{chunks}").into_bytes()
}

/// A file being sent: its key, bytes and chunking.
pub struct OutgoingFile {
    pub info: FileInfo,
    from: String,
    key: SecretKey,
    bytes: Vec<u8>,
}

impl OutgoingFile {
    pub fn tid(&self) -> &str {
        &self.info.tid
    }

    pub fn chunks(&self) -> u64 {
        self.info.chunks
    }

    /// The `file-chunk` frame of chunk `seq` (encrypted anew each time: a fresh IV).
    pub fn chunk_frame(&self, seq: u64) -> String {
        let size = self.info.chunk_size as usize;
        let start = (seq as usize * size).min(self.bytes.len());
        let end = (start + size).min(self.bytes.len());
        let aad = chunk_aad(&self.from, &self.info.tid, seq, self.info.chunks);
        let (iv, data) = self.key.encrypt(&self.bytes[start..end], &aad);
        let data = json!({"tid": self.info.tid, "seq": seq, "iv": b64_encode(&iv), "data": b64_encode(&data)});
        frame("file-chunk", &self.from, data)
    }

    /// The sender's `file-cancel`.
    pub fn cancel_frame(&self, reason: &str) -> String {
        let data = json!({"tid": self.info.tid, "reason": reason});
        frame("file-cancel", &self.from, data)
    }
}

/// A recipient's `file-ack` of chunk `seq` of `from`'s `tid`.
pub fn file_ack_frame(me: &str, from: &str, tid: &str, seq: u64) -> String {
    frame(
        "file-ack",
        me,
        json!({"tid": tid, "from": from, "seq": seq}),
    )
}

/// A recipient's `file-cancel`: it leaves `from`'s transfer `tid`.
pub fn file_cancel_frame(me: &str, from: &str, tid: &str) -> String {
    frame("file-cancel", me, json!({"tid": tid, "from": from}))
}

/// Why a file could not be received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileError {
    /// A chunk that is not the next, or does not decrypt under its place (altered,
    /// reordered, missing, foreign).
    BadChunk { seq: u64 },
    /// More bytes than announced, or the whole not matching its SHA-256.
    BadFile,
}

/// A file being received, from its verified offer.
pub struct IncomingFile {
    pub from: String,
    pub info: FileInfo,
    key: SecretKey,
    bytes: Vec<u8>,
    next: u64,
}

impl IncomingFile {
    /// From a verified offer (a [`crate::ClientEvent::V2Message`] of kind `file`).
    pub fn from_offer(envelope: &Envelope) -> Option<Self> {
        let info = envelope.file.clone().filter(|_| is_file_offer(envelope))?;
        let key = b64_decode(&info.key).and_then(|k| SecretKey::from_slice(&k))?;
        Some(Self {
            from: envelope.from.clone(),
            // Never trust the announced size with an allocation up front.
            bytes: Vec::with_capacity(info.size.min(1 << 20) as usize),
            info,
            key,
            next: 0,
        })
    }

    /// Takes the `data` of a relayed `file-chunk` of this transfer. `Ok(Some(bytes))`
    /// when it was the last chunk and the whole file checks out.
    pub fn take_chunk(&mut self, data: &Map<String, Value>) -> Result<Option<Vec<u8>>, FileError> {
        let seq = data.get("seq").and_then(Value::as_u64).unwrap_or(u64::MAX);
        let bad = FileError::BadChunk { seq };
        if seq != self.next || seq >= self.info.chunks {
            return Err(bad);
        }
        let field = |k: &str| data.get(k).and_then(Value::as_str).and_then(b64_decode);
        let (Some(iv), Some(ciphertext)) = (field("iv"), field("data")) else {
            return Err(bad);
        };
        let aad = chunk_aad(&self.from, &self.info.tid, seq, self.info.chunks);
        let plain = self.key.decrypt(&iv, &ciphertext, &aad).ok_or(bad)?;
        if self.bytes.len() as u64 + plain.len() as u64 > self.info.size {
            return Err(FileError::BadFile);
        }
        self.bytes.extend_from_slice(&plain);
        self.next += 1;
        if self.next < self.info.chunks {
            return Ok(None);
        }
        let whole = std::mem::take(&mut self.bytes);
        if whole.len() as u64 != self.info.size || sha256_hex(&whole) != self.info.sha256 {
            return Err(FileError::BadFile);
        }
        Ok(Some(whole))
    }
}

impl ClientSession {
    /// The offer of `bytes` as file `name` of type `mime` to `to` (a version-2 user or
    /// `"all"`), cut in chunks of `chunk_size`: the offer to send first, then the chunks.
    pub fn file_to(
        &mut self,
        to: &str,
        tid: &str,
        name: &str,
        mime: &str,
        bytes: Vec<u8>,
        chunk_size: u64,
    ) -> Result<(Outgoing, OutgoingFile), ClientError> {
        let key = SecretKey::generate();
        let size = bytes.len() as u64;
        let info = FileInfo {
            tid: tid.to_owned(),
            name: name.to_owned(),
            mime: mime.to_owned(),
            size,
            chunks: size.div_ceil(chunk_size).max(1),
            chunk_size,
            sha256: sha256_hex(&bytes),
            key: b64_encode(key.as_bytes()),
        };
        let id = self.next_id();
        let mut data = if to == "all" {
            let (epoch, group) = self.epochs.current().ok_or(ClientError::NoGroupKey)?;
            let payload = self.file_payload(to, &id, epoch, &info);
            all_data(group, epoch, &id, &payload, false)
        } else {
            let key = self.recipient_key(to)?.clone();
            let payload = self.file_payload(to, &id, self.epoch().unwrap_or(0), &info);
            direct_data(&key, to, &id, &payload)
        };
        data.insert(
            "file".into(),
            json!({"tid": tid, "size": size, "chunks": info.chunks}),
        );
        let offer = Outgoing {
            frame: self.message_frame(data),
            id,
            copy: None,
        };
        let file = OutgoingFile {
            info,
            from: self.name.clone(),
            key,
            bytes,
        };
        Ok((offer, file))
    }

    fn file_payload(&self, to: &str, id: &str, epoch: u64, info: &FileInfo) -> Vec<u8> {
        let mut envelope = self.envelope(to, id, epoch, "");
        envelope.kind = KIND_FILE.to_owned();
        envelope.file = Some(info.clone());
        sign_and_seal(&envelope.to_bytes(), &self.keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dyspatcher_crypto::KeyPair;
    use std::sync::Arc;

    fn offer_of(bytes: &[u8], chunk_size: u64) -> (OutgoingFile, IncomingFile) {
        let key = SecretKey::generate();
        let size = bytes.len() as u64;
        let info = FileInfo {
            tid: "f1".into(),
            name: "a.bin".into(),
            mime: "application/octet-stream".into(),
            size,
            chunks: size.div_ceil(chunk_size).max(1),
            chunk_size,
            sha256: sha256_hex(bytes),
            key: b64_encode(key.as_bytes()),
        };
        let mut envelope = Envelope::text("alice", "bob", "m1", 1, 1, "");
        envelope.kind = KIND_FILE.into();
        envelope.file = Some(info.clone());
        let incoming = IncomingFile::from_offer(&envelope).unwrap();
        let outgoing = OutgoingFile {
            info,
            from: "alice".into(),
            key,
            bytes: bytes.to_vec(),
        };
        (outgoing, incoming)
    }

    fn data_of(frame: &str) -> Map<String, Value> {
        let v: Value = serde_json::from_str(frame).unwrap();
        v["data"].as_object().unwrap().clone()
    }

    #[test]
    fn chunks_reassemble_to_the_file_and_nothing_else() {
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let (out, mut inc) = offer_of(&bytes, 4096);
        assert_eq!(out.chunks(), 3);
        assert_eq!(inc.take_chunk(&data_of(&out.chunk_frame(0))), Ok(None));
        // Reordered: chunk 2 before chunk 1.
        let (out2, mut inc2) = offer_of(&bytes, 4096);
        inc2.take_chunk(&data_of(&out2.chunk_frame(0))).unwrap();
        assert!(inc2.take_chunk(&data_of(&out2.chunk_frame(2))).is_err());
        // A chunk of another transfer (another key, same place) fails.
        assert!(inc.take_chunk(&data_of(&out2.chunk_frame(1))).is_err());
        assert_eq!(inc.take_chunk(&data_of(&out.chunk_frame(1))), Ok(None));
        // Altered.
        let mut altered = data_of(&out.chunk_frame(2));
        let mut raw = b64_decode(altered["data"].as_str().unwrap()).unwrap();
        raw[0] ^= 1;
        altered.insert("data".into(), b64_encode(&raw).into());
        assert!(inc.take_chunk(&altered).is_err());
        assert_eq!(
            inc.take_chunk(&data_of(&out.chunk_frame(2))),
            Ok(Some(bytes))
        );
    }

    #[test]
    fn an_empty_file_is_one_empty_chunk() {
        let (out, mut inc) = offer_of(b"", 4096);
        assert_eq!(out.chunks(), 1);
        assert_eq!(
            inc.take_chunk(&data_of(&out.chunk_frame(0))),
            Ok(Some(vec![]))
        );
    }

    #[test]
    fn a_wrong_hash_is_refused() {
        let (out, mut inc) = offer_of(b"hello", 4096);
        inc.info.sha256 = sha256_hex(b"other");
        assert_eq!(
            inc.take_chunk(&data_of(&out.chunk_frame(0))),
            Err(FileError::BadFile)
        );
    }

    #[test]
    fn an_offer_carries_the_cleartext_header_the_server_checks() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/vectors/alice.pkcs8.pem"
        );
        let keys = Arc::new(KeyPair::from_pem(&std::fs::read_to_string(path).unwrap()).unwrap());
        let mut s = ClientSession::new_v2("alice", keys);
        // No group key yet: an offer to all cannot be sealed.
        let r = s.file_to("all", "f1", "a", "b", vec![1, 2, 3], 2);
        assert!(matches!(r, Err(ClientError::NoGroupKey)));
    }
}
