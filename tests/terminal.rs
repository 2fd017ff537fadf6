//! The console on a real terminal: the server runs in a tmux pane (a pseudo-terminal),
//! keys are typed with `tmux send-keys`, the screen is read with `tmux capture-pane`.
//! Skipped, with a line that says so, when tmux is not installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

struct Pane {
    socket: PathBuf,
    dir: PathBuf,
}

impl Pane {
    /// Starts the server in a new tmux session; `stty -g` is saved before and after it.
    fn start(name: &str) -> Option<Pane> {
        if Command::new("tmux").arg("-V").output().is_err() {
            // CI installs tmux: there a missing one is a failure, never a silent pass.
            assert!(
                std::env::var_os("CI").is_none(),
                "tmux is not installed (apt install tmux)"
            );
            eprintln!("tmux is not installed: terminal test skipped (apt install tmux)");
            return None;
        }
        let dir =
            std::env::temp_dir().join(format!("dyspatcher-tty-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let bin = env!("CARGO_BIN_EXE_dyspatcher");
        let script = format!(
            "stty -g > before; echo $$ > shell.pid; env -u NO_COLOR {bin} -i 127.0.0.1 -p 0 --single-port; stty -g > after; sleep 60"
        );
        let pane = Pane {
            socket: dir.join("tmux.sock"),
            dir,
        };
        let ok = pane
            .tmux(&["new-session", "-d", "-x", "150", "-y", "50", "-c"])
            .arg(&pane.dir)
            .args(["sh", "-c", &script])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session");
        Some(pane)
    }

    fn tmux(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket).args(args);
        c
    }

    fn keys(&self, keys: &[&str]) {
        let ok = self
            .tmux(&["send-keys"])
            .args(keys)
            .status()
            .unwrap()
            .success();
        assert!(ok, "send-keys {keys:?}");
    }

    fn screen(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-J"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits for the screen to satisfy `f`; panics with the screen if it does not.
    fn wait(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            if f(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("{what}: not on the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn port(&self) -> u16 {
        let screen = self.wait("the banner", |s| s.contains("Ready in"));
        let prefix = "Chat page: http://127.0.0.1:";
        let at = screen.find(prefix).expect("chat page line") + prefix.len();
        let digits: String = screen[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().unwrap()
    }

    /// The last line with text on it, without its trailing blanks.
    fn last_line(screen: &str) -> &str {
        screen
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim_end()
    }

    /// The terminal settings before the server and after it ended, once it has.
    fn modes(&self) -> (String, String) {
        let after = self.dir.join("after");
        let deadline = Instant::now() + WAIT;
        while !after.exists() || read(&after).is_empty() {
            assert!(
                Instant::now() < deadline,
                "the server did not end:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        (read(&self.dir.join("before")), read(&after))
    }

    fn server_pid(&self) -> i32 {
        let shell: i32 = read(&self.dir.join("shell.pid")).parse().unwrap();
        let out = Command::new("pgrep")
            .args(["-P", &shell.to_string()])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .lines()
            .next()
            .expect("server pid")
            .parse()
            .unwrap()
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn typing_while_others_talk_history_completion_and_quit() {
    let Some(pane) = Pane::start("quit") else {
        return;
    };
    let url = format!("ws://127.0.0.1:{}/ws", pane.port());
    let mut alice = Client::join(&url, "alice", keys("alice"));
    pane.wait("alice joined", |s| s.contains("alice joined"));

    pane.keys(&["/users", "Enter"]);
    pane.wait("the answer to /users", |s| {
        s.contains("1 connected besides")
    });

    // Half a reply typed, then a message arrives: it prints above, the text stays.
    pane.keys(&["-l", "@alice I am typing a long"]);
    pane.wait("the typed text", |s| {
        Pane::last_line(s) == "> @alice I am typing a long"
    });
    alice.say_to("ADMIN", "are you there?");
    let screen = pane.wait("alice's message", |s| s.contains("are you there?"));
    assert_eq!(
        Pane::last_line(&screen),
        "> @alice I am typing a long",
        "{screen}"
    );
    let message_row = screen
        .lines()
        .position(|l| l.contains("are you there?"))
        .unwrap();
    let prompt_row = screen
        .lines()
        .collect::<Vec<_>>()
        .iter()
        .rposition(|l| l.starts_with("> @alice I am"))
        .unwrap();
    assert!(
        message_row < prompt_row,
        "the message above the prompt:\n{screen}"
    );
    assert!(
        !screen.contains("long["),
        "no line in the middle of the typing:\n{screen}"
    );

    // Ctrl-U clears it; Up recalls the previous command.
    pane.keys(&["C-u", "Up"]);
    pane.wait("the previous command", |s| Pane::last_line(s) == "> /users");
    // Tab completes a connected name.
    pane.keys(&["C-u"]);
    pane.keys(&["-l", "@al"]);
    pane.keys(&["Tab"]);
    pane.wait("@al completed", |s| Pane::last_line(s).starts_with("> @al"));
    pane.keys(&["-l", "i"]);
    pane.keys(&["Tab"]);
    pane.wait("@alice completed", |s| Pane::last_line(s) == "> @alice");
    pane.keys(&["-l", "hello from the console"]);
    pane.keys(&["Enter"]);
    alice.expect_text("ADMIN", "hello from the console", WAIT);

    pane.keys(&["/quit", "Enter"]);
    let (before, after) = pane.modes();
    assert_eq!(before, after, "the terminal modes are restored after /quit");
}

#[test]
fn ctrl_c_clears_the_line_then_stops_and_the_terminal_is_restored() {
    let Some(pane) = Pane::start("ctrlc") else {
        return;
    };
    pane.port();
    pane.keys(&["-l", "half typed"]);
    pane.wait("the typed text", |s| Pane::last_line(s) == "> half typed");
    pane.keys(&["C-c"]);
    pane.wait("the line cleared", |s| Pane::last_line(s) == ">");
    pane.keys(&["C-d"]);
    pane.wait("Ctrl-D's answer", |s| s.contains("type /quit"));
    pane.keys(&["C-c"]);
    pane.wait("stopping", |s| s.contains("dyspatcher stopped"));
    let (before, after) = pane.modes();
    assert_eq!(
        before, after,
        "the terminal modes are restored after Ctrl-C"
    );
}

#[test]
fn sigterm_restores_the_terminal() {
    let Some(pane) = Pane::start("term") else {
        return;
    };
    pane.port();
    pane.keys(&["-l", "typed"]);
    pane.wait("the typed text", |s| Pane::last_line(s) == "> typed");
    let tty = pane
        .tmux(&["display", "-p", "#{pane_tty}"])
        .output()
        .unwrap();
    let tty = String::from_utf8_lossy(&tty.stdout).trim().to_string();
    let during = Command::new("stty")
        .args(["-F", &tty, "-g"])
        .output()
        .unwrap();
    let during = String::from_utf8_lossy(&during.stdout).trim().to_string();
    assert_ne!(
        during,
        read(&pane.dir.join("before")),
        "raw mode while it runs"
    );
    // SAFETY: a signal to the server this test started.
    unsafe { libc::kill(pane.server_pid(), libc::SIGTERM) };
    pane.wait("stopping", |s| s.contains("SIGTERM received: stopping"));
    let (before, after) = pane.modes();
    assert_eq!(
        before, after,
        "the terminal modes are restored after SIGTERM"
    );
}

/// The QR code drawn on a terminal with colours: black ink for the dark modules on a
/// forced white background, so it reads on a dark or light terminal alike. Read back
/// off the screen (the glyphs; tmux drops the trailing blanks, which are light) and
/// decoded, it is the page's URL printed under it. Then `/verify` completed by Tab.
#[test]
fn the_qr_code_reads_off_a_coloured_terminal_and_verify_completes() {
    let Some(pane) = Pane::start("qr") else {
        return;
    };
    let page = format!("http://127.0.0.1:{}/", pane.port());
    let screen = pane.screen();
    let lines: Vec<&str> = screen.lines().collect();
    let caption = lines
        .iter()
        .position(|l| l.trim_end() == "Chat page:")
        .expect(&screen);
    let under = lines
        .iter()
        .position(|l| l.trim_end() == format!("  {page}"))
        .expect(&screen);
    let drawing = &lines[caption + 1..under];
    let width = drawing.iter().map(|l| l.chars().count()).max().unwrap();
    let mut modules: Vec<Vec<bool>> = Vec::new();
    for line in drawing {
        let mut cells: Vec<char> = line.chars().collect();
        cells.resize(width, ' ');
        let (top, bottom) = cells
            .iter()
            .map(|c| match c {
                '\u{2588}' => (true, true),
                '\u{2580}' => (true, false),
                '\u{2584}' => (false, true),
                ' ' => (false, false),
                other => panic!("not a half block: {other:?}\n{screen}"),
            })
            .unzip();
        modules.push(top);
        modules.push(bottom);
    }
    // The quiet zone is drawn too (4 modules, forced white): the widest line starts
    // with it and the drawing is as wide as it is tall.
    assert_eq!(width, modules.len() - 1, "{screen}");
    let mut image =
        rqrr::PreparedImage::prepare_from_bitmap(width * 4, modules.len() * 4, |x, y| {
            modules[y / 4][x / 4]
        });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "{screen}");
    assert_eq!(grids[0].decode().unwrap().1, page);
    let colours = pane.tmux(&["capture-pane", "-p", "-e"]).output().unwrap();
    let colours = String::from_utf8_lossy(&colours.stdout);
    assert!(
        colours.contains("\x1b[30m") || colours.contains("[30;"),
        "black ink: {colours:?}"
    );

    let url = format!("ws://127.0.0.1:{}/ws", pane.port());
    let _alice = Client::join(&url, "alice", keys("alice"));
    pane.wait("alice joined", |s| s.contains("alice joined"));
    pane.keys(&["-l", "/ver"]);
    pane.keys(&["Tab"]);
    pane.wait("/verify completed", |s| Pane::last_line(s) == "> /verify");
    pane.keys(&["-l", "al"]);
    pane.keys(&["Tab"]);
    pane.wait("alice completed", |s| {
        Pane::last_line(s) == "> /verify alice"
    });
    pane.keys(&["Enter"]);
    pane.wait("the comparison code", |s| s.contains("Comparison code: "));
    pane.keys(&["-l", "/verify alice ok"]);
    pane.keys(&["Enter"]);
    pane.wait("marked", |s| s.contains("marked as verified"));
    pane.keys(&["-l", "/users"]);
    pane.keys(&["Enter"]);
    pane.wait("the mark", |s| s.contains("\u{2713} verified"));
    pane.keys(&["/quit", "Enter"]);
    pane.modes();
}
