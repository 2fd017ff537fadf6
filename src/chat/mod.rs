//! The chat itself, as a state machine with no I/O (the rustls / quinn-proto pattern):
//! the event loop feeds it events — a connection opened, a text frame, a connection
//! gone, a console command, the time — and drains [`Output`]s: frames to send, connections
//! to close, lines for the console, requests for the allow list. It says when it next
//! needs the time ([`Chat::poll_timeout`]). Everything here is testable without a socket.
//!
//! - `users.rs`: who is connected, and the users list text.
//! - `frames.rs`: the JSON of the wire.
//! - `join.rs`: joins and departures.
//! - `delivery.rs`: messages from clients: checks, routing, relaying.
//! - `admin.rs`: what the administrator does from the console.
//! - `bans.rs`: keys kicked (for a while) or banned (for the run).
//! - `private_work.rs`: private-key jobs handed out, and what each one is for.
//! - Version 2: `v2_frames.rs` (its JSON), `envelope.rs` (the signed envelope),
//!   `epochs.rs` (the group keys and their rotation), `presence.rs` (the turn's batched
//!   users list, presence and rotation), `lazy_keys.rs` (`chat-getkeys`),
//!   `delivery_v2.rs` (routing version-2 messages).
//! - Files (version 2): `transfers.rs` (transfers in progress: window, acks, timeouts),
//!   `file_frames.rs` (their JSON), `file_relay.rs` (offers checked, chunks relayed).
//! - `held.rs`: version-2 1:1 messages held for a user gone a short while.
//! - `verification.rs`: `/verify`, and the names' last keys (a key change is shown).

mod admin;
mod bans;
mod budgets;
mod delivery;
mod delivery_v2;
mod envelope;
mod epochs;
mod file_frames;
mod file_relay;
pub mod frames;
mod held;
mod join;
mod lazy_keys;
mod lookup;
mod presence;
mod private_work;
mod split;
mod transfers;
mod users;
mod v2_frames;
mod verification;
mod view;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crate::allow_list::AllowList;
use crate::console::{ChatCommand, ConsoleLine};
use crate::crypto::{GroupKey, KeyPair};
use crate::limits::Limits;
use crate::token_bucket::TokenBucket;
use budgets::Remembered;
use epochs::GroupKeys;
use frames::{ClientFrame, FrameText};
use presence::Turn;
pub use private_work::{JobId, PrivateOp, PrivateResult};
use private_work::{Lane, PrivateWork, Task};
use users::Users;

/// The event loop's name for a connection.
pub type ConnId = usize;

/// Who a frame goes to: most frames go to one connection, which needs no list on the
/// heap (a rotation sends one frame to each member).
pub type Recipients = smallvec::SmallVec<[ConnId; 1]>;

/// WebSocket close codes the chat uses (RFC 6455 §7.4.1).
pub mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const POLICY: u16 = 1008;
}

/// Who may join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Anyone,
    /// Only listed keys, under their listed names (`--allow-list`).
    Listed(AllowList),
    /// Nobody: the allow list cannot be read (fail closed); the text says why.
    Nobody(String),
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub admin_name: String,
    pub disable_all: bool,
    pub only_admin: bool,
    pub welcome: Option<String>,
    /// `--allow-unproven-keys`: 0.9 clients (which cannot prove their key) may join
    /// under a listed key.
    pub allow_unproven_keys: bool,
    /// `--allow-unproven-admin`: a 0.9 client may join with the administrator's key.
    pub allow_unproven_admin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// One text frame to each of these connections (the same bytes for all).
    Send {
        to: Recipients,
        frame: FrameText,
    },
    /// Send what is queued, then a close frame, then close.
    Close {
        conn: ConnId,
        code: u16,
        reason: Cow<'static, str>,
    },
    Console(ConsoleLine),
    /// A join is to be decided: look at the allow list again, and answer with
    /// [`Chat::admission_refreshed`]. Input that arrives meanwhile waits, in order.
    RefreshAdmission,
    /// Run this private-key operation with the administrator's key, off the loop, and
    /// answer with [`Chat::private_key_done`].
    PrivateKey {
        job: JobId,
        op: PrivateOp,
    },
    /// Read this connection again: what paused it (a file chunk beyond the window)
    /// is gone. Nothing if it is not paused.
    Resume {
        conn: ConnId,
    },
    /// The administrator asked the server to stop.
    Quit,
}

