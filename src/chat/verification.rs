//! Comparing keys from the console (`/verify NAME`, docs/PROTOCOL.md "Comparing keys"):
//! a user's full Key ID, the administrator's, and the comparison code of the two, the
//! same that user's page shows; `/verify NAME ok` marks that key as verified for this
//! run. The chat remembers the last key of each name it saw join (a bounded number),
//! so that a name coming back with another key is pointed out on the console: a
//! public key is not an identity, and a name is even less of one.

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};

use super::Chat;
use super::users::Member;
use crate::console::{ConsoleLine, Style};

/// The comparison code of two Key IDs (lowercase hex): the first 8 bytes of SHA-256 of
/// `"dyspatcher comparison v1\n" + min + "\n" + max`, big-endian, modulo 10^12, as
/// four groups of three digits. The same whichever side computes it.
pub fn comparison_code(a: &str, b: &str) -> String {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    let digest = Sha256::digest(format!("dyspatcher comparison v1\n{low}\n{high}"));
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let digits = format!("{:012}", u64::from_be_bytes(first) % 1_000_000_000_000);
    let groups: Vec<&str> = (0..4).map(|i| &digits[3 * i..3 * i + 3]).collect();
    groups.join(" ")
}

/// A full Key ID in groups of 4 characters, as the page shows it.
pub fn grouped_key_id(key_id: &str) -> String {
    let chars: Vec<char> = key_id.chars().collect();
    let groups: Vec<String> = chars.chunks(4).map(|g| g.iter().collect()).collect();
    groups.join(" ")
}

/// What a name's join says about its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Never seen (or forgotten), or with the same key as last time.
    Known,
    /// Another key than last time: `was`, and whether that one had been verified.
    Changed { was: String, verified: bool },
}

#[derive(Debug)]
struct Remembered {
    key_id: String,
    verified: bool,
    /// When it was last seen, for forgetting the longest unseen first.
    seq: u64,
}

/// The last key of each name seen this run, at most `Limits::remembered_names`.
#[derive(Debug, Default)]
pub struct KnownNames {
    by_name: HashMap<String, Remembered>,
    by_seq: BTreeMap<u64, String>,
    next_seq: u64,
}

impl KnownNames {
    /// `name` joined with `key_id`: remembered (as not verified if the key changed).
    pub fn seen(&mut self, name: &str, key_id: &str, max: usize) -> Seen {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(known) = self.by_name.get_mut(name) {
            self.by_seq.remove(&known.seq);
            self.by_seq.insert(seq, name.to_string());
            known.seq = seq;
            if known.key_id == key_id {
                return Seen::Known;
            }
            let was = std::mem::replace(&mut known.key_id, key_id.to_string());
            let verified = std::mem::replace(&mut known.verified, false);
            return Seen::Changed { was, verified };
        }
        while self.by_name.len() >= max.max(1) {
            let Some((_, oldest)) = self.by_seq.pop_first() else {
                break;
            };
            self.by_name.remove(&oldest);
        }
        self.by_seq.insert(seq, name.to_string());
        let known = Remembered {
            key_id: key_id.to_string(),
            verified: false,
            seq,
        };
        self.by_name.insert(name.to_string(), known);
        Seen::Known
    }

    /// Marks `name`'s key as verified, if it is still `key_id`.
    pub fn verify(&mut self, name: &str, key_id: &str, max: usize) {
        if self.by_name.get(name).is_none_or(|k| k.key_id != key_id) {
            self.seen(name, key_id, max);
        }
        if let Some(known) = self.by_name.get_mut(name) {
            known.verified = true;
        }
    }

    pub fn is_verified(&self, name: &str, key_id: &str) -> bool {
        self.by_name
            .get(name)
            .is_some_and(|k| k.verified && k.key_id == key_id)
    }
}

/// The mark `/users` shows beside a verified user.
pub const VERIFIED_MARK: &str = "\u{2713}";

