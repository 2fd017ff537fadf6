//! The tunnel's I/O shell, driven by the event loop: it starts `ssh`, reads its stderr
//! pipe when mio says it is readable, reaps it on SIGCHLD, starts it again when its
//! back-off runs out (its one deadline), and stops it.

use std::ffi::OsString;
use std::io::{self, Read as _};
use std::net::SocketAddr;
use std::os::fd::AsRawFd as _;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use super::argv::{forwards, ssh_args};
use super::options::TunnelOptions;
use super::supervisor::{BACKOFF_BASE, BACKOFF_CAP, Backoff, Exit, Supervisor};
use crate::console::ConsoleLine;

/// How long `stop` lets ssh end after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(1);
/// A stderr line longer than this is cut (the rest up to the newline is dropped).
const MAX_LINE: usize = 4096;

struct Running {
    child: Child,
    /// `None` once it reached end of file (the child may still run).
    stderr: Option<ChildStderr>,
    partial: Vec<u8>,
    discarding: bool,
}

/// The supervised `ssh -R` child.
pub struct Tunnel {
    supervisor: Supervisor,
    program: OsString,
    args: Vec<OsString>,
    token: Token,
    running: Option<Running>,
}

impl Tunnel {
    /// The tunnel for listeners bound at `web` (and `ws`); nothing runs yet (see
    /// [`Tunnel::start`]), so that `--daemon` can fork first.
    pub fn new(
        options: &TunnelOptions,
        web: SocketAddr,
        ws: Option<SocketAddr>,
        tls: bool,
    ) -> Self {
        let forwards = forwards(options, web.ip(), web.port(), ws.map(|a| a.port()), tls);
        let args = ssh_args(options, &forwards);
        let base = std::env::var("DYSPATCHER_TUNNEL_BACKOFF_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&ms| ms > 0)
            .map_or(BACKOFF_BASE, Duration::from_millis);
        Self {
            supervisor: Supervisor::new(options, forwards, Backoff::new(base, BACKOFF_CAP)),
            program: "ssh".into(),
            args,
            token: Token(usize::MAX),
            running: None,
        }
    }

    /// The public URLs: the page, then the 0.9 WebSocket port if there is one.
    pub fn urls(&self) -> Vec<String> {
        self.supervisor.urls()
    }

    #[cfg(test)]
    /// The command ssh is started with, program first.
    pub fn command_line(&self) -> Vec<OsString> {
        std::iter::once(self.program.clone())
            .chain(self.args.iter().cloned())
            .collect()
    }

    #[cfg(test)]
    pub fn pid(&self) -> Option<u32> {
        self.running.as_ref().map(|r| r.child.id())
    }

    /// Starts ssh for the first time; its stderr pipe is registered as `token`.
    pub fn start(&mut self, registry: &Registry, token: Token, now: Instant) -> Vec<ConsoleLine> {
        self.token = token;
        self.spawn(registry, now)
    }

    /// The stderr pipe is readable.
    pub fn readable(&mut self, registry: &Registry, now: Instant) -> Vec<ConsoleLine> {
        self.read_stderr(registry, now)
    }

    /// SIGCHLD arrived: reaps ssh if it ended.
    pub fn child_signal(&mut self, registry: &Registry, now: Instant) -> Vec<ConsoleLine> {
        self.reap(registry, now)
    }

    /// When [`Tunnel::handle_timeout`] has something to do: the end of the back-off
    /// while ssh is down. A running ssh needs no timer: its end comes as SIGCHLD (the
    /// signal pipe cannot lose it, and ssh is our only child), so no periodic
    /// `try_wait` is needed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.running {
            Some(_) => None,
            None => self.supervisor.restart_at(),
        }
    }

    /// Starts ssh again if its back-off ran out.
    pub fn handle_timeout(&mut self, registry: &Registry, now: Instant) -> Vec<ConsoleLine> {
        if self.running.is_none() && self.supervisor.due(now) {
            return self.spawn(registry, now);
        }
        Vec::new()
    }

    /// What `/tunnel` shows.
    pub fn status(&self, now: Instant) -> Vec<ConsoleLine> {
        self.supervisor.status(now)
    }

    /// Ends ssh (SIGTERM to its process group, SIGKILL after a second) and reaps it;
    /// the tunnel is not started again. Blocks at most about a second.
    pub fn stop(&mut self, registry: &Registry) -> Vec<ConsoleLine> {
        if let Some(mut run) = self.running.take() {
            if let Some(stderr) = run.stderr.take() {
                let _ = registry.deregister(&mut SourceFd(&stderr.as_raw_fd()));
            }
            end_child(&mut run.child);
        }
        self.supervisor.stopped()
    }

    fn spawn(&mut self, registry: &Registry, now: Instant) -> Vec<ConsoleLine> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group: Ctrl-C on the terminal reaches the server only,
            // which then stops ssh itself; `stop` signals the whole group.
            .process_group(0);
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            // SAFETY: getpid has no preconditions.
            let parent = unsafe { libc::getpid() };
            // SAFETY: the closure runs between fork and exec and makes only
            // async-signal-safe system calls; it allocates nothing.
            unsafe {
                command.pre_exec(move || {
                    // A server killed with SIGKILL takes ssh with it.
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    // The server died before prctl: nobody would end this ssh.
                    if libc::getppid() != parent {
                        return Err(io::Error::from_raw_os_error(libc::ESRCH));
                    }
                    Ok(())
                });
            }
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => return self.supervisor.start_failed(&e, now),
        };
        let stderr = child.stderr.take().and_then(|stderr| {
            let fd = stderr.as_raw_fd();
            // SAFETY: fcntl on the pipe we own.
            let ok = unsafe {
                let flags = libc::fcntl(fd, libc::F_GETFL);
                flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) == 0
            };
            let registered = ok
                && registry
                    .register(&mut SourceFd(&fd), self.token, Interest::READABLE)
                    .is_ok();
            // Without the pipe the tunnel still works; its messages are lost.
            registered.then_some(stderr)
        });
        let pid = child.id();
        self.running = Some(Running {
            child,
            stderr,
            partial: Vec::new(),
            discarding: false,
        });
        let mut lines = self.supervisor.started(pid, now);
        // Lines already written (a fast failure) are read now: edge-triggered.
        lines.extend(self.read_stderr(registry, now));
        lines
    }

    /// Reads the pipe until it is empty, passing complete lines to the supervisor.
    fn read_stderr(&mut self, registry: &Registry, now: Instant) -> Vec<ConsoleLine> {
        let mut out = Vec::new();
        let Some(run) = &mut self.running else {
            return out;
        };
        let mut chunk = [0u8; 4096];
        let mut complete = Vec::new();
        let mut eof = false;
        while let Some(stderr) = &mut run.stderr {
            match stderr.read(&mut chunk) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => split_lines(run, &chunk[..n], &mut complete),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    eof = true;
                    break;
                }
            }
        }
        if eof {
            if let Some(stderr) = run.stderr.take() {
                let _ = registry.deregister(&mut SourceFd(&stderr.as_raw_fd()));
            }
            if !run.partial.is_empty() && !run.discarding {
                complete.push(std::mem::take(&mut run.partial));
            }
        }
        for line in complete {
            out.extend(
                self.supervisor
                    .stderr_line(&String::from_utf8_lossy(&line), now),
            );
        }
        out
    }

    fn reap(&mut self, registry: &Registry, now: Instant) -> Vec<ConsoleLine> {
        let Some(run) = &mut self.running else {
            return Vec::new();
        };
        let exit = match run.child.try_wait() {
            Ok(None) => return Vec::new(),
            Ok(Some(status)) => Exit::from_status(status),
            Err(_) => Exit::Unknown,
        };
        // What it wrote before it ended is in the pipe: read it first, so the
        // console shows ssh's last words before the supervisor's verdict.
        let mut lines = self.read_stderr(registry, now);
        if let Some(mut run) = self.running.take() {
            if let Some(stderr) = run.stderr.take() {
                let _ = registry.deregister(&mut SourceFd(&stderr.as_raw_fd()));
            }
            if !run.partial.is_empty() && !run.discarding {
                let last = String::from_utf8_lossy(&run.partial).into_owned();
                lines.extend(self.supervisor.stderr_line(&last, now));
            }
        }
        lines.extend(self.supervisor.exited(exit, now));
        lines
    }
}

