//! The indexer (group `search-indexer`): message events → the search index.
//! A batch is parsed, folded into one document per message (`search::plan`), written in one
//! bulk request whose items are checked one by one; transient failures are retried, events
//! that can never succeed (unparseable, or rejected by the index) are reported as poison with
//! the reason, and the consumer loop dead-letters them before it commits. The indexer owns
//! dead-lettering of malformed message events: it reads every message topic, while the
//! notifier (reading two of them) skips what does not parse.
//!
//! Batches are planned one at a time in log order and written several at a time
//! (`[indexer] in_flight`, see `stages`): the bulk round trips overlap each other and the
//! consuming and planning of the next batches; offsets are still committed in order.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::batch::Record;
use super::consumer::{HandleError, Handled, Poison};
use super::stages::{BatchWrite, PipelinedHandler};
use crate::event::{parse_message_event, ParsedEvent};
use crate::monitor::cqrs::CqrsMeter;
use crate::search::plan::{ids_to_look_up, plan_bulk, BulkPlan};
use crate::search::{ItemOutcome, SearchDoc, SearchError, SearchIndex};

/// Why the indexer could not finish a batch; the consumer loop retries it.
#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    #[error("looking up stored documents: {0}")]
    Lookup(#[source] SearchError),
    /// The whole bulk request was refused: not proof that each document is bad.
    #[error("bulk request refused: {0}")]
    Refused(#[source] SearchError),
    #[error("{count} documents still failing after {retries} retries: {last_error}")]
    StillFailing {
        count: usize,
        retries: u32,
        last_error: String,
    },
    #[error("making the index durable: {0}")]
    Durable(#[source] SearchError),
    #[error(transparent)]
    Unavailable(SearchError),
}

impl From<IndexerError> for HandleError {
    fn from(e: IndexerError) -> Self {
        HandleError::transient("indexer", e)
    }
}

/// The records behind documents the index rejected, as poison: `sources[d]` are the
/// positions (among the parsed events) folded into document `d`, `event_records[p]` the
/// batch index of parsed event `p`.
pub fn rejected_poison(
    outcomes: &[ItemOutcome],
    sources: &[Vec<usize>],
    event_records: &[usize],
) -> Vec<Poison> {
    let mut poison = Vec::new();
    for (outcome, sources) in outcomes.iter().zip(sources) {
        if let ItemOutcome::Rejected(reason) = outcome {
            for &pos in sources {
                poison.push(Poison {
                    index: event_records[pos],
                    reason: format!("rejected by the index: {reason}"),
                });
            }
        }
    }
    poison
}

/// How the indexer writes into the index: retries of transient item failures.
#[derive(Clone)]
pub struct IndexWriter {
    pub index: Arc<dyn SearchIndex>,
    pub max_retries: u32,
    pub retry_backoff: Duration,
}

pub struct Indexer {
    writer: IndexWriter,
    /// Where commit→searchable delays go (`:cqrs`, `bench cqrs`).
    meter: Arc<CqrsMeter>,
    /// Documents planned by batches whose writes have not finished yet.
    in_flight: Arc<Mutex<InFlightDocs>>,
    next_batch: u64,
}

impl Indexer {
    pub fn new(writer: IndexWriter, meter: Arc<CqrsMeter>) -> Self {
        Self {
            writer,
            meter,
            in_flight: Arc::default(),
            next_batch: 0,
        }
    }
}

/// The documents planned by batches still being written, newest plan per message. A batch
/// that edits a message folds onto these rather than onto the index, which may not hold the
/// earlier batch's document yet: folding onto an older stored one (or none) and writing
/// after it would overwrite what the earlier batch wrote with a document missing its fields.
#[derive(Default)]
pub struct InFlightDocs {
    docs: HashMap<String, (u64, SearchDoc)>,
}

impl InFlightDocs {
    /// The in-flight documents among `ids`, and the ids to look up in the index.
    pub fn split(&self, ids: &[String]) -> (HashMap<String, SearchDoc>, Vec<String>) {
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        for id in ids {
            match self.docs.get(id) {
                Some((_, doc)) => {
                    found.insert(id.clone(), doc.clone());
                }
                None => missing.push(id.clone()),
            }
        }
        (found, missing)
    }

    pub fn planned(&mut self, batch: u64, docs: &[SearchDoc]) {
        for doc in docs {
            self.docs
                .insert(doc.message_id.clone(), (batch, doc.clone()));
        }
    }

    /// Batch `batch` is written: its documents are the index's now, unless a later batch
    /// planned the same message again.
    pub fn written(&mut self, batch: u64, docs: &[SearchDoc]) {
        for doc in docs {
            if self
                .docs
                .get(&doc.message_id)
                .is_some_and(|(b, _)| *b == batch)
            {
                self.docs.remove(&doc.message_id);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }
}

fn lock(docs: &Mutex<InFlightDocs>) -> std::sync::MutexGuard<'_, InFlightDocs> {
    docs.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The timestamps of the events the relay published from the write model (their records
/// carry the `event_id` header): the event's timestamp is the commit's.
fn relayed_timestamps(
    events: &[ParsedEvent],
    event_records: &[usize],
    records: &[Record],
) -> Vec<i64> {
    events
        .iter()
        .zip(event_records)
        .filter(|(_, &r)| {
            records[r]
                .headers
                .iter()
                .any(|(k, _)| k == crate::workers::relay::HEADER_EVENT_ID)
        })
        .map(|(e, _)| e.timestamp)
        .collect()
}

impl IndexWriter {
    /// Applies `docs`, retrying only the items that failed transiently. Returns the final
    /// outcome of each document.
    async fn apply_with_retries(
        &self,
        docs: &[SearchDoc],
    ) -> Result<Vec<ItemOutcome>, IndexerError> {
        let mut outcomes: Vec<Option<ItemOutcome>> = vec![None; docs.len()];
        let mut pending: Vec<usize> = (0..docs.len()).collect();
        let mut attempt = 0u32;
        loop {
            let results = if pending.len() == docs.len() {
                self.index.apply(docs).await
            } else {
                let subset: Vec<SearchDoc> = pending.iter().map(|&i| docs[i].clone()).collect();
                self.index.apply(&subset).await
            };
            let mut still_pending = Vec::new();
            let mut last_error = String::new();
            match results {
                Ok(results) => {
                    for (&i, outcome) in pending.iter().zip(results) {
                        match outcome {
                            ItemOutcome::Transient(reason) => {
                                last_error = reason;
                                still_pending.push(i);
                            }
                            other => outcomes[i] = Some(other),
                        }
                    }
                }
                // The server did not answer, or refused the whole request for now: retried
                // by the consumer loop, which says so at once (backing off, and why) rather
                // than after this loop's own retries.
                Err(e) if e.is_transient() => return Err(IndexerError::Unavailable(e)),
                // The whole request was refused: retrying the same request cannot help, but
                // it is not proof that each document is bad either, so the batch is retried
                // by the consumer loop and reported, rather than dead-lettered.
                Err(e) => return Err(IndexerError::Refused(e)),
            }
            if still_pending.is_empty() {
                return Ok(outcomes
                    .into_iter()
                    .map(|o| o.unwrap_or(ItemOutcome::Applied))
                    .collect());
            }
            attempt += 1;
            if attempt > self.max_retries {
                return Err(IndexerError::StillFailing {
                    count: still_pending.len(),
                    retries: self.max_retries,
                    last_error,
                });
            }
            pending = still_pending;
            tokio::time::sleep(super::backoff::backoff(self.retry_backoff, attempt)).await;
        }
    }
}

#[async_trait::async_trait]
impl PipelinedHandler for Indexer {
    /// Parses the batch and plans its documents, folding edits onto the documents of the
    /// batches before it (in flight, or else looked up in the index).
    async fn prepare(&mut self, records: &[Record]) -> Result<Arc<dyn BatchWrite>, HandleError> {
        let mut events: Vec<ParsedEvent> = Vec::with_capacity(records.len());
        let mut event_records: Vec<usize> = Vec::with_capacity(records.len());
        let mut poison: Vec<Poison> = Vec::new();
        for (index, r) in records.iter().enumerate() {
            match parse_message_event(r.value()) {
                Ok(e) => {
                    events.push(e);
                    event_records.push(index);
                }
                Err(e) => poison.push(Poison {
                    index,
                    reason: e.to_string(),
                }),
            }
        }
        let looked_up = ids_to_look_up(&events);
        let (mut stored, missing) = lock(&self.in_flight).split(&looked_up);
        stored.extend(
            self.writer
                .index
                .get(&missing)
                .await
                .map_err(IndexerError::Lookup)?,
        );
        let plan = plan_bulk(&events, &stored);
        self.next_batch += 1;
        lock(&self.in_flight).planned(self.next_batch, &plan.docs);
        Ok(Arc::new(BatchOfDocs {
            writer: self.writer.clone(),
            meter: self.meter.clone(),
            in_flight: self.in_flight.clone(),
            batch: self.next_batch,
            newest_event_ms: events.iter().map(|e| e.timestamp).max(),
            relayed_at: relayed_timestamps(&events, &event_records, records),
            plan,
            events,
            event_records,
            looked_up,
            parse_poison: poison,
        }))
    }
}

/// One batch's planned documents, written by the concurrent stage.
struct BatchOfDocs {
    writer: IndexWriter,
    meter: Arc<CqrsMeter>,
    in_flight: Arc<Mutex<InFlightDocs>>,
    batch: u64,
    plan: BulkPlan,
    events: Vec<ParsedEvent>,
    /// `event_records[p]`: the batch index of parsed event `p`.
    event_records: Vec<usize>,
    looked_up: Vec<String>,
    parse_poison: Vec<Poison>,
    newest_event_ms: Option<i64>,
    relayed_at: Vec<i64>,
}

#[async_trait::async_trait]
impl BatchWrite for BatchOfDocs {
    async fn write(&self) -> Result<Handled, HandleError> {
        let writer = &self.writer;
        let outcomes = writer.apply_with_retries(&self.plan.docs).await?;
        let mut poison = self.parse_poison.clone();
        // A create planned without a look-up can meet a newer edit or delete already in the
        // index (the topics are not ordered with each other): the index answers Stale, and
        // the create's author and creation time would be lost. Fold those messages' events
        // again onto the stored documents: `apply_event` fills the fields in, keeping the
        // newer version.
        let refold = stale_without_look_up(&self.plan.docs, &outcomes, &self.looked_up);
        if !refold.is_empty() {
            let stored = writer
                .index
                .get(&refold)
                .await
                .map_err(IndexerError::Lookup)?;
            let refold: HashSet<&str> = refold.iter().map(String::as_str).collect();
            let positions: Vec<usize> = (0..self.events.len())
                .filter(|&i| refold.contains(self.events[i].message_id()))
                .collect();
            let subset: Vec<ParsedEvent> =
                positions.iter().map(|&i| self.events[i].clone()).collect();
            let again = plan_bulk(&subset, &stored);
            let outcomes = writer.apply_with_retries(&again.docs).await?;
            let sources: Vec<Vec<usize>> = again
                .sources
                .iter()
                .map(|s| s.iter().map(|&k| positions[k]).collect())
                .collect();
            poison.extend(rejected_poison(&outcomes, &sources, &self.event_records));
        }
        // The consumer loop commits offsets once this returns: what was applied must first
        // survive a crash (the local index holds it in memory until its next commit).
        writer
            .index
            .make_durable()
            .await
            .map_err(IndexerError::Durable)?;
        lock(&self.in_flight).written(self.batch, &self.plan.docs);
        let now_ms = chrono::Utc::now().timestamp_millis();
        for at in &self.relayed_at {
            self.meter.record_visible(Duration::from_millis(
                now_ms.saturating_sub(*at).max(0) as u64
            ));
        }
        poison.extend(rejected_poison(
            &outcomes,
            &self.plan.sources,
            &self.event_records,
        ));
        Ok(Handled {
            newest_event_ms: self.newest_event_ms,
            poison,
        })
    }
}

/// The documents the index found stale although they were planned without their stored
/// document (creates): their events must be folded again onto what the index holds.
fn stale_without_look_up(
    docs: &[SearchDoc],
    outcomes: &[ItemOutcome],
    looked_up: &[String],
) -> Vec<String> {
    docs.iter()
        .zip(outcomes)
        .filter(|(d, o)| **o == ItemOutcome::Stale && !looked_up.contains(&d.message_id))
        .map(|(d, _)| d.message_id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str, version: i64) -> SearchDoc {
        SearchDoc {
            message_id: id.into(),
            channel: "ch".into(),
            author: "a".into(),
            content: String::new(),
            mentions: vec![],
            created_at: Some(1),
            updated_at: None,
            deleted: false,
            version,
        }
    }

    #[test]
    fn a_later_batch_folds_onto_the_documents_of_batches_still_in_flight() {
        let mut docs = InFlightDocs::default();
        docs.planned(1, &[doc("m1", 1), doc("m2", 1)]);
        let (found, missing) = docs.split(&["m1".into(), "m3".into()]);
        assert_eq!(found.get("m1").map(|d| d.version), Some(1));
        assert_eq!(missing, vec!["m3".to_string()]);
        // Batch 2 plans m1 again; batch 1's write finishing must not forget batch 2's plan.
        docs.planned(2, &[doc("m1", 2)]);
        docs.written(1, &[doc("m1", 1), doc("m2", 1)]);
        let (found, missing) = docs.split(&["m1".into(), "m2".into()]);
        assert_eq!(found.get("m1").map(|d| d.version), Some(2));
        assert_eq!(missing, vec!["m2".to_string()]);
        docs.written(2, &[doc("m1", 2)]);
        assert!(docs.is_empty());
    }

    #[test]
    fn a_stale_create_planned_without_its_stored_document_is_folded_again() {
        let docs = [doc("created", 1), doc("edited", 1), doc("fresh", 1)];
        let outcomes = [ItemOutcome::Stale, ItemOutcome::Stale, ItemOutcome::Applied];
        // "edited" was looked up: its stale answer is a replay, nothing to fold again.
        let again = stale_without_look_up(&docs, &outcomes, &["edited".to_string()]);
        assert_eq!(again, vec!["created".to_string()]);
    }

    #[test]
    fn rejected_documents_poison_every_record_folded_into_them() {
        // Parsed events 0..4 came from batch records 0, 2, 3, 5 (1 and 4 did not parse).
        let event_records = [0, 2, 3, 5];
        let outcomes = [
            ItemOutcome::Applied,
            ItemOutcome::Rejected("mapper_parsing_exception".into()),
            ItemOutcome::Stale,
        ];
        let sources = [vec![0], vec![1, 3], vec![2]];
        let got: Vec<(usize, String)> = rejected_poison(&outcomes, &sources, &event_records)
            .into_iter()
            .map(|p| (p.index, p.reason))
            .collect();
        let why = "rejected by the index: mapper_parsing_exception".to_string();
        assert_eq!(got, vec![(2, why.clone()), (5, why)]);
    }

    #[test]
    fn applied_stale_and_transient_outcomes_are_not_poison() {
        let outcomes = [
            ItemOutcome::Applied,
            ItemOutcome::Stale,
            ItemOutcome::Transient("429".into()),
        ];
        let sources = [vec![0], vec![1], vec![2]];
        assert!(rejected_poison(&outcomes, &sources, &[0, 1, 2]).is_empty());
    }

    #[test]
    fn indexer_errors_are_transient_and_keep_their_cause() {
        let e: HandleError =
            IndexerError::Refused(SearchError::Failed("400 bad request".into())).into();
        let HandleError::Transient { context, source } = &e;
        assert_eq!(context, "indexer");
        assert!(source.to_string().contains("400 bad request"));
        assert!(std::error::Error::source(&e).is_some());
    }
}
