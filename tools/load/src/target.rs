//! Where to connect: a `ws://`, `wss://`, `http://` or `https://` URL on this machine.

use std::net::{SocketAddr, ToSocketAddrs};

#[derive(Debug, Clone)]
pub struct Target {
    /// The URL as given (tungstenite builds the upgrade request from it).
    pub url: String,
    pub addr: SocketAddr,
    /// `host` or `host:port`, as in the URL: the `Host` header and the TLS server name.
    pub host: String,
    pub path: String,
    /// `wss://` or `https://`.
    pub secure: bool,
}

impl Target {
    /// `schemes`: the plain one and the TLS one, e.g. `("ws", "wss")`.
    pub fn parse(url: &str, (plain, tls): (&str, &str)) -> Result<Self, String> {
        let (scheme, rest) = url
            .split_once("://")
            .filter(|(s, _)| *s == plain || *s == tls)
            .ok_or_else(|| format!("{url}: expected {plain}:// or {tls}://host:port/path"))?;
        let secure = scheme == tls;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let with_port = if host
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            host.to_string()
        } else {
            format!("{host}:{}", if secure { 443 } else { 80 })
        };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|e| format!("{url}: {e}"))?
            .next()
            .ok_or_else(|| format!("{url}: no address"))?;
        if !addr.ip().is_loopback() {
            return Err(format!(
                "{url}: a load test targets this machine only (a loopback address)"
            ));
        }
        Ok(Self {
            url: url.to_string(),
            addr,
            host: host.to_string(),
            path: path.to_string(),
            secure,
        })
    }

    /// The host without its port: what the certificate is asked for.
    pub fn server_name(&self) -> &str {
        let host = match self.host.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => h,
            _ => &self.host,
        };
        host.trim_start_matches('[').trim_end_matches(']')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_ports_and_names() {
        let t = Target::parse("wss://127.0.0.1:8443/ws", ("ws", "wss")).unwrap();
        assert!(t.secure);
        assert_eq!((t.addr.port(), t.path.as_str()), (8443, "/ws"));
        assert_eq!(t.server_name(), "127.0.0.1");
        let t = Target::parse("http://localhost", ("http", "https")).unwrap();
        assert!(!t.secure);
        assert_eq!((t.addr.port(), t.path.as_str()), (80, "/"));
        assert_eq!(t.server_name(), "localhost");
        assert!(Target::parse("https://127.0.0.1/", ("ws", "wss")).is_err());
        assert!(
            Target::parse("ws://192.0.2.1:80/", ("ws", "wss"))
                .unwrap_err()
                .contains("loopback")
        );
    }
}