impl Drop for Tunnel {
    /// The event loop failed: no ssh is left behind.
    fn drop(&mut self) {
        if let Some(mut run) = self.running.take() {
            kill_group(&run.child, libc::SIGKILL);
            let _ = run.child.wait();
        }
    }
}

fn split_lines(run: &mut Running, bytes: &[u8], complete: &mut Vec<Vec<u8>>) {
    for &b in bytes {
        if b == b'\n' {
            if !run.discarding {
                complete.push(std::mem::take(&mut run.partial));
            }
            run.partial.clear();
            run.discarding = false;
        } else if !run.discarding {
            run.partial.push(b);
            if run.partial.len() >= MAX_LINE {
                complete.push(std::mem::take(&mut run.partial));
                run.discarding = true;
            }
        }
    }
}

/// Signals ssh's process group (ssh and anything it started, such as a ProxyCommand).
/// Only called on a child not reaped yet, so its PID (the group's ID) is still ours.
fn kill_group(child: &Child, signal: i32) {
    let pid = child.id() as libc::pid_t;
    // SAFETY: kill(2) on the process group our unreaped child leads.
    unsafe {
        if libc::kill(-pid, signal) != 0 {
            libc::kill(pid, signal);
        }
    }
}

fn end_child(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    kill_group(child, libc::SIGTERM);
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            _ => return,
        }
    }
    kill_group(child, libc::SIGKILL);
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};

    fn options(dir: &std::path::Path) -> TunnelOptions {
        TunnelOptions {
            host: "127.0.0.2".parse().unwrap(),
            port: 2222,
            user: "pfw".into(),
            key_file: dir.join("key"),
            strict_known_hosts: None,
        }
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "dyspatcher-tunnel-child-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A tunnel whose "ssh" is `sh -c script` (the real arguments are ignored), with a
    /// 50 ms back-off.
    fn fake(name: &str, script: &str) -> Tunnel {
        let dir = temp_dir(name);
        let mut t = Tunnel::new(
            &options(&dir),
            "127.0.0.1:8080".parse().unwrap(),
            None,
            false,
        );
        t.program = "/bin/sh".into();
        t.args = vec!["-c".into(), script.into()];
        t.supervisor = Supervisor::new(
            &options(&dir),
            forwards(
                &options(&dir),
                "127.0.0.1".parse().unwrap(),
                8080,
                None,
                false,
            ),
            Backoff::new(Duration::from_millis(50), BACKOFF_CAP),
        );
        t
    }

    fn start(poll: &Poll, t: &mut Tunnel) -> String {
        t.start(poll.registry(), Token(5), Instant::now())
            .iter()
            .map(|l| l.text() + "\n")
            .collect()
    }

    /// Runs a small event loop until `done` holds for the text shown so far, or 10 s
    /// pass. No SIGCHLD handler here: every turn stands for one, and timers are
    /// handled when due, as the server's loop does.
    fn drive(poll: &mut Poll, t: &mut Tunnel, shown: &mut String, done: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut events = Events::with_capacity(16);
        while !done(shown) {
            assert!(Instant::now() < deadline, "timed out; shown:\n{shown}");
            poll.poll(&mut events, Some(Duration::from_millis(20)))
                .unwrap();
            let now = Instant::now();
            let mut lines = Vec::new();
            if !events.is_empty() {
                lines.extend(t.readable(poll.registry(), now));
            }
            lines.extend(t.child_signal(poll.registry(), now));
            if t.poll_timeout().is_some_and(|at| at <= now) {
                lines.extend(t.handle_timeout(poll.registry(), now));
            }
            for line in lines {
                shown.push_str(&line.text());
                shown.push('\n');
            }
        }
    }

    #[test]
    fn the_real_command_line() {
        let dir = temp_dir("argv");
        let o = options(&dir);
        let t = Tunnel::new(
            &o,
            "0.0.0.0:8080".parse().unwrap(),
            Some("0.0.0.0:8081".parse().unwrap()),
            true,
        );
        let line: Vec<String> = t
            .command_line()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(line[0], "ssh");
        assert!(line.contains(&"127.0.0.2:8080:127.0.0.1:8080".to_string()));
        assert_eq!(line.last().unwrap(), "pfw@127.0.0.2");
        assert_eq!(
            t.urls(),
            ["https://127.0.0.2:8080/", "wss://127.0.0.2:8081/"]
        );
    }

    #[test]
    fn failing_child_is_restarted_with_its_words_shown() {
        let mut poll = Poll::new().unwrap();
        let mut t = fake(
            "fails",
            "echo 'ssh: connect to host 127.0.0.2 port 2222: Connection refused' >&2; exit 255",
        );
        let mut shown = start(&poll, &mut t);
        drive(&mut poll, &mut t, &mut shown, |s| {
            s.matches("SSH tunnel down").count() >= 3
        });
        assert!(
            shown.contains("ssh: ssh: connect to host 127.0.0.2 port 2222: Connection refused\nSSH tunnel down: nothing answers at 127.0.0.2 port 2222"),
            "the child's words come before the verdict:\n{shown}"
        );
        assert!(shown.contains("exited with status 255"), "{shown}");
        assert!(shown.contains("restart 2"), "{shown}");
        assert!(shown.contains("trying again in 0.1 s"), "doubling: {shown}");
        t.stop(poll.registry());
    }

    #[test]
    fn up_then_killed_then_up_again_then_stopped() {
        let mut poll = Poll::new().unwrap();
        let mut t = fake(
            "up",
            "echo 'debug1: remote forward success for: listen 127.0.0.2:8080, connect 127.0.0.1:8080' >&2; exec sleep 30",
        );
        let mut shown = start(&poll, &mut t);
        drive(&mut poll, &mut t, &mut shown, |s| {
            s.contains("SSH tunnel up")
        });
        let first = t.pid().unwrap();
        // SAFETY: signalling the child this test started.
        unsafe { libc::kill(first as i32, libc::SIGKILL) };
        drive(&mut poll, &mut t, &mut shown, |s| {
            s.matches("SSH tunnel up").count() == 2
        });
        assert!(
            shown.contains("was killed by signal 9 (SIGKILL)"),
            "{shown}"
        );
        let second = t.pid().unwrap();
        assert_ne!(first, second);
        let status: String = t
            .status(Instant::now())
            .iter()
            .map(|l| l.text() + "\n")
            .collect();
        assert!(
            status.contains(&format!("(ssh PID {second}), 1 restart")),
            "{status}"
        );
        let started = Instant::now();
        let out: String = t.stop(poll.registry()).iter().map(|l| l.text()).collect();
        assert!(started.elapsed() < STOP_GRACE, "sleep ends on SIGTERM");
        assert_eq!(out, format!("SSH tunnel closed (ssh PID {second} stopped)"));
        assert!(
            !std::path::Path::new(&format!("/proc/{second}")).exists(),
            "reaped"
        );
        assert_eq!(t.poll_timeout(), None, "stopped: nothing to wait for");
        assert!(
            t.handle_timeout(poll.registry(), Instant::now() + BACKOFF_CAP)
                .is_empty()
        );
        assert_eq!(t.pid(), None);
    }

    #[test]
    fn stop_kills_a_child_that_ignores_sigterm() {
        let mut poll = Poll::new().unwrap();
        // The shell ignores SIGTERM; so does the sleep it waits for (inherited). "ready"
        // comes late: it is read on a readable event, not when ssh is started.
        let mut t = fake(
            "stubborn",
            "trap '' TERM; sleep 0.2; echo ready >&2; sleep 30; sleep 30",
        );
        let mut shown = start(&poll, &mut t);
        drive(&mut poll, &mut t, &mut shown, |s| s.contains("ssh: ready"));
        let pid = t.pid().unwrap();
        let started = Instant::now();
        t.stop(poll.registry());
        assert!(started.elapsed() >= STOP_GRACE, "SIGTERM was ignored");
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "reaped"
        );
    }

    #[test]
    fn a_missing_program_is_said_and_retried() {
        let mut poll = Poll::new().unwrap();
        let mut t = fake("missing", "");
        t.program = "/nonexistent/ssh".into();
        let mut shown = start(&poll, &mut t);
        assert!(shown.contains("not found on PATH"), "{shown}");
        drive(&mut poll, &mut t, &mut shown, |s| {
            s.matches("not found on PATH").count() >= 2
        });
    }

    #[test]
    fn long_and_partial_lines() {
        let mut poll = Poll::new().unwrap();
        let mut t = fake(
            "lines",
            "head -c 10000 /dev/zero | tr '\\0' x >&2; printf '\\nafter\\nno newline' >&2; exit 3",
        );
        let mut shown = start(&poll, &mut t);
        drive(&mut poll, &mut t, &mut shown, |s| {
            s.contains("SSH tunnel down")
        });
        assert!(shown.contains("\nssh: after\nssh: no newline\n"), "{shown}");
        assert!(shown.contains("ssh said: no newline"), "{shown}");
        assert_eq!(shown.matches("ssh: xxx").count(), 1, "cut, rest dropped");
        t.stop(poll.registry());
    }
}
