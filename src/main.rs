//! `dyspatcher`: checks the command line and the files it names, binds the ports, prints
//! the banner, then hands over to the event loop. Every start-up problem is reported
//! before anything is bound: exit status 2 for a usage mistake, 1 for a port that cannot
//! be bound.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Instant;

use mio::net::TcpListener;

use dyspatcher::allow_list::AllowListFile;
use dyspatcher::chat::{Admission, Chat, Settings};
use dyspatcher::cli::{self, Invocation, Options, TlsChoice};
use dyspatcher::console::ConsoleLine;
use dyspatcher::console::render::Renderer;
use dyspatcher::crypto::{GroupKey, KeyPair};
use dyspatcher::daemon::{self, Forked};
use dyspatcher::server::transcript::Transcript;
use dyspatcher::server::{ConsoleOut, Server, ServerParts, Site, listeners, stdin};
use dyspatcher::tls::{self, Tls};
use dyspatcher::tunnel::Tunnel;

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

fn start(mut options: Options) -> Result<(), (String, u8)> {
    let started = Instant::now();
    let usage = |m: String| (m, USAGE_ERROR);
    let tls = tls_setup(&options)?;
    let (admin, key_origin) = admin_key(&options)?;
    let transcript = match &options.transcription {
        Some(path) => Some(Transcript::open(path, options.transcription_append).map_err(usage)?),
        None => None,
    };
    let mut allow_list = options.allow_list.clone().map(AllowListFile::new);
    let admission = match allow_list.as_mut().and_then(AllowListFile::refresh) {
        Some((Admission::Nobody(why), _)) => return Err(usage(format!("--allow-list: {why}"))),
        Some((admission, lines)) => Some((admission, lines)),
        None => None,
    };
    if let Some(path) = &options.pid_file {
        daemon::prepare_pid_file(path).map_err(usage)?;
    }

    let fd_note = raise_open_file_limit(&mut options.limits);
    let bound = Bound::bind(&options, tls.is_some())?;
    let (http, ws) = if tls.is_some() {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    let page_url = format!("{http}://{}/", url_host(bound.web_addr));

    let settings = Settings {
        admin_name: options.admin_name.clone(),
        disable_all: options.disable_all,
        only_admin: options.only_admin,
        welcome: options.welcome.clone(),
    };
    let admin_key_id = admin.public().key_id().to_string();
    let mut chat = Chat::new(
        settings,
        options.limits.clone(),
        admin,
        GroupKey::generate(),
        Instant::now(),
    );
    let mut console = ConsoleOut::new(Renderer::for_stdout(), transcript);

    let mut banner = vec![
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
    if let Some(addr) = bound.ws_addr {
        banner.push(ConsoleLine::screen_only(format!(
            "WebSocket for 0.9 clients: {ws}://{}/",
            url_host(addr)
        )));
    }
    if let Some(addr) = bound.redirect_addr {
        banner.push(ConsoleLine::screen_only(format!(
            "Plain HTTP redirected to HTTPS: http://{}/",
            url_host(addr)
        )));
    }
    let tunnel = options
        .tunnel
        .as_ref()
        .map(|t| Tunnel::new(t, bound.web_addr, bound.ws_addr, tls.is_some()));
    for (what, url) in ["Chat page", "WebSocket for 0.9 clients"]
        .iter()
        .zip(tunnel.iter().flat_map(Tunnel::urls))
    {
        banner.push(ConsoleLine::screen_only(format!(
            "{what} from the internet (SSH tunnel): {url}"
        )));
    }
    if let Some(tls) = &tls {
        banner.push(ConsoleLine::screen_only(format!("HTTPS: {}", tls.origin)));
        banner.push(ConsoleLine::screen_only(format!(
            "Certificate SHA-256 fingerprint: {}\n  (browsers show it under the certificate's details: it must be the same before you accept it)",
            tls.fingerprint
        )));
    }
    if options.ip.is_unspecified() {
        banner.push(ConsoleLine::screen_only(
            "Listening on all addresses: people open this machine's address with that port.",
        ));
    }
    if let Some(note) = fd_note {
        banner.push(ConsoleLine::warning(note).screen());
    }
    for line in &banner {
        console.show(line);
    }
    console.show(&ConsoleLine::info(format!(
        "dyspatcher started: {page_url}"
    )));
    if let Some((admission, lines)) = admission {
        for line in &lines {
            console.show(line);
        }
        chat.set_admission(admission);
    }

    if options.daemon {
        if let Forked::Parent { child } = daemon::detach().map_err(|m| (m, 1))? {
            if let Some(path) = &options.pid_file {
                daemon::write_pid_file(path, child).map_err(|m| (m, 1))?;
            }
            println!(
                "dyspatcher runs in the background as PID {child}. Stop it with: kill {child}"
            );
            return Ok(());
        }
    } else if let Some(path) = &options.pid_file {
        daemon::write_pid_file(path, std::process::id()).map_err(|m| (m, 1))?;
    }
    console.start_syncing();

    let mut server = Server::new(ServerParts {
        web: bound.web,
        websocket: bound.websocket,
        redirect: bound.redirect,
        tls: tls.as_ref().map(|t| t.config.clone()),
        site: Site {
            page_url,
            https_port: tls.as_ref().map(|_| bound.web_addr.port()),
        },
        limits: options.limits.clone(),
        allow_list,
        chat,
        console,
        tunnel,
    })
    .map_err(|e| (format!("cannot start the event loop: {e}"), 1))?;
    let ready = if server.has_console() {
        format!(
            "Ready in {} ms. Type /help for the commands, @NAME text to write.",
            started.elapsed().as_millis()
        )
    } else {
        "No console (stdin cannot be read): stop the server with Ctrl-C or kill -TERM.".to_string()
    };
    server.show(&ConsoleLine::screen_only(ready));
    server
        .run()
        .map_err(|e| (format!("the event loop failed: {e}"), 1))
}

/// Every connection is a file descriptor: the soft limit (often 1024) is raised as far
/// as the hard limit allows, up to what `--max-connections` needs; if that is not
/// enough, the connection limit comes down to fit, and the returned note says so.
fn raise_open_file_limit(limits: &mut dyspatcher::limits::Limits) -> Option<String> {
    const RESERVE: usize = 64;
    let wanted = (limits.max_connections + RESERVE) as libc::rlim_t;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: get/setrlimit on our own process with a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < wanted {
            limit.rlim_cur = wanted.min(limit.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
    let fits = (limit.rlim_cur as usize).saturating_sub(RESERVE).max(1);
    (fits < limits.max_connections).then(|| {
        limits.max_connections = fits;
        format!(
            "The open-file limit ({}) allows {fits} connections: raise it (ulimit -n) for more",
            limit.rlim_cur
        )
    })
}

/// The listening sockets, bound before anything else happens.
struct Bound {
    web: TcpListener,
    websocket: Option<TcpListener>,
    redirect: Option<TcpListener>,
    web_addr: SocketAddr,
    ws_addr: Option<SocketAddr>,
    redirect_addr: Option<SocketAddr>,
}

impl Bound {
    fn bind(options: &Options, tls: bool) -> Result<Self, (String, u8)> {
        let bind = |port: u16, what: &str| -> Result<(TcpListener, SocketAddr), (String, u8)> {
            let listener =
                listeners::bind(SocketAddr::new(options.ip, port), what).map_err(|m| (m, 1))?;
            let addr = listener.local_addr().map_err(|e| (e.to_string(), 1))?;
            Ok((listener, addr))
        };
        let (web, web_addr) = bind(
            options.port.unwrap_or(if tls { 443 } else { 80 }),
            "web port, -p",
        )?;
        let (websocket, ws_addr) = match options.wsport {
            Some(port) => bind(port, "WebSocket port, -w").map(|(l, a)| (Some(l), Some(a)))?,
            None => (None, None),
        };
        let (redirect, redirect_addr) = match options.redirect_http {
            Some(port) => bind(port, "HTTP redirect port, --redirect-http")
                .map(|(l, a)| (Some(l), Some(a)))?,
            None => (None, None),
        };
        Ok(Self {
            web,
            websocket,
            redirect,
            web_addr,
            ws_addr,
            redirect_addr,
        })
    }
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
            let mut names = tls::self_signed::subject_names(options.ip, hostnames);
            // The address people use through the SSH tunnel.
            if let Some(host) = options.tunnel.as_ref().map(|t| t.host.to_string())
                && !names.contains(&host)
            {
                names.push(host);
            }
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
