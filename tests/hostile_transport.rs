//! Issue 12, the transport's holes against the real binary: pipelined HTTP that is
//! never read (hole 1), WebSockets opened by other sites' pages (hole 3), the SSH
//! tunnel's connections (hole 9), and a sender over its budget slowed down, not dropped.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Client, ClientEvent, Server, WAIT, connect_from_elsewhere, keys, pool_keys};
use tungstenite::client::IntoClientRequest;

fn server(extra: &[&str]) -> Server {
    let mut args = vec!["--admin-private-key", "tests/vectors/admin.pkcs8.pem"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// The server's resident memory, in KiB (/proc/PID/status VmRSS).
fn rss_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

/// A fresh honest pair joins and exchanges a message promptly.
fn honest_users_still_chat(server: &Server) {
    let started = Instant::now();
    let (status, _, body) = server.http_get("/app.js");
    assert_eq!(status, 200);
    assert!(!body.is_empty());
    let mut alice = Client::join(&server.ws_url(), "honesta", keys("alice"));
    let mut bob = Client::join(&server.ws_url(), "honestb", keys("bob"));
    alice.expect_joined("honestb");
    alice.say_to("honestb", "still fine");
    bob.expect_text("honesta", "still fine", WAIT);
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn pipelined_requests_never_read_cost_bounded_memory_and_are_cut() {
    let server = server(&[]);
    let before = rss_kib(&server);
    let mut flood = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    flood.set_nonblocking(true).unwrap();
    let request = b"GET /app.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".repeat(4);
    let started = Instant::now();
    let mut sent = 0usize;
    let mut peak = before;
    let mut cut = None;
    // Write requests for 4 s, a few at a time (so the server reads each batch as it
    // comes), never reading a byte of the answers.
    let mut writes = 0u32;
    while started.elapsed() < Duration::from_secs(4) {
        match flood.write(&request) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => {
                cut = Some(started.elapsed());
                break;
            }
        }
        std::thread::sleep(Duration::from_micros(500));
        writes += 1;
        if writes.is_multiple_of(64) {
            peak = peak.max(rss_kib(&server));
        }
    }
    peak = peak.max(rss_kib(&server));
    let requests = sent / (request.len() / 4);
    let grew = peak.saturating_sub(before);
    eprintln!("{requests} requests pipelined, RSS grew by {grew} KiB, cut: {cut:?}");
    assert!(
        grew < 10 * 1024,
        "RSS grew by {grew} KiB for {requests} pipelined requests"
    );
    // Never read: cut within the head deadline (10 s) of the last answer it took.
    if cut.is_none() {
        flood.set_nonblocking(false).unwrap();
        flood
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        std::thread::sleep(Duration::from_secs(11));
        let mut sink = vec![0u8; 1 << 16];
        loop {
            match flood.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the connection was not cut"
            );
        }
        cut = Some(started.elapsed());
    }
    let cut = cut.unwrap();
    assert!(cut < Duration::from_secs(30), "cut after {cut:?}");
    honest_users_still_chat(&server);
}

/// An upgrade request to `url` with this `Origin`: the status of the answer, and
/// its body when refused.
fn upgrade_with_origin(url: &str, origin: Option<&str>) -> (u16, String) {
    let mut request = url.into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
    }
    match tungstenite::connect(request) {
        Ok((mut ws, response)) => {
            let _ = ws.close(None);
            (response.status().as_u16(), String::new())
        }
        Err(tungstenite::Error::Http(response)) => (
            response.status().as_u16(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into(),
        ),
        Err(e) => panic!("{url}: {e}"),
    }
}

#[test]
fn websockets_from_other_sites_pages_are_refused_on_both_ports() {
    let server = server(&[]);
    let own = format!("http://127.0.0.1:{}", server.port);
    for url in [server.ws_url(), server.ws_web_url()] {
        let (status, body) = upgrade_with_origin(&url, Some("http://evil.example"));
        assert_eq!(status, 403, "{url}");
        assert!(body.contains("another site"), "{body}");
        assert!(body.contains("--allowed-origin"), "{body}");
        let (status, _) = upgrade_with_origin(&url, Some("null"));
        assert_eq!(status, 403, "{url}: a sandboxed page");
        let (status, _) = upgrade_with_origin(&url, Some("https://127.0.0.1"));
        assert_eq!(status, 403, "{url}: another scheme");
        // The page's own origin (the web port, also for the 0.9 port), none at all,
        // and the listed one.
        assert_eq!(upgrade_with_origin(&url, Some(&own)).0, 101, "{url}");
        assert_eq!(upgrade_with_origin(&url, None).0, 101, "{url}");
    }
    honest_users_still_chat(&server);
}

#[test]
fn an_operator_allows_a_reverse_proxys_origin() {
    let server = server(&["--allowed-origin", "https://chat.example.org"]);
    for url in [server.ws_url(), server.ws_web_url()] {
        assert_eq!(
            upgrade_with_origin(&url, Some("https://chat.example.org")).0,
            101,
            "{url}"
        );
        assert_eq!(
            upgrade_with_origin(&url, Some("https://other.example.org")).0,
            403,
            "{url}"
        );
    }
}

/// `ssh-keygen -t ed25519` without a passphrase, for a tunnel that never comes up.
fn tunnel_key(dir: &Path) -> String {
    let key = dir.join("tunnel.key");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen (apt-get install openssh-client)");
    assert!(status.success());
    key.to_str().unwrap().to_owned()
}

/// Whether the server keeps a connection (it answers a request) or drops it at once.
fn kept(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    if stream
        .write_all(b"GET /nope HTTP/1.1\r\nHost: h\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut got = [0u8; 12];
    stream.read_exact(&mut got).is_ok() && got.starts_with(b"HTTP/1.1 404")
}

#[test]
fn the_tunnels_connections_have_their_own_pool() {
    let dir = std::env::temp_dir().join(format!("dyspatcher-pool-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key = tunnel_key(&dir);
    // The tunnel never comes up (nothing listens there); its pool is in force all the
    // same, for every connection from this machine.
    let server = server(&[
        "--sshpfw-ip-address",
        "127.0.0.9",
        "--sshpfw-port",
        "9",
        "--sshpfw-user",
        "nobody",
        "--sshpfw-keyfile",
        &key,
        // The pool's default: a quarter of the connections, 3 here.
        "--max-connections",
        "12",
    ]);
    let mut pool: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut surplus = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    assert!(
        !kept(&mut surplus),
        "a fourth tunnelled connection is refused"
    );
    for stream in &mut pool {
        assert!(kept(stream), "the pool's three are served");
    }
    // Someone on the local network is not held up by the full pool.
    let mut local = connect_from_elsewhere(server.port).expect("127.0.0.2");
    assert!(kept(&mut local));
    drop(pool);
    std::thread::sleep(Duration::from_millis(300));
    let mut again = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    assert!(kept(&mut again), "room again once they left");
}

#[test]
fn a_flood_of_messages_to_everybody_is_slowed_down_never_dropped() {
    let server = server(&[]);
    let mut flooder = Client::join(&server.ws_url(), "flooder", pool_keys(0, 1)[0].clone());
    let mut bob = Client::join(&server.ws_url(), "bobby", keys("bob"));
    let mut alice = Client::join(&server.ws_url(), "alice", keys("alice"));
    let mut carol = Client::join(&server.ws_url(), "carol", pool_keys(1, 1)[0].clone());
    alice.expect_joined("carol");
    bob.expect_joined("carol");

    // 100 messages at once: the budget is 5 a second after a burst of 20.
    let started = Instant::now();
    for i in 0..100 {
        flooder.say_all(&format!("flood {i}"));
    }
    let mut got: Vec<(String, Duration)> = Vec::new();
    let mut honest = 0;
    let mut next_honest = Instant::now();
    while got.len() < 100 && started.elapsed() < Duration::from_secs(40) {
        if Instant::now() >= next_honest {
            // An honest message to everybody every second, timed at its recipient.
            next_honest += Duration::from_secs(1);
            honest += 1;
            let text = format!("honest {honest}");
            let t = Instant::now();
            alice.say_all(&text);
            carol.expect_text("alice", &text, WAIT);
            assert!(
                t.elapsed() < Duration::from_secs(1),
                "honest @all took {:?} during the flood",
                t.elapsed()
            );
        }
        while let Some(event) = bob.recv_event(Duration::from_millis(50)) {
            if let ClientEvent::Message { from, text, .. } = event
                && from == "flooder"
            {
                got.push((text, started.elapsed()));
            }
        }
    }
    let texts: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    let expected: Vec<String> = (0..100).map(|i| format!("flood {i}")).collect();
    assert_eq!(texts, expected, "every one, in order");
    let last = got.last().unwrap().1;
    // (100 - 20) / 5 = 16 s at the budget's pace.
    assert!(
        last >= Duration::from_secs(14) && last < Duration::from_secs(22),
        "the last arrived after {last:?}"
    );
    eprintln!("the 100th message to everybody arrived after {last:?}");
    // Nothing refused, nothing told, not disconnected.
    flooder.expect_none(
        |e| matches!(e, ClientEvent::Undelivered { .. } | ClientEvent::Notice(_)),
        Duration::from_millis(500),
    );
    assert!(!flooder.is_closed(), "the flooder stays connected");
    flooder.say_all("after the flood");
    bob.expect_text("flooder", "after the flood", WAIT);
}