/// What the shell is to do with a connection's input once a frame was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Read on.
    Continue,
    /// The connection's message budget is empty: read nothing more from it until then
    /// (its frames wait in its socket, in order), and do not take it for idle meanwhile.
    PauseUntil(Instant),
}

/// Where the chat is with its admission policy.
#[derive(Debug)]
enum Freshness {
    /// Set once and for all (or in tests): joins are decided at once.
    Fixed,
    /// From a file that may change: each join waits for a fresh look.
    Watched,
    /// A refresh was asked for: frames received meanwhile, with their time.
    Asked(VecDeque<(ConnId, String, Instant)>),
    /// The answer came: the frames that waited are being decided.
    Fresh,
}

pub struct Chat {
    settings: Settings,
    limits: Limits,
    /// The administrator's key: the chat reads its public half; its private operations
    /// are handed out as [`Output::PrivateKey`] jobs.
    admin: Arc<KeyPair>,
    /// The group keys: version 2's of the current epoch, and 0.9's.
    keys: GroupKeys,
    /// The administrator's piece of the users list, always first.
    admin_piece: frames::Piece,
    /// The administrator's `chat-key` frame (version 2).
    admin_key_frame: FrameText,
    /// What this turn leaves for its end: the batched users lists, presence, rotation
    /// and key answers (`presence.rs`).
    turn: Turn,
    /// Wall-clock milliseconds since 1970 (the shell's, each turn): the time of the
    /// envelopes the server makes.
    wall_ms: u64,
    /// The envelopes the server made, and a prefix of this run's, so that ids stay
    /// unique across restarts.
    envelopes_made: u64,
    envelope_id_prefix: String,
    users: Users,
    /// Budgets of keys that left recently (`budgets.rs`).
    remembered: Remembered,
    /// Keys the administrator kicked or banned.
    bans: bans::Bans,
    /// The latest time an input brought: what "now" is for departures.
    clock: Instant,
    admission: Admission,
    freshness: Freshness,
    /// Server-wide budget of welcome signatures (one per part).
    welcome_signatures: TokenBucket,
    /// Joined connections whose welcome waits for that budget, or for room among the
    /// private-key jobs.
    pending_welcomes: VecDeque<ConnId>,
    /// Makes each connection's challenge nonce (`join.rs`): from the OS RNG in the shell.
    join_secret: [u8; 32],
    /// Counts challenges made: a nonce is never made twice.
    challenges_made: u64,
    /// Private-key jobs handed out, and what each is for.
    work: PrivateWork,
    /// 0.9 one-to-one frames not tried with the administrator's key for want of room,
    /// not yet reported on the console.
    untried: u64,
    /// File transfers in progress (`transfers.rs`).
    transfers: transfers::Transfers,
    /// The last key of each name seen joining (`verification.rs`).
    known_names: verification::KnownNames,
    /// Messages held for users gone a short while (`held.rs`).
    held: held::Held,
    /// Who is told of whom in a large room (`view.rs`).
    view: view::View,
    /// The room's size as last announced (`presence.rs`).
    count: presence::SizeSent,
    out: VecDeque<Output>,
}

