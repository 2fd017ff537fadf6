//! File transfers in progress (docs/PROTOCOL.md, "Version 2 — files"): who sends which
//! file to whom, how far each recipient has acked, and the window that paces the sender
//! to its slowest recipient. Plain data in, [`Note`]s out: the chat turns them into
//! frames. The server holds at most one chunk per transfer (one beyond the window,
//! while the sender is not read), never a file.

use std::collections::HashMap;
use std::time::Instant;

use super::ConnId;
use super::frames::FrameText;
use crate::limits::Limits;
use crate::token_bucket::TokenBucket;

/// What the cleartext header of an offer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub tid: String,
    pub size: u64,
    pub chunks: u64,
}

/// Why an offer is refused before anything is relayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over the cap, or `chunks` does not fit `size` and the largest chunk.
    TooLarge,
    /// The server-wide bound on bytes in flight, or the sender's bound on transfers.
    Busy,
    /// The `tid` is malformed or already in progress for this sender.
    Tid,
}

/// How a transfer ended for one recipient, as the sender is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Delivered,
    Failed,
    Cancelled,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Delivered => "delivered",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
        }
    }
}

/// What the chat is to tell whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// To the sender: every recipient still in the transfer acked `acked` chunks.
    Window {
        sender: ConnId,
        tid: String,
        acked: u32,
    },
    /// To the sender: how the transfer ended for recipient `to`.
    Status {
        sender: ConnId,
        tid: String,
        to: String,
        state: State,
        reason: Option<String>,
    },
    /// To a recipient: the transfer is over for it.
    Cancel {
        to: ConnId,
        from: String,
        tid: String,
        reason: String,
    },
    /// A chunk that waited for the window, to relay now.
    Relay { to: Vec<ConnId>, frame: FrameText },
    /// The sender, not read while a chunk of it waited, may be read again.
    Resume { conn: ConnId },
}

/// What became of a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// Relay it to these recipients now.
    Relay(Vec<ConnId>),
    /// Beyond the window: kept; stop reading the sender until [`Note::Resume`].
    Held,
    /// Of no transfer in progress (one that ended, or never was): dropped.
    Dropped,
    /// Out of order or too large: the transfer ended (notes say so).
    Ended,
}

#[derive(Debug)]
struct Recipient {
    conn: ConnId,
    name: String,
    /// Chunks acked, in order: the next ack expected is for this `seq`.
    acked: u32,
    /// Since when it owes an ack (or last acked): what the ack timeout counts from.
    since: Instant,
}

#[derive(Debug)]
struct Transfer {
    sender: ConnId,
    /// What it counts against `max_file_bytes_in_flight`: its size, and at least a
    /// chunk, so that empty files are bounded too.
    cost: u64,
    /// Since when the sender may send and has not (the start, its last chunk, the
    /// window's last move): a sender silent for `file_ack_timeout` ends its transfer.
    idle_since: Instant,
    chunks: u32,
    /// Chunks relayed: the next `seq` expected from the sender.
    sent: u32,
    /// The last `acked` the sender was told.
    told: u32,
    recipients: Vec<Recipient>,
    /// The chunk beyond the window, waiting with its `seq`.
    held: Option<(u32, FrameText)>,
}

impl Transfer {
    /// When the sender, free to send, will have been silent too long.
    fn sender_due(&self, limits: &Limits) -> Option<Instant> {
        let free = self.held.is_none()
            && self.sent < self.chunks
            && self.sent < self.acked() + limits.file_window;
        free.then(|| self.idle_since + limits.file_ack_timeout)
    }

    fn acked(&self) -> u32 {
        self.recipients
            .iter()
            .map(|r| r.acked)
            .min()
            .unwrap_or(self.sent)
    }
}

/// Transfers by (sender's name, `tid`); names are unique among those connected.
#[derive(Debug, Default)]
pub struct Transfers {
    transfers: HashMap<(String, String), Transfer>,
    /// Declared bytes of the transfers in progress.
    in_flight: u64,
    /// Each connection's file-byte budget, made at its first file frame.
    budgets: HashMap<ConnId, TokenBucket>,
    notes: Vec<Note>,
}

/// Whether `tid` has the form of a transfer id: only such a text is ever echoed.
pub fn is_valid_tid(tid: &str) -> bool {
    super::frames::is_valid_id(tid)
}

