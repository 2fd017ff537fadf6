//! `dyspatcher`: checks the command line and the files it names, binds the ports, prints
//! the banner, then hands over to the event loop. Every start-up problem is reported
//! before anything is bound: exit status 2 for a usage mistake, 1 for a port that cannot
//! be bound.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Instant;

use dyspatcher::chat::{Chat, Settings};
use dyspatcher::cli::{self, Invocation, Options, TlsChoice};
use dyspatcher::console::ConsoleLine;
use dyspatcher::console::render::Renderer;
use dyspatcher::crypto::{GroupKey, KeyPair};
use dyspatcher::server::{ConsoleOut, Server, ServerParts, Site, listeners, stdin};
use dyspatcher::tls::{self, Tls};

const USAGE_ERROR: u8 = 2;

fn main() -> ExitCode {
    stdin::ensure_standard_fds();
    let options = match cli::parse(std::env::args_os().skip(1).collect()) {
        Ok(Invocation::Run(options)) => options,
        Ok(Invocation::Help) => {
            println!("{}", cli::HELP);
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Version) => {
            println!("dyspatcher {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(message) => return fail(&message, USAGE_ERROR),
    };
    match start(*options) {
        Ok(()) => ExitCode::SUCCESS,
        Err((message, code)) => fail(&message, code),
    }
}

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("dyspatcher: {message}");
    ExitCode::from(code)
}

fn start(options: Options) -> Result<(), (String, u8)> {
    let started = Instant::now();
    let tls = tls_setup(&options)?;
    let (admin, key_origin) = admin_key(&options)?;

    let default_port = if tls.is_some() { 443 } else { 80 };
    let web_addr = SocketAddr::new(options.ip, options.port.unwrap_or(default_port));
    let web = listeners::bind(web_addr, "web port, -p").map_err(|m| (m, 1))?;
    let websocket = match options.wsport {
        Some(port) => Some(
            listeners::bind(SocketAddr::new(options.ip, port), "WebSocket port, -w")
                .map_err(|m| (m, 1))?,
        ),
        None => None,
    };
    let web_addr = web.local_addr().map_err(|e| (e.to_string(), 1))?;
    let ws_addr = match &websocket {
        Some(l) => Some(l.local_addr().map_err(|e| (e.to_string(), 1))?),
        None => None,
    };
    let redirect = match options.redirect_http {
        Some(port) => Some(
            listeners::bind(
                SocketAddr::new(options.ip, port),
                "HTTP redirect port, --redirect-http",
            )
            .map_err(|m| (m, 1))?,
        ),
        None => None,
    };
    let redirect_addr = match &redirect {
        Some(l) => Some(l.local_addr().map_err(|e| (e.to_string(), 1))?),
        None => None,
    };
    let (http, ws) = if tls.is_some() {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    let page_url = format!("{http}://{}/", url_host(web_addr));

    let settings = Settings {
        admin_name: options.admin_name.clone(),
        disable_all: options.disable_all,
        only_admin: options.only_admin,
        welcome: options.welcome.clone(),
    };
    let admin_key_id = admin.public().key_id().to_string();
    let chat = Chat::new(
        settings,
        options.limits.clone(),
        admin,
        GroupKey::generate(),
        Instant::now(),
    );
    let mut console = ConsoleOut::new(Renderer::for_stdout());
    let server = Server::new(ServerParts {
        web,
        websocket,
        redirect,
        tls: tls.as_ref().map(|t| t.config.clone()),
        site: Site {
            page_url: page_url.clone(),
            https_port: tls.as_ref().map(|_| web_addr.port()),
        },
        limits: options.limits.clone(),
        chat,
        console: ConsoleOut::new(Renderer::for_stdout()),
    })
    .map_err(|e| (format!("cannot start the event loop: {e}"), 1))?;

    let banner = [
        ConsoleLine::screen_only(format!(
            "dyspatcher {}: end-to-end encrypted chat",
            env!("CARGO_PKG_VERSION")
        )),
        ConsoleLine::screen_only(key_origin),
        ConsoleLine::new()
            .plain("Administrator: ")
            .name(&options.admin_name, true)
            .plain(", Key ID ")
            .key_id(&admin_key_id)
            .screen(),
        ConsoleLine::screen_only(format!("Chat page: {page_url}")),
    ];
    for line in banner {
        console.show(&line);
    }
    if let Some(addr) = ws_addr {
        console.show(&ConsoleLine::screen_only(format!(
            "WebSocket for 0.9 clients: {ws}://{}/",
            url_host(addr)
        )));
    }
    if let Some(addr) = redirect_addr {
        console.show(&ConsoleLine::screen_only(format!(
            "Plain HTTP redirected to HTTPS: http://{}/",
            url_host(addr)
        )));
    }
    if let Some(tls) = &tls {
        console.show(&ConsoleLine::screen_only(format!("HTTPS: {}", tls.origin)));
        console.show(&ConsoleLine::screen_only(format!(
            "Certificate SHA-256 fingerprint: {}\n  (browsers show it under the certificate's details: it must be the same before you accept it)",
            tls.fingerprint
        )));
    }
    if options.ip.is_unspecified() {
        console.show(&ConsoleLine::screen_only(
            "Listening on all addresses: people open this machine's address with that port.",
        ));
    }
    console.show(&ConsoleLine::screen_only(if server.has_console() {
        format!(
            "Ready in {} ms. Type /help for the commands, @NAME text to write.",
            started.elapsed().as_millis()
        )
    } else {
        "No console (stdin cannot be read): stop the server with Ctrl-C or kill -TERM.".to_string()
    }));

    server
        .run()
        .map_err(|e| (format!("the event loop failed: {e}"), 1))
}

fn tls_setup(options: &Options) -> Result<Option<Tls>, (String, u8)> {
    let now = std::time::SystemTime::now();
    match &options.tls {
        None => Ok(None),
        Some(TlsChoice::Files {
            certificate,
            key,
            cabundle,
        }) => tls::certificate::load(certificate, key, cabundle.as_deref(), now)
            .map(Some)
            .map_err(|m| (m, USAGE_ERROR)),
        Some(TlsChoice::SelfSigned { dir, hostnames }) => {
            let names = tls::self_signed::subject_names(options.ip, hostnames);
            tls::self_signed::make_or_reuse(&names, dir.as_deref(), now)
                .map(Some)
                .map_err(|m| (m, USAGE_ERROR))
        }
    }
}

fn admin_key(options: &Options) -> Result<(KeyPair, String), (String, u8)> {
    match &options.admin_key_file {
        Some(path) => {
            let shown = path.display();
            let text = std::fs::read_to_string(path).map_err(|e| {
                (
                    format!("cannot read --admin-private-key {shown}: {e}"),
                    USAGE_ERROR,
                )
            })?;
            let key = KeyPair::from_pem(&text)
                .map_err(|e| (format!("--admin-private-key {shown}: {e}"), USAGE_ERROR))?;
            let bits = key.public().bits();
            Ok((key, format!("Administrator's key: RSA-{bits} from {shown}")))
        }
        None => {
            let started = Instant::now();
            let key = KeyPair::generate(4096)
                .map_err(|e| (format!("cannot make the administrator's key: {e}"), 1))?;
            Ok((
                key,
                format!(
                    "Administrator's key: new RSA-4096, made in {:.2} s (keep one across restarts with --admin-private-key FILE)",
                    started.elapsed().as_secs_f64()
                ),
            ))
        }
    }
}

/// `host:port` for a URL: IPv6 addresses in brackets.
fn url_host(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}
