//! The administrator at the console: commands, and messages signed with the
//! administrator's key.

use std::rc::Rc;

use super::envelope::Envelope;
use super::frames::{self, Algo, MessageData, Plaintext};
use super::private_work::{Lane, PrivateOp, PrivateResult, Recipient, Task, Unsent};
use super::split::split_to_fit;
use super::v2_frames::V2Data;
use super::{Admission, Chat, ConnId, Output};
use crate::console::{ChatCommand, ConsoleLine, KeyExport};
use crate::crypto::{PublicIdentity, SecretKey, b64_encode, envelope_signed_bytes, seal_payload};

impl Chat {
    pub(super) fn admin_command(&mut self, command: ChatCommand) {
        match command {
            ChatCommand::Users => self.list_users(),
            ChatCommand::Kick(name) => self.kick(&name),
            ChatCommand::Ban(name) => self.ban(&name),
            ChatCommand::Unban(who) => self.unban(&who),
            ChatCommand::Key(which) => self.show_key(which),
            ChatCommand::Quit => self.out.push_back(Output::Quit),
            ChatCommand::Send { to, text } => self.admin_send(&to, &text),
            ChatCommand::AllowList => self.list_allowed(),
            ChatCommand::Verify { name, mark } => self.verify(&name, mark),
        }
    }

    fn list_users(&mut self) {
        let admin = self.settings.admin_name.clone();
        let web = if self.users.web_admin().is_some() {
            " (console and web)"
        } else {
            " (console)"
        };
        // The count is of the lines that follow: the administrator is not one of them.
        let count = self.users.user_count();
        let mut lines = vec![
            ConsoleLine::new()
                .plain(format!("{count} connected besides "))
                .name(&admin, true)
                .plain(web)
                .plain(", Key ID ")
                .key_id(self.admin.public().key_id())
                .plain(if count > 0 { ":" } else { "" }),
        ];
        for (_, member) in self.users.users() {
            lines.push(
                ConsoleLine::new()
                    .plain("  ")
                    .name(&member.name, false)
                    .plain(" ".repeat(16 - member.name.len().min(15)))
                    .key_id(member.identity.key_id())
                    .plain(self.verified_mark(member)),
            );
        }
        for line in lines {
            self.console(line);
        }
        self.list_kept_out();
    }

    fn list_allowed(&mut self) {
        let list = match &self.admission {
            Admission::Anyone => {
                return self.console(ConsoleLine::info(
                    "no allow list: anyone with the page can join (start with --allow-list FILE to restrict)",
                ));
            }
            Admission::Nobody(why) => {
                return self.console(ConsoleLine::warning(format!("nobody can join: {why}")));
            }
            Admission::Listed(list) => list.clone(),
        };
        let connected: Vec<(String, String)> = self
            .users
            .everyone()
            .into_iter()
            .filter_map(|c| self.users.member(c))
            .map(|m| (m.identity.key_id().to_string(), m.name.clone()))
            .collect();
        self.console(ConsoleLine::info(format!(
            "allow list: {} entries",
            list.len()
        )));
        for (key_id, name) in list.entries() {
            let online = connected.iter().find(|(k, _)| k == key_id);
            let mut line = ConsoleLine::new()
                .plain("  ")
                .key_id(key_id)
                .plain("  ")
                .name(name, false);
            if let Some((_, as_name)) = online {
                line = line.plain(format!("  connected as {as_name}"));
            }
            self.console(line);
        }
    }

    fn show_key(&mut self, which: KeyExport) {
        let key = self.admin.public();
        match which {
            KeyExport::Public => {
                let line = match key.to_pem() {
                    Some(pem) => ConsoleLine::screen_only(pem.trim_end()),
                    None => ConsoleLine::warning("the public key could not be written as PEM"),
                };
                self.console(line);
            }
            KeyExport::Fingerprint => {
                let line = ConsoleLine::new()
                    .plain("Administrator's Key ID: ")
                    .key_id(key.key_id());
                self.console(line);
                self.console(ConsoleLine::screen_only(
                    "  check: openssl pkey -in private.pem -pubout -outform DER | sha256sum",
                ));
            }
            KeyExport::Private => {
                let pem = self.admin.private_pem();
                self.console(ConsoleLine::screen_only(format!(
                    "Keep this secret: whoever has it can read the administrator's messages.\n{}",
                    pem.trim_end()
                )));
            }
        }
    }

