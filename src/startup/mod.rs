//! Start-up: from the parsed options to the parts of a server ready to run. Everything
//! that can go wrong is found here, in the foreground, where the person who started the
//! server sees it: first the files the options name (`inputs.rs`), then the ports
//! (`ports.rs`); the banner (`banner.rs`) is shown last, with the QR codes of the links
//! people join by (`join_links.rs`). The errors are typed
//! (`error.rs`): a usage mistake exits with status 2, a refusal of the machine with 1.

mod banner;
mod error;
mod inputs;
mod join_links;
mod ports;

use std::path::PathBuf;
use std::time::Instant;

use crate::chat::{Chat, Settings};
use crate::cli::Options;
use crate::cli::TlsChoice;
use crate::console::render::Renderer;
use crate::console::{ConsoleLine, Dispatcher};
use crate::crypto::GroupKey;
use crate::server::{ConsoleOut, ServerParts, Site};
use crate::tunnel::Tunnel;
use banner::Banner;
pub use error::StartupError;
use inputs::Inputs;
use ports::Bound;

/// A server that started up: its parts for the event loop, and what the daemon step
/// needs (`--daemon`, `--pid-file`).
pub struct Prepared {
    pub parts: ServerParts,
    pub daemon: bool,
    pub pid_file: Option<PathBuf>,
}

/// Reads and checks what the options name, binds the ports, makes the chat and shows
/// the banner. Nothing runs yet: the tunnel and the transcription's syncing start after
/// the daemon step, so that a fork does not lose them.
pub fn start(mut options: Options) -> Result<Prepared, StartupError> {
    let inputs = Inputs::read(&options)?;
    let open_file_note = ports::raise_open_file_limit(&mut options.limits);
    let tls = inputs.tls.is_some();
    let bound = Bound::bind(&options, tls)?;
    let page_url = bound.page_url(tls);
    let tunnel = options
        .tunnel
        .as_ref()
        .map(|t| Tunnel::new(t, bound.web_addr, bound.ws_addr, tls));

    let admin_key_id = inputs.admin.public().key_id().to_string();
    let admin_key = std::sync::Arc::new(inputs.admin);
    let mut chat = Chat::new(
        Settings {
            admin_name: options.admin_name.clone(),
            disable_all: options.disable_all,
            only_admin: options.only_admin,
            welcome: options.welcome.clone(),
            allow_unproven_keys: options.allow_unproven_keys,
            allow_unproven_admin: options.allow_unproven_admin,
        },
        options.limits.clone(),
        admin_key.clone(),
        GroupKey::generate(),
        crate::crypto::random_bytes(),
        Instant::now(),
    );
    let mut console = ConsoleOut::new(Renderer::for_stdout(), inputs.transcript);
    // With a self-signed certificate, the links people open carry its fingerprint.
    let fragment = match (&options.tls, &inputs.tls) {
        (Some(TlsChoice::SelfSigned { .. }), Some(tls)) => {
            join_links::fingerprint_fragment(&tls.fingerprint)
        }
        _ => String::new(),
    };
    let shown_page_url = format!("{page_url}{fragment}");
    let tunnel_urls = tunnel.as_ref().map(Tunnel::urls).unwrap_or_default();
    let addresses: Vec<std::net::IpAddr> = if options.ip.is_unspecified() {
        crate::tls::self_signed::subject_names(options.ip, &[])
            .iter()
            .filter_map(|name| name.parse().ok())
            .collect()
    } else {
        Vec::new()
    };
    let links = join_links::join_links(
        &shown_page_url,
        bound.web_addr,
        &addresses,
        if tls { "https" } else { "http" },
        &fragment,
        tunnel_urls.first().map(String::as_str),
    );
    let mut banner_tunnel_urls = tunnel_urls.clone();
    if let Some(page) = banner_tunnel_urls.first_mut() {
        page.push_str(&fragment);
    }
    let banner = Banner {
        key_origin: &inputs.key_origin,
        admin_name: &options.admin_name,
        admin_key_id: &admin_key_id,
        page_url: &shown_page_url,
        websocket_url: bound.websocket_url(tls),
        redirect_url: bound.redirect_url(),
        tunnel_urls: banner_tunnel_urls,
        tls: inputs.tls.as_ref(),
        all_addresses: options.ip.is_unspecified(),
        open_file_note,
        join_links: &links,
        draw_codes: !options.daemon,
    };
    for line in banner.lines() {
        console.show(&line);
    }
    console.show(&ConsoleLine::info(format!(
        "dyspatcher started: {page_url}"
    )));
    if let Some((admission, lines)) = inputs.admission {
        for line in &lines {
            console.show(line);
        }
        chat.set_admission(admission);
    }

    Ok(Prepared {
        parts: ServerParts {
            web: bound.web,
            websocket: bound.websocket,
            redirect: bound.redirect,
            tls: inputs.tls.map(|t| t.config),
            site: Site {
                https_port: tls.then(|| bound.web_addr.port()),
                web_port: bound.web_addr.port(),
                allowed_origins: options.allowed_origins.clone(),
                page_url,
            },
            limits: options.limits,
            allow_list: inputs.allow_list,
            chat,
            admin_key,
            crypto_threads: options
                .crypto_threads
                .unwrap_or_else(crate::server::private_key_pool::default_threads),
            console,
            dispatcher: Dispatcher::new(
                tunnel.as_ref().map(Tunnel::urls),
                banner::qr_codes(&links),
            ),
            tunnel,
        },
        daemon: options.daemon,
        pid_file: options.pid_file,
    })
}