impl Chat {
    /// What `/users` shows after a user's Key ID: the mark, if that key is verified.
    pub(super) fn verified_mark(&self, member: &Member) -> String {
        if self
            .known_names
            .is_verified(&member.name, member.identity.key_id())
        {
            format!(" {VERIFIED_MARK} verified")
        } else {
            String::new()
        }
    }

    /// `/verify NAME` (`mark`: `/verify NAME ok`).
    pub(super) fn verify(&mut self, name: &str, mark: bool) {
        let admin = self.settings.admin_name.clone();
        if name.eq_ignore_ascii_case(&admin) {
            return self.console(ConsoleLine::error(format!(
                "{admin} is you: /verify compares your key with someone else's (/users lists who is connected)"
            )));
        }
        let member = self
            .users
            .by_name(name)
            .or_else(|| self.users.by_name(&name.to_ascii_lowercase()))
            .and_then(|c| self.users.member(c));
        let Some(member) = member else {
            return self.console(ConsoleLine::error(format!(
                "nobody called {name:?} is connected: keys are compared while both are here (/users lists who is)"
            )));
        };
        let (name, key_id) = (member.name.clone(), member.identity.key_id().to_string());
        let admin_key_id = self.admin.public().key_id().to_string();
        if mark {
            self.known_names
                .verify(&name, &key_id, self.limits.remembered_names);
            return self.console(
                ConsoleLine::new()
                    .name(&name, false)
                    .plain(format!(
                        "'s key ({}\u{2026}) is marked as verified for this run: /users shows {VERIFIED_MARK} beside {name}",
                        &key_id[..12.min(key_id.len())]
                    )),
            );
        }
        let verified = self.known_names.is_verified(&name, &key_id);
        let code = comparison_code(&key_id, &admin_key_id);
        let lines = [
            key_line(ConsoleLine::new().name(&name, false), &key_id).plain(if verified {
                "  (verified \u{2713})"
            } else {
                ""
            }),
            key_line(
                ConsoleLine::new().name(&admin, true).plain(" (you)"),
                &admin_key_id,
            ),
            ConsoleLine::new()
                .plain("Comparison code: ")
                .styled(Style::KeyIdHead, &code),
            ConsoleLine::info(format!(
                "  {name}'s page shows the same code beside {admin}: compare the two with {name} (in person or by voice); the same code means nobody is in between. Then: /verify {name} ok"
            )),
        ];
        for line in lines {
            self.console(line);
        }
    }

    /// Where a join is decided: remembers `name`'s key, and says so on the console
    /// when it is another key than the one this name had before.
    pub(super) fn key_seen(&mut self, name: &str, key_id: &str) {
        let seen = self
            .known_names
            .seen(name, key_id, self.limits.remembered_names);
        let Seen::Changed { was, verified } = seen else {
            return;
        };
        let then = if verified {
            format!(
                "you had verified {name}: that was the other key, verify again (/verify {name})"
            )
        } else {
            format!("if you had verified {name}, verify again (/verify {name})")
        };
        self.console(ConsoleLine::warning(format!(
            "{name} joined with a different key than before (was {}\u{2026}, now {}\u{2026}); {then}",
            &was[..12.min(was.len())],
            &key_id[..12.min(key_id.len())]
        )));
    }
}

/// `who`, then ": Key ID " and the full Key ID in groups, its first 12 characters
/// highlighted as everywhere else.
fn key_line(who: ConsoleLine, key_id: &str) -> ConsoleLine {
    let grouped = grouped_key_id(key_id);
    // 12 characters in groups of 4 are 14 with their spaces.
    let split = grouped.len().min(14);
    who.plain(": Key ID ")
        .styled(Style::KeyIdHead, &grouped[..split])
        .styled(Style::Dim, &grouped[split..])
}

#[cfg(test)]
mod tests {
    use super::*;

    // SHA-256 of "alice" and of "bob", standing in for two Key IDs.
    const A: &str = "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90";
    const B: &str = "81b637d8fcd2c6da6359e6963113a1170de795e4b725b84d1e0b4cfd9ec58ce9";

