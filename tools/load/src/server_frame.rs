//! What a frame from the server is, found without parsing its JSON: a worker reads
//! tens of thousands of frames a second, and users lists of megabytes.

/// What a server frame is, found without parsing its JSON.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    /// A relayed message: the first bytes of its signature identify it.
    Message(&'a [u8]),
    /// A 0.9 config has the group key (`aeskey`); a version-2 one has none.
    Config(Option<&'a [u8]>),
    /// Version 2: the member key, wrapped with my public key.
    ConfigV2(&'a [u8]),
    UsersList,
    /// Version 2: the challenge's nonce, to sign for the proof of the key.
    Challenge(&'a [u8]),
    /// Version 2: the group key of this epoch (wrapped with my member key).
    GroupKey(u64),
    /// Version 2: the users list (names and Key IDs).
    Users,
    /// Version 2: the joins and departures of one turn.
    Presence,
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
        b"config" => match find(p, b"\"memberkey\"") {
            Some(i) => string_after(&p[i..], b"\"memberkey\"").map_or(Kind::Other, Kind::ConfigV2),
            None => Kind::Config(
                find(p, b"\"aeskey\"").and_then(|i| string_after(&p[i..], b"\"aeskey\"")),
            ),
        },
        // Keys may come in any order: a long list of presence changes before `code`.
        b"signal" => match string_after(head, b"\"code\"").or_else(|| string_after(p, b"\"code\""))
        {
            Some(b"chat-userslist") => Kind::UsersList,
            Some(b"chat-users") => Kind::Users,
            Some(b"chat-presence") => Kind::Presence,
            Some(b"chat-challenge") => {
                string_after(p, b"\"nonce\"").map_or(Kind::Other, Kind::Challenge)
            }
            Some(b"chat-groupkey") => {
                number_after(p, b"\"epoch\"").map_or(Kind::Other, Kind::GroupKey)
            }
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

/// The unsigned integer value after the key `key`.
fn number_after(p: &[u8], key: &[u8]) -> Option<u64> {
    let mut i = find(p, key)? + key.len();
    while p
        .get(i)
        .is_some_and(|b| b.is_ascii_whitespace() || *b == b':')
    {
        i += 1;
    }
    let digits = p[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&p[i..i + digits]).ok()?.parse().ok()
}

/// Entries of a version-2 users list or changes of a presence frame: each is an array
/// that starts with a quoted name or word (`["bob","<Key ID>"]`), and names, Key IDs
/// and the words `join`/`left`/`0.9` hold neither `[` nor `"`.
pub fn count_entries(p: &[u8]) -> usize {
    p.windows(2).filter(|w| w == b"[\"").count()
}

/// The room's size a version-2 `chat-users` or `chat-presence` says (`"count"`, the
/// last field, so looked for at the end only).
pub fn room_count(p: &[u8]) -> Option<u64> {
    let tail = &p[p.len().saturating_sub(40)..];
    let at = rfind(tail, b"\"count\":")? + 8;
    let digits: Vec<u8> = tail[at..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// The joins less the departures of a presence frame.
pub fn presence_balance(p: &[u8]) -> i64 {
    let count = |n: &[u8]| p.windows(n.len()).filter(|w| *w == n).count() as i64;
    count(b"[\"join\"") - count(b"[\"left\"")
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

    #[test]
    fn version_two_frames() {
        let challenge =
            br#"{"cmd":"signal","data":{"code":"chat-challenge","nonce":"bm9uY2U="},"user":""}"#;
        assert_eq!(classify(challenge), Kind::Challenge(b"bm9uY2U="));
        let config = br#"{"cmd":"config","data":{"admin":"ADMIN","adminkey":{"hash":"ab","text":"QUJD"},"disable-all":false,"is-admin":false,"keyid":"cd","max-text":65536,"memberkey":"TUVN","user":"alice","v":2},"user":""}"#;
        assert_eq!(classify(config), Kind::ConfigV2(b"TUVN"));
        let key = br#"{"cmd":"signal","data":{"code":"chat-groupkey","epoch":17,"iv":"aXY=","key":"a2V5"},"user":""}"#;
        assert_eq!(classify(key), Kind::GroupKey(17));
        let users = br#"{"cmd":"signal","user":"","data":{"code":"chat-users","users":[["ADMIN","aa"],["bob","bb"],["carol","cc","0.9"]],"count":10001}}"#;
        assert_eq!(classify(users), Kind::Users);
        assert_eq!(count_entries(users), 3);
        assert_eq!(room_count(users), Some(10001));
        let presence = br#"{"cmd":"signal","user":"","data":{"code":"chat-presence","changes":[["join","dave","dd"],["left","bob"]],"count":3}}"#;
        assert_eq!(classify(presence), Kind::Presence);
        assert_eq!(presence_balance(presence), 0);
        assert_eq!(room_count(presence), Some(3));
        assert_eq!(room_count(b"{}"), None);
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
