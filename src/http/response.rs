//! The responses the server sends, each with the same strict security headers: the page
//! may load only itself and talk only to its own origin.

use std::fmt::Write as _;

use super::assets::Asset;
use super::request::HttpError;

/// The Content-Security-Policy for a page served to `host` (the request's Host header):
/// scripts, styles and images from this origin only, WebSocket to this origin only.
pub fn content_security_policy(host: Option<&str>) -> String {
    let connect = match host {
        Some(h) => format!("'self' ws://{h} wss://{h}"),
        None => "'self'".to_string(),
    };
    format!(
        "default-src 'self'; connect-src {connect}; img-src 'self' data: blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'"
    )
}

struct Head {
    text: String,
}

impl Head {
    fn new(status: u16, reason: &str) -> Self {
        let mut text = String::with_capacity(512);
        let _ = write!(text, "HTTP/1.1 {status} {reason}\r\n");
        Self { text }
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        let _ = write!(self.text, "{name}: {value}\r\n");
        self
    }

    fn security(self, host: Option<&str>) -> Self {
        self.header("Content-Security-Policy", &content_security_policy(host))
            .header("X-Content-Type-Options", "nosniff")
            .header("Referrer-Policy", "no-referrer")
            .header("X-Frame-Options", "DENY")
            .header("Cache-Control", "no-store")
    }

    fn finish(self, keep_alive: bool, body: &[u8], head_only: bool) -> Vec<u8> {
        let mut text = self.text;
        let _ = write!(
            text,
            "Content-Length: {}\r\nConnection: {}\r\n\r\n",
            body.len(),
            if keep_alive { "keep-alive" } else { "close" }
        );
        let mut bytes = text.into_bytes();
        if !head_only {
            bytes.extend_from_slice(body);
        }
        bytes
    }
}

pub fn asset(
    asset: &Asset,
    gzip: bool,
    keep_alive: bool,
    head_only: bool,
    host: Option<&str>,
) -> Vec<u8> {
    let mut head = Head::new(200, "OK")
        .header("Content-Type", asset.content_type)
        .header("Vary", "Accept-Encoding")
        .security(host);
    let body = if gzip {
        head = head.header("Content-Encoding", "gzip");
        asset.gzip
    } else {
        asset.plain
    };
    head.finish(keep_alive, body, head_only)
}

fn text(
    status: u16,
    reason: &str,
    body: &str,
    keep_alive: bool,
    head_only: bool,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let mut head = Head::new(status, reason)
        .header("Content-Type", "text/plain; charset=utf-8")
        .security(None);
    for (name, value) in extra {
        head = head.header(name, value);
    }
    head.finish(keep_alive, format!("{body}\n").as_bytes(), head_only)
}

/// An image made for this request (`/qr.svg`): never cached, like everything here.
pub fn svg_image(svg: &str, keep_alive: bool, head_only: bool, host: Option<&str>) -> Vec<u8> {
    Head::new(200, "OK")
        .header("Content-Type", "image/svg+xml")
        .security(host)
        .finish(keep_alive, svg.as_bytes(), head_only)
}

/// A request we understood but cannot answer as asked; `why` says what to ask.
pub fn bad_request(why: &str, keep_alive: bool, head_only: bool) -> Vec<u8> {
    text(400, "Bad Request", why, keep_alive, head_only, &[])
}

pub fn not_found(keep_alive: bool, head_only: bool) -> Vec<u8> {
    text(
        404,
        "Not Found",
        "Not found. The chat is at /",
        keep_alive,
        head_only,
        &[],
    )
}

pub fn method_not_allowed() -> Vec<u8> {
    text(
        405,
        "Method Not Allowed",
        "Only GET and HEAD are served here.",
        false,
        false,
        &[("Allow", "GET, HEAD")],
    )
}

/// The answer to a request head we could not take; the connection closes after it.
pub fn for_error(error: HttpError) -> Vec<u8> {
    match error {
        HttpError::BadRequest => text(400, "Bad Request", "Bad request.", false, false, &[]),
        HttpError::BodyNotAccepted => text(
            413,
            "Content Too Large",
            "Request bodies are not accepted here.",
            false,
            false,
            &[],
        ),
        HttpError::HeadTooLarge => text(
            431,
            "Request Header Fields Too Large",
            "The request head is too large.",
            false,
            false,
            &[],
        ),
        HttpError::VersionNotSupported => text(
            505,
            "HTTP Version Not Supported",
            "Only HTTP/1.0 and HTTP/1.1 are served here.",
            false,
            false,
            &[],
        ),
    }
}

