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

/// A group's windows on the partitions of one topic. Kept per topic so that a pass looks a
/// topic up once per group, not once per partition with a (String, i32) key built anew.
#[derive(Default)]
pub(super) struct TopicOffsets {
    pub partitions: BTreeMap<i32, OffsetTrack>,
    /// The ingest that last listed the topic for the group (see `Engine::samples`).
    seen: u64,
}

pub(super) struct GroupTopicHistory {
    pub lag: Ring,
    pub out: Ring,
    pub negative: u64,
    /// The ingest that last found the group consuming the topic.
    consumed: u64,
}

#[derive(Default)]
pub(super) struct GroupTrack {
    /// Every listed partition of a topic the group consumes, or consumed while it was
    /// listed since (a window is kept as long as its partition is listed).
    pub offsets: BTreeMap<String, TopicOffsets>,
    pub topics: BTreeMap<String, GroupTopicHistory>,
    pub freshness: Freshness,
    /// Last time the committed offsets could be read.
    pub last_read_ms: Option<i64>,
}

impl GroupTrack {
    /// Every window of the group, whatever its topic.
    pub fn windows(&self) -> impl Iterator<Item = &OffsetTrack> {
        self.offsets.values().flat_map(|t| t.partitions.values())
    }
}

/// Record timestamps (ms) by topic, then (partition, offset): looked up by `&str`, without
/// building a key per partition.
pub(super) type RecordTimes = BTreeMap<String, BTreeMap<(i32, i64), i64>>;

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
    pub(super) record_ms: RecordTimes,
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
        self.cluster_health =
            super::snapshot::cluster_health(sample.metadata_error.as_deref(), sample.metadata_ms);
        self.ingest_topics(&sample);
        self.ingest_groups(&sample);
        let described_ms = sample.described_ms.unwrap_or(sample.taken_ms);
        self.ingest_described(sample.described, described_ms);
        self.record_ms = by_topic(sample.record_ms);
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
            if !self.topics.contains_key(ts.topic.as_str()) {
                let track = TopicTrack {
                    partitions: BTreeMap::new(),
                    in_history: Ring::new(self.history),
                    freshness: Freshness::default(),
                };
                self.topics.insert(ts.topic.clone(), track);
            }
            let Some(track) = self.topics.get_mut(ts.topic.as_str()) else {
                continue;
            };
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
        let listed: BTreeSet<&str> = sample.groups.iter().map(|g| g.group.as_str()).collect();
        self.groups.retain(|name, _| listed.contains(name.as_str()));
        let partitions = listed_partitions(sample);
        let mut run = Vec::new();
        for gs in &sample.groups {
            // A group consumes a topic when it committed on it, one of ours owns part of it,
            // or it is one of our workers' groups and subscribes to it (so that a new
            // group's backlog shows before its first commit).
            let owned_topics: BTreeSet<String> = self
                .telemetry
                .members(&gs.group)
                .into_iter()
                .flat_map(|(_, ps)| ps.into_iter().map(|(t, _)| t))
                .collect();
            let subscribed = self
                .opts
                .subscriptions
                .iter()
                .filter(|s| s.group == gs.group)
                .flat_map(|s| s.topics.iter())
                .filter(|t| self.topics.contains_key(t.as_str()));
            let ours: BTreeSet<&str> = owned_topics
                .iter()
                .map(String::as_str)
                .chain(subscribed.map(String::as_str))
                .collect();
            if !self.groups.contains_key(gs.group.as_str()) {
                self.groups.insert(gs.group.clone(), GroupTrack::default());
            }
            let Some(track) = self.groups.get_mut(gs.group.as_str()) else {
                continue;
            };
            let offsets = match &gs.offsets {
                Ok(o) => o,
                Err(e) => {
                    track.freshness = stale_if(Some(e));
                    continue;
                }
            };
            let pass = GroupPass {
                t: sample.taken_ms,
                stamp: self.samples,
                keep: self.opts.points_kept(),
                rate_samples: self.opts.rate_samples,
                history: self.history,
                topics: &self.topics,
                listed: &partitions,
                ours: &ours,
            };
            pass.fold(track, offsets, &mut run);
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
                    + g.windows()
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
    offsets: Option<&TopicOffsets>,
    rate_samples: usize,
) -> (i64, f64) {
    offsets
        .into_iter()
        .flat_map(|o| o.partitions.values())
        .fold((0, 0.0), |(lag, out), o| {
            let l = o.window.back().map_or(0, |p| p.lag());
            (lag + l, out + partition_out_rate(o, rate_samples))
        })
}

