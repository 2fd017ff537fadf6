//! `dyspatcher`, in four steps: parse the command line; start up (check the files it
//! names, the keys and TLS, bind the ports, show the banner); go to the background if
//! asked; run the event loop. Every start-up problem is reported before anything runs:
//! exit status 2 for a usage mistake, 1 for what the machine refused.

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Instant;

use dyspatcher::{
    ConsoleLine, HELP, Invocation, Options, Role, Server, ServerParts, StartupError,
    detach_if_asked, ensure_standard_fds, parse_arguments, start,
};

fn main() -> ExitCode {
    ensure_standard_fds();
    match serve(std::env::args_os().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("dyspatcher: {error}");
            error.exit_code()
        }
    }
}

fn serve(args: Vec<OsString>) -> Result<(), StartupError> {
    let Some(options) = parse(args)? else {
        return Ok(());
    };
    let started = Instant::now();
    let prepared = start(options)?;
    let role = detach_if_asked(prepared.daemon, prepared.pid_file.as_deref())
        .map_err(StartupError::Runtime)?;
    match role {
        Role::Launcher => Ok(()),
        Role::Server => run(prepared.parts, started),
    }
}

/// The options to run with; `None` once `--help` or `--version` is answered.
fn parse(args: Vec<OsString>) -> Result<Option<Options>, StartupError> {
    match parse_arguments(args).map_err(StartupError::Usage)? {
        Invocation::Run(options) => Ok(Some(*options)),
        Invocation::Help => {
            println!("{HELP}");
            Ok(None)
        }
        Invocation::Version => {
            println!("dyspatcher {}", env!("CARGO_PKG_VERSION"));
            Ok(None)
        }
    }
}

/// The event loop, until the server stops. `started` is when start-up began, for the
/// "Ready" line.
fn run(parts: ServerParts, started: Instant) -> Result<(), StartupError> {
    let mut server = Server::new(parts)
        .map_err(|e| StartupError::Runtime(format!("cannot start the event loop: {e}")))?;
    let ready = if server.has_console() {
        format!(
            "Ready in {} ms. Type /help for the commands, @NAME text to write.",
            started.elapsed().as_millis()
        )
    } else {
        "No console (stdin cannot be read): stop the server with Ctrl-C or kill -TERM.".to_string()
    };
    server.show(&ConsoleLine::screen_only(ready));
    server
        .run()
        .map_err(|e| StartupError::Runtime(format!("the event loop failed: {e}")))
}
