//! `SearchIndex` on Elasticsearch / OpenSearch through the `elasticsearch` crate.
//! Versions are external (`external_gte`): the index itself refuses an older document, so two
//! indexers, a replay and a live stream can write concurrently without an older event winning.
//!
//! CJK text ([`Analysis`]): the standard analyzer keeps a Hangul word and its particle as one
//! token (배포를), so eventdeck either writes the word's character bigrams into
//! `content_grams` (a `whitespace` field: any engine can do it) and queries them beside the
//! words, or, where the cluster has the analysis-nori plugin, maps `content.nori`. The index
//! records its analysis in the mapping's `_meta`; it is queried by what it was built with,
//! and rebuilt with the configured one by `replace_all` (`eventdeck replay --reindex`).

use std::collections::HashMap;
use std::time::Duration;

use elasticsearch::auth::Credentials;
use elasticsearch::http::headers::HeaderMap;
use elasticsearch::http::request::JsonBody;
use elasticsearch::http::response::Response;
use elasticsearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use elasticsearch::http::{Method, StatusCode};
use elasticsearch::{BulkParts, Elasticsearch};
use serde_json::{json, Value};

mod body;

pub use body::{mapping, search_body, source, Analysis};
use body::{parse_hit, Highlighting};

use super::{
    IndexAnalysis, IndexStats, ItemOutcome, ReplaceProgress, Replaced, SearchDoc, SearchError,
    SearchIndex, SearchQuery, SearchResults,
};
use crate::config::{ElasticAuth, SearchAnalyzer, SearchBackend, SearchConfig};

/// Holds no secret in a printable field: the URL has no userinfo (see `config::typed`) and
/// the credentials live only inside the transport.
pub struct ElasticIndex {
    client: Elasticsearch,
    url: String,
    index: String,
    configured: SearchAnalyzer,
    /// Overrides `configured` (see [`ElasticIndex::building_with`]).
    pinned: Option<Analysis>,
    /// How the serving index is written and queried, once read from its mapping.
    serving_analysis: std::sync::Mutex<Option<Analysis>>,
}

impl ElasticIndex {
    /// The index the `[search]` section names; an empty URL (the local index) is an error.
    pub fn new(config: &SearchConfig) -> Result<Self, SearchError> {
        match config.backend() {
            Ok(SearchBackend::Elastic {
                url,
                index,
                auth,
                analyzer,
            }) => Self::connect(&url, &index, &auth, analyzer),
            Ok(SearchBackend::Local) => Err(SearchError::Failed(
                "search.url is empty: the local index is selected".into(),
            )),
            Err(e) => Err(SearchError::Failed(e.to_string())),
        }
    }

    /// A client for `index` at `url` (without userinfo), authenticated by `auth`.
    pub fn connect(
        url: &url::Url,
        index: &str,
        auth: &ElasticAuth,
        configured: SearchAnalyzer,
    ) -> Result<Self, SearchError> {
        let mut builder = TransportBuilder::new(SingleNodeConnectionPool::new(url.clone()))
            .timeout(Duration::from_secs(30))
            .enable_meta_header(false);
        match auth {
            ElasticAuth::None => {}
            ElasticAuth::ApiKey(key) => {
                builder = builder.auth(Credentials::EncodedApiKey(key.expose().to_string()));
            }
            ElasticAuth::Basic { username, password } => {
                builder = builder.auth(Credentials::Basic(
                    username.clone(),
                    password.expose().to_string(),
                ));
            }
        }
        let transport = builder
            .build()
            .map_err(|e| SearchError::Failed(format!("search client: {e}")))?;
        Ok(Self {
            client: Elasticsearch::new(transport),
            url: crate::config::redact_userinfo(url.as_str().trim_end_matches('/')),
            index: index.to_string(),
            configured,
            pinned: None,
            serving_analysis: std::sync::Mutex::new(None),
        })
    }

    /// The index (or alias) this client writes and reads.
    pub fn index_name(&self) -> &str {
        &self.index
    }

    /// The client, for the benchmark's baselines, which talk to the engine without us.
    pub fn client(&self) -> &Elasticsearch {
        &self.client
    }