    fn admin_send(&mut self, to: &str, text: &str) {
        let admin = self.settings.admin_name.clone();
        if to == "all" {
            return self.admin_send_all(text);
        }
        if to.eq_ignore_ascii_case(&admin) {
            let Some(web) = self.users.web_admin() else {
                return self.console(ConsoleLine::error(format!(
                    "{admin} is not connected on the web interface: nobody to send to"
                )));
            };
            let identity = self.admin.public().clone();
            return self.admin_send_to(web, &identity, &admin, text, false);
        }
        let conn = self
            .users
            .by_name(to)
            .or_else(|| self.users.by_name(&to.to_ascii_lowercase()));
        let Some((conn, member)) = conn.and_then(|c| self.users.member(c).map(|m| (c, m))) else {
            if let Some((name, identity)) = self
                .departed_user(to)
                .or_else(|| self.departed_user(&to.to_ascii_lowercase()))
            {
                return self.admin_send_held(&identity, &name, text);
            }
            return self.console(ConsoleLine::error(format!(
                "nobody called {to:?} is connected (/users lists who is)"
            )));
        };
        let (identity, name) = (member.identity.clone(), member.name.clone());
        self.admin_send_to(conn, &identity, &name, text, true);
    }

    /// To a version-2 user who left a short while ago: signed, then held (`held.rs`).
    fn admin_send_held(&mut self, identity: &PublicIdentity, to: &str, text: &str) {
        let admin = self.settings.admin_name.clone();
        let (envelope, id) = self.admin_envelope(to, text);
        let mut out = Outgoing::default();
        out.v2_direct(Recipient::Held, identity, to, &envelope, &id, None);
        let line = self.message_line(&admin, false, to, text);
        out.start(self, Lane::Console, Some(line));
    }

    fn admin_send_to(
        &mut self,
        conn: ConnId,
        identity: &PublicIdentity,
        to: &str,
        text: &str,
        copy: bool,
    ) {
        let admin = self.settings.admin_name.clone();
        let recipient_v2 = self.users.member(conn).is_some_and(|m| m.is_v2());
        let web = self.users.web_admin().filter(|_| copy);
        let web_v2 = web.and_then(|w| self.users.member(w)).map(|m| m.is_v2());
        let mut out = Outgoing::default();
        let mut parts = 1;
        if recipient_v2 {
            let (envelope, id) = self.admin_envelope(to, text);
            let sig = out.v2_direct(Recipient::Conn(conn), identity, to, &envelope, &id, None);
            if let (Some(web), Some(true)) = (web, web_v2) {
                let admin_key = self.admin.public().clone();
                out.v2_direct(
                    Recipient::Conn(web),
                    &admin_key,
                    &admin,
                    &envelope,
                    &id,
                    Some(sig),
                );
            }
        } else {
            // A 0.9 recipient: 0.9 frames, in as many parts as its key needs; the copy
            // for a 0.9 web administrator in 0.9's form, for a version-2 one in its own.
            let copy_09 = web_v2 == Some(false);
            let Some(sealed) = self.seal_for(identity, &admin, to, text, copy_09) else {
                return self.console(ConsoleLine::error(format!(
                    "{to}'s key is too small to carry even one character; not sent"
                )));
            };
            parts = sealed.len();
            for Sealed { frame, copy } in sealed {
                out.v09(Recipient::Conn(conn), frame);
                if let (Some(copy), Some(web)) = (copy, web) {
                    out.v09(Recipient::Conn(web), copy);
                }
            }
            if let (Some(web), Some(true)) = (web, web_v2) {
                let (envelope, id) = self.admin_envelope(to, text);
                let admin_key = self.admin.public().clone();
                out.v2_direct(
                    Recipient::Conn(web),
                    &admin_key,
                    &admin,
                    &envelope,
                    &id,
                    None,
                );
            }
        }
        let mut line = self.message_line(&admin, false, to, text);
        if parts > 1 {
            line = line.styled(
                crate::console::Style::Dim,
                format!(" (sent in {parts} parts)"),
            );
        }
        out.start(self, Lane::Console, Some(line));
    }

    /// `@all` from the console: a 0.9 frame for the 0.9 clients, a version-2 one for
    /// the others (each only if somebody of that version is there).
    fn admin_send_all(&mut self, text: &str) {
        let admin = self.settings.admin_name.clone();
        let mut out = Outgoing::default();
        if !self.users.of_version(false).is_empty() {
            let plain = Plaintext::new(&admin, "all", text).to_bytes();
            let (iv, ciphertext) = self.keys.legacy().encrypt(&plain);
            let data = MessageData {
                algo: Algo::Aes,
                iv: Some(b64_encode(&iv)),
                ciphertext: b64_encode(&ciphertext),
                signature: String::new(),
                to: None,
                id: None,
            };
            out.v09(Recipient::Everybody, Unsigned { data, plain });
        }
        if !self.users.of_version(true).is_empty() {
            let (envelope, id) = self.admin_envelope("all", text);
            let epoch = self.keys.epoch();
            out.v2_all(&envelope, &id, epoch);
        }
        let line = self.message_line(&admin, false, "all", text);
        if out.ops.is_empty() {
            return self.console(line);
        }
        out.start(self, Lane::Console, Some(line));
    }

