//! A blocking WebSocket client that speaks the protocol through a `ClientSession`.

use std::collections::VecDeque;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dyspatcher_client::{ClientEvent, ClientSession, User};
use dyspatcher_crypto::KeyPair;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

use super::WAIT;

/// The close frame the server sent (code 1005 when it had none), or 1006 for a
/// connection that ended without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    pub code: u16,
    pub reason: String,
}

pub struct Client {
    ws: WebSocket<TcpStream>,
    /// What a proof of the key is signed for: the URL's host[:port], as tungstenite
    /// sends it in `Host` (tests may change it to play a relayed proof).
    pub proof_host: String,
    pub session: ClientSession,
    /// Events read but not consumed yet.
    pending: VecDeque<ClientEvent>,
    /// Every text frame received, in order.
    frames: Vec<String>,
    /// Every event received, consumed or not, in order.
    history: Vec<ClientEvent>,
    closed: Option<CloseInfo>,
}

impl Client {
    /// Opens a WebSocket to `url` (`ws://127.0.0.1:PORT/path`). The session is a
    /// placeholder named "" with alice's key: use `connect_as` to join later.
    pub fn connect(url: &str) -> Client {
        Client::connect_as(url, "", super::keys("alice"))
    }

    /// Opens a WebSocket for a session of `name` with `keys`; sends nothing.
    pub fn connect_as(url: &str, name: &str, keys: impl Into<Arc<KeyPair>>) -> Client {
        let ws = Client::try_open(url).unwrap_or_else(|e| panic!("WebSocket to {url}: {e}"));
        let rest = url.strip_prefix("ws://").unwrap_or(url);
        Client {
            ws,
            proof_host: rest.split('/').next().unwrap_or(rest).to_owned(),
            session: ClientSession::new(name, keys),
            pending: VecDeque::new(),
            frames: Vec::new(),
            history: Vec::new(),
            closed: None,
        }
    }

