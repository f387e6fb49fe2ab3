//! Faults under load, through the real binary against noida-db as an external cluster: the
//! search server stopped and started (`noida-db stop|start elasticsearch`, data kept) and the
//! Kafka service stopped and started, while a third-party client produces. Each test checks
//! that nothing is lost or duplicated, that `eventdeck status` says what is wrong while it is
//! wrong, and prints its row of the reliability table: fault, injection, events sent, found
//! afterwards, duplicates, time to recover.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{eventually, group_positions, wait_committed, Noida};
use crate::load::Load;
use crate::node::{KillOnDrop, Node};

const INDEXER_GROUP: &str = "search-indexer";

fn message_topics() -> Vec<String> {
    ["created", "updated", "deleted"]
        .iter()
        .map(|t| format!("platform.messages.{t}"))
        .collect()
}

/// The worker's entry in a `status --json` report.
fn worker<'a>(report: &'a Value, name: &str) -> Option<&'a Value> {
    report["workers"]
        .as_array()?
        .iter()
        .find(|w| w["worker"] == name)
}

/// The sum of the group's committed offsets over the message topics, and its lag.
async fn committed_and_lag(node: &Node, group: &str) -> (i64, i64) {
    let rows = group_positions(&node.cluster(), group, &message_topics())
        .await
        .expect("group positions");
    let committed: i64 = rows.iter().map(|r| r.4.unwrap_or(r.2)).sum();
    let high: i64 = rows.iter().map(|r| r.3).sum();
    (committed, high - committed)
}

/// One row of the reliability table, on stderr (the closing note collects them).
fn table_row(fault: &str, injection: &str, sent: usize, found: u64, dupes: u64, recover: Duration) {
    eprintln!(
        "reliability | {fault} | {injection} | sent {sent} | found {found} | duplicates {dupes} \
         | recovered in {:.1} s",
        recover.as_secs_f64()
    );
}

/// Search server down for the second half of a 6,000-event load: the indexer backs off and
/// `status` says why, its group commits nothing meanwhile while the lag grows, and once the
/// server is back the index catches up to exactly the events sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_outage_backs_off_commits_nothing_and_catches_up() {
    const SENT: usize = 6_000;
    let noida = Noida::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = Node::new(
        dir.path().join("data"),
        Some(noida.elasticsearch.clone()),
        "searchoutagemark",
    );
    node.brokers = Some(noida.kafka.clone());
    // The indexer alone: noida's idle consumers are busy pollers (harness notes).
    node.workers = Some("indexer".into());
    let (run, _) = node.start();
    let _run = KillOnDrop(Some(run));
    let load = Load::start(node.cluster(), &node.marker, SENT, 1_000);
    eventually("indexing under way", Duration::from_secs(60), || {
        let total = node.search_total();
        async move {
            (total.as_ref().is_ok_and(|n| *n > 0))
                .then_some(())
                .ok_or_else(|| format!("{total:?}"))
        }
    })
    .await;

    noida.stop_service("elasticsearch");
    let down = Instant::now();
    // `status` names the worker, its state and the reason, and lists it among the errors.
    let report = eventually(
        "status says the indexer is backing off",
        Duration::from_secs(30),
        || {
            let report = node.status();
            async move {
                let report = report?;
                let w = worker(&report, "indexer").ok_or_else(|| format!("{report}"))?;
                (w["state"] == "backing off")
                    .then(|| report.clone())
                    .ok_or_else(|| format!("{w}"))
            }
        },
    )
    .await;
    let said_after = down.elapsed();
    let why = worker(&report, "indexer").expect("indexer")["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        why.contains("search unavailable") && why.to_lowercase().contains("connect"),
        "the reason names the search server and the connection: {why}"
    );
    let errors = report["errors"].to_string();
    assert!(errors.contains("worker indexer: backing off"), "{errors}");

    // While it is down: nothing committed, the lag grows with the load.
    let (committed_at_first, lag_at_first) = committed_and_lag(&node, INDEXER_GROUP).await;
    eventually("the load finished", Duration::from_secs(60), || {
        let done = load.is_done();
        async move { done.then_some(()).ok_or("producing".to_string()) }
    })
    .await;
    let (committed_at_last, lag_at_last) = committed_and_lag(&node, INDEXER_GROUP).await;
    assert_eq!(
        committed_at_last, committed_at_first,
        "commits while the search server was down"
    );
    assert!(
        lag_at_last > lag_at_first,
        "lag grew: {lag_at_first} → {lag_at_last}"
    );
    let still = node.status().expect("status");
    assert_eq!(
        worker(&still, "indexer").expect("indexer")["state"],
        "backing off",
        "{still}"
    );

    noida.start_service("elasticsearch");
    let back = Instant::now();
    let acked = load.finish().await;
    let want = acked.len() as u64;
    eventually("the index caught up", Duration::from_secs(60), || {
        let total = node.search_total();
        async move {
            (total == Ok(want))
                .then_some(())
                .ok_or_else(|| format!("{total:?} of {want}"))
        }
    })
    .await;
    let recovered = back.elapsed();
    wait_committed(
        &node.cluster(),
        INDEXER_GROUP,
        &message_topics(),
        Duration::from_secs(30),
    )
    .await;
    let after = node.status().expect("status");
    let w = worker(&after, "indexer").expect("indexer");
    assert_eq!(w["state"], "running", "{w}");
    assert!(w["errors"].as_u64().unwrap_or(0) >= 1, "{w}");
    // Every event once: the marker's hits equal the events sent (one document per id).
    let found = node.search_total().expect("search");
    eprintln!(
        "search outage: status said why after {:.1} s ({why}); down {:.1} s; lag \
         {lag_at_first} → {lag_at_last}",
        said_after.as_secs_f64(),
        (back - down).as_secs_f64()
    );
    table_row(
        "search server down",
        "noida-db stop/start elasticsearch under 1,000 events/s",
        SENT,
        found,
        found.saturating_sub(want),
        recovered,
    );
}
