//! Test keys: the three OpenSSL-made vectors, and a pool of generated RSA-4096 keys
//! kept in `target/test-keys/` so that they are generated once per checkout.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use dyspatcher_crypto::KeyPair;

/// `alice`, `bob`, `admin` (4096 bits) or `small2048` (tests/vectors/NAME.pkcs8.pem),
/// loaded once.
pub fn keys(name: &str) -> Arc<KeyPair> {
    assert!(
        ["alice", "bob", "admin", "small2048"].contains(&name),
        "keys({name:?}): only alice, bob, admin and small2048 have vector keys; use pool_key(n)"
    );
    cached(name, || {
        let path = format!(
            "{}/tests/vectors/{name}.pkcs8.pem",
            env!("CARGO_MANIFEST_DIR")
        );
        let pem = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        KeyPair::from_pem(&pem).unwrap_or_else(|e| panic!("{path}: {e}"))
    })
}

/// The `n`th generated RSA-4096 key: the same key for the same `n` in every test and
/// every run. The first use generates it (~0.5 s) and stores it in target/test-keys/.
pub fn pool_key(n: usize) -> Arc<KeyPair> {
    cached(&format!("pool{n}"), || {
        let dir = key_dir();
        let path = dir.join(format!("user{n}.pkcs8.pem"));
        if let Ok(pem) = std::fs::read_to_string(&path)
            && let Ok(key) = KeyPair::from_pem(&pem)
        {
            return key;
        }
        let key = KeyPair::generate(4096).expect("RSA-4096 generation");
        std::fs::create_dir_all(&dir).unwrap();
        // Atomic for concurrent test binaries: write aside, then rename.
        let tmp = dir.join(format!("user{n}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, key.private_pem()).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        key
    })
}

/// Keys `first..first + count` of the pool, generated on as many threads as there are
/// cores when missing.
pub fn pool_keys(first: usize, count: usize) -> Vec<Arc<KeyPair>> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(first);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(count) {
            scope.spawn(|| {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= first + count {
                        break;
                    }
                    pool_key(n);
                }
            });
        }
    });
    (first..first + count).map(pool_key).collect()
}

fn key_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp: honours CARGO_TARGET_DIR.
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target/tmp has a parent")
        .join("test-keys")
}

/// One slot per key name, filled once.
type Slot = Arc<OnceLock<Arc<KeyPair>>>;

fn cached(name: &str, make: impl FnOnce() -> KeyPair) -> Arc<KeyPair> {
    static CACHE: OnceLock<Mutex<HashMap<String, Slot>>> = OnceLock::new();
    // One slot per key, so that different keys are made in parallel and one key once.
    let slot = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(name.to_owned())
        .or_default()
        .clone();
    slot.get_or_init(|| Arc::new(make())).clone()
}
