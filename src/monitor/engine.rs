//! The monitor's memory: per-partition windows of watermarks and committed offsets, history
//! rings, the workers' telemetry and rebalance counts. `ingest` folds one [`ClusterSample`];
//! `snapshot` (in assemble.rs) evaluates everything into a [`Snapshot`]. No I/O here, so the
//! benchmark and the unit tests drive it with synthetic samples.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::history::{capacity_for, Ring};
use super::lag::partition_lag;
use super::options::MonitorOptions;
use super::rates::{newest, rate};
use super::rebalance::Rebalances;
use super::sample::{ClusterSample, DescribedGroup, PartitionSample};
use super::snapshot::{Freshness, Health, OutboxStatus};
use super::status::CommitPoint;
use super::telemetry::Telemetry;
use crate::workers::report::WorkerEvent;

pub(super) struct PartitionTrack {
    pub last: PartitionSample,
    /// (t ms, high watermark), oldest first.
    pub highs: VecDeque<(i64, i64)>,
}

pub(super) struct TopicTrack {
    pub partitions: BTreeMap<i32, PartitionTrack>,
    pub in_history: Ring,
    pub freshness: Freshness,
}

pub(super) struct OffsetTrack {
    pub window: VecDeque<CommitPoint>,
    /// When the committed offset was last seen to change.
    pub last_move_ms: Option<i64>,
}

pub(super) struct GroupTopicHistory {
    pub lag: Ring,
    pub out: Ring,
    pub negative: u64,
}

#[derive(Default)]
pub(super) struct GroupTrack {
    pub offsets: BTreeMap<(String, i32), OffsetTrack>,
    pub topics: BTreeMap<String, GroupTopicHistory>,
    pub freshness: Freshness,
    /// Last time the committed offsets could be read.
    pub last_read_ms: Option<i64>,
}

pub struct Engine {
    pub(super) opts: MonitorOptions,
    pub(super) history: usize,
    pub(super) cluster: String,
    pub(super) search: String,
    pub(super) cluster_health: Health,
    pub(super) search_health: Health,
    pub(super) indexed: Option<u64>,
    pub(super) outbox: Option<OutboxStatus>,
    pub(super) cqrs: Option<super::cqrs::CqrsFigures>,
    pub(super) analytics: Option<crate::analytics::AnalyticsSummary>,
    pub(super) taken_ms: i64,
    pub(super) samples: u64,
    pub(super) topics: BTreeMap<String, TopicTrack>,
    /// The topics' retention and cleanup policy, as last described (see `topic_config`).
    pub(super) topic_configs: BTreeMap<String, super::topic_config::TopicConfig>,
    pub(super) groups: BTreeMap<String, GroupTrack>,
    pub(super) telemetry: Telemetry,
    pub(super) rebalances: BTreeMap<String, Rebalances>,
    pub(super) described: BTreeMap<String, DescribedGroup>,
    /// When the broker's description of the groups was taken (ms).
    pub(super) described_at: i64,
    pub(super) described_freshness: Freshness,
    pub(super) record_ms: BTreeMap<(String, i32, i64), i64>,
}

impl Engine {
    pub fn new(opts: MonitorOptions, cluster: &str, search: &str) -> Self {
        let history = capacity_for(u64::try_from(opts.interval_ms()).unwrap_or(1000));
        Self {
            opts,
            history,
            cluster: cluster.to_string(),
            search: search.to_string(),
            cluster_health: Health::Unknown,
            search_health: Health::Unknown,
            indexed: None,
            outbox: None,
            cqrs: None,
            analytics: None,
            taken_ms: 0,
            samples: 0,
            topics: BTreeMap::new(),
            topic_configs: BTreeMap::new(),
            groups: BTreeMap::new(),
            telemetry: Telemetry::default(),
            rebalances: BTreeMap::new(),
            described: BTreeMap::new(),
            described_at: 0,
            described_freshness: Freshness::default(),
            record_ms: BTreeMap::new(),
        }
    }

    pub fn options(&self) -> &MonitorOptions {
        &self.opts
    }

    /// Cluster samples folded so far (rates need two).
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Every group to read offsets for: configured, reported by our workers, listed by the
    /// broker.
    pub fn groups_to_watch(&self) -> Vec<String> {
        let mut all: BTreeSet<String> = self.opts.groups.iter().cloned().collect();
        all.extend(self.telemetry.groups().cloned());
        all.extend(
            self.described
                .values()
                .filter(|g| g.protocol_type.is_empty() || g.protocol_type == "consumer")
                .map(|g| g.group.clone()),
        );
        all.into_iter().collect()
    }

    pub fn fold_event(&mut self, event: WorkerEvent, at_ms: i64) {
        if let WorkerEvent::Assigned { worker, group, .. } = &event {
            let merge = self.opts.rebalance_merge_ms();
            self.rebalances
                .entry(group.clone())
                .or_default()
                .on_assigned(worker.as_str(), at_ms, merge);
        }
        self.telemetry.fold(event, at_ms);
    }

