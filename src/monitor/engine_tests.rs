//! The engine driven with synthetic samples: rates, lag, status, staleness, members.

use std::collections::BTreeMap;
use std::time::Duration;

use super::options::Subscription;
use super::sample::{ClusterSample, GroupSample, PartitionSample, TopicSample};
use super::snapshot::{GroupStats, Health, LagStatus};
use super::{Engine, MonitorOptions};
use crate::config::Config;
use crate::ops::WorkerId;
use crate::workers::report::{WorkerEvent, WorkerState};

fn options() -> MonitorOptions {
    let mut o = MonitorOptions::from_config(&Config::default());
    o.interval = Duration::from_secs(1);
    o.groups = vec!["g".into()];
    o
}

fn engine() -> Engine {
    Engine::new(options(), "kafka test:9092", "local index")
}

/// One sample at second `s`: topic "t" with the given high watermarks, group "g" with the
/// given committed offsets (an empty list: the group has no commits).
fn sample(s: i64, highs: &[i64], committed: &[Option<i64>]) -> ClusterSample {
    let partitions = highs
        .iter()
        .enumerate()
        .map(|(p, h)| PartitionSample {
            partition: p as i32,
            leader: Some(1),
            low: 0,
            high: *h,
        })
        .collect();
    let offsets: BTreeMap<(String, i32), Option<i64>> = (0..highs.len())
        .map(|p| {
            (
                ("t".to_string(), p as i32),
                committed.get(p).copied().flatten(),
            )
        })
        .collect();
    ClusterSample {
        taken_ms: 1_000_000 + s * 1000,
        topics: vec![TopicSample {
            topic: "t".into(),
            partitions,
            error: None,
        }],
        groups: vec![GroupSample {
            group: "g".into(),
            offsets: Ok(offsets),
        }],
        ..ClusterSample::default()
    }
}

fn group(e: &Engine) -> GroupStats {
    e.snapshot()
        .groups
        .into_iter()
        .find(|g| g.group == "g")
        .expect("group g")
}

fn assign(e: &mut Engine, worker: &str, partitions: &[i32], at: i64) {
    e.fold_event(
        WorkerEvent::Assigned {
            worker: worker.parse().expect("a worker name"),
            group: "g".into(),
            partitions: partitions.iter().map(|p| ("t".to_string(), *p)).collect(),
        },
        at,
    );
}

#[test]
fn rates_lag_and_history_from_a_steady_flow() {
    let mut e = engine();
    for s in 0..6 {
        // Each partition: +100/s in, +40/s committed.
        e.ingest(sample(
            s,
            &[100 * s, 100 * s],
            &[Some(40 * s), Some(40 * s)],
        ));
    }
    let snap = e.snapshot();
    assert_eq!(snap.cluster_health, Health::Up);
    let t = &snap.topics[0];
    assert!((t.in_per_sec - 200.0).abs() < 1e-9, "{}", t.in_per_sec);
    assert!((t.partitions[1].in_per_sec - 100.0).abs() < 1e-9);
    assert_eq!(t.messages, 1000);
    assert_eq!(t.in_history.len(), 6);
    let g = &snap.groups[0];
    let gt = &g.topics[0];
    assert!((gt.out_per_sec - 80.0).abs() < 1e-9, "{}", gt.out_per_sec);
    assert_eq!((gt.lag_sum, gt.lag_max), (600, 300));
    assert_eq!(gt.lag_history, vec![0.0, 120.0, 240.0, 360.0, 480.0, 600.0]);
    // No record read: the time lag is the estimate 600 / 80.
    assert_eq!(gt.lag_seconds, Some(7.5));
    assert!(gt.lag_seconds_estimated);
    assert_eq!(gt.partitions[0].committed, Some(200));
}