    /// An envelope from the administrator, of the current epoch and wall-clock time,
    /// and its id.
    pub(super) fn admin_envelope(&mut self, to: &str, text: &str) -> (Rc<[u8]>, String) {
        self.envelopes_made += 1;
        let id = format!("{}-{}", self.envelope_id_prefix, self.envelopes_made);
        let envelope = Envelope::text(
            &self.settings.admin_name,
            to,
            id.clone(),
            self.wall_ms,
            self.keys.epoch(),
            text,
        );
        (envelope.to_bytes().into(), id)
    }

    /// The signatures are there: the frames go out in order.
    pub(super) fn send_signed(
        &mut self,
        sends: Vec<(Recipient, Unsent)>,
        results: Vec<PrivateResult>,
        line: Option<ConsoleLine>,
    ) {
        let signature = |sig: usize| match results.get(sig) {
            Some(PrivateResult::Signature(s)) => Some(s.clone()),
            _ => None,
        };
        let mut held = Vec::new();
        for (to, unsent) in sends {
            // Kicked meanwhile (not yet told closed) is gone too.
            let to = match to {
                Recipient::Conn(conn) if self.users.member(conn).is_none() => Recipient::Gone,
                other => other,
            };
            if to == Recipient::Gone {
                continue;
            }
            match unsent {
                Unsent::V09 { mut data, sig } => {
                    let Some(s) = signature(sig) else { continue };
                    data.signature = b64_encode(&s);
                    let frame = frames::relayed(&data);
                    match to {
                        Recipient::Conn(conn) => self.send_one(conn, frame),
                        _ => {
                            let all = self.users.of_version(false);
                            self.send(all, frame);
                        }
                    }
                }
                Unsent::V2Direct {
                    envelope,
                    id,
                    identity,
                    to: frame_to,
                    sig,
                } => {
                    let Some(s) = signature(sig) else {
                        continue;
                    };
                    let Some(sealed) = seal_payload(&s, &envelope) else {
                        continue;
                    };
                    let key = SecretKey::generate();
                    let (iv, ciphertext) = key.encrypt(&sealed, b"");
                    let Some(wrapped) = identity.encrypt(key.as_bytes()) else {
                        continue;
                    };
                    let data = V2Data {
                        v: 2,
                        from: None,
                        fromkey: None,
                        to: frame_to,
                        id: Some(id),
                        wrapped: Some(b64_encode(&wrapped)),
                        epoch: None,
                        legacy: false,
                        iv: b64_encode(&iv),
                        ciphertext: b64_encode(&ciphertext),
                        file: None,
                    };
                    let frame =
                        data.relayed_from(&self.settings.admin_name, self.admin.public().key_id());
                    match to {
                        Recipient::Conn(conn) => self.send_one(conn, frame),
                        Recipient::Held => held.push((identity, data.to.clone(), frame)),
                        Recipient::Everybody | Recipient::Gone => {}
                    }
                }
                Unsent::V2All {
                    envelope,
                    id,
                    epoch,
                    sig,
                } => {
                    let Some(s) = signature(sig) else { continue };
                    if epoch != self.keys.epoch() {
                        // Signed in an epoch that ended meanwhile: signed again in the new
                        // one, so that whoever left cannot read it.
                        let text = serde_json::from_slice::<super::envelope::Envelope>(&envelope)
                            .ok()
                            .and_then(|e| e.text);
                        if let Some(text) = text {
                            let (envelope, id) = self.admin_envelope("all", &text);
                            let mut again = Outgoing::default();
                            again.v2_all(&envelope, &id, self.keys.epoch());
                            again.start(self, Lane::Console, None);
                        }
                        continue;
                    }
                    let Some(sealed) = seal_payload(&s, &envelope) else {
                        continue;
                    };
                    let (iv, ciphertext) = self.keys.current().encrypt(&sealed, b"");
                    let data = V2Data {
                        v: 2,
                        from: None,
                        fromkey: None,
                        to: "all".into(),
                        id: Some(id),
                        wrapped: None,
                        epoch: Some(epoch),
                        legacy: false,
                        iv: b64_encode(&iv),
                        ciphertext: b64_encode(&ciphertext),
                        file: None,
                    };
                    let frame =
                        data.relayed_from(&self.settings.admin_name, self.admin.public().key_id());
                    let all = self.users.of_version(true);
                    self.send(all, frame);
                }
            }
        }
        if let Some(line) = line {
            self.console(line);
        }
        for (identity, to, frame) in held {
            self.hold_from_console(&identity, &to, frame);
        }
    }

