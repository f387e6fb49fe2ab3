//! The monitoring engine against a real broker: lag that grows under a slow consumer (WARN),
//! a consumer that stops (STOP), a member joining (a rebalance, partitions split), a stopped
//! indexer with events waiting (not OK), and `eventdeck status --json` against what the Kafka
//! API says at the same moment. Each runs on the embedded broker and on noida-db as an
//! external cluster (`embedded::…`, `noida::…`).
//!
//! On noida only, because the embedded broker cannot list or describe groups: another
//! service's group found with no configuration, with its state, members and assignments; our
//! workers as the broker describes them.

use std::collections::BTreeSet;
use std::time::Duration;

use eventdeck::bus::producer::EventProducer;
use eventdeck::bus::Cluster;
use eventdeck::monitor::report::StatusReport;
use eventdeck::monitor::snapshot::{GroupStats, LagStatus, Snapshot};
use eventdeck::monitor::{spawn_monitor, MonitorOptions, MonitorSetup};
use eventdeck::workers::batch::{BatchLimits, Record};
use eventdeck::workers::consumer::{
    run_consumer, BatchHandler, ConsumerSpec, HandleError, Handled,
};
use eventdeck::workers::report::Reporter;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::harness::{eventually, kafka_view, on_both_clusters, wait_committed, Backend, Bench};

const WAIT: Duration = Duration::from_secs(60);

on_both_clusters!(
    a_slow_consumer_lags_with_warn_and_stopping_it_gives_stop,
    a_second_consumer_joining_is_a_rebalance_and_the_partitions_split,
    status_json_matches_the_kafka_api_and_metrics_are_served,
    the_record_at_a_committed_offset_gives_its_event_time,
    a_stopped_indexer_with_events_waiting_is_not_ok,
);

/// A monitor sampling every 200 ms with a 10-sample window (2 s), watching `groups` too.
fn monitor(
    bench: &Bench,
    groups: &[&str],
    events: mpsc::UnboundedReceiver<eventdeck::workers::report::WorkerEvent>,
) -> watch::Receiver<Snapshot> {
    let mut options = MonitorOptions::from_config(&bench.services.config);
    options.interval = Duration::from_millis(200);
    options.window = 10;
    options.groups.extend(groups.iter().map(|g| g.to_string()));
    // Where the broker describes groups (noida), often enough for a test to see changes.
    options.describe_every = Duration::from_secs(1);
    let setup = MonitorSetup::new(bench.cluster().clone(), options)
        .with_index(bench.services.index.clone())
        .with_events(events);
    spawn_monitor(setup).0
}

/// Polls the snapshots until `check` accepts the group (fails the test after `WAIT`).
async fn group_until<F>(
    rx: &watch::Receiver<Snapshot>,
    group: &str,
    what: &str,
    check: F,
) -> GroupStats
where
    F: Fn(&GroupStats) -> Result<(), String>,
{
    eventually(what, WAIT, || {
        let snapshot = rx.borrow().clone();
        let result = match snapshot.groups.iter().find(|g| g.group == group) {
            None => Err(format!("group {group} not in the snapshot")),
            Some(g) => check(g).map(|_| g.clone()).map_err(|e| {
                let reason = g
                    .topics
                    .first()
                    .map(|t| t.reason.clone())
                    .unwrap_or_default();
                format!("{e} (status {:?}: {reason})", g.status)
            }),
        };
        async move { result }
    })
    .await
}

/// Handles a record in `per_record`: a consumer of known, slow speed.
struct Slow {
    per_record: Duration,
}

#[async_trait::async_trait]
impl BatchHandler for Slow {
    async fn handle(&mut self, records: &[Record]) -> Result<Handled, HandleError> {
        tokio::time::sleep(self.per_record * records.len() as u32).await;
        Ok(Handled::default())
    }
}

fn consumer(
    bench: &Bench,
    worker: &str,
    group: &str,
    per_record: Duration,
    reporter: Reporter,
) -> (watch::Sender<bool>, JoinHandle<anyhow::Result<()>>) {
    let spec = ConsumerSpec {
        worker: worker.into(),
        group: group.into(),
        topics: vec![bench.services.config.topics.user_activity.clone()],
        limits: BatchLimits {
            max_records: 5,
            max_bytes: 1 << 20,
            max_age: Duration::from_millis(50),
        },
        retry_backoff: Duration::from_millis(50),
    };
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(run_consumer(
        bench.cluster().clone(),
        spec,
        Slow { per_record },
        reporter,
        rx,
    ));
    (stop, task)
}

