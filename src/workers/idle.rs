//! Idle pause (embedded broker only). tansu answers every fetch by reading its SQLite file
//! for each partition of the request, then sleeps out `fetch.wait.max.ms` whether it found
//! data or not; five idle consumers long-polling that way cost ~10 % of a core doing nothing.
//! So a consumer that has received nothing for [`IDLE_AFTER`] pauses its whole assignment,
//! and ONE watcher per process ([`HighWater`]) asks the broker for the high watermarks of
//! every topic in a single ListOffsets request every [`WATCH_EVERY`] while any consumer is
//! paused so; a consumer resumes as soon as a partition it holds has records past its
//! position. A real cluster answers a long poll when data arrives and needs none of this.
//!
//! The decisions ([`IdleDetector`], [`behind`]) are pure and unit-tested; the I/O is in
//! [`HighWater::spawn`] and the consumer loop.

use crate::bus::safe_create::SafeCreate;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{watch, Notify};

use crate::bus::Cluster;

/// How long a consumer receives nothing before it pauses. Short enough that the idle cost is
/// the watcher's, long enough that a steady trickle (the load generator, chat traffic) never
/// pauses between events.
pub const IDLE_AFTER: Duration = Duration::from_secs(3);
/// How often the watcher asks for the high watermarks while a consumer is paused: the added
/// delay of the first event after an idle spell is at most this plus one fetch.
pub const WATCH_EVERY: Duration = Duration::from_millis(250);
/// A snapshot of the high watermarks is a safe baseline for partitions without a position
/// only once the consumer has fetched after it and still received nothing: longer than one
/// fetch (`fetch.wait.max.ms` 100–200 ms; a first fetch of a backlog can take seconds, see
/// [`unfetched_backlog`]) plus its round trip.
pub const SETTLE: Duration = Duration::from_millis(1000);

/// High watermarks by (topic, partition), and when they were asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub asked: Instant,
    pub highs: BTreeMap<(String, i32), i64>,
}

/// What a consumer loop should do about being idle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdleAction {
    Nothing,
    /// Start the watcher (the consumer wants a baseline snapshot).
    Arm,
    /// Pause the assignment; partitions without a position compare against this baseline.
    Pause(Arc<Snapshot>),
}

/// Decides when a consumer is idle. Records are activity; so is anything that resumes it.
#[derive(Debug)]
pub struct IdleDetector {
    last_activity: Instant,
    armed: bool,
    /// The first snapshot asked for after arming (any record after it is either received or
    /// shows as a higher watermark).
    baseline: Option<Arc<Snapshot>>,
    paused: bool,
}

impl IdleDetector {
    pub fn new(now: Instant) -> Self {
        Self {
            last_activity: now,
            armed: false,
            baseline: None,
            paused: false,
        }
    }

