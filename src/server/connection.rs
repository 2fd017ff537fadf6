//! One client connection: its transport, its outgoing queue, and where it is in its
//! life — the TLS handshake, reading HTTP requests, speaking WebSocket, or closing.
//! Each phase has its deadline, which the connection reports ([`Connection::next_deadline`])
//! and acts on ([`Connection::handle_timeout`]); its mio interest follows from what it
//! has queued.

use std::borrow::Cow;
use std::io;
use std::net::IpAddr;
use std::time::Instant;

use mio::{Interest, Registry, Token};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig, WebSocketContext};
use tungstenite::{Error as WsError, Message};

use super::frame_encoding::Encoded;
use super::outbound::OutQueue;
use super::transport::{Transport, WsIo};
use crate::chat::frames::FrameText;
use crate::http::{self, Parsed, PortKind, Reply, Site};
use crate::limits::Limits;

enum Phase {
    /// TLS only: the handshake is under way, bounded by `handshake_timeout`.
    Handshake,
    /// Reading request heads (each within `head_timeout`) and answering them, one at a
    /// time: while a response is still queued (`answering`), pipelined requests wait
    /// unparsed and the next head's time does not start, so a peer that never reads
    /// costs one response of memory and is cut `head_timeout` after its last read one.
    Http { buf: Vec<u8>, answering: bool },
    /// Watched for silence: pinged after `ping_after`, cut `pong_timeout` later.
    WebSocket(Box<WebSocketContext>),
    /// Sending its last bytes; then the write side is shut and input drained until the
    /// peer closes or `close_timeout` passes.
    Closing { shut: bool },
}

/// Which limit on open connections a connection counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// The per-address limit: a peer elsewhere.
    PerAddress,
    /// The SSH tunnel's pool (`tunnel_pool.rs`).
    TunnelPool,
    /// Neither: this machine itself, without a tunnel.
    Exempt,
}

pub struct Connection {
    transport: Transport,
    peer: IpAddr,
    counted: Counted,
    port: PortKind,
    phase: Phase,
    out: OutQueue,
    /// When the handshake, the request head or the close must be over. Unused while
    /// speaking WebSocket (silence is watched instead).
    deadline: Instant,
    last_input: Instant,
    ping_sent: bool,
    /// A WebSocket whose sender is over its message budget: not read until then, and
    /// not watched for silence meanwhile.
    paused_until: Option<Instant>,
    /// Has bytes (or TLS records) to send: to flush at the end of this loop turn.
    dirty: bool,
    /// In the event loop's list of connections to flush, so it is listed once.
    listed: bool,
    /// What mio watches for, as last registered.
    registered: Option<Interest>,
    /// Bytes read and dropped while closing.
    drained: usize,
    /// Over (lost, timed out, closed by both sides): to be removed this turn.
    over: bool,
}

/// Bytes a closing connection may still send us before it is simply dropped.
const CLOSING_DRAIN: usize = 256 * 1024;
/// Reads of a closing connection per turn.
const CLOSING_READS: usize = 16;

/// What reading a connection led to.
pub enum ReadOutcome {
    /// Nothing more for now.
    Idle,
    /// The turn's budget ran out with input left: read again next turn.
    More,
    /// The connection became a WebSocket: the chat must know, with the request's `Host`
    /// (what a proof of a key is bound to).
    Upgraded { host: Option<String> },
    /// Text frames for the chat; `more` when the read budget ran out first.
    Frames {
        texts: Vec<String>,
        more: bool,
        end: Option<End>,
    },
    /// The connection is over: closed by the peer (`None`), or lost for a reason.
    Gone(Option<&'static str>),
}

/// How a WebSocket ended while being read.
pub enum End {
    /// The peer closed (its close frame is answered).
    PeerClosed,
    /// We close it, with this code and reason.
    Violation(u16, &'static str),
}

/// What a passed deadline did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// Not due yet, or a ping went out.
    Nothing,
    /// A pause is over: the connection is to be read again.
    Resume,
    /// The connection is over; the reason, if it is news.
    Cut(Option<&'static str>),
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
        counted: Counted,
        port: PortKind,
        now: Instant,
        limits: &Limits,
    ) -> Self {
        let (phase, timeout) = if transport.handshaking() {
            (Phase::Handshake, limits.handshake_timeout)
        } else {
            (
                Phase::Http {
                    buf: Vec::new(),
                    answering: false,
                },
                limits.head_timeout,
            )
        };
        Self {
            transport,
            peer,
            counted,
            port,
            phase,
            out: OutQueue::default(),
            deadline: now + timeout,
            last_input: now,
            ping_sent: false,
            paused_until: None,
            dirty: false,
            listed: false,
            registered: None,
            drained: 0,
            over: false,
        }
    }

