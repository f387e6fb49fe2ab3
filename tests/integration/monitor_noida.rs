//! The monitoring engine on noida-db only, because the embedded broker cannot list or
//! describe groups: another service's group found with no configuration, with its state,
//! members and assignments; our workers as the broker describes them.

use std::collections::BTreeSet;
use std::time::Duration;

use eventdeck::monitor::snapshot::GroupStats;
use eventdeck::workers::report::Reporter;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use tokio::sync::{mpsc, watch};

use crate::harness::{kafka_view, Backend, Bench};

use crate::monitor::{group_until, lag_of, monitor, producer};
use crate::monitor_status::wait_for_records;
/// Another service's consumer group — a plain rdkafka consumer, nothing of eventdeck's — is
/// found by listing the broker's groups: no `monitor.groups`, no worker of ours reports it.
/// Its state, member and assignment come from DescribeGroups, its lag from its commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn noida_another_services_group_is_listed_with_no_configuration() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let bench = Bench::on(Backend::Noida).await;
    let topic = bench.services.config.topics.user_activity.clone();
    let (stop_producer, produced) = producer(&bench, &topic, 500);
    wait_for_records(&bench, &topic, 5).await;
    let _ = stop_producer.send(true);
    produced.await.expect("producer");
    let (_tx, events) = mpsc::unbounded_channel();
    let rx = monitor(&bench, &[], events);
    assert!(!bench
        .services
        .config
        .monitor
        .groups
        .contains(&"billing-service".to_string()));

    // billing-service consumes and commits every record, and stays in its group until told.
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let billing = {
        let (bootstrap, topic, stop) = (
            bench.cluster().bootstrap.clone(),
            topic.clone(),
            stop.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let c: BaseConsumer = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", "billing-service")
                .set("client.id", "billing-worker")
                .set("enable.auto.commit", "false")
                .set("auto.offset.reset", "earliest")
                .create()
                .expect("billing consumer");
            c.subscribe(&[&topic]).expect("subscribe");
            let mut consumed = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
                    c.commit_message(&m, CommitMode::Sync).expect("commit");
                    consumed += 1;
                }
            }
            drop(c); // closes the consumer: it leaves the group
            consumed
        })
    };
    let partitions: BTreeSet<(String, i32)> = (0..3).map(|p| (topic.clone(), p)).collect();
    let listed = group_until(
        &rx,
        "billing-service",
        "billing-service described and caught up",
        |g| {
            let owned: BTreeSet<(String, i32)> = g
                .members
                .iter()
                .flat_map(|m| m.assignments.iter().cloned())
                .collect();
            let ok = g.state.as_deref() == Some("Stable")
                && g.members.len() == 1
                && g.members[0].client_id == "billing-worker"
                && owned == partitions
                && lag_of(g) == 0
                && g.topics.iter().any(|t| t.topic == topic);
            ok.then_some(()).ok_or(format!(
                "state {:?}, members {:?}, lag {}",
                g.state,
                g.members,
                lag_of(g)
            ))
        },
    )
    .await;
    assert!(!listed.members[0].ours);
    assert!(!listed.members[0].member.is_empty());
    // The topics view's retention and cleanup policy: described by the broker, in the
    // background, into the snapshot.
    let config = crate::harness::eventually(
        "the topic's configuration in a snapshot",
        Duration::from_secs(30),
        || {
            let snapshot = rx.borrow().clone();
            let topic = topic.clone();
            async move {
                snapshot
                    .topics
                    .iter()
                    .find(|t| t.topic == topic)
                    .and_then(|t| t.config.clone())
                    .ok_or(format!("{} topics, none described", snapshot.topics.len()))
            }
        },
    )
    .await;
    assert_eq!(
        (
            config.retention_label().as_str(),
            config.cleanup_policy.as_deref()
        ),
        ("7 d", Some("delete"))
    );
    let rows = &listed
        .topics
        .iter()
        .find(|t| t.topic == topic)
        .expect("topic")
        .partitions;
    let expected = kafka_view(bench.cluster(), "billing-service", &topic).await;
    for (p, _, high, committed) in &expected {
        let row = rows
            .iter()
            .find(|r| r.partition == *p)
            .expect("partition row");
        assert_eq!(row.committed, *committed, "committed of partition {p}");
        assert_eq!(
            committed,
            &Some(*high),
            "billing-service consumed partition {p}"
        );
        assert_eq!(
            row.owner.as_deref(),
            Some("billing-worker"),
            "owner of partition {p}"
        );
    }

    // The consumer closes: the group is still listed, Empty, with nobody in it.
    stop.store(true, Ordering::Relaxed);
    assert!(billing.await.expect("billing task") > 0);
    group_until(&rx, "billing-service", "billing-service empty", |g| {
        (g.state.as_deref() == Some("Empty") && g.members.is_empty())
            .then_some(())
            .ok_or(format!("state {:?}, members {:?}", g.state, g.members))
    })
    .await;
}

