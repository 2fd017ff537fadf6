//! The group key: AES-256-GCM with a 16-byte IV (what WebCrypto clients use), the
//! 16-byte tag appended to the ciphertext.

use aes_gcm::aead::consts::U16;
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};

use super::{b64_encode, random_bytes};

pub const GROUP_IV_LEN: usize = 16;

type Aes256Gcm16 = AesGcm<Aes256, U16>;

pub struct GroupKey {
    raw: [u8; 32],
    cipher: Aes256Gcm16,
}

impl GroupKey {
    /// A new key for this run of the server; it is never stored.
    pub fn generate() -> Self {
        Self::from_bytes(random_bytes())
    }

    pub fn from_bytes(raw: [u8; 32]) -> Self {
        let cipher = Aes256Gcm16::new(&raw.into());
        Self { raw, cipher }
    }

    pub fn to_b64(&self) -> String {
        b64_encode(&self.raw)
    }

    /// Returns `(iv, ciphertext‖tag)` under a fresh random IV.
    pub fn encrypt(&self, plaintext: &[u8]) -> ([u8; GROUP_IV_LEN], Vec<u8>) {
        let iv: [u8; GROUP_IV_LEN] = random_bytes();
        let nonce = Nonce::<U16>::from(iv);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, plaintext)
            .expect("AES-GCM encryption only fails past 64 GiB");
        (iv, ciphertext)
    }

    /// `None` when the IV has the wrong size or the tag does not verify.
    pub fn decrypt(&self, iv: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
        let iv: [u8; GROUP_IV_LEN] = iv.try_into().ok()?;
        self.cipher
            .decrypt(&Nonce::<U16>::from(iv), ciphertext)
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let key = GroupKey::generate();
        let (iv, mut ct) = key.encrypt(b"hello all");
        assert_eq!(ct.len(), 9 + 16);
        assert_eq!(key.decrypt(&iv, &ct).as_deref(), Some(&b"hello all"[..]));
        ct[0] ^= 1;
        assert_eq!(key.decrypt(&iv, &ct), None);
        assert_eq!(key.decrypt(&iv[..12], &ct), None);
    }
}
