//! The event loop. Each turn: wait for readiness (or the next timer), read what is
//! ready (a bounded number of messages per connection, so one busy sender cannot starve
//! the rest), feed the chat, move its outputs into connection queues, then flush every
//! touched connection once.

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

use super::connection::{Connection, Drain, Phase, PortKind, ReadOutcome, Site};
use super::connection_rate::ConnectionRate;
use super::console_out::ConsoleOut;
use super::frame_encoding::Encoded;
use super::stdin::{ConsoleEvent, ConsoleInput};
use super::transport::Transport;
use crate::allow_list::AllowListFile;
use crate::chat::{Chat, ConnId, Output, close_code};
use crate::console::{self, Command, ConsoleLine};
use crate::limits::Limits;
use crate::tunnel::Tunnel;

const WEB: Token = Token(0);
const WEBSOCKET: Token = Token(1);
const STDIN: Token = Token(2);
const SIGNALS: Token = Token(3);
const REDIRECT: Token = Token(4);
/// The SSH tunnel's stderr pipe.
const TUNNEL: Token = Token(8);
const FIRST_CONNECTION: usize = 16;

/// WebSocket messages read from one connection per loop turn before the others get
/// their turn.
const READ_BUDGET: usize = 16;
/// How often timers (deadlines, pings, the chat's own) are checked.
const TICK: Duration = Duration::from_millis(250);
/// How long `/quit` waits for connections to take their close frames.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What the server is made of, built and checked by `main` before anything runs.
pub struct ServerParts {
    pub web: TcpListener,
    pub websocket: Option<TcpListener>,
    /// `--redirect-http`: plain HTTP redirected to the HTTPS page.
    pub redirect: Option<TcpListener>,
    pub tls: Option<Arc<ServerConfig>>,
    pub site: Site,
    pub limits: Limits,
    pub allow_list: Option<AllowListFile>,
    pub chat: Chat,
    pub console: ConsoleOut,
    /// `--sshpfw-*`: the ssh child, started when the loop starts.
    pub tunnel: Option<Tunnel>,
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
    console: ConsoleOut,
    tunnel: Option<Tunnel>,
    console_input: Option<ConsoleInput>,
    signals: Signals,
    conns: Slab<Connection>,
    per_address: HashMap<IpAddr, usize>,
    connection_rate: ConnectionRate,
    /// Connections with queued bytes, to flush at the end of the turn.
    to_flush: Vec<ConnId>,
    /// Connections whose read budget ran out with input left.
    backlog: Vec<ConnId>,
    next_tick: Instant,
    /// accept() failed for lack of file descriptors: retried on the next tick.
    accept_paused: bool,
    quitting: bool,
}

impl Server {
    pub fn new(parts: ServerParts) -> io::Result<Self> {
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
        Ok(Self {
            poll,
            web,
            websocket,
            redirect,
            tls: parts.tls,
            site: parts.site,
            limits,
            allow_list: parts.allow_list,
            chat: parts.chat,
            console: parts.console,
            tunnel: parts.tunnel,
            console_input,
            signals,
            conns: Slab::new(),
            per_address: HashMap::new(),
            connection_rate,
            to_flush: Vec::new(),
            backlog: Vec::new(),
            next_tick: Instant::now() + TICK,
            accept_paused: false,
            quitting: false,
        })
    }

    pub fn has_console(&self) -> bool {
        self.console_input.is_some()
    }

    pub fn show(&mut self, line: &ConsoleLine) {
        self.console.show(line);
    }

