//! `eventdeck trace` on the embedded broker and the external test cluster: a message posted
//! with a mention, edited once validly and once with a broken payload, followed through the
//! indexer (committed past its events), the index (the edit's version), the dead-letter
//! topic (the broken edit, with its reason and source) and the notification it caused.

use std::time::Duration;

use eventdeck::browse::trace::trace;
use eventdeck::event::{MessageCreated, MessageEvent, MessageUpdated, ParsedEvent};
use tokio::sync::watch;

use crate::harness::{eventually, on_both_clusters, wait_committed, Backend, Bench};

on_both_clusters!(trace_follows_a_message_through_index_dlq_and_notifications);

async fn trace_follows_a_message_through_index_dlq_and_notifications(backend: Backend) {
    let mut bench = Bench::on(backend).await;
    let config = bench.services.config.clone();
    let publisher = bench.services.publisher().expect("publisher");
    let id = "msg_trace_0001";
    let events = [
        MessageEvent::Created(MessageCreated {
            message_id: id.into(),
            channel_id: "ch_dev".into(),
            author_id: "user_001".into(),
            content: "배포를 시작합니다 @user_002".into(),
            mentions: vec!["user_002".into()],
            attachments: vec![],
        }),
        MessageEvent::Updated(MessageUpdated {
            message_id: id.into(),
            channel_id: "ch_dev".into(),
            content: "배포 완료 @user_002".into(),
            mentions: vec!["user_002".into()],
            edited_at: None,
            editor_id: None,
        }),
    ];
    for e in events {
        let d = publisher
            .enqueue(&ParsedEvent::mint(e))
            .await
            .expect("enqueue");
        eventdeck::bus::producer::resolve(d)
            .await
            .expect("delivered");
    }
    // An edit whose payload lacks its channel: a dead letter that names the message.
    let broken = format!(
        r#"{{"event_type":"message.updated","event_id":"e-broken","timestamp":1,"payload":{{"message_id":"{id}","content":"x"}}}}"#
    );
    publisher
        .producer
        .send(
            &config.topics.updated,
            Some(&b"ch_dev"[..]),
            Some(broken.as_bytes()),
            &[],
        )
        .await
        .expect("raw");
    // Another message, which the trace must leave out.
    let other = publisher
        .enqueue(&ParsedEvent::mint(MessageEvent::Created(MessageCreated {
            message_id: "msg_trace_0002".into(),
            channel_id: "ch_dev".into(),
            author_id: "user_001".into(),
            content: "unrelated @user_003".into(),
            mentions: vec!["user_003".into()],
            attachments: vec![],
        })))
        .await
        .expect("enqueue");
    eventdeck::bus::producer::resolve(other)
        .await
        .expect("delivered");

    let (_stop, shutdown) = watch::channel(false);
    let _indexer = bench
        .services
        .spawn_indexer(bench.reporter.clone(), shutdown.clone())
        .expect("indexer");
    let _notifier = bench
        .services
        .spawn_notifier(bench.reporter.clone(), shutdown)
        .expect("notifier");
    bench
        .wait_processed("indexer", 4, Duration::from_secs(60))
        .await;
    let topics: Vec<String> = config
        .message_topics()
        .iter()
        .map(|t| t.to_string())
        .collect();
    wait_committed(
        bench.cluster(),
        &config.groups.indexer,
        &topics,
        Duration::from_secs(60),
    )
    .await;
    bench.services.index.refresh().await.expect("refresh");

    let traced = eventually("the whole trace", Duration::from_secs(60), || async {
        let t = trace(bench.cluster(), &config, bench.services.index.as_ref(), id)
            .await
            .map_err(|e| e.to_string())?;
        if t.notifications.is_empty() || t.dead_letters.is_empty() {
            return Err(format!("not yet: {t:?}"));
        }
        Ok(t)
    })
    .await;
    let kinds: Vec<&str> = traced
        .events
        .iter()
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "message.created").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.len(),
        3,
        "created, the edit, the broken edit: {kinds:?}"
    );
    assert!(
        traced.events.iter().all(|e| e.passed_indexer == Some(true)),
        "{:?}",
        traced.events
    );
    let doc = traced.document.as_ref().expect("indexed");
    assert_eq!(doc.content, "배포 완료 @user_002");
    assert_eq!(traced.dead_letters.len(), 1, "{:?}", traced.dead_letters);
    let dead = &traced.dead_letters[0];
    assert!(dead.source.starts_with(&config.topics.updated), "{dead:?}");
    assert!(!dead.reason.is_empty() && dead.reason != "(no reason header)");
    assert_eq!(traced.notifications.len(), 1, "one mention, notified once");
    assert_eq!(traced.notifications[0].user_id, "user_002");
    let text = traced.render();
    assert!(text.contains("the indexer has passed it"), "{text}");
    assert!(!text.contains("msg_trace_0002"), "{text}");
}