    /// Builds indexes with `analysis` whatever the configuration says: the benchmark's
    /// words-only baseline and the tests' index of an older eventdeck.
    pub fn building_with(mut self, analysis: Analysis) -> Self {
        self.pinned = Some(analysis);
        self
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value), SearchError> {
        let response = self
            .client
            .send::<JsonBody<Value>, ()>(
                method,
                path,
                HeaderMap::new(),
                None,
                body.map(JsonBody::new),
                None,
            )
            .await
            .map_err(unreachable)?;
        read_json(response).await
    }

    /// Like `call`, but a non-2xx status is an error classified as transient or not.
    async fn call_ok(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, SearchError> {
        let (status, value) = self.call(method, path, body).await?;
        if status.is_success() {
            Ok(value)
        } else {
            Err(status_error(status, &value))
        }
    }
}

impl ElasticIndex {
    /// The analysis this eventdeck builds an index with: the configured one, or for `auto`
    /// nori when the cluster can analyse with it (the analysis-nori plugin), else bigrams.
    pub async fn wanted_analysis(&self) -> Analysis {
        if let Some(pinned) = self.pinned {
            return pinned;
        }
        match self.configured {
            SearchAnalyzer::Bigrams => Analysis::Bigrams,
            SearchAnalyzer::Nori => Analysis::Nori,
            SearchAnalyzer::Auto => {
                let probe = json!({ "analyzer": "nori", "text": "배포를" });
                match self.call(Method::Post, "/_analyze", Some(probe)).await {
                    Ok((status, _)) if status.is_success() => Analysis::Nori,
                    _ => Analysis::Bigrams,
                }
            }
        }
    }

    /// What the index was built with, from its mapping; `None` when it does not exist.
    async fn built_analysis(&self) -> Result<Option<Analysis>, SearchError> {
        let (status, body) = self
            .call(Method::Get, &format!("/{}/_mapping", self.index), None)
            .await?;
        if status.as_u16() == 404 {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(status_error(status, &body));
        }
        // One entry per concrete index (several behind an alias only mid-switch: any will do).
        Ok(body
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(|entry| entry.get("mappings"))
            .map(Analysis::of_mapping))
    }

    /// How to write into and query the serving index: read once from its mapping.
    async fn serving_analysis(&self) -> Result<Analysis, SearchError> {
        if let Some(known) = *self.lock_analysis() {
            return Ok(known);
        }
        let analysis = match self.built_analysis().await? {
            Some(built) => built,
            None => self.wanted_analysis().await,
        };
        *self.lock_analysis() = Some(analysis);
        Ok(analysis)
    }

    fn lock_analysis(&self) -> std::sync::MutexGuard<'_, Option<Analysis>> {
        self.serving_analysis
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes `docs` into the index (or alias) `target` with the version guard.
    async fn bulk_into(
        &self,
        target: &str,
        docs: &[SearchDoc],
        analysis: Analysis,
    ) -> Result<Vec<ItemOutcome>, SearchError> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        let mut lines: Vec<JsonBody<Value>> = Vec::with_capacity(docs.len() * 2);
        for doc in docs {
            lines.push(JsonBody::new(json!({ "index": {
                "_id": doc.message_id,
                "version": doc.version,
                "version_type": "external_gte"
            } })));
            lines.push(JsonBody::new(source(doc, analysis)?));
        }
        let response = self
            .client
            .bulk(BulkParts::Index(target))
            .body(lines)
            .send()
            .await
            .map_err(unreachable)?;
        let (status, body) = read_json(response).await?;
        if !status.is_success() {
            return Err(status_error(status, &body));
        }
        let items = body.get("items").and_then(Value::as_array).ok_or_else(|| {
            SearchError::Unavailable(format!("bulk answer without items: {body}"))
        })?;
        if items.len() != docs.len() {
            return Err(SearchError::Unavailable(format!(
                "bulk answered {} items for {} documents",
                items.len(),
                docs.len()
            )));
        }
        Ok(items.iter().map(classify_item).collect())
    }

    /// What the configured name is now: the indices behind it when it is an alias, or
    /// itself when it is a concrete index; empty when it does not exist.
    async fn serving(&self) -> Result<Serving, SearchError> {
        let (status, body) = self
            .call(Method::Get, &format!("/_alias/{}", self.index), None)
            .await?;
        if status.is_success() {
            let indices: Vec<String> = body
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            if !indices.is_empty() {
                return Ok(Serving::Alias(indices));
            }
        }
        let (status, _) = self
            .call(Method::Head, &format!("/{}", self.index), None)
            .await?;
        Ok(if status.is_success() {
            Serving::Concrete
        } else {
            Serving::Nothing
        })
    }

