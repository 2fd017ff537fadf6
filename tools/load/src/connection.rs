//! One client connection on a mio `Poll`, from the TCP connect through the TLS and
//! WebSocket handshakes (tungstenite's client, resumed whenever the socket would
//! block) to an open [`WebSocket`].

use std::io;
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::ClientConfig;
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Error, WebSocket};

use crate::stream::Stream;
use crate::target::Target;

pub type Socket = WebSocket<Stream<TcpStream>>;

pub enum Connection {
    /// The TCP connect has not completed yet.
    Connecting(Stream<TcpStream>, WebSocketConfig),
    Handshaking(MidHandshake<ClientHandshake<Stream<TcpStream>>>),
    Open(Socket),
    /// After a failure.
    Failed,
}

/// What tungstenite may buffer: a users list of 10,000 keys is about 8 MB; the read
/// buffer is small because a worker holds thousands of connections.
pub fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .max_message_size(Some(256 << 20))
        .max_frame_size(Some(256 << 20))
}

impl Connection {
    /// Starts a non-blocking connect; register [`Connection::tcp_mut`] with the poll.
    pub fn start(target: &Target, tls: Option<&Arc<ClientConfig>>) -> Result<Self, String> {
        let tcp = TcpStream::connect(target.addr).map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        Ok(Connection::Connecting(
            Stream::new(tcp, target, tls)?,
            websocket_config(),
        ))
    }

    pub fn tcp_mut(&mut self) -> Option<&mut TcpStream> {
        match self {
            Connection::Connecting(s, _) => Some(s.tcp_mut()),
            Connection::Handshaking(mid) => Some(mid.get_mut().get_mut().tcp_mut()),
            Connection::Open(ws) => Some(ws.get_mut().tcp_mut()),
            Connection::Failed => None,
        }
    }

    /// Moves the setup on as far as the socket allows: the WebSocket once it is open.
    pub fn advance(&mut self, target: &Target) -> Result<Option<&mut Socket>, String> {
        let next = match std::mem::replace(self, Connection::Failed) {
            Connection::Connecting(stream, config) => {
                match stream.tcp().take_error() {
                    Ok(Some(e)) | Err(e) => return Err(format!("connect: {e}")),
                    Ok(None) => {}
                }
                match stream.tcp().peer_addr() {
                    Ok(_) => {
                        let request = target
                            .url
                            .as_str()
                            .into_client_request()
                            .map_err(|e| format!("{}: {e}", target.url))?;
                        let mid = ClientHandshake::start(stream, request, Some(config))
                            .map_err(|e| format!("upgrade: {e}"))?;
                        shake(mid)?
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                        Connection::Connecting(stream, config)
                    }
                    Err(e) => return Err(format!("connect: {e}")),
                }
            }
            Connection::Handshaking(mid) => shake(mid)?,
            open @ Connection::Open(_) => open,
            Connection::Failed => return Err("connection failed before".into()),
        };
        *self = next;
        Ok(match self {
            Connection::Open(ws) => Some(ws),
            _ => None,
        })
    }
}

fn shake(mid: MidHandshake<ClientHandshake<Stream<TcpStream>>>) -> Result<Connection, String> {
    match mid.handshake() {
        Ok((ws, _response)) => Ok(Connection::Open(ws)),
        Err(HandshakeError::Interrupted(mid)) => Ok(Connection::Handshaking(mid)),
        Err(HandshakeError::Failure(Error::Http(response))) => Err(format!(
            "upgrade refused: HTTP {}",
            response.status().as_u16()
        )),
        Err(HandshakeError::Failure(Error::Io(e))) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Err("closed during the upgrade".into())
        }
        Err(HandshakeError::Failure(e)) => Err(format!("upgrade: {e}")),
    }
}
