//! The listening ports: the open-file limit they need, binding them (a port that cannot
//! be bound is a runtime error), and the URLs people open to reach them.

use std::net::SocketAddr;

use mio::net::TcpListener;

use super::StartupError::{self, Runtime};
use crate::cli::Options;
use crate::limits::Limits;
use crate::server::listeners;

/// The listening sockets, bound before anything else happens.
pub(super) struct Bound {
    pub web: TcpListener,
    pub websocket: Option<TcpListener>,
    pub redirect: Option<TcpListener>,
    pub web_addr: SocketAddr,
    pub ws_addr: Option<SocketAddr>,
    pub redirect_addr: Option<SocketAddr>,
}

impl Bound {
    pub fn bind(options: &Options, tls: bool) -> Result<Self, StartupError> {
        let bind = |port: u16, what: &str| -> Result<(TcpListener, SocketAddr), StartupError> {
            let listener =
                listeners::bind(SocketAddr::new(options.ip, port), what).map_err(Runtime)?;
            let addr = listener.local_addr().map_err(|e| Runtime(e.to_string()))?;
            Ok((listener, addr))
        };
        let (web, web_addr) = bind(
            options.port.unwrap_or(if tls { 443 } else { 80 }),
            "web port, -p",
        )?;
        let (websocket, ws_addr) = match options.wsport {
            Some(port) => bind(port, "WebSocket port, -w").map(|(l, a)| (Some(l), Some(a)))?,
            None => (None, None),
        };
        let (redirect, redirect_addr) = match options.redirect_http {
            Some(port) => bind(port, "HTTP redirect port, --redirect-http")
                .map(|(l, a)| (Some(l), Some(a)))?,
            None => (None, None),
        };
        Ok(Self {
            web,
            websocket,
            redirect,
            web_addr,
            ws_addr,
            redirect_addr,
        })
    }

    pub fn page_url(&self, tls: bool) -> String {
        let scheme = if tls { "https" } else { "http" };
        format!("{scheme}://{}/", url_host(self.web_addr))
    }

    /// The 0.9 clients' WebSocket port, if there is one.
    pub fn websocket_url(&self, tls: bool) -> Option<String> {
        let scheme = if tls { "wss" } else { "ws" };
        self.ws_addr
            .map(|addr| format!("{scheme}://{}/", url_host(addr)))
    }

    pub fn redirect_url(&self) -> Option<String> {
        self.redirect_addr
            .map(|addr| format!("http://{}/", url_host(addr)))
    }
}

/// Every connection is a file descriptor: the soft limit (often 1024) is raised as far
/// as the hard limit allows, up to what `--max-connections` needs; if that is not
/// enough, the connection limit comes down to fit, and the returned note says so.
pub(super) fn raise_open_file_limit(limits: &mut Limits) -> Option<String> {
    const RESERVE: usize = 64;
    let wanted = (limits.max_connections + RESERVE) as libc::rlim_t;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: get/setrlimit on our own process with a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < wanted {
            limit.rlim_cur = wanted.min(limit.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
    let fits = (limit.rlim_cur as usize).saturating_sub(RESERVE).max(1);
    (fits < limits.max_connections).then(|| {
        limits.max_connections = fits;
        format!(
            "The open-file limit ({}) allows {fits} connections: raise it (ulimit -n) for more",
            limit.rlim_cur
        )
    })
}

/// `host:port` for a URL: IPv6 addresses in brackets.
fn url_host(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_hosts_are_bracketed_in_urls() {
        assert_eq!(
            url_host("127.0.0.1:8080".parse().unwrap()),
            "127.0.0.1:8080"
        );
        assert_eq!(url_host("[::1]:8443".parse().unwrap()), "[::1]:8443");
    }
}
