//! The JSON of file transfers (docs/PROTOCOL.md, "Version 2 — files"): the three file
//! frames clients send, the cleartext header of an offer, and what the server sends.
//! Everything echoed is checked to need no escaping (ids, names, base64, digits), so
//! the frames are written by hand: a chunk frame is relayed at the rate of the files.

use serde_json::Value;

use super::transfers::{Offer, State, is_valid_tid};

/// A file frame from a client, parsed. Anything malformed is `None` at the caller:
/// ignored, like any frame the server does not act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileFrame {
    Chunk {
        tid: String,
        seq: u64,
        iv: String,
        data: String,
    },
    Ack {
        tid: String,
        from: String,
        seq: u64,
    },
    /// `from` present: a recipient leaves; absent: the sender cancels.
    Cancel {
        tid: String,
        from: Option<String>,
        reason: Option<String>,
    },
}

/// The IV of a chunk: 12 bytes, in base64 16 characters.
const IV_B64_LEN: usize = 16;
/// The longest cancel reason relayed.
const MAX_REASON_CHARS: usize = 200;

/// Parses `data` of a frame whose `cmd` is `file-chunk`, `file-ack` or `file-cancel`.
pub fn parse(cmd: &str, data: Value) -> Option<FileFrame> {
    let text = |key: &str| data.get(key).and_then(Value::as_str).map(str::to_string);
    let tid = text("tid").filter(|t| is_valid_tid(t))?;
    let seq = data.get("seq").and_then(Value::as_u64);
    match cmd {
        "file-chunk" => {
            let iv = text("iv").filter(|iv| iv.len() == IV_B64_LEN && is_base64(iv))?;
            let data = text("data").filter(|d| is_base64(d))?;
            Some(FileFrame::Chunk {
                tid,
                seq: seq?,
                iv,
                data,
            })
        }
        "file-ack" => Some(FileFrame::Ack {
            tid,
            from: text("from")?,
            seq: seq?,
        }),
        "file-cancel" => Some(FileFrame::Cancel {
            tid,
            from: text("from"),
            reason: text("reason"),
        }),
        _ => None,
    }
}

/// The cleartext `file` header of an offer's `data`, if it has one. `Some(None)`: it
/// has one, malformed.
pub fn parse_offer(data: &Value) -> Option<Option<Offer>> {
    let file = data.get("file")?;
    let offer = (|| {
        Some(Offer {
            tid: file.get("tid")?.as_str()?.to_string(),
            size: file.get("size")?.as_u64()?,
            chunks: file.get("chunks")?.as_u64()?,
        })
    })();
    Some(offer)
}

fn is_base64(text: &str) -> bool {
    text.len().is_multiple_of(4)
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// A reason a sender gave, if it is safe and short; otherwise a default.
pub fn sender_reason(reason: Option<&str>, from: &str) -> String {
    match reason {
        Some(r)
            if !r.is_empty()
                && r.chars().count() <= MAX_REASON_CHARS
                && !r.chars().any(char::is_control) =>
        {
            r.to_string()
        }
        _ => format!("{from} cancelled the file."),
    }
}

/// A chunk as relayed: `from` is a registered name, the rest was checked at parsing.
pub fn chunk(from: &str, tid: &str, seq: u64, iv: &str, data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 128);
    out.push_str(r#"{"cmd":"file-chunk","user":"","data":{"from":""#);
    out.push_str(from);
    out.push_str(r#"","tid":""#);
    out.push_str(tid);
    out.push_str(r#"","seq":"#);
    out.push_str(&seq.to_string());
    out.push_str(r#","iv":""#);
    out.push_str(iv);
    out.push_str(r#"","data":""#);
    out.push_str(data);
    out.push_str(r#""}}"#);
    out
}

pub fn window(tid: &str, acked: u32) -> String {
    format!(
        r#"{{"cmd":"signal","user":"","data":{{"code":"file-window","tid":"{tid}","acked":{acked}}}}}"#
    )
}

pub fn status(tid: &str, to: &str, state: State, reason: Option<&str>) -> String {
    let mut data =
        serde_json::json!({"code": "file-status", "tid": tid, "to": to, "state": state.as_str()});
    if let Some(reason) = reason {
        data["reason"] = reason.into();
    }
    serde_json::json!({"cmd": "signal", "user": "", "data": data}).to_string()
}

pub fn cancel(from: &str, tid: &str, reason: &str) -> String {
    serde_json::json!({"cmd": "file-cancel", "user": "", "data": {"from": from, "tid": tid, "reason": reason}})
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chunks_are_parsed_only_when_every_field_is_safe_to_echo() {
        let good = json!({"tid": "f1", "seq": 3, "iv": "AAAAAAAAAAAAAAAA", "data": "QUJD"});
        assert_eq!(
            parse("file-chunk", good.clone()),
            Some(FileFrame::Chunk {
                tid: "f1".into(),
                seq: 3,
                iv: "AAAAAAAAAAAAAAAA".into(),
                data: "QUJD".into()
            })
        );
        for (key, bad) in [
            ("tid", json!("a\"b")),
            ("seq", json!(-1)),
            ("iv", json!("AAAA")),
            ("data", json!("QU\"D")),
            ("data", json!(7)),
        ] {
            let mut frame = good.clone();
            frame[key] = bad;
            assert_eq!(parse("file-chunk", frame), None, "{key}");
        }
    }

    #[test]
    fn a_relayed_chunk_is_the_json_it_claims_to_be() {
        let text = chunk("alice", "f1", 9, "AAAAAAAAAAAAAAAA", "QUJD");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["cmd"], "file-chunk");
        assert_eq!(v["data"]["from"], "alice");
        assert_eq!(v["data"]["seq"], 9);
        assert_eq!(v["data"]["data"], "QUJD");
        let w: Value = serde_json::from_str(&window("f1", 4)).unwrap();
        assert_eq!(w["data"]["acked"], 4);
    }

    #[test]
    fn offers_headers_and_cancel_reasons() {
        assert_eq!(parse_offer(&json!({"v": 2})), None);
        assert_eq!(parse_offer(&json!({"file": {"tid": "x"}})), Some(None));
        let o = parse_offer(&json!({"file": {"tid": "x", "size": 5, "chunks": 1}}));
        assert_eq!(o.flatten().map(|o| o.size), Some(5));
        assert_eq!(
            sender_reason(Some("no\u{7}"), "alice"),
            "alice cancelled the file."
        );
        assert_eq!(sender_reason(Some("too big"), "alice"), "too big");
    }
}