    /// A record arrived, the worker was resumed, or its assignment changed: not idle.
    pub fn activity(&mut self, now: Instant) {
        self.last_activity = now;
        self.armed = false;
        self.baseline = None;
        self.paused = false;
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// True while the consumer wants the watcher's snapshots (arming, or paused).
    pub fn wants_watermarks(&self) -> bool {
        self.armed || self.paused
    }

    /// What to do at `now`, given the watcher's latest snapshot.
    pub fn poll(&mut self, now: Instant, latest: Option<&Arc<Snapshot>>) -> IdleAction {
        if self.paused {
            return IdleAction::Nothing;
        }
        let idle_for = now.saturating_duration_since(self.last_activity);
        if !self.armed {
            // Arm half-way, so that a settled baseline exists by the time idleness is due.
            if idle_for >= IDLE_AFTER / 2 {
                self.armed = true;
                return IdleAction::Arm;
            }
            return IdleAction::Nothing;
        }
        if self.baseline.is_none() {
            // Only a snapshot asked for after arming: an older one may predate the last fetch.
            let armed_at = self.last_activity + IDLE_AFTER / 2;
            if let Some(s) = latest.filter(|s| s.asked >= armed_at) {
                self.baseline = Some(s.clone());
            }
        }
        match &self.baseline {
            Some(b) if idle_for >= IDLE_AFTER && now >= b.asked + SETTLE => {
                self.paused = true;
                IdleAction::Pause(b.clone())
            }
            _ => IdleAction::Nothing,
        }
    }
}

/// A held partition and the consumer's position in it (`None` before anything was received).
pub type Held = ((String, i32), Option<i64>);

/// True when any held partition has records past where the consumer is: its position when
/// it has one, else the baseline's watermark. A partition the snapshot does not know counts
/// as behind (resuming is always safe; staying paused on data is not).
pub fn behind(held: &[Held], baseline: &Snapshot, latest: &Snapshot) -> bool {
    held.iter().any(|(tp, position)| {
        let Some(&high) = latest.highs.get(tp) else {
            return true;
        };
        let from = match position {
            Some(p) => *p,
            None => match baseline.highs.get(tp) {
                Some(&b) => b,
                None => return true,
            },
        };
        high > from
    })
}

/// True when pausing now could strand records: a held partition without a position (the
/// consumer has received nothing from it) whose starting point — its committed offset, or 0
/// without one (`auto.offset.reset` is earliest) — is below the baseline's watermark. Its
/// first fetch is then still unanswered: the embedded broker reads a whole backlog for one
/// fetch (it ignores `max.partition.fetch.bytes`) and can take longer than [`IDLE_AFTER`],
/// and a pause would drop that answer and leave nothing to compare against. A partition the
/// baseline does not know counts the same way.
pub fn unfetched_backlog(
    held: &[Held],
    committed: &BTreeMap<(String, i32), i64>,
    baseline: &Snapshot,
) -> bool {
    held.iter().any(|(tp, position)| {
        if position.is_some() {
            return false;
        }
        let start = committed.get(tp).copied().unwrap_or(0);
        baseline.highs.get(tp).is_none_or(|&high| high > start)
    })
}

/// The process's one high-watermark watcher; cheap to clone. Asks only while someone holds
/// an [`Interest`].
#[derive(Clone)]
pub struct HighWater {
    snapshots: watch::Sender<Option<Arc<Snapshot>>>,
    wanted: Arc<AtomicUsize>,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for HighWater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HighWater")
            .field("wanted", &self.wanted.load(Ordering::Relaxed))
            .finish()
    }
}

/// Held while a consumer wants snapshots; dropping it lets the watcher sleep.
pub struct Interest {
    wanted: Arc<AtomicUsize>,
}

impl Drop for Interest {
    fn drop(&mut self) {
        self.wanted.fetch_sub(1, Ordering::SeqCst);
    }
}

