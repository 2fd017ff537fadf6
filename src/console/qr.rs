//! A QR code drawn with Unicode half blocks, two modules per character cell (a cell
//! is about twice as tall as it is wide, so modules come out square), with the quiet
//! zone, for a phone's camera to read off the screen.
//!
//! The drawing is made once, in the form that needs no colour: the terminal's ink
//! (the glyphs' foreground) draws the *light* modules and the quiet zone, the
//! terminal's background shows through as the dark ones. That is right on a
//! light-on-dark terminal, the default of nearly every terminal emulator, of the
//! Linux console, of Termux and of most SSH clients, which is where NO_COLOR (or a
//! pipe) leaves us with no way to know or force the colours. On a dark-on-light
//! terminal it comes out inverted, which many phone readers still take.
//!
//! With colours, the renderer (`render.rs`) makes it right on any background: it
//! draws the inverse glyphs (ink for the dark modules) in black on a forced white
//! background, so the quiet zone is light whatever the terminal's own colours are.

use super::line::{ConsoleLine, Style};
use crate::qr::Matrix;

/// Top and bottom module of a cell, light (`true`: drawn in ink) or dark.
fn cell(top_light: bool, bottom_light: bool) -> char {
    match (top_light, bottom_light) {
        (true, true) => '\u{2588}',  // █
        (true, false) => '\u{2580}', // ▀
        (false, true) => '\u{2584}', // ▄
        (false, false) => ' ',
    }
}

/// The same cell with ink and background swapped (the coloured form).
pub fn inverse(c: char) -> char {
    match c {
        '\u{2588}' => ' ',
        '\u{2580}' => '\u{2584}',
        '\u{2584}' => '\u{2580}',
        ' ' => '\u{2588}',
        other => other,
    }
}

/// The drawing: one text line per two module rows, the quiet zone included (the last
/// half row of an odd side is more quiet zone).
pub fn draw(matrix: &Matrix) -> Vec<String> {
    let side = matrix.side_with_quiet_zone();
    (0..side.div_ceil(2))
        .map(|row| {
            (0..side)
                .map(|x| {
                    let top = !matrix.is_dark(x, 2 * row);
                    let bottom = !matrix.is_dark(x, 2 * row + 1);
                    cell(top, bottom)
                })
                .collect()
        })
        .collect()
}

/// `caption`, then the QR code of `url` (with the URL under it, so that what the
/// phone opens can be compared with what it should): console lines for the screen
/// only, never the transcription. `None` if the URL is too long for a QR code.
pub fn join_code(caption: &str, url: &str) -> Option<Vec<ConsoleLine>> {
    let matrix = Matrix::encode(url)?;
    let drawing = draw(&matrix).join("\n");
    Some(vec![
        ConsoleLine::screen_only(format!("{caption}:")),
        ConsoleLine::new().styled(Style::QrCode, drawing).screen(),
        ConsoleLine::screen_only(format!("  {url}")),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_module_rows_per_line_light_in_ink() {
        let m = Matrix::encode("https://h/").unwrap();
        let lines = draw(&m);
        let side = m.side_with_quiet_zone();
        assert_eq!(lines.len(), side.div_ceil(2));
        assert!(lines.iter().all(|l| l.chars().count() == side));
        // Two lines of quiet zone: all ink.
        assert!(lines[..2].iter().all(|l| l.chars().all(|c| c == '█')));
        // Row 4 is the finder patterns' top edge: dark modules under light ones.
        let third: String = lines[2].chars().take(12).collect();
        assert_eq!(third, "████ ▄▄▄▄▄ █");
        // Back to the matrix, module by module.
        for (row, line) in lines.iter().enumerate() {
            for (x, c) in line.chars().enumerate() {
                assert_eq!(c, cell(!m.is_dark(x, 2 * row), !m.is_dark(x, 2 * row + 1)));
            }
        }
    }

    #[test]
    fn inverse_swaps_ink_and_background() {
        for c in ['█', '▀', '▄', ' '] {
            assert_eq!(inverse(inverse(c)), c);
            assert_ne!(inverse(c), c);
        }
    }

    #[test]
    fn the_code_stays_off_the_record() {
        let lines = join_code("Chat page", "https://h/").unwrap();
        assert!(
            lines
                .iter()
                .all(|l| l.audience == super::super::line::Audience::ScreenOnly)
        );
        assert_eq!(lines[0].text(), "Chat page:");
        assert_eq!(lines[2].text(), "  https://h/");
        assert!(join_code("x", &"y".repeat(3000)).is_none());
    }
}
