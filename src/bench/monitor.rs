//! Benchmark of the monitor's evaluation: one pass = fold a sample of the cluster (watermarks
//! of every partition, committed offsets of every group) into the windows, then evaluate
//! rates, lag, Burrow status and assemble the snapshot. Synthetic samples, no broker: it
//! measures our code, not the network.
//!
//! Two sizes, in group-partitions (a group's position on one partition it consumes):
//! - 1,000: 100 topics × 10 partitions, 20 groups × 5 topics (the first figure of issue 14);
//! - 100,000: 200 topics (the monitor's `max_topics`) × 25 partitions, 200 groups × 20
//!   topics, each topic read by 20 groups.
//!
//! `eventdeck bench monitor` gives, per size, the time per pass and per group-partition, the
//! ratio to a same-run baseline (a pass that only sums the lags of the same data), and the
//! memory of five minutes of history at that size; the details go to stderr.

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::time::{Duration, Instant};

use super::{thousands, Row};
use crate::config::Config;
use crate::monitor::sample::{ClusterSample, GroupSample, PartitionSample, TopicSample};
use crate::monitor::snapshot::LagStatus;
use crate::monitor::{Engine, MonitorOptions};

/// Five minutes at one sample a second: the history rings are full after this.
const WARM_UP: usize = 300;

/// The cluster's shape: group g consumes the `topics_per_group` topics from `g ×
/// topics_per_group` on (modulo `topics`).
#[derive(Debug, Clone, Copy)]
struct Shape {
    topics: usize,
    partitions_per_topic: usize,
    groups: usize,
    topics_per_group: usize,
    /// Timed passes (samples are made between passes, outside the timing).
    passes: usize,
}

const SMALL: Shape = Shape {
    topics: 100,
    partitions_per_topic: 10,
    groups: 20,
    topics_per_group: 5,
    passes: 200,
};

const LARGE: Shape = Shape {
    topics: 200,
    partitions_per_topic: 25,
    groups: 200,
    topics_per_group: 20,
    passes: 20,
};

impl Shape {
    fn group_partitions(&self) -> usize {
        self.groups * self.topics_per_group * self.partitions_per_topic
    }

    fn consumes(&self, g: usize, t: usize) -> bool {
        let first = g * self.topics_per_group;
        (t + self.topics - first % self.topics) % self.topics < self.topics_per_group
    }
}

fn topic_name(t: usize) -> String {
    format!("platform.bench.topic{t:03}")
}

fn group_name(g: usize) -> String {
    format!("group-{g:03}")
}

