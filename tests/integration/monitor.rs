//! The monitoring engine against a real broker: lag that grows under a slow consumer (WARN),
//! a consumer that stops (STOP), a member joining (a rebalance, partitions split), a stopped
//! indexer with events waiting (not OK). Each runs on the embedded broker and on noida-db as an
//! external cluster (`embedded::…`, `noida::…`).
//!
//! On noida only (monitor_noida.rs): groups the broker lists and describes. `status --json`
//! and /metrics: monitor_status.rs. Both use the helpers here.

use std::collections::BTreeSet;
use std::time::Duration;

use eventdeck::bus::producer::EventProducer;
use eventdeck::monitor::snapshot::{GroupStats, LagStatus, Snapshot};
use eventdeck::monitor::{spawn_monitor, MonitorOptions, MonitorSetup};
use eventdeck::ops::WorkerId;
use eventdeck::workers::batch::{BatchLimits, Record};
use eventdeck::workers::consumer::{
    run_consumer, BatchHandler, ConsumerSpec, HandleError, Handled,
};
use eventdeck::workers::report::Reporter;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::harness::{eventually, on_both_clusters, wait_committed, Backend, Bench};

pub(crate) const WAIT: Duration = Duration::from_secs(60);

on_both_clusters!(
    a_slow_consumer_lags_with_warn_and_stopping_it_gives_stop,
    a_second_consumer_joining_is_a_rebalance_and_the_partitions_split,
    a_stopped_indexer_with_events_waiting_is_not_ok,
);

/// A monitor sampling every 200 ms with a 10-sample window (2 s), watching `groups` too.
pub(crate) fn monitor(
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
pub(crate) async fn group_until<F>(
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
pub(crate) struct Slow {
    per_record: Duration,
}

#[async_trait::async_trait]
impl BatchHandler for Slow {
    async fn handle(&mut self, records: &[Record]) -> Result<Handled, HandleError> {
        tokio::time::sleep(self.per_record * records.len() as u32).await;
        Ok(Handled::default())
    }
}

pub(crate) fn consumer(
    bench: &Bench,
    worker: WorkerId,
    group: &str,
    per_record: Duration,
    reporter: Reporter,
) -> (watch::Sender<bool>, JoinHandle<anyhow::Result<()>>) {
    let spec = ConsumerSpec {
        worker,
        group: group.into(),
        topics: vec![bench.services.config.topics.user_activity.clone()],
        limits: BatchLimits {
            max_records: 5,
            max_bytes: 1 << 20,
            max_age: Duration::from_millis(50),
        },
        retry_backoff: Duration::from_millis(50),
        in_flight: 1,
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
pub(crate) fn producer(
    bench: &Bench,
    topic: &str,
    per_sec: u64,
) -> (watch::Sender<bool>, JoinHandle<u64>) {
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

pub(crate) fn lag_of(g: &GroupStats) -> i64 {
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
        WorkerId::Indexer,
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
            .any(|m| m.client_id == "eventdeck-indexer" && m.ours && m.assignments.len() == 3),
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
    let (_stop1, _c1) = consumer(
        &bench,
        WorkerId::Indexer,
        "test-split",
        fast,
        Reporter::new(tx.clone()),
    );
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

    let (_stop2, _c2) = consumer(
        &bench,
        WorkerId::Notifier,
        "test-split",
        fast,
        Reporter::new(tx),
    );
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
        .filter(|m| {
            m.ours && ["eventdeck-indexer", "eventdeck-notifier"].contains(&m.client_id.as_str())
        })
        .map(|m| m.member.clone())
        .collect();
    assert_eq!(members.len(), 2, "{:?}", two.members);
    assert_eq!(owners, members);
    if backend == Backend::Embedded {
        assert_eq!(
            owners,
            ["indexer".to_string(), "notifier".to_string()].into()
        );
    }
}

/// Publishes `message.created` events `ids` (one channel per id modulo 3) and waits for
/// their delivery.
pub(crate) async fn publish_created(bench: &Bench, ids: std::ops::Range<usize>) {
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
        deliveries.push(
            publisher
                .enqueue(&eventdeck::event::ParsedEvent::mint(event))
                .await
                .expect("enqueue"),
        );
    }
    for d in deliveries {
        eventdeck::bus::producer::resolve(d)
            .await
            .expect("delivered");
    }
}

pub(crate) fn message_topics(bench: &Bench) -> Vec<String> {
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
