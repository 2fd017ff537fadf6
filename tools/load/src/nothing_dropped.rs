//! The scenarios of "nothing accepted is dropped" (issue 12), one phase each:
//!
//! - `throttle`: one more @all sender writes far above its budget while honest users
//!   chat; all its messages should arrive, in order, at the budget's pace, and the
//!   honest users' p99 stay as it was without it.
//! - `legacy`: 0.9-style 1:1 messages (no `to`: the server cannot tell they are not
//!   for the administrator); all should reach their recipient.
//! - `admin`: one user writes to the administrator at a human pace; the console
//!   (`--console`) should show every message.
//! - `keywork`: honest @all latency while messages to the administrator (each a
//!   decryption) and new joins (each a welcome, if the server has `--welcome`) keep
//!   the private key busy, against the same traffic without them.

use std::time::Duration;

use dyspatcher_client::{ClientEvent, ClientSession};
use tungstenite::Message;

use crate::worker::{ClientSpec, Command};
use crate::{Admin, Args, Dest, Part, PhaseFigures, Plan, Run, join_frame, phases};

const THROTTLE_BASE: u8 = 6;
const THROTTLE_HONEST: u8 = 7;
const THROTTLED: u8 = 8;
const LEGACY: u8 = 9;
const ADMIN: u8 = 10;
const KEYWORK_BASE: u8 = 11;
const KEYWORK_HONEST: u8 = 12;
const KEYWORK_ADMIN: u8 = 13;

/// How long honest users keep writing while the throttled sender's messages drain:
/// at the server's 5/s after a burst of 20, 100 messages take 16 s.
const THROTTLE_HONEST_S: f64 = 20.0;

/// A person writing to the administrator: each sender of the keywork phase at most this.
const HUMAN_RATE: f64 = 2.5;

fn wants(args: &Args, phase: &str) -> bool {
    args.phases.iter().any(|p| p == phase)
}

/// Clients beyond the N that join at the start: those of the keywork phase.
pub fn extra_clients(args: &Args) -> usize {
    if wants(args, "keywork") {
        (args.join_rate * args.duration).round() as usize
    } else {
        0
    }
}

/// The phases whose messages each recipient must see in the order they were sent.
pub fn is_ordered(phase: u8) -> bool {
    phase == THROTTLED
}

/// The administrator of the first users list: the name in capitals.
pub fn admin_of(run: &Run) -> Option<Admin> {
    let text = run
        .shared
        .users_list
        .lock()
        .expect("not poisoned")
        .clone()?;
    let mut session = ClientSession::new(&run.names[0], run.keys[0].clone());
    let users = match session.handle(&text).pop() {
        Some(ClientEvent::UsersList(users)) => users,
        _ => return None,
    };
    users
        .into_iter()
        .filter(|u| {
            u.name.chars().any(|c| c.is_ascii_uppercase())
                && !u.name.chars().any(|c| c.is_ascii_lowercase())
        })
        .find_map(|u| {
            Some(Admin {
                key: u.key?,
                name: u.name,
            })
        })
}

/// Messages at a steady rate from a few clients taking turns.
struct Stream {
    phase: u8,
    /// The first sender (an index into the joined clients), then the next ones.
    first: usize,
    senders: usize,
    count: usize,
    rate: f64,
    legacy: bool,
}

impl Stream {
    fn plan(&self, plans: &mut Vec<Plan>, ids: &[usize], dest: impl Fn(usize) -> Dest) {
        let n = ids.len();
        let senders = self.senders.clamp(1, n);
        for k in 0..self.count {
            let sender = (self.first + k % senders) % n;
            plans.push(Plan {
                phase: self.phase,
                sender: ids[sender],
                dest: dest(sender),
                legacy: self.legacy,
                offset_ns: (k as f64 / self.rate * 1e9) as u64,
            });
        }
    }
}

