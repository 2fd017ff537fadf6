//! The clients' RSA keys, kept on disk: making one RSA-4096 key costs about half a
//! second, so they are made once, in parallel, and reused by every run. Clients share
//! them (client i uses key i mod K): the server does not ask for distinct keys, and the
//! users list is as large either way.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use dyspatcher_crypto::KeyPair;

pub fn load_or_make(
    dir: &Path,
    count: usize,
    bits: usize,
    threads: usize,
) -> Result<Vec<Arc<KeyPair>>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = |i: usize| dir.join(format!("rsa{bits}-{i:04}.pem"));
    let started = Instant::now();
    let missing: Vec<usize> = (0..count).filter(|&i| !path(i).exists()).collect();
    if !missing.is_empty() {
        eprintln!(
            "making {} RSA-{bits} keys in {} ({threads} threads)...",
            missing.len(),
            dir.display()
        );
        let next = AtomicUsize::new(0);
        let failed = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads.max(1))
                .map(|_| {
                    scope.spawn(|| -> Result<(), String> {
                        loop {
                            let k = next.fetch_add(1, Ordering::Relaxed);
                            let Some(&i) = missing.get(k) else {
                                return Ok(());
                            };
                            let key = KeyPair::generate(bits).map_err(|e| e.to_string())?;
                            let tmp = path(i).with_extension("tmp");
                            std::fs::write(&tmp, key.private_pem())
                                .and_then(|()| std::fs::rename(&tmp, path(i)))
                                .map_err(|e| format!("{}: {e}", tmp.display()))?;
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .filter_map(|w| w.join().expect("key thread").err())
                .next()
        });
        if let Some(err) = failed {
            return Err(err);
        }
        eprintln!("  made in {:.1} s", started.elapsed().as_secs_f64());
    }
    (0..count)
        .map(|i| {
            let text = std::fs::read_to_string(path(i))
                .map_err(|e| format!("{}: {e}", path(i).display()))?;
            KeyPair::from_pem(&text)
                .map(Arc::new)
                .map_err(|e| format!("{}: {e}", path(i).display()))
        })
        .collect()
}

/// Makes the missing keys among the first `count` from the primes of keys already in
/// `dir` (`--compose-keys`): a version-2 run needs one key per client, and making
/// 10,000 RSA keys costs about 40 minutes of one core here (prime searches), while
/// pairing the primes of `k` keys gives about 2k² keys in seconds.
///
/// For load tests only: keys that share a prime are broken by anyone who has two of
/// them (a GCD of their moduli). The server cannot tell, and needs not: it only checks
/// each key's size and exponent, and each proof.
pub fn compose(dir: &Path, count: usize, bits: usize, threads: usize) -> Result<usize, String> {
    use rsa::traits::PrivateKeyParts;
    use rsa::{BoxedUint, PrivateKey};

    let path = |i: usize| dir.join(format!("rsa{bits}-{i:04}.pem"));
    let missing: Vec<usize> = (0..count).filter(|&i| !path(i).exists()).collect();
    if missing.is_empty() {
        return Ok(0);
    }
    // Sources: enough present keys for the pairs needed (their primes, in order).
    let present: Vec<usize> = (0..count.max(100_000))
        .filter(|&i| path(i).exists())
        .take(((missing.len() as f64 / 2.0).sqrt().ceil() as usize + 2).max(2))
        .collect();
    let mut primes: Vec<BoxedUint> = Vec::new();
    for &i in &present {
        let text =
            std::fs::read_to_string(path(i)).map_err(|e| format!("{}: {e}", path(i).display()))?;
        let key = <PrivateKey as rsa::pkcs8::DecodePrivateKey>::from_pkcs8_pem(&text)
            .map_err(|e| format!("{}: {e}", path(i).display()))?;
        for p in key.primes() {
            // A source may itself be composed: its primes are then already listed.
            if !primes.iter().any(|q| q == p.as_ref()) {
                primes.push(BoxedUint::clone(p));
            }
        }
    }
    // Every key present, by Key ID: a pair of primes that makes one of them (a source's
    // own pair, or a key an earlier run composed) is skipped.
    let mut taken = std::collections::HashSet::new();
    for i in (0..count.max(100_000)).filter(|&i| path(i).exists()) {
        let text =
            std::fs::read_to_string(path(i)).map_err(|e| format!("{}: {e}", path(i).display()))?;
        let key = KeyPair::from_pem(&text).map_err(|e| format!("{}: {e}", path(i).display()))?;
        taken.insert(key.public().key_id().to_string());
    }
    let taken = Mutex::new(taken);
    let pairs: Vec<(usize, usize)> = (0..primes.len())
        .flat_map(|a| (a + 1..primes.len()).map(move |b| (a, b)))
        .collect();
    if pairs.len() < missing.len() {
        return Err(format!(
            "{} keys present give {} pairs of primes, {} needed: make more keys first",
            present.len(),
            pairs.len(),
            missing.len()
        ));
    }
    eprintln!(
        "composing {} RSA-{bits} keys from the primes of {} keys ({threads} threads)...",
        missing.len(),
        present.len()
    );
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let made = AtomicUsize::new(0);
    let failed = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| -> Result<(), String> {
                    loop {
                        if made.load(Ordering::Relaxed) >= missing.len() {
                            return Ok(());
                        }
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&(a, b)) = pairs.get(k) else {
                            return Err(format!(
                                "the primes of {} keys give too few new keys: make more keys first",
                                present.len()
                            ));
                        };
                        let key = PrivateKey::from_p_q(
                            primes[a].clone(),
                            primes[b].clone(),
                            BoxedUint::from(65537u64),
                        )
                        .map_err(|e| format!("primes {a} and {b}: {e}"))?;
                        let pem = rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(
                            &key,
                            rsa::pkcs8::LineEnding::LF,
                        )
                        .map_err(|e| e.to_string())?;
                        // Products of two primes of bits/2 may have a bit less: skip those.
                        let pair = KeyPair::from_pem(&pem).map_err(|e| e.to_string())?;
                        if pair.public().bits() != bits {
                            return Err(format!(
                                "primes {a} and {b} make a key of {} bits",
                                pair.public().bits()
                            ));
                        }
                        if !taken
                            .lock()
                            .expect("not poisoned")
                            .insert(pair.public().key_id().to_string())
                        {
                            continue;
                        }
                        let Some(&i) = missing.get(made.fetch_add(1, Ordering::Relaxed)) else {
                            return Ok(());
                        };
                        let tmp = path(i).with_extension("tmp");
                        std::fs::write(&tmp, pem.as_bytes())
                            .and_then(|()| std::fs::rename(&tmp, path(i)))
                            .map_err(|e| format!("{}: {e}", tmp.display()))?;
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .filter_map(|w| w.join().expect("key thread").err())
            .next()
    });
    if let Some(err) = failed {
        return Err(err);
    }
    eprintln!("  composed in {:.1} s", started.elapsed().as_secs_f64());
    Ok(made.load(Ordering::Relaxed).min(missing.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two real keys give four more: distinct, of the right size, and each signs and
    /// decrypts as a key of its own.
    #[test]
    fn composed_keys_are_distinct_working_keys() {
        let dir = std::env::temp_dir().join(format!("load-keys-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let vector = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/vectors/small2048.pkcs8.pem"
        );
        std::fs::copy(vector, dir.join("rsa2048-0000.pem")).unwrap();
        // A product of two primes of different keys is 2047 bits now and then (no key
        // then): a second key whose four cross products all have 2048 bits is drawn.
        let mut composed = Err(String::new());
        for _ in 0..20 {
            for i in 2..6 {
                let _ = std::fs::remove_file(dir.join(format!("rsa2048-{i:04}.pem")));
            }
            std::fs::write(
                dir.join("rsa2048-0001.pem"),
                KeyPair::generate(2048).unwrap().private_pem(),
            )
            .unwrap();
            composed = compose(&dir, 6, 2048, 2);
            if composed.is_ok() {
                break;
            }
        }
        assert_eq!(composed.unwrap(), 4);
        assert_eq!(
            compose(&dir, 6, 2048, 2).unwrap(),
            0,
            "nothing missing any more"
        );
        assert!(
            compose(&dir, 7, 2048, 2).is_err(),
            "two keys give four pairs only"
        );
        let keys = load_or_make(&dir, 6, 2048, 1).unwrap();
        let ids: std::collections::HashSet<_> = keys
            .iter()
            .map(|k| k.public().key_id().to_string())
            .collect();
        assert_eq!(ids.len(), 6);
        for key in &keys[2..] {
            assert_eq!(key.public().bits(), 2048);
            let signature = key.sign(b"proof");
            assert!(key.public().verify(b"proof", &signature));
            assert!(!keys[0].public().verify(b"proof", &signature));
            let sealed = key.public().encrypt(b"member key").unwrap();
            assert_eq!(key.decrypt(&sealed).unwrap(), b"member key");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
