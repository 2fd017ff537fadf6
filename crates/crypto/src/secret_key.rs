//! Version 2's symmetric keys (docs/PROTOCOL.md, "Version 2"): AES-256-GCM with a
//! 12-byte IV and additional data. Used for a 1:1 message's own key, a member key and
//! the group key of an epoch. (The 0.9 group key, with its 16-byte IV, is [`GroupKey`].)
//!
//! [`GroupKey`]: crate::GroupKey

use aes_gcm::aead::{Aead, AeadInOut, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use super::random_bytes;

pub const SECRET_IV_LEN: usize = 12;
pub const SECRET_KEY_LEN: usize = 32;

#[derive(Clone)]
pub struct SecretKey {
    raw: [u8; SECRET_KEY_LEN],
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    pub fn generate() -> Self {
        Self::from_bytes(random_bytes())
    }

    pub fn from_bytes(raw: [u8; SECRET_KEY_LEN]) -> Self {
        let cipher = Aes256Gcm::new(&raw.into());
        Self { raw, cipher }
    }

    /// `None` unless `raw` is exactly 32 bytes.
    pub fn from_slice(raw: &[u8]) -> Option<Self> {
        Some(Self::from_bytes(raw.try_into().ok()?))
    }

    pub fn as_bytes(&self) -> &[u8; SECRET_KEY_LEN] {
        &self.raw
    }

    /// Returns `(iv, ciphertext‖tag)` under a fresh random IV.
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> ([u8; SECRET_IV_LEN], Vec<u8>) {
        let iv: [u8; SECRET_IV_LEN] = random_bytes();
        let ciphertext = self
            .cipher
            .encrypt(
                &Nonce::from(iv),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-GCM encryption only fails past 64 GiB");
        (iv, ciphertext)
    }

    /// Encrypts a 32-byte `key` under `wrapping` (raw key bytes) and `iv` (drawn at
    /// random by the caller), returning ciphertext‖tag: a rotation wraps one per
    /// member, so the cipher is made where it is used, and nothing is allocated.
    pub fn wrap_key(
        wrapping: &[u8; SECRET_KEY_LEN],
        iv: &[u8; SECRET_IV_LEN],
        key: &[u8; SECRET_KEY_LEN],
        aad: &[u8],
    ) -> [u8; SECRET_KEY_LEN + 16] {
        let mut out = [0u8; SECRET_KEY_LEN + 16];
        let (body, tag_out) = out.split_at_mut(SECRET_KEY_LEN);
        body.copy_from_slice(key);
        let tag = Aes256Gcm::new(wrapping.into())
            .encrypt_inout_detached(&Nonce::from(*iv), aad, body.into())
            .expect("AES-GCM encryption only fails past 64 GiB");
        tag_out.copy_from_slice(&tag);
        out
    }

    /// `None` when the IV has the wrong size or the tag does not verify.
    pub fn decrypt(&self, iv: &[u8], ciphertext: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        let iv: [u8; SECRET_IV_LEN] = iv.try_into().ok()?;
        self.cipher
            .decrypt(
                &Nonce::from(iv),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .ok()
    }
}

/// The additional data of a wrapped group key: binds it to its epoch and to the member
/// it was wrapped for.
pub fn group_key_aad(epoch: u64, name: &str) -> Vec<u8> {
    let mut aad = Vec::new();
    group_key_aad_into(epoch, name, &mut aad);
    aad
}

/// The same written over `aad` (cleared first): a rotation reuses one buffer for
/// every member.
pub fn group_key_aad_into(epoch: u64, name: &str, aad: &mut Vec<u8>) {
    use std::io::Write as _;
    aad.clear();
    write!(aad, "dyspatcher group key v2\n{epoch}\n{name}").expect("writing to a Vec");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_tamper_and_aad() {
        let key = SecretKey::generate();
        let (iv, mut ct) = key.encrypt("héllo 世界".as_bytes(), b"aad");
        assert_eq!(ct.len(), "héllo 世界".len() + 16);
        assert_eq!(
            key.decrypt(&iv, &ct, b"aad").as_deref(),
            Some("héllo 世界".as_bytes())
        );
        assert_eq!(key.decrypt(&iv, &ct, b"other"), None);
        assert_eq!(key.decrypt(&iv[..11], &ct, b"aad"), None);
        ct[0] ^= 1;
        assert_eq!(key.decrypt(&iv, &ct, b"aad"), None);
        assert_eq!(
            group_key_aad(7, "alice"),
            b"dyspatcher group key v2\n7\nalice"
        );
    }
}
