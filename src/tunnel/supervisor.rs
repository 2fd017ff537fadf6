//! The tunnel's decisions, without I/O: the I/O shell (`ssh_process.rs`) reports
//! what happened (started, a stderr line, exited) with the time, and shows the console
//! lines it gets back; it asks [`Supervisor::restart_at`] when to start ssh again.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::argv::Forward;
use super::options::TunnelOptions;
use crate::console::{ConsoleLine, Style};

/// The first delay before ssh is started again.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// The longest delay.
pub const BACKOFF_CAP: Duration = Duration::from_secs(60);
/// A run of ssh at least this long starts the back-off over from the first delay.
pub const STABLE_RUN: Duration = Duration::from_secs(60);
/// Lines of ssh's stderr kept from the current run, to explain its end.
const RECENT_LINES: usize = 8;

/// 1 s, 2 s, 4 s ... capped at 60 s (the base is a test knob).
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            failures: 0,
        }
    }

    /// The delay before the next attempt; each call doubles the following one.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.failures).unwrap_or(u32::MAX);
        let delay = self.base.saturating_mul(factor).min(self.cap);
        if delay < self.cap {
            self.failures += 1;
        }
        delay
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// How a run of ssh ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    /// Could not be learned (the child was reaped elsewhere).
    Unknown,
}

impl Exit {
    pub fn from_status(status: std::process::ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt as _;
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            _ => Exit::Unknown,
        }
    }

    fn describe(self) -> String {
        match self {
            Exit::Code(code) => format!("exited with status {code}"),
            Exit::Signal(signal) => format!("was killed by signal {signal}{}", signal_name(signal)),
            Exit::Unknown => "ended".into(),
        }
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGTERM => " (SIGTERM)",
        libc::SIGINT => " (SIGINT)",
        libc::SIGHUP => " (SIGHUP)",
        libc::SIGSEGV => " (SIGSEGV)",
        _ => "",
    }
}

#[derive(Debug)]
struct Run {
    pid: u32,
    since: Instant,
    /// When every forward was confirmed.
    up_since: Option<Instant>,
    confirmed: usize,
    recent: VecDeque<String>,
}

#[derive(Debug)]
enum State {
    NotStarted,
    Running(Run),
    Waiting { until: Instant },
    Stopped,
}

/// The tunnel's state machine.
#[derive(Debug)]
pub struct Supervisor {
    host: IpAddr,
    port: u16,
    user: String,
    key_file: PathBuf,
    known_hosts: PathBuf,
    strict: bool,
    forwards: Vec<Forward>,
    backoff: Backoff,
    state: State,
    /// ssh started (or tried to), first time included.
    attempts: u32,
    last_error: Option<(Instant, String)>,
}

impl Supervisor {
    pub fn new(options: &TunnelOptions, forwards: Vec<Forward>, backoff: Backoff) -> Self {
        Self {
            host: options.host,
            port: options.port,
            user: options.user.clone(),
            key_file: options.key_file.clone(),
            known_hosts: options.known_hosts(),
            strict: options.strict_known_hosts.is_some(),
            forwards,
            backoff,
            state: State::NotStarted,
            attempts: 0,
            last_error: None,
        }
    }

    /// The public URLs: the page, then the WebSocket port for 0.9 clients (if any).
    pub fn urls(&self) -> Vec<String> {
        self.forwards.iter().map(Forward::url).collect()
    }

    /// Whether ssh should be started now: at first, and when a back-off ran out.
    pub fn due(&self, now: Instant) -> bool {
        match self.state {
            State::NotStarted => true,
            State::Waiting { until } => now >= until,
            State::Running(_) | State::Stopped => false,
        }
    }

    /// When ssh is to be started again: the end of the current back-off.
    pub fn restart_at(&self) -> Option<Instant> {
        match self.state {
            State::Waiting { until } => Some(until),
            State::NotStarted | State::Running(_) | State::Stopped => None,
        }
    }

