//! `eventdeck status --json`: a dedicated, versioned shape, so that scripts do not depend on
//! the console's snapshot structs. Changes are additive; a breaking one bumps `version`.
//!
//! ```text
//! {
//!   "version": 1,
//!   "taken_ms": 1764454203000,            // when the last sample started, ms since epoch
//!   "cluster": "embedded broker 127.0.0.1:9092",
//!   "cluster_up": true,                   // answering (slow counts as up)
//!   "cluster_slow": "metadata answered in 2.4 s",   // only while it answers late
//!   "errors": ["group x: committed offsets: ..."],   // every stale figure, with its error
//!   "topics": [{
//!     "topic": "platform.messages.created", "messages": 1200, "in_per_sec": 12.5,
//!     "stale": false, "error": null,
//!     "partitions": [{"partition": 0, "leader": 111, "low": 0, "high": 400,
//!                     "in_per_sec": 4.2}]
//!   }],
//!   "groups": [{
//!     "group": "search-indexer",
//!     "state": "Stable",                  // the broker's group state; null if not described
//!     "status": "WARN",     // OK | UNKNOWN | WARN | REWIND | STALL | STOP | ERR (worst of
//!                           // its topics and problems)
//!     "reason": "platform.messages.created: lag grew in 9 of 9 samples, never shrank (10 → 600)",
//!     "problems": [{"kind": "no_partitions", "worker": "notifier", "status": "WARN",
//!                   "reason": "notifier has no partitions for 25 s (topics have 6)"}],
//!     "rebalances": 2, "last_rebalance_ms": 1764454190000, "generation": null,
//!     "stale": false, "error": null,
//!     "members": [{"member": "indexer", "client_id": "eventdeck-indexer",
//!                  "host": "this process", "ours": true,
//!                  "assignments": [{"topic": "platform.messages.created", "partition": 0}]}],
//!     "topics": [{
//!       "topic": "platform.messages.created",
//!       "lag": 600, "lag_max": 200,      // over partitions with a commit; null: none has one
//!       "partitions_without_commit": 1,  // their lag is unknown…
//!       "backlog_without_commit": 1200,  // …and this many records wait on them (high − low)
//!       "lag_seconds": 4.3, "lag_seconds_estimated": false,   // null: unknown
//!       "out_per_sec": 10.0,
//!       "status": "WARN", "reason": "lag grew in 9 of 9 samples, never shrank (10 → 600)",
//!       "negative_lag_samples": 0,
//!       "partitions": [{"partition": 0, "high": 1200, "committed": 1000, "lag": 200,
//!                       "owner": "indexer", "status": "WARN"}]
//!                       // no commit: committed and lag null, never 0
//!     }]
//!   }],
//!   // the workers of the eventdeck running on this data directory, when one runs:
//!   "workers": [{"worker": "indexer", "state": "backing off", "attempt": 4,
//!                "error": "search unavailable: … Connection refused (os error 111)",
//!                "processed": 12000, "errors": 4, "last_error": "…"}]
//! }
//! ```

use serde::{Deserialize, Serialize};

use super::snapshot::{Health, Snapshot};

pub const REPORT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub version: u32,
    pub taken_ms: i64,
    pub cluster: String,
    /// Up, or slow: answering.
    pub cluster_up: bool,
    /// Why the cluster counts as slow ("metadata answered in 2.4 s"); absent when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_slow: Option<String>,
    pub errors: Vec<String>,
    pub topics: Vec<TopicReport>,
    pub groups: Vec<GroupReport>,
    /// The write model's outbox, when the process has a store (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox: Option<OutboxReport>,
    /// The analytics worker's counters over the last hour, from the eventdeck running on the
    /// data directory when it runs that worker (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics: Option<crate::analytics::AnalyticsSummary>,
    /// The workers of the eventdeck running on the data directory, as each last reported
    /// (absent when none runs there).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<WorkerReport>,
}

/// `"workers": [{"worker", "state", "attempt", "error", "processed", "errors",
/// "last_error"}]`: `state` is running, starting, backing off, failed, paused or stopped;
/// `error` says why while it is backing off or failed, `attempt` counts the retries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerReport {
    pub worker: String,
    pub state: String,
    pub attempt: Option<u32>,
    pub error: Option<String>,
    pub processed: u64,
    pub errors: u64,
    pub last_error: Option<String>,
}

impl WorkerReport {
    pub fn from_status(w: &super::snapshot::WorkerStatus) -> Self {
        WorkerReport {
            worker: w.name.clone(),
            state: w.state.word().to_string(),
            attempt: match &w.state {
                crate::ops::WorkerState::BackingOff { attempt, .. } => Some(*attempt),
                _ => None,
            },
            error: w.state.error().map(str::to_string),
            processed: w.processed,
            errors: w.errors,
            last_error: w.last_error.clone(),
        }
    }
}

