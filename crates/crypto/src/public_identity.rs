//! Somebody's RSA public key as the chat knows it: the base64 DER text that travels in
//! frames, its Key ID, and the two public operations (OAEP encryption, PSS verification).

use rsa::pkcs8::{DecodePublicKey, EncodePublicKey};
use rsa::pss::{Signature, VerifyingKey};
use rsa::sha2::{Digest, Sha256};
use rsa::signature::Verifier;
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, PublicKey};

use getrandom::SysRng;

use super::{KeyError, b64_decode, b64_encode};

/// Smallest and largest modulus accepted from a client: what browsers and openssl make.
/// Below 2048 bits RSA is broken in practice; each bit above 4096 makes every
/// verification the server does for that client dearer, for no gain.
pub const MIN_CLIENT_KEY_BITS: usize = 2048;
pub const MAX_CLIENT_KEY_BITS: usize = 4096;
/// The only public exponent accepted from a client: every browser and openssl use it, and
/// a larger one makes each verification dearer (RSADoS).
pub const CLIENT_KEY_EXPONENT: u64 = 65537;

/// How many plaintext bytes RSA-OAEP with SHA-256 carries for a modulus of `modulus_bytes`.
fn max_oaep_plaintext(modulus_bytes: usize) -> usize {
    modulus_bytes.saturating_sub(2 * 32 + 2)
}

#[derive(Clone)]
pub struct PublicIdentity {
    /// The parsed key, with its Montgomery parameters (about 1.3 KB for RSA-2048);
    /// `None` in a compact copy, which parses it again for each operation.
    key: Option<PublicKey>,
    spki_b64: String,
    key_id: String,
    modulus_bytes: usize,
    bits: usize,
    exponent: Option<u64>,
}

impl std::fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicIdentity({})", self.key_id)
    }
}

impl PublicIdentity {
    /// Parses the `publickey` text of a join: base64 of a DER SubjectPublicKeyInfo.
    pub fn from_spki_b64(text: &str) -> Result<Self, KeyError> {
        let der = b64_decode(text.trim()).ok_or(KeyError::NotBase64)?;
        Self::from_spki_der(&der)
    }

    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let key = PublicKey::from_public_key_der(der).map_err(|_| KeyError::NotRsaPublicKey)?;
        Ok(Self::from_key(key))
    }

    /// The same identity without the parsed key: what a server keeps for each of
    /// thousands of users, who use their key rarely (a join, a message to all).
    pub fn compact(&self) -> Self {
        Self {
            key: None,
            spki_b64: self.spki_b64.clone(),
            key_id: self.key_id.clone(),
            ..*self
        }
    }

    /// The same identity with its key parsed once, for several operations in a row.
    pub fn parsed(self) -> Self {
        match self.key() {
            Some(std::borrow::Cow::Owned(key)) => Self {
                key: Some(key),
                ..self
            },
            _ => self,
        }
    }

    /// The parsed key, parsed now in a compact identity. `None` never happens for an
    /// identity made by this type (its DER was made from a parsed key), but a failure
    /// is an answer, not a panic.
    fn key(&self) -> Option<std::borrow::Cow<'_, PublicKey>> {
        match &self.key {
            Some(key) => Some(std::borrow::Cow::Borrowed(key)),
            None => {
                let der = b64_decode(&self.spki_b64)?;
                PublicKey::from_public_key_der(&der)
                    .ok()
                    .map(std::borrow::Cow::Owned)
            }
        }
    }

    /// Whether a client may join with this key: only the sizes and the exponent that
    /// browsers and openssl make (the administrator's own key is not held to this).
    pub fn check_client_key(&self) -> Result<(), KeyError> {
        let bits = self.bits();
        let exponent = self.exponent;
        let usual_exponent = exponent == Some(CLIENT_KEY_EXPONENT);
        if (MIN_CLIENT_KEY_BITS..=MAX_CLIENT_KEY_BITS).contains(&bits) && usual_exponent {
            return Ok(());
        }
        Err(KeyError::ClientKey {
            bits,
            exponent: exponent.filter(|_| !usual_exponent),
        })
    }

    /// The public exponent, `None` when it does not fit 64 bits.
    fn exponent_of(key: &PublicKey) -> Option<u64> {
        let bytes = key.e().to_be_bytes();
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        let bytes = &bytes[start..];
        (bytes.len() <= 8).then(|| bytes.iter().fold(0u64, |e, &b| (e << 8) | u64::from(b)))
    }

    /// Reads a PEM public key (`-----BEGIN PUBLIC KEY-----`).
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let key = PublicKey::from_public_key_pem(text).map_err(|_| KeyError::NotRsaPublicKey)?;
        Ok(Self::from_key(key))
    }

    pub(super) fn from_key(key: PublicKey) -> Self {
        // Re-encoding gives the canonical DER, so the Key ID is the one OpenSSL and
        // WebCrypto compute for the same key.
        let der = key
            .to_public_key_der()
            .expect("an RSA public key always encodes");
        let key_id = key_id_of_der(der.as_bytes());
        Self {
            spki_b64: b64_encode(der.as_bytes()),
            modulus_bytes: key.size(),
            bits: key.n().bit_width_vartime() as usize,
            exponent: Self::exponent_of(&key),
            key: Some(key),
            key_id,
        }
    }

    /// Lowercase hex SHA-256 of the DER SubjectPublicKeyInfo.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Base64 DER SubjectPublicKeyInfo, as frames carry it.
    pub fn spki_b64(&self) -> &str {
        &self.spki_b64
    }

    /// `None` only if the key no longer parses, which an identity made here cannot do.
    pub fn to_pem(&self) -> Option<String> {
        self.key()?
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .ok()
    }

    pub fn modulus_bytes(&self) -> usize {
        self.modulus_bytes
    }

    pub fn bits(&self) -> usize {
        self.bits
    }

    pub fn max_plaintext(&self) -> usize {
        max_oaep_plaintext(self.modulus_bytes())
    }

    /// RSA-OAEP, SHA-256, MGF1-SHA-256, empty label. `None` if the plaintext is too long.
    pub fn encrypt(&self, plaintext: &[u8]) -> Option<Vec<u8>> {
        if plaintext.len() > self.max_plaintext() {
            return None;
        }
        self.key()?
            .encrypt(&mut SysRng, Oaep::<Sha256>::new(), plaintext)
            .ok()
    }

    /// RSA-PSS, SHA-256, MGF1-SHA-256, with any salt length (browsers use 256, other
    /// tools often the hash length).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        if signature.len() != self.modulus_bytes() {
            return false;
        }
        let Ok(signature) = Signature::try_from(signature) else {
            return false;
        };
        let Some(key) = self.key() else {
            return false;
        };
        VerifyingKey::<Sha256>::new_with_auto_salt_len(key.into_owned())
            .verify(message, &signature)
            .is_ok()
    }
}

