//! `eventdeck status --json` against what the Kafka API says at the same moment, /metrics,
//! event times read at committed offsets, and status from two samples never OK without
//! evidence. On the embedded broker and on noida-db (`embedded::…`, `noida::…`).

use std::collections::BTreeSet;
use std::time::Duration;

use eventdeck::bus::Cluster;
use eventdeck::monitor::report::StatusReport;
use eventdeck::monitor::MonitorOptions;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use crate::harness::{eventually, kafka_view, on_both_clusters, Backend, Bench};

use crate::monitor::{monitor, producer, WAIT};

on_both_clusters!(
    status_json_matches_the_kafka_api_and_metrics_are_served,
    the_record_at_a_committed_offset_gives_its_event_time,
);

/// Commits `offsets` for `group` on `topic`, as a consumer of that group would.
async fn commit(cluster: &Cluster, group: &str, topic: &str, offsets: &[(i32, i64)]) {
    let (cluster, group, topic) = (cluster.clone(), group.to_string(), topic.to_string());
    let offsets = offsets.to_vec();
    tokio::task::spawn_blocking(move || {
        let c: BaseConsumer = cluster
            .consumer_config("test-commit", &group)
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for (p, o) in offsets {
            tpl.add_partition_offset(&topic, p, Offset::Offset(o))
                .expect("tpl");
        }
        c.commit(&tpl, CommitMode::Sync).expect("commit");
    })
    .await
    .expect("commit task");
}

/// Waits until every partition of `topic` holds at least `n` records.
pub(crate) async fn wait_for_records(bench: &Bench, topic: &str, n: i64) {
    eventually("records on every partition", WAIT, || {
        let (cluster, topic) = (bench.cluster().clone(), topic.to_string());
        async move {
            let view = kafka_view(&cluster, "nobody", &topic).await;
            view.iter()
                .all(|(_, _, high, _)| *high >= n)
                .then_some(())
                .ok_or(format!("{view:?}"))
        }
    })
    .await;
}

