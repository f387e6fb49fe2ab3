//! Benchmark of the monitor's evaluation: one pass = fold a sample of 1,000 partitions read
//! for 20 groups into the windows, then evaluate rates, lag, Burrow status and assemble the
//! snapshot. Synthetic samples, no broker: it measures our code, not the network.
//!
//! `cargo run --release --bin bench_monitor` prints the time per pass and per partition, the
//! ratio to a same-run baseline (a pass that only sums the lags of the same data), and the
//! memory of five minutes of history at that size. No assertions: figures to read.

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::time::{Duration, Instant};

use eventdeck::config::Config;
use eventdeck::monitor::sample::{ClusterSample, GroupSample, PartitionSample, TopicSample};
use eventdeck::monitor::snapshot::LagStatus;
use eventdeck::monitor::{Engine, MonitorOptions};

const TOPICS: usize = 100;
const PARTITIONS_PER_TOPIC: usize = 10;
const GROUPS: usize = 20;
/// Each group consumes 5 topics (50 partitions): 1,000 group-partitions in all.
const TOPICS_PER_GROUP: usize = TOPICS / GROUPS;
/// Five minutes at one sample a second: the history rings are full after this.
const WARM_UP: usize = 300;
const PASSES: usize = 200;

fn topic_name(t: usize) -> String {
    format!("platform.bench.topic{t:03}")
}

/// The sample at second `s`. Groups differ: some keep up, some fall behind (WARN), some are
/// stuck (STOP); every group gets an offset entry for every partition, as the reader returns.
fn sample(s: usize) -> ClusterSample {
    let s = s as i64;
    let high = |t: usize, p: usize| s * (10 + ((t * 7 + p) % 40) as i64);
    let topics = (0..TOPICS)
        .map(|t| TopicSample {
            topic: topic_name(t),
            partitions: (0..PARTITIONS_PER_TOPIC)
                .map(|p| PartitionSample {
                    partition: p as i32,
                    leader: Some((p % 3) as i32),
                    low: 0,
                    high: high(t, p),
                })
                .collect(),
            error: None,
        })
        .collect();
    let groups = (0..GROUPS)
        .map(|g| {
            let mut offsets = BTreeMap::new();
            for t in 0..TOPICS {
                let consumed = t / TOPICS_PER_GROUP == g;
                for p in 0..PARTITIONS_PER_TOPIC {
                    let committed = consumed.then(|| match g % 3 {
                        0 => high(t, p),            // keeps up
                        1 => high(t, p) * 9 / 10,   // falls behind
                        _ => high(t, p).min(1_000), // stuck at 1,000
                    });
                    offsets.insert((topic_name(t), p as i32), committed);
                }
            }
            GroupSample {
                group: format!("group-{g:02}"),
                offsets: Ok(offsets),
            }
        })
        .collect();
    ClusterSample {
        taken_ms: 1_700_000_000_000 + s * 1000,
        topics,
        groups,
        ..ClusterSample::default()
    }
}

/// The trivial pass the evaluation is compared with: sum every group's lag from the same
/// sample (index the watermarks, one subtraction per offset entry).
fn baseline(sample: &ClusterSample) -> i64 {
    let highs: HashMap<(&str, i32), i64> = sample
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| ((t.topic.as_str(), p.partition), p.high))
        })
        .collect();
    let mut lag = 0;
    for g in &sample.groups {
        if let Ok(offsets) = &g.offsets {
            for ((t, p), c) in offsets {
                if let (Some(c), Some(h)) = (c, highs.get(&(t.as_str(), *p))) {
                    lag += (h - c).max(0);
                }
            }
        }
    }
    lag
}

fn per(d: Duration, n: usize) -> String {
    let ns = d.as_nanos() as f64 / n as f64;
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} µs", ns / 1e3)
    }
}

fn main() {
    let mut options = MonitorOptions::from_config(&Config::default());
    options.interval = Duration::from_secs(1);
    options.groups = (0..GROUPS).map(|g| format!("group-{g:02}")).collect();
    let mut engine = Engine::new(options, "bench", "none");
    let partitions = TOPICS * PARTITIONS_PER_TOPIC;
    println!(
        "bench_monitor: {partitions} partitions in {TOPICS} topics, {GROUPS} groups × {} partitions",
        TOPICS_PER_GROUP * PARTITIONS_PER_TOPIC
    );

    for s in 0..WARM_UP {
        engine.ingest(sample(s));
    }
    let samples: Vec<ClusterSample> = (WARM_UP..WARM_UP + PASSES).map(sample).collect();

    // Baseline, over the same samples.
    let start = Instant::now();
    for s in &samples {
        black_box(baseline(black_box(s)));
    }
    let base = start.elapsed();

    // The monitor's pass: fold the sample, evaluate, assemble the snapshot.
    let mut ingest = Duration::ZERO;
    let mut evaluate = Duration::ZERO;
    let mut last = None;
    for s in samples {
        let t0 = Instant::now();
        engine.ingest(s);
        let t1 = Instant::now();
        last = Some(black_box(engine.snapshot()));
        evaluate += t1.elapsed();
        ingest += t1 - t0;
    }
    let pass = ingest + evaluate;
    let group_partitions = GROUPS * TOPICS_PER_GROUP * PARTITIONS_PER_TOPIC;

    println!("passes: {PASSES} after {WARM_UP} warm-up samples (history full)");
    println!(
        "pass (ingest + evaluate + snapshot): {} per pass, {} per partition",
        per(pass, PASSES),
        per(pass, PASSES * group_partitions)
    );
    println!(
        "  ingest (windows, rates, history):  {}",
        per(ingest, PASSES)
    );
    println!(
        "  evaluate (lag, status, snapshot):  {}",
        per(evaluate, PASSES)
    );
    println!(
        "baseline (sum of lags, same data):    {} per pass, {} per partition",
        per(base, PASSES),
        per(base, PASSES * group_partitions)
    );
    println!(
        "ratio pass / baseline: {:.1}×",
        pass.as_secs_f64() / base.as_secs_f64().max(1e-12)
    );
    println!(
        "share of the 1 s sample interval: {:.3} %",
        100.0 * pass.as_secs_f64() / PASSES as f64
    );
    let bytes = engine.memory_bytes();
    println!(
        "memory of 5 min of history + windows: {bytes} bytes ({:.2} MiB)",
        bytes as f64 / (1024.0 * 1024.0)
    );
    if let Some(snapshot) = last {
        let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
        for g in &snapshot.groups {
            *by_status.entry(g.status.label()).or_default() += 1;
        }
        let warn = by_status.get(LagStatus::Warn.label()).copied().unwrap_or(0);
        println!("group statuses in the last snapshot: {by_status:?} ({warn} WARN)");
        let json = serde_json::to_vec(&snapshot).map(|v| v.len()).unwrap_or(0);
        println!("snapshot as JSON: {json} bytes");
    }
}
