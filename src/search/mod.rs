//! The message search index behind one trait, with two implementations: `elastic`
//! (Elasticsearch / OpenSearch over HTTP) and `local` (tantivy in the data directory).
//! The indexer decides *what* to write ([`plan`]); an implementation only applies it.

pub mod elastic;
pub mod grams;
pub mod highlight;
pub mod local;
pub mod plan;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// One message as the index stores it. A deleted message stays as a tombstone
/// (`deleted = true`, no text) so that a replayed older event cannot bring it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchDoc {
    pub message_id: String,
    pub channel: String,
    #[serde(default)]
    pub author: String,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub mentions: Vec<String>,
    /// Milliseconds since the epoch; absent while only an edit has been seen.
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub updated_at: Option<i64>,
    #[serde(default)]
    pub deleted: bool,
    /// The version guard: the index keeps the document with the highest version.
    pub version: i64,
}

/// What became of one document of a bulk request.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemOutcome {
    /// Written.
    Applied,
    /// The index already holds a newer version: nothing to do (a replay, or reordering).
    Stale,
    /// Can never succeed (a mapping error, a document too large): dead-letter it.
    Rejected(String),
    /// May succeed later (429, 5xx, a shard not ready): retry it.
    Transient(String),
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SearchError {
    /// Connection refused, timeout, 429 or 5xx for the whole request: retry.
    #[error("search unavailable: {0}")]
    Unavailable(String),
    /// The request itself is wrong (4xx): retrying will not help.
    #[error("search request failed: {0}")]
    Failed(String),
}

impl SearchError {
    pub fn is_transient(&self) -> bool {
        matches!(self, SearchError::Unavailable(_))
    }
}

/// How much more a whole-word match counts than a match of CJK grams only, on both
/// backends: 배포 ranks "배포 완료" (the word) above "배포를 시작" (its grams).
pub const WORD_BOOST: f32 = 3.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SortOrder {
    #[default]
    Relevance,
    NewestFirst,
}

/// A `match` query on the content (terms analysed and OR-ed, as Elasticsearch does), with
/// optional filters. An empty text matches every message.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SearchQuery {
    pub text: String,
    pub channel: Option<String>,
    pub author: Option<String>,
    /// Inclusive range on created_at, milliseconds.
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    pub sort: SortOrder,
    /// Zero-based page of `page_size` hits.
    pub page: usize,
    pub page_size: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub doc: SearchDoc,
    pub score: Option<f32>,
    /// Fragments of the content with matched terms wrapped in `<em>`…`</em>`.
    pub highlights: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SearchResults {
    pub total: u64,
    pub took_ms: u64,
    pub hits: Vec<SearchHit>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IndexStats {
    /// "elastic" or "local".
    pub backend: String,
    /// Where it is: the cluster URL or the directory.
    pub location: String,
    /// Searchable (not deleted) messages.
    pub messages: u64,
    pub size_bytes: Option<u64>,
}

#[async_trait::async_trait]
pub trait SearchIndex: Send + Sync {
    /// Creates the message index with its mapping when it does not exist; never drops data.
    async fn ensure_index(&self) -> Result<(), SearchError>;
    /// Writes each document unless the index holds one with a version at least as high.
    /// The answer has one outcome per document, in order.
    async fn apply(&self, docs: &[SearchDoc]) -> Result<Vec<ItemOutcome>, SearchError>;
    /// The stored documents (tombstones included) for these ids.
    async fn get(&self, ids: &[String]) -> Result<HashMap<String, SearchDoc>, SearchError>;
    async fn search(&self, query: &SearchQuery) -> Result<SearchResults, SearchError>;
    /// Searchable (not deleted) messages.
    async fn count(&self) -> Result<u64, SearchError>;
    async fn stats(&self) -> Result<IndexStats, SearchError>;
    /// Makes everything applied so far visible to search (tests, `eventdeck search`).
    async fn refresh(&self) -> Result<(), SearchError>;
    /// Makes everything applied so far survive a crash of this process. The indexer calls it
    /// before its offsets are committed: an offset must never be committed for a document
    /// that a SIGKILL could still lose.
    async fn make_durable(&self) -> Result<(), SearchError>;
    /// Replaces every document with `docs` (tombstones included), built aside while the old
    /// documents keep answering searches, then switched to in one atomic step: Elasticsearch
    /// gets a new `<index>-<timestamp>` index behind the alias (the old one is dropped); the
    /// local index adds the new documents in new segments and swaps them in with one commit.
    /// `progress` is called with (written, total) as the new documents go in.
    async fn replace_all(
        &self,
        docs: Vec<SearchDoc>,
        progress: ReplaceProgress,
    ) -> Result<Replaced, SearchError>;
    /// Which analysis the index was built with (see [`IndexAnalysis`]).
    async fn analysis(&self) -> Result<IndexAnalysis, SearchError>;
    /// A one-line description for status bars: "elastic http://…/messages".
    fn describe(&self) -> String;
}

/// Which analysis an index was built with, against the one this eventdeck writes and
/// queries with: an index built by an older eventdeck finds Korean words only whole until
/// `eventdeck replay --reindex` rebuilds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexAnalysis {
    /// "standard + cjk-bigrams", "nori", or [`WORDS_ONLY`] for an index that records none.
    pub built_with: String,
    /// What a rebuild of this index would use.
    pub current: String,
}

/// Words as Elasticsearch's standard analyzer plus eventdeck's CJK grams: what the local
/// index always uses and an Elasticsearch index uses without `nori`.
pub const CJK_BIGRAMS: &str = "standard + cjk-bigrams";

/// How an index that records no analysis was built: by an eventdeck before CJK grams.
pub const WORDS_ONLY: &str = "standard (words only)";

impl IndexAnalysis {
    pub fn is_current(&self) -> bool {
        self.built_with == self.current
    }

    /// The start-up warning for an index that is not built as this eventdeck would.
    pub fn warning(&self) -> Option<String> {
        (!self.is_current()).then(|| {
            format!(
                "search index built with the {} analyzer, not {}: Korean, Japanese and                  Chinese words are found only whole until `eventdeck replay --reindex`                  rebuilds it",
                self.built_with, self.current
            )
        })
    }
}

/// Called with (documents written, documents in all) during [`SearchIndex::replace_all`].
pub type ReplaceProgress = std::sync::Arc<dyn Fn(u64, u64) + Send + Sync>;

/// What [`SearchIndex::replace_all`] switched from and to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replaced {
    /// "messages (a concrete index)", "messages-20261202164800123": what served before.
    pub old: String,
    /// What serves now.
    pub new: String,
    pub documents: u64,
    /// The analysis the new documents were built with ([`IndexAnalysis::built_with`]).
    pub analyzer: String,
}

/// The index the configuration selects: Elasticsearch with a URL, the local index without.
pub fn open_index(
    config: &crate::config::Config,
    data_dir: &std::path::Path,
) -> Result<std::sync::Arc<dyn SearchIndex>, SearchError> {
    use crate::config::SearchBackend;
    match config
        .search_backend()
        .map_err(|e| SearchError::Failed(e.to_string()))?
    {
        SearchBackend::Local => {
            let dir = data_dir.join("index");
            Ok(std::sync::Arc::new(local::LocalIndex::open(&dir)?))
        }
        SearchBackend::Elastic {
            url,
            index,
            auth,
            analyzer,
        } => Ok(std::sync::Arc::new(elastic::ElasticIndex::connect(
            &url, &index, &auth, analyzer,
        )?)),
    }
}
