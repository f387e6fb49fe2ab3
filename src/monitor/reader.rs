//! Reads one sample from the cluster with rdkafka's blocking calls: metadata, watermarks,
//! committed offsets per group, group descriptions. Every method blocks: call them inside
//! `spawn_blocking`, never on an async worker or the render path. Each call has its own
//! timeout and its failure is recorded next to the figure it concerns.

use crate::bus::safe_create::SafeCreate;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::metadata::Metadata;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::group_offsets::committed_offsets;
use super::options::MonitorOptions;
use super::records::RecordReader;
use super::sample::{ClusterSample, DescribedGroup, GroupSample, PartitionSample, TopicSample};
use super::snapshot::MemberInfo;
use crate::bus::protocol::decode_assignment;
use crate::bus::Cluster;
use crate::event::now_ms;

/// Why a read of the cluster failed. The texts are those shown in the snapshot, next to the
/// figure concerned (the sample keeps them as text, see `sample`).
#[derive(Debug, thiserror::Error)]
pub enum ReaderError {
    /// A batched ListOffsets failed as a whole, or for one partition.
    #[error("{0}")]
    Kafka(#[source] rdkafka::error::KafkaError),
    #[error("{topic}/{partition} missing from the answer")]
    MissingPartition { topic: String, partition: i32 },
    #[error("{topic}/{partition}: no offset ({offset:?})")]
    NoOffset {
        topic: String,
        partition: i32,
        offset: Offset,
    },
    #[error("describe groups: {0}")]
    DescribeGroups(#[source] rdkafka::error::KafkaError),
}

/// Long-lived clients, so that a sample costs requests, not connections.
pub struct ClusterReader {
    opts: MonitorOptions,
    meta: BaseConsumer,
    describer: BaseConsumer,
    /// Asks every group's committed offsets (see `group_offsets`): one client for all the
    /// groups, where there was one per group.
    offsets: BaseConsumer,
    records: Mutex<RecordReader>,
}

/// Settings of every monitor client: it only reads, and it wants the high watermark, not
/// the last stable offset of a transactional producer.
pub(super) fn reader_config(cluster: &Cluster, role: &str) -> ClientConfig {
    let mut c = cluster.client_config(role);
    c.set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("isolation.level", "read_uncommitted")
        .set("enable.partition.eof", "false");
    c
}

impl ClusterReader {
    pub fn new(cluster: &Cluster, opts: MonitorOptions) -> anyhow::Result<Self> {
        Ok(Self {
            meta: reader_config(cluster, "monitor").build()?,
            describer: reader_config(cluster, "monitor-groups").build()?,
            records: Mutex::new(RecordReader::new(cluster)?),
            offsets: reader_config(cluster, "monitor-offsets").build()?,
            opts,
        })
    }

    /// One pass over the cluster: metadata, watermarks, the committed offsets of `groups`,
    /// and the timestamps of the records at lagging committed offsets.
    pub fn sample(&self, groups: &[String]) -> ClusterSample {
        let mut sample = ClusterSample {
            taken_ms: now_ms(),
            ..ClusterSample::default()
        };
        let asked = std::time::Instant::now();
        let metadata = match self.meta.fetch_metadata(None, self.opts.call_timeout) {
            Ok(m) => {
                sample.metadata_ms = Some(asked.elapsed().as_millis() as u64);
                m
            }
            Err(e) => {
                sample.metadata_error = Some(format!("metadata: {e}"));
                return sample;
            }
        };
        sample.topics = self.watermarks(&metadata);
        let watched: BTreeMap<&str, BTreeSet<i32>> = sample
            .topics
            .iter()
            .map(|t| {
                let ps = t.partitions.iter().map(|p| p.partition).collect();
                (t.topic.as_str(), ps)
            })
            .collect();
        let answers = committed_offsets(&self.offsets, groups, &watched, self.opts.call_timeout);
        sample.groups = groups
            .iter()
            .zip(answers)
            .map(|(g, offsets)| GroupSample {
                group: g.clone(),
                offsets: offsets.map_err(|e| format!("committed offsets: {e}")),
            })
            .collect();
        let wanted = lagging_positions(&sample);
        if let Ok(mut records) = self.records.lock() {
            sample.record_ms = records.timestamps(&wanted, self.opts.record_budget);
        }
        sample
    }

    /// Topics to watch: the configured ones first, then the cluster's others, internal ones
    /// (`__consumer_offsets`, …) last, `max_topics` at most.
    fn watched<'m>(&self, metadata: &'m Metadata) -> Vec<&'m rdkafka::metadata::MetadataTopic> {
        let mut topics: Vec<_> = metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .collect();
        let first: BTreeSet<&str> = self.opts.topics.iter().map(String::as_str).collect();
        topics.sort_by_key(|t| {
            (
                super::snapshot::is_internal_topic(t.name()),
                !first.contains(t.name()),
                t.name().to_string(),
            )
        });
        topics.truncate(self.opts.max_topics);
        topics
    }

