//! Resetting a group's offsets on the external test cluster: refused while the indexer is a
//! member; with the indexer stopped, a dry run changes nothing and a reset to earliest makes
//! the restarted indexer read everything again, leaving the index as it was (the version
//! guard makes reprocessing idempotent). On the embedded broker, which does not describe
//! groups, the dry run works and the reset is refused, saying why.

use std::collections::BTreeMap;
use std::time::Duration;

use eventdeck::browse::reset::{apply, read_plan, ResetTo};
use eventdeck::event::{MessageCreated, MessageEvent, ParsedEvent};
use eventdeck::search::SearchDoc;
use tokio::sync::watch;

use crate::harness::{group_positions, on_both_clusters, wait_committed, Backend, Bench};

on_both_clusters!(a_reset_to_earliest_reprocesses_everything_and_changes_nothing);

async fn docs(bench: &Bench) -> BTreeMap<String, SearchDoc> {
    let ids: Vec<String> = (0..30).map(|i| format!("msg_reset_{i:02}")).collect();
    bench
        .services
        .index
        .get(&ids)
        .await
        .expect("get")
        .into_iter()
        .collect()
}

async fn a_reset_to_earliest_reprocesses_everything_and_changes_nothing(backend: Backend) {
    let mut bench = Bench::on(backend).await;
    let config = bench.services.config.clone();
    let group = config.groups.indexer.clone();
    let topics: Vec<String> = config
        .message_topics()
        .iter()
        .map(|t| t.to_string())
        .collect();
    let publisher = bench.services.publisher().expect("publisher");
    for i in 0..30 {
        let d = publisher
            .enqueue(&ParsedEvent::mint(MessageEvent::Created(MessageCreated {
                message_id: format!("msg_reset_{i:02}"),
                channel_id: format!("ch_{}", i % 4),
                author_id: "user_001".into(),
                content: format!("reset me {i}"),
                mentions: vec![],
                attachments: vec![],
            })))
            .await
            .expect("enqueue");
        eventdeck::bus::producer::resolve(d)
            .await
            .expect("delivered");
    }
    let (stop, shutdown) = watch::channel(false);
    let indexer = bench
        .services
        .spawn_indexer(bench.reporter.clone(), shutdown)
        .expect("indexer");
    bench
        .wait_processed("indexer", 30, Duration::from_secs(60))
        .await;
    wait_committed(bench.cluster(), &group, &topics, Duration::from_secs(60)).await;
    bench.services.index.refresh().await.expect("refresh");
    let before = docs(&bench).await;
    assert_eq!(before.len(), 30);

    // A member is in the group: refused.
    let (c, g, t) = (bench.cluster().clone(), group.clone(), topics.clone());
    let refused = tokio::task::spawn_blocking(move || {
        let rows = read_plan(&c, &g, &t, ResetTo::Earliest)?;
        apply(&c, &g, &rows)
    })
    .await
    .expect("join");
    let error = refused
        .expect_err("refused while a member is active")
        .to_string();
    let embedded = backend == Backend::Embedded;
    if embedded {
        assert!(
            error.contains("not offered on the embedded broker"),
            "{error}"
        );
    } else {
        assert!(error.contains("has 1 active member(s)"), "{error}");
    }

    let _ = stop.send(true);
    let _ = indexer.await;
    let committed = group_positions(bench.cluster(), &group, &topics)
        .await
        .expect("positions");
    // The dry run: every partition from its end back to its beginning, nothing moved.
    let (c, g, t) = (bench.cluster().clone(), group.clone(), topics.clone());
    let rows = tokio::task::spawn_blocking(move || read_plan(&c, &g, &t, ResetTo::Earliest))
        .await
        .expect("join")
        .expect("plan");
    assert_eq!(
        rows.iter().map(|r| r.lag_after).sum::<i64>(),
        30,
        "{rows:?}"
    );
    assert!(
        rows.iter().all(|r| r.before == Some(r.high) || r.high == 0),
        "{rows:?}"
    );
    assert_eq!(
        group_positions(bench.cluster(), &group, &topics)
            .await
            .expect("positions"),
        committed,
        "a plan changes nothing"
    );
    // The reset, then the indexer again: everything read again, the index unchanged.
    let (c, g) = (bench.cluster().clone(), group.clone());
    let reset = tokio::task::spawn_blocking(move || apply(&c, &g, &rows))
        .await
        .expect("join");
    if embedded {
        assert!(reset.is_err(), "not offered on the embedded broker");
        return;
    }
    reset.expect("reset");
    let moved = group_positions(bench.cluster(), &group, &topics)
        .await
        .expect("positions");
    assert!(
        moved.iter().all(|(_, _, low, _, c)| *c == Some(*low)),
        "{moved:?}"
    );
    let (_stop, shutdown) = watch::channel(false);
    let _indexer = bench
        .services
        .spawn_indexer(bench.reporter.clone(), shutdown)
        .expect("indexer");
    bench
        .wait_processed("indexer", 30, Duration::from_secs(60))
        .await;
    wait_committed(bench.cluster(), &group, &topics, Duration::from_secs(60)).await;
    bench.services.index.refresh().await.expect("refresh");
    assert_eq!(docs(&bench).await, before, "reprocessing changed nothing");
}
