//! What a joining client signs to prove it holds its private key (docs/PROTOCOL.md,
//! `chat-challenge` and `chat-proof`). The server's `Host` binds the proof to this
//! server: a proof made for another server cannot be relayed to this one.

/// The bytes signed (RSA-PSS-SHA256) in a `chat-proof`: `host` is the host[:port] the
/// client connected to, as sent in `Host`; `nonce_b64` the challenge's nonce as sent.
pub fn join_proof_message(host: &str, nonce_b64: &str) -> Vec<u8> {
    format!("dyspatcher join proof v1\n{host}\n{nonce_b64}").into_bytes()
}
