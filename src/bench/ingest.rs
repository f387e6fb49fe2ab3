//! `eventdeck bench ingest`: N generated events (creates, edits, deletes, mentions) are
//! published to the embedded broker, then indexed several ways in the same run:
//!
//! - local index: a consumer group that reads every record and does nothing (the baseline),
//!   then the indexer with `[indexer] in_flight` batches in flight and with one;
//! - an Elasticsearch API (`--search-url`): the engine's own limit (the same number of
//!   documents sent straight to `_bulk`, 1,000 per request, one request at a time, bodies
//!   built before the clock starts), a consumer written the way the guides write one (one
//!   awaited index request per event), then the indexer both ways.
//!
//! Every pass writes into a fresh index and reads in a group of its own.

use crate::bus::safe_create::SafeCreate;
use std::sync::Arc;
use std::time::{Duration, Instant};

use elasticsearch::http::headers::{HeaderMap, HeaderValue, CONTENT_TYPE};
use elasticsearch::http::request::JsonBody;
use elasticsearch::http::Method;
use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::Message;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use super::{rss_mib, thousands, Row};
use crate::config::{Config, SearchBackend};
use crate::event::{parse_message_event, ParsedEvent};
use crate::ops::WorkerId;
use crate::search::elastic::{source, ElasticIndex};
use crate::search::local::LocalIndex;
use crate::search::plan::apply_event;
use crate::search::{SearchDoc, SearchIndex};
use crate::workers::batch::Record;
use crate::workers::consumer::{run_consumer, BatchHandler, HandleError, Handled};
use crate::workers::loadgen::LoadGenerator;
use crate::workers::report::{Reporter, WorkerEvent};
use crate::workers::supervisor::Services;

#[derive(Debug, Clone)]
pub struct IngestArgs {
    pub events: u64,
    /// An Elasticsearch API; empty: the local index.
    pub search_url: String,
    /// Events the one-request-per-event baseline indexes (it is slow; its rate is what counts).
    pub guide_events: u64,
}

/// Documents per bulk request of the engine's own baseline.
const RAW_BULK: usize = 1_000;
/// How long a pass may go without progress before the benchmark gives up.
const STALL: Duration = Duration::from_secs(120);

