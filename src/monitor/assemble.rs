//! Evaluates the engine's windows into a [`Snapshot`]: per-partition lag and status, the
//! group-topic sums, time lag, rates, members merged from the broker and our workers.

use std::collections::BTreeMap;

use super::engine::{group_topic_figures, partition_in_rate, topic_in_rate, Engine, GroupTrack};
use super::lag::{lag_seconds, sum_max, Behind};
use super::rates::newest;
use super::snapshot::{
    Freshness, GroupStats, GroupTopicLag, LagStatus, MemberInfo, PartitionLag, PartitionStats,
    Snapshot, TopicStats,
};
use super::status::{evaluate, worst, CommitPoint, Owner};

impl Engine {
    pub fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::empty(&self.cluster, &self.search);
        s.taken_ms = self.taken_ms;
        s.cluster_health = self.cluster_health.clone();
        s.search_health = self.search_health.clone();
        s.indexed_messages = self.indexed;
        s.workers = self.telemetry.workers();
        s.totals = self.telemetry.totals.clone();
        s.notifications = self.telemetry.notifications();
        s.topics = self.topic_stats();
        s.groups = self
            .groups
            .iter()
            .map(|(name, track)| self.group_stats(name, track))
            .collect();
        s
    }

    fn topic_stats(&self) -> Vec<TopicStats> {
        let n = self.opts.rate_samples;
        self.topics
            .iter()
            .map(|(name, t)| {
                let partitions: Vec<PartitionStats> = t
                    .partitions
                    .values()
                    .map(|p| PartitionStats {
                        partition: p.last.partition,
                        leader: p.last.leader,
                        low: p.last.low,
                        high: p.last.high,
                        in_per_sec: partition_in_rate(p, n),
                    })
                    .collect();
                TopicStats {
                    topic: name.clone(),
                    messages: partitions.iter().map(|p| (p.high - p.low).max(0)).sum(),
                    in_per_sec: topic_in_rate(t, n),
                    partitions,
                    in_history: t.in_history.to_vec(),
                    freshness: t.freshness.clone(),
                }
            })
            .collect()
    }

    /// Members from the broker's description (a real cluster) and from our workers' own
    /// rebalance callbacks; a broker member whose client id is one of our workers' is ours.
    fn members(&self, group: &str) -> (Vec<MemberInfo>, bool) {
        let described = self.described.get(group);
        let mut members: Vec<MemberInfo> = described.map(|d| d.members.clone()).unwrap_or_default();
        let ours = self.telemetry.members(group);
        for (worker, assignments) in &ours {
            let client_id = format!("{}-{worker}", self.client_id_prefix());
            match members.iter_mut().find(|m| m.client_id == client_id) {
                Some(m) => {
                    m.ours = true;
                    if m.assignments.is_empty() {
                        m.assignments = assignments.clone();
                    }
                }
                None => members.push(MemberInfo {
                    member: worker.clone(),
                    client_id,
                    host: "this process".into(),
                    assignments: assignments.clone(),
                    ours: true,
                }),
            }
        }
        // Ownership is known when the broker described the group or the group is ours.
        let known = described.is_some() || self.telemetry.groups().any(|g| g == group);
        (members, known)
    }

    fn client_id_prefix(&self) -> &str {
        &self.opts.client_id
    }

    fn group_stats(&self, name: &str, track: &GroupTrack) -> GroupStats {
        let (members, known) = self.members(name);
        let mut owners: BTreeMap<(&str, i32), String> = BTreeMap::new();
        for m in &members {
            let who = if m.ours { &m.member } else { &m.client_id };
            for (t, p) in &m.assignments {
                owners.insert((t.as_str(), *p), who.clone());
            }
        }
        let unreadable = self.unreadable(track);
        let topics: Vec<GroupTopicLag> = track
            .topics
            .iter()
            .map(|(topic, history)| {
                let owner_of = |p: i32| match owners.get(&(topic.as_str(), p)) {
                    Some(o) => Owner::Member(o.clone()),
                    None if known => Owner::Nobody,
                    None => Owner::Unknown,
                };
                let judged: Vec<(PartitionLag, String)> = track
                    .offsets
                    .iter()
                    .filter(|((t, _), _)| t == topic)
                    .map(|((_, p), o)| {
                        let window: Vec<CommitPoint> =
                            newest(&o.window, self.opts.window).collect();
                        let last = window.last().copied();
                        let verdict = match &unreadable {
                            Some(reason) => super::status::Verdict {
                                status: LagStatus::Err,
                                reason: reason.clone(),
                            },
                            None => {
                                evaluate(&window, &owner_of(*p), o.last_move_ms, self.opts.window)
                            }
                        };
                        let lag = PartitionLag {
                            partition: *p,
                            high: last.map_or(0, |l| l.high),
                            committed: last.and_then(|l| l.committed),
                            lag: last.map_or(0, |l| l.lag()),
                            owner: owners.get(&(topic.as_str(), *p)).cloned(),
                            status: verdict.status,
                        };
                        (lag, verdict.reason)
                    })
                    .collect();
                let (status, reason) = summarize(&judged);
                let partitions: Vec<PartitionLag> = judged.into_iter().map(|(p, _)| p).collect();
                let (lag_sum, lag_max) = sum_max(partitions.iter().map(|p| p.lag));
                let (_, out) = group_topic_figures(&track.offsets, topic, self.opts.rate_samples);
                let behind: Vec<Behind> = partitions
                    .iter()
                    .map(|p| Behind {
                        lag: p.lag,
                        record_ms: p.committed.and_then(|c| {
                            self.record_ms
                                .get(&(topic.clone(), p.partition, c))
                                .copied()
                        }),
                    })
                    .collect();
                let (lag_seconds, estimated) = lag_seconds(self.taken_ms, &behind, out);
                GroupTopicLag {
                    topic: topic.clone(),
                    lag_sum,
                    lag_max,
                    lag_seconds,
                    lag_seconds_estimated: estimated,
                    out_per_sec: out,
                    status,
                    reason,
                    partitions,
                    lag_history: history.lag.to_vec(),
                    negative_lag_samples: history.negative,
                }
            })
            .collect();
        let mut status = worst(topics.iter().map(|t| t.status));
        if unreadable.is_some() {
            status = LagStatus::Err;
        }
        let rebalances = self.rebalances.get(name).cloned().unwrap_or_default();
        GroupStats {
            group: name.to_string(),
            state: self.described.get(name).map(|d| d.state.clone()),
            members,
            topics,
            status,
            rebalances: rebalances.count,
            last_rebalance_ms: rebalances.last_ms,
            generation: None,
            freshness: self.group_freshness(track),
        }
    }

    /// A group whose offsets could not be read for longer than the status window is ERR;
    /// a shorter gap only marks the figures stale.
    fn unreadable(&self, track: &GroupTrack) -> Option<String> {
        let error = track.freshness.error.as_ref()?;
        let span = self.opts.interval_ms() * self.opts.window as i64;
        match track.last_read_ms {
            Some(t) if self.taken_ms - t <= span => None,
            Some(t) => Some(format!(
                "offsets unreadable for {} s: {error}",
                (self.taken_ms - t) / 1000
            )),
            None => Some(format!("offsets unreadable: {error}")),
        }
    }

    fn group_freshness(&self, track: &GroupTrack) -> Freshness {
        if track.freshness.stale || !self.described_freshness.stale {
            return track.freshness.clone();
        }
        self.described_freshness.clone()
    }
}

/// The worst partition's status, and its reason (prefixed with the partition when the
/// partitions' reasons differ).
fn summarize(partitions: &[(PartitionLag, String)]) -> (LagStatus, String) {
    let Some((w, why)) = partitions
        .iter()
        .max_by_key(|(p, _)| (p.status, p.lag, -p.partition))
    else {
        return (LagStatus::Ok, "no partitions".into());
    };
    if partitions.iter().all(|(_, r)| r == why) {
        return (w.status, why.clone());
    }
    let same = partitions
        .iter()
        .filter(|(p, _)| p.status == w.status)
        .count();
    let more = if same > 1 && w.status != LagStatus::Ok {
        format!(" (and {} more partitions {})", same - 1, w.status.label())
    } else {
        String::new()
    };
    (w.status, format!("partition {}: {why}{more}", w.partition))
}
