//! The consume → batch → handle → commit loop shared by the indexer and the notifier.
//! Offsets are committed only after the handler succeeded for every record up to them
//! (at-least-once); a handler error is transient by type ([`HandleError`]): the same records
//! are retried with backoff, never skipped. Records the handler can never handle come back in
//! [`Handled::poison`]; the loop sends them whole to the dead-letter topic (its own
//! [`DeadLetters`], `dlq.worker` = the worker) and waits for the broker's acknowledgement
//! before it commits the batch. On shutdown the open batch is handled, committed, and the
//! group is left.

use crate::bus::safe_create::SafeCreate;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{FuturesOrdered, StreamExt};
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::{ClientContext, TopicPartitionList};
use tokio::sync::watch;
use tokio::time::Instant;

use super::assignment_watch::EmptyAssignment;
use super::batch::{Batch, BatchLimits, Record};
use super::dlq::DeadLetters;
use super::idle::HighWater;
use super::idle_pause::{pause_assignment, IdlePause};
use super::orphans::OrphanWatch;
use super::quiet::QuietWatch;
use super::rejoin::{heal_empty_assignment, heal_orphans};
use super::report::{Reporter, WorkerEvent, WorkerState};
use super::settle::{offsets_list, settle, settle_joined, write_task, InFlight};
use super::stages::{prepare_with_retries, PipelinedHandler, RetryReport, Serial};
use crate::bus::Cluster;
use crate::ops::WorkerId;

/// Any error, as the cause of a [`HandleError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a handler could not finish a batch. Every variant means "try the same records again
/// later": a record that can never succeed is not an error, it is [`Handled::poison`].
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// A dependency (search index, broker, local file) failed; it may work on a retry.
    #[error("{context}: {source}")]
    Transient {
        context: String,
        #[source]
        source: BoxError,
    },
}

impl HandleError {
    pub fn transient(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Transient {
            context: context.into(),
            source: source.into(),
        }
    }
}

/// A record of the batch that can never be handled: its index in the batch and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poison {
    pub index: usize,
    pub reason: String,
}

/// What a handler did with a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handled {
    /// The timestamp (ms) of the newest event handled, when known.
    pub newest_event_ms: Option<i64>,
    /// Records to dead-letter; every other record of the batch was handled.
    pub poison: Vec<Poison>,
}

/// What a worker does with a batch.
#[async_trait::async_trait]
pub trait BatchHandler: Send {
    async fn handle(&mut self, records: &[Record]) -> Result<Handled, HandleError>;
}

/// The records named by `poison`, in batch order, each once with its first reason; the
/// second value counts the indices that are not in the batch (a handler bug, logged).
pub fn poisoned<'a>(
    records: &'a [Record],
    poison: &[Poison],
) -> (Vec<(&'a Record, String)>, usize) {
    let mut reasons: BTreeMap<usize, &str> = BTreeMap::new();
    let mut outside = 0;
    for p in poison {
        if p.index < records.len() {
            reasons.entry(p.index).or_insert(&p.reason);
        } else {
            outside += 1;
        }
    }
    let dead = reasons
        .into_iter()
        .map(|(i, reason)| (&records[i], reason.to_string()))
        .collect();
    (dead, outside)
}

#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    pub worker: WorkerId,
    pub group: String,
    pub topics: Vec<String>,
    pub limits: BatchLimits,
    pub retry_backoff: Duration,
    /// Batches written at once (prepared one at a time, committed in order); 1 for a
    /// [`BatchHandler`], which has nothing to overlap.
    pub in_flight: usize,
}

/// Reports assignments from librdkafka's rebalance callbacks: the broker may not describe
/// groups (the embedded one does not), but our own workers always know what they own.
pub struct WorkerContext {
    worker: WorkerId,
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
                worker: self.worker,
                group: self.group.clone(),
                partitions: list(tpl),
            }),
            Rebalance::Revoke(tpl) => self.reporter.send(WorkerEvent::Revoked {
                worker: self.worker,
                group: self.group.clone(),
                partitions: list(tpl),
            }),
            Rebalance::Error(e) => self.reporter.state(
                self.worker,
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
        worker: spec.worker,
        group: spec.group.clone(),
        reporter: reporter.clone(),
    };
    let config = if spec.worker == WorkerId::Indexer {
        cluster.latency_consumer_config(spec.worker.as_str(), &spec.group)
    } else {
        cluster.consumer_config(spec.worker.as_str(), &spec.group)
    };
    let consumer: WorkerConsumer = config.build_with_context(context)?;
    let topics: Vec<&str> = spec.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    Ok(consumer)
}

