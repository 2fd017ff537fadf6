//! The console's terminal in raw mode, when stdin and stdout are both terminals: keys
//! arrive one by one (Ctrl-C as a byte, not SIGINT) for the line editor, output
//! processing stays on (a "\n" still starts a new line). The settings found at start are
//! put back on every way out: at the end of the event loop (after /quit, Ctrl-C,
//! SIGTERM, SIGHUP, or the loop failing: [`RawMode`] is dropped) and from a panic hook
//! (the release profile aborts on a panic, so no destructor would run).

use std::io::IsTerminal as _;
use std::sync::OnceLock;

const STDIN: i32 = 0;

/// The settings to restore; set once, read by the panic hook too.
static ORIGINAL: OnceLock<libc::termios> = OnceLock::new();

/// Raw mode while alive.
pub struct RawMode(());

impl RawMode {
    /// `None` over a pipe, a file, a service manager, or when the terminal refuses.
    pub fn enable() -> Option<Self> {
        if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
            return None;
        }
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        let mut original: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(STDIN, &mut original) } != 0 {
            return None;
        }
        let mut raw = original;
        raw.c_lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG | libc::IEXTEN);
        raw.c_iflag &= !(libc::IXON | libc::ICRNL | libc::INLCR | libc::ISTRIP | libc::BRKINT);
        raw.c_cc[libc::VMIN] = 1;
        raw.c_cc[libc::VTIME] = 0;
        let _ = ORIGINAL.set(original);
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        // SAFETY: a termios from tcgetattr, changed in its flags only.
        if unsafe { libc::tcsetattr(STDIN, libc::TCSANOW, &raw) } != 0 {
            return None;
        }
        Some(Self(()))
    }

    /// Columns of the terminal (80 when it does not say).
    pub fn width(&self) -> usize {
        // SAFETY: TIOCGWINSZ fills a winsize or fails.
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        let ok = unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut size) } == 0;
        if ok && size.ws_col > 0 {
            usize::from(size.ws_col)
        } else {
            80
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore();
    }
}

fn restore() {
    if let Some(original) = ORIGINAL.get() {
        // SAFETY: the settings tcgetattr gave at start.
        unsafe { libc::tcsetattr(STDIN, libc::TCSANOW, original) };
    }
}
