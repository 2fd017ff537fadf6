//! What a request is answered with, as a pure function of the request head, the port
//! it came to and the site's settings: no socket, no state, so every answer is tested
//! here.

use super::request::{HttpError, Method, Request};
use super::{assets, qr_image, response};

/// Which listener accepted the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortKind {
    /// The web port: the page, and WebSocket at `/ws`.
    Web,
    /// The WebSocket port of 0.9 clients: WebSocket at any path.
    WebSocket,
    /// Plain HTTP where HTTPS is wanted (`--redirect-http`, or http:// typed for an
    /// https port): every request is redirected to the HTTPS page.
    Redirect,
}

/// What requests are answered with, beyond the connection itself.
#[derive(Debug, Clone)]
pub struct Site {
    /// The chat page's URL as the banner shows it.
    pub page_url: String,
    /// The HTTPS port, when TLS is on: where redirects point.
    pub https_port: Option<u16>,
    /// The web port: where the page's own origin is (`origin.rs`).
    pub web_port: u16,
    /// `--allowed-origin`: pages elsewhere that may open a WebSocket (a reverse proxy).
    pub allowed_origins: Vec<String>,
}

/// The answer to one request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Send these bytes, then wait for the next request on the same connection.
    KeepAlive(Vec<u8>),
    /// Send these bytes, then close.
    Close(Vec<u8>),
    /// Send this 101 response; the connection speaks WebSocket from then on.
    Upgrade(Vec<u8>),
}