/// Publishes our envelope (with its own timestamp) to `topic` at `per_sec` until stopped.
fn producer(bench: &Bench, topic: &str, per_sec: u64) -> (watch::Sender<bool>, JoinHandle<u64>) {
    let producer = EventProducer::new(
        bench.cluster(),
        &bench.services.config.producer,
        "test-load",
    )
    .expect("producer");
    let topic = topic.to_string();
    let (stop, mut rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_sec));
        let mut sent = 0u64;
        while !*rx.borrow_and_update() {
            tick.tick().await;
            let env = eventdeck::event::envelope(
                "user.activity",
                &serde_json::json!({"user_id": format!("user_{}", sent % 17), "activity": "typing"}),
            );
            let body = serde_json::to_vec(&env).expect("json");
            if producer
                .enqueue_keyed(&topic, &env.event_id, &body)
                .await
                .is_ok()
            {
                sent += 1;
            }
        }
        let _ = producer.flush(Duration::from_secs(10));
        sent
    });
    (stop, task)
}

fn lag_of(g: &GroupStats) -> i64 {
    g.topics.iter().map(|t| t.lag_sum).sum()
}

async fn a_slow_consumer_lags_with_warn_and_stopping_it_gives_stop(backend: Backend) {
    let bench = Bench::on(backend).await;
    let topic = bench.services.config.topics.user_activity.clone();
    let (tx, events) = mpsc::unbounded_channel();
    let rx = monitor(&bench, &["test-slow"], events);
    // ~250 records/s in, ~25/s out: lag grows on every partition at every sample.
    let (stop_producer, produced) = producer(&bench, &topic, 250);
    let (stop_consumer, consumed) = consumer(
        &bench,
        "slow-1",
        "test-slow",
        Duration::from_millis(40),
        Reporter::new(tx),
    );

    let first = group_until(&rx, "test-slow", "the group has committed with lag", |g| {
        (lag_of(g) > 0 && g.topics[0].partitions.iter().any(|p| p.committed.is_some()))
            .then_some(())
            .ok_or_else(|| format!("lag {}", lag_of(g)))
    })
    .await;
    let warn = group_until(&rx, "test-slow", "status WARN", |g| {
        (g.status == LagStatus::Warn)
            .then_some(())
            .ok_or("not WARN".into())
    })
    .await;
    assert!(
        lag_of(&warn) > lag_of(&first),
        "lag {} then {}",
        lag_of(&first),
        lag_of(&warn)
    );
    let t = &warn.topics[0];
    assert!(t.reason.contains("lag grew in"), "{}", t.reason);
    assert!(t.out_per_sec > 0.0, "out {}", t.out_per_sec);
    let snapshot = rx.borrow().clone();
    let in_rate = snapshot
        .topics
        .iter()
        .find(|x| x.topic == topic)
        .expect("topic")
        .in_per_sec;
    assert!(
        in_rate > t.out_per_sec * 2.0,
        "in {in_rate}/s vs out {}/s",
        t.out_per_sec
    );
    // Our worker by its client id: its member id is the worker's name where only our
    // callbacks know it (embedded) and the broker's member id where the broker describes
    // the group (noida, Kafka).
    assert!(
        warn.members
            .iter()
            .any(|m| m.client_id == "eventdeck-slow-1" && m.ours && m.assignments.len() == 3),
        "{:?}",
        warn.members
    );
    // The time lag is read from the record at the committed offset (our envelope's time).
    group_until(&rx, "test-slow", "a time lag read from a record", |g| {
        let t = &g.topics[0];
        match t.lag_seconds {
            Some(s) if !t.lag_seconds_estimated && s > 0.0 => Ok(()),
            other => Err(format!(
                "lag_seconds {other:?} estimated {}",
                t.lag_seconds_estimated
            )),
        }
    })
    .await;

    // The consumer stops (commits, leaves the group); records keep arriving.
    let _ = stop_consumer.send(true);
    consumed.await.expect("consumer task").expect("consumer");
    let stopped = group_until(&rx, "test-slow", "status STOP", |g| {
        (g.status == LagStatus::Stop)
            .then_some(())
            .ok_or("not STOP".into())
    })
    .await;
    assert!(
        stopped.topics[0].reason.contains("no commit for"),
        "{}",
        stopped.topics[0].reason
    );
    assert!(stopped.members.is_empty(), "{:?}", stopped.members);
    let _ = stop_producer.send(true);
    assert!(produced.await.expect("producer task") > 0);
}

