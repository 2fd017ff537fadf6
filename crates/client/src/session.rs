//! One client's view of the chat: its name and keys, what the server told it, and the
//! frames it sends.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use super::epochs::Epochs;
use super::event::{Algo, ClientEvent, DropReason, User};
use super::key_cache::KeyCache;
use super::replay_guard::ReplayGuard;
use super::room_view::LookedUp;
use super::seal::{ClientError, Outgoing, frame, plaintext, seal_aes, seal_rsa};
use super::v2_send::SentToAll;
use dyspatcher_crypto::{
    GroupKey, KeyPair, PublicIdentity, b64_decode, b64_encode, join_proof_message,
};

/// The largest envelope `text` until a version-2 config says otherwise.
pub const DEFAULT_MAX_TEXT: usize = 65_536;

pub struct ClientSession {
    pub(crate) name: String,
    pub(crate) keys: Arc<KeyPair>,
    pub(crate) is_admin: bool,
    pub(crate) disable_all: bool,
    pub(crate) key_id: Option<String>,
    /// Boxed, like `epochs`: AES key schedules are large, and sessions are kept by the
    /// thousand (load tool) and in enums (tests).
    pub(crate) group: Option<Box<GroupKey>>,
    pub(crate) users: Vec<User>,
    pub(crate) verify: bool,
    pub(crate) proves: bool,
    pub(crate) next_id: u64,
    /// 1 (0.9 and its extensions) or 2.
    pub(crate) version: u8,
    /// Whether a config arrived.
    pub(crate) configured: bool,
    /// A fixed wall clock (ms since 1970); `None`: the system clock.
    pub(crate) clock: Option<u64>,
    pub(crate) admin_name: Option<String>,
    pub(crate) max_text: usize,
    pub(crate) epochs: Box<Epochs>,
    pub(crate) key_cache: KeyCache,
    pub(crate) replay: ReplayGuard,
    pub(crate) sent_to_all: SentToAll,
    /// Version 2: also send a legacy copy of messages to all when 0.9 users are listed.
    pub(crate) legacy_copies: bool,
    /// Version 2: the room's `count`, once a frame carried it.
    pub(crate) count: Option<usize>,
    /// Version 2: which of `users` are there because we looked them up.
    pub(crate) looked_up: LookedUp,
}