#[test]
fn growing_lag_becomes_warn_once_the_window_is_full() {
    let mut e = engine();
    assign(&mut e, "indexer", &[0], 0);
    for s in 0..9 {
        e.ingest(sample(s, &[10 + 20 * s], &[Some(10 * s)]));
    }
    assert_eq!(
        group(&e).status,
        LagStatus::Ok,
        "{}",
        group(&e).topics[0].reason
    );
    e.ingest(sample(9, &[10 + 20 * 9], &[Some(90)]));
    let g = group(&e);
    assert_eq!(g.status, LagStatus::Warn);
    assert_eq!(
        g.topics[0].reason,
        "lag grew in 9 of 9 samples, never shrank (10 → 100)"
    );
    assert_eq!(g.topics[0].partitions[0].owner.as_deref(), Some("indexer"));
}

#[test]
fn a_stopped_consumer_is_stop_and_a_stuck_owned_one_is_stall() {
    let mut e = engine();
    assign(&mut e, "indexer", &[0], 0);
    for s in 0..5 {
        e.ingest(sample(s, &[100 + 10 * s], &[Some(10 * s)]));
    }
    // The offset stops at 40 while the owner still holds the partition.
    for s in 5..15 {
        e.ingest(sample(s, &[100 + 10 * s], &[Some(40)]));
    }
    assert_eq!(
        group(&e).status,
        LagStatus::Stall,
        "{}",
        group(&e).topics[0].reason
    );
    e.fold_event(
        WorkerEvent::State {
            worker: WorkerId::Indexer,
            state: WorkerState::Stopped,
        },
        15_000,
    );
    let g = group(&e);
    assert_eq!(g.status, LagStatus::Stop);
    assert!(
        g.topics[0].reason.contains("no commit for 10 s"),
        "{}",
        g.topics[0].reason
    );
    assert!(g.members.is_empty());
}

#[test]
fn a_group_of_another_process_that_stops_committing_is_stop() {
    let mut e = engine();
    for s in 0..10 {
        e.ingest(sample(s, &[100 + s], &[Some(50)]));
    }
    let g = group(&e);
    assert_eq!(g.status, LagStatus::Stop, "{}", g.topics[0].reason);
    assert!(g.topics[0].reason.contains("owner unknown"));
}

#[test]
fn unreadable_offsets_are_stale_then_err_after_the_window() {
    let mut e = engine();
    e.ingest(sample(0, &[10], &[Some(10)]));
    for s in 1..=12 {
        let mut smp = sample(s, &[10], &[]);
        smp.groups[0].offsets = Err("coordinator not available".into());
        e.ingest(smp);
        let g = group(&e);
        assert!(g.freshness.stale);
        assert_eq!(
            g.freshness.error.as_deref(),
            Some("coordinator not available")
        );
        // The last figures are kept meanwhile.
        assert_eq!(g.topics[0].partitions[0].committed, Some(10));
        let expected = if s <= 10 {
            LagStatus::Ok
        } else {
            LagStatus::Err
        };
        assert_eq!(g.status, expected, "at {s} s");
    }
    assert!(group(&e).topics[0]
        .reason
        .starts_with("offsets unreadable for 12 s"));
}

#[test]
fn a_racing_commit_shows_zero_lag_and_is_counted() {
    let mut e = engine();
    e.ingest(sample(0, &[100, 50], &[Some(103), Some(40)]));
    e.ingest(sample(1, &[110, 60], &[Some(110), Some(62)]));
    let gt = &group(&e).topics[0];
    assert_eq!(gt.partitions[0].lag, 0);
    assert_eq!(gt.partitions[1].lag, 0);
    assert_eq!(gt.negative_lag_samples, 2);
}

#[test]
fn unreachable_cluster_keeps_last_figures_marked_stale() {
    let mut e = engine();
    e.ingest(sample(0, &[100], &[Some(50)]));
    e.ingest(ClusterSample {
        taken_ms: 1_001_000,
        metadata_error: Some("all brokers down".into()),
        ..ClusterSample::default()
    });
    let snap = e.snapshot();
    assert_eq!(snap.cluster_health, Health::Down("all brokers down".into()));
    assert_eq!(snap.topics[0].partitions[0].high, 100);
    assert!(snap.topics[0].freshness.stale);
}