async fn a_second_consumer_joining_is_a_rebalance_and_the_partitions_split(backend: Backend) {
    let bench = Bench::on(backend).await;
    let (tx, events) = mpsc::unbounded_channel();
    let rx = monitor(&bench, &["test-split"], events);
    let fast = Duration::from_millis(1);
    let (_stop1, _c1) = consumer(&bench, "c1", "test-split", fast, Reporter::new(tx.clone()));
    let one = group_until(&rx, "test-split", "c1 owns the 3 partitions", |g| {
        let owned: usize = g.members.iter().map(|m| m.assignments.len()).sum();
        (g.members.len() == 1 && owned == 3 && g.rebalances == 1)
            .then_some(())
            .ok_or(format!(
                "{} members, {owned} owned, {} rebalances",
                g.members.len(),
                g.rebalances
            ))
    })
    .await;
    assert!(one.last_rebalance_ms.is_some());

    let (_stop2, _c2) = consumer(&bench, "c2", "test-split", fast, Reporter::new(tx));
    let two = group_until(&rx, "test-split", "c1 and c2 share the partitions", |g| {
        let per_member: Vec<usize> = g.members.iter().map(|m| m.assignments.len()).collect();
        let all: BTreeSet<(String, i32)> = g
            .members
            .iter()
            .flat_map(|m| m.assignments.iter().cloned())
            .collect();
        let ok = g.members.len() == 2
            && per_member.iter().all(|n| *n >= 1)
            && per_member.iter().sum::<usize>() == 3
            && all.len() == 3;
        ok.then_some(())
            .ok_or(format!("assignments {per_member:?}"))
    })
    .await;
    assert_eq!(
        two.rebalances, 2,
        "one rebalance for the join, seen by both members"
    );
    assert!(two.last_rebalance_ms > one.last_rebalance_ms);
    // Every partition's owner shows in the lag table: one of the two members, both ours,
    // known by their client ids (member ids are worker names on the embedded broker, the
    // broker's ids where it describes the group).
    let owners: BTreeSet<String> = two.topics[0]
        .partitions
        .iter()
        .filter_map(|p| p.owner.clone())
        .collect();
    let members: BTreeSet<String> = two
        .members
        .iter()
        .filter(|m| m.ours && ["eventdeck-c1", "eventdeck-c2"].contains(&m.client_id.as_str()))
        .map(|m| m.member.clone())
        .collect();
    assert_eq!(members.len(), 2, "{:?}", two.members);
    assert_eq!(owners, members);
    if backend == Backend::Embedded {
        assert_eq!(owners, ["c1".to_string(), "c2".to_string()].into());
    }
}

/// Publishes `message.created` events `ids` (one channel per id modulo 3) and waits for
/// their delivery.
async fn publish_created(bench: &Bench, ids: std::ops::Range<usize>) {
    use eventdeck::event::{MessageCreated, MessageEvent};
    let publisher = bench.services.publisher().expect("publisher");
    let mut deliveries = Vec::new();
    for i in ids {
        let event = MessageEvent::Created(MessageCreated {
            message_id: format!("msg_{i:05}"),
            channel_id: format!("ch_{:02}", i % 3),
            author_id: "user_001".into(),
            content: format!("waiting message {i}"),
            mentions: vec![],
            attachments: vec![],
        });
        deliveries.push(publisher.enqueue(&event).await.expect("enqueue"));
    }
    for d in deliveries {
        eventdeck::bus::producer::resolve(d)
            .await
            .expect("delivered");
    }
}

fn message_topics(bench: &Bench) -> Vec<String> {
    bench
        .services
        .config
        .message_topics()
        .iter()
        .map(|t| t.to_string())
        .collect()
}

