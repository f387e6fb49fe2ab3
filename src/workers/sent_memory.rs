//! The notifier's memory, in a file of the data directory (`notified.tsv`) so that restarts
//! and replays never notify twice: which (message, user) pairs were notified, which are in
//! doubt after a crash, and who wrote each message (so that an edit never notifies its
//! author, even after a restart and without `editor_id`).
//!
//! A notification is sent in three steps: the intent is written ("about to send"), the record
//! is produced and acknowledged, then the pair is remembered as sent. A SIGKILL between the
//! acknowledgement and the last write leaves an intent without its "sent": such a pair is *in
//! doubt*, and the notifier resolves it before it sends anything else by looking for it in the
//! notification topic from the intent's time on (see `notify_recovery`). Without the intent
//! there would be no way to tell "sent, then killed" from "never sent".
//!
//! File format, one entry a line, appended between compactions:
//! - `+\t<ms>\t<message>\t<user>`: sent at that time;
//! - `<message>\t<user>`: sent, in files written before times were recorded: read as sent
//!   *now*, so such a pair is kept for one more retention window;
//! - `?\t<ms>\t<message>\t<user>`: intent to send;
//! - `-\t<message>\t<user>`: an intent found not sent (it is sent again when its event is);
//! - `@\t<ms>\t<message>\t<author>`: the author of a message, learned at that time.
//!
//! Message and user ids never contain tabs or newlines (the event parser rejects them). The
//! kinds differ in their number of fields or their first field, so an id equal to a marker
//! cannot be misread.
//!
//! Invariants:
//! - Only complete lines count: a kill in the middle of a write tears at most the last line,
//!   which is ignored.
//! - Retention: sent pairs and authors older than the retention window are forgotten (a
//!   replay of an event older than the window could notify again: the window must cover how
//!   far back the topics can be replayed). Intents in doubt are kept until settled, whatever
//!   their age.
//! - Compaction rewrites the file from memory — every pair and author inside the window,
//!   every intent not settled — into a temporary file that is synced, renamed over the file,
//!   and the directory synced: a crash leaves the old file or the new one, never a mix, and
//!   never loses an entry inside the window. It runs at open and whenever the file has grown
//!   to twice its size after the last compaction, so the file and the memory stay within a
//!   constant factor of what the window holds.
//! - Authors are bounded by the same window rather than by an LRU cap: an edit may come at
//!   any time a replay can reach, and with one rule for everything what is forgotten does
//!   not depend on the traffic. They are written with the next write of the batch (its
//!   intents), so they cost no extra system call; one lost in a crash belongs to a batch not
//!   yet committed, which is read again.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub type Pair = (String, String);

/// Milliseconds since the epoch; tests drive their own.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// `notifier.memory_retention_hours` by default: 7 days, Kafka's default topic retention.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(168 * 3600);

/// Below this size the file is not compacted for growth alone (at open it always is).
const MIN_COMPACT_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
#[error("notification memory {path}: {source}")]
pub struct MemoryError {
    path: String,
    #[source]
    source: std::io::Error,
}

impl MemoryError {
    fn at(path: &Path) -> impl Fn(std::io::Error) -> MemoryError + '_ {
        move |source| MemoryError {
            path: path.display().to_string(),
            source,
        }
    }
}

/// At most this many authors are kept, the newest: the retention window alone would let a
/// busy platform (50 messages/s for 7 days: 30 million) hold gigabytes. An author is only
/// needed when an edit without `editor_id` adds a mention of the author to an older message;
/// past this many messages that one self-notification is the price.
pub const MAX_AUTHORS: usize = 100_000;

/// Author lines waiting for a write are flushed past this size.
const UNWRITTEN_FLUSH_BYTES: usize = 64 * 1024;

