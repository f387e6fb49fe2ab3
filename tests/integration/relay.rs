//! The outbox relay against real services: what the write model committed reaches the topics
//! once, in commit order per channel (the Kafka key), with the event id in a header, and the
//! backlog drains; on PostgreSQL two relays racing over the same outbox never publish an
//! entry twice and keep each channel's order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use eventdeck::config::TopicsConfig;
use eventdeck::event::{parse_message_event, MessageEvent};
use eventdeck::store::postgres::PgStore;
use eventdeck::store::{PostMessage, SharedStore};
use eventdeck::workers::relay::{relay_once, run_relay, Relay, HEADER_EVENT_ID};
use eventdeck::workers::report::{Reporter, WorkerEvent};
use rdkafka::message::{Headers, OwnedMessage};
use rdkafka::Message;

use crate::harness::{read_topic, Bench};

fn post(channel: usize, i: usize) -> PostMessage {
    PostMessage {
        channel_id: format!("ch_{channel:02}"),
        author_id: "user_001".into(),
        content: format!("relay message {i:05}"),
        attachments: vec![],
    }
}

fn relay(bench: &Bench, store: SharedStore) -> Relay {
    Relay {
        store,
        producer: eventdeck::bus::producer::EventProducer::new(
            bench.cluster(),
            &bench.services.config.producer,
            "relay-test",
        )
        .expect("producer"),
        batch: 100,
        idle: Duration::from_millis(20),
        idle_max: Duration::from_millis(20),
        committed: Default::default(),
        retry_backoff: Duration::from_millis(50),
    }
}

