//! HTTPS and WSS against the real binary, with a rustls client that trusts only the
//! server's certificate.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{ClientEvent, ClientSession, Server, keys};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use sha2::{Digest, Sha256};
use tungstenite::{Message, WebSocket};

type TlsStream = StreamOwned<ClientConnection, TcpStream>;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dyspatcher-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A certificate for 127.0.0.1 made here, written as PEM files; returns (cert, key, DER).
fn make_certificate(dir: &Path, name: &str, not_after_days: i64) -> (PathBuf, PathBuf, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(30);
    params.not_after = now + time::Duration::days(not_after_days);
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path, cert.der().to_vec())
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn trusting(der: &[u8]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(der.to_vec())).unwrap();
    Arc::new(
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

fn tls_connect(port: u16, config: &Arc<ClientConfig>) -> TlsStream {
    let socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut stream = StreamOwned::new(ClientConnection::new(config.clone(), name).unwrap(), socket);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .expect("TLS handshake");
    }
    stream
}

fn https_get(port: u16, config: &Arc<ClientConfig>, path: &str) -> String {
    let mut stream = tls_connect(port, config);
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// A plain-HTTP exchange (no TLS): everything the server answers until it closes.
fn plain_http(port: u16, request: &str) -> String {
    let mut plain = TcpStream::connect(("127.0.0.1", port)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    plain.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = plain.read_to_string(&mut answer);
    answer
}

/// A chat client over WSS.
struct WssClient {
    ws: WebSocket<TlsStream>,
    session: ClientSession,
}

impl WssClient {
    fn join(url: &str, port: u16, config: &Arc<ClientConfig>, name: &str, key: &str) -> Self {
        let stream = tls_connect(port, config);
        let (ws, _) = tungstenite::client(url, stream).expect("WebSocket handshake over TLS");
        let mut client = WssClient {
            ws,
            session: ClientSession::new(name, keys(key)),
        };
        let join = client.session.join_frame();
        client.ws.send(Message::text(join)).unwrap();
        let challenge = client.next(|e| matches!(e, ClientEvent::Challenge { .. }));
        let ClientEvent::Challenge { nonce } = challenge else {
            unreachable!()
        };
        let host = url.split('/').nth(2).expect("wss://host:port/path");
        let proof = client.session.proof_frame(host, &nonce);
        client.ws.send(Message::text(proof)).unwrap();
        let config = client.next(|e| matches!(e, ClientEvent::Config { .. }));
        assert!(matches!(config, ClientEvent::Config { name: n, .. } if n == name));
        client.next(|e| matches!(e, ClientEvent::UsersList(_)));
        client
    }

    fn next(&mut self, wanted: impl Fn(&ClientEvent) -> bool) -> ClientEvent {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match self.ws.read() {
                Ok(Message::Text(text)) => {
                    for event in self.session.handle(&text) {
                        if wanted(&event) {
                            return event;
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => panic!("{}: {e}", self.session.name()),
            }
        }
        panic!("{}: nothing wanted within 10 s", self.session.name());
    }

    fn say_to(&mut self, to: &str, text: &str) {
        let out = self.session.message_to(to, text).unwrap();
        self.ws.send(Message::text(out.frame)).unwrap();
    }

    fn expect_text(&mut self, from: &str, text: &str) {
        let got = self.next(|e| matches!(e, ClientEvent::Message { .. }));
        assert!(
            matches!(&got, ClientEvent::Message { from: f, text: t, verified: true, .. } if f == from && t == text),
            "{got:?}"
        );
    }
}

#[test]
fn the_page_and_both_websocket_ports_over_tls_with_a_given_certificate() {
    let dir = temp_dir("files");
    let (cert, key, der) = make_certificate(&dir, "server", 90);
    let server = Server::start(&[
        "--ssl-certificate",
        cert.to_str().unwrap(),
        "--ssl-key",
        key.to_str().unwrap(),
        "--admin-private-key",
        "tests/vectors/admin.pkcs8.pem",
    ]);
    let config = trusting(&der);
    let page = https_get(server.port, &config, "/");
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page:.200}");
    assert!(page.contains("Content-Security-Policy: default-src 'self'"));
    assert!(page.to_ascii_lowercase().contains("<!doctype html>"));

    let ws_port = server.ws_port.unwrap();
    let mut alice = WssClient::join(
        &format!("wss://127.0.0.1:{}/ws", server.port),
        server.port,
        &config,
        "alice",
        "alice",
    );
    let mut bob = WssClient::join(
        &format!("wss://127.0.0.1:{ws_port}/"),
        ws_port,
        &config,
        "bobby",
        "bob",
    );
    alice.next(|e| matches!(e, ClientEvent::Joined(u) if u.name == "bobby"));
    alice.say_to("bobby", "over TLS");
    bob.expect_text("alice", "over TLS");
    bob.say_to("alice", "both ports");
    alice.expect_text("bobby", "both ports");
}

fn sha256_colon_hex(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Accepts any certificate and remembers it: to see what the server presents.
#[derive(Debug, Default)]
struct Recorder(std::sync::Mutex<Option<Vec<u8>>>);

impl rustls::client::danger::ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        *self.0.lock().unwrap() = Some(end_entity.to_vec());
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn presented_certificate(port: u16) -> Vec<u8> {
    let recorder = Arc::new(Recorder::default());
    let config = Arc::new(
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(recorder.clone())
            .with_no_client_auth(),
    );
    drop(tls_connect(port, &config));
    recorder.0.lock().unwrap().clone().expect("a certificate")
}

fn banner_fingerprint(server: &mut Server) -> String {
    let line = server.wait_for_output("Certificate SHA-256 fingerprint: ", Duration::from_secs(5));
    line.split("fingerprint: ")
        .nth(1)
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn self_signed_prints_the_fingerprint_of_the_certificate_it_presents_and_keeps_it() {
    let dir = temp_dir("selfsigned");
    let kept = dir.join("kept");
    let args = [
        "--self-signed-dir",
        kept.to_str().unwrap(),
        "--hostname",
        "chat.lan",
        "--single-port",
    ];
    let mut server = Server::start(&args);
    let printed = banner_fingerprint(&mut server);
    let der = presented_certificate(server.port);
    assert_eq!(printed, sha256_colon_hex(&der));
    // A client that trusts exactly that certificate (as a browser after acceptance) chats.
    let config = trusting(&der);
    let mut alice = WssClient::join(
        &format!("wss://127.0.0.1:{}/ws", server.port),
        server.port,
        &config,
        "alice",
        "alice",
    );
    alice.say_to("ADMIN", "hello over wss");
    server.wait_for_output("alice → ADMIN: hello over wss", Duration::from_secs(10));
    drop(server);

    // Restarted, it presents the same certificate: people accept it once.
    let mut again = Server::start(&args);
    assert_eq!(banner_fingerprint(&mut again), printed);
    assert_eq!(presented_certificate(again.port), der);
    assert!(again.output().contains("kept in"));
}

#[test]
fn plain_http_stalled_handshakes_and_garbage_cost_only_their_own_connection() {
    let mut server = Server::start(&[
        "--self-signed",
        "--admin-private-key",
        "tests/vectors/admin.pkcs8.pem",
    ]);
    banner_fingerprint(&mut server);
    let port = server.port;
    let config = trusting(&presented_certificate(port));
    let url = format!("wss://127.0.0.1:{port}/ws");
    let mut alice = WssClient::join(&url, port, &config, "alice", "alice");
    let mut bob = WssClient::join(&url, port, &config, "bobby", "bob");
    alice.next(|e| matches!(e, ClientEvent::Joined(u) if u.name == "bobby"));

    // Plain HTTP to the TLS port: a redirect to the HTTPS page, in plain HTTP.
    let answer = plain_http(
        port,
        &format!("GET /app.js HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"),
    );
    assert!(answer.starts_with("HTTP/1.1 308"), "{answer:.200}");
    assert!(
        answer.contains(&format!("Location: https://127.0.0.1:{port}/app.js")),
        "{answer}"
    );

    // A client that stops mid-handshake, and one that sends garbage.
    let mut stalled = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
        .unwrap();
    let mut garbage = TcpStream::connect(("127.0.0.1", port)).unwrap();
    garbage
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    garbage
        .write_all(&[0x16, 0x03, 0x03, 0x00, 0x05, 0xde, 0xad, 0xbe, 0xef, 0x00])
        .unwrap();
    let mut sink = Vec::new();
    let _ = garbage.read_to_end(&mut sink);
    assert!(sink.len() < 100, "at most an alert, then closed");

    let started = Instant::now();
    alice.say_to("bobby", "still here");
    bob.expect_text("alice", "still here");
    assert!(started.elapsed() < Duration::from_secs(2));

    // The stalled handshake is dropped after the handshake deadline (10 s).
    stalled
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 16];
    let n = stalled.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    assert!(started.elapsed() < Duration::from_secs(16));
}

fn start_failing(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_dyspatcher"))
        .args(["-i", "127.0.0.1", "-p", "0", "-w", "0"])
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.stdout.is_empty(),
        "nothing started: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    (output.status.code().unwrap(), stderr)
}

#[test]
fn bad_certificate_files_are_refused_before_anything_starts() {
    let dir = temp_dir("bad");
    let (cert, _key, _) = make_certificate(&dir, "one", 90);
    let (_cert2, key2, _) = make_certificate(&dir, "two", 90);
    let (expired, expired_key, _) = make_certificate(&dir, "old", -1);
    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--ssl-certificate".into(),
                s(&cert),
                "--ssl-key".into(),
                s(&key2),
            ],
            "is not the key of",
        ),
        (
            vec![
                "--ssl-certificate".into(),
                s(&expired),
                "--ssl-key".into(),
                s(&expired_key),
            ],
            "expired on",
        ),
        (
            vec![
                "--ssl-certificate".into(),
                s(&junk),
                "--ssl-key".into(),
                s(&key2),
            ],
            "no certificate in it",
        ),
        (
            vec![
                "--ssl-certificate".into(),
                s(&cert),
                "--ssl-key".into(),
                s(&junk),
            ],
            "no private key in it",
        ),
        (
            vec![
                "--ssl-certificate".into(),
                "/nonexistent.pem".into(),
                "--ssl-key".into(),
                s(&key2),
            ],
            "cannot read --ssl-certificate",
        ),
        (
            vec!["--ssl-certificate".into(), s(&cert)],
            "needs --ssl-key",
        ),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stderr) = start_failing(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn redirect_http_sends_plain_http_to_the_https_page() {
    let mut server = Server::start(&["--self-signed", "--single-port", "--redirect-http", "0"]);
    let line = server.wait_for_output(
        "Plain HTTP redirected to HTTPS: http://127.0.0.1:",
        Duration::from_secs(5),
    );
    let port: u16 = line
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    let answer = plain_http(
        port,
        &format!("GET /style.css?x=1 HTTP/1.1\r\nHost: chat.lan:{port}\r\n\r\n"),
    );
    assert!(answer.starts_with("HTTP/1.1 308"), "{answer:.200}");
    assert!(
        answer.contains(&format!(
            "Location: https://chat.lan:{}/style.css\r\n",
            server.port
        )),
        "{answer}"
    );
}