    #[cfg(test)]
    pub fn pid(&self) -> Option<u32> {
        match &self.state {
            State::Running(run) => Some(run.pid),
            _ => None,
        }
    }

    pub fn is_up(&self) -> bool {
        matches!(&self.state, State::Running(run) if run.up_since.is_some())
    }

    pub fn restarts(&self) -> u32 {
        self.attempts.saturating_sub(1)
    }

    fn target(&self) -> String {
        format!("{}@{} port {}", self.user, self.host, self.port)
    }

    /// ssh runs as `pid`.
    pub fn started(&mut self, pid: u32, now: Instant) -> Vec<ConsoleLine> {
        self.attempts += 1;
        self.state = State::Running(Run {
            pid,
            since: now,
            up_since: None,
            confirmed: 0,
            recent: VecDeque::new(),
        });
        let text = if self.attempts == 1 {
            format!(
                "SSH tunnel: connecting to {} (ssh PID {pid})",
                self.target()
            )
        } else {
            format!(
                "SSH tunnel: starting ssh again (PID {pid}, restart {})",
                self.restarts()
            )
        };
        vec![ConsoleLine::info(text)]
    }

    /// ssh could not be started at all.
    pub fn start_failed(&mut self, error: &std::io::Error, now: Instant) -> Vec<ConsoleLine> {
        self.attempts += 1;
        let why = if error.kind() == std::io::ErrorKind::NotFound {
            "cannot start ssh: it is not installed (not found on PATH); install the OpenSSH client (Debian: apt install openssh-client, Termux: pkg install openssh)".to_string()
        } else {
            format!("cannot start ssh: {error}")
        };
        let delay = self.backoff.next_delay();
        self.fail(why.clone(), now, delay);
        vec![ConsoleLine::error(format!(
            "SSH tunnel down: {why}; trying again in {}",
            human(delay)
        ))]
    }

    /// One line ssh wrote on its stderr (without the newline).
    pub fn stderr_line(&mut self, raw: &str, now: Instant) -> Vec<ConsoleLine> {
        let line = sanitize(raw);
        let wanted = self.forwards.len();
        let State::Running(run) = &mut self.state else {
            return Vec::new();
        };
        if let Some(debug) = line.strip_prefix("debug") {
            let confirmed = if debug.contains("remote forward success for:") {
                run.confirmed += 1;
                run.confirmed >= wanted
            } else {
                debug.contains("all expected forwarding replies received")
            };
            if confirmed && run.up_since.is_none() {
                run.up_since = Some(now);
                let pid = run.pid;
                let urls = self.urls().join(" and ");
                return vec![ConsoleLine::info(format!(
                    "SSH tunnel up (ssh PID {pid}): {urls} reach this chat"
                ))];
            }
            return Vec::new();
        }
        if is_noise(&line) {
            return Vec::new();
        }
        if run.recent.len() == RECENT_LINES {
            run.recent.pop_front();
        }
        run.recent.push_back(line.clone());
        let shown = format!("ssh: {line}");
        vec![if looks_bad(&line) {
            ConsoleLine::warning(shown)
        } else {
            ConsoleLine::info(shown)
        }]
    }

    /// The ssh child ended (and was reaped).
    pub fn exited(&mut self, exit: Exit, now: Instant) -> Vec<ConsoleLine> {
        if !matches!(self.state, State::Running(_)) {
            return Vec::new();
        }
        let State::Running(run) = std::mem::replace(&mut self.state, State::NotStarted) else {
            unreachable!("checked above");
        };
        let lived = now.saturating_duration_since(run.since);
        if lived >= STABLE_RUN {
            self.backoff.reset();
        }
        let delay = self.backoff.next_delay();
        let why = self.diagnose(&run.recent, exit);
        let how = format!(
            "ssh PID {} {} after {}",
            run.pid,
            exit.describe(),
            human(lived)
        );
        self.fail(format!("{why} ({how})"), now, delay);
        vec![ConsoleLine::error(format!(
            "SSH tunnel down: {why} ({how}); trying again in {}",
            human(delay)
        ))]
    }

