//! Writes seed inputs for the fuzz targets into fuzz/corpus/<target>/: real frames
//! (joins, signed messages to everybody and to one, legacy ones), real requests and
//! WebSocket frames, console lines. `cargo run --example seeds` in fuzz/.

use std::fs;
use std::path::Path;

use dyspatcher_client::ClientSession;
use dyspatcher_crypto::{KeyPair, PublicIdentity, b64_encode};
use dyspatcher_fuzz::GROUP_KEY;
use serde_json::json;
use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tungstenite::protocol::frame::{Frame, FrameHeader};

const ALICE: &str = include_str!("../../tests/vectors/alice.pkcs8.pem");
const BOB_PUB: &str = include_str!("../../tests/vectors/bob.pub.pem");
const ADMIN_PUB: &str = include_str!("../../tests/vectors/small2048.pub.pem");

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let frames = chat_frames();
    write(
        &root.join("client_frame"),
        frames.iter().map(|f| f.as_bytes().to_vec()),
    );
    let steps: Vec<Vec<u8>> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut step = vec![(i % 3) as u8];
            step.extend_from_slice(f.as_bytes());
            step
        })
        .collect();
    let mut all_steps = Vec::new();
    for s in &steps {
        all_steps.extend_from_slice(s);
        all_steps.push(0xff);
    }
    all_steps.extend_from_slice(&[0x53, 0xff, 0x30, 0xff, 0x25]);
    let mut chat_seeds = steps.clone();
    chat_seeds.push(all_steps);
    write(&root.join("chat_frames"), chat_seeds);

    let heads: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept-Encoding: gzip, deflate\r\n\r\n"
            .to_vec(),
        b"HEAD /app.js?v=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".to_vec(),
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello".to_vec(),
        upgrade_head(),
    ];
    write(&root.join("http_head"), heads);

    let mut ws = Vec::new();
    for shape in [0x00u8, 0x13, 0xf1] {
        let mut seed = vec![shape];
        seed.extend_from_slice(&upgrade_head());
        for f in frames.iter().take(3) {
            seed.extend_from_slice(&client_frame(OpCode::Data(Data::Text), f.as_bytes(), true));
        }
        seed.extend_from_slice(&client_frame(OpCode::Control(Control::Ping), b"hi", true));
        seed.extend_from_slice(&client_frame(OpCode::Data(Data::Text), b"{\"cmd\"", false));
        seed.extend_from_slice(&client_frame(OpCode::Data(Data::Continue), b":1}", true));
        seed.extend_from_slice(&client_frame(OpCode::Data(Data::Binary), b"\x00\x01", true));
        let mut close = u16::from(CloseCode::Normal).to_be_bytes().to_vec();
        close.extend_from_slice(b"bye");
        seed.extend_from_slice(&client_frame(OpCode::Control(Control::Close), &close, true));
        ws.push(seed);
    }
    write(&root.join("ws_upgrade"), ws);

    let lines = [
        "/users\n/u\n/kick bob\n/kick nobody\n/key public\n/k pri\n/key fp\n/a\n/t\n/help\n",
        "@bob hello there\n@all hello everybody\n@ADMIN me\n@nobody hi\n",
        "@bob ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé x\n",
        "/quit\n",
        "/kick alice\n@alice hi\n/users\n",
    ];
    write(
        &root.join("console"),
        lines.iter().map(|l| l.as_bytes().to_vec()),
    );
}

fn write(dir: &Path, seeds: impl IntoIterator<Item = Vec<u8>>) {
    fs::create_dir_all(dir).unwrap();
    for (i, seed) in seeds.into_iter().enumerate() {
        fs::write(dir.join(format!("seed-{i:03}")), seed).unwrap();
    }
}

fn upgrade_head() -> Vec<u8> {
    b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".to_vec()
}

fn client_frame(opcode: OpCode, payload: &[u8], fin: bool) -> Vec<u8> {
    let header = FrameHeader {
        is_final: fin,
        opcode,
        mask: Some([1, 2, 3, 4]),
        ..FrameHeader::default()
    };
    let mut out = Vec::new();
    Frame::from_payload(header, payload.to_vec().into())
        .format(&mut out)
        .unwrap();
    out
}

fn chat_frames() -> Vec<String> {
    let keys = KeyPair::from_pem(ALICE).unwrap();
    let bob = PublicIdentity::from_pem(BOB_PUB).unwrap();
    let admin = PublicIdentity::from_pem(ADMIN_PUB).unwrap();
    let mut alice = ClientSession::new("alice", keys);
    let config = json!({"cmd":"config","user":"","data":{"disable-all":false,"user":"alice",
        "is-admin":false,"keyid":"x","aeskey":b64_encode(&GROUP_KEY)}})
    .to_string();
    alice.handle(&config);
    let list = json!([
        {"name":"ADMIN","publickey":{"hash":admin.key_id(),"text":admin.spki_b64()}},
        {"name":"bob","publickey":{"hash":bob.key_id(),"text":bob.spki_b64()}},
    ])
    .to_string();
    let users = json!({"cmd":"signal","user":"","data":{"code":"chat-userslist","userslist":list}})
        .to_string();
    alice.handle(&users);
    let mut frames = vec![
        alice.join_frame(),
        alice.message_to_all("hello all").unwrap().frame,
        alice.legacy_message_to_all("hello all, legacy").unwrap(),
        alice.message_to("bob", "hi bob").unwrap().frame,
        alice.legacy_message_to("bob", "hi bob, legacy").unwrap(),
        alice.message_to("ADMIN", "hi admin").unwrap().frame,
        alice.legacy_message_to("ADMIN", "hi admin, legacy").unwrap(),
        r#"{"cmd":"message","user":"alice","data":{"algo":"rsa","ciphertext":"AAAA","signature":"AAAA","to":"nobody","id":"m1"}}"#.to_string(),
        r#"{"cmd":"signal","user":"carol","data":{"code":"chat-join","publickey":"AAAA"}}"#.to_string(),
        r#"{"cmd":"message","data":{}}"#.to_string(),
    ];
    frames.push(alice.raw_frame("signal", json!({"code": "chat-left"})));
    frames
}