impl std::fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSession")
            .field("name", &self.name)
            .field("keys", &self.keys)
            .field("is_admin", &self.is_admin)
            .field(
                "users",
                &self.users.iter().map(|u| &u.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl ClientSession {
    /// `keys` may be a `KeyPair` or an `Arc<KeyPair>` shared by many sessions.
    pub fn new(name: &str, keys: impl Into<Arc<KeyPair>>) -> Self {
        Self {
            name: name.to_owned(),
            keys: keys.into(),
            is_admin: false,
            disable_all: false,
            key_id: None,
            group: None,
            users: Vec::new(),
            verify: true,
            proves: true,
            next_id: 0,
            version: 1,
            configured: false,
            clock: None,
            admin_name: None,
            max_text: DEFAULT_MAX_TEXT,
            epochs: Box::default(),
            key_cache: KeyCache::default(),
            replay: ReplayGuard::default(),
            sent_to_all: SentToAll::default(),
            legacy_copies: true,
            count: None,
            looked_up: LookedUp::default(),
        }
    }

    /// A session that speaks version 2 (docs/PROTOCOL.md, "Version 2"): `"v":2` in its
    /// join, so it proves its key too.
    pub fn new_v2(name: &str, keys: impl Into<Arc<KeyPair>>) -> Self {
        let mut session = Self::new(name, keys);
        session.set_version(2);
        session
    }

    /// 1 (0.9 with the ⊕ extensions, the default of [`ClientSession::new`]) or 2. Set
    /// it before the join. Version 2 implies proving the key.
    pub fn set_version(&mut self, version: u8) {
        self.version = if version >= 2 { 2 } else { 1 };
        if self.version == 2 {
            self.proves = true;
            let own = self.keys.public().clone();
            self.key_cache.insert(own);
        }
    }

    pub fn version(&self) -> u8 {
        self.version
    }

    /// Fixes the wall clock (milliseconds since 1970-01-01 UTC) that envelopes are
    /// stamped and checked with; `None` goes back to the system clock (the default).
    pub fn set_clock(&mut self, now_ms: Option<u64>) {
        self.clock = now_ms;
    }

    /// The session's wall clock, in milliseconds since 1970-01-01 UTC.
    pub fn now_ms(&self) -> u64 {
        self.clock.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        })
    }

    /// Version 2: with 0.9 users in the room, a message to all is also sent as a legacy
    /// copy for them (on by default; see [`Outgoing::legacy`]).
    pub fn set_legacy_copies(&mut self, on: bool) {
        self.legacy_copies = on;
    }

    /// Version 2: the current group-key epoch, once a `chat-groupkey` opened.
    pub fn epoch(&self) -> Option<u64> {
        self.epochs.current().map(|(e, _)| e)
    }

    /// Version 2: the administrator's name, from the config.
    pub fn admin_name(&self) -> Option<&str> {
        self.admin_name.as_deref()
    }

    /// The largest text a message may carry (version 2: the config's `max-text`).
    pub fn max_text(&self) -> usize {
        self.max_text
    }

    /// The name asked for, then the name as registered once the config arrived.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn keys(&self) -> &Arc<KeyPair> {
        &self.keys
    }

    pub fn is_admin(&self) -> bool {
        self.is_admin
    }

    pub fn disable_all(&self) -> bool {
        self.disable_all
    }

    /// The `keyid` of the config.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    pub fn group_key(&self) -> Option<&GroupKey> {
        self.group.as_deref()
    }

    /// Whether the config has arrived.
    pub fn joined(&self) -> bool {
        self.configured
    }

    /// The users list, kept up to date by `chat-join` and `chat-left`.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// Check signatures of received messages (on by default). Off, a message costs only
    /// its decryption; events then say `verified: false`.
    pub fn set_verify(&mut self, verify: bool) {
        self.verify = verify;
    }

    /// Offer to prove the key at join (on by default). Off, the session joins as a 0.9
    /// client does: no ⊕ `prove`, so no challenge.
    pub fn set_proves(&mut self, proves: bool) {
        self.proves = proves;
    }

    /// A fresh ⊕ `id`: `m1`, `m2`, ...
    pub fn next_id(&mut self) -> String {
        self.next_id += 1;
        format!("m{}", self.next_id)
    }

    // ---- frames to send ----

    /// `{"cmd":"signal","user":name,"data":{"code":"chat-join","publickey":spki,"prove":true}}`
    /// (without ⊕ `prove` when the session acts as a 0.9 client). A proving join is
    /// answered with [`ClientEvent::Challenge`]: reply with [`ClientSession::proof_frame`].
    pub fn join_frame(&self) -> String {
        let mut data = json!({"code": "chat-join", "publickey": self.keys.public().spki_b64()});
        if self.proves {
            data["prove"] = Value::Bool(true);
        }
        if self.version == 2 {
            data["v"] = 2.into();
        }
        frame("signal", &self.name, data)
    }

    /// ⊕ The answer to a `chat-challenge`: the nonce and `host` (the host[:port] the
    /// connection was made to, as in its `Host` header) signed with our key.
    pub fn proof_frame(&self, host: &str, nonce: &str) -> String {
        let signature = self.keys.sign(&join_proof_message(host, nonce));
        frame(
            "signal",
            &self.name,
            json!({"code": "chat-proof", "signature": b64_encode(&signature)}),
        )
    }

    /// Any frame under our name: `data` may be anything (hostile tests).
    pub fn raw_frame(&self, cmd: &str, data: Value) -> String {
        frame(cmd, &self.name, data)
    }

    /// A `message` frame under our name with the given data object.
    pub fn message_frame(&self, data: Map<String, Value>) -> String {
        frame("message", &self.name, Value::Object(data))
    }

    /// The data object of a 1:1 message to `to` (key from the users list), signed by
    /// us, without `to` or `id`.
    pub fn rsa_data(&self, to: &str, text: &str) -> Result<Map<String, Value>, ClientError> {
        let key = self.recipient_key(to)?;
        seal_rsa(key, plaintext(&self.name, to, text).as_bytes(), &self.keys)
    }

    /// The data object of a message to everybody, signed by us, without `id`.
    pub fn aes_data(&self, text: &str) -> Result<Map<String, Value>, ClientError> {
        let group = self.group.as_ref().ok_or(ClientError::NoGroupKey)?;
        Ok(seal_aes(
            group,
            plaintext(&self.name, "all", text).as_bytes(),
            &self.keys,
        ))
    }

    /// A routed 1:1 message: rsa with ⊕ `to` and ⊕ `id`.
    /// Version 2: a hybrid 1:1 message (to a 0.9 user: the routed rsa frame), or
    /// [`ClientError::KeyNotFetched`] with the `chat-getkeys` frame to send first.
    pub fn message_to(&mut self, to: &str, text: &str) -> Result<Outgoing, ClientError> {
        if self.version == 2 {
            return self.message_to_v2(to, text);
        }
        let mut data = self.rsa_data(to, text)?;
        let id = self.next_id();
        data.insert("to".into(), to.into());
        data.insert("id".into(), id.clone().into());
        Ok(Outgoing {
            id,
            frame: self.message_frame(data),
            copy: None,
        })
    }

    /// A message to everybody with ⊕ `id`. The frame may be built long before it is
    /// sent, and sent more than once. Version 2: under the current epoch, with a legacy
    /// copy in [`Outgoing::legacy`] when 0.9 users are listed.
    pub fn message_to_all(&mut self, text: &str) -> Result<Outgoing, ClientError> {
        if self.version == 2 {
            return self.message_to_all_v2(text);
        }
        let mut data = self.aes_data(text)?;
        let id = self.next_id();
        data.insert("id".into(), id.clone().into());
        Ok(Outgoing {
            id,
            frame: self.message_frame(data),
            copy: None,
        })
    }

    /// A 1:1 message as a 0.9 client sends it: no `to`, no `id`.
    pub fn legacy_message_to(&self, to: &str, text: &str) -> Result<String, ClientError> {
        Ok(self.message_frame(self.rsa_data(to, text)?))
    }

    /// A message to everybody as a 0.9 client sends it: no `id`.
    pub fn legacy_message_to_all(&self, text: &str) -> Result<String, ClientError> {
        Ok(self.message_frame(self.aes_data(text)?))
    }

    pub(crate) fn recipient_key(&self, to: &str) -> Result<&PublicIdentity, ClientError> {
        let user = self
            .user(to)
            .ok_or_else(|| ClientError::UnknownRecipient(to.to_owned()))?;
        match &user.key {
            Some(key) => Ok(key),
            None if self.version == 2 => Err(ClientError::KeyNotFetched(to.to_owned())),
            None => Err(ClientError::UnknownRecipient(to.to_owned())),
        }
    }

    /// The key that signed a message claiming to be from `from`: our own, a known
    /// user's, or (version 2) one to fetch first. Version 2: a sender we do not know
    /// (not listed to us in a large room) is asked for by `fromkey`, the Key ID the
    /// server relayed the frame with.
    pub(crate) fn sender_key(
        &self,
        from: &str,
        fromkey: Option<&str>,
    ) -> Result<&PublicIdentity, Unread> {
        match self.user(from) {
            Some(User { key: Some(key), .. }) => Ok(key),
            Some(user) if self.version == 2 => Err(Unread::WaitForKey(user.hash.clone())),
            // Our own message to everybody comes back to us too.
            None if from == self.name => Ok(self.keys.public()),
            None if self.version == 2 => match fromkey.filter(|k| is_key_id(k)) {
                // Any key in the cache hashes to its Key ID: the server's word that it is
                // the sender's, as `from` is, and as the users list would be.
                Some(key_id) => self
                    .key_cache
                    .get(key_id)
                    .ok_or_else(|| Unread::WaitForKey(key_id.to_owned())),
                None => Err(DropReason::UnknownSender(from.to_owned()).into()),
            },
            _ => Err(DropReason::UnknownSender(from.to_owned()).into()),
        }
    }

    // ---- frames received ----

    /// What one server frame means. Never panics, whatever the text.
    /// Version 2 may answer with several events, among them frames to send
    /// ([`ClientEvent::NeedKeys`], [`ClientEvent::Resend`]).
    pub fn handle(&mut self, text: &str) -> Vec<ClientEvent> {
        let mut events = Vec::new();
        if let Err(reason) = self.interpret(text, &mut events) {
            events.push(ClientEvent::Ignored { reason });
        }
        events
    }

    fn interpret(&mut self, text: &str, events: &mut Vec<ClientEvent>) -> Result<(), String> {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(mut object) = value else {
            return Err("not a JSON object".into());
        };
        let cmd = str_field(&object, "cmd")?.to_owned();
        let user = str_field(&object, "user")?.to_owned();
        let Some(Value::Object(data)) = object.remove("data") else {
            return Err("no data object".into());
        };
        match cmd.as_str() {
            "config" if data.get("v").and_then(Value::as_u64) == Some(2) => {
                events.push(self.config_v2(&data)?);
            }
            "config" => events.push(self.config(&data)?),
            "signal" => match str_field(&data, "code")? {
                "chat-groupkey" => {
                    events.push(self.group_key_v2(&data)?);
                    self.resend_ready(events);
                }
                "chat-users" => self.users_v2(&data, events)?,
                "chat-presence" => self.presence_v2(&data, events)?,
                "chat-key" => self.key_v2(&data, events)?,
                "chat-found" => self.found(&data, events)?,
                "chat-undelivered" => self.undelivered(&data, events)?,
                "chat-held" => events.push(ClientEvent::Held {
                    id: str_field(&data, "id")?.to_owned(),
                    to: str_field(&data, "to")?.to_owned(),
                    until: data
                        .get("until")
                        .and_then(Value::as_u64)
                        .ok_or("chat-held without until")?,
                }),
                "chat-ack" => {
                    let id = str_field(&data, "id")?.to_owned();
                    self.sent_to_all.acked(&id);
                    events.push(ClientEvent::Ack { id });
                }
                _ => events.push(self.signal(&user, &data)?),
            },
            "message" if data.get("v").and_then(Value::as_u64) == Some(2) => {
                self.message_v2(text, &data, events)?;
            }
            "message" => self.message(text, &data, events)?,
            other => return Err(format!("unknown cmd {other:?}")),
        }
        Ok(())
    }

    fn config(&mut self, data: &Map<String, Value>) -> Result<ClientEvent, String> {
        let name = str_field(data, "user")?.to_owned();
        let is_admin = bool_field(data, "is-admin")?;
        let disable_all = bool_field(data, "disable-all")?;
        let key_id = str_field(data, "keyid")?.to_owned();
        let raw: [u8; 32] = b64_decode(str_field(data, "aeskey")?)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or("aeskey is not 32 bytes of base64")?;
        self.group = Some(Box::new(GroupKey::from_bytes(raw)));
        self.configured = true;
        self.name.clone_from(&name);
        self.is_admin = is_admin;
        self.disable_all = disable_all;
        self.key_id = Some(key_id.clone());
        Ok(ClientEvent::Config {
            name,
            is_admin,
            disable_all,
            key_id,
        })
    }

    fn signal(&mut self, user: &str, data: &Map<String, Value>) -> Result<ClientEvent, String> {
        match str_field(data, "code")? {
            "chat-userslist" => {
                let list: Value = serde_json::from_str(str_field(data, "userslist")?)
                    .map_err(|e| format!("userslist is not JSON: {e}"))?;
                let users = list
                    .as_array()
                    .ok_or("userslist is not an array")?
                    .iter()
                    .map(|entry| {
                        let entry = entry
                            .as_object()
                            .ok_or("a userslist entry is not an object")?;
                        parse_user(str_field(entry, "name")?, entry)
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                self.users.clone_from(&users);
                Ok(ClientEvent::UsersList(users))
            }
            "chat-join" => {
                let joined = parse_user(user, data)?;
                self.users.retain(|u| u.name != joined.name);
                self.users.push(joined.clone());
                Ok(ClientEvent::Joined(joined))
            }
            "chat-left" => {
                self.users.retain(|u| u.name != user);
                Ok(ClientEvent::Left {
                    name: user.to_owned(),
                })
            }
            "chat-invaliduser" => Ok(ClientEvent::InvalidUser),
            "chat-challenge" => Ok(ClientEvent::Challenge {
                nonce: str_field(data, "nonce")?.to_owned(),
            }),
            "notice" => Ok(ClientEvent::Notice(str_field(data, "notice")?.to_owned())),
            other => Err(format!("unknown signal code {other:?}")),
        }
    }

    /// `chat-undelivered`; with `why: stale-epoch` a message to all we still hold is
    /// sealed again under the current epoch (or once its key arrives).
    fn undelivered(
        &mut self,
        data: &Map<String, Value>,
        events: &mut Vec<ClientEvent>,
    ) -> Result<(), String> {
        let id = str_field(data, "id")?.to_owned();
        let why = data.get("why").and_then(Value::as_str).map(str::to_owned);
        let epoch = data.get("epoch").and_then(Value::as_u64);
        events.push(ClientEvent::Undelivered {
            id: id.clone(),
            to: data.get("to").and_then(Value::as_str).map(str::to_owned),
            reason: str_field(data, "reason")?.to_owned(),
            why: why.clone(),
            epoch,
        });
        match (why.as_deref(), epoch) {
            (Some("stale-epoch"), Some(epoch)) => self.stale(&id, epoch, events),
            _ => self.sent_to_all.acked(&id),
        }
        Ok(())
    }

    fn message(
        &mut self,
        text: &str,
        data: &Map<String, Value>,
        events: &mut Vec<ClientEvent>,
    ) -> Result<(), String> {
        let algo = match str_field(data, "algo")? {
            "rsa" => Algo::Rsa,
            "aes" => Algo::Aes,
            other => return Err(format!("unknown algo {other:?}")),
        };
        let id = data.get("id").and_then(Value::as_str).map(str::to_owned);
        match self.open(algo, data) {
            Ok(event) => events.push(event(id)),
            Err(Unread::Drop(reason)) => events.push(ClientEvent::Dropped { algo, reason }),
            // Version 2: the sender's key was not fetched yet.
            Err(Unread::WaitForKey(key_id)) => self.wait_for_key(&key_id, text, events),
        }
        Ok(())
    }

    /// Decrypts, parses and verifies; the event still lacks the `id`.
    fn open(
        &self,
        algo: Algo,
        data: &Map<String, Value>,
    ) -> Result<impl FnOnce(Option<String>) -> ClientEvent + use<>, Unread> {
        let ciphertext = b64_field(data, "ciphertext")?;
        let signature = b64_field(data, "signature")?;
        let plain = match algo {
            Algo::Rsa => {
                if let Some(Value::String(to)) = data.get("to")
                    && *to != self.name
                {
                    return Err(DropReason::NotForMe.into());
                }
                self.keys.decrypt(&ciphertext).ok_or(DropReason::NotForMe)?
            }
            Algo::Aes => {
                let group = self.group.as_ref().ok_or(DropReason::NoGroupKey)?;
                let iv = b64_field(data, "iv")?;
                group
                    .decrypt(&iv, &ciphertext)
                    .ok_or(DropReason::Undecryptable)?
            }
        };
        let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&plain) else {
            return Err(DropReason::BadPlaintext.into());
        };
        let (Some(from), Some(to), Some(text)) = (
            fields.get("from").and_then(Value::as_str),
            fields.get("to").and_then(Value::as_str),
            fields.get("message").and_then(Value::as_str),
        ) else {
            return Err(DropReason::BadPlaintext.into());
        };
        let verified = if self.verify {
            let key = self.sender_key(from, None)?;
            if !key.verify(&plain, &signature) {
                return Err(DropReason::BadSignature(from.to_owned()).into());
            }
            true
        } else {
            false
        };
        let (from, to, text) = (from.to_owned(), to.to_owned(), text.to_owned());
        let copy = if fields.get("isWebAdminMsgCopy") == Some(&Value::Bool(true)) {
            // `message` is itself the JSON string {"message":..,"to":..}.
            let Ok(Value::Object(inner)) = serde_json::from_str::<Value>(&text) else {
                return Err(DropReason::BadPlaintext.into());
            };
            let (Some(text), Some(to)) = (
                inner.get("message").and_then(Value::as_str),
                inner.get("to").and_then(Value::as_str),
            ) else {
                return Err(DropReason::BadPlaintext.into());
            };
            Some((to.to_owned(), text.to_owned()))
        } else {
            None
        };
        Ok(move |id| match copy {
            Some((to, text)) => ClientEvent::WebAdminCopy { to, text, verified },
            None => ClientEvent::Message {
                from,
                to,
                text,
                algo,
                verified,
                id,
            },
        })
    }
}