impl HighWater {
    /// Starts the watcher over `topics` on its own group-less client (no fetching, no
    /// heartbeats: it only sends ListOffsets and, now and then, a metadata request).
    pub fn spawn(cluster: &Cluster, topics: Vec<String>) -> anyhow::Result<Self> {
        let client: BaseConsumer = cluster.client_config("watermarks").build()?;
        let (snapshots, _) = watch::channel(None);
        let this = Self {
            snapshots,
            wanted: Arc::default(),
            wake: Arc::default(),
        };
        let watcher = this.clone();
        tokio::spawn(async move {
            let client = Arc::new(client);
            let mut partitions: Option<(Instant, TopicPartitionList)> = None;
            loop {
                while watcher.wanted.load(Ordering::SeqCst) == 0 {
                    watcher.wake.notified().await;
                }
                let asked = Instant::now();
                let stale = partitions
                    .as_ref()
                    .is_none_or(|(at, _)| asked.duration_since(*at) > METADATA_EVERY);
                let known = (!stale).then(|| partitions.as_ref().map(|(_, t)| t.clone()));
                let c = client.clone();
                let topics = topics.clone();
                let asked_list = tokio::task::spawn_blocking(move || {
                    let tpl = match known.flatten() {
                        Some(tpl) => tpl,
                        None => latest_offsets_request(&c, &topics)?,
                    };
                    let highs = c.offsets_for_times(tpl.clone(), Duration::from_secs(5))?;
                    Ok::<_, rdkafka::error::KafkaError>((tpl, highs))
                })
                .await;
                match asked_list {
                    Ok(Ok((tpl, highs))) => {
                        if stale {
                            partitions = Some((asked, tpl));
                        }
                        let highs = highs
                            .elements()
                            .iter()
                            .filter_map(|e| match (e.error(), e.offset()) {
                                (Ok(()), Offset::Offset(o)) => {
                                    Some(((e.topic().to_string(), e.partition()), o))
                                }
                                _ => None,
                            })
                            .collect();
                        watcher
                            .snapshots
                            .send_replace(Some(Arc::new(Snapshot { asked, highs })));
                    }
                    // Consumers stay as they are; a partition missing from a snapshot
                    // counts as behind, so nothing waits on a failed ask for long.
                    Ok(Err(e)) => tracing::debug!(error = %e, "high watermarks"),
                    Err(e) => tracing::warn!(error = %e, "high watermark task"),
                }
                tokio::time::sleep(WATCH_EVERY).await;
            }
        });
        Ok(this)
    }

    /// Wants snapshots until the returned interest is dropped.
    pub fn interest(&self) -> Interest {
        self.wanted.fetch_add(1, Ordering::SeqCst);
        self.wake.notify_one();
        Interest {
            wanted: self.wanted.clone(),
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<Snapshot>>> {
        self.snapshots.subscribe()
    }
}

/// Partitions are looked up again this often (a topic created meanwhile, more partitions).
const METADATA_EVERY: Duration = Duration::from_secs(30);

/// Every partition of `topics`, each asking for the latest offset (timestamp -1 in a
/// ListOffsets request, which answers with the high watermark).
fn latest_offsets_request(
    client: &BaseConsumer,
    topics: &[String],
) -> Result<TopicPartitionList, rdkafka::error::KafkaError> {
    let md = client.fetch_metadata(None, Duration::from_secs(5))?;
    let mut tpl = TopicPartitionList::new();
    for t in md
        .topics()
        .iter()
        .filter(|t| topics.iter().any(|n| n == t.name()))
    {
        for p in t.partitions() {
            tpl.add_partition_offset(t.name(), p.id(), Offset::End)?;
        }
    }
    Ok(tpl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(asked: Instant, highs: &[(&str, i32, i64)]) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            asked,
            highs: highs
                .iter()
                .map(|(t, p, h)| ((t.to_string(), *p), *h))
                .collect(),
        })
    }

    #[test]
    fn pauses_only_after_idle_with_a_settled_snapshot_asked_after_arming() {
        let t0 = Instant::now();
        let mut d = IdleDetector::new(t0);
        assert_eq!(
            d.poll(t0 + Duration::from_millis(500), None),
            IdleAction::Nothing
        );
        assert_eq!(d.poll(t0 + IDLE_AFTER / 2, None), IdleAction::Arm);
        assert!(d.wants_watermarks());
        // A snapshot from before arming may predate the last fetch: not a baseline.
        let old = snap(t0, &[("a", 0, 5)]);
        assert_eq!(d.poll(t0 + IDLE_AFTER * 2, Some(&old)), IdleAction::Nothing);
        let fresh_at = t0 + IDLE_AFTER * 2;
        let fresh = snap(fresh_at, &[("a", 0, 5)]);
        // Not settled yet: a fetch may still be in flight from before the snapshot.
        assert_eq!(d.poll(fresh_at, Some(&fresh)), IdleAction::Nothing);
        assert_eq!(
            d.poll(fresh_at + SETTLE, Some(&fresh)),
            IdleAction::Pause(fresh.clone())
        );
        assert!(d.is_paused());
        assert_eq!(
            d.poll(fresh_at + SETTLE * 2, Some(&fresh)),
            IdleAction::Nothing
        );
    }