    fn fail(&mut self, why: String, now: Instant, delay: Duration) {
        self.last_error = Some((now, why));
        self.state = State::Waiting { until: now + delay };
    }

    /// The shell stopped ssh (or there was none to stop): the end.
    pub fn stopped(&mut self) -> Vec<ConsoleLine> {
        let was = std::mem::replace(&mut self.state, State::Stopped);
        match was {
            State::Running(run) => vec![ConsoleLine::info(format!(
                "SSH tunnel closed (ssh PID {} stopped)",
                run.pid
            ))],
            State::Waiting { .. } | State::NotStarted => {
                vec![ConsoleLine::info("SSH tunnel closed")]
            }
            State::Stopped => Vec::new(),
        }
    }

    /// What `/tunnel` shows.
    pub fn status(&self, now: Instant) -> Vec<ConsoleLine> {
        let restarts = match self.restarts() {
            1 => "1 restart".to_string(),
            n => format!("{n} restarts"),
        };
        let state = match &self.state {
            State::NotStarted => "not started yet".to_string(),
            State::Running(run) => match run.up_since {
                Some(up) => format!(
                    "up for {} (ssh PID {}), {restarts}",
                    human(now.saturating_duration_since(up)),
                    run.pid
                ),
                None => format!(
                    "connecting for {} (ssh PID {}), {restarts}",
                    human(now.saturating_duration_since(run.since)),
                    run.pid
                ),
            },
            State::Waiting { until } => format!(
                "down, trying again in {}, {restarts}",
                human(until.saturating_duration_since(now))
            ),
            State::Stopped => format!("stopped, {restarts}"),
        };
        let policy = if self.strict {
            "checked against"
        } else {
            "new ones accepted and kept in"
        };
        let mut lines = vec![
            ConsoleLine::new().plain("SSH tunnel: ").styled(
                if self.is_up() {
                    Style::Plain
                } else {
                    Style::Warning
                },
                state,
            ),
            ConsoleLine::info(format!("  public: {}", self.urls().join("  "))),
            ConsoleLine::info(format!(
                "  through: {}, key {}",
                self.target(),
                self.key_file.display()
            )),
            ConsoleLine::info(format!(
                "  host keys: {policy} {}",
                self.known_hosts.display()
            )),
        ];
        if let Some((at, why)) = &self.last_error {
            lines.push(ConsoleLine::info(format!(
                "  last error ({} ago): {why}",
                human(now.saturating_duration_since(*at))
            )));
        }
        lines
    }

    /// Why a run ended, in words, from what ssh said last.
    fn diagnose(&self, recent: &VecDeque<String>, exit: Exit) -> String {
        let said = |needle: &str| recent.iter().any(|l| l.contains(needle));
        let host = self.host;
        let port = self.port;
        if said("Host key verification failed") || said("REMOTE HOST IDENTIFICATION HAS CHANGED") {
            return if self.strict {
                format!(
                    "the SSH server's host key is not the one in {} (--sshpfw-known-hosts)",
                    self.known_hosts.display()
                )
            } else {
                format!(
                    "the SSH server's host key changed since it was first accepted: if that is expected, remove the old one with ssh-keygen -f {} -R '[{host}]:{port}'",
                    self.known_hosts.display()
                )
            };
        }
        if said("Permission denied") {
            return format!(
                "the SSH server refused the key {} for {}: add its public key (.pub) to that user's authorized_keys on the server",
                self.key_file.display(),
                self.user
            );
        }
        if said("bad permissions") || said("UNPROTECTED PRIVATE KEY FILE") {
            return format!(
                "ssh refuses the key file {}: chmod 600 it",
                self.key_file.display()
            );
        }
        if said("remote port forwarding failed") {
            let port = recent
                .iter()
                .rev()
                .find_map(|l| {
                    l.rsplit_once("listen port ")
                        .map(|(_, p)| p.trim().to_string())
                })
                .unwrap_or_else(|| "?".into());
            return format!(
                "the SSH server would not listen on {host} port {port}: that port is in use there, or its sshd does not allow it (AllowTcpForwarding, GatewayPorts clientspecified, permitlisten; ports below 1024 need root)"
            );
        }
        if said("Connection refused") {
            return format!(
                "nothing answers at {host} port {port}: is sshd running there, and is --sshpfw-port right?"
            );
        }
        if said("timed out") {
            return format!(
                "no answer from {host} port {port} (a firewall, a wrong address, or no network)"
            );
        }
        if said("No route to host") || said("Network is unreachable") {
            return format!("the network cannot reach {host} (offline?)");
        }
        if said("not responding") || said("Timeout, server") {
            return "the SSH server stopped answering keep-alives: the link was lost".into();
        }
        if said("Connection closed by") || said("Connection reset") || said("closed by remote") {
            return "the SSH server closed the connection".into();
        }
        match (exit, recent.back()) {
            (Exit::Signal(_), _) => "ssh was stopped from outside".into(),
            (_, Some(last)) => format!("ssh said: {last}"),
            (_, None) => "ssh ended without saying why".into(),
        }
    }
}

