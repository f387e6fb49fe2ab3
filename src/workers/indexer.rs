//! The indexer (group `search-indexer`): message events → the search index.
//! A batch is parsed, folded into one document per message (`search::plan`), written in one
//! bulk request whose items are checked one by one; transient failures are retried, events
//! that can never succeed go to the dead-letter topic with the reason, and only then does
//! the consumer loop commit.

use std::sync::Arc;
use std::time::Duration;

use super::batch::Record;
use super::consumer::BatchHandler;
use super::dlq::DeadLetters;
use crate::event::{parse_message_event, ParsedEvent};
use crate::search::plan::{ids_to_look_up, plan_bulk};
use crate::search::{ItemOutcome, SearchDoc, SearchIndex};

pub struct Indexer {
    pub index: Arc<dyn SearchIndex>,
    pub dead_letters: DeadLetters,
    pub max_retries: u32,
    pub retry_backoff: Duration,
}

impl Indexer {
    /// Applies `docs`, retrying only the items that failed transiently. Returns the final
    /// outcome of each document.
    async fn apply_with_retries(&self, docs: &[SearchDoc]) -> Result<Vec<ItemOutcome>, String> {
        let mut outcomes: Vec<Option<ItemOutcome>> = vec![None; docs.len()];
        let mut pending: Vec<usize> = (0..docs.len()).collect();
        let mut attempt = 0u32;
        loop {
            let subset: Vec<SearchDoc> = pending.iter().map(|&i| docs[i].clone()).collect();
            let mut still_pending = Vec::new();
            let mut last_error = String::new();
            match self.index.apply(&subset).await {
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
                Err(e) if e.is_transient() => {
                    last_error = e.to_string();
                    still_pending = pending.clone();
                }
                // The whole request was refused: retrying the same request cannot help, but
                // it is not proof that each document is bad either, so the batch is retried
                // by the consumer loop and reported, rather than dead-lettered.
                Err(e) => return Err(e.to_string()),
            }
            if still_pending.is_empty() {
                return Ok(outcomes
                    .into_iter()
                    .map(|o| o.unwrap_or(ItemOutcome::Applied))
                    .collect());
            }
            attempt += 1;
            if attempt > self.max_retries {
                return Err(format!(
                    "{} documents still failing after {} retries: {last_error}",
                    still_pending.len(),
                    self.max_retries
                ));
            }
            pending = still_pending;
            let wait = self.retry_backoff * 2u32.saturating_pow(attempt.min(6) - 1);
            tokio::time::sleep(wait.min(Duration::from_secs(5))).await;
        }
    }
}

#[async_trait::async_trait]
impl BatchHandler for Indexer {
    async fn handle(&mut self, records: &[Record]) -> Result<Option<i64>, String> {
        let mut events: Vec<ParsedEvent> = Vec::with_capacity(records.len());
        let mut event_records: Vec<&Record> = Vec::with_capacity(records.len());
        let mut dead: Vec<(&Record, String)> = Vec::new();
        for r in records {
            match parse_message_event(r.value()) {
                Ok(e) => {
                    events.push(e);
                    event_records.push(r);
                }
                Err(e) => dead.push((r, e.to_string())),
            }
        }
        let newest = events.iter().map(|e| e.timestamp).max();
        let stored = self
            .index
            .get(&ids_to_look_up(&events))
            .await
            .map_err(|e| e.to_string())?;
        let plan = plan_bulk(&events, &stored);
        let outcomes = self.apply_with_retries(&plan.docs).await?;
        // The consumer loop commits offsets once this returns: what was applied must first
        // survive a crash (the local index holds it in memory until its next commit).
        self.index.make_durable().await.map_err(|e| e.to_string())?;
        for (outcome, sources) in outcomes.iter().zip(&plan.sources) {
            if let ItemOutcome::Rejected(reason) = outcome {
                for &pos in sources {
                    dead.push((
                        event_records[pos],
                        format!("rejected by the index: {reason}"),
                    ));
                }
            }
        }
        // Dead letters are acknowledged by the broker before the batch counts as handled,
        // so a crash here re-sends them rather than losing them.
        self.dead_letters.send_all(&dead).await?;
        Ok(newest)
    }
}
