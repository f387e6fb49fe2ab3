//! `eventdeck bench e2e`: produce→searchable under a steady load (issue 14).
//!
//! The benchmark starts its own services on a temporary data directory (embedded broker;
//! the local index, or a fresh index `bench-<pid>-e2e` on the `--search-url` engine), starts
//! the indexer as configured, and publishes generated events at a steady rate for a number of
//! seconds: every 10 ms the events due so far, deliveries awaited alongside, never one by one.
//! Ten events a second are `message.created` probes whose content carries a unique word
//! (`e2eprobe000123`); the instant just before a probe is enqueued is its start.
//!
//! A poller, every `--poll-ms`, asks the index for the probes still pending, both ways at once:
//!
//! - written: the realtime `get` (Elasticsearch's `_mget` sees a document once written, before
//!   a refresh; the local index's `get` sees the writer's pending documents before a commit);
//! - searchable: one `match` search for the pending probes' words.
//!
//! A probe's delay is taken when the answer that first shows it arrives (an upper bound; the
//! poll interval is the resolution). searchable − written is the refresh's share. Probes not
//! searchable [`GRACE`] after the last event was enqueued are reported as missing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use elasticsearch::http::headers::HeaderMap;
use elasticsearch::http::Method;
use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;

use super::{thousands, Row};
use crate::config::{Config, SearchBackend};
use crate::event::{new_event_id, MessageCreated, MessageEvent, ParsedEvent};
use crate::monitor::cqrs::Percentiles;
use crate::ops::WorkerId;
use crate::search::elastic::ElasticIndex;
use crate::search::{SearchIndex, SearchQuery};
use crate::workers::loadgen::LoadGenerator;
use crate::workers::report::Reporter;
use crate::workers::supervisor::Services;

#[derive(Debug, Clone)]
pub struct E2eArgs {
    /// Events per second.
    pub rate: u64,
    pub seconds: u64,
    /// An Elasticsearch API; empty: the local index.
    pub search_url: String,
    /// How often the pending probes are looked for: the figures' resolution, and load on
    /// the engine (a search and a get each time).
    pub poll: Duration,
}

impl Default for E2eArgs {
    fn default() -> Self {
        Self {
            rate: 1_000,
            seconds: 30,
            search_url: String::new(),
            poll: Duration::from_millis(25),
        }
    }
}

/// How often the producer enqueues the events due.
const TICK: Duration = Duration::from_millis(10);
/// Probes per second of load (at most one per event).
const PROBES_PER_SEC: u64 = 10;
/// Probes asked for in one poll (the oldest first).
const MAX_POLLED: usize = 100;
/// How long after the last event the poller keeps looking for the probes not yet found.
const GRACE: Duration = Duration::from_secs(10);
/// How long the indexer may take to read its first event.
const WARM_UP: Duration = Duration::from_secs(60);
const PROBE_PREFIX: &str = "e2eprobe";
/// Targets of issue 14: p99 into an engine with a 1 s refresh, and into the local index.
const ENGINE_LIMIT: Duration = Duration::from_millis(1_500);
const LOCAL_LIMIT: Duration = Duration::from_millis(500);

/// The unique word of probe `n`: one token for every analyzer (letters and digits).
pub fn probe_token(n: u64) -> String {
    format!("{PROBE_PREFIX}{n:06}")
}

/// The probe number of the first probe word in `content`.
pub fn probe_number(content: &str) -> Option<u64> {
    content
        .split_whitespace()
        .find_map(|w| w.strip_prefix(PROBE_PREFIX)?.parse().ok())
}

/// Events due `elapsed` into a run at `rate` per second (whole events, rounded down).
pub fn due(rate: u64, elapsed: Duration) -> u64 {
    (u128::from(rate) * elapsed.as_micros() / 1_000_000).min(u128::from(u64::MAX)) as u64
}

/// `index.refresh_interval` from a `GET /<index>/_settings` answer (keyed by the concrete
/// index, nested or flat settings); Elasticsearch's default "1s" when it is not set.
pub fn refresh_interval_of(settings: &Value) -> String {
    settings
        .as_object()
        .into_iter()
        .flat_map(|indices| indices.values())
        .find_map(|index| {
            index
                .pointer("/settings/index/refresh_interval")
                .or_else(|| index.pointer("/settings/index.refresh_interval"))
                .and_then(Value::as_str)
        })
        .unwrap_or("1s")
        .to_string()
}