pub async fn run(mut config: Config, args: &IngestArgs) -> anyhow::Result<Vec<Row>> {
    let dir = std::env::temp_dir().join(format!("eventdeck-bench-ingest-{}", std::process::id()));
    let _cleanup = crate::bench::RemoveOnDrop(dir.clone());
    config.data_dir = dir.join("data").display().to_string();
    config.kafka.embedded_port = 0;
    config.search.url = args.search_url.clone();
    let backend = config.search_backend()?;
    let services = Services::start(config.clone()).await?;
    eprintln!(
        "bench ingest: {} events · {} · {} ({:.0} MiB resident)",
        args.events,
        services.cluster.describe(),
        services.index.describe(),
        rss_mib()
    );
    let n = args.events;
    publish(&services, n).await?;
    let in_flight = config.indexer.in_flight;
    let mut rows = Vec::new();
    // Resident memory once one indexer has indexed everything into one index.
    // (right after, after the trimmer's pass, how long the pass took)
    let resident: (f64, f64, Duration);
    let params = |extra: &str| format!("{} events, embedded broker{extra}", thousands(n as f64));
    match &backend {
        SearchBackend::Local => {
            let baseline = consume_only(&services, n).await?;
            let (piped, _) = indexer_pass(&services, &config, &dir, "piped", n, in_flight).await?;
            resident = resident_then_trimmed();
            let (serial, _) = indexer_pass(&services, &config, &dir, "serial", n, 1).await?;
            let base = format!("consume only {} events/s", thousands(baseline));
            rows.push(
                Row::new(
                    "indexer → local index",
                    format!("{} events/s", thousands(piped)),
                )
                .against(base.clone(), piped / baseline)
                .target("≥ 0.9×", piped / baseline >= 0.9)
                .params(params(&format!(", in_flight {in_flight}"))),
            );
            rows.push(
                Row::new(
                    "indexer → local index, one batch at a time",
                    format!("{} events/s", thousands(serial)),
                )
                .against(base, serial / baseline)
                .params(params(", in_flight 1 (the lever's effect)")),
            );
        }
        SearchBackend::Elastic { .. } => {
            let engine = elastic(&config, &format!("bench-{}-raw", std::process::id()))?;
            let raw = raw_bulk(&engine, &generated(&services, n), false).await?;
            let guarded_engine =
                elastic(&config, &format!("bench-{}-guarded", std::process::id()))?;
            let guarded = raw_bulk(&guarded_engine, &generated(&services, n), true).await?;
            let guide = one_request_per_event(&services, &config, args.guide_events.min(n)).await?;
            let (piped, _) = indexer_pass(&services, &config, &dir, "piped", n, in_flight).await?;
            resident = resident_then_trimmed();
            let (serial, _) = indexer_pass(&services, &config, &dir, "serial", n, 1).await?;
            let url = crate::config::redact_userinfo(&args.search_url);
            let raw_base = format!("_bulk straight to the engine {} docs/s", thousands(raw));
            rows.push(
                Row::new(
                    "indexer → Elasticsearch API",
                    format!("{} events/s", thousands(piped)),
                )
                .against(raw_base.clone(), piped / raw)
                .target("≥ 0.9×", piped / raw >= 0.9)
                .params(params(&format!(", in_flight {in_flight}, {url}"))),
            );
            rows.push(
                Row::new(
                    "indexer → Elasticsearch API",
                    format!("{} events/s", thousands(piped)),
                )
                .against(
                    format!("one request per event {} events/s", thousands(guide)),
                    piped / guide,
                )
                .target("≥ 10×", piped / guide >= 10.0)
                .params(format!(
                    "baseline over {} events",
                    thousands(args.guide_events.min(n) as f64)
                )),
            );
            rows.push(
                Row::new(
                    "indexer → Elasticsearch API, one batch at a time",
                    format!("{} events/s", thousands(serial)),
                )
                .against(raw_base, serial / raw)
                .params(params(", in_flight 1 (the lever's effect)")),
            );
            rows.push(
                Row::new(
                    "_bulk straight to the engine with the indexer's version guard",
                    format!("{} docs/s", thousands(guarded)),
                )
                .against(format!("without it {} docs/s", thousands(raw)), guarded / raw)
                .params("the engine's own cost of `version_type: external_gte`, no eventdeck in the way"),
            );
            cleanup_indices(&engine).await;
        }
    }
    let (before_trim, trimmed, took) = resident;
    let mut memory = Row::new(
        "resident memory, broker + index + indexer",
        format!("{trimmed:.0} MiB ({before_trim:.0} MiB before the trimmer's pass)"),
    )
    .params(format!(
        "one process, after the indexer (in_flight {in_flight}) indexed {} events and the \
         process's malloc_trim (every {} s) ran: {:.1} ms",
        thousands(n as f64),
        crate::allocator::TRIM_EVERY.as_secs(),
        took.as_secs_f64() * 1000.0
    ));
    if n >= 100_000 && matches!(backend, SearchBackend::Local) {
        memory = memory.target("< 150 MiB after 100,000 events", trimmed < 150.0);
    }
    rows.push(memory);
    drop(services);
    Ok(rows)
}

/// The generator's first `n` events (seed 42): the same shapes as those published (their
/// ids and times differ), for the baseline that writes documents without the broker. Made
/// again rather than kept, so that the memory figure is the pipeline's, not the benchmark's.
fn generated(services: &Services, n: u64) -> Vec<ParsedEvent> {
    let mut generator = LoadGenerator::with_seed(services.config.loadgen.clone(), 42);
    (0..n)
        .map(|_| ParsedEvent::mint(generator.next_event()))
        .collect()
}

/// Resident memory now, then after one pass of the process's malloc trimmer (which every
/// eventdeck process runs every `allocator::TRIM_EVERY`), and how long the pass took.
fn resident_then_trimmed() -> (f64, f64, Duration) {
    let before = rss_mib();
    let took = crate::allocator::trim_now();
    (before, rss_mib(), took)
}

/// Publishes `n` generated events (seed 42) and waits for every acknowledgement.
async fn publish(services: &Services, n: u64) -> anyhow::Result<()> {
    let publisher = services.publisher()?;
    let mut generator = LoadGenerator::with_seed(services.config.loadgen.clone(), 42);
    let t = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    for _ in 0..n {
        let event = ParsedEvent::mint(generator.next_event());
        let d = publisher
            .enqueue(&event)
            .await
            .map_err(anyhow::Error::msg)?;
        in_flight.push(crate::bus::producer::resolve(d));
    }
    while let Some(r) = in_flight.next().await {
        r.map_err(anyhow::Error::msg)?;
    }
    eprintln!(
        "  published {n} events at {:.0}/s ({:.0} MiB resident)",
        n as f64 / t.elapsed().as_secs_f64(),
        rss_mib()
    );
    Ok(())
}