/// Lines of `ssh -v` that say nothing useful to the administrator.
fn is_noise(line: &str) -> bool {
    line.is_empty()
        || line.starts_with("OpenSSH_")
        || line.starts_with("Transferred: ")
        || line.starts_with("Bytes per second: ")
}

fn looks_bad(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    [
        "error",
        "denied",
        "failed",
        "refused",
        "warning: remote",
        "@@@",
        "timed out",
        "unreachable",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

/// A line fit for the terminal: control characters (escape sequences from a hostile
/// server's banner) become `?`; at most 500 characters.
fn sanitize(raw: &str) -> String {
    raw.trim_end_matches(['\r', '\n'])
        .chars()
        .take(500)
        .map(|c| match c {
            '\t' => ' ',
            c if c.is_control() => '?',
            c => c,
        })
        .collect()
}

/// `0.3 s`, `12 s`, `3 min 12 s`, `2 h 5 min`, `3 d 4 h`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..10 => format!("{:.1} s", d.as_secs_f64()),
        10..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        3600..86400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86400, s % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn supervisor(forwards: usize) -> Supervisor {
        let options = TunnelOptions {
            host: "11.22.33.44".parse().unwrap(),
            port: 22,
            user: "pfw".into(),
            key_file: "/k/pfw".into(),
            strict_known_hosts: None,
        };
        let all = super::super::argv::forwards(
            &options,
            "127.0.0.1".parse().unwrap(),
            8080,
            (forwards == 2).then_some(8081),
            false,
        );
        Supervisor::new(&options, all, Backoff::new(BACKOFF_BASE, BACKOFF_CAP))
    }

    fn texts(lines: &[ConsoleLine]) -> String {
        lines
            .iter()
            .map(ConsoleLine::text)
            .collect::<Vec<_>>()
            .join("\n")
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(S, BACKOFF_CAP);
        let delays: Vec<u64> = (0..10).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
        b.reset();
        assert_eq!(b.next_delay(), S);
        let mut tiny = Backoff::new(Duration::from_millis(100), BACKOFF_CAP);
        assert_eq!(tiny.next_delay(), Duration::from_millis(100));
        assert_eq!(tiny.next_delay(), Duration::from_millis(200));
        for _ in 0..100 {
            assert!(tiny.next_delay() <= BACKOFF_CAP, "never overflows");
        }
    }

    #[test]
    fn up_when_every_forward_is_confirmed() {
        let t0 = Instant::now();
        let mut s = supervisor(2);
        assert!(s.due(t0));
        let out = texts(&s.started(42, t0));
        assert!(
            out.contains("connecting to pfw@11.22.33.44 port 22 (ssh PID 42)"),
            "{out}"
        );
        assert!(!s.due(t0) && s.pid() == Some(42));
        for noise in [
            "OpenSSH_9.2p1 Debian-2, OpenSSL 3.0",
            "debug1: Reading configuration data /etc/ssh/ssh_config",
        ] {
            assert!(s.stderr_line(noise, t0).is_empty(), "{noise}");
        }
        let out = texts(&s.stderr_line(
            "Authenticated to 11.22.33.44 ([11.22.33.44]:22) using \"publickey\".",
            t0,
        ));
        assert_eq!(
            out,
            "ssh: Authenticated to 11.22.33.44 ([11.22.33.44]:22) using \"publickey\"."
        );
        let first = s.stderr_line(
            "debug1: remote forward success for: listen 11.22.33.44:8080, connect 127.0.0.1:8080",
            t0,
        );
        assert!(first.is_empty() && !s.is_up(), "one of two");
        let out = texts(&s.stderr_line(
            "debug1: remote forward success for: listen 11.22.33.44:8081, connect 127.0.0.1:8081",
            t0,
        ));
        assert_eq!(
            out,
            "SSH tunnel up (ssh PID 42): http://11.22.33.44:8080/ and ws://11.22.33.44:8081/ reach this chat"
        );
        assert!(s.is_up());
        assert!(
            s.stderr_line(
                "debug1: forwarding_success: all expected forwarding replies received",
                t0
            )
            .is_empty(),
            "said once"
        );
        let status = texts(&s.status(t0 + Duration::from_secs(192)));
        assert!(
            status.starts_with("SSH tunnel: up for 3 min 12 s (ssh PID 42), 0 restarts"),
            "{status}"
        );
        assert!(
            status.contains("public: http://11.22.33.44:8080/  ws://11.22.33.44:8081/"),
            "{status}"
        );
        assert!(
            status.contains("host keys: new ones accepted and kept in /k/pfw.known_hosts"),
            "{status}"
        );
        assert!(!status.contains("last error"), "{status}");
    }

    #[test]
    fn restarts_back_off_and_a_stable_run_resets() {
        let mut now = Instant::now();
        let mut s = supervisor(1);
        s.started(1, now);
        let mut delays = Vec::new();
        for pid in 2..6 {
            s.stderr_line(
                "ssh: connect to host 11.22.33.44 port 22: Connection refused",
                now,
            );
            let out = texts(&s.exited(Exit::Code(255), now));
            assert!(
                out.starts_with("SSH tunnel down: nothing answers at 11.22.33.44 port 22"),
                "{out}"
            );
            let State::Waiting { until } = s.state else {
                panic!("{:?}", s.state)
            };
            delays.push((until - now).as_secs());
            assert!(!s.due(until - Duration::from_millis(1)));
            assert!(s.due(until));
            assert_eq!(s.restart_at(), Some(until));
            now = until;
            let out = texts(&s.started(pid, now));
            assert!(
                out.contains(&format!(
                    "starting ssh again (PID {pid}, restart {})",
                    pid - 1
                )),
                "{out}"
            );
        }
        assert_eq!(delays, [1, 2, 4, 8]);
        // Up a whole minute, then lost: start over at 1 s.
        now += STABLE_RUN;
        let out = texts(&s.exited(Exit::Signal(libc::SIGKILL), now));
        assert!(
            out.contains(
                "ssh PID 5 was killed by signal 9 (SIGKILL) after 1 min 0 s); trying again in 1.0 s"
            ),
            "{out}"
        );
        let status = texts(&s.status(now));
        assert!(
            status.contains("down, trying again in 1.0 s, 4 restarts"),
            "{status}"
        );
        assert!(
            status.contains("last error (0.0 s ago): ssh was stopped from outside"),
            "{status}"
        );
    }

    #[test]
    fn a_missing_ssh_is_said_and_retried() {
        let now = Instant::now();
        let mut s = supervisor(1);
        let err = std::io::Error::from(std::io::ErrorKind::NotFound);
        let out = texts(&s.start_failed(&err, now));
        assert!(out.contains("not found on PATH"), "{out}");
        assert!(out.contains("apt install openssh-client"), "{out}");
        assert!(out.ends_with("trying again in 1.0 s"), "{out}");
        assert!(s.due(now + S));
        let out = texts(&s.start_failed(&err, now + S));
        assert!(out.ends_with("trying again in 2.0 s"), "{out}");
    }

    #[test]
    fn what_ssh_says_is_explained() {
        for (lines, exit, expected) in [
            (
                &["pfw@11.22.33.44: Permission denied (publickey)."][..],
                Exit::Code(255),
                "the SSH server refused the key /k/pfw for pfw",
            ),
            (
                &[
                    "Authenticated to 11.22.33.44 ([11.22.33.44]:22) using \"publickey\".",
                    "Error: remote port forwarding failed for listen port 8080",
                ][..],
                Exit::Code(255),
                "would not listen on 11.22.33.44 port 8080",
            ),
            (
                &["ssh: connect to host 11.22.33.44 port 22: Connection timed out"][..],
                Exit::Code(255),
                "no answer from 11.22.33.44 port 22",
            ),
            (
                &["ssh: connect to host 11.22.33.44 port 22: No route to host"][..],
                Exit::Code(255),
                "cannot reach 11.22.33.44",
            ),
            (
                &[
                    "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @",
                    "Host key verification failed.",
                ][..],
                Exit::Code(255),
                "host key changed since it was first accepted: if that is expected, remove the old one with ssh-keygen -f /k/pfw.known_hosts -R '[11.22.33.44]:22'",
            ),
            (
                &["Timeout, server 11.22.33.44 not responding."][..],
                Exit::Code(255),
                "stopped answering keep-alives",
            ),
            (
                &["Connection closed by 11.22.33.44 port 22"][..],
                Exit::Code(255),
                "closed the connection",
            ),
            (
                &["something new"][..],
                Exit::Code(1),
                "ssh said: something new",
            ),
            (&[][..], Exit::Code(255), "ssh ended without saying why"),
        ] {
            let now = Instant::now();
            let mut s = supervisor(1);
            s.started(7, now);
            for line in lines {
                s.stderr_line(line, now);
            }
            let out = texts(&s.exited(exit, now));
            assert!(out.contains(expected), "{lines:?}: {out}");
        }
    }

    #[test]
    fn hostile_lines_are_defused() {
        let now = Instant::now();
        let mut s = supervisor(1);
        s.started(7, now);
        let out = texts(&s.stderr_line("banner \u{1b}[2J\u{7}cleared\r", now));
        assert_eq!(out, "ssh: banner ?[2J?cleared");
        let long = "x".repeat(10_000);
        assert_eq!(texts(&s.stderr_line(&long, now)).len(), 5 + 500);
    }

    #[test]
    fn stopping() {
        let now = Instant::now();
        let mut s = supervisor(1);
        s.started(9, now);
        assert_eq!(texts(&s.stopped()), "SSH tunnel closed (ssh PID 9 stopped)");
        assert!(!s.due(now + BACKOFF_CAP), "never restarted after a stop");
        assert!(s.stopped().is_empty());
        assert!(s.exited(Exit::Code(0), now).is_empty(), "late news ignored");
        let status = texts(&s.status(now));
        assert!(
            status.starts_with("SSH tunnel: stopped, 0 restarts"),
            "{status}"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(human(Duration::from_millis(300)), "0.3 s");
        assert_eq!(human(Duration::from_secs(4)), "4.0 s");
        assert_eq!(human(Duration::from_secs(12)), "12 s");
        assert_eq!(human(Duration::from_secs(192)), "3 min 12 s");
        assert_eq!(human(Duration::from_secs(7500)), "2 h 5 min");
        assert_eq!(human(Duration::from_secs(273_600)), "3 d 4 h");
    }
}