/// A probe on its way: its word's number, its message and when it was enqueued.
struct Probe {
    number: u64,
    message_id: String,
    sent: Instant,
}

/// What the poller saw of one probe.
#[derive(Debug, Clone, Copy)]
struct Seen {
    written: Option<Duration>,
    searchable: Option<Duration>,
}

#[derive(Default)]
struct PollReport {
    seen: Vec<Seen>,
    /// Probes never found searchable.
    missing: usize,
    failed_polls: u64,
    /// The most probes pending at once (more than [`MAX_POLLED`]: the oldest were polled first).
    most_pending: usize,
}

struct Produced {
    events: u64,
    probes: u64,
    elapsed: Duration,
    failed: u64,
}

pub async fn run(mut config: Config, args: &E2eArgs) -> anyhow::Result<Vec<Row>> {
    anyhow::ensure!(
        args.rate > 0 && args.seconds > 0,
        "rate and seconds must be > 0"
    );
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("eventdeck-bench-e2e-{pid}"));
    let _cleanup = crate::bench::RemoveOnDrop(dir.clone());
    config.data_dir = dir.join("data").display().to_string();
    config.kafka.embedded_port = 0;
    config.search.url = args.search_url.clone();
    config.search.index = format!("bench-{pid}-e2e");
    let engine = match config.search_backend()? {
        SearchBackend::Local => None,
        SearchBackend::Elastic {
            url,
            index,
            auth,
            analyzer,
        } => Some(ElasticIndex::connect(&url, &index, &auth, analyzer)?),
    };
    let services = Services::start(config.clone()).await?;
    let result = measure(&services, &config, engine.as_ref(), args).await;
    drop(services);
    if let Some(engine) = &engine {
        let path = format!("/{}", engine.index_name());
        let _ = engine
            .client()
            .send::<(), ()>(Method::Delete, &path, HeaderMap::new(), None, None, None)
            .await;
    }
    result
}

/// The run proper; the indexer is stopped before it returns, whatever happened.
async fn measure(
    services: &Services,
    config: &Config,
    engine: Option<&ElasticIndex>,
    args: &E2eArgs,
) -> anyhow::Result<Vec<Row>> {
    let refresh = match engine {
        Some(engine) => Some(refresh_interval(engine).await?),
        None => None,
    };
    eprintln!(
        "bench e2e: {} events/s for {} s · {} · {}{}",
        args.rate,
        args.seconds,
        services.cluster.describe(),
        services.index.describe(),
        refresh
            .as_deref()
            .map(|r| format!(" (refresh_interval {r})"))
            .unwrap_or_default()
    );
    let (tx, mut reports) = mpsc::unbounded_channel();
    tokio::spawn(async move { while reports.recv().await.is_some() {} });
    let (stop, shutdown) = watch::channel(false);
    let worker =
        services
            .workshop()
            .start(WorkerId::Indexer, Reporter::new(tx), shutdown.into())?;
    let outcome = async {
        warm_up(services).await?;
        let (probe_tx, probe_rx) = mpsc::unbounded_channel();
        let poller = tokio::spawn(poll(services.index.clone(), probe_rx, args.poll));
        let produced = produce(services, args, probe_tx).await?;
        let report = poller.await?;
        Ok::<_, anyhow::Error>((produced, report))
    }
    .await;
    // Stopped, not aborted: an aborted consumer may be dropped only when the runtime shuts
    // down, after the embedded broker, and librdkafka's close then waits for it forever.
    let _ = stop.send(true);
    let _ = worker.task.await;
    let (produced, report) = outcome?;
    Ok(rows(
        config,
        engine,
        refresh.as_deref(),
        args,
        &produced,
        &report,
    ))
}

/// `index.refresh_interval` of the engine's index, as set (never changed here).
async fn refresh_interval(engine: &ElasticIndex) -> anyhow::Result<String> {
    let path = format!("/{}/_settings", engine.index_name());
    let response = engine
        .client()
        .send::<(), ()>(Method::Get, &path, HeaderMap::new(), None, None, None)
        .await?;
    let status = response.status_code();
    anyhow::ensure!(status.is_success(), "GET {path} answered {status}");
    Ok(refresh_interval_of(&response.json::<Value>().await?))
}

