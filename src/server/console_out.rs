//! Where console lines go: the terminal (timestamped, coloured when it is a terminal).

use std::io::Write as _;

use crate::clock::LocalTime;
use crate::console::ConsoleLine;
use crate::console::render::Renderer;

pub struct ConsoleOut {
    renderer: Renderer,
}

impl ConsoleOut {
    pub fn new(renderer: Renderer) -> Self {
        Self { renderer }
    }

    pub fn show(&mut self, line: &ConsoleLine) {
        let now = LocalTime::now();
        let text = self.renderer.render(line, &now.time_of_day());
        // A closed or broken stdout must not stop the chat: the line is lost, nothing else.
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}
