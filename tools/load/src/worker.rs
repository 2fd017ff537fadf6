//! A worker thread: one mio `Poll` driving many client connections (10,000 clients
//! need no more than a couple of these). It connects and joins the clients it is given,
//! writes pre-built frames at scheduled instants, and reads everything the server sends,
//! recording the latency of each message it recognises.

use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};
use rustls::ClientConfig;
use tungstenite::{Error, Message};

use crate::connection::{Connection, Socket};
use crate::server_frame::{self, Kind, SIG_KEY};
use crate::target::Target;

const WAKER: Token = Token(usize::MAX);

/// Recipient of a message meant for everybody.
pub const EVERYBODY: u32 = u32::MAX;

/// Recipient of a message to the administrator: no client is its recipient.
pub const ADMINISTRATOR: u32 = u32::MAX - 1;

/// What a worker needs to recognise a message when it arrives.
#[derive(Debug, Clone, Copy)]
pub struct MsgInfo {
    pub seq: u32,
    pub phase: u8,
    /// The intended recipient (a client id), [`EVERYBODY`] or [`ADMINISTRATOR`].
    pub to: u32,
    /// Its sender's messages of this phase are sent one after the other: each
    /// recipient must see them in sequence order.
    pub ordered: bool,
}

/// Every message of the run, by the start of its signature, and when each was sent.
pub struct Table {
    pub by_sig: HashMap<[u8; SIG_KEY], MsgInfo>,
    pub sent_ns: Vec<AtomicU64>,
}

/// Counters the coordinator watches while a phase runs (each written by one worker).
#[derive(Default)]
pub struct Counters {
    pub joined: AtomicU64,
    pub failed: AtomicU64,
    pub announcements: AtomicU64,
    pub delivered: AtomicU64,
    pub bytes_in: AtomicU64,
    pub cut_after_join: AtomicU64,
    /// Version 2: clients that received their challenge.
    pub challenged: AtomicU64,
    /// Version 2: joined clients that have seen the room's size reach every client.
    pub settled: AtomicU64,
    /// Version 2: `chat-groupkey` frames received.
    pub groupkeys: AtomicU64,
}

/// What version-2 clients watch for.
pub struct V2Watch {
    /// The room's size once every client (and the administrator) is in: a client that
    /// saw it (in its users list or a presence frame) has seen every join.
    pub room: u64,
    /// Clients whose id is a multiple of this keep their users count exactly and the
    /// frames that carry their keys ([`Sample`]).
    pub sample_every: usize,
}

/// A sampled version-2 client: enough to check its keys and its view of the room.
#[derive(Debug, Default, Clone)]
pub struct Sample {
    pub id: usize,
    /// The member key, wrapped with the client's public key (base64).
    pub memberkey: String,
    /// Every `chat-groupkey` frame it received, as received.
    pub groupkeys: Vec<String>,
    /// Users it was told of: its users list's entries plus the joins less the
    /// departures of the presence frames after it (the view, in a large room).
    pub view: i64,
    /// The room's size as last said.
    pub count: i64,
}

pub struct Shared {
    pub t0: Instant,
    pub aeskey: Mutex<Option<String>>,
    /// The first users list a client received (it names the administrator and its key).
    pub users_list: Mutex<Option<String>>,
    /// Set for a version-2 run.
    pub v2: Option<V2Watch>,
}

impl Shared {
    pub fn now_ns(&self) -> u64 {
        self.t0.elapsed().as_nanos() as u64
    }
}

pub struct ClientSpec {
    pub id: usize,
    pub join: Message,
    /// Not connected before this instant (joins spread over a phase).
    pub not_before_ns: u64,
}

pub struct Send {
    pub at_ns: u64,
    pub client: usize,
    /// Built before measuring: sending it only masks and copies it.
    pub frame: Message,
    pub seq: Option<u32>,
}

impl PartialEq for Send {
    fn eq(&self, other: &Self) -> bool {
        self.at_ns == other.at_ns
    }
}
impl Eq for Send {}
impl PartialOrd for Send {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Send {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.at_ns.cmp(&self.at_ns) // earliest first in a max-heap
    }
}

