//! `dyspatcher-load`: a load tool for any server that speaks the dyspatcher 0.9
//! protocol (this one, or the Python original). It makes or loads the clients' keys
//! and signs every message before it measures anything, then measures: N joins, @all
//! deliveries per second and their end-to-end latency, 1:1 latency, honest users'
//! latency while one client floods, and, given the server's pid, its memory and CPU.
//! docs/PERFORMANCE.md ("Load") has the figures and the commands.
//!
//! ```text
//! dyspatcher-load --url ws://127.0.0.1:8081/ -n 1000 --server-pid 1234 --routing
//! dyspatcher-load --url wss://127.0.0.1:8443/ws --cert-sha256 AB:CD:… -n 1000
//! dyspatcher-load --summarize run1.json run2.json ...
//! ```

mod connection;
mod console_tail;
mod flood;
mod keys;
mod nothing_dropped;
mod page;
mod proc_stat;
mod proof;
mod report;
mod server_frame;
mod stream;
mod target;
mod tls;
mod version_two;
mod worker;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use dyspatcher_client::{frame, plaintext, seal_aes, seal_rsa};
use dyspatcher_crypto::{GroupKey, KeyPair, PublicIdentity, b64_decode, b64_encode, random_bytes};
use rustls::ClientConfig;
use serde_json::Value;
use tungstenite::Message;

use console_tail::ConsoleTail;
use proc_stat::Server;
use proof::SignerKind;
use report::{Figures, quantile};
use server_frame::SIG_KEY;
use target::Target;
use tls::Trust;
use worker::{
    ADMINISTRATOR, ClientSpec, Command, EVERYBODY, Handle, MsgInfo, Report, Send, Shared, Table,
};

const HELP: &str = "\
dyspatcher-load: load test of a dyspatcher (0.9 protocol) server on this machine