/// The sample at second `s`. Groups differ: some keep up, some fall behind (WARN), some are
/// stuck (STOP); as the reader does, a group's offsets list the partitions it committed on
/// (the others of the listed topics have no commit).
fn sample(shape: &Shape, s: usize) -> ClusterSample {
    let s = s as i64;
    let high = |t: usize, p: usize| s * (10 + ((t * 7 + p) % 40) as i64);
    let names: Vec<String> = (0..shape.topics).map(topic_name).collect();
    let topics = (0..shape.topics)
        .map(|t| TopicSample {
            topic: names[t].clone(),
            partitions: (0..shape.partitions_per_topic)
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
    let groups = (0..shape.groups)
        .map(|g| {
            let offsets = names
                .iter()
                .enumerate()
                .filter(|(t, _)| shape.consumes(g, *t))
                .flat_map(|(t, name)| {
                    (0..shape.partitions_per_topic).map(move |p| {
                        let committed = match g % 3 {
                            0 => high(t, p),            // keeps up
                            1 => high(t, p) * 9 / 10,   // falls behind
                            _ => high(t, p).min(1_000), // stuck at 1,000
                        };
                        ((name.clone(), p as i32), Some(committed))
                    })
                })
                .collect();
            GroupSample {
                group: group_name(g),
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

/// Both sizes, as rows of the table.
pub fn run() -> Vec<Row> {
    [SMALL, LARGE]
        .iter()
        .map(|shape| {
            let m = measure(shape);
            let gp = shape.group_partitions();
            let mut row = Row::new(
                format!("monitor pass, {} group-partitions", thousands(gp as f64)),
                format!(
                    "{} per pass ({} per group-partition)",
                    per(m.pass, m.passes),
                    per(m.pass, m.passes * gp)
                ),
            )
            .against(
                format!("sum of lags {} per pass", per(m.base, m.passes)),
                m.pass.as_secs_f64() / m.base.as_secs_f64().max(1e-12),
            )
            .params(format!(
                "{} topics × {} partitions, {} groups; 5 min of history: {:.2} MiB",
                shape.topics,
                shape.partitions_per_topic,
                shape.groups,
                m.memory_bytes as f64 / (1024.0 * 1024.0)
            ));
            if gp >= 100_000 {
                let ms = m.pass.as_secs_f64() * 1e3 / m.passes as f64;
                row = row.target("< 100 ms", ms < 100.0);
            }
            row
        })
        .collect()
}

/// What one size measured.
struct Measured {
    pass: Duration,
    base: Duration,
    passes: usize,
    memory_bytes: usize,
}

/// Warms the engine up to full history, then times `shape.passes` passes and as many
/// baseline passes over the same samples.
fn measure(shape: &Shape) -> Measured {
    let mut options = MonitorOptions::from_config(&Config::default());
    options.interval = Duration::from_secs(1);
    options.groups = (0..shape.groups).map(group_name).collect();
    let mut engine = Engine::new(options, "bench", "none");
    let group_partitions = shape.group_partitions();
    eprintln!(
        "bench monitor: {group_partitions} group-partitions: {} partitions in {} topics, {} groups × {} partitions",
        shape.topics * shape.partitions_per_topic,
        shape.topics,
        shape.groups,
        shape.topics_per_group * shape.partitions_per_topic
    );

    for s in 0..WARM_UP {
        engine.ingest(sample(shape, s));
    }

    // The monitor's pass (fold the sample, evaluate, assemble the snapshot) and the
    // baseline over the same sample; each sample is made outside the timing.
    let (mut ingest, mut evaluate, mut base) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut last = None;
    for s in WARM_UP..WARM_UP + shape.passes {
        let sample = sample(shape, s);
        let t0 = Instant::now();
        black_box(baseline(black_box(&sample)));
        base += t0.elapsed();
        let t0 = Instant::now();
        engine.ingest(sample);
        let t1 = Instant::now();
        last = Some(black_box(engine.snapshot()));
        evaluate += t1.elapsed();
        ingest += t1 - t0;
    }
    let pass = ingest + evaluate;
    let passes = shape.passes;

    eprintln!("passes: {passes} after {WARM_UP} warm-up samples (history full)");
    eprintln!(
        "pass (ingest + evaluate + snapshot): {} per pass, {} per group-partition",
        per(pass, passes),
        per(pass, passes * group_partitions)
    );
    eprintln!(
        "  ingest (windows, rates, history):  {}",
        per(ingest, passes)
    );
    eprintln!(
        "  evaluate (lag, status, snapshot):  {}",
        per(evaluate, passes)
    );
    eprintln!(
        "baseline (sum of lags, same data):    {} per pass, {} per group-partition",
        per(base, passes),
        per(base, passes * group_partitions)
    );
    eprintln!(
        "ratio pass / baseline: {:.1}×",
        pass.as_secs_f64() / base.as_secs_f64().max(1e-12)
    );
    eprintln!(
        "share of the 1 s sample interval: {:.3} %",
        100.0 * pass.as_secs_f64() / passes as f64
    );
    let bytes = engine.memory_bytes();
    eprintln!(
        "memory of 5 min of history + windows: {bytes} bytes ({:.2} MiB)",
        bytes as f64 / (1024.0 * 1024.0)
    );
    if let Some(snapshot) = last {
        let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
        for g in &snapshot.groups {
            *by_status.entry(g.status.label()).or_default() += 1;
        }
        let warn = by_status.get(LagStatus::Warn.label()).copied().unwrap_or(0);
        eprintln!("group statuses in the last snapshot: {by_status:?} ({warn} WARN)");
        let json = serde_json::to_vec(&snapshot).map(|v| v.len()).unwrap_or(0);
        eprintln!("snapshot as JSON: {json} bytes");
    }
    Measured {
        pass,
        base,
        passes,
        memory_bytes: bytes,
    }
}