/// The messages of every scenario asked for.
pub fn plan(run: &Run, ids: &[usize], honest_rate: f64, plans: &mut Vec<Plan>) {
    let args = run.args;
    let n = ids.len();
    let honest_senders = (honest_rate / args.per_sender_rate).ceil() as usize;
    let honest = |plans: &mut Vec<Plan>, phase: u8, secs: f64| {
        let stream = Stream {
            phase,
            first: 0,
            senders: honest_senders,
            count: (honest_rate * secs).round().max(1.0) as usize,
            rate: honest_rate,
            legacy: false,
        };
        stream.plan(plans, ids, |_| Dest::All);
    };
    if wants(args, "throttle") {
        honest(plans, THROTTLE_BASE, args.duration);
        honest(plans, THROTTLE_HONEST, THROTTLE_HONEST_S);
        let stream = Stream {
            phase: THROTTLED,
            first: n / 2,
            senders: 1,
            count: args.throttle_count,
            rate: args.throttle_rate,
            legacy: false,
        };
        stream.plan(plans, ids, |_| Dest::All);
    }
    if wants(args, "legacy") && n >= 2 {
        let stream = Stream {
            phase: LEGACY,
            first: n / 4,
            // Each sender at 1 message/s: a person.
            senders: args.legacy_rate.ceil() as usize,
            count: args.legacy_count,
            rate: args.legacy_rate,
            legacy: true,
        };
        stream.plan(plans, ids, |sender| Dest::User(ids[(sender + n / 2) % n]));
    }
    if wants(args, "admin") {
        let stream = Stream {
            phase: ADMIN,
            first: n / 8,
            senders: 1,
            count: args.admin_count,
            rate: args.admin_rate,
            legacy: false,
        };
        stream.plan(plans, ids, |_| Dest::Admin);
    }
    if wants(args, "keywork") {
        honest(plans, KEYWORK_BASE, args.duration);
        honest(plans, KEYWORK_HONEST, args.duration);
        let stream = Stream {
            phase: KEYWORK_ADMIN,
            first: 3 * n / 4,
            senders: (args.admin_load_rate / HUMAN_RATE).ceil() as usize,
            count: (args.admin_load_rate * args.duration).round() as usize,
            rate: args.admin_load_rate,
            legacy: false,
        };
        stream.plan(plans, ids, |_| Dest::Admin);
    }
}

/// Runs every scenario asked for, after the other phases.
pub fn run(run: &mut Run, plans: &[Plan], frames: &[Message], ids: &[usize]) -> Result<(), String> {
    let args = run.args;
    let n = ids.len() as u64;
    let part = |id: u8, recipients_per_message: u64, console: bool| Part {
        id,
        recipients_per_message,
        console,
    };
    if wants(args, "throttle") {
        let base = sends(run, plans, frames, &[part(THROTTLE_BASE, n, false)]);
        let during = sends(
            run,
            plans,
            frames,
            &[part(THROTTLE_HONEST, n, false), part(THROTTLED, n, false)],
        );
        let (honest, throttled) = (&during[0], &during[1]);
        run.put("throttle_rate", args.throttle_rate);
        run.put("throttle_sent", throttled.messages as f64);
        run.put(
            "throttle_delivered_pct",
            100.0 * throttled.delivered as f64 / (throttled.messages * n).max(1) as f64,
        );
        run.put("throttle_out_of_order", throttled.out_of_order as f64);
        let last_s = throttled.last_ns.saturating_sub(throttled.start_ns) as f64 / 1e9;
        run.put("throttle_last_s", last_s);
        run.put(
            "throttle_pace_per_s",
            throttled.delivered as f64 / n as f64 / last_s,
        );
        run.put("throttle_base_p50_ms", base[0].p50_ms);
        run.put("throttle_base_p99_ms", base[0].p99_ms);
        run.put("throttle_honest_p50_ms", honest.p50_ms);
        run.put("throttle_honest_p99_ms", honest.p99_ms);
        run.put("throttle_p99_ratio", honest.p99_ms / base[0].p99_ms);
        run.put("throttle_honest_missing", honest.missing as f64);
        said(run, "throttle", throttled);
    }
    if wants(args, "legacy") && n >= 2 {
        let f = sends(run, plans, frames, &[part(LEGACY, 1, false)]).remove(0);
        run.put("legacy_sent", f.messages as f64);
        run.put("legacy_delivered", f.delivered as f64);
        run.put("legacy_p50_ms", f.p50_ms);
        run.put("legacy_p99_ms", f.p99_ms);
        run.put(
            "legacy_copies_per_message",
            f.to_others as f64 / f.messages.max(1) as f64,
        );
        said(run, "legacy", &f);
    }
    if wants(args, "admin") {
        let f = sends(run, plans, frames, &[part(ADMIN, 0, true)]).remove(0);
        run.put("admin_rate", args.admin_rate);
        run.put("admin_sent", f.messages as f64);
        run.put("admin_shown", f.console_seen as f64);
        run.put("admin_console_p50_ms", f.console_p50_ms);
        run.put("admin_console_p99_ms", f.console_p99_ms);
        said(run, "admin", &f);
    }
    if wants(args, "keywork") {
        keywork(run, plans, frames, n)?;
    }
    Ok(())
}