    /// The TCP connection and the WebSocket handshake, or why they failed.
    pub fn try_open(url: &str) -> Result<WebSocket<TcpStream>, String> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or_else(|| format!("{url}: only ws:// URLs"))?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let stream = TcpStream::connect(authority).map_err(|e| format!("connect: {e}"))?;
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_write_timeout(Some(WAIT)).unwrap();
        stream.set_nodelay(true).unwrap();
        let (ws, _response) =
            tungstenite::client(url, stream).map_err(|e| format!("handshake: {e}"))?;
        Ok(ws)
    }

    /// Connects, sends the join, and waits for the config and the users list (what
    /// comes after them, such as the welcome, stays pending). Panics on a refusal.
    pub fn join(url: &str, name: &str, keys: impl Into<Arc<KeyPair>>) -> Client {
        let mut client = Client::connect_as(url, name, keys);
        client.send_join();
        client.expect(|e| matches!(e, ClientEvent::Config { .. }), WAIT);
        client.expect(|e| matches!(e, ClientEvent::UsersList(_)), WAIT);
        client
    }

    /// [`Client::join`] for a version-2 session: the config, then the group key and
    /// `chat-users` (read, the group key among the pending events).
    pub fn join_v2(url: &str, name: &str, keys: impl Into<Arc<KeyPair>>) -> Client {
        let mut client = Client::connect_as(url, name, keys);
        client.session.set_version(2);
        client.send_join();
        client.expect(|e| matches!(e, ClientEvent::Config { .. }), WAIT);
        client.expect(|e| matches!(e, ClientEvent::UsersList(_)), WAIT);
        client
    }

    /// The usual pair: `alice` and `bobby` (the vector keys) joined at `url`, alice having
    /// seen bobby arrive, so that each can write to the other.
    pub fn alice_and_bobby(url: &str) -> (Client, Client) {
        let mut alice = Client::join(url, "alice", super::keys("alice"));
        let bobby = Client::join(url, "bobby", super::keys("bob"));
        alice.expect_joined("bobby");
        (alice, bobby)
    }

    pub fn send_join(&mut self) {
        let frame = self.session.join_frame();
        self.send(&frame);
    }

    pub fn name(&self) -> &str {
        self.session.name()
    }

    /// Sends one text frame; panics if the connection is gone.
    pub fn send(&mut self, frame: &str) {
        if let Err(e) = self.try_send(Message::text(frame)) {
            panic!("{}: cannot send {frame:.200}: {e}", self.name());
        }
    }

    /// Sends any WebSocket message (binary, ping, ...), reporting failure.
    pub fn try_send(&mut self, message: Message) -> Result<(), tungstenite::Error> {
        self.ws.send(message)
    }

    /// A routed 1:1 message with an `id`; returns the id. Version 2: fetches the
    /// recipient's key first if needed.
    pub fn say_to(&mut self, to: &str, text: &str) -> String {
        if self.session.version() == 2 && self.session.user(to).is_some_and(|u| u.key.is_none()) {
            self.fetch_key(to);
        }
        let out = self
            .session
            .message_to(to, text)
            .unwrap_or_else(|e| panic!("{}: message to {to}: {e}", self.name()));
        for frame in out.frames() {
            self.send(frame);
        }
        out.id
    }

    /// A message to everybody with an `id` (version 2: and its copy for 0.9 users, if any);
    /// returns the id.
    pub fn say_all(&mut self, text: &str) -> String {
        let out = self
            .session
            .message_to_all(text)
            .unwrap_or_else(|e| panic!("{}: message to all: {e}", self.name()));
        for frame in out.frames() {
            self.send(frame);
        }
        out.id
    }

    /// Version 2: asks for `name`'s key and waits for it; the other events that come
    /// meanwhile stay pending.
    pub fn fetch_key(&mut self, name: &str) {
        let Some(request) = self.session.key_request(name) else {
            return;
        };
        self.send(&request);
        let hash = self.session.user(name).map(|u| u.hash.clone());
        self.expect_keeping(
            |e| matches!(e, ClientEvent::KeyArrived { key_id, .. } if Some(key_id) == hash.as_ref()),
            WAIT,
        );
    }

    /// Version 2: `chat-find` for the connected users whose name starts with `prefix`,
    /// and the server's answer: the users (looked up from now on) and `more`. The other
    /// events that come meanwhile stay pending.
    pub fn find(&mut self, prefix: &str) -> (Vec<User>, bool) {
        let ask = self.session.find(prefix);
        self.send(&ask);
        match self.expect_keeping(|e| matches!(e, ClientEvent::Found { .. }), WAIT) {
            ClientEvent::Found { users, more, .. } => (users, more),
            _ => unreachable!("expect_keeping returns what matched"),
        }
    }

    /// Version 2: waits until the room's `count` is `count` (at once if it is); the
    /// other events that come meanwhile stay pending.
    pub fn expect_count(&mut self, count: usize, timeout: Duration) {
        if self.session.count() != Some(count) {
            self.expect_keeping(|e| *e == ClientEvent::Count { count }, timeout);
        }
    }

    /// The names of the session's users list (listed and looked up), in its order.
    pub fn user_names(&self) -> Vec<String> {
        self.session
            .users()
            .iter()
            .map(|u| u.name.clone())
            .collect()
    }

    /// Like [`Client::expect`], but the events skipped stay pending, in order.
    pub fn expect_keeping(
        &mut self,
        matches: impl Fn(&ClientEvent) -> bool,
        timeout: Duration,
    ) -> ClientEvent {
        let deadline = Instant::now() + timeout;
        let mut skipped = Vec::new();
        let found = loop {
            match self.recv_event(deadline.saturating_duration_since(Instant::now())) {
                Some(event) if matches(&event) => break event,
                Some(event) => skipped.push(event),
                None => self.fail(&format!(
                    "the expected event did not come within {timeout:?}"
                )),
            }
        };
        for event in skipped.into_iter().rev() {
            self.pending.push_front(event);
        }
        found
    }

    /// The next text frame as received, without interpreting it; `None` on timeout
    /// or when the connection is closed.
    pub fn recv_frame(&mut self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.closed.is_some() {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let _ = self
                .ws
                .get_mut()
                .set_read_timeout(Some(left.max(Duration::from_millis(1))));
            match self.ws.read() {
                Ok(Message::Text(text)) => {
                    self.frames.push(text.to_string());
                    return Some(text.to_string());
                }
                Ok(Message::Binary(bytes)) => {
                    self.history.push(ClientEvent::Ignored {
                        reason: format!("a binary frame of {} bytes", bytes.len()),
                    });
                }
                Ok(Message::Close(frame)) => {
                    self.closed = Some(close_info(frame));
                    // Sends the queued close reply.
                    let _ = self.ws.flush();
                }
                Ok(_) => {} // ping, pong: tungstenite answers pings itself
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    self.closed.get_or_insert(CloseInfo {
                        code: 1005,
                        reason: String::new(),
                    });
                }
                Err(_) => {
                    self.closed = Some(CloseInfo {
                        code: 1006,
                        reason: String::new(),
                    })
                }
            }
        }
    }

    /// The next event; `None` on timeout or when the connection is closed.
    pub fn recv_event(&mut self, timeout: Duration) -> Option<ClientEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            let frame = self.recv_frame(deadline.saturating_duration_since(Instant::now()))?;
            self.take_frame(&frame);
        }
    }

    /// Interprets a frame; a challenge is answered at once, as our page does, and so
    /// are the frames a version-2 session asks to send (key requests, resends).
    fn take_frame(&mut self, frame: &str) {
        let events = self.handle_frame(frame);
        self.pending.extend(events);
    }

    /// Interprets a frame as [`Client::recv_event`] does (answers included) and returns
    /// its events instead of keeping them pending: for a test that reads raw frames
    /// (file chunks) and events together.
    pub fn handle_frame(&mut self, frame: &str) -> Vec<ClientEvent> {
        let mut out = Vec::new();
        for event in self.session.handle(frame) {
            let answer = match &event {
                ClientEvent::Challenge { nonce } => {
                    Some(self.session.proof_frame(&self.proof_host, nonce))
                }
                ClientEvent::NeedKeys { frame } | ClientEvent::Resend { frame, .. } => {
                    Some(frame.clone())
                }
                _ => None,
            };
            if let Some(answer) = answer {
                // The server may have closed meanwhile; the close is read next.
                let _ = self.try_send(Message::text(answer));
            }
            self.history.push(event.clone());
            out.push(event);
        }
        out
    }

    /// The first event that matches, skipping others. Panics with what was received
    /// on timeout or close.
    pub fn expect(
        &mut self,
        matches: impl Fn(&ClientEvent) -> bool,
        timeout: Duration,
    ) -> ClientEvent {
        let deadline = Instant::now() + timeout;
        loop {
            match self.recv_event(deadline.saturating_duration_since(Instant::now())) {
                Some(event) if matches(&event) => return event,
                Some(_) => {}
                None => self.fail(&format!(
                    "the expected event did not come within {timeout:?}"
                )),
            }
        }
    }

    /// Waits for the announcement that `name` joined; skips other events.
    pub fn expect_joined(&mut self, name: &str) -> ClientEvent {
        self.expect(
            |e| matches!(e, ClientEvent::Joined(u) if u.name == name),
            WAIT,
        )
    }

    /// The next message (1:1 or to all), its sender, algorithm and text; skips other
    /// events. Panics if none comes.
    pub fn expect_message(&mut self, timeout: Duration) -> ClientEvent {
        self.expect(|e| matches!(e, ClientEvent::Message { .. }), timeout)
    }

    /// Waits for a verified message from `from` with exactly `text`.
    pub fn expect_text(&mut self, from: &str, text: &str, timeout: Duration) -> ClientEvent {
        self.expect(
            |e| {
                matches!(e, ClientEvent::Message { from: f, text: t, verified: true, .. }
                    if f == from && t == text)
            },
            timeout,
        )
    }

    /// Version 2: waits for a verified message from `from` with exactly `text`.
    pub fn expect_v2_text(&mut self, from: &str, text: &str, timeout: Duration) -> ClientEvent {
        self.expect(
            |e| {
                matches!(e, ClientEvent::V2Message { envelope, verified: true }
                    if envelope.from == from && envelope.text == text)
            },
            timeout,
        )
    }

    /// Panics if an event that matches arrives within `duration`; returns the events
    /// that came meanwhile.
    pub fn expect_none(
        &mut self,
        matches: impl Fn(&ClientEvent) -> bool,
        duration: Duration,
    ) -> Vec<ClientEvent> {
        let deadline = Instant::now() + duration;
        let mut seen = Vec::new();
        while let Some(event) = self.recv_event(deadline.saturating_duration_since(Instant::now()))
        {
            if matches(&event) {
                self.fail(&format!("unexpected event {event:?}"));
            }
            seen.push(event);
        }
        seen
    }

    /// Panics if any frame at all arrives within `duration`.
    pub fn expect_silence(&mut self, duration: Duration) {
        self.expect_none(|_| true, duration);
    }

    /// Whether the server closed the connection (as far as read so far).
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// Reads (keeping events pending) until the connection closes; the close frame, or
    /// `None` if it is still open after `timeout`.
    pub fn wait_closed(&mut self, timeout: Duration) -> Option<CloseInfo> {
        let deadline = Instant::now() + timeout;
        while self.closed.is_none() && Instant::now() < deadline {
            if let Some(frame) = self.recv_frame(deadline.saturating_duration_since(Instant::now()))
            {
                self.take_frame(&frame);
            }
        }
        self.closed.clone()
    }

    /// Closes from our side (a normal close frame), then drains until the server's
    /// answer or `WAIT`.
    pub fn close(mut self) {
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
        self.wait_closed(WAIT);
    }

    /// Every text frame received so far.
    pub fn frames(&self) -> &[String] {
        &self.frames
    }

    /// Every event received so far, consumed or not.
    pub fn history(&self) -> &[ClientEvent] {
        &self.history
    }

    /// The underlying socket (for hostile tests: raw bytes, half-closes).
    /// A slow link: a 4 KiB receive window, so that whatever the test does not read
    /// backs up in the server's queue for this client.
    pub fn slow_link(&mut self) {
        use std::os::fd::AsRawFd as _;
        let fd = self.socket().get_ref().as_raw_fd();
        let small: libc::c_int = 4096;
        // SAFETY: setsockopt on a socket we own, with a value of the size given.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&raw const small).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }

    /// Forgets the frames and events recorded so far: a test moving megabytes keeps
    /// only what it needs.
    pub fn forget_recorded(&mut self) {
        self.frames.clear();
        self.history.clear();
    }

    pub fn socket(&mut self) -> &mut WebSocket<TcpStream> {
        &mut self.ws
    }

    pub fn fail(&self, what: &str) -> ! {
        let mut received = String::new();
        for e in &self.history {
            received.push_str(&format!("\n  {e:?}"));
        }
        panic!(
            "{} ({:?}): {what}; closed: {:?}; events received:{received}",
            self.name(),
            self.session,
            self.closed
        );
    }
}

fn close_info(frame: Option<CloseFrame>) -> CloseInfo {
    match frame {
        Some(f) => CloseInfo {
            code: f.code.into(),
            reason: f.reason.to_string(),
        },
        None => CloseInfo {
            code: 1005,
            reason: String::new(),
        },
    }
}
