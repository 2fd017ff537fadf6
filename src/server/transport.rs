//! A connection's byte stream: plain TCP, or TLS terminated by rustls in this thread.
//! Above it, everything sees plaintext.

use std::io::{self, Read, Write};
use std::net::Shutdown;

use mio::net::TcpStream;

use super::outbound::OutQueue;

pub enum Transport {
    Plain(TcpStream),
}

impl Transport {
    pub fn socket(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(s) => s,
        }
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
        }
    }

    /// Sends what `out` holds, as far as the socket takes it.
    pub fn send(&mut self, out: &mut OutQueue) -> io::Result<()> {
        match self {
            Transport::Plain(s) => out.write_to(s),
        }
    }

    /// No more bytes from us; the peer sees the end of the stream.
    pub fn shutdown_write(&mut self) {
        match self {
            Transport::Plain(s) => {
                let _ = s.shutdown(Shutdown::Write);
            }
        }
    }

    /// Whether the handshake (TLS) is still under way.
    pub fn handshaking(&self) -> bool {
        false
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