Usage: dyspatcher-load --url ws://127.0.0.1:PORT/ [OPTIONS]
       dyspatcher-load --url wss://127.0.0.1:PORT/ws --cert-sha256 HEX [OPTIONS]
       dyspatcher-load --summarize RUN.json...   (medians of runs, a Markdown table)

  --url URL               the server's WebSocket URL, ws:// or wss:// (loopback addresses only)
  --cert-sha256 HEX       over TLS, accept only the certificate with this SHA-256 (the
                          server's banner prints it, AB:CD:… or plain hex)
  --insecure              over TLS, accept any certificate
  -n, --users N           clients to connect and join (default 100)
  --routing               our extensions: 1:1 frames carry `to` (routed), messages an `id`;
                          without it, frames are exactly what 0.9 clients send
  --server-pid PID        read the server's memory and CPU from /proc/PID
  --page URL              also time loading the page (and its assets) at URL (http:// or https://)
  --phases LIST           of join,all,burst,direct,flood,throttle,legacy,admin,keywork
                          (default: join,all,burst,direct,flood)
  --duration S            seconds of each steady phase (default 5)
  --all-rate R            @all messages/s of the steady phase (default 50000/N, 1..50)
  --burst-deliveries D    deliveries aimed at in the burst phase (default 300000)
  --burst-max M           at most M messages in the burst (default 200: our server cuts
                          every reader when one loop turn queues more than 256 KiB for it)
  --direct-rate R         1:1 messages/s (default 10)
  --honest-rate R         honest @all messages/s in the flood phase (default: as --all-rate, at most 10)
  --flood KIND            all (a valid @all replayed), rsa (legacy 1:1 junk of the admin key's
                          size), junk (text that is not JSON); default all
  --no-reconnect          the flooder does not come back once cut
  --per-sender-rate R     messages/s per sending client (default 4: under the server's 5)
  --throttle-rate R       throttle: one more @all sender at R messages/s (default 50)
  --throttle-count M      throttle: its messages (default 100)
  --legacy-count M        legacy: 0.9-style 1:1 messages, always without `to` (default 200)
  --legacy-rate R         legacy: their messages/s, each sender at 1/s (default 20)
  --admin-count M         admin: messages to the administrator from one user (default 10)
  --admin-rate R          admin: their messages/s (default 2.5)
  --admin-load-rate R     keywork: messages/s to the administrator, senders at 2.5/s (default 20)
  --join-rate R           keywork: new clients joining per second (default 10)
  --console FILE          the server's console output (its stdout or --transcription): the
                          admin and keywork phases count the messages it shows
  --keys K                distinct client keys, shared round-robin (default: one per client;
                          a server that allows one live session per key refuses shared ones)
  --key-bits B            (default 4096)
  --keys-dir DIR          where keys are kept between runs (default target/load-keys)
  --threads T             client threads (default 2)
  --window W              connections being set up at once (default 64)
  --text-bytes B          length of a message's text (default 100)
  --join-timeout S        (default 900)
  --v2                    version-2 clients (docs/PROTOCOL.md \"Version 2\"): joins with a proof
                          of the key, settled, rotations; phases join,rotate only (default both)
  --signer S              --v2: ring (default) or rsa signs the proofs
  --wave W                --v2: clients connect, sign and prove W at a time (default: all but
                          the last at once; the server's join deadline is 30 s)
  --rotations R           --v2: members that leave one after another (default 3)
  --sample-every K        --v2: every K-th client checks its users count and unwraps its
                          keys (default N/8)
  --signing-cost K        time K proofs with each signer on one thread, then exit
  --compose-keys K        make the missing keys of the first K in --keys-dir from the primes
                          of those present, then exit (load keys only: they share primes)
  --json FILE             also write the figures as JSON (for --summarize)
  -h, --help";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FloodKind {
    All,
    Rsa,
    Junk,
}

struct Args {
    url: String,
    /// Which certificate a TLS server may present.
    trust: Option<Trust>,
    users: usize,
    routing: bool,
    server_pid: Option<u32>,
    page: Option<String>,
    phases: Vec<String>,
    duration: f64,
    all_rate: Option<f64>,
    burst_deliveries: usize,
    burst_max: usize,
    direct_rate: f64,
    honest_rate: Option<f64>,
    flood: FloodKind,
    reconnect: bool,
    per_sender_rate: f64,
    throttle_rate: f64,
    throttle_count: usize,
    legacy_count: usize,
    legacy_rate: f64,
    admin_count: usize,
    admin_rate: f64,
    admin_load_rate: f64,
    join_rate: f64,
    console: Option<PathBuf>,
    keys: Option<usize>,
    key_bits: usize,
    keys_dir: PathBuf,
    threads: usize,
    window: usize,
    text_bytes: usize,
    join_timeout: f64,
    json: Option<PathBuf>,
    v2: bool,
    signer: SignerKind,
    rotations: usize,
    wave: Option<usize>,
    sample_every: Option<usize>,
    signing_cost: Option<usize>,
    compose_keys: Option<usize>,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut a = pico_args::Arguments::from_env();
    if a.contains(["-h", "--help"]) {
        println!("{HELP}");
        return Ok(None);
    }
    if a.contains("--summarize") {
        let files: Vec<String> = a
            .finish()
            .into_iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        println!("{}", report::summarize(&files)?);
        return Ok(None);
    }
    let e = |e: pico_args::Error| e.to_string();
    let a_phases_given = std::env::args().any(|x| x == "--phases" || x.starts_with("--phases="));
    let mut args = Args {
        url: a
            .opt_value_from_str("--url")
            .map_err(e)?
            .unwrap_or_default(),
        trust: match (
            a.opt_value_from_str::<_, String>("--cert-sha256")
                .map_err(e)?,
            a.contains("--insecure"),
        ) {
            (Some(_), true) => return Err("--cert-sha256 or --insecure, not both".into()),
            (Some(hex), false) => Some(Trust::parse_sha256(&hex)?),
            (None, true) => Some(Trust::Any),
            (None, false) => None,
        },
        users: a
            .opt_value_from_str(["-n", "--users"])
            .map_err(e)?
            .unwrap_or(100),
        routing: a.contains("--routing"),
        server_pid: a.opt_value_from_str("--server-pid").map_err(e)?,
        page: a.opt_value_from_str("--page").map_err(e)?,
        phases: a
            .opt_value_from_str::<_, String>("--phases")
            .map_err(e)?
            .unwrap_or_else(|| "join,all,burst,direct,flood".into())
            .split(',')
            .map(str::to_string)
            .collect(),
        duration: a
            .opt_value_from_str("--duration")
            .map_err(e)?
            .unwrap_or(5.0),
        all_rate: a.opt_value_from_str("--all-rate").map_err(e)?,
        burst_deliveries: a
            .opt_value_from_str("--burst-deliveries")
            .map_err(e)?
            .unwrap_or(300_000),
        burst_max: a
            .opt_value_from_str("--burst-max")
            .map_err(e)?
            .unwrap_or(200),
        direct_rate: a
            .opt_value_from_str("--direct-rate")
            .map_err(e)?
            .unwrap_or(10.0),
        honest_rate: a.opt_value_from_str("--honest-rate").map_err(e)?,
        flood: match a
            .opt_value_from_str::<_, String>("--flood")
            .map_err(e)?
            .as_deref()
        {
            None | Some("all") => FloodKind::All,
            Some("rsa") => FloodKind::Rsa,
            Some("junk") => FloodKind::Junk,
            Some(other) => return Err(format!("--flood {other}: all, rsa or junk")),
        },
        reconnect: !a.contains("--no-reconnect"),
        per_sender_rate: a
            .opt_value_from_str("--per-sender-rate")
            .map_err(e)?
            .unwrap_or(4.0),
        throttle_rate: a
            .opt_value_from_str("--throttle-rate")
            .map_err(e)?
            .unwrap_or(50.0),
        throttle_count: a
            .opt_value_from_str("--throttle-count")
            .map_err(e)?
            .unwrap_or(100),
        legacy_count: a
            .opt_value_from_str("--legacy-count")
            .map_err(e)?
            .unwrap_or(200),
        legacy_rate: a
            .opt_value_from_str("--legacy-rate")
            .map_err(e)?
            .unwrap_or(20.0),
        admin_count: a
            .opt_value_from_str("--admin-count")
            .map_err(e)?
            .unwrap_or(10),
        admin_rate: a
            .opt_value_from_str("--admin-rate")
            .map_err(e)?
            .unwrap_or(2.5),
        admin_load_rate: a
            .opt_value_from_str("--admin-load-rate")
            .map_err(e)?
            .unwrap_or(20.0),
        join_rate: a
            .opt_value_from_str("--join-rate")
            .map_err(e)?
            .unwrap_or(10.0),
        console: a.opt_value_from_str("--console").map_err(e)?,
        keys: a.opt_value_from_str("--keys").map_err(e)?,
        key_bits: a
            .opt_value_from_str("--key-bits")
            .map_err(e)?
            .unwrap_or(4096),
        keys_dir: a
            .opt_value_from_str("--keys-dir")
            .map_err(e)?
            .unwrap_or_else(|| "target/load-keys".into()),
        threads: a.opt_value_from_str("--threads").map_err(e)?.unwrap_or(2),
        window: a.opt_value_from_str("--window").map_err(e)?.unwrap_or(64),
        text_bytes: a
            .opt_value_from_str("--text-bytes")
            .map_err(e)?
            .unwrap_or(100),
        join_timeout: a
            .opt_value_from_str("--join-timeout")
            .map_err(e)?
            .unwrap_or(900.0),
        json: a.opt_value_from_str("--json").map_err(e)?,
        v2: a.contains("--v2"),
        signer: match a.opt_value_from_str::<_, String>("--signer").map_err(e)? {
            None => SignerKind::Ring,
            Some(s) => SignerKind::parse(&s)?,
        },
        rotations: a.opt_value_from_str("--rotations").map_err(e)?.unwrap_or(3),
        sample_every: a.opt_value_from_str("--sample-every").map_err(e)?,
        wave: a.opt_value_from_str("--wave").map_err(e)?,
        signing_cost: a.opt_value_from_str("--signing-cost").map_err(e)?,
        compose_keys: a.opt_value_from_str("--compose-keys").map_err(e)?,
    };
    let rest = a.finish();
    if let Some(x) = rest.first() {
        return Err(format!("unexpected argument {x:?} (see --help)"));
    }
    if args.users == 0 || args.users > 99_999 {
        return Err("-n: 1 to 99999 users".into());
    }
    let rates = [
        args.throttle_rate,
        args.legacy_rate,
        args.admin_rate,
        args.admin_load_rate,
        args.join_rate,
    ];
    if rates.iter().any(|r| !(r.is_finite() && *r > 0.0)) {
        return Err("rates must be above 0".into());
    }
    if args.v2 && !a_phases_given {
        args.phases = vec!["join".into(), "rotate".into()];
    }
    if args.threads == 0 || args.keys == Some(0) || args.window == 0 || args.sample_every == Some(0)
    {
        return Err("--threads, --keys and --window must be at least 1".into());
    }
    Ok(Some(args))
}

fn main() -> ExitCode {
    match parse_args() {
        Ok(Some(args)) => match run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("dyspatcher-load: {e}");
                ExitCode::FAILURE
            }
        },
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dyspatcher-load: {e}");
            ExitCode::from(2)
        }
    }
}

/// Raises the soft open-file limit to the hard one.
fn raise_nofile(needed: usize) -> Result<(), String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls with a valid pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err("getrlimit failed".into());
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
    if (lim.rlim_cur as usize) < needed {
        return Err(format!(
            "{needed} open files needed, the hard limit is {}: raise it (ulimit -Hn)",
            lim.rlim_cur
        ));
    }
    Ok(())
}

