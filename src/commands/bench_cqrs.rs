//! `eventdeck bench cqrs`: write vs read, side by side, in one run on a fresh data directory.
//!
//! 1. Seeds messages through the command side and waits until they are searchable.
//! 2. Baseline: reads rows of the write model by primary key (what `GET /messages/{id}` does).
//! 3. The run: writers post N messages through the command side (row + outbox entry, one
//!    transaction; the relay publishes, the indexer indexes) while searchers run M searches
//!    on the index. Every k-th posted message carries a unique word; a poller searches for
//!    those words and takes, for each, the delay from its commit to the first search that
//!    finds it.
//!
//! Prints, for each side, throughput and p50/p95/p99 latency and its ratio to the baseline,
//! and the commit→searchable delay p50/p99.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Mutex};

use crate::config::Config;
use crate::monitor::cqrs::Percentiles;
use crate::ops::{PostMessage, WorkerId};
use crate::search::{SearchIndex, SearchQuery, SortOrder};
use crate::store::SharedStore;
use crate::workers::report::Reporter;
use crate::workers::supervisor::Services;

#[derive(Debug, Clone)]
pub struct BenchCqrs {
    pub messages: usize,
    pub searches: usize,
    pub writers: usize,
    pub searchers: usize,
    /// `postgres://…`; empty: the embedded store in the bench's data directory.
    pub store: String,
}

const SEED: usize = 1_000;
const CHANNEL: &str = "ch_bench";
/// Messages tracked for commit→searchable.
const TRACKED: usize = 200;
const VOCABULARY: &[&str] = &[
    "deploy", "rollback", "배포", "장애", "review", "lunch", "회의", "release", "incident",
    "kafka", "search", "latency", "검색", "알림", "outage", "standup",
];

/// Ops and their latencies, for one side.
struct Side {
    name: &'static str,
    took: Vec<Duration>,
    elapsed: Duration,
    failed: usize,
}

