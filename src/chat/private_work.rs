//! Private-key work the chat hands out instead of doing it: an RSA-4096 private
//! operation costs 13-24 ms here, and the event loop must not stop for it. The chat
//! emits jobs ([`super::Output::PrivateKey`]), the shell runs them elsewhere (a worker
//! pool; inline in the unit tests) and feeds the results back
//! ([`super::Chat::private_key_done`]).
//!
//! What a job is for is kept here, as a task (one task may need several jobs: a console
//! message in three parts is three signatures). Tasks wait in lanes, and a lane releases
//! its tasks in the order they were started, whatever order their jobs finish in: a
//! connection's welcome parts in order, and its messages to the administrator shown in
//! the order they came; the administrator's console messages in the order typed.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use super::ConnId;
use super::frames::MessageData;
use super::v2_frames::V2Data;
use crate::console::ConsoleLine;
use crate::crypto::{KeyPair, PublicIdentity};

/// The chat's name for one private-key operation it asked for.
pub type JobId = u64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivateOp {
    /// RSA-PSS signature with the administrator's key over these bytes.
    Sign(Vec<u8>),
    /// RSA-OAEP decryption with the administrator's key.
    Decrypt(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivateResult {
    Signature(Vec<u8>),
    /// `None`: it was not encrypted for the administrator's key.
    Plaintext(Option<Vec<u8>>),
}

impl PrivateOp {
    /// Does the work: the costly part, for whoever runs jobs.
    pub fn run(&self, key: &KeyPair) -> PrivateResult {
        match self {
            PrivateOp::Sign(bytes) => PrivateResult::Signature(key.sign(bytes)),
            PrivateOp::Decrypt(bytes) => PrivateResult::Plaintext(key.decrypt(bytes)),
        }
    }
}

/// Whose order a task keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// The administrator's console messages.
    Console,
    /// One connection's: its welcome, its messages to the administrator.
    Conn(ConnId),
}

/// The connection a message came from, as it was when the message arrived, so that the
/// message is still shown if its sender leaves before its decryption is done.
#[derive(Debug, Clone)]
pub struct Sender {
    /// `None` once that connection is gone: nobody to answer.
    pub conn: Option<ConnId>,
    pub name: String,
    pub identity: PublicIdentity,
    pub is_web_admin: bool,
}

/// Who a signed frame goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    Conn(ConnId),
    /// Whoever of its version is connected when it is signed.
    Everybody,
    /// Left meanwhile.
    Gone,
    /// A user who left a short while ago (`held.rs`): the frame, once signed, is held
    /// for the key it is wrapped with.
    Held,
}

/// A frame of the administrator's waiting for its signature: result number `sig` of
/// its task (frames of one task may share one: a version-2 copy of the same envelope).
#[derive(Debug)]
pub enum Unsent {
    /// A 0.9 frame: the signature goes in its `signature`.
    V09 { data: MessageData, sig: usize },
    /// A version-2 1:1 frame: the envelope, sealed with its signature, is encrypted
    /// under a fresh key wrapped for `identity`; `to` is the frame's `to`.
    V2Direct {
        envelope: Rc<[u8]>,
        id: String,
        identity: PublicIdentity,
        to: String,
        sig: usize,
    },
    /// A version-2 message to all, under the group key of `epoch` (sent only if that
    /// epoch is still the current one once it is signed).
    V2All {
        envelope: Rc<[u8]>,
        id: String,
        epoch: u64,
        sig: usize,
    },
}

#[derive(Debug)]
pub enum Task {
    /// Frames to sign, then send in this order; then the console line, if any.
    Signed {
        sends: Vec<(Recipient, Unsent)>,
        line: Option<ConsoleLine>,
    },
    /// A message that may be for the administrator, to decrypt, check and show. `trial`:
    /// a 0.9 frame without `to`, already relayed to everybody else.
    ForAdmin {
        sender: Box<Sender>,
        data: MessageData,
        signature: Vec<u8>,
        trial: bool,
    },
    /// A version-2 message to the administrator: its key to unwrap, then its sealed
    /// payload to open, check and show.
    ForAdminV2 {
        sender: Box<Sender>,
        data: V2Data,
        iv: Vec<u8>,
        ciphertext: Vec<u8>,
    },
}

impl Task {
    fn connection_gone(&mut self, conn: ConnId) {
        match self {
            Task::Signed { sends, .. } => {
                for (to, _) in sends {
                    if *to == Recipient::Conn(conn) {
                        *to = Recipient::Gone;
                    }
                }
            }
            Task::ForAdmin { sender, .. } | Task::ForAdminV2 { sender, .. } => {
                if sender.conn == Some(conn) {
                    sender.conn = None;
                }
            }
        }
    }
}