/// The sample's record timestamps regrouped by topic (the topic strings are moved, not
/// copied).
fn by_topic(records: BTreeMap<(String, i32, i64), i64>) -> RecordTimes {
    let mut out = RecordTimes::new();
    for ((topic, partition, offset), ms) in records {
        out.entry(topic)
            .or_default()
            .insert((partition, offset), ms);
    }
    out
}

/// The partitions of every topic of the sample, sorted: a group's offsets may list only
/// the partitions it committed on, the others of these have no commit.
fn listed_partitions(sample: &ClusterSample) -> BTreeMap<&str, Vec<i32>> {
    sample
        .topics
        .iter()
        .map(|t| {
            let mut ps: Vec<i32> = t.partitions.iter().map(|p| p.partition).collect();
            ps.sort_unstable();
            ps.dedup();
            (t.topic.as_str(), ps)
        })
        .collect()
}

/// What folding one group's committed offsets needs from the engine, borrowed apart from
/// the group's own track.
struct GroupPass<'a> {
    t: i64,
    /// This ingest's number: marks the topics listed and consumed in it.
    stamp: u64,
    keep: usize,
    rate_samples: usize,
    history: usize,
    topics: &'a BTreeMap<String, TopicTrack>,
    /// The sample's partitions by topic (see [`listed_partitions`]).
    listed: &'a BTreeMap<&'a str, Vec<i32>>,
    /// Topics one of our workers owns part of, or subscribes to: consumed without a commit.
    ours: &'a BTreeSet<&'a str>,
}

/// (partition, committed) of one topic, by partition.
type Run = Vec<(i32, Option<i64>)>;