/// `"outbox": {"store", "rows", "oldest_age_seconds", "error"}`: what waits for the relay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxReport {
    pub store: String,
    pub rows: Option<u64>,
    pub oldest_age_seconds: Option<f64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicReport {
    pub topic: String,
    pub messages: i64,
    pub in_per_sec: f64,
    pub stale: bool,
    pub error: Option<String>,
    pub partitions: Vec<TopicPartitionReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicPartitionReport {
    pub partition: i32,
    pub leader: Option<i32>,
    pub low: i64,
    pub high: i64,
    pub in_per_sec: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupReport {
    pub group: String,
    pub state: Option<String>,
    pub status: String,
    pub rebalances: u64,
    pub last_rebalance_ms: Option<i64>,
    pub generation: Option<i32>,
    pub stale: bool,
    pub error: Option<String>,
    pub members: Vec<MemberReport>,
    pub topics: Vec<GroupTopicReport>,
    /// The status in words. Fields added after the first shape default when absent, so
    /// that older output still parses.
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub problems: Vec<ProblemReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProblemReport {
    pub kind: String,
    pub worker: String,
    pub status: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberReport {
    pub member: String,
    pub client_id: String,
    pub host: String,
    pub ours: bool,
    pub assignments: Vec<AssignmentReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssignmentReport {
    pub topic: String,
    pub partition: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupTopicReport {
    pub topic: String,
    /// Over the partitions with a committed offset; None when none has one.
    pub lag: Option<i64>,
    pub lag_max: Option<i64>,
    #[serde(default)]
    pub partitions_without_commit: usize,
    #[serde(default)]
    pub backlog_without_commit: i64,
    pub lag_seconds: Option<f64>,
    pub lag_seconds_estimated: bool,
    pub out_per_sec: f64,
    pub status: String,
    pub reason: String,
    pub negative_lag_samples: u64,
    pub partitions: Vec<PartitionLagReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionLagReport {
    pub partition: i32,
    pub high: i64,
    pub committed: Option<i64>,
    /// None without a committed offset: unknown, never 0.
    pub lag: Option<i64>,
    pub owner: Option<String>,
    pub status: String,
}

impl StatusReport {
    pub fn from_snapshot(s: &Snapshot) -> Self {
        let mut errors = Vec::new();
        if let Health::Down(e) = &s.cluster_health {
            errors.push(format!("cluster: {e}"));
        }
        for t in &s.topics {
            if let Some(e) = &t.freshness.error {
                errors.push(format!("topic {}: {e}", t.topic));
            }
        }
        for g in &s.groups {
            if let Some(e) = &g.freshness.error {
                errors.push(format!("group {}: {e}", g.group));
            }
        }
        if let Some(e) = s.outbox.as_ref().and_then(|o| o.error.as_ref()) {
            errors.push(format!("outbox: {e}"));
        }
        for w in &s.workers {
            if let Some(e) = w.state.error() {
                errors.push(format!("worker {}: {}: {e}", w.name, w.state.word()));
            }
        }
        StatusReport {
            version: REPORT_VERSION,
            taken_ms: s.taken_ms,
            cluster: s.cluster.clone(),
            cluster_up: s.cluster_health.is_up(),
            cluster_slow: match &s.cluster_health {
                Health::Slow(why) => Some(why.clone()),
                _ => None,
            },
            errors,
            topics: s
                .topics
                .iter()
                .map(|t| TopicReport {
                    topic: t.topic.clone(),
                    messages: t.messages,
                    in_per_sec: round2(t.in_per_sec),
                    stale: t.freshness.stale,
                    error: t.freshness.error.clone(),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| TopicPartitionReport {
                            partition: p.partition,
                            leader: p.leader,
                            low: p.low,
                            high: p.high,
                            in_per_sec: round2(p.in_per_sec),
                        })
                        .collect(),
                })
                .collect(),
            groups: s.groups.iter().map(group).collect(),
            outbox: s.outbox.as_ref().map(|o| OutboxReport {
                store: o.store.clone(),
                rows: o.rows,
                oldest_age_seconds: o.oldest_age_ms.map(|ms| ms as f64 / 1000.0),
                error: o.error.clone(),
            }),
            analytics: s.analytics.clone(),
            workers: s.workers.iter().map(WorkerReport::from_status).collect(),
        }
    }
}

fn group(g: &super::snapshot::GroupStats) -> GroupReport {
    GroupReport {
        group: g.group.clone(),
        state: g.state.clone(),
        status: g.status.label().to_string(),
        rebalances: g.rebalances,
        last_rebalance_ms: g.last_rebalance_ms,
        generation: g.generation,
        stale: g.freshness.stale,
        error: g.freshness.error.clone(),
        reason: g.reason.clone(),
        problems: g
            .problems
            .iter()
            .map(|p| ProblemReport {
                kind: p.kind.clone(),
                worker: p.worker.clone(),
                status: p.status.label().to_string(),
                reason: p.reason.clone(),
            })
            .collect(),
        members: g
            .members
            .iter()
            .map(|m| MemberReport {
                member: m.member.clone(),
                client_id: m.client_id.clone(),
                host: m.host.clone(),
                ours: m.ours,
                assignments: m
                    .assignments
                    .iter()
                    .map(|(topic, partition)| AssignmentReport {
                        topic: topic.clone(),
                        partition: *partition,
                    })
                    .collect(),
            })
            .collect(),
        topics: g
            .topics
            .iter()
            .map(|t| GroupTopicReport {
                topic: t.topic.clone(),
                lag: t.lag_figures().map(|(sum, _)| sum),
                lag_max: t.lag_figures().map(|(_, max)| max),
                partitions_without_commit: t.partitions_without_commit,
                backlog_without_commit: t.backlog_without_commit,
                lag_seconds: t.lag_seconds.map(round2),
                lag_seconds_estimated: t.lag_seconds_estimated,
                out_per_sec: round2(t.out_per_sec),
                status: t.status.label().to_string(),
                reason: t.reason.clone(),
                negative_lag_samples: t.negative_lag_samples,
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| PartitionLagReport {
                        partition: p.partition,
                        high: p.high,
                        committed: p.committed,
                        lag: p.lag_figure(),
                        owner: p.owner.clone(),
                        status: p.status.label().to_string(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Rates and seconds to two decimals: more is noise, and it keeps the JSON readable.
fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::snapshot::{
        Freshness, GroupProblem, GroupStats, GroupTopicLag, LagStatus, MemberInfo, PartitionLag,
    };

    #[test]
    fn the_shape_is_stable() {
        let mut s = Snapshot::empty("kafka k:9092", "none");
        s.taken_ms = 42;
        s.cluster_health = Health::Up;
        s.groups.push(GroupStats {
            group: "g".into(),
            status: LagStatus::Warn,
            reason: "t: lag grew".into(),
            members: vec![MemberInfo {
                member: "indexer".into(),
                client_id: "eventdeck-indexer".into(),
                host: "this process".into(),
                assignments: vec![("t".into(), 0)],
                ours: true,
            }],
            topics: vec![GroupTopicLag {
                topic: "t".into(),
                lag_sum: 5,
                lag_max: 5,
                lag_seconds: Some(1.23456),
                out_per_sec: 2.0 / 3.0,
                status: LagStatus::Warn,
                reason: "lag grew".into(),
                partitions: vec![PartitionLag {
                    partition: 0,
                    high: 10,
                    committed: Some(5),
                    lag: 5,
                    owner: Some("indexer".into()),
                    status: LagStatus::Warn,
                }],
                ..GroupTopicLag::default()
            }],
            freshness: Freshness {
                stale: true,
                error: Some("describe groups: timed out".into()),
            },
            ..GroupStats::default()
        });
        let v = serde_json::to_value(StatusReport::from_snapshot(&s)).expect("json");
        // In two parts: one json! of it all exceeds the macro recursion limit.
        let topic = serde_json::json!({"topic": "t", "lag": 5, "lag_max": 5,
            "partitions_without_commit": 0, "backlog_without_commit": 0,
            "lag_seconds": 1.23,
            "lag_seconds_estimated": false, "out_per_sec": 0.67, "status": "WARN",
            "reason": "lag grew", "negative_lag_samples": 0,
            "partitions": [{"partition": 0, "high": 10, "committed": 5, "lag": 5,
                "owner": "indexer", "status": "WARN"}]});
        let expected = serde_json::json!({
            "version": 1, "taken_ms": 42, "cluster": "kafka k:9092", "cluster_up": true,
            "errors": ["group g: describe groups: timed out"],
            "topics": [],
            "groups": [{
                "group": "g", "state": null, "status": "WARN", "reason": "t: lag grew",
                "problems": [], "rebalances": 0,
                "last_rebalance_ms": null, "generation": null,
                "stale": true, "error": "describe groups: timed out",
                "members": [{"member": "indexer", "client_id": "eventdeck-indexer",
                    "host": "this process", "ours": true,
                    "assignments": [{"topic": "t", "partition": 0}]}],
                "topics": [topic]
            }]
        });
        assert_eq!(v, expected);
        // And it reads back.
        let back: StatusReport = serde_json::from_value(v).expect("parse");
        assert_eq!(back.groups[0].topics[0].partitions[0].committed, Some(5));
    }

    #[test]
    fn no_commit_is_a_null_lag_with_the_backlog_apart_never_zero() {
        let mut s = Snapshot::empty("kafka k:9092", "none");
        let no_commit = |partition| PartitionLag {
            partition,
            high: 600,
            committed: None,
            status: LagStatus::Unknown,
            ..PartitionLag::default()
        };
        s.groups.push(GroupStats {
            group: "new".into(),
            status: LagStatus::Unknown,
            topics: vec![GroupTopicLag {
                topic: "t".into(),
                status: LagStatus::Unknown,
                partitions: vec![no_commit(0), no_commit(1)],
                partitions_without_commit: 2,
                backlog_without_commit: 1_200,
                ..GroupTopicLag::default()
            }],
            problems: vec![GroupProblem {
                kind: "no_partitions".into(),
                worker: "indexer".into(),
                status: LagStatus::Warn,
                reason: "indexer has no partitions for 25 s (topics have 2)".into(),
            }],
            ..GroupStats::default()
        });
        let v = serde_json::to_value(StatusReport::from_snapshot(&s)).expect("json");
        let g = &v["groups"][0];
        assert_eq!(g["status"], "UNKNOWN");
        assert_eq!(
            g["problems"],
            serde_json::json!([{"kind": "no_partitions", "worker": "indexer", "status": "WARN",
                "reason": "indexer has no partitions for 25 s (topics have 2)"}])
        );
        let t = &g["topics"][0];
        assert_eq!(t["lag"], serde_json::Value::Null);
        assert_eq!(t["lag_max"], serde_json::Value::Null);
        assert_eq!(t["partitions_without_commit"], 2);
        assert_eq!(t["backlog_without_commit"], 1_200);
        assert_eq!(t["partitions"][0]["lag"], serde_json::Value::Null);
        assert_eq!(t["partitions"][0]["committed"], serde_json::Value::Null);
        assert_eq!(t["partitions"][0]["status"], "UNKNOWN");
        // One partition with a commit: the known lag is summed, the other stays apart.
        let gt = &mut s.groups[0].topics[0];
        gt.partitions[0].committed = Some(550);
        gt.partitions[0].lag = 50;
        gt.lag_sum = 50;
        gt.lag_max = 50;
        gt.partitions_without_commit = 1;
        let r = StatusReport::from_snapshot(&s);
        let rt = &r.groups[0].topics[0];
        assert_eq!((rt.lag, rt.lag_max), (Some(50), Some(50)));
        assert_eq!(rt.partitions[0].lag, Some(50));
        assert_eq!(rt.partitions[1].lag, None);
    }

    #[test]
    fn output_of_the_first_shape_still_parses() {
        let old = serde_json::json!({"group": "g", "state": null, "status": "OK",
            "rebalances": 0, "last_rebalance_ms": null, "generation": null, "stale": false,
            "error": null, "members": [],
            "topics": [{"topic": "t", "lag": 0, "lag_max": 0, "lag_seconds": 0.0,
                "lag_seconds_estimated": false, "out_per_sec": 0.0, "status": "OK",
                "reason": "caught up", "negative_lag_samples": 0, "partitions": []}]});
        let g: GroupReport = serde_json::from_value(old).expect("parse");
        assert_eq!(g.topics[0].lag, Some(0));
        assert!(g.problems.is_empty());
    }

    #[test]
    fn a_down_cluster_is_reported_as_an_error() {
        let mut s = Snapshot::empty("kafka k:9092", "none");
        s.cluster_health = Health::Down("metadata: timed out".into());
        let r = StatusReport::from_snapshot(&s);
        assert!(!r.cluster_up);
        assert_eq!(r.errors, ["cluster: metadata: timed out"]);
    }

    #[test]
    fn a_slow_cluster_is_up_with_a_reason_and_no_error() {
        let mut s = Snapshot::empty("kafka k:9092", "none");
        s.cluster_health = crate::monitor::snapshot::cluster_health(None, Some(2_400));
        let r = StatusReport::from_snapshot(&s);
        assert!(r.cluster_up);
        assert_eq!(
            r.cluster_slow.as_deref(),
            Some("metadata answered in 2.4 s")
        );
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(json["cluster_slow"], "metadata answered in 2.4 s");
        s.cluster_health = Health::Up;
        let fine = serde_json::to_value(StatusReport::from_snapshot(&s)).expect("json");
        assert!(fine.get("cluster_slow").is_none(), "{fine}");
    }
}