pub enum Command {
    Connect(Vec<ClientSpec>),
    Table(Arc<Table>),
    Schedule(Vec<Send>),
    /// Version 2: the proofs of the key (client id, `chat-proof` frame), written at once.
    Proofs(Vec<(usize, Message)>),
    /// Version 2: this client leaves (a close frame, then the socket is dropped).
    Leave(usize),
    Collect(mpsc::Sender<Report>),
    /// Closes every connection with a reset (no TIME_WAIT left behind).
    CloseAll,
    Stop,
}

#[derive(Debug, Default, Clone)]
pub struct PhaseStats {
    pub latencies_us: Vec<u32>,
    pub delivered: u64,
    /// Deliveries of a 1:1 message to somebody other than its recipient.
    pub to_others: u64,
    /// Deliveries of an ordered message after a later one of the same phase.
    pub out_of_order: u64,
    pub first_ns: u64,
    pub last_ns: u64,
}

impl PhaseStats {
    pub fn merge(&mut self, other: PhaseStats) {
        self.latencies_us.extend(other.latencies_us);
        self.delivered += other.delivered;
        self.to_others += other.to_others;
        self.out_of_order += other.out_of_order;
        if other.delivered + other.to_others > 0 {
            self.first_ns = if self.first_ns == 0 {
                other.first_ns
            } else {
                self.first_ns.min(other.first_ns)
            };
            self.last_ns = self.last_ns.max(other.last_ns);
        }
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub phases: HashMap<u8, PhaseStats>,
    pub join_us: Vec<u32>,
    /// Messages not in the table (the flooder's).
    pub unknown_messages: u64,
    pub acks: u64,
    pub lefts: u64,
    /// Notices and `chat-undelivered` reasons, counted.
    pub reasons: HashMap<String, u64>,
    /// Why connections ended, counted.
    pub ends: HashMap<String, u64>,
    pub send_failed: u64,
    /// Clients joined and connected when the report was made.
    pub connected: Vec<usize>,
    /// Version 2: the challenges received (client id, nonce), since the last collect.
    pub challenges: Vec<(usize, String)>,
    /// Version 2: `chat-groupkey` frames received, by epoch.
    pub epochs: HashMap<u64, u64>,
    /// Version 2: the sampled clients (see [`V2Watch`]).
    pub samples: Vec<Sample>,
}

impl Report {
    pub fn merge(&mut self, other: Report) {
        for (phase, stats) in other.phases {
            self.phases.entry(phase).or_default().merge(stats);
        }
        self.join_us.extend(other.join_us);
        self.unknown_messages += other.unknown_messages;
        self.acks += other.acks;
        self.lefts += other.lefts;
        for (k, v) in other.reasons {
            *self.reasons.entry(k).or_default() += v;
        }
        for (k, v) in other.ends {
            *self.ends.entry(k).or_default() += v;
        }
        self.send_failed += other.send_failed;
        self.connected.extend(other.connected);
        self.challenges.extend(other.challenges);
        for (k, v) in other.epochs {
            *self.epochs.entry(k).or_default() += v;
        }
        self.samples.extend(other.samples);
    }
}

pub struct Handle {
    pub commands: mpsc::Sender<Command>,
    pub waker: Arc<Waker>,
    pub counters: Arc<Counters>,
    pub thread: std::thread::JoinHandle<()>,
}

impl Handle {
    pub fn send(&self, command: Command) {
        if self.commands.send(command).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

pub fn spawn(
    target: Target,
    tls: Option<Arc<ClientConfig>>,
    window: usize,
    shared: Arc<Shared>,
) -> io::Result<Handle> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let (tx, rx) = mpsc::channel();
    let counters = Arc::new(Counters::default());
    let mut worker = Worker {
        poll,
        target,
        tls,
        window,
        shared,
        counters: counters.clone(),
        commands: rx,
        clients: Vec::new(),
        free: Vec::new(),
        by_id: HashMap::new(),
        waiting: VecDeque::new(),
        in_flight: 0,
        schedule: BinaryHeap::new(),
        table: None,
        last_ordered: HashMap::new(),
        report: Report::default(),
        stop: false,
    };
    let thread = std::thread::Builder::new()
        .name("load-worker".into())
        .spawn(move || worker.run())?;
    Ok(Handle {
        commands: tx,
        waker,
        counters,
        thread,
    })
}

struct Client {
    id: usize,
    connection: Connection,
    /// Sent once the WebSocket is open, then `None`.
    join: Option<Message>,
    started_ns: u64,
    got_config: bool,
    got_list: bool,
    /// Counted in the window of connections being set up (until the join, or for
    /// version 2 until the challenge).
    in_window: bool,
    /// Version 2: a group key came.
    got_groupkey: bool,
    /// Version 2: counted in `settled`.
    settled: bool,
    /// Version 2: the room's size with every client was seen.
    saw_all: bool,
    sample: Option<Sample>,
}

struct Worker {
    poll: Poll,
    target: Target,
    tls: Option<Arc<ClientConfig>>,
    window: usize,
    shared: Arc<Shared>,
    counters: Arc<Counters>,
    commands: mpsc::Receiver<Command>,
    clients: Vec<Option<Client>>,
    free: Vec<usize>,
    by_id: HashMap<usize, usize>,
    waiting: VecDeque<ClientSpec>,
    in_flight: usize,
    schedule: BinaryHeap<Send>,
    table: Option<Arc<Table>>,
    /// The last ordered message (sequence number) each client received, by phase.
    last_ordered: HashMap<(u32, u8), u32>,
    report: Report,
    stop: bool,
}

enum Outcome {
    Fine,
    Ended(String),
}

impl Worker {
    fn run(&mut self) {
        let mut events = Events::with_capacity(4096);
        while !self.stop {
            let next_ns = [
                self.schedule.peek().map(|s| s.at_ns),
                self.waiting.front().map(|c| c.not_before_ns),
            ]
            .into_iter()
            .flatten()
            .min();
            let timeout = match next_ns {
                Some(at_ns) => Duration::from_nanos(at_ns.saturating_sub(self.shared.now_ns()))
                    .min(Duration::from_millis(100)),
                None => Duration::from_millis(100),
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout))
                && e.kind() != io::ErrorKind::Interrupted
            {
                eprintln!("worker: poll failed: {e}");
                return;
            }
            for event in events.iter() {
                if event.token() == WAKER {
                    continue;
                }
                let slot = event.token().0;
                let outcome = self.on_event(slot);
                if let Outcome::Ended(why) = outcome {
                    self.end(slot, why);
                }
            }
            self.commands();
            self.due_sends();
            self.start_connects();
        }
    }

