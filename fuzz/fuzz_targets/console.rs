//! The console: the dispatcher (and its parser), then the chat carrying the command out
//! with two users joined. Lines are separated by newlines, as typed.
#![no_main]

use dyspatcher::fuzzing::{Dispatch, Dispatcher};
use dyspatcher_fuzz::Harness;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut h = Harness::new(None);
    for line in text.split('\n').take(16) {
        if let Dispatch::Chat(command) = Dispatcher::default().dispatch(line) {
            h.chat.command(command, h.now);
        }
        h.drain();
        h.advance(10);
    }
});