    /// The address counted against the per-address limit, if it is.
    pub fn counted_peer(&self) -> Option<IpAddr> {
        (self.counted == Counted::PerAddress).then_some(self.peer)
    }

    pub fn in_tunnel_pool(&self) -> bool {
        self.counted == Counted::TunnelPool
    }

    pub fn is_websocket(&self) -> bool {
        matches!(self.phase, Phase::WebSocket(_))
    }

    /// Marks the connection over; `true` the first time.
    pub fn end(&mut self) -> bool {
        !std::mem::replace(&mut self.over, true)
    }

    pub fn is_over(&self) -> bool {
        self.over
    }

    // ---- mio registration --------------------------------------------------------

    /// What mio should watch: input always (a closing connection drains it), and room
    /// to write only while something waits to be sent.
    pub fn interest(&self) -> Interest {
        if self.out.is_empty() && !self.transport.wants_write() {
            Interest::READABLE
        } else {
            Interest::READABLE | Interest::WRITABLE
        }
    }

    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let interest = self.interest();
        registry.register(self.transport.socket(), token, interest)?;
        self.registered = Some(interest);
        Ok(())
    }

    /// Tells mio the interest again, only if it changed since the last time.
    pub fn update_interest(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let interest = self.interest();
        if self.registered != Some(interest) {
            registry.reregister(self.transport.socket(), token, interest)?;
            self.registered = Some(interest);
        }
        Ok(())
    }

    pub fn deregister(&mut self, registry: &Registry) {
        if self.registered.take().is_some() {
            let _ = registry.deregister(self.transport.socket());
        }
    }

    // ---- the flush list ----------------------------------------------------------

    /// Notes that the socket can take more bytes.
    pub fn note_writable(&mut self) {
        self.dirty = true;
    }

    /// Whether it has something to flush and is not in the flush list yet; if so, it
    /// counts as listed from now on.
    pub fn enlist(&mut self) -> bool {
        if self.dirty && !self.listed {
            self.listed = true;
            return true;
        }
        false
    }

    // ---- deadlines ---------------------------------------------------------------

    /// When [`Connection::handle_timeout`] next has something to do.
    pub fn next_deadline(&self, limits: &Limits) -> Instant {
        match self.phase {
            Phase::WebSocket(_) if let Some(until) = self.paused_until => until,
            Phase::WebSocket(_) if self.ping_sent => {
                self.last_input + limits.ping_after + limits.pong_timeout
            }
            Phase::WebSocket(_) => self.last_input + limits.ping_after,
            Phase::Handshake | Phase::Http { .. } | Phase::Closing { .. } => self.deadline,
        }
    }

    /// Acts on a deadline that passed: a ping, or the end of the connection.
    pub fn handle_timeout(&mut self, limits: &Limits, now: Instant) -> Timeout {
        if now < self.next_deadline(limits) {
            return Timeout::Nothing;
        }
        match &mut self.phase {
            Phase::Handshake | Phase::Http { .. } => {
                Timeout::Cut(Some("too slow to send a request"))
            }
            Phase::Closing { .. } => Timeout::Cut(None),
            Phase::WebSocket(_) if self.paused_until.is_some() => {
                // Silence is watched again from the end of the pause.
                self.paused_until = None;
                self.last_input = now;
                self.ping_sent = false;
                Timeout::Resume
            }
            Phase::WebSocket(_) if self.ping_sent => Timeout::Cut(Some("no answer to ping")),
            Phase::WebSocket(ctx) => {
                let mut io = WsIo {
                    transport: &mut self.transport,
                    out: &mut self.out,
                    got_input: false,
                };
                let _ = ctx.write(&mut io, Message::Ping(Default::default()));
                self.ping_sent = true;
                self.dirty = true;
                Timeout::Nothing
            }
        }
    }

    // ---- reading -----------------------------------------------------------------

    /// Stops reading this WebSocket until `until` (see [`crate::chat::Reading`]).
    pub fn pause(&mut self, until: Instant) {
        if self.is_websocket() {
            self.paused_until = Some(until);
        }
    }