/// Who a planned message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dest {
    All,
    /// A client (by id).
    User(usize),
    Admin,
}

/// A message to build before measuring.
struct Plan {
    phase: u8,
    sender: usize,
    dest: Dest,
    /// Built as a 0.9 client sends it (no `to`, no `id`), whatever `--routing` says.
    legacy: bool,
    offset_ns: u64,
}

/// The administrator, as the users list shows it.
struct Admin {
    name: String,
    key: PublicIdentity,
}

const PHASE_ALL: u8 = 1;
const PHASE_BURST: u8 = 2;
const PHASE_DIRECT: u8 = 3;
const PHASE_HONEST: u8 = 4;
const PHASE_FLOOD: u8 = 5;

struct Run<'a> {
    args: &'a Args,
    target: Target,
    tls: Option<Arc<ClientConfig>>,
    server: Option<Server>,
    shared: Arc<Shared>,
    workers: Vec<Handle>,
    /// Every client's name: the N clients, then those that join during a phase.
    names: Vec<String>,
    keys: Vec<Arc<KeyPair>>,
    admin: Option<Admin>,
    /// Every planned message, once built.
    table: Option<Arc<Table>>,
    figures: Figures,
    notes: Vec<String>,
    /// Everything the workers reported.
    report: Report,
}

impl Run<'_> {
    fn key_of(&self, client: usize) -> &Arc<KeyPair> {
        &self.keys[client % self.keys.len()]
    }

    fn sum(&self, f: impl Fn(&worker::Counters) -> &AtomicU64) -> u64 {
        self.workers
            .iter()
            .map(|w| f(&w.counters).load(Ordering::Relaxed))
            .sum()
    }

    /// When message `seq` was written, if it was.
    fn sent_ns(&self, seq: u32) -> Option<u64> {
        let at = self.table.as_ref()?.sent_ns.get(seq as usize)?;
        Some(at.load(Ordering::Acquire)).filter(|&t| t > 0)
    }

    fn cpu(&self) -> Option<u64> {
        self.server.and_then(|s| s.cpu_ns())
    }

    fn put(&mut self, key: &'static str, value: f64) {
        self.figures.push((key, value));
    }

    fn collect(&mut self) -> Report {
        let mut merged = Report::default();
        for w in &self.workers {
            let (tx, rx) = mpsc::channel();
            w.send(Command::Collect(tx));
            if let Ok(r) = rx.recv_timeout(Duration::from_secs(60)) {
                merged.merge(r);
            }
        }
        merged
    }
}

