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
}

impl ConsoleOut {
    pub fn new(renderer: Renderer, transcript: Option<Transcript>) -> Self {
        Self {
            renderer,
            transcript,
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
        // A closed or broken stdout must not stop the chat: the line is lost, nothing else.
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}