    fn commands(&mut self) {
        while let Ok(command) = self.commands.try_recv() {
            match command {
                Command::Connect(specs) => self.waiting.extend(specs),
                Command::Table(table) => self.table = Some(table),
                Command::Schedule(sends) => self.schedule.extend(sends),
                Command::Proofs(proofs) => self.write_proofs(proofs),
                Command::Leave(id) => self.leave(id),
                Command::Collect(reply) => {
                    self.report.connected = self
                        .clients
                        .iter()
                        .flatten()
                        .filter(|c| c.got_config && c.got_list)
                        .map(|c| c.id)
                        .collect();
                    self.report.samples = self
                        .clients
                        .iter()
                        .flatten()
                        .filter_map(|c| c.sample.clone())
                        .collect();
                    let _ = reply.send(std::mem::take(&mut self.report));
                }
                Command::CloseAll => self.close_all(),
                Command::Stop => {
                    self.close_all();
                    self.stop = true;
                }
            }
        }
    }

    fn start_connects(&mut self) {
        while self.in_flight < self.window {
            let now = self.shared.now_ns();
            if self.waiting.front().is_none_or(|c| c.not_before_ns > now) {
                return;
            }
            let spec = self.waiting.pop_front().expect("looked at");
            let mut connection = match Connection::start(&self.target, self.tls.as_ref()) {
                Ok(c) => c,
                Err(e) => {
                    self.failed(e);
                    continue;
                }
            };
            let slot = self.free.pop().unwrap_or_else(|| {
                self.clients.push(None);
                self.clients.len() - 1
            });
            let tcp = connection.tcp_mut().expect("just connected");
            if let Err(e) = self.poll.registry().register(
                tcp,
                Token(slot),
                Interest::READABLE | Interest::WRITABLE,
            ) {
                self.failed(format!("register: {e}"));
                self.free.push(slot);
                continue;
            }
            self.by_id.insert(spec.id, slot);
            let sampled = self
                .shared
                .v2
                .as_ref()
                .is_some_and(|w| spec.id.is_multiple_of(w.sample_every.max(1)));
            self.clients[slot] = Some(Client {
                id: spec.id,
                connection,
                join: Some(spec.join),
                started_ns: self.shared.now_ns(),
                got_config: false,
                got_list: false,
                in_window: true,
                got_groupkey: false,
                settled: false,
                saw_all: false,
                sample: sampled.then(|| Sample {
                    id: spec.id,
                    ..Sample::default()
                }),
            });
            self.in_flight += 1;
        }
    }

