//! Hostile and broken clients against the real binary. After each, an honest pair still
//! joins and chats within a bound: a broken rule costs only its own connection.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Client, ClientEvent, Server, WAIT, connect_from_elsewhere, keys, pool_keys};
use tungstenite::Message;
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{Data, OpCode};

/// How fast an honest message must get through while someone misbehaves.
const HONEST_BOUND: Duration = Duration::from_secs(2);

fn server(extra: &[&str]) -> Server {
    let mut args = vec!["--admin-private-key", "tests/vectors/admin.pkcs8.pem"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// A fresh honest pair joins and exchanges a message within the bound.
fn honest_users_still_chat(server: &Server) {
    let started = Instant::now();
    let mut alice = Client::join(&server.ws_url(), "honesta", keys("alice"));
    let mut bob = Client::join(&server.ws_url(), "honestb", keys("bob"));
    alice.expect_joined("honestb");
    alice.say_to("honestb", "still fine");
    bob.expect_text("honesta", "still fine", WAIT);
    let took = started.elapsed();
    assert!(
        took < HONEST_BOUND * 3,
        "an honest join and message took {took:?}"
    );
    alice.close();
    bob.close();
}

fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: our own process's limit.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
}

#[test]
fn a_reader_that_never_reads_is_cut_and_the_others_are_not_held_up() {
    let mut server = server(&["--messages-per-second", "10000"]);
    let mut slow = Client::join(&server.ws_url(), "sloth", pool_keys(0, 1)[0].clone());
    // Make its receive window tiny, then never read again.
    slow.slow_link();
    let mut alice = Client::join(&server.ws_url(), "alice", keys("alice"));
    let mut bob = Client::join(&server.ws_url(), "bobby", keys("bob"));
    // Large messages, so that the kernel's socket buffers (megabytes on loopback) fill
    // in a few hundred of them.
    let text = "x".repeat(30_000);
    let frame = alice.session.message_to_all(&text).unwrap().frame;
    let mut worst = Duration::ZERO;
    let mut cut_after = None;
    for i in 0..1500 {
        let sent = Instant::now();
        alice.send(&frame);
        bob.expect_text("alice", &text, WAIT);
        worst = worst.max(sent.elapsed());
        // Messages to everybody come back to their sender too: alice reads hers.
        alice.expect_text("alice", &text, WAIT);
        if cut_after.is_none()
            && server.output_shows("sloth left (cut off: not reading", Duration::ZERO)
        {
            cut_after = Some(i);
        }
        if cut_after.is_some_and(|cut| i > cut + 20) {
            break;
        }
    }
    let cut_after =
        cut_after.unwrap_or_else(|| server.fail("the reader that never reads was not cut"));
    assert!(
        bob.history()
            .iter()
            .any(|e| matches!(e, ClientEvent::Left { name } if name == "sloth")),
        "the others are told the slow reader left"
    );
    assert!(
        worst < HONEST_BOUND,
        "an honest reader waited {worst:?} (cut after {cut_after} messages)"
    );
    drop(slow);
    honest_users_still_chat(&server);
}

#[test]
fn users_leaving_during_a_broadcast_do_not_stop_it() {
    let server = server(&["--messages-per-second", "10000"]);
    let keys_pool = pool_keys(1, 16);
    let mut users: Vec<Client> = keys_pool
        .iter()
        .enumerate()
        .map(|(i, k)| Client::join(&server.ws_url(), &format!("user{i:02}"), k.clone()))
        .collect();
    let mut alice = Client::join(&server.ws_url(), "alice", keys("alice"));
    let frames: Vec<String> = (0..40)
        .map(|i| {
            alice
                .session
                .message_to_all(&format!("broadcast {i}"))
                .unwrap()
                .frame
        })
        .collect();
    for (i, frame) in frames.iter().enumerate() {
        alice.send(frame);
        if i % 5 == 0 && users.len() > 8 {
            // Half of them vanish mid-broadcast, without a close handshake.
            let gone = users.remove(0);
            drop(gone);
        }
    }
    for user in &mut users {
        for i in 0..40 {
            user.expect_text("alice", &format!("broadcast {i}"), WAIT);
        }
    }
    assert_eq!(users.len(), 8);
    honest_users_still_chat(&server);
}

/// A joined client's raw frame, sent as is (masked by tungstenite).
fn send_frame(
    client: &mut Client,
    opcode: OpCode,
    payload: &[u8],
    fin: bool,
) -> Result<(), tungstenite::Error> {
    let mut frame = Frame::message(payload.to_vec(), opcode, fin);
    frame.header_mut().is_final = fin;
    client.try_send(Message::Frame(frame))
}

#[test]
fn broken_websocket_frames_cost_only_their_connection() {
    let server = server(&[]);
    let mut watcher = Client::join(&server.ws_url(), "watcher", keys("bob"));

    let mut bad_utf8 = Client::join(&server.ws_url(), "badutf", pool_keys(0, 1)[0].clone());
    send_frame(
        &mut bad_utf8,
        OpCode::Data(Data::Text),
        b"{\"cmd\":\"\xff\xfe\"}",
        true,
    )
    .unwrap();
    assert_eq!(bad_utf8.wait_closed(WAIT).map(|c| c.code), Some(1007));

    let mut binary = Client::join(&server.ws_url(), "binary", pool_keys(0, 1)[0].clone());
    send_frame(&mut binary, OpCode::Data(Data::Binary), b"\x00\x01", true).unwrap();
    assert_eq!(binary.wait_closed(WAIT).map(|c| c.code), Some(1003));

    // A fragmented join (text frame + continuation) is legitimate WebSocket.
    let mut fragmented =
        Client::connect_as(&server.ws_url(), "fragment", pool_keys(0, 1)[0].clone());
    let join = fragmented.session.join_frame();
    let (head, tail) = join.split_at(join.len() / 2);
    send_frame(
        &mut fragmented,
        OpCode::Data(Data::Text),
        head.as_bytes(),
        false,
    )
    .unwrap();
    send_frame(
        &mut fragmented,
        OpCode::Data(Data::Continue),
        tail.as_bytes(),
        true,
    )
    .unwrap();
    fragmented.expect(
        |e| matches!(e, ClientEvent::Config { name, .. } if name == "fragment"),
        WAIT,
    );

    // A truncated frame: the header promises 100 bytes, 10 come, then the socket closes.
    let mut truncated = Client::connect_as(&server.ws_url(), "trunc", keys("alice"));
    let raw = truncated.socket().get_mut();
    raw.write_all(&[0x81, 0x80 | 100, 1, 2, 3, 4]).unwrap();
    raw.write_all(&[b'x'; 10]).unwrap();
    raw.shutdown(std::net::Shutdown::Write).unwrap();

    // A 1 MiB frame.
    let mut big = Client::join(&server.ws_url(), "bigone", keys("alice"));
    let _ = send_frame(
        &mut big,
        OpCode::Data(Data::Text),
        &vec![b'a'; 1 << 20],
        true,
    );
    assert_eq!(big.wait_closed(WAIT).map(|c| c.code), Some(1009));

    // A ping storm.
    let mut pinger = Client::join(&server.ws_url(), "pinger", pool_keys(0, 1)[0].clone());
    for _ in 0..5000 {
        if pinger
            .try_send(Message::Ping(vec![7u8; 16].into()))
            .is_err()
        {
            break;
        }
    }

    watcher.expect_none(
        |e| matches!(e, ClientEvent::Message { .. }),
        Duration::from_millis(200),
    );
    honest_users_still_chat(&server);
}

#[test]
fn frames_before_the_join_and_junk_json() {
    let server = server(&[]);
    let mut early = Client::connect_as(&server.ws_url(), "early", keys("alice"));
    early.send(r#"{"cmd":"message","user":"early","data":{"algo":"aes","iv":"AA==","ciphertext":"AA==","signature":"AA=="}}"#);
    let closed = early.wait_closed(WAIT).expect("closed");
    assert_eq!((closed.code, closed.reason.as_str()), (1008, "join first"));

    let mut junk = Client::join(&server.ws_url(), "junky", keys("alice"));
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    let nested_object = "{\"a\":".repeat(5000) + "1" + &"}".repeat(5000);
    for frame in [
        "{}",
        "[]",
        "[1,2,3]",
        "null",
        "\"text\"",
        r#"{"cmd":"message"}"#,
        r#"{"data":{}}"#,
        r#"{"cmd":"message","data":[]}"#,
        r#"{"cmd":"message","data":{"algo":"rsa"}}"#,
        r#"{"cmd":"signal","data":{"code":"chat-join"}}"#,
        "not json at all",
        deep.as_str(),
        nested_object.as_str(),
    ] {
        junk.send(frame);
    }
    // Still connected and still able to chat.
    let mut bob = Client::join(&server.ws_url(), "bobby", keys("bob"));
    junk.expect_joined("bobby");
    junk.say_to("bobby", "after the junk");
    bob.expect_text("junky", "after the junk", WAIT);
    assert!(!junk.is_closed());
}

#[test]
fn two_thousand_idle_connections_and_a_huge_request_head() {
    raise_fd_limit();
    let mut server = server(&[
        "--max-per-address",
        "5000",
        "--connections-per-second",
        "100000",
    ]);
    let port = server.port;
    let mut idle = Vec::new();
    for i in 0..2000 {
        let conn = connect_from_elsewhere(port).unwrap_or_else(|e| panic!("connection {i}: {e}"));
        if i % 2 == 0 {
            // Half of them start a request head and never finish it.
            let _ = (&conn).write_all(b"GET / HTTP/1.1\r\nHost: x\r\n");
        }
        idle.push(conn);
    }
    honest_users_still_chat(&server);

    // A 1 MB request head: refused with 431 as soon as it passes the limit.
    let mut huge = TcpStream::connect(("127.0.0.1", port)).unwrap();
    huge.set_read_timeout(Some(WAIT)).unwrap();
    let mut head = b"GET / HTTP/1.1\r\nX-Padding: ".to_vec();
    head.extend(std::iter::repeat_n(b'a', 1_000_000));
    let _ = huge.write_all(&head);
    let mut answer = Vec::new();
    let _ = huge.read_to_end(&mut answer);
    assert!(
        answer.starts_with(b"HTTP/1.1 431 "),
        "{:?}",
        String::from_utf8_lossy(&answer[..answer.len().min(80)])
    );

    // The idle ones are dropped after the head deadline (10 s); the server lives on.
    let mut closed = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    for conn in &idle {
        conn.set_read_timeout(Some(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ))
        .unwrap();
        let mut buf = [0u8; 64];
        if (&*conn).read(&mut buf).is_ok() {
            closed += 1;
        }
    }
    assert_eq!(
        closed, 2000,
        "every idle connection is closed by the server in time"
    );
    drop(idle);
    honest_users_still_chat(&server);
    server.console("/users");
    server.wait_for_output("0 connected", WAIT);
}

#[test]
fn the_per_address_limit_refuses_the_surplus_not_the_rest() {
    let server = server(&["--max-per-address", "10"]);
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(connect_from_elsewhere(server.port).unwrap());
    }
    let mut surplus = connect_from_elsewhere(server.port).unwrap();
    surplus.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(surplus.read(&mut buf).unwrap_or(0), 0, "closed at once");
    honest_users_still_chat(&server); // from 127.0.0.1: this machine, exempt
}

#[test]
fn new_connections_from_one_address_are_rate_limited() {
    let server = server(&["--connections-per-second", "4"]);
    // Burst: 10 (2.5 × the rate); the rest of a quick series is closed at once.
    let conns: Vec<TcpStream> = (0..30)
        .map(|_| connect_from_elsewhere(server.port).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut refused = 0;
    for mut conn in &conns {
        conn.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 1];
        match conn.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {} // held open
            _ => refused += 1,                                         // closed, or reset
        }
    }
    assert!((18..=21).contains(&refused), "{refused} of 30 refused");
    honest_users_still_chat(&server); // this machine: ten times the rate
}

