//! The server under test: a child process on free ports, its output collected.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Lines of one output stream, appended by a reader thread.
#[derive(Default)]
struct Log {
    lines: Mutex<(Vec<String>, bool)>, // (lines, stream closed)
    grew: Condvar,
}

impl Log {
    fn follow(stream: impl Read + Send + 'static) -> Arc<Log> {
        let log = Arc::new(Log::default());
        let writer = log.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end_matches(['\n', '\r']).to_owned();
                writer.lines.lock().unwrap().0.push(text);
                writer.grew.notify_all();
                line.clear();
            }
            writer.lines.lock().unwrap().1 = true;
            writer.grew.notify_all();
        });
        log
    }

    fn text(&self) -> String {
        self.lines.lock().unwrap().0.join("\n")
    }

    fn len(&self) -> usize {
        self.lines.lock().unwrap().0.len()
    }

    /// The index of the first line at or after `from` that `matches`.
    fn wait(
        &self,
        from: usize,
        matches: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Option<usize> {
        let deadline = Instant::now() + timeout;
        let mut guard = self.lines.lock().unwrap();
        let mut next = from;
        loop {
            if let Some(i) = guard.0[next.min(guard.0.len())..]
                .iter()
                .position(|l| matches(&strip_ansi(l)))
            {
                return Some(next + i);
            }
            next = guard.0.len().max(from);
            let now = Instant::now();
            if guard.1 || now >= deadline {
                return None;
            }
            guard = self.grew.wait_timeout(guard, deadline - now).unwrap().0;
        }
    }

    fn line(&self, i: usize) -> String {
        strip_ansi(&self.lines.lock().unwrap().0[i])
    }
}

/// A running `dyspatcher -i 127.0.0.1 -p 0 -w 0 ARGS...`. Dropping it kills it.
pub struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Log>,
    stderr: Arc<Log>,
    /// Where `wait_for_output` looks next: after the last line it returned.
    cursor: usize,
    /// The web port (the page, and `/ws`).
    pub port: u16,
    /// The 0.9 WebSocket port; `None` with `--single-port`.
    pub ws_port: Option<u16>,
    pub args: Vec<String>,
}