/// (channel, the number in the text, event id header) of each created record, per partition
/// in offset order.
fn created_records(records: &[OwnedMessage]) -> Vec<(String, usize, String)> {
    records
        .iter()
        .map(|m| {
            let event = parse_message_event(m.payload().unwrap_or_default()).expect("an event");
            let header = m
                .headers()
                .and_then(|h| h.iter().find(|h| h.key == HEADER_EVENT_ID))
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            assert_eq!(header, event.event_id, "the header carries the event id");
            let MessageEvent::Created(c) = event.event else {
                panic!("not a create: {event:?}");
            };
            let n = c
                .content
                .rsplit(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("n");
            (c.channel_id, n, header)
        })
        .collect()
}

/// Every record once, and each channel's records in the order they were posted.
fn assert_once_in_order(records: &[(String, usize, String)], expected: usize) {
    let ids: std::collections::BTreeSet<&String> = records.iter().map(|r| &r.2).collect();
    assert_eq!(
        (records.len(), ids.len()),
        (expected, expected),
        "once each"
    );
    let mut per_channel: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (channel, n, _) in records {
        per_channel.entry(channel).or_default().push(*n);
    }
    for (channel, ns) in per_channel {
        assert!(
            ns.windows(2).all(|w| w[0] < w[1]),
            "{channel} out of order: {ns:?}"
        );
    }
}

async fn read_created(bench: &Bench) -> Vec<(String, usize, String)> {
    let topic = &bench.services.config.topics.created;
    created_records(&read_topic(bench.cluster(), topic).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_relay_publishes_the_embedded_outbox_once_in_order_per_channel() {
    let bench = Bench::start().await;
    let store = bench.store();
    for i in 0..300 {
        store.post(post(i % 5, i), None).await.expect("post");
    }
    assert_eq!(store.backlog().await.expect("backlog").rows, 300);
    let relay = relay(&bench, store.clone());
    let mut published = 0;
    while published < 300 {
        published += relay_once(&relay).await.expect("relay");
    }
    assert_eq!(store.backlog().await.expect("backlog").rows, 0);
    assert_eq!(relay_once(&relay).await.expect("relay"), 0, "nothing left");
    assert_once_in_order(&read_created(&bench).await, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_relays_on_postgres_never_publish_an_entry_twice() {
    let bench = Bench::start().await;
    let store = postgres_store().await;
    const N: usize = 1_000;
    // Posts keep arriving while both relays run (the worker loop, as in production); each
    // relay's reports say how many entries it marked published.
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let relays: Vec<_> = (0..2)
        .map(|_| {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let task = tokio::spawn(run_relay(
                relay(&bench, store.clone()),
                Reporter::new(tx),
                shutdown.clone(),
            ));
            (task, rx)
        })
        .collect();
    for i in 0..N {
        store.post(post(i % 10, i), None).await.expect("post");
    }
    backlog_below(&store, 1).await;
    let _ = stop.send(true);
    let mut shares = Vec::new();
    for (task, mut reports) in relays {
        task.await.expect("join").expect("relay stopped");
        let mut marked = 0;
        while let Ok(event) = reports.try_recv() {
            if let WorkerEvent::Processed { records, .. } = event {
                marked += records;
            }
        }
        shares.push(marked);
    }
    assert_eq!(
        shares.iter().sum::<u64>(),
        N as u64,
        "marked published once each: {shares:?}"
    );
    let records = read_created(&bench).await;
    assert_once_in_order(&records, N);
    println!("relay shares: {shares:?}");
}

/// Row → outbox → topic → index → search, through the running pipeline (its relay worker),
/// with the monitor showing the backlog drain.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_posted_message_flows_from_the_row_to_a_search_hit() {
    use eventdeck::monitor::{spawn_monitor, MonitorOptions, MonitorSetup};
    let bench = Bench::start().await;
    let store = bench.store();
    let pipeline = bench.pipeline();
    let mut options = MonitorOptions::from_config(&bench.services.config);
    options.interval = Duration::from_millis(200);
    let (snapshots, monitor) = spawn_monitor(
        MonitorSetup::new(bench.cluster().clone(), options).with_store(store.clone()),
    );
    let posted = store
        .post(
            PostMessage {
                channel_id: "ch_dev".into(),
                author_id: "user_001".into(),
                content: "outboxflow 배포 완료 @user_002".into(),
                attachments: vec![],
            },
            Some("flow-1"),
        )
        .await
        .expect("post");
    let id = posted.message.message_id.clone();
    let query = eventdeck::search::SearchQuery {
        text: "outboxflow".into(),
        ..Default::default()
    };
    let index = bench.services.index.clone();
    let hit = crate::harness::eventually("the post is searchable", Duration::from_secs(30), || {
        let (index, query) = (index.clone(), query.clone());
        async move {
            index.refresh().await.map_err(|e| e.to_string())?;
            let found = index.search(&query).await.map_err(|e| e.to_string())?;
            found
                .hits
                .into_iter()
                .next()
                .ok_or_else(|| "no hit yet".to_string())
        }
    })
    .await;
    assert_eq!(hit.doc.message_id, id);
    crate::harness::eventually(
        "the monitor sees an empty outbox",
        Duration::from_secs(10),
        || {
            let snapshots = snapshots.clone();
            async move {
                match snapshots.borrow().outbox.as_ref().map(|o| o.rows) {
                    Some(Some(0)) => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            }
        },
    )
    .await;
    monitor.abort();
    assert!(pipeline.stop().await.is_empty());
}

/// The broker down (noida's Kafka stopped, data kept): commands still commit and the backlog
/// shows them waiting; the broker back: every event is published once, in order per channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_broker_down_commands_commit_and_wait_then_publish_once_in_order() {
    let bench = Bench::on(crate::harness::Backend::Noida).await;
    let store = bench.store();
    // Topics exist (Services created them); then the broker goes away.
    bench.noida().stop_service("kafka");
    for i in 0..60 {
        store
            .post(post(i % 4, i), None)
            .await
            .expect("commits while the broker is down");
    }
    assert_eq!(store.backlog().await.expect("backlog").rows, 60);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(run_relay(
        relay(&bench, store.clone()),
        Reporter::silent(),
        shutdown,
    ));
    // Nothing can be acknowledged: for a second of the relay trying, every entry stays
    // waiting and none is marked (polled, like `eventually`, but asserting all along).
    let watch_until = std::time::Instant::now() + Duration::from_secs(1);
    while std::time::Instant::now() < watch_until {
        assert_eq!(store.backlog().await.expect("backlog").rows, 60);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bench.noida().start_service("kafka");
    backlog_below(&store, 1).await;
    let _ = stop.send(true);
    task.await.expect("join").expect("relay stopped");
    assert_once_in_order(&read_created(&bench).await, 60);
}

/// A relay killed in the middle of a claim (its task aborted: on PostgreSQL the claim's
/// transaction rolls back with the connection) and a new one started: nothing is lost; what
/// the dead one had sent comes again with the same event id, never out of order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_killed_mid_batch_and_restarted_loses_nothing() {
    let bench = Bench::start().await;
    let store = postgres_store().await;
    const N: usize = 2_000;
    for i in 0..N {
        store.post(post(i % 8, i), None).await.expect("post");
    }
    let (_keep, shutdown) = tokio::sync::watch::channel(false);
    let first = tokio::spawn(run_relay(
        relay(&bench, store.clone()),
        Reporter::silent(),
        shutdown.clone(),
    ));
    // Killed once it is under way: some entries marked, most still waiting.
    backlog_below(&store, N as u64 - 100).await;
    first.abort();
    let _ = first.await;
    let left = store.backlog().await.expect("backlog").rows;
    assert!(left > 0, "killed too late to mean anything");
    let second = tokio::spawn(run_relay(
        relay(&bench, store.clone()),
        Reporter::silent(),
        shutdown,
    ));
    backlog_below(&store, 1).await;
    second.abort();
    // Every event at least once; a repeat carries the same event id; each channel's events
    // first appear in the order they were posted.
    let records = read_created(&bench).await;
    let mut seen = std::collections::BTreeSet::new();
    let mut firsts = Vec::new();
    for r in records {
        if seen.insert(r.2.clone()) {
            firsts.push(r);
        }
    }
    assert_once_in_order(&firsts, N);
    println!("killed with {left} of {N} waiting");
}

/// Waits until fewer than `n` outbox entries wait.
async fn backlog_below(store: &SharedStore, n: u64) {
    crate::harness::eventually(
        &format!("fewer than {n} outbox entries waiting"),
        Duration::from_secs(60),
        || {
            let store = store.clone();
            async move {
                match store.backlog().await.map_err(|e| e.to_string())?.rows {
                    rows if rows < n => Ok(()),
                    rows => Err(format!("{rows} waiting")),
                }
            }
        },
    )
    .await;
}

/// A write store on a fresh database of the test PostgreSQL.
async fn postgres_store() -> SharedStore {
    let url = crate::postgres::database().await;
    Arc::new(
        PgStore::open(&url, TopicsConfig::default())
            .await
            .expect("postgres store"),
    )
}

/// The console's load generator writes through the write model: every generated message it
/// published has a row (so the console can edit it like any other) and reached the topic
/// from the outbox, with the event id header only the relay sets.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_load_generator_writes_rows_that_the_relay_publishes() {
    use eventdeck::ops::{Command, EditMessage, Write};
    let bench = Bench::start().await;
    let store = bench.store();
    let pipeline = bench.pipeline();
    pipeline
        .commands
        .send(Command::SetRate(300))
        .await
        .expect("rate");
    pipeline
        .commands
        .send(Command::SetLoad(true))
        .await
        .expect("load on");
    let topic = bench.services.config.topics.created.clone();
    let records = crate::harness::eventually(
        "200 generated messages on the topic",
        Duration::from_secs(60),
        || {
            let (cluster, topic) = (bench.cluster().clone(), topic.clone());
            async move {
                let records = read_topic(&cluster, &topic).await;
                if records.len() >= 200 {
                    Ok(records)
                } else {
                    Err(format!("{} so far", records.len()))
                }
            }
        },
    )
    .await;
    pipeline
        .commands
        .send(Command::SetLoad(false))
        .await
        .expect("load off");
    let mut first = None;
    for m in &records {
        let event = parse_message_event(m.payload().unwrap_or_default()).expect("an event");
        let has_header = m
            .headers()
            .is_some_and(|h| h.iter().any(|h| h.key == HEADER_EVENT_ID));
        assert!(has_header, "published by the relay: {event:?}");
        let MessageEvent::Created(c) = event.event else {
            panic!("not a create")
        };
        let row = store.get(&c.message_id).await.expect("get");
        let row = row.unwrap_or_else(|| panic!("no row for generated {}", c.message_id));
        // The generator edits and deletes its messages later: the row may be newer.
        assert_eq!(
            (&row.channel_id, &row.author_id),
            (&c.channel_id, &c.author_id)
        );
        if row.deleted_at.is_none() {
            first.get_or_insert(c.message_id);
        }
    }
    // A generated message is edited like any other (the console's `e` on a search hit).
    let (reply, answer) = tokio::sync::oneshot::channel();
    let message_id = first.expect("a record");
    pipeline
        .commands
        .send(Command::Write {
            write: Write::Edit {
                message_id: message_id.clone(),
                edit: EditMessage {
                    content: "edited by a person".into(),
                    editor_id: None,
                },
            },
            reply: Some(reply),
        })
        .await
        .expect("send");
    let edited = answer.await.expect("answer").expect("edit committed");
    assert_eq!(edited.content, "edited by a person");
    assert!(pipeline.stop().await.is_empty());
}
