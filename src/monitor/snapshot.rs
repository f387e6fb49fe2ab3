//! The picture of the pipeline at one moment: what the console draws, what
//! `eventdeck status --json` prints and what `/metrics` exposes. Produced by the monitor,
//! read-only for everyone else (the UI receives it on a `tokio::sync::watch` channel).

use serde::Serialize;

pub use super::cqrs::CqrsFigures;

use crate::event::NotificationSent;
use crate::ops::WorkerState;

/// Burrow's consumer statuses (DESIGN.md §6), worst last, and UNKNOWN: lag with no
/// evidence yet either way (never OK without evidence), ranked just above OK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum LagStatus {
    #[default]
    Ok,
    Unknown,
    Warn,
    Rewind,
    Stall,
    Stop,
    Err,
}

impl LagStatus {
    pub fn label(self) -> &'static str {
        match self {
            LagStatus::Ok => "OK",
            LagStatus::Unknown => "UNKNOWN",
            LagStatus::Warn => "WARN",
            LagStatus::Rewind => "REWIND",
            LagStatus::Stall => "STALL",
            LagStatus::Stop => "STOP",
            LagStatus::Err => "ERR",
        }
    }
}

/// A figure that could not be read this time keeps its last value, marked stale.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Freshness {
    pub stale: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct PartitionStats {
    pub partition: i32,
    pub leader: Option<i32>,
    pub low: i64,
    pub high: i64,
    /// Messages in per second (Δ high watermark / Δt).
    pub in_per_sec: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct TopicStats {
    pub topic: String,
    pub partitions: Vec<PartitionStats>,
    pub messages: i64,
    pub in_per_sec: f64,
    /// In-rate history, oldest first, one point per sample (sparklines).
    pub in_history: Vec<f64>,
    pub freshness: Freshness,
    /// Retention and cleanup policy, when the broker describes them.
    pub config: Option<super::topic_config::TopicConfig>,
    /// A broker-internal topic (`__consumer_offsets`, …): hidden in the console unless
    /// asked for, left out of `status`'s table.
    pub internal: bool,
}

/// Kafka's convention for internal topics (what `kafka-topics --exclude-internal` and
/// Kafka UI hide).
pub fn is_internal_topic(name: &str) -> bool {
    name.starts_with("__")
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct PartitionLag {
    pub partition: i32,
    pub high: i64,
    /// None: the group has no committed offset for this partition yet.
    pub committed: Option<i64>,
    /// max(0, high − committed); 0 and meaningless without a commit: read it through
    /// [`PartitionLag::lag_figure`], which says None ("-") then.
    pub lag: i64,
    /// Member (client id / our worker) that owns it, when known.
    pub owner: Option<String>,
    pub status: LagStatus,
}

impl PartitionLag {
    /// The lag in messages, None without a committed offset (shown "-", JSON null).
    pub fn lag_figure(&self) -> Option<i64> {
        self.committed.map(|_| self.lag)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct GroupTopicLag {
    pub topic: String,
    /// Sum and maximum over the partitions with a committed offset; see
    /// [`GroupTopicLag::lag_figures`].
    pub lag_sum: i64,
    pub lag_max: i64,
    /// now − timestamp of the record at the committed offset; or the rate estimate.
    pub lag_seconds: Option<f64>,
    /// True when lag_seconds is messages-lag ÷ consume-rate rather than read from a record.
    pub lag_seconds_estimated: bool,
    /// Messages out per second (Δ committed / Δt).
    pub out_per_sec: f64,
    pub status: LagStatus,
    /// The status in words: "lag grew in 10 of 10 samples".
    pub reason: String,
    pub partitions: Vec<PartitionLag>,
    pub lag_history: Vec<f64>,
    /// Samples where committed > high (a racing sample), shown as 0 lag.
    pub negative_lag_samples: u64,
    /// Partitions the group has no committed offset for (their lag is unknown)…
    pub partitions_without_commit: usize,
    /// …and the records on them (high − low watermark): what a new group has to read.
    pub backlog_without_commit: i64,
}

impl GroupTopicLag {
    /// (sum, max) of the lag, None when no partition has a committed offset: a lag that is
    /// not known is never 0.
    pub fn lag_figures(&self) -> Option<(i64, i64)> {
        let all_unknown =
            !self.partitions.is_empty() && self.partitions_without_commit >= self.partitions.len();
        (!all_unknown).then_some((self.lag_sum, self.lag_max))
    }
}

/// A problem of the group as a whole rather than of a partition's offsets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupProblem {
    /// "no_partitions": one of our workers is a member and owns nothing while nobody else
    /// consumes the topics.
    pub kind: String,
    pub worker: String,
    pub status: LagStatus,
    /// "indexer has no partitions for 25 s (topics have 9)".
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct MemberInfo {
    pub member: String,
    pub client_id: String,
    pub host: String,
    pub assignments: Vec<(String, i32)>,
    /// True for one of eventdeck's own workers.
    pub ours: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct GroupStats {
    pub group: String,
    /// The broker's group state (Stable, PreparingRebalance, Empty, …) when it answers.
    pub state: Option<String>,
    pub members: Vec<MemberInfo>,
    pub topics: Vec<GroupTopicLag>,
    /// The worst of its topics' statuses and its problems.
    pub status: LagStatus,
    /// The status in words: the worst topic's or problem's reason.
    pub reason: String,
    pub problems: Vec<GroupProblem>,
    pub rebalances: u64,
    pub last_rebalance_ms: Option<i64>,
    pub generation: Option<i32>,
    pub freshness: Freshness,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct WorkerStatus {
    pub name: String,
    pub state: WorkerState,
    pub processed: u64,
    pub errors: u64,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Totals {
    pub produced: u64,
    pub produce_failed: u64,
    pub indexed: u64,
    pub notified: u64,
    pub dead_lettered: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotificationLine {
    pub received_ms: i64,
    pub notification: NotificationSent,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Health {
    Unknown,
    Up,
    /// Answering, but late: why (how late).
    Slow(String),
    Down(String),
}

impl Health {
    /// Answering at all (up or slow).
    pub fn is_up(&self) -> bool {
        matches!(self, Health::Up | Health::Slow(_))
    }
}

/// A metadata answer later than this marks the cluster slow. A healthy broker answers in
/// milliseconds; the embedded one took 2–10 s when its storage engine was saturated (the
/// README's known limits), and a broker in a long GC pause or swapping does the same.
pub const SLOW_METADATA_MS: u64 = 1_000;

/// The cluster's health after a sample: down without metadata, slow when it came late.
pub fn cluster_health(metadata_error: Option<&str>, metadata_ms: Option<u64>) -> Health {
    match (metadata_error, metadata_ms) {
        (Some(e), _) => Health::Down(e.to_string()),
        (None, Some(ms)) if ms > SLOW_METADATA_MS => {
            Health::Slow(format!("metadata answered in {:.1} s", ms as f64 / 1000.0))
        }
        (None, _) => Health::Up,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub taken_ms: i64,
    /// "embedded broker 127.0.0.1:9092" or "kafka k1:9092,k2:9092".
    pub cluster: String,
    pub cluster_health: Health,
    /// "local index ~/.local/share/eventdeck/index" or "elastic http://…/messages".
    pub search: String,
    pub search_health: Health,
    pub indexed_messages: Option<u64>,
    pub workers: Vec<WorkerStatus>,
    pub topics: Vec<TopicStats>,
    pub groups: Vec<GroupStats>,
    pub totals: Totals,
    /// Newest first, bounded.
    pub notifications: Vec<NotificationLine>,
    pub load_generator: Option<u32>,
    /// The write model's outbox, when this process has one: monitored like a lag.
    pub outbox: Option<OutboxStatus>,
    /// Write vs read figures, when this process serves commands and searches.
    pub cqrs: Option<CqrsFigures>,
    /// The analytics worker's counters, when it runs in this process.
    pub analytics: Option<crate::analytics::AnalyticsSummary>,
}

/// What waits in the outbox for the relay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxStatus {
    /// "embedded store /…/store.db" or "postgres postgres://…" (never a password).
    pub store: String,
    /// Entries not yet acknowledged by the broker; `None` when the store did not answer.
    pub rows: Option<u64>,
    /// Age (ms) of the oldest of them at the sample.
    pub oldest_age_ms: Option<i64>,
    pub error: Option<String>,
}

impl Snapshot {
    pub fn empty(cluster: &str, search: &str) -> Self {
        Snapshot {
            taken_ms: 0,
            cluster: cluster.to_string(),
            cluster_health: Health::Unknown,
            search: search.to_string(),
            search_health: Health::Unknown,
            indexed_messages: None,
            workers: Vec::new(),
            topics: Vec::new(),
            groups: Vec::new(),
            totals: Totals::default(),
            notifications: Vec::new(),
            load_generator: None,
            outbox: None,
            cqrs: None,
            analytics: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_metadata_answer_is_slow_a_missing_one_down() {
        assert_eq!(cluster_health(None, Some(12)), Health::Up);
        assert_eq!(cluster_health(None, Some(SLOW_METADATA_MS)), Health::Up);
        assert_eq!(
            cluster_health(None, Some(1_650)),
            Health::Slow("metadata answered in 1.6 s".into())
        );
        assert_eq!(
            cluster_health(Some("metadata: timed out"), None),
            Health::Down("metadata: timed out".into())
        );
        assert!(cluster_health(None, Some(5_000)).is_up());
        assert!(!Health::Unknown.is_up());
    }
}