impl Transfers {
    /// Whether an offer may start, before it is relayed.
    pub fn check_offer(
        &self,
        sender: ConnId,
        sender_name: &str,
        offer: &Offer,
        limits: &Limits,
    ) -> Result<(), Refusal> {
        if !is_valid_tid(&offer.tid) {
            return Err(Refusal::Tid);
        }
        let expected = offer.size.div_ceil(limits.max_file_chunk_bytes).max(1);
        // Chunks may be smaller than the largest, never more than one per byte.
        let fits = offer.chunks >= expected && offer.chunks <= offer.size.max(1);
        if offer.size > limits.max_file_bytes || !fits || offer.chunks > u64::from(u32::MAX) {
            return Err(Refusal::TooLarge);
        }
        if self
            .transfers
            .contains_key(&(sender_name.to_string(), offer.tid.clone()))
        {
            return Err(Refusal::Tid);
        }
        let mine = self
            .transfers
            .values()
            .filter(|t| t.sender == sender)
            .count();
        if mine >= limits.max_transfers_per_connection
            || self.in_flight + cost(offer, limits) > limits.max_file_bytes_in_flight
        {
            return Err(Refusal::Busy);
        }
        Ok(())
    }

    /// The offer was relayed to `recipients`: the transfer starts (checked with
    /// [`Transfers::check_offer`] first). With nobody to send to there is nothing to do.
    pub fn start(
        &mut self,
        sender: ConnId,
        sender_name: &str,
        offer: &Offer,
        recipients: Vec<(ConnId, String)>,
        limits: &Limits,
        now: Instant,
    ) {
        if recipients.is_empty() {
            return;
        }
        let recipients = recipients
            .into_iter()
            .map(|(conn, name)| Recipient {
                conn,
                name,
                acked: 0,
                since: now,
            })
            .collect();
        let cost = cost(offer, limits);
        self.in_flight += cost;
        let transfer = Transfer {
            sender,
            cost,
            idle_since: now,
            chunks: offer.chunks as u32,
            sent: 0,
            told: 0,
            recipients,
            held: None,
        };
        self.transfers
            .insert((sender_name.to_string(), offer.tid.clone()), transfer);
    }

    /// A chunk from `sender`; `data_len` is the length of its base64 `data`, `frame`
    /// the frame to relay.
    #[allow(clippy::too_many_arguments)]
    pub fn chunk(
        &mut self,
        sender: ConnId,
        sender_name: &str,
        tid: &str,
        seq: u64,
        data_len: usize,
        frame: FrameText,
        limits: &Limits,
        now: Instant,
    ) -> Chunk {
        let key = (sender_name.to_string(), tid.to_string());
        let Some(t) = self.transfers.get_mut(&key).filter(|t| t.sender == sender) else {
            return Chunk::Dropped;
        };
        let problem = if seq != u64::from(t.sent) || t.held.is_some() {
            Some("sent a chunk out of order")
        } else if data_len > max_chunk_b64(limits) {
            Some("sent a chunk larger than a chunk can be")
        } else {
            None
        };
        if let Some(problem) = problem {
            self.end_all(&key, problem);
            return Chunk::Ended;
        }
        let seq = seq as u32;
        t.idle_since = now;
        if seq >= t.acked() + limits.file_window {
            t.held = Some((seq, frame));
            return Chunk::Held;
        }
        Chunk::Relay(relay(t, now))
    }

    /// `conn` (registered as `name`) acked chunk `seq` of `from`'s transfer `tid`.
    #[allow(clippy::too_many_arguments)]
    pub fn ack(
        &mut self,
        conn: ConnId,
        from: &str,
        tid: &str,
        seq: u64,
        limits: &Limits,
        now: Instant,
    ) {
        let key = (from.to_string(), tid.to_string());
        let Some(t) = self.transfers.get_mut(&key) else {
            return;
        };
        let Some(i) = t.recipients.iter().position(|r| r.conn == conn) else {
            return;
        };
        let r = &mut t.recipients[i];
        // Only the next ack, of a chunk relayed: anything else is ignored.
        if seq != u64::from(r.acked) || r.acked >= t.sent {
            return;
        }
        r.acked += 1;
        r.since = now;
        if r.acked == t.chunks {
            let r = t.recipients.remove(i);
            self.notes.push(Note::Status {
                sender: t.sender,
                tid: tid.to_string(),
                to: r.name,
                state: State::Delivered,
                reason: None,
            });
        }
        self.moved(&key, limits, now);
    }

