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

use std::collections::{HashMap, HashSet};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tantivy::collector::sort_key::{SortBySimilarityScore, SortByStaticFastValue, SortByString};
use tantivy::collector::{Count, TopDocs};
use tantivy::directory::error::LockError;
use tantivy::directory::MmapDirectory;
use tantivy::query::{
    AllQuery, BooleanQuery, ConstScoreQuery, EmptyQuery, Occur, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, INDEXED, STORED,
    STRING,
};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use tantivy::{
    DocAddress, DocSet, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Searcher,
    TantivyDocument, TantivyError, Term, TERMINATED,
};

use super::{
    IndexStats, ItemOutcome, SearchDoc, SearchError, SearchHit, SearchIndex, SearchQuery,
    SearchResults, SortOrder,
};

/// Name under which [`StandardTokenizer`] is registered; it is recorded in the schema.
const TOKENIZER: &str = "eventdeck_standard";
/// Commit at most this often while documents are pending.
const COMMIT_INTERVAL: Duration = Duration::from_millis(200);
/// How often the committer thread looks for pending documents.
const COMMIT_TICK: Duration = Duration::from_millis(50);
/// One indexing thread is plenty for chat messages; tantivy needs at least 15 MB per thread.
const WRITER_MEMORY_BYTES: usize = 32_000_000;
/// Elasticsearch's standard tokenizer splits longer tokens at this many characters.
const MAX_TOKEN_CHARS: usize = 255;
/// Elasticsearch refuses longer `_id`s; refusing them here keeps both backends alike.
const MAX_ID_BYTES: usize = 512;
/// Elasticsearch's default `index.max_result_window`: from + size may not exceed it.
const MAX_RESULT_WINDOW: usize = 10_000;
const DEFAULT_PAGE_SIZE: usize = 10;
/// Highlight fragments of about this many characters, at most this many, as Elasticsearch does.
const FRAGMENT_CHARS: usize = 100;
const MAX_FRAGMENTS: usize = 5;

/// The search index in a local directory. Cheap to share: wrap it in an `Arc`.
pub struct LocalIndex {
    inner: Arc<Inner>,
    /// The background committer; `None` for a read-only index (and in some tests).
    committer: Option<Committer>,
}

struct Inner {
    dir: PathBuf,
    reader: IndexReader,
    fields: Fields,
    /// `None` when the index was opened read-only.
    writer: Option<Mutex<WriterState>>,
}