/// Forgets the oldest authors until `max` are left.
fn keep_newest_authors(authors: &mut HashMap<String, (String, i64)>, max: usize) {
    if authors.len() <= max {
        return;
    }
    let mut times: Vec<i64> = authors.values().map(|(_, at)| *at).collect();
    let cut = times.len() - max;
    let (_, nth, _) = times.select_nth_unstable(cut);
    let threshold = *nth;
    authors.retain(|_, (_, at)| *at >= threshold);
    // Ties at the threshold may leave a few more than `max`; the next pass trims them.
}

/// Which (message, user) pairs were notified, which are in doubt after a crash, and who
/// wrote each message.
pub struct SentMemory {
    /// Sent pairs, with the time they were remembered.
    sent: HashMap<Pair, i64>,
    /// Intents of this run whose outcome is not written yet (a batch in flight, or failed
    /// and to be retried). Written as intents by a compaction: after a crash they are in
    /// doubt.
    intents: HashMap<Pair, i64>,
    /// Intents found without an outcome at open, with their time.
    in_doubt: HashMap<Pair, i64>,
    /// Message id → (author, time learned).
    authors: HashMap<String, (String, i64)>,
    /// Author lines to write with the next write.
    unwritten: String,
    retention_ms: i64,
    clock: Clock,
    store: Option<Store>,
}

/// The file behind the memory.
struct Store {
    path: PathBuf,
    /// None after a failed reopen: the next write opens it again.
    file: Option<std::fs::File>,
    /// Bytes in the file, and right after the last compaction.
    len: u64,
    compacted_len: u64,
    min_compact_bytes: u64,
}

/// What one line of the file says.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// Sent; the time is absent in lines of the old format.
    Sent(Pair, Option<i64>),
    Intent(Pair, i64),
    NotSent(Pair),
    Author {
        message: String,
        author: String,
        at: i64,
    },
}

/// Parses one line; `None` for a line that is blank or not of the format.
pub fn parse_line(line: &str) -> Option<Entry> {
    let fields: Vec<&str> = line.split('\t').collect();
    let pair = |m: &str, u: &str| (!m.is_empty() && !u.is_empty()).then(|| (m.into(), u.into()));
    match fields.as_slice() {
        ["?", t, m, u] => Some(Entry::Intent(pair(m, u)?, t.parse().ok()?)),
        ["+", t, m, u] => Some(Entry::Sent(pair(m, u)?, Some(t.parse().ok()?))),
        ["@", t, m, a] => {
            let (message, author) = pair(m, a)?;
            Some(Entry::Author {
                message,
                author,
                at: t.parse().ok()?,
            })
        }
        ["-", m, u] => Some(Entry::NotSent(pair(m, u)?)),
        [m, u] => Some(Entry::Sent(pair(m, u)?, None)),
        _ => None,
    }
}

fn now_ms_clock() -> Clock {
    Arc::new(crate::event::now_ms)
}

fn retention_ms(retention: Duration) -> i64 {
    i64::try_from(retention.as_millis()).unwrap_or(i64::MAX)
}

impl SentMemory {
    /// A memory without a file (tests), with the default retention.
    pub fn in_memory() -> Self {
        Self::empty(retention_ms(DEFAULT_RETENTION), now_ms_clock())
    }

    fn empty(retention_ms: i64, clock: Clock) -> Self {
        Self {
            sent: HashMap::new(),
            intents: HashMap::new(),
            in_doubt: HashMap::new(),
            authors: HashMap::new(),
            unwritten: String::new(),
            retention_ms,
            clock,
            store: None,
        }
    }

    /// [`SentMemory::open_with`] the default retention.
    pub fn open(path: PathBuf) -> Result<Self, MemoryError> {
        Self::open_with(path, DEFAULT_RETENTION)
    }

    /// Loads `path`, compacts it, and appends to it from now on.
    pub fn open_with(path: PathBuf, retention: Duration) -> Result<Self, MemoryError> {
        Self::open_at(path, retention_ms(retention), now_ms_clock())
    }