struct Discard;

#[async_trait::async_trait]
impl BatchHandler for Discard {
    async fn handle(&mut self, _records: &[Record]) -> Result<Handled, HandleError> {
        Ok(Handled::default())
    }
}

/// Waits until `worker` reported `n` records processed.
async fn wait_processed(
    events: &mut mpsc::UnboundedReceiver<WorkerEvent>,
    worker: WorkerId,
    n: u64,
) -> anyhow::Result<()> {
    let mut seen = 0;
    while seen < n {
        match tokio::time::timeout(STALL, events.recv()).await {
            Ok(Some(WorkerEvent::Processed {
                worker: w, records, ..
            })) if w == worker => seen += records,
            Ok(Some(_)) => {}
            Ok(None) => anyhow::bail!("reporter closed"),
            Err(_) => anyhow::bail!("{worker}: only {seen} of {n} records after {STALL:?} idle"),
        }
    }
    Ok(())
}

/// Events/s of a consumer group that reads the indexer's topics and does nothing.
async fn consume_only(services: &Services, n: u64) -> anyhow::Result<f64> {
    let mut spec = services.indexer_spec();
    spec.group = "bench-consume-only".into();
    let (tx, mut events) = mpsc::unbounded_channel();
    let (stop, shutdown) = watch::channel(false);
    let t = Instant::now();
    let task = tokio::spawn(run_consumer(
        services.cluster.clone(),
        spec,
        Discard,
        Reporter::new(tx),
        shutdown,
    ));
    wait_processed(&mut events, WorkerId::Indexer, n).await?;
    let rate = n as f64 / t.elapsed().as_secs_f64();
    // Stopped, not aborted: an aborted consumer may be dropped only when the runtime shuts
    // down, after the embedded broker, and librdkafka's close then waits for it forever.
    let _ = stop.send(true);
    let _ = task.await;
    eprintln!(
        "  consume only: {rate:.0} events/s ({:.0} MiB resident)",
        rss_mib()
    );
    Ok(rate)
}

fn elastic(config: &Config, name: &str) -> anyhow::Result<ElasticIndex> {
    match config.search_backend()? {
        SearchBackend::Elastic {
            url,
            auth,
            analyzer,
            ..
        } => Ok(ElasticIndex::connect(&url, name, &auth, analyzer)?),
        SearchBackend::Local => anyhow::bail!("no search URL"),
    }
}

/// A fresh index of the configured backend named `name`.
async fn fresh_index(
    config: &Config,
    dir: &std::path::Path,
    name: &str,
) -> anyhow::Result<Arc<dyn SearchIndex>> {
    let index: Arc<dyn SearchIndex> = match config.search_backend()? {
        SearchBackend::Local => Arc::new(LocalIndex::open(&dir.join(name))?),
        SearchBackend::Elastic { .. } => Arc::new(elastic(config, name)?),
    };
    index.ensure_index().await?;
    Ok(index)
}

/// Events/s of one indexer with `in_flight` batches in flight, in a group of its own, into
/// a fresh index, from its start to the last event searchable (after a refresh); and the
/// messages the index then holds.
async fn indexer_pass(
    services: &Services,
    config: &Config,
    dir: &std::path::Path,
    name: &str,
    n: u64,
    in_flight: usize,
) -> anyhow::Result<(f64, u64)> {
    let name = format!("bench-{}-{name}", std::process::id());
    let index = fresh_index(config, dir, &name).await?;
    let mut workshop = services.workshop();
    workshop.index = index.clone();
    workshop.config.groups.indexer = name.clone();
    workshop.config.indexer.in_flight = in_flight;
    let (tx, mut events) = mpsc::unbounded_channel();
    let (stop, shutdown) = watch::channel(false);
    let t = Instant::now();
    let worker = workshop.start(WorkerId::Indexer, Reporter::new(tx), shutdown.into())?;
    wait_processed(&mut events, WorkerId::Indexer, n).await?;
    index.refresh().await?;
    let rate = n as f64 / t.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = worker.task.await;
    let held = index.count().await?;
    eprintln!(
        "  indexer, in_flight {in_flight}: {rate:.0} events/s, {held} messages ({:.0} MiB resident)",
        rss_mib()
    );
    Ok((rate, held))
}

