//! The consume → batch → handle → commit loop shared by the indexer and the notifier.
//! Offsets are committed only after the handler succeeded for every record up to them
//! (at-least-once); a failing handler is retried with backoff on the same records, never
//! skipped. On shutdown the open batch is handled, committed, and the group is left.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio::time::Instant;

use super::assignment_watch::{decide, Decision, EmptyAssignment, Probe, HEAL_AFTER};
use super::batch::{commit_offsets, Batch, BatchLimits, Record};
use super::report::{Reporter, WorkerEvent, WorkerState};
use crate::bus::Cluster;
use crate::monitor::protocol::decode_assignment;

/// What a worker does with a batch. `Err` means "try the same records again later".
#[async_trait::async_trait]
pub trait BatchHandler: Send {
    /// Returns the timestamp (ms) of the newest event handled, when known.
    async fn handle(&mut self, records: &[Record]) -> Result<Option<i64>, String>;
}

#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    pub worker: String,
    pub group: String,
    pub topics: Vec<String>,
    pub limits: BatchLimits,
    pub retry_backoff: Duration,
}

/// Reports assignments from librdkafka's rebalance callbacks: the broker may not describe
/// groups (the embedded one does not), but our own workers always know what they own.
pub struct WorkerContext {
    worker: String,
    group: String,
    reporter: Reporter,
}

impl ClientContext for WorkerContext {}

impl ConsumerContext for WorkerContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let list = |tpl: &TopicPartitionList| {
            tpl.elements()
                .iter()
                .map(|e| (e.topic().to_string(), e.partition()))
                .collect::<Vec<_>>()
        };
        match rebalance {
            Rebalance::Assign(tpl) => self.reporter.send(WorkerEvent::Assigned {
                worker: self.worker.clone(),
                group: self.group.clone(),
                partitions: list(tpl),
            }),
            Rebalance::Revoke(tpl) => self.reporter.send(WorkerEvent::Revoked {
                worker: self.worker.clone(),
                group: self.group.clone(),
                partitions: list(tpl),
            }),
            Rebalance::Error(e) => self.reporter.state(
                &self.worker,
                WorkerState::BackingOff {
                    error: format!("rebalance: {e}"),
                    attempt: 0,
                },
            ),
        }
    }
}

pub type WorkerConsumer = StreamConsumer<WorkerContext>;

pub fn create_consumer(
    cluster: &Cluster,
    spec: &ConsumerSpec,
    reporter: &Reporter,
) -> anyhow::Result<WorkerConsumer> {
    let context = WorkerContext {
        worker: spec.worker.clone(),
        group: spec.group.clone(),
        reporter: reporter.clone(),
    };
    let consumer: WorkerConsumer = cluster
        .consumer_config(&spec.worker, &spec.group)
        .create_with_context(context)?;
    let topics: Vec<&str> = spec.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    Ok(consumer)
}

/// Runs until `shutdown` turns true. Returns after the final commit.
pub async fn run_consumer<H: BatchHandler>(
    cluster: Cluster,
    spec: ConsumerSpec,
    mut handler: H,
    reporter: Reporter,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let consumer = Arc::new(create_consumer(&cluster, &spec, &reporter)?);
    reporter.state(&spec.worker, WorkerState::Running);
    let mut batch = Batch::new(spec.limits);
    let mut handled: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let mut recv_errors = 0u32;
    let mut empty = EmptyAssignment::default();
    let mut watch_tick = tokio::time::interval(WATCH_EVERY);
    watch_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if *shutdown.borrow() {
            break;
        }
        let deadline = batch.deadline().map(Instant::from_std);
        tokio::select! {
            biased;
            _ = shutdown.changed() => {}
            _ = watch_tick.tick() => {
                heal_empty_assignment(&consumer, &cluster, &spec, &mut empty).await;
            }
            received = consumer.recv(), if !batch.is_full() => match received {
                Ok(m) => {
                    recv_errors = 0;
                    batch.push(Record::from_message(&m), std::time::Instant::now());
                }
                Err(e) => {
                    recv_errors += 1;
                    reporter.state(&spec.worker, WorkerState::BackingOff {
                        error: e.to_string(),
                        attempt: recv_errors,
                    });
                    tokio::time::sleep(backoff(spec.retry_backoff, recv_errors)).await;
                }
            },
            _ = sleep_until_opt(deadline), if deadline.is_some() => {}
        }
        if batch.should_flush(std::time::Instant::now()) {
            let records = batch.take();
            if !flush(
                &consumer,
                &spec,
                &mut handler,
                &reporter,
                &mut shutdown,
                &records,
                &mut handled,
            )
            .await
            {
                // Shut down while retrying: nothing committed, the records come back later.
                break;
            }
        }
    }
    if !batch.is_empty() {
        let records = batch.take();
        let (_tx, mut never) = watch::channel(false);
        flush(
            &consumer,
            &spec,
            &mut handler,
            &reporter,
            &mut never,
            &records,
            &mut handled,
        )
        .await;
    }
    let closing = consumer.clone();
    tokio::task::spawn_blocking(move || {
        // Make sure the last asynchronous commit reached the broker, then leave the group.
        let tpl = offsets_list(&handled);
        if tpl.count() > 0 {
            if let Err(e) = closing.commit(&tpl, CommitMode::Sync) {
                tracing::warn!(error = %e, "final commit failed");
            }
        }
        closing.unsubscribe();
    })
    .await?;
    reporter.state(&spec.worker, WorkerState::Stopped);
    Ok(())
}

