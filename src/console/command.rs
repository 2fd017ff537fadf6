//! Parsing what the administrator types. Never fails: anything unknown becomes
//! [`Command::Unknown`] or [`Command::Usage`], which the dispatcher (`dispatch.rs`)
//! answers with a hint.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyExport {
    Public,
    Private,
    Fingerprint,
}

/// A console line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Empty,
    Help,
    Tunnel,
    /// `/qr`: the QR codes of the chat's links.
    Qr,
    /// A known command used wrongly: the usage line to show.
    Usage(&'static str),
    Unknown(String),
    /// What the chat carries out.
    Chat(ChatCommand),
}

/// The commands the chat itself answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatCommand {
    Users,
    Kick(String),
    /// Keep NAME's key out for the whole run.
    Ban(String),
    /// Let a banned or kicked key (a name or a Key ID prefix) join again.
    Unban(String),
    Key(KeyExport),
    AllowList,
    /// `/verify NAME`: compare keys with NAME; `mark` (`/verify NAME ok`): NAME's key
    /// is verified.
    Verify {
        name: String,
        mark: bool,
    },
    Quit,
    /// `@name text`; `to` is as typed (`all` for everybody).
    Send {
        to: String,
        text: String,
    },
}

pub const KICK_USAGE: &str = "usage: /kick NAME  (/users lists who is connected)";
pub const BAN_USAGE: &str = "usage: /ban NAME  (a connected or recently kicked user)";
pub const UNBAN_USAGE: &str = "usage: /unban NAME or /unban KEYID  (/users lists who is kept out)";
pub const KEY_USAGE: &str =
    "usage: /key public | private | fingerprint  (short: /k pub | pri | fp)";
pub const VERIFY_USAGE: &str = "usage: /verify NAME  (compare keys with NAME), then /verify NAME ok  (mark NAME's key as verified)";
pub const SEND_USAGE: &str = "usage: @NAME text  or  @all text";

pub fn parse(line: &str) -> Command {
    let line = line.trim_end_matches(['\r', '\n']);
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return Command::Empty;
    }
    if let Some(rest) = trimmed.strip_prefix('@') {
        return parse_send(rest);
    }
    let Some(rest) = trimmed.strip_prefix('/') else {
        return Command::Unknown(trimmed.to_string());
    };
    let mut words = rest.split_whitespace();
    let verb = words.next().unwrap_or("");
    let arg = words.next();
    let extra = words.next();
    match (verb, arg, extra) {
        ("users" | "u", None, _) => Command::Chat(ChatCommand::Users),
        ("kick", Some(name), None) => Command::Chat(ChatCommand::Kick(name.to_string())),
        ("kick", _, _) => Command::Usage(KICK_USAGE),
        ("ban", Some(name), None) => Command::Chat(ChatCommand::Ban(name.to_string())),
        ("ban", _, _) => Command::Usage(BAN_USAGE),
        ("unban", Some(who), None) => Command::Chat(ChatCommand::Unban(who.to_string())),
        ("unban", _, _) => Command::Usage(UNBAN_USAGE),
        ("key" | "k", Some(which), None) => match which {
            "public" | "pub" => Command::Chat(ChatCommand::Key(KeyExport::Public)),
            "private" | "pri" | "priv" => Command::Chat(ChatCommand::Key(KeyExport::Private)),
            "fingerprint" | "fp" | "id" => Command::Chat(ChatCommand::Key(KeyExport::Fingerprint)),
            _ => Command::Usage(KEY_USAGE),
        },
        ("key" | "k", _, _) => Command::Usage(KEY_USAGE),
        ("verify" | "v", Some(name), None) => Command::Chat(ChatCommand::Verify {
            name: name.to_string(),
            mark: false,
        }),
        ("verify" | "v", Some(name), Some("ok")) if words.next().is_none() => {
            Command::Chat(ChatCommand::Verify {
                name: name.to_string(),
                mark: true,
            })
        }
        ("verify" | "v", _, _) => Command::Usage(VERIFY_USAGE),
        ("qr", None, _) => Command::Qr,
        ("allowlist" | "a", None, _) => Command::Chat(ChatCommand::AllowList),
        ("tunnel" | "t", None, _) => Command::Tunnel,
        ("help" | "h" | "?", _, _) => Command::Help,
        ("quit" | "q" | "exit", None, _) => Command::Chat(ChatCommand::Quit),
        _ => Command::Unknown(trimmed.to_string()),
    }
}