/// The indexer handled everything and stopped (it left its group); then more events arrive.
/// Lag > 0 with nobody consuming is never OK (DESIGN.md §6), and after the window it is STOP.
async fn a_stopped_indexer_with_events_waiting_is_not_ok(backend: Backend) {
    let bench = Bench::on(backend).await;
    let group = bench.services.config.groups.indexer.clone();
    let topics = message_topics(&bench);
    let (tx, events) = mpsc::unbounded_channel();
    let mut rx = monitor(&bench, &[], events);
    publish_created(&bench, 0..30).await;
    let (stop, shutdown) = watch::channel(false);
    let indexer = bench
        .services
        .spawn_indexer(Reporter::new(tx), shutdown)
        .expect("indexer");
    wait_committed(bench.cluster(), &group, &topics, WAIT).await;
    group_until(&rx, &group, "caught up", |g| {
        (lag_of(g) == 0 && g.status == LagStatus::Ok)
            .then_some(())
            .ok_or(format!("lag {}", lag_of(g)))
    })
    .await;
    let _ = stop.send(true);
    indexer.await.expect("join").expect("indexer stopped");
    publish_created(&bench, 30..90).await;

    // Every snapshot from here on: lag > 0 is not OK. Until STOP, then one more window.
    let window = Duration::from_millis(200) * 10;
    let deadline = std::time::Instant::now() + WAIT;
    let mut waiting_seen = false;
    let mut stop_seen: Option<std::time::Instant> = None;
    let mut last = String::new();
    while stop_seen.is_none_or(|t| t.elapsed() < window) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(
            !left.is_zero(),
            "{group} not STOP within {WAIT:?}; last: {last}"
        );
        let _ = tokio::time::timeout(left, rx.changed()).await;
        let snapshot = rx.borrow_and_update().clone();
        let Some(g) = snapshot.groups.iter().find(|g| g.group == group) else {
            continue;
        };
        let lag = lag_of(g);
        let reasons: Vec<String> = g
            .topics
            .iter()
            .map(|t| format!("{} {:?} {}", t.topic, t.status, t.reason))
            .collect();
        last = format!("lag {lag}, {:?}: {reasons:?}", g.status);
        if lag > 0 {
            waiting_seen = true;
            assert_ne!(
                g.status,
                LagStatus::Ok,
                "a stopped indexer with {lag} events waiting is OK: {reasons:?}"
            );
        }
        if waiting_seen && g.status == LagStatus::Stop && stop_seen.is_none() {
            assert!(g.members.is_empty(), "{:?}", g.members);
            stop_seen = Some(std::time::Instant::now());
        }
    }
}

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

/// Commits `offsets` for `group` on `topic`, as a consumer of that group would.
async fn commit(cluster: &Cluster, group: &str, topic: &str, offsets: &[(i32, i64)]) {
    let (cluster, group, topic) = (cluster.clone(), group.to_string(), topic.to_string());
    let offsets = offsets.to_vec();
    tokio::task::spawn_blocking(move || {
        let c: BaseConsumer = cluster
            .consumer_config("test-commit", &group)
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for (p, o) in offsets {
            tpl.add_partition_offset(&topic, p, Offset::Offset(o))
                .expect("tpl");
        }
        c.commit(&tpl, CommitMode::Sync).expect("commit");
    })
    .await
    .expect("commit task");
}

/// Waits until every partition of `topic` holds at least `n` records.
async fn wait_for_records(bench: &Bench, topic: &str, n: i64) {
    eventually("records on every partition", WAIT, || {
        let (cluster, topic) = (bench.cluster().clone(), topic.to_string());
        async move {
            let view = kafka_view(&cluster, "nobody", &topic).await;
            view.iter()
                .all(|(_, _, high, _)| *high >= n)
                .then_some(())
                .ok_or(format!("{view:?}"))
        }
    })
    .await;
}

