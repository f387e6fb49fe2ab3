//! `SearchIndex` on a tantivy index in a local directory: the embedded default.
//!
//! tantivy has no external versions, so the version guard lives here: for each document we look
//! up the version already held (in the committed index, or among the documents applied since the
//! last commit) and write only when the new one is at least as high, as Elasticsearch's
//! `external_gte` does. Deleted messages stay as tombstones so that a replayed older event cannot
//! bring them back; search and count leave them out.
//!
//! Commits are batched by a background thread (every ~200 ms while there are changes), so a
//! document is searchable well within a second of `apply`; `refresh()` commits at once.
//!
//! tantivy allows one writer per directory. The process that indexes uses [`LocalIndex::open`];
//! any other process can search the same directory with [`LocalIndex::open_read_only`], whose
//! reader follows the writer's commits.
//!
//! The module is split by job: this file holds [`LocalIndex`], its writer state, the version
//! guard and its [`SearchIndex`] impl; `committer` the background commit thread; `query` the
//! translation of a [`SearchQuery`] into a tantivy query; `analysis` the word splitter shared by
//! indexing and querying (the highlighter, shared with Elasticsearch, is `search::highlight`).

mod analysis;
mod committer;
mod payload;
mod query;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tantivy::directory::error::LockError;
use tantivy::directory::MmapDirectory;
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, INDEXED, STORED,
    STRING,
};
use tantivy::{
    DocAddress, DocSet, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument,
    TantivyError, Term, TERMINATED,
};

pub use analysis::analyze;
use analysis::{StandardTokenizer, ANALYZER, TOKENIZER};
use committer::Committer;
use payload::Payload;

use super::{
    IndexAnalysis, IndexStats, ItemOutcome, ReplaceProgress, Replaced, SearchDoc, SearchError,
    SearchIndex, SearchQuery, SearchResults, WORDS_ONLY,
};

/// Commit at most this often while documents are pending.
pub const COMMIT_INTERVAL: Duration = Duration::from_millis(200);
/// One indexing thread is plenty for chat messages; tantivy needs at least 15 MB per thread.
const WRITER_MEMORY_BYTES: usize = 32_000_000;
/// Elasticsearch refuses longer `_id`s; refusing them here keeps both backends alike.
const MAX_ID_BYTES: usize = 512;

/// The search index in a local directory. Cheap to share: wrap it in an `Arc`.
pub struct LocalIndex {
    inner: Arc<Inner>,
    /// The background committer; `None` for a read-only index (and in some tests).
    committer: Option<Committer>,
}

struct Inner {
    dir: PathBuf,
    /// The analysis this process indexes with: [`ANALYZER`], or [`WORDS_ONLY`] for
    /// [`LocalIndex::open_words_only`].
    writes: &'static str,
    reader: IndexReader,
    fields: Fields,
    /// `None` when the index was opened read-only.
    writer: Option<Mutex<WriterState>>,
}

struct WriterState {
    writer: IndexWriter,
    /// The commit payload: which analysis built the documents (see [`Payload`]). Every
    /// commit writes it again (tantivy keeps only the last commit's); only a fresh index and
    /// `replace_all` set it to this eventdeck's [`ANALYZER`].
    payload: Payload,
    /// Documents applied since the last commit, by message id: the guard and `get` must see them
    /// although the reader does not yet.
    pending: HashMap<String, SearchDoc>,
    last_commit: Instant,
}

#[derive(Clone, Copy)]
struct Fields {
    message_id: Field,
    channel: Field,
    author: Field,
    mentions: Field,
    content: Field,
    created_at: Field,
    updated_at: Field,
    deleted: Field,
    version: Field,
    /// The whole `SearchDoc` as JSON, so that reading a document back is one stored field.
    source: Field,
}