#[test]
fn time_lag_is_read_from_the_record_at_the_committed_offset() {
    let mut e = engine();
    let mut smp = sample(0, &[100], &[Some(60)]);
    smp.record_ms.insert(("t".into(), 0, 60), 1_000_000 - 4_500);
    e.ingest(smp);
    let gt = &group(&e).topics[0];
    assert_eq!(gt.lag_seconds, Some(4.5));
    assert!(!gt.lag_seconds_estimated);
}

#[test]
fn topics_the_group_does_not_consume_are_left_out() {
    let mut e = engine();
    e.ingest(sample(0, &[100, 100], &[]));
    let g = group(&e);
    assert!(g.topics.is_empty());
    // Nothing known about it: not OK either.
    assert_eq!(g.status, LagStatus::Unknown);
    assert_eq!(g.reason, "no committed offsets on the watched topics");
    // One of our workers is assigned a partition before any commit: the topic shows.
    assign(&mut e, "indexer", &[1], 1);
    e.ingest(sample(1, &[100, 100], &[]));
    let g = group(&e);
    assert_eq!(g.topics.len(), 1);
    assert_eq!(g.topics[0].partitions[1].owner.as_deref(), Some("indexer"));
    assert_eq!(
        g.topics[0].reason,
        "unknown: 2 partitions without a commit, backlog 200"
    );
}

#[test]
fn a_member_joining_is_counted_as_a_rebalance() {
    let mut e = engine();
    assign(&mut e, "indexer", &[0, 1], 1_000);
    e.fold_event(
        WorkerEvent::Revoked {
            worker: WorkerId::Indexer,
            group: "g".into(),
            partitions: vec![("t".into(), 0), ("t".into(), 1)],
        },
        20_000,
    );
    assign(&mut e, "indexer", &[0], 20_010);
    assign(&mut e, "notifier", &[1], 20_020);
    e.ingest(sample(20, &[5, 5], &[Some(5), Some(5)]));
    let g = group(&e);
    assert_eq!(g.rebalances, 2);
    assert_eq!(g.last_rebalance_ms, Some(20_010));
    let spread: Vec<(String, usize)> = g
        .members
        .iter()
        .map(|m| (m.member.clone(), m.assignments.len()))
        .collect();
    assert_eq!(
        spread,
        [("indexer".to_string(), 1), ("notifier".to_string(), 1)]
    );
    assert!(g
        .members
        .iter()
        .all(|m| m.ours && m.client_id.starts_with("eventdeck-")));
}

#[test]
fn configured_groups_and_reported_groups_are_watched() {
    let mut e = engine();
    e.fold_event(
        WorkerEvent::Assigned {
            worker: WorkerId::Indexer,
            group: "other".into(),
            partitions: vec![],
        },
        0,
    );
    assert_eq!(e.groups_to_watch(), ["g", "other"]);
}

#[test]
fn history_memory_is_counted() {
    let mut e = engine();
    e.ingest(sample(0, &[1, 2, 3], &[Some(1), Some(1), Some(1)]));
    // One topic ring + lag and out rings of one group-topic, 300 points each at least.
    assert!(e.memory_bytes() >= 3 * 300 * 8, "{}", e.memory_bytes());
}

/// `eventdeck status` takes two samples one interval apart: `n` samples of group "g" on one
/// partition of "t", the committed offset at 50 throughout, 10,000 records waiting, and the
/// record at offset 50 written `behind_s` before the last sample (None: not read).
fn status_samples(e: &mut Engine, n: i64, behind_s: Option<i64>) {
    for s in 0..n {
        let mut smp = sample(s, &[10_050], &[Some(50)]);
        if let Some(b) = behind_s {
            smp.record_ms
                .insert(("t".into(), 0, 50), 1_000_000 + (n - 1) * 1000 - b * 1000);
        }
        e.ingest(smp);
    }
}

