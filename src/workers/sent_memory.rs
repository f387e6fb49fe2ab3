//! The notifier's memory of which (message, user) pairs were notified, in a file of the data
//! directory so that restarts and replays never notify twice.
//!
//! A notification is sent in three steps: the intent is written ("about to send"), the record
//! is produced and acknowledged, then the pair is remembered as sent. A SIGKILL between the
//! acknowledgement and the last write leaves an intent without its "sent": such a pair is *in
//! doubt*, and the notifier resolves it before it sends anything else by looking for it in the
//! notification topic from the intent's time on (see `notify_recovery`). Without the intent
//! there would be no way to tell "sent, then killed" from "never sent".
//!
//! File format, one entry a line, appended only:
//! - `<message>\t<user>`: sent (also the format of files written before intents existed);
//! - `?\t<ms since epoch>\t<message>\t<user>`: intent to send;
//! - `-\t<message>\t<user>`: an intent found not sent (it is sent again when its event is).
//!
//! Message and user ids never contain tabs or newlines (the event parser rejects them), and
//! never equal `?` or `-`.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;

pub type Pair = (String, String);

#[derive(Debug, thiserror::Error)]
#[error("notification memory {path}: {source}")]
pub struct MemoryError {
    path: String,
    #[source]
    source: std::io::Error,
}

/// Which (message, user) pairs were notified, and which are in doubt after a crash.
pub struct SentMemory {
    sent: HashSet<Pair>,
    /// Intents without a "sent" or "not sent" line after them, with their time.
    in_doubt: HashMap<Pair, i64>,
    file: Option<(PathBuf, std::fs::File)>,
}

/// What one line of the file says.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Sent(Pair),
    Intent(Pair, i64),
    NotSent(Pair),
}

/// Parses one line; `None` for a line that is blank or not of the format.
pub fn parse_line(line: &str) -> Option<Entry> {
    let fields: Vec<&str> = line.split('\t').collect();
    let pair = |m: &str, u: &str| (!m.is_empty() && !u.is_empty()).then(|| (m.into(), u.into()));
    match fields.as_slice() {
        ["?", t, m, u] => Some(Entry::Intent(pair(m, u)?, t.parse().ok()?)),
        ["-", m, u] => Some(Entry::NotSent(pair(m, u)?)),
        [m, u] => Some(Entry::Sent(pair(m, u)?)),
        _ => None,
    }
}

impl SentMemory {
    pub fn in_memory() -> Self {
        Self {
            sent: HashSet::new(),
            in_doubt: HashMap::new(),
            file: None,
        }
    }

    /// Loads `path` and appends to it from now on.
    pub fn open(path: PathBuf) -> Result<Self, MemoryError> {
        let err = |source| MemoryError {
            path: path.display().to_string(),
            source,
        };
        let mut memory = Self::in_memory();
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(err(e)),
        };
        // Only complete lines count: a kill in the middle of a write leaves the last one
        // without its newline, and it could read as another, wrong, pair.
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        for line in complete.split('\n') {
            if let Some(entry) = parse_line(line) {
                memory.fold(entry);
            }
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(err)?;
        if !text.is_empty() && !text.ends_with('\n') {
            // Close the torn line so that the next entry starts on a line of its own.
            file.write_all(b"\n").map_err(err)?;
        }
        memory.file = Some((path, file));
        Ok(memory)
    }

    fn fold(&mut self, entry: Entry) {
        match entry {
            Entry::Sent(p) => {
                self.in_doubt.remove(&p);
                self.sent.insert(p);
            }
            Entry::Intent(p, t) => {
                if !self.sent.contains(&p) {
                    self.in_doubt.insert(p, t);
                }
            }
            Entry::NotSent(p) => {
                self.in_doubt.remove(&p);
            }
        }
    }

    fn append(&mut self, text: &str) -> Result<(), MemoryError> {
        if let Some((path, f)) = &mut self.file {
            // One write for all lines: a kill tears at most the last one.
            f.write_all(text.as_bytes()).map_err(|source| MemoryError {
                path: path.display().to_string(),
                source,
            })?;
        }
        Ok(())
    }

    pub fn contains(&self, message: &str, user: &str) -> bool {
        self.sent.contains(&(message.to_string(), user.to_string()))
    }