impl Chat {
    pub fn new(
        settings: Settings,
        limits: Limits,
        admin: Arc<KeyPair>,
        group: GroupKey,
        join_secret: [u8; 32],
        now: Instant,
    ) -> Self {
        let admin_piece = frames::users_list_piece(
            &settings.admin_name,
            admin.public().key_id(),
            admin.public().spki_b64(),
            true,
        );
        let welcome_signatures = TokenBucket::new(
            limits.welcome_signatures_per_second,
            limits.welcome_signature_burst,
            now,
        );
        let admin_key_frame = FrameText::shared(v2_frames::key(
            admin.public().key_id(),
            &settings.admin_name,
            admin.public().spki_b64(),
        ));
        let envelope_id_prefix = {
            use sha2::{Digest, Sha256};
            let hash = Sha256::new()
                .chain_update(join_secret)
                .chain_update(b"envelope ids")
                .finalize();
            hash[..6].iter().map(|b| format!("{b:02x}")).collect()
        };
        Self {
            settings,
            limits,
            admin,
            keys: GroupKeys::new(group),
            admin_piece,
            admin_key_frame,
            turn: Turn::default(),
            wall_ms: 0,
            envelopes_made: 0,
            envelope_id_prefix,
            users: Users::default(),
            remembered: Remembered::default(),
            bans: bans::Bans::default(),
            clock: now,
            admission: Admission::Anyone,
            freshness: Freshness::Fixed,
            welcome_signatures,
            pending_welcomes: VecDeque::new(),
            join_secret,
            challenges_made: 0,
            work: PrivateWork::default(),
            untried: 0,
            transfers: transfers::Transfers::default(),
            known_names: Default::default(),
            held: held::Held::default(),
            view: view::View::default(),
            count: presence::SizeSent { sent: 1, next: now },
            out: VecDeque::new(),
        }
    }

    /// A WebSocket is open; the connection must now join. `host` is the `Host` header
    /// of its upgrade request: a proof of a key is bound to it.
    pub fn opened(&mut self, conn: ConnId, host: Option<&str>, now: Instant) {
        self.clock = now;
        self.users.open(conn, host.map(str::to_owned), now);
    }

    /// A text frame arrived. Every frame of a joined connection costs a token of its
    /// key's message budget, junk included: nothing a client sends is free. Nothing is
    /// refused for the rate either: when the budget is empty, the answer tells the shell
    /// to stop reading the connection until it has a token again.
    pub fn received(&mut self, conn: ConnId, text: &str, now: Instant) -> Reading {
        self.handle_frame(conn, text, now);
        self.reading(conn, now)
    }

    /// Whether `conn` may be read on, after its last frame.
    fn reading(&mut self, conn: ConnId, now: Instant) -> Reading {
        let Some(member) = self.users.member_mut(conn) else {
            return Reading::Continue;
        };
        let messages = member.budgets.messages.ready_at(now).filter(|&at| at > now);
        let files = self.transfers.budget_ready_at(conn, now);
        // A chunk beyond the window waits: not read until Output::Resume, or at the
        // latest after the ack timeout has removed whoever did not keep up.
        let held = self
            .transfers
            .is_holding(conn)
            .then(|| now + 2 * self.limits.file_ack_timeout);
        match messages.into_iter().chain(files).chain(held).max() {
            Some(at) => Reading::PauseUntil(at),
            None => Reading::Continue,
        }
    }

