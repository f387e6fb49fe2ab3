//! The live tail (`eventdeck tail`, the console's `:tail`) on the embedded broker and on the
//! external test cluster: it shows what is produced after it starts, in partition order with
//! the right offsets, reads from the beginning on request, and joins no group: the workers'
//! committed offsets do not move and the tail's group id has nothing committed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use eventdeck::browse::tail::{start_tail, TailEvent, TailFrom, TAIL_GROUP};
use eventdeck::browse::view::TailRow;
use eventdeck::event::{MessageCreated, MessageEvent, ParsedEvent};
use eventdeck::workers::batch::Record;
use tokio::sync::mpsc;
use tokio::sync::watch;

use crate::harness::{group_positions, on_both_clusters, wait_committed, Backend, Bench};

on_both_clusters!(a_tail_shows_new_records_in_partition_order_and_moves_no_group);

const TOPIC: &str = "platform.messages.created";

fn created(i: usize) -> ParsedEvent {
    ParsedEvent::mint(MessageEvent::Created(MessageCreated {
        message_id: format!("msg_{i:05}"),
        channel_id: format!("ch_{:02}", i % 5),
        author_id: "user_001".into(),
        content: format!("tail test {i}"),
        mentions: vec![],
        attachments: vec![],
    }))
}

async fn publish(bench: &Bench, range: std::ops::Range<usize>) {
    let publisher = bench.services.publisher().expect("publisher");
    let mut deliveries = Vec::new();
    for i in range {
        deliveries.push(publisher.enqueue(&created(i)).await.expect("enqueue"));
    }
    for d in deliveries {
        eventdeck::bus::producer::resolve(d)
            .await
            .expect("delivered");
    }
}

/// Collects the tail's records until `n` arrived (or fails after `within`); also returns the
/// start offsets it announced.
async fn collect(
    events: &mut mpsc::Receiver<TailEvent>,
    n: usize,
    within: Duration,
) -> (BTreeMap<i32, i64>, Vec<Record>) {
    let deadline = Instant::now() + within;
    let mut starts = BTreeMap::new();
    let mut records = Vec::new();
    while records.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Some(TailEvent::Started { partitions })) => {
                starts = partitions.iter().map(|(p, s, _)| (*p, *s)).collect();
            }
            Ok(Some(TailEvent::Records(batch))) => records.extend(batch),
            Ok(Some(TailEvent::Error(e))) => eprintln!("tail error (retried): {e}"),
            Ok(None) => panic!("the tail stopped"),
            Err(_) => panic!("{} of {n} records within {within:?}", records.len()),
        }
    }
    (starts, records)
}

/// Waits for the tail's announcement of where it starts.
async fn started(events: &mut mpsc::Receiver<TailEvent>) -> BTreeMap<i32, i64> {
    match tokio::time::timeout(Duration::from_secs(30), events.recv()).await {
        Ok(Some(TailEvent::Started { partitions })) => {
            partitions.iter().map(|(p, s, _)| (*p, *s)).collect()
        }
        Ok(Some(TailEvent::Error(e))) => panic!("the tail did not start: {e}"),
        other => panic!("the tail did not start: {other:?}"),
    }
}

async fn a_tail_shows_new_records_in_partition_order_and_moves_no_group(backend: Backend) {
    let bench = Bench::on(backend).await;
    let (stop, shutdown) = watch::channel(false);
    let indexer = bench
        .services
        .spawn_indexer(bench.reporter.clone(), shutdown)
        .expect("indexer");
    let topics = vec![TOPIC.to_string()];
    let indexer_group = bench.services.config.groups.indexer.clone();

    // History the tail from the end must not show.
    publish(&bench, 0..40).await;
    wait_committed(
        bench.cluster(),
        &indexer_group,
        &topics,
        Duration::from_secs(60),
    )
    .await;

    let (tx, mut events) = mpsc::channel(64);
    let tail = start_tail(bench.cluster(), TOPIC, TailFrom::End, tx);
    let starts = started(&mut events).await;
    assert_eq!(
        starts.values().sum::<i64>(),
        40,
        "it starts at the end: {starts:?}"
    );

    publish(&bench, 40..100).await;
    let (_, records) = collect(&mut events, 60, Duration::from_secs(60)).await;
    assert_eq!(records.len(), 60, "exactly what came after it started");
    // Per partition: consecutive offsets from where it started, in order.
    let mut next = starts.clone();
    for r in &records {
        let expected = next.get_mut(&r.partition).expect("a known partition");
        assert_eq!(r.offset, *expected, "partition {} in order", r.partition);
        *expected += 1;
        let row = TailRow::new(r.clone());
        assert_eq!(row.event_type.as_deref(), Some("message.created"));
        assert!(row.summary.contains("tail test"), "{}", row.summary);
    }
    let mut ids: Vec<String> = records
        .iter()
        .map(|r| TailRow::new(r.clone()).summary)
        .map(|s| s.rsplit(' ').next().unwrap_or_default().to_string())
        .collect();
    ids.sort();
    let expected: Vec<String> = (40..100).map(|i| format!("msg_{i:05}")).collect();
    assert_eq!(ids, expected);
    tail.stop();

    // From the beginning: every record.
    let (tx, mut events) = mpsc::channel(64);
    let tail = start_tail(bench.cluster(), TOPIC, TailFrom::Beginning, tx);
    let (starts, records) = collect(&mut events, 100, Duration::from_secs(60)).await;
    assert!(starts.values().all(|s| *s == 0), "{starts:?}");
    assert_eq!(records.len(), 100);
    tail.stop();

    // The workers' group is where the indexer left it, and the tail committed nothing.
    wait_committed(
        bench.cluster(),
        &indexer_group,
        &topics,
        Duration::from_secs(60),
    )
    .await;
    let _ = stop.send(true);
    let _ = indexer.await;
    let before = group_positions(bench.cluster(), &indexer_group, &topics)
        .await
        .expect("positions");
    let (tx, mut events) = mpsc::channel(64);
    let tail = start_tail(bench.cluster(), TOPIC, TailFrom::Beginning, tx);
    collect(&mut events, 100, Duration::from_secs(60)).await;
    tail.stop();
    let after = group_positions(bench.cluster(), &indexer_group, &topics)
        .await
        .expect("positions");
    assert_eq!(before, after, "tailing moves no committed offset");
    let tails = group_positions(bench.cluster(), TAIL_GROUP, &topics)
        .await
        .expect("positions");
    assert!(
        tails
            .iter()
            .all(|(_, _, _, _, committed)| committed.is_none()),
        "the tail commits nothing: {tails:?}"
    );
}
