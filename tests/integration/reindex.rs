//! Reindex without downtime: an index damaged behind the pipeline's back (documents deleted,
//! one changed) is found by the log's rebuild and repaired by a reindex while searches keep
//! answering and new messages keep arriving. On Elasticsearch (osmem) the repair is a new
//! `messages-<time>` index behind the alias, asked of the running pipeline's supervisor as
//! the console's `:reindex` does; on the local index it is `eventdeck replay --reindex`
//! from another process, which asks the running one through its control socket.

use std::collections::HashMap;
use std::process::Command as Process;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use elasticsearch::http::headers::HeaderMap;
use elasticsearch::http::request::JsonBody;
use elasticsearch::http::Method;
use eventdeck::bus::Cluster;
use eventdeck::ops::{Command, Stage};
use eventdeck::replay::read_log::read_log;
use eventdeck::replay::state::RebuiltState;
use eventdeck::replay::verify::{diff_index, DifferenceKind};
use eventdeck::search::{SearchDoc, SearchIndex, SearchQuery};
use eventdeck::store::SharedStore;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::harness::{eventually, post_history as history, test_config, Bench};

const BIN: &str = env!("CARGO_BIN_EXE_eventdeck");

fn topics(bench: &Bench) -> Vec<String> {
    bench
        .services
        .config
        .message_topics()
        .iter()
        .map(|t| t.to_string())
        .collect()
}

/// The log's rebuild and the index's documents for it.
async fn compare(
    cluster: &Cluster,
    topics: &[String],
    index: &Arc<dyn SearchIndex>,
) -> Result<(RebuiltState, HashMap<String, SearchDoc>), String> {
    let (cluster, topics) = (cluster.clone(), topics.to_vec());
    let state = tokio::task::spawn_blocking(move || read_log(&cluster, &topics, |_| {}))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    index.refresh().await.map_err(|e| e.to_string())?;
    let ids: Vec<String> = state.docs.keys().cloned().collect();
    let found = index.get(&ids).await.map_err(|e| e.to_string())?;
    Ok((state, found))
}

/// Waits until the outbox is drained and the index holds exactly the log's state.
async fn wait_agreement(bench: &Bench, store: &SharedStore) -> HashMap<String, SearchDoc> {
    let (cluster, topics, index) = (
        bench.cluster().clone(),
        topics(bench),
        bench.services.index.clone(),
    );
    eventually(
        "the index agrees with the log",
        Duration::from_secs(60),
        || {
            let (cluster, topics, index, store) = (
                cluster.clone(),
                topics.clone(),
                index.clone(),
                store.clone(),
            );
            async move {
                if store.backlog().await.map_err(|e| e.to_string())?.rows > 0 {
                    return Err("outbox not drained".into());
                }
                let (state, found) = compare(&cluster, &topics, &index).await?;
                match diff_index(&state, &found).first() {
                    None => Ok(found),
                    Some(d) => Err(format!("differs: {d}")),
                }
            }
        },
    )
    .await
}

