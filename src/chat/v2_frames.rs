//! The JSON of version 2 (docs/PROTOCOL.md, "Version 2"): the `data` of a version-2
//! message as clients send it, and the frames only version-2 clients receive. 0.9
//! frames stay in `frames.rs`.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The `data` of a version-2 message (`"v":2`). Only these fields are relayed, with
/// `from` added by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V2Data {
    /// Always 2: the marker that made this a version-2 message.
    pub v: u8,
    /// Set by the server on relay: the sending connection's registered name. A sender's
    /// own value is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Set by the server on relay: the Key ID of the sending connection, so that a
    /// client can fetch the key of a sender it was not told of (large rooms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fromkey: Option<String>,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// 1:1: the message key wrapped with the recipient's RSA key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapped: Option<String>,
    /// To all: the epoch of the group key that encrypts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    /// To all: a copy carrying a 0.9 plaintext and signature (mixed rooms).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legacy: bool,
    pub iv: String,
    pub ciphertext: String,
    /// A file offer's cleartext header (`file_relay.rs`), relayed as the server
    /// rewrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<Value>,
}

impl V2Data {
    /// The client's message id, if it is one we can echo safely.
    pub fn valid_id(&self) -> Option<&str> {
        self.id
            .as_deref()
            .filter(|id| super::frames::is_valid_id(id))
    }

    /// A copy of the fields for a relay, `from` and `fromkey` the server's word.
    pub fn relayed_from(&self, from: &str, from_key: &str) -> String {
        let mut data = self.clone();
        data.from = Some(from.to_string());
        data.fromkey = Some(from_key.to_string());
        frame(
            "message",
            "",
            serde_json::to_value(&data).expect("plain struct"),
        )
    }
}

/// `data` of a message frame that is version 2, parsed; `None` if it is not one.
/// `Some(Err(()))`: it says `"v":2` but lacks what a version-2 message needs.
pub fn parse_v2_data(data: &Value) -> Option<Result<V2Data, ()>> {
    if data.get("v") != Some(&json!(2)) {
        return None;
    }
    Some(serde_json::from_value(data.clone()).map_err(|_| ()))
}

/// The Key IDs of a `chat-getkeys`, at most `max` (the rest ignored); entries that
/// are not strings are skipped.
pub fn parse_key_ids(data: &Value, max: usize) -> Vec<String> {
    data.get("keyids")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .take(max)
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `text` has the form of a Key ID (lowercase hex SHA-256): only such a text is
/// ever echoed back in a `chat-key`.
pub fn is_key_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn frame(cmd: &str, user: &str, data: Value) -> String {
    json!({"cmd": cmd, "user": user, "data": data}).to_string()
}

/// What a version-2 `config` says, besides what every `config` says.
pub struct ConfigV2<'a> {
    pub disable_all: bool,
    pub name: &'a str,
    pub is_admin: bool,
    pub key_id: &'a str,
    pub admin_name: &'a str,
    pub admin_key_id: &'a str,
    pub admin_spki: &'a str,
    pub member_key_b64: &'a str,
    pub max_text: usize,
}

pub fn config(c: &ConfigV2) -> String {
    frame(
        "config",
        "",
        json!({
            "v": 2,
            "disable-all": c.disable_all,
            "user": c.name,
            "is-admin": c.is_admin,
            "keyid": c.key_id,
            "admin": c.admin_name,
            "adminkey": {"hash": c.admin_key_id, "text": c.admin_spki},
            "memberkey": c.member_key_b64,
            "max-text": c.max_text,
        }),
    )
}

/// About the size of a `chat-groupkey` frame (the group key of an epoch, wrapped for
/// one member): a rotation reserves this per member.
pub const GROUP_KEY_FRAME_BYTES: usize = 200;

