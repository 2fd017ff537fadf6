//! The event loop, in the quiche/quinn shape. Each turn:
//!
//! 1. poll until the earliest deadline (the chat's, the connections', the tunnel's, the
//!    accept retry's, the shutdown grace's), or without a timeout when there is none,
//!    or not at all when a connection has input left over from its read budget;
//! 2. read the clock, once: that `now` is the turn's time;
//! 3. handle the events: accept, read (feeding the chat), console, signals, tunnel;
//! 4. handle the timeouts that are due;
//! 5. settle: drain the chat's outputs into connection queues, flush every touched
//!    connection once, remove the connections that are over, and again while that
//!    gave the chat something to say.
//!
//! Shutdown is a state of the same loop: every connection is sent its close, and turns
//! go on until they are all gone or the grace period is over.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use std::sync::Arc;

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use rustls::ServerConfig;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;

use super::connection::{Connection, Counted, ReadOutcome, Timeout};
use super::connection_rate::ConnectionRate;
use super::console_out::ConsoleOut;
use super::frame_encoding::Encoded;
use super::private_key_pool::PrivateKeyPool;
use super::stdin::{ConsoleEvent, ConsoleInput};
use super::timers::Timers;
use super::transport::Transport;
use super::tunnel_pool::TunnelPool;
use crate::allow_list::AllowListFile;
use crate::chat::{Chat, ConnId, Output, Reading, close_code};
use crate::console::{ChatCommand, ConsoleLine, Dispatch, Dispatcher};
use crate::crypto::KeyPair;
use crate::http::{PortKind, Site};
use crate::limits::Limits;
use crate::tunnel::Tunnel;

const WEB: Token = Token(0);
const WEBSOCKET: Token = Token(1);
const STDIN: Token = Token(2);
const SIGNALS: Token = Token(3);
const REDIRECT: Token = Token(4);
/// The private-key workers' results are in.
const PRIVATE_KEY_DONE: Token = Token(5);
/// The SSH tunnel's stderr pipe.
const TUNNEL: Token = Token(8);
const FIRST_CONNECTION: usize = 16;

/// WebSocket messages read from one connection per loop turn before the others get
/// their turn. They are read one at a time, so that a connection the chat pauses has
/// nothing read ahead.
const READ_BUDGET: usize = 16;
/// After accept() failed for lack of file descriptors, when to try again: no event
/// would say when one is free.
const ACCEPT_RETRY: Duration = Duration::from_millis(250);
/// How long `/quit` waits for connections to take their close frames.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What the server is made of, built and checked by `main` before anything runs.
pub struct ServerParts {
    pub(crate) web: TcpListener,
    pub(crate) websocket: Option<TcpListener>,
    /// `--redirect-http`: plain HTTP redirected to the HTTPS page.
    pub(crate) redirect: Option<TcpListener>,
    pub(crate) tls: Option<Arc<ServerConfig>>,
    pub(crate) site: Site,
    pub(crate) limits: Limits,
    pub(crate) allow_list: Option<AllowListFile>,
    pub(crate) chat: Chat,
    /// The administrator's key, for the private-key workers (the chat has it too).
    pub(crate) admin_key: Arc<KeyPair>,
    /// `--crypto-threads`.
    pub(crate) crypto_threads: usize,
    pub(crate) console: ConsoleOut,
    /// Routes console lines (knows the tunnel's URLs and the links' QR codes).
    pub(crate) dispatcher: Dispatcher,
    /// `--sshpfw-*`: the ssh child, started when the loop starts.
    pub(crate) tunnel: Option<Tunnel>,
}