    #[test]
    fn the_comparison_code_is_the_contracts_on_both_sides() {
        // Computed with python3's hashlib: sha256(b"dyspatcher comparison v1\n" + A
        // + b"\n" + B), first 8 bytes big-endian, % 10**12.
        assert_eq!(comparison_code(A, B), "419 565 535 817");
        assert_eq!(comparison_code(B, A), "419 565 535 817");
        assert_ne!(comparison_code(A, A), comparison_code(A, B));
    }

    #[test]
    fn key_ids_in_groups_of_four() {
        let grouped = grouped_key_id(A);
        assert!(grouped.starts_with("2bd8 06c9 7f0e 00af "));
        assert_eq!(grouped.len(), 64 + 15);
        assert_eq!(grouped_key_id("abcdef"), "abcd ef");
    }

    #[test]
    fn a_name_back_with_another_key_is_pointed_out() {
        let mut known = KnownNames::default();
        assert_eq!(known.seen("alex", A, 10), Seen::Known);
        assert_eq!(known.seen("alex", A, 10), Seen::Known);
        known.verify("alex", A, 10);
        assert!(known.is_verified("alex", A));
        assert_eq!(
            known.seen("alex", B, 10),
            Seen::Changed {
                was: A.into(),
                verified: true
            }
        );
        assert!(!known.is_verified("alex", B) && !known.is_verified("alex", A));
        assert_eq!(
            known.seen("alex", A, 10),
            Seen::Changed {
                was: B.into(),
                verified: false
            }
        );
    }

    #[test]
    fn the_names_remembered_are_bounded_longest_unseen_first() {
        let mut known = KnownNames::default();
        for i in 0..5 {
            known.seen(&format!("u{i}"), A, 3);
        }
        known.seen("u2", A, 3); // u2 seen again: u3 is now the longest unseen
        known.seen("u5", A, 3);
        assert_eq!(known.by_name.len(), 3);
        assert_eq!(known.by_seq.len(), 3);
        assert_eq!(known.seen("u3", B, 3), Seen::Known, "u3 was forgotten");
        assert!(matches!(known.seen("u2", B, 3), Seen::Changed { .. }));
    }

    /// The chat driven by hand: clients of the protocol crate join it (answering their
    /// challenges), the console's lines are collected.
    mod at_the_console {
        use std::sync::Arc;
        use std::time::Instant;

        use dyspatcher_client::{ClientEvent, ClientSession};

        use super::super::{VERIFIED_MARK, comparison_code, grouped_key_id};
        use crate::chat::{Chat, ConnId, Output, Settings};
        use crate::console::ChatCommand;
        use crate::crypto::{GroupKey, KeyPair};
        use crate::limits::Limits;

        const HOST: &str = "chat.test:8080";

        fn key(name: &str) -> Arc<KeyPair> {
            let path = format!(
                "{}/tests/vectors/{name}.pkcs8.pem",
                env!("CARGO_MANIFEST_DIR")
            );
            Arc::new(KeyPair::from_pem(&std::fs::read_to_string(path).unwrap()).unwrap())
        }

        fn chat() -> Chat {
            let settings = Settings {
                admin_name: "ADMIN".into(),
                disable_all: false,
                only_admin: false,
                welcome: None,
                allow_unproven_keys: false,
                allow_unproven_admin: false,
            };
            let now = Instant::now();
            Chat::new(
                settings,
                Limits::default(),
                key("admin"),
                GroupKey::generate(),
                [7; 32],
                now,
            )
        }

        /// Runs the chat's outputs: frames to `session` (challenges answered), console
        /// lines returned.
        fn pump(chat: &mut Chat, conn: ConnId, session: &mut ClientSession) -> Vec<String> {
            let mut console = Vec::new();
            while let Some(out) = chat.poll_output() {
                match out {
                    Output::Send { to, frame } if to.contains(&conn) => {
                        for event in session.handle(&frame.to_text()) {
                            if let ClientEvent::Challenge { nonce } = event {
                                let proof = session.proof_frame(HOST, &nonce);
                                chat.received(conn, &proof, Instant::now());
                            }
                        }
                    }
                    Output::Console(line) => console.push(line.text()),
                    _ => {}
                }
            }
            console
        }

