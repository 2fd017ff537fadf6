//! The console's input: stdin, watched by the event loop when epoll can watch it (a
//! terminal or a pipe). Reads never block: each read is preceded by a zero-timeout
//! poll(2), so a spurious wake-up costs nothing and stdin's flags are left untouched
//! (setting O_NONBLOCK on a shared terminal would break the user's shell).
//!
//! On a terminal (stdin and stdout both) the bytes go through the line editor
//! (`console/editor.rs`) in raw mode (`terminal.rs`); otherwise they are plain lines.

use std::io;
use std::os::fd::RawFd;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use super::terminal::RawMode;
use crate::console::editor::{Edit, Editor};

const STDIN: RawFd = 0;

pub struct ConsoleInput {
    buf: Vec<u8>,
    /// Inside an over-long line: drop bytes up to the next newline.
    discarding: bool,
    max_line: usize,
    /// On a terminal: raw mode (restored when dropped) and the editor.
    terminal: Option<(RawMode, Editor)>,
}

pub enum ConsoleEvent {
    Line(String),
    TooLong,
    Closed,
    /// On a terminal: a line as typed, to show above its answer.
    Echo(String),
    /// Ctrl-C on an empty line.
    Stop,
    /// Ctrl-D on an empty line.
    EndAsked,
    /// Tab found several completions.
    Candidates(Vec<String>),
}

impl ConsoleInput {
    /// `None` when stdin cannot be watched: closed, /dev/null, a regular file.
    pub fn register(registry: &Registry, token: Token, max_line: usize) -> Option<Self> {
        registry
            .register(&mut SourceFd(&STDIN), token, Interest::READABLE)
            .ok()?;
        let terminal = RawMode::enable().map(|raw| (raw, Editor::new(max_line)));
        Some(Self {
            buf: Vec::new(),
            discarding: false,
            max_line,
            terminal,
        })
    }

    /// The prompt line to keep below the output; `None` when stdin is no terminal.
    pub fn prompt(&self) -> Option<String> {
        self.terminal
            .as_ref()
            .map(|(raw, editor)| editor.render(raw.width()))
    }

    pub fn deregister(&self, registry: &Registry) {
        let _ = registry.deregister(&mut SourceFd(&STDIN));
    }

    /// Everything stdin has for us now. `names`: the connected users' names, asked for
    /// when Tab completes one.
    pub fn read(&mut self, names: &mut dyn FnMut() -> Vec<String>) -> Vec<ConsoleEvent> {
        let mut events = Vec::new();
        let mut chunk = [0u8; 4096];
        while readable_now() {
            // SAFETY: reading into a stack buffer of the length given.
            let n = unsafe { libc::read(STDIN, chunk.as_mut_ptr().cast(), chunk.len()) };
            match n {
                0 => {
                    self.flush_partial(&mut events);
                    events.push(ConsoleEvent::Closed);
                    return events;
                }
                n if n < 0 => {
                    let err = io::Error::last_os_error();
                    if err.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    if err.kind() != io::ErrorKind::WouldBlock {
                        events.push(ConsoleEvent::Closed);
                    }
                    return events;
                }
                n => match &mut self.terminal {
                    Some((_, editor)) => {
                        for edit in editor.feed(&chunk[..n as usize], names) {
                            events.extend(match edit {
                                Edit::Line(line) => {
                                    vec![ConsoleEvent::Echo(line.clone()), ConsoleEvent::Line(line)]
                                }
                                Edit::Stop => vec![ConsoleEvent::Stop],
                                Edit::EndAsked => vec![ConsoleEvent::EndAsked],
                                Edit::Candidates(c) => vec![ConsoleEvent::Candidates(c)],
                            });
                        }
                    }
                    None => self.take(&chunk[..n as usize], &mut events),
                },
            }
        }
        events
    }

    fn take(&mut self, mut bytes: &[u8], events: &mut Vec<ConsoleEvent>) {
        while let Some(pos) = bytes.iter().position(|&b| b == b'\n') {
            if self.discarding {
                self.discarding = false;
            } else if self.buf.len() + pos > self.max_line {
                events.push(ConsoleEvent::TooLong);
            } else {
                self.buf.extend_from_slice(&bytes[..pos]);
                events.push(ConsoleEvent::Line(
                    String::from_utf8_lossy(&self.buf).into_owned(),
                ));
            }
            self.buf.clear();
            bytes = &bytes[pos + 1..];
        }
        if self.discarding {
            return;
        }
        self.buf.extend_from_slice(bytes);
        if self.buf.len() > self.max_line {
            self.buf.clear();
            self.discarding = true;
            events.push(ConsoleEvent::TooLong);
        }
    }

    fn flush_partial(&mut self, events: &mut Vec<ConsoleEvent>) {
        if !self.buf.is_empty() && !self.discarding {
            events.push(ConsoleEvent::Line(
                String::from_utf8_lossy(&self.buf).into_owned(),
            ));
        }
        self.buf.clear();
    }
}

fn readable_now() -> bool {
    let mut fd = libc::pollfd {
        fd: STDIN,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd, zero timeout.
    let ready = unsafe { libc::poll(&mut fd, 1, 0) };
    ready > 0 && fd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
}

/// Makes sure file descriptors 0, 1 and 2 are open (on /dev/null if they were closed),
/// so that no socket can take their place and receive console output.
pub fn ensure_standard_fds() {
    for fd in 0..=2 {
        // SAFETY: F_GETFD on a possibly closed descriptor only reports EBADF.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            // SAFETY: open returns the lowest free descriptor, which is `fd`.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(max: usize) -> ConsoleInput {
        ConsoleInput {
            buf: Vec::new(),
            discarding: false,
            max_line: max,
            terminal: None,
        }
    }

    fn lines(events: &[ConsoleEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                ConsoleEvent::Line(l) => l.clone(),
                ConsoleEvent::TooLong => "<too long>".into(),
                ConsoleEvent::Closed => "<closed>".into(),
                _ => "<terminal only>".into(),
            })
            .collect()
    }

    #[test]
    fn lines_across_reads() {
        let mut c = input(100);
        let mut ev = Vec::new();
        c.take(b"/us", &mut ev);
        c.take(b"ers\n@bob hi\n@al", &mut ev);
        assert_eq!(lines(&ev), ["/users", "@bob hi"]);
        c.flush_partial(&mut ev);
        assert_eq!(lines(&ev), ["/users", "@bob hi", "@al"]);
    }

    #[test]
    fn an_over_long_line_is_dropped_whole_and_reported_once() {
        let mut c = input(8);
        let mut ev = Vec::new();
        c.take(b"0123456789", &mut ev);
        c.take(b"abcdef", &mut ev);
        c.take(b"xyz\n/q\n", &mut ev);
        assert_eq!(lines(&ev), ["<too long>", "/q"]);
        // Over the limit within one read, newline included.
        c.take(b"0123456789\n", &mut ev);
        assert_eq!(lines(&ev), ["<too long>", "/q", "<too long>"]);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let mut c = input(100);
        let mut ev = Vec::new();
        c.take(b"@bob \xff\xfe\n", &mut ev);
        assert_eq!(lines(&ev), ["@bob \u{fffd}\u{fffd}"]);
    }
}
