//! Files through the chat (docs/PROTOCOL.md, "Version 2 — files"): an offer is checked
//! against the caps before it is relayed and starts a transfer once it was; file frames
//! go to `transfers.rs`, whose notes become frames here.

use std::time::Instant;

use serde_json::json;

use super::file_frames::{self, FileFrame};
use super::frames::FrameText;
use super::transfers::{Chunk, Note, Refusal};
use super::v2_frames::{self, V2Data, Why};
use super::{Chat, ConnId};

const TOO_LARGE: &str = "The file is larger than this server accepts: not sent.";
const BUSY: &str = "The server is relaying as many files as it can: send this one again later.";
const BAD_TID: &str = "The file's transfer id is malformed or already in use: not sent.";
const MALFORMED: &str = "The file offer is malformed: not sent.";
const TO_ADMIN: &str = "The administrator's console cannot receive files: not sent.";

impl Chat {
    /// The offer's `data` if it may go on (a message that offers no file always may),
    /// its header rewritten to the three fields the server read; `None` once the
    /// sender is told why not.
    pub(super) fn checked_file_offer(&mut self, conn: ConnId, mut data: V2Data) -> Option<V2Data> {
        let Some(header) = data.file.take() else {
            return Some(data);
        };
        let name = self.users.member(conn)?.name.clone();
        let offer = file_frames::parse_offer(&json!({ "file": header })).flatten();
        let refusal = match &offer {
            None => Some((MALFORMED, "malformed")),
            Some(_) if data.legacy => Some((MALFORMED, "malformed")),
            Some(_) if data.to == self.settings.admin_name => Some((TO_ADMIN, "admin-no-files")),
            Some(offer) => match self.transfers.check_offer(conn, &name, offer, &self.limits) {
                Ok(()) => None,
                Err(Refusal::TooLarge) => Some((TOO_LARGE, "file-too-large")),
                Err(Refusal::Busy) => Some((BUSY, "file-busy")),
                Err(Refusal::Tid) => Some((BAD_TID, "file-tid")),
            },
        };
        if let Some((reason, code)) = refusal {
            let to = if data.to == "all" {
                "all".to_string()
            } else {
                super::delivery::printable(&data.to)
            };
            let frame = v2_frames::undelivered(data.valid_id(), &to, reason, Why::File(code));
            self.send_one(conn, frame);
            return None;
        }
        let offer = offer.expect("refused otherwise");
        data.file = Some(json!({"tid": offer.tid, "size": offer.size, "chunks": offer.chunks}));
        Some(data)
    }

    /// A message was relayed: if it offered a file, the transfer starts, to the
    /// version-2 users it reached.
    pub(super) fn file_offer_delivered(&mut self, conn: ConnId, data: &V2Data) {
        let Some(header) = &data.file else {
            return;
        };
        let Some(Some(offer)) = file_frames::parse_offer(&json!({ "file": header })) else {
            return;
        };
        let Some(name) = self.users.member(conn).map(|m| m.name.clone()) else {
            return;
        };
        let to: Vec<ConnId> = if data.to == "all" {
            self.users.of_version(true)
        } else {
            self.users.by_name(&data.to).into_iter().collect()
        };
        let recipients = to
            .into_iter()
            .filter(|&c| c != conn)
            .filter_map(|c| Some((c, self.users.member(c)?.name.clone())))
            .collect();
        self.transfers
            .start(conn, &name, &offer, recipients, &self.limits, self.clock);
    }

    /// A file frame of a joined connection (its cost already counted).
    pub(super) fn file_frame(&mut self, conn: ConnId, frame: FileFrame, now: Instant) {
        let Some(name) = self.users.member(conn).map(|m| m.name.clone()) else {
            return;
        };
        match frame {
            FileFrame::Chunk { tid, seq, iv, data } => {
                // Encoded once, shared (a pointer) by the hold and every recipient.
                let relayed: FrameText = file_frames::chunk(&name, &tid, seq, &iv, &data).into();
                let outcome = self.transfers.chunk(
                    conn,
                    &name,
                    &tid,
                    seq,
                    data.len(),
                    relayed.clone(),
                    &self.limits,
                    now,
                );
                if let Chunk::Relay(to) = outcome {
                    self.send(to, relayed);
                }
            }
            FileFrame::Ack { tid, from, seq } => {
                self.transfers
                    .ack(conn, &from, &tid, seq, &self.limits, now);
            }
            FileFrame::Cancel {
                tid,
                from: Some(from),
                ..
            } => self
                .transfers
                .cancel_by_recipient(conn, &from, &tid, &self.limits, now),
            FileFrame::Cancel {
                tid,
                from: None,
                reason,
            } => {
                let reason = file_frames::sender_reason(reason.as_deref(), &name);
                self.transfers.cancel_by_sender(conn, &name, &tid, &reason);
            }
        }
        self.file_notes();
    }

    /// The connection is going: its transfers end or go on without it.
    pub(super) fn file_connection_gone(&mut self, conn: ConnId) {
        let name = self.users.member(conn).map(|m| m.name.clone());
        self.transfers
            .gone(conn, name.as_deref(), &self.limits, self.clock);
        self.file_notes();
    }

    pub(super) fn file_timeouts(&mut self, now: Instant) {
        self.transfers.handle_timeout(&self.limits, now);
        self.file_notes();
    }

    /// The transfers' notes, as frames and resumes.
    fn file_notes(&mut self) {
        let notes: Vec<Note> = self.transfers.drain_notes().collect();
        for note in notes {
            match note {
                Note::Window { sender, tid, acked } => {
                    self.send_one(sender, file_frames::window(&tid, acked));
                }
                Note::Status {
                    sender,
                    tid,
                    to,
                    state,
                    reason,
                } => {
                    let frame = file_frames::status(&tid, &to, state, reason.as_deref());
                    self.send_one(sender, frame);
                }
                Note::Cancel {
                    to,
                    from,
                    tid,
                    reason,
                } => self.send_one(to, file_frames::cancel(&from, &tid, &reason)),
                Note::Relay { to, frame } => self.send(to, frame),
                Note::Resume { conn } => self.out.push_back(super::Output::Resume { conn }),
            }
        }
    }
}
