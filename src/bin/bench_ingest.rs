//! Ingest benchmark: publishes N generated events (creates, edits, deletes, mentions) to the
//! embedded broker, then measures in the same run
//!
//! 1. the baseline: a consumer group that reads every record and does nothing with it;
//! 2. the indexer: the same records into the search index (local, or Elasticsearch with
//!    `--search-url`), bulk-written, checked and committed;
//! 3. what the CJK grams cost: the indexer into an index without them (words only, as
//!    eventdeck indexed before) and into one with them, twice each, alternating, so that
//!    neither gets the warmer caches;
//!
//! and prints events/s for each and their ratios, and the process's resident memory.
//!
//! `cargo run --release --bin bench_ingest -- [COUNT] [--search-url URL]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventdeck::config::{Config, SearchBackend};
use eventdeck::event::ParsedEvent;
use eventdeck::ops::WorkerId;
use eventdeck::search::elastic::{Analysis, ElasticIndex};
use eventdeck::search::local::LocalIndex;
use eventdeck::search::SearchIndex;
use eventdeck::workers::batch::Record;
use eventdeck::workers::consumer::{run_consumer, BatchHandler, HandleError, Handled};
use eventdeck::workers::loadgen::LoadGenerator;
use eventdeck::workers::report::{Reporter, WorkerEvent};
use eventdeck::workers::supervisor::Services;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, watch};

struct Discard;

#[async_trait::async_trait]
impl BatchHandler for Discard {
    async fn handle(&mut self, _records: &[Record]) -> Result<Handled, HandleError> {
        Ok(Handled::default())
    }
}

async fn wait_processed(
    events: &mut mpsc::UnboundedReceiver<WorkerEvent>,
    worker: WorkerId,
    n: u64,
) -> anyhow::Result<()> {
    let mut seen = 0;
    while seen < n {
        match tokio::time::timeout(Duration::from_secs(120), events.recv()).await {
            Ok(Some(WorkerEvent::Processed {
                worker: w, records, ..
            })) if w == worker => seen += records,
            Ok(Some(_)) => {}
            Ok(None) => anyhow::bail!("reporter closed"),
            Err(_) => anyhow::bail!("{worker}: only {seen} of {n} records after 120 s idle"),
        }
    }
    Ok(())
}

/// A fresh index of the benchmark's backend: with CJK grams, or words only.
async fn fresh_index(
    config: &Config,
    dir: &std::path::Path,
    name: &str,
    grams: bool,
) -> anyhow::Result<Arc<dyn SearchIndex>> {
    let index: Arc<dyn SearchIndex> = match config.search_backend()? {
        SearchBackend::Local => {
            let at = dir.join(name);
            Arc::new(if grams {
                LocalIndex::open(&at)?
            } else {
                LocalIndex::open_words_only(&at)?
            })
        }
        SearchBackend::Elastic {
            url,
            auth,
            analyzer,
            ..
        } => {
            let index = ElasticIndex::connect(&url, name, &auth, analyzer)?;
            Arc::new(if grams {
                index
            } else {
                index.building_with(Analysis::WordsOnly)
            })
        }
    };
    index.ensure_index().await?;
    Ok(index)
}

