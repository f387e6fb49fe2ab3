//! Backpressure on the producing side: the broker frozen (SIGSTOP of the process holding it)
//! while posts keep arriving in the write model. The relay counts a row as published only
//! once the broker has acknowledged it, so `status` shows the published count standing still
//! and the outbox holding every new post; once the broker is back, both figures equal what
//! the topic holds.

use std::time::Duration;

use eventdeck::config::TopicsConfig;
use eventdeck::store::postgres::PgStore;
use eventdeck::store::{MessageStore, PostMessage};
use serde_json::Value;

use crate::harness::{eventually, read_topic};
use crate::node::{signal, KeepOnPanic, KillOnDrop, Node};

const BEFORE: usize = 200;
const DURING: usize = 300;

async fn post(store: &PgStore, range: std::ops::Range<usize>) {
    for i in range {
        let post = PostMessage {
            channel_id: format!("ch_b{:02}", i % 7),
            author_id: format!("user_b{:02}", i % 5),
            content: format!("frozenmark post {i}"),
            attachments: vec![],
        };
        store.post(post, None).await.expect("post");
    }
}

/// The relay's published count and the outbox's rows, from `status --json`.
fn figures(report: &Value) -> (Option<u64>, Option<u64>) {
    let published = report["workers"]
        .as_array()
        .and_then(|ws| ws.iter().find(|w| w["worker"] == "relay"))
        .and_then(|w| w["processed"].as_u64());
    (published, report["outbox"]["rows"].as_u64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_broker_leaves_the_relays_figures_honest() {
    let dir = KeepOnPanic::new();
    let pg = crate::postgres::database().await;
    let mut host = Node::new(dir.path().join("broker"), None, "frozenmark");
    host.workers = Some("producer".into());
    let host_run = KillOnDrop(Some(host.start().0));
    let mut node = Node::new(dir.path().join("relay"), None, "frozenmark");
    node.brokers = Some(format!("127.0.0.1:{}", host.port));
    node.workers = Some("relay".into());
    node.env.push(("EVENTDECK_STORE_URL".into(), pg.clone()));
    let _run = KillOnDrop(Some(node.start().0));
    let store = PgStore::open(&pg, TopicsConfig::default())
        .await
        .expect("postgres store");

    let settled = |want: u64| {
        let report = node.status();
        async move {
            let report = report?;
            match figures(&report) {
                (Some(p), Some(0)) if p == want => Ok(()),
                other => Err(format!("published, outbox: {other:?}")),
            }
        }
    };
    post(&store, 0..BEFORE).await;
    eventually("the first posts published", Duration::from_secs(60), || {
        settled(BEFORE as u64)
    })
    .await;

    let frozen = host_run.0.as_ref().expect("broker host");
    signal(frozen, libc::SIGSTOP);
    post(&store, BEFORE..BEFORE + DURING).await;
    // While frozen: the outbox holds every new post and nothing more is counted published.
    let during = eventually(
        "the outbox holding the posts made while the broker is frozen",
        Duration::from_secs(60),
        || {
            let report = node.status();
            async move {
                let report = report?;
                match figures(&report) {
                    (Some(p), Some(rows)) if rows == DURING as u64 => Ok((p, rows)),
                    other => Err(format!("published, outbox: {other:?}")),
                }
            }
        },
    )
    .await;
    assert_eq!(
        during.0, BEFORE as u64,
        "published counted rows the frozen broker never acknowledged"
    );
    signal(frozen, libc::SIGCONT);

    let total = (BEFORE + DURING) as u64;
    eventually("every post published", Duration::from_secs(120), || {
        settled(total)
    })
    .await;
    let records = read_topic(&node.cluster(), "platform.messages.created").await;
    assert_eq!(
        records.len() as u64,
        total,
        "the topic holds what the relay says it published"
    );
    eprintln!(
        "frozen broker: {} published and {} waiting while frozen; {total} published and in \
         the topic after",
        during.0, during.1
    );
}