fn keywork(run: &mut Run, plans: &[Plan], frames: &[Message], n: u64) -> Result<(), String> {
    let args = run.args;
    let drained_s = welcomes_drained(run, n);
    run.put("keywork_first_welcomes_s", drained_s);
    let base = sends(
        run,
        plans,
        frames,
        &[Part {
            id: KEYWORK_BASE,
            recipients_per_message: n,
            console: false,
        }],
    )
    .remove(0);
    // The joiners: clients N.. of the names, one every 1/rate s from the start.
    let start_ns = run.shared.now_ns() + 500_000_000;
    let joiners: Vec<usize> = (n as usize..run.names.len()).collect();
    let workers = run.workers.len();
    let mut per_worker: Vec<Vec<ClientSpec>> = (0..workers).map(|_| Vec::new()).collect();
    for (k, &id) in joiners.iter().enumerate() {
        per_worker[id % workers].push(ClientSpec {
            id,
            join: join_frame(&run.names[id], run.key_of(id)),
            not_before_ns: start_ns + (k as f64 / args.join_rate * 1e9) as u64,
        });
    }
    for (w, specs) in run.workers.iter().zip(per_worker) {
        w.send(Command::Connect(specs));
    }
    let joined0 = run.sum(|c| &c.joined);
    let unknown0 = run.report.unknown_messages;
    // Joiners receive the honest messages sent after their join, too.
    let recipients = n + joiners.len() as u64 / 2;
    let parts = [
        Part {
            id: KEYWORK_HONEST,
            recipients_per_message: recipients,
            console: false,
        },
        Part {
            id: KEYWORK_ADMIN,
            recipients_per_message: 0,
            console: true,
        },
    ];
    let during = phases(run, plans, frames, &parts, start_ns);
    // Welcomes still on their way.
    std::thread::sleep(Duration::from_millis(500));
    let late = run.collect();
    run.report.merge(late);
    let (honest, admin) = (&during[0], &during[1]);
    run.put("keywork_base_p50_ms", base.p50_ms);
    run.put("keywork_base_p99_ms", base.p99_ms);
    run.put("keywork_p50_ms", honest.p50_ms);
    run.put("keywork_p99_ms", honest.p99_ms);
    run.put("keywork_p99_ratio", honest.p99_ms / base.p99_ms);
    run.put("keywork_admin_sent", admin.messages as f64);
    run.put("keywork_admin_shown", admin.console_seen as f64);
    run.put("keywork_admin_console_p99_ms", admin.console_p99_ms);
    run.put("keywork_joiners", joiners.len() as f64);
    run.put(
        "keywork_joined",
        (run.sum(|c| &c.joined) - joined0).min(joiners.len() as u64) as f64,
    );
    run.put(
        "keywork_welcomes",
        (run.report.unknown_messages - unknown0) as f64,
    );
    said(run, "keywork", admin);
    Ok(())
}

/// Waits until the welcomes of the first N joins (a server with `--welcome` sends
/// each client one) have arrived, or stopped arriving for 3 s, so that the baseline
/// is measured on a quiet server; returns how long that took.
fn welcomes_drained(run: &mut Run, n: u64) -> f64 {
    let started = std::time::Instant::now();
    let mut last = u64::MAX;
    let mut last_change = started;
    while started.elapsed() < Duration::from_secs(300) {
        let late = run.collect();
        run.report.merge(late);
        let got = run.report.unknown_messages;
        if got >= n {
            break;
        }
        if got != last {
            (last, last_change) = (got, std::time::Instant::now());
        } else if last_change.elapsed() > Duration::from_secs(3) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    started.elapsed().as_secs_f64()
}

/// One set of phases from half a second from now.
fn sends(run: &mut Run, plans: &[Plan], frames: &[Message], parts: &[Part]) -> Vec<PhaseFigures> {
    std::thread::sleep(Duration::from_secs(1));
    let start_ns = run.shared.now_ns() + 500_000_000;
    phases(run, plans, frames, parts, start_ns)
}

/// What the server told the clients during a scenario, as notes.
fn said(run: &mut Run, scenario: &str, f: &PhaseFigures) {
    let mut reasons: Vec<_> = f.reasons.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1));
    for (reason, count) in reasons.iter().take(4) {
        run.notes
            .push(format!("{scenario}: the server said {count}×: {reason}"));
    }
}
