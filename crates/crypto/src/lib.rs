//! The chat's cryptography: the same algorithms, parameters and encodings as the
//! browsers' WebCrypto and the original's OpenSSL, so every party can read every other.
//!
//! - [`PublicIdentity`]: somebody's RSA public key, its wire text and its Key ID.
//! - [`KeyPair`]: an RSA private key (the administrator's, or a test client's).
//! - [`GroupKey`]: the session's AES-256-GCM key for messages to everybody.
//! - [`join_proof_message`]: what a joining client signs to prove its key.
//! - [`SecretKey`]: version 2's AES-256-GCM keys (a message's, a member's, an epoch's).
//! - [`sha256_hex`]: the digest a file offer carries.
//! - [`seal_payload`] / [`open_payload`]: version 2's signed envelope inside its encryption.

mod base64;
mod digest;
mod group_key;
mod join_proof;
mod key_pair;
mod public_identity;
mod random;
mod sealed_payload;
mod secret_key;

pub use self::base64::{b64_decode, b64_encode, b64_encode_into};
pub use digest::sha256_hex;
pub use group_key::{GROUP_IV_LEN, GroupKey};
pub use join_proof::join_proof_message;
pub use key_pair::{KeyError, KeyPair, MAX_ADMIN_KEY_BITS, MIN_ADMIN_KEY_BITS};
pub use public_identity::{PublicIdentity, key_id_of_der};
pub use random::{random_bytes, random_fill};
pub use sealed_payload::{envelope_signed_bytes, open_payload, seal_payload};
pub use secret_key::{SECRET_IV_LEN, SECRET_KEY_LEN, SecretKey, group_key_aad, group_key_aad_into};

/// The PSS salt length every browser client uses and expects (the original's choice).
pub const PSS_SALT_LEN: usize = 256;

#[cfg(test)]
mod interop_tests;