/// What a consumer loop is told from outside while it runs: stop (flush, commit, leave the
/// group) and pause (keep the partitions, fetch nothing). A bare shutdown receiver converts
/// into a lifecycle that is never paused.
pub struct Lifecycle {
    pub shutdown: watch::Receiver<bool>,
    pub paused: watch::Receiver<bool>,
    /// Pause fetching while nothing arrives, resume when the watermarks move (the embedded
    /// broker; see `idle`). `None`: always fetch.
    pub idle: Option<HighWater>,
}

impl From<watch::Receiver<bool>> for Lifecycle {
    fn from(shutdown: watch::Receiver<bool>) -> Self {
        // The sender is dropped at once: the loop sees the closed channel once and stops
        // listening; `borrow()` stays false.
        let (_never, paused) = watch::channel(false);
        Self {
            shutdown,
            paused,
            idle: None,
        }
    }
}

/// Runs a worker until `shutdown` turns true, dead-lettering the records it reports as
/// poison to `dead_letters`. Returns after the final commit.
pub async fn run_worker<H: BatchHandler>(
    cluster: Cluster,
    spec: ConsumerSpec,
    handler: H,
    dead_letters: DeadLetters,
    reporter: Reporter,
    lifecycle: impl Into<Lifecycle>,
) -> anyhow::Result<()> {
    run_loop(
        cluster,
        spec,
        Serial(handler),
        Some(dead_letters),
        reporter,
        lifecycle.into(),
    )
    .await
}

/// Runs a worker that writes up to `spec.in_flight` batches at once (the indexer), as
/// [`run_worker`] otherwise.
pub async fn run_pipelined_worker<H: PipelinedHandler>(
    cluster: Cluster,
    spec: ConsumerSpec,
    handler: H,
    dead_letters: DeadLetters,
    reporter: Reporter,
    lifecycle: impl Into<Lifecycle>,
) -> anyhow::Result<()> {
    run_loop(
        cluster,
        spec,
        handler,
        Some(dead_letters),
        reporter,
        lifecycle.into(),
    )
    .await
}

/// Runs a handler without a dead-letter topic (the benchmark baseline, tests), for handlers
/// that never report poison: poison reported here is never skipped, the batch waits (and
/// says so) as it would for a dead-letter topic that is down. Returns after the final commit.
pub async fn run_consumer<H: BatchHandler>(
    cluster: Cluster,
    spec: ConsumerSpec,
    handler: H,
    reporter: Reporter,
    lifecycle: impl Into<Lifecycle>,
) -> anyhow::Result<()> {
    run_loop(
        cluster,
        spec,
        Serial(handler),
        None,
        reporter,
        lifecycle.into(),
    )
    .await
}