    /// Ends a pause early (see [`crate::chat::Output::Resume`]); `true` if it was paused.
    pub fn resume(&mut self, now: Instant) -> bool {
        if self.paused_until.take().is_none() {
            return false;
        }
        // Silence is watched again from the end of the pause.
        self.last_input = now;
        self.ping_sent = false;
        true
    }

    /// Reads what the current phase reads: the handshake and request heads (answered
    /// here), up to `budget` WebSocket messages, or the input of a closing connection.
    pub fn read(
        &mut self,
        limits: &Limits,
        site: &Site,
        budget: usize,
        now: Instant,
    ) -> ReadOutcome {
        if self.over {
            return ReadOutcome::Idle;
        }
        match self.phase {
            Phase::Handshake => self.read_handshake(limits, site, now),
            Phase::Http { .. } => self.read_http(limits, site, now),
            Phase::WebSocket(_) if self.paused_until.is_some() => ReadOutcome::Idle,
            Phase::WebSocket(_) => self.read_websocket(budget, now),
            Phase::Closing { .. } => self.drain_closing(),
        }
    }

    /// The TLS handshake, pumped by reading. Someone speaking plain HTTP to the TLS
    /// port is answered in plain HTTP, with a redirect (same deadline).
    fn read_handshake(&mut self, limits: &Limits, site: &Site, now: Instant) -> ReadOutcome {
        if self.transport.detect_plain_http() {
            self.port = PortKind::Redirect;
            self.phase = Phase::Http {
                buf: Vec::new(),
                answering: false,
            };
            return self.read_http(limits, site, now);
        }
        let mut buf = Vec::new();
        if let Err(gone) = self.read_head_bytes(&mut buf, limits, now) {
            return gone;
        }
        if self.transport.handshaking() {
            return ReadOutcome::Idle;
        }
        self.phase = Phase::Http {
            buf,
            answering: false,
        };
        self.deadline = now + limits.head_timeout;
        self.answer_requests(limits, site, now)
    }

    fn read_http(&mut self, limits: &Limits, site: &Site, now: Instant) -> ReadOutcome {
        let Phase::Http { buf, answering } = &mut self.phase else {
            return ReadOutcome::Idle;
        };
        if *answering {
            if !self.out.is_empty() || self.transport.wants_write() {
                return ReadOutcome::Idle;
            }
            // The response is out: the next head's time starts now.
            *answering = false;
            self.deadline = now + limits.head_timeout;
        }
        let mut buf = std::mem::take(buf);
        let read = self.read_head_bytes(&mut buf, limits, now);
        self.phase = Phase::Http {
            buf,
            answering: false,
        };
        if let Err(gone) = read {
            return gone;
        }
        self.answer_requests(limits, site, now)
    }