    pub fn set_search(&mut self, health: Health, indexed: Option<u64>) {
        self.search_health = health;
        if indexed.is_some() {
            self.indexed = indexed;
        }
    }

    pub fn set_cqrs(&mut self, figures: super::cqrs::CqrsFigures) {
        self.cqrs = Some(figures);
    }

    pub fn set_analytics(&mut self, summary: crate::analytics::AnalyticsSummary) {
        self.analytics = Some(summary);
    }

    pub fn set_outbox(&mut self, outbox: OutboxStatus) {
        self.outbox = Some(outbox);
    }

    /// The topics watched now: whose configurations the sampler describes.
    pub fn topic_names(&self) -> Vec<String> {
        self.topics.keys().cloned().collect()
    }

    /// Described configurations; a topic not in `configs` keeps what it had (a broker may
    /// answer for some topics only).
    pub fn set_topic_configs(
        &mut self,
        configs: BTreeMap<String, super::topic_config::TopicConfig>,
    ) {
        self.topic_configs.extend(configs);
        let topics = &self.topics;
        self.topic_configs
            .retain(|name, _| topics.contains_key(name));
    }

    pub fn ingest(&mut self, sample: ClusterSample) {
        self.taken_ms = sample.taken_ms;
        self.samples += 1;
        self.cluster_health = match &sample.metadata_error {
            None => Health::Up,
            Some(e) => Health::Down(e.clone()),
        };
        self.ingest_topics(&sample);
        self.ingest_groups(&sample);
        let described_ms = sample.described_ms.unwrap_or(sample.taken_ms);
        self.ingest_described(sample.described, described_ms);
        self.record_ms = sample.record_ms;
    }

    fn ingest_topics(&mut self, sample: &ClusterSample) {
        let t = sample.taken_ms;
        let keep = self.opts.points_kept();
        if sample.metadata_error.is_none() {
            // A topic missing from good metadata was deleted.
            let listed: BTreeSet<&str> = sample.topics.iter().map(|s| s.topic.as_str()).collect();
            self.topics.retain(|name, _| listed.contains(name.as_str()));
        }
        for ts in &sample.topics {
            let history = self.history;
            let track = self
                .topics
                .entry(ts.topic.clone())
                .or_insert_with(|| TopicTrack {
                    partitions: BTreeMap::new(),
                    in_history: Ring::new(history),
                    freshness: Freshness::default(),
                });
            track.freshness = stale_if(ts.error.as_ref());
            for p in &ts.partitions {
                let pt = track
                    .partitions
                    .entry(p.partition)
                    .or_insert_with(|| PartitionTrack {
                        last: *p,
                        highs: VecDeque::with_capacity(keep),
                    });
                if ts.error.is_some() {
                    // Leaders are fresh, watermarks are not: keep the last ones.
                    pt.last.leader = p.leader;
                    continue;
                }
                pt.last = *p;
                push_bounded(&mut pt.highs, (t, p.high), keep);
            }
            let listed: BTreeSet<i32> = ts.partitions.iter().map(|p| p.partition).collect();
            track.partitions.retain(|id, _| listed.contains(id));
            let in_rate = topic_in_rate(track, self.opts.rate_samples);
            track.in_history.push(in_rate);
        }
        if sample.metadata_error.is_some() {
            let error = sample.metadata_error.clone();
            for track in self.topics.values_mut() {
                track.freshness = stale_if(error.as_ref());
            }
        }
    }

