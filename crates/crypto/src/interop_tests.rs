//! OpenSSL-made keys, ciphertexts and signatures (tests/vectors/, copied from the
//! project's shared vectors) read by our code: the proof that we speak the same crypto.

use serde_json::Value;

use super::*;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn private_key(name: &str) -> KeyPair {
    let path = format!("{}/../../tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    KeyPair::from_pem(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn b64(v: &Value) -> Vec<u8> {
    b64_decode(v.as_str().unwrap()).unwrap()
}

fn identity(v: &Value, name: &str) -> PublicIdentity {
    PublicIdentity::from_spki_b64(v["keys"][name]["spki_b64"].as_str().unwrap()).unwrap()
}

#[test]
fn key_ids_match_openssl() {
    let v = vectors();
    for name in ["alice", "bob", "admin", "small2048"] {
        let id = identity(&v, name);
        assert_eq!(
            id.key_id(),
            v["keys"][name]["keyid"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(id.spki_b64(), v["keys"][name]["spki_b64"].as_str().unwrap());
    }
    assert_eq!(
        private_key("alice.pkcs8.pem").public().key_id(),
        v["keys"]["alice"]["keyid"].as_str().unwrap()
    );
}

#[test]
fn pkcs1_and_pkcs8_admin_keys_are_the_same_key() {
    let a = private_key("admin.pkcs1.pem");
    let b = private_key("admin.pkcs8.pem");
    assert_eq!(a.public().key_id(), b.public().key_id());
    let public_pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/admin.pub.pem"
    ))
    .unwrap();
    assert_eq!(
        PublicIdentity::from_pem(&public_pem).unwrap().key_id(),
        a.public().key_id()
    );
}

#[test]
fn openssl_rsa_message_decrypts_and_verifies() {
    let v = vectors();
    for (case, key) in [
        ("rsa_message_alice_to_bob", "bob.pkcs8.pem"),
        ("rsa_message_bob_to_admin", "admin.pkcs1.pem"),
    ] {
        let m = &v[case];
        let plain = private_key(key)
            .decrypt(&b64(&m["ciphertext_b64"]))
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&plain).unwrap(),
            m["plaintext_utf8"].as_str().unwrap()
        );
        let sender = identity(&v, m["verify_with"].as_str().unwrap());
        assert!(sender.verify(&plain, &b64(&m["signature_b64"])), "{case}");
        // Someone else's key neither decrypts nor verifies it.
        assert!(
            private_key("alice.pkcs8.pem")
                .decrypt(&b64(&m["ciphertext_b64"]))
                .is_none()
        );
        assert!(!identity(&v, "small2048").verify(&plain, &b64(&m["signature_b64"])));
    }
}

#[test]
fn openssl_aes_message_decrypts_and_verifies() {
    let v = vectors();
    let m = &v["aes_message_alice_to_all"];
    let key = GroupKey::from_bytes(b64(&m["aeskey_b64"]).try_into().unwrap());
    let plain = key
        .decrypt(&b64(&m["iv_b64"]), &b64(&m["ciphertext_b64"]))
        .unwrap();
    assert_eq!(
        std::str::from_utf8(&plain).unwrap(),
        m["plaintext_utf8"].as_str().unwrap()
    );
    assert!(identity(&v, "alice").verify(&plain, &b64(&m["signature_b64"])));
    let mut tampered = plain.clone();
    tampered[3] ^= 1;
    assert!(!identity(&v, "alice").verify(&tampered, &b64(&m["signature_b64"])));
}

#[test]
fn any_salt_length_verifies() {
    let v = vectors();
    let m = &v["pss_salt32_signature"];
    let text = m["plaintext_utf8"].as_str().unwrap().as_bytes();
    assert!(identity(&v, "alice").verify(text, &b64(&m["signature_b64"])));
}

#[test]
fn our_signatures_use_salt_256_and_small_keys_the_largest_salt() {
    let alice = private_key("alice.pkcs8.pem");
    assert_eq!(alice.salt_len(), 256);
    let small = private_key("small2048.pkcs8.pem");
    assert_eq!(small.salt_len(), 256 - 32 - 2);
    for key in [&alice, &small] {
        let sig = key.sign(b"x");
        assert!(key.public().verify(b"x", &sig));
        assert!(!key.public().verify(b"y", &sig));
    }
}

#[test]
fn oaep_round_trip_and_capacity() {
    let bob = private_key("bob.pkcs8.pem");
    assert_eq!(bob.public().max_plaintext(), 446);
    let ct = bob.public().encrypt(&[7u8; 446]).unwrap();
    assert_eq!(bob.decrypt(&ct).unwrap(), vec![7u8; 446]);
    assert!(bob.public().encrypt(&[7u8; 447]).is_none());
}

#[test]
fn bad_keys_are_refused_not_crashed() {
    assert_eq!(
        PublicIdentity::from_spki_b64("%%%").unwrap_err(),
        KeyError::NotBase64
    );
    assert_eq!(
        PublicIdentity::from_spki_b64("AAAA").unwrap_err(),
        KeyError::NotRsaPublicKey
    );
    assert_eq!(
        KeyPair::from_pem("hello").unwrap_err(),
        KeyError::NotRsaPrivateKey
    );
    assert_eq!(
        KeyPair::from_pem("-----BEGIN ENCRYPTED PRIVATE KEY-----").unwrap_err(),
        KeyError::Encrypted
    );
}
