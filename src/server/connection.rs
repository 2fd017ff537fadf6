//! One client connection: its transport, its outgoing queue, and where it is in its
//! life — reading HTTP requests, speaking WebSocket, or closing.

use std::borrow::Cow;
use std::io;
use std::net::IpAddr;
use std::time::Instant;

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig, WebSocketContext};
use tungstenite::{Error as WsError, Message};

use super::frame_encoding::Encoded;
use super::outbound::OutQueue;
use super::transport::{Transport, WsIo};
use crate::http::{self, Method, Parsed, response};
use crate::limits::Limits;

/// Which listener accepted the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortKind {
    /// The web port: the page, and WebSocket at `/ws`.
    Web,
    /// The WebSocket port of 0.9 clients: WebSocket at any path.
    WebSocket,
    /// Plain HTTP where HTTPS is wanted (`--redirect-http`, or http:// typed for an
    /// https port): every request is redirected to the HTTPS page.
    Redirect,
}

/// What requests are answered with, beyond the connection itself.
pub struct Site {
    /// The chat page's URL as the banner shows it.
    pub page_url: String,
    /// The HTTPS port, when TLS is on: where redirects point.
    pub https_port: Option<u16>,
}

pub enum Phase {
    Http {
        buf: Vec<u8>,
    },
    WebSocket(Box<WebSocketContext>),
    /// Sending its last bytes; then the write side is shut and input drained until the
    /// peer closes or the deadline passes.
    Closing {
        shut: bool,
    },
}

pub struct Connection {
    pub transport: Transport,
    pub peer: IpAddr,
    /// Counted against the per-address limit (not when it comes from this machine).
    pub counted: bool,
    pub kind: PortKind,
    pub phase: Phase,
    pub out: OutQueue,
    /// When the current phase must be over: the request head, the TLS handshake, the
    /// close. `None` while speaking WebSocket (idle time is watched instead).
    pub deadline: Option<Instant>,
    pub last_input: Instant,
    pub ping_sent: bool,
    /// Has bytes (or TLS records) to send: to flush at the end of this loop turn.
    pub dirty: bool,
    /// In the event loop's list of connections to flush, so it is listed once.
    pub listed: bool,
    /// The TLS handshake was under way at the last look: its deadline applies.
    handshaking: bool,
    /// Bytes read and dropped while closing.
    drained: usize,
}

/// Bytes a closing connection may still send us before it is simply dropped.
const CLOSING_DRAIN: usize = 256 * 1024;

/// What reading a connection led to.
pub enum ReadOutcome {
    /// Nothing more for now.
    Idle,
    /// The connection became a WebSocket: the chat must know.
    Upgraded,
    /// Text frames for the chat; `more` when the read budget ran out first.
    Frames {
        texts: Vec<String>,
        more: bool,
        end: Option<End>,
    },
    /// The connection is over: closed by the peer (`None`), or lost for a reason.
    Gone(Option<&'static str>),
}

/// Where draining a closing connection got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// The peer closed too (or sent too much): forget the connection.
    Over,
    /// Nothing more to read for now.
    Waiting,
    /// The turn's budget ran out with input left.
    More,
}

/// How a WebSocket ended while being read.
pub enum End {
    /// The peer closed (its close frame is answered).
    PeerClosed,
    /// We close it, with this code and reason.
    Violation(u16, &'static str),
}

/// tungstenite's settings for our connections. The read buffer is small because every
/// connection keeps one (10,000 users × 1 KiB); larger messages grow it as needed.
pub fn websocket_config(limits: &Limits) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_write_buffer_size(limits.max_message_bytes * 2)
        .max_message_size(Some(limits.max_message_bytes))
        .max_frame_size(Some(limits.max_message_bytes))
}

impl Connection {
    pub fn new(
        transport: Transport,
        peer: IpAddr,
        counted: bool,
        kind: PortKind,
        now: Instant,
        limits: &Limits,
    ) -> Self {
        let handshaking = transport.handshaking();
        let deadline = if handshaking {
            limits.handshake_timeout
        } else {
            limits.head_timeout
        };
        Self {
            handshaking,
            transport,
            peer,
            counted,
            kind,
            phase: Phase::Http { buf: Vec::new() },
            out: OutQueue::default(),
            deadline: Some(now + deadline),
            last_input: now,
            ping_sent: false,
            dirty: false,
            listed: false,
            drained: 0,
        }
    }

    pub fn is_websocket(&self) -> bool {
        matches!(self.phase, Phase::WebSocket(_))
    }