    fn handle_frame(&mut self, conn: ConnId, text: &str, now: Instant) {
        self.clock = now;
        if let Freshness::Asked(waiting) = &mut self.freshness {
            waiting.push_back((conn, text.to_owned(), now));
            return;
        }
        let joined = self.users.member(conn).is_some();
        let frame = frames::parse_client_frame(text);
        if !joined
            && matches!(frame, ClientFrame::Join { .. })
            && matches!(self.freshness, Freshness::Watched)
        {
            let waiting = VecDeque::from([(conn, text.to_owned(), now)]);
            self.freshness = Freshness::Asked(waiting);
            self.out.push_back(Output::RefreshAdmission);
            return;
        }
        if joined && matches!(frame, ClientFrame::File(_)) {
            // File frames have their own budget, in bytes.
            self.transfers.charge(conn, text.len(), &self.limits, now);
        } else if joined {
            let data = match &frame {
                ClientFrame::Message(data) => Some(data),
                _ => None,
            };
            self.charge(conn, data, now);
        }
        match frame {
            ClientFrame::Join {
                name,
                public_key,
                prove,
                v2,
            } if !joined => self.join(conn, name, &public_key, prove, v2, now),
            ClientFrame::Proof { signature } if !joined => self.proof(conn, &signature, now),
            ClientFrame::Message(data) if joined => self.message(conn, data),
            ClientFrame::MessageV2(data) if joined => self.message_v2(conn, data),
            ClientFrame::GetKeys(key_ids) if joined => self.get_keys(conn, key_ids),
            ClientFrame::Find(prefix) if joined => self.find(conn, prefix.as_deref()),
            ClientFrame::File(file) if joined => self.file_frame(conn, file, now),
            ClientFrame::Join { .. } | ClientFrame::Proof { .. } | ClientFrame::Ignored(_)
                if joined => {}
            _ => self.close(conn, close_code::POLICY, "join first"),
        }
    }

    /// The connection is gone (closed by either side, or cut by the event loop). `why`
    /// is shown on the console when the event loop cut it.
    pub fn closed(&mut self, conn: ConnId, why: Option<&str>) {
        self.pending_welcomes.retain(|&c| c != conn);
        self.work.connection_gone(conn);
        if let Freshness::Asked(waiting) = &mut self.freshness {
            waiting.retain(|(c, _, _)| *c != conn);
        }
        self.file_connection_gone(conn);
        self.leave(conn, why);
    }

    pub fn command(&mut self, command: ChatCommand, now: Instant) {
        self.clock = now;
        self.admin_command(command);
    }

