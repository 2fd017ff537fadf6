//! One client's view of the chat: its name and keys, what the server told it, and the
//! frames it sends.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::event::{Algo, ClientEvent, DropReason, User};
use super::seal::{ClientError, Outgoing, frame, plaintext, seal_aes, seal_rsa};
use dyspatcher_crypto::{
    GroupKey, KeyPair, PublicIdentity, b64_decode, b64_encode, join_proof_message,
};

pub struct ClientSession {
    name: String,
    keys: Arc<KeyPair>,
    is_admin: bool,
    disable_all: bool,
    key_id: Option<String>,
    group: Option<GroupKey>,
    users: Vec<User>,
    verify: bool,
    proves: bool,
    next_id: u64,
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
        }
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
        self.group.as_ref()
    }

    /// Whether the config has arrived.
    pub fn joined(&self) -> bool {
        self.group.is_some()
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
    pub fn message_to(&mut self, to: &str, text: &str) -> Result<Outgoing, ClientError> {
        let mut data = self.rsa_data(to, text)?;
        let id = self.next_id();
        data.insert("to".into(), to.into());
        data.insert("id".into(), id.clone().into());
        Ok(Outgoing {
            id,
            frame: self.message_frame(data),
        })
    }

    /// A message to everybody with ⊕ `id`. The frame may be built long before it is
    /// sent, and sent more than once.
    pub fn message_to_all(&mut self, text: &str) -> Result<Outgoing, ClientError> {
        let mut data = self.aes_data(text)?;
        let id = self.next_id();
        data.insert("id".into(), id.clone().into());
        Ok(Outgoing {
            id,
            frame: self.message_frame(data),
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

    fn recipient_key(&self, to: &str) -> Result<&PublicIdentity, ClientError> {
        self.user(to)
            .and_then(|u| u.key.as_ref())
            .ok_or_else(|| ClientError::UnknownRecipient(to.to_owned()))
    }

    // ---- frames received ----

    /// What one server frame means. Never panics, whatever the text.
    pub fn handle(&mut self, text: &str) -> Vec<ClientEvent> {
        let event = match self.interpret(text) {
            Ok(event) => event,
            Err(reason) => ClientEvent::Ignored { reason },
        };
        vec![event]
    }

    fn interpret(&mut self, text: &str) -> Result<ClientEvent, String> {
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
            "config" => self.config(&data),
            "signal" => self.signal(&user, &data),
            "message" => self.message(&data),
            other => Err(format!("unknown cmd {other:?}")),
        }
    }

    fn config(&mut self, data: &Map<String, Value>) -> Result<ClientEvent, String> {
        let name = str_field(data, "user")?.to_owned();
        let is_admin = bool_field(data, "is-admin")?;
        let disable_all = bool_field(data, "disable-all")?;
        let key_id = str_field(data, "keyid")?.to_owned();
        let raw: [u8; 32] = b64_decode(str_field(data, "aeskey")?)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or("aeskey is not 32 bytes of base64")?;
        self.group = Some(GroupKey::from_bytes(raw));
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
            "chat-ack" => Ok(ClientEvent::Ack {
                id: str_field(data, "id")?.to_owned(),
            }),
            "chat-undelivered" => Ok(ClientEvent::Undelivered {
                id: str_field(data, "id")?.to_owned(),
                to: data.get("to").and_then(Value::as_str).map(str::to_owned),
                reason: str_field(data, "reason")?.to_owned(),
            }),
            other => Err(format!("unknown signal code {other:?}")),
        }
    }

    fn message(&self, data: &Map<String, Value>) -> Result<ClientEvent, String> {
        let algo = match str_field(data, "algo")? {
            "rsa" => Algo::Rsa,
            "aes" => Algo::Aes,
            other => return Err(format!("unknown algo {other:?}")),
        };
        let id = data.get("id").and_then(Value::as_str).map(str::to_owned);
        Ok(match self.open(algo, data) {
            Ok(event) => event(id),
            Err(reason) => ClientEvent::Dropped { algo, reason },
        })
    }

    /// Decrypts, parses and verifies; the event still lacks the `id`.
    fn open(
        &self,
        algo: Algo,
        data: &Map<String, Value>,
    ) -> Result<impl FnOnce(Option<String>) -> ClientEvent, DropReason> {
        let ciphertext = b64_field(data, "ciphertext")?;
        let signature = b64_field(data, "signature")?;
        let plain = match algo {
            Algo::Rsa => {
                if let Some(Value::String(to)) = data.get("to")
                    && *to != self.name
                {
                    return Err(DropReason::NotForMe);
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
            return Err(DropReason::BadPlaintext);
        };
        let (Some(from), Some(to), Some(text)) = (
            fields.get("from").and_then(Value::as_str),
            fields.get("to").and_then(Value::as_str),
            fields.get("message").and_then(Value::as_str),
        ) else {
            return Err(DropReason::BadPlaintext);
        };
        let verified = if self.verify {
            let key = match self.user(from) {
                Some(user) => user.key.as_ref(),
                // Our own message to everybody comes back to us too.
                None if from == self.name => Some(self.keys.public()),
                None => None,
            }
            .ok_or_else(|| DropReason::UnknownSender(from.to_owned()))?;
            if !key.verify(&plain, &signature) {
                return Err(DropReason::BadSignature(from.to_owned()));
            }
            true
        } else {
            false
        };
        let (from, to, text) = (from.to_owned(), to.to_owned(), text.to_owned());
        let copy = if fields.get("isWebAdminMsgCopy") == Some(&Value::Bool(true)) {
            // `message` is itself the JSON string {"message":..,"to":..}.
            let Ok(Value::Object(inner)) = serde_json::from_str::<Value>(&text) else {
                return Err(DropReason::BadPlaintext);
            };
            let (Some(text), Some(to)) = (
                inner.get("message").and_then(Value::as_str),
                inner.get("to").and_then(Value::as_str),
            ) else {
                return Err(DropReason::BadPlaintext);
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

fn str_field<'a>(object: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    object
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no string {key:?}"))
}

fn bool_field(object: &Map<String, Value>, key: &str) -> Result<bool, String> {
    object
        .get(key)
        .and_then(Value::as_bool)
        .ok_or_else(|| format!("no boolean {key:?}"))
}

fn b64_field(object: &Map<String, Value>, key: &'static str) -> Result<Vec<u8>, DropReason> {
    object
        .get(key)
        .and_then(Value::as_str)
        .and_then(b64_decode)
        .ok_or(DropReason::Malformed(key))
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
    })
}
