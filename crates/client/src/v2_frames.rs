//! Version-2 message data objects built from a sealed payload, without a session: what
//! a session sends, and what a hostile test assembles (a payload re-encrypted for
//! someone else, a broken signature).

use serde_json::{Map, Value};

use dyspatcher_crypto::{PublicIdentity, SecretKey, b64_encode};

/// A 1:1 message: a fresh key `K` for this message only, wrapped with `recipient`'s key.
pub fn direct_data(
    recipient: &PublicIdentity,
    to: &str,
    id: &str,
    payload: &[u8],
) -> Map<String, Value> {
    let k = SecretKey::generate();
    let wrapped = recipient
        .encrypt(k.as_bytes())
        .expect("32 bytes fit any RSA-OAEP block of 2048 bits or more");
    let (iv, ciphertext) = k.encrypt(payload, b"");
    let mut data = Map::new();
    data.insert("v".into(), 2.into());
    data.insert("to".into(), to.into());
    data.insert("id".into(), id.into());
    data.insert("wrapped".into(), b64_encode(&wrapped).into());
    data.insert("iv".into(), b64_encode(&iv).into());
    data.insert("ciphertext".into(), b64_encode(&ciphertext).into());
    data
}

/// A message to all under the group key of `epoch`; `legacy`: the copy for 0.9 members,
/// whose payload carries a 0.9 plaintext and its 0.9 signature.
pub fn all_data(
    group: &SecretKey,
    epoch: u64,
    id: &str,
    payload: &[u8],
    legacy: bool,
) -> Map<String, Value> {
    let (iv, ciphertext) = group.encrypt(payload, b"");
    let mut data = Map::new();
    data.insert("v".into(), 2.into());
    data.insert("to".into(), "all".into());
    if legacy {
        data.insert("legacy".into(), true.into());
    }
    data.insert("id".into(), id.into());
    data.insert("epoch".into(), epoch.into());
    data.insert("iv".into(), b64_encode(&iv).into());
    data.insert("ciphertext".into(), b64_encode(&ciphertext).into());
    data
}
