//! A chat frame encoded for the wire once, whatever the number of its recipients:
//! server frames are not masked, so the same bytes go to everybody.

use std::rc::Rc;

use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Data, OpCode};

use super::outbound::{Chunk, OutQueue};
use crate::chat::frames::FrameText;

pub enum Encoded {
    /// Header and text in one shared buffer: one chunk per recipient.
    Whole(Rc<[u8]>),
    /// A header of its own, then the text's shared pieces (the users list).
    Pieces {
        header: Vec<u8>,
        pieces: Vec<Rc<[u8]>>,
    },
}

impl Encoded {
    pub fn new(text: &FrameText) -> Self {
        let header = header(text.len());
        match text.as_bytes_or_pieces() {
            Ok(one) => {
                let mut bytes = header;
                bytes.extend_from_slice(one);
                Encoded::Whole(bytes.into())
            }
            Err(pieces) => Encoded::Pieces {
                header,
                pieces: pieces.to_vec(),
            },
        }
    }

    /// Queues `text` for one recipient only: its header, then its bytes as they were
    /// made, not copied (a rotation sends a thousand of these).
    pub fn queue_once(text: FrameText, out: &mut OutQueue) {
        let (room, used) = header_bytes(text.len());
        if let Some((whole, range)) = text.as_slice_of() {
            let slice = Chunk::Slice(whole.clone(), range.start as u32, range.end as u32);
            out.push_unit([Chunk::Header(room, used as u8), slice]);
            return;
        }
        let header = &room[..used];
        match text.into_text_bytes() {
            Ok(mut bytes) => {
                // The header goes in front of the text in its own buffer (moved, not
                // allocated, when the text left room for it): every allocation here
                // is paid again when it is freed.
                let text_len = bytes.len();
                bytes.extend_from_slice(header);
                bytes.rotate_right(header.len());
                debug_assert_eq!(bytes.len(), text_len + header.len());
                out.push_owned(bytes);
            }
            Err(text) => match text.as_bytes_or_pieces() {
                Ok(one) => {
                    let mut bytes = Vec::with_capacity(header.len() + one.len());
                    bytes.extend_from_slice(header);
                    bytes.extend_from_slice(one);
                    out.push_owned(bytes);
                }
                Err(pieces) => out.push_unit(
                    std::iter::once(Chunk::Owned(header.to_vec()))
                        .chain(pieces.iter().map(|p| Chunk::Shared(p.clone()))),
                ),
            },
        }
    }

    pub fn queue_on(&self, out: &mut OutQueue) {
        match self {
            Encoded::Whole(bytes) => out.push_shared(bytes.clone()),
            Encoded::Pieces { header, pieces } => out.push_unit(
                std::iter::once(Chunk::Owned(header.clone()))
                    .chain(pieces.iter().map(|p| Chunk::Shared(p.clone()))),
            ),
        }
    }
}

fn header(len: usize) -> Vec<u8> {
    let (room, used) = header_bytes(len);
    room[..used].to_vec()
}

/// The header of an unmasked text frame of `len` bytes, on the stack: at most 10 bytes.
fn header_bytes(len: usize) -> ([u8; 10], usize) {
    let header = FrameHeader {
        opcode: OpCode::Data(Data::Text),
        ..FrameHeader::default()
    };
    let mut room = [0u8; 10];
    let mut cursor = std::io::Cursor::new(&mut room[..]);
    header
        .format(len as u64, &mut cursor)
        .expect("a frame header is at most 10 bytes");
    let used = cursor.position() as usize;
    (room, used)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::frames;

    fn decode(bytes: &[u8]) -> String {
        let mut ctx =
            tungstenite::protocol::WebSocketContext::new(tungstenite::protocol::Role::Client, None);
        let mut stream = std::io::Cursor::new(bytes.to_vec());
        match ctx.read(&mut stream).unwrap() {
            tungstenite::Message::Text(t) => t.to_string(),
            other => panic!("{other:?}"),
        }
    }

    fn wire(encoded: &Encoded) -> Vec<u8> {
        let mut q = OutQueue::default();
        encoded.queue_on(&mut q);
        let mut out = Vec::new();
        q.write_to(&mut out).unwrap();
        out
    }

    #[test]
    fn one_piece_and_many_pieces_make_the_same_frame() {
        let small: FrameText = String::from("{\"cmd\":\"x\"}").into();
        assert_eq!(decode(&wire(&Encoded::new(&small))), "{\"cmd\":\"x\"}");
        let pieces: Vec<_> = (0..3000)
            .map(|i| frames::users_list_piece(&format!("user{i}"), "h", "t", i == 0))
            .collect();
        let list = frames::users_list(pieces);
        assert!(list.len() > 65_535, "a 64-bit length header");
        let bytes = wire(&Encoded::new(&list));
        assert_eq!(decode(&bytes), list.to_text());
    }
}