/// Documents/s of the engine itself: one document per event (as the event alone makes it),
/// sent with plain index actions, 1,000 per request, one request at a time.
async fn raw_bulk(
    engine: &ElasticIndex,
    events: &[ParsedEvent],
    guarded: bool,
) -> anyhow::Result<f64> {
    engine.ensure_index().await?;
    let analysis = engine.wanted_analysis().await;
    let docs: Vec<SearchDoc> = events.iter().filter_map(|e| apply_event(None, e)).collect();
    let mut bodies = Vec::new();
    for chunk in docs.chunks(RAW_BULK) {
        let mut body = Vec::new();
        for doc in chunk {
            let action = if guarded {
                // The indexer's version guard, to tell the engine's cost of it from ours.
                json!({ "index": { "_id": doc.message_id, "version": doc.version, "version_type": "external_gte" } })
            } else {
                json!({ "index": { "_id": doc.message_id } })
            };
            serde_json::to_writer(&mut body, &action)?;
            body.push(b'\n');
            serde_json::to_writer(&mut body, &source(doc, analysis)?)?;
            body.push(b'\n');
        }
        bodies.push(body);
    }
    let path = format!("/{}/_bulk", engine.index_name());
    let t = Instant::now();
    for body in bodies {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        let response = engine
            .client()
            .send::<Vec<u8>, ()>(Method::Post, &path, headers, None, Some(body), None)
            .await?;
        let status = response.status_code();
        let answer: Value = response.json().await?;
        if !status.is_success() || answer["errors"].as_bool() == Some(true) {
            anyhow::bail!(
                "raw _bulk answered {status}: {}",
                truncate(&answer.to_string())
            );
        }
    }
    let rate = docs.len() as f64 / t.elapsed().as_secs_f64();
    eprintln!("  raw _bulk: {rate:.0} docs/s ({} docs)", docs.len());
    Ok(rate)
}

fn truncate(s: &str) -> String {
    s.chars().take(300).collect()
}

/// Events/s of a consumer written the way the guides write one: each record parsed and
/// indexed with one awaited request, offsets committed automatically.
async fn one_request_per_event(
    services: &Services,
    config: &Config,
    n: u64,
) -> anyhow::Result<f64> {
    let name = format!("bench-{}-guide", std::process::id());
    let engine = elastic(config, &name)?;
    engine.ensure_index().await?;
    let analysis = engine.wanted_analysis().await;
    let mut client_config = services.cluster.consumer_config("bench-guide", &name);
    client_config.set("enable.auto.commit", "true");
    let consumer: StreamConsumer = client_config.build()?;
    let topics = services.indexer_spec().topics;
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    let t = Instant::now();
    let mut done = 0u64;
    while done < n {
        let message = tokio::time::timeout(STALL, consumer.recv())
            .await
            .map_err(|_| anyhow::anyhow!("one request per event: no record for {STALL:?}"))??;
        done += 1;
        let Ok(event) = parse_message_event(message.payload().unwrap_or_default()) else {
            continue;
        };
        let Some(doc) = apply_event(None, &event) else {
            continue;
        };
        let path = format!("/{name}/_doc/{}", doc.message_id);
        let response = engine
            .client()
            .send::<JsonBody<Value>, ()>(
                Method::Put,
                &path,
                HeaderMap::new(),
                None,
                Some(JsonBody::new(source(&doc, analysis)?)),
                None,
            )
            .await?;
        if !response.status_code().is_success() {
            anyhow::bail!(
                "one request per event: {} for {path}",
                response.status_code()
            );
        }
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    drop(consumer);
    eprintln!("  one request per event: {rate:.0} events/s over {n}");
    Ok(rate)
}

/// Deletes the benchmark's indices (`bench-<pid>-*`) from the engine.
async fn cleanup_indices(engine: &ElasticIndex) {
    let path = format!("/bench-{}-*", std::process::id());
    let _ = engine
        .client()
        .send::<(), ()>(Method::Delete, &path, HeaderMap::new(), None, None, None)
        .await;
}