impl Server {
    /// Starts the server and waits (30 s at most) for its banner. `args` come after
    /// `-i 127.0.0.1 -p 0 -w 0` (`-w 0` is left out with `--single-port`).
    pub fn start(args: &[&str]) -> Server {
        let single_port = args.contains(&"--single-port");
        let mut full: Vec<String> = ["-i", "127.0.0.1", "-p", "0"].map(String::from).to_vec();
        if !single_port {
            full.extend(["-w", "0"].map(String::from));
        }
        full.extend(args.iter().map(|a| a.to_string()));

        let bin = std::env::var("DYSPATCHER_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_dyspatcher").to_owned());
        let command = match std::env::var("DYSPATCHER_RUNNER") {
            Ok(runner) if !runner.trim().is_empty() => {
                let mut words = runner.split_whitespace();
                let mut c = Command::new(words.next().unwrap());
                c.args(words).arg(&bin);
                c
            }
            _ => Command::new(&bin),
        };
        Server::start_command(command, full, single_port)
    }

    /// Starts `command` with `args` (nothing added) and waits for the banner: how
    /// `start` runs the binary, open to tests of the harness itself.
    pub fn start_command(mut command: Command, args: Vec<String>, single_port: bool) -> Server {
        let bin = format!("{:?}", command.get_program());
        let full = args;
        command
            .args(&full)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let stdin = child.stdin.take();
        let stdout = Log::follow(child.stdout.take().unwrap());
        let stderr = Log::follow(child.stderr.take().unwrap());
        let mut server = Server {
            child,
            stdin,
            stdout,
            stderr,
            cursor: 0,
            port: 0,
            ws_port: None,
            args: full,
        };
        let tls = server
            .stdout
            .wait(0, |l| l.contains("Chat page: "), START_TIMEOUT)
            .map(|i| server.stdout.line(i).contains("https://"))
            .unwrap_or(false);
        let (http, ws) = if tls {
            ("https", "wss")
        } else {
            ("http", "ws")
        };
        server.port = server.banner_port(&format!("Chat page: {http}://127.0.0.1:"));
        if !single_port {
            server.ws_port =
                Some(server.banner_port(&format!("WebSocket for 0.9 clients: {ws}://127.0.0.1:")));
        }
        server
    }

    fn banner_port(&mut self, prefix: &str) -> u16 {
        let Some(i) = self.stdout.wait(0, |l| l.contains(prefix), START_TIMEOUT) else {
            self.fail(&format!(
                "no banner line {prefix:?} within {START_TIMEOUT:?}"
            ));
        };
        let line = self.stdout.line(i);
        let rest = &line[line.find(prefix).unwrap() + prefix.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let port = digits
            .parse()
            .unwrap_or_else(|_| self.fail(&format!("no port in {line:?}")));
        if !rest[digits.len()..].starts_with('/') {
            self.fail(&format!("the banner URL does not end in '/': {line:?}"));
        }
        port
    }

    /// `http://127.0.0.1:PORT/`
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// The URL a 0.9 client uses: the WebSocket port, or `/ws` with `--single-port`.
    pub fn ws_url(&self) -> String {
        match self.ws_port {
            Some(p) => format!("ws://127.0.0.1:{p}/"),
            None => self.ws_web_url(),
        }
    }

    /// `ws://127.0.0.1:PORT/ws`: the WebSocket on the web port, as our page uses it.
    pub fn ws_web_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// Writes one console line to the server's stdin.
    pub fn console(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin was closed");
        if let Err(e) = stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
        {
            let text = format!("cannot write {line:?} to the console: {e}");
            self.fail(&text);
        }
    }

    /// Closes the server's stdin (end of the console).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next stdout line (after the one the previous call returned) containing
    /// `needle`, ANSI colours removed. Panics with the whole output on timeout.
    pub fn wait_for_output(&mut self, needle: &str, timeout: Duration) -> String {
        self.wait_for_line(|l| l.contains(needle), timeout, needle)
    }

    /// Like `wait_for_output` with a predicate.
    pub fn wait_for_line(
        &mut self,
        matches: impl Fn(&str) -> bool,
        timeout: Duration,
        what: &str,
    ) -> String {
        match self.stdout.wait(self.cursor, matches, timeout) {
            Some(i) => {
                self.cursor = i + 1;
                self.stdout.line(i)
            }
            None => self.fail(&format!("no output line with {what:?} within {timeout:?}")),
        }
    }

    /// Whether a line containing `needle` appears (after the cursor) within `timeout`;
    /// does not move the cursor.
    pub fn output_shows(&self, needle: &str, timeout: Duration) -> bool {
        self.stdout
            .wait(self.cursor, |l| l.contains(needle), timeout)
            .is_some()
    }

    /// Skips `wait_for_output` past everything printed so far.
    pub fn skip_output(&mut self) {
        self.cursor = self.stdout.len();
    }

    /// Everything the server printed on stdout.
    pub fn output(&self) -> String {
        self.stdout.text()
    }

    /// Everything the server printed on stderr.
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// The exit status, if the process has exited within `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (e.g. `libc::SIGTERM`) to the server process.
    pub fn signal(&self, signal: i32) {
        // The child's pid, the process this harness started.
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0, "kill({}, {signal})", self.child.id());
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A raw HTTP/1.1 exchange on the web port: sends `request` as is, returns all the
    /// bytes the server answers until it closes or goes quiet for `Duration` 2 s.
    pub fn http_raw(&self, request: &[u8]) -> Vec<u8> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        stream.write_all(request).unwrap();
        let mut answer = Vec::new();
        let mut buf = [0; 16384];
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
        }
        answer
    }

    /// `GET path` with `Connection: close`: (status, head, body).
    pub fn http_get(&self, path: &str) -> (u16, String, Vec<u8>) {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        );
        let answer = self.http_raw(request.as_bytes());
        let split = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(&answer)));
        let head = String::from_utf8_lossy(&answer[..split]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        (status, head, answer[split + 4..].to_vec())
    }

    /// Panics with the server's whole output.
    pub fn fail(&mut self, what: &str) -> ! {
        let status = self.child.try_wait().ok().flatten();
        panic!(
            "{what}\n--- server {:?} (exit: {status:?}) stdout:\n{}\n--- stderr:\n{}\n---",
            self.args,
            self.output(),
            self.stderr()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Removes ANSI escape sequences (`ESC [ ... letter`).
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