fn build_schema() -> Schema {
    let mut b = Schema::builder();
    // FAST as well: it is the last tie-breaker of every sort.
    b.add_text_field("message_id", STRING | STORED | FAST);
    b.add_text_field("channel", STRING);
    b.add_text_field("author", STRING);
    b.add_text_field("mentions", STRING);
    let content = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    b.add_text_field("content", content);
    b.add_i64_field("created_at", INDEXED | FAST);
    b.add_i64_field("updated_at", INDEXED | FAST);
    b.add_bool_field("deleted", INDEXED | FAST);
    b.add_i64_field("version", FAST | STORED);
    b.add_text_field("source", STORED);
    b.build()
}

impl Fields {
    fn of(schema: &Schema) -> Result<Fields, SearchError> {
        let get = |name: &str| {
            schema
                .get_field(name)
                .map_err(|e| SearchError::Failed(format!("local index schema: {e}")))
        };
        Ok(Fields {
            message_id: get("message_id")?,
            channel: get("channel")?,
            author: get("author")?,
            mentions: get("mentions")?,
            content: get("content")?,
            created_at: get("created_at")?,
            updated_at: get("updated_at")?,
            deleted: get("deleted")?,
            version: get("version")?,
            source: get("source")?,
        })
    }
}

/// IO and locking problems may go away: retry. Anything else will not.
fn tantivy_error(context: &str, e: TantivyError) -> SearchError {
    let text = format!("{context}: {e}");
    match e {
        TantivyError::IoError(_)
        | TantivyError::LockFailure(..)
        | TantivyError::ErrorInThread(_)
        | TantivyError::Poisoned => SearchError::Unavailable(text),
        _ => SearchError::Failed(text),
    }
}