    /// Builds `<index>-<timestamp>` from `docs`, then points the alias at it in one
    /// `_aliases` call (which also drops a concrete index of the alias's name), then deletes
    /// the indices the alias pointed at before.
    async fn rebuild_behind_alias(
        &self,
        docs: Vec<SearchDoc>,
        progress: ReplaceProgress,
    ) -> Result<Replaced, SearchError> {
        let fresh = versioned_name(&self.index, chrono::Utc::now());
        let analysis = self.wanted_analysis().await;
        self.call_ok(Method::Put, &format!("/{fresh}"), Some(mapping(analysis)))
            .await?;
        let total = docs.len() as u64;
        let mut written = 0u64;
        progress(0, total);
        for chunk in docs.chunks(REBUILD_CHUNK) {
            let outcomes = self.bulk_into(&fresh, chunk, analysis).await?;
            if let Some(reason) = outcomes.iter().find_map(|o| match o {
                ItemOutcome::Rejected(r) | ItemOutcome::Transient(r) => Some(r.clone()),
                _ => None,
            }) {
                // Leave the serving index alone; the half-built one goes.
                let _ = self.call(Method::Delete, &format!("/{fresh}"), None).await;
                return Err(SearchError::Failed(format!(
                    "building {fresh}: a document was refused: {reason}"
                )));
            }
            written += chunk.len() as u64;
            progress(written, total);
        }
        self.call_ok(Method::Post, &format!("/{fresh}/_refresh"), None)
            .await?;
        let serving = self.serving().await?;
        let actions = alias_actions(&self.index, &fresh, &serving);
        self.call_ok(
            Method::Post,
            "/_aliases",
            Some(json!({ "actions": actions })),
        )
        .await?;
        *self.lock_analysis() = Some(analysis);
        let old = match &serving {
            Serving::Alias(indices) => {
                for old in indices.iter().filter(|i| **i != fresh) {
                    if let Err(e) = self.call_ok(Method::Delete, &format!("/{old}"), None).await {
                        tracing::warn!(index = %old, "the old index could not be dropped: {e}");
                    }
                }
                indices.join(", ")
            }
            Serving::Concrete => format!("{} (a concrete index, dropped)", self.index),
            Serving::Nothing => "nothing".to_string(),
        };
        Ok(Replaced {
            old,
            new: format!("{fresh} behind the alias {}", self.index),
            documents: total,
            analyzer: analysis.name().to_string(),
        })
    }
}

/// Documents per bulk request while an index is rebuilt.
const REBUILD_CHUNK: usize = 1_000;

/// What the configured index name stands for on the cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum Serving {
    /// An alias over these indices.
    Alias(Vec<String>),
    /// A concrete index of that name (created by `ensure_index`, or by an older eventdeck).
    Concrete,
    Nothing,
}

/// `messages-20261202t164800123`: index names must be lower case.
pub fn versioned_name(alias: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    format!("{alias}-{}", at.format("%Y%m%dt%H%M%S%3f"))
}

/// The one `_aliases` request that makes `alias` point at `fresh` only: atomic on the
/// cluster, so every search is answered by the old index or the new, never by neither.
pub fn alias_actions(alias: &str, fresh: &str, serving: &Serving) -> Vec<Value> {
    let mut actions = Vec::new();
    match serving {
        Serving::Alias(indices) => {
            for old in indices.iter().filter(|i| *i != fresh) {
                actions.push(json!({ "remove": { "index": old, "alias": alias } }));
            }
        }
        // An index cannot share its name with an alias: drop it in the same request.
        Serving::Concrete => actions.push(json!({ "remove_index": { "index": alias } })),
        Serving::Nothing => {}
    }
    actions.insert(
        0,
        json!({ "add": { "index": fresh, "alias": alias, "is_write_index": true } }),
    );
    actions
}