    /// 1:1 messages from the administrator to `to`, cut into as many as the
    /// recipient's key needs, still to be signed. With `copy` and the administrator on
    /// the web, each comes with the copy for the web session. `None` if nothing fits.
    pub(super) fn seal_for(
        &self,
        identity: &PublicIdentity,
        from: &str,
        to: &str,
        text: &str,
        copy: bool,
    ) -> Option<Vec<Sealed>> {
        let copy = copy && self.users.web_admin().is_some();
        let admin_capacity = self.admin.public().max_plaintext();
        let parts = split_to_fit(text, |part| {
            Plaintext::new(from, to, part).to_bytes().len() <= identity.max_plaintext()
                && (!copy || web_admin_copy(from, to, part).to_bytes().len() <= admin_capacity)
        })?;
        let sealed = parts
            .into_iter()
            .map(|part| Sealed {
                frame: sealed(identity, &Plaintext::new(from, to, part)),
                copy: copy.then(|| sealed(self.admin.public(), &web_admin_copy(from, to, part))),
            })
            .collect();
        Some(sealed)
    }
}

/// The frames of one task of the administrator's and the signatures they need.
#[derive(Default)]
pub(super) struct Outgoing {
    sends: Vec<(Recipient, Unsent)>,
    ops: Vec<PrivateOp>,
}

impl Outgoing {
    pub fn v09(&mut self, to: Recipient, Unsigned { data, plain }: Unsigned) {
        let sig = self.ops.len();
        self.ops.push(PrivateOp::Sign(plain));
        self.sends.push((to, Unsent::V09 { data, sig }));
    }

    /// A version-2 1:1 frame for `identity`; `signed`: the result number of a
    /// signature of this same envelope already asked for. Returns that number.
    pub fn v2_direct(
        &mut self,
        to: Recipient,
        identity: &PublicIdentity,
        frame_to: &str,
        envelope: &Rc<[u8]>,
        id: &str,
        signed: Option<usize>,
    ) -> usize {
        let sig = signed.unwrap_or_else(|| self.sign(envelope));
        let unsent = Unsent::V2Direct {
            envelope: envelope.clone(),
            id: id.to_string(),
            identity: identity.clone(),
            to: frame_to.to_string(),
            sig,
        };
        self.sends.push((to, unsent));
        sig
    }

    pub fn v2_all(&mut self, envelope: &Rc<[u8]>, id: &str, epoch: u64) {
        let sig = self.sign(envelope);
        let unsent = Unsent::V2All {
            envelope: envelope.clone(),
            id: id.to_string(),
            epoch,
            sig,
        };
        self.sends.push((Recipient::Everybody, unsent));
    }

    fn sign(&mut self, envelope: &[u8]) -> usize {
        self.ops
            .push(PrivateOp::Sign(envelope_signed_bytes(envelope)));
        self.ops.len() - 1
    }

    pub fn signatures(&self) -> usize {
        self.ops.len()
    }

    /// Hands out the signatures; the frames are sent, in this order, once all are
    /// signed (and after what went before in `lane`), then `line` is shown.
    pub fn start(self, chat: &mut Chat, lane: Lane, line: Option<ConsoleLine>) {
        if self.ops.is_empty() {
            return;
        }
        let task = Task::Signed {
            sends: self.sends,
            line,
        };
        chat.start_work(lane, task, self.ops);
    }
}

/// A 1:1 frame encrypted for `identity`, its signature still to be made over `plain`.
fn sealed(identity: &PublicIdentity, plain: &Plaintext) -> Unsigned {
    let plain = plain.to_bytes();
    let ciphertext = identity.encrypt(&plain).expect("split to fit the key");
    let data = MessageData {
        algo: Algo::Rsa,
        iv: None,
        ciphertext: b64_encode(&ciphertext),
        signature: String::new(),
        to: None,
        id: None,
    };
    Unsigned { data, plain }
}

/// A frame of the administrator's, and the bytes its signature is to be made over.
pub(super) struct Unsigned {
    pub data: MessageData,
    pub plain: Vec<u8>,
}

pub(super) struct Sealed {
    pub frame: Unsigned,
    pub copy: Option<Unsigned>,
}

/// The copy of a console message for the administrator's web session (0.9's format).
fn web_admin_copy(from: &str, to: &str, text: &str) -> Plaintext {
    let inner = serde_json::json!({"message": text, "to": to}).to_string();
    Plaintext {
        from: from.to_string(),
        to: from.to_string(),
        message: inner,
        web_admin_copy: true,
    }
}
