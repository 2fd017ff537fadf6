//! Large rooms (docs/PROTOCOL.md, "Large rooms: the list is a view") against the real
//! binary with `--list-size 2`: real version-2 clients, real cryptography. Only the first
//! two version-2 users are listed; the others are counted, found by name, and verified
//! through the `fromkey` of their messages.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use dyspatcher_crypto::KeyPair;
use serde_json::{Value, json};

const ADMIN_KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/admin.pkcs8.pem");

/// The server with two version-2 users listed; `extra` after the defaults.
fn server(extra: &[&str]) -> Server {
    let mut args = vec!["--admin-private-key", ADMIN_KEY, "--list-size", "2"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn key_id(keys: &KeyPair) -> String {
    keys.public().key_id().to_owned()
}

/// alice and bobby, the two listed version-2 users, each having seen the other.
fn listed_pair(url: &str) -> (Client, Client) {
    let mut alice = Client::join_v2(url, "alice", keys("alice"));
    let bobby = Client::join_v2(url, "bobby", keys("bob"));
    alice.expect_joined("bobby");
    (alice, bobby)
}

/// The `changes` of every `chat-presence` the client received, frame by frame.
fn presences(client: &Client) -> Vec<Value> {
    client
        .frames()
        .iter()
        .map(|f| json(f))
        .filter(|f| f["data"]["code"] == "chat-presence")
        .map(|f| f["data"]["changes"].clone())
        .collect()
}

/// Whether the client was told that `name` joined (a `join` in a `chat-presence`).
fn was_announced(client: &Client, name: &str) -> bool {
    presences(client).iter().any(|changes| {
        changes
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c[0] == "join" && c[1] == name)
    })
}

/// The other names of a client's list (its own left out: whether a joiner beyond the
/// list size sees itself is not what these tests are about).
fn others(client: &Client) -> Vec<String> {
    let own = client.name().to_owned();
    client
        .user_names()
        .into_iter()
        .filter(|n| *n != own)
        .collect()
}

/// A 0.9 client: no proof, no version 2.
fn old_client(url: &str, name: &str, keys: Arc<KeyPair>) -> Client {
    let mut client = Client::connect_as(url, name, keys);
    client.session.set_proves(false);
    client.send_join();
    client.expect(|e| matches!(e, ClientEvent::Config { .. }), WAIT);
    client.expect(|e| matches!(e, ClientEvent::UsersList(_)), WAIT);
    client
}

#[test]
fn joiners_beyond_the_list_size_are_counted_not_listed_nor_announced() {
    let server = server(&[]);
    let url = server.ws_url();
    let (mut alice, mut bobby) = listed_pair(&url);
    assert_eq!(alice.session.count(), Some(3), "ADMIN, alice, bobby");
    assert_eq!(bobby.session.count(), Some(3));
    assert_eq!(bobby.user_names(), ["ADMIN", "alice", "bobby"]);

    let crowd = pool_keys(0, 2);
    let mut carol = Client::join_v2(&url, "carol", crowd[0].clone());
    assert_eq!(others(&carol), ["ADMIN", "alice", "bobby"]);
    assert_eq!(carol.session.count(), Some(4));
    for listed in [&mut alice, &mut bobby] {
        listed.expect_count(4, WAIT);
    }
    let mut dave = Client::join_v2(&url, "dave", crowd[1].clone());
    assert_eq!(others(&dave), ["ADMIN", "alice", "bobby"]);
    assert_eq!(dave.session.count(), Some(5));
    // Unlisted members are told the count too.
    for member in [&mut alice, &mut bobby, &mut carol] {
        member.expect_count(5, WAIT);
    }
    // Nobody heard of carol or dave: nothing but the count changed.
    for member in [&mut alice, &mut bobby, &mut carol, &mut dave] {
        member.expect_none(|e| matches!(e, ClientEvent::Joined(_)), QUIET);
        for name in ["carol", "dave"] {
            assert!(
                !was_announced(member, name),
                "{} heard of {name}",
                member.name()
            );
        }
    }
    assert_eq!(alice.user_names(), ["ADMIN", "alice", "bobby"]);
    assert_eq!(others(&carol), ["ADMIN", "alice", "bobby"]);
    assert!(
        presences(&alice).contains(&json!([])),
        "count-only frames: {:?}",
        presences(&alice)
    );
}

#[test]
fn count_only_updates_come_within_a_second_not_one_per_join() {
    let server = server(&[]);
    let url = server.ws_url();
    let (mut alice, _bobby) = listed_pair(&url);
    let crowd = pool_keys(2, 8);
    let joins = crowd.len();
    // What came before (the counts of alice's and bobby's joins) is not measured.
    alice.expect_none(|_| false, Duration::from_millis(100));
    let start = Instant::now();
    // Eight unlisted joins at once, while alice reads and notes when each count comes.
    let (counts, last_join, _crowd) = std::thread::scope(|scope| {
        let joiners: Vec<_> = crowd
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let url = &url;
                scope.spawn(move || {
                    let client = Client::join_v2(url, &format!("crowd{i}"), k.clone());
                    (client, Instant::now())
                })
            })
            .collect();
        let mut counts = Vec::new();
        let deadline = Instant::now() + WAIT;
        while alice.session.count() != Some(3 + joins) && Instant::now() < deadline {
            if let Some(event) = alice.recv_event(Duration::from_millis(50)) {
                match event {
                    ClientEvent::Count { count } => counts.push((Instant::now(), count)),
                    ClientEvent::Joined(u) => panic!("{} was announced", u.name),
                    _ => {}
                }
            }
        }
        let done: Vec<(Client, Instant)> = joiners.into_iter().map(|j| j.join().unwrap()).collect();
        let last = done.iter().map(|(_, at)| *at).max().unwrap();
        (counts, last, done) // the crowd stays connected
    });
    assert_eq!(alice.session.count(), Some(3 + joins), "{counts:?}");
    let (last_at, _) = *counts.last().unwrap();
    assert!(
        last_at.saturating_duration_since(last_join) < Duration::from_millis(1500),
        "the last count came {:?} after the last join",
        last_at.saturating_duration_since(last_join)
    );
    for pair in counts.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap >= Duration::from_millis(300),
            "count-only frames {gap:?} apart: {:?}",
            counts
                .iter()
                .map(|(t, c)| (*t - start, *c))
                .collect::<Vec<_>>()
        );
    }
    assert!(
        counts.len() < joins,
        "{} count frames for {joins} joins in {:?}",
        counts.len(),
        last_join - start
    );
    alice.expect_none(|e| matches!(e, ClientEvent::Count { .. }), QUIET);
}