/// Searches every few milliseconds until told to stop; counts answers and failures, and
/// the answers that found nothing (the index must never be seen empty).
struct Searcher {
    answered: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    empty: Arc<AtomicU64>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

fn keep_searching(index: Arc<dyn SearchIndex>) -> Searcher {
    let (answered, failed, empty) = (Arc::default(), Arc::default(), Arc::default());
    let (stop, mut stopped) = oneshot::channel();
    let counters = (
        Arc::clone(&answered),
        Arc::clone(&failed),
        Arc::clone(&empty),
    );
    let task = tokio::spawn(async move {
        let (answered, failed, empty): (Arc<AtomicU64>, Arc<AtomicU64>, Arc<AtomicU64>) = counters;
        let query = SearchQuery {
            text: "history".into(),
            ..SearchQuery::default()
        };
        loop {
            match index.search(&query).await {
                Ok(r) if r.total == 0 => empty.fetch_add(1, Ordering::Relaxed),
                Ok(_) => answered.fetch_add(1, Ordering::Relaxed),
                Err(_) => failed.fetch_add(1, Ordering::Relaxed),
            };
            tokio::select! {
                _ = &mut stopped => break,
                _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            }
        }
    });
    Searcher {
        answered,
        failed,
        empty,
        stop,
        task,
    }
}

impl Searcher {
    async fn finish(self) -> (u64, u64, u64) {
        let _ = self.stop.send(());
        self.task.await.expect("searcher");
        (
            self.answered.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.empty.load(Ordering::Relaxed),
        )
    }
}

async fn es_call(url: &str, method: Method, path: &str) -> Value {
    let transport = elasticsearch::http::transport::Transport::single_node(url).expect("transport");
    let response = elasticsearch::Elasticsearch::new(transport)
        .send::<JsonBody<Value>, ()>(method, path, HeaderMap::new(), None, None, None)
        .await
        .expect("search server");
    response.json().await.unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_damaged_elasticsearch_index_is_rebuilt_behind_the_alias_while_searches_answer() {
    let bench = Bench::start().await;
    let store = bench.store();
    let pipeline = bench.pipeline();
    let ids = history(&store, 60, "before").await;
    let in_index = wait_agreement(&bench, &store).await;
    let url = bench.services.config.search.url.clone();
    let name = bench.services.config.search.index.clone();

    // Damage it behind the pipeline's back: five live documents deleted, one changed
    // (history() deletes every fifth from the second: 1, 6, 11, …).
    for id in [0, 4, 8, 13, 17].map(|i| &ids[i]) {
        es_call(
            &url,
            Method::Delete,
            &format!("/{name}/_doc/{id}?refresh=true"),
        )
        .await;
    }
    let index = bench.services.index.clone();
    let mut changed = in_index[&ids[2]].clone();
    changed.content = "tampered".into();
    changed.version += 10;
    index.apply(&[changed]).await.expect("tamper");
    let (state, found) = compare(bench.cluster(), &topics(&bench), &index)
        .await
        .expect("compare");
    let differences = diff_index(&state, &found);
    assert_eq!(differences.len(), 6, "{differences:?}");
    assert_eq!(
        differences
            .iter()
            .filter(|d| d.kind == DifferenceKind::Missing)
            .count(),
        5,
        "{differences:?}"
    );

    // Reindex through the supervisor while searches run and new messages arrive.
    let searcher = keep_searching(index.clone());
    let writer = {
        let store = store.clone();
        tokio::spawn(async move { history(&store, 30, "during").await })
    };
    let (progress_tx, mut progress) = mpsc::unbounded_channel();
    let (reply, answer) = oneshot::channel();
    pipeline
        .commands
        .send(Command::Reindex {
            progress: Some(progress_tx),
            reply: Some(reply),
        })
        .await
        .expect("supervisor");
    let done = tokio::time::timeout(Duration::from_secs(120), answer)
        .await
        .expect("reindex within 2 minutes")
        .expect("an answer")
        .expect("reindex");
    writer.await.expect("writer");
    let mut stages = Vec::new();
    while let Ok(p) = progress.try_recv() {
        if stages.last() != Some(&p.stage) {
            stages.push(p.stage);
        }
    }
    assert!(stages.contains(&Stage::Building), "{stages:?}");
    assert!(
        done.replaced.new.starts_with(&format!("{name}-")),
        "{done:?}"
    );
    assert!(done.replaced.documents >= 60, "{done:?}");

    // The alias points at the new index alone; the old concrete index is gone.
    let aliases = es_call(&url, Method::Get, &format!("/_alias/{name}")).await;
    let behind: Vec<&String> = aliases.as_object().expect("aliases").keys().collect();
    assert_eq!(behind.len(), 1, "{aliases}");
    assert!(behind[0].starts_with(&format!("{name}-")), "{aliases}");

    // Everything agrees again, the messages written during the reindex included.
    let after = wait_agreement(&bench, &store).await;
    assert_eq!(after.len(), 90);
    let (answered, failed, empty) = searcher.finish().await;
    assert!(answered > 0);
    assert_eq!((failed, empty), (0, 0), "{answered} searches answered");
    assert!(pipeline.stop().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replay_reindex_beside_a_running_eventdeck_repairs_the_local_index_through_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(dir.path(), "");
    let data_dir = config.data_dir();
    let bench = Bench::with_config(dir, config).await;
    let store = bench.store();
    let pipeline = bench.pipeline();
    let ids = history(&store, 40, "local").await;
    let in_index = wait_agreement(&bench, &store).await;
    // The local index has no delete: damage it with wrong tombstones and a changed text.
    let index = bench.services.index.clone();
    let mut damage = Vec::new();
    for id in [&ids[0], &ids[3], &ids[7]] {
        let mut d = in_index[id].clone();
        d.deleted = true;
        d.content.clear();
        d.version += 10;
        damage.push(d);
    }
    let mut changed = in_index[&ids[2]].clone();
    changed.content = "tampered".into();
    changed.version += 10;
    damage.push(changed);
    index.apply(&damage).await.expect("damage");
    index.refresh().await.expect("refresh");

    let replay = move |args: &[&str]| {
        let output = Process::new(BIN)
            .args(["--data-dir", &data_dir.display().to_string()])
            .args(["--config", "/dev/null", "replay"])
            .args(args)
            .env_remove("EVENTDECK_SEARCH_URL")
            .env_remove("EVENTDECK_KAFKA_BROKERS")
            .output()
            .expect("eventdeck replay");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).to_string(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    // Searches keep answering from the old documents until the one-commit swap.
    let searcher = keep_searching(index.clone());
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        let verify = replay(&["--verify"]);
        let reindex = replay(&["--reindex", "--verify"]);
        (verify, reindex)
    })
    .await
    .map(|(verify, reindex)| {
        assert!(!verify.0, "--verify fails on a damaged index: {}", verify.1);
        assert!(
            verify.1.contains("4 differences"),
            "{}\n{}",
            verify.1,
            verify.2
        );
        reindex
    })
    .expect("replay");
    assert!(ok, "replay --reindex --verify: {out}\n{err}");
    assert!(err.contains("asking the eventdeck running on"), "{err}");
    assert!(err.contains("building the new index"), "{err}");
    assert!(out.contains("reindexed from"), "{out}");
    assert!(out.contains("agrees with the log"), "{out}");
    let (answered, failed, empty) = searcher.finish().await;
    assert!(answered > 0);
    assert_eq!((failed, empty), (0, 0), "{answered} searches answered");
    wait_agreement(&bench, &store).await;
    assert!(pipeline.stop().await.is_empty());
}
