//! Watching the allow list file: re-read only when it changed (size, time or inode), so
//! edits apply to the next join without a restart and without reading the file for
//! every join. A file that disappears or cannot be read refuses everybody (fail closed).

use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::time::SystemTime;

use super::AllowList;
use crate::chat::Admission;
use crate::console::ConsoleLine;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

pub struct AllowListFile {
    path: PathBuf,
    /// What the file looked like when last read; `None` after a failure.
    stamp: Option<Stamp>,
    /// The last failure reported, so it is said once, not at every join.
    failure: Option<String>,
}

impl AllowListFile {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            stamp: None,
            failure: None,
        }
    }

    /// The admission policy if the file changed since the last look, with what the
    /// console should say about it.
    pub fn refresh(&mut self) -> Option<(Admission, Vec<ConsoleLine>)> {
        let shown = self.path.display().to_string();
        let read = fs::metadata(&self.path).and_then(|m| {
            let stamp = Stamp {
                modified: m.modified().ok(),
                len: m.len(),
                inode: m.ino(),
            };
            if self.stamp.as_ref() == Some(&stamp) {
                return Ok(None);
            }
            fs::read_to_string(&self.path).map(|text| Some((stamp, text)))
        });
        match read {
            Ok(None) => None,
            Ok(Some((stamp, text))) => {
                let (list, problems) = AllowList::parse(&text);
                let mut lines: Vec<ConsoleLine> = problems
                    .iter()
                    .map(|p| {
                        ConsoleLine::warning(format!(
                            "allow list {shown}, line {}: {}; skipped",
                            p.line, p.why
                        ))
                    })
                    .collect();
                lines.push(ConsoleLine::info(format!(
                    "allow list {shown}: {} keys may join",
                    list.len()
                )));
                self.stamp = Some(stamp);
                self.failure = None;
                Some((Admission::Listed(list), lines))
            }
            Err(err) => {
                let why = format!("the allow list {shown} cannot be read ({err})");
                self.stamp = None;
                let first_time = self.failure.as_deref() != Some(why.as_str());
                self.failure = Some(why.clone());
                let lines = if first_time {
                    vec![ConsoleLine::warning(format!(
                        "{why}: nobody can join until it is back"
                    ))]
                } else {
                    Vec::new()
                };
                Some((Admission::Nobody(why), lines))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_on_change_and_fails_closed() {
        let dir = std::env::temp_dir().join(format!("dyspatcher-allow-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("allow.csv");
        let key = "3a2a05238472d1af0fe2370dc84af000f02163c6c4ebbc1aee243e1d61126580";
        fs::write(&path, format!("{key},alice\nbroken line\n")).unwrap();
        let mut file = AllowListFile::new(path.clone());
        let (admission, lines) = file.refresh().unwrap();
        assert!(matches!(&admission, Admission::Listed(l) if l.name_for(key) == Some("alice")));
        assert!(lines[0].text().contains("line 2"));
        assert_eq!(file.refresh(), None, "unchanged: not read again");
        fs::remove_file(&path).unwrap();
        let (admission, lines) = file.refresh().unwrap();
        assert!(matches!(admission, Admission::Nobody(_)));
        assert_eq!(lines.len(), 1);
        let (_, lines) = file.refresh().unwrap();
        assert!(lines.is_empty(), "said once");
        fs::write(&path, format!("{key},alicia\n")).unwrap();
        let (admission, _) = file.refresh().unwrap();
        assert!(matches!(&admission, Admission::Listed(l) if l.name_for(key) == Some("alicia")));
        let _ = fs::remove_dir_all(&dir);
    }
}
