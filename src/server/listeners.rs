//! Binding the listening ports, with an error message that names the port and the fix.

use std::io;
use std::net::SocketAddr;

use mio::net::TcpListener;

pub fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener, String> {
    TcpListener::bind(addr).map_err(|err| explain(addr, what, &err))
}

fn explain(addr: SocketAddr, what: &str, err: &io::Error) -> String {
    let port = addr.port();
    match err.kind() {
        io::ErrorKind::AddrInUse => format!(
            "cannot listen on {addr} ({what}): port {port} is already in use by another program. Choose free ports, e.g. -p 8080 -w 8081"
        ),
        io::ErrorKind::PermissionDenied => format!(
            "cannot listen on {addr} ({what}): ports below 1024 need root. Use ports from 1024 up, e.g. -p 8080 -w 8081 (or run as root)"
        ),
        io::ErrorKind::AddrNotAvailable => format!(
            "cannot listen on {addr} ({what}): {} is not an address of this machine. Check `ip addr`, or use -i 0.0.0.0 for all addresses",
            addr.ip()
        ),
        _ => format!("cannot listen on {addr} ({what}): {err}"),
    }
}
