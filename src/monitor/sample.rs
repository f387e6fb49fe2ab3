//! What one sampling pass read from the cluster, before any evaluation. The reader fills it
//! (blocking rdkafka calls); the engine folds it into windows. A figure that could not be
//! read carries its error instead of a value.

use std::collections::BTreeMap;

use super::snapshot::MemberInfo;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClusterSample {
    /// When the pass started (ms since the epoch).
    pub taken_ms: i64,
    /// Metadata could not be read: the cluster is down or unreachable.
    pub metadata_error: Option<String>,
    /// How long the metadata answer took (ms), when there was one: a broker that answers
    /// but late is saturated or stalled (see `Health::Slow`).
    pub metadata_ms: Option<u64>,
    pub topics: Vec<TopicSample>,
    pub groups: Vec<GroupSample>,
    /// Timestamp (ms) of the record at (topic, partition, offset), for the time lag.
    pub record_ms: BTreeMap<(String, i32, i64), i64>,
    /// The broker's group descriptions; None when not asked this time (they are read less
    /// often and in the background, see the sampler).
    pub described: Option<Result<Vec<DescribedGroup>, String>>,
    /// When that description was asked for (ms since the epoch); `None`: at `taken_ms`.
    /// It may hold members that left between then and this sample.
    pub described_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct TopicSample {
    pub topic: String,
    pub partitions: Vec<PartitionSample>,
    /// Watermarks could not be read; `partitions` then carries leaders only.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PartitionSample {
    pub partition: i32,
    pub leader: Option<i32>,
    pub low: i64,
    pub high: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupSample {
    pub group: String,
    /// Committed offsets per (topic, partition) of the watched topics; None: no commit. A
    /// partition of [`ClusterSample::topics`] without an entry has no commit either: the
    /// reader lists only the partitions a group committed on (a cluster's groups each read a
    /// few of its topics).
    pub offsets: Result<BTreeMap<(String, i32), Option<i64>>, String>,
}

/// A group as the broker describes it (a real cluster; the embedded broker does not).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DescribedGroup {
    pub group: String,
    pub state: String,
    pub protocol_type: String,
    pub members: Vec<MemberInfo>,
}
