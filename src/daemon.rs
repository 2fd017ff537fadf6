//! `--daemon`: after the checks and the binding happened in the foreground (so errors
//! are seen), the server forks; the parent reports the PID and exits, the child starts
//! its own session with stdin, stdout and stderr on /dev/null.

use std::io::Write as _;
use std::path::Path;

/// Which process this is after the daemon step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The server: it goes on to run the event loop.
    Server,
    /// The process started with `--daemon`: the server runs in its child, and this one
    /// has nothing more to do.
    Launcher,
}

enum Forked {
    /// The process that was started: it reports and exits.
    Parent { child: u32 },
    /// The server, detached.
    Child,
}

/// Forks if `--daemon` asked for it, and writes the server's PID to `--pid-file`. Must
/// run while the process has a single thread.
pub fn detach_if_asked(daemon: bool, pid_file: Option<&Path>) -> Result<Role, String> {
    if !daemon {
        if let Some(path) = pid_file {
            write_pid_file(path, std::process::id())?;
        }
        return Ok(Role::Server);
    }
    match detach()? {
        Forked::Child => Ok(Role::Server),
        Forked::Parent { child } => {
            if let Some(path) = pid_file {
                write_pid_file(path, child)?;
            }
            println!(
                "dyspatcher runs in the background as PID {child}. Stop it with: kill {child}"
            );
            Ok(Role::Launcher)
        }
    }
}

/// Checks that the PID file can be written, before anything else happens.
pub fn prepare_pid_file(path: &Path) -> Result<(), String> {
    std::fs::File::create(path)
        .map(drop)
        .map_err(|e| format!("cannot write --pid-file {}: {e}", path.display()))
}

fn write_pid_file(path: &Path, pid: u32) -> Result<(), String> {
    std::fs::File::create(path)
        .and_then(|mut f| writeln!(f, "{pid}"))
        .map_err(|e| format!("cannot write --pid-file {}: {e}", path.display()))
}

/// Forks. Must run while the process has a single thread.
fn detach() -> Result<Forked, String> {
    // SAFETY: fork in a single-threaded process; the child only continues Rust code.
    match unsafe { libc::fork() } {
        -1 => Err(format!(
            "cannot go to the background: {}",
            std::io::Error::last_os_error()
        )),
        0 => {
            // SAFETY: plain system calls on our own process and descriptors.
            unsafe {
                libc::setsid();
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                if null >= 0 {
                    for fd in 0..=2 {
                        libc::dup2(null, fd);
                    }
                    if null > 2 {
                        libc::close(null);
                    }
                }
            }
            Ok(Forked::Child)
        }
        child => Ok(Forked::Parent {
            child: child as u32,
        }),
    }
}
