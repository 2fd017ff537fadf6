//! The flooder: one connection that writes frames as fast as the socket takes them,
//! and, when the server closes it, connects and joins again at once (what an abuser
//! would do); with `reconnect` off it keeps writing into the closed connection.
//! Its own thread and poll: it is not one of the measured clients.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use mio::{Events, Interest, Poll, Token};
use rustls::ClientConfig;
use tungstenite::{Error, Message};

use crate::connection::{Connection, Socket};
use crate::target::Target;

pub struct Flood {
    stop: Arc<AtomicBool>,
    pub frames: Arc<AtomicU64>,
    pub connections: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

struct Flooder {
    target: Target,
    tls: Option<Arc<ClientConfig>>,
    join: Message,
    frame: Message,
    reconnect: bool,
    stop: Arc<AtomicBool>,
    frames: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
}

impl Flood {
    pub fn start(
        target: Target,
        tls: Option<Arc<ClientConfig>>,
        join: Message,
        frame: Message,
        reconnect: bool,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let frames = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let flooder = Flooder {
            target,
            tls,
            join,
            frame,
            reconnect,
            stop: stop.clone(),
            frames: frames.clone(),
            connections: connections.clone(),
        };
        let thread = std::thread::spawn(move || flooder.run());
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

impl Flooder {
    fn run(self) {
        let Ok(mut poll) = Poll::new() else { return };
        let mut events = Events::with_capacity(4);
        while !self.stopped() {
            let Ok(mut connection) = Connection::start(&self.target, self.tls.as_ref()) else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            let tcp = connection.tcp_mut().expect("just connected");
            if poll
                .registry()
                .register(tcp, Token(0), Interest::READABLE | Interest::WRITABLE)
                .is_err()
            {
                return;
            }
            let made = self.flood(&mut poll, &mut events, &mut connection);
            if let Some(tcp) = connection.tcp_mut() {
                let _ = poll.registry().deregister(tcp);
            }
            if made && !self.reconnect {
                return;
            }
            if !made {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// One connection, until the server cuts it (or, without `reconnect`, until it
    /// fails to take more). Whether it opened.
    fn flood(&self, poll: &mut Poll, events: &mut Events, connection: &mut Connection) -> bool {
        let mut opened = false;
        let mut sink = vec![0u8; 64 * 1024];
        while !self.stopped() {
            if let Err(e) = poll.poll(events, Some(Duration::from_millis(100)))
                && e.kind() != io::ErrorKind::Interrupted
            {
                return opened;
            }
            let ws = match connection.advance(&self.target) {
                Ok(Some(ws)) => ws,
                Ok(None) => continue,
                Err(_) => return opened,
            };
            if !opened {
                opened = true;
                self.connections.fetch_add(1, Ordering::Relaxed);
                let _ = ws.write(self.join.clone());
            }
            // What the server sends is read past tungstenite and thrown away: the
            // server's close frame must not stop the writes, only its end of stream.
            let cut = drain(ws, &mut sink);
            if cut && self.reconnect {
                return opened;
            }
            if !self.write_all_it_takes(ws) {
                return opened;
            }
        }
        opened
    }

    /// Writes flood frames until the socket is full; false once it fails.
    fn write_all_it_takes(&self, ws: &mut Socket) -> bool {
        while !self.stopped() {
            match ws.write(self.frame.clone()) {
                Ok(()) => {
                    self.frames.fetch_add(1, Ordering::Relaxed);
                }
                // The frame is buffered; the rest waits for the next writable event.
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.frames.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Err(_) => return false,
            }
        }
        true
    }
}

/// Reads and discards what the socket holds; true at its end.
fn drain(ws: &mut Socket, sink: &mut [u8]) -> bool {
    loop {
        match ws.get_mut().read(sink) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}