    /// Records that these pairs are about to be sent.
    pub fn intend(&mut self, pairs: &[Pair], now_ms: i64) -> Result<(), MemoryError> {
        let text: String = pairs
            .iter()
            .map(|(m, u)| format!("?\t{now_ms}\t{m}\t{u}\n"))
            .collect();
        self.append(&text)
    }

    /// Records a pair as sent (acknowledged by the broker).
    pub fn remember(&mut self, message: &str, user: &str) -> Result<(), MemoryError> {
        let pair = (message.to_string(), user.to_string());
        self.in_doubt.remove(&pair);
        if self.sent.insert(pair) {
            self.append(&format!("{message}\t{user}\n"))?;
        }
        Ok(())
    }

    /// Pairs whose intent was written but whose outcome was not, with the intent's time.
    pub fn in_doubt(&self) -> &HashMap<Pair, i64> {
        &self.in_doubt
    }

    /// Settles every pair in doubt: those `found` in the notification topic are sent, the
    /// others were not (their events were not committed either, so they come back).
    pub fn resolve(&mut self, found: &HashSet<Pair>) -> Result<(), MemoryError> {
        let doubts: Vec<Pair> = self.in_doubt.keys().cloned().collect();
        for pair in doubts {
            if found.contains(&pair) {
                self.remember(&pair.0, &pair.1)?;
            } else {
                self.in_doubt.remove(&pair);
                self.append(&format!("-\t{}\t{}\n", pair.0, pair.1))?;
            }
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.sent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(m: &str, u: &str) -> Pair {
        (m.into(), u.into())
    }

    #[test]
    fn lines_parse_and_torn_ones_are_skipped() {
        assert_eq!(parse_line("m1\tbob"), Some(Entry::Sent(pair("m1", "bob"))));
        assert_eq!(
            parse_line("?\t17\tm1\tbob"),
            Some(Entry::Intent(pair("m1", "bob"), 17))
        );
        assert_eq!(
            parse_line("-\tm1\tbob"),
            Some(Entry::NotSent(pair("m1", "bob")))
        );
        assert_eq!(parse_line("?\t17\tm1"), None);
        assert_eq!(parse_line("m1"), None);
        assert_eq!(parse_line("?\tx\tm1\tbob"), None);
        assert_eq!(parse_line(""), None);
    }

    #[test]
    fn memory_survives_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sent.tsv");
        let mut m = SentMemory::open(path.clone()).expect("open");
        m.remember("m1", "bob").expect("write");
        m.remember("m1", "bob").expect("write");
        drop(m);
        let again = SentMemory::open(path).expect("reopen");
        assert!(again.contains("m1", "bob"));
        assert_eq!(again.len(), 1);
        assert!(again.in_doubt().is_empty());
    }

    #[test]
    fn an_intent_without_its_outcome_is_in_doubt_after_a_restart_until_resolved() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sent.tsv");
        let mut m = SentMemory::open(path.clone()).expect("open");
        m.intend(
            &[pair("m1", "bob"), pair("m1", "carol"), pair("m2", "dave")],
            1_000,
        )
        .expect("intent");
        m.remember("m1", "bob").expect("sent");
        drop(m); // killed before carol's and dave's acknowledgements were written
                 // …and a torn last line, as a kill in the middle of a write leaves.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(b"m2\tda"))
            .expect("torn");

        let mut m = SentMemory::open(path.clone()).expect("reopen");
        let doubts: HashSet<Pair> = m.in_doubt().keys().cloned().collect();
        assert_eq!(
            doubts,
            HashSet::from([pair("m1", "carol"), pair("m2", "dave")])
        );
        assert_eq!(m.in_doubt()[&pair("m1", "carol")], 1_000);
        // carol's notification is found in the topic, dave's is not.
        m.resolve(&HashSet::from([pair("m1", "carol")]))
            .expect("resolve");
        assert!(m.contains("m1", "carol"));
        assert!(!m.contains("m2", "dave"));
        assert!(m.in_doubt().is_empty());
        drop(m);

        let m = SentMemory::open(path).expect("reopen again");
        assert!(m.in_doubt().is_empty(), "resolved for good");
        assert!(m.contains("m1", "carol"));
        assert!(!m.contains("m2", "dave"));
    }
}