    #[test]
    fn activity_disarms_and_resumes() {
        let t0 = Instant::now();
        let mut d = IdleDetector::new(t0);
        assert_eq!(d.poll(t0 + IDLE_AFTER, None), IdleAction::Arm);
        let at = t0 + IDLE_AFTER;
        let s = snap(at, &[]);
        assert!(matches!(
            d.poll(at + SETTLE, Some(&s)),
            IdleAction::Pause(_)
        ));
        let later = at + SETTLE;
        d.activity(later);
        assert!(!d.is_paused());
        assert!(!d.wants_watermarks());
        // The old snapshot is no baseline for the next idle spell.
        assert_eq!(d.poll(later + IDLE_AFTER / 2, Some(&s)), IdleAction::Arm);
        assert_eq!(
            d.poll(later + IDLE_AFTER * 3, Some(&s)),
            IdleAction::Nothing
        );
    }

    #[test]
    fn behind_compares_positions_then_the_baseline() {
        let t = Instant::now();
        let base = snap(t, &[("a", 0, 5), ("a", 1, 0)]);
        let same = snap(t, &[("a", 0, 5), ("a", 1, 0)]);
        let tp = |p: i32| ("a".to_string(), p);
        // Position known and caught up; partition without position at the baseline.
        assert!(!behind(&[(tp(0), Some(5)), (tp(1), None)], &base, &same));
        // A new record on the partition without a position (a fresh, empty one).
        let grown = snap(t, &[("a", 0, 5), ("a", 1, 1)]);
        assert!(behind(&[(tp(0), Some(5)), (tp(1), None)], &base, &grown));
        // The position lags the watermark (records fetched but purged by the pause).
        assert!(behind(&[(tp(0), Some(4))], &base, &same));
        // Unknown to the snapshot: resume rather than risk waiting on data.
        assert!(behind(&[(tp(7), Some(0))], &base, &same));
        assert!(behind(
            &[(tp(7), None)],
            &snap(t, &[]),
            &snap(t, &[("a", 7, 0)])
        ));
    }

    #[test]
    fn a_partition_never_received_from_blocks_the_pause_while_it_has_a_backlog() {
        let t = Instant::now();
        let base = snap(t, &[("a", 0, 5), ("a", 1, 100)]);
        let tp = |p: i32| ("a".to_string(), p);
        let committed = |pairs: &[(i32, i64)]| -> BTreeMap<(String, i32), i64> {
            pairs.iter().map(|&(p, o)| (tp(p), o)).collect()
        };
        // Every partition has a position: the positions decide at resume time, not here.
        assert!(!unfetched_backlog(
            &[(tp(0), Some(5)), (tp(1), Some(3))],
            &committed(&[]),
            &base
        ));
        // A fresh group (nothing committed) on a partition holding 100 records.
        assert!(unfetched_backlog(
            &[(tp(0), Some(5)), (tp(1), None)],
            &committed(&[]),
            &base
        ));
        // Committed at the watermark (a restart of a caught-up worker): nothing to strand.
        assert!(!unfetched_backlog(
            &[(tp(0), Some(5)), (tp(1), None)],
            &committed(&[(1, 100)]),
            &base
        ));
        // Committed behind it (a restart with a backlog).
        assert!(unfetched_backlog(
            &[(tp(1), None)],
            &committed(&[(1, 60)]),
            &base
        ));
        // An empty partition never received from, and one the baseline does not know.
        let empty = snap(t, &[("a", 2, 0)]);
        assert!(!unfetched_backlog(
            &[(tp(2), None)],
            &committed(&[]),
            &empty
        ));
        assert!(unfetched_backlog(&[(tp(3), None)], &committed(&[]), &empty));
    }
}