/// Appends the `chat-groupkey` frame to `out`, by hand: one of these per member at
/// every rotation. The fields are digits and base64: nothing to escape.
pub fn push_group_key(out: &mut String, epoch: u64, iv: &[u8], key: &[u8]) {
    let head = r#"{"cmd":"signal","user":"","data":{"code":"chat-groupkey","epoch":"#;
    out.push_str(head);
    let _ = write!(out, "{epoch}");
    out.push_str(r#","iv":""#);
    crate::crypto::b64_encode_into(iv, out);
    out.push_str(r#"","key":""#);
    crate::crypto::b64_encode_into(key, out);
    out.push_str(r#""}}"#);
}

/// One user in `chat-users` or in a `join` of `chat-presence`: names are `[a-z0-9]`
/// or `[A-Z0-9]` and Key IDs hex, so the JSON is written without escaping.
pub fn push_user_entry(out: &mut String, name: &str, key_id: &str, is_0_9: bool) {
    debug_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric()));
    out.push_str("[\"");
    out.push_str(name);
    out.push_str("\",\"");
    out.push_str(key_id);
    out.push_str(if is_0_9 { "\",\"0.9\"]" } else { "\"]" });
}

/// `chat-users` from entries written by [`push_user_entry`], comma-separated; `count`:
/// the entries of the complete list (more than these in a large room).
pub fn users(entries: &str, count: usize) -> String {
    let head = r#"{"cmd":"signal","user":"","data":{"code":"chat-users","users":["#;
    let mut out = String::with_capacity(head.len() + entries.len() + 32);
    out.push_str(head);
    out.push_str(entries);
    out.push_str("],\"count\":");
    out.push_str(&count.to_string());
    out.push_str("}}");
    out
}

/// `chat-presence` from changes written by [`push_join_change`] / [`push_left_change`],
/// comma-separated (none: the room's size alone changed).
pub fn presence(changes: &str, count: usize) -> String {
    format!(
        r#"{{"cmd":"signal","user":"","data":{{"code":"chat-presence","changes":[{changes}],"count":{count}}}}}"#
    )
}

/// `chat-found`: the answer to a `chat-find` of `name`, entries as in `chat-users`.
pub fn found(name: &str, entries: &str, more: bool) -> String {
    debug_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric()));
    format!(
        r#"{{"cmd":"signal","user":"","data":{{"code":"chat-found","name":"{name}","users":[{entries}],"more":{more}}}}}"#
    )
}

pub fn push_join_change(out: &mut String, name: &str, key_id: &str, is_0_9: bool) {
    if !out.is_empty() {
        out.push(',');
    }
    out.push_str("[\"join\",\"");
    out.push_str(name);
    out.push_str("\",\"");
    out.push_str(key_id);
    out.push_str(if is_0_9 { "\",\"0.9\"]" } else { "\"]" });
}

pub fn push_left_change(out: &mut String, name: &str) {
    if !out.is_empty() {
        out.push(',');
    }
    out.push_str("[\"left\",\"");
    out.push_str(name);
    out.push_str("\"]");
}

pub fn key(key_id: &str, name: &str, spki_b64: &str) -> String {
    frame(
        "signal",
        "",
        json!({"code": "chat-key", "keyid": key_id, "name": name, "publickey": spki_b64}),
    )
}

pub fn key_missing(key_id: &str) -> String {
    frame(
        "signal",
        "",
        json!({"code": "chat-key", "keyid": key_id, "missing": true}),
    )
}

/// Why a version-2 message went nowhere, for the sender's client to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    StaleEpoch(u64),
    NotConnected,
    OldClient,
    BadSize,
    Malformed,
    NotYours,
    Disabled,
    OnlyAdmin,
    AdminQueue,
    /// A held message whose recipient did not come back in time.
    HoldExpired,
    /// A file offer refused (`file-too-large`, `file-busy`, ...).
    File(&'static str),
}

impl Why {
    fn code(self) -> &'static str {
        match self {
            Why::StaleEpoch(_) => "stale-epoch",
            Why::NotConnected => "not-connected",
            Why::OldClient => "old-client",
            Why::BadSize => "bad-size",
            Why::Malformed => "malformed",
            Why::NotYours => "not-yours",
            Why::Disabled => "disabled",
            Why::OnlyAdmin => "only-admin",
            Why::AdminQueue => "admin-queue",
            Why::HoldExpired => "hold-expired",
            Why::File(code) => code,
        }
    }
}