impl PartialEq for PublicIdentity {
    fn eq(&self, other: &Self) -> bool {
        self.key_id == other.key_id
    }
}

/// The Key ID of a public key's DER SubjectPublicKeyInfo: lowercase hex SHA-256. Cheap:
/// no RSA parsing.
pub fn key_id_of_der(der: &[u8]) -> String {
    hex(&Sha256::digest(der))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::BoxedUint;

    /// A public key of any size and exponent: only parsed, never used.
    fn odd_key(bits: usize, exponent: u64) -> PublicIdentity {
        let mut n = vec![0xa5u8; bits / 8];
        n[0] |= 0x80;
        *n.last_mut().unwrap() |= 1;
        let n = BoxedUint::from_be_slice(&n, bits as u32).unwrap();
        PublicIdentity::from_key(PublicKey::new_unchecked(n, BoxedUint::from(exponent)))
    }

    #[test]
    fn client_keys_are_what_browsers_make() {
        for bits in [2048, 3072, 4096] {
            assert_eq!(odd_key(bits, 65537).check_client_key(), Ok(()));
        }
        assert_eq!(
            odd_key(2048, 3).check_client_key().unwrap_err().to_string(),
            "an RSA key of 2048 bits with exponent 3; 2048 to 4096 bits with exponent 65537 are accepted"
        );
        assert_eq!(
            odd_key(8192, 65537).check_client_key(),
            Err(KeyError::ClientKey {
                bits: 8192,
                exponent: None
            })
        );
        assert_eq!(
            odd_key(1024, (1 << 32) + 1).check_client_key(),
            Err(KeyError::ClientKey {
                bits: 1024,
                exponent: Some((1 << 32) + 1)
            })
        );
    }

    /// What a server keeps for each member: the same answers as the full identity,
    /// the key parsed again for each use.
    #[test]
    fn a_compact_identity_works_as_the_full_one() {
        let pem = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/vectors/small2048.pkcs8.pem"
        ))
        .unwrap();
        let pair = crate::KeyPair::from_pem(&pem).unwrap();
        let full = pair.public().clone();
        let compact = full.compact();
        assert!(compact.key.is_none() && full.key.is_some());
        assert_eq!(compact, full);
        assert_eq!(
            (compact.bits(), compact.modulus_bytes(), compact.spki_b64()),
            (2048, 256, full.spki_b64())
        );
        assert_eq!(compact.check_client_key(), Ok(()));
        assert_eq!(compact.to_pem(), full.to_pem());
        assert!(
            compact
                .to_pem()
                .unwrap()
                .starts_with("-----BEGIN PUBLIC KEY-----\n")
        );
        let signature = pair.sign(b"proof");
        assert!(compact.verify(b"proof", &signature));
        assert!(!compact.verify(b"other", &signature));
        let sealed = compact.encrypt(b"member key").unwrap();
        assert_eq!(pair.decrypt(&sealed).unwrap(), b"member key");
        let parsed = compact.parsed();
        assert!(parsed.key.is_some());
        assert!(parsed.verify(b"proof", &signature));
    }
}