    /// Like [`SentMemory::open_with`], with a clock of the caller's.
    pub fn open_at(path: PathBuf, retention_ms: i64, clock: Clock) -> Result<Self, MemoryError> {
        let mut memory = Self::empty(retention_ms, clock);
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(MemoryError::at(&path)(e)),
        };
        let now = (memory.clock)();
        // Only complete lines count: a kill in the middle of a write leaves the last one
        // without its newline, and it could read as another, wrong, pair.
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        for line in complete.split('\n') {
            if let Some(entry) = parse_line(line) {
                memory.fold(entry, now);
            }
        }
        memory.store = Some(Store {
            path,
            file: None,
            len: 0,
            compacted_len: 0,
            min_compact_bytes: MIN_COMPACT_BYTES,
        });
        // Drops what expired, writes old lines with their time, and leaves the torn line out.
        memory.compact()?;
        Ok(memory)
    }

    fn fold(&mut self, entry: Entry, now: i64) {
        match entry {
            Entry::Sent(p, at) => {
                self.in_doubt.remove(&p);
                let at = at.unwrap_or(now);
                let t = self.sent.entry(p).or_insert(at);
                *t = (*t).max(at);
            }
            Entry::Intent(p, t) => {
                if !self.sent.contains_key(&p) {
                    self.in_doubt.insert(p, t);
                }
            }
            Entry::NotSent(p) => {
                self.in_doubt.remove(&p);
            }
            Entry::Author {
                message,
                author,
                at,
            } => {
                let known = self.authors.entry(message).or_insert((author.clone(), at));
                if at >= known.1 {
                    *known = (author, at);
                }
            }
        }
    }

    /// Writes `text` after the author lines waiting, in one write (a kill tears at most the
    /// last line), then compacts when the file has doubled.
    fn append(&mut self, text: &str) -> Result<(), MemoryError> {
        if self.unwritten.is_empty() && text.is_empty() {
            return Ok(());
        }
        let grown = {
            let Some(store) = &mut self.store else {
                self.unwritten.clear();
                return Ok(());
            };
            let err = MemoryError::at(&store.path);
            let file = match &mut store.file {
                Some(f) => f,
                None => store.file.insert(open_append(&store.path).map_err(&err)?),
            };
            let mut data = std::mem::take(&mut self.unwritten);
            data.push_str(text);
            if let Err(e) = file.write_all(data.as_bytes()) {
                // The author lines go with the next write; the caller retries its own.
                data.truncate(data.len() - text.len());
                self.unwritten = data;
                return Err(err(e));
            }
            store.len += data.len() as u64;
            store.len > 2 * store.compacted_len.max(store.min_compact_bytes)
        };
        if grown {
            if let Err(e) = self.compact() {
                // The old file is whole and still appended to: try again once it doubles.
                tracing::warn!("{e}; compacting again later");
                if let Some(store) = &mut self.store {
                    store.compacted_len = store.len;
                }
            }
        }
        Ok(())
    }

    /// Forgets what left the window and, with a file, rewrites it atomically from memory.
    fn compact(&mut self) -> Result<(), MemoryError> {
        let cutoff = (self.clock)().saturating_sub(self.retention_ms);
        self.sent.retain(|_, at| *at >= cutoff);
        self.authors.retain(|_, (_, at)| *at >= cutoff);
        keep_newest_authors(&mut self.authors, MAX_AUTHORS);
        if self.store.is_none() {
            self.unwritten.clear();
            return Ok(());
        }
        let text = self.render();
        let Some(store) = &mut self.store else {
            return Ok(());
        };
        let err = MemoryError::at(&store.path);
        // The append handle would write to the replaced file: close it first.
        store.file = None;
        write_atomically(&store.path, text.as_bytes()).map_err(&err)?;
        self.unwritten.clear();
        store.len = text.len() as u64;
        store.compacted_len = store.len;
        store.file = Some(open_append(&store.path).map_err(&err)?);
        Ok(())
    }

    /// The whole memory as lines of the file.
    fn render(&self) -> String {
        let mut out = String::new();
        for ((m, u), at) in &self.sent {
            out.push_str(&format!("+\t{at}\t{m}\t{u}\n"));
        }
        for (m, (a, at)) in &self.authors {
            out.push_str(&format!("@\t{at}\t{m}\t{a}\n"));
        }
        for ((m, u), at) in self.in_doubt.iter().chain(&self.intents) {
            out.push_str(&format!("?\t{at}\t{m}\t{u}\n"));
        }
        out
    }

    pub fn contains(&self, message: &str, user: &str) -> bool {
        self.sent
            .contains_key(&(message.to_string(), user.to_string()))
    }

    /// Records that these pairs are about to be sent (and writes the authors learned since
    /// the last write).
    pub fn intend(&mut self, pairs: &[Pair], now_ms: i64) -> Result<(), MemoryError> {
        let mut text = String::new();
        for (m, u) in pairs {
            text.push_str(&format!("?\t{now_ms}\t{m}\t{u}\n"));
            self.intents.insert((m.clone(), u.clone()), now_ms);
        }
        self.append(&text)
    }

    /// Records a pair as sent (acknowledged by the broker).
    pub fn remember(&mut self, message: &str, user: &str) -> Result<(), MemoryError> {
        let pair = (message.to_string(), user.to_string());
        self.in_doubt.remove(&pair);
        self.intents.remove(&pair);
        if self.sent.contains_key(&pair) {
            return Ok(());
        }
        let now = (self.clock)();
        self.sent.insert(pair, now);
        self.append(&format!("+\t{now}\t{message}\t{user}\n"))
    }

    /// Remembers who wrote `message`; written with the next write (see the module notes).
    pub fn remember_author(&mut self, message: &str, author: &str) {
        if self
            .authors
            .get(message)
            .is_some_and(|(known, _)| known == author)
        {
            return;
        }
        let now = (self.clock)();
        self.authors
            .insert(message.to_string(), (author.to_string(), now));
        self.unwritten
            .push_str(&format!("@\t{now}\t{message}\t{author}\n"));
        if self.authors.len() > MAX_AUTHORS + MAX_AUTHORS / 4 {
            keep_newest_authors(&mut self.authors, MAX_AUTHORS);
        }
        // Without mentions nothing else writes: flush the author lines in chunks so the
        // buffer stays small. A failure is retried with the next write.
        if self.unwritten.len() > UNWRITTEN_FLUSH_BYTES {
            if let Err(e) = self.append("") {
                tracing::warn!("{e}; writing the authors again later");
            }
        }
    }

    /// The author of `message`, when it was seen within the window (and among the newest
    /// [`MAX_AUTHORS`]).
    pub fn author_of(&self, message: &str) -> Option<&str> {
        self.authors.get(message).map(|(a, _)| a.as_str())
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

    /// Sent pairs remembered.
    pub fn len(&self) -> usize {
        self.sent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }

    /// Authors remembered.
    pub fn authors_len(&self) -> usize {
        self.authors.len()
    }

    /// Bytes in the file (None without one).
    pub fn file_len(&self) -> Option<u64> {
        self.store.as_ref().map(|s| s.len)
    }

    #[cfg(test)]
    fn set_min_compact_bytes(&mut self, bytes: u64) {
        if let Some(store) = &mut self.store {
            store.min_compact_bytes = bytes;
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// Replaces `path` by `bytes` so that a crash leaves either the old or the new content:
/// a temporary file beside it, synced, renamed over it, then the directory synced so that
/// the rename itself survives.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp_name = path.as_os_str().to_os_string();
    tmp_name.push(".compacting");
    let tmp = PathBuf::from(tmp_name);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
#[path = "sent_memory_tests.rs"]
mod tests;
