//! What a frame from the server is, found without parsing its JSON: a worker reads
//! tens of thousands of frames a second, and users lists of megabytes.

/// What a server frame is, found without parsing its JSON.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    /// A relayed message: the first bytes of its signature identify it.
    Message(&'a [u8]),
    Config(Option<&'a [u8]>),
    UsersList,
    Join,
    Left,
    Ack,
    Undelivered(&'a [u8]),
    Notice(&'a [u8]),
    InvalidUser,
    Other,
}

/// Characters of the signature (base64) that identify a message.
pub const SIG_KEY: usize = 32;

pub fn classify(p: &[u8]) -> Kind<'_> {
    let head = &p[..p.len().min(400)];
    let Some(cmd) = string_after(head, b"\"cmd\"") else {
        return Kind::Other;
    };
    match cmd {
        b"message" => {
            match rfind(p, b"\"signature\"").and_then(|i| string_after(&p[i..], b"\"signature\"")) {
                Some(sig) if sig.len() >= SIG_KEY => Kind::Message(&sig[..SIG_KEY]),
                _ => Kind::Other,
            }
        }
        b"config" => {
            Kind::Config(find(p, b"\"aeskey\"").and_then(|i| string_after(&p[i..], b"\"aeskey\"")))
        }
        b"signal" => match string_after(head, b"\"code\"") {
            Some(b"chat-userslist") => Kind::UsersList,
            Some(b"chat-join") => Kind::Join,
            Some(b"chat-left") => Kind::Left,
            Some(b"chat-ack") => Kind::Ack,
            Some(b"chat-invaliduser") => Kind::InvalidUser,
            Some(b"chat-undelivered") => Kind::Undelivered(
                find(p, b"\"reason\"")
                    .and_then(|i| string_after(&p[i..], b"\"reason\""))
                    .unwrap_or_default(),
            ),
            // The key comes after the code's value `"notice"` (keys in order).
            Some(b"notice") => Kind::Notice(
                rfind(p, b"\"notice\"")
                    .and_then(|i| string_after(&p[i..], b"\"notice\""))
                    .unwrap_or_default(),
            ),
            _ => Kind::Other,
        },
        _ => Kind::Other,
    }
}

/// The JSON string value after the key `key` (which includes its quotes), up to the
/// next quote (no unescaping: the values looked at here have no escapes).
fn string_after<'a>(p: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let mut i = find(p, key)? + key.len();
    while p.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        i += 1;
    }
    if p.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    while p.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        i += 1;
    }
    if p.get(i) != Some(&b'"') {
        return None;
    }
    let start = i + 1;
    let len = p[start..].iter().position(|&b| b == b'"')?;
    Some(&p[start..start + len])
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn rfind(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).rposition(|w| w == n)
}

#[cfg(test)]
mod tests {
    use std::io::{self, Read, Write};

    use tungstenite::protocol::Role;
    use tungstenite::protocol::frame::Frame;
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    use tungstenite::{Message, WebSocket};

    use super::*;

    #[test]
    fn classifies_both_servers_spacing() {
        let ours = br#"{"cmd":"message","data":{"algo":"aes","ciphertext":"Y3Q=","iv":"aXY=","signature":"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9w"},"user":""}"#;
        let python = br#"{"cmd": "message", "user": "", "data": {"algo": "aes", "iv": "aXY=", "ciphertext": "Y3Q=", "signature": "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9w"}}"#;
        assert_eq!(classify(ours), classify(python));
        assert!(matches!(classify(ours), Kind::Message(k) if k.len() == SIG_KEY));
        assert_eq!(
            classify(br#"{"cmd": "signal", "user": "", "data": {"code": "chat-userslist", "userslist": "[]"}}"#),
            Kind::UsersList
        );
        assert_eq!(
            classify(
                br#"{"cmd":"signal","data":{"code":"notice","notice":"Too fast."},"user":""}"#
            ),
            Kind::Notice(b"Too fast.")
        );
        assert_eq!(
            classify(br#"{"cmd":"config","data":{"aeskey":"QUJD","disable-all":false},"user":""}"#),
            Kind::Config(Some(b"QUJD"))
        );
    }

    /// A users list of thousands of keys and the small frame after it, read through
    /// the same tungstenite setup as the workers use, in pieces as a socket gives them.
    #[test]
    fn large_frames_are_read_whole_and_classified() {
        let payload = format!(
            r#"{{"cmd":"signal","data":{{"code":"chat-userslist","userslist":"{}"}}}}"#,
            "x".repeat(200_000)
        );
        let small = r#"{"cmd":"signal","data":{"code":"chat-left"},"user":"bob"}"#;
        let mut bytes = Vec::new();
        for text in [payload.as_str(), small] {
            Frame::message(text.to_string(), OpCode::Data(Data::Text), true)
                .format(&mut bytes)
                .unwrap();
        }
        let mut ws = WebSocket::from_raw_socket(
            Chunked {
                data: bytes,
                at: 0,
                ready: 0,
            },
            Role::Client,
            Some(crate::connection::websocket_config()),
        );
        let mut kinds = Vec::new();
        while kinds.len() < 2 {
            match ws.read() {
                Ok(Message::Text(t)) => kinds.push(format!("{:?}", classify(t.as_bytes()))),
                Ok(other) => panic!("unexpected {other:?}"),
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    ws.get_mut().ready += 1000;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(kinds, ["UsersList", "Left"]);
    }

    /// A non-blocking socket's view of some bytes: `ready` of them have arrived.
    struct Chunked {
        data: Vec<u8>,
        at: usize,
        ready: usize,
    }

    impl Read for Chunked {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let end = self.ready.min(self.data.len());
            if self.at >= end {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(end - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    impl Write for Chunked {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
}
