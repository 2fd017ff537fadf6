//! The console's line editor when stdin is a terminal: bytes in, edits and finished
//! lines out, and the prompt line to draw. No I/O here: `server/stdin.rs` feeds it what
//! it reads and `server/console_out.rs` draws what [`Editor::render`] returns.
//!
//! Why a small editor of our own rather than a crate: the line-editor crates (rustyline,
//! reedline, linefeed) each own a blocking read loop, and crossterm's key parser is only
//! reachable through its own event reader; the event loop must stay the only reader of
//! stdin. termion's `parse_event` takes an iterator that cannot tell a sequence cut by
//! the end of a read from a wrong one. The keys a console needs are a handful of
//! sequences, decoded in `keys.rs`.

use super::keys::{Key, KeyDecoder};

/// What the editor asks of the console after some input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Enter: a line to carry out (also put in the history).
    Line(String),
    /// Ctrl-C on an empty line: stop the server, as `/quit`.
    Stop,
    /// Ctrl-D on an empty line: the console says how to stop instead (a stray Ctrl-D
    /// must not end a chat for everybody).
    EndAsked,
    /// Tab with several candidates: show them.
    Candidates(Vec<String>),
}

pub const PROMPT: &str = "> ";

/// The commands Tab completes, long forms.
const COMMANDS: &[&str] = &[
    "/users",
    "/kick",
    "/ban",
    "/unban",
    "/key",
    "/verify",
    "/qr",
    "/allowlist",
    "/tunnel",
    "/help",
    "/quit",
];
/// Commands whose argument is a user's name.
const NAME_COMMANDS: &[&str] = &["/kick", "/ban", "/unban", "/verify"];
const HISTORY: usize = 500;

#[derive(Debug, Default)]
pub struct Editor {
    line: Vec<char>,
    cursor: usize,
    history: Vec<String>,
    /// Browsing the history: the entry shown, and the line typed before browsing.
    browsing: Option<(usize, Vec<char>)>,
    keys: KeyDecoder,
    max_bytes: usize,
}