#[test]
fn two_samples_of_a_stuck_group_far_behind_are_stop_not_ok() {
    let mut e = engine();
    status_samples(&mut e, 2, Some(205));
    let g = group(&e);
    assert_eq!(g.status, LagStatus::Stop, "{}", g.reason);
    assert_eq!(
        g.topics[0].reason,
        "no commit in 2 samples (1 s) with lag 10,000, 205 s behind; owner unknown"
    );
    assert_eq!(g.reason, format!("t: {}", g.topics[0].reason));
}

#[test]
fn two_samples_of_a_stuck_group_with_an_owner_are_stall() {
    let mut e = engine();
    assign(&mut e, "indexer", &[0], 0);
    status_samples(&mut e, 2, Some(205));
    let g = group(&e);
    assert_eq!(g.status, LagStatus::Stall, "{}", g.topics[0].reason);
    assert!(g.topics[0].reason.contains("while indexer owns it"));
}

#[test]
fn the_stall_threshold_comes_from_the_options() {
    let mut o = options();
    o.stall_after = Duration::from_secs(300);
    let mut e = Engine::new(o, "kafka test:9092", "local index");
    status_samples(&mut e, 2, Some(205));
    let g = group(&e);
    assert_eq!(g.status, LagStatus::Unknown, "{}", g.topics[0].reason);
    assert!(g.topics[0].reason.contains("(stall after 300 s)"));
}

#[test]
fn progress_unknown_is_unknown_not_ok() {
    // One sample: nothing to compare.
    let mut e = engine();
    status_samples(&mut e, 1, Some(205));
    let g = group(&e);
    assert_eq!(g.status, LagStatus::Unknown);
    assert_eq!(
        g.topics[0].reason,
        "unknown: 1 sample, lag 10,000, 205 s behind"
    );
    // Two samples, no record read: at least 1 s behind is not enough to say.
    let mut e = engine();
    status_samples(&mut e, 2, None);
    let g = group(&e);
    assert_eq!(g.status, LagStatus::Unknown);
    assert!(
        g.topics[0].reason.starts_with("unknown: 2 samples"),
        "{}",
        g.topics[0].reason
    );
}

#[test]
fn a_group_that_caught_up_and_stopped_is_never_ok_while_records_wait() {
    // linkedin/Burrow#745: the lag 0 of the first samples must not keep it OK.
    let mut e = engine();
    for s in 0..10 {
        e.ingest(sample(s, &[50], &[Some(50)]));
    }
    assert_eq!(group(&e).status, LagStatus::Ok);
    for s in 10..20 {
        e.ingest(sample(s, &[50 + s], &[Some(50)]));
        let g = group(&e);
        assert_ne!(g.status, LagStatus::Ok, "at {s} s: {}", g.topics[0].reason);
    }
    assert_eq!(group(&e).status, LagStatus::Stop);
}

#[test]
fn partitions_without_a_commit_have_no_lag_and_show_their_backlog() {
    let mut e = engine();
    let mut smp = sample(0, &[100, 250, 40], &[Some(90), None, None]);
    smp.topics[0].partitions[1].low = 50;
    e.ingest(smp);
    let gt = &group(&e).topics[0];
    assert_eq!(gt.partitions[0].lag_figure(), Some(10));
    assert_eq!(gt.partitions[1].lag_figure(), None);
    assert_eq!(gt.partitions[1].committed, None);
    assert_eq!(gt.partitions_without_commit, 2);
    assert_eq!(gt.backlog_without_commit, 200 + 40);
    assert_eq!(gt.lag_figures(), Some((10, 10)));
    assert_eq!(gt.partitions[1].status, LagStatus::Unknown);
    // Only the partitions without a commit: the lag is not known at all.
    let mut e = engine();
    assign(&mut e, "indexer", &[0, 1], 0);
    e.ingest(sample(0, &[100, 0], &[]));
    let gt = &group(&e).topics[0];
    assert_eq!(gt.lag_figures(), None);
    assert_eq!(
        (gt.partitions_without_commit, gt.backlog_without_commit),
        (2, 100)
    );
    assert_eq!(gt.status, LagStatus::Unknown);
    assert_eq!(
        gt.reason,
        "unknown: 2 partitions without a commit, backlog 100"
    );
    // An empty partition without a commit has nothing to read: OK, but not "caught up".
    assert_eq!(gt.partitions[1].status, LagStatus::Ok);
}