/// How often a worker looks at its own assignment (a local call, no request).
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Rejoins the group when the worker has held no partition for [`HEAL_AFTER`] while its
/// topics have partitions and no other member holds them (see `assignment_watch`).
async fn heal_empty_assignment(
    consumer: &Arc<WorkerConsumer>,
    cluster: &Cluster,
    spec: &ConsumerSpec,
    empty: &mut EmptyAssignment,
) {
    let assigned = consumer.assignment().map(|a| a.count()).unwrap_or(0);
    let now = std::time::Instant::now();
    if !empty.observe(assigned, now, HEAL_AFTER) {
        return;
    }
    let empty_for = empty.empty_for(now).unwrap_or_default();
    let probing = consumer.clone();
    let (topics, group, embedded) = (spec.topics.clone(), spec.group.clone(), cluster.embedded);
    let probe = tokio::task::spawn_blocking(move || probe(&probing, &topics, &group, embedded))
        .await
        .map_err(|e| e.to_string())
        .and_then(|p| p);
    let probe = match probe {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(worker = %spec.worker, error = %e, "no partitions; cannot ask the cluster why");
            empty.restart(now);
            return;
        }
    };
    match decide(&probe, empty_for) {
        Decision::Rejoin(reason) => {
            tracing::warn!(worker = %spec.worker, group = %spec.group, %reason, "rejoining the group");
            consumer.unsubscribe();
            let topics: Vec<&str> = spec.topics.iter().map(String::as_str).collect();
            if let Err(e) = consumer.subscribe(&topics) {
                tracing::error!(worker = %spec.worker, error = %e, "subscribing again failed");
            }
        }
        Decision::Keep(reason) => {
            tracing::info!(worker = %spec.worker, group = %spec.group, %reason, "no partitions")
        }
    }
    empty.restart(now);
}

/// Blocking: the partitions of `topics` and the other live members of `group`.
fn probe(
    consumer: &WorkerConsumer,
    topics: &[String],
    group: &str,
    embedded: bool,
) -> Result<Probe, String> {
    let timeout = Duration::from_secs(5);
    let mut topic_partitions = 0;
    for topic in topics {
        let md = consumer
            .fetch_metadata(Some(topic), timeout)
            .map_err(|e| format!("metadata of {topic}: {e}"))?;
        topic_partitions += md
            .topics()
            .iter()
            .map(|t| t.partitions().len())
            .sum::<usize>();
    }
    // The embedded broker drops the connection on DescribeGroups: do not ask it.
    let other_members = if embedded {
        None
    } else {
        consumer
            .fetch_group_list(Some(group), timeout)
            .ok()
            .and_then(|list| {
                let g = list.groups().iter().find(|g| g.name() == group)?;
                // We hold nothing, so a member that holds partitions is another one; members
                // without an assignment (ourselves among them) take nothing from us.
                Some(
                    g.members()
                        .iter()
                        .filter(|m| {
                            m.assignment()
                                .and_then(decode_assignment)
                                .is_some_and(|a| !a.is_empty())
                        })
                        .count(),
                )
            })
    };
    Ok(Probe {
        topic_partitions,
        other_members,
        embedded,
    })
}

fn offsets_list(offsets: &BTreeMap<(String, i32), i64>) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), next) in offsets {
        let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(*next));
    }
    tpl
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn backoff(base: Duration, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(6));
    (base * factor).min(Duration::from_secs(10))
}

#[allow(clippy::too_many_arguments)]
/// Handles `records` until it succeeds (then commits) or shutdown is asked for during a
/// retry (then returns false without committing).
async fn flush<H: BatchHandler>(
    consumer: &WorkerConsumer,
    spec: &ConsumerSpec,
    handler: &mut H,
    reporter: &Reporter,
    shutdown: &mut watch::Receiver<bool>,
    records: &[Record],
    handled: &mut BTreeMap<(String, i32), i64>,
) -> bool {
    let mut attempt = 0u32;
    let newest = loop {
        match handler.handle(records).await {
            Ok(newest) => break newest,
            Err(error) => {
                attempt += 1;
                tracing::warn!(worker = %spec.worker, attempt, %error, "batch failed, retrying");
                reporter.state(&spec.worker, WorkerState::BackingOff { error, attempt });
                tokio::select! {
                    _ = tokio::time::sleep(backoff(spec.retry_backoff, attempt)) => {}
                    _ = shutdown.changed() => return false,
                }
            }
        }
    };
    if attempt > 0 {
        reporter.state(&spec.worker, WorkerState::Running);
    }
    let offsets = commit_offsets(records);
    let tpl = offsets_list(&offsets);
    handled.extend(offsets);
    if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
        // A partition revoked meanwhile: its new owner re-handles the records, harmlessly.
        tracing::warn!(worker = %spec.worker, error = %e, "commit failed");
    }
    reporter.send(WorkerEvent::Processed {
        worker: spec.worker.clone(),
        records: records.len() as u64,
        newest_event_ms: newest,
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_millis(200);
        assert_eq!(backoff(base, 1), Duration::from_millis(200));
        assert_eq!(backoff(base, 2), Duration::from_millis(400));
        assert_eq!(backoff(base, 30), Duration::from_secs(10));
    }
}
