//! Evaluates the engine's windows into a [`Snapshot`]: per-partition lag and status, the
//! group-topic sums, time lag, rates, members merged from the broker and our workers.

use std::collections::BTreeMap;

use super::engine::{group_topic_figures, partition_in_rate, topic_in_rate, Engine, GroupTrack};
use super::lag::{lag_seconds, sum_max, Behind};
use super::problems::{no_partitions, AssignmentFacts};
use super::rates::newest;
use super::snapshot::{
    Freshness, GroupProblem, GroupStats, GroupTopicLag, LagStatus, MemberInfo, PartitionLag,
    PartitionStats, Snapshot, TopicStats,
};
use super::status::{evaluate, CommitPoint, Facts, Owner, Verdict};
use super::table::thousands;

impl Engine {
    pub fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::empty(&self.cluster, &self.search);
        s.taken_ms = self.taken_ms;
        s.cluster_health = self.cluster_health.clone();
        s.search_health = self.search_health.clone();
        s.indexed_messages = self.indexed;
        s.outbox = self.outbox.clone();
        s.cqrs = self.cqrs.clone();
        s.analytics = self.analytics.clone();
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
                    config: self.topic_configs.get(name).cloned(),
                    internal: super::snapshot::is_internal_topic(name),
                }
            })
            .collect()
    }

    /// Members from the broker's description (a real cluster) and from our workers' own
    /// rebalance callbacks; a broker member whose client id is one of our workers' is ours.
    fn members(&self, group: &str) -> (Vec<MemberInfo>, bool) {
        let described = self.described.get(group);
        let mut members: Vec<MemberInfo> = described.map(|d| d.members.clone()).unwrap_or_default();
        // A member with one of our workers' client ids, described before that worker of ours
        // stopped and left, is stale: the description is read only every few seconds, our
        // worker's own report is newer (until then a stopped indexer looked like an owner,
        // and its lag like consuming).
        let prefix = format!("{}-", self.client_id_prefix());
        members.retain(|m| {
            m.client_id
                .strip_prefix(&prefix)
                .and_then(|worker| self.telemetry.left_at(worker))
                .is_none_or(|left| left <= self.described_at)
        });
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
        let rules = self.opts.rules();
        let mut window: Vec<CommitPoint> = Vec::with_capacity(self.opts.window);
        let mut topics: Vec<GroupTopicLag> = track
            .topics
            .iter()
            .map(|(topic, history)| {
                let owner_of = |p: i32| match owners.get(&(topic.as_str(), p)) {
                    Some(o) => Owner::Member(o.clone()),
                    None if known => Owner::Nobody,
                    None => Owner::Unknown,
                };
                let watermarks = self.topics.get(topic.as_str()).map(|t| &t.partitions);
                let records = self.record_ms.get(topic.as_str());
                let judged: Vec<(PartitionLag, String, i64)> = track
                    .offsets
                    .get(topic.as_str())
                    .into_iter()
                    .flat_map(|o| o.partitions.iter())
                    .map(|(p, o)| {
                        // One buffer for every partition's window, not one Vec each.
                        window.clear();
                        window.extend(newest(&o.window, self.opts.window));
                        let last = window.last().copied();
                        let committed = last.and_then(|l| l.committed);
                        let backlog = watermarks
                            .and_then(|w| w.get(p))
                            .map_or(0, |w| (w.last.high - w.last.low).max(0));
                        let verdict = match &unreadable {
                            Some(reason) => Verdict::new(LagStatus::Err, reason.clone()),
                            None => {
                                let facts = Facts {
                                    window: &window,
                                    owner: &owner_of(*p),
                                    last_move_ms: o.last_move_ms,
                                    time_lag_s: committed
                                        .and_then(|c| self.record_age_s(records, *p, c)),
                                    backlog,
                                };
                                evaluate(&facts, &rules)
                            }
                        };
                        let lag = PartitionLag {
                            partition: *p,
                            high: last.map_or(0, |l| l.high),
                            committed,
                            lag: last.map_or(0, |l| l.lag()),
                            owner: owners.get(&(topic.as_str(), *p)).cloned(),
                            status: verdict.status,
                        };
                        (lag, verdict.reason, backlog)
                    })
                    .collect();
                let without_commit: Vec<i64> = judged
                    .iter()
                    .filter(|(p, _, _)| p.committed.is_none())
                    .map(|(_, _, backlog)| *backlog)
                    .collect();
                let judged: Vec<(PartitionLag, String)> =
                    judged.into_iter().map(|(p, r, _)| (p, r)).collect();
                let (status, mut reason) = summarize(&judged);
                let no_commit_only = judged
                    .iter()
                    .filter(|(p, _)| p.status == status)
                    .all(|(p, _)| p.committed.is_none());
                if status == LagStatus::Unknown && no_commit_only {
                    // In one phrase rather than partition by partition.
                    let n = without_commit.len();
                    reason = format!(
                        "unknown: {n} {} without a commit, backlog {}",
                        if n == 1 { "partition" } else { "partitions" },
                        thousands(without_commit.iter().sum::<i64>())
                    );
                }
                let partitions: Vec<PartitionLag> = judged.into_iter().map(|(p, _)| p).collect();
                let (lag_sum, lag_max) = sum_max(partitions.iter().filter_map(|p| p.lag_figure()));
                // The figure the last ingest pushed: nothing changed the windows since.
                let out = history.out.last().unwrap_or_else(|| {
                    group_topic_figures(track.offsets.get(topic.as_str()), self.opts.rate_samples).1
                });
                let behind: Vec<Behind> = partitions
                    .iter()
                    .map(|p| Behind {
                        lag: p.lag,
                        record_ms: p
                            .committed
                            .and_then(|c| records.and_then(|r| r.get(&(p.partition, c))).copied()),
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
                    partitions_without_commit: without_commit.len(),
                    backlog_without_commit: without_commit.iter().sum(),
                }
            })
            .collect();
        let problems = self.problems(name, track, &members);
        for (problem, on) in &problems {
            for t in topics.iter_mut().filter(|t| on.contains(&t.topic)) {
                if problem.status >= t.status {
                    t.status = problem.status;
                    t.reason = problem.reason.clone();
                }
            }
        }
        let problems: Vec<GroupProblem> = problems.into_iter().map(|(p, _)| p).collect();
        let (status, reason) = match &unreadable {
            Some(why) => (LagStatus::Err, why.clone()),
            None => group_verdict(&topics, &problems),
        };
        let rebalances = self.rebalances.get(name).cloned().unwrap_or_default();
        GroupStats {
            group: name.to_string(),
            state: self.described.get(name).map(|d| d.state.clone()),
            members,
            topics,
            status,
            reason,
            problems,
            rebalances: rebalances.count,
            last_rebalance_ms: rebalances.last_ms,
            generation: None,
            freshness: self.group_freshness(track),
        }
    }

    /// Seconds since the record at (partition, offset) of a topic whose record times are
    /// `records` was written, when it was read.
    fn record_age_s(
        &self,
        records: Option<&BTreeMap<(i32, i64), i64>>,
        partition: i32,
        offset: i64,
    ) -> Option<f64> {
        let ts = records?.get(&(partition, offset))?;
        Some((self.taken_ms - ts).max(0) as f64 / 1000.0)
    }

    /// Our workers in the group that own nothing while nobody else consumes (see
    /// [`no_partitions`]), each with the topics it concerns.
    fn problems(
        &self,
        name: &str,
        track: &GroupTrack,
        members: &[MemberInfo],
    ) -> Vec<(GroupProblem, Vec<String>)> {
        let mut workers: BTreeMap<String, Vec<String>> = self
            .opts
            .subscriptions
            .iter()
            .filter(|s| s.group == name)
            .map(|s| (s.worker.clone(), s.topics.clone()))
            .collect();
        for (worker, _) in self.telemetry.members(name) {
            workers
                .entry(worker)
                .or_insert_with(|| track.topics.keys().cloned().collect());
        }
        let bound = self.opts.unassigned_after_ms();
        let committed_lately = track
            .windows()
            .any(|o| o.last_move_ms.is_some_and(|t| self.taken_ms - t <= bound));
        let mut out = Vec::new();
        for (worker, topics) in workers {
            let Some(since) = self.telemetry.unassigned_since(name, &worker) else {
                continue;
            };
            let client_id = format!("{}-{worker}", self.client_id_prefix());
            let other_member = members
                .iter()
                .filter(|m| m.client_id != client_id)
                .any(|m| !m.ours || !m.assignments.is_empty());
            let facts = AssignmentFacts {
                worker: &worker,
                empty_for_ms: Some((self.taken_ms - since).max(0)),
                topic_partitions: topics
                    .iter()
                    .filter_map(|t| self.topics.get(t))
                    .map(|t| t.partitions.len())
                    .sum(),
                other_live_member: other_member || committed_lately,
            };
            if let Some(v) = no_partitions(&facts, bound) {
                let problem = GroupProblem {
                    kind: "no_partitions".into(),
                    worker: worker.clone(),
                    status: v.status,
                    reason: v.reason,
                };
                out.push((problem, topics));
            }
        }
        out
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

/// The group's status and reason: its worst topic or problem (a problem wins a tie: it says
/// more). A group with neither has no committed offset on the watched topics: nothing is
/// known about it, which is not OK.
fn group_verdict(topics: &[GroupTopicLag], problems: &[GroupProblem]) -> (LagStatus, String) {
    let topic = topics.iter().fold(None::<&GroupTopicLag>, |w, t| match w {
        Some(w) if w.status >= t.status => Some(w),
        _ => Some(t),
    });
    let problem = problems.iter().fold(None::<&GroupProblem>, |w, p| match w {
        Some(w) if w.status >= p.status => Some(w),
        _ => Some(p),
    });
    match (topic, problem) {
        (_, Some(p)) if topic.is_none_or(|t| p.status >= t.status) => (p.status, p.reason.clone()),
        (Some(t), _) if t.status == LagStatus::Ok && topics.len() > 1 => {
            (LagStatus::Ok, format!("{} topics OK", topics.len()))
        }
        (Some(t), _) => (t.status, format!("{}: {}", t.topic, t.reason)),
        (None, _) => (
            LagStatus::Unknown,
            "no committed offsets on the watched topics".into(),
        ),
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
