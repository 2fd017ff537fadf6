//! The test harness itself, checked without the server: keys, the protocol client over
//! a real WebSocket (a scripted fake server on a thread), and the process wrapper (a
//! shell script that prints a banner).

mod common;

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use common::*;
use dyspatcher_client::frame;
use dyspatcher_crypto::GroupKey;
use serde_json::{Value, json};
use tungstenite::Message;

#[test]
fn vector_keys_load_and_are_distinct() {
    let ids: Vec<String> = ["alice", "bob", "admin"]
        .iter()
        .map(|n| keys(n).public().key_id().to_owned())
        .collect();
    assert_eq!(
        ids[0],
        "3a2a05238472d1af0fe2370dc84af000f02163c6c4ebbc1aee243e1d61126580"
    );
    assert!(ids[0] != ids[1] && ids[1] != ids[2]);
    assert!(
        std::sync::Arc::ptr_eq(&keys("bob"), &keys("bob")),
        "loaded once"
    );
    assert_eq!(keys("admin").public().bits(), 4096);
}

#[test]
fn pool_keys_are_stable() {
    let key = pool_key(0);
    assert_eq!(key.public().bits(), 4096);
    assert_eq!(pool_keys(0, 1)[0].public().key_id(), key.public().key_id());
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap();
    let pem = std::fs::read_to_string(dir.join("test-keys/user0.pkcs8.pem")).unwrap();
    let reread = dyspatcher_crypto::KeyPair::from_pem(&pem).unwrap();
    assert_eq!(reread.public().key_id(), key.public().key_id());
}

fn entry(name: &str, key: &str) -> Value {
    let k = keys(key);
    json!({"name": name, "publickey": {"hash": k.public().key_id(), "text": k.public().spki_b64()}})
}

/// A fake server for one connection: reads the join, answers config and users list,
/// relays one message back, then closes with 1008.
#[test]
fn client_joins_and_chats_over_a_websocket() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let fake = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut ws = tungstenite::accept(stream).unwrap();
        let join: Value = serde_json::from_str(ws.read().unwrap().to_text().unwrap()).unwrap();
        assert_eq!(join["data"]["code"], "chat-join");
        assert_eq!(join["data"]["publickey"], keys("alice").public().spki_b64());
        let group = GroupKey::generate();
        let list = json!([entry("ADMIN", "admin"), entry("alice", "alice")]).to_string();
        for f in [
            frame(
                "config",
                "",
                json!({"disable-all": false, "user": "alice", "is-admin": false,
                       "keyid": keys("alice").public().key_id(), "aeskey": group.to_b64()}),
            ),
            frame(
                "signal",
                "",
                json!({"code": "chat-userslist", "userslist": list}),
            ),
            frame("signal", "", json!({"code": "notice", "notice": "welcome"})),
        ] {
            ws.send(Message::text(f)).unwrap();
        }
        let message: Value = serde_json::from_str(ws.read().unwrap().to_text().unwrap()).unwrap();
        let id = message["data"]["id"].as_str().unwrap().to_owned();
        ws.send(Message::text(frame("message", "", message["data"].clone())))
            .unwrap();
        ws.send(Message::text(frame(
            "signal",
            "",
            json!({"code": "chat-ack", "id": id}),
        )))
        .unwrap();
        ws.close(Some(tungstenite::protocol::CloseFrame {
            code: 1008.into(),
            reason: "join first".into(),
        }))
        .unwrap();
        while ws.read().is_ok() {}
    });

    let mut alice = Client::join(&url, "alice", keys("alice"));
    assert_eq!(alice.session.users().len(), 2);
    assert_eq!(alice.session.users()[0].name, "ADMIN");
    assert_eq!(
        alice.recv_event(WAIT),
        Some(ClientEvent::Notice("welcome".into())),
        "what follows the users list stays pending"
    );
    let id = alice.say_all("hello everybody");
    alice.expect_text("alice", "hello everybody", WAIT);
    assert_eq!(alice.expect(|_| true, WAIT), ClientEvent::Ack { id });
    let close = alice.wait_closed(WAIT).expect("closed");
    assert_eq!((close.code, close.reason.as_str()), (1008, "join first"));
    assert!(alice.is_closed());
    assert_eq!(alice.recv_event(Duration::from_millis(50)), None);
    fake.join().unwrap();
}

#[test]
fn server_wrapper_reads_the_banner_and_drives_the_console() {
    let script = r#"
        echo "dyspatcher starting"
        echo "Chat page: http://127.0.0.1:4321/"
        echo "WebSocket for 0.9 clients: ws://127.0.0.1:4322/"
        while read line; do
            echo "console got: $line"
            [ "$line" = /quit ] && exit 0
        done"#;
    let mut command = Command::new("sh");
    command.args(["-c", script, "sh"]);
    let mut server = Server::start_command(command, vec![], false);
    assert_eq!((server.port, server.ws_port), (4321, Some(4322)));
    assert_eq!(server.ws_url(), "ws://127.0.0.1:4322/");
    assert_eq!(server.ws_web_url(), "ws://127.0.0.1:4321/ws");
    server.console("/users");
    server.console("/quit");
    assert_eq!(
        server.wait_for_output("console got", WAIT),
        "console got: /users"
    );
    assert_eq!(
        server.wait_for_output("console got", WAIT),
        "console got: /quit"
    );
    assert!(server.wait_exit(WAIT).unwrap().success());
    assert!(server.output().starts_with("dyspatcher starting\n"));
}

#[test]
fn strip_ansi_removes_colours() {
    assert_eq!(strip_ansi("\u{1b}[1;32mADMIN\u{1b}[0m: hi"), "ADMIN: hi");
}