impl GroupPass<'_> {
    /// Folds the group's offsets topic by topic: the sample's map is ordered by (topic,
    /// partition), so each topic's entries come as one run, looked up once. A partition of
    /// the sample's topics missing from the map has no commit, as if listed with None.
    fn fold<'s>(
        &self,
        track: &mut GroupTrack,
        offsets: &'s BTreeMap<(String, i32), Option<i64>>,
        run: &mut Run,
    ) {
        track.freshness = Freshness::default();
        track.last_read_ms = Some(self.t);
        let mut merged = Run::new();
        let mut topic: Option<&'s str> = None;
        for ((t, p), committed) in offsets {
            if topic != Some(t.as_str()) {
                if let Some(done) = topic {
                    self.fold_run(track, done, run, &mut merged);
                }
                topic = Some(t.as_str());
                run.clear();
            }
            run.push((*p, *committed));
        }
        if let Some(done) = topic {
            self.fold_run(track, done, run, &mut merged);
        }
        run.clear();
        // Ours without an entry: consumed, every listed partition without a commit.
        for topic in self.ours {
            if track
                .topics
                .get(*topic)
                .is_some_and(|h| h.consumed == self.stamp)
            {
                continue;
            }
            self.fold_run(track, topic, run, &mut merged);
        }
        // Windows of topics without an entry are kept while their partitions are listed.
        let listed = self.listed;
        let stamp = self.stamp;
        track.offsets.retain(|topic, o| {
            if o.seen == stamp {
                return true;
            }
            let Some(ps) = listed.get(topic.as_str()) else {
                return false;
            };
            o.partitions.retain(|p, _| ps.binary_search(p).is_ok());
            o.seen = stamp;
            true
        });
        track.topics.retain(|_, h| h.consumed == stamp);
    }

    /// One topic's entries, completed with its other listed partitions (no commit).
    fn fold_run(
        &self,
        track: &mut GroupTrack,
        topic: &str,
        run: &[(i32, Option<i64>)],
        merged: &mut Run,
    ) {
        let consumed = run.iter().any(|(_, c)| c.is_some()) || self.ours.contains(topic);
        if !consumed && !track.offsets.contains_key(topic) {
            // The common case of a group and a topic it does not read: nothing to keep.
            return;
        }
        let listed = self.listed.get(topic).map_or(&[][..], Vec::as_slice);
        if listed.is_empty()
            || (run.len() == listed.len() && run.iter().map(|e| e.0).eq(listed.iter().copied()))
        {
            self.fold_topic(track, topic, run, consumed);
            return;
        }
        merged.clear();
        let (mut i, mut j) = (0, 0);
        while i < run.len() || j < listed.len() {
            let next = match (run.get(i), listed.get(j)) {
                (Some(&(p, c)), Some(&l)) if p == l => {
                    i += 1;
                    j += 1;
                    (p, c)
                }
                (Some(&(p, c)), Some(&l)) if p < l => {
                    i += 1;
                    (p, c)
                }
                (Some(&e), None) => {
                    i += 1;
                    e
                }
                (_, Some(&l)) => {
                    j += 1;
                    (l, None)
                }
                (None, None) => break,
            };
            merged.push(next);
        }
        self.fold_topic(track, topic, merged, consumed);
    }

    /// One topic's run: windows updated when the group consumes the topic, else only those
    /// of partitions no longer listed dropped.
    fn fold_topic(
        &self,
        track: &mut GroupTrack,
        topic: &str,
        run: &[(i32, Option<i64>)],
        consumed: bool,
    ) {
        if !track.offsets.contains_key(topic) {
            if !consumed || run.is_empty() {
                if consumed {
                    self.consumed(track, topic, 0, (0, 0.0));
                }
                return;
            }
            track
                .offsets
                .insert(topic.to_string(), TopicOffsets::default());
        }
        let Some(windows) = track.offsets.get_mut(topic) else {
            return;
        };
        windows.seen = self.stamp;
        if !consumed {
            windows
                .partitions
                .retain(|p, _| run.binary_search_by_key(p, |e| e.0).is_ok());
            return;
        }
        let partitions = self.topics.get(topic).map(|t| &t.partitions);
        let mut negative = 0;
        // The group-topic figures of `group_topic_figures`, summed in the same (partition)
        // order while each window is at hand, instead of a second walk over them all.
        let (mut lag, mut out) = (0, 0.0);
        for &(partition, committed) in run {
            let high = partitions
                .and_then(|ps| ps.get(&partition))
                .map_or(0, |p| p.last.high);
            if partition_lag(high, committed).1 {
                negative += 1;
            }
            let keep = self.keep;
            let ot = windows
                .partitions
                .entry(partition)
                .or_insert_with(|| OffsetTrack {
                    window: VecDeque::with_capacity(keep),
                    last_move_ms: None,
                });
            let previous = ot.window.back().and_then(|p| p.committed);
            if previous.is_some() && previous != committed {
                ot.last_move_ms = Some(self.t);
            }
            push_bounded(
                &mut ot.window,
                CommitPoint {
                    t_ms: self.t,
                    committed,
                    high,
                },
                keep,
            );
            lag += ot.window.back().map_or(0, |p| p.lag());
            out += partition_out_rate(ot, self.rate_samples);
        }
        // Every listed partition now has a window: more means some are no longer listed.
        if windows.partitions.len() != run.len() {
            windows
                .partitions
                .retain(|p, _| run.binary_search_by_key(p, |e| e.0).is_ok());
        }
        self.consumed(track, topic, negative, (lag, out));
    }

    /// Marks the group consuming `topic` in this ingest (its history made if new), counts
    /// its racing samples and pushes its (lag sum, out per second).
    fn consumed(&self, track: &mut GroupTrack, topic: &str, negative: u64, figures: (i64, f64)) {
        if !track.topics.contains_key(topic) {
            track.topics.insert(
                topic.to_string(),
                GroupTopicHistory {
                    lag: Ring::new(self.history),
                    out: Ring::new(self.history),
                    negative: 0,
                    consumed: 0,
                },
            );
        }
        if let Some(h) = track.topics.get_mut(topic) {
            h.consumed = self.stamp;
            h.negative += negative;
            h.lag.push(figures.0 as f64);
            h.out.push(figures.1);
        }
    }
}