fn subscribed(worker: &str) -> MonitorOptions {
    let mut o = options();
    o.subscriptions = vec![Subscription {
        worker: worker.parse().expect("a worker name"),
        group: "g".into(),
        topics: vec!["t".into()],
    }];
    o.unassigned_after = Duration::from_secs(10);
    o
}

#[test]
fn a_new_groups_backlog_shows_before_its_first_commit() {
    let mut e = Engine::new(subscribed("indexer"), "kafka test:9092", "local index");
    e.ingest(sample(0, &[400, 300, 300], &[]));
    let g = group(&e);
    assert_eq!(g.topics.len(), 1, "the subscribed topic shows");
    let gt = &g.topics[0];
    assert_eq!(gt.lag_figures(), None);
    assert_eq!(
        (gt.partitions_without_commit, gt.backlog_without_commit),
        (3, 1000)
    );
    assert_eq!(g.status, LagStatus::Unknown);
}

fn running(e: &mut Engine, worker: &str, at: i64) {
    e.fold_event(
        WorkerEvent::State {
            worker: worker.parse().expect("a worker name"),
            state: WorkerState::Running,
        },
        at,
    );
}

#[test]
fn a_worker_assigned_no_partitions_is_a_problem_of_its_group() {
    let mut e = Engine::new(subscribed("indexer"), "kafka test:9092", "local index");
    running(&mut e, "indexer", 1_000_000);
    assign(&mut e, "indexer", &[], 1_003_000);
    for s in 0..=25 {
        // Nothing new arrives: lag 0, which alone would be OK.
        e.ingest(sample(s, &[5, 5, 5], &[Some(5), Some(5), Some(5)]));
        let g = group(&e);
        if s < 10 {
            assert!(g.problems.is_empty(), "at {s} s: {:?}", g.problems);
            assert_eq!(g.status, LagStatus::Ok, "at {s} s");
        }
    }
    let g = group(&e);
    let reason = "indexer has no partitions for 25 s (topics have 3)";
    assert_eq!(g.status, LagStatus::Warn);
    assert_eq!(g.reason, reason);
    assert_eq!(g.problems.len(), 1);
    assert_eq!(
        (g.problems[0].kind.as_str(), g.problems[0].worker.as_str()),
        ("no_partitions", "indexer")
    );
    // Its topics' rows say it too, so the console's rows, status and /metrics agree.
    assert_eq!(g.topics[0].status, LagStatus::Warn);
    assert_eq!(g.topics[0].reason, reason);
    // Assigned at last: the problem is gone.
    assign(&mut e, "indexer", &[0, 1, 2], 1_026_000);
    e.ingest(sample(26, &[5, 5, 5], &[Some(5), Some(5), Some(5)]));
    let g = group(&e);
    assert!(g.problems.is_empty());
    assert_eq!(g.status, LagStatus::Ok);
}

#[test]
fn no_partitions_is_fine_when_another_member_consumes() {
    // Another of our workers owns everything.
    let mut e = Engine::new(subscribed("indexer"), "kafka test:9092", "local index");
    running(&mut e, "indexer", 1_000_000);
    assign(&mut e, "indexer", &[], 1_000_000);
    assign(&mut e, "notifier", &[0, 1, 2], 1_000_000);
    for s in 0..30 {
        e.ingest(sample(s, &[5, 5, 5], &[Some(5), Some(5), Some(5)]));
    }
    assert!(group(&e).problems.is_empty());
    // Someone outside this process commits: it is alive.
    let mut e = Engine::new(subscribed("indexer"), "kafka test:9092", "local index");
    running(&mut e, "indexer", 1_000_000);
    for s in 0..30 {
        e.ingest(sample(s, &[100 + s], &[Some(s)]));
    }
    assert!(group(&e).problems.is_empty());
    // Not running: not a member, not this rule's business.
    let mut e = Engine::new(subscribed("indexer"), "kafka test:9092", "local index");
    for s in 0..30 {
        e.ingest(sample(s, &[5], &[Some(5)]));
    }
    assert!(group(&e).problems.is_empty());
}

