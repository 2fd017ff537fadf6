//! A client's byte stream: TCP, or TLS over TCP. Blocking or not, as its socket is:
//! rustls passes `WouldBlock` through, and tungstenite resumes on it.

use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::target::Target;

pub struct Stream<S: Read + Write> {
    inner: Inner<S>,
    /// Bytes read, at the WebSocket level (after TLS), not yet taken.
    received: u64,
}

enum Inner<S: Read + Write> {
    Plain(S),
    Tls(Box<StreamOwned<ClientConnection, S>>),
}

impl<S: Read + Write> Stream<S> {
    /// TLS if the target is `wss://` or `https://` (then `tls` must be given).
    pub fn new(tcp: S, target: &Target, tls: Option<&Arc<ClientConfig>>) -> Result<Self, String> {
        let inner = if target.secure {
            let config = tls.ok_or("a TLS target needs --cert-sha256 or --insecure")?;
            let name = ServerName::try_from(target.server_name().to_string())
                .map_err(|e| format!("{}: {e}", target.host))?;
            let conn =
                ClientConnection::new(config.clone(), name).map_err(|e| format!("TLS: {e}"))?;
            Inner::Tls(Box::new(StreamOwned::new(conn, tcp)))
        } else {
            Inner::Plain(tcp)
        };
        Ok(Self { inner, received: 0 })
    }

    pub fn tcp(&self) -> &S {
        match &self.inner {
            Inner::Plain(s) => s,
            Inner::Tls(t) => &t.sock,
        }
    }

    pub fn tcp_mut(&mut self) -> &mut S {
        match &mut self.inner {
            Inner::Plain(s) => s,
            Inner::Tls(t) => &mut t.sock,
        }
    }

    /// The bytes read since the last call.
    pub fn take_received(&mut self) -> u64 {
        std::mem::take(&mut self.received)
    }
}

impl<S: Read + Write> Read for Stream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match &mut self.inner {
            Inner::Plain(s) => s.read(buf)?,
            Inner::Tls(t) => t.read(buf)?,
        };
        self.received += n as u64;
        Ok(n)
    }
}

impl<S: Read + Write> Write for Stream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Plain(s) => s.write(buf),
            Inner::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Plain(s) => s.flush(),
            Inner::Tls(t) => t.flush(),
        }
    }
}