    /// Reads HTTP request heads and answers them.
    pub fn read_http(&mut self, limits: &Limits, site: &Site, now: Instant) -> ReadOutcome {
        if self.handshaking && self.transport.detect_plain_http() {
            self.kind = PortKind::Redirect;
            self.handshaking = false;
        }
        let Phase::Http { buf } = &mut self.phase else {
            return ReadOutcome::Idle;
        };
        let mut chunk = [0u8; 4096];
        loop {
            let room = (limits.max_head_bytes + 1)
                .saturating_sub(buf.len())
                .min(chunk.len());
            if room == 0 {
                break;
            }
            match self.transport.read(&mut chunk[..room]) {
                Ok(0) => return ReadOutcome::Gone(None),
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    self.last_input = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    self.dirty = true; // the TLS alert
                    return ReadOutcome::Gone(Some("TLS handshake failed"));
                }
                Err(_) => return ReadOutcome::Gone(Some("read error")),
            }
        }
        self.dirty |= self.transport.wants_write();
        if self.handshaking && !self.transport.handshaking() {
            self.handshaking = false;
            self.deadline = Some(now + limits.head_timeout);
        }
        self.answer_requests(limits, site, now)
    }

    fn answer_requests(&mut self, limits: &Limits, site: &Site, now: Instant) -> ReadOutcome {
        loop {
            let Phase::Http { buf } = &mut self.phase else {
                return ReadOutcome::Idle;
            };
            let (request, head_len) = match http::parse_head(buf, limits) {
                Parsed::Partial => return ReadOutcome::Idle,
                Parsed::Error(error) => {
                    self.finish_with(response::for_error(error), limits, now);
                    return ReadOutcome::Idle;
                }
                Parsed::Complete { request, head_len } => (request, head_len),
            };
            let rest = buf.split_off(head_len);
            *buf = rest;
            let head_only = request.method == Method::Head;
            if self.kind == PortKind::Redirect {
                let port = site.https_port.unwrap_or(443);
                let target = response::https_url(
                    request.host.as_deref(),
                    &site.page_url,
                    port,
                    &request.path,
                );
                self.finish_with(response::redirect(&target), limits, now);
                return ReadOutcome::Idle;
            }
            if request.method == Method::Other {
                self.finish_with(response::method_not_allowed(), limits, now);
                return ReadOutcome::Idle;
            }
            let wants_ws = self.kind == PortKind::WebSocket || request.path == "/ws";
            match (&request.upgrade, wants_ws) {
                (Some(upgrade), true) if request.method == Method::Get => {
                    if upgrade.key.is_empty() || !upgrade.version_13 {
                        self.finish_with(response::bad_websocket_request(), limits, now);
                        return ReadOutcome::Idle;
                    }
                    let accept = tungstenite::handshake::derive_accept_key(upgrade.key.as_bytes());
                    self.out.push_owned(response::switching_protocols(&accept));
                    let Phase::Http { buf } =
                        std::mem::replace(&mut self.phase, Phase::Closing { shut: false })
                    else {
                        unreachable!("matched above")
                    };
                    let ctx = WebSocketContext::from_partially_read(
                        buf,
                        Role::Server,
                        Some(websocket_config(limits)),
                    );
                    self.phase = Phase::WebSocket(Box::new(ctx));
                    self.deadline = None;
                    self.last_input = now;
                    self.dirty = true;
                    return ReadOutcome::Upgraded;
                }
                _ if self.kind == PortKind::WebSocket => {
                    self.finish_with(response::websocket_only(Some(&site.page_url)), limits, now);
                    return ReadOutcome::Idle;
                }
                _ => {}
            }
            let bytes = match http::assets::find(&request.path) {
                Some(asset) => response::asset(
                    asset,
                    request.accepts_gzip,
                    request.keep_alive,
                    head_only,
                    request.host.as_deref(),
                ),
                None => response::not_found(request.keep_alive, head_only),
            };
            if request.keep_alive {
                self.out.push_owned(bytes);
                self.dirty = true;
                self.deadline = Some(now + limits.head_timeout);
            } else {
                self.finish_with(bytes, limits, now);
                return ReadOutcome::Idle;
            }
        }
    }

    /// Sends a last response, then closes.
    fn finish_with(&mut self, bytes: Vec<u8>, limits: &Limits, now: Instant) {
        self.out.push_owned(bytes);
        self.start_closing(limits, now);
    }

    pub fn start_closing(&mut self, limits: &Limits, now: Instant) {
        self.phase = Phase::Closing { shut: false };
        self.deadline = Some(now + limits.close_timeout);
        self.dirty = true;
    }

    /// Reads up to `budget` WebSocket messages.
    pub fn read_websocket(&mut self, budget: usize, now: Instant) -> ReadOutcome {
        let Phase::WebSocket(ctx) = &mut self.phase else {
            return ReadOutcome::Idle;
        };
        let mut io = WsIo {
            transport: &mut self.transport,
            out: &mut self.out,
            got_input: false,
        };
        let mut texts = Vec::new();
        let mut end = None;
        let mut more = true;
        for _ in 0..budget {
            match ctx.read(&mut io) {
                Ok(Message::Text(text)) => texts.push(text.as_str().to_owned()),
                Ok(Message::Binary(_)) => {
                    end = Some(End::Violation(1003, "binary frames are not accepted"));
                    break;
                }
                Ok(Message::Close(_)) => {
                    let _ = ctx.flush(&mut io);
                    end = Some(End::PeerClosed);
                    break;
                }
                Ok(_) => {}
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    more = false;
                    break;
                }
                Err(WsError::Capacity(_)) => {
                    end = Some(End::Violation(1009, "message too big"));
                    break;
                }
                Err(WsError::Utf8(_)) => {
                    end = Some(End::Violation(1007, "invalid UTF-8"));
                    break;
                }
                Err(WsError::Protocol(_)) => {
                    end = Some(End::Violation(1002, "WebSocket protocol error"));
                    break;
                }
                Err(_) => {
                    let got_input = io.got_input;
                    if got_input {
                        self.last_input = now;
                    }
                    return ReadOutcome::Gone(Some("connection lost"));
                }
            }
        }
        if io.got_input {
            self.last_input = now;
            self.ping_sent = false;
        }
        self.dirty |= !self.out.is_empty() || self.transport.wants_write();
        if end.is_some() {
            more = false;
        }
        ReadOutcome::Frames { texts, more, end }
    }

    /// Ends a WebSocket whose reading stopped at `end`: the peer's close is already
    /// answered; a violation gets a close frame saying why. Returns the why.
    pub fn end_websocket(
        &mut self,
        end: End,
        limits: &Limits,
        now: Instant,
    ) -> Option<&'static str> {
        match end {
            End::PeerClosed => {
                self.start_closing(limits, now);
                None
            }
            End::Violation(code, reason) => {
                self.close_websocket(code, reason.into(), limits, now);
                Some(reason)
            }
        }
    }

    /// Queues a frame already encoded for many recipients.
    pub fn push_frame(&mut self, frame: &Encoded) {
        frame.queue_on(&mut self.out);
        self.dirty = true;
    }

    /// Queues a close frame and moves to closing.
    pub fn close_websocket(
        &mut self,
        code: u16,
        reason: Cow<'static, str>,
        limits: &Limits,
        now: Instant,
    ) {
        if let Phase::WebSocket(ctx) = &mut self.phase {
            let mut io = WsIo {
                transport: &mut self.transport,
                out: &mut self.out,
                got_input: false,
            };
            let frame = CloseFrame {
                code: CloseCode::from(code),
                reason: reason.as_ref().into(),
            };
            let _ = ctx.close(&mut io, Some(frame));
        }
        self.start_closing(limits, now);
    }

    pub fn ping(&mut self) {
        if let Phase::WebSocket(ctx) = &mut self.phase {
            let mut io = WsIo {
                transport: &mut self.transport,
                out: &mut self.out,
                got_input: false,
            };
            let _ = ctx.write(&mut io, Message::Ping(Default::default()));
            self.ping_sent = true;
            self.dirty = true;
        }
    }

    /// Sends what is queued. `Err` means the connection is dead.
    pub fn flush(&mut self) -> io::Result<()> {
        self.dirty = false;
        match self.transport.send(&mut self.out) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
        if let Phase::Closing { shut } = &mut self.phase
            && !*shut
            && self.out.is_empty()
        {
            self.transport.shutdown_write();
            *shut = true;
        }
        Ok(())
    }

    /// Reads and drops input while closing; `true` once the peer has closed too.
    /// A peer that keeps sending after we closed gets at most [`CLOSING_DRAIN`]
    /// bytes read (in turns like everyone else's), then its connection is dropped.
    pub fn drain_closing(&mut self) -> Drain {
        let mut sink = [0u8; 4096];
        for _ in 0..16 {
            match self.transport.read(&mut sink) {
                Ok(0) => return Drain::Over,
                Ok(n) => {
                    self.drained += n;
                    if self.drained > CLOSING_DRAIN {
                        return Drain::Over;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Drain::Waiting,
                Err(_) => return Drain::Over,
            }
        }
        Drain::More
    }
}
