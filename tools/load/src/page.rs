//! Timing a page load: the page and the assets it names, fetched over one keep-alive
//! connection as a browser would (gzip accepted), repeated.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;

use crate::stream::Stream;
use crate::target::Target;

pub struct PageTiming {
    pub loads_ms: Vec<f64>,
    pub bytes: usize,
    pub requests: usize,
}

/// `tls`: for an `https://` page.
pub fn time_page(
    url: &str,
    repeats: usize,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<PageTiming, String> {
    let target = Target::parse(url, ("http", "https"))?;
    let mut stream = connect(&target, tls)?;
    let (_, html) = get(&mut stream, &target, &target.path, false)?;
    let mut paths = vec![target.path.clone()];
    paths.extend(assets(&String::from_utf8_lossy(&html)));
    let mut loads_ms = Vec::new();
    let mut bytes = 0;
    for _ in 0..repeats {
        let started = Instant::now();
        let mut stream = connect(&target, tls)?;
        bytes = 0;
        for path in &paths {
            let (status, body) = get(&mut stream, &target, path, true)?;
            if status != 200 {
                return Err(format!("{path}: HTTP {status}"));
            }
            bytes += body.len();
        }
        loads_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    Ok(PageTiming {
        loads_ms,
        bytes,
        requests: paths.len(),
    })
}

fn connect(target: &Target, tls: Option<&Arc<ClientConfig>>) -> Result<Stream<TcpStream>, String> {
    let stream = TcpStream::connect_timeout(&target.addr, Duration::from_secs(5))
        .map_err(|e| format!("{}: {e}", target.host))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    Stream::new(stream, target, tls)
}

/// Paths of same-site assets named by `src="..."` and `href="..."`.
fn assets(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for (i, _) in html.match_indices(attr) {
            let rest = &html[i + attr.len()..];
            let Some(end) = rest.find('"') else { continue };
            let value = &rest[..end];
            if value.is_empty()
                || value.contains("://")
                || value.starts_with("//")
                || value.starts_with('#')
                || value.starts_with("data:")
                || value.starts_with("mailto:")
            {
                continue;
            }
            let path = if value.starts_with('/') {
                value.to_string()
            } else {
                format!("/{}", value.trim_start_matches("./"))
            };
            if !out.contains(&path) {
                out.push(path);
            }
        }
    }
    out
}

fn get(
    stream: &mut Stream<TcpStream>,
    target: &Target,
    path: &str,
    gzip: bool,
) -> Result<(u16, Vec<u8>), String> {
    let encoding = if gzip {
        "Accept-Encoding: gzip, deflate, br\r\n"
    } else {
        ""
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: dyspatcher-load\r\n{encoding}Connection: keep-alive\r\n\r\n",
        target.host
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!("{path}: connection closed before the response"));
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let head = match response.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => continue,
            Err(e) => return Err(format!("{path}: {e}")),
        };
        let status = response.code.unwrap_or(0);
        let length = response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .and_then(|v| v.trim().parse::<usize>().ok())
            .ok_or_else(|| format!("{path}: no Content-Length"))?;
        let mut body = buf.split_off(head);
        while body.len() < length {
            let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err(format!("{path}: body cut short"));
            }
            body.extend_from_slice(&chunk[..n]);
        }
        body.truncate(length);
        return Ok((status, body));
    }
}
