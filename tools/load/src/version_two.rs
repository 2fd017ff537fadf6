//! `--v2`: N version-2 clients join with a proof of their key, and members leave one
//! at a time (each departure is a new epoch: every member gets its own
//! `chat-groupkey`). The phases are laid out so that each figure is the server's work
//! or the tool's, not both:
//!
//! 1. **connect**: every client connects, upgrades and sends its version-2 join; the
//!    server answers each with a challenge. Timed until every challenge is in.
//! 2. **sign**: the tool signs every nonce (the server is idle meanwhile); its own
//!    CPU for that is reported apart.
//! 3. **joins**: every proof but the marker's is written at once; timed from the first
//!    proof until every such client has its config, group key and users list. Then
//!    the marker (the last client) sends its proof: **settled** is when every client
//!    has been told the room's size with the marker in (`count` = N + 1, in its users
//!    list or a presence frame; in a large room the marker's join itself is announced
//!    to nobody, PROTOCOL.md "Large rooms"). The server's CPU covers the joins phase
//!    (first proof to settled).
//! 4. **rotate** (`--rotations R`, default 3): one member leaves, and the time and the
//!    server's CPU (less its idle rate) run until every remaining member has a new
//!    `chat-groupkey`.
//!
//! Sampled clients (`--sample-every`) count their users exactly and unwrap their
//! member key and group keys: the figures come with a check of what arrived.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dyspatcher_client::frame;
use dyspatcher_crypto::{KeyPair, SecretKey, b64_decode, group_key_aad};
use serde_json::Value;
use tungstenite::Message;

use crate::proc_stat::{Server, TOOL_RSS_LIMIT, own_rss};
use crate::proof::{ProofKey, sign_all};
use crate::report::{self, Figures};
use crate::target::Target;
use crate::worker::{self, ClientSpec, Command, Counters, Handle, Report, Sample, Shared, V2Watch};
use crate::{Args, mib, tls};

/// What a phase may take at most before the tool gives up on it.
const PHASE_LIMIT: Duration = Duration::from_secs(120);

/// The server's join deadline (`join_timeout`): proofs written later than this after
/// the first connection are refused. The tool says so when it gets near.
const JOIN_TIMEOUT_S: f64 = 30.0;

struct V2Run<'a> {
    args: &'a Args,
    server: Option<Server>,
    workers: Vec<Handle>,
    names: Vec<String>,
    keys: Vec<ProofKey>,
    figures: Figures,
    notes: Vec<String>,
}