/// A created event carrying probe `number`'s word, spread over the generator's channels.
fn probe_event(config: &Config, number: u64) -> MessageEvent {
    let channels = u64::from(config.loadgen.channels.max(1));
    let authors = u64::from(config.loadgen.authors.max(1));
    MessageEvent::Created(MessageCreated {
        message_id: format!("msg_{}", new_event_id()),
        channel_id: format!("ch_{:02}", number % channels),
        author_id: format!("user_{:03}", number % authors),
        content: format!("end-to-end check {}", probe_token(number)),
        mentions: vec![],
        attachments: vec![],
    })
}

/// Publishes one probe and waits until it is searchable: the indexer has joined its group and
/// the clock of the run does not include that.
async fn warm_up(services: &Services) -> anyhow::Result<()> {
    let publisher = services.publisher()?;
    let number = 999_999;
    let event = ParsedEvent::mint(probe_event(&services.config, number));
    let t = Instant::now();
    let delivery = publisher
        .enqueue(&event)
        .await
        .map_err(anyhow::Error::msg)?;
    crate::bus::producer::resolve(delivery)
        .await
        .map_err(anyhow::Error::msg)?;
    let query = SearchQuery {
        text: probe_token(number),
        page_size: 1,
        ..SearchQuery::default()
    };
    let mut ticker = tokio::time::interval(Duration::from_millis(25));
    while t.elapsed() < WARM_UP {
        ticker.tick().await;
        if let Ok(found) = services.index.search(&query).await {
            if !found.hits.is_empty() {
                eprintln!(
                    "  warm-up probe searchable after {} ms",
                    t.elapsed().as_millis()
                );
                return Ok(());
            }
        }
    }
    anyhow::bail!("the warm-up probe was not searchable within {WARM_UP:?}")
}

/// Publishes `rate × seconds` events at a steady pace; every `rate / PROBES_PER_SEC`-th is a
/// probe, handed to the poller just before it is enqueued.
async fn produce(
    services: &Services,
    args: &E2eArgs,
    probes: mpsc::UnboundedSender<Probe>,
) -> anyhow::Result<Produced> {
    let publisher = services.publisher()?;
    let mut generator = LoadGenerator::with_seed(services.config.loadgen.clone(), 42);
    let total = args.rate.saturating_mul(args.seconds);
    let every = (args.rate / PROBES_PER_SEC).max(1);
    let mut deliveries = FuturesUnordered::new();
    let mut failed = 0u64;
    let mut sent = 0u64;
    let mut probe_count = 0u64;
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let start = Instant::now();
    while sent < total {
        tokio::select! {
            _ = ticker.tick() => {
                let now_due = due(args.rate, start.elapsed()).min(total);
                while sent < now_due {
                    let event = if sent.is_multiple_of(every) {
                        let event = ParsedEvent::mint(probe_event(&services.config, probe_count));
                        let _ = probes.send(Probe {
                            number: probe_count,
                            message_id: event.message_id().to_string(),
                            sent: Instant::now(),
                        });
                        probe_count += 1;
                        event
                    } else {
                        ParsedEvent::mint(generator.next_event())
                    };
                    let d = publisher.enqueue(&event).await.map_err(anyhow::Error::msg)?;
                    deliveries.push(crate::bus::producer::resolve(d));
                    sent += 1;
                }
            }
            Some(r) = deliveries.next(), if !deliveries.is_empty() => {
                failed += u64::from(r.is_err());
            }
        }
    }
    let elapsed = start.elapsed();
    drop(probes);
    while let Some(r) = deliveries.next().await {
        failed += u64::from(r.is_err());
    }
    eprintln!(
        "  produced {sent} events ({probe_count} probes) at {:.0}/s, {failed} deliveries failed",
        sent as f64 / elapsed.as_secs_f64()
    );
    Ok(Produced {
        events: sent,
        probes: probe_count,
        elapsed,
        failed,
    })
}

/// A probe being polled for.
struct Pending {
    probe: Probe,
    written: Option<Duration>,
}

