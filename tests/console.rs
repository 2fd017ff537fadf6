//! The administrator's console against the real binary: `/kick` and `/ban` keeping keys
//! out (the console through a pipe, as the other tests drive it).

mod common;

use std::time::{Duration, Instant};

use common::*;

/// Joins as bobby and expects the refusal: a notice containing `says`, then the close.
fn refused(url: &str, says: &str) {
    let mut bobby = Client::connect_as(url, "bobby", keys("bob"));
    bobby.send_join();
    let notice = bobby.expect(|e| matches!(e, ClientEvent::Notice(_)), WAIT);
    assert!(
        matches!(&notice, ClientEvent::Notice(n) if n.contains(says)),
        "{notice:?}"
    );
    assert!(bobby.wait_closed(WAIT).is_some(), "refused, then closed");
}

#[test]
fn a_kicked_key_is_refused_until_its_time_is_up() {
    let mut server = Server::start(&["--kick-for", "3"]);
    let url = server.ws_url();
    let (mut alice, mut bobby) = Client::alice_and_bobby(&url);

    server.console("/kick bobby");
    let kicked_at = Instant::now();
    let notice = bobby.expect(|e| matches!(e, ClientEvent::Notice(_)), WAIT);
    assert_eq!(
        notice,
        ClientEvent::Notice(
            "You have been disconnected by the administrator: you can join again in 3 seconds."
                .into()
        )
    );
    assert!(bobby.wait_closed(WAIT).is_some(), "kicked");
    alice.expect(
        |e| {
            *e == ClientEvent::Left {
                name: "bobby".into(),
            }
        },
        WAIT,
    );
    server.wait_for_output("bobby's key is kept out for 3 seconds", WAIT);

    refused(&url, "you can join again in");
    server.wait_for_output("join refused for \"bobby\": kicked, kept out for", WAIT);
    server.console("/users");
    server.wait_for_output("1 kept out", WAIT);
    server.wait_for_output("kicked, for", WAIT);

    let wait = Duration::from_millis(3200).saturating_sub(kicked_at.elapsed());
    std::thread::sleep(wait);
    let mut back = Client::join(&url, "bobby", keys("bob"));
    alice.expect_joined("bobby");
    back.expect_silence(QUIET);
    assert!(!back.is_closed(), "back in once the kick is over");
}

#[test]
fn a_banned_key_is_refused_until_unbanned() {
    let mut server = Server::start(&["--kick-for", "1"]);
    let url = server.ws_url();
    let (_alice, mut bobby) = Client::alice_and_bobby(&url);

    server.console("/ban bobby");
    let notice = bobby.expect(|e| matches!(e, ClientEvent::Notice(_)), WAIT);
    assert!(
        matches!(&notice, ClientEvent::Notice(n) if n.contains("banned by the administrator")),
        "{notice:?}"
    );
    assert!(bobby.wait_closed(WAIT).is_some(), "banned");
    server.wait_for_output("bobby is banned", WAIT);

    // Longer than any kick: a ban does not wear off.
    std::thread::sleep(Duration::from_millis(1500));
    refused(&url, "cannot join this chat again while it runs");
    server.wait_for_output("join refused for \"bobby\": banned", WAIT);
    server.console("/users");
    let line = server.wait_for_output("  banned", WAIT);
    assert!(line.contains("bobby"), "{line}");
    assert!(
        line.contains(&keys("bob").public().key_id()[..12]),
        "{line}"
    );

    server.console("/unban nobody");
    server.wait_for_output("no banned or kicked key is called \"nobody\"", WAIT);
    server.console(&format!("/unban {}", &keys("bob").public().key_id()[..8]));
    server.wait_for_output("bobby may join again", WAIT);
    let mut back = Client::join(&url, "bobby", keys("bob"));
    back.expect_silence(QUIET);
    assert!(!back.is_closed(), "back in after /unban");
}