        fn join(chat: &mut Chat, conn: ConnId, name: &str, keys: &str) -> Vec<String> {
            let mut session = ClientSession::new(name, key(keys));
            chat.opened(conn, Some(HOST), Instant::now());
            chat.received(conn, &session.join_frame(), Instant::now());
            pump(chat, conn, &mut session)
        }

        fn leave(chat: &mut Chat, conn: ConnId) {
            chat.closed(conn, None);
            while chat.poll_output().is_some() {}
        }

        fn command(chat: &mut Chat, command: ChatCommand) -> Vec<String> {
            chat.command(command, Instant::now());
            let mut lines = Vec::new();
            while let Some(out) = chat.poll_output() {
                if let Output::Console(line) = out {
                    lines.push(line.text());
                }
            }
            lines
        }

        fn verify(name: &str, mark: bool) -> ChatCommand {
            ChatCommand::Verify {
                name: name.into(),
                mark,
            }
        }

        #[test]
        fn verify_shows_both_key_ids_and_the_code_then_marks_the_key() {
            let mut chat = chat();
            join(&mut chat, 1, "alex", "alice");
            let alex = key("alice").public().key_id().to_string();
            let admin = key("admin").public().key_id().to_string();
            let lines = command(&mut chat, verify("alex", false));
            assert_eq!(lines[0], format!("alex: Key ID {}", grouped_key_id(&alex)));
            assert_eq!(
                lines[1],
                format!("ADMIN (you): Key ID {}", grouped_key_id(&admin))
            );
            assert_eq!(
                lines[2],
                format!("Comparison code: {}", comparison_code(&alex, &admin))
            );
            assert!(lines[3].contains("/verify alex ok"), "{lines:?}");
            let users = command(&mut chat, ChatCommand::Users);
            assert!(
                !users.iter().any(|l| l.contains(VERIFIED_MARK)),
                "{users:?}"
            );

            let marked = command(&mut chat, verify("alex", true));
            assert!(marked[0].starts_with(&format!("alex's key ({}", &alex[..12])));
            let users = command(&mut chat, ChatCommand::Users);
            let line = users.iter().find(|l| l.contains("alex")).unwrap();
            assert!(
                line.ends_with(&format!("{} {VERIFIED_MARK} verified", &alex[12..])),
                "{line}"
            );
            assert!(command(&mut chat, verify("alex", false))[0].ends_with("(verified \u{2713})"));

            assert!(
                command(&mut chat, verify("nobody", false))[0]
                    .contains("nobody called \"nobody\" is connected")
            );
            assert!(command(&mut chat, verify("admin", true))[0].contains("ADMIN is you"));
        }

        #[test]
        fn a_name_back_with_another_key_is_a_warning_and_loses_its_mark() {
            let mut chat = chat();
            join(&mut chat, 1, "alex", "alice");
            command(&mut chat, verify("alex", true));
            leave(&mut chat, 1);
            let same = join(&mut chat, 2, "alex", "alice");
            assert!(
                !same.iter().any(|l| l.contains("different key")),
                "{same:?}"
            );
            leave(&mut chat, 2);

            let alice = key("alice").public().key_id().to_string();
            let bob = key("bob").public().key_id().to_string();
            let lines = join(&mut chat, 3, "alex", "bob");
            assert_eq!(lines[0], format!("alex joined, Key ID {bob}"));
            assert_eq!(
                lines[1],
                format!(
                    "alex joined with a different key than before (was {}\u{2026}, now {}\u{2026}); you had verified alex: that was the other key, verify again (/verify alex)",
                    &alice[..12],
                    &bob[..12]
                )
            );
            let users = command(&mut chat, ChatCommand::Users);
            assert!(
                !users.iter().any(|l| l.contains(VERIFIED_MARK)),
                "{users:?}"
            );
            leave(&mut chat, 3);
            let back = join(&mut chat, 4, "alex", "alice");
            assert!(
                back[1].ends_with("if you had verified alex, verify again (/verify alex)"),
                "{back:?}"
            );
        }
    }
}