async fn status_json_matches_the_kafka_api_and_metrics_are_served(backend: Backend) {
    let bench = Bench::on(backend).await;
    let config = &bench.services.config;
    let topic = config.topics.user_activity.clone();
    let group = config.groups.indexer.clone();
    let (stop, produced) = producer(&bench, &topic, 1000);
    wait_for_records(&bench, &topic, 20).await;
    let _ = stop.send(true);
    produced.await.expect("producer");
    // The indexer's group stands at 5, 10 and 15: nothing moves from here on.
    commit(bench.cluster(), &group, &topic, &[(0, 5), (1, 10), (2, 15)]).await;
    let expected = kafka_view(bench.cluster(), &group, &topic).await;

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_eventdeck"))
        .args(["status", "--json", "--data-dir"])
        .arg(bench.dir.path().join("data"))
        .current_dir(bench.dir.path())
        .env_remove("EVENTDECK_CONFIG")
        .envs(bench.child_env())
        .output()
        .await
        .expect("run eventdeck status");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: StatusReport = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
    assert_eq!(report.version, 1);
    assert!(report.cluster_up, "{:?}", report.errors);
    let t = report
        .topics
        .iter()
        .find(|t| t.topic == topic)
        .expect("topic in report");
    let g = report
        .groups
        .iter()
        .find(|g| g.group == group)
        .expect("group in report");
    let gt = g
        .topics
        .iter()
        .find(|x| x.topic == topic)
        .expect("group topic in report");
    let mut lag_sum = 0;
    for (p, low, high, committed) in &expected {
        let tp = t
            .partitions
            .iter()
            .find(|x| x.partition == *p)
            .expect("partition");
        assert_eq!(
            (tp.low, tp.high),
            (*low, *high),
            "watermarks of partition {p}"
        );
        let gp = gt
            .partitions
            .iter()
            .find(|x| x.partition == *p)
            .expect("lag row");
        assert_eq!(gp.committed, *committed, "committed of partition {p}");
        assert_eq!(gp.high, *high);
        let lag = high - committed.expect("committed");
        assert_eq!(gp.lag, Some(lag), "lag of partition {p}");
        lag_sum += lag;
    }
    assert_eq!(gt.lag, Some(lag_sum));
    assert_eq!(
        t.messages,
        expected.iter().map(|(_, l, h, _)| h - l).sum::<i64>()
    );
    assert_eq!(
        t.in_per_sec, 0.0,
        "nothing was written between the two samples"
    );
    assert_eq!(gt.out_per_sec, 0.0);
    // The record at each committed offset was read: the time lag is not an estimate.
    assert!(
        gt.lag_seconds.is_some_and(|s| s >= 0.0) && !gt.lag_seconds_estimated,
        "{gt:?}"
    );

    // The human table says the same.
    let table = tokio::process::Command::new(env!("CARGO_BIN_EXE_eventdeck"))
        .args(["status", "--data-dir"])
        .arg(bench.dir.path().join("data"))
        .current_dir(bench.dir.path())
        .env_remove("EVENTDECK_CONFIG")
        .envs(bench.child_env())
        .output()
        .await
        .expect("run eventdeck status");
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains(&format!("GROUP {group}")), "{text}");
    assert!(text.contains("CURRENT-OFFSET"), "{text}");

    // /metrics renders the monitor's snapshot.
    let (_tx, events) = mpsc::unbounded_channel();
    let rx = monitor(&bench, &[], events);
    let port = free_port();
    tokio::spawn(eventdeck::monitor::serve_metrics(port, rx.clone()));
    let high = expected[0].2;
    let line = format!(
        r#"eventdeck_topic_partition_high_watermark{{topic="{topic}",partition="0"}} {high}"#
    );
    let lag_line = format!(
        r#"eventdeck_consumergroup_lag{{group="{group}",topic="{topic}",partition="0"}} {}"#,
        high - 5
    );
    eventually("/metrics shows the watermark and the lag", WAIT, || {
        let (line, lag_line) = (line.clone(), lag_line.clone());
        async move {
            let body = http_get(port, "/metrics").await?;
            (body.contains(&line) && body.contains(&lag_line))
                .then_some(())
                .ok_or(body)
        }
    })
    .await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn http_get(port: u16, path: &str) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut body = String::new();
    s.read_to_string(&mut body)
        .await
        .map_err(|e| e.to_string())?;
    Ok(body)
}

async fn the_record_at_a_committed_offset_gives_its_event_time(backend: Backend) {
    use eventdeck::monitor::records::RecordReader;
    let bench = Bench::on(backend).await;
    let topic = bench.services.config.topics.user_activity.clone();
    let before = eventdeck::event::now_ms();
    let (stop, produced) = producer(&bench, &topic, 500);
    wait_for_records(&bench, &topic, 10).await;
    let _ = stop.send(true);
    produced.await.expect("producer");
    let after = eventdeck::event::now_ms();
    let cluster = bench.cluster().clone();
    let wanted: BTreeSet<(String, i32, i64)> = [
        (topic.clone(), 0, 3),
        (topic.clone(), 1, 0),
        (topic.clone(), 2, 7),
    ]
    .into();
    let (found, error, took) = tokio::task::spawn_blocking(move || {
        let mut reader = RecordReader::new(&cluster).expect("reader");
        let start = std::time::Instant::now();
        let found = reader.timestamps(&wanted, Duration::from_secs(10));
        (found, reader.last_error.clone(), start.elapsed())
    })
    .await
    .expect("reader task");
    eprintln!(
        "read {} timestamps in {took:?}; last error {error:?}",
        found.len()
    );
    assert_eq!(found.len(), 3, "{found:?} {error:?}");
    assert!(
        found.values().all(|ts| *ts >= before && *ts <= after),
        "{found:?}"
    );
}

