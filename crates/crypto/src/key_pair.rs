//! An RSA private key with its public identity: the administrator's key on the server,
//! a user's key in the test clients and the load tool.

use std::fmt;

use getrandom::SysRng;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::pss::Pss;
use rsa::sha2::{Digest, Sha256};
use rsa::{Oaep, PrivateKey};

use super::public_identity::{CLIENT_KEY_EXPONENT, MAX_CLIENT_KEY_BITS, MIN_CLIENT_KEY_BITS};
use super::{PSS_SALT_LEN, PublicIdentity};

/// The administrator's key must carry a console message and a PSS signature.
pub const MIN_ADMIN_KEY_BITS: usize = 2048;
/// The administrator's key is the operator's choice: up to what the rsa crate accepts.
pub const MAX_ADMIN_KEY_BITS: usize = 8192;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    NotBase64,
    NotRsaPublicKey,
    NotRsaPrivateKey,
    Encrypted,
    /// The administrator's key is outside 2048-8192 bits.
    Size(usize),
    /// A client's key is not 2048-4096 bits with exponent 65537; `exponent` is given
    /// when it is the exponent that is wrong (`None` too when it is larger than 64 bits).
    ClientKey {
        bits: usize,
        exponent: Option<u64>,
    },
    Generation,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::NotBase64 => write!(f, "the public key is not base64 text"),
            KeyError::NotRsaPublicKey => {
                write!(f, "not an RSA public key (DER SubjectPublicKeyInfo)")
            }
            KeyError::NotRsaPrivateKey => write!(
                f,
                "not an RSA private key in PEM (PKCS#8 \"BEGIN PRIVATE KEY\" or PKCS#1 \"BEGIN RSA PRIVATE KEY\"); make one with: openssl genrsa -out private.pem 4096"
            ),
            KeyError::Encrypted => write!(
                f,
                "the private key is protected by a passphrase; remove it with: openssl pkey -in key.pem -out plain.pem"
            ),
            KeyError::Size(bits) => write!(
                f,
                "an RSA key of {bits} bits; 2048 to 8192 bits are accepted"
            ),
            KeyError::ClientKey { bits, exponent } => {
                write!(f, "an RSA key of {bits} bits")?;
                if let Some(e) = exponent {
                    write!(f, " with exponent {e}")?;
                }
                write!(
                    f,
                    "; {MIN_CLIENT_KEY_BITS} to {MAX_CLIENT_KEY_BITS} bits with exponent {CLIENT_KEY_EXPONENT} are accepted"
                )
            }
            KeyError::Generation => write!(f, "RSA key generation failed"),
        }
    }
}

impl std::error::Error for KeyError {}

pub struct KeyPair {
    private: PrivateKey,
    public: PublicIdentity,
    salt_len: usize,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPair({})", self.public.key_id())
    }
}

impl KeyPair {
    pub fn generate(bits: usize) -> Result<Self, KeyError> {
        let private = PrivateKey::new(&mut SysRng, bits).map_err(|_| KeyError::Generation)?;
        Ok(Self::from_private(private))
    }

    /// Reads PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`, what
    /// `openssl genrsa -traditional` writes) PEM.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        if text.contains("ENCRYPTED") {
            return Err(KeyError::Encrypted);
        }
        let private = PrivateKey::from_pkcs8_pem(text)
            .or_else(|_| PrivateKey::from_pkcs1_pem(text))
            .map_err(|_| KeyError::NotRsaPrivateKey)?;
        let pair = Self::from_private(private);
        let bits = pair.public.bits();
        if !(MIN_ADMIN_KEY_BITS..=MAX_ADMIN_KEY_BITS).contains(&bits) {
            return Err(KeyError::Size(bits));
        }
        Ok(pair)
    }

    fn from_private(private: PrivateKey) -> Self {
        let public = PublicIdentity::from_key(private.to_public_key());
        // RFC 8017: the salt fits when emLen >= hLen + sLen + 2, emLen = ceil((bits-1)/8).
        let em_len = (public.bits() - 1).div_ceil(8);
        let salt_len = PSS_SALT_LEN.min(em_len.saturating_sub(32 + 2));
        Self {
            private,
            public,
            salt_len,
        }
    }

    pub fn public(&self) -> &PublicIdentity {
        &self.public
    }

    /// The PSS salt length this key signs with: 256, or the largest a smaller key allows.
    pub fn salt_len(&self) -> usize {
        self.salt_len
    }

    /// RSA-PSS, SHA-256, MGF1-SHA-256, blinded. A private-key operation: costly.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let digest = Sha256::digest(message);
        self.private
            .sign_with_rng(
                &mut SysRng,
                Pss::<Sha256>::new_blinded_with_salt(self.salt_len),
                &digest,
            )
            .expect("the salt length was chosen to fit the key")
    }

    /// RSA-OAEP, SHA-256. `None` if it was not encrypted for this key. A private-key
    /// operation: costly.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Option<Vec<u8>> {
        if ciphertext.len() != self.public.modulus_bytes() {
            return None;
        }
        self.private
            .decrypt_blinded(&mut SysRng, Oaep::<Sha256>::new(), ciphertext)
            .ok()
    }

    /// PKCS#8 PEM, for `/key private`.
    pub fn private_pem(&self) -> String {
        self.private
            .to_pkcs8_pem(LineEnding::LF)
            .expect("an RSA private key always encodes")
            .to_string()
    }
}
