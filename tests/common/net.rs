//! Sockets the standard library cannot make: a connection from another loopback address.

use std::net::TcpStream;

/// A connection from 127.0.0.2: a remote peer as far as the server's per-address
/// limit is concerned.
pub fn connect_from_elsewhere(port: u16) -> std::io::Result<TcpStream> {
    // SAFETY: a socket bound and connected with plain system calls; ownership then
    // passes to the TcpStream.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        let mut local: libc::sockaddr_in = std::mem::zeroed();
        local.sin_family = libc::AF_INET as libc::sa_family_t;
        local.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 2]);
        let size = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        if libc::bind(fd, (&raw const local).cast(), size) != 0 {
            libc::close(fd);
            return Err(std::io::Error::last_os_error());
        }
        let mut remote = local;
        remote.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        remote.sin_port = port.to_be();
        if libc::connect(fd, (&raw const remote).cast(), size) != 0 {
            let err = std::io::Error::last_os_error();
            libc::close(fd);
            return Err(err);
        }
        Ok(<TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd))
    }
}
