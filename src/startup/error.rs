//! Why the server did not start, or stopped: the exit status tells a mistake in the
//! command (status 2: fix the command and try again) from a refusal of the machine
//! (status 1: a port in use, a failed fork, the event loop).

use std::fmt;
use std::process::ExitCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupError {
    /// The command line, or a file it names, is wrong.
    Usage(String),
    /// The machine refused what a correct command asked for.
    Runtime(String),
}

impl StartupError {
    pub fn exit_status(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            Self::Runtime(_) => 1,
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.exit_status())
    }
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(message) | Self::Runtime(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for StartupError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_usage_mistake_exits_2_a_refusal_1() {
        let usage = StartupError::Usage("-p \"x\" is not a port".into());
        let runtime = StartupError::Runtime("port 80 is already in use".into());
        assert_eq!((usage.exit_status(), runtime.exit_status()), (2, 1));
        assert_eq!(usage.to_string(), "-p \"x\" is not a port");
        assert_eq!(runtime.to_string(), "port 80 is already in use");
    }
}
