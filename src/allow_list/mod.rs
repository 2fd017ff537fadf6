//! The allow list (`--allow-list FILE`): CSV lines `keyid,username`. Only listed keys may
//! join, under the listed name. This is the pure part: parsing and looking up. Watching
//! the file is `file.rs`'s, for the event loop.

mod file;

use std::collections::HashMap;

use crate::names::is_valid_user_name;
pub use file::AllowListFile;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    /// Key ID → the name that key joins under.
    entries: HashMap<String, String>,
    /// File order, for `/allowlist`.
    order: Vec<String>,
}

/// A line of the file that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    pub line: usize,
    pub why: String,
}

impl AllowList {
    /// Parses the file's text. Blank lines and `#` comments are allowed; every other
    /// line that is not `keyid,username` is reported and skipped.
    pub fn parse(text: &str) -> (Self, Vec<LineProblem>) {
        let mut list = Self::default();
        let mut problems = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let problem = |why: String| LineProblem { line: i + 1, why };
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let [key_id, name] = fields[..] else {
                problems.push(problem("expected two fields: keyid,username".into()));
                continue;
            };
            let key_id = key_id.to_ascii_lowercase();
            if key_id.len() != 64 || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
                problems.push(problem(
                    "the Key ID is not 64 hex digits (the SHA-256 of the public key)".into(),
                ));
                continue;
            }
            if !is_valid_user_name(name) {
                let shown: String = name.chars().take(20).collect();
                problems.push(problem(format!(
                    "the username {shown:?} breaks the name rules (4-15 of a-z and 0-9): entry refused"
                )));
                continue;
            }
            if list.entries.contains_key(&key_id) {
                problems.push(problem(
                    "this Key ID is listed twice: the first line counts".into(),
                ));
                continue;
            }
            list.order.push(key_id.clone());
            list.entries.insert(key_id, name.to_string());
        }
        (list, problems)
    }

    /// The name a key joins under, if it is listed.
    pub fn name_for(&self, key_id: &str) -> Option<&str> {
        self.entries.get(key_id).map(String::as_str)
    }

    /// `(key id, name)` in file order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.order
            .iter()
            .map(|k| (k.as_str(), self.entries[k].as_str()))
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "3a2a05238472d1af0fe2370dc84af000f02163c6c4ebbc1aee243e1d61126580";
    const B: &str = "dca1f38c793349bef5897da31ce04d0b40a652bc15cf8ed92988877da8d6da51";

    #[test]
    fn entries_comments_and_blank_lines() {
        let text = format!(
            "# who may join\n\n{A},alice\n  {},bobby  \n",
            B.to_uppercase()
        );
        let (list, problems) = AllowList::parse(&text);
        assert_eq!(problems, vec![]);
        assert_eq!(list.name_for(A), Some("alice"));
        assert_eq!(list.name_for(B), Some("bobby"));
        assert_eq!(
            list.entries().map(|(_, n)| n).collect::<Vec<_>>(),
            ["alice", "bobby"]
        );
    }

    #[test]
    fn malformed_lines_are_reported_with_their_number_and_skipped() {
        let text = format!(
            "{A},alice\nnonsense\n{B},Bob\n1234,carol\n{A},again\n{B},bobby,extra\n{B},bobby\n"
        );
        let (list, problems) = AllowList::parse(&text);
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6]);
        assert!(problems[1].why.contains("name rules"));
        assert_eq!(list.len(), 2);
        assert_eq!(list.name_for(B), Some("bobby"));
    }

    #[test]
    fn hostile_text_never_panics() {
        for text in ["\u{0}", ",", ",,,,", "\u{feff}x,y", &"a,".repeat(10_000)] {
            let _ = AllowList::parse(text);
        }
    }
}
