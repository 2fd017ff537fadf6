//! Parsing what the administrator types. Never fails: anything unknown becomes
//! [`Command::Unknown`] or [`Command::Usage`], which the chat answers with a hint.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyExport {
    Public,
    Private,
    Fingerprint,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Empty,
    Users,
    Kick(String),
    Key(KeyExport),
    AllowList,
    Tunnel,
    Help,
    Quit,
    /// `@name text`; `to` is as typed (`all` for everybody).
    Send {
        to: String,
        text: String,
    },
    /// A known command used wrongly: the usage line to show.
    Usage(&'static str),
    Unknown(String),
}

pub const KICK_USAGE: &str = "usage: /kick NAME  (/users lists who is connected)";
pub const KEY_USAGE: &str =
    "usage: /key public | private | fingerprint  (short: /k pub | pri | fp)";
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
        ("users" | "u", None, _) => Command::Users,
        ("kick", Some(name), None) => Command::Kick(name.to_string()),
        ("kick", _, _) => Command::Usage(KICK_USAGE),
        ("key" | "k", Some(which), None) => match which {
            "public" | "pub" => Command::Key(KeyExport::Public),
            "private" | "pri" | "priv" => Command::Key(KeyExport::Private),
            "fingerprint" | "fp" | "id" => Command::Key(KeyExport::Fingerprint),
            _ => Command::Usage(KEY_USAGE),
        },
        ("key" | "k", _, _) => Command::Usage(KEY_USAGE),
        ("allowlist" | "a", None, _) => Command::AllowList,
        ("tunnel" | "t", None, _) => Command::Tunnel,
        ("help" | "h" | "?", _, _) => Command::Help,
        ("quit" | "q" | "exit", None, _) => Command::Quit,
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
    Command::Send {
        to: to.to_string(),
        text: text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_short_forms() {
        assert_eq!(parse("/users"), Command::Users);
        assert_eq!(parse("/u\n"), Command::Users);
        assert_eq!(parse("/kick bob"), Command::Kick("bob".into()));
        assert_eq!(parse("/kick"), Command::Usage(KICK_USAGE));
        assert_eq!(parse("/kick a b"), Command::Usage(KICK_USAGE));
        assert_eq!(parse("/key public"), Command::Key(KeyExport::Public));
        assert_eq!(parse("/k pri"), Command::Key(KeyExport::Private));
        assert_eq!(
            parse("/key fingerprint"),
            Command::Key(KeyExport::Fingerprint)
        );
        assert_eq!(parse("/key"), Command::Usage(KEY_USAGE));
        assert_eq!(parse("/k nope"), Command::Usage(KEY_USAGE));
        assert_eq!(parse("/a"), Command::AllowList);
        assert_eq!(parse("/h"), Command::Help);
        assert_eq!(parse("/q"), Command::Quit);
        assert_eq!(parse("   "), Command::Empty);
        assert_eq!(parse("/frobnicate"), Command::Unknown("/frobnicate".into()));
        assert_eq!(parse("hello"), Command::Unknown("hello".into()));
    }

    #[test]
    fn messages() {
        assert_eq!(
            parse("@bob  hi there  "),
            Command::Send {
                to: "bob".into(),
                text: "hi there".into()
            }
        );
        assert_eq!(
            parse("@all\thello"),
            Command::Send {
                to: "all".into(),
                text: "hello".into()
            }
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