struct WriterState {
    writer: IndexWriter,
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
        Self::open_with(dir, Some(COMMIT_INTERVAL))
    }

    /// `commit_interval: None` leaves commits to `refresh()` and drop (tests of the pending path).
    fn open_with(dir: &Path, commit_interval: Option<Duration>) -> Result<LocalIndex, SearchError> {
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
        index.tokenizers().register(TOKENIZER, StandardTokenizer);
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
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            reader,
            fields,
            writer: Some(Mutex::new(WriterState {
                writer,
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
        index.tokenizers().register(TOKENIZER, StandardTokenizer);
        let fields = Fields::of(&index.schema())?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .try_into()
            .map_err(|e| tantivy_error("cannot open index reader", e))?;
        Ok(LocalIndex {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
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

/// A thread that commits pending documents every `interval`. A plain thread rather than a tokio
/// task: `open` may be called outside a runtime, and commits block anyway.
struct Committer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: Option<JoinHandle<()>>,
}

impl Committer {
    fn start(inner: Arc<Inner>, interval: Duration) -> Result<Committer, SearchError> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = stop.clone();
        let handle = std::thread::Builder::new()
            .name("search-commit".into())
            .spawn(move || loop {
                let (flag, condvar) = &*signal;
                let guard = flag.lock().unwrap_or_else(|p| p.into_inner());
                let (guard, _) = condvar
                    .wait_timeout_while(guard, COMMIT_TICK.min(interval), |stopped| !*stopped)
                    .unwrap_or_else(|p| p.into_inner());
                if *guard {
                    return;
                }
                drop(guard);
                if let Err(e) = inner.commit_if_due(interval) {
                    tracing::warn!(dir = %inner.dir.display(), "commit failed: {e}");
                }
            })
            .map_err(|e| SearchError::Failed(format!("cannot start the commit thread: {e}")))?;
        Ok(Committer {
            stop,
            handle: Some(handle),
        })
    }

    /// Stops the thread and waits for it, so that it no longer holds the index.
    fn stop(mut self) {
        let (flag, condvar) = &*self.stop;
        *flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        condvar.notify_all();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
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
        state
            .writer
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

    /// Matches tombstones: every search and count excludes it with `MustNot`.
    fn deleted_query(&self) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_bool(self.fields.deleted, true),
            IndexRecordOption::Basic,
        ))
    }

    /// A filter clause: matches like `query` but adds nothing to the score, as in an
    /// Elasticsearch `bool.filter`.
    fn filter(query: impl Query + 'static) -> (Occur, Box<dyn Query>) {
        (
            Occur::Must,
            Box::new(ConstScoreQuery::new(Box::new(query), 0.0)),
        )
    }

    fn count(&self) -> Result<u64, SearchError> {
        let query = BooleanQuery::new(vec![
            (Occur::Must, Box::new(AllQuery) as Box<dyn Query>),
            (Occur::MustNot, self.deleted_query()),
        ]);
        let n = self
            .reader
            .searcher()
            .search(&query, &Count)
            .map_err(|e| tantivy_error("count failed", e))?;
        Ok(n as u64)
    }

    fn search(&self, query: &SearchQuery) -> Result<SearchResults, SearchError> {
        let started = Instant::now();
        let f = &self.fields;
        let size = if query.page_size == 0 {
            DEFAULT_PAGE_SIZE
        } else {
            query.page_size
        };
        let from = query
            .page
            .checked_mul(size)
            .filter(|from| from.saturating_add(size) <= MAX_RESULT_WINDOW)
            .ok_or_else(|| {
                SearchError::Failed(format!(
                    "result window too large: (page + 1) * page_size must be at most \
                     {MAX_RESULT_WINDOW}"
                ))
            })?;

        // An Elasticsearch `match` query: the text analysed like the content, terms OR-ed.
        let terms: Vec<String> = analyze(&query.text).into_iter().map(|t| t.text).collect();
        let text_query: Box<dyn Query> = if query.text.trim().is_empty() {
            Box::new(AllQuery)
        } else if terms.is_empty() {
            // Only punctuation: Elasticsearch's zero_terms_query "none" matches nothing.
            Box::new(EmptyQuery)
        } else {
            Box::new(BooleanQuery::new(
                terms
                    .iter()
                    .map(|t| {
                        let q = TermQuery::new(
                            Term::from_field_text(f.content, t),
                            IndexRecordOption::WithFreqs,
                        );
                        (Occur::Should, Box::new(q) as Box<dyn Query>)
                    })
                    .collect(),
            ))
        };
        let mut clauses = vec![(Occur::Must, text_query)];
        if let Some(channel) = &query.channel {
            clauses.push(Self::filter(TermQuery::new(
                Term::from_field_text(f.channel, channel),
                IndexRecordOption::Basic,
            )));
        }
        if let Some(author) = &query.author {
            clauses.push(Self::filter(TermQuery::new(
                Term::from_field_text(f.author, author),
                IndexRecordOption::Basic,
            )));
        }
        if query.created_from.is_some() || query.created_to.is_some() {
            let bound = |v: Option<i64>| match v {
                Some(v) => Bound::Included(Term::from_field_i64(f.created_at, v)),
                None => Bound::Unbounded,
            };
            clauses.push(Self::filter(RangeQuery::new(
                bound(query.created_from),
                bound(query.created_to),
            )));
        }
        clauses.push((Occur::MustNot, self.deleted_query()));
        let bool_query = BooleanQuery::new(clauses);

        let searcher = self.reader.searcher();
        let top = TopDocs::with_limit(size).and_offset(from);
        let created = (
            SortByStaticFastValue::<i64>::for_field("created_at"),
            Order::Desc,
        );
        let id = (SortByString::for_field("message_id"), Order::Asc);
        let (total, addresses): (usize, Vec<(Option<f32>, DocAddress)>) = match query.sort {
            SortOrder::Relevance => {
                let collector = top.order_by(((SortBySimilarityScore, Order::Desc), created, id));
                let (total, hits) = searcher
                    .search(&bool_query, &(Count, collector))
                    .map_err(|e| tantivy_error("search failed", e))?;
                let hits = hits
                    .into_iter()
                    .map(|((score, _, _), address)| (Some(score), address));
                (total, hits.collect())
            }
            SortOrder::NewestFirst => {
                // Like Elasticsearch sorting on fields: no score.
                let collector = top.order_by((created, id));
                let (total, hits) = searcher
                    .search(&bool_query, &(Count, collector))
                    .map_err(|e| tantivy_error("search failed", e))?;
                (total, hits.into_iter().map(|(_, a)| (None, a)).collect())
            }
        };

        let wanted: HashSet<String> = terms.into_iter().collect();
        let mut hits = Vec::with_capacity(addresses.len());
        for (score, address) in addresses {
            let doc = self.stored_doc(&searcher, address)?;
            let highlights = highlight(&doc.content, &wanted);
            hits.push(SearchHit {
                doc,
                score,
                highlights,
            });
        }
        Ok(SearchResults {
            total: total as u64,
            took_ms: started.elapsed().as_millis() as u64,
            hits,
        })
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

    fn describe(&self) -> String {
        format!("local index {}", self.inner.dir.display())
    }
}

// ---------------------------------------------------------------------------------------------
// Analysis: an approximation of Elasticsearch's `standard` analyzer (Unicode word segmentation,
// UAX #29, then lowercase), used both to index the content and to analyse query text.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum CharClass {
    Letter,
    Numeric,
    Katakana,
    /// Han and Hiragana: every character is a word of its own.
    Ideographic,
    Emoji,
    /// `_` and friends: join letters, digits and katakana.
    ExtendNumLet,
    /// Between two letters only (`:`, `·`).
    MidLetter,
    /// Between two digits only (`,`, `;`).
    MidNum,
    /// Between two letters or two digits (`.`, `’`).
    MidNumLet,
    SingleQuote,
    /// Combining marks, joiners, variation selectors, skin tones: part of the preceding char.
    Extend,
    Other,
}

fn classify(c: char) -> CharClass {
    use CharClass::*;
    match c {
        '_'
        | '\u{203F}'
        | '\u{2040}'
        | '\u{2054}'
        | '\u{FE33}'
        | '\u{FE34}'
        | '\u{FE4D}'..='\u{FE4F}'
        | '\u{FF3F}' => ExtendNumLet,
        '\'' => SingleQuote,
        '.' | '\u{2018}' | '\u{2019}' | '\u{2024}' | '\u{FE52}' | '\u{FF07}' | '\u{FF0E}' => {
            MidNumLet
        }
        ':' | '\u{00B7}' | '\u{0387}' | '\u{055F}' | '\u{05F4}' | '\u{2027}' | '\u{FE13}'
        | '\u{FE55}' | '\u{FF1A}' => MidLetter,
        ',' | ';' | '\u{037E}' | '\u{0589}' | '\u{060C}' | '\u{060D}' | '\u{066C}' | '\u{07F8}'
        | '\u{2044}' | '\u{FE10}' | '\u{FE14}' | '\u{FE50}' | '\u{FE54}' | '\u{FF0C}'
        | '\u{FF1B}' => MidNum,
        '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{200C}'..='\u{200D}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{3099}'..='\u{309A}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FE20}'..='\u{FE2F}'
        | '\u{1F3FB}'..='\u{1F3FF}'
        | '\u{E0020}'..='\u{E007F}' => Extend,
        '\u{3031}'..='\u{3035}'
        | '\u{309B}'..='\u{309C}'
        | '\u{30A0}'..='\u{30FA}'
        | '\u{30FC}'..='\u{30FF}'
        | '\u{31F0}'..='\u{31FF}'
        | '\u{32D0}'..='\u{32FE}'
        | '\u{3300}'..='\u{3357}'
        | '\u{FF66}'..='\u{FF9D}' => Katakana,
        '\u{2E80}'..='\u{2FDF}'
        | '\u{3005}'..='\u{3007}'
        | '\u{3021}'..='\u{3029}'
        | '\u{3038}'..='\u{303B}'
        | '\u{3041}'..='\u{3096}'
        | '\u{309D}'..='\u{309F}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{3FFFF}' => Ideographic,
        '\u{2600}'..='\u{27BF}' | '\u{2B00}'..='\u{2BFF}' | '\u{1F000}'..='\u{1FAFF}' => Emoji,
        c if c.is_numeric() => Numeric,
        c if c.is_alphabetic() => Letter,
        _ => Other,
    }
}

fn is_word(c: CharClass) -> bool {
    use CharClass::*;
    matches!(c, Letter | Numeric | Katakana | ExtendNumLet)
}

/// Whether two adjacent characters belong to the same word (UAX #29 WB5, 8-10, 13, 13a, 13b).
fn joins(left: CharClass, right: CharClass) -> bool {
    use CharClass::*;
    match (left, right) {
        (Katakana, Katakana) => true,
        (l, ExtendNumLet) => is_word(l),
        (ExtendNumLet, r) => is_word(r),
        (Letter | Numeric, Letter | Numeric) => true,
        _ => false,
    }
}

/// Whether `mid` between `left` and `right` keeps one word: "dog's", "e.g", "3.14", "1,000"
/// (UAX #29 WB6, 7, 11, 12).
fn bridges(left: CharClass, mid: CharClass, right: CharClass) -> bool {
    use CharClass::*;
    match (left, right) {
        (Letter, Letter) => matches!(mid, MidLetter | MidNumLet | SingleQuote),
        (Numeric, Numeric) => matches!(mid, MidNum | MidNumLet | SingleQuote),
        _ => false,
    }
}

/// Index of the first char at or after `from` that is not an Extend char.
fn skip_extend(chars: &[(usize, char)], mut from: usize) -> usize {
    while from < chars.len() && classify(chars[from].1) == CharClass::Extend {
        from += 1;
    }
    from
}

/// End (exclusive char index) of the word starting at `start`.
fn word_end(chars: &[(usize, char)], start: usize) -> usize {
    let mut last = classify(chars[start].1);
    let mut j = start + 1;
    while j < chars.len() {
        let class = classify(chars[j].1);
        if class == CharClass::Extend {
            j += 1;
            continue;
        }
        if joins(last, class) {
            last = class;
            j += 1;
            continue;
        }
        let after = skip_extend(chars, j + 1);
        if after < chars.len() {
            let next = classify(chars[after].1);
            if bridges(last, class, next) {
                last = next;
                j = after + 1;
                continue;
            }
        }
        break;
    }
    j
}

/// End of the emoji starting at `start`: its modifiers, ZWJ sequences and flag pairs.
fn emoji_end(chars: &[(usize, char)], start: usize) -> usize {
    let is_regional = |c: char| ('\u{1F1E6}'..='\u{1F1FF}').contains(&c);
    let mut j = start + 1;
    if is_regional(chars[start].1) && j < chars.len() && is_regional(chars[j].1) {
        j += 1;
    }
    loop {
        let joined_by_zwj = j > 0 && chars[j - 1].1 == '\u{200D}';
        match chars.get(j) {
            Some(&(_, c)) if classify(c) == CharClass::Extend => j += 1,
            Some(&(_, c)) if joined_by_zwj && classify(c) == CharClass::Emoji => j += 1,
            _ => break,
        }
    }
    j
}

/// Splits `text` into lowercase tokens with byte offsets, like Elasticsearch's standard
/// analyzer: words by Unicode rules, each Han/Hiragana character alone, emoji as tokens,
/// punctuation dropped, tokens longer than 255 characters split.
pub fn analyze(text: &str) -> Vec<Token> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let class = classify(chars[i].1);
        let end = match class {
            CharClass::Ideographic => skip_extend(&chars, i + 1),
            CharClass::Emoji => emoji_end(&chars, i),
            c if is_word(c) => word_end(&chars, i),
            _ => {
                i += 1;
                continue;
            }
        };
        // A run of underscores alone is not a word.
        let has_content =
            class == CharClass::Emoji || chars[i..end].iter().any(|&(_, c)| c.is_alphanumeric());
        if has_content {
            for chunk in chars[i..end].chunks(MAX_TOKEN_CHARS) {
                let from = chunk[0].0;
                let to = chunk.last().map_or(from, |&(o, c)| o + c.len_utf8());
                tokens.push(Token {
                    offset_from: from,
                    offset_to: to,
                    position: tokens.len(),
                    text: text[from..to]
                        .chars()
                        .flat_map(char::to_lowercase)
                        .collect(),
                    position_length: 1,
                });
            }
        }
        i = end;
    }
    tokens
}

