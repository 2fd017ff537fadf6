//! The client side of WebSocket, as little of it as a load tool needs: the upgrade
//! request, masked text frames encoded once before measuring, and a reader of server
//! frames that looks at the start of a large frame (a users list of thousands of keys)
//! and skips the rest without copying it.

use std::io::{self, Cursor, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::{Frame, FrameHeader};

/// Frames longer than this are looked at by their first [`PREFIX`] bytes only.
const BIG: usize = 64 * 1024;
const PREFIX: usize = 512;
/// The `Sec-WebSocket-Key` of every connection: the tool checks the accept value.
const KEY: &str = "ZHlzcGF0Y2hlci1sb2FkLQ==";

/// Where to connect: a `ws://host:port/path` URL.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub host: String,
    pub path: String,
}

impl Target {
    pub fn parse(url: &str, scheme: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix(scheme)
            .and_then(|r| r.strip_prefix("://"))
            .ok_or_else(|| format!("{url}: expected {scheme}://host:port/path"))?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let with_port = if host
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            host.to_string()
        } else {
            format!("{host}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|e| format!("{url}: {e}"))?
            .next()
            .ok_or_else(|| format!("{url}: no address"))?;
        if !addr.ip().is_loopback() {
            return Err(format!(
                "{url}: a load test targets this machine only (a loopback address)"
            ));
        }
        Ok(Self {
            addr,
            host: host.to_string(),
            path: path.to_string(),
        })
    }

    pub fn upgrade_request(&self) -> Vec<u8> {
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n",
            self.path, self.host
        )
        .into_bytes()
    }
}

/// Checks the server's answer to the upgrade: `Ok(None)` until the head is complete,
/// then the length of the head.
pub fn upgrade_response(buf: &[u8]) -> Result<Option<usize>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > 16 * 1024 => {
            return Err("upgrade response head too long".into());
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("upgrade response: {e}")),
    };
    if response.code != Some(101) {
        return Err(format!(
            "upgrade refused: HTTP {}",
            response.code.unwrap_or_default()
        ));
    }
    let accept = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"))
        .map(|h| h.value)
        .unwrap_or_default();
    if accept != derive_accept_key(KEY.as_bytes()).as_bytes() {
        return Err("upgrade response: wrong Sec-WebSocket-Accept".into());
    }
    Ok(Some(len))
}

fn encode(opcode: OpCode, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let header = FrameHeader {
        opcode,
        mask: Some(mask),
        ..FrameHeader::default()
    };
    let mut out = Vec::with_capacity(payload.len() + 14);
    Frame::from_payload(header, payload.to_vec().into())
        .format(&mut out)
        .expect("writing to a Vec cannot fail");
    out
}

/// A masked text frame, ready to write as often as wanted.
pub fn text_frame(text: &str, mask: [u8; 4]) -> Vec<u8> {
    encode(OpCode::Data(Data::Text), text.as_bytes(), mask)
}

pub fn pong_frame(payload: &[u8]) -> Vec<u8> {
    encode(OpCode::Control(Control::Pong), payload, [9, 8, 7, 6])
}

/// A server frame, or the start of a large one.
pub enum Incoming<'a> {
    Text(&'a [u8]),
    Ping(&'a [u8]),
    Close(Option<u16>, &'a [u8]),
    Other,
}

/// Splits the server's byte stream into frames.
#[derive(Default)]
pub struct FrameReader {
    pending: Vec<u8>,
    /// Bytes of a large frame still to be skipped.
    skip: u64,
}

impl FrameReader {
    pub fn feed(&mut self, mut data: &[u8], f: &mut impl FnMut(Incoming)) -> Result<(), String> {
        if self.skip > 0 {
            let n = (self.skip.min(data.len() as u64)) as usize;
            self.skip -= n as u64;
            data = &data[n..];
        }
        if data.is_empty() {
            return Ok(());
        }
        if self.pending.is_empty() {
            let used = parse_frames(data, &mut self.skip, f)?;
            self.pending.extend_from_slice(&data[used..]);
        } else {
            self.pending.extend_from_slice(data);
            let used = parse_frames(&self.pending, &mut self.skip, f)?;
            self.pending.drain(..used);
        }
        Ok(())
    }
}

fn parse_frames(buf: &[u8], skip: &mut u64, f: &mut impl FnMut(Incoming)) -> Result<usize, String> {
    let mut pos = 0;
    while pos < buf.len() {
        let mut cursor = Cursor::new(&buf[pos..]);
        let Some((header, len)) = FrameHeader::parse(&mut cursor)
            .map_err(|e| format!("bad frame from the server: {e}"))?
        else {
            break;
        };
        let head = cursor.position() as usize;
        let avail = buf.len() - pos - head;
        let payload_at = pos + head;
        if (len as usize) <= avail {
            let payload = &buf[payload_at..payload_at + len as usize];
            f(match header.opcode {
                OpCode::Data(Data::Text) => Incoming::Text(payload),
                OpCode::Control(Control::Ping) => Incoming::Ping(payload),
                OpCode::Control(Control::Close) => {
                    let code =
                        (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                    Incoming::Close(code, payload.get(2..).unwrap_or_default())
                }
                _ => Incoming::Other,
            });
            pos = payload_at + len as usize;
        } else if len as usize > BIG && avail >= PREFIX {
            if header.opcode == OpCode::Data(Data::Text) {
                f(Incoming::Text(&buf[payload_at..]));
            }
            *skip = len - avail as u64;
            return Ok(buf.len());
        } else {
            break;
        }
    }
    Ok(pos)
}

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
            Some(b"notice") => Kind::Notice(
                find(p, b"\"notice\"")
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

/// A blocking WebSocket connection (the flooder and the checks use it).
pub fn connect_blocking(target: &Target, timeout: Duration) -> io::Result<(TcpStream, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&target.addr, timeout)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(&target.upgrade_request())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        match upgrade_response(&buf) {
            Ok(Some(len)) => {
                let rest = buf.split_off(len);
                return Ok((stream, rest));
            }
            Ok(None) => {}
            Err(e) => return Err(io::Error::other(e)),
        }
    }
}

#[cfg(test)]
mod tests {
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
            classify(br#"{"cmd":"config","data":{"aeskey":"QUJD","disable-all":false},"user":""}"#),
            Kind::Config(Some(b"QUJD"))
        );
    }

    #[test]
    fn large_frames_are_skipped_after_their_start() {
        let payload = format!(
            r#"{{"cmd":"signal","data":{{"code":"chat-userslist","userslist":"{}"}}}}"#,
            "x".repeat(200_000)
        );
        let mut bytes = Vec::new();
        FrameHeader {
            opcode: OpCode::Data(Data::Text),
            ..FrameHeader::default()
        }
        .format(payload.len() as u64, &mut bytes)
        .unwrap();
        bytes.extend_from_slice(payload.as_bytes());
        let small = br#"{"cmd":"signal","data":{"code":"chat-left"},"user":"bob"}"#;
        FrameHeader {
            opcode: OpCode::Data(Data::Text),
            ..FrameHeader::default()
        }
        .format(small.len() as u64, &mut bytes)
        .unwrap();
        bytes.extend_from_slice(small);
        let mut reader = FrameReader::default();
        let mut kinds = Vec::new();
        for chunk in bytes.chunks(1000) {
            reader
                .feed(chunk, &mut |m| {
                    if let Incoming::Text(t) = m {
                        kinds.push(format!("{:?}", classify(t)));
                    }
                })
                .unwrap();
        }
        assert_eq!(kinds, ["UsersList", "Left"]);
    }
}