/// Issue 8: `eventdeck status` takes two samples, fewer than a status window, and used to
/// call a stuck group OK ("collecting samples"). Here, as `status --json` reports it: a group
/// that stopped with records waiting longer than `stall_after` is STOP from two samples and
/// never OK; a group without commits on some partitions shows their lag as null and the
/// records waiting behind them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_from_two_samples_is_never_ok_without_evidence() {
    let bench = Bench::start().await;
    let topic = bench.services.config.topics.user_activity.clone();
    let (stop, produced) = producer(&bench, &topic, 500);
    wait_for_records(&bench, &topic, 10).await;
    let _ = stop.send(true);
    produced.await.expect("producer");
    // test-stuck read the first record of each partition and stopped; test-new committed
    // on partition 0 only.
    commit(
        bench.cluster(),
        "test-stuck",
        &topic,
        &[(0, 1), (1, 1), (2, 1)],
    )
    .await;
    let view = kafka_view(bench.cluster(), "nobody", &topic).await;
    commit(bench.cluster(), "test-new", &topic, &[(0, view[0].2)]).await;

    let mut options = MonitorOptions::from_config(&bench.services.config);
    options.interval = Duration::from_millis(200);
    options.window = 10;
    options.stall_after = Duration::from_secs(1);
    options.record_budget = options.call_timeout;
    options.groups = vec!["test-stuck".into(), "test-new".into()];
    let report = |options: MonitorOptions| {
        let cluster = bench.cluster().clone();
        async move {
            let snapshot = eventdeck::monitor::sample_now(&cluster, options, 2)
                .await
                .expect("sample");
            let json = serde_json::to_value(StatusReport::from_snapshot(&snapshot)).expect("json");
            let report: StatusReport = serde_json::from_value(json.clone()).expect("parse");
            (report, json)
        }
    };
    let stopped = eventually("test-stuck STOP from two samples", WAIT, || {
        let options = options.clone();
        let report = &report;
        let topic = &topic;
        async move {
            let (r, _) = report(options).await;
            let g = r
                .groups
                .iter()
                .find(|g| g.group == "test-stuck")
                .ok_or("test-stuck not reported")?
                .clone();
            let t = g
                .topics
                .iter()
                .find(|t| &t.topic == topic)
                .ok_or("no topic row")?;
            let lag = t.lag.unwrap_or(0);
            if lag > 0 && g.status == "OK" {
                panic!("test-stuck is OK with {lag} records waiting: {}", t.reason);
            }
            (g.status == "STOP")
                .then_some(g.clone())
                .ok_or(format!("{} ({}): {}", g.status, lag, t.reason))
        }
    })
    .await;
    let t = &stopped.topics[0];
    assert!(t.lag.is_some_and(|l| l > 0), "{t:?}");
    assert!(t.reason.contains("2 samples"), "{}", t.reason);
    assert!(t.lag_seconds.is_some_and(|s| s >= 1.0), "{t:?}");

    let (r, json) = report(options.clone()).await;
    let g = r
        .groups
        .iter()
        .find(|g| g.group == "test-new")
        .expect("test-new reported");
    let t = g
        .topics
        .iter()
        .find(|t| t.topic == topic)
        .expect("topic row");
    let expected_backlog: i64 = view[1..].iter().map(|(_, low, high, _)| high - low).sum();
    assert_eq!(t.partitions_without_commit, 2, "{t:?}");
    assert_eq!(t.backlog_without_commit, expected_backlog, "{t:?}");
    assert_eq!(
        t.lag,
        Some(0),
        "partition 0 is caught up, the others are not known"
    );
    assert_ne!(g.status, "OK", "{}: {}", g.status, g.reason);
    assert_eq!(t.status, "UNKNOWN", "{}", t.reason);
    // In the JSON itself: null, never 0.
    let jg = json["groups"]
        .as_array()
        .and_then(|gs| gs.iter().find(|x| x["group"] == "test-new"))
        .expect("test-new in JSON");
    let jt = jg["topics"]
        .as_array()
        .and_then(|ts| ts.iter().find(|x| x["topic"] == topic.as_str()))
        .expect("topic in JSON");
    for p in jt["partitions"].as_array().expect("partitions") {
        if p["partition"] == 0 {
            assert_eq!(p["lag"], 0, "{p}");
        } else {
            assert!(p["lag"].is_null() && p["committed"].is_null(), "{p}");
        }
    }
}