impl Editor {
    /// `max_bytes`: the longest line (`Limits::max_console_line`); typing stops there.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            ..Self::default()
        }
    }

    /// Takes what the terminal sent. `names` gives the connected users' names, asked
    /// only when Tab needs them.
    pub fn feed(&mut self, bytes: &[u8], names: &mut dyn FnMut() -> Vec<String>) -> Vec<Edit> {
        let mut edits = Vec::new();
        for key in self.keys.feed(bytes) {
            self.key(key, names, &mut edits);
        }
        edits
    }

    fn key(&mut self, key: Key, names: &mut dyn FnMut() -> Vec<String>, out: &mut Vec<Edit>) {
        match key {
            Key::Char(c) => self.insert(&[c]),
            Key::Enter => {
                let line: String = self.line.drain(..).collect();
                self.cursor = 0;
                self.browsing = None;
                if !line.trim().is_empty() && self.history.last() != Some(&line) {
                    if self.history.len() == HISTORY {
                        self.history.remove(0);
                    }
                    self.history.push(line.clone());
                }
                out.push(Edit::Line(line));
            }
            Key::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                self.line.remove(self.cursor);
            }
            Key::Delete if self.cursor < self.line.len() => {
                self.line.remove(self.cursor);
            }
            Key::Left => self.cursor = self.cursor.saturating_sub(1),
            Key::Right => self.cursor = (self.cursor + 1).min(self.line.len()),
            Key::Home => self.cursor = 0,
            Key::End => self.cursor = self.line.len(),
            Key::KillToStart => {
                self.line.drain(..self.cursor);
                self.cursor = 0;
            }
            Key::KillToEnd => self.line.truncate(self.cursor),
            Key::KillWord => {
                let mut start = self.cursor;
                while start > 0 && self.line[start - 1] == ' ' {
                    start -= 1;
                }
                while start > 0 && self.line[start - 1] != ' ' {
                    start -= 1;
                }
                self.line.drain(start..self.cursor);
                self.cursor = start;
            }
            Key::Up => self.browse(true),
            Key::Down => self.browse(false),
            Key::Tab => self.complete(names, out),
            Key::Interrupt if self.line.is_empty() => out.push(Edit::Stop),
            Key::Interrupt => {
                self.line.clear();
                self.cursor = 0;
                self.browsing = None;
            }
            Key::EndOfInput if self.line.is_empty() => out.push(Edit::EndAsked),
            // Ctrl-D on a line deletes forward, as in readline.
            Key::EndOfInput if self.cursor < self.line.len() => {
                self.line.remove(self.cursor);
            }
            _ => {}
        }
    }

    fn insert(&mut self, chars: &[char]) {
        let bytes: usize = self.line.iter().chain(chars).map(|c| c.len_utf8()).sum();
        if bytes > self.max_bytes {
            return;
        }
        for (i, &c) in chars.iter().enumerate() {
            self.line.insert(self.cursor + i, c);
        }
        self.cursor += chars.len();
    }

    /// Up (`older`) and Down through the history; Down past the newest entry gives back
    /// the line that was being typed.
    fn browse(&mut self, older: bool) {
        let at = match (&self.browsing, older) {
            (None, true) if !self.history.is_empty() => {
                self.browsing = Some((self.history.len(), self.line.clone()));
                self.history.len() - 1
            }
            (Some((i, _)), true) => i.saturating_sub(1),
            (Some((i, _)), false) if i + 1 < self.history.len() => i + 1,
            (Some(_), false) => {
                let (_, typed) = self.browsing.take().expect("browsing");
                self.line = typed;
                self.cursor = self.line.len();
                return;
            }
            _ => return,
        };
        if let Some((i, _)) = &mut self.browsing {
            *i = at;
        }
        self.line = self.history[at].chars().collect();
        self.cursor = self.line.len();
    }

    /// Tab: completes the word before the cursor: a command at the start of the line,
    /// `@name` for a message, a name after /kick, /ban, /unban. One candidate is taken
    /// whole (with a space after it); several are shown, their common start taken.
    fn complete(&mut self, names: &mut dyn FnMut() -> Vec<String>, out: &mut Vec<Edit>) {
        let before: String = self.line[..self.cursor].iter().collect();
        let start = before.rfind(' ').map_or(0, |i| i + 1);
        let word = &before[start..];
        let first_word = before.split(' ').next().unwrap_or("");
        let candidates: Vec<String> = if start == 0 && word.starts_with('/') {
            COMMANDS.iter().map(|c| c.to_string()).collect()
        } else if start == 0 && word.starts_with('@') {
            let mut all = vec!["@all".to_string()];
            all.extend(names().into_iter().map(|n| format!("@{n}")));
            all
        } else if start > 0
            && NAME_COMMANDS.contains(&first_word)
            && before[..start].trim() == first_word
        {
            names()
        } else {
            return;
        };
        let matching: Vec<String> = candidates
            .into_iter()
            .filter(|c| c.starts_with(word))
            .collect();
        let common = common_prefix(&matching);
        let mut rest: Vec<char> = common.chars().skip(word.chars().count()).collect();
        if matching.len() == 1 {
            rest.push(' ');
        }
        self.insert(&rest);
        if matching.len() > 1 && rest.is_empty() {
            out.push(Edit::Candidates(matching));
        }
    }

    /// The prompt line for a terminal `width` columns wide: what follows a carriage
    /// return, ending with the cursor where it belongs. A line too long for the width
    /// is shown as the window around the cursor.
    pub fn render(&self, width: usize) -> String {
        let room = width.saturating_sub(PROMPT.len() + 1).max(8);
        let first = self.cursor.saturating_sub(room - 1).min(self.line.len());
        let shown: String = self.line[first..]
            .iter()
            .take(room)
            .map(|&c| if c.is_control() { '?' } else { c })
            .collect();
        let column = PROMPT.len() + self.cursor - first;
        format!("\r\x1b[K{PROMPT}{shown}\r\x1b[{column}C")
    }

    #[cfg(test)]
    fn text(&self) -> String {
        self.line.iter().collect()
    }
}