#[test]
fn the_console_status_and_metrics_give_the_same_verdicts() {
    use super::metrics::{render as metrics, status_value};
    use super::report::StatusReport;
    use super::table::render as table;
    let mut e = Engine::new(subscribed("indexer"), "kafka test:9092", "local index");
    running(&mut e, "indexer", 1_000_000);
    status_samples(&mut e, 2, Some(205));
    let snapshot = e.snapshot();
    let g = snapshot.groups.iter().find(|g| g.group == "g").expect("g");
    assert_eq!(g.status, LagStatus::Stop);
    let report = StatusReport::from_snapshot(&snapshot);
    let rg = report.groups.iter().find(|x| x.group == "g").expect("g");
    assert_eq!(rg.status, g.status.label());
    assert_eq!(rg.reason, g.reason);
    assert_eq!(rg.topics[0].status, g.topics[0].status.label());
    assert_eq!(rg.topics[0].reason, g.topics[0].reason);
    let text = table(&snapshot);
    assert!(
        text.contains(&format!("GROUP g · {}", g.status.label())),
        "{text}"
    );
    assert!(text.contains(&g.topics[0].reason), "{text}");
    let prom = metrics(&snapshot);
    let value = status_value(g.topics[0].status);
    assert!(
        prom.lines()
            .any(|l| l
                == format!(r#"eventdeck_consumergroup_status{{group="g",topic="t"}} {value}"#)),
        "{prom}"
    );
    // The console's lag pane draws these same snapshot fields (ui render tests).
}

#[test]
fn the_outbox_backlog_reaches_the_snapshot_the_report_and_the_metrics() {
    use super::metrics::render as metrics;
    use super::report::StatusReport;
    use super::snapshot::OutboxStatus;
    let mut e = engine();
    let report = StatusReport::from_snapshot(&e.snapshot());
    assert!(report.outbox.is_none(), "no store, no outbox field");
    e.set_outbox(OutboxStatus {
        store: "embedded store /d/store.db".into(),
        rows: Some(42),
        oldest_age_ms: Some(12_500),
        error: None,
    });
    let snapshot = e.snapshot();
    assert_eq!(snapshot.outbox.as_ref().and_then(|o| o.rows), Some(42));
    let json = serde_json::to_value(StatusReport::from_snapshot(&snapshot)).expect("json");
    assert_eq!(
        json["outbox"],
        serde_json::json!({"store": "embedded store /d/store.db", "rows": 42,
                           "oldest_age_seconds": 12.5, "error": null})
    );
    let prom = metrics(&snapshot);
    assert!(
        prom.contains("eventdeck_outbox_backlog_rows{store=\"embedded store /d/store.db\"} 42"),
        "{prom}"
    );
    assert!(
        prom.contains(
            "eventdeck_outbox_oldest_age_seconds{store=\"embedded store /d/store.db\"} 12.5"
        ),
        "{prom}"
    );
    // A store that does not answer is an error of the report, not a zero backlog.
    e.set_outbox(OutboxStatus {
        store: "postgres postgres://db/chat".into(),
        rows: None,
        oldest_age_ms: None,
        error: Some("connection refused".into()),
    });
    let report = StatusReport::from_snapshot(&e.snapshot());
    assert!(report
        .errors
        .contains(&"outbox: connection refused".to_string()));
    assert!(!metrics(&e.snapshot()).contains("eventdeck_outbox_backlog_rows"));
}

/// The broker described our indexer as a member; then our indexer stopped and left. Until
/// the next description, that member is stale: the partitions have no owner (not "owned
/// by the indexer"), so lag waiting there is not read as consuming. A description taken
/// after the stop is believed again.
#[test]
fn a_described_member_of_ours_that_left_since_is_not_an_owner() {
    use super::sample::DescribedGroup;
    use super::snapshot::MemberInfo;
    let mut e = engine();
    let described = |s: i64| ClusterSample {
        described: Some(Ok(vec![DescribedGroup {
            group: "g".into(),
            state: "Stable".into(),
            protocol_type: "consumer".into(),
            members: vec![MemberInfo {
                member: "m-1".into(),
                client_id: "eventdeck-indexer".into(),
                host: "/127.0.0.1".into(),
                assignments: vec![("t".into(), 0)],
                ours: false,
            }],
        }])),
        ..sample(s, &[5], &[Some(5)])
    };
    e.ingest(described(1));
    assert_eq!(
        group(&e).topics[0].partitions[0].owner.as_deref(),
        Some("eventdeck-indexer")
    );
    e.fold_event(
        WorkerEvent::State {
            worker: WorkerId::Indexer,
            state: WorkerState::Stopped,
        },
        1_000_000 + 1_500,
    );
    e.ingest(sample(2, &[9], &[Some(5)]));
    let g = group(&e);
    assert!(g.members.is_empty(), "{:?}", g.members);
    assert_eq!(g.topics[0].partitions[0].owner, None);
    // A description that joins a later sample but was asked for before the stop (it runs
    // in the background) is as stale.
    e.ingest(ClusterSample {
        described_ms: Some(1_000_000 + 1_200),
        ..described(3)
    });
    assert!(group(&e).members.is_empty());
    // A description after the stop that still lists it (another process with the same
    // client id, say) is believed.
    e.ingest(described(4));
    assert_eq!(group(&e).members.len(), 1);
}

/// The sample with only the partitions that have a commit, as the reader lists them.
fn sparse(mut smp: ClusterSample) -> ClusterSample {
    for g in &mut smp.groups {
        if let Ok(offsets) = &mut g.offsets {
            offsets.retain(|_, c| c.is_some());
        }
    }
    smp
}

#[test]
fn offsets_listing_only_commits_give_the_same_snapshot_as_every_partition() {
    // Commits that come and go on some partitions, a topic the group stops reading for a
    // while (no commit at all), an owned partition, a subscription: both forms of the same
    // samples must be judged alike.
    let committed = |s: i64| -> Vec<Option<i64>> {
        match s {
            0..=3 => vec![Some(10 * s), None, Some(5)],
            4..=6 => vec![None, None, None],
            _ => vec![Some(10 * s), Some(3), None],
        }
    };
    let (mut dense, mut sparse_e) = (
        Engine::new(subscribed("indexer"), "kafka test:9092", "local index"),
        Engine::new(subscribed("indexer"), "kafka test:9092", "local index"),
    );
    for e in [&mut dense, &mut sparse_e] {
        assign(e, "indexer", &[1], 0);
    }
    for s in 0..14 {
        let smp = sample(s, &[100 + 20 * s, 50, 30 + s], &committed(s));
        dense.ingest(smp.clone());
        sparse_e.ingest(sparse(smp));
        let (a, b) = (dense.snapshot(), sparse_e.snapshot());
        assert_eq!(
            serde_json::to_value(&a).expect("json"),
            serde_json::to_value(&b).expect("json"),
            "at {s} s"
        );
        assert_eq!(dense.memory_bytes(), sparse_e.memory_bytes());
    }
    // Without the subscription or an owner: a topic with no commit is left out alike.
    let (mut dense, mut sparse_e) = (engine(), engine());
    for s in 0..14 {
        let smp = sample(s, &[100 + 20 * s, 50, 30 + s], &committed(s));
        dense.ingest(smp.clone());
        sparse_e.ingest(sparse(smp));
        assert_eq!(
            serde_json::to_value(dense.snapshot()).expect("json"),
            serde_json::to_value(sparse_e.snapshot()).expect("json"),
            "at {s} s"
        );
        assert_eq!(dense.memory_bytes(), sparse_e.memory_bytes());
    }
}