#[test]
fn chat_find_lists_connected_users_by_prefix_in_name_order_never_the_admin() {
    let server = server(&["-n", "42BOSS"]);
    let url = server.ws_url();
    let (mut alice, _bobby) = listed_pair(&url);
    let mut web_admin = Client::join_v2(&url, "42BOSS", keys("admin"));
    assert!(web_admin.session.is_admin());
    // 22 users whose names start with "42", joined out of name order.
    let crowd = pool_keys(0, 22);
    let mut joined: Vec<Client> = (0..22)
        .map(|i| (i * 7) % 22)
        .map(|n| Client::join_v2(&url, &format!("42u{n:02}"), crowd[n].clone()))
        .collect();
    alice.expect_count(1 + 2 + 22, WAIT);

    let (found, more) = alice.find("42");
    let names: Vec<&str> = found.iter().map(|u| u.name.as_str()).collect();
    let first20: Vec<String> = (0..20).map(|n| format!("42u{n:02}")).collect();
    assert_eq!(
        names, first20,
        "the first 20 in name order, not the administrator"
    );
    assert!(more, "42u20 and 42u21 are left");
    for user in &found {
        let n: usize = user.name[3..].parse().unwrap();
        assert_eq!(user.hash, key_id(&crowd[n]), "{}", user.name);
        assert!(!user.old_client);
    }
    let (found, more) = alice.find("42u2");
    let names: Vec<&str> = found.iter().map(|u| u.name.as_str()).collect();
    assert_eq!((names, more), (vec!["42u20", "42u21"], false));
    let (found, more) = alice.find("42u07");
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].name.as_str(), found[0].hash.as_str(), more),
        ("42u07", key_id(&crowd[7]).as_str(), false)
    );
    // A listed user is found too; the administrator, never (not even by its digits).
    let (found, _) = alice.find("bo");
    assert_eq!(found.iter().map(|u| &u.name).collect::<Vec<_>>(), ["bobby"]);
    let (found, _) = web_admin.find("42");
    assert!(found.iter().all(|u| u.name != "42BOSS"), "{found:?}");
    assert_eq!(found.len(), 20);

    // Bad input: an empty answer.
    for bad in ["BO", "42B", "b-o", "", "42u0000000000000", "bo bby", "bö"] {
        let (found, more) = alice.find(bad);
        assert!(found.is_empty() && !more, "{bad:?}: {found:?}");
    }
    let (found, more) = alice.find("42u000000000000");
    assert!(found.is_empty() && !more, "no such user, a valid prefix");

    // The users found are looked up: known to alice's session, keys fetched on demand.
    assert!(alice.session.is_looked_up("42u21"));
    alice.say_to("42u21", "found you");
    let target = joined.iter_mut().find(|c| c.name() == "42u21").unwrap();
    target.expect_v2_text("alice", "found you", WAIT);
}