    /// The sender cancels: every recipient is told, with `reason`.
    pub fn cancel_by_sender(&mut self, sender: ConnId, sender_name: &str, tid: &str, reason: &str) {
        let key = (sender_name.to_string(), tid.to_string());
        if self.transfers.get(&key).is_some_and(|t| t.sender == sender) {
            self.end_quietly(&key, reason);
        }
    }

    /// A recipient leaves `from`'s transfer `tid`.
    pub fn cancel_by_recipient(
        &mut self,
        conn: ConnId,
        from: &str,
        tid: &str,
        limits: &Limits,
        now: Instant,
    ) {
        let key = (from.to_string(), tid.to_string());
        let Some(t) = self.transfers.get_mut(&key) else {
            return;
        };
        let Some(i) = t.recipients.iter().position(|r| r.conn == conn) else {
            return;
        };
        let r = t.recipients.remove(i);
        let reason = format!("{} cancelled the file.", r.name);
        self.notes.push(Note::Status {
            sender: t.sender,
            tid: tid.to_string(),
            to: r.name,
            state: State::Cancelled,
            reason: Some(reason),
        });
        self.moved(&key, limits, now);
    }

    /// `conn` (registered as `name`, if it had joined) is gone: what it sent is
    /// cancelled, what it received goes on without it.
    pub fn gone(&mut self, conn: ConnId, name: Option<&str>, limits: &Limits, now: Instant) {
        self.budgets.remove(&conn);
        let keys: Vec<_> = self.transfers.keys().cloned().collect();
        for key in keys {
            let Some(t) = self.transfers.get_mut(&key) else {
                continue;
            };
            if t.sender == conn {
                let reason = format!("{} left before the file was sent.", key.0);
                self.end_quietly(&key, &reason);
            } else if let Some(i) = t.recipients.iter().position(|r| r.conn == conn) {
                let r = t.recipients.remove(i);
                let who = name.unwrap_or(&r.name);
                self.notes.push(Note::Status {
                    sender: t.sender,
                    tid: key.1.clone(),
                    to: r.name.clone(),
                    state: State::Failed,
                    reason: Some(format!("{who} left: the file was not delivered to {who}.")),
                });
                self.moved(&key, limits, now);
            }
        }
    }

    /// Recipients that owe an ack for longer than `file_ack_timeout` are removed from
    /// their transfer; a sender that could send and did not for as long ends it.
    pub fn handle_timeout(&mut self, limits: &Limits, now: Instant) {
        let keys: Vec<_> = self.transfers.keys().cloned().collect();
        for key in keys {
            let Some(t) = self.transfers.get_mut(&key) else {
                continue;
            };
            if let Some(at) = t.sender_due(limits)
                && now >= at
            {
                self.end_all(&key, "stopped sending the file");
                continue;
            }
            let sent = t.sent;
            let (late, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut t.recipients)
                .into_iter()
                .partition(|r| r.acked < sent && now >= r.since + limits.file_ack_timeout);
            t.recipients = kept;
            if late.is_empty() {
                continue;
            }
            for r in late {
                self.notes.push(Note::Cancel {
                    to: r.conn,
                    from: key.0.clone(),
                    tid: key.1.clone(),
                    reason: format!(
                        "This connection did not keep up: the file from {} was not received.",
                        key.0
                    ),
                });
                self.notes.push(Note::Status {
                    sender: t.sender,
                    tid: key.1.clone(),
                    to: r.name.clone(),
                    state: State::Failed,
                    reason: Some(format!(
                        "{0} did not keep up: the file was not delivered to {0}.",
                        r.name
                    )),
                });
            }
            self.moved(&key, limits, now);
        }
    }

    /// When [`Transfers::handle_timeout`] next has something to do.
    pub fn poll_timeout(&self, limits: &Limits) -> Option<Instant> {
        self.transfers
            .values()
            .flat_map(|t| {
                t.recipients
                    .iter()
                    .filter(|r| r.acked < t.sent)
                    .map(|r| r.since + limits.file_ack_timeout)
                    .chain(t.sender_due(limits))
            })
            .min()
    }

