//! The flooder: one connection that writes frames as fast as the socket takes them,
//! and, when the server closes it, connects and joins again at once (what an abuser
//! would do); with `reconnect` off it keeps writing into the closed connection.
//! Its own threads, blocking sockets: it is not one of the measured clients.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::wire::{self, Target};

pub struct Flood {
    stop: Arc<AtomicBool>,
    pub frames: Arc<AtomicU64>,
    pub connections: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Flood {
    /// `join` and `frame` are encoded WebSocket frames.
    pub fn start(target: Target, join: Vec<u8>, frame: Vec<u8>, reconnect: bool) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let frames = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let (s, f, c) = (stop.clone(), frames.clone(), connections.clone());
        let thread = std::thread::spawn(move || {
            let reps = (64 * 1024 / frame.len()).max(1);
            let burst = frame.repeat(reps);
            while !s.load(Ordering::Relaxed) {
                let Ok((mut stream, _)) = wire::connect_blocking(&target, Duration::from_secs(5))
                else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                c.fetch_add(1, Ordering::Relaxed);
                let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
                let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
                // The server's close (its end of stream) sends the writer to reconnect.
                let cut = Arc::new(AtomicBool::new(false));
                let drain = stream.try_clone().ok().map(|mut reader| {
                    let s = s.clone();
                    let cut = cut.clone();
                    std::thread::spawn(move || {
                        let mut sink = vec![0u8; 64 * 1024];
                        while !s.load(Ordering::Relaxed) {
                            match reader.read(&mut sink) {
                                Ok(0) => {
                                    cut.store(true, Ordering::Relaxed);
                                    return;
                                }
                                Ok(_) => {}
                                Err(e)
                                    if matches!(
                                        e.kind(),
                                        std::io::ErrorKind::WouldBlock
                                            | std::io::ErrorKind::TimedOut
                                    ) => {}
                                Err(_) => {
                                    cut.store(true, Ordering::Relaxed);
                                    return;
                                }
                            }
                        }
                    })
                });
                if stream.write_all(&join).is_ok() {
                    while !(s.load(Ordering::Relaxed) || reconnect && cut.load(Ordering::Relaxed)) {
                        match stream.write(&burst) {
                            Ok(n) => {
                                f.fetch_add((n / frame.len()) as u64, Ordering::Relaxed);
                                if n < burst.len() && stream.write_all(&burst[n..]).is_err() {
                                    break;
                                }
                            }
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                                ) => {}
                            Err(_) => break,
                        }
                    }
                }
                let _ = stream.shutdown(Shutdown::Both);
                if let Some(drain) = drain {
                    let _ = drain.join();
                }
                if !reconnect {
                    break;
                }
            }
        });
        Self {
            stop,
            frames,
            connections,
            thread: Some(thread),
        }
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop();
    }
}