#[test]
fn a_looked_up_users_departure_is_told_only_to_who_looked_it_up() {
    let server = server(&[]);
    let url = server.ws_url();
    let (mut alice, mut bobby) = listed_pair(&url);
    let crowd = pool_keys(0, 3);
    let carol = Client::join_v2(&url, "carol", crowd[0].clone());
    let dave = Client::join_v2(&url, "dave", crowd[1].clone());
    let mut erin = Client::join_v2(&url, "erin", crowd[2].clone());
    alice.expect_count(6, WAIT);
    bobby.expect_count(6, WAIT);

    let (found, more) = alice.find("carol");
    assert_eq!((found.len(), more), (1, false));
    assert_eq!(found[0].hash, key_id(&crowd[0]));
    // chat-getkeys makes the owner looked up too: erin asks for dave's key by Key ID.
    let ask = erin.session.raw_frame(
        "signal",
        json!({"code": "chat-getkeys", "keyids": [key_id(&crowd[1])]}),
    );
    erin.send(&ask);
    let deadline = Instant::now() + WAIT;
    while !erin.frames().iter().any(|f| f.contains("\"chat-key\"")) {
        assert!(Instant::now() < deadline, "no chat-key for dave");
        erin.recv_event(Duration::from_millis(100));
    }
    let answer = json(
        erin.frames()
            .iter()
            .find(|f| f.contains("\"chat-key\""))
            .unwrap(),
    );
    assert_eq!(answer["data"]["name"], "dave");

    carol.close();
    alice.expect(
        |e| {
            *e == ClientEvent::Left {
                name: "carol".into(),
            }
        },
        WAIT,
    );
    assert_eq!(alice.user_names(), ["ADMIN", "alice", "bobby"]);
    dave.close();
    let left = |changes: &Value, name: &str| {
        changes
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c[0] == "left" && c[1] == name)
    };
    for member in [&mut alice, &mut bobby, &mut erin] {
        member.expect_count(4, WAIT);
        member.expect_none(|_| false, QUIET);
    }
    assert!(
        presences(&erin).iter().any(|c| left(c, "dave")),
        "{:?}",
        presences(&erin)
    );
    assert!(
        !presences(&erin).iter().any(|c| left(c, "carol")),
        "erin did not look carol up"
    );
    assert!(
        !presences(&alice).iter().any(|c| left(c, "dave")),
        "alice did not look dave up"
    );
    for changes in presences(&bobby) {
        assert!(
            !left(&changes, "carol") && !left(&changes, "dave"),
            "bobby: {changes}"
        );
    }
}

#[test]
fn when_a_listed_user_leaves_the_first_unlisted_is_listed_in_the_same_frame() {
    let server = server(&[]);
    let url = server.ws_url();
    let (mut alice, bobby) = listed_pair(&url);
    let crowd = pool_keys(0, 2);
    let mut carol = Client::join_v2(&url, "carol", crowd[0].clone());
    let mut dave = Client::join_v2(&url, "dave", crowd[1].clone());
    for member in [&mut alice, &mut carol] {
        member.expect_count(5, WAIT);
    }

    bobby.close();
    let expected = json!([["left", "bobby"], ["join", "carol", key_id(&crowd[0])]]);
    for (member, list) in [
        (&mut alice, vec!["ADMIN", "carol"]),
        (&mut dave, vec!["ADMIN", "alice", "carol"]),
    ] {
        member.expect(
            |e| {
                *e == ClientEvent::Left {
                    name: "bobby".into(),
                }
            },
            WAIT,
        );
        member.expect_joined("carol");
        member.expect_count(4, WAIT);
        assert!(
            presences(member).contains(&expected),
            "{}: {:?}",
            member.name(),
            presences(member)
        );
        assert_eq!(others(member), list);
    }
    // dave is still not listed, and carol now writes to whoever she likes as listed.
    assert!(!was_announced(&alice, "dave"));
    // (Once carol holds the key of the epoch bobby's departure began.)
    carol.expect(|e| *e == ClientEvent::GroupKey { epoch: 2 }, WAIT);
    carol.say_all("listed now");
    alice.expect_v2_text("carol", "listed now", WAIT);
}

