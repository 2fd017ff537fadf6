//! The lines shown once start-up succeeded, before the server goes to the background:
//! what runs, under which key, and the addresses people open.

use super::join_links::JoinLink;
use crate::console::ConsoleLine;
use crate::tls::Tls;

pub(super) struct Banner<'a> {
    pub key_origin: &'a str,
    pub admin_name: &'a str,
    pub admin_key_id: &'a str,
    /// With the certificate's fingerprint in its fragment, if it is self-signed.
    pub page_url: &'a str,
    pub websocket_url: Option<String>,
    pub redirect_url: Option<String>,
    /// Through the SSH tunnel: the page, then the 0.9 WebSocket port if there is one.
    pub tunnel_urls: Vec<String>,
    pub tls: Option<&'a Tls>,
    pub all_addresses: bool,
    /// Set when the open-file limit lowered `--max-connections`.
    pub open_file_note: Option<String>,
    /// The links to join; their QR codes are drawn last, with `draw_codes` (not with
    /// `--daemon`: nobody looks at that screen).
    pub join_links: &'a [JoinLink],
    pub draw_codes: bool,
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
        for link in self.join_links.iter().filter(|l| l.on_this_network) {
            lines.push(ConsoleLine::screen_only(format!(
                "Chat page on this network: {}",
                link.url
            )));
        }
        if let Some(note) = self.open_file_note {
            lines.push(ConsoleLine::warning(note).screen());
        }
        if self.draw_codes {
            lines.extend(qr_codes(self.join_links));
        }
        lines
    }
}

/// The QR code of each link, with its caption; for the banner and `/qr`.
pub fn qr_codes(links: &[JoinLink]) -> Vec<ConsoleLine> {
    links
        .iter()
        .flat_map(|link| {
            crate::console::qr::join_code(&link.caption, &link.url).unwrap_or_else(|| {
                vec![ConsoleLine::screen_only(format!(
                    "{}: too long for a QR code: {}",
                    link.caption, link.url
                ))]
            })
        })
        .collect()
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
            join_links: &[],
            draw_codes: false,
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

    #[test]
    fn the_codes_come_last_and_only_when_drawn() {
        let links = [JoinLink {
            caption: "Chat page on this network (10.0.0.2)".into(),
            url: "https://10.0.0.2:8443/#sha256=ab".into(),
            on_this_network: true,
        }];
        let drawn = texts(Banner {
            join_links: &links,
            draw_codes: true,
            ..plain()
        });
        assert!(
            drawn.contains(&"Chat page on this network: https://10.0.0.2:8443/#sha256=ab".into())
        );
        assert_eq!(
            drawn[drawn.len() - 3],
            "Chat page on this network (10.0.0.2):"
        );
        assert!(drawn[drawn.len() - 2].starts_with('\u{2588}'), "{drawn:?}");
        assert_eq!(drawn[drawn.len() - 1], "  https://10.0.0.2:8443/#sha256=ab");
        let daemon = texts(Banner {
            join_links: &links,
            draw_codes: false,
            ..plain()
        });
        assert_eq!(daemon.len(), drawn.len() - 3);
    }
}