    /// Low and high watermarks of every partition in two batched ListOffsets round trips
    /// (earliest and latest), instead of two requests per partition.
    fn watermarks(&self, metadata: &Metadata) -> Vec<TopicSample> {
        let topics = self.watched(metadata);
        let mut highs = TopicPartitionList::new();
        let mut lows = TopicPartitionList::new();
        for t in &topics {
            for p in t.partitions() {
                let _ = highs.add_partition_offset(t.name(), p.id(), Offset::End);
                let _ = lows.add_partition_offset(t.name(), p.id(), Offset::Beginning);
            }
        }
        let high = self.meta.offsets_for_times(highs, self.opts.call_timeout);
        let low = self.meta.offsets_for_times(lows, self.opts.call_timeout);
        topics
            .iter()
            .map(|t| {
                let mut error = None;
                let partitions =
                    t.partitions()
                        .iter()
                        .map(|p| {
                            let mut read = |r: &rdkafka::error::KafkaResult<TopicPartitionList>| {
                                match offset_of(r, t.name(), p.id()) {
                                    Ok(v) => v,
                                    Err(e) => {
                                        error.get_or_insert(format!("watermarks: {e}"));
                                        0
                                    }
                                }
                            };
                            let high = read(&high);
                            let low = read(&low);
                            PartitionSample {
                                partition: p.id(),
                                leader: (p.leader() >= 0).then_some(p.leader()),
                                low,
                                high,
                            }
                        })
                        .collect();
                TopicSample {
                    topic: t.name().to_string(),
                    partitions,
                    error,
                }
            })
            .collect()
    }

    /// The broker's groups with state and members (ListGroups + DescribeGroups). Slow on
    /// big clusters and unsupported by some brokers: the sampler runs it in the background.
    pub fn describe_groups(&self) -> Result<Vec<DescribedGroup>, ReaderError> {
        let list = self
            .describer
            .fetch_group_list(None, self.opts.call_timeout)
            .map_err(ReaderError::DescribeGroups)?;
        Ok(list
            .groups()
            .iter()
            .map(|g| DescribedGroup {
                group: g.name().to_string(),
                state: g.state().to_string(),
                protocol_type: g.protocol_type().to_string(),
                members: g
                    .members()
                    .iter()
                    .map(|m| MemberInfo {
                        member: m.id().to_string(),
                        client_id: m.client_id().to_string(),
                        host: m.client_host().to_string(),
                        assignments: m
                            .assignment()
                            .and_then(decode_assignment)
                            .unwrap_or_default(),
                        ours: false,
                    })
                    .collect(),
            })
            .collect())
    }
}

/// The offset the broker answered for one partition of a batched ListOffsets.
fn offset_of(
    answer: &rdkafka::error::KafkaResult<TopicPartitionList>,
    topic: &str,
    partition: i32,
) -> Result<i64, ReaderError> {
    let tpl = answer.as_ref().map_err(|e| ReaderError::Kafka(e.clone()))?;
    let e = tpl
        .find_partition(topic, partition)
        .ok_or_else(|| ReaderError::MissingPartition {
            topic: topic.to_string(),
            partition,
        })?;
    e.error().map_err(ReaderError::Kafka)?;
    match e.offset() {
        Offset::Offset(o) => Ok(o),
        offset => Err(ReaderError::NoOffset {
            topic: topic.to_string(),
            partition,
            offset,
        }),
    }
}

/// (topic, partition, committed offset) of every group position behind its high watermark:
/// the records whose timestamps give the time lag.
fn lagging_positions(sample: &ClusterSample) -> BTreeSet<(String, i32, i64)> {
    let highs: BTreeMap<(&str, i32), i64> = sample
        .topics
        .iter()
        .filter(|t| t.error.is_none())
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| ((t.topic.as_str(), p.partition), p.high))
        })
        .collect();
    sample
        .groups
        .iter()
        .filter_map(|g| g.offsets.as_ref().ok())
        .flat_map(|o| o.iter())
        .filter_map(|((t, p), c)| {
            let c = (*c)?;
            let high = highs.get(&(t.as_str(), *p))?;
            (c < *high).then(|| (t.clone(), *p, c))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_missing_or_unknown_are_typed_errors_with_the_old_texts() {
        let mut tpl = TopicPartitionList::new();
        let _ = tpl.add_partition_offset("t", 0, Offset::Offset(7));
        let _ = tpl.add_partition_offset("t", 1, Offset::End);
        let answer = Ok(tpl);
        assert_eq!(offset_of(&answer, "t", 0).ok(), Some(7));
        let missing = offset_of(&answer, "t", 2).expect_err("missing");
        assert!(matches!(
            missing,
            ReaderError::MissingPartition { partition: 2, .. }
        ));
        assert_eq!(missing.to_string(), "t/2 missing from the answer");
        let unknown = offset_of(&answer, "t", 1).expect_err("no offset");
        assert_eq!(unknown.to_string(), "t/1: no offset (End)");
        let failed = Err(rdkafka::error::KafkaError::NoMessageReceived);
        let e = offset_of(&failed, "t", 0).expect_err("failed");
        assert_eq!(
            e.to_string(),
            rdkafka::error::KafkaError::NoMessageReceived.to_string()
        );
        assert!(std::error::Error::source(&e).is_some(), "keeps its cause");
    }
}