    /// Reads into `buf` until the socket is dry or `buf` holds more than a head may.
    fn read_head_bytes(
        &mut self,
        buf: &mut Vec<u8>,
        limits: &Limits,
        now: Instant,
    ) -> Result<(), ReadOutcome> {
        let mut chunk = [0u8; 4096];
        loop {
            let room = (limits.max_head_bytes + 1)
                .saturating_sub(buf.len())
                .min(chunk.len());
            if room == 0 {
                break;
            }
            match self.transport.read(&mut chunk[..room]) {
                Ok(0) => return Err(ReadOutcome::Gone(None)),
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    self.last_input = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    self.dirty = true; // the TLS alert
                    return Err(ReadOutcome::Gone(Some("TLS handshake failed")));
                }
                Err(_) => return Err(ReadOutcome::Gone(Some("read error"))),
            }
        }
        self.dirty |= self.transport.wants_write();
        Ok(())
    }

    /// Answers the first complete request head in the buffer (see `http::route`); the
    /// next waits until this answer is sent.
    fn answer_requests(&mut self, limits: &Limits, site: &Site, now: Instant) -> ReadOutcome {
        let Phase::Http { buf, answering } = &mut self.phase else {
            return ReadOutcome::Idle;
        };
        let (reply, host) = match http::parse_head(buf, limits) {
            Parsed::Partial => return ReadOutcome::Idle,
            Parsed::Error(error) => (http::route(Err(error), self.port, site), None),
            Parsed::Complete { request, head_len } => {
                buf.drain(..head_len);
                (http::route(Ok(&request), self.port, site), request.host)
            }
        };
        self.dirty = true;
        match reply {
            Reply::KeepAlive(bytes) => {
                self.out.push_owned(bytes);
                *answering = true;
                ReadOutcome::Idle
            }
            Reply::Close(bytes) => {
                self.out.push_owned(bytes);
                self.start_closing(limits, now);
                ReadOutcome::Idle
            }
            Reply::Upgrade(bytes) => {
                self.out.push_owned(bytes);
                self.start_websocket(limits, now);
                ReadOutcome::Upgraded { host }
            }
        }
    }

    /// Hands the socket (and any bytes that came with the upgrade request) to
    /// tungstenite.
    fn start_websocket(&mut self, limits: &Limits, now: Instant) {
        let Phase::Http { buf, .. } =
            std::mem::replace(&mut self.phase, Phase::Closing { shut: false })
        else {
            return;
        };
        let ctx = WebSocketContext::from_partially_read(
            buf,
            Role::Server,
            Some(websocket_config(limits)),
        );
        self.phase = Phase::WebSocket(Box::new(ctx));
        self.last_input = now;
    }

    fn start_closing(&mut self, limits: &Limits, now: Instant) {
        self.phase = Phase::Closing { shut: false };
        self.deadline = now + limits.close_timeout;
        self.dirty = true;
    }

    /// Reads up to `budget` WebSocket messages.
    fn read_websocket(&mut self, budget: usize, now: Instant) -> ReadOutcome {
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
                Err(_) => return ReadOutcome::Gone(Some("connection lost")),
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

    /// Reads and drops input while closing. A peer that keeps sending after we closed
    /// gets at most [`CLOSING_DRAIN`] bytes read (in turns like everyone else's), then
    /// its connection is dropped.
    fn drain_closing(&mut self) -> ReadOutcome {
        let mut sink = [0u8; 4096];
        for _ in 0..CLOSING_READS {
            match self.transport.read(&mut sink) {
                Ok(0) => return ReadOutcome::Gone(None),
                Ok(n) => {
                    self.drained += n;
                    if self.drained > CLOSING_DRAIN {
                        return ReadOutcome::Gone(None);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadOutcome::Idle,
                Err(_) => return ReadOutcome::Gone(None),
            }
        }
        ReadOutcome::More
    }

    // ---- WebSocket: sending and closing --------------------------------------------

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
                self.close(code, reason.into(), limits, now);
                Some(reason)
            }
        }
    }

    /// Queues a frame already encoded for many recipients (on a WebSocket only).
    pub fn push_frame(&mut self, frame: &Encoded) {
        if self.is_websocket() {
            frame.queue_on(&mut self.out);
            self.dirty = true;
        }
    }

    /// A frame for this connection only.
    pub fn push_own_frame(&mut self, frame: FrameText) {
        if self.is_websocket() {
            Encoded::queue_once(frame, &mut self.out);
            self.dirty = true;
        }
    }

    /// Closes: a WebSocket gets a close frame after what is queued; a connection still
    /// in HTTP just closes; one already closing goes on closing.
    pub fn close(&mut self, code: u16, reason: Cow<'static, str>, limits: &Limits, now: Instant) {
        match &mut self.phase {
            Phase::Closing { .. } => return,
            Phase::WebSocket(ctx) => {
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
            Phase::Handshake | Phase::Http { .. } => {}
        }
        self.start_closing(limits, now);
    }

    // ---- writing -----------------------------------------------------------------

    /// Sends what is queued. `Err` means the connection is dead.
    pub fn flush(&mut self) -> io::Result<()> {
        self.dirty = false;
        self.listed = false;
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

    /// A reader with more than `max` bytes waiting behind the frame or response it is
    /// being sent: it is not keeping up.
    pub fn is_lagging(&self, max: usize) -> bool {
        !matches!(self.phase, Phase::Closing { .. }) && self.out.waiting_behind_current() > max
    }

    /// An HTTP connection whose answer has just gone out entirely: the requests it
    /// pipelined behind it are to be read now (nothing else would wake it: the bytes
    /// may already be in our buffer, or mio reported them while it waited).
    pub fn http_resumes(&self) -> bool {
        matches!(
            self.phase,
            Phase::Http {
                answering: true,
                ..
            }
        ) && self.out.is_empty()
            && !self.transport.wants_write()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write as _};
    use std::time::Duration;

    /// A connection over a real loopback socket, and the peer's end of it.
    fn pair(limits: &Limits, now: Instant) -> (Connection, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (ours, addr) = listener.accept().unwrap();
        ours.set_nonblocking(true).unwrap();
        let stream = mio::net::TcpStream::from_std(ours);
        let conn = Connection::new(
            Transport::Plain(stream),
            addr.ip(),
            Counted::Exempt,
            PortKind::Web,
            now,
            limits,
        );
        (conn, peer)
    }

    fn site() -> Site {
        Site {
            page_url: "http://127.0.0.1/".into(),
            https_port: None,
            web_port: 80,
            allowed_origins: Vec::new(),
        }
    }

    /// Reads until `conn` has taken what the peer wrote.
    fn read_until(
        conn: &mut Connection,
        limits: &Limits,
        now: Instant,
        done: impl Fn(&Connection, &ReadOutcome) -> bool,
    ) {
        let give_up = Instant::now() + Duration::from_secs(5);
        loop {
            let outcome = conn.read(limits, &site(), 16, now);
            if done(conn, &outcome) {
                return;
            }
            assert!(Instant::now() < give_up, "nothing read");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn writable_interest_only_while_bytes_wait() {
        let limits = Limits::default();
        let now = Instant::now();
        let (mut conn, mut peer) = pair(&limits, now);
        assert_eq!(conn.interest(), Interest::READABLE);
        peer.write_all(b"GET /nope HTTP/1.1\r\n\r\n").unwrap();
        read_until(&mut conn, &limits, now, |c, _| !c.out.is_empty());
        assert_eq!(conn.interest(), Interest::READABLE | Interest::WRITABLE);
        assert!(conn.enlist(), "listed for the flush");
        assert!(!conn.enlist(), "once");
        conn.flush().unwrap();
        assert_eq!(conn.interest(), Interest::READABLE);
        let mut got = [0u8; 64];
        let n = peer.read(&mut got).unwrap();
        assert!(got[..n].starts_with(b"HTTP/1.1 404"));
    }

    #[test]
    fn each_phase_has_its_deadline() {
        let limits = Limits::default();
        let t0 = Instant::now();
        let (mut conn, mut peer) = pair(&limits, t0);
        assert_eq!(conn.next_deadline(&limits), t0 + limits.head_timeout);
        assert_eq!(conn.handle_timeout(&limits, t0), Timeout::Nothing);

        peer.write_all(
            b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
        let t1 = t0 + Duration::from_secs(1);
        read_until(
            &mut conn,
            &limits,
            t1,
            |_, o| matches!(o, ReadOutcome::Upgraded { host: Some(h) } if h == "h"),
        );
        assert!(conn.is_websocket());
        let ping_at = t1 + limits.ping_after;
        assert_eq!(conn.next_deadline(&limits), ping_at);
        conn.flush().unwrap();

        assert_eq!(conn.handle_timeout(&limits, ping_at), Timeout::Nothing);
        assert_eq!(
            conn.interest(),
            Interest::READABLE | Interest::WRITABLE,
            "the ping waits to be sent"
        );
        let cut_at = ping_at + limits.pong_timeout;
        assert_eq!(conn.next_deadline(&limits), cut_at);
        assert_eq!(
            conn.handle_timeout(&limits, cut_at),
            Timeout::Cut(Some("no answer to ping"))
        );

        let t2 = t1 + Duration::from_secs(2);
        conn.close(1001, "bye".into(), &limits, t2);
        assert_eq!(conn.next_deadline(&limits), t2 + limits.close_timeout);
        conn.close(1000, "again".into(), &limits, t2 + Duration::from_secs(1));
        assert_eq!(
            conn.next_deadline(&limits),
            t2 + limits.close_timeout,
            "closing twice does not move the deadline"
        );
        assert_eq!(
            conn.handle_timeout(&limits, t2 + limits.close_timeout),
            Timeout::Cut(None)
        );
    }

    #[test]
    fn a_slow_request_head_is_cut() {
        let limits = Limits::default();
        let t0 = Instant::now();
        let (mut conn, _peer) = pair(&limits, t0);
        assert_eq!(
            conn.handle_timeout(&limits, t0 + limits.head_timeout),
            Timeout::Cut(Some("too slow to send a request"))
        );
        assert!(conn.end() && !conn.end(), "ended once");
        assert!(matches!(
            conn.read(&limits, &site(), 16, t0),
            ReadOutcome::Idle
        ));
    }
}
