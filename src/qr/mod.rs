//! QR codes of the chat's links, for phones: the module matrix (from the `qrcode`
//! crate), drawn for a terminal (`console/qr.rs`) or as an SVG image (`svg.rs`, for
//! `GET /qr.svg`).

pub mod svg;

use qrcode::{Color, QrCode};

/// Light modules around the code that a reader needs to find it (ISO/IEC 18004 asks
/// for 4).
pub const QUIET_ZONE: usize = 4;

/// A QR code's modules, without its quiet zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    side: usize,
    dark: Vec<bool>,
}

impl Matrix {
    /// The smallest code of `text` at error correction level M (15 % of the code can be
    /// lost: a glare, a smudge on a phone's screen). `None` when it is too long for a
    /// QR code (about 2,300 bytes).
    pub fn encode(text: &str) -> Option<Self> {
        let code = QrCode::new(text.as_bytes()).ok()?;
        let side = code.width();
        let dark = code
            .to_colors()
            .into_iter()
            .map(|c| c == Color::Dark)
            .collect();
        Some(Self { side, dark })
    }

    /// Modules per side, without the quiet zone.
    #[cfg(test)]
    pub fn side(&self) -> usize {
        self.side
    }

    /// Modules per side, with the quiet zone.
    pub fn side_with_quiet_zone(&self) -> usize {
        self.side + 2 * QUIET_ZONE
    }

    /// Whether the module at (`x`, `y`) is dark, counted from the quiet zone's corner:
    /// anything outside the code (the quiet zone, and beyond) is light.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        let (Some(x), Some(y)) = (x.checked_sub(QUIET_ZONE), y.checked_sub(QUIET_ZONE)) else {
            return false;
        };
        x < self.side && y < self.side && self.dark[y * self.side + x]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_makes_a_small_code_with_its_finder_patterns() {
        let m = Matrix::encode("https://192.168.1.20:8443/").unwrap();
        assert_eq!(m.side(), 25, "version 2");
        assert_eq!(m.side_with_quiet_zone(), 33);
        // The top-left finder pattern: a dark 7x7 ring just inside the quiet zone.
        assert!(!m.is_dark(3, 3) && m.is_dark(4, 4) && m.is_dark(10, 4));
        assert!(!m.is_dark(5, 5) && m.is_dark(6, 6));
        assert!(!m.is_dark(100, 4) && !m.is_dark(4, 100));
    }

    #[test]
    fn too_long_a_text_has_no_code() {
        assert!(Matrix::encode(&"x".repeat(3000)).is_none());
        assert!(Matrix::encode(&"x".repeat(1024)).is_some());
    }
}
