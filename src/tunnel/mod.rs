//! The SSH tunnel (`--sshpfw-*`): a supervised `ssh -R` child that makes the chat
//! reachable through an SSH server, restarted with a growing back-off whenever it ends.
//!
//! - `options.rs`: the command-line options, checked before anything is bound.
//! - `argv.rs`: the `ssh` command line and the forwarded addresses.
//! - `supervisor.rs`: the decisions (sans-I/O): states, back-off, what ssh's stderr
//!   means, what the console says.
//! - `ssh_process.rs`: the I/O shell the event loop drives around the `ssh` process:
//!   spawning, the stderr pipe (a mio source), reaping on SIGCHLD, stopping.
//!
//! The design (one thread, SIGCHLD and the pipe in the same mio `Poll`, PR_SET_PDEATHSIG)
//! is explained in docs/ARCHITECTURE.md, "The SSH tunnel".
//!
//! Test knob: the environment variable `DYSPATCHER_TUNNEL_BACKOFF_MS` replaces the first
//! back-off delay (1000 ms), so that tests see restarts within a second. Not for users.

mod argv;
mod options;
mod ssh_process;
mod supervisor;

pub use options::{TunnelOptions, parse_options};
pub use ssh_process::Tunnel;