/// Every `every`, asks the index for the pending probes: the realtime get for those not yet
/// written, one search for the words of those not yet searchable (both at once). Ends when
/// every probe is found after the producer is done, or [`GRACE`] after it is.
async fn poll(
    index: Arc<dyn SearchIndex>,
    mut probes: mpsc::UnboundedReceiver<Probe>,
    every: Duration,
) -> PollReport {
    let mut report = PollReport::default();
    let mut pending: Vec<Pending> = Vec::new();
    let mut deadline: Option<Instant> = None;
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        loop {
            match probes.try_recv() {
                Ok(probe) => pending.push(Pending {
                    probe,
                    written: None,
                }),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    deadline.get_or_insert_with(|| Instant::now() + GRACE);
                    break;
                }
            }
        }
        report.most_pending = report.most_pending.max(pending.len());
        match deadline {
            Some(_) if pending.is_empty() => break,
            Some(d) if Instant::now() >= d => break,
            _ => {}
        }
        if pending.is_empty() {
            continue;
        }
        let polled = &pending[..pending.len().min(MAX_POLLED)];
        let ids: Vec<String> = polled
            .iter()
            .filter(|p| p.written.is_none())
            .map(|p| p.probe.message_id.clone())
            .collect();
        let words: Vec<String> = polled.iter().map(|p| probe_token(p.probe.number)).collect();
        let query = SearchQuery {
            text: words.join(" "),
            page_size: words.len(),
            ..SearchQuery::default()
        };
        let get = async {
            if ids.is_empty() {
                Ok(HashMap::new())
            } else {
                index.get(&ids).await
            }
        };
        let (got, found) = tokio::join!(get, index.search(&query));
        let now = Instant::now();
        match got {
            Ok(got) => {
                for p in pending.iter_mut().filter(|p| p.written.is_none()) {
                    if got.contains_key(&p.probe.message_id) {
                        p.written = Some(now - p.probe.sent);
                    }
                }
            }
            Err(_) => report.failed_polls += 1,
        }
        let found: Vec<u64> = match found {
            Ok(results) => results
                .hits
                .iter()
                .filter_map(|h| probe_number(&h.doc.content))
                .collect(),
            Err(_) => {
                report.failed_polls += 1;
                Vec::new()
            }
        };
        pending.retain(|p| {
            if !found.contains(&p.probe.number) {
                return true;
            }
            let searchable = now - p.probe.sent;
            report.seen.push(Seen {
                // Searchable implies written: the get of this poll may have raced the write.
                written: Some(p.written.unwrap_or(searchable)),
                searchable: Some(searchable),
            });
            false
        });
    }
    report.missing = pending.len();
    report.seen.extend(pending.iter().map(|p| Seen {
        written: p.written,
        searchable: None,
    }));
    report
}

fn ms(d: f64) -> String {
    format!("{} ms", thousands(d))
}

