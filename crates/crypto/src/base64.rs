//! Standard base64 with padding: the encoding of every binary value in a frame.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

pub fn b64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Appends the base64 of `bytes` to `out` (no allocation of its own: for frames written
/// by the thousand, such as a rotation's group keys).
pub fn b64_encode_into(bytes: &[u8], out: &mut String) {
    STANDARD.encode_string(bytes, out);
}

/// `None` for anything that is not canonical padded base64.
pub fn b64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}