/// Why a message frame was not read: dropped, or (version 2) waiting for a key.
pub(crate) enum Unread {
    Drop(DropReason),
    WaitForKey(String),
}

impl From<DropReason> for Unread {
    fn from(reason: DropReason) -> Self {
        Unread::Drop(reason)
    }
}

pub(crate) fn str_field<'a>(object: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    object
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no string {key:?}"))
}

pub(crate) fn bool_field(object: &Map<String, Value>, key: &str) -> Result<bool, String> {
    object
        .get(key)
        .and_then(Value::as_bool)
        .ok_or_else(|| format!("no boolean {key:?}"))
}

pub(crate) fn b64_field(
    object: &Map<String, Value>,
    key: &'static str,
) -> Result<Vec<u8>, DropReason> {
    object
        .get(key)
        .and_then(Value::as_str)
        .and_then(b64_decode)
        .ok_or(DropReason::Malformed(key))
}

/// A Key ID: 64 lowercase hex characters (SHA-256 of a key's DER).
pub(crate) fn is_key_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `{"publickey":{"hash":..,"text":..}}` of a users list entry or a `chat-join`.
fn parse_user(name: &str, object: &Map<String, Value>) -> Result<User, String> {
    let key = object
        .get("publickey")
        .and_then(Value::as_object)
        .ok_or("no publickey object")?;
    Ok(User {
        name: name.to_owned(),
        hash: str_field(key, "hash")?.to_owned(),
        key: PublicIdentity::from_spki_b64(str_field(key, "text")?).ok(),
        old_client: false,
    })
}