    /// Whether a chunk of `conn` waits for the window (then `conn` is not read).
    pub fn is_holding(&self, conn: ConnId) -> bool {
        self.transfers
            .values()
            .any(|t| t.sender == conn && t.held.is_some())
    }

    /// Counts a file frame of `len` bytes against `conn`'s file budget.
    pub fn charge(&mut self, conn: ConnId, len: usize, limits: &Limits, now: Instant) {
        let bucket = self.budgets.entry(conn).or_insert_with(|| {
            TokenBucket::new(limits.file_bytes_per_second, limits.file_byte_burst, now)
        });
        bucket.take_many(len.max(limits.file_frame_min_cost), now);
    }

    /// When `conn`'s file budget has room again, if it has none now.
    pub fn budget_ready_at(&mut self, conn: ConnId, now: Instant) -> Option<Instant> {
        let at = self.budgets.get_mut(&conn)?.ready_at(now)?;
        (at > now).then_some(at)
    }

    pub fn drain_notes(&mut self) -> std::vec::Drain<'_, Note> {
        self.notes.drain(..)
    }

    #[cfg(test)]
    pub fn count(&self) -> usize {
        self.transfers.len()
    }

    // ---- inside ------------------------------------------------------------------

    /// After recipients acked or left: the sender hears of a moved window, a held chunk
    /// goes out if it now fits, and a transfer nobody is left in ends.
    fn moved(&mut self, key: &(String, String), limits: &Limits, now: Instant) {
        let Some(t) = self.transfers.get_mut(key) else {
            return;
        };
        if t.recipients.is_empty() {
            self.remove(key);
            return;
        }
        let acked = t.acked();
        if acked > t.told {
            t.told = acked;
            t.idle_since = now;
            self.notes.push(Note::Window {
                sender: t.sender,
                tid: key.1.clone(),
                acked,
            });
        }
        if let Some((seq, _)) = &t.held
            && *seq < acked + limits.file_window
        {
            let (_, frame) = t.held.take().expect("just seen");
            let to = relay(t, now);
            let sender = t.sender;
            self.notes.push(Note::Relay { to, frame });
            self.notes.push(Note::Resume { conn: sender });
        }
    }

    /// Ends a transfer for everyone because its sender broke the protocol.
    fn end_all(&mut self, key: &(String, String), problem: &str) {
        let Some(t) = self.transfers.get(key) else {
            return;
        };
        let sender = t.sender;
        let names: Vec<String> = t.recipients.iter().map(|r| r.name.clone()).collect();
        self.end_quietly(key, &format!("{}'s client {problem}.", key.0));
        for to in names {
            self.notes.push(Note::Status {
                sender,
                tid: key.1.clone(),
                reason: Some(format!(
                    "Your client {problem}: the file was not delivered to {to}."
                )),
                to,
                state: State::Failed,
            });
        }
    }

    /// Ends a transfer, telling each recipient `reason` (the sender knows why).
    fn end_quietly(&mut self, key: &(String, String), reason: &str) {
        let Some(t) = self.transfers.get(key) else {
            return;
        };
        for r in &t.recipients {
            self.notes.push(Note::Cancel {
                to: r.conn,
                from: key.0.clone(),
                tid: key.1.clone(),
                reason: reason.to_string(),
            });
        }
        self.remove(key);
    }

    fn remove(&mut self, key: &(String, String)) {
        if let Some(t) = self.transfers.remove(key) {
            self.in_flight -= t.cost;
            if t.held.is_some() {
                self.notes.push(Note::Resume { conn: t.sender });
            }
        }
    }
}

/// Counts chunk `t.sent` as relayed; the recipients to relay it to. A recipient that
/// owed nothing starts owing now.
fn relay(t: &mut Transfer, now: Instant) -> Vec<ConnId> {
    for r in &mut t.recipients {
        if r.acked == t.sent {
            r.since = now;
        }
    }
    t.sent += 1;
    t.recipients.iter().map(|r| r.conn).collect()
}

fn cost(offer: &Offer, limits: &Limits) -> u64 {
    offer.size.max(limits.max_file_chunk_bytes)
}

/// The longest base64 `data` of a chunk: the largest chunk and its 16-byte tag.
pub fn max_chunk_b64(limits: &Limits) -> usize {
    (limits.max_file_chunk_bytes as usize + 16).div_ceil(3) * 4
}

#[cfg(test)]
#[path = "transfers_tests.rs"]
mod tests;