#[test]
fn a_flood_of_one_to_one_frames_is_throttled_and_costs_only_the_flooder() {
    let server = server(&[]);
    let mut victim = Client::join(&server.ws_url(), "victim", keys("bob"));
    let mut flooder = Client::join(&server.ws_url(), "flooder", pool_keys(0, 1)[0].clone());
    let routed = flooder.session.message_to("victim", "spam").unwrap().frame;
    // 0.9-style frames of the administrator's key size, each a decryption attempt.
    let legacy = flooder
        .session
        .legacy_message_to("ADMIN", "spam admin")
        .unwrap();
    let mut alice = Client::join(&server.ws_url(), "alice", keys("alice"));
    let mut carol = Client::join(&server.ws_url(), "carol", pool_keys(1, 1)[0].clone());
    alice.expect_joined("carol");

    // A send that would block gives up at once, so the honest messages go on.
    flooder
        .socket()
        .get_mut()
        .set_write_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let started = Instant::now();
    let mut sent = 0;
    let mut next_honest = started;
    let mut honest = 0;
    let mut flooding = true;
    while started.elapsed() < Duration::from_secs(3) {
        let frame = if sent % 2 == 0 { &routed } else { &legacy };
        if flooding && flooder.try_send(Message::text(frame.as_str())).is_ok() {
            sent += 1;
        } else {
            // Its socket is full: the server reads it at the budget's pace only.
            flooding = false;
            std::thread::sleep(Duration::from_millis(10));
        }
        if Instant::now() >= next_honest {
            // An honest message every 300 ms, well within an honest rate.
            next_honest += Duration::from_millis(300);
            honest += 1;
            let t = Instant::now();
            alice.say_to("carol", &format!("honest {honest}"));
            carol.expect_text("alice", &format!("honest {honest}"), WAIT);
            assert!(
                t.elapsed() < HONEST_BOUND,
                "honest latency {:?} during the flood",
                t.elapsed()
            );
        }
    }
    assert!(honest >= 9, "{honest} honest messages in 3 s");
    // Over its budget the flooder is read no faster than the budget (issue 12: slowed
    // down, not cut): what it wrote waits in its own socket. The victim got the burst
    // and then the budget's pace, never the flood.
    assert!(!flooder.is_closed(), "the flooder is slowed down, not cut");
    let got = victim
        .expect_none(|_| false, Duration::from_millis(500))
        .iter()
        .filter(|e| matches!(e, ClientEvent::Message { .. }))
        .count();
    let pace = 20 + 5 * (started.elapsed().as_secs() as usize + 1);
    assert!(got <= pace, "the victim received {got} of {sent} frames");
    honest_users_still_chat(&server);
}

