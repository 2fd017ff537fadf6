//! The QR codes people join by: the console's drawing (at start, and on `/qr`) is read
//! back off the real binary's output, turned into a module matrix and decoded with a
//! QR decoder (rqrr): it must give exactly the URL printed under it, with the
//! certificate's fingerprint when it is self-signed. `/qr.svg`'s image is decoded the
//! same way, from its rectangles.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Server, WAIT};

const BLOCKS: [char; 4] = ['\u{2588}', '\u{2580}', '\u{2584}', ' '];

/// Decodes a module matrix (`true`: dark), each module made 4x4 pixels.
fn decode(modules: &[Vec<bool>]) -> String {
    const SCALE: usize = 4;
    let height = modules.len();
    let width = modules.iter().map(Vec::len).max().unwrap_or(0);
    let mut image =
        rqrr::PreparedImage::prepare_from_bitmap(width * SCALE, height * SCALE, |x, y| {
            modules[y / SCALE].get(x / SCALE).copied().unwrap_or(false)
        });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in {width}x{height} modules");
    grids[0].decode().expect("a readable code").1
}

/// The modules of a console drawing: each character is two modules, top and bottom;
/// without colours (a pipe), the ink draws the light ones (see src/console/qr.rs).
fn modules_of_drawing(lines: &[String]) -> Vec<Vec<bool>> {
    let mut rows = Vec::new();
    for line in lines {
        let (top, bottom): (Vec<bool>, Vec<bool>) = line
            .chars()
            .map(|c| match c {
                '\u{2588}' => (false, false),
                '\u{2580}' => (false, true),
                '\u{2584}' => (true, false),
                ' ' => (true, true),
                other => panic!("not a half block: {other:?}"),
            })
            .unzip();
        rows.push(top);
        rows.push(bottom);
    }
    rows
}

/// The code drawn under the caption line `caption` (the first after the cursor of
/// `server`'s output), and the URL printed under it.
fn drawn_code(server: &mut Server, caption: &str) -> (String, String) {
    server.wait_for_line(|l| l == caption, WAIT, caption);
    let mut drawing = Vec::new();
    loop {
        let line = server.wait_for_line(|_| true, WAIT, "the drawing");
        if !line.is_empty() && line.chars().all(|c| BLOCKS.contains(&c)) {
            drawing.push(line);
            continue;
        }
        let url = line
            .strip_prefix("  ")
            .expect("the URL under the code")
            .to_string();
        assert!(drawing.len() > 10, "a drawing: {drawing:?}");
        // The quiet zone: the first and last lines are all light (all ink here).
        assert!(drawing[0].chars().all(|c| c == '\u{2588}'));
        return (decode(&modules_of_drawing(&drawing)), url);
    }
}

#[test]
fn the_console_draws_the_page_url_at_start_and_on_qr() {
    let mut server = Server::start(&["--single-port"]);
    let page = format!("http://127.0.0.1:{}/", server.port);
    let (decoded, printed) = drawn_code(&mut server, "Chat page:");
    assert_eq!(
        (decoded.as_str(), printed.as_str()),
        (page.as_str(), page.as_str())
    );

    server.console("/qr");
    let (decoded, printed) = drawn_code(&mut server, "Chat page:");
    assert_eq!(
        (decoded.as_str(), printed.as_str()),
        (page.as_str(), page.as_str())
    );
}

#[test]
fn with_a_self_signed_certificate_the_code_carries_its_fingerprint() {
    let mut server = Server::start(&["--self-signed", "--single-port"]);
    let fingerprint = server.wait_for_output("Certificate SHA-256 fingerprint: ", WAIT);
    let hex = fingerprint
        .split("fingerprint: ")
        .nth(1)
        .unwrap()
        .trim()
        .replace(':', "")
        .to_ascii_lowercase();
    assert_eq!(hex.len(), 64, "{fingerprint}");
    let url = format!("https://127.0.0.1:{}/#sha256={hex}", server.port);
    assert!(server.output().contains(&format!("Chat page: {url}\n")));
    let (decoded, printed) = drawn_code(&mut server, "Chat page:");
    assert_eq!(
        (decoded.as_str(), printed.as_str()),
        (url.as_str(), url.as_str())
    );
}

#[test]
fn qr_svg_is_a_readable_code_of_the_text() {
    let server = Server::start(&["--single-port"]);
    let text = "https://192.168.1.20:8443/#sha256=0123456789abcdef été";
    let encoded: String = text
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (status, head, body) = server.http_get(&format!("/qr.svg?text={encoded}"));
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("Content-Type: image/svg+xml") && head.contains("Cache-Control: no-store")
    );
    let svg = String::from_utf8(body).unwrap();
    // viewBox="0 0 N N", then one rectangle per run of dark modules.
    let side: usize = svg
        .split("viewBox=\"0 0 ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a viewBox");
    let mut modules = vec![vec![false; side]; side];
    for rect in svg.split("<rect ").skip(2) {
        let attr = |name: &str| -> usize {
            rect.split(&format!("{name}=\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{name} in {rect}"))
        };
        let (x, y, width) = (attr("x"), attr("y"), attr("width"));
        assert_eq!(attr("height"), 1);
        for module in &mut modules[y][x..x + width] {
            *module = true;
        }
    }
    assert_eq!(decode(&modules), text);

    let (status, _, body) = server.http_get(&format!("/qr.svg?text={}", "a".repeat(257)));
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("longer than 256 bytes"));
}

#[test]
fn nothing_is_drawn_for_a_daemon() {
    let dir = std::env::temp_dir().join(format!("dyspatcher-qr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pid_file = dir.join("d.pid");
    let output = Command::new(env!("CARGO_BIN_EXE_dyspatcher"))
        .args(["-i", "127.0.0.1", "-p", "0", "--single-port", "-d"])
        .args(["--pid-file", pid_file.to_str().unwrap()])
        .args(["--transcription", dir.join("chat.log").to_str().unwrap()])
        .args(["--admin-private-key", "tests/vectors/admin.pkcs8.pem"])
        .output()
        .expect("the parent exits");
    assert!(output.status.success(), "{output:?}");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: stopping the daemon this test started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Chat page: http://127.0.0.1:"), "{stdout}");
    assert!(
        !stdout.contains(['\u{2588}', '\u{2580}', '\u{2584}']),
        "{stdout}"
    );
    // The daemon may still be writing its last lines: give it a moment to stop.
    std::thread::sleep(Duration::from_millis(200));
    let _ = std::fs::remove_dir_all(&dir);
}