/// The tantivy face of [`analyze`].
#[derive(Clone, Copy, Default)]
struct StandardTokenizer;

struct VecTokenStream {
    tokens: std::vec::IntoIter<Token>,
    current: Token,
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        match self.tokens.next() {
            Some(token) => {
                self.current = token;
                true
            }
            None => false,
        }
    }

    fn token(&self) -> &Token {
        &self.current
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.current
    }
}

impl Tokenizer for StandardTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        VecTokenStream {
            tokens: analyze(text).into_iter(),
            current: Token::default(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Highlighting, like Elasticsearch's default: the whole content when it is short, otherwise up
// to five fragments of about 100 characters around the matches; matched tokens in <em>…</em>.
// No HTML escaping (Elasticsearch's default encoder does not escape either).

/// Fragments of `content` with the tokens whose analysed form is in `terms` highlighted.
pub fn highlight(content: &str, terms: &HashSet<String>) -> Vec<String> {
    if terms.is_empty() {
        return Vec::new();
    }
    let tokens = analyze(content);
    let matched: Vec<usize> = (0..tokens.len())
        .filter(|&i| terms.contains(&tokens[i].text))
        .collect();
    if matched.is_empty() {
        return Vec::new();
    }
    let width = |from: usize, to: usize| content[from..to].chars().count();
    if width(0, content.len()) <= FRAGMENT_CHARS * 3 / 2 {
        return vec![wrap(content, 0..content.len(), &tokens, &matched)];
    }
    let mut fragments = Vec::new();
    let mut next = 0;
    while next < matched.len() && fragments.len() < MAX_FRAGMENTS {
        let m = matched[next];
        // A little context before the match, then words up to the fragment size.
        let mut first = m;
        while first > 0 && width(tokens[first - 1].offset_from, tokens[m].offset_from) <= 25 {
            first -= 1;
        }
        let mut last = m;
        while last + 1 < tokens.len()
            && width(tokens[first].offset_from, tokens[last + 1].offset_to) <= FRAGMENT_CHARS
        {
            last += 1;
        }
        let start = if first == 0 {
            0
        } else {
            tokens[first].offset_from
        };
        let end = if last + 1 == tokens.len() {
            content.len()
        } else {
            tokens[last].offset_to
        };
        fragments.push(
            wrap(content, start..end, &tokens, &matched)
                .trim()
                .to_string(),
        );
        while next < matched.len() && matched[next] <= last {
            next += 1;
        }
    }
    fragments
}

fn wrap(
    content: &str,
    range: std::ops::Range<usize>,
    tokens: &[Token],
    matched: &[usize],
) -> String {
    let mut out = String::with_capacity(range.len() + 16);
    let mut pos = range.start;
    for token in matched.iter().map(|&i| &tokens[i]) {
        if token.offset_from < pos || token.offset_to > range.end {
            continue;
        }
        out.push_str(&content[pos..token.offset_from]);
        out.push_str("<em>");
        out.push_str(&content[token.offset_from..token.offset_to]);
        out.push_str("</em>");
        pos = token.offset_to;
    }
    out.push_str(&content[pos..range.end]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(
        id: &str,
        channel: &str,
        author: &str,
        content: &str,
        created: i64,
        version: i64,
    ) -> SearchDoc {
        SearchDoc {
            message_id: id.into(),
            channel: channel.into(),
            author: author.into(),
            content: content.into(),
            mentions: vec![],
            created_at: Some(created),
            updated_at: None,
            deleted: false,
            version,
        }
    }

    fn tombstone(id: &str, channel: &str, version: i64) -> SearchDoc {
        SearchDoc {
            message_id: id.into(),
            channel: channel.into(),
            author: String::new(),
            content: String::new(),
            mentions: vec![],
            created_at: None,
            updated_at: None,
            deleted: true,
            version,
        }
    }

    fn text(t: &str) -> SearchQuery {
        SearchQuery {
            text: t.into(),
            ..SearchQuery::default()
        }
    }

    fn ids(results: &SearchResults) -> Vec<&str> {
        results
            .hits
            .iter()
            .map(|h| h.doc.message_id.as_str())
            .collect()
    }

    fn words(text: &str) -> Vec<String> {
        analyze(text).into_iter().map(|t| t.text).collect()
    }

    /// An index whose commits happen only on `refresh()`, to test the uncommitted path.
    fn manual(dir: &Path) -> LocalIndex {
        LocalIndex::open_with(dir, None).expect("open")
    }

    #[test]
    fn analysis_follows_the_standard_analyzer() {
        // The example of Elasticsearch's standard tokenizer documentation.
        assert_eq!(
            words("The 2 QUICK Brown-Foxes jumped over the lazy dog's bone."),
            [
                "the", "2", "quick", "brown", "foxes", "jumped", "over", "the", "lazy", "dog's",
                "bone"
            ]
        );
        assert_eq!(words("프로젝트 배포 완료!"), ["프로젝트", "배포", "완료"]);
        assert_eq!(words("部署完成"), ["部", "署", "完", "成"]);
        assert_eq!(
            words("v1.2.3 costs 1,000.50"),
            ["v1.2.3", "costs", "1,000.50"]
        );
        assert_eq!(words("snake_case __ ok"), ["snake_case", "ok"]);
        assert_eq!(words("ship it 🚀🚀"), ["ship", "it", "🚀", "🚀"]);
        assert_eq!(words("Ünïcödé ÉTÉ"), ["ünïcödé", "été"]);
        let long = "a".repeat(300);
        assert_eq!(words(&long).len(), 2);
        let tokens = analyze("Deploy, now");
        assert_eq!((tokens[1].offset_from, tokens[1].offset_to), (8, 11));
    }

    #[test]
    fn highlight_wraps_matched_tokens() {
        let terms: HashSet<String> = ["deploy".to_string(), "staging".to_string()].into();
        assert_eq!(
            highlight("Deploy to staging, done.", &terms),
            ["<em>Deploy</em> to <em>staging</em>, done."]
        );
        assert!(highlight("nothing here", &terms).is_empty());
        let long = format!("{} deploy {}", "word ".repeat(60), "tail ".repeat(60));
        let fragments = highlight(&long, &terms);
        assert_eq!(fragments.len(), 1);
        assert!(fragments[0].contains("<em>deploy</em>"));
        assert!(fragments[0].chars().count() < 130, "{}", fragments[0]);
    }

    #[tokio::test]
    async fn an_older_version_is_stale_and_an_equal_one_is_reapplied() {
        let dir = tempfile::tempdir().unwrap();
        let index = manual(dir.path());
        let v2 = doc("m1", "c", "a", "second", 1, 2);
        let v1 = doc("m1", "c", "a", "first", 1, 1);
        assert_eq!(
            index.apply(std::slice::from_ref(&v2)).await.unwrap(),
            [ItemOutcome::Applied]
        );
        // Not committed yet: the guard must see the pending version.
        assert_eq!(
            index.apply(std::slice::from_ref(&v1)).await.unwrap(),
            [ItemOutcome::Stale]
        );
        assert_eq!(
            index.apply(std::slice::from_ref(&v2)).await.unwrap(),
            [ItemOutcome::Applied]
        );
        index.refresh().await.unwrap();
        // Committed: the guard reads the index.
        assert_eq!(
            index.apply(std::slice::from_ref(&v1)).await.unwrap(),
            [ItemOutcome::Stale]
        );
        // Within one batch, later items see earlier ones.
        let v3 = doc("m1", "c", "a", "third", 1, 3);
        assert_eq!(
            index.apply(&[v3, v1]).await.unwrap(),
            [ItemOutcome::Applied, ItemOutcome::Stale]
        );
        index.refresh().await.unwrap();
        let got = index.get(&["m1".to_string()]).await.unwrap();
        assert_eq!(got["m1"].content, "third");
        assert_eq!(index.count().await.unwrap(), 1);
        let bad = doc("", "c", "a", "x", 1, 1);
        assert!(matches!(
            index.apply(&[bad]).await.unwrap()[0],
            ItemOutcome::Rejected(_)
        ));
    }

    #[tokio::test]
    async fn a_tombstone_prevents_resurrection_and_is_not_counted() {
        let dir = tempfile::tempdir().unwrap();
        let index = manual(dir.path());
        let v1 = doc("m1", "c", "a", "hello world", 1, 1);
        index
            .apply(&[v1.clone(), doc("m2", "c", "a", "hello again", 2, 1)])
            .await
            .unwrap();
        index.refresh().await.unwrap();
        assert_eq!(index.count().await.unwrap(), 2);
        assert_eq!(
            index.apply(&[tombstone("m1", "c", 2)]).await.unwrap(),
            [ItemOutcome::Applied]
        );
        index.refresh().await.unwrap();
        assert_eq!(index.apply(&[v1]).await.unwrap(), [ItemOutcome::Stale]);
        index.refresh().await.unwrap();
        assert_eq!(index.count().await.unwrap(), 1);
        let results = index.search(&text("hello")).await.unwrap();
        assert_eq!(ids(&results), ["m2"]);
        assert_eq!(results.total, 1);
        assert_eq!(index.search(&text("")).await.unwrap().total, 1);
        // The tombstone is still there for the guard and for `get`.
        let got = index.get(&["m1".to_string()]).await.unwrap();
        assert!(got["m1"].deleted);
        assert_eq!(got["m1"].version, 2);
        let stats = index.stats().await.unwrap();
        assert_eq!(stats.backend, "local");
        assert_eq!(stats.messages, 1);
        assert!(stats.size_bytes.unwrap_or(0) > 0);
        assert_eq!(stats.location, dir.path().display().to_string());
        assert_eq!(
            index.describe(),
            format!("local index {}", dir.path().display())
        );
        index.ensure_index().await.unwrap();
    }

    #[tokio::test]
    async fn get_sees_documents_not_yet_committed() {
        let dir = tempfile::tempdir().unwrap();
        let index = manual(dir.path());
        index
            .apply(&[doc("m1", "c", "a", "hi", 1, 1)])
            .await
            .unwrap();
        // Not searchable before a commit ...
        assert_eq!(index.search(&text("hi")).await.unwrap().total, 0);
        // ... but `get` already sees it.
        let got = index.get(&["m1".into(), "nope".into()]).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got["m1"].content, "hi");
        index.refresh().await.unwrap();
        assert_eq!(index.search(&text("hi")).await.unwrap().total, 1);
        assert_eq!(index.get(&["m1".into()]).await.unwrap()["m1"].content, "hi");
    }

    #[tokio::test]
    async fn applied_documents_become_searchable_without_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let index = LocalIndex::open(dir.path()).unwrap();
        index
            .apply(&[doc("m1", "c", "a", "soon visible", 1, 1)])
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            if index.search(&text("visible")).await.unwrap().total == 1 {
                break;
            }
            assert!(Instant::now() < deadline, "not searchable within 1 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn sample(index: &LocalIndex) {
        index
            .apply(&[
                doc("m1", "dev", "alice", "Deploy to staging done", 100, 1),
                doc("m2", "dev", "bob", "staging server is down", 200, 1),
                doc("m3", "ops", "alice", "deploy failed on prod", 300, 1),
                doc("m4", "ops", "carol", "lunch time", 400, 1),
                doc("m5", "kr", "dana", "프로젝트 배포 완료", 500, 1),
            ])
            .await
            .unwrap();
        index.refresh().await.unwrap();
    }

    #[tokio::test]
    async fn match_queries_or_the_analysed_terms() {
        let dir = tempfile::tempdir().unwrap();
        let index = manual(dir.path());
        sample(&index).await;
        let r = index.search(&text("deploy staging")).await.unwrap();
        assert_eq!(r.total, 3);
        // Both terms first; then by score.
        assert_eq!(ids(&r)[0], "m1");
        assert!(r.hits.iter().all(|h| h.score.is_some()));
        assert_eq!(
            r.hits[0].highlights,
            ["<em>Deploy</em> to <em>staging</em> done"]
        );
        let r = index.search(&text("DEPLOY")).await.unwrap();
        let mut found = ids(&r);
        found.sort();
        assert_eq!(found, ["m1", "m3"]);
        let r = index.search(&text("배포")).await.unwrap();
        assert_eq!(ids(&r), ["m5"]);
        assert_eq!(r.hits[0].highlights, ["프로젝트 <em>배포</em> 완료"]);
        assert_eq!(index.search(&text("?!")).await.unwrap().total, 0);
        assert_eq!(index.search(&text("nothing")).await.unwrap().total, 0);
        let all = index.search(&text("  ")).await.unwrap();
        assert_eq!(all.total, 5);
        assert!(all.hits.iter().all(|h| h.highlights.is_empty()));
        // Match-all ties on score: newest first.
        assert_eq!(ids(&all), ["m5", "m4", "m3", "m2", "m1"]);
    }

    #[tokio::test]
    async fn filters_restrict_without_changing_order() {
        let dir = tempfile::tempdir().unwrap();
        let index = manual(dir.path());
        sample(&index).await;
        let q = SearchQuery {
            channel: Some("dev".into()),
            ..text("deploy staging")
        };
        assert_eq!(ids(&index.search(&q).await.unwrap()), ["m1", "m2"]);
        let q = SearchQuery {
            author: Some("alice".into()),
            sort: SortOrder::NewestFirst,
            ..text("")
        };
        assert_eq!(ids(&index.search(&q).await.unwrap()), ["m3", "m1"]);
        // Inclusive at both ends.
        let q = SearchQuery {
            created_from: Some(200),
            created_to: Some(400),
            sort: SortOrder::NewestFirst,
            ..text("")
        };
        assert_eq!(ids(&index.search(&q).await.unwrap()), ["m4", "m3", "m2"]);
        let q = SearchQuery {
            created_to: Some(200),
            channel: Some("dev".into()),
            ..text("staging")
        };
        let r = index.search(&q).await.unwrap();
        assert_eq!(r.total, 2);
        let q = SearchQuery {
            channel: Some("nope".into()),
            ..text("")
        };
        assert_eq!(index.search(&q).await.unwrap().total, 0);
        // An empty range matches nothing, as in Elasticsearch.
        let q = SearchQuery {
            created_from: Some(400),
            created_to: Some(200),
            ..text("")
        };
        assert_eq!(index.search(&q).await.unwrap().total, 0);
    }

    #[tokio::test]
    async fn newest_first_breaks_ties_by_id_and_puts_undated_last() {
        let dir = tempfile::tempdir().unwrap();
        let index = manual(dir.path());
        let mut undated = doc("m0", "c", "a", "edit seen first", 0, 1);
        undated.created_at = None;
        // Its own segment, where created_at has no value at all.
        index.apply(&[undated]).await.unwrap();
        index.refresh().await.unwrap();
        index
            .apply(&[
                doc("b", "c", "a", "same time", 10, 1),
                doc("a", "c", "a", "same time", 10, 1),
                doc("z", "c", "a", "older", 5, 1),
            ])
            .await
            .unwrap();
        index.refresh().await.unwrap();
        let q = SearchQuery {
            sort: SortOrder::NewestFirst,
            ..text("")
        };
        let r = index.search(&q).await.unwrap();
        assert_eq!(ids(&r), ["a", "b", "z", "m0"]);
        assert!(r.hits.iter().all(|h| h.score.is_none()));
        let r = index.search(&text("")).await.unwrap();
        assert_eq!(ids(&r), ["a", "b", "z", "m0"]);
    }

    #[tokio::test]
    async fn pages_cover_all_hits_once() {
        let dir = tempfile::tempdir().unwrap();
        let index = manual(dir.path());
        let docs: Vec<SearchDoc> = (0..25)
            .map(|i| doc(&format!("m{i:02}"), "c", "a", "page me", i, 1))
            .collect();
        index.apply(&docs).await.unwrap();
        index.refresh().await.unwrap();
        let mut seen = Vec::new();
        for page in 0..3 {
            let q = SearchQuery {
                page,
                page_size: 10,
                sort: SortOrder::NewestFirst,
                ..text("page")
            };
            let r = index.search(&q).await.unwrap();
            assert_eq!(r.total, 25);
            assert_eq!(r.hits.len(), if page < 2 { 10 } else { 5 });
            seen.extend(r.hits.into_iter().map(|h| h.doc.message_id));
        }
        let expected: Vec<String> = (0..25).rev().map(|i| format!("m{i:02}")).collect();
        assert_eq!(seen, expected);
        // page_size 0 means the default of 10.
        assert_eq!(index.search(&text("page")).await.unwrap().hits.len(), 10);
        let q = SearchQuery {
            page: 5,
            page_size: 10,
            ..text("page")
        };
        assert!(index.search(&q).await.unwrap().hits.is_empty());
        let q = SearchQuery {
            page: 10_000,
            page_size: 10,
            ..text("page")
        };
        assert!(matches!(
            index.search(&q).await,
            Err(SearchError::Failed(_))
        ));
    }

    #[tokio::test]
    async fn data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let index = LocalIndex::open(dir.path()).unwrap();
            index
                .apply(&[doc("m1", "c", "a", "persistent words", 1, 3)])
                .await
                .unwrap();
            // Dropped without refresh: the final commit keeps it.
        }
        let index = LocalIndex::open(dir.path()).unwrap();
        assert_eq!(index.search(&text("persistent")).await.unwrap().total, 1);
        assert_eq!(index.get(&["m1".into()]).await.unwrap()["m1"].version, 3);
        let older = doc("m1", "c", "a", "older", 1, 2);
        assert_eq!(index.apply(&[older]).await.unwrap(), [ItemOutcome::Stale]);
    }

    #[tokio::test]
    async fn a_second_process_searches_read_only() {
        let dir = tempfile::tempdir().unwrap();
        assert!(LocalIndex::open_read_only(dir.path()).is_err());
        let writer = manual(dir.path());
        writer
            .apply(&[doc("m1", "c", "a", "first", 1, 1)])
            .await
            .unwrap();
        writer.refresh().await.unwrap();
        // Only one writer per directory.
        match LocalIndex::open(dir.path()) {
            Err(SearchError::Unavailable(m)) => assert!(m.contains("read-only"), "{m}"),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("a second writer opened"),
        }
        let reader = LocalIndex::open_read_only(dir.path()).unwrap();
        assert!(reader.is_read_only());
        assert_eq!(reader.search(&text("first")).await.unwrap().total, 1);
        assert!(reader
            .apply(&[doc("m2", "c", "a", "x", 1, 1)])
            .await
            .is_err());
        writer
            .apply(&[doc("m2", "c", "a", "second", 2, 1)])
            .await
            .unwrap();
        writer.refresh().await.unwrap();
        reader.refresh().await.unwrap();
        assert_eq!(reader.search(&text("second")).await.unwrap().total, 1);
        assert_eq!(reader.count().await.unwrap(), 2);
    }
}
