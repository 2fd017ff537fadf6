//! Keys from a terminal in raw mode: control bytes, UTF-8 characters, and the escape
//! sequences of the arrow and editing keys (CSI `ESC [ … final` and SS3 `ESC O x`, as
//! xterm, VTE, tmux and the Linux console send them). A sequence or character cut by
//! the end of a read waits for the next one.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Enter,
    Tab,
    Backspace,
    Delete,
    Left,
    Right,
    Home,
    End,
    Up,
    Down,
    /// Ctrl-U, Ctrl-K, Ctrl-W.
    KillToStart,
    KillToEnd,
    KillWord,
    /// Ctrl-C.
    Interrupt,
    /// Ctrl-D.
    EndOfInput,
    /// Anything else (function keys, Alt-x, other controls): ignored.
    Other,
}

/// Longest escape sequence kept while waiting for its end; longer ones are dropped.
const MAX_SEQUENCE: usize = 32;

#[derive(Debug, Default)]
pub struct KeyDecoder {
    pending: Vec<u8>,
}

impl KeyDecoder {
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Key> {
        self.pending.extend_from_slice(bytes);
        let mut keys = Vec::new();
        let mut at = 0;
        while at < self.pending.len() {
            match decode(&self.pending[at..]) {
                Some((key, used)) => {
                    keys.push(key);
                    at += used;
                }
                None if self.pending.len() - at > MAX_SEQUENCE => {
                    keys.push(Key::Other);
                    at = self.pending.len();
                }
                None => break,
            }
        }
        self.pending.drain(..at);
        keys
    }
}

/// The first key in `b` and the bytes it took; `None` if `b` is its unfinished start.
fn decode(b: &[u8]) -> Option<(Key, usize)> {
    let key = match b[0] {
        b'\r' | b'\n' => Key::Enter,
        b'\t' => Key::Tab,
        0x7f | 0x08 => Key::Backspace,
        0x01 => Key::Home,
        0x05 => Key::End,
        0x02 => Key::Left,
        0x06 => Key::Right,
        0x10 => Key::Up,
        0x0e => Key::Down,
        0x15 => Key::KillToStart,
        0x0b => Key::KillToEnd,
        0x17 => Key::KillWord,
        0x03 => Key::Interrupt,
        0x04 => Key::EndOfInput,
        0x1b => return escape(b),
        c if c < 0x20 => Key::Other,
        _ => return utf8(b),
    };
    Some((key, 1))
}

fn escape(b: &[u8]) -> Option<(Key, usize)> {
    match b.get(1) {
        None => None,
        Some(b'[') => {
            // Parameters and intermediates, then a final byte in 0x40..=0x7e.
            let end = b[2..].iter().position(|c| (0x40..=0x7e).contains(c))? + 2;
            let params = &b[2..end];
            let key = match (b[end], params) {
                (b'A', _) => Key::Up,
                (b'B', _) => Key::Down,
                (b'C', _) => Key::Right,
                (b'D', _) => Key::Left,
                (b'H', _) => Key::Home,
                (b'F', _) => Key::End,
                (b'~', p) => match p.split(|&c| c == b';').next().unwrap_or(b"") {
                    b"1" | b"7" => Key::Home,
                    b"4" | b"8" => Key::End,
                    b"3" => Key::Delete,
                    _ => Key::Other,
                },
                _ => Key::Other,
            };
            Some((key, end + 1))
        }
        Some(b'O') => {
            let key = match b.get(2)? {
                b'A' => Key::Up,
                b'B' => Key::Down,
                b'C' => Key::Right,
                b'D' => Key::Left,
                b'H' => Key::Home,
                b'F' => Key::End,
                _ => Key::Other,
            };
            Some((key, 3))
        }
        // Alt-x, or Esc pressed alone and then a key: the Esc is dropped.
        Some(_) => Some((Key::Other, 1)),
    }
}

fn utf8(b: &[u8]) -> Option<(Key, usize)> {
    let len = match b[0] {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        0x20..=0x7f => 1,
        _ => return Some((Key::Other, 1)),
    };
    if b.len() < len {
        return None;
    }
    match std::str::from_utf8(&b[..len]) {
        Ok(s) => Some((Key::Char(s.chars().next().expect("one char")), len)),
        Err(_) => Some((Key::Other, 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_common_terminals() {
        let mut d = KeyDecoder::default();
        assert_eq!(
            d.feed(b"a\x1b[A\x1b[1;5C\x1bOH\x1b[3~\x1b[4~\x7f\r"),
            [
                Key::Char('a'),
                Key::Up,
                Key::Right,
                Key::Home,
                Key::Delete,
                Key::End,
                Key::Backspace,
                Key::Enter
            ]
        );
    }

    #[test]
    fn junk_never_stalls_the_decoder() {
        let mut d = KeyDecoder::default();
        assert_eq!(d.feed(b"\xff\x80"), [Key::Other, Key::Other]);
        let mut long = b"\x1b[".to_vec();
        long.extend([b'1'; 40]);
        assert_eq!(d.feed(&long), [Key::Other]);
        assert_eq!(d.feed(b"x"), [Key::Char('x')]);
        assert_eq!(d.feed(b"\x1bx"), [Key::Other, Key::Char('x')]);
    }
}