#[test]
fn messages_from_an_unlisted_sender_are_verified_through_its_fromkey() {
    let server = server(&[]);
    let url = server.ws_url();
    let (mut alice, mut bobby) = listed_pair(&url);
    let crowd = pool_keys(0, 2);
    let mut carol = Client::join_v2(&url, "carol", crowd[0].clone());
    let mut dave = Client::join_v2(&url, "dave", crowd[1].clone());
    alice.expect_count(5, WAIT);
    assert_eq!(alice.session.user("carol"), None);

    // 1:1: alice never listed carol; she fetches carol's key by the frame's fromkey.
    carol.say_to("alice", "from the crowd, 1:1 ✓");
    alice.expect_v2_text("carol", "from the crowd, 1:1 ✓", WAIT);
    let relayed = alice
        .frames()
        .iter()
        .map(|f| json(f))
        .find(|f| f["cmd"] == "message" && f["data"]["from"] == "carol")
        .unwrap();
    assert_eq!(relayed["data"]["fromkey"], key_id(&crowd[0]).as_str());
    assert!(alice.session.is_looked_up("carol"));

    // To all: bobby and dave never listed carol either.
    carol.say_all("from the crowd, to all");
    bobby.expect_v2_text("carol", "from the crowd, to all", WAIT);
    dave.expect_v2_text("carol", "from the crowd, to all", WAIT);
    alice.expect_v2_text("carol", "from the crowd, to all", WAIT);
    for member in [&alice, &bobby, &dave] {
        assert!(
            !member.history().iter().any(|e| matches!(
                e,
                ClientEvent::Flagged { .. } | ClientEvent::V2Dropped { .. }
            )),
            "{}: {:?}",
            member.name(),
            member.history()
        );
    }

    // alice answers the sender she now knows; its departure is announced to her (she
    // asked for its key), and to bobby and dave, who asked too.
    alice.say_to("carol", "hello carol");
    carol.expect_v2_text("alice", "hello carol", WAIT);
    carol.close();
    for member in [&mut alice, &mut bobby, &mut dave] {
        member.expect(
            |e| {
                *e == ClientEvent::Left {
                    name: "carol".into(),
                }
            },
            WAIT,
        );
        assert_eq!(member.session.user("carol"), None);
    }
}

#[test]
fn only_admin_rooms_find_nobody() {
    let server = server(&["--only-admin"]);
    let url = server.ws_url();
    let mut alice = Client::join_v2(&url, "alice", keys("alice"));
    let _bobby = Client::join_v2(&url, "bobby", keys("bob"));
    let _carol = Client::join_v2(&url, "carol", pool_keys(0, 1)[0].clone());
    for prefix in ["bobby", "b", "carol", "a"] {
        let (found, more) = alice.find(prefix);
        assert!(found.is_empty() && !more, "{prefix}: {found:?}");
    }
}

#[test]
fn a_0_9_client_in_a_large_room_is_listed_to_all_and_sees_everybody() {
    let server = server(&[]);
    let url = server.ws_url();
    let (mut alice, mut bobby) = listed_pair(&url);
    let crowd = pool_keys(0, 4);
    let mut carol = Client::join_v2(&url, "carol", crowd[0].clone());
    let mut dave = Client::join_v2(&url, "dave", crowd[1].clone());
    alice.expect_count(5, WAIT);

    let mut erin = old_client(&url, "erin", crowd[2].clone());
    let mut names = others(&erin);
    names.sort();
    assert_eq!(
        names,
        ["ADMIN", "alice", "bobby", "carol", "dave"],
        "the whole 0.9 list"
    );
    for member in [&mut alice, &mut bobby, &mut carol, &mut dave] {
        let joined = member.expect_joined("erin");
        assert!(
            matches!(&joined, ClientEvent::Joined(u) if u.old_client && u.hash == key_id(&crowd[2])),
            "{}: {joined:?}",
            member.name()
        );
        member.expect_count(6, WAIT);
    }
    // A version-2 joiner after erin is not listed to version-2 members, but the 0.9
    // client is told of it, as 0.9 always was.
    let _frank = Client::join_v2(&url, "frank", crowd[3].clone());
    erin.expect_joined("frank");
    alice.expect_count(7, WAIT);
    assert!(!was_announced(&alice, "frank"));
    // erin, listed, reads and is read.
    alice.say_all("to all, erin included");
    erin.expect_text("alice", "to all, erin included", WAIT);
}

#[test]
fn with_the_default_list_size_everybody_is_listed_and_announced() {
    let server = Server::start(&["--admin-private-key", ADMIN_KEY]);
    let url = server.ws_url();
    let (mut alice, mut bobby) = listed_pair(&url);
    let crowd = pool_keys(0, 2);
    let mut carol = Client::join_v2(&url, "carol", crowd[0].clone());
    let dave = Client::join_v2(&url, "dave", crowd[1].clone());
    for member in [&mut alice, &mut bobby, &mut carol] {
        member.expect_joined("dave");
        member.expect_count(5, WAIT);
    }
    assert_eq!(
        alice.user_names(),
        ["ADMIN", "alice", "bobby", "carol", "dave"]
    );
    assert_eq!(
        dave.user_names(),
        ["ADMIN", "alice", "bobby", "carol", "dave"]
    );
    assert_eq!(dave.session.count(), Some(5));
    assert!(
        !presences(&alice).contains(&json!([])),
        "no count-only frames"
    );
    let (found, more) = alice.find("c");
    assert_eq!(found.iter().map(|u| &u.name).collect::<Vec<_>>(), ["carol"]);
    assert!(!more);
}