    /// When [`Chat::handle_timeout`] next has something to do: a join deadline, or the
    /// welcome budget back for a welcome that waits (with room for its jobs). `None`:
    /// nothing is due.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let join = self
            .users
            .oldest_pending()
            .map(|since| since + self.limits.join_timeout);
        let welcome = if self.pending_welcomes.is_empty() || !self.has_room_for_jobs() {
            None
        } else {
            self.welcome_signatures.ready_at(self.clock)
        };
        let files = self.transfers.poll_timeout(&self.limits);
        let held = self.held_timeout();
        let size = self.size_timeout();
        join.into_iter()
            .chain(welcome)
            .chain(files)
            .chain(held)
            .chain(size)
            .min()
    }

    /// Timers: joins that never came, welcomes waiting for the welcome budget, file
    /// transfers, held messages whose window ended, a room size to announce.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.clock = now;
        for conn in self.users.pending_too_long(self.limits.join_timeout, now) {
            self.users.remove(conn);
            self.close(conn, close_code::POLICY, "no join in time");
        }
        self.start_waiting_welcomes(now);
        self.file_timeouts(now);
        self.held_timeouts(now);
        self.size_timeouts(now);
    }

    /// A private-key job is done: what waited for it (and, in its lane, behind it) goes
    /// on; the room it leaves may let waiting welcomes start.
    pub fn private_key_done(&mut self, job: JobId, result: PrivateResult, now: Instant) {
        self.clock = now;
        for (task, results) in self.work.done(job, result) {
            self.finish(task, results);
        }
        self.report_untried();
        self.start_waiting_welcomes(now);
    }

    /// Sets who may join from now on; those connected stay.
    pub fn set_admission(&mut self, admission: Admission) {
        self.admission = admission;
    }

    /// Admission comes from a file that may change: from now on each join waits for
    /// [`Output::RefreshAdmission`] to be answered.
    pub fn watch_admission(&mut self) {
        self.freshness = Freshness::Watched;
    }

    /// The answer to [`Output::RefreshAdmission`]: the new policy if it changed. The
    /// frames that waited are then taken, in the order they came.
    pub fn admission_refreshed(&mut self, changed: Option<Admission>) {
        if let Some(admission) = changed {
            self.admission = admission;
        }
        let Freshness::Asked(waiting) = std::mem::replace(&mut self.freshness, Freshness::Fresh)
        else {
            return;
        };
        for (conn, text, at) in waiting {
            // Cut meanwhile (a join deadline): its frames go with it.
            // Their cost is counted: a connection over its budget is paused after its
            // next frame.
            if self.users.is_pending(conn) || self.users.member(conn).is_some() {
                self.handle_frame(conn, &text, at);
            }
        }
        self.freshness = Freshness::Watched;
    }

    /// The names the console may complete: the administrator's, then the users' in
    /// join order.
    pub fn user_names(&self) -> Vec<String> {
        let users = self.users.users().map(|(_, m)| m.name.clone());
        std::iter::once(self.settings.admin_name.clone())
            .chain(users)
            .collect()
    }

    /// The wall clock, in milliseconds since 1970 UTC: the shell gives it each turn,
    /// for the time of the envelopes the server makes (the chat has no clock).
    pub fn set_wall_clock(&mut self, millis: u64) {
        self.wall_ms = millis;
    }

    /// The next output. When the queue runs dry the turn's batched work is done first
    /// (`presence.rs`: the users list for this turn's version-2 joiners, the presence
    /// for the others, at most one rotation, the public keys asked for), so a shell
    /// that drains the outputs once per turn gets it once per turn.
    pub fn poll_output(&mut self) -> Option<Output> {
        if self.out.is_empty() {
            self.end_of_turn();
        }
        self.out.pop_front()
    }

    #[cfg(test)]
    /// Joined users, the web administrator excluded.
    pub fn user_count(&self) -> usize {
        self.users.user_count()
    }

    // ---- helpers for the submodules ------------------------------------------------

    fn send(&mut self, to: Vec<ConnId>, frame: impl Into<FrameText>) {
        if !to.is_empty() {
            self.out.push_back(Output::Send {
                to: Recipients::from_vec(to),
                frame: frame.into(),
            });
        }
    }

    fn send_one(&mut self, conn: ConnId, frame: impl Into<FrameText>) {
        self.out.push_back(Output::Send {
            to: smallvec::smallvec![conn],
            frame: frame.into(),
        });
    }

    fn close(&mut self, conn: ConnId, code: u16, reason: impl Into<Cow<'static, str>>) {
        self.out.push_back(Output::Close {
            conn,
            code,
            reason: reason.into(),
        });
    }

    fn console(&mut self, line: ConsoleLine) {
        self.out.push_back(Output::Console(line));
    }

    /// Whether client-caused private-key work may be handed out now (the
    /// administrator's own is never held back by this).
    fn has_room_for_jobs(&self) -> bool {
        self.work.in_flight() < self.limits.max_private_jobs
    }

    fn start_work(&mut self, lane: Lane, task: Task, ops: Vec<PrivateOp>) {
        for (job, op) in self.work.start(lane, task, ops) {
            self.out.push_back(Output::PrivateKey { job, op });
        }
    }

    fn finish(&mut self, task: Task, results: Vec<PrivateResult>) {
        match task {
            Task::Signed { sends, line } => self.send_signed(sends, results, line),
            Task::ForAdmin {
                sender,
                data,
                signature,
                trial,
            } => {
                let plain = match results.into_iter().next() {
                    Some(PrivateResult::Plaintext(plain)) => plain,
                    _ => None,
                };
                self.decrypted_for_admin(*sender, data, plain, &signature, trial);
            }
            Task::ForAdminV2 {
                sender,
                data,
                iv,
                ciphertext,
            } => {
                let key = match results.into_iter().next() {
                    Some(PrivateResult::Plaintext(key)) => key,
                    _ => None,
                };
                self.decrypted_for_admin_v2(*sender, data, key, &iv, &ciphertext);
            }
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod v2_tests;