/// A panic while a lock was held leaves the writer usable: carry on rather than fail forever.
fn lock(state: &Mutex<WriterState>) -> MutexGuard<'_, WriterState> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LocalIndex {
    /// Opens the index in `dir` for writing and searching, creating the directory and the index
    /// when they do not exist. Fails with `Unavailable` while another process holds the writer:
    /// that process can be searched alongside with [`LocalIndex::open_read_only`].
    pub fn open(dir: &Path) -> Result<LocalIndex, SearchError> {
        Self::open_with(dir, Some(COMMIT_INTERVAL), true)
    }

    /// An index written as eventdeck wrote them before CJK grams (words only): the
    /// benchmark's baseline for what the grams cost, and the tests' "older index".
    pub fn open_words_only(dir: &Path) -> Result<LocalIndex, SearchError> {
        Self::open_with(dir, Some(COMMIT_INTERVAL), false)
    }

    /// `commit_interval: None` leaves commits to `refresh()` and drop (tests of the pending path).
    fn open_with(
        dir: &Path,
        commit_interval: Option<Duration>,
        grams: bool,
    ) -> Result<LocalIndex, SearchError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            SearchError::Failed(format!(
                "cannot create index directory {}: {e}",
                dir.display()
            ))
        })?;
        let directory = MmapDirectory::open(dir).map_err(|e| {
            SearchError::Failed(format!(
                "cannot open index directory {}: {e}",
                dir.display()
            ))
        })?;
        let index = Index::open_or_create(directory, build_schema()).map_err(|e| match e {
            TantivyError::SchemaError(_) => SearchError::Failed(format!(
                "the index in {} has another schema (an older eventdeck?): remove the directory \
                 and re-index",
                dir.display()
            )),
            e => tantivy_error(&format!("cannot open index in {}", dir.display()), e),
        })?;
        index
            .tokenizers()
            .register(TOKENIZER, StandardTokenizer { grams });
        let fields = Fields::of(&index.schema())?;
        let writer: IndexWriter = index
            .writer_with_num_threads(1, WRITER_MEMORY_BYTES)
            .map_err(|e| match e {
                TantivyError::LockFailure(LockError::LockBusy, _) => {
                    SearchError::Unavailable(format!(
                        "the index in {} is locked by another writer (another eventdeck \
                         process?); open it read-only to search it",
                        dir.display()
                    ))
                }
                e => tantivy_error(&format!("cannot open index writer in {}", dir.display()), e),
            })?;
        // Manual reloads: we reload right after each commit, so the reader is never behind
        // our own commits and `get` never misses a document between commit and reload.
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| tantivy_error("cannot open index reader", e))?;
        let payload = if grams {
            Payload::of(&index, reader.searcher().num_docs())
        } else {
            Payload::written_by(WORDS_ONLY)
        };
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            writes: if grams { ANALYZER } else { WORDS_ONLY },
            reader,
            fields,
            writer: Some(Mutex::new(WriterState {
                writer,
                payload,
                pending: HashMap::new(),
                last_commit: Instant::now(),
            })),
        });
        let committer = match commit_interval {
            Some(interval) => Some(Committer::start(inner.clone(), interval)?),
            None => None,
        };
        Ok(LocalIndex { inner, committer })
    }

    /// Opens an existing index for searching only, while another process may hold its writer.
    /// The reader follows that writer's commits (tantivy watches `meta.json`); `apply` fails.
    pub fn open_read_only(dir: &Path) -> Result<LocalIndex, SearchError> {
        let directory = MmapDirectory::open(dir).map_err(|e| {
            SearchError::Unavailable(format!("no index directory {}: {e}", dir.display()))
        })?;
        let exists = Index::exists(&directory)
            .map_err(|e| SearchError::Unavailable(format!("{}: {e}", dir.display())))?;
        if !exists {
            return Err(SearchError::Unavailable(format!(
                "no index in {} yet: the indexer creates it",
                dir.display()
            )));
        }
        let index = Index::open(directory)
            .map_err(|e| tantivy_error(&format!("cannot open index in {}", dir.display()), e))?;
        if index.schema() != build_schema() {
            return Err(SearchError::Failed(format!(
                "the index in {} has another schema (an older eventdeck?)",
                dir.display()
            )));
        }
        // Searches build their terms themselves; the tokenizer only has to exist.
        index
            .tokenizers()
            .register(TOKENIZER, StandardTokenizer { grams: true });
        let fields = Fields::of(&index.schema())?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .try_into()
            .map_err(|e| tantivy_error("cannot open index reader", e))?;
        Ok(LocalIndex {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                writes: ANALYZER,
                reader,
                fields,
                writer: None,
            }),
            committer: None,
        })
    }

    /// True when opened with [`LocalIndex::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.inner.writer.is_none()
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Runs blocking tantivy work off the async runtime.
    async fn run<T, F>(&self, work: F) -> Result<T, SearchError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, SearchError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|e| SearchError::Failed(format!("local index task failed: {e}")))?
    }
}

impl Drop for LocalIndex {
    fn drop(&mut self) {
        if let Some(committer) = self.committer.take() {
            committer.stop();
        }
        // Do not lose what was applied since the last commit on a clean shutdown.
        if let Some(state) = &self.inner.writer {
            let mut state = lock(state);
            if !state.pending.is_empty() {
                if let Err(e) = self.inner.commit_locked(&mut state) {
                    tracing::warn!(dir = %self.inner.dir.display(), "final commit failed: {e}");
                }
            }
        }
    }
}

impl Inner {
    fn writer(&self) -> Result<&Mutex<WriterState>, SearchError> {
        self.writer.as_ref().ok_or_else(|| {
            SearchError::Failed(format!(
                "the index in {} is open read-only",
                self.dir.display()
            ))
        })
    }

    /// Commits, then reloads the reader, then forgets the pending documents: in this order,
    /// under the writer lock, so a reader of `pending` + searcher never misses a document.
    fn commit_locked(&self, state: &mut WriterState) -> Result<(), SearchError> {
        let payload = serde_json::to_string(&state.payload)
            .map_err(|e| SearchError::Failed(format!("commit payload: {e}")))?;
        let mut prepared = state
            .writer
            .prepare_commit()
            .map_err(|e| tantivy_error("commit failed", e))?;
        prepared.set_payload(&payload);
        prepared
            .commit()
            .map_err(|e| tantivy_error("commit failed", e))?;
        state.last_commit = Instant::now();
        self.reader
            .reload()
            .map_err(|e| tantivy_error("reader reload failed", e))?;
        state.pending.clear();
        Ok(())
    }