/// A request that got no answer, with its causes: the client's own message is only "error
/// sending request for url (…)", while the reason (connection refused, a timeout, a TLS
/// failure) is in its sources, and that is what a person needs to read.
fn unreachable(e: impl std::error::Error) -> SearchError {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    SearchError::Unavailable(text)
}

async fn read_json(response: Response) -> Result<(StatusCode, Value), SearchError> {
    let status = response.status_code();
    let text = response.text().await.map_err(unreachable)?;
    let value = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Ok((status, value))
}

fn status_error(status: StatusCode, body: &Value) -> SearchError {
    let reason = error_reason(body).unwrap_or_else(|| body.to_string());
    let text = format!("HTTP {}: {reason}", status.as_u16());
    if is_transient_status(status.as_u16()) {
        SearchError::Unavailable(text)
    } else {
        SearchError::Failed(text)
    }
}

fn is_transient_status(status: u16) -> bool {
    status == 429 || status >= 500
}

fn error_reason(body: &Value) -> Option<String> {
    let err = body.get("error")?;
    let kind = err.get("type").and_then(Value::as_str).unwrap_or("error");
    let reason = err.get("reason").and_then(Value::as_str).unwrap_or("");
    Some(format!("{kind}: {reason}"))
}

/// Classifies one item of a bulk response. A bulk answered 200 can hold failed items.
pub fn classify_item(item: &Value) -> ItemOutcome {
    let Some(op) = item.as_object().and_then(|o| o.values().next()) else {
        return ItemOutcome::Transient(format!("unreadable bulk item {item}"));
    };
    let status = op.get("status").and_then(Value::as_u64).unwrap_or(0) as u16;
    let reason = op
        .get("error")
        .map(|e| error_reason(&json!({ "error": e })).unwrap_or_else(|| e.to_string()))
        .unwrap_or_default();
    match status {
        200..=299 => ItemOutcome::Applied,
        409 => ItemOutcome::Stale,
        s if is_transient_status(s) => ItemOutcome::Transient(format!("HTTP {s}: {reason}")),
        0 => ItemOutcome::Transient(format!("bulk item without status: {op}")),
        s => ItemOutcome::Rejected(format!("HTTP {s}: {reason}")),
    }
}

