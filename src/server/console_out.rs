//! Where console lines go: the terminal (timestamped, coloured when it is a terminal),
//! and the transcription if there is one.

use std::io::Write as _;

use crate::console::ConsoleLine;
use crate::console::render::Renderer;
use crate::wall_clock::LocalTime;

use super::transcript::Transcript;

pub struct ConsoleOut {
    renderer: Renderer,
    transcript: Option<Transcript>,
    /// On a terminal: the editor's prompt line, erased before each line and drawn again
    /// after it, so output never lands in the middle of what is being typed.
    prompt: Option<String>,
}

impl ConsoleOut {
    pub fn new(renderer: Renderer, transcript: Option<Transcript>) -> Self {
        Self {
            renderer,
            transcript,
            prompt: None,
        }
    }

    /// Starts syncing the transcription to disk (see transcript.rs); after `--daemon`.
    pub fn start_syncing(&mut self) {
        if let Some(transcript) = &mut self.transcript {
            transcript.start_syncing();
        }
    }

    pub fn show(&mut self, line: &ConsoleLine) {
        if let Some(transcript) = &mut self.transcript {
            transcript.record(line);
        }
        let now = LocalTime::now();
        let text = self.renderer.render(line, &now.time_of_day());
        self.write(&text);
    }

    /// A line the administrator typed, shown above its answer as a shell does.
    pub fn echo(&mut self, typed: &str) {
        self.write(&format!("{}{typed}\n", crate::console::editor::PROMPT));
    }

    /// Sets the prompt line (`None`: none, the line is erased) and draws it.
    pub fn set_prompt(&mut self, prompt: Option<String>) {
        if prompt == self.prompt {
            return;
        }
        let had = self.prompt.is_some();
        self.prompt = prompt;
        let mut out = std::io::stdout().lock();
        let _ = match &self.prompt {
            Some(p) => out.write_all(p.as_bytes()),
            None if had => out.write_all(b"\r\x1b[K"),
            None => Ok(()),
        };
        let _ = out.flush();
    }

    fn write(&mut self, text: &str) {
        // A closed or broken stdout must not stop the chat: the line is lost, nothing else.
        let mut out = std::io::stdout().lock();
        if self.prompt.is_some() {
            let _ = out.write_all(b"\r\x1b[K");
        }
        let _ = out.write_all(text.as_bytes());
        if let Some(prompt) = &self.prompt {
            let _ = out.write_all(prompt.as_bytes());
        }
        let _ = out.flush();
    }
}