fn parse_send(rest: &str) -> Command {
    let (to, text) = match rest.split_once(char::is_whitespace) {
        Some((to, text)) => (to, text.trim()),
        None => (rest, ""),
    };
    if to.is_empty() || text.is_empty() {
        return Command::Usage(SEND_USAGE);
    }
    Command::Chat(ChatCommand::Send {
        to: to.to_string(),
        text: text.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(command: ChatCommand) -> Command {
        Command::Chat(command)
    }

    #[test]
    fn commands_and_short_forms() {
        assert_eq!(parse("/users"), chat(ChatCommand::Users));
        assert_eq!(parse("/u\n"), chat(ChatCommand::Users));
        assert_eq!(parse("/kick bob"), chat(ChatCommand::Kick("bob".into())));
        assert_eq!(parse("/kick"), Command::Usage(KICK_USAGE));
        assert_eq!(parse("/kick a b"), Command::Usage(KICK_USAGE));
        assert_eq!(parse("/ban bob"), chat(ChatCommand::Ban("bob".into())));
        assert_eq!(parse("/ban"), Command::Usage(BAN_USAGE));
        assert_eq!(
            parse("/unban 0a1b2c"),
            chat(ChatCommand::Unban("0a1b2c".into()))
        );
        assert_eq!(parse("/unban"), Command::Usage(UNBAN_USAGE));
        assert_eq!(
            parse("/key public"),
            chat(ChatCommand::Key(KeyExport::Public))
        );
        assert_eq!(parse("/k pri"), chat(ChatCommand::Key(KeyExport::Private)));
        assert_eq!(
            parse("/key fingerprint"),
            chat(ChatCommand::Key(KeyExport::Fingerprint))
        );
        assert_eq!(parse("/key"), Command::Usage(KEY_USAGE));
        assert_eq!(parse("/k nope"), Command::Usage(KEY_USAGE));
        assert_eq!(parse("/a"), chat(ChatCommand::AllowList));
        assert_eq!(
            parse("/verify alex"),
            chat(ChatCommand::Verify {
                name: "alex".into(),
                mark: false
            })
        );
        assert_eq!(
            parse("/v alex ok"),
            chat(ChatCommand::Verify {
                name: "alex".into(),
                mark: true
            })
        );
        for wrong in ["/verify", "/verify alex yes", "/verify alex ok now"] {
            assert_eq!(parse(wrong), Command::Usage(VERIFY_USAGE), "{wrong}");
        }
        assert_eq!(parse("/qr"), Command::Qr);
        assert_eq!(parse("/h"), Command::Help);
        assert_eq!(parse("/q"), chat(ChatCommand::Quit));
        assert_eq!(parse("   "), Command::Empty);
        assert_eq!(parse("/frobnicate"), Command::Unknown("/frobnicate".into()));
        assert_eq!(parse("hello"), Command::Unknown("hello".into()));
    }

    #[test]
    fn messages() {
        assert_eq!(
            parse("@bob  hi there  "),
            chat(ChatCommand::Send {
                to: "bob".into(),
                text: "hi there".into()
            })
        );
        assert_eq!(
            parse("@all\thello"),
            chat(ChatCommand::Send {
                to: "all".into(),
                text: "hello".into()
            })
        );
        assert_eq!(parse("@bob"), Command::Usage(SEND_USAGE));
        assert_eq!(parse("@ hi"), Command::Usage(SEND_USAGE));
        assert_eq!(parse("@"), Command::Usage(SEND_USAGE));
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "/",
            "@@",
            "/key \u{0}",
            "@\u{feff} x",
            "/kick \u{200b}",
            "\u{7f}",
        ] {
            let _ = parse(s);
        }
    }
}