pub struct Server {
    poll: Poll,
    web: TcpListener,
    websocket: Option<TcpListener>,
    redirect: Option<TcpListener>,
    tls: Option<Arc<ServerConfig>>,
    site: Site,
    limits: Limits,
    allow_list: Option<AllowListFile>,
    chat: Chat,
    private_keys: PrivateKeyPool,
    console: ConsoleOut,
    tunnel: Option<Tunnel>,
    dispatcher: Dispatcher,
    console_input: Option<ConsoleInput>,
    signals: Signals,
    conns: Slab<Connection>,
    per_address: HashMap<IpAddr, usize>,
    connection_rate: ConnectionRate,
    /// With the SSH tunnel on: the connections that come from this machine.
    tunnel_pool: Option<TunnelPool>,
    /// The connections' deadlines.
    timers: Timers,
    /// Connections with queued bytes, to flush at the end of the turn.
    to_flush: Vec<ConnId>,
    /// Connections whose read budget ran out with input left.
    backlog: Vec<ConnId>,
    /// Connections over this turn, with why: removed at its end.
    dead: Vec<(ConnId, Option<&'static str>)>,
    /// accept() failed for lack of file descriptors: when to try again.
    accept_retry: Option<Instant>,
    /// `/quit` or a signal: the shutdown starts at the end of this turn.
    quit_asked: bool,
    /// Shutting down: the end of the grace period.
    quitting_until: Option<Instant>,
}

impl Server {
    /// Called once the process is what it will stay (after `--daemon` forked): the
    /// transcription's syncing thread starts here, since a fork keeps no threads.
    pub fn new(mut parts: ServerParts) -> io::Result<Self> {
        parts.console.start_syncing();
        let poll = Poll::new()?;
        let mut web = parts.web;
        poll.registry()
            .register(&mut web, WEB, Interest::READABLE)?;
        let mut websocket = parts.websocket;
        if let Some(ws) = &mut websocket {
            poll.registry()
                .register(ws, WEBSOCKET, Interest::READABLE)?;
        }
        let mut redirect = parts.redirect;
        if let Some(r) = &mut redirect {
            poll.registry().register(r, REDIRECT, Interest::READABLE)?;
        }
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP, SIGCHLD])?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        let limits = parts.limits;
        let connection_rate = ConnectionRate::new(&limits);
        let console_input = ConsoleInput::register(poll.registry(), STDIN, limits.max_console_line);
        let mut chat = parts.chat;
        if parts.allow_list.is_some() {
            chat.watch_admission();
        }
        let dispatcher = parts.dispatcher;
        let tunnel_pool = parts
            .tunnel
            .is_some()
            .then(|| TunnelPool::new(&limits, Instant::now()));
        let waker = Arc::new(mio::Waker::new(poll.registry(), PRIVATE_KEY_DONE)?);
        let private_keys = PrivateKeyPool::start(parts.admin_key, parts.crypto_threads, waker)?;
        Ok(Self {
            poll,
            web,
            websocket,
            redirect,
            tls: parts.tls,
            site: parts.site,
            limits,
            allow_list: parts.allow_list,
            chat,
            private_keys,
            console: parts.console,
            tunnel: parts.tunnel,
            dispatcher,
            console_input,
            signals,
            conns: Slab::new(),
            per_address: HashMap::new(),
            connection_rate,
            tunnel_pool,
            timers: Timers::default(),
            to_flush: Vec::new(),
            backlog: Vec::new(),
            dead: Vec::new(),
            accept_retry: None,
            quit_asked: false,
            quitting_until: None,
        })
    }

    pub fn has_console(&self) -> bool {
        self.console_input.is_some()
    }

    pub fn show(&mut self, line: &ConsoleLine) {
        self.console.show(line);
    }

    /// Runs until `/quit` or a signal, and then until every connection is closed
    /// cleanly (or the grace period is over).
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut now = Instant::now();
        self.with_tunnel(|t, registry| t.start(registry, TUNNEL, now));
        let prompt = self.console_input.as_ref().and_then(ConsoleInput::prompt);
        self.console.set_prompt(prompt);
        while !self.finished(now) {
            let timeout = if self.backlog.is_empty() {
                self.next_deadline()
                    .map(|at| at.saturating_duration_since(now))
            } else {
                Some(Duration::ZERO)
            };
            // Interrupted: no events, and the turn goes on (timeouts may be due).
            if let Err(err) = self.poll.poll(&mut events, timeout)
                && err.kind() != io::ErrorKind::Interrupted
            {
                return Err(err);
            }
            now = Instant::now();
            self.chat.set_wall_clock(wall_clock_millis());
            self.handle_events(&events, now);
            self.handle_timeouts(now);
            self.settle(now);
        }
        self.with_tunnel(|t, registry| t.stop(registry));
        self.console.set_prompt(None);
        self.console.show(&ConsoleLine::info("dyspatcher stopped"));
        Ok(())
    }

    fn finished(&self, now: Instant) -> bool {
        self.quitting_until
            .is_some_and(|until| self.conns.is_empty() || now >= until)
    }

    /// The earliest time something is due; `None`: nothing is, the loop waits for
    /// events only.
    fn next_deadline(&mut self) -> Option<Instant> {
        let chat = match self.quitting_until {
            None => self.chat.poll_timeout(),
            Some(_) => None,
        };
        let tunnel = self.tunnel.as_ref().and_then(Tunnel::poll_timeout);
        let accept_retry = self.accept_retry.filter(|_| self.quitting_until.is_none());
        [
            self.timers.next(),
            chat,
            tunnel,
            accept_retry,
            self.quitting_until,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn handle_events(&mut self, events: &Events, now: Instant) {
        let serving = self.quitting_until.is_none();
        for event in events.iter() {
            match event.token() {
                WEB if serving => self.accept(PortKind::Web, now),
                WEBSOCKET if serving => self.accept(PortKind::WebSocket, now),
                REDIRECT if serving => self.accept(PortKind::Redirect, now),
                STDIN if serving => self.read_console(now),
                SIGNALS => self.on_signals(now),
                PRIVATE_KEY_DONE => {
                    for (job, result) in self.private_keys.finished() {
                        self.chat.private_key_done(job, result, now);
                    }
                }
                TUNNEL => self.with_tunnel(|t, registry| t.readable(registry, now)),
                Token(t) if t >= FIRST_CONNECTION => {
                    let key = t - FIRST_CONNECTION;
                    if event.is_readable() || event.is_read_closed() || event.is_error() {
                        self.read(key, now);
                    }
                    if event.is_writable()
                        && let Some(conn) = self.conns.get_mut(key)
                    {
                        conn.note_writable();
                        self.enlist(key);
                    }
                }
                _ => {}
            }
        }
        for key in std::mem::take(&mut self.backlog) {
            self.read(key, now);
        }
    }

    fn handle_timeouts(&mut self, now: Instant) {
        if self.accept_retry.is_some_and(|at| now >= at) && self.quitting_until.is_none() {
            self.accept_retry = None;
            self.accept(PortKind::Web, now);
            self.accept(PortKind::WebSocket, now);
            self.accept(PortKind::Redirect, now);
        }
        for key in self.timers.expired(now) {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            match conn.handle_timeout(&self.limits, now) {
                Timeout::Nothing => {
                    self.enlist(key);
                    self.schedule(key);
                }
                Timeout::Resume => {
                    self.schedule(key);
                    self.backlog.push(key);
                }
                Timeout::Cut(why) => self.kill(key, why),
            }
        }
        if self.quitting_until.is_none() && self.chat.poll_timeout().is_some_and(|at| now >= at) {
            self.chat.handle_timeout(now);
        }
        if self
            .tunnel
            .as_ref()
            .and_then(Tunnel::poll_timeout)
            .is_some_and(|at| now >= at)
        {
            self.with_tunnel(|t, registry| t.handle_timeout(registry, now));
        }
    }

    /// Drains the chat's outputs, flushes, removes the connections that are over
    /// (which the chat hears of, and may answer with more outputs).
    fn settle(&mut self, now: Instant) {
        loop {
            self.apply_outputs(now);
            if self.quit_asked && self.quitting_until.is_none() {
                self.start_quitting(now);
            }
            self.flush();
            if !self.reap() {
                return;
            }
        }
    }

    fn accept(&mut self, kind: PortKind, now: Instant) {
        loop {
            let listener = match kind {
                PortKind::Web => &self.web,
                PortKind::WebSocket => match &self.websocket {
                    Some(l) => l,
                    None => return,
                },
                PortKind::Redirect => match &self.redirect {
                    Some(l) => l,
                    None => return,
                },
            };
            let (stream, peer) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if self.accept_retry.is_none() {
                        self.console.show(&ConsoleLine::warning(format!(
                            "cannot accept connections ({e}); retrying. Raise the open-file limit (ulimit -n) for more users"
                        )));
                    }
                    self.accept_retry = Some(now + ACCEPT_RETRY);
                    return;
                }
            };
            let ip = peer.ip();
            // This machine itself (the SSH tunnel, a local proxy) is exempt from the
            // per-address limit; other loopback addresses stand for remote peers.
            let from_here = ip == IpAddr::from([127, 0, 0, 1])
                || ip == IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
                || stream.local_addr().is_ok_and(|a| a.ip() == ip);
            if self.conns.len() >= self.limits.max_connections {
                continue; // dropped: the chat is full
            }
            if !self.connection_rate.allow(ip, from_here, now) {
                continue; // dropped: too many new connections from that address
            }
            let from_address = self.per_address.get(&ip).copied().unwrap_or(0);
            if !from_here && from_address >= self.limits.max_connections_per_address {
                continue; // dropped: too many from one address
            }
            let _ = stream.set_nodelay(true);
            let transport = match (&self.tls, kind) {
                (Some(config), PortKind::Web | PortKind::WebSocket) => {
                    match Transport::tls(stream, config) {
                        Ok(t) => t,
                        Err(_) => continue,
                    }
                }
                _ => Transport::Plain(stream),
            };
            // With the tunnel on, this machine stands for everybody who comes through it.
            let counted = match &mut self.tunnel_pool {
                _ if !from_here => Counted::PerAddress,
                Some(pool) => {
                    if !pool.admit(now) {
                        continue; // dropped: the tunnel's pool is full
                    }
                    Counted::TunnelPool
                }
                None => Counted::Exempt,
            };
            let mut conn = Connection::new(transport, ip, counted, kind, now, &self.limits);
            let entry = self.conns.vacant_entry();
            let key = entry.key();
            if conn
                .register(self.poll.registry(), Token(key + FIRST_CONNECTION))
                .is_err()
            {
                if let (Counted::TunnelPool, Some(pool)) = (counted, &mut self.tunnel_pool) {
                    pool.left();
                }
                continue;
            }
            entry.insert(conn);
            if !from_here {
                *self.per_address.entry(ip).or_default() += 1;
            }
            self.schedule(key);
        }
    }

    fn read(&mut self, key: ConnId, now: Instant) {
        let mut messages_left = READ_BUDGET;
        loop {
            let Some(conn) = self.conns.get_mut(key) else {
                return;
            };
            let budget = if conn.is_websocket() { 1 } else { READ_BUDGET };
            let outcome = conn.read(&self.limits, &self.site, budget, now);
            self.enlist(key);
            self.schedule(key);
            match outcome {
                ReadOutcome::Idle => return,
                ReadOutcome::More => {
                    self.backlog.push(key);
                    return;
                }
                ReadOutcome::Upgraded { host } => {
                    self.chat.opened(key, host.as_deref(), now);
                    continue; // bytes may have come with the upgrade request
                }
                ReadOutcome::Frames { texts, more, end } => {
                    let mut pause = None;
                    for text in &texts {
                        if let Reading::PauseUntil(at) = self.chat.received(key, text, now) {
                            pause = Some(at);
                        }
                    }
                    if let Some(end) = end {
                        let why = self
                            .conns
                            .get_mut(key)
                            .and_then(|conn| conn.end_websocket(end, &self.limits, now));
                        self.enlist(key);
                        self.schedule(key);
                        self.chat.closed(key, why);
                        return;
                    }
                    if let Some(at) = pause {
                        if let Some(conn) = self.conns.get_mut(key) {
                            conn.pause(at);
                        }
                        self.schedule(key);
                        return;
                    }
                    if !more {
                        return;
                    }
                    messages_left -= 1;
                    if messages_left == 0 {
                        self.backlog.push(key);
                        return;
                    }
                }
                ReadOutcome::Gone(why) => {
                    self.kill(key, why);
                    return;
                }
            }
        }
    }

    /// Moves the chat's outputs to connections and the console: the one place they
    /// are taken.
    fn apply_outputs(&mut self, now: Instant) {
        while let Some(output) = self.chat.poll_output() {
            match output {
                Output::Send { to, frame } if to.len() == 1 => {
                    if let Some(conn) = self.conns.get_mut(to[0]) {
                        conn.push_own_frame(frame);
                        self.enlist(to[0]);
                    }
                }
                Output::Send { to, frame } => {
                    let encoded = Encoded::new(&frame);
                    for key in to {
                        if let Some(conn) = self.conns.get_mut(key) {
                            conn.push_frame(&encoded);
                            self.enlist(key);
                        }
                    }
                }
                Output::Close { conn, code, reason } => {
                    if let Some(c) = self.conns.get_mut(conn) {
                        c.close(code, reason, &self.limits, now);
                        self.enlist(conn);
                        self.schedule(conn);
                    }
                }
                Output::Console(line) => self.console.show(&line),
                Output::RefreshAdmission => {
                    let changed = self.allow_list.as_mut().and_then(AllowListFile::refresh);
                    let admission = changed.map(|(admission, lines)| {
                        for line in &lines {
                            self.console.show(line);
                        }
                        admission
                    });
                    self.chat.admission_refreshed(admission);
                }
                Output::PrivateKey { job, op } => self.private_keys.submit(job, op),
                Output::Resume { conn } => {
                    if self.conns.get_mut(conn).is_some_and(|c| c.resume(now)) {
                        self.schedule(conn);
                        self.backlog.push(conn);
                    }
                }
                Output::Quit => self.quit_asked = true,
            }
        }
    }

    /// Puts `key` in the flush list if it has something to send.
    fn enlist(&mut self, key: ConnId) {
        if let Some(conn) = self.conns.get_mut(key)
            && conn.enlist()
        {
            self.to_flush.push(key);
        }
    }

    /// Keeps `key`'s deadline in the timers.
    fn schedule(&mut self, key: ConnId) {
        if let Some(conn) = self.conns.get(key)
            && !conn.is_over()
        {
            self.timers.schedule(key, conn.next_deadline(&self.limits));
        }
    }

    /// Marks a connection over; it is removed at the end of the turn.
    fn kill(&mut self, key: ConnId, why: Option<&'static str>) {
        if let Some(conn) = self.conns.get_mut(key)
            && conn.end()
        {
            self.dead.push((key, why));
        }
    }

    /// Sends what each listed connection has queued. A reader with more than
    /// `max_queued_bytes` still waiting behind the frame it is being sent, after the
    /// socket took what it could, is not keeping up: it is cut.
    fn flush(&mut self) {
        // The list's room is kept from turn to turn: a rotation lists every member.
        let mut listed = std::mem::take(&mut self.to_flush);
        for key in listed.drain(..) {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if conn.is_over() {
                continue;
            }
            let token = Token(key + FIRST_CONNECTION);
            if conn.flush().is_err() {
                self.kill(key, Some("connection lost"));
            } else if conn.is_lagging(self.limits.max_queued_bytes) {
                self.kill(key, Some("cut off: not reading its messages"));
            } else if conn.update_interest(self.poll.registry(), token).is_err() {
                self.kill(key, Some("connection lost"));
            } else if conn.http_resumes() {
                self.backlog.push(key);
            }
        }
        if self.to_flush.is_empty() {
            self.to_flush = listed;
        }
    }

    /// Removes the connections that are over: the one place they go. The chat hears
    /// of each (unless the server is stopping). `true` if any went.
    fn reap(&mut self) -> bool {
        let dead = std::mem::take(&mut self.dead);
        let any = !dead.is_empty();
        for (key, why) in dead {
            let Some(mut conn) = self.conns.try_remove(key) else {
                continue;
            };
            conn.deregister(self.poll.registry());
            self.timers.forget(key);
            if conn.in_tunnel_pool()
                && let Some(pool) = &mut self.tunnel_pool
            {
                pool.left();
            }
            if let Some(peer) = conn.counted_peer()
                && let Some(n) = self.per_address.get_mut(&peer)
            {
                *n -= 1;
                if *n == 0 {
                    self.per_address.remove(&peer);
                }
            }
            if self.quitting_until.is_none() {
                self.chat.closed(key, why);
            }
        }
        any
    }

    fn read_console(&mut self, now: Instant) {
        let Some(input) = &mut self.console_input else {
            return;
        };
        let chat = &self.chat;
        let events = input.read(&mut || chat.user_names());
        for event in events {
            match event {
                ConsoleEvent::Line(line) => match self.dispatcher.dispatch(&line) {
                    Dispatch::Chat(command) => {
                        let quit = command == ChatCommand::Quit;
                        self.chat.command(command, now);
                        if quit {
                            return; // what follows /quit is not carried out
                        }
                    }
                    Dispatch::TunnelStatus => self.with_tunnel(|t, _| t.status(now)),
                    Dispatch::Answer(lines) => {
                        for line in &lines {
                            self.console.show(line);
                        }
                    }
                },
                ConsoleEvent::TooLong => self.console.show(&ConsoleLine::error(format!(
                    "console line longer than {} bytes: ignored",
                    self.limits.max_console_line
                ))),
                ConsoleEvent::Echo(typed) => self.console.echo(&typed),
                ConsoleEvent::Stop => {
                    self.console.show(&ConsoleLine::info("Ctrl-C: stopping"));
                    self.chat.command(ChatCommand::Quit, now);
                    return;
                }
                ConsoleEvent::EndAsked => self.console.show(&ConsoleLine::screen_only(
                    "Ctrl-D does not stop the chat: type /quit (or Ctrl-C on an empty line)",
                )),
                ConsoleEvent::Candidates(c) => {
                    self.console.show(&ConsoleLine::screen_only(c.join("  ")))
                }
                ConsoleEvent::Closed => {
                    if let Some(input) = self.console_input.take() {
                        input.deregister(self.poll.registry());
                    }
                    self.console.set_prompt(None);
                    self.console.show(&ConsoleLine::warning(
                        "the console's input ended: the chat keeps running; stop it with Ctrl-C or kill -TERM",
                    ));
                    return;
                }
            }
        }
        let prompt = self.console_input.as_ref().and_then(ConsoleInput::prompt);
        self.console.set_prompt(prompt);
    }

    fn on_signals(&mut self, now: Instant) {
        let mut child_ended = false;
        for signal in self.signals.pending() {
            let name = match signal {
                SIGINT => "SIGINT",
                SIGTERM => "SIGTERM",
                SIGHUP => "SIGHUP",
                SIGCHLD => {
                    child_ended = true;
                    continue;
                }
                _ => continue,
            };
            self.console
                .show(&ConsoleLine::info(format!("{name} received: stopping")));
            self.quit_asked = true;
        }
        if child_ended {
            self.with_tunnel(|t, registry| t.child_signal(registry, now));
        }
    }

    /// Runs `f` on the SSH tunnel, if there is one, and shows what it says.
    fn with_tunnel(&mut self, f: impl FnOnce(&mut Tunnel, &mio::Registry) -> Vec<ConsoleLine>) {
        let Some(tunnel) = &mut self.tunnel else {
            return;
        };
        for line in f(tunnel, self.poll.registry()) {
            self.console.show(&line);
        }
    }

    /// The shutdown begins: every WebSocket is sent a close frame (1001), every other
    /// connection is closed; the loop goes on until they are gone or the grace period
    /// is over.
    fn start_quitting(&mut self, now: Instant) {
        self.quitting_until = Some(now + SHUTDOWN_GRACE);
        let keys: Vec<ConnId> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            if let Some(conn) = self.conns.get_mut(key) {
                conn.close(
                    close_code::GOING_AWAY,
                    "server shutting down".into(),
                    &self.limits,
                    now,
                );
                self.enlist(key);
                self.schedule(key);
            }
        }
    }
}

/// Milliseconds since 1970 UTC, for the envelopes the chat makes (0 if the clock is
/// before 1970).
fn wall_clock_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