/// Events/s of one indexer, in a group of its own, into `index`, until it has seen `count`.
async fn indexer_pass(
    services: &Services,
    index: Arc<dyn SearchIndex>,
    group: &str,
    count: u64,
) -> anyhow::Result<f64> {
    let mut workshop = services.workshop();
    workshop.index = index.clone();
    workshop.config.groups.indexer = group.to_string();
    let (tx, mut events) = mpsc::unbounded_channel();
    let (stop, shutdown) = watch::channel(false);
    let t = Instant::now();
    let worker = workshop.start(WorkerId::Indexer, Reporter::new(tx), shutdown.into())?;
    wait_processed(&mut events, WorkerId::Indexer, count).await?;
    index.refresh().await?;
    let rate = count as f64 / t.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = worker.task.await;
    Ok(rate)
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<f64>().ok())
            })
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let search_url = args
        .iter()
        .position(|a| a == "--search-url")
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("eventdeck-bench-{}", std::process::id()));
    let mut config = Config {
        data_dir: dir.join("data").display().to_string(),
        ..Config::default()
    };
    config.kafka.embedded_port = 0;
    config.search.url = search_url;
    let started = Instant::now();
    let services = Services::start(config.clone()).await?;
    println!(
        "ready in {:.2} s: {} · {}",
        started.elapsed().as_secs_f64(),
        services.cluster.describe(),
        services.index.describe()
    );

    let publisher = services.publisher()?;
    let mut generator = LoadGenerator::with_seed(config.loadgen.clone(), 42);
    let t = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    for _ in 0..count {
        let d = publisher
            .enqueue(&ParsedEvent::mint(generator.next_event()))
            .await
            .map_err(anyhow::Error::msg)?;
        in_flight.push(eventdeck::bus::producer::resolve(d));
    }
    while let Some(r) = in_flight.next().await {
        r.map_err(anyhow::Error::msg)?;
    }
    let produce = count as f64 / t.elapsed().as_secs_f64();
    println!("produce   {count} events: {produce:>9.0} events/s");

    let (tx, mut events) = mpsc::unbounded_channel();
    let reporter = Reporter::new(tx);
    let (stop, shutdown) = watch::channel(false);
    // The baseline consumes the indexer's topics in a group of its own and reports on a
    // channel of its own, so its figures never mix with the indexer's.
    let mut baseline_spec = services.indexer_spec();
    baseline_spec.group = "bench-baseline".into();
    let (baseline_tx, mut baseline_events) = mpsc::unbounded_channel();
    let t = Instant::now();
    let (stop_baseline, baseline_shutdown) = watch::channel(false);
    let baseline_task = tokio::spawn(run_consumer(
        services.cluster.clone(),
        baseline_spec,
        Discard,
        Reporter::new(baseline_tx),
        baseline_shutdown,
    ));
    wait_processed(&mut baseline_events, WorkerId::Indexer, count).await?;
    let baseline = count as f64 / t.elapsed().as_secs_f64();
    // Stopped, not aborted: an aborted consumer may be dropped only when the runtime shuts
    // down, after the embedded broker, and librdkafka's close then waits for it forever.
    let _ = stop_baseline.send(true);
    let _ = baseline_task.await;
    println!("baseline  consume only:  {baseline:>9.0} events/s");

    let t = Instant::now();
    let indexer = services.spawn_indexer(reporter, shutdown)?;
    wait_processed(&mut events, WorkerId::Indexer, count).await?;
    services.index.refresh().await?;
    let indexed = count as f64 / t.elapsed().as_secs_f64();
    println!(
        "indexer   into {}: {indexed:>9.0} events/s  ({:.2}× the consume-only baseline)",
        if config.search_backend()?.is_local() {
            "local index"
        } else {
            "elastic"
        },
        indexed / baseline
    );
    // What the CJK grams cost: words-only and grams indexes, alternating.
    let mut best = [0f64; 2];
    for round in 1..=2 {
        for (slot, grams) in [(0, false), (1, true)] {
            let name = format!(
                "bench-{}-{round}",
                if grams { "grams" } else { "words-only" }
            );
            let index = fresh_index(&config, &dir, &name, grams).await?;
            let rate = indexer_pass(&services, index, &name, count).await?;
            best[slot] = best[slot].max(rate);
            println!("indexer   {name:<19} {rate:>9.0} events/s");
        }
    }
    println!(
        "cjk grams: {:.0} vs {:.0} events/s words only (best of 2): {:.2}×, a cost of {:.1} %",
        best[1],
        best[0],
        best[1] / best[0],
        (1.0 - best[1] / best[0]) * 100.0
    );
    let live = services.index.count().await?;
    println!(
        "searchable messages: {live}; resident memory: {:.0} MiB",
        rss_mib()
    );
    // Stop the indexer while the broker still runs: a consumer dropped after the broker
    // would wait for it to leave its group, and the process would never exit.
    let _ = stop.send(true);
    let _ = indexer.await;
    drop(services);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