    /// Runs until `/quit` or a signal; then closes every connection cleanly.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        self.with_tunnel(|t, registry, now| t.start(registry, TUNNEL, now));
        while !self.quitting {
            let now = Instant::now();
            let timeout = if self.backlog.is_empty() {
                self.next_tick.saturating_duration_since(now)
            } else {
                Duration::ZERO
            };
            if let Err(err) = self.poll.poll(&mut events, Some(timeout)) {
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    WEB => self.accept(PortKind::Web, now),
                    WEBSOCKET => self.accept(PortKind::WebSocket, now),
                    REDIRECT => self.accept(PortKind::Redirect, now),
                    STDIN => self.read_console(now),
                    SIGNALS => self.on_signals(),
                    TUNNEL => self.with_tunnel(Tunnel::readable),
                    Token(t) => {
                        let key = t - FIRST_CONNECTION;
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.read(key, now);
                        }
                        if event.is_writable() {
                            self.touch(key, true);
                        }
                    }
                }
            }
            for key in std::mem::take(&mut self.backlog) {
                self.read(key, now);
            }
            if now >= self.next_tick {
                self.tick(now);
                self.next_tick = now + TICK;
            }
            self.flush();
        }
        self.shutdown();
        Ok(())
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
            let (mut stream, peer) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if !self.accept_paused {
                        self.console.show(&ConsoleLine::warning(format!(
                            "cannot accept connections ({e}); retrying. Raise the open-file limit (ulimit -n) for more users"
                        )));
                    }
                    self.accept_paused = true;
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
            let entry = self.conns.vacant_entry();
            let key = entry.key();
            let token = Token(key + FIRST_CONNECTION);
            if self
                .poll
                .registry()
                .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                .is_err()
            {
                continue;
            }
            let transport = match (&self.tls, kind) {
                (Some(config), PortKind::Web | PortKind::WebSocket) => {
                    match Transport::tls(stream, config) {
                        Ok(t) => t,
                        Err(_) => continue,
                    }
                }
                _ => Transport::Plain(stream),
            };
            if !from_here {
                *self.per_address.entry(ip).or_default() += 1;
            }
            entry.insert(Connection::new(
                transport,
                ip,
                !from_here,
                kind,
                now,
                &self.limits,
            ));
        }
    }

    fn read(&mut self, key: ConnId, now: Instant) {
        loop {
            let Some(conn) = self.conns.get_mut(key) else {
                return;
            };
            let outcome = match conn.phase {
                Phase::Http { .. } => conn.read_http(&self.limits, &self.site, now),
                Phase::WebSocket(_) => conn.read_websocket(READ_BUDGET, now),
                Phase::Closing { .. } => match conn.drain_closing() {
                    Drain::Over => ReadOutcome::Gone(None),
                    Drain::Waiting => ReadOutcome::Idle,
                    Drain::More => {
                        self.backlog.push(key);
                        ReadOutcome::Idle
                    }
                },
            };
            self.touch(key, false);
            match outcome {
                ReadOutcome::Idle => return,
                ReadOutcome::Upgraded => {
                    self.chat.opened(key, now);
                    continue; // bytes may have come with the upgrade request
                }
                ReadOutcome::Frames { texts, more, end } => {
                    if !texts.is_empty() && !self.chat.has_joined(key) {
                        self.refresh_allow_list();
                    }
                    for text in &texts {
                        self.chat.received(key, text, now);
                    }
                    if let Some(end) = end {
                        let why = self
                            .conns
                            .get_mut(key)
                            .and_then(|conn| conn.end_websocket(end, &self.limits, now));
                        self.touch(key, false);
                        self.chat.closed(key, why);
                    } else if more {
                        self.backlog.push(key);
                    }
                    self.apply_outputs(now);
                    return;
                }
                ReadOutcome::Gone(why) => {
                    self.remove(key, why);
                    self.apply_outputs(now);
                    return;
                }
            }
        }
    }

    /// Moves the chat's outputs to connections and the console.
    fn apply_outputs(&mut self, now: Instant) {
        while let Some(output) = self.chat.poll_output() {
            match output {
                Output::Send { to, frame } => {
                    let encoded = Encoded::new(&frame);
                    for key in to {
                        let Some(conn) = self.conns.get_mut(key) else {
                            continue;
                        };
                        if !conn.is_websocket() {
                            continue;
                        }
                        conn.push_frame(&encoded);
                        self.touch(key, false);
                    }
                }
                Output::Close { conn, code, reason } => {
                    if let Some(c) = self.conns.get_mut(conn) {
                        c.close_websocket(code, reason, &self.limits, now);
                        self.touch(conn, false);
                    }
                }
                Output::Console(line) => self.console.show(&line),
                Output::Quit => self.quitting = true,
            }
        }
    }

    /// Notes that `key` has bytes to send (or that its socket can take more).
    fn touch(&mut self, key: ConnId, writable: bool) {
        if let Some(conn) = self.conns.get_mut(key)
            && (conn.dirty || writable)
        {
            conn.dirty = true;
            if !conn.listed {
                conn.listed = true;
                self.to_flush.push(key);
            }
        }
    }

    /// Sends what each touched connection has queued. A reader with more than
    /// `max_queued_bytes` still waiting behind the frame it is being sent, after the
    /// socket took what it could, is not keeping up: it is cut (the chat hears of it,
    /// which may queue more frames for others: flushed in turn).
    fn flush(&mut self) {
        loop {
            let keys = std::mem::take(&mut self.to_flush);
            if keys.is_empty() {
                return;
            }
            let mut dead = Vec::new();
            for key in keys {
                let Some(conn) = self.conns.get_mut(key) else {
                    continue;
                };
                conn.listed = false;
                if conn.flush().is_err() {
                    dead.push((key, "connection lost"));
                } else if conn.is_websocket()
                    && conn.out.waiting_behind_current() > self.limits.max_queued_bytes
                {
                    dead.push((key, "cut off: not reading its messages"));
                }
            }
            for (key, why) in dead {
                self.remove(key, Some(why));
            }
            self.apply_outputs(Instant::now());
        }
    }

    /// Forgets a connection; the chat hears of it.
    fn remove(&mut self, key: ConnId, why: Option<&str>) {
        let Some(mut conn) = self.conns.try_remove(key) else {
            return;
        };
        let _ = self.poll.registry().deregister(conn.transport.socket());
        if conn.counted
            && let Some(n) = self.per_address.get_mut(&conn.peer)
        {
            *n -= 1;
            if *n == 0 {
                self.per_address.remove(&conn.peer);
            }
        }
        self.chat.closed(key, why);
    }

    fn tick(&mut self, now: Instant) {
        if self.accept_paused {
            self.accept_paused = false;
            self.accept(PortKind::Web, now);
            self.accept(PortKind::WebSocket, now);
            self.accept(PortKind::Redirect, now);
        }
        let mut expired = Vec::new();
        let mut to_ping = Vec::new();
        for (key, conn) in self.conns.iter() {
            if let Some(deadline) = conn.deadline {
                if now >= deadline {
                    expired.push(key);
                }
            } else if conn.is_websocket() {
                let silent = now.saturating_duration_since(conn.last_input);
                if silent >= self.limits.ping_after + self.limits.pong_timeout {
                    expired.push(key);
                } else if silent >= self.limits.ping_after && !conn.ping_sent {
                    to_ping.push(key);
                }
            }
        }
        for key in to_ping {
            if let Some(conn) = self.conns.get_mut(key) {
                conn.ping();
                self.touch(key, false);
            }
        }
        for key in expired {
            let why = match self.conns.get(key).map(|c| &c.phase) {
                Some(Phase::WebSocket(_)) => Some("no answer to ping"),
                Some(Phase::Http { .. }) => Some("too slow to send a request"),
                _ => None,
            };
            self.remove(key, why);
        }
        self.with_tunnel(Tunnel::tick);
        self.connection_rate.forget_idle(now);
        self.chat.tick(now);
        self.apply_outputs(now);
    }

    /// Picks up edits of the allow list before a join is decided.
    fn refresh_allow_list(&mut self) {
        let Some(file) = &mut self.allow_list else {
            return;
        };
        if let Some((admission, lines)) = file.refresh() {
            for line in &lines {
                self.console.show(line);
            }
            self.chat.set_admission(admission);
        }
    }

    fn read_console(&mut self, now: Instant) {
        let Some(input) = &mut self.console_input else {
            return;
        };
        for event in input.read() {
            match event {
                ConsoleEvent::Line(line) => {
                    let command = console::command::parse(&line);
                    if command == Command::Tunnel && self.tunnel.is_some() {
                        self.with_tunnel(|t, _, now| t.status(now));
                        continue;
                    }
                    let help = command == Command::Help;
                    self.chat.command(command, now);
                    self.apply_outputs(now);
                    if help {
                        self.with_tunnel(|t, _, _| {
                            let urls = t.urls().join("  ");
                            vec![ConsoleLine::screen_only(format!(
                                "From the internet (SSH tunnel; /tunnel shows its state): {urls}"
                            ))]
                        });
                    }
                    if self.quitting {
                        return;
                    }
                }
                ConsoleEvent::TooLong => self.console.show(&ConsoleLine::error(format!(
                    "console line longer than {} bytes: ignored",
                    self.limits.max_console_line
                ))),
                ConsoleEvent::Closed => {
                    if let Some(input) = self.console_input.take() {
                        input.deregister(self.poll.registry());
                    }
                    self.console.show(&ConsoleLine::warning(
                        "the console's input ended: the chat keeps running; stop it with Ctrl-C or kill -TERM",
                    ));
                    return;
                }
            }
        }
    }

    fn on_signals(&mut self) {
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
            self.quitting = true;
        }
        if child_ended {
            self.with_tunnel(Tunnel::child_signal);
        }
    }

    /// Runs `f` on the SSH tunnel, if there is one, and shows what it says.
    fn with_tunnel(
        &mut self,
        f: impl FnOnce(&mut Tunnel, &mio::Registry, Instant) -> Vec<ConsoleLine>,
    ) {
        let Some(tunnel) = &mut self.tunnel else {
            return;
        };
        for line in f(tunnel, self.poll.registry(), Instant::now()) {
            self.console.show(&line);
        }
    }

    /// Sends every connection a close frame and gives them a moment to take it.
    fn shutdown(&mut self) {
        let now = Instant::now();
        let keys: Vec<ConnId> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            if let Some(conn) = self.conns.get_mut(key) {
                if conn.is_websocket() {
                    conn.close_websocket(
                        close_code::GOING_AWAY,
                        "server shutting down".into(),
                        &self.limits,
                        now,
                    );
                } else {
                    conn.start_closing(&self.limits, now);
                }
                self.touch(key, false);
            }
        }
        self.flush();
        let deadline = now + SHUTDOWN_GRACE;
        let mut events = Events::with_capacity(256);
        while !self.conns.is_empty() && Instant::now() < deadline {
            let _ = self.poll.poll(&mut events, Some(Duration::from_millis(50)));
            let keys: Vec<ConnId> = events
                .iter()
                .filter_map(|e| e.token().0.checked_sub(FIRST_CONNECTION))
                .collect();
            for key in keys {
                if let Some(conn) = self.conns.get_mut(key) {
                    let _ = conn.flush();
                    if conn.drain_closing() == Drain::Over {
                        self.conns.remove(key);
                    }
                }
            }
        }
        self.with_tunnel(|t, registry, _| t.stop(registry));
        self.console.show(&ConsoleLine::info("dyspatcher stopped"));
    }
}
