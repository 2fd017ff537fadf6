//! The HTTP request head parser, with the default limits and with tight ones.
#![no_main]

use dyspatcher::fuzzing::{Parsed, parse_head};
use dyspatcher::fuzzing::Limits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    check(data, &limits);
    let tight = Limits {
        max_head_bytes: 64,
        max_headers: 2,
        ..Limits::default()
    };
    check(data, &tight);
});

fn check(data: &[u8], limits: &Limits) {
    match parse_head(data, limits) {
        Parsed::Complete { request, head_len } => {
            assert!(head_len <= data.len() && head_len <= limits.max_head_bytes);
            assert!(request.path.len() <= head_len);
            // The same head followed by anything parses the same.
            let mut longer = data[..head_len].to_vec();
            longer.extend_from_slice(b"GET / HTTP/1.1\r\n");
            assert_eq!(
                parse_head(&longer, limits),
                Parsed::Complete { request, head_len }
            );
        }
        Parsed::Partial => assert!(data.len() <= limits.max_head_bytes),
        Parsed::Error(_) => {}
    }
}
