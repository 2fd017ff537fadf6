//! The transcription (`--transcription FILE`): every console line meant for the record,
//! timestamped, appended as it happens. Each line is one write(2) to a file opened with
//! O_APPEND, so a crash of the server loses nothing written; a helper thread then
//! fdatasyncs it (batching lines that came meanwhile), so a power cut loses at most the
//! lines of the last sync, without the event loop ever waiting for the disk.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use crate::console::ConsoleLine;
use crate::console::line::Audience;
use crate::console::render::{CONTINUATION, defuse};
use crate::wall_clock::LocalTime;

pub struct Transcript {
    file: File,
    sync: Option<Arc<SyncState>>,
}

#[derive(Default)]
struct SyncState {
    dirty: Mutex<bool>,
    wake: Condvar,
}

impl Transcript {
    /// Opens the file: a new one (refusing an existing file, as the original does), or
    /// the end of an existing one with `append`.
    pub fn open(path: &Path, append: bool) -> Result<Self, String> {
        let mut options = OpenOptions::new();
        // Never through a symbolic link: it could make us append to any file we can write.
        options
            .append(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW);
        if append {
            options.create(true);
        } else {
            options.create_new(true);
        }
        let file = options.open(path).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => format!(
                "--transcription {} already exists: give a new file, or add --transcription-append to continue it",
                path.display()
            ),
            _ if e.raw_os_error() == Some(libc::ELOOP) => format!(
                "--transcription {} is a symbolic link: give the file itself",
                path.display()
            ),
            _ => format!("cannot open --transcription {}: {e}", path.display()),
        })?;
        let mode = file
            .metadata()
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        if mode & 0o077 != 0 {
            return Err(format!(
                "--transcription {} can be read by other users (mode {mode:o}): run chmod 600 {}, then start again",
                path.display(),
                path.display()
            ));
        }
        Ok(Self { file, sync: None })
    }

    /// Starts the thread that syncs the file to disk. Called once the process is what
    /// it will stay (after `--daemon` forked: threads do not survive a fork).
    pub fn start_syncing(&mut self) {
        let Ok(file) = self.file.try_clone() else {
            return;
        };
        let state = Arc::new(SyncState::default());
        let shared = Arc::clone(&state);
        let spawned = std::thread::Builder::new()
            .name("transcript-sync".into())
            .spawn(move || {
                loop {
                    let mut dirty = shared.dirty.lock().unwrap_or_else(|p| p.into_inner());
                    while !*dirty {
                        dirty = shared.wake.wait(dirty).unwrap_or_else(|p| p.into_inner());
                    }
                    *dirty = false;
                    drop(dirty);
                    let _ = file.sync_data();
                }
            });
        if spawned.is_ok() {
            self.sync = Some(state);
        }
    }

    /// Appends a line meant for the record; others (help, keys) are never written.
    pub fn record(&mut self, line: &ConsoleLine) {
        if line.audience != Audience::Record {
            return;
        }
        let text = format!(
            "{} {}\n",
            LocalTime::now().date_time(),
            defuse(&line.text(), CONTINUATION)
        );
        if self.file.write_all(text.as_bytes()).is_err() {
            return;
        }
        match &self.sync {
            Some(state) => {
                *state.dirty.lock().unwrap_or_else(|p| p.into_inner()) = true;
                state.wake.notify_one();
            }
            None => {
                let _ = self.file.sync_data();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_the_chat_not_the_keys_and_refuses_an_existing_file() {
        let path =
            std::env::temp_dir().join(format!("dyspatcher-transcript-{}.txt", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut t = Transcript::open(&path, false).unwrap();
        t.start_syncing();
        t.record(&ConsoleLine::info("alice joined"));
        t.record(&ConsoleLine::screen_only("-----BEGIN PRIVATE KEY-----"));
        t.record(&ConsoleLine::info("two\nlines"));
        t.record(&ConsoleLine::info("bell\x07 and \x1b]0;title\x07 escapes"));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[3].ends_with(r" bell\u{7} and \u{1b}]0;title\u{7} escapes"));
        assert!(!text.contains('\x1b') && !text.contains('\x07'));
        assert!(
            lines[0].ends_with(" alice joined")
                && lines[0].len() == "2026-01-01 00:00:00 alice joined".len()
        );
        assert_eq!(lines[2], format!("{CONTINUATION}lines"));
        assert!(!text.contains("PRIVATE"));
        assert!(
            Transcript::open(&path, false)
                .err()
                .unwrap()
                .contains("--transcription-append")
        );
        let mut again = Transcript::open(&path, true).unwrap();
        again.record(&ConsoleLine::info("after restart"));
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("alice joined")
        );
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_transcription_others_can_read_or_a_link_is_refused() {
        let dir = std::env::temp_dir().join(format!("dyspatcher-tmode-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let shared = dir.join("shared.log");
        std::fs::write(&shared, "old\n").unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Transcript::open(&shared, true).err().unwrap();
        assert!(
            err.contains("mode 644") && err.contains("chmod 600"),
            "{err}"
        );
        let link = dir.join("link.log");
        std::os::unix::fs::symlink(&shared, &link).unwrap();
        for append in [true, false] {
            assert!(Transcript::open(&link, append).is_err(), "append {append}");
        }
        let err = Transcript::open(&link, true).err().unwrap();
        assert!(err.contains("symbolic link"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