impl Side {
    fn per_sec(&self) -> f64 {
        self.took.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

pub async fn bench_cqrs(mut config: Config, args: BenchCqrs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("eventdeck-bench-cqrs-{}", std::process::id()));
    let _cleanup = crate::bench::RemoveOnDrop(dir.clone());
    config.data_dir = dir.display().to_string();
    config.kafka.embedded_port = 0;
    config.store.url = args.store.clone();
    config.indexer.flush_interval_ms = config.indexer.flush_interval_ms.min(50);
    let services = Services::start(config).await?;
    let store = match &services.store {
        Ok(s) => s.clone(),
        Err(e) => anyhow::bail!("the write store is unavailable: {e}"),
    };
    let (tx, mut reports) = mpsc::unbounded_channel();
    tokio::spawn(async move { while reports.recv().await.is_some() {} });
    let pipeline =
        services.spawn_workers(&[WorkerId::Relay, WorkerId::Indexer], Reporter::new(tx))?;
    println!(
        "bench cqrs: {} posts ({} writers) while {} searches ({} searchers)\n  write model: {}\n  read model:  {}\n  via:         {}",
        args.messages,
        args.writers,
        args.searches,
        args.searchers,
        store.describe(),
        services.index.describe(),
        services.cluster.describe()
    );

    // 1. Seed, and wait until the seed is searchable.
    let started = Instant::now();
    let before = services.index.count().await.unwrap_or(0);
    let (seed, _) = post_all(&store, SEED, args.writers, "seed", 0).await;
    let ids: Vec<String> = seed.iter().map(|(id, _)| id.clone()).collect();
    wait_indexed(services.index.as_ref(), before + SEED as u64).await?;
    println!(
        "  seeded {SEED} messages, searchable after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // 2. Baseline: primary-key reads of the write model.
    let baseline = run_side(
        "baseline: row by id (write model)",
        args.searches,
        args.searchers,
        {
            let store = store.clone();
            let ids = Arc::new(ids);
            move |i| {
                let store = store.clone();
                let ids = ids.clone();
                async move {
                    let id = &ids[i % ids.len()];
                    matches!(store.get(id).await, Ok(Some(_)))
                }
            }
        },
    )
    .await;

    // 3. Writes and searches at once, with the commit→searchable poller.
    let every = (args.messages / TRACKED).max(1);
    let found: Arc<Mutex<HashMap<String, Duration>>> = Arc::default();
    let (tracked_tx, tracked_rx) = mpsc::unbounded_channel::<(String, Instant)>();
    let poller = tokio::spawn(poll_searchable(
        services.index.clone(),
        tracked_rx,
        found.clone(),
    ));
    let writes = {
        let store = store.clone();
        async move {
            let started = Instant::now();
            let (posted, failed) =
                post_all_tracked(&store, args.messages, args.writers, every, tracked_tx).await;
            Side {
                name: "write: post (row + outbox)",
                took: posted.into_iter().map(|(_, d)| d).collect(),
                elapsed: started.elapsed(),
                failed,
            }
        }
    };
    let reads = run_side("read: search (index)", args.searches, args.searchers, {
        let index = services.index.clone();
        move |i| {
            let index = index.clone();
            async move {
                let query = SearchQuery {
                    text: VOCABULARY[i % VOCABULARY.len()].to_string(),
                    sort: if i % 4 == 0 {
                        SortOrder::NewestFirst
                    } else {
                        SortOrder::Relevance
                    },
                    page_size: 20,
                    ..SearchQuery::default()
                };
                index.search(&query).await.is_ok()
            }
        }
    });
    let (write, read) = tokio::join!(writes, reads);
    let tracked = write.took.len().div_ceil(every).min(write.took.len());
    let visible = match tokio::time::timeout(Duration::from_secs(120), poller).await {
        Ok(Ok(())) => found.lock().await.values().copied().collect::<Vec<_>>(),
        _ => found.lock().await.values().copied().collect::<Vec<_>>(),
    };

    print_table(&baseline, &[&write, &read]);
    match Percentiles::of(&visible) {
        Some(p) => println!(
            "  commit → searchable ({} of {tracked} tracked messages found): p50 {} · p99 {} · max {}",
            visible.len(),
            ms(p.p50_ms),
            ms(p.p99_ms),
            ms(p.max_ms)
        ),
        None => println!("  commit → searchable: no tracked message was found within 120 s"),
    }
    let indexer_seen = services.meter.figures().commit_to_searchable;
    if let Some(p) = indexer_seen.latency {
        println!(
            "  commit → indexed, as the indexer saw it ({} events): p50 {} · p99 {}",
            indexer_seen.total,
            ms(p.p50_ms),
            ms(p.p99_ms)
        );
    }
    let errors = pipeline.stop().await;
    for e in errors {
        eprintln!("eventdeck: {e}");
    }
    Ok(())
}

fn print_table(baseline: &Side, sides: &[&Side]) {
    println!(
        "  {:<36} {:>7} {:>9} {:>9} {:>9} {:>9} {:>11}",
        "side", "ops", "ops/s", "p50", "p95", "p99", "vs baseline"
    );
    for (side, is_baseline) in
        std::iter::once((baseline, true)).chain(sides.iter().map(|s| (*s, false)))
    {
        let p = Percentiles::of(&side.took).unwrap_or_default();
        let ratio = if is_baseline {
            "1.00×".to_string()
        } else {
            ratio_text(side.per_sec() / baseline.per_sec().max(1e-9))
        };
        println!(
            "  {:<36} {:>7} {:>9.0} {:>9} {:>9} {:>9} {:>11}{}",
            side.name,
            side.took.len(),
            side.per_sec(),
            ms(p.p50_ms),
            ms(p.p95_ms),
            ms(p.p99_ms),
            ratio,
            if side.failed > 0 {
                format!("  ({} failed)", side.failed)
            } else {
                String::new()
            }
        );
    }
}

/// Two significant digits at least: 0.0038× says more than 0.00×.
fn ratio_text(r: f64) -> String {
    if r >= 0.1 {
        format!("{r:.2}×")
    } else if r >= 0.001 {
        format!("{r:.4}×")
    } else {
        format!("{r:.2e}×")
    }
}

fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.2} ms")
    }
}

/// Runs `op(i)` for i in 0..count with `concurrency` tasks; records each op's latency.
async fn run_side<F, Fut>(name: &'static str, count: usize, concurrency: usize, op: F) -> Side
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let next = next.clone();
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let (mut took, mut failed) = (Vec::new(), 0);
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    break (took, failed);
                }
                let t = Instant::now();
                if op(i).await {
                    took.push(t.elapsed());
                } else {
                    failed += 1;
                }
            }
        }));
    }
    let mut side = Side {
        name,
        took: Vec::with_capacity(count),
        elapsed: Duration::ZERO,
        failed: 0,
    };
    for t in tasks {
        if let Ok((took, failed)) = t.await {
            side.took.extend(took);
            side.failed += failed;
        }
    }
    side.elapsed = started.elapsed();
    side
}

