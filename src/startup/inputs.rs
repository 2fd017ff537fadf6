//! What the options name, read and checked before anything is bound: the TLS certificate,
//! the administrator's key, the transcription file, the allow list and the PID file. A
//! mistake in any of them is a usage error.

use std::time::{Instant, SystemTime};

use super::StartupError::{self, Runtime, Usage};
use crate::allow_list::AllowListFile;
use crate::chat::Admission;
use crate::cli::{Options, TlsChoice};
use crate::console::ConsoleLine;
use crate::crypto::KeyPair;
use crate::daemon;
use crate::server::transcript::Transcript;
use crate::tls::{self, Tls};

pub(super) struct Inputs {
    pub tls: Option<Tls>,
    pub admin: KeyPair,
    /// Where the administrator's key came from, for the banner.
    pub key_origin: String,
    pub transcript: Option<Transcript>,
    pub allow_list: Option<AllowListFile>,
    /// The allow list's first reading: who may join, and what the console says about it.
    pub admission: Option<(Admission, Vec<ConsoleLine>)>,
}

impl Inputs {
    pub fn read(options: &Options) -> Result<Self, StartupError> {
        let tls = tls_setup(options)?;
        let (admin, key_origin) = admin_key(options)?;
        let transcript = match &options.transcription {
            Some(path) => {
                Some(Transcript::open(path, options.transcription_append).map_err(Usage)?)
            }
            None => None,
        };
        let mut allow_list = options.allow_list.clone().map(AllowListFile::new);
        let admission = match allow_list.as_mut().and_then(AllowListFile::refresh) {
            Some((Admission::Nobody(why), _)) => {
                return Err(Usage(format!("--allow-list: {why}")));
            }
            other => other,
        };
        if let Some(path) = &options.pid_file {
            daemon::prepare_pid_file(path).map_err(Usage)?;
        }
        Ok(Self {
            tls,
            admin,
            key_origin,
            transcript,
            allow_list,
            admission,
        })
    }
}

fn tls_setup(options: &Options) -> Result<Option<Tls>, StartupError> {
    let now = SystemTime::now();
    match &options.tls {
        None => Ok(None),
        Some(TlsChoice::Files {
            certificate,
            key,
            cabundle,
        }) => tls::certificate::load(certificate, key, cabundle.as_deref(), now)
            .map(Some)
            .map_err(Usage),
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
                .map_err(Usage)
        }
    }
}

/// The administrator's key pair, and a line saying where it came from.
fn admin_key(options: &Options) -> Result<(KeyPair, String), StartupError> {
    match &options.admin_key_file {
        Some(path) => {
            let shown = path.display();
            let text = std::fs::read_to_string(path)
                .map_err(|e| Usage(format!("cannot read --admin-private-key {shown}: {e}")))?;
            let key = KeyPair::from_pem(&text)
                .map_err(|e| Usage(format!("--admin-private-key {shown}: {e}")))?;
            let bits = key.public().bits();
            Ok((key, format!("Administrator's key: RSA-{bits} from {shown}")))
        }
        None => {
            let started = Instant::now();
            let key = KeyPair::generate(4096)
                .map_err(|e| Runtime(format!("cannot make the administrator's key: {e}")))?;
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