/// The answer to a request head (or to the reason it could not be read).
pub fn route(head: Result<&Request, HttpError>, port: PortKind, site: &Site) -> Reply {
    let request = match head {
        Ok(request) => request,
        Err(error) => return Reply::Close(response::for_error(error)),
    };
    if port == PortKind::Redirect {
        let target = response::https_url(
            request.host.as_deref(),
            &site.page_url,
            site.https_port.unwrap_or(443),
            &request.path,
        );
        return Reply::Close(response::redirect(&target));
    }
    if request.method == Method::Other {
        return Reply::Close(response::method_not_allowed());
    }
    let wants_websocket = port == PortKind::WebSocket || request.path == "/ws";
    match (&request.upgrade, wants_websocket) {
        (Some(upgrade), true) if request.method == Method::Get => {
            if upgrade.key.is_empty() || !upgrade.version_13 {
                return Reply::Close(response::bad_websocket_request());
            }
            if !super::origin::allowed(request.origin.as_deref(), request.host.as_deref(), site) {
                return Reply::Close(response::foreign_origin());
            }
            let accept = tungstenite::handshake::derive_accept_key(upgrade.key.as_bytes());
            return Reply::Upgrade(response::switching_protocols(&accept));
        }
        _ if port == PortKind::WebSocket => {
            return Reply::Close(response::websocket_only(Some(&site.page_url)));
        }
        _ => {}
    }
    let head_only = request.method == Method::Head;
    if request.path == "/qr.svg" {
        // A QR code costs up to ~3 ms of the event loop (256 bytes; a link ~1 ms,
        // docs/LIMITS.md): one per connection, so that asking for many means opening
        // many connections, which are rate-limited per address before any HTTP.
        let host = request.host.as_deref();
        let query = request.query.as_deref();
        return Reply::Close(qr_image::answer(query, false, head_only, host));
    }
    let bytes = match assets::find(&request.path) {
        Some(asset) => response::asset(
            asset,
            request.accepts_gzip,
            request.keep_alive,
            head_only,
            request.host.as_deref(),
        ),
        None => response::not_found(request.keep_alive, head_only),
    };
    if request.keep_alive {
        Reply::KeepAlive(bytes)
    } else {
        Reply::Close(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Parsed, parse_head};
    use crate::limits::Limits;

    fn site() -> Site {
        Site {
            page_url: "https://10.0.0.2:8443/".into(),
            https_port: Some(8443),
            web_port: 8443,
            allowed_origins: Vec::new(),
        }
    }

    /// The reply to `head` (CRLFs added) on `port`, as (kind, status line, whole text).
    fn answer(head: &str, port: PortKind) -> (&'static str, String, String) {
        let raw = format!("{}\r\n\r\n", head.replace('\n', "\r\n"));
        let reply = match parse_head(raw.as_bytes(), &Limits::default()) {
            Parsed::Complete { request, .. } => route(Ok(&request), port, &site()),
            Parsed::Error(error) => route(Err(error), port, &site()),
            Parsed::Partial => panic!("partial: {raw:?}"),
        };
        let (kind, bytes) = match reply {
            Reply::KeepAlive(b) => ("keep-alive", b),
            Reply::Close(b) => ("close", b),
            Reply::Upgrade(b) => ("upgrade", b),
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let status = text.lines().next().unwrap_or("").to_string();
        (kind, status, text)
    }

    fn page() -> &'static assets::Asset {
        assets::find("/").unwrap()
    }

    #[test]
    fn the_page_with_and_without_gzip() {
        let (kind, status, text) = answer(
            "GET / HTTP/1.1\nHost: h:8443\nAccept-Encoding: gzip",
            PortKind::Web,
        );
        assert_eq!((kind, status.as_str()), ("keep-alive", "HTTP/1.1 200 OK"));
        assert!(text.contains("Content-Encoding: gzip"));
        assert!(text.contains(&format!("Content-Length: {}", page().gzip.len())));
        let (kind, _, text) = answer("GET / HTTP/1.1", PortKind::Web);
        assert_eq!(kind, "keep-alive");
        assert!(!text.contains("Content-Encoding"));
        assert!(text.ends_with(std::str::from_utf8(page().plain).unwrap()));
    }

    #[test]
    fn head_has_the_length_but_no_body() {
        let (kind, status, text) = answer("HEAD /app.js HTTP/1.1", PortKind::Web);
        assert_eq!((kind, status.as_str()), ("keep-alive", "HTTP/1.1 200 OK"));
        let js = assets::find("/app.js").unwrap();
        assert!(text.contains(&format!("Content-Length: {}", js.plain.len())));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn keep_alive_or_close_as_the_request_asks() {
        assert_eq!(
            answer("GET / HTTP/1.1\nConnection: close", PortKind::Web).0,
            "close"
        );
        assert_eq!(answer("GET / HTTP/1.0", PortKind::Web).0, "close");
        assert_eq!(
            answer("GET / HTTP/1.0\nConnection: keep-alive", PortKind::Web).0,
            "keep-alive"
        );
        let (kind, status, text) = answer("GET /nope HTTP/1.0", PortKind::Web);
        assert_eq!((kind, status.as_str()), ("close", "HTTP/1.1 404 Not Found"));
        assert!(text.contains("Connection: close"));
    }

    #[test]
    fn not_found_keeps_the_connection() {
        let (kind, status, _) = answer("GET /nope.js HTTP/1.1", PortKind::Web);
        assert_eq!(
            (kind, status.as_str()),
            ("keep-alive", "HTTP/1.1 404 Not Found")
        );
        let (_, _, text) = answer("HEAD /nope.js HTTP/1.1", PortKind::Web);
        assert!(text.ends_with("\r\n\r\n"), "no body for HEAD");
    }

    #[test]
    fn heads_we_cannot_take_close_with_their_status() {
        let many: String = (0..40).map(|i| format!("\nX-{i}: y")).collect();
        for (head, status) in [
            ("\u{1}\u{2} nonsense", "HTTP/1.1 400 Bad Request"),
            (
                "POST / HTTP/1.1\nContent-Length: 5",
                "HTTP/1.1 413 Content Too Large",
            ),
            (
                &format!("GET / HTTP/1.1{many}"),
                "HTTP/1.1 431 Request Header Fields Too Large",
            ),
            ("GET / HTTP/2.0", "HTTP/1.1 505 HTTP Version Not Supported"),
            ("DELETE / HTTP/1.1", "HTTP/1.1 405 Method Not Allowed"),
        ] {
            let (kind, got, _) = answer(head, PortKind::Web);
            assert_eq!((kind, got.as_str()), ("close", status), "{head:?}");
        }
        let (_, _, text) = answer("PUT / HTTP/1.1", PortKind::Web);
        assert!(text.contains("Allow: GET, HEAD"));
    }

    #[test]
    fn the_redirect_port_sends_everything_to_https() {
        let (kind, status, text) = answer(
            "GET /app.js HTTP/1.1\nHost: chat.lan:8080",
            PortKind::Redirect,
        );
        assert_eq!(
            (kind, status.as_str()),
            ("close", "HTTP/1.1 308 Permanent Redirect")
        );
        assert!(text.contains("Location: https://chat.lan:8443/app.js\r\n"));
        // Even a method we do not serve, even an upgrade: plain HTTP gets the address.
        let (_, status, text) = answer("POST /x HTTP/1.1", PortKind::Redirect);
        assert_eq!(status, "HTTP/1.1 308 Permanent Redirect");
        assert!(text.contains("Location: https://10.0.0.2:8443/x\r\n"));
        let without_tls = Site {
            https_port: None,
            ..site()
        };
        let raw = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        let Parsed::Complete { request, .. } = parse_head(raw, &Limits::default()) else {
            panic!()
        };
        let Reply::Close(bytes) = route(Ok(&request), PortKind::Redirect, &without_tls) else {
            panic!()
        };
        assert!(String::from_utf8_lossy(&bytes).contains("Location: https://h/\r\n"));
    }

    const UPGRADE: &str = "Host: h\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13";

    #[test]
    fn websocket_upgrades_at_ws_on_the_web_port_and_anywhere_on_the_ws_port() {
        for (path, port) in [
            ("/ws", PortKind::Web),
            ("/", PortKind::WebSocket),
            ("/anything", PortKind::WebSocket),
        ] {
            let (kind, status, text) = answer(&format!("GET {path} HTTP/1.1\n{UPGRADE}"), port);
            assert_eq!(
                (kind, status.as_str()),
                ("upgrade", "HTTP/1.1 101 Switching Protocols"),
                "{path} on {port:?}"
            );
            // RFC 6455's example key and answer.
            assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        }
        let (kind, status, _) = answer(&format!("GET / HTTP/1.1\n{UPGRADE}"), PortKind::Web);
        assert_eq!(
            (kind, status.as_str()),
            ("keep-alive", "HTTP/1.1 200 OK"),
            "the page is not the WebSocket"
        );
    }

    #[test]
    fn broken_upgrades_and_plain_requests_on_the_ws_port() {
        let old = UPGRADE.replace("Version: 13", "Version: 8");
        let (kind, status, text) = answer(&format!("GET /ws HTTP/1.1\n{old}"), PortKind::Web);
        assert_eq!(
            (kind, status.as_str()),
            ("close", "HTTP/1.1 400 Bad Request")
        );
        assert!(text.contains("Sec-WebSocket-Version: 13"));
        let (kind, status, text) = answer("GET / HTTP/1.1", PortKind::WebSocket);
        assert_eq!(
            (kind, status.as_str()),
            ("close", "HTTP/1.1 426 Upgrade Required")
        );
        assert!(text.contains("The chat page is at https://10.0.0.2:8443/"));
        let (_, status, _) = answer(&format!("HEAD /ws HTTP/1.1\n{UPGRADE}"), PortKind::Web);
        assert_eq!(status, "HTTP/1.1 404 Not Found", "only GET upgrades");
    }

    #[test]
    fn qr_svg_draws_a_short_text_and_refuses_the_rest() {
        let (kind, status, text) = answer(
            "GET /qr.svg?text=https%3A%2F%2Fh%2F%23sha256%3Dab HTTP/1.1\nHost: h:8443",
            PortKind::Web,
        );
        assert_eq!((kind, status.as_str()), ("close", "HTTP/1.1 200 OK"));
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        for h in [
            "Content-Type: image/svg+xml",
            "Cache-Control: no-store",
            "X-Content-Type-Options: nosniff",
            "Content-Security-Policy: default-src 'self'; connect-src 'self' ws://h:8443",
            &format!("Content-Length: {}", body.len()),
        ] {
            assert!(head.contains(h), "{h} missing in {head}");
        }
        let matrix = crate::qr::Matrix::encode("https://h/#sha256=ab").unwrap();
        assert_eq!(body, crate::qr::svg::render(&matrix));
        let (_, _, text) = answer("HEAD /qr.svg?text=x HTTP/1.1", PortKind::Web);
        assert!(text.ends_with("\r\n\r\n") && text.contains("image/svg+xml"));

        let long = "a".repeat(crate::limits::MAX_QR_TEXT_BYTES + 1);
        for target in [
            "/qr.svg".to_string(),
            "/qr.svg?text=".into(),
            "/qr.svg?text=%FF".into(),
            format!("/qr.svg?text={long}"),
        ] {
            let (kind, status, text) = answer(&format!("GET {target} HTTP/1.1"), PortKind::Web);
            assert_eq!(
                (kind, status.as_str()),
                ("close", "HTTP/1.1 400 Bad Request"),
                "{target}"
            );
            assert!(text.contains("Cache-Control: no-store"));
            let body = text.split_once("\r\n\r\n").unwrap().1;
            assert!(body.len() < 100, "a short body: {body}");
        }
        let (_, status, _) = answer("GET /qr.svg?text=x HTTP/1.1", PortKind::WebSocket);
        assert_eq!(
            status, "HTTP/1.1 426 Upgrade Required",
            "only on the web port"
        );
    }
}
