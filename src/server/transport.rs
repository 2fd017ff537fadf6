//! A connection's byte stream: plain TCP, or TLS terminated by rustls in this thread
//! (non-blocking, handshake included). Above it, everything sees plaintext.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::{ServerConfig, ServerConnection};

use super::outbound::OutQueue;

pub enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

pub struct TlsStream {
    tls: ServerConnection,
    socket: TcpStream,
    /// No byte has arrived yet: the first one tells TLS from plain HTTP.
    fresh: bool,
    /// The peer spoke plain HTTP: bytes bypass rustls so that it can be redirected.
    plain_http: bool,
}

impl Transport {
    pub fn tls(socket: TcpStream, config: &Arc<ServerConfig>) -> io::Result<Self> {
        let tls = ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
        Ok(Transport::Tls(Box::new(TlsStream {
            tls,
            socket,
            fresh: true,
            plain_http: false,
        })))
    }

    pub fn socket(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &mut t.socket,
        }
    }

    /// For a TLS connection whose first bytes are plain HTTP (someone typed http://
    /// for an https port): from now on bytes bypass TLS, so the request can be
    /// answered with a redirect instead of an alert the browser shows as garbage.
    pub fn detect_plain_http(&mut self) -> bool {
        let Transport::Tls(t) = self else {
            return false;
        };
        if !t.fresh {
            return t.plain_http;
        }
        let mut first = [0u8; 1];
        if let Ok(1) = t.socket.peek(&mut first) {
            t.fresh = false;
            t.plain_http = first[0].is_ascii_uppercase();
        }
        t.plain_http
    }

    /// Reads plaintext. `Ok(0)` is the end of the stream.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => loop {
                match s.read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => return other,
                }
            },
            Transport::Tls(t) if t.plain_http => t.socket.read(buf),
            Transport::Tls(t) => t.read(buf),
        }
    }

    /// Sends what `out` holds, as far as the socket takes it. `WouldBlock` when
    /// bytes remain for the next writable event.
    pub fn send(&mut self, out: &mut OutQueue) -> io::Result<()> {
        match self {
            Transport::Plain(s) => out.write_to(s),
            Transport::Tls(t) if t.plain_http => out.write_to(&mut t.socket),
            Transport::Tls(t) => t.send(out),
        }
    }

    /// TLS has records of its own to send (handshake, alerts).
    pub fn wants_write(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => !t.plain_http && t.tls.wants_write(),
        }
    }

    /// No more bytes from us; the peer sees the end of the stream.
    pub fn shutdown_write(&mut self) {
        match self {
            Transport::Plain(s) => {
                let _ = s.shutdown(Shutdown::Write);
            }
            Transport::Tls(t) => {
                if !t.plain_http {
                    t.tls.send_close_notify();
                }
                while t.tls.wants_write() {
                    if t.tls.write_tls(&mut t.socket).is_err() {
                        break;
                    }
                }
                let _ = t.socket.shutdown(Shutdown::Write);
            }
        }
    }

    /// Whether the TLS handshake is still under way.
    pub fn handshaking(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => !t.plain_http && t.tls.is_handshaking(),
        }
    }
}

impl TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            match self.tls.read_tls(&mut self.socket) {
                Ok(0) => return Ok(0),
                Ok(_) => {
                    self.fresh = false;
                    if let Err(err) = self.tls.process_new_packets() {
                        // Tell the peer why (an alert), then give up on it.
                        let _ = self.tls.write_tls(&mut self.socket);
                        return Err(io::Error::new(io::ErrorKind::InvalidData, err));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn send(&mut self, out: &mut OutQueue) -> io::Result<()> {
        loop {
            while self.tls.wants_write() {
                match self.tls.write_tls(&mut self.socket) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if out.is_empty() {
                return Ok(());
            }
            match out.write_to(&mut PlaintextWriter(&mut self.tls)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if !self.tls.wants_write() {
                // Mid-handshake with rustls's plaintext buffer full: the rest waits.
                return Ok(());
            }
        }
    }
}

/// rustls's plaintext writer, reporting a full buffer as `WouldBlock`.
struct PlaintextWriter<'a>(&'a mut ServerConnection);

impl Write for PlaintextWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.0.writer().write(buf)? {
            0 if !buf.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self.0.writer().write_vectored(bufs)? {
            0 if bufs.iter().any(|b| !b.is_empty()) => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What tungstenite reads from and writes to: our transport for reading, our queue
/// for writing. Writes never block (the queue has its own limit), so tungstenite's
/// frames land whole in the queue, between the shared frames we add ourselves.
pub struct WsIo<'a> {
    pub transport: &'a mut Transport,
    pub out: &'a mut OutQueue,
    /// Set when any byte came in: the connection is alive.
    pub got_input: bool,
}

impl Read for WsIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.transport.read(buf)?;
        if n > 0 {
            self.got_input = true;
        }
        Ok(n)
    }
}

impl Write for WsIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.push_owned(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