async fn run_loop<H: PipelinedHandler>(
    cluster: Cluster,
    spec: ConsumerSpec,
    mut handler: H,
    dead_letters: Option<DeadLetters>,
    reporter: Reporter,
    lifecycle: Lifecycle,
) -> anyhow::Result<()> {
    let Lifecycle {
        mut shutdown,
        mut paused,
        idle: high_water,
    } = lifecycle;
    let mut idle = IdlePause::new(high_water);
    let consumer = Arc::new(create_consumer(&cluster, &spec, &reporter)?);
    reporter.state(spec.worker, WorkerState::Running);
    let mut pause_open = true;
    if *paused.borrow_and_update() {
        set_paused(&consumer, &spec, &reporter, true);
    }
    let retry = RetryReport {
        worker: spec.worker,
        reporter: reporter.clone(),
        base: spec.retry_backoff,
    };
    let in_flight_max = spec.in_flight.max(1);
    let mut batch = Batch::new(spec.limits);
    // Writes finish in any order; they are settled (dead letters, commit) in offset order.
    let mut writes: FuturesOrdered<InFlight> = FuturesOrdered::new();
    let mut handled: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let mut recv_errors = 0u32;
    let mut empty = EmptyAssignment::default();
    let mut orphans = OrphanWatch::default();
    let mut watch_tick = tokio::time::interval(WATCH_EVERY);
    watch_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // False once a batch was given up on (shutdown while retrying): nothing after it may be
    // committed, or its records would be skipped.
    let mut intact = true;
    let mut quiet = QuietWatch::new(std::time::Instant::now());
    'consume: loop {
        if *shutdown.borrow() {
            break;
        }
        let room = writes.len() < in_flight_max;
        // Only while a batch could be started: a due batch waiting for room must not spin.
        let deadline = batch.deadline().filter(|_| room).map(Instant::from_std);
        tokio::select! {
            biased;
            _ = shutdown.changed() => {}
            changed = paused.changed(), if pause_open => match changed {
                Ok(()) => {
                    let pause = *paused.borrow_and_update();
                    set_paused(&consumer, &spec, &reporter, pause);
                    // Either way the idle pause starts over: paused by the console, or
                    // resumed (which resumed every partition).
                    idle.reset();
                }
                // Nobody can pause us any more: stay as we are; shutdown says when to stop.
                Err(_) => pause_open = false,
            },
            Some(done) = writes.next(), if !writes.is_empty() => {
                if !settle_joined(done, &consumer, &spec, dead_letters.as_ref(), &retry, &mut shutdown, &mut handled).await {
                    intact = false;
                    break 'consume;
                }
            }
            _ = watch_tick.tick() => {
                if recv_errors > 0 && cluster_answers(&consumer, spec.topics.first()).await {
                    // Nothing to consume since the errors, but the broker is back.
                    recv_errors = 0;
                    reporter.state(spec.worker, WorkerState::Running);
                } else if recv_errors == 0
                    && !*paused.borrow()
                    && quiet.due(std::time::Instant::now())
                    && !cluster_answers(&consumer, spec.topics.first()).await
                {
                    // Quiet, and no error said why (see `quiet`): the cluster is not there.
                    recv_errors = 1;
                    reporter.state(spec.worker, WorkerState::BackingOff {
                        error: format!(
                            "cannot reach the cluster: no answer to a metadata request within {} s",
                            METADATA_WAIT.as_secs()
                        ),
                        attempt: recv_errors,
                    });
                }
                if *paused.borrow() {
                    // Partitions assigned by a rebalance since the pause arrive unpaused.
                    pause_assignment(&consumer, true);
                }
                heal_empty_assignment(&consumer, &cluster, &spec, &mut empty).await;
                heal_orphans(&consumer, &cluster, &spec, &mut orphans).await;
            }
            _ = idle.next_check(), if idle.enabled() && !*paused.borrow() => {
                if writes.is_empty() && batch.is_empty() {
                    idle.check(&consumer, &spec);
                } else {
                    // Records waiting for a batch or a write are work: a loop that has
                    // stopped receiving until a write lands is busy, not idle. Pausing it
                    // then would take a position-less partition's backlog for old data.
                    idle.record(&consumer);
                }
            }
            received = consumer.recv(), if !batch.is_full() => match received {
                Ok(m) => {
                    // One clock read per record, for both.
                    let now = std::time::Instant::now();
                    quiet.received(now);
                    if recv_errors > 0 {
                        recv_errors = 0;
                        reporter.state(spec.worker, WorkerState::Running);
                    }
                    idle.record(&consumer);
                    batch.push(Record::from_message(&m), now);
                }
                // librdkafka reconnects by itself (with its own backoff): these errors say
                // why nothing arrives. The loop keeps polling, so that the group session,
                // the rejoin and the fetches resume the moment the broker is back; waiting
                // out a growing backoff per queued error kept the workers idle for 30 s
                // after a broker restart (the fault tests measured it).
                Err(e) => {
                    recv_errors += 1;
                    reporter.state(spec.worker, WorkerState::BackingOff {
                        error: e.to_string(),
                        attempt: recv_errors,
                    });
                    tokio::time::sleep(RECV_ERROR_PAUSE).await;
                }
            },
            _ = sleep_until_opt(deadline), if deadline.is_some() => {}
        }
        if writes.len() < in_flight_max && batch.should_flush(std::time::Instant::now()) {
            let records = batch.take();
            match prepare_with_retries(&mut handler, &records, &retry, &mut shutdown).await {
                Some((write, attempts)) => {
                    if attempts > 0 {
                        reporter.state(spec.worker, WorkerState::Running);
                    }
                    writes.push_back(tokio::spawn(write_task(
                        write,
                        records,
                        retry.clone(),
                        shutdown.clone(),
                    )));
                }
                // Shut down while retrying: nothing committed, the records come back later.
                None => {
                    intact = false;
                    break;
                }
            }
        }
    }
    // Shutdown: let the writes in flight finish (or give up, if they are retrying), then
    // handle the open batch, committing only as far as nothing before was given up on.
    while intact {
        let Some(done) = writes.next().await else {
            break;
        };
        intact = settle_joined(
            done,
            &consumer,
            &spec,
            dead_letters.as_ref(),
            &retry,
            &mut shutdown,
            &mut handled,
        )
        .await;
    }
    if intact && !batch.is_empty() {
        let records = batch.take();
        // The last batch is retried until it succeeds: shutdown was already asked for.
        let (_tx, mut never) = watch::channel(false);
        if let Some((write, _)) =
            prepare_with_retries(&mut handler, &records, &retry, &mut never).await
        {
            let done = write_task(write, records, retry.clone(), never.clone()).await;
            settle(
                done,
                &consumer,
                &spec,
                dead_letters.as_ref(),
                &retry,
                &mut never,
                &mut handled,
            )
            .await;
        }
    }
    let closing = consumer.clone();
    tokio::task::spawn_blocking(move || {
        // Make sure the last asynchronous commit reached the broker before leaving.
        let tpl = offsets_list(&handled);
        if tpl.count() > 0 {
            if let Err(e) = closing.commit(&tpl, CommitMode::Sync) {
                tracing::warn!(error = %e, "final commit failed");
            }
        }
    })
    .await?;
    leave_group(consumer, &spec).await;
    reporter.state(spec.worker, WorkerState::Stopped);
    Ok(())
}

