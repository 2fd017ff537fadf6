//! The server's console, read from the file it goes to (the server's stdout
//! redirected, or its `--transcription`): which of the tool's messages to the
//! administrator it showed, and when. A message's text starts with
//! `load p<phase> #<seq> `, which the console prints as it is.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::worker::Shared;

/// One message seen on the console: its sequence number and when (the run's clock).
pub type Seen = (u32, u64);

/// Reads what the server appends to its console file from now on.
pub struct ConsoleTail {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    phase: u8,
    thread: Option<JoinHandle<()>>,
}

impl ConsoleTail {
    /// Starts at the file's current end, looking for messages of `phase`.
    pub fn start(path: &Path, phase: u8, shared: Arc<Shared>) -> Result<Self, String> {
        let mut file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        file.seek(SeekFrom::End(0))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, seen) = (stop.clone(), seen.clone());
            std::thread::spawn(move || {
                let mut pending = Vec::new();
                let mut buf = vec![0u8; 64 * 1024];
                while !stop.load(Ordering::Relaxed) {
                    match file.read(&mut buf) {
                        Ok(0) | Err(_) => std::thread::sleep(Duration::from_millis(1)),
                        Ok(n) => {
                            let now = shared.now_ns();
                            pending.extend_from_slice(&buf[..n]);
                            let complete = pending.iter().rposition(|&b| b == b'\n');
                            if let Some(end) = complete {
                                let mut seen = seen.lock().expect("not poisoned");
                                for line in pending[..end].split(|&b| b == b'\n') {
                                    seen.extend(message_of(line, phase).map(|seq| (seq, now)));
                                }
                                pending.drain(..=end);
                            }
                        }
                    }
                }
            })
        };
        Ok(Self {
            stop,
            seen,
            phase,
            thread: Some(thread),
        })
    }

    /// The messages seen so far (a message shown twice counts twice).
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("not poisoned").clone()
    }

    pub fn phase(&self) -> u8 {
        self.phase
    }
}

impl Drop for ConsoleTail {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The sequence number of the tool's message of `phase` that a console line shows.
fn message_of(line: &[u8], phase: u8) -> Option<u32> {
    let marker = format!("load p{phase} #");
    let at = line
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())?;
    let digits = &line[at + marker.len()..];
    let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&digits[..len]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_sequence_number_of_its_phase_only() {
        let line = b"21:40:01 <lab00012> to ADMIN: load p7 #1234 at +400 ms abcdefghij";
        assert_eq!(message_of(line, 7), Some(1234));
        assert_eq!(message_of(line, 6), None);
        assert_eq!(message_of(b"load p7 #", 7), None);
    }
}
