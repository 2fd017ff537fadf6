//! The whole chat state machine fed arbitrary frames after two joins. The input is a
//! list of steps separated by 0xFF (never in UTF-8); a step's first byte says what it
//! is: low nibble 0-2 a text frame from alice, bob or a connection that never joined,
//! 3 a close, 4 a new connection, 5 the timers (as if due); high nibble: time passing.
#![no_main]

use dyspatcher::fuzzing::ConnId;
use dyspatcher_fuzz::{ALICE, BOB, Harness, STRANGER};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut h = Harness::new(None);
    let mut opened: Vec<ConnId> = vec![ALICE, BOB, STRANGER];
    for step in data.split(|&b| b == 0xff).take(64) {
        let Some((&op, rest)) = step.split_first() else {
            continue;
        };
        h.advance(u64::from(op >> 4) * 100);
        match op & 0x0f {
            kind @ 0..=2 => {
                if let Ok(text) = std::str::from_utf8(rest) {
                    let conn = [ALICE, BOB, STRANGER][usize::from(kind)];
                    h.chat.received(conn, text, h.now);
                }
            }
            3 => {
                let pick = rest.first().copied().unwrap_or(0) as usize;
                let conn = opened[pick % opened.len()];
                h.chat.closed(conn, Some("fuzz"));
            }
            4 => {
                let conn = h.next_conn;
                h.next_conn += 1;
                opened.push(conn);
                h.chat.opened(conn, Some("fuzz"), h.now);
                if let Ok(text) = std::str::from_utf8(rest) {
                    h.chat.received(conn, text, h.now);
                }
            }
            5 => h.chat.handle_timeout(h.now),
            _ => {}
        }
        h.drain();
    }
});
