//! The JSON of the wire: parsing what clients send, building what the server sends.
//! docs/PROTOCOL.md is the reference for every frame here.

use std::rc::Rc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::v2_frames::{V2Data, parse_key_ids, parse_v2_data};

/// What a client frame asks for, once parsed. Anything the server does not act on is
/// `Ignored`, never an error that could cost the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// `prove`: the client will prove it holds the key (⊕, our clients); `v2`: it
    /// asks for version 2 (`"v":2`).
    Join {
        name: String,
        public_key: String,
        prove: bool,
        v2: bool,
    },
    /// ⊕ The signature answering a `chat-challenge`.
    Proof {
        signature: String,
    },
    Message(MessageData),
    /// A version-2 message (`"v":2` in its data).
    MessageV2(V2Data),
    /// Version 2: the public keys of these Key IDs, please (not yet cut to the limit).
    GetKeys(Vec<String>),
    /// Version 2: the users whose name starts with this (`None`: not a name's start).
    Find(Option<String>),
    /// Version 2: a file chunk, ack or cancel (`file_frames.rs`).
    File(super::file_frames::FileFrame),
    Ignored(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algo {
    Rsa,
    Aes,
}

/// The `data` of a message frame. Only these fields are relayed; whatever else a sender
/// adds is dropped, so a relay never carries more than a message needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageData {
    pub algo: Algo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iv: Option<String>,
    pub ciphertext: String,
    pub signature: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl MessageData {
    /// The client's message id, if it is one we can echo safely.
    pub fn valid_id(&self) -> Option<&str> {
        self.id.as_deref().filter(|id| is_valid_id(id))
    }

    /// Whether the sender used a field 0.9 clients never send.
    pub fn uses_extensions(&self) -> bool {
        self.to.is_some() || self.id.is_some()
    }
}

pub fn is_valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[derive(Deserialize)]
struct RawFrame {
    cmd: Option<Value>,
    #[serde(default)]
    user: Value,
    data: Option<Value>,
}

pub fn parse_client_frame(text: &str) -> ClientFrame {
    let Ok(raw) = serde_json::from_str::<RawFrame>(text) else {
        return ClientFrame::Ignored("not a JSON object with cmd and data");
    };
    let (Some(Value::String(cmd)), Some(data)) = (raw.cmd, raw.data) else {
        return ClientFrame::Ignored("no cmd or no data");
    };
    match cmd.as_str() {
        "signal" => parse_signal(raw.user, data),
        "file-chunk" | "file-ack" | "file-cancel" => match super::file_frames::parse(&cmd, data) {
            Some(file) => ClientFrame::File(file),
            None => ClientFrame::Ignored("malformed file frame"),
        },
        "message" => match parse_v2_data(&data) {
            Some(Ok(v2)) => ClientFrame::MessageV2(v2),
            Some(Err(())) => ClientFrame::Ignored("version-2 message without its fields"),
            None => parse_message(data),
        },
        _ => ClientFrame::Ignored("unknown cmd"),
    }
}

fn parse_message(data: Value) -> ClientFrame {
    match serde_json::from_value::<MessageData>(data) {
        Ok(message) => ClientFrame::Message(message),
        Err(_) => ClientFrame::Ignored("message without algo, ciphertext and signature"),
    }
}

fn parse_signal(user: Value, data: Value) -> ClientFrame {
    match data.get("code").and_then(Value::as_str) {
        Some("chat-join") => {}
        Some("chat-getkeys") => return ClientFrame::GetKeys(parse_key_ids(&data, usize::MAX)),
        Some("chat-find") => {
            let prefix = data.get("name").and_then(Value::as_str).filter(|p| {
                (1..=crate::names::MAX_NAME_LEN).contains(&p.len())
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
            return ClientFrame::Find(prefix.map(str::to_string));
        }
        Some("chat-proof") => {
            return match data.get("signature").and_then(Value::as_str) {
                Some(signature) => ClientFrame::Proof {
                    signature: signature.to_string(),
                },
                None => ClientFrame::Ignored("proof without a signature"),
            };
        }
        _ => return ClientFrame::Ignored("unknown signal"),
    }
    match (user, data.get("publickey").and_then(Value::as_str)) {
        (Value::String(name), Some(key)) => ClientFrame::Join {
            name,
            public_key: key.to_string(),
            prove: data.get("prove") == Some(&Value::Bool(true)),
            v2: data.get("v") == Some(&json!(2)),
        },
        _ => ClientFrame::Ignored("join without a user name or a public key"),
    }
}

/// The plaintext inside every message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plaintext {
    pub from: String,
    pub to: String,
    pub message: String,
    #[serde(
        rename = "isWebAdminMsgCopy",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub web_admin_copy: bool,
}

impl Plaintext {
    pub fn new(from: &str, to: &str, message: &str) -> Self {
        Self {
            from: from.to_string(),
            to: to.to_string(),
            message: message.to_string(),
            web_admin_copy: false,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("strings always serialize")
    }

    pub fn parse(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

// ---- server → client -------------------------------------------------------------

fn frame(cmd: &str, user: &str, data: Value) -> String {
    json!({"cmd": cmd, "user": user, "data": data}).to_string()
}

pub fn config(
    disable_all: bool,
    name: &str,
    is_admin: bool,
    key_id: &str,
    group_key_b64: &str,
) -> String {
    frame(
        "config",
        "",
        json!({
            "disable-all": disable_all,
            "user": name,
            "is-admin": is_admin,
            "keyid": key_id,
            "aeskey": group_key_b64,
        }),
    )
}

/// A frame's JSON text as pieces whose concatenation is the text. Most frames are one
/// piece; the users list is assembled from each user's own piece, shared, so a join
/// costs a pointer per user rather than a copy of every key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameText {
    pieces: Pieces,
}

/// A frame for one recipient is sent as made (a rotation makes a thousand of those);
/// a frame kept to be sent again is shared.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pieces {
    Text(Vec<u8>),
    One(Piece),
    Many(Vec<Piece>),
    /// A part of a buffer shared by many frames, each for someone else (a rotation's
    /// group keys: one allocation for all the members).
    Slice {
        whole: Piece,
        start: u32,
        end: u32,
    },
}

/// Bytes of valid UTF-8 JSON text, shared between frames.
pub type Piece = Rc<[u8]>;

impl FrameText {
    /// A frame that is kept and sent again (a key's `chat-key`): its clones share it.
    pub fn shared(text: String) -> Self {
        Self {
            pieces: Pieces::One(Rc::from(text.into_bytes())),
        }
    }

    /// `whole[range]`, one frame's text in a buffer of several.
    pub fn slice(whole: Piece, range: std::ops::Range<usize>) -> Self {
        debug_assert!(range.end <= whole.len());
        Self {
            pieces: Pieces::Slice {
                whole,
                start: range.start as u32,
                end: range.end as u32,
            },
        }
    }

    /// The shared buffer and the range of a [`FrameText::slice`].
    pub fn as_slice_of(&self) -> Option<(&Piece, std::ops::Range<usize>)> {
        match &self.pieces {
            Pieces::Slice { whole, start, end } => Some((whole, *start as usize..*end as usize)),
            _ => None,
        }
    }

    /// The text as one run of bytes, or its pieces (the 0.9 users list).
    pub fn as_bytes_or_pieces(&self) -> Result<&[u8], &[Piece]> {
        match &self.pieces {
            Pieces::Text(bytes) => Ok(bytes),
            Pieces::One(one) => Ok(one),
            Pieces::Many(many) => Err(many),
            Pieces::Slice { whole, start, end } => Ok(&whole[*start as usize..*end as usize]),
        }
    }

    /// The bytes of a frame made for one recipient, without a copy; otherwise the frame.
    pub fn into_text_bytes(self) -> Result<Vec<u8>, Self> {
        match self.pieces {
            Pieces::Text(bytes) => Ok(bytes),
            pieces => Err(Self { pieces }),
        }
    }

    pub fn len(&self) -> usize {
        match self.as_bytes_or_pieces() {
            Ok(bytes) => bytes.len(),
            Err(pieces) => pieces.iter().map(|p| p.len()).sum(),
        }
    }

    /// The whole text (for tests and fuzzing; the event loop sends the pieces).
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn to_text(&self) -> String {
        let bytes: Vec<u8> = match self.as_bytes_or_pieces() {
            Ok(bytes) => bytes.to_vec(),
            Err(pieces) => pieces.iter().flat_map(|p| p.iter().copied()).collect(),
        };
        String::from_utf8(bytes).expect("pieces are UTF-8 text")
    }

    #[cfg(test)]
    pub fn shares_with(&self, other: &Self) -> bool {
        match (&self.pieces, &other.pieces) {
            (Pieces::One(a), Pieces::One(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl From<String> for FrameText {
    fn from(text: String) -> Self {
        Self {
            pieces: Pieces::Text(text.into_bytes()),
        }
    }
}

/// A user's piece of the users list: the entry `{"name":..,"publickey":{..}}` escaped as
/// the content of a JSON string (the list travels as a string), after a comma unless
/// it is the first entry.
pub fn users_list_piece(name: &str, key_id: &str, spki_b64: &str, first: bool) -> Piece {
    let entry = json!({"name": name, "publickey": {"hash": key_id, "text": spki_b64}}).to_string();
    let quoted = Value::String(entry).to_string();
    let escaped = &quoted[1..quoted.len() - 1];
    let piece = if first {
        escaped.to_string()
    } else {
        format!(",{escaped}")
    };
    Rc::from(piece.into_bytes())
}

/// The users list frame (0.9's format: the list is a JSON array *encoded as a string*)
/// from the pieces of [`users_list_piece`], the first one without its comma.
pub fn users_list(pieces: impl IntoIterator<Item = Piece>) -> FrameText {
    thread_local! {
        static ENDS: (Piece, Piece) = (
            Rc::from(&br#"{"cmd":"signal","user":"","data":{"code":"chat-userslist","userslist":"["#[..]),
            Rc::from(&br#"]"}}"#[..]),
        );
    }
    let (head, tail) = ENDS.with(|(h, t)| (h.clone(), t.clone()));
    let mut all = vec![head];
    all.extend(pieces);
    all.push(tail);
    FrameText {
        pieces: Pieces::Many(all),
    }
}

pub fn joined(name: &str, key_id: &str, spki_b64: &str) -> String {
    frame(
        "signal",
        name,
        json!({"code": "chat-join", "publickey": {"hash": key_id, "text": spki_b64}}),
    )
}

pub fn left(name: &str) -> String {
    frame("signal", name, json!({"code": "chat-left"}))
}

pub fn invalid_user() -> String {
    frame("signal", "", json!({"code": "chat-invaliduser"}))
}

/// ⊕ What a client that offered to prove its key must sign (with the Host it used).
pub fn challenge(nonce_b64: &str) -> String {
    frame(
        "signal",
        "",
        json!({"code": "chat-challenge", "nonce": nonce_b64}),
    )
}

pub fn notice(text: &str) -> String {
    frame("signal", "", json!({"code": "notice", "notice": text}))
}

pub fn ack(id: &str) -> String {
    frame("signal", "", json!({"code": "chat-ack", "id": id}))
}

pub fn undelivered(id: Option<&str>, to: &str, reason: &str) -> String {
    let mut data = json!({"code": "chat-undelivered", "to": to, "reason": reason});
    if let Some(id) = id {
        data["id"] = Value::String(id.to_string());
    }
    frame("signal", "", data)
}

pub fn relayed(data: &MessageData) -> String {
    frame(
        "message",
        "",
        serde_json::to_value(data).expect("plain struct"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_is_parsed() {
        let f = parse_client_frame(
            r#"{"cmd":"signal","user":"alice","data":{"code":"chat-join","publickey":"AAAA"}}"#,
        );
        assert_eq!(
            f,
            ClientFrame::Join {
                name: "alice".into(),
                public_key: "AAAA".into(),
                prove: false,
                v2: false,
            }
        );
    }

    #[test]
    fn proving_join_and_proof_are_parsed() {
        let f = parse_client_frame(
            r#"{"cmd":"signal","user":"alice","data":{"code":"chat-join","publickey":"AAAA","prove":true}}"#,
        );
        assert!(matches!(f, ClientFrame::Join { prove: true, .. }), "{f:?}");
        let f = parse_client_frame(
            r#"{"cmd":"signal","user":"alice","data":{"code":"chat-proof","signature":"c2c="}}"#,
        );
        assert_eq!(
            f,
            ClientFrame::Proof {
                signature: "c2c=".into()
            }
        );
        let f = parse_client_frame(r#"{"cmd":"signal","user":"a","data":{"code":"chat-proof"}}"#);
        assert!(matches!(f, ClientFrame::Ignored(_)));
    }

    #[test]
    fn messages_are_parsed_and_junk_fields_dropped_on_relay() {
        let f = parse_client_frame(
            r#"{"cmd":"message","user":"x","data":{"algo":"rsa","ciphertext":"Y3Q=","signature":"c2c=","to":"bob","id":"m1","junk":[1,2,3]}}"#,
        );
        let ClientFrame::Message(m) = f else {
            panic!("{f:?}")
        };
        assert_eq!(m.algo, Algo::Rsa);
        assert_eq!(m.to.as_deref(), Some("bob"));
        assert_eq!(m.valid_id(), Some("m1"));
        let relayed: Value = serde_json::from_str(&relayed(&m)).unwrap();
        assert_eq!(
            relayed,
            json!({"cmd":"message","user":"","data":{"algo":"rsa","ciphertext":"Y3Q=","signature":"c2c=","to":"bob","id":"m1"}})
        );
    }

    #[test]
    fn legacy_relay_is_exactly_the_0_9_fields() {
        let ClientFrame::Message(m) = parse_client_frame(
            r#"{"cmd":"message","user":"x","data":{"algo":"aes","iv":"aXY=","ciphertext":"Y3Q=","signature":"c2c="}}"#,
        ) else {
            panic!()
        };
        assert_eq!(
            relayed(&m),
            r#"{"cmd":"message","data":{"algo":"aes","ciphertext":"Y3Q=","iv":"aXY=","signature":"c2c="},"user":""}"#
        );
    }

    #[test]
    fn hostile_frames_are_ignored_not_fatal() {
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        for text in [
            "",
            "null",
            "[]",
            "42",
            "\"x\"",
            "{}",
            r#"{"cmd":"message"}"#,
            r#"{"data":{}}"#,
            r#"{"cmd":5,"data":{}}"#,
            r#"{"cmd":"message","data":[]}"#,
            r#"{"cmd":"message","data":{"algo":"des","ciphertext":"","signature":""}}"#,
            r#"{"cmd":"signal","data":{"code":"chat-join"}}"#,
            r#"{"cmd":"signal","user":7,"data":{"code":"chat-join","publickey":"x"}}"#,
            deep.as_str(),
        ] {
            assert!(
                matches!(parse_client_frame(text), ClientFrame::Ignored(_)),
                "{text:.40}"
            );
        }
    }

    #[test]
    fn ids() {
        assert!(is_valid_id("m-17_x"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id(&"a".repeat(65)));
        assert!(!is_valid_id("a\"b"));
    }

    #[test]
    fn users_list_is_a_json_string_assembled_from_pieces() {
        let frame = users_list([
            users_list_piece("ADMIN", "h1", "t1", true),
            users_list_piece("bob", "h2", "t/2+=", false),
        ]);
        assert_eq!(frame.as_bytes_or_pieces().unwrap_err().len(), 4);
        let v: Value = serde_json::from_str(&frame.to_text()).unwrap();
        assert_eq!(v["cmd"], "signal");
        assert_eq!(v["data"]["code"], "chat-userslist");
        let inner: Value = serde_json::from_str(v["data"]["userslist"].as_str().unwrap()).unwrap();
        assert_eq!(inner[1]["name"], "bob");
        assert_eq!(inner[1]["publickey"]["text"], "t/2+=");
        assert_eq!(inner[0]["publickey"]["hash"], "h1");
        assert_eq!(frame.len(), frame.to_text().len());
    }

    #[test]
    fn web_admin_copy_flag_round_trips() {
        let mut p = Plaintext::new("ADMIN", "ADMIN", "{}");
        p.web_admin_copy = true;
        let text = String::from_utf8(p.to_bytes()).unwrap();
        assert!(text.contains(r#""isWebAdminMsgCopy":true"#));
        assert_eq!(Plaintext::parse(text.as_bytes()).unwrap(), p);
        assert!(
            !String::from_utf8(Plaintext::new("a", "b", "c").to_bytes())
                .unwrap()
                .contains("isWeb")
        );
    }
}
