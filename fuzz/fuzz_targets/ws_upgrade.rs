//! The WebSocket upgrade as the server does it: the request head parsed by
//! `parse_head`; if it asks for an upgrade, the bytes after the head and the rest of
//! the input go to tungstenite with the server's configuration, arriving in small
//! pieces with `WouldBlock` between them, as on a non-blocking socket.
#![no_main]

use std::io::{self, Read, Write};

use dyspatcher::fuzzing::{Parsed, parse_head};
use dyspatcher::fuzzing::Limits;
use dyspatcher_fuzz::websocket_config;
use libfuzzer_sys::fuzz_target;
use tungstenite::Message;
use tungstenite::protocol::{Role, WebSocketContext};

struct Trickle<'a> {
    input: &'a [u8],
    piece: usize,
    blocked: bool,
    written: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.blocked = !self.blocked;
        if self.blocked {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.piece).min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        Ok(n)
    }
}

impl Write for Trickle<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    // First byte: how many of the bytes after the head came with it, and the size of
    // the pieces the rest arrives in.
    let Some((&shape, data)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_message_bytes: 4096,
        ..Limits::default()
    };
    let (request, head_len) = match parse_head(data, &limits) {
        Parsed::Complete { request, head_len } => (request, head_len),
        _ => return,
    };
    if request.upgrade.is_none() {
        return;
    }
    let rest = &data[head_len..];
    let with_head = (usize::from(shape & 0x0f) * 8).min(rest.len());
    let mut stream = Trickle {
        input: &rest[with_head..],
        piece: usize::from(shape >> 4) + 1,
        blocked: false,
        written: 0,
    };
    let mut ctx = WebSocketContext::from_partially_read(
        rest[..with_head].to_vec(),
        Role::Server,
        Some(websocket_config(&limits)),
    );
    let mut would_block_in_a_row = 0;
    for _ in 0..10_000 {
        match ctx.read(&mut stream) {
            Ok(Message::Text(text)) => {
                assert!(text.len() <= limits.max_message_bytes);
                would_block_in_a_row = 0;
            }
            Ok(Message::Close(_)) => {
                let _ = ctx.flush(&mut stream);
                break;
            }
            Ok(_) => would_block_in_a_row = 0,
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                would_block_in_a_row += 1;
                if would_block_in_a_row > 2 {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    // Pongs and close replies stay within bounds.
    assert!(stream.written <= data.len() * 2 + 1024);
});