/// Our indexer and notifier as the broker describes them (member id, client id, host and the
/// partitions of each), and the same members merged with our workers' own reports: one row
/// per worker, marked ours.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn noida_our_workers_are_members_with_the_partitions_the_broker_describes() {
    let bench = Bench::on(Backend::Noida).await;
    let config = bench.services.config.clone();
    let (tx, events) = mpsc::unbounded_channel();
    let (_quiet, no_events) = mpsc::unbounded_channel();
    let merged = monitor(&bench, &[], events);
    let described = monitor(&bench, &[], no_events);
    let (stop, shutdown) = watch::channel(false);
    let indexer = bench
        .services
        .spawn_indexer(Reporter::new(tx.clone()), shutdown.clone())
        .expect("indexer");
    let notifier = bench
        .services
        .spawn_notifier(Reporter::new(tx), shutdown)
        .expect("notifier");
    let all = |topics: &[&String]| -> BTreeSet<(String, i32)> {
        topics
            .iter()
            .flat_map(|t| (0..3).map(move |p| (t.to_string(), p)))
            .collect()
    };
    let t = &config.topics;
    let cases = [
        (
            config.groups.indexer.clone(),
            "eventdeck-indexer",
            "indexer",
            all(&[&t.created, &t.updated, &t.deleted]),
        ),
        (
            config.groups.notifier.clone(),
            "eventdeck-notifier",
            "notifier",
            all(&[&t.created, &t.updated]),
        ),
    ];
    for (group, client_id, worker, partitions) in &cases {
        let owned = |g: &GroupStats| -> BTreeSet<(String, i32)> {
            g.members
                .iter()
                .flat_map(|m| m.assignments.iter().cloned())
                .collect()
        };
        // The broker's word only: this monitor hears nothing from our workers.
        let d = group_until(&described, group, "described by the broker", |g| {
            let ok = g.state.as_deref() == Some("Stable")
                && g.members.len() == 1
                && g.members[0].client_id == *client_id
                && owned(g) == *partitions;
            ok.then_some(())
                .ok_or(format!("state {:?}, members {:?}", g.state, g.members))
        })
        .await;
        let member = d.members[0].clone();
        assert!(
            !member.ours,
            "nothing told this monitor that {client_id} is ours"
        );
        assert!(
            !member.member.is_empty() && member.member != *worker,
            "{member:?}"
        );
        assert!(
            !member.host.is_empty() && member.host != "this process",
            "{member:?}"
        );
        // With our workers' reports: the same single member, now marked ours.
        group_until(
            &merged,
            group,
            "the broker's member merged with ours",
            |g| {
                let ok = g.members.len() == 1
                    && g.members[0].ours
                    && g.members[0].member == member.member
                    && owned(g) == *partitions;
                ok.then_some(()).ok_or(format!("members {:?}", g.members))
            },
        )
        .await;
    }
    let _ = stop.send(true);
    indexer.await.expect("join").expect("indexer stopped");
    notifier.await.expect("join").expect("notifier stopped");
}

/// Many groups of other services, each committed on one partition: one status pass reads
/// every group's offsets (on one client, see `monitor::group_offsets`), the partitions a
/// group never committed on shown without a commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn noida_many_groups_offsets_are_read_in_one_pass() {
    const GROUPS: usize = 300;
    let bench = Bench::on(Backend::Noida).await;
    let topic = bench.services.config.topics.user_activity.clone();
    let (stop_producer, produced) = producer(&bench, &topic, 200);
    wait_for_records(&bench, &topic, 5).await;
    let _ = stop_producer.send(true);
    produced.await.expect("producer");
    // Group i commits offset i % 5 on partition i % 3 (assign + commit: no member stays).
    let committed = {
        let (bootstrap, topic) = (bench.cluster().bootstrap.clone(), topic.clone());
        tokio::task::spawn_blocking(move || {
            for i in 0..GROUPS {
                let c: BaseConsumer = rdkafka::ClientConfig::new()
                    .set("bootstrap.servers", &bootstrap)
                    .set("group.id", format!("many-{i:03}"))
                    .set("enable.auto.commit", "false")
                    .create()
                    .expect("consumer");
                let mut tpl = rdkafka::TopicPartitionList::new();
                tpl.add_partition_offset(
                    &topic,
                    (i % 3) as i32,
                    rdkafka::Offset::Offset((i % 5) as i64),
                )
                .expect("partition");
                c.commit(&tpl, CommitMode::Sync).expect("commit");
            }
        })
    };
    committed.await.expect("commits");

    let mut options = eventdeck::monitor::MonitorOptions::from_config(&bench.services.config);
    options.interval = Duration::from_millis(200);
    let snapshot = eventdeck::monitor::sample_now(bench.cluster(), options, 2)
        .await
        .expect("sample");
    for i in 0..GROUPS {
        let name = format!("many-{i:03}");
        let g = snapshot
            .groups
            .iter()
            .find(|g| g.group == name)
            .unwrap_or_else(|| panic!("{name} not listed"));
        let t = g
            .topics
            .iter()
            .find(|t| t.topic == topic)
            .unwrap_or_else(|| panic!("{name}: no {topic}"));
        let positions: Vec<(i32, Option<i64>)> = t
            .partitions
            .iter()
            .map(|p| (p.partition, p.committed))
            .collect();
        let expected: Vec<(i32, Option<i64>)> = (0..3)
            .map(|p| (p, (p == (i % 3) as i32).then_some((i % 5) as i64)))
            .collect();
        assert_eq!(positions, expected, "{name}");
        assert!(g.freshness.error.is_none(), "{name}: {:?}", g.freshness);
    }
}
