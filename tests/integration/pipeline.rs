//! The event pipeline end to end: producer → broker → indexer → search, and the notifier, as
//! the platform guide describes them. Every case runs twice (`embedded::…`, `noida::…`): on the
//! embedded broker with osmem-server, and on noida-db as an external cluster (its Kafka and
//! its Elasticsearch API).

use std::collections::BTreeMap;
use std::time::Duration;

use eventdeck::event::ParsedEvent;
use eventdeck::event::{MessageCreated, MessageDeleted, MessageEvent, MessageUpdated};
use eventdeck::search::{SearchDoc, SearchQuery, SortOrder};
use eventdeck::workers::dlq::{HEADER_OFFSET, HEADER_REASON, HEADER_TOPIC};
use eventdeck::workers::publisher::Publisher;
use rdkafka::message::Headers;
use rdkafka::Message;
use tokio::sync::watch;

use crate::harness::{eventually, on_both_clusters, read_topic, wait_committed, Backend, Bench};

const WAIT: Duration = Duration::from_secs(90);

on_both_clusters!(
    a_thousand_created_events_are_searchable_with_their_fields,
    updates_change_the_text_deletes_remove_and_a_replay_changes_nothing,
    malformed_and_unknown_events_go_to_the_dlq_and_their_neighbours_are_indexed,
    each_mention_produces_exactly_one_notification_even_after_a_restart,
    an_indexer_dropped_mid_stream_and_restarted_loses_nothing,
);

fn created(i: usize, text: &str, mentions: &[&str]) -> MessageEvent {
    MessageEvent::Created(MessageCreated {
        message_id: format!("msg_{i:05}"),
        channel_id: format!("ch_{:02}", i % 7),
        author_id: format!("user_{:03}", i % 13),
        content: text.to_string(),
        mentions: mentions.iter().map(|m| m.to_string()).collect(),
        attachments: vec![],
    })
}

