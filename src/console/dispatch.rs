//! The one place a console line is routed: to the chat, to the SSH tunnel, or answered
//! here (help, usage errors, unknown commands). The help text lives here, so it lists
//! every command whoever carries it out.

use super::command::{self, ChatCommand, Command};
use super::line::ConsoleLine;

pub const HELP: &str = "\
Commands:
  @NAME text        send a 1:1 message to NAME (the administrator's name: to the web interface)
  @all text         send a message to everybody
  /users, /u        list the connected users and their Key IDs, and who is kept out
  /kick NAME        disconnect NAME and keep NAME's key out for --kick-for (10 minutes unless set)
  /ban NAME         disconnect NAME; NAME's key cannot join again while the server runs
  /unban NAME       let a banned or kicked key join again (NAME, or the start of its Key ID)
  /key public       show the administrator's public key (PEM)
  /key private      show the administrator's private key (PEM): to join on the web as the administrator
  /key fingerprint  show the administrator's Key ID   (short: /k pub | pri | fp)
  /verify NAME      show NAME's full Key ID, yours, and the comparison code NAME's page shows
  /verify NAME ok   mark NAME's key as verified for this run (/users shows ✓; a new key clears it)
  /qr               draw the QR codes of the links to join (a phone's camera opens them)
  /allowlist, /a    list the allow list and who is connected (with --allow-list)
  /tunnel, /t       show the SSH tunnel (with --sshpfw-*)
  /help, /h         this help
  /quit, /q         close every connection and stop the server
On a terminal: Left/Right, Home/End (Ctrl-A/E), Backspace/Delete, Ctrl-U/K/W edit the line;
  Up/Down go through the history; Tab completes commands and names; Ctrl-C clears the
  line, or on an empty line stops the server like /quit; Ctrl-D on an empty line only
  says to type /quit.";

/// Who carries out a console line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dispatch {
    Chat(ChatCommand),
    /// `/tunnel` on a server with a tunnel: its status.
    TunnelStatus,
    /// Answered by the dispatcher itself (nothing to show for an empty line).
    Answer(Vec<ConsoleLine>),
}

/// Routes console lines; knows what the server runs with (the tunnel's public URLs,
/// the QR codes of the links to join).
#[derive(Debug, Clone, Default)]
pub struct Dispatcher {
    tunnel_urls: Option<Vec<String>>,
    qr_codes: Vec<ConsoleLine>,
}

impl Dispatcher {
    /// `tunnel_urls`: the SSH tunnel's public URLs, when the server runs one;
    /// `qr_codes`: what `/qr` shows (drawn once, at start: the links do not change).
    pub fn new(tunnel_urls: Option<Vec<String>>, qr_codes: Vec<ConsoleLine>) -> Self {
        Self {
            tunnel_urls,
            qr_codes,
        }
    }

    pub fn dispatch(&self, line: &str) -> Dispatch {
        match command::parse(line) {
            Command::Chat(command) => Dispatch::Chat(command),
            Command::Tunnel if self.tunnel_urls.is_some() => Dispatch::TunnelStatus,
            Command::Tunnel => Dispatch::Answer(vec![ConsoleLine::error(
                "not available: this server runs without that option (see /help)",
            )]),
            Command::Help => Dispatch::Answer(self.help()),
            Command::Qr if self.qr_codes.is_empty() => {
                Dispatch::Answer(vec![ConsoleLine::error("no link to show")])
            }
            Command::Qr => Dispatch::Answer(self.qr_codes.clone()),
            Command::Empty => Dispatch::Answer(Vec::new()),
            Command::Usage(usage) => Dispatch::Answer(vec![ConsoleLine::error(usage)]),
            Command::Unknown(text) => {
                let shown: String = text.chars().take(40).collect();
                Dispatch::Answer(vec![ConsoleLine::error(format!(
                    "unknown command {shown:?}: messages start with @NAME or @all, commands with / (/help lists them)"
                ))])
            }
        }
    }

    fn help(&self) -> Vec<ConsoleLine> {
        let mut lines = vec![ConsoleLine::screen_only(HELP)];
        if let Some(urls) = &self.tunnel_urls {
            lines.push(ConsoleLine::screen_only(format!(
                "From the internet (SSH tunnel; /tunnel shows its state): {}",
                urls.join("  ")
            )));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(dispatch: Dispatch) -> String {
        match dispatch {
            Dispatch::Answer(lines) => lines.iter().map(|l| l.text() + "\n").collect(),
            other => panic!("not answered here: {other:?}"),
        }
    }

    #[test]
    fn chat_commands_go_to_the_chat() {
        let d = Dispatcher::default();
        assert_eq!(d.dispatch("/users"), Dispatch::Chat(ChatCommand::Users));
        assert_eq!(
            d.dispatch("@all hi"),
            Dispatch::Chat(ChatCommand::Send {
                to: "all".into(),
                text: "hi".into()
            })
        );
    }

    #[test]
    fn help_is_one_text_with_the_tunnel_when_there_is_one() {
        let plain = texts(Dispatcher::default().dispatch("/help"));
        assert!(plain.contains("/kick NAME") && plain.contains("/tunnel, /t"));
        assert!(!plain.contains("From the internet"));
        let with = Dispatcher::new(Some(vec!["https://h:8080/".into()]), Vec::new());
        let text = texts(with.dispatch("/h"));
        assert!(text.starts_with(HELP));
        assert!(
            text.contains(
                "From the internet (SSH tunnel; /tunnel shows its state): https://h:8080/"
            )
        );
    }

    #[test]
    fn tunnel_status_only_with_a_tunnel() {
        assert!(texts(Dispatcher::default().dispatch("/tunnel")).contains("not available"));
        let with = Dispatcher::new(Some(vec![]), Vec::new());
        assert_eq!(with.dispatch("/t"), Dispatch::TunnelStatus);
    }

    #[test]
    fn mistakes_are_answered_here() {
        let d = Dispatcher::default();
        assert_eq!(texts(d.dispatch("   ")), "");
        assert!(texts(d.dispatch("/kick")).contains("usage: /kick NAME"));
        assert!(texts(d.dispatch("hello?")).contains("unknown command \"hello?\""));
    }

    #[test]
    fn qr_draws_the_codes_it_was_given() {
        assert!(texts(Dispatcher::default().dispatch("/qr")).contains("no link to show"));
        let codes = crate::console::qr::join_code("Chat page", "http://h/").unwrap();
        let with = Dispatcher::new(None, codes.clone());
        assert_eq!(with.dispatch("/qr"), Dispatch::Answer(codes));
        assert!(texts(with.dispatch("/help")).contains("/qr "));
    }
}
