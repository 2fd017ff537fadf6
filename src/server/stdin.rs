//! The console's input: stdin, watched by the event loop when epoll can watch it (a
//! terminal or a pipe). Reads never block: each read is preceded by a zero-timeout
//! poll(2), so a spurious wake-up costs nothing and stdin's flags are left untouched
//! (setting O_NONBLOCK on a shared terminal would break the user's shell).

use std::io;
use std::os::fd::RawFd;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

const STDIN: RawFd = 0;

pub struct ConsoleInput {
    buf: Vec<u8>,
    /// Inside an over-long line: drop bytes up to the next newline.
    discarding: bool,
    max_line: usize,
}

pub enum ConsoleEvent {
    Line(String),
    TooLong,
    Closed,
}

impl ConsoleInput {
    /// `None` when stdin cannot be watched: closed, /dev/null, a regular file.
    pub fn register(registry: &Registry, token: Token, max_line: usize) -> Option<Self> {
        registry
            .register(&mut SourceFd(&STDIN), token, Interest::READABLE)
            .ok()?;
        Some(Self {
            buf: Vec::new(),
            discarding: false,
            max_line,
        })
    }

    pub fn deregister(&self, registry: &Registry) {
        let _ = registry.deregister(&mut SourceFd(&STDIN));
    }

    /// Everything stdin has for us now.
    pub fn read(&mut self) -> Vec<ConsoleEvent> {
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
                n => self.take(&chunk[..n as usize], &mut events),
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
        }
    }

    fn lines(events: &[ConsoleEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                ConsoleEvent::Line(l) => l.clone(),
                ConsoleEvent::TooLong => "<too long>".into(),
                ConsoleEvent::Closed => "<closed>".into(),
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
