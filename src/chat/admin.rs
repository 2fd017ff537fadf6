//! The administrator at the console: commands, and messages signed with the
//! administrator's key.

use super::frames::{self, Algo, MessageData, Plaintext};
use super::private_work::{Lane, PrivateOp, PrivateResult, Recipient, Task};
use super::split::split_to_fit;
use super::{Admission, Chat, ConnId, Output};
use crate::console::{ChatCommand, ConsoleLine, KeyExport};
use crate::crypto::{PublicIdentity, b64_encode};

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
            KeyExport::Public => self.console(ConsoleLine::screen_only(key.to_pem().trim_end())),
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
            return self.console(ConsoleLine::error(format!(
                "nobody called {to:?} is connected (/users lists who is)"
            )));
        };
        let (identity, name) = (member.identity.clone(), member.name.clone());
        self.admin_send_to(conn, &identity, &name, text, true);
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
        let Some(sealed) = self.seal_for(identity, &admin, to, text, copy) else {
            return self.console(ConsoleLine::error(format!(
                "{to}'s key is too small to carry even one character; not sent"
            )));
        };
        let parts = sealed.len();
        let web_admin = self.users.web_admin();
        let mut sends = Vec::new();
        for Sealed { frame, copy } in sealed {
            sends.push((conn, frame));
            if let (Some(copy), Some(web)) = (copy, web_admin) {
                sends.push((web, copy));
            }
        }
        let mut line = self.message_line(&admin, false, to, text);
        if parts > 1 {
            line = line.styled(
                crate::console::Style::Dim,
                format!(" (sent in {parts} parts)"),
            );
        }
        self.sign_and_send(Lane::Console, sends, Some(line));
    }

    fn admin_send_all(&mut self, text: &str) {
        let admin = self.settings.admin_name.clone();
        let plain = Plaintext::new(&admin, "all", text).to_bytes();
        let (iv, ciphertext) = self.group.encrypt(&plain);
        let data = MessageData {
            algo: Algo::Aes,
            iv: Some(b64_encode(&iv)),
            ciphertext: b64_encode(&ciphertext),
            signature: String::new(),
            to: None,
            id: None,
        };
        let line = self.message_line(&admin, false, "all", text);
        let task = Task::Signed {
            sends: vec![(Recipient::Everybody, data)],
            line: Some(line),
        };
        self.start_work(Lane::Console, task, vec![PrivateOp::Sign(plain)]);
    }

    /// Hands out the signatures of these frames; they are sent, in this order, once all
    /// are signed (and after what went before in `lane`), then `line` is shown.
    pub(super) fn sign_and_send(
        &mut self,
        lane: Lane,
        sends: Vec<(ConnId, Unsigned)>,
        line: Option<ConsoleLine>,
    ) {
        let (sends, ops) = sends
            .into_iter()
            .map(|(to, Unsigned { data, plain })| {
                ((Recipient::Conn(to), data), PrivateOp::Sign(plain))
            })
            .unzip();
        self.start_work(lane, Task::Signed { sends, line }, ops);
    }

    /// The signatures are there: the frames go out in order.
    pub(super) fn send_signed(
        &mut self,
        sends: Vec<(Recipient, MessageData)>,
        results: Vec<PrivateResult>,
        line: Option<ConsoleLine>,
    ) {
        for ((to, mut data), result) in sends.into_iter().zip(results) {
            let PrivateResult::Signature(signature) = result else {
                continue;
            };
            data.signature = b64_encode(&signature);
            match to {
                // Kicked meanwhile (not yet told closed) is gone too.
                Recipient::Conn(conn) if self.users.member(conn).is_some() => {
                    self.send_one(conn, frames::relayed(&data))
                }
                Recipient::Everybody => {
                    let everyone = self.users.everyone();
                    self.send(everyone, frames::relayed(&data));
                }
                Recipient::Conn(_) | Recipient::Gone => {}
            }
        }
        if let Some(line) = line {
            self.console(line);
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