    fn failed(&mut self, why: String) {
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        *self
            .report
            .ends
            .entry(format!("before join: {why}"))
            .or_default() += 1;
    }

    fn on_event(&mut self, slot: usize) -> Outcome {
        let Some(Some(client)) = self.clients.get_mut(slot) else {
            return Outcome::Fine;
        };
        let ws = match client.connection.advance(&self.target) {
            Ok(Some(ws)) => ws,
            Ok(None) => return Outcome::Fine,
            Err(e) => return Outcome::Ended(e),
        };
        if let Some(join) = client.join.take() {
            let _ = ws.write(join);
        }
        if let Err(e) = flush(ws) {
            return Outcome::Ended(e);
        }
        self.read_more(slot)
    }

    /// Keeps reading a connection until the socket is drained.
    fn read_more(&mut self, slot: usize) -> Outcome {
        loop {
            let Some(Some(Client {
                connection: Connection::Open(ws),
                ..
            })) = self.clients.get_mut(slot)
            else {
                return Outcome::Fine;
            };
            let read = ws.read();
            let received = ws.get_mut().take_received();
            self.counters
                .bytes_in
                .fetch_add(received, Ordering::Relaxed);
            match read {
                Ok(Message::Text(text)) => self.on_text(slot, text.as_bytes()),
                Ok(Message::Close(frame)) => {
                    let (code, reason) = frame.map_or((1005, String::new()), |f| {
                        (u16::from(f.code), f.reason.to_string())
                    });
                    return Outcome::Ended(format!("closed by the server: {code} {reason}"));
                }
                // tungstenite answers pings itself; the server sends nothing else.
                Ok(_) => {}
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    // The pongs tungstenite queued.
                    return match flush(ws) {
                        Ok(()) => Outcome::Fine,
                        Err(e) => Outcome::Ended(e),
                    };
                }
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(
                    Error::ConnectionClosed
                    | Error::Protocol(
                        tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                    ),
                ) => return Outcome::Ended("closed by the server (no close frame)".into()),
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Outcome::Ended("closed by the server (no close frame)".into());
                }
                Err(e) => return Outcome::Ended(format!("read: {e}")),
            }
        }
    }

    /// Acts on one frame from the server: a message's latency, a join's progress.
    fn on_text(&mut self, slot: usize, text: &[u8]) {
        let now = self.shared.now_ns();
        let Some(Some(client)) = self.clients.get_mut(slot) else {
            return;
        };
        let id = client.id as u32;
        let report = &mut self.report;
        let mut joined_now = false;
        match server_frame::classify(text) {
            Kind::Message(key) => {
                let table = self.table.as_deref();
                let info = <[u8; SIG_KEY]>::try_from(key)
                    .ok()
                    .and_then(|k| table.and_then(|t| t.by_sig.get(&k).map(|i| (t, *i))));
                let Some((table, info)) = info else {
                    report.unknown_messages += 1;
                    return;
                };
                let phase = report.phases.entry(info.phase).or_default();
                if phase.first_ns == 0 {
                    phase.first_ns = now;
                }
                phase.last_ns = now;
                if info.to == EVERYBODY || info.to == id {
                    if info.ordered {
                        let last = self.last_ordered.entry((id, info.phase)).or_insert(0);
                        if info.seq < *last {
                            phase.out_of_order += 1;
                        }
                        *last = info.seq.max(*last);
                    }
                    let sent = table.sent_ns[info.seq as usize].load(Ordering::Acquire);
                    let us = now.saturating_sub(sent) / 1000;
                    phase.latencies_us.push(us.min(u64::from(u32::MAX)) as u32);
                    phase.delivered += 1;
                    self.counters.delivered.fetch_add(1, Ordering::Relaxed);
                } else {
                    phase.to_others += 1;
                }
            }
            Kind::Config(key) => {
                client.got_config = true;
                if let Some(key) = key {
                    let mut slot = self.shared.aeskey.lock().expect("not poisoned");
                    if slot.is_none() {
                        *slot = Some(String::from_utf8_lossy(key).into_owned());
                    }
                }
                joined_now = client.got_list;
            }
            Kind::UsersList => {
                if !client.got_list {
                    let mut slot = self.shared.users_list.lock().expect("not poisoned");
                    if slot.is_none() {
                        *slot = Some(String::from_utf8_lossy(text).into_owned());
                    }
                }
                client.got_list = true;
                joined_now = client.got_config;
            }
            Kind::Join => {
                self.counters.announcements.fetch_add(1, Ordering::Relaxed);
            }
            Kind::Challenge(nonce) => {
                report
                    .challenges
                    .push((client.id, String::from_utf8_lossy(nonce).into_owned()));
                self.counters.challenged.fetch_add(1, Ordering::Relaxed);
                if std::mem::take(&mut client.in_window) {
                    self.in_flight = self.in_flight.saturating_sub(1);
                }
            }
            Kind::ConfigV2(memberkey) => {
                client.got_config = true;
                if let Some(sample) = &mut client.sample {
                    sample.memberkey = String::from_utf8_lossy(memberkey).into_owned();
                }
                joined_now = client.got_list && client.got_groupkey;
            }
            Kind::GroupKey(epoch) => {
                self.counters.groupkeys.fetch_add(1, Ordering::Relaxed);
                *report.epochs.entry(epoch).or_default() += 1;
                if let Some(sample) = &mut client.sample {
                    sample
                        .groupkeys
                        .push(String::from_utf8_lossy(text).into_owned());
                }
                joined_now = !client.got_groupkey && client.got_config && client.got_list;
                client.got_groupkey = true;
            }
            Kind::Users => {
                let count = server_frame::room_count(text);
                if let Some(sample) = &mut client.sample {
                    sample.view = server_frame::count_entries(text) as i64;
                    sample.count = count.map_or(-1, |c| c as i64);
                }
                if let Some(watch) = &self.shared.v2 {
                    client.saw_all |= count == Some(watch.room);
                }
                joined_now = !client.got_list && client.got_config && client.got_groupkey;
                client.got_list = true;
            }
            Kind::Presence => {
                let count = server_frame::room_count(text);
                if let Some(sample) = &mut client.sample {
                    sample.view += server_frame::presence_balance(text);
                    sample.count = count.map_or(-1, |c| c as i64);
                }
                if let Some(watch) = &self.shared.v2 {
                    client.saw_all |= count == Some(watch.room);
                }
            }
            Kind::Left => report.lefts += 1,
            Kind::Ack => report.acks += 1,
            Kind::Undelivered(reason) | Kind::Notice(reason) => {
                *report
                    .reasons
                    .entry(String::from_utf8_lossy(reason).into_owned())
                    .or_default() += 1;
            }
            Kind::InvalidUser => {
                *report.reasons.entry("chat-invaliduser".into()).or_default() += 1;
            }
            Kind::Other => {}
        }
        if joined_now {
            self.counters.joined.fetch_add(1, Ordering::Relaxed);
            let us = (now.saturating_sub(client.started_ns) / 1000).min(u64::from(u32::MAX));
            report.join_us.push(us as u32);
            if std::mem::take(&mut client.in_window) {
                self.in_flight = self.in_flight.saturating_sub(1);
            }
        }
        if self.shared.v2.is_some()
            && !client.settled
            && client.saw_all
            && client.got_config
            && client.got_list
            && client.got_groupkey
        {
            client.settled = true;
            self.counters.settled.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes each client's proof of its key at once.
    fn write_proofs(&mut self, proofs: Vec<(usize, Message)>) {
        for (id, proof) in proofs {
            let Some(&slot) = self.by_id.get(&id) else {
                self.report.send_failed += 1;
                continue;
            };
            let Some(Some(Client {
                connection: Connection::Open(ws),
                ..
            })) = self.clients.get_mut(slot)
            else {
                self.report.send_failed += 1;
                continue;
            };
            let written = match ws.write(proof) {
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
                Err(e) => Err(format!("write: {e}")),
                Ok(()) => flush(ws),
            };
            if let Err(e) = written {
                self.end(slot, e);
            }
        }
    }

    /// One client leaves as a page does when closed: a close frame, then the socket
    /// is dropped (the server sees the close, or the end of the stream, in one turn).
    fn leave(&mut self, id: usize) {
        let Some(slot) = self.by_id.remove(&id) else {
            return;
        };
        let Some(mut client) = self.clients.get_mut(slot).and_then(Option::take) else {
            return;
        };
        if let Connection::Open(ws) = &mut client.connection {
            let _ = ws.close(None);
            let _ = flush(ws);
        }
        if let Some(tcp) = client.connection.tcp_mut() {
            let _ = self.poll.registry().deregister(tcp);
        }
        self.free.push(slot);
    }

    fn end(&mut self, slot: usize, why: String) {
        let Some(mut client) = self.clients.get_mut(slot).and_then(Option::take) else {
            return;
        };
        if let Some(tcp) = client.connection.tcp_mut() {
            let _ = self.poll.registry().deregister(tcp);
        }
        self.by_id.remove(&client.id);
        self.free.push(slot);
        if client.got_config && client.got_list {
            self.counters.cut_after_join.fetch_add(1, Ordering::Relaxed);
            *self.report.ends.entry(why).or_default() += 1;
        } else {
            if client.in_window {
                self.in_flight = self.in_flight.saturating_sub(1);
            }
            self.failed(why);
        }
    }

    fn due_sends(&mut self) {
        loop {
            let now = self.shared.now_ns();
            match self.schedule.peek() {
                Some(next) if next.at_ns <= now => {}
                _ => return,
            }
            let send = self.schedule.pop().expect("peeked");
            let slot = self.by_id.get(&send.client).copied();
            let Some(Some(Client {
                connection: Connection::Open(ws),
                ..
            })) = slot.and_then(|s| self.clients.get_mut(s))
            else {
                self.report.send_failed += 1;
                continue;
            };
            if let (Some(seq), Some(table)) = (send.seq, &self.table) {
                table.sent_ns[seq as usize].store(self.shared.now_ns(), Ordering::Release);
            }
            let written = match ws.write(send.frame) {
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
                Err(e) => Err(format!("write: {e}")),
                Ok(()) => flush(ws),
            };
            if let Err(e) = written {
                self.end(slot.expect("found"), e);
            }
        }
    }

    fn close_all(&mut self) {
        for slot in 0..self.clients.len() {
            if let Some(mut client) = self.clients[slot].take()
                && let Some(tcp) = client.connection.tcp_mut()
            {
                let _ = self.poll.registry().deregister(tcp);
                reset_on_close(tcp);
            }
        }
        self.clients.clear();
        self.free.clear();
        self.by_id.clear();
        self.waiting.clear();
        self.in_flight = 0;
        self.schedule.clear();
    }
}

/// Writes what tungstenite holds; what the socket does not take now waits for the
/// next writable event.
fn flush(ws: &mut Socket) -> Result<(), String> {
    match ws.flush() {
        Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(format!("write: {e}")),
        Ok(()) => Ok(()),
    }
}

/// SO_LINGER 0: the close sends a reset and leaves no TIME_WAIT, so that runs of
/// 10,000 connections can follow each other without running out of local ports.
pub fn reset_on_close(stream: &impl AsRawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a correctly sized option value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}