async fn status_json_matches_the_kafka_api_and_metrics_are_served(backend: Backend) {
    let bench = Bench::on(backend).await;
    let config = &bench.services.config;
    let topic = config.topics.user_activity.clone();
    let group = config.groups.indexer.clone();
    let (stop, produced) = producer(&bench, &topic, 1000);
    wait_for_records(&bench, &topic, 20).await;
    let _ = stop.send(true);
    produced.await.expect("producer");
    // The indexer's group stands at 5, 10 and 15: nothing moves from here on.
    commit(bench.cluster(), &group, &topic, &[(0, 5), (1, 10), (2, 15)]).await;
    let expected = kafka_view(bench.cluster(), &group, &topic).await;

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_eventdeck"))
        .args(["status", "--json", "--data-dir"])
        .arg(bench.dir.path().join("data"))
        .current_dir(bench.dir.path())
        .env_remove("EVENTDECK_CONFIG")
        .envs(bench.child_env())
        .output()
        .await
        .expect("run eventdeck status");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: StatusReport = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
    assert_eq!(report.version, 1);
    assert!(report.cluster_up, "{:?}", report.errors);
    let t = report
        .topics
        .iter()
        .find(|t| t.topic == topic)
        .expect("topic in report");
    let g = report
        .groups
        .iter()
        .find(|g| g.group == group)
        .expect("group in report");
    let gt = g
        .topics
        .iter()
        .find(|x| x.topic == topic)
        .expect("group topic in report");
    let mut lag_sum = 0;
    for (p, low, high, committed) in &expected {
        let tp = t
            .partitions
            .iter()
            .find(|x| x.partition == *p)
            .expect("partition");
        assert_eq!(
            (tp.low, tp.high),
            (*low, *high),
            "watermarks of partition {p}"
        );
        let gp = gt
            .partitions
            .iter()
            .find(|x| x.partition == *p)
            .expect("lag row");
        assert_eq!(gp.committed, *committed, "committed of partition {p}");
        assert_eq!(gp.high, *high);
        let lag = high - committed.expect("committed");
        assert_eq!(gp.lag, Some(lag), "lag of partition {p}");
        lag_sum += lag;
    }
    assert_eq!(gt.lag, Some(lag_sum));
    assert_eq!(
        t.messages,
        expected.iter().map(|(_, l, h, _)| h - l).sum::<i64>()
    );
    assert_eq!(
        t.in_per_sec, 0.0,
        "nothing was written between the two samples"
    );
    assert_eq!(gt.out_per_sec, 0.0);
    // The record at each committed offset was read: the time lag is not an estimate.
    assert!(
        gt.lag_seconds.is_some_and(|s| s >= 0.0) && !gt.lag_seconds_estimated,
        "{gt:?}"
    );

    // The human table says the same.
    let table = tokio::process::Command::new(env!("CARGO_BIN_EXE_eventdeck"))
        .args(["status", "--data-dir"])
        .arg(bench.dir.path().join("data"))
        .current_dir(bench.dir.path())
        .env_remove("EVENTDECK_CONFIG")
        .envs(bench.child_env())
        .output()
        .await
        .expect("run eventdeck status");
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains(&format!("GROUP {group}")), "{text}");
    assert!(text.contains("CURRENT-OFFSET"), "{text}");

    // /metrics renders the monitor's snapshot.
    let (_tx, events) = mpsc::unbounded_channel();
    let rx = monitor(&bench, &[], events);
    let port = free_port();
    tokio::spawn(eventdeck::monitor::serve_metrics(port, rx.clone()));
    let high = expected[0].2;
    let line = format!(
        r#"eventdeck_topic_partition_high_watermark{{topic="{topic}",partition="0"}} {high}"#
    );
    let lag_line = format!(
        r#"eventdeck_consumergroup_lag{{group="{group}",topic="{topic}",partition="0"}} {}"#,
        high - 5
    );
    eventually("/metrics shows the watermark and the lag", WAIT, || {
        let (line, lag_line) = (line.clone(), lag_line.clone());
        async move {
            let body = http_get(port, "/metrics").await?;
            (body.contains(&line) && body.contains(&lag_line))
                .then_some(())
                .ok_or(body)
        }
    })
    .await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn http_get(port: u16, path: &str) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut body = String::new();
    s.read_to_string(&mut body)
        .await
        .map_err(|e| e.to_string())?;
    Ok(body)
}

async fn the_record_at_a_committed_offset_gives_its_event_time(backend: Backend) {
    use eventdeck::monitor::records::RecordReader;
    let bench = Bench::on(backend).await;
    let topic = bench.services.config.topics.user_activity.clone();
    let before = eventdeck::event::now_ms();
    let (stop, produced) = producer(&bench, &topic, 500);
    wait_for_records(&bench, &topic, 10).await;
    let _ = stop.send(true);
    produced.await.expect("producer");
    let after = eventdeck::event::now_ms();
    let cluster = bench.cluster().clone();
    let wanted: BTreeSet<(String, i32, i64)> = [
        (topic.clone(), 0, 3),
        (topic.clone(), 1, 0),
        (topic.clone(), 2, 7),
    ]
    .into();
    let (found, error, took) = tokio::task::spawn_blocking(move || {
        let mut reader = RecordReader::new(&cluster).expect("reader");
        let start = std::time::Instant::now();
        let found = reader.timestamps(&wanted, Duration::from_secs(10));
        (found, reader.last_error.clone(), start.elapsed())
    })
    .await
    .expect("reader task");
    eprintln!(
        "read {} timestamps in {took:?}; last error {error:?}",
        found.len()
    );
    assert_eq!(found.len(), 3, "{found:?} {error:?}");
    assert!(
        found.values().all(|ts| *ts >= before && *ts <= after),
        "{found:?}"
    );
}

