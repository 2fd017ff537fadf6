//! The bytes waiting to go out on one connection, in units (a WebSocket frame, an HTTP
//! response). A frame sent to many connections is encoded once and shared; a large
//! frame (the users list) is a chain of shared pieces, never copied; a flush hands up
//! to [`MAX_IOVECS`] pieces to one `writev`, so a burst of messages costs one system
//! call per connection.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::rc::Rc;

const MAX_IOVECS: usize = 64;
/// Chunk slots an empty queue keeps for the next frames.
const KEPT_CAPACITY: usize = 64;

#[derive(Debug)]
pub enum Chunk {
    Shared(Rc<[u8]>),
    Owned(Vec<u8>),
    /// A part of a shared buffer (one member's frame among a rotation's).
    Slice(Rc<[u8]>, u32, u32),
    /// A WebSocket frame header, kept inline: no allocation per frame.
    Header([u8; 10], u8),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Shared(b) => b,
            Chunk::Owned(v) => v,
            Chunk::Slice(b, start, end) => &b[*start as usize..*end as usize],
            Chunk::Header(h, len) => &h[..*len as usize],
        }
    }
}

#[derive(Debug, Default)]
pub struct OutQueue {
    chunks: VecDeque<Chunk>,
    /// Bytes of the first chunk already written.
    offset: usize,
    /// Unwritten bytes in all chunks.
    bytes: usize,
    /// Unwritten bytes of each unit, oldest first.
    units: VecDeque<usize>,
}

impl OutQueue {
    /// Queues one unit made of `chunks`, in order.
    pub fn push_unit(&mut self, chunks: impl IntoIterator<Item = Chunk>) {
        let before = self.bytes;
        for chunk in chunks {
            let len = chunk.bytes().len();
            if len > 0 {
                self.bytes += len;
                self.chunks.push_back(chunk);
            }
        }
        if self.bytes > before {
            self.units.push_back(self.bytes - before);
        }
    }

    pub fn push_owned(&mut self, bytes: Vec<u8>) {
        self.push_unit([Chunk::Owned(bytes)]);
    }

    pub fn push_shared(&mut self, bytes: Rc<[u8]>) {
        self.push_unit([Chunk::Shared(bytes)]);
    }

    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.bytes
    }

    /// Bytes waiting behind the unit being written: the measure of a slow reader, so
    /// that one large frame (a users list of thousands) never counts against it.
    pub fn waiting_behind_current(&self) -> usize {
        self.bytes - self.units.front().copied().unwrap_or(0)
    }

    /// Writes as much as `out` takes. `Ok` when everything went, `WouldBlock` when the
    /// rest must wait for the socket to drain.
    pub fn write_to(&mut self, out: &mut impl Write) -> io::Result<()> {
        while !self.chunks.is_empty() {
            let written = {
                // On the stack: one flush per member at a rotation.
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let mut count = 0;
                for (i, chunk) in self.chunks.iter().take(MAX_IOVECS).enumerate() {
                    let bytes = chunk.bytes();
                    slices[i] = IoSlice::new(if i == 0 { &bytes[self.offset..] } else { bytes });
                    count = i + 1;
                }
                match out.write_vectored(&slices[..count]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            self.consume(written);
        }
        Ok(())
    }

    fn consume(&mut self, mut n: usize) {
        self.bytes -= n;
        let mut left = n;
        while left > 0 {
            let unit = self.units.front_mut().expect("bytes belong to units");
            let taken = left.min(*unit);
            *unit -= taken;
            left -= taken;
            if *unit == 0 {
                self.units.pop_front();
            }
        }
        while n > 0 {
            let first_left = self.chunks[0].bytes().len() - self.offset;
            if n >= first_left {
                n -= first_left;
                self.chunks.pop_front();
                self.offset = 0;
            } else {
                self.offset += n;
                n = 0;
            }
        }
        if self.chunks.is_empty() && self.chunks.capacity() > KEPT_CAPACITY {
            // A users list of thousands of pieces passed through: give the room back,
            // or 10,000 idle connections would each keep it.
            self.chunks = VecDeque::new();
            self.units = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most `cap` bytes per call and then blocks.
    struct Trickle {
        got: Vec<u8>,
        cap: usize,
        calls: usize,
        budget: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.calls == self.budget {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.calls += 1;
            let n = buf.len().min(self.cap);
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_writes_resume_where_they_stopped() {
        let mut q = OutQueue::default();
        let shared: Rc<[u8]> = Rc::from(&b"shared"[..]);
        q.push_owned(b"hello ".to_vec());
        q.push_shared(shared.clone());
        q.push_owned(b" world".to_vec());
        assert_eq!(q.len(), 18);
        assert_eq!(q.waiting_behind_current(), 12);
        let mut w = Trickle {
            got: vec![],
            cap: 4,
            calls: 0,
            budget: 2,
        };
        assert_eq!(
            q.write_to(&mut w).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        // Two calls of at most 4 bytes, each within one slice: "hell", "o ".
        assert_eq!(q.len(), 12);
        assert_eq!(q.waiting_behind_current(), 6);
        w.budget = usize::MAX;
        q.write_to(&mut w).unwrap();
        assert!(q.is_empty());
        assert_eq!(w.got, b"hello shared world");
    }

    #[test]
    fn a_unit_of_many_pieces_counts_as_one_frame() {
        let mut q = OutQueue::default();
        let piece: Rc<[u8]> = Rc::from(&b"0123456789"[..]);
        q.push_unit((0..100).map(|_| Chunk::Shared(piece.clone())));
        q.push_owned(b"next".to_vec());
        assert_eq!(
            q.waiting_behind_current(),
            4,
            "the big unit is the one being sent"
        );
        let mut w = Trickle {
            got: vec![],
            cap: 995,
            calls: 0,
            budget: 1,
        };
        let _ = q.write_to(&mut w);
        assert_eq!(q.waiting_behind_current(), 4);
        w.budget = usize::MAX;
        w.calls = 0;
        q.write_to(&mut w).unwrap();
        assert_eq!((q.len(), q.waiting_behind_current()), (0, 0));
        assert_eq!(w.got.len(), 1004);
        assert!(
            q.chunks.capacity() <= KEPT_CAPACITY,
            "the room is given back"
        );
    }

    #[test]
    fn vectored_writes_batch_many_frames() {
        let mut q = OutQueue::default();
        for _ in 0..10 {
            q.push_shared(Rc::from(&b"frame"[..]));
        }
        let mut sink: Vec<u8> = Vec::new();
        q.write_to(&mut sink).unwrap();
        assert_eq!(sink.len(), 50);
    }
}
