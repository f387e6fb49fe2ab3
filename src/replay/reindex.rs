//! Rebuilds the search index from the log while the old index keeps answering searches:
//! read the message topics from the beginning (as `replay` does), write the folded state into
//! a new index and switch to it atomically ([`SearchIndex::replace_all`]), then catch up with
//! the events that arrived meanwhile. The running indexer is never stopped: what it wrote into
//! the old index after the read the catch-up writes again, and the version guard makes every
//! write idempotent, so the order of the two writers does not matter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::read_log::{read_log, read_more, Progress};
use crate::bus::Cluster;
use crate::search::{ItemOutcome, Replaced, SearchDoc, SearchError, SearchIndex};

/// Documents per write of the catch-up.
const CATCH_UP_CHUNK: usize = 1_000;
/// Attempts of a catch-up write that the index answers with a transient error.
const CATCH_UP_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Reading the message topics from the beginning.
    Reading,
    /// Writing the rebuilt documents into the new index (the switch follows at once).
    Building,
    /// Writing what arrived during the rebuild.
    CatchingUp,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Stage::Reading => "reading the log",
            Stage::Building => "building the new index",
            Stage::CatchingUp => "catching up",
        }
    }
}

/// How far a reindex has come: for the progress line and the console's progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReindexProgress {
    pub stage: Stage,
    pub progress: Progress,
}

impl ReindexProgress {
    /// Done of total within the current stage, 0.0..=1.0.
    pub fn ratio(&self) -> f64 {
        if self.progress.total == 0 {
            return 1.0;
        }
        (self.progress.read as f64 / self.progress.total as f64).clamp(0.0, 1.0)
    }
}

pub type ReindexProgressFn = Arc<dyn Fn(ReindexProgress) + Send + Sync>;

/// What a finished reindex did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reindexed {
    /// Events read from the log.
    pub events: u64,
    /// Events per second of the read.
    pub read_rate: f64,
    pub replaced: Replaced,
    /// Messages written again after the switch (changed by events that arrived meanwhile).
    pub caught_up: u64,
    /// Documents the index refused during the catch-up (they are in the dead-letter topic).
    pub refused: u64,
    pub took: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ReindexError {
    #[error("reading the log: {0:#}")]
    Read(anyhow::Error),
    #[error("rebuilding the index: {0}")]
    Index(#[from] SearchError),
    #[error("a reindex is already running")]
    AlreadyRunning,
    #[error("the supervisor stopped")]
    SupervisorGone,
}

/// Rebuilds `index` from `topics` on `cluster`. Searches are answered throughout.
pub async fn reindex(
    cluster: Cluster,
    topics: Vec<String>,
    index: Arc<dyn SearchIndex>,
    progress: ReindexProgressFn,
) -> Result<Reindexed, ReindexError> {
    let started = Instant::now();
    let (c, t, p) = (cluster.clone(), topics.clone(), progress.clone());
    let mut state = tokio::task::spawn_blocking(move || {
        read_log(&c, &t, |progress| {
            p(ReindexProgress {
                stage: Stage::Reading,
                progress,
            })
        })
    })
    .await
    .map_err(|e| ReindexError::Read(e.into()))?
    .map_err(ReindexError::Read)?;
    let events = state.events + state.unreadable;
    let read_rate = events as f64 / started.elapsed().as_secs_f64().max(1e-3);

    let docs: Vec<SearchDoc> = state.docs.values().cloned().collect();
    let building = Instant::now();
    let p = progress.clone();
    let replaced = index
        .replace_all(
            docs,
            Arc::new(move |done, total| {
                p(ReindexProgress {
                    stage: Stage::Building,
                    progress: Progress::at(done, total, building.elapsed()),
                })
            }),
        )
        .await?;

    // The switch is done: whatever the log gained since the read goes into the new index.
    let (c, t, p) = (cluster, topics, progress.clone());
    let (state, changed) = tokio::task::spawn_blocking(move || {
        let changed = read_more(&c, &t, &mut state, |progress| {
            p(ReindexProgress {
                stage: Stage::CatchingUp,
                progress,
            })
        })?;
        Ok::<_, anyhow::Error>((state, changed))
    })
    .await
    .map_err(|e| ReindexError::Read(e.into()))?
    .map_err(ReindexError::Read)?;
    let docs: Vec<SearchDoc> = changed
        .iter()
        .filter_map(|id| state.docs.get(id).cloned())
        .collect();
    let refused = write_all(index.as_ref(), &docs).await?;
    index.refresh().await?;
    Ok(Reindexed {
        events,
        read_rate,
        replaced,
        caught_up: docs.len() as u64,
        refused,
        took: started.elapsed(),
    })
}

/// Writes `docs` with the version guard, retrying transient refusals; returns how many the
/// index refused for good.
async fn write_all(index: &dyn SearchIndex, docs: &[SearchDoc]) -> Result<u64, SearchError> {
    let mut refused = 0;
    for chunk in docs.chunks(CATCH_UP_CHUNK) {
        let mut pending: Vec<SearchDoc> = chunk.to_vec();
        for attempt in 1..=CATCH_UP_ATTEMPTS {
            let outcomes = match index.apply(&pending).await {
                Ok(o) => o,
                Err(e) if e.is_transient() && attempt < CATCH_UP_ATTEMPTS => {
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut retry = Vec::new();
            for (doc, outcome) in pending.into_iter().zip(outcomes) {
                match outcome {
                    ItemOutcome::Applied | ItemOutcome::Stale => {}
                    ItemOutcome::Rejected(_) => refused += 1,
                    ItemOutcome::Transient(_) => retry.push(doc),
                }
            }
            pending = retry;
            if pending.is_empty() {
                break;
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
        if !pending.is_empty() {
            return Err(SearchError::Unavailable(format!(
                "{} documents still refused after {CATCH_UP_ATTEMPTS} attempts",
                pending.len()
            )));
        }
    }
    Ok(refused)
}

/// 200 ms, 400 ms, 800 ms…: a pause between attempts, not a synchronisation.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 << attempt.min(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_of_a_stage_stays_within_bounds() {
        let at = |read, total| ReindexProgress {
            stage: Stage::Building,
            progress: Progress::at(read, total, Duration::from_secs(1)),
        };
        assert_eq!(at(50, 200).ratio(), 0.25);
        assert_eq!(at(0, 0).ratio(), 1.0);
        assert_eq!(at(300, 200).ratio(), 1.0);
    }
}
