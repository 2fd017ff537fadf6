//! Which web pages may open a WebSocket to the chat. A browser names the page that
//! opens a socket in `Origin`; without a check, any site a member visits could join the
//! chat through that member's browser and read every @all. Accepted: no `Origin` at all
//! (not a browser: 0.9 clients, scripts), the chat's own page — the scheme the server
//! speaks, the host the request was sent to, on the port it came to or on the web port
//! (the page on the web port uses the separate WebSocket port) — and the origins the
//! operator lists (`--allowed-origin`, for a reverse proxy that changes the host).

use super::Site;

/// Whether an upgrade request with this `Origin` and `Host` may become a WebSocket.
pub fn allowed(origin: Option<&str>, host: Option<&str>, site: &Site) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    let origin = origin.trim().trim_end_matches('/');
    if site
        .allowed_origins
        .iter()
        .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let scheme = if site.https_port.is_some() {
        "https"
    } else {
        "http"
    };
    let Some((origin_scheme, origin_host)) = origin.split_once("://") else {
        return false; // "null" (a sandboxed page, a file) or garbage
    };
    if !origin_scheme.eq_ignore_ascii_case(scheme) {
        return false;
    }
    let default_port = if scheme == "https" { 443 } else { 80 };
    let (Some(from), Some(to)) = (
        split_host(origin_host, default_port),
        host.and_then(|h| split_host(h, default_port)),
    ) else {
        return false;
    };
    from.0.eq_ignore_ascii_case(to.0) && (from.1 == to.1 || from.1 == site.web_port)
}

/// `host[:port]` (or `[v6][:port]`) as the name and the port, the scheme's default if
/// none is given.
fn split_host(text: &str, default_port: u16) -> Option<(&str, u16)> {
    let (name, port) = if let Some(rest) = text.strip_prefix('[') {
        let (name, after) = rest.split_once(']')?;
        (name, after.strip_prefix(':'))
    } else {
        match text.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (text, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default_port,
    };
    (!name.is_empty()).then_some((name, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(tls: bool, allowed: &[&str]) -> Site {
        Site {
            page_url: "http://chat.lan:8080/".into(),
            https_port: tls.then_some(8080),
            web_port: 8080,
            allowed_origins: allowed.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_pages_own_origin_and_no_origin_pass() {
        let s = site(false, &[]);
        assert!(allowed(None, Some("chat.lan:8080"), &s));
        assert!(allowed(
            Some("http://chat.lan:8080"),
            Some("chat.lan:8080"),
            &s
        ));
        assert!(allowed(
            Some("http://CHAT.lan:8080"),
            Some("chat.lan:8080"),
            &s
        ));
        // The page on the web port, its socket on the 0.9 port.
        assert!(allowed(
            Some("http://chat.lan:8080"),
            Some("chat.lan:8081"),
            &s
        ));
        assert!(allowed(Some("http://[::1]:8080"), Some("[::1]:8080"), &s));
        let s = site(true, &[]);
        assert!(allowed(Some("https://chat.lan"), Some("chat.lan:443"), &s));
        assert!(allowed(
            Some("https://chat.lan:8080"),
            Some("chat.lan:8080"),
            &s
        ));
    }

    #[test]
    fn other_pages_are_refused_unless_listed() {
        let s = site(false, &[]);
        assert!(!allowed(
            Some("http://evil.example"),
            Some("chat.lan:8080"),
            &s
        ));
        assert!(!allowed(
            Some("http://chat.lan:9999"),
            Some("chat.lan:8081"),
            &s
        ));
        assert!(!allowed(
            Some("https://chat.lan:8080"),
            Some("chat.lan:8080"),
            &s
        ));
        assert!(!allowed(Some("null"), Some("chat.lan:8080"), &s));
        assert!(!allowed(Some("http://chat.lan:8080"), None, &s));
        let s = site(false, &["https://chat.example.org/"]);
        assert!(allowed(
            Some("https://chat.example.org"),
            Some("127.0.0.1:8080"),
            &s
        ));
        assert!(!allowed(
            Some("https://other.example.org"),
            Some("127.0.0.1:8080"),
            &s
        ));
    }
}