fn common_prefix(words: &[String]) -> String {
    let Some(first) = words.first() else {
        return String::new();
    };
    let mut len = first.len();
    for w in &words[1..] {
        len = first
            .char_indices()
            .zip(w.chars())
            .take_while(|((_, a), b)| a == b)
            .last()
            .map_or(0, |((i, a), _)| i + a.len_utf8())
            .min(len);
    }
    first[..len].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(e: &mut Editor, bytes: &[u8]) -> Vec<Edit> {
        e.feed(bytes, &mut || {
            vec!["alice".into(), "albert".into(), "bobby".into()]
        })
    }

    #[test]
    fn typing_and_cursor_editing() {
        let mut e = Editor::new(100);
        feed(&mut e, b"@bob hi");
        feed(&mut e, b"\x1b[D\x1b[D\x01X\x05!"); // Left Left, Ctrl-A, X, Ctrl-E, !
        assert_eq!(e.text(), "X@bob hi!");
        feed(&mut e, b"\x1b[H\x1b[3~\x1b[F\x7f"); // Home, Delete, End, Backspace
        assert_eq!(e.text(), "@bob hi");
        feed(&mut e, b"\x17"); // Ctrl-W
        assert_eq!(e.text(), "@bob ");
        feed(&mut e, b"\x1bOD\x1bOD\x0b"); // Left Left (SS3), Ctrl-K
        assert_eq!(e.text(), "@bo");
        feed(&mut e, b"\x15"); // Ctrl-U
        assert_eq!(e.text(), "");
        assert_eq!(feed(&mut e, "é€\r".as_bytes()), [Edit::Line("é€".into())]);
    }

    #[test]
    fn a_sequence_cut_by_a_read_is_joined() {
        let mut e = Editor::new(100);
        feed(&mut e, b"ab\x1b");
        feed(&mut e, b"[");
        feed(&mut e, b"Dc\xc3");
        feed(&mut e, b"\xa9");
        assert_eq!(e.text(), "acéb");
    }

    #[test]
    fn history_up_and_down_keeps_the_line_being_typed() {
        let mut e = Editor::new(100);
        feed(&mut e, b"/users\r@all hi\r@all hi\rdraft");
        feed(&mut e, b"\x1b[A");
        assert_eq!(e.text(), "@all hi", "a repeated line is kept once");
        feed(&mut e, b"\x1b[A\x1b[A");
        assert_eq!(e.text(), "/users");
        feed(&mut e, b"\x1b[B");
        assert_eq!(e.text(), "@all hi");
        feed(&mut e, b"\x1b[B");
        assert_eq!(e.text(), "draft");
    }

    #[test]
    fn tab_completes_commands_and_names() {
        let mut e = Editor::new(100);
        feed(&mut e, b"/ki\t");
        assert_eq!(e.text(), "/kick ");
        feed(&mut e, b"bo\t");
        assert_eq!(e.text(), "/kick bobby ");
        feed(&mut e, b"\x15@al\t");
        assert_eq!(e.text(), "@al", "@all, @alice, @albert");
        assert_eq!(
            feed(&mut e, b"\t"),
            [Edit::Candidates(vec![
                "@all".into(),
                "@alice".into(),
                "@albert".into()
            ])]
        );
        feed(&mut e, b"i\t");
        assert_eq!(e.text(), "@alice ");
        feed(&mut e, b"text\t");
        assert_eq!(e.text(), "@alice text", "no completion inside a message");
    }

    #[test]
    fn ctrl_c_clears_then_stops_ctrl_d_asks() {
        let mut e = Editor::new(100);
        assert_eq!(feed(&mut e, b"half\x03"), []);
        assert_eq!(e.text(), "");
        assert_eq!(feed(&mut e, b"\x03"), [Edit::Stop]);
        assert_eq!(feed(&mut e, b"\x04"), [Edit::EndAsked]);
    }

    #[test]
    fn the_line_is_bounded_and_rendered_around_the_cursor() {
        let mut e = Editor::new(4);
        feed(&mut e, b"abcdef");
        assert_eq!(e.text(), "abcd");
        let mut e = Editor::new(1000);
        feed(&mut e, &[b'x'; 100]);
        let shown = e.render(20);
        assert!(shown.starts_with("\r\x1b[K> xxx"));
        assert!(shown.len() < 40, "{shown:?}");
        assert!(shown.ends_with(&format!("\r\x1b[{}C", 2 + 16)));
        feed(&mut e, b"\x1b[H");
        assert!(e.render(20).ends_with("\r\x1b[2C"));
    }
}
