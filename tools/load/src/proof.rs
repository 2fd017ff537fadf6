//! The proof of the key a version-2 join needs (docs/PROTOCOL.md, "Proof of the private
//! key"): one RSA-PSS signature per client over the server's nonce, made after the
//! challenge arrives, so it cannot be made before measuring. 10,000 of them are the
//! tool's largest cost, on the cores it shares with the server: they are made between
//! the challenges and the proofs, on every core, and their CPU is reported on its own.
//!
//! Two signers: ring's `RsaKeyPair` (salt 32, assembly Montgomery multiplication) and
//! the rsa crate through `dyspatcher_crypto::KeyPair` (salt min(256, max), what the
//! page and the protocol client use). The server verifies any salt length.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use dyspatcher_client::frame;
use dyspatcher_crypto::{KeyPair, b64_decode, b64_encode, join_proof_message};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PSS_SHA256, RsaKeyPair};
use tungstenite::Message;

/// Which implementation signs the proofs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerKind {
    Ring,
    Rsa,
}

impl SignerKind {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "ring" => Ok(Self::Ring),
            "rsa" => Ok(Self::Rsa),
            other => Err(format!("--signer {other}: ring or rsa")),
        }
    }
}

/// One client's private key, ready for either signer.
pub struct ProofKey {
    pub pair: std::sync::Arc<KeyPair>,
    /// Parsed once before measuring (ring checks the key when it parses it).
    ring: Option<RsaKeyPair>,
}

impl ProofKey {
    pub fn new(pair: std::sync::Arc<KeyPair>, kind: SignerKind) -> Result<Self, String> {
        let ring = match kind {
            SignerKind::Rsa => None,
            SignerKind::Ring => Some(ring_key(&pair)?),
        };
        Ok(Self { pair, ring })
    }

    /// The signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        match &self.ring {
            None => Ok(self.pair.sign(message)),
            Some(key) => {
                let mut signature = vec![0; key.public().modulus_len()];
                key.sign(
                    &RSA_PSS_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(|_| "ring could not sign".to_string())?;
                Ok(signature)
            }
        }
    }
}

/// ring takes PKCS#8 DER: the PEM the key store keeps, without its armour.
fn ring_key(pair: &KeyPair) -> Result<RsaKeyPair, String> {
    let pem = pair.private_pem();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = b64_decode(&body).ok_or("the key's PEM is not base64")?;
    RsaKeyPair::from_pkcs8(&der).map_err(|e| format!("ring refused the key: {e}"))
}

/// The `chat-proof` frame for `nonce`, signed by `key`, for a connection to `host`.
pub fn proof_frame(name: &str, key: &ProofKey, host: &str, nonce: &str) -> Result<Message, String> {
    let signature = key.sign(&join_proof_message(host, nonce))?;
    Ok(Message::text(frame(
        "signal",
        name,
        serde_json::json!({"code": "chat-proof", "signature": b64_encode(&signature)}),
    )))
}

/// What signing a batch cost.
pub struct Signed {
    pub frames: Vec<(usize, Message)>,
    /// Wall time of the batch, s.
    pub wall_s: f64,
    /// CPU of the signing threads, s (their own clocks).
    pub cpu_s: f64,
}

/// Signs every challenge (client id, nonce) on `threads` threads.
pub fn sign_all(
    challenges: &[(usize, String)],
    names: &[String],
    keys: &[ProofKey],
    host: &str,
    threads: usize,
) -> Result<Signed, String> {
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<(usize, Message)>> = Mutex::new(Vec::with_capacity(challenges.len()));
    let cpu_ns = AtomicUsize::new(0);
    let failed = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| -> Result<(), String> {
                    let cpu0 = thread_cpu_ns();
                    let mut mine = Vec::new();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some((id, nonce)) = challenges.get(k) else {
                            break;
                        };
                        mine.push((*id, proof_frame(&names[*id], &keys[*id], host, nonce)?));
                    }
                    cpu_ns.fetch_add((thread_cpu_ns() - cpu0) as usize, Ordering::Relaxed);
                    out.lock().expect("not poisoned").extend(mine);
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .filter_map(|w| w.join().expect("signing thread").err())
            .next()
    });
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(Signed {
        frames: out.into_inner().expect("not poisoned"),
        wall_s: started.elapsed().as_secs_f64(),
        cpu_s: cpu_ns.load(Ordering::Relaxed) as f64 / 1e9,
    })
}

/// This thread's CPU time, ns.
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid pointer to a timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `--signing-cost K`: K proofs with each signer on one thread, CPU per signature.
pub fn signing_cost(keys: &[std::sync::Arc<KeyPair>], count: usize) -> Result<String, String> {
    let mut lines = Vec::new();
    for kind in [SignerKind::Ring, SignerKind::Rsa] {
        let prepared = keys
            .iter()
            .take(count)
            .map(|k| ProofKey::new(k.clone(), kind))
            .collect::<Result<Vec<_>, _>>()?;
        let cpu0 = thread_cpu_ns();
        for (i, key) in prepared.iter().enumerate() {
            let signature =
                key.sign(&join_proof_message("127.0.0.1:8081", &format!("nonce{i}")))?;
            let expected = key.pair.public().modulus_bytes();
            if signature.len() != expected {
                return Err(format!("a signature of {} bytes", signature.len()));
            }
        }
        let per_us = (thread_cpu_ns() - cpu0) as f64 / 1e3 / prepared.len().max(1) as f64;
        lines.push(format!(
            "{kind:?}: {per_us:.0} µs of CPU per RSA-{} signature ({} signatures, one thread)",
            keys[0].public().bits(),
            prepared.len()
        ));
    }
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both signers make proofs that the server's verifier (dyspatcher_crypto, any
    /// salt length) accepts, bound to the host and nonce.
    #[test]
    fn both_signers_make_proofs_the_server_accepts() {
        let pem = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/vectors/small2048.pkcs8.pem"
        ))
        .unwrap();
        let pair = std::sync::Arc::new(KeyPair::from_pem(&pem).unwrap());
        let message = join_proof_message("127.0.0.1:81", "bm9uY2U=");
        for kind in [SignerKind::Ring, SignerKind::Rsa] {
            let key = ProofKey::new(pair.clone(), kind).unwrap();
            let signature = key.sign(&message).unwrap();
            assert!(pair.public().verify(&message, &signature), "{kind:?}");
            let other = join_proof_message("127.0.0.1:82", "bm9uY2U=");
            assert!(!pair.public().verify(&other, &signature), "{kind:?}");
        }
    }
}
