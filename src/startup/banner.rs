//! The lines shown once start-up succeeded, before the server goes to the background:
//! what runs, under which key, and the addresses people open.

use crate::console::ConsoleLine;
use crate::tls::Tls;

pub(super) struct Banner<'a> {
    pub key_origin: &'a str,
    pub admin_name: &'a str,
    pub admin_key_id: &'a str,
    pub page_url: &'a str,
    pub websocket_url: Option<String>,
    pub redirect_url: Option<String>,
    /// Through the SSH tunnel: the page, then the 0.9 WebSocket port if there is one.
    pub tunnel_urls: Vec<String>,
    pub tls: Option<&'a Tls>,
    pub all_addresses: bool,
    /// Set when the open-file limit lowered `--max-connections`.
    pub open_file_note: Option<String>,
}

impl Banner<'_> {
    pub fn lines(self) -> Vec<ConsoleLine> {
        let mut lines = vec![
            ConsoleLine::screen_only(format!(
                "dyspatcher {}: end-to-end encrypted chat",
                env!("CARGO_PKG_VERSION")
            )),
            ConsoleLine::screen_only(self.key_origin),
            ConsoleLine::new()
                .plain("Administrator: ")
                .name(self.admin_name, true)
                .plain(", Key ID ")
                .key_id(self.admin_key_id)
                .screen(),
            ConsoleLine::screen_only(format!("Chat page: {}", self.page_url)),
        ];
        if let Some(url) = self.websocket_url {
            lines.push(ConsoleLine::screen_only(format!(
                "WebSocket for 0.9 clients: {url}"
            )));
        }
        if let Some(url) = self.redirect_url {
            lines.push(ConsoleLine::screen_only(format!(
                "Plain HTTP redirected to HTTPS: {url}"
            )));
        }
        for (what, url) in ["Chat page", "WebSocket for 0.9 clients"]
            .iter()
            .zip(&self.tunnel_urls)
        {
            lines.push(ConsoleLine::screen_only(format!(
                "{what} from the internet (SSH tunnel): {url}"
            )));
        }
        if let Some(tls) = self.tls {
            lines.push(ConsoleLine::screen_only(format!("HTTPS: {}", tls.origin)));
            lines.push(ConsoleLine::screen_only(format!(
                "Certificate SHA-256 fingerprint: {}\n  (browsers show it under the certificate's details: it must be the same before you accept it)",
                tls.fingerprint
            )));
        }
        if self.all_addresses {
            lines.push(ConsoleLine::screen_only(
                "Listening on all addresses: people open this machine's address with that port.",
            ));
        }
        if let Some(note) = self.open_file_note {
            lines.push(ConsoleLine::warning(note).screen());
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::line::Audience;

    fn plain() -> Banner<'static> {
        Banner {
            key_origin: "Administrator's key: RSA-2048 from admin.pem",
            admin_name: "OPS24",
            admin_key_id: "ab:cd",
            page_url: "http://127.0.0.1:8080/",
            websocket_url: None,
            redirect_url: None,
            tunnel_urls: Vec::new(),
            tls: None,
            all_addresses: false,
            open_file_note: None,
        }
    }

    /// The lines' text; every line must stay off the transcription.
    fn texts(banner: Banner<'_>) -> Vec<String> {
        let lines = banner.lines();
        assert!(
            lines.iter().all(|l| l.audience == Audience::ScreenOnly),
            "{lines:?}"
        );
        lines.iter().map(ConsoleLine::text).collect()
    }

    #[test]
    fn a_plain_server_shows_its_key_and_page() {
        let texts = texts(plain());
        assert_eq!(texts.len(), 4, "{texts:?}");
        assert!(texts[0].starts_with("dyspatcher "), "{texts:?}");
        assert_eq!(texts[1], "Administrator's key: RSA-2048 from admin.pem");
        assert!(
            texts[2].contains("OPS24") && texts[2].contains("ab:cd"),
            "{texts:?}"
        );
        assert_eq!(texts[3], "Chat page: http://127.0.0.1:8080/");
    }

    #[test]
    fn every_address_people_open_is_shown() {
        let texts = texts(Banner {
            websocket_url: Some("ws://[::1]:8081/".into()),
            tunnel_urls: vec![
                "http://example.org:9000/".into(),
                "ws://example.org:9001/".into(),
            ],
            all_addresses: true,
            open_file_note: Some("The open-file limit (256) allows 192 connections".into()),
            ..plain()
        });
        for wanted in [
            "WebSocket for 0.9 clients: ws://[::1]:8081/",
            "Chat page from the internet (SSH tunnel): http://example.org:9000/",
            "WebSocket for 0.9 clients from the internet (SSH tunnel): ws://example.org:9001/",
            "Listening on all addresses: people open this machine's address with that port.",
            "The open-file limit (256) allows 192 connections",
        ] {
            assert!(texts.iter().any(|t| t == wanted), "{wanted}: {texts:?}");
        }
    }
}