pub fn undelivered(id: Option<&str>, to: &str, reason: &str, why: Why) -> String {
    let mut data =
        json!({"code": "chat-undelivered", "to": to, "reason": reason, "why": why.code()});
    if let Some(id) = id {
        data["id"] = Value::String(id.to_string());
    }
    if let Why::StaleEpoch(epoch) = why {
        data["epoch"] = json!(epoch);
    }
    frame("signal", "", data)
}

/// A 1:1 message held for a recipient gone a short while, until `until_ms` (wall clock).
pub fn held(id: Option<&str>, to: &str, until_ms: u64) -> String {
    let mut data = json!({"code": "chat-held", "to": to, "until": until_ms});
    if let Some(id) = id {
        data["id"] = Value::String(id.to_string());
    }
    frame("signal", "", data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_data_is_parsed_and_relayed_with_the_servers_from_only() {
        let data: Value = serde_json::from_str(
            r#"{"v":2,"to":"bob","id":"m1","wrapped":"d3I=","iv":"aXY=","ciphertext":"Y3Q=","from":"mallory","fromkey":"66","junk":1}"#,
        )
        .unwrap();
        let parsed = parse_v2_data(&data).unwrap().unwrap();
        let relayed: Value = serde_json::from_str(&parsed.relayed_from("alice", "ab")).unwrap();
        assert_eq!(
            relayed,
            json!({"cmd":"message","user":"","data":{"v":2,"from":"alice","fromkey":"ab","to":"bob","id":"m1",
                "wrapped":"d3I=","iv":"aXY=","ciphertext":"Y3Q="}})
        );
        assert!(parse_v2_data(&json!({"algo":"aes"})).is_none());
        assert!(parse_v2_data(&json!({"v":2,"to":"all"})).unwrap().is_err());
        assert!(
            parse_v2_data(&json!({"v":2,"to":5,"iv":"","ciphertext":""}))
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn hand_written_frames_are_json() {
        let mut entries = String::new();
        push_user_entry(&mut entries, "ADMIN", "ab", false);
        entries.push(',');
        push_user_entry(&mut entries, "carol", "cd", true);
        let v: Value = serde_json::from_str(&users(&entries, 9)).unwrap();
        assert_eq!(
            v["data"]["users"],
            json!([["ADMIN", "ab"], ["carol", "cd", "0.9"]])
        );
        assert_eq!(v["data"]["count"], 9);
        let v: Value = serde_json::from_str(&found("ca", &entries, true)).unwrap();
        assert_eq!(
            v["data"],
            json!({"code":"chat-found","name":"ca","users":[["ADMIN", "ab"], ["carol", "cd", "0.9"]],"more":true})
        );
        let mut changes = String::new();
        push_join_change(&mut changes, "dave", "ef", false);
        push_left_change(&mut changes, "bob");
        let v: Value = serde_json::from_str(&presence(&changes, 3)).unwrap();
        assert_eq!(
            v["data"]["changes"],
            json!([["join", "dave", "ef"], ["left", "bob"]])
        );
        assert_eq!(v["data"]["count"], 3);
        let v: Value = serde_json::from_str(&presence("", 4)).unwrap();
        assert_eq!(
            v["data"],
            json!({"code":"chat-presence","changes":[],"count":4})
        );
        let mut text = String::new();
        push_group_key(&mut text, 7, b"iv", b"key");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["data"],
            json!({"code":"chat-groupkey","epoch":7,"iv":"aXY=","key":"a2V5"})
        );
        let v: Value =
            serde_json::from_str(&undelivered(Some("m1"), "all", "r", Why::StaleEpoch(3))).unwrap();
        assert_eq!(v["data"]["why"], "stale-epoch");
        assert_eq!(v["data"]["epoch"], 3);
    }

    #[test]
    fn key_ids() {
        assert!(is_key_id(&"a1".repeat(32)));
        assert!(!is_key_id(&"A1".repeat(32)));
        assert!(!is_key_id("abc"));
        let ids = parse_key_ids(&json!({"keyids": ["a", 5, "b", "c"]}), 3);
        assert_eq!(ids, ["a", "b"]);
    }
}