fn content(tag: &str, i: usize) -> String {
    let a = VOCABULARY[i % VOCABULARY.len()];
    let b = VOCABULARY[(i / 7 + 3) % VOCABULARY.len()];
    format!("{a} {b} bench message {i} {tag} @user_{:03}", i % 40)
}

/// Posts `count` messages; returns (id, latency) of each committed one and the failures.
async fn post_all(
    store: &SharedStore,
    count: usize,
    writers: usize,
    tag: &'static str,
    every: usize,
) -> (Vec<(String, Duration)>, usize) {
    let (tx, _rx) = mpsc::unbounded_channel();
    post_all_inner(store, count, writers, tag, every, tx).await
}

async fn post_all_tracked(
    store: &SharedStore,
    count: usize,
    writers: usize,
    every: usize,
    tracked: mpsc::UnboundedSender<(String, Instant)>,
) -> (Vec<(String, Duration)>, usize) {
    post_all_inner(store, count, writers, "run", every, tracked).await
}

async fn post_all_inner(
    store: &SharedStore,
    count: usize,
    writers: usize,
    tag: &'static str,
    every: usize,
    tracked: mpsc::UnboundedSender<(String, Instant)>,
) -> (Vec<(String, Duration)>, usize) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..writers.max(1) {
        let (store, next, tracked) = (store.clone(), next.clone(), tracked.clone());
        tasks.push(tokio::spawn(async move {
            let (mut done, mut failed) = (Vec::new(), 0);
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    break (done, failed);
                }
                // A word no other message has, for the tracked ones: found means searchable.
                let marker =
                    (every > 0 && i % every == 0).then(|| format!("trk{}x{i}", std::process::id()));
                let mut text = content(tag, i);
                if let Some(m) = &marker {
                    text.push(' ');
                    text.push_str(m);
                }
                let post = PostMessage {
                    channel_id: CHANNEL.into(),
                    author_id: format!("user_{:03}", i % 40),
                    content: text,
                    attachments: vec![],
                };
                let t = Instant::now();
                match store.post(post, None).await {
                    Ok(p) => {
                        let committed = Instant::now();
                        done.push((p.message.message_id, committed - t));
                        if let Some(m) = marker {
                            let _ = tracked.send((m, committed));
                        }
                    }
                    Err(e) => {
                        failed += 1;
                        tracing::warn!(error = %e, "bench post failed");
                    }
                }
            }
        }));
    }
    drop(tracked);
    let (mut all, mut failed) = (Vec::with_capacity(count), 0);
    for t in tasks {
        if let Ok((done, f)) = t.await {
            all.extend(done);
            failed += f;
        }
    }
    (all, failed)
}

/// Searches for the tracked words until each is found (or the senders are gone and 60 s
/// passed since): the first search that finds one gives its commit→searchable delay.
async fn poll_searchable(
    index: Arc<dyn SearchIndex>,
    mut tracked: mpsc::UnboundedReceiver<(String, Instant)>,
    found: Arc<Mutex<HashMap<String, Duration>>>,
) {
    let mut waiting: HashMap<String, Instant> = HashMap::new();
    let mut open = true;
    let mut last_progress = Instant::now();
    loop {
        while let Ok((word, at)) = tracked.try_recv() {
            waiting.insert(word, at);
        }
        if open && tracked.is_closed() && tracked.is_empty() {
            open = false;
        }
        if waiting.is_empty() {
            if !open {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        if !open && last_progress.elapsed() > Duration::from_secs(60) {
            return;
        }
        let words: Vec<String> = waiting.keys().take(20).cloned().collect();
        let query = SearchQuery {
            text: words.join(" "),
            channel: Some(CHANNEL.into()),
            page_size: 40,
            ..SearchQuery::default()
        };
        if let Ok(results) = index.search(&query).await {
            let now = Instant::now();
            for hit in results.hits {
                for w in &words {
                    if hit.doc.content.contains(w.as_str()) {
                        if let Some(at) = waiting.remove(w) {
                            found.lock().await.insert(w.clone(), now - at);
                            last_progress = now;
                        }
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn wait_indexed(index: &dyn SearchIndex, want: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let n = index.count().await.unwrap_or(0);
        if n >= want {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("only {n} of {want} seeded messages became searchable within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
