//! The administrator at the console: commands, and messages signed with the
//! administrator's key.

use super::frames::{self, Algo, MessageData, Plaintext};
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
                    .key_id(member.identity.key_id()),
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
        for Sealed { frame, copy } in sealed {
            self.send_one(conn, frame);
            if let (Some(copy), Some(web)) = (copy, web_admin) {
                self.send_one(web, copy);
            }
        }
        let mut line = self.message_line(&admin, false, to, text);
        if parts > 1 {
            line = line.styled(
                crate::console::Style::Dim,
                format!(" (sent in {parts} parts)"),
            );
        }
        self.console(line);
    }

    fn admin_send_all(&mut self, text: &str) {
        let admin = self.settings.admin_name.clone();
        let plain = Plaintext::new(&admin, "all", text).to_bytes();
        let (iv, ciphertext) = self.group.encrypt(&plain);
        let data = MessageData {
            algo: Algo::Aes,
            iv: Some(b64_encode(&iv)),
            ciphertext: b64_encode(&ciphertext),
            signature: b64_encode(&self.admin.sign(&plain)),
            to: None,
            id: None,
        };
        let everyone = self.users.everyone();
        self.send(everyone, frames::relayed(&data));
        let line = self.message_line(&admin, false, "all", text);
        self.console(line);
    }

    /// 1:1 messages from the administrator to `to`, cut into as many as the
    /// recipient's key needs. With `copy` and the administrator on the web, each comes
    /// with the copy for the web session. `None` if nothing fits.
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
                frame: self.sealed(identity, &Plaintext::new(from, to, part)),
                copy: copy
                    .then(|| self.sealed(self.admin.public(), &web_admin_copy(from, to, part))),
            })
            .collect();
        Some(sealed)
    }

    fn sealed(&self, identity: &PublicIdentity, plain: &Plaintext) -> String {
        let bytes = plain.to_bytes();
        let ciphertext = identity.encrypt(&bytes).expect("split to fit the key");
        frames::relayed(&MessageData {
            algo: Algo::Rsa,
            iv: None,
            ciphertext: b64_encode(&ciphertext),
            signature: b64_encode(&self.admin.sign(&bytes)),
            to: None,
            id: None,
        })
    }
}

pub(super) struct Sealed {
    pub frame: String,
    pub copy: Option<String>,
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