#[test]
fn a_silent_peer_is_pinged_then_dropped_and_a_live_one_stays() {
    let mut server = server(&["--idle-timeout", "1"]);
    let mut live = Client::join(&server.ws_url(), "alive", keys("alice"));
    let dead = Client::join(&server.ws_url(), "deadish", keys("bob"));
    // `live` keeps reading (its WebSocket answers pings); `dead` never reads again.
    let started = Instant::now();
    let left = live.expect(
        |e| matches!(e, ClientEvent::Left { name } if name == "deadish"),
        WAIT,
    );
    assert!(matches!(left, ClientEvent::Left { .. }));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(6),
        "dropped after {took:?}"
    );
    server.wait_for_output("deadish left (no answer to ping)", WAIT);
    // Past several more idle periods, the live one is still there.
    live.expect_none(
        |e| matches!(e, ClientEvent::Left { .. }),
        Duration::from_secs(3),
    );
    assert!(!live.is_closed());
    drop(dead);
    honest_users_still_chat(&server);
}

#[test]
fn the_connection_limit_refuses_the_surplus() {
    let server = server(&["--max-connections", "3"]);
    let _a = Client::join(&server.ws_url(), "first", keys("alice"));
    let _b = Client::join(&server.ws_url(), "second", keys("bob"));
    let _c = Client::join(&server.ws_url(), "third", pool_keys(0, 1)[0].clone());
    assert!(
        Client::try_open(&server.ws_url()).is_err(),
        "a fourth connection is refused"
    );
    drop(_c);
    // Room again once one leaves.
    let deadline = Instant::now() + WAIT;
    while Client::try_open(&server.ws_url()).is_err() {
        assert!(Instant::now() < deadline, "no room after a departure");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_peer_that_keeps_writing_after_its_close_is_dropped() {
    let server = server(&[]);
    let mut chatty = Client::join(&server.ws_url(), "chatty", keys("alice"));
    send_frame(&mut chatty, OpCode::Data(Data::Binary), b"\x00", true).unwrap();
    // Closed by the server (1003); it goes on writing raw bytes regardless.
    let raw = chatty.socket().get_mut();
    raw.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let chunk = vec![0x55u8; 64 * 1024];
    let started = Instant::now();
    let mut written = 0usize;
    let refused = loop {
        match raw.write(&chunk) {
            Ok(n) => written += n,
            Err(_) => break true,
        }
        if written > 64 << 20 || started.elapsed() > Duration::from_secs(10) {
            break false;
        }
    };
    assert!(
        refused,
        "the server kept reading: {written} bytes in {:?}",
        started.elapsed()
    );
    assert!(written < 16 << 20, "dropped after {written} bytes");
    honest_users_still_chat(&server);
}