fn run(args: &Args) -> Result<(), String> {
    if let Some(count) = args.compose_keys {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let made = keys::compose(&args.keys_dir, count, args.key_bits, cores)?;
        println!("{made} keys composed in {}", args.keys_dir.display());
        return Ok(());
    }
    if let Some(count) = args.signing_cost {
        let keys = keys::load_or_make(&args.keys_dir, count, args.key_bits, 2)?;
        println!("{}", proof::signing_cost(&keys, count)?);
        return Ok(());
    }
    raise_nofile(args.users + 256)?;
    let target = Target::parse(&args.url, ("ws", "wss"))?;
    let tls = args.trust.map(tls::client_config);
    if target.secure && tls.is_none() {
        return Err(format!(
            "{}: TLS needs --cert-sha256 HEX (the server's banner prints it) or --insecure",
            args.url
        ));
    }
    let server = args.server_pid.map(|pid| Server { pid });
    if let Some(s) = server {
        s.rss()
            .ok_or_else(|| format!("cannot read /proc/{}/status", s.pid))?;
    }
    if args.v2 {
        return version_two::run(args, target, server);
    }
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let clients = args.users + nothing_dropped::extra_clients(args);
    let keys = keys::load_or_make(
        &args.keys_dir,
        args.keys.unwrap_or(clients).min(clients + 1),
        args.key_bits,
        cores,
    )?;
    let tag: [u8; 2] = random_bytes();
    let tag: String = tag.iter().map(|b| char::from(b'a' + b % 26)).collect();
    let names: Vec<String> = (0..clients).map(|i| format!("l{tag}{i:05}")).collect();
    let shared = Arc::new(Shared {
        t0: Instant::now(),
        aeskey: Mutex::new(None),
        users_list: Mutex::new(None),
        v2: None,
    });
    let window = args.window.div_ceil(args.threads);
    let workers = (0..args.threads)
        .map(|_| worker::spawn(target.clone(), tls.clone(), window, shared.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("worker: {e}"))?;
    let mut run = Run {
        args,
        target,
        tls,
        server,
        shared,
        workers,
        names,
        keys,
        admin: None,
        table: None,
        figures: Vec::new(),
        notes: Vec::new(),
        report: Report::default(),
    };
    run.put("n", args.users as f64);
    if let Some(s) = server {
        run.put("idle_rss_mib", mib(s.rss().unwrap_or(0)));
    }
    if let Some(url) = &args.page {
        match page::time_page(url, 20, run.tls.as_ref()) {
            Ok(t) => {
                let mut ms: Vec<u32> = t.loads_ms.iter().map(|m| (m * 1000.0) as u32).collect();
                ms.sort_unstable();
                run.put(
                    "page_p50_ms",
                    quantile(&ms, 0.5).unwrap_or(f64::NAN) / 1000.0,
                );
                run.put(
                    "page_p99_ms",
                    quantile(&ms, 0.99).unwrap_or(f64::NAN) / 1000.0,
                );
                run.notes.push(format!(
                    "page: {} requests, {} bytes (gzip accepted), 20 loads",
                    t.requests, t.bytes
                ));
            }
            Err(e) => run.notes.push(format!("page load failed: {e}")),
        }
    }

    let ids = join(&mut run)?;
    let aeskey = run
        .shared
        .aeskey
        .lock()
        .expect("not poisoned")
        .clone()
        .ok_or_else(|| nobody_joined(&run))?;
    let group_raw: [u8; 32] = b64_decode(&aeskey)
        .and_then(|b| b.try_into().ok())
        .ok_or("the config's aeskey is not 32 bytes of base64")?;
    let group = GroupKey::from_bytes(group_raw);
    run.admin = nothing_dropped::admin_of(&run);

    let want = |p: &str| args.phases.iter().any(|x| x == p);
    let n = ids.len();
    if n == 0 {
        return Err("no client joined".into());
    }
    let all_rate = args
        .all_rate
        .unwrap_or_else(|| (50_000.0 / n as f64).clamp(1.0, 50.0));
    let honest_rate = args.honest_rate.unwrap_or(all_rate.min(10.0));
    let secs = args.duration;

    // Plans: senders of the steady phases are the first clients, of the burst the
    // last ones (their token buckets are full).
    let mut plans = Vec::new();
    let steady = |plans: &mut Vec<Plan>, phase: u8, rate: f64, first: usize| {
        let count = (rate * secs).round().max(1.0) as usize;
        let senders = ((rate / args.per_sender_rate).ceil() as usize).clamp(1, n);
        for k in 0..count {
            plans.push(Plan {
                phase,
                sender: ids[(first + k % senders) % n],
                dest: Dest::All,
                legacy: false,
                offset_ns: (k as f64 / rate * 1e9) as u64,
            });
        }
    };
    if want("all") {
        steady(&mut plans, PHASE_ALL, all_rate, 0);
    }
    let burst_per_sender = 15;
    if want("burst") {
        let count = args
            .burst_deliveries
            .div_ceil(n)
            .clamp(1, args.burst_max)
            .min(n * burst_per_sender);
        let senders = count.div_ceil(burst_per_sender);
        for k in 0..count {
            plans.push(Plan {
                phase: PHASE_BURST,
                sender: ids[n - 1 - k % senders],
                dest: Dest::All,
                legacy: false,
                offset_ns: 0,
            });
        }
    }
    if want("direct") && n >= 2 {
        let rate = args.direct_rate;
        let count = (rate * secs).round().max(1.0) as usize;
        // At most 1 message/s from one sender: the server allows 2 private-key
        // operations per second per connection for legacy 1:1 frames.
        let senders = (rate.ceil() as usize).clamp(1, n);
        for k in 0..count {
            let sender = k % senders;
            plans.push(Plan {
                phase: PHASE_DIRECT,
                sender: ids[sender],
                dest: Dest::User(ids[(sender + n / 2) % n]),
                legacy: false,
                offset_ns: (k as f64 / rate * 1e9) as u64,
            });
        }
    }
    if want("flood") {
        steady(&mut plans, PHASE_HONEST, honest_rate, 0);
        steady(&mut plans, PHASE_FLOOD, honest_rate, 0);
    }
    nothing_dropped::plan(&run, &ids, honest_rate, &mut plans);
    let built = build_messages(&run, &plans, &group)?;
    let table = Arc::new(Table {
        by_sig: built
            .iter()
            .enumerate()
            .map(|(seq, (sig, _))| {
                let p = &plans[seq];
                (
                    *sig,
                    MsgInfo {
                        seq: seq as u32,
                        phase: p.phase,
                        to: match p.dest {
                            Dest::All => EVERYBODY,
                            Dest::User(t) => t as u32,
                            Dest::Admin => ADMINISTRATOR,
                        },
                        ordered: nothing_dropped::is_ordered(p.phase),
                    },
                )
            })
            .collect(),
        sent_ns: (0..built.len()).map(|_| AtomicU64::new(0)).collect(),
    });
    for w in &run.workers {
        w.send(Command::Table(table.clone()));
    }
    run.table = Some(table);
    let frames: Vec<Message> = built.into_iter().map(|(_, f)| f).collect();

    if want("all") {
        let figures = phase(&mut run, &plans, &frames, PHASE_ALL, n as u64, 0.5);
        run.put("all_rate", all_rate);
        put_phase(&mut run, "all", &figures, true);
    }
    if want("burst") {
        std::thread::sleep(Duration::from_secs(1));
        let figures = phase(&mut run, &plans, &frames, PHASE_BURST, n as u64, 0.5);
        let count = plans.iter().filter(|p| p.phase == PHASE_BURST).count();
        run.put("burst_messages", count as f64);
        put_phase(&mut run, "burst", &figures, true);
    }
    if want("direct") && n >= 2 {
        let figures = phase(&mut run, &plans, &frames, PHASE_DIRECT, 1, 0.5);
        run.put("direct_rate", args.direct_rate);
        run.put("direct_p50_ms", figures.p50_ms);
        run.put("direct_p99_ms", figures.p99_ms);
        run.put("direct_missing", figures.missing as f64);
        run.put(
            "direct_copies_per_message",
            figures.to_others as f64 / figures.messages.max(1) as f64,
        );
        if let Some(cpu) = figures.cpu_ns {
            run.put(
                "direct_cpu_ms_per_message",
                cpu as f64 / 1e6 / figures.messages.max(1) as f64,
            );
        }
    }
    if want("flood") {
        flood_phase(&mut run, &plans, &frames, &group, n)?;
    }
    nothing_dropped::run(&mut run, &plans, &frames, &ids)?;
    let cut = run.sum(|c| &c.cut_after_join);
    run.put("cut_clients", cut as f64);
    if let Some(s) = server {
        run.put("peak_rss_mib", mib(s.peak_rss().unwrap_or(0)));
    }
    leave(&mut run);
    for w in std::mem::take(&mut run.workers) {
        w.send(Command::Stop);
        let _ = w.thread.join();
    }

    let final_report = std::mem::take(&mut run.report);
    let mut reasons: Vec<_> = final_report.reasons.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1));
    for (reason, count) in reasons.iter().take(8) {
        run.notes.push(format!("server said {count}×: {reason}"));
    }
    let mut ends: Vec<_> = final_report.ends.iter().collect();
    ends.sort_by(|a, b| b.1.cmp(a.1));
    for (why, count) in ends.iter().take(8) {
        run.notes.push(format!("connections ended {count}×: {why}"));
    }
    if final_report.send_failed > 0 {
        run.notes.push(format!(
            "{} scheduled sends found their client gone",
            final_report.send_failed
        ));
    }
    println!(
        "\ndyspatcher-load: {} users, {} frames, {}{}",
        args.users,
        if args.routing {
            "routed (⊕ to, id)"
        } else {
            "0.9 (legacy)"
        },
        run.target.host,
        if run.target.secure { " over TLS" } else { "" }
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

/// A 0.9 client's join: the tool proves nothing, so that it measures any server.
fn join_frame(name: &str, key: &KeyPair) -> Message {
    Message::text(frame(
        "signal",
        name,
        serde_json::json!({"code": "chat-join", "publickey": key.public().spki_b64()}),
    ))
}

/// The error when no client got the group key, with the commonest reason.
fn nobody_joined(run: &Run) -> String {
    let why = run
        .report
        .ends
        .iter()
        .max_by_key(|(_, count)| **count)
        .map(|(why, count)| format!(" (connections ended {count}×: {why})"))
        .unwrap_or_default();
    format!("no config frame came: no group key{why}")
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Connects and joins every client; returns the ids of those that joined.
fn join(run: &mut Run) -> Result<Vec<usize>, String> {
    let n = run.args.users;
    let cpu0 = run.cpu();
    let bytes0 = run.sum(|c| &c.bytes_in);
    let started = Instant::now();
    let mut per_worker: Vec<Vec<ClientSpec>> = (0..run.workers.len()).map(|_| Vec::new()).collect();
    for (i, name) in run.names.iter().enumerate() {
        if i >= n {
            break; // those join during a phase
        }
        per_worker[i % run.workers.len()].push(ClientSpec {
            id: i,
            join: join_frame(name, run.key_of(i)),
            not_before_ns: 0,
        });
    }
    for (w, specs) in run.workers.iter().zip(per_worker) {
        w.send(Command::Connect(specs));
    }
    let deadline = started + Duration::from_secs_f64(run.args.join_timeout);
    let mut last_print = Instant::now();
    loop {
        let joined = run.sum(|c| &c.joined);
        let failed = run.sum(|c| &c.failed);
        if joined + failed >= n as u64 {
            break;
        }
        if Instant::now() > deadline {
            run.notes.push(format!("joins timed out: {joined} of {n}"));
            break;
        }
        if proc_stat::own_rss().is_some_and(|r| r > proc_stat::TOOL_RSS_LIMIT) {
            return Err(format!(
                "the tool passed {} GiB with {joined} of {n} joined (one read buffer per \
                 client as large as the largest users list): stopped",
                proc_stat::TOOL_RSS_LIMIT >> 30
            ));
        }
        if last_print.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "  joined {joined}/{n} in {:.0} s",
                started.elapsed().as_secs_f64()
            );
            last_print = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let join_s = started.elapsed().as_secs_f64();
    // Every join is announced to those who joined before: N(N-1)/2 announcements,
    // unless the server announces to nobody (--only-admin).
    let expected = (n as u64) * (n as u64 - 1) / 2;
    let mut last = run.sum(|c| &c.announcements);
    let mut last_change = Instant::now();
    loop {
        let now = run.sum(|c| &c.announcements);
        if now >= expected {
            break;
        }
        if now != last {
            last = now;
            last_change = Instant::now();
        }
        let quiet = if now == 0 { 0.5 } else { 2.0 };
        if last_change.elapsed() > Duration::from_secs_f64(quiet) {
            if now > 0 {
                run.notes
                    .push(format!("join announcements: {now} of {expected} arrived"));
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let settled_s = started.elapsed().as_secs_f64();
    let mut report = run.collect();
    let mut connected = std::mem::take(&mut report.connected);
    connected.sort_unstable();
    let mut join_us = report.join_us.clone();
    run.report.merge(report);
    join_us.sort_unstable();
    run.put("join_s", join_s);
    run.put("join_settled_s", settled_s.max(join_s));
    run.put(
        "join_p50_ms",
        quantile(&join_us, 0.5).unwrap_or(f64::NAN) / 1000.0,
    );
    run.put(
        "join_p99_ms",
        quantile(&join_us, 0.99).unwrap_or(f64::NAN) / 1000.0,
    );
    run.put("join_failed", run.sum(|c| &c.failed) as f64);
    run.put("join_received_mib", mib(run.sum(|c| &c.bytes_in) - bytes0));
    if let (Some(a), Some(b)) = (cpu0, run.cpu()) {
        run.put("join_cpu_s", (b - a) as f64 / 1e9);
    }
    if let Some(s) = run.server {
        std::thread::sleep(Duration::from_millis(300));
        let rss = s.rss().unwrap_or(0);
        let idle = run
            .figures
            .iter()
            .find(|(k, _)| *k == "idle_rss_mib")
            .map_or(0.0, |(_, v)| *v);
        run.put("rss_mib", mib(rss));
        run.put(
            "rss_per_user_kib",
            (mib(rss) - idle) * 1024.0 / connected.len().max(1) as f64,
        );
    }
    Ok(connected)
}

/// A message ready to send: the start of its signature, and its frame.
type Built = ([u8; SIG_KEY], Message);

/// Signs and encrypts every planned message, in parallel: (signature key, frame).
fn build_messages(run: &Run, plans: &[Plan], group: &GroupKey) -> Result<Vec<Built>, String> {
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    eprintln!("signing {} messages ({threads} threads)...", plans.len());
    let next = AtomicUsize::new(0);
    let pad = "abcdefghij".repeat(run.args.text_bytes / 10 + 1);
    let results: Mutex<Vec<Option<Built>>> = Mutex::new((0..plans.len()).map(|_| None).collect());
    let failure: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    let Some(plan) = plans.get(seq) else { return };
                    let from = &run.names[plan.sender];
                    let mut text = format!(
                        "load p{} #{seq} at +{} ms ",
                        plan.phase,
                        plan.offset_ns / 1_000_000
                    );
                    let room = run.args.text_bytes.saturating_sub(text.len());
                    text.push_str(&pad[..room.min(pad.len())]);
                    let signer = run.key_of(plan.sender);
                    let routing = run.args.routing && !plan.legacy;
                    let recipient = match plan.dest {
                        Dest::All => None,
                        Dest::User(to) => Some((run.names[to].as_str(), run.key_of(to).public())),
                        Dest::Admin => match &run.admin {
                            Some(admin) => Some((admin.name.as_str(), &admin.key)),
                            None => {
                                *failure.lock().expect("not poisoned") =
                                    Some("no administrator in the users list".into());
                                return;
                            }
                        },
                    };
                    let data = match recipient {
                        None => {
                            let mut d =
                                seal_aes(group, plaintext(from, "all", &text).as_bytes(), signer);
                            if routing {
                                d.insert("id".into(), format!("l{seq}").into());
                            }
                            d
                        }
                        Some((to_name, to_key)) => {
                            let pt = plaintext(from, to_name, &text);
                            match seal_rsa(to_key, pt.as_bytes(), signer) {
                                Ok(mut d) => {
                                    if routing {
                                        d.insert("to".into(), to_name.into());
                                        d.insert("id".into(), format!("l{seq}").into());
                                    }
                                    d
                                }
                                Err(e) => {
                                    *failure.lock().expect("not poisoned") = Some(e.to_string());
                                    return;
                                }
                            }
                        }
                    };
                    let sig = data
                        .get("signature")
                        .and_then(Value::as_str)
                        .map(|s| s.as_bytes()[..SIG_KEY].try_into().expect("long enough"))
                        .expect("signed");
                    let json = frame("message", from, Value::Object(data));
                    results.lock().expect("not poisoned")[seq] = Some((sig, Message::text(json)));
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().expect("not poisoned") {
        return Err(e);
    }
    eprintln!("  signed in {:.1} s", started.elapsed().as_secs_f64());
    Ok(results
        .into_inner()
        .expect("not poisoned")
        .into_iter()
        .map(|r| r.expect("built"))
        .collect())
}

#[derive(Default)]
struct PhaseFigures {
    messages: u64,
    delivered: u64,
    missing: u64,
    to_others: u64,
    out_of_order: u64,
    p50_ms: f64,
    p99_ms: f64,
    per_s: f64,
    /// The phase's first send and last delivery (the run's clock).
    start_ns: u64,
    last_ns: u64,
    cpu_ns: Option<u64>,
    /// Distinct messages the console showed, and their latency to the console.
    console_seen: u64,
    console_p50_ms: f64,
    console_p99_ms: f64,
    /// What the server said to the clients (notices, refusals) while the phase ran.
    reasons: HashMap<String, u64>,
}

/// One phase of the plans sent together with others: its deliveries are counted
/// on its own.
struct Part {
    id: u8,
    recipients_per_message: u64,
    /// Its messages are for the administrator: counted on the console.
    console: bool,
}

/// Sends the phase's messages at their times and waits until every expected
/// delivery arrived (or nothing arrives any more).
fn phase(
    run: &mut Run,
    plans: &[Plan],
    frames: &[Message],
    id: u8,
    recipients_per_message: u64,
    lead_s: f64,
) -> PhaseFigures {
    let start_ns = run.shared.now_ns() + (lead_s * 1e9) as u64;
    let part = Part {
        id,
        recipients_per_message,
        console: false,
    };
    phases(run, plans, frames, &[part], start_ns)
        .pop()
        .expect("one part")
}

/// Sends the messages of several phases at their times from `start_ns` on and
/// waits until every expected delivery arrived (or nothing arrives any more).
fn phases(
    run: &mut Run,
    plans: &[Plan],
    frames: &[Message],
    parts: &[Part],
    start_ns: u64,
) -> Vec<PhaseFigures> {
    let mut per_worker: HashMap<usize, Vec<Send>> = HashMap::new();
    let mut messages: HashMap<u8, u64> = HashMap::new();
    let mut last_offset = 0;
    for (seq, plan) in plans.iter().enumerate() {
        if !parts.iter().any(|p| p.id == plan.phase) {
            continue;
        }
        *messages.entry(plan.phase).or_default() += 1;
        last_offset = last_offset.max(plan.offset_ns);
        per_worker
            .entry(plan.sender % run.workers.len())
            .or_default()
            .push(Send {
                at_ns: start_ns + plan.offset_ns,
                client: plan.sender,
                frame: frames[seq].clone(),
                seq: Some(seq as u32),
            });
    }
    let count = |id: u8| messages.get(&id).copied().unwrap_or(0);
    let mut tails = Vec::new();
    for part in parts.iter().filter(|p| p.console) {
        match &run.args.console {
            Some(path) => match ConsoleTail::start(path, part.id, run.shared.clone()) {
                Ok(tail) => tails.push(tail),
                Err(e) => run.notes.push(format!("console: {e}")),
            },
            None => run
                .notes
                .push("no --console FILE: messages shown on the console not counted".into()),
        }
    }
    let expected: u64 = parts
        .iter()
        .map(|p| count(p.id) * p.recipients_per_message)
        .sum::<u64>()
        + tails.iter().map(|t| count(t.phase())).sum::<u64>();
    let progress = |run: &Run, tails: &[ConsoleTail]| {
        run.sum(|c| &c.delivered) + tails.iter().map(|t| t.seen().len() as u64).sum::<u64>()
    };
    let before = progress(run, &tails);
    while run.shared.now_ns() + 50_000_000 < start_ns {
        std::thread::sleep(Duration::from_millis(10));
    }
    let cpu0 = run.cpu();
    for (w, sends) in per_worker {
        run.workers[w].send(Command::Schedule(sends));
    }
    let end_of_sends = start_ns + last_offset;
    let mut last = 0;
    let mut last_change = Instant::now();
    let mut cpu1 = None;
    loop {
        let got = progress(run, &tails) - before;
        if got != last {
            last = got;
            last_change = Instant::now();
            cpu1 = run.cpu();
        }
        if got >= expected && run.shared.now_ns() > end_of_sends {
            break;
        }
        if run.shared.now_ns() > end_of_sends && last_change.elapsed() > Duration::from_secs(3) {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let cpu1 = cpu1.or_else(|| run.cpu());
    let report = run.collect();
    let reasons = report.reasons.clone();
    let mut figures = Vec::new();
    for part in parts {
        let stats = report.phases.get(&part.id).cloned().unwrap_or_default();
        let mut lat = stats.latencies_us;
        lat.sort_unstable();
        let span_s = (stats.last_ns.saturating_sub(start_ns.min(stats.first_ns))) as f64 / 1e9;
        let mut f = PhaseFigures {
            messages: count(part.id),
            delivered: stats.delivered,
            missing: (count(part.id) * part.recipients_per_message).saturating_sub(stats.delivered),
            to_others: stats.to_others,
            out_of_order: stats.out_of_order,
            p50_ms: quantile(&lat, 0.5).unwrap_or(f64::NAN) / 1000.0,
            p99_ms: quantile(&lat, 0.99).unwrap_or(f64::NAN) / 1000.0,
            per_s: if span_s > 0.0 {
                stats.delivered as f64 / span_s
            } else {
                f64::NAN
            },
            start_ns,
            last_ns: stats.last_ns,
            cpu_ns: match (cpu0, cpu1) {
                (Some(a), Some(b)) => Some(b - a),
                _ => None,
            },
            reasons: reasons.clone(),
            ..PhaseFigures::default()
        };
        if let Some(tail) = tails.iter().find(|t| t.phase() == part.id) {
            let mut shown: HashMap<u32, u64> = HashMap::new();
            for (seq, at) in tail.seen() {
                shown.entry(seq).or_insert(at);
            }
            let mut lat: Vec<u32> = shown
                .iter()
                .filter_map(|(&seq, &at)| {
                    let sent = run.sent_ns(seq)?;
                    Some((at.saturating_sub(sent) / 1000).min(u64::from(u32::MAX)) as u32)
                })
                .collect();
            lat.sort_unstable();
            f.console_seen = shown.len() as u64;
            f.console_p50_ms = quantile(&lat, 0.5).unwrap_or(f64::NAN) / 1000.0;
            f.console_p99_ms = quantile(&lat, 0.99).unwrap_or(f64::NAN) / 1000.0;
        }
        figures.push(f);
    }
    run.report.merge(report);
    figures
}

fn put_phase(run: &mut Run, name: &str, f: &PhaseFigures, per_frame: bool) {
    let key =
        |suffix: &str| -> &'static str { Box::leak(format!("{name}_{suffix}").into_boxed_str()) };
    run.put(key("deliveries_per_s"), f.per_s);
    run.put(key("p50_ms"), f.p50_ms);
    run.put(key("p99_ms"), f.p99_ms);
    run.put(key("missing"), f.missing as f64);
    if per_frame && let Some(cpu) = f.cpu_ns {
        run.put(
            key("cpu_us_per_frame"),
            cpu as f64 / 1e3 / f.delivered.max(1) as f64,
        );
    }
}

fn flood_phase(
    run: &mut Run,
    plans: &[Plan],
    frames: &[Message],
    group: &GroupKey,
    n: usize,
) -> Result<(), String> {
    let base = phase(run, plans, frames, PHASE_HONEST, n as u64, 0.5);
    run.put("honest_p50_ms", base.p50_ms);
    run.put("honest_p99_ms", base.p99_ms);
    let name = format!("{}flood", &run.names[0][..3]);
    let key = run.keys[0].clone();
    let join = join_frame(&name, &key);
    let text = match run.args.flood {
        FloodKind::All => frame(
            "message",
            &name,
            Value::Object(seal_aes(
                group,
                plaintext(&name, "all", "flood flood flood").as_bytes(),
                &key,
            )),
        ),
        FloodKind::Rsa => {
            let mut junk = [0u8; 512];
            for chunk in junk.chunks_mut(32) {
                chunk.copy_from_slice(&random_bytes::<32>());
            }
            junk[0] = 0; // below any 4096-bit modulus: a full decryption attempt
            frame(
                "message",
                &name,
                serde_json::json!({"algo": "rsa", "ciphertext": b64_encode(&junk), "signature": b64_encode(&junk)}),
            )
        }
        FloodKind::Junk => "junk, not JSON ".repeat(64),
    };
    let flood_frame = Message::text(text);
    let unknown0 = run.report.unknown_messages;
    let cpu0 = run.cpu();
    let mut flood = flood::Flood::start(
        run.target.clone(),
        run.tls.clone(),
        join,
        flood_frame,
        run.args.reconnect,
    );
    std::thread::sleep(Duration::from_millis(500));
    let under = phase(run, plans, frames, PHASE_FLOOD, n as u64, 0.0);
    flood.stop();
    let cpu1 = run.cpu();
    // Flood messages still arriving.
    std::thread::sleep(Duration::from_millis(500));
    let late = run.collect();
    run.report.merge(late);
    run.put("flood_p50_ms", under.p50_ms);
    run.put("flood_p99_ms", under.p99_ms);
    run.put("flood_p99_ratio", under.p99_ms / base.p99_ms);
    run.put("flood_missing", under.missing as f64);
    run.put("flood_frames", flood.frames.load(Ordering::Relaxed) as f64);
    run.put(
        "flood_connections",
        flood.connections.load(Ordering::Relaxed) as f64,
    );
    run.put(
        "flood_delivered",
        (run.report.unknown_messages - unknown0) as f64,
    );
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        run.put("flood_cpu_s", (b - a) as f64 / 1e9);
    }
    run.notes.push(format!(
        "flood: {:?}, {}",
        run.args.flood,
        if run.args.reconnect {
            "reconnecting when cut"
        } else {
            "one connection"
        }
    ));
    Ok(())
}

/// Everybody leaves at once; the server's time and CPU until it is idle again.
fn leave(run: &mut Run) {
    let cpu0 = run.cpu();
    let started = Instant::now();
    for w in &run.workers {
        w.send(Command::CloseAll);
    }
    let Some(server) = run.server else { return };
    let mut last = cpu0.unwrap_or(0);
    let mut busy_until = started;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = server.cpu_ns().unwrap_or(last);
        if now - last > 5_000_000 {
            busy_until = Instant::now();
        } else if busy_until.elapsed() > Duration::from_millis(500) {
            break;
        }
        last = now;
        if started.elapsed() > Duration::from_secs(120) {
            break;
        }
    }
    run.put("leave_s", (busy_until - started).as_secs_f64());
    if let Some(a) = cpu0 {
        run.put("leave_cpu_s", (last - a) as f64 / 1e9);
    }
}