fn rows(
    config: &Config,
    engine: Option<&ElasticIndex>,
    refresh: Option<&str>,
    args: &E2eArgs,
    produced: &Produced,
    report: &PollReport,
) -> Vec<Row> {
    let searchable: Vec<Duration> = report.seen.iter().filter_map(|s| s.searchable).collect();
    let written: Vec<Duration> = report.seen.iter().filter_map(|s| s.written).collect();
    let share: Vec<Duration> = report
        .seen
        .iter()
        .filter_map(|s| Some(s.searchable?.saturating_sub(s.written?)))
        .collect();
    let limit = if engine.is_some() {
        ENGINE_LIMIT
    } else {
        LOCAL_LIMIT
    };
    let rate = thousands(args.rate as f64);
    let every = (args.rate / PROBES_PER_SEC).max(1);
    let where_ = match (engine, refresh) {
        (Some(_), Some(r)) => format!(
            "{}, index.refresh_interval {r} (as set, unchanged)",
            crate::config::redact_userinfo(&args.search_url)
        ),
        _ => format!(
            "local index, commits every {} ms",
            crate::search::local::COMMIT_INTERVAL.as_millis()
        ),
    };
    let common = format!(
        "{} s at {rate}/s, a probe every {every} events, polled every {} ms (the resolution; \
         taken when the answer arrives), indexer in_flight {}, flush {} ms, {where_}",
        args.seconds,
        args.poll.as_millis(),
        config.indexer.in_flight,
        config.indexer.flush_interval_ms,
    );
    let mut rows = Vec::new();
    let figure = format!("produce→searchable at {rate} events/s");
    let target = format!("p99 < {} s", limit.as_secs_f64());
    match Percentiles::of(&searchable) {
        Some(p) => {
            let mut row = Row::new(
                figure,
                format!(
                    "p50 {}, p99 {} (max {})",
                    ms(p.p50_ms),
                    ms(p.p99_ms),
                    ms(p.max_ms)
                ),
            )
            .target(
                target,
                report.missing == 0 && p.p99_ms < limit.as_secs_f64() * 1e3,
            )
            .params(common.clone());
            row.ratio = Some(p.p99_ms / (limit.as_secs_f64() * 1e3));
            rows.push(row);
        }
        None => rows.push(
            Row::new(figure, "no probe found")
                .target(target, false)
                .params(common.clone()),
        ),
    }
    let get = if engine.is_some() {
        "realtime _mget (sees a document once written, before a refresh)"
    } else {
        "the local index's get (sees the writer's pending documents, before a commit; the \
         indexer commits every batch before its offsets, so searchable follows written)"
    };
    match (Percentiles::of(&written), Percentiles::of(&share)) {
        (Some(w), Some(s)) => rows.push(
            Row::new(
                "produce→written (before refresh)",
                format!(
                    "p50 {}, p99 {}; refresh's share of p50 ≈ {}",
                    ms(w.p50_ms),
                    ms(w.p99_ms),
                    ms(s.p50_ms)
                ),
            )
            .params(format!(
                "{get}; share = median of searchable − written per probe (p99 {})",
                ms(s.p99_ms)
            )),
        ),
        _ => rows.push(Row::new("produce→written (before refresh)", "no probe found").params(get)),
    }
    let found = produced.probes as usize - report.missing.min(produced.probes as usize);
    let mut notes = format!(
        "{} events in {:.1} s, {} deliveries failed",
        thousands(produced.events as f64),
        produced.elapsed.as_secs_f64(),
        thousands(produced.failed as f64)
    );
    if report.missing > 0 {
        notes.push_str(&format!(
            ", {} probes not searchable {} s after the last event",
            report.missing,
            GRACE.as_secs()
        ));
    }
    if report.failed_polls > 0 {
        notes.push_str(&format!(", {} polls failed", report.failed_polls));
    }
    if report.most_pending > MAX_POLLED {
        notes.push_str(&format!(
            ", up to {} probes pending (polled {MAX_POLLED} at a time, oldest first)",
            report.most_pending
        ));
    }
    rows.push(
        Row::new(
            "steady load: produced, probes searchable",
            format!(
                "{} events/s; {found} of {} probes found",
                thousands(produced.events as f64 / produced.elapsed.as_secs_f64().max(1e-9)),
                produced.probes
            ),
        )
        .target(
            format!("{rate}/s, every probe found"),
            report.missing == 0 && produced.failed == 0,
        )
        .params(notes),
    );
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn probe_words_round_trip() {
        assert_eq!(probe_token(123), "e2eprobe000123");
        assert_eq!(probe_token(1_234_567), "e2eprobe1234567");
        assert_eq!(probe_number("end-to-end check e2eprobe000123"), Some(123));
        assert_eq!(probe_number(&format!("x {} y", probe_token(42))), Some(42));
        assert_eq!(probe_number("deploy finished on staging"), None);
        assert_eq!(probe_number("e2eprobe e2eprobeX1 e2eprobe7"), Some(7));
    }

    #[test]
    fn events_due_follow_the_rate() {
        assert_eq!(due(1_000, Duration::ZERO), 0);
        assert_eq!(due(1_000, Duration::from_millis(10)), 10);
        assert_eq!(due(1_000, Duration::from_micros(10_999)), 10);
        assert_eq!(due(1_000, Duration::from_secs(30)), 30_000);
        assert_eq!(due(3, Duration::from_millis(500)), 1);
        assert_eq!(due(u64::MAX, Duration::from_secs(10)), u64::MAX);
    }

    #[test]
    fn the_refresh_interval_is_read_as_set_or_defaulted() {
        let nested = json!({ "messages-1": { "settings": { "index": {
            "refresh_interval": "500ms", "number_of_shards": "1" } } } });
        assert_eq!(refresh_interval_of(&nested), "500ms");
        let flat = json!({ "m": { "settings": { "index.refresh_interval": "-1" } } });
        assert_eq!(refresh_interval_of(&flat), "-1");
        let unset = json!({ "m": { "settings": { "index": { "number_of_shards": "1" } } } });
        assert_eq!(refresh_interval_of(&unset), "1s");
        assert_eq!(refresh_interval_of(&json!({})), "1s");
        assert_eq!(refresh_interval_of(&json!("nonsense")), "1s");
    }
}
