//! The clients' RSA keys, kept on disk: making one RSA-4096 key costs about half a
//! second, so they are made once, in parallel, and reused by every run. Clients share
//! them (client i uses key i mod K): the server does not ask for distinct keys, and the
//! users list is as large either way.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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