    fn commit_if_due(&self, interval: Duration) -> Result<(), SearchError> {
        let Some(writer) = &self.writer else {
            return Ok(());
        };
        let mut state = lock(writer);
        if !state.pending.is_empty() && state.last_commit.elapsed() >= interval {
            self.commit_locked(&mut state)?;
        }
        Ok(())
    }

    fn refresh(&self) -> Result<(), SearchError> {
        match &self.writer {
            Some(writer) => {
                let mut state = lock(writer);
                if state.pending.is_empty() {
                    Ok(())
                } else {
                    self.commit_locked(&mut state)
                }
            }
            // Read-only: pick up the writer's latest commit now rather than after the watcher.
            None => self
                .reader
                .reload()
                .map_err(|e| tantivy_error("reader reload failed", e)),
        }
    }

    fn apply(&self, docs: Vec<SearchDoc>) -> Result<Vec<ItemOutcome>, SearchError> {
        let mut state = lock(self.writer()?);
        // Safe to use for the whole batch: commits take the same lock.
        let searcher = self.reader.searcher();
        let mut outcomes = Vec::with_capacity(docs.len());
        for doc in docs {
            if doc.message_id.is_empty() {
                outcomes.push(ItemOutcome::Rejected("message_id is empty".into()));
                continue;
            }
            if doc.message_id.len() > MAX_ID_BYTES {
                outcomes.push(ItemOutcome::Rejected(format!(
                    "message_id is {} bytes, more than {MAX_ID_BYTES}",
                    doc.message_id.len()
                )));
                continue;
            }
            let held = match state.pending.get(&doc.message_id) {
                Some(pending) => Some(pending.version),
                None => self.committed_version(&searcher, &doc.message_id)?,
            };
            if held.is_some_and(|v| v > doc.version) {
                outcomes.push(ItemOutcome::Stale);
                continue;
            }
            // Replace: the delete applies to every earlier copy, committed or not.
            let tantivy_doc = self.to_tantivy(&doc)?;
            state.writer.delete_term(Term::from_field_text(
                self.fields.message_id,
                &doc.message_id,
            ));
            state
                .writer
                .add_document(tantivy_doc)
                .map_err(|e| tantivy_error("add_document failed", e))?;
            state.pending.insert(doc.message_id.clone(), doc);
            outcomes.push(ItemOutcome::Applied);
        }
        Ok(outcomes)
    }

    /// Swaps every document for `docs` in one commit. The new documents go into new segments
    /// while searches still see the old ones; the commit (tantivy writes `meta.json`
    /// atomically) is the switch. The writer lock is held throughout, so the indexer waits
    /// (its lag grows) rather than writing into an index about to be replaced; what it
    /// indexed meanwhile the caller's catch-up writes again.
    fn replace_all(
        &self,
        docs: Vec<SearchDoc>,
        progress: ReplaceProgress,
    ) -> Result<Replaced, SearchError> {
        let mut state = lock(self.writer()?);
        // Commit first: documents added since the last commit are not in any segment yet,
        // and `delete_all_documents` only drops segments.
        if !state.pending.is_empty() {
            self.commit_locked(&mut state)?;
        }
        let before = self.reader.searcher().num_docs();
        state
            .writer
            .delete_all_documents()
            .map_err(|e| tantivy_error("clearing the index", e))?;
        let total = docs.len() as u64;
        progress(0, total);
        for (n, doc) in docs.iter().enumerate() {
            if doc.message_id.is_empty() || doc.message_id.len() > MAX_ID_BYTES {
                continue; // `apply` refuses these too: they are in the dead-letter topic
            }
            let d = self.to_tantivy(doc)?;
            if let Err(e) = state.writer.add_document(d) {
                // Nothing is switched: drop the half-built segments and keep the old ones.
                let _ = state.writer.rollback();
                return Err(tantivy_error("building the new index", e));
            }
            if (n + 1) % 10_000 == 0 {
                progress(n as u64 + 1, total);
            }
        }
        // The documents are all analysed by this process now: say so in the switching commit.
        let before_payload =
            std::mem::replace(&mut state.payload, Payload::written_by(self.writes));
        if let Err(e) = self.commit_locked(&mut state) {
            state.payload = before_payload;
            return Err(e);
        }
        progress(total, total);
        Ok(Replaced {
            old: format!("{before} documents in {}", self.dir.display()),
            new: format!("{total} documents in {}", self.dir.display()),
            documents: total,
            analyzer: self.writes.to_string(),
        })
    }

