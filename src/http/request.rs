//! Parsing one HTTP request head with httparse, within the limits.

use crate::limits::Limits;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The path without its query string.
    pub path: String,
    /// What follows the `?` of the request target (up to a `#`), as sent.
    pub query: Option<String>,
    pub keep_alive: bool,
    pub accepts_gzip: bool,
    /// The `Host` header, if it is a plausible host[:port].
    pub host: Option<String>,
    /// The `Origin` header: the page a browser opens a WebSocket for.
    pub origin: Option<String>,
    pub upgrade: Option<Upgrade>,
}

/// What a WebSocket upgrade request brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    pub key: String,
    pub version_13: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// 400: not HTTP, or a broken head.
    BadRequest,
    /// 413: a body; we take none.
    BodyNotAccepted,
    /// 431: the head is larger than `max_head_bytes` or has more than `max_headers`.
    HeadTooLarge,
    /// 505: not HTTP/1.x.
    VersionNotSupported,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed.
    Partial,
    Complete {
        request: Request,
        head_len: usize,
    },
    Error(HttpError),
}

pub fn parse_head(buf: &[u8], limits: &Limits) -> Parsed {
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len > limits.max_head_bytes => {
            return Parsed::Error(HttpError::HeadTooLarge);
        }
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > limits.max_head_bytes => {
            return Parsed::Error(HttpError::HeadTooLarge);
        }
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => return Parsed::Error(HttpError::HeadTooLarge),
        Err(httparse::Error::Version) => return Parsed::Error(HttpError::VersionNotSupported),
        Err(_) => return Parsed::Error(HttpError::BadRequest),
    };
    let method = match req.method {
        Some("GET") => Method::Get,
        Some("HEAD") => Method::Head,
        _ => Method::Other,
    };
    let http11 = req.version == Some(1);
    let target = req.path.unwrap_or("/");
    let target = target.split('#').next().unwrap_or("/");
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_string(), Some(query.to_string())),
        None => (target.to_string(), None),
    };

    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
    };
    let has_token = |name: &str, token: &str| {
        req.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };

    // Two lengths, or a length beside a transfer coding, are how requests are smuggled
    // past a proxy that reads them differently (RFC 9112 §6.3): refused as malformed.
    let lengths = req
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("content-length"))
        .count();
    let chunked = header("transfer-encoding").is_some();
    if lengths > 1 || (lengths == 1 && chunked) {
        return Parsed::Error(HttpError::BadRequest);
    }
    let content_length = header("content-length").map(str::trim);
    if chunked || content_length.is_some_and(|v| v != "0") {
        return Parsed::Error(HttpError::BodyNotAccepted);
    }
    let keep_alive = if http11 {
        !has_token("connection", "close")
    } else {
        has_token("connection", "keep-alive")
    };
    let accepts_gzip = req
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("accept-encoding"))
        .filter_map(|h| std::str::from_utf8(h.value).ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            name.eq_ignore_ascii_case("gzip") && !refused
        });
    let host = header("host")
        .map(str::trim)
        .filter(|h| is_plausible_host(h))
        .map(str::to_string);
    let upgrade =
        (has_token("upgrade", "websocket") && has_token("connection", "upgrade")).then(|| {
            Upgrade {
                key: header("sec-websocket-key").unwrap_or("").trim().to_string(),
                version_13: header("sec-websocket-version").map(str::trim) == Some("13"),
            }
        });

    Parsed::Complete {
        request: Request {
            method,
            path,
            query,
            keep_alive,
            accepts_gzip,
            host,
            origin: header("origin").map(|o| o.trim().to_string()),
            upgrade,
        },
        head_len,
    }
}

/// A host name or address with an optional port; it goes into our CSP header, so
/// nothing else may pass.
fn is_plausible_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Parsed {
        parse_head(text.as_bytes(), &Limits::default())
    }

    fn complete(text: &str) -> Request {
        match parse(text) {
            Parsed::Complete { request, head_len } => {
                assert_eq!(head_len, text.find("\r\n\r\n").unwrap() + 4);
                request
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_browser_get() {
        let r = complete(
            "GET /app.js?v=1 HTTP/1.1\r\nHost: 192.168.1.5:8080\r\nAccept-Encoding: gzip, deflate, br\r\n\r\n",
        );
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.path, "/app.js");
        assert_eq!(r.query.as_deref(), Some("v=1"));
        assert!(r.keep_alive && r.accepts_gzip);
        assert_eq!(r.host.as_deref(), Some("192.168.1.5:8080"));
        assert_eq!(r.upgrade, None);
    }

    #[test]
    fn http10_and_connection_close() {
        assert!(!complete("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(complete("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(!complete("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
    }

    #[test]
    fn gzip_refused_with_q0() {
        assert!(
            !complete("GET / HTTP/1.1\r\nAccept-Encoding: gzip;q=0, identity\r\n\r\n").accepts_gzip
        );
        assert!(!complete("GET / HTTP/1.1\r\n\r\n").accepts_gzip);
    }

    #[test]
    fn websocket_upgrade() {
        let r = complete(
            "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        );
        let up = r.upgrade.unwrap();
        assert_eq!(up.key, "dGhlIHNhbXBsZSBub25jZQ==");
        assert!(up.version_13);
    }

    #[test]
    fn partial_until_the_blank_line() {
        assert_eq!(parse("GET / HTTP/1.1\r\nHost: x\r\n"), Parsed::Partial);
        assert_eq!(parse(""), Parsed::Partial);
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse("\x16\x03\x01\x02\x00\x01\x00\x01\x7c\x03\x03"),
            Parsed::Error(HttpError::BadRequest)
        );
        assert_eq!(
            parse("GET / HTTP/2.0\r\n\r\n"),
            Parsed::Error(HttpError::VersionNotSupported)
        );
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(9000));
        assert_eq!(parse(&big), Parsed::Error(HttpError::HeadTooLarge));
        let many: String = (0..40).map(|i| format!("X-{i}: y\r\n")).collect();
        assert_eq!(
            parse(&format!("GET / HTTP/1.1\r\n{many}\r\n")),
            Parsed::Error(HttpError::HeadTooLarge)
        );
        assert_eq!(
            parse("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"),
            Parsed::Error(HttpError::BodyNotAccepted)
        );
        assert_eq!(complete("POST / HTTP/1.1\r\n\r\n").method, Method::Other);
    }

    #[test]
    fn two_lengths_or_a_length_with_a_transfer_coding_are_malformed() {
        for head in [
            "GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert_eq!(
                parse(head),
                Parsed::Error(HttpError::BadRequest),
                "{head:?}"
            );
        }
        assert_eq!(
            parse("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Parsed::Error(HttpError::BodyNotAccepted)
        );
    }

    #[test]
    fn hostile_host_headers_are_dropped() {
        let r = complete("GET / HTTP/1.1\r\nHost: evil; script-src *\r\n\r\n");
        assert_eq!(r.host, None);
    }
}