/// How long a stopping worker waits for its consumer's close (unsubscribe, LeaveGroup).
/// The close used to run where the last handle dropped, on an async thread, and there it
/// waited out librdkafka's 5 s LeaveGroup timeout (`debug=cgrp,protocol`: "Timed out
/// LeaveGroupRequest in flight"): every stop of `run` took 5.1 s, even idle. On a thread of
/// its own it takes ~0.1 s on the embedded broker. Everything is committed by now, so the
/// wait is bounded all the same: past it the close goes on in the background, and a broker
/// that never hears the leave drops the member after `session.timeout.ms`.
const LEAVE_WAIT: Duration = Duration::from_secs(1);

/// Unsubscribes and closes `consumer` (normally its last handle) off the async threads,
/// waiting at most [`LEAVE_WAIT`] for it.
async fn leave_group(consumer: Arc<WorkerConsumer>, spec: &ConsumerSpec) {
    let (done, left) = tokio::sync::oneshot::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("leave-group".into())
        .spawn(move || {
            consumer.unsubscribe();
            // The last handle: librdkafka's close, with its LeaveGroup, runs here.
            drop(consumer);
            let _ = done.send(());
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start a thread to leave the group");
        return;
    }
    if tokio::time::timeout(LEAVE_WAIT, left).await.is_err() {
        tracing::info!(
            worker = %spec.worker,
            group = %spec.group,
            "the broker has not confirmed the leave within {LEAVE_WAIT:?}; not waiting (it drops the member after session.timeout.ms)"
        );
    }
}

/// Pauses or resumes fetching for the whole current assignment and says so.
fn set_paused(consumer: &WorkerConsumer, spec: &ConsumerSpec, reporter: &Reporter, pause: bool) {
    pause_assignment(consumer, pause);
    let state = if pause {
        WorkerState::Paused
    } else {
        WorkerState::Running
    };
    tracing::info!(worker = %spec.worker, group = %spec.group, paused = pause, "fetching {}", if pause { "paused" } else { "resumed" });
    reporter.state(spec.worker, state);
}

/// How often a worker looks at its own assignment (a local call, no request).
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// The (topic, partition)s assigned to `consumer` now, in order (a local call).
pub fn assigned(consumer: &WorkerConsumer) -> std::collections::BTreeSet<(String, i32)> {
    consumer
        .assignment()
        .map(|a| {
            a.elements()
                .iter()
                .map(|e| (e.topic().to_string(), e.partition()))
                .collect()
        })
        .unwrap_or_default()
}

/// The pause after a consumer error, so that a burst of queued errors does not spin.
const RECV_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// How long [`cluster_answers`] waits: a cluster slower than this counts as not there.
const METADATA_WAIT: Duration = Duration::from_secs(1);

/// Whether the cluster answers a metadata request now: after consumer errors, an idle worker
/// has no message to show that the broker is back.
async fn cluster_answers(consumer: &Arc<WorkerConsumer>, topic: Option<&String>) -> bool {
    let (asking, topic) = (consumer.clone(), topic.cloned());
    tokio::task::spawn_blocking(move || {
        asking
            .fetch_metadata(topic.as_deref(), METADATA_WAIT)
            .is_ok_and(|m| !m.brokers().is_empty())
    })
    .await
    .unwrap_or(false)
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(offset: i64) -> Record {
        Record {
            topic: "t".into(),
            partition: 0,
            offset,
            key: None,
            payload: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    fn poison(index: usize, reason: &str) -> Poison {
        Poison {
            index,
            reason: reason.into(),
        }
    }

    #[test]
    fn poison_is_dead_lettered_once_in_batch_order_with_its_first_reason() {
        let records: Vec<Record> = (10..15).map(record).collect();
        let (dead, outside) = poisoned(
            &records,
            &[
                poison(3, "rejected"),
                poison(1, "malformed"),
                poison(3, "again"),
                poison(9, "not in the batch"),
            ],
        );
        let got: Vec<(i64, &str)> = dead
            .iter()
            .map(|(r, why)| (r.offset, why.as_str()))
            .collect();
        assert_eq!(got, vec![(11, "malformed"), (13, "rejected")]);
        assert_eq!(outside, 1);
    }

    #[test]
    fn no_poison_means_no_dead_letters() {
        let records: Vec<Record> = (0..3).map(record).collect();
        assert_eq!(poisoned(&records, &[]).0.len(), 0);
    }
}