    fn to_tantivy(&self, doc: &SearchDoc) -> Result<TantivyDocument, SearchError> {
        let f = &self.fields;
        let source = serde_json::to_string(doc).map_err(|e| {
            SearchError::Failed(format!("cannot serialise {}: {e}", doc.message_id))
        })?;
        let mut d = TantivyDocument::new();
        d.add_text(f.message_id, &doc.message_id);
        d.add_text(f.channel, &doc.channel);
        d.add_text(f.author, &doc.author);
        for mention in &doc.mentions {
            d.add_text(f.mentions, mention);
        }
        d.add_text(f.content, &doc.content);
        if let Some(t) = doc.created_at {
            d.add_i64(f.created_at, t);
        }
        if let Some(t) = doc.updated_at {
            d.add_i64(f.updated_at, t);
        }
        d.add_bool(f.deleted, doc.deleted);
        d.add_i64(f.version, doc.version);
        d.add_text(f.source, source);
        Ok(d)
    }

    /// The live (not deleted) documents indexed under `id`. At most one in practice: every write
    /// deletes the previous copy in the same commit.
    fn live_docs(&self, searcher: &Searcher, id: &str) -> Result<Vec<DocAddress>, SearchError> {
        let term = Term::from_field_text(self.fields.message_id, id);
        let mut found = Vec::new();
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let inverted = segment
                .inverted_index(self.fields.message_id)
                .map_err(|e| tantivy_error("cannot read the message_id index", e))?;
            let postings = inverted
                .read_postings(&term, IndexRecordOption::Basic)
                .map_err(|e| SearchError::Unavailable(format!("cannot read postings: {e}")))?;
            let Some(mut postings) = postings else {
                continue;
            };
            let mut doc = postings.doc();
            while doc != TERMINATED {
                if !segment.is_deleted(doc) {
                    found.push(DocAddress::new(ord as u32, doc));
                }
                doc = postings.advance();
            }
        }
        Ok(found)
    }

    fn committed_version(&self, searcher: &Searcher, id: &str) -> Result<Option<i64>, SearchError> {
        let mut highest = None;
        for address in self.live_docs(searcher, id)? {
            let column = searcher
                .segment_reader(address.segment_ord)
                .fast_fields()
                .i64("version")
                .map_err(|e| tantivy_error("cannot read versions", e))?;
            if let Some(v) = column.first(address.doc_id) {
                highest = highest.max(Some(v));
            }
        }
        Ok(highest)
    }

    fn stored_doc(
        &self,
        searcher: &Searcher,
        address: DocAddress,
    ) -> Result<SearchDoc, SearchError> {
        let stored: TantivyDocument = searcher
            .doc(address)
            .map_err(|e| tantivy_error("cannot read a stored document", e))?;
        let source = stored
            .get_first(self.fields.source)
            .and_then(|v| v.as_str())
            .ok_or_else(|| SearchError::Failed("stored document without source".into()))?;
        serde_json::from_str(source)
            .map_err(|e| SearchError::Failed(format!("unreadable stored document: {e}")))
    }

    fn get(&self, ids: Vec<String>) -> Result<HashMap<String, SearchDoc>, SearchError> {
        // Hold the writer lock (if any) so that no commit moves documents from `pending` to the
        // index between the two look-ups.
        let state = self.writer.as_ref().map(lock);
        let searcher = self.reader.searcher();
        let mut found = HashMap::new();
        for id in ids {
            if let Some(doc) = state.as_ref().and_then(|s| s.pending.get(&id)) {
                found.insert(id, doc.clone());
                continue;
            }
            let mut best: Option<SearchDoc> = None;
            for address in self.live_docs(&searcher, &id)? {
                let doc = self.stored_doc(&searcher, address)?;
                if best.as_ref().is_none_or(|b| doc.version >= b.version) {
                    best = Some(doc);
                }
            }
            if let Some(doc) = best {
                found.insert(id, doc);
            }
        }
        Ok(found)
    }
}