#[derive(Debug)]
struct Entry {
    task: Task,
    results: Vec<Option<PrivateResult>>,
    missing: usize,
}

#[derive(Debug, Default)]
pub struct PrivateWork {
    next_job: JobId,
    next_task: u64,
    /// Jobs handed out and not yet done: the task and the place of each.
    jobs: HashMap<JobId, (u64, usize)>,
    tasks: HashMap<u64, Entry>,
    lanes: HashMap<Lane, VecDeque<u64>>,
}

impl PrivateWork {
    /// Starts a task that needs `ops` (at least one): returns the jobs to hand out.
    pub fn start(
        &mut self,
        lane: Lane,
        task: Task,
        ops: Vec<PrivateOp>,
    ) -> Vec<(JobId, PrivateOp)> {
        debug_assert!(!ops.is_empty(), "a task without work would never finish");
        let id = self.next_task;
        self.next_task += 1;
        let jobs: Vec<(JobId, PrivateOp)> = ops
            .into_iter()
            .enumerate()
            .map(|(place, op)| {
                let job = self.next_job;
                self.next_job += 1;
                self.jobs.insert(job, (id, place));
                (job, op)
            })
            .collect();
        let entry = Entry {
            task,
            results: vec![None; jobs.len()],
            missing: jobs.len(),
        };
        self.tasks.insert(id, entry);
        self.lanes.entry(lane).or_default().push_back(id);
        jobs
    }

    /// A job is done: the tasks it completes, with their results, in their lanes' order
    /// (possibly none yet, possibly several that waited behind this one).
    pub fn done(&mut self, job: JobId, result: PrivateResult) -> Vec<(Task, Vec<PrivateResult>)> {
        let Some((id, place)) = self.jobs.remove(&job) else {
            return Vec::new();
        };
        if let Some(entry) = self.tasks.get_mut(&id)
            && entry.results[place].is_none()
        {
            entry.results[place] = Some(result);
            entry.missing -= 1;
        }
        let mut finished = Vec::new();
        self.lanes.retain(|_, queue| {
            while let Some(front) = queue.front()
                && self.tasks.get(front).is_some_and(|e| e.missing == 0)
            {
                let entry = self.tasks.remove(front).expect("looked up just now");
                queue.pop_front();
                let results = entry.results.into_iter().flatten().collect();
                finished.push((entry.task, results));
            }
            !queue.is_empty()
        });
        finished
    }

    /// Jobs handed out and not done yet.
    pub fn in_flight(&self) -> usize {
        self.jobs.len()
    }

    /// Tasks waiting in one lane.
    pub fn waiting_in(&self, lane: Lane) -> usize {
        self.lanes.get(&lane).map_or(0, VecDeque::len)
    }

    /// A connection is gone: its tasks still finish (a message it sent is still shown)
    /// but send it nothing, since its number may soon be another connection's.
    pub fn connection_gone(&mut self, conn: ConnId) {
        for entry in self.tasks.values_mut() {
            entry.task.connection_gone(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed() -> Task {
        Task::Signed {
            sends: Vec::new(),
            line: None,
        }
    }

    fn sig(n: u8) -> PrivateResult {
        PrivateResult::Signature(vec![n])
    }

    #[test]
    fn a_lane_releases_its_tasks_in_order_whatever_order_jobs_finish_in() {
        let mut work = PrivateWork::default();
        let first = work.start(Lane::Console, signed(), vec![PrivateOp::Sign(vec![1]); 2]);
        let second = work.start(Lane::Console, signed(), vec![PrivateOp::Sign(vec![2])]);
        assert_eq!(work.in_flight(), 3);
        assert!(
            work.done(second[0].0, sig(2)).is_empty(),
            "waits for the first"
        );
        assert!(
            work.done(first[1].0, sig(11)).is_empty(),
            "a part still missing"
        );
        let finished = work.done(first[0].0, sig(10));
        let results: Vec<_> = finished.into_iter().map(|(_, r)| r).collect();
        assert_eq!(results, vec![vec![sig(10), sig(11)], vec![sig(2)]]);
        assert_eq!(work.in_flight(), 0);
        assert_eq!(work.waiting_in(Lane::Console), 0);
    }

    #[test]
    fn lanes_do_not_wait_for_each_other_and_unknown_jobs_are_ignored() {
        let mut work = PrivateWork::default();
        let _slow = work.start(Lane::Conn(1), signed(), vec![PrivateOp::Sign(vec![1])]);
        let fast = work.start(Lane::Conn(2), signed(), vec![PrivateOp::Sign(vec![2])]);
        assert_eq!(work.done(fast[0].0, sig(2)).len(), 1);
        assert_eq!(work.waiting_in(Lane::Conn(1)), 1);
        assert!(work.done(999, sig(0)).is_empty());
    }
}
