//! Turning console lines into terminal text: a timestamp, and ANSI colours only when
//! stdout is a terminal and NO_COLOR is not set (https://no-color.org).

use std::borrow::Cow;
use std::io::IsTerminal as _;

use super::line::{Audience, ConsoleLine, Style};

#[derive(Debug, Clone, Copy)]
pub struct Renderer {
    color: bool,
}

impl Renderer {
    pub fn for_stdout() -> Self {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Self { color }
    }

    #[cfg(test)]
    pub fn plain() -> Self {
        Self { color: false }
    }

    /// One or more terminal lines, newline-terminated. `time` is shown before lines
    /// meant for the record.
    pub fn render(&self, line: &ConsoleLine, time: &str) -> String {
        let mut out = String::new();
        if line.audience == Audience::Record {
            out.push_str(&self.paint(Style::Dim, &format!("[{time}] ")));
        }
        let continuation = match line.audience {
            Audience::Record => self.paint(Style::Dim, CONTINUATION),
            Audience::ScreenOnly => String::new(),
        };
        for (style, text) in &line.parts {
            if *style == Style::QrCode {
                out.push_str(&self.qr_code(text));
                continue;
            }
            out.push_str(&self.paint(*style, &defuse(text, &continuation)));
        }
        out.push('\n');
        out
    }

    fn paint(&self, style: Style, text: &str) -> String {
        let code = match style {
            _ if !self.color => return text.to_string(),
            Style::Plain => return text.to_string(),
            Style::Name => "36",
            Style::Admin => "1;35",
            Style::KeyIdHead => "1;33",
            Style::Dim => "2",
            Style::Error => "1;31",
            Style::Warning => "33",
            Style::QrCode => QR_COLOURS,
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    /// A QR code drawing (only half blocks, spaces and newlines). Without colours, as
    /// drawn (light modules in ink, see `console/qr.rs`); with colours, inverted and
    /// forced to black on white, each line closed before its newline so that no
    /// terminal paints the background colour past the code.
    fn qr_code(&self, drawing: &str) -> String {
        if !self.color {
            return drawing.to_string();
        }
        drawing
            .split('\n')
            .map(|row| {
                let ink: String = row.chars().map(super::qr::inverse).collect();
                format!("\x1b[{QR_COLOURS}m{ink}\x1b[0m")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Black ink on a white background: 107 is bright white (pure white on most
/// terminals); one that does not know it keeps 47, white or light grey, still far
/// lighter than the ink.
const QR_COLOURS: &str = "30;47;107";

/// What follows a newline inside a line meant for the record (a multi-line message): a
/// mark that no line of its own starts with, so a message cannot pass for a new console
/// or transcription line.
pub const CONTINUATION: &str = "    \u{2506} ";

/// Text from the network must neither drive the terminal nor pass for a line of its own:
/// control characters (escape sequences, carriage returns that overwrite a line), bidi
/// overrides and Unicode line separators become visible `\u{..}` forms, and each newline
/// is followed by `continuation`.
pub fn defuse<'a>(text: &'a str, continuation: &str) -> Cow<'a, str> {
    if !text.chars().any(|c| is_unsafe(c) || c == '\n') {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c == '\n' {
            out.push('\n');
            out.push_str(continuation);
        } else if is_unsafe(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out.into()
}

fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(
            c,
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_rendering_has_time_and_no_escapes() {
        let line = ConsoleLine::new().name("alice", false).plain(" joined");
        assert_eq!(
            Renderer::plain().render(&line, "12:00:00"),
            "[12:00:00] alice joined\n"
        );
        let colored = Renderer { color: true }.render(&line, "12:00:00");
        assert!(colored.contains("\x1b[36malice\x1b[0m"));
    }

    #[test]
    fn screen_only_lines_have_no_time() {
        let line = ConsoleLine::screen_only("help text");
        assert_eq!(Renderer::plain().render(&line, "12:00:00"), "help text\n");
    }

    #[test]
    fn terminal_escapes_from_the_network_are_defused() {
        let line = ConsoleLine::info("a\x1b[2Jb\rc\nd\u{2028}e\u{202e}f");
        let out = Renderer::plain().render(&line, "t");
        assert!(!out.contains('\x1b') && !out.contains('\r') && !out.contains('\u{202e}'));
        assert_eq!(
            out,
            format!("[t] a\\u{{1b}}[2Jb\\u{{d}}c\n{CONTINUATION}d\\u{{2028}}e\\u{{202e}}f\n")
        );
    }

    #[test]
    fn a_message_cannot_print_a_line_of_its_own() {
        let forged = "hi\n[12:00:01] ADMIN \u{2192} all: the meeting moved";
        let line = ConsoleLine::new()
            .name("mallory", false)
            .plain(": ")
            .plain(forged);
        let out = Renderer::plain().render(&line, "12:00:00");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "[12:00:00] mallory: hi");
        assert_eq!(
            lines[1],
            format!("{CONTINUATION}[12:00:01] ADMIN \u{2192} all: the meeting moved")
        );
        let colored = Renderer { color: true }.render(&line, "12:00:00");
        assert!(colored.contains(&format!("\n\x1b[2m{CONTINUATION}\x1b[0m[12:00:01]")));
    }

    #[test]
    fn a_qr_code_is_forced_to_black_on_white_only_with_colours() {
        let line = ConsoleLine::new().styled(Style::QrCode, "█▀\n▄ ").screen();
        assert_eq!(Renderer::plain().render(&line, "t"), "█▀\n▄ \n");
        assert_eq!(
            Renderer { color: true }.render(&line, "t"),
            "\x1b[30;47;107m ▄\x1b[0m\n\x1b[30;47;107m▀█\x1b[0m\n"
        );
    }

    #[test]
    fn screen_only_lines_keep_their_own_newlines() {
        let pem = "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----";
        let out = Renderer::plain().render(&ConsoleLine::screen_only(pem), "t");
        assert_eq!(out, format!("{pem}\n"));
    }
}
