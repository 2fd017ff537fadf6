//! The protocol frame decoder: any text a client sends.
#![no_main]

use dyspatcher::fuzzing::{ClientFrame, parse_client_frame, relayed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let ClientFrame::Message(message) = parse_client_frame(text) {
        // What the server relays parses back to the same message.
        let again = relayed(&message);
        let value: serde_json::Value = serde_json::from_str(&again).expect("relay is JSON");
        let data = serde_json::to_string(&value["data"]).unwrap();
        let round = format!(r#"{{"cmd":"message","user":"x","data":{data}}}"#);
        assert_eq!(parse_client_frame(&round), ClientFrame::Message(message));
    }
});
