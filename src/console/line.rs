//! A line for the console, kept as styled parts so that the terminal can colour it and
//! the transcription can store it as plain text.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    /// A user's name.
    Name,
    /// The administrator's name.
    Admin,
    /// The first 12 characters of a Key ID, the part people compare.
    KeyIdHead,
    Dim,
    Error,
    Warning,
    /// A QR code drawn by `console/qr.rs` (light modules in ink): the renderer forces
    /// its colours when it may.
    QrCode,
}

/// Where a line may go: the transcription keeps the chat, never keys or help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Shown with a timestamp and transcribed.
    Record,
    /// Shown as is (help, key exports), never transcribed.
    ScreenOnly,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleLine {
    pub parts: Vec<(Style, String)>,
    pub audience: Audience,
}

impl ConsoleLine {
    pub fn new() -> Self {
        Self {
            parts: Vec::new(),
            audience: Audience::Record,
        }
    }

    pub fn info(text: impl Into<String>) -> Self {
        Self::new().plain(text)
    }

    pub fn error(text: impl Into<String>) -> Self {
        Self::new().styled(Style::Error, text)
    }

    pub fn warning(text: impl Into<String>) -> Self {
        Self::new().styled(Style::Warning, text)
    }

    /// Text that must not reach the transcription (help, keys).
    pub fn screen_only(text: impl Into<String>) -> Self {
        Self {
            parts: vec![(Style::Plain, text.into())],
            audience: Audience::ScreenOnly,
        }
    }

    /// Keeps this line off the transcription.
    pub fn screen(mut self) -> Self {
        self.audience = Audience::ScreenOnly;
        self
    }

    pub fn plain(self, text: impl Into<String>) -> Self {
        self.styled(Style::Plain, text)
    }

    pub fn styled(mut self, style: Style, text: impl Into<String>) -> Self {
        self.parts.push((style, text.into()));
        self
    }

    /// A name, styled as the administrator's when `admin`.
    pub fn name(self, name: &str, admin: bool) -> Self {
        self.styled(if admin { Style::Admin } else { Style::Name }, name)
    }

    /// A Key ID with its first 12 characters highlighted, as the original shows it.
    pub fn key_id(self, key_id: &str) -> Self {
        let split = key_id.len().min(12);
        self.styled(Style::KeyIdHead, &key_id[..split])
            .styled(Style::Dim, &key_id[split..])
    }

    pub fn text(&self) -> String {
        self.parts.iter().map(|(_, t)| t.as_str()).collect()
    }
}

impl Default for ConsoleLine {
    fn default() -> Self {
        Self::new()
    }
}