impl V2Run<'_> {
    fn sum(&self, f: impl Fn(&Counters) -> &std::sync::atomic::AtomicU64) -> u64 {
        self.workers
            .iter()
            .map(|w| f(&w.counters).load(std::sync::atomic::Ordering::Relaxed))
            .sum()
    }

    fn cpu(&self) -> Option<u64> {
        self.server.and_then(|s| s.cpu_ns())
    }

    fn put(&mut self, key: &'static str, value: f64) {
        self.figures.push((key, value));
    }

    fn worker_of(&self, id: usize) -> &Handle {
        &self.workers[id % self.workers.len()]
    }

    fn collect(&self) -> Report {
        let mut merged = Report::default();
        for w in &self.workers {
            let (tx, rx) = std::sync::mpsc::channel();
            w.send(Command::Collect(tx));
            if let Ok(r) = rx.recv_timeout(Duration::from_secs(60)) {
                merged.merge(r);
            }
        }
        merged
    }

    /// Waits until `done` holds; false if `limit` passed first. Exits the process if
    /// the tool's own memory passes [`TOOL_RSS_LIMIT`].
    fn wait(&self, limit: Duration, what: &str, done: impl Fn(&Self) -> bool) -> bool {
        let started = Instant::now();
        let mut last_print = Instant::now();
        let mut last_rss = Instant::now();
        while !done(self) {
            if started.elapsed() > limit {
                return false;
            }
            if last_rss.elapsed() > Duration::from_millis(200) {
                last_rss = Instant::now();
                if own_rss().is_some_and(|r| r > TOOL_RSS_LIMIT) {
                    eprintln!(
                        "dyspatcher-load: the tool passed {} GiB while {what}: stopped",
                        TOOL_RSS_LIMIT >> 30
                    );
                    std::process::exit(3);
                }
            }
            if last_print.elapsed() > Duration::from_secs(10) {
                eprintln!("  {what}: {:.0} s...", started.elapsed().as_secs_f64());
                last_print = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }

    /// The server's CPU rate when nobody does anything, ns per s.
    fn idle_rate(&self, over: Duration) -> f64 {
        let (Some(a), t) = (self.cpu(), Instant::now()) else {
            return 0.0;
        };
        std::thread::sleep(over);
        let b = self.cpu().unwrap_or(a);
        (b - a) as f64 / t.elapsed().as_secs_f64()
    }
}

fn join_frame(name: &str, key: &KeyPair) -> Message {
    Message::text(frame(
        "signal",
        name,
        serde_json::json!({"code": "chat-join", "publickey": key.public().spki_b64(), "prove": true, "v": 2}),
    ))
}

pub fn run(args: &Args, target: Target, server: Option<Server>) -> Result<(), String> {
    let n = args.users;
    if n < 2 {
        return Err("--v2: at least 2 users (the last is the marker)".into());
    }
    if args.keys.is_some() {
        return Err("--v2: one key per client (the server allows one live session per key)".into());
    }
    let wanted: Vec<&str> = args.phases.iter().map(String::as_str).collect();
    if let Some(p) = wanted.iter().find(|p| !["join", "rotate"].contains(p)) {
        return Err(format!("--v2 runs the phases join and rotate, not {p}"));
    }
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let pairs = crate::keys::load_or_make(&args.keys_dir, n, args.key_bits, cores)?;
    eprintln!("preparing {n} keys for the {:?} signer...", args.signer);
    let keys = pairs
        .into_iter()
        .map(|k| ProofKey::new(k, args.signer))
        .collect::<Result<Vec<_>, _>>()?;
    let tag: [u8; 2] = dyspatcher_crypto::random_bytes();
    let tag: String = tag.iter().map(|b| char::from(b'a' + b % 26)).collect();
    let names: Vec<String> = (0..n).map(|i| format!("l{tag}{i:05}")).collect();
    let sample_every = args.sample_every.unwrap_or((n / 8).max(1));
    let shared = Arc::new(Shared {
        t0: Instant::now(),
        aeskey: std::sync::Mutex::new(None),
        users_list: std::sync::Mutex::new(None),
        v2: Some(V2Watch {
            room: n as u64 + 1,
            sample_every,
        }),
    });
    let tls = args.trust.map(tls::client_config);
    let window = args.window.div_ceil(args.threads);
    let workers = (0..args.threads)
        .map(|_| worker::spawn(target.clone(), tls.clone(), window, shared.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("worker: {e}"))?;
    let mut run = V2Run {
        args,
        server,
        workers,
        names,
        keys,
        figures: Vec::new(),
        notes: Vec::new(),
    };
    run.put("n", n as f64);
    if let Some(s) = server {
        run.put("idle_rss_mib", mib(s.rss().unwrap_or(0)));
    }
    let joined = joins(&mut run, &target)?;
    if wanted.contains(&"rotate") && joined {
        rotations(&mut run)?;
    }
    if let Some(s) = server {
        run.put("peak_rss_mib", mib(s.peak_rss().unwrap_or(0)));
    }
    for w in std::mem::take(&mut run.workers) {
        w.send(Command::Stop);
        let _ = w.thread.join();
    }
    println!(
        "\ndyspatcher-load: {n} version-2 users (RSA-{}, proofs by {:?}), {}{}",
        args.key_bits,
        args.signer,
        target.host,
        if target.secure { " over TLS" } else { "" }
    );
    report::print_table(&run.figures);
    for note in &run.notes {
        println!("note: {note}");
    }
    if let Some(path) = &args.json {
        std::fs::write(path, report::to_json(&run.figures, &run.notes))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// What the waves of phases 1–3 add up to.
#[derive(Default)]
struct JoinTotals {
    connect_s: f64,
    connect_cpu_ns: u64,
    sign_s: f64,
    sign_cpu_s: f64,
    /// First proof of a wave to every client of it joined, summed over the waves.
    join_s: f64,
    join_cpu_ns: u64,
    /// The oldest connection when its wave's proofs went out, s.
    oldest_s: f64,
}

/// Phases 1–3 for the clients `ids`, as one wave: connect, sign, prove, joined.
/// False if some client got no challenge or did not join.
fn wave(run: &V2Run, target: &Target, ids: &[usize], t: &mut JoinTotals) -> Result<bool, String> {
    let goal = |r: &V2Run, c: fn(&Counters) -> &std::sync::atomic::AtomicU64| {
        r.sum(c) + r.sum(|c| &c.failed)
    };
    let (challenged0, joined0) = (goal(run, |c| &c.challenged), goal(run, |c| &c.joined));
    let cpu0 = run.cpu();
    let started = Instant::now();
    let mut per_worker: Vec<Vec<ClientSpec>> = (0..run.workers.len()).map(|_| Vec::new()).collect();
    for &id in ids {
        per_worker[id % run.workers.len()].push(ClientSpec {
            id,
            join: join_frame(&run.names[id], &run.keys[id].pair),
            not_before_ns: 0,
        });
    }
    for (w, specs) in run.workers.iter().zip(per_worker) {
        w.send(Command::Connect(specs));
    }
    let want = ids.len() as u64;
    let challenged = run.wait(PHASE_LIMIT, "connecting", |r| {
        goal(r, |c| &c.challenged) >= challenged0 + want
    });
    t.connect_s += started.elapsed().as_secs_f64();
    let cpu1 = run.cpu();
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        t.connect_cpu_ns += b - a;
    }
    let challenges = run.collect().challenges;
    if !challenged || challenges.len() < ids.len() {
        return Ok(false);
    }
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let signed = sign_all(&challenges, &run.names, &run.keys, &target.host, cores)?;
    t.sign_s += signed.wall_s;
    t.sign_cpu_s += signed.cpu_s;
    t.oldest_s = t.oldest_s.max(started.elapsed().as_secs_f64());
    let cpu0 = run.cpu();
    let proving = Instant::now();
    let mut per_worker: Vec<Vec<(usize, Message)>> =
        (0..run.workers.len()).map(|_| Vec::new()).collect();
    for (id, proof) in signed.frames {
        per_worker[id % run.workers.len()].push((id, proof));
    }
    for (w, proofs) in run.workers.iter().zip(per_worker) {
        w.send(Command::Proofs(proofs));
    }
    let joined = run.wait(PHASE_LIMIT, "joining", |r| {
        goal(r, |c| &c.joined) >= joined0 + want
    });
    t.join_s += proving.elapsed().as_secs_f64();
    if let (Some(a), Some(b)) = (cpu0, run.cpu()) {
        t.join_cpu_ns += b - a;
    }
    Ok(joined && run.sum(|c| &c.failed) == 0)
}

/// Phases 1–3; whether every client settled. The clients but the last join in waves
/// of `--wave` (default: all at once); then the marker (the last) connects, proves
/// and joins, and the others must see it join.
fn joins(run: &mut V2Run, target: &Target) -> Result<bool, String> {
    let n = run.args.users;
    let marker = n - 1;
    let idle = run.idle_rate(Duration::from_millis(500));
    run.put("idle_cpu_ms_per_s", idle / 1e6);
    let bytes0 = run.sum(|c| &c.bytes_in);
    let first = Instant::now();
    let mut t = JoinTotals::default();
    let others: Vec<usize> = (0..marker).collect();
    let wave_size = run.args.wave.unwrap_or(marker).max(1);
    let mut fine = true;
    for ids in others.chunks(wave_size) {
        eprintln!("wave of {} clients from {}...", ids.len(), ids[0]);
        fine = wave(run, target, ids, &mut t)?;
        if !fine {
            break;
        }
    }
    // The marker: connected only now, so that its join is the last.
    let mut marker_t = JoinTotals::default();
    let marker_cpu0 = run.cpu();
    let settled = fine
        && wave(run, target, &[marker], &mut marker_t)?
        && run.wait(PHASE_LIMIT, "settling", |r| {
            r.sum(|c| &c.settled) + r.sum(|c| &c.failed) >= n as u64
        });
    let marker_cpu = run.cpu();
    let settled_s = t.join_s + marker_t.connect_s + marker_t.sign_s + marker_t.join_s;
    run.put("v2_connect_s", t.connect_s);
    run.put("v2_connect_cpu_s", t.connect_cpu_ns as f64 / 1e9);
    run.put("v2_sign_s", t.sign_s);
    run.put("v2_sign_cpu_s", t.sign_cpu_s);
    run.put("v2_sign_cpu_us_each", t.sign_cpu_s * 1e6 / (n - 1) as f64);
    run.put("v2_join_s", t.join_s);
    run.put("v2_join_cpu_s", t.join_cpu_ns as f64 / 1e9);
    run.put(
        "v2_marker_s",
        marker_t.connect_s + marker_t.sign_s + marker_t.join_s,
    );
    run.put("v2_settled_s", settled_s);
    run.put("v2_total_s", first.elapsed().as_secs_f64());
    if t.oldest_s > JOIN_TIMEOUT_S * 0.8 {
        run.notes.push(format!(
            "a connection was {:.0} s old when its proof went out (the server's join \
             deadline is {JOIN_TIMEOUT_S:.0} s): use smaller waves (--wave)",
            t.oldest_s
        ));
    }
    run.put("join_failed", run.sum(|c| &c.failed) as f64);
    run.put("join_received_mib", mib(run.sum(|c| &c.bytes_in) - bytes0));
    if let (Some(a), Some(b)) = (marker_cpu0, marker_cpu) {
        run.put("v2_settled_cpu_s", (t.join_cpu_ns + (b - a)) as f64 / 1e9);
    }
    if let Some(s) = run.server {
        std::thread::sleep(Duration::from_millis(300));
        run.put("rss_mib", mib(s.rss().unwrap_or(0)));
        run.put("settled_peak_rss_mib", mib(s.peak_rss().unwrap_or(0)));
    }
    let report = run.collect();
    if !settled {
        run.notes.push(format!(
            "not settled: {} of {n} clients saw the room's size reach {}",
            run.sum(|c| &c.settled),
            n + 1
        ));
    }
    note_ends(run, &report);
    check_samples(run, &report.samples, n as i64 + 1, 0);
    Ok(settled)
}

/// Phase 4: members leave one at a time; each departure's rotation, timed.
fn rotations(run: &mut V2Run) -> Result<(), String> {
    let n = run.args.users;
    let every = run.args.sample_every.unwrap_or((n / 8).max(1));
    // Leavers: from the end, neither sampled nor the marker.
    let leavers: Vec<usize> = (0..n - 1)
        .rev()
        .filter(|id| !id.is_multiple_of(every))
        .take(run.args.rotations)
        .collect();
    let mut wall_ms = Vec::new();
    let mut cpu_ms = Vec::new();
    let mut members = n as u64;
    for &id in &leavers {
        std::thread::sleep(Duration::from_millis(500));
        let idle = run.idle_rate(Duration::from_millis(500));
        members -= 1;
        let keys0 = run.sum(|c| &c.groupkeys);
        let cpu0 = run.cpu();
        let started = Instant::now();
        run.worker_of(id).send(Command::Leave(id));
        let done = run.wait(Duration::from_secs(60), "rotating", |r| {
            r.sum(|c| &c.groupkeys) >= keys0 + members
        });
        let wall = started.elapsed();
        if !done {
            run.notes.push(format!(
                "rotation after {id} left: {} of {members} members got a new group key",
                run.sum(|c| &c.groupkeys) - keys0
            ));
            break;
        }
        wall_ms.push(wall.as_secs_f64() * 1e3);
        if let (Some(a), Some(b)) = (cpu0, run.cpu()) {
            let busy = (b - a) as f64 - idle * wall.as_secs_f64();
            cpu_ms.push(busy.max(0.0) / 1e6);
        }
    }
    run.put("rotations", wall_ms.len() as f64);
    if !wall_ms.is_empty() {
        run.put("rotation_ms", report::median(&mut wall_ms));
    }
    if !cpu_ms.is_empty() {
        let all: Vec<String> = cpu_ms.iter().map(|v| format!("{v:.1}")).collect();
        run.notes
            .push(format!("rotation server CPU each, ms: {}", all.join(", ")));
        run.put("rotation_cpu_ms", report::median(&mut cpu_ms));
    }
    // The room's size after the last departure may come up to `count_every` (500 ms)
    // after its group key.
    std::thread::sleep(Duration::from_millis(700));
    let report = run.collect();
    let mut epochs: Vec<_> = report.epochs.iter().collect();
    epochs.sort();
    run.notes.push(format!(
        "group keys received during the rotations, by epoch: {}",
        epochs
            .iter()
            .map(|(e, c)| format!("{e}: {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    check_samples(
        run,
        &report.samples,
        (n - wall_ms.len()) as i64 + 1,
        wall_ms.len(),
    );
    Ok(())
}

/// Checks the sampled clients: their count of users, and that their group keys
/// unwrap (with the member key the server wrapped for them) to one key per epoch,
/// a new one at each rotation.
fn check_samples(run: &mut V2Run, samples: &[Sample], users: i64, rotations: usize) {
    if samples.is_empty() {
        run.notes
            .push("no sampled client is connected: nothing checked".into());
        return;
    }
    let mut wrong_view = Vec::new();
    let mut failures = Vec::new();
    let mut by_epoch: std::collections::BTreeMap<u64, Vec<[u8; 32]>> = Default::default();
    let mut views: Vec<i64> = Vec::new();
    for s in samples {
        if s.count != users {
            wrong_view.push(format!("client {} was told of {} users", s.id, s.count));
        }
        views.push(s.view);
        match unwrap_keys(&run.keys[s.id].pair, &run.names[s.id], s) {
            Ok(keys) => {
                if keys.len() != rotations + 1 {
                    failures.push(format!("client {} got {} group keys", s.id, keys.len()));
                }
                for (epoch, key) in keys {
                    by_epoch.entry(epoch).or_default().push(key);
                }
            }
            Err(e) => failures.push(format!("client {}: {e}", s.id)),
        }
    }
    let one_per_epoch = by_epoch
        .values()
        .all(|ks| ks.windows(2).all(|w| w[0] == w[1]));
    let distinct: std::collections::HashSet<_> =
        by_epoch.values().filter_map(|k| k.first()).collect();
    if !one_per_epoch || distinct.len() != by_epoch.len() {
        failures.push("group keys differ within an epoch or repeat across epochs".into());
    }
    views.sort_unstable();
    run.notes.push(format!(
        "sampled {} clients: room's size {}; users listed or announced to them {}–{}; group keys {}",
        samples.len(),
        if wrong_view.is_empty() {
            format!("= {users} for all")
        } else {
            wrong_view.join(", ")
        },
        views.first().unwrap_or(&0),
        views.last().unwrap_or(&0),
        if failures.is_empty() {
            format!(
                "unwrapped, one per epoch, new at each rotation (epochs {:?})",
                by_epoch.keys().collect::<Vec<_>>()
            )
        } else {
            failures.join("; ")
        }
    ));
}

/// The member key (RSA-OAEP) and each group key (AES-GCM under it) of a sample.
fn unwrap_keys(key: &KeyPair, name: &str, s: &Sample) -> Result<Vec<(u64, [u8; 32])>, String> {
    let wrapped = b64_decode(&s.memberkey).ok_or("no member key")?;
    let member = key
        .decrypt(&wrapped)
        .ok_or("the member key does not decrypt")?;
    let member = SecretKey::from_slice(&member).ok_or("the member key is not 32 bytes")?;
    s.groupkeys
        .iter()
        .map(|text| {
            let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
            let d = &v["data"];
            let epoch = d["epoch"].as_u64().ok_or("no epoch")?;
            let field = |f: &str| d[f].as_str().and_then(b64_decode).ok_or(format!("no {f}"));
            let raw = member
                .decrypt(&field("iv")?, &field("key")?, &group_key_aad(epoch, name))
                .ok_or(format!("the group key of epoch {epoch} does not unwrap"))?;
            let raw: [u8; 32] = raw.try_into().map_err(|_| "a group key not of 32 bytes")?;
            Ok((epoch, raw))
        })
        .collect()
}

fn note_ends(run: &mut V2Run, report: &Report) {
    let mut reasons: Vec<_> = report.reasons.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1));
    for (reason, count) in reasons.iter().take(5) {
        run.notes.push(format!("server said {count}×: {reason}"));
    }
    let mut ends: Vec<_> = report.ends.iter().collect();
    ends.sort_by(|a, b| b.1.cmp(a.1));
    for (why, count) in ends.iter().take(5) {
        run.notes.push(format!("connections ended {count}×: {why}"));
    }
}