/// Issue 8: `eventdeck status` takes two samples, fewer than a status window, and used to
/// call a stuck group OK ("collecting samples"). Here, as `status --json` reports it: a group
/// that stopped with records waiting longer than `stall_after` is STOP from two samples and
/// never OK; a group without commits on some partitions shows their lag as null and the
/// records waiting behind them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_from_two_samples_is_never_ok_without_evidence() {
    let bench = Bench::start().await;
    let topic = bench.services.config.topics.user_activity.clone();
    let (stop, produced) = producer(&bench, &topic, 500);
    wait_for_records(&bench, &topic, 10).await;
    let _ = stop.send(true);
    produced.await.expect("producer");
    // test-stuck read the first record of each partition and stopped; test-new committed
    // on partition 0 only.
    commit(
        bench.cluster(),
        "test-stuck",
        &topic,
        &[(0, 1), (1, 1), (2, 1)],
    )
    .await;
    let view = kafka_view(bench.cluster(), "nobody", &topic).await;
    commit(bench.cluster(), "test-new", &topic, &[(0, view[0].2)]).await;

    let mut options = MonitorOptions::from_config(&bench.services.config);
    options.interval = Duration::from_millis(200);
    options.window = 10;
    options.stall_after = Duration::from_secs(1);
    options.record_budget = options.call_timeout;
    options.groups = vec!["test-stuck".into(), "test-new".into()];
    let report = |options: MonitorOptions| {
        let cluster = bench.cluster().clone();
        async move {
            let snapshot = eventdeck::monitor::sample_now(&cluster, options, 2)
                .await
                .expect("sample");
            let json = serde_json::to_value(StatusReport::from_snapshot(&snapshot)).expect("json");
            let report: StatusReport = serde_json::from_value(json.clone()).expect("parse");
            (report, json)
        }
    };
    let stopped = eventually("test-stuck STOP from two samples", WAIT, || {
        let options = options.clone();
        let report = &report;
        let topic = &topic;
        async move {
            let (r, _) = report(options).await;
            let g = r
                .groups
                .iter()
                .find(|g| g.group == "test-stuck")
                .ok_or("test-stuck not reported")?
                .clone();
            let t = g
                .topics
                .iter()
                .find(|t| &t.topic == topic)
                .ok_or("no topic row")?;
            let lag = t.lag.unwrap_or(0);
            if lag > 0 && g.status == "OK" {
                panic!("test-stuck is OK with {lag} records waiting: {}", t.reason);
            }
            (g.status == "STOP")
                .then_some(g.clone())
                .ok_or(format!("{} ({}): {}", g.status, lag, t.reason))
        }
    })
    .await;
    let t = &stopped.topics[0];
    assert!(t.lag.is_some_and(|l| l > 0), "{t:?}");
    assert!(t.reason.contains("2 samples"), "{}", t.reason);
    assert!(t.lag_seconds.is_some_and(|s| s >= 1.0), "{t:?}");

    let (r, json) = report(options.clone()).await;
    let g = r
        .groups
        .iter()
        .find(|g| g.group == "test-new")
        .expect("test-new reported");
    let t = g
        .topics
        .iter()
        .find(|t| t.topic == topic)
        .expect("topic row");
    let expected_backlog: i64 = view[1..].iter().map(|(_, low, high, _)| high - low).sum();
    assert_eq!(t.partitions_without_commit, 2, "{t:?}");
    assert_eq!(t.backlog_without_commit, expected_backlog, "{t:?}");
    assert_eq!(
        t.lag,
        Some(0),
        "partition 0 is caught up, the others are not known"
    );
    assert_ne!(g.status, "OK", "{}: {}", g.status, g.reason);
    assert_eq!(t.status, "UNKNOWN", "{}", t.reason);
    // In the JSON itself: null, never 0.
    let jg = json["groups"]
        .as_array()
        .and_then(|gs| gs.iter().find(|x| x["group"] == "test-new"))
        .expect("test-new in JSON");
    let jt = jg["topics"]
        .as_array()
        .and_then(|ts| ts.iter().find(|x| x["topic"] == topic.as_str()))
        .expect("topic in JSON");
    for p in jt["partitions"].as_array().expect("partitions") {
        if p["partition"] == 0 {
            assert_eq!(p["lag"], 0, "{p}");
        } else {
            assert!(p["lag"].is_null() && p["committed"].is_null(), "{p}");
        }
    }
}