/// A plain request on a port that only speaks WebSocket.
pub fn websocket_only(page_url: Option<&str>) -> Vec<u8> {
    let body = match page_url {
        Some(url) => format!("This port is for the chat's WebSocket. The chat page is at {url}"),
        None => "This port is for the chat's WebSocket.".to_string(),
    };
    text(
        426,
        "Upgrade Required",
        &body,
        false,
        false,
        &[("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")],
    )
}

/// A WebSocket asked for by a page of another site (`http::origin`).
pub fn foreign_origin() -> Vec<u8> {
    text(
        403,
        "Forbidden",
        "This WebSocket was asked for by a web page of another site (its Origin header): only the chat's own page may connect. Behind a reverse proxy, the operator allows the page's origin with --allowed-origin.",
        false,
        false,
        &[],
    )
}

pub fn bad_websocket_request() -> Vec<u8> {
    text(
        400,
        "Bad Request",
        "A WebSocket upgrade needs Sec-WebSocket-Key and Sec-WebSocket-Version: 13.",
        false,
        false,
        &[("Sec-WebSocket-Version", "13")],
    )
}

pub fn redirect(location: &str) -> Vec<u8> {
    text(
        308,
        "Permanent Redirect",
        &format!("The chat is at {location}"),
        false,
        false,
        &[("Location", location)],
    )
}

/// The HTTPS address of `path` on the host the browser asked for (its Host header
/// without the port), or on the page's host when it named none.
pub fn https_url(host_header: Option<&str>, page_url: &str, https_port: u16, path: &str) -> String {
    let from_page = page_url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("localhost");
    let authority = host_header.unwrap_or(from_page);
    let host = match authority.rfind(']') {
        Some(end) => &authority[..=end],
        None => authority.split(':').next().unwrap_or(authority),
    };
    let path = if path.starts_with('/') { path } else { "/" };
    if https_port == 443 {
        format!("https://{host}{path}")
    } else {
        format!("https://{host}:{https_port}{path}")
    }
}

pub fn switching_protocols(accept: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_of(bytes: &[u8]) -> String {
        let text = String::from_utf8_lossy(bytes);
        text.split("\r\n\r\n").next().unwrap().to_string()
    }

    #[test]
    fn assets_carry_security_headers() {
        let page = super::super::assets::find("/").unwrap();
        let bytes = asset(page, true, true, false, Some("10.0.0.2:8443"));
        let head = head_of(&bytes);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"));
        for h in [
            "Content-Encoding: gzip",
            "Cache-Control: no-store",
            "Referrer-Policy: no-referrer",
            "X-Content-Type-Options: nosniff",
            "connect-src 'self' ws://10.0.0.2:8443 wss://10.0.0.2:8443",
            "default-src 'self'",
            &format!("Content-Length: {}", page.gzip.len()),
            "Connection: keep-alive",
        ] {
            assert!(head.contains(h), "{h} missing in {head}");
        }
        assert_eq!(bytes.len(), head.len() + 4 + page.gzip.len());
    }

    #[test]
    fn head_requests_have_no_body_but_the_length() {
        let page = super::super::assets::find("/").unwrap();
        let bytes = asset(page, false, false, true, None);
        let head = head_of(&bytes);
        assert_eq!(bytes.len(), head.len() + 4);
        assert!(head.contains(&format!("Content-Length: {}", page.plain.len())));
        assert!(!head.contains("Content-Encoding"));
    }

    #[test]
    fn redirect_targets() {
        assert_eq!(
            https_url(Some("chat.lan:8080"), "x", 8443, "/app.js"),
            "https://chat.lan:8443/app.js"
        );
        assert_eq!(https_url(Some("[::1]:80"), "x", 443, "/"), "https://[::1]/");
        assert_eq!(
            https_url(None, "https://10.0.0.2:8443/", 8443, "/"),
            "https://10.0.0.2:8443/"
        );
        assert_eq!(https_url(Some("h"), "x", 443, "*"), "https://h/");
    }

    #[test]
    fn errors_close() {
        for (e, code) in [
            (HttpError::BadRequest, "400"),
            (HttpError::BodyNotAccepted, "413"),
            (HttpError::HeadTooLarge, "431"),
            (HttpError::VersionNotSupported, "505"),
        ] {
            let head = head_of(&for_error(e));
            assert!(head.starts_with(&format!("HTTP/1.1 {code} ")));
            assert!(head.contains("Connection: close"));
        }
        assert!(head_of(&method_not_allowed()).contains("Allow: GET, HEAD"));
    }
}