    fn ingest_groups(&mut self, sample: &ClusterSample) {
        let t = sample.taken_ms;
        let keep = self.opts.points_kept();
        let listed: BTreeSet<&str> = sample.groups.iter().map(|g| g.group.as_str()).collect();
        self.groups.retain(|name, _| listed.contains(name.as_str()));
        for gs in &sample.groups {
            let owned_topics: BTreeSet<String> = self
                .telemetry
                .members(&gs.group)
                .into_iter()
                .flat_map(|(_, ps)| ps.into_iter().map(|(t, _)| t))
                .collect();
            let history = self.history;
            let track = self.groups.entry(gs.group.clone()).or_default();
            let offsets = match &gs.offsets {
                Ok(o) => o,
                Err(e) => {
                    track.freshness = stale_if(Some(e));
                    continue;
                }
            };
            track.freshness = Freshness::default();
            track.last_read_ms = Some(t);
            // A group consumes a topic when it committed on it, one of ours owns part of it,
            // or it is one of our workers' groups and subscribes to it (so that a new
            // group's backlog shows before its first commit).
            let subscribed = self
                .opts
                .subscriptions
                .iter()
                .filter(|s| s.group == gs.group)
                .flat_map(|s| s.topics.iter())
                .filter(|t| self.topics.contains_key(t.as_str()));
            let consumed: BTreeSet<&str> = offsets
                .iter()
                .filter(|(_, c)| c.is_some())
                .map(|((topic, _), _)| topic.as_str())
                .chain(owned_topics.iter().map(String::as_str))
                .chain(subscribed.map(String::as_str))
                .collect();
            track
                .offsets
                .retain(|(topic, p), _| offsets.contains_key(&(topic.clone(), *p)));
            let mut negative: BTreeMap<&str, u64> = BTreeMap::new();
            for ((topic, partition), committed) in offsets {
                if !consumed.contains(topic.as_str()) {
                    continue;
                }
                let high = self
                    .topics
                    .get(topic)
                    .and_then(|tt| tt.partitions.get(partition))
                    .map_or(0, |p| p.last.high);
                if partition_lag(high, *committed).1 {
                    *negative.entry(topic.as_str()).or_default() += 1;
                }
                let ot = track
                    .offsets
                    .entry((topic.clone(), *partition))
                    .or_insert_with(|| OffsetTrack {
                        window: VecDeque::with_capacity(keep),
                        last_move_ms: None,
                    });
                let previous = ot.window.back().and_then(|p| p.committed);
                if previous.is_some() && previous != *committed {
                    ot.last_move_ms = Some(t);
                }
                push_bounded(
                    &mut ot.window,
                    CommitPoint {
                        t_ms: t,
                        committed: *committed,
                        high,
                    },
                    keep,
                );
            }
            for topic in &consumed {
                let h =
                    track
                        .topics
                        .entry(topic.to_string())
                        .or_insert_with(|| GroupTopicHistory {
                            lag: Ring::new(history),
                            out: Ring::new(history),
                            negative: 0,
                        });
                h.negative += negative.get(topic).copied().unwrap_or(0);
            }
            track
                .topics
                .retain(|topic, _| consumed.contains(topic.as_str()));
            let rate_samples = self.opts.rate_samples;
            for (topic, h) in track.topics.iter_mut() {
                let (lag, out) = group_topic_figures(&track.offsets, topic, rate_samples);
                h.lag.push(lag as f64);
                h.out.push(out);
            }
        }
    }

    fn ingest_described(&mut self, described: Option<Result<Vec<DescribedGroup>, String>>, t: i64) {
        match described {
            None => {}
            Some(Err(e)) => self.described_freshness = stale_if(Some(&e)),
            Some(Ok(groups)) => {
                let merge = self.opts.rebalance_merge_ms();
                for g in &groups {
                    let ids = g.members.iter().map(|m| m.member.clone()).collect();
                    self.rebalances
                        .entry(g.group.clone())
                        .or_default()
                        .on_members(ids, t, merge);
                }
                self.described = groups.into_iter().map(|g| (g.group.clone(), g)).collect();
                self.described_at = t;
                self.described_freshness = Freshness::default();
            }
        }
    }

    /// Bytes held by the history rings and the sample windows (what grows with the number
    /// of partitions and groups), for the benchmark's memory figure.
    pub fn memory_bytes(&self) -> usize {
        let point = std::mem::size_of::<CommitPoint>();
        let topics: usize = self
            .topics
            .values()
            .map(|t| {
                t.in_history.bytes()
                    + t.partitions
                        .values()
                        .map(|p| p.highs.capacity() * 16 + std::mem::size_of::<PartitionTrack>())
                        .sum::<usize>()
            })
            .sum();
        let groups: usize = self
            .groups
            .values()
            .map(|g| {
                g.topics
                    .values()
                    .map(|h| h.lag.bytes() + h.out.bytes())
                    .sum::<usize>()
                    + g.offsets
                        .values()
                        .map(|o| o.window.capacity() * point + std::mem::size_of::<OffsetTrack>())
                        .sum::<usize>()
            })
            .sum();
        topics + groups
    }
}

fn stale_if(error: Option<&String>) -> Freshness {
    Freshness {
        stale: error.is_some(),
        error: error.cloned(),
    }
}

fn push_bounded<T>(q: &mut VecDeque<T>, v: T, keep: usize) {
    if q.len() >= keep {
        q.pop_front();
    }
    q.push_back(v);
}

/// Messages in per second of a topic: the sum over its partitions.
pub(super) fn topic_in_rate(track: &TopicTrack, rate_samples: usize) -> f64 {
    track
        .partitions
        .values()
        .map(|p| partition_in_rate(p, rate_samples))
        .sum()
}

pub(super) fn partition_in_rate(p: &PartitionTrack, rate_samples: usize) -> f64 {
    rate(newest(&p.highs, rate_samples))
}

/// Messages out per second of a group on one partition: Δ committed / Δt.
pub(super) fn partition_out_rate(o: &OffsetTrack, rate_samples: usize) -> f64 {
    rate(newest(&o.window, rate_samples).filter_map(|p| p.committed.map(|c| (p.t_ms, c))))
}

/// (lag sum, out per second) of a group on a topic from the newest points.
pub(super) fn group_topic_figures(
    offsets: &BTreeMap<(String, i32), OffsetTrack>,
    topic: &str,
    rate_samples: usize,
) -> (i64, f64) {
    offsets
        .iter()
        .filter(|((t, _), _)| t == topic)
        .fold((0, 0.0), |(lag, out), (_, o)| {
            let l = o.window.back().map_or(0, |p| p.lag());
            (lag + l, out + partition_out_rate(o, rate_samples))
        })
}