async fn publish_all(publisher: &Publisher, events: &[MessageEvent]) {
    let mut deliveries = Vec::new();
    for e in events {
        deliveries.push(
            publisher
                .enqueue(&ParsedEvent::mint(e.clone()))
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

async fn all_docs(bench: &Bench, n: usize) -> BTreeMap<String, SearchDoc> {
    let ids: Vec<String> = (0..n).map(|i| format!("msg_{i:05}")).collect();
    let mut out = BTreeMap::new();
    for chunk in ids.chunks(500) {
        out.extend(bench.services.index.get(chunk).await.expect("get"));
    }
    out
}

fn matching(text: &str) -> SearchQuery {
    SearchQuery {
        text: text.into(),
        page_size: 50,
        ..SearchQuery::default()
    }
}

async fn a_thousand_created_events_are_searchable_with_their_fields(backend: Backend) {
    let mut bench = Bench::on(backend).await;
    let publisher = bench.services.publisher().expect("publisher");
    let events: Vec<MessageEvent> = (0..1000)
        .map(|i| {
            created(
                i,
                &format!("release note {i} 프로젝트 배포 완료 word{i}"),
                &[],
            )
        })
        .collect();
    let before = eventdeck::event::now_ms();
    publish_all(&publisher, &events).await;
    let (_stop, rx) = watch::channel(false);
    let _indexer = bench
        .services
        .spawn_indexer(bench.reporter.clone(), rx)
        .expect("indexer");
    bench.wait_processed("indexer", 1000, WAIT).await;
    let index = bench.services.index.clone();
    eventually("1000 documents counted", WAIT, || {
        let index = index.clone();
        async move {
            let n = index.count().await.map_err(|e| e.to_string())?;
            (n == 1000).then_some(()).ok_or(format!("count {n}"))
        }
    })
    .await;
    // Every message is found by a match on a word of its own content.
    for i in [0usize, 1, 499, 998, 999] {
        let r = index
            .search(&matching(&format!("word{i}")))
            .await
            .expect("search");
        assert_eq!(r.total, 1, "word{i}");
        let d = &r.hits[0].doc;
        assert_eq!(d.message_id, format!("msg_{i:05}"));
        assert_eq!(d.channel, format!("ch_{:02}", i % 7));
        assert_eq!(d.author, format!("user_{:03}", i % 13));
        let at = d.created_at.expect("created_at");
        assert!(at >= before && at <= eventdeck::event::now_ms(), "{at}");
        assert!(
            r.hits[0].highlights[0].contains("<em>word"),
            "{:?}",
            r.hits[0].highlights
        );
    }
    let korean = index.search(&matching("배포")).await.expect("search");
    assert_eq!(korean.total, 1000);
    let mut q = matching("release");
    q.channel = Some("ch_03".into());
    q.sort = SortOrder::NewestFirst;
    let filtered = index.search(&q).await.expect("search");
    assert_eq!(
        filtered.total,
        (0..1000).filter(|i| i % 7 == 3).count() as u64
    );
    assert!(filtered.hits.iter().all(|h| h.doc.channel == "ch_03"));
}

async fn updates_change_the_text_deletes_remove_and_a_replay_changes_nothing(backend: Backend) {
    let bench = Bench::on(backend).await;
    let publisher = bench.services.publisher().expect("publisher");
    let mut events: Vec<MessageEvent> = (0..200)
        .map(|i| created(i, &format!("original text {i}"), &[]))
        .collect();
    for i in (0..200).step_by(2) {
        events.push(MessageEvent::Updated(MessageUpdated {
            message_id: format!("msg_{i:05}"),
            channel_id: format!("ch_{:02}", i % 7),
            content: format!("edited text {i}"),
            mentions: vec![],
            edited_at: None,
            editor_id: None,
        }));
    }
    for i in (0..200).step_by(5) {
        events.push(MessageEvent::Deleted(MessageDeleted {
            message_id: format!("msg_{i:05}"),
            channel_id: format!("ch_{:02}", i % 7),
            deleted_by: "moderator".into(),
        }));
    }
    let total = events.len() as u64;
    // One at a time, so that event timestamps follow the order above.
    for e in &events {
        let d = publisher
            .enqueue(&ParsedEvent::mint(e.clone()))
            .await
            .expect("enqueue");
        eventdeck::bus::producer::resolve(d)
            .await
            .expect("delivered");
    }
    let (stop, rx) = watch::channel(false);
    let indexer = bench
        .services
        .spawn_indexer(bench.reporter.clone(), rx)
        .expect("indexer");
    // Done means committed up to the high watermarks: a count of handled records can run
    // ahead of the index when a rebalance redelivers a batch (it is counted twice).
    let (group, topics) = indexer_group_and_topics(&bench);
    wait_committed(bench.cluster(), &group, &topics, WAIT).await;
    let index = bench.services.index.clone();
    index.refresh().await.expect("refresh");
    let live = 200 - 40;
    assert_eq!(index.count().await.expect("count"), live);
    let edited = index.search(&matching("edited")).await.expect("search");
    let edited_live = (0..200).filter(|i| i % 2 == 0 && i % 5 != 0).count() as u64;
    assert_eq!(edited.total, edited_live);
    let original = index.search(&matching("original")).await.expect("search");
    assert_eq!(
        original.total,
        live - edited_live,
        "edited docs lost their old text"
    );
    let gone = index.search(&matching("text 10")).await.expect("search");
    assert!(
        gone.hits.iter().all(|h| h.doc.message_id != "msg_00010"),
        "deleted msg_00010 found"
    );
    let before = all_docs(&bench, 200).await;
    assert_eq!(before.len(), 200, "tombstones are kept for the guard");

    // Replay everything from offset 0 under a new group: the index must not change.
    let _ = stop.send(true);
    indexer
        .await
        .expect("join")
        .expect("indexer stopped cleanly");
    let mut replay = bench.services.config.clone();
    replay.groups.indexer = "search-indexer-replay".into();
    let replay_services = eventdeck::workers::supervisor::Services {
        config: replay,
        data_dir: eventdeck::embedded::datadir::DataDir::open(&bench.dir.path().join("replay"))
            .expect("dir"),
        broker: None,
        cluster: bench.services.cluster.clone(),
        index: bench.services.index.clone(),
        store: Err(eventdeck::store::StoreError::db(
            "not opened",
            std::io::Error::other("the replayer needs no write store"),
        )
        .into()),
        warnings: vec![],
        meter: Default::default(),
        board: Default::default(),
        producer: bench.services.producer.clone(),
        activity: None,
        committed: Default::default(),
        high_water: bench.services.high_water.clone(),
    };
    // Its own reporter: what the replayer handled, apart from anything the first indexer
    // reported.
    let (replay_tx, mut replay_events) = tokio::sync::mpsc::unbounded_channel();
    let (stop2, rx2) = watch::channel(false);
    let replayer = replay_services
        .spawn_indexer(eventdeck::workers::report::Reporter::new(replay_tx), rx2)
        .expect("replayer");
    wait_committed(bench.cluster(), "search-indexer-replay", &topics, WAIT).await;
    let _ = stop2.send(true);
    replayer
        .await
        .expect("join")
        .expect("replayer stopped cleanly");
    let mut replayed = 0;
    while let Ok(event) = replay_events.try_recv() {
        if let eventdeck::workers::report::WorkerEvent::Processed { records, .. } = event {
            replayed += records;
        }
    }
    assert!(
        replayed >= total,
        "the replay handled {replayed} of {total}"
    );
    index.refresh().await.expect("refresh");
    let after = all_docs(&bench, 200).await;
    assert_eq!(before, after, "a replay changed the index");
    assert_eq!(index.count().await.expect("count"), live);
}

async fn malformed_and_unknown_events_go_to_the_dlq_and_their_neighbours_are_indexed(
    backend: Backend,
) {
    let mut bench = Bench::on(backend).await;
    let publisher = bench.services.publisher().expect("publisher");
    let topic = bench.services.config.topics.created.clone();
    publish_all(&publisher, &[created(1, "before the bad ones", &[])]).await;
    let producer = publisher.producer.clone();
    producer
        .send(
            &topic,
            Some(&b"ch_x"[..]),
            Some(&b"{this is not json"[..]),
            &[],
        )
        .await
        .expect("raw");
    let unknown = br#"{"event_type":"message.pinned","event_id":"e","timestamp":1,"payload":{}}"#;
    producer
        .send(&topic, Some(&b"ch_x"[..]), Some(&unknown[..]), &[])
        .await
        .expect("raw");
    publish_all(&publisher, &[created(2, "after the bad ones", &[])]).await;

    let (_stop, rx) = watch::channel(false);
    let _indexer = bench
        .services
        .spawn_indexer(bench.reporter.clone(), rx)
        .expect("indexer");
    bench.wait_processed("indexer", 4, WAIT).await;
    bench.services.index.refresh().await.expect("refresh");
    assert_eq!(bench.services.index.count().await.expect("count"), 2);

    let dlq = read_topic(bench.cluster(), &bench.services.config.topics.dlq).await;
    assert_eq!(dlq.len(), 2, "two dead letters");
    let header = |m: &rdkafka::message::OwnedMessage, key: &str| -> String {
        let h = m.headers().expect("headers");
        h.iter()
            .find(|h| h.key == key)
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    };
    let reasons: Vec<String> = dlq.iter().map(|m| header(m, HEADER_REASON)).collect();
    assert!(
        reasons.iter().any(|r| r.starts_with("malformed JSON")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("message.pinned")),
        "{reasons:?}"
    );
    for m in &dlq {
        assert_eq!(header(m, HEADER_TOPIC), topic);
        assert!(header(m, HEADER_OFFSET).parse::<i64>().is_ok());
    }
    assert!(
        dlq.iter()
            .any(|m| m.payload() == Some(&b"{this is not json"[..])),
        "payload kept"
    );
}

async fn each_mention_produces_exactly_one_notification_even_after_a_restart(backend: Backend) {
    let mut bench = Bench::on(backend).await;
    let publisher = bench.services.publisher().expect("publisher");
    let mut events = vec![
        // author user_001 (i=1 → 1 % 13): a self-mention is not notified.
        created(
            1,
            "배포 완료 @user_002 @user_001",
            &["user_002", "user_001"],
        ),
        created(
            2,
            "review please @user_003 and @user_004",
            &["user_003", "user_004"],
        ),
        created(3, "no mentions here", &[]),
    ];
    events.push(MessageEvent::Updated(MessageUpdated {
        message_id: "msg_00002".into(),
        channel_id: "ch_02".into(),
        content: "review please @user_003 @user_004 @user_005".into(),
        mentions: vec!["user_003".into(), "user_004".into(), "user_005".into()],
        edited_at: None,
        editor_id: None,
    }));
    publish_all(&publisher, &events).await;
    let expected = 4; // user_002; user_003, user_004; user_005 added by the edit

    let (stop, rx) = watch::channel(false);
    let notifier = bench
        .services
        .spawn_notifier(bench.reporter.clone(), rx)
        .expect("notifier");
    bench.wait_processed("notifier", 4, WAIT).await;
    let _ = stop.send(true);
    notifier.await.expect("join").expect("notifier stopped");

    // The same events again (a replay upstream): nothing new may be sent.
    publish_all(&publisher, &events[..2]).await;
    let (_stop2, rx2) = watch::channel(false);
    let _again = bench
        .services
        .spawn_notifier(bench.reporter.clone(), rx2)
        .expect("notifier again");
    bench.wait_processed("notifier", 2, WAIT).await;

    let sent = read_topic(bench.cluster(), &bench.services.config.topics.notifications).await;
    let mut pairs: Vec<(String, String)> = sent
        .iter()
        .map(|m| {
            let env: eventdeck::event::Envelope =
                serde_json::from_slice(m.payload().expect("payload")).expect("envelope");
            assert_eq!(env.event_type, "notification.sent");
            (
                env.payload["message_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                env.payload["user_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    pairs.sort();
    assert_eq!(sent.len(), expected, "{pairs:?}");
    assert_eq!(
        pairs,
        vec![
            ("msg_00001".to_string(), "user_002".to_string()),
            ("msg_00002".to_string(), "user_003".to_string()),
            ("msg_00002".to_string(), "user_004".to_string()),
            ("msg_00002".to_string(), "user_005".to_string()),
        ]
    );
}

async fn an_indexer_dropped_mid_stream_and_restarted_loses_nothing(backend: Backend) {
    let mut bench = Bench::on(backend).await;
    let publisher = bench.services.publisher().expect("publisher");
    let n = 3000;
    let events: Vec<MessageEvent> = (0..n)
        .map(|i| created(i, &format!("stream message {i}"), &[]))
        .collect();
    publish_all(&publisher, &events).await;
    let (_stop, rx) = watch::channel(false);
    let first = bench
        .services
        .spawn_indexer(bench.reporter.clone(), rx.clone())
        .expect("indexer");
    // Let it get part of the way, then kill it without flushing or committing.
    bench.wait_processed("indexer", 1, WAIT).await;
    first.abort();
    let _ = first.await;
    let second = bench
        .services
        .spawn_indexer(bench.reporter.clone(), rx)
        .expect("indexer again");
    let index = bench.services.index.clone();
    eventually("all messages indexed after the restart", WAIT, || {
        let index = index.clone();
        async move {
            let c = index.count().await.map_err(|e| e.to_string())?;
            (c == n as u64).then_some(()).ok_or(format!("count {c}"))
        }
    })
    .await;
    let docs = all_docs(&bench, n).await;
    assert_eq!(docs.len(), n);
    assert!(!second.is_finished());
}

/// A fault injected for real: noida's Elasticsearch is stopped while the indexer works
/// (`noida-db stop elasticsearch`, the port refuses connections) and started again with its
/// data. The indexer retries, commits nothing it did not index, and loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn noida_search_stopped_mid_stream_and_started_again_loses_nothing() {
    let bench = Bench::on(Backend::Noida).await;
    let publisher = bench.services.publisher().expect("publisher");
    let n = 1000;
    let events: Vec<MessageEvent> = (0..n)
        .map(|i| created(i, &format!("fault message {i}"), &[]))
        .collect();
    publish_all(&publisher, &events[..n / 2]).await;
    let (tx, mut reports) = tokio::sync::mpsc::unbounded_channel();
    let (_stop, rx) = watch::channel(false);
    let _indexer = bench
        .services
        .spawn_indexer(eventdeck::workers::report::Reporter::new(tx), rx)
        .expect("indexer");
    let (group, topics) = indexer_group_and_topics(&bench);
    wait_committed(bench.cluster(), &group, &topics, WAIT).await;

    bench.noida().stop_service("elasticsearch");
    publish_all(&publisher, &events[n / 2..]).await;
    // The indexer meets the stopped server: it says so and backs off.
    eventually("the indexer reports the search server down", WAIT, || {
        let mut failing = None;
        while let Ok(e) = reports.try_recv() {
            if let eventdeck::workers::report::WorkerEvent::State {
                state: eventdeck::workers::report::WorkerState::BackingOff { error, .. },
                ..
            } = e
            {
                failing = Some(error);
            }
        }
        async move { failing.ok_or("no back-off reported yet".to_string()) }
    })
    .await;
    // Nothing it could not index is committed.
    let rows = crate::harness::group_positions(bench.cluster(), &group, &topics)
        .await
        .expect("positions");
    let committed: i64 = rows.iter().filter_map(|r| r.4).sum();
    assert_eq!(committed, (n / 2) as i64, "{rows:?}");

    bench.noida().start_service("elasticsearch");
    wait_committed(bench.cluster(), &group, &topics, WAIT).await;
    bench.services.index.refresh().await.expect("refresh");
    assert_eq!(bench.services.index.count().await.expect("count"), n as u64);
    let docs = all_docs(&bench, n).await;
    assert_eq!(
        docs.len(),
        n,
        "the first half survived the stop, the second was indexed"
    );
}

/// The indexer's group and the message topics it reads, to wait on its committed offsets
/// reaching the high watermarks: done, whatever a rebalance made it handle twice.
fn indexer_group_and_topics(bench: &Bench) -> (String, Vec<String>) {
    let config = &bench.services.config;
    let topics = config
        .message_topics()
        .iter()
        .map(|t| t.to_string())
        .collect();
    (config.groups.indexer.clone(), topics)
}
