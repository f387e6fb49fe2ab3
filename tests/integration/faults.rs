//! Faults under load, through the real binary against noida-db as an external cluster: the
//! search server stopped and started (`noida-db stop|start elasticsearch`, data kept) and the
//! Kafka service stopped and started, while a third-party client produces. Each test checks
//! that nothing is lost or duplicated, that `eventdeck status` says what is wrong while it is
//! wrong, and prints its row of the reliability table: fault, injection, events sent, found
//! afterwards, duplicates, time to recover.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{eventually, group_positions, search_server, wait_committed, Noida};
use crate::load::{notified_once_none_dead, Load};
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
    node.wait_hits("indexing under way", Duration::from_secs(60), |n| n > 0)
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
    node.wait_hits("the index caught up", Duration::from_secs(60), |n| {
        n == want
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

/// The reasons of the consuming workers (not the producer or the relay, which have nothing
/// to send here) when every one of them is backing off; the report otherwise.
fn consumers_backing_off(report: &Value) -> Result<String, String> {
    let consumers: Vec<&Value> = report["workers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|w| !["producer", "relay"].contains(&w["worker"].as_str().unwrap_or("")))
        .collect();
    let why = consumers
        .iter()
        .map(|w| format!("{}: {}", w["worker"], w["last_error"]))
        .collect::<Vec<_>>()
        .join("; ");
    (!consumers.is_empty() && consumers.iter().all(|w| w["state"] == "backing off"))
        .then_some(why)
        .ok_or_else(|| format!("{report}"))
}

/// Where the broker of a restart test lives, and how it is stopped and started.
enum BrokerHost {
    /// An `eventdeck run --workers producer` holding the embedded broker: SIGTERM, then
    /// started again on the same data directory and port.
    Embedded { node: Node, run: KillOnDrop },
    /// noida-db's Kafka service: `noida-db stop kafka`, `noida-db start kafka`.
    Noida(Noida),
}

impl BrokerHost {
    fn stop(&mut self) {
        match self {
            BrokerHost::Embedded { node, run } => {
                let mut child = run.0.take().expect("broker running");
                let pid = i32::try_from(child.id()).expect("pid");
                // SAFETY: sends a signal to our own child process.
                assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "SIGTERM");
                let status = child.wait().expect("wait");
                assert!(status.success(), "broker host: {status:?}\n{}", node.logs());
            }
            BrokerHost::Noida(noida) => noida.stop_service("kafka"),
        }
    }

    fn start(&mut self) {
        match self {
            BrokerHost::Embedded { node, run } => run.0 = Some(node.start().0),
            BrokerHost::Noida(noida) => noida.start_service("kafka"),
        }
    }
}

/// The broker goes away in the middle of an 8,000-event load and comes back on the same data:
/// the third-party producer buffers and resumes, the workers of another eventdeck rejoin,
/// `status` on that eventdeck says the cluster is down and then up, and afterwards every event
/// is searchable once and every mention notified once.
async fn broker_restart(on_noida: bool) {
    const SENT: usize = 8_000;
    let dir = crate::node::KeepOnPanic::new();
    let marker = if on_noida {
        "noidarestartmark"
    } else {
        "embeddedrestartmark"
    };
    let (mut host, mut node) = if on_noida {
        let noida = Noida::start();
        let mut node = Node::new(
            dir.path().join("workers"),
            Some(noida.elasticsearch.clone()),
            marker,
        );
        node.brokers = Some(noida.kafka.clone());
        // Two consumers: noida's idle consumers are busy pollers (harness notes).
        node.workers = Some("indexer,notifier".into());
        (BrokerHost::Noida(noida), node)
    } else {
        let mut broker = Node::new(dir.path().join("broker"), None, marker);
        broker.workers = Some("producer".into());
        let run = KillOnDrop(Some(broker.start().0));
        let mut node = Node::new(
            dir.path().join("workers"),
            Some(search_server().await),
            marker,
        );
        node.brokers = Some(format!("127.0.0.1:{}", broker.port));
        // Workers on another eventdeck's embedded broker turn idempotence off, as the README
        // says: after an outage librdkafka's idempotent producer bumps its epoch, and
        // tansu-storage 0.6 panics on it, again after each restart (CI failed on that loop).
        let config = dir.path().join("workers.toml");
        std::fs::write(
            &config,
            "[kafka.properties]\n\"enable.idempotence\" = \"false\"\n",
        )
        .expect("workers' config");
        node.config = Some(config);
        (BrokerHost::Embedded { node: broker, run }, node)
    };
    let (run, _) = node.start();
    let _run = KillOnDrop(Some(run));
    let load = Load::start(node.cluster(), marker, SENT, 1_000);
    node.wait_hits("indexing under way", Duration::from_secs(60), |n| n > 0)
        .await;

    host.stop();
    let down = Instant::now();
    let acked_at_stop = load.acked();
    // The outage must show in `status`, for the cluster and for every consuming worker. In
    // about 1 run of 5 on a busy CPU librdkafka gave the consumers no error event at all
    // (the producers of the same process heard "all brokers down" every few seconds); a
    // quiet worker now asks the cluster itself (`workers::quiet`).
    let report = eventually(
        "status says the cluster is down",
        Duration::from_secs(30),
        || {
            let report = node.status();
            async move {
                let report = report?;
                (report["cluster_up"] == false)
                    .then(|| report.clone())
                    .ok_or_else(|| format!("{report}"))
            }
        },
    )
    .await;
    let said_down_after = down.elapsed();
    assert!(!report["errors"].to_string().is_empty(), "{report}");
    let worker_said = eventually(
        "every consuming worker says it cannot reach the cluster",
        Duration::from_secs(30),
        || {
            let report = node.status();
            async move { consumers_backing_off(&report?) }
        },
    )
    .await;
    let worker_said_after = down.elapsed();
    host.start();
    let up = Instant::now();
    let outage = up - down;
    eventually(
        "status says the cluster is up",
        Duration::from_secs(30),
        || {
            let report = node.status();
            async move {
                let report = report?;
                (report["cluster_up"] == true)
                    .then_some(())
                    .ok_or_else(|| format!("{report}"))
            }
        },
    )
    .await;

    let status_up_after = up.elapsed();
    let acked = load.finish().await;
    let acked_after = up.elapsed();
    let want = acked.len() as u64;
    node.wait_hits("every event searchable", Duration::from_secs(120), |n| {
        n == want
    })
    .await;
    let recovered = up.elapsed();
    // Every worker running again: the idle ones too, which have no message to show it.
    eventually(
        "every worker running again",
        Duration::from_secs(30),
        || {
            let report = node.status();
            async move {
                let report = report?;
                let workers = report["workers"].as_array().cloned().unwrap_or_default();
                (!workers.is_empty() && workers.iter().all(|w| w["state"] == "running"))
                    .then_some(())
                    .ok_or_else(|| format!("{workers:?}"))
            }
        },
    )
    .await;
    let cluster = node.cluster();
    let notified = notified_once_none_dead(&cluster, &acked).await;
    let found = node.search_total().expect("search");
    eprintln!(
        "broker restart ({marker}): down {:.1} s with {acked_at_stop} acknowledged; status said \
         down after {:.1} s, every consumer backing off after {:.1} s ({worker_said}); after the \
         restart: status up {:.1} s, every event acknowledged {:.1} s; {notified} notifications",
        outage.as_secs_f64(),
        said_down_after.as_secs_f64(),
        worker_said_after.as_secs_f64(),
        status_up_after.as_secs_f64(),
        acked_after.as_secs_f64(),
    );
    let injection = if on_noida {
        "noida-db stop/start kafka under 1,000 events/s"
    } else {
        "SIGTERM the process holding the embedded broker, start it on the same data dir"
    };
    table_row(
        "broker restart",
        injection,
        SENT,
        found,
        found.saturating_sub(want),
        recovered,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_broker_restart_under_load_loses_nothing() {
    broker_restart(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noida_kafka_restart_under_load_loses_nothing() {
    broker_restart(true).await;
}

/// Resident memory of process `pid`, in bytes (`VmRSS`).
fn resident(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Backpressure: the indexer's search server never answers while 250,000 events of 1 KB
/// (about 260 MB) pour into its topic as fast as a client can write them. The indexer holds
/// one batch, librdkafka's prefetch (8 MiB) and one fetch answer (8 MiB), not the backlog:
/// its resident memory grows by a bounded amount however much waits, and it commits
/// nothing. Measured: +42 MiB with 100,000 or 250,000 waiting; before `fetch.max.bytes` was
/// set, +46 MiB and +85 MiB (tansu answers a fetch with as much as librdkafka accepts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_indexer_holds_bounded_memory_whatever_waits() {
    const SENT: usize = 250_000;
    const PAD: usize = 1_000;
    /// Prefetch (8 MiB) and a batch with its documents, with room for the allocator.
    const BOUND: u64 = 64 << 20;
    let dir = crate::node::KeepOnPanic::new();
    let mut broker = Node::new(dir.path().join("broker"), None, "pressuremark");
    broker.workers = Some("producer".into());
    let _broker = KillOnDrop(Some(broker.start().0));
    let dead_search = format!("http://127.0.0.1:{}", crate::node::free_port());
    let mut node = Node::new(
        dir.path().join("indexer"),
        Some(dead_search),
        "pressuremark",
    );
    node.brokers = Some(format!("127.0.0.1:{}", broker.port));
    node.workers = Some("indexer".into());
    let (run, _) = node.start();
    let pid = run.id();
    let _run = KillOnDrop(Some(run));
    // Some records first, so that the indexer is at work and failing before the flood.
    let warm = Load::start(node.cluster(), &node.marker, 1_000, 1_000);
    eventually("the indexer backing off", Duration::from_secs(60), || {
        let report = node.status();
        async move {
            let report = report?;
            let w = worker(&report, "indexer").ok_or_else(|| format!("{report}"))?;
            (w["state"] == "backing off")
                .then_some(())
                .ok_or_else(|| format!("{w}"))
        }
    })
    .await;
    warm.finish().await;
    let before = resident(pid).expect("resident memory");
    let (committed_before, _) = committed_and_lag(&node, INDEXER_GROUP).await;
    let started = Instant::now();
    let flood = Load::start_padded(node.cluster(), &node.marker, SENT, 1_000_000, PAD);
    let mut peak = before;
    while !flood.is_done() {
        peak = peak.max(resident(pid).unwrap_or(0));
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the flood did not end"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    flood.finish().await;
    // A few more samples once everything waits in the topic.
    for _ in 0..20 {
        peak = peak.max(resident(pid).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let flooded = started.elapsed();
    let (committed_after, lag) = committed_and_lag(&node, INDEXER_GROUP).await;
    assert_eq!(
        committed_after, committed_before,
        "nothing committed while nothing is indexed"
    );
    assert!(
        lag >= SENT as i64,
        "the backlog waits in the topic: lag {lag}"
    );
    let grew = peak.saturating_sub(before);
    eprintln!(
        "backpressure: {SENT} events of {PAD} B in {:.1} s while the search server is away; \
         indexer resident {} MiB before, peak {} MiB (+{} MiB, bound {} MiB); lag {lag}",
        flooded.as_secs_f64(),
        before >> 20,
        peak >> 20,
        grew >> 20,
        BOUND >> 20
    );
    assert!(
        grew < BOUND,
        "resident memory grew by {} MiB while the backlog grew by {} MB",
        grew >> 20,
        SENT * PAD / 1_000_000
    );
}
