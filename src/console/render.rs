//! Turning console lines into terminal text: a timestamp, and ANSI colours only when
//! stdout is a terminal and NO_COLOR is not set (https://no-color.org).

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
        for (style, text) in &line.parts {
            out.push_str(&self.paint(*style, &sanitize(text)));
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
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

/// Text from the network must not drive the terminal: control characters (escape
/// sequences, carriage returns that overwrite a line) become visible `\u{..}` forms.
/// Newlines stay, so multi-line messages read naturally.
pub fn sanitize(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if is_unsafe(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
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
        let line = ConsoleLine::info("a\x1b[2Jb\rc\nd");
        let out = Renderer::plain().render(&line, "t");
        assert!(!out.contains('\x1b') && !out.contains('\r'));
        assert!(out.contains("\\u{1b}[2Jb\\u{d}c\nd"));
    }
}