/// Total size of the files under `path`; `None` when it cannot be read.
fn dir_size(path: &Path) -> Option<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(path).ok()? {
        let entry = entry.ok()?;
        let meta = entry.metadata().ok()?;
        if meta.is_dir() {
            total += dir_size(&entry.path())?;
        } else {
            total += meta.len();
        }
    }
    Some(total)
}

#[async_trait::async_trait]
impl SearchIndex for LocalIndex {
    async fn ensure_index(&self) -> Result<(), SearchError> {
        // `open` already created it with its schema.
        Ok(())
    }

    async fn apply(&self, docs: &[SearchDoc]) -> Result<Vec<ItemOutcome>, SearchError> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        let docs = docs.to_vec();
        self.run(move |inner| inner.apply(docs)).await
    }

    async fn get(&self, ids: &[String]) -> Result<HashMap<String, SearchDoc>, SearchError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let ids = ids.to_vec();
        self.run(move |inner| inner.get(ids)).await
    }

    async fn search(&self, query: &SearchQuery) -> Result<SearchResults, SearchError> {
        let query = query.clone();
        self.run(move |inner| inner.search(&query)).await
    }

    async fn count(&self) -> Result<u64, SearchError> {
        self.run(|inner| inner.count()).await
    }

    async fn stats(&self) -> Result<IndexStats, SearchError> {
        self.run(|inner| {
            Ok(IndexStats {
                backend: "local".into(),
                location: inner.dir.display().to_string(),
                messages: inner.count()?,
                size_bytes: dir_size(&inner.dir),
            })
        })
        .await
    }

    async fn refresh(&self) -> Result<(), SearchError> {
        self.run(|inner| inner.refresh()).await
    }

    /// Applied documents live in tantivy's writer until a commit: commit them now (a commit
    /// writes the segments and `meta.json` atomically and syncs them).
    async fn make_durable(&self) -> Result<(), SearchError> {
        self.run(|inner| inner.refresh()).await
    }

    async fn replace_all(
        &self,
        docs: Vec<SearchDoc>,
        progress: ReplaceProgress,
    ) -> Result<Replaced, SearchError> {
        self.run(move |inner| inner.replace_all(docs, progress))
            .await
    }

    async fn analysis(&self) -> Result<IndexAnalysis, SearchError> {
        self.run(|inner| {
            let built = match &inner.writer {
                Some(writer) => lock(writer).payload.clone(),
                // Another process writes: its last commit says.
                None => {
                    let searcher = inner.reader.searcher();
                    Payload::of(searcher.index(), searcher.num_docs())
                }
            };
            Ok(IndexAnalysis {
                built_with: built.analyzer,
                current: ANALYZER.to_string(),
            })
        })
        .await
    }

    fn describe(&self) -> String {
        format!("local index {}", self.inner.dir.display())
    }
}
