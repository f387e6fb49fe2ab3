//! Settling a batch once its write finished, in offset order: dead letters first (acknowledged
//! by the broker), then the commit, then the report.

use std::collections::BTreeMap;
use std::sync::Arc;

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;

use super::batch::{commit_offsets, Record};
use super::consumer::{poisoned, ConsumerSpec, Handled, WorkerConsumer};
use super::dlq::DeadLetters;
use super::report::{WorkerEvent, WorkerState};
use super::stages::{write_with_retries, BatchWrite, RetryReport};

/// What a batch's write became: its records, and its outcome with the failed attempts
/// before it (`None`: given up on at shutdown).
pub type Written = (Vec<Record>, Option<(Handled, u32)>);
/// A batch whose write runs on its own task.
pub type InFlight = tokio::task::JoinHandle<Written>;

/// One batch's write, retried until it succeeds or shutdown is asked for.
pub async fn write_task(
    write: Arc<dyn BatchWrite>,
    records: Vec<Record>,
    retry: RetryReport,
    shutdown: watch::Receiver<bool>,
) -> Written {
    let outcome = write_with_retries(write, retry, shutdown).await;
    (records, outcome)
}

pub fn offsets_list(offsets: &BTreeMap<(String, i32), i64>) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), next) in offsets {
        let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(*next));
    }
    tpl
}

/// Settles a write task's result; false when the batch was given up on (or its task died),
/// so that nothing after it is committed.
pub async fn settle_joined(
    joined: Result<Written, tokio::task::JoinError>,
    consumer: &WorkerConsumer,
    spec: &ConsumerSpec,
    dead_letters: Option<&DeadLetters>,
    retry: &RetryReport,
    shutdown: &mut watch::Receiver<bool>,
    handled: &mut BTreeMap<(String, i32), i64>,
) -> bool {
    match joined {
        Ok(done) => settle(done, consumer, spec, dead_letters, retry, shutdown, handled).await,
        Err(e) => {
            tracing::error!(worker = %spec.worker, error = %e, "a batch write task died; stopping without committing it");
            false
        }
    }
}

/// Dead-letters what the batch set aside, then commits it; false without committing when
/// the write was given up on, or shutdown is asked for while the dead letters are retried.
pub async fn settle(
    (records, outcome): Written,
    consumer: &WorkerConsumer,
    spec: &ConsumerSpec,
    dead_letters: Option<&DeadLetters>,
    retry: &RetryReport,
    shutdown: &mut watch::Receiver<bool>,
    handled: &mut BTreeMap<(String, i32), i64>,
) -> bool {
    let Some((outcome, mut attempt)) = outcome else {
        return false;
    };
    let (dead, outside) = poisoned(&records, &outcome.poison);
    if outside > 0 {
        tracing::error!(worker = %spec.worker, outside, "poison records outside the batch ignored");
    }
    // Dead letters are acknowledged by the broker before the batch counts as handled, so a
    // crash here re-sends them rather than losing them. Only the sending is retried: the
    // handler's work is done.
    while !dead.is_empty() {
        let error = match dead_letters {
            Some(dl) => match dl.send_all(&dead).await {
                Ok(()) => break,
                Err(e) => e.to_string(),
            },
            None => format!("{} poison records and no dead-letter topic", dead.len()),
        };
        attempt += 1;
        if !retry.failed("dead letters", error, attempt, shutdown).await {
            return false;
        }
    }
    if attempt > 0 {
        retry.reporter.state(spec.worker, WorkerState::Running);
    }
    let offsets = commit_offsets(&records);
    let tpl = offsets_list(&offsets);
    handled.extend(offsets);
    if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
        // A partition revoked meanwhile: its new owner re-handles the records, harmlessly.
        tracing::warn!(worker = %spec.worker, error = %e, "commit failed");
    }
    retry.reporter.send(WorkerEvent::Processed {
        worker: spec.worker,
        records: records.len() as u64,
        newest_event_ms: outcome.newest_event_ms,
    });
    true
}
