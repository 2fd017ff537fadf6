//! A QR code as an SVG image: a white square (the quiet zone included) and one black
//! rectangle per run of dark modules in a row, in module units, so the browser scales
//! it sharply to any size (`shape-rendering="crispEdges"`).

use std::fmt::Write as _;

use super::{Matrix, QUIET_ZONE};

pub fn render(matrix: &Matrix) -> String {
    let side = matrix.side_with_quiet_zone();
    let mut out = String::with_capacity(64 * side);
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" width="{px}" height="{px}" shape-rendering="crispEdges"><rect width="{side}" height="{side}" fill="#fff"/><g fill="#000">"##,
        px = side * 8,
    );
    for y in QUIET_ZONE..side - QUIET_ZONE {
        let mut x = QUIET_ZONE;
        while x < side - QUIET_ZONE {
            if !matrix.is_dark(x, y) {
                x += 1;
                continue;
            }
            let start = x;
            while matrix.is_dark(x, y) {
                x += 1;
            }
            let _ = write!(
                out,
                r#"<rect x="{start}" y="{y}" width="{}" height="1"/>"#,
                x - start
            );
        }
    }
    out.push_str("</g></svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_has_the_code_and_its_quiet_zone() {
        let m = Matrix::encode("hello").unwrap();
        let svg = render(&m);
        assert!(svg.starts_with(r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 29 29""#));
        // The top row of the finder patterns: 7 dark, then 7 dark at the right edge.
        assert!(
            svg.contains(r#"<rect x="4" y="4" width="7" height="1"/>"#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"<rect x="18" y="4" width="7" height="1"/>"#),
            "{svg}"
        );
        assert!(svg.ends_with("</g></svg>\n"));
    }
}