#[async_trait::async_trait]
impl SearchIndex for ElasticIndex {
    async fn ensure_index(&self) -> Result<(), SearchError> {
        let path = format!("/{}", self.index);
        let (status, _) = self.call(Method::Head, &path, None).await?;
        if status.is_success() {
            // Queried as it was built (read now: it may predate this process).
            *self.lock_analysis() = None;
            self.serving_analysis().await?;
            return Ok(());
        }
        let analysis = self.wanted_analysis().await;
        let (status, body) = self
            .call(Method::Put, &path, Some(mapping(analysis)))
            .await?;
        let already = body
            .pointer("/error/type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.contains("already_exists"));
        if status.is_success() {
            *self.lock_analysis() = Some(analysis);
            Ok(())
        } else if already {
            // Another process created it meanwhile, perhaps otherwise: read what it is.
            *self.lock_analysis() = None;
            self.serving_analysis().await.map(|_| ())
        } else {
            Err(status_error(status, &body))
        }
    }

    async fn apply(&self, docs: &[SearchDoc]) -> Result<Vec<ItemOutcome>, SearchError> {
        let analysis = self.serving_analysis().await?;
        self.bulk_into(&self.index, docs, analysis).await
    }

    async fn get(&self, ids: &[String]) -> Result<HashMap<String, SearchDoc>, SearchError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let path = format!("/{}/_mget", self.index);
        let body = self
            .call_ok(Method::Post, &path, Some(json!({ "ids": ids })))
            .await?;
        let mut found = HashMap::new();
        for d in body
            .get("docs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if d.get("found").and_then(Value::as_bool) != Some(true) {
                continue;
            }
            if let Some(doc) = d
                .get("_source")
                .and_then(|s| serde_json::from_value::<SearchDoc>(s.clone()).ok())
            {
                found.insert(doc.message_id.clone(), doc);
            }
        }
        Ok(found)
    }

    async fn search(&self, query: &SearchQuery) -> Result<SearchResults, SearchError> {
        let path = format!("/{}/_search", self.index);
        let analysis = self.serving_analysis().await?;
        let body = self
            .call_ok(Method::Post, &path, Some(search_body(query, analysis)))
            .await?;
        let highlighting = Highlighting::for_query(query, analysis);
        let hits = body
            .pointer("/hits/hits")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|h| parse_hit(h, &highlighting))
                    .collect()
            })
            .unwrap_or_default();
        let total = body
            .pointer("/hits/total/value")
            .or_else(|| body.pointer("/hits/total"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        Ok(SearchResults {
            total,
            took_ms: body.get("took").and_then(Value::as_u64).unwrap_or(0),
            hits,
        })
    }

    async fn count(&self) -> Result<u64, SearchError> {
        let path = format!("/{}/_count", self.index);
        let query =
            json!({ "query": { "bool": { "must_not": [ { "term": { "deleted": true } } ] } } });
        let body = self.call_ok(Method::Post, &path, Some(query)).await?;
        Ok(body.get("count").and_then(Value::as_u64).unwrap_or(0))
    }

    async fn stats(&self) -> Result<IndexStats, SearchError> {
        let messages = self.count().await?;
        let path = format!("/{}/_stats", self.index);
        let size_bytes = self
            .call_ok(Method::Get, &path, None)
            .await
            .ok()
            .and_then(|b| {
                b.pointer("/_all/primaries/store/size_in_bytes")
                    .and_then(Value::as_u64)
            });
        Ok(IndexStats {
            backend: "elastic".into(),
            location: format!("{}/{}", self.url, self.index),
            messages,
            size_bytes,
        })
    }

    async fn refresh(&self) -> Result<(), SearchError> {
        let path = format!("/{}/_refresh", self.index);
        self.call_ok(Method::Post, &path, None).await.map(|_| ())
    }

    /// Nothing to do: Elasticsearch acknowledges a bulk item once it is in the translog,
    /// which is synced before the answer by default (`index.translog.durability: request`).
    async fn make_durable(&self) -> Result<(), SearchError> {
        Ok(())
    }

    async fn replace_all(
        &self,
        docs: Vec<SearchDoc>,
        progress: ReplaceProgress,
    ) -> Result<Replaced, SearchError> {
        self.rebuild_behind_alias(docs, progress).await
    }

    async fn analysis(&self) -> Result<IndexAnalysis, SearchError> {
        let current = self.wanted_analysis().await;
        // A missing index will be built as this eventdeck builds them.
        let built = self.built_analysis().await?.unwrap_or(current);
        Ok(IndexAnalysis {
            built_with: built.name().to_string(),
            current: current.name().to_string(),
        })
    }

    fn describe(&self) -> String {
        format!("elastic {}/{}", self.url, self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_200_bulk_item_list_is_read_item_by_item() {
        let ok = json!({"index": {"status": 201}});
        let stale = json!({"index": {"status": 409, "error": {"type": "version_conflict_engine_exception", "reason": "newer"}}});
        let busy = json!({"index": {"status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}});
        let bad = json!({"index": {"status": 400, "error": {"type": "mapper_parsing_exception", "reason": "failed to parse field [created_at]"}}});
        assert_eq!(classify_item(&ok), ItemOutcome::Applied);
        assert_eq!(classify_item(&stale), ItemOutcome::Stale);
        assert!(matches!(classify_item(&busy), ItemOutcome::Transient(r) if r.contains("429")));
        assert!(
            matches!(classify_item(&bad), ItemOutcome::Rejected(r) if r.contains("mapper_parsing_exception"))
        );
    }

    #[test]
    fn one_aliases_request_switches_from_whatever_served_before() {
        let at = chrono::DateTime::from_timestamp_millis(1_764_694_080_123).expect("a time");
        let fresh = versioned_name("messages", at);
        assert_eq!(fresh, "messages-20251202t164800123");
        let from_alias = alias_actions(
            "messages",
            &fresh,
            &Serving::Alias(vec!["messages-old".into()]),
        );
        assert_eq!(from_alias[0]["add"]["index"], json!(fresh));
        assert_eq!(from_alias[1]["remove"]["index"], json!("messages-old"));
        let from_concrete = alias_actions("messages", &fresh, &Serving::Concrete);
        assert_eq!(from_concrete[1]["remove_index"]["index"], json!("messages"));
        assert_eq!(
            alias_actions("messages", &fresh, &Serving::Nothing).len(),
            1
        );
    }
}
