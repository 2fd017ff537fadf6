//! The `ssh` command line of the tunnel, and the addresses it forwards.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::options::TunnelOptions;

/// One `-R`: the SSH server listens on `remote:port` and sends what arrives to
/// `local:port` here (the same port number on both sides, as in dyspatcher 0.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub remote: IpAddr,
    pub local: IpAddr,
    pub port: u16,
    /// `http`, `https`, `ws` or `wss`: for the public URL.
    pub scheme: &'static str,
}

impl Forward {
    /// `-R`'s argument: `remote:port:local:port`, IPv6 addresses in brackets.
    pub fn spec(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            bracketed(self.remote),
            self.port,
            bracketed(self.local),
            self.port
        )
    }

    /// What people open from the internet, e.g. `http://11.22.33.44:8080/`.
    pub fn url(&self) -> String {
        format!(
            "{}://{}:{}/",
            self.scheme,
            bracketed(self.remote),
            self.port
        )
    }
}

fn bracketed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    }
}

/// Where ssh connects to reach the listeners bound to `listen`: that address, or the
/// loopback address when they are bound to every address.
pub fn local_target(listen: IpAddr) -> IpAddr {
    match listen {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    }
}

/// The web port and, unless `--single-port`, the WebSocket port, as bound.
pub fn forwards(
    options: &TunnelOptions,
    listen: IpAddr,
    web_port: u16,
    ws_port: Option<u16>,
    tls: bool,
) -> Vec<Forward> {
    let local = local_target(listen);
    let mut all = vec![Forward {
        remote: options.host,
        local,
        port: web_port,
        scheme: if tls { "https" } else { "http" },
    }];
    if let Some(port) = ws_port {
        all.push(Forward {
            remote: options.host,
            local,
            port,
            scheme: if tls { "wss" } else { "ws" },
        });
    }
    all
}

/// The arguments after `ssh`. Public-key authentication only, never a question on the
/// terminal, a failed forward ends ssh (so that it is restarted), keep-alives notice a
/// dead link within 45 s, no connection sharing with the user's own ssh sessions.
/// `-v` lets the supervisor see when the forwards are in place ("remote forward
/// success"); it drops the other debug lines.
pub fn ssh_args(options: &TunnelOptions, forwards: &[Forward]) -> Vec<OsString> {
    let strict = if options.strict_known_hosts.is_some() {
        "yes"
    } else {
        "accept-new"
    };
    let mut known_hosts = OsString::from("UserKnownHostsFile=\"");
    known_hosts.push(options.known_hosts());
    known_hosts.push("\"");
    let mut args: Vec<OsString> = ["-v", "-N", "-T"].iter().map(OsString::from).collect();
    for option in [
        "BatchMode=yes",
        "ExitOnForwardFailure=yes",
        "ServerAliveInterval=15",
        "ServerAliveCountMax=3",
        &format!("StrictHostKeyChecking={strict}"),
        "IdentitiesOnly=yes",
        "PasswordAuthentication=no",
        "KbdInteractiveAuthentication=no",
        "ConnectTimeout=15",
        "ControlPath=none",
    ] {
        args.push("-o".into());
        args.push(option.into());
    }
    args.push("-o".into());
    args.push(known_hosts);
    args.push("-i".into());
    args.push(options.key_file.clone().into_os_string());
    args.push("-p".into());
    args.push(options.port.to_string().into());
    for forward in forwards {
        args.push("-R".into());
        args.push(forward.spec().into());
    }
    args.push(format!("{}@{}", options.user, options.host).into());
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(host: &str) -> TunnelOptions {
        TunnelOptions {
            host: host.parse().unwrap(),
            port: 2222,
            user: "pfw".into(),
            key_file: "/keys/pfw key".into(),
            strict_known_hosts: None,
        }
    }

    fn joined(args: &[OsString]) -> String {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_whole_command_line() {
        let o = options("11.22.33.44");
        let f = forwards(&o, "0.0.0.0".parse().unwrap(), 8080, Some(8081), false);
        assert_eq!(
            joined(&ssh_args(&o, &f)),
            "-v -N -T -o BatchMode=yes -o ExitOnForwardFailure=yes -o ServerAliveInterval=15 \
             -o ServerAliveCountMax=3 -o StrictHostKeyChecking=accept-new -o IdentitiesOnly=yes \
             -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no -o ConnectTimeout=15 \
             -o ControlPath=none -o UserKnownHostsFile=\"/keys/pfw key.known_hosts\" \
             -i /keys/pfw key -p 2222 -R 11.22.33.44:8080:127.0.0.1:8080 \
             -R 11.22.33.44:8081:127.0.0.1:8081 pfw@11.22.33.44"
        );
        assert_eq!(
            f.iter().map(Forward::url).collect::<Vec<_>>(),
            ["http://11.22.33.44:8080/", "ws://11.22.33.44:8081/"]
        );
    }

    #[test]
    fn strict_host_keys() {
        let mut o = options("11.22.33.44");
        o.strict_known_hosts = Some("/etc/kh".into());
        let args = joined(&ssh_args(&o, &[]));
        assert!(args.contains("StrictHostKeyChecking=yes"), "{args}");
        assert!(args.contains("UserKnownHostsFile=\"/etc/kh\""), "{args}");
        assert!(!args.contains("-R"), "{args}");
    }

    #[test]
    fn local_addresses_and_ipv6() {
        let o = options("2001:db8::1");
        let f = forwards(&o, "::".parse().unwrap(), 443, None, true);
        assert_eq!(f.len(), 1, "--single-port: one forward");
        assert_eq!(f[0].spec(), "[2001:db8::1]:443:[::1]:443");
        assert_eq!(f[0].url(), "https://[2001:db8::1]:443/");
        let f = forwards(&o, "192.168.1.20".parse().unwrap(), 8443, Some(8444), true);
        assert_eq!(f[1].spec(), "[2001:db8::1]:8444:192.168.1.20:8444");
        assert_eq!(f[1].url(), "wss://[2001:db8::1]:8444/");
        assert!(joined(&ssh_args(&o, &f)).ends_with(" pfw@2001:db8::1"));
        assert_eq!(
            local_target("127.0.0.5".parse().unwrap()),
            "127.0.0.5".parse::<IpAddr>().unwrap()
        );
    }
}
