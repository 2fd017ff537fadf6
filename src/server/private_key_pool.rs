//! The threads that do the administrator's private-key operations, so that the event
//! loop never waits for one (an RSA-4096 operation costs 13-24 ms here, several times
//! that on a Pi). The loop hands jobs over a channel; each result comes back over
//! another, and the worker wakes the loop's `Poll` through a `mio::Waker`. The loop
//! stays one thread: the workers touch nothing but the key and the two channels.

use std::io;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use mio::Waker;

use crate::chat::{JobId, PrivateOp, PrivateResult};
use crate::crypto::KeyPair;

/// At most this many worker threads (`--crypto-threads`): more would only contend for
/// the cores with the loop.
pub const MAX_CRYPTO_THREADS: usize = 16;

/// The default: every core but the loop's, at least one.
pub fn default_threads() -> usize {
    thread::available_parallelism()
        .map_or(1, |n| n.get().saturating_sub(1))
        .clamp(1, MAX_CRYPTO_THREADS)
}

pub struct PrivateKeyPool {
    /// `None` once stopping: the workers see the channel close and end.
    jobs: Option<Sender<(JobId, PrivateOp)>>,
    results: Receiver<(JobId, PrivateResult)>,
    workers: Vec<JoinHandle<()>>,
}

impl PrivateKeyPool {
    pub fn start(key: Arc<KeyPair>, threads: usize, waker: Arc<Waker>) -> io::Result<Self> {
        let (jobs, inbox) = mpsc::channel::<(JobId, PrivateOp)>();
        let (outbox, results) = mpsc::channel();
        // One queue for all workers: whichever is free takes the next job.
        let inbox = Arc::new(Mutex::new(inbox));
        let workers = (0..threads.max(1))
            .map(|i| {
                let (key, inbox, outbox, waker) =
                    (key.clone(), inbox.clone(), outbox.clone(), waker.clone());
                thread::Builder::new()
                    .name(format!("private-key-{i}"))
                    .spawn(move || work(&key, &inbox, &outbox, &waker))
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Self {
            jobs: Some(jobs),
            results,
            workers,
        })
    }

    pub fn submit(&self, job: JobId, op: PrivateOp) {
        if let Some(jobs) = &self.jobs {
            // Fails only if every worker is gone, which only a panic in one could cause;
            // the job is then lost with it.
            let _ = jobs.send((job, op));
        }
    }

    /// The results that came back since the last call.
    pub fn finished(&self) -> Vec<(JobId, PrivateResult)> {
        self.results.try_iter().collect()
    }
}

impl Drop for PrivateKeyPool {
    /// Ends the workers once they finish the job at hand (jobs still queued are dropped:
    /// the server is stopping).
    fn drop(&mut self) {
        self.jobs = None;
        while self.results.try_recv().is_ok() {}
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn work(
    key: &KeyPair,
    inbox: &Mutex<Receiver<(JobId, PrivateOp)>>,
    outbox: &Sender<(JobId, PrivateResult)>,
    waker: &Waker,
) {
    lower_priority();
    loop {
        // The lock is held only while waiting for a job, never while working on one.
        let next = inbox.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok((job, op)) = next else {
            return; // the loop is gone
        };
        let result = op.run(key);
        if outbox.send((job, result)).is_err() {
            return;
        }
        // A failed wake leaves the result to the loop's next turn.
        let _ = waker.wake();
    }
}

/// Where the cores are shared (one core on a small board, or a busy machine), the loop
/// is to win them: its work is short and everybody waits for it, a job only delays its
/// own task. On Linux a thread has its own nice value.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority on this thread's own id; no memory is involved.
    unsafe {
        let _ = libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn jobs_are_done_off_the_calling_thread_and_wake_the_poll() {
        let pem = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/vectors/admin.pkcs8.pem"
        ))
        .unwrap();
        let key = Arc::new(KeyPair::from_pem(&pem).unwrap());
        let mut poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(7)).unwrap());
        let pool = PrivateKeyPool::start(key.clone(), 2, waker).unwrap();
        let ciphertext = key.public().encrypt(b"hello").unwrap();
        pool.submit(1, PrivateOp::Decrypt(ciphertext));
        pool.submit(2, PrivateOp::Sign(b"signed".to_vec()));
        let mut got = Vec::new();
        let mut events = mio::Events::with_capacity(4);
        while got.len() < 2 {
            poll.poll(&mut events, Some(Duration::from_secs(10)))
                .unwrap();
            assert!(!events.is_empty(), "woken by the workers");
            got.extend(pool.finished());
        }
        got.sort_by_key(|(job, _)| *job);
        assert_eq!(got[0].1, PrivateResult::Plaintext(Some(b"hello".to_vec())));
        let PrivateResult::Signature(signature) = &got[1].1 else {
            panic!("{got:?}");
        };
        assert!(key.public().verify(b"signed", signature));
    }
}
