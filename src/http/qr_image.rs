//! `GET /qr.svg?text=…`: a QR code of a short text as an SVG image, so that the page
//! can show its own link as a code to pass on, with no QR encoder of its own.

use super::response;
use crate::limits::MAX_QR_TEXT_BYTES;
use crate::qr::{Matrix, svg};

/// The whole response to `/qr.svg` with this query string.
pub fn answer(
    query: Option<&str>,
    keep_alive: bool,
    head_only: bool,
    host: Option<&str>,
) -> Vec<u8> {
    match text_of(query) {
        Ok(text) => match Matrix::encode(&text) {
            Some(matrix) => response::svg_image(&svg::render(&matrix), keep_alive, head_only, host),
            None => response::bad_request(
                "That text is too long for a QR code.",
                keep_alive,
                head_only,
            ),
        },
        Err(why) => response::bad_request(why, keep_alive, head_only),
    }
}

/// The `text` parameter, percent-decoded (`+` is a space, as a form sends it; `%2B`
/// is a plus sign), at most `MAX_QR_TEXT_BYTES` bytes of UTF-8.
fn text_of(query: Option<&str>) -> Result<String, &'static str> {
    const USAGE: &str = "Ask for /qr.svg?text=<percent-encoded UTF-8, at most 256 bytes>.";
    let raw = query
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("text="))
        .ok_or(USAGE)?;
    let mut bytes = Vec::with_capacity(raw.len().min(MAX_QR_TEXT_BYTES));
    let mut rest = raw.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        let (byte, tail) = match b {
            b'+' => (b' ', tail),
            b'%' => {
                let hex = tail.get(..2).ok_or(USAGE)?;
                let hex = std::str::from_utf8(hex).map_err(|_| USAGE)?;
                (u8::from_str_radix(hex, 16).map_err(|_| USAGE)?, &tail[2..])
            }
            _ => (b, tail),
        };
        if bytes.len() == MAX_QR_TEXT_BYTES {
            return Err("The text is longer than 256 bytes.");
        }
        bytes.push(byte);
        rest = tail;
    }
    if bytes.is_empty() {
        return Err(USAGE);
    }
    String::from_utf8(bytes).map_err(|_| "The text is not UTF-8.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoded_utf8_is_decoded() {
        assert_eq!(
            text_of(Some("text=https%3A%2F%2Fh%3A8443%2F%23sha256%3Dab")).unwrap(),
            "https://h:8443/#sha256=ab"
        );
        assert_eq!(text_of(Some("x=1&text=a+b%2Bc%C3%A9")).unwrap(), "a b+cé");
    }

    #[test]
    fn bad_or_long_texts_are_refused() {
        for query in [
            None,
            Some(""),
            Some("text="),
            Some("other=1"),
            Some("text=%"),
            Some("text=%4"),
            Some("text=%zz"),
            Some("text=%C3%28"),
            Some("text=%C3"),
        ] {
            assert!(text_of(query).is_err(), "{query:?}");
        }
        let most = "é".repeat(MAX_QR_TEXT_BYTES / 2);
        let encoded = "%C3%A9".repeat(MAX_QR_TEXT_BYTES / 2);
        assert_eq!(text_of(Some(&format!("text={encoded}"))).unwrap(), most);
        assert!(text_of(Some(&format!("text={encoded}x"))).is_err());
    }
}
