//! The idle pause as one consumer loop runs it: when to ask the watcher for watermarks,
//! when to pause the whole assignment, and when to resume (the rules are in `idle`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use rdkafka::consumer::Consumer;
use rdkafka::Offset;
use tokio::sync::watch;

use super::consumer::{assigned, ConsumerSpec, WorkerConsumer};
use super::idle::{
    behind, unfetched_backlog, Held, HighWater, IdleAction, IdleDetector, Interest, Snapshot,
};

/// What an idle pause started from: the baseline snapshot and the assignment (sorted).
type PausedAt = (Arc<Snapshot>, Vec<(String, i32)>);

/// The idle pause of one consumer loop: the detector, the watcher's snapshots while it
/// wants them, and what the pause started from.
pub struct IdlePause {
    high_water: Option<HighWater>,
    snapshots: Option<watch::Receiver<Option<Arc<Snapshot>>>>,
    detector: IdleDetector,
    interest: Option<Interest>,
    /// The baseline and the assignment when paused.
    paused: Option<PausedAt>,
    /// A pause that is due while some held partition has no position: its committed
    /// offsets, asked for on a blocking thread, decide whether it has a backlog.
    deciding: Option<(Arc<Snapshot>, CommittedQuery)>,
    tick: tokio::time::Interval,
}

/// Committed offsets by partition; `None` when the broker could not say.
type CommittedQuery = tokio::task::JoinHandle<Option<BTreeMap<(String, i32), i64>>>;

/// How long the committed-offsets question of a due pause may take.
const COMMITTED_TIMEOUT: Duration = Duration::from_secs(5);

/// Each held partition with its position (`None` before anything was received from it).
fn held_positions(consumer: &WorkerConsumer) -> Option<Vec<Held>> {
    let positions = consumer.position().ok()?;
    Some(
        positions
            .elements()
            .iter()
            .map(|e| {
                let position = match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                };
                ((e.topic().to_string(), e.partition()), position)
            })
            .collect(),
    )
}

fn ask_committed(consumer: &Arc<WorkerConsumer>) -> CommittedQuery {
    let consumer = consumer.clone();
    tokio::task::spawn_blocking(move || {
        let committed = consumer.committed(COMMITTED_TIMEOUT).ok()?;
        Some(
            committed
                .elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(o) => Some(((e.topic().to_string(), e.partition()), o)),
                    _ => None,
                })
                .collect(),
        )
    })
}

impl IdlePause {
    pub fn new(high_water: Option<HighWater>) -> Self {
        let mut tick = tokio::time::interval(super::idle::WATCH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self {
            snapshots: high_water.as_ref().map(HighWater::subscribe),
            high_water,
            detector: IdleDetector::new(std::time::Instant::now()),
            interest: None,
            paused: None,
            deciding: None,
            tick,
        }
    }

    pub fn enabled(&self) -> bool {
        self.high_water.is_some()
    }

    /// When to look again: each new snapshot while one is wanted, else the next tick.
    pub async fn next_check(&mut self) {
        match self.snapshots.as_mut() {
            Some(rx) if self.detector.wants_watermarks() => {
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            _ => {
                self.tick.tick().await;
            }
        }
    }

    /// Not idle: forget the pause (the caller resumes or pauses the partitions itself).
    pub fn reset(&mut self) {
        self.detector.activity(std::time::Instant::now());
        self.interest = None;
        self.paused = None;
        self.deciding = None;
    }

    /// A record arrived (records fetched before a pause may still be delivered).
    pub fn record(&mut self, consumer: &WorkerConsumer) {
        if !self.enabled() {
            return;
        }
        if self.paused.is_some() {
            pause_assignment(consumer, false);
        }
        self.reset();
    }

    pub fn check(&mut self, consumer: &Arc<WorkerConsumer>, spec: &ConsumerSpec) {
        let Some(high_water) = &self.high_water else {
            return;
        };
        let latest = self
            .snapshots
            .as_mut()
            .and_then(|rx| rx.borrow_and_update().clone());
        let now = std::time::Instant::now();
        if let Some((baseline, held_then)) = &self.paused {
            let Some(held) = held_positions(consumer) else {
                return;
            };
            let mut now_held: Vec<&(String, i32)> = held.iter().map(|(tp, _)| tp).collect();
            now_held.sort();
            let reassigned = !now_held.iter().copied().eq(held_then.iter());
            let moved = latest
                .as_ref()
                .is_some_and(|latest| behind(&held, baseline, latest));
            if reassigned || moved {
                tracing::debug!(worker = %spec.worker, reassigned, "idle pause: resuming");
                pause_assignment(consumer, false);
                self.reset();
            }
            return;
        }
        if let Some((_, query)) = &self.deciding {
            if !query.is_finished() {
                return;
            }
            let Some((baseline, query)) = self.deciding.take() else {
                return;
            };
            let committed = query.now_or_never().and_then(Result::ok).flatten();
            let stranded = match (committed, held_positions(consumer)) {
                (Some(committed), Some(held)) => unfetched_backlog(&held, &committed, &baseline),
                // Could not tell: stay awake and try again after the next idle spell.
                _ => true,
            };
            if stranded {
                tracing::debug!(worker = %spec.worker, "idle pause: a first fetch is still due; not pausing");
                self.reset();
            } else {
                self.pause(consumer, spec, baseline);
            }
            return;
        }
        match self.detector.poll(now, latest.as_ref()) {
            IdleAction::Nothing => {}
            IdleAction::Arm => self.interest = Some(high_water.interest()),
            IdleAction::Pause(baseline) => {
                let all_positioned = held_positions(consumer)
                    .is_some_and(|held| held.iter().all(|(_, position)| position.is_some()));
                if all_positioned {
                    self.pause(consumer, spec, baseline);
                } else {
                    self.deciding = Some((baseline, ask_committed(consumer)));
                }
            }
        }
    }

    /// Pauses the whole assignment; `baseline` is what position-less partitions compare to.
    fn pause(&mut self, consumer: &WorkerConsumer, spec: &ConsumerSpec, baseline: Arc<Snapshot>) {
        let held: Vec<(String, i32)> = assigned(consumer).into_iter().collect();
        tracing::debug!(worker = %spec.worker, "idle pause: pausing");
        pause_assignment(consumer, true);
        self.paused = Some((baseline, held));
    }
}

/// librdkafka keeps the group session alive while paused: only fetching stops.
pub fn pause_assignment(consumer: &WorkerConsumer, pause: bool) {
    let Ok(assignment) = consumer.assignment() else {
        return;
    };
    if assignment.count() == 0 {
        return;
    }
    let result = if pause {
        consumer.pause(&assignment)
    } else {
        consumer.resume(&assignment)
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, paused = pause, "pausing or resuming the assignment failed");
    }
}
