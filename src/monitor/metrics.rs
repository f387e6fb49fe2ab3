//! Prometheus text exposition of a [`Snapshot`] on `/metrics` (127.0.0.1, off by default).
//! The rendering is a pure function of the snapshot; the server only reads the latest one
//! from the watch channel, so a scrape never touches Kafka.

use std::fmt::Write as _;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::sync::watch;

use super::snapshot::{LagStatus, Snapshot};

/// Numeric value of a status in `eventdeck_consumergroup_status`: worse is higher, so that
/// `max by (group)` is the worst. UNKNOWN, added later, sits between OK and WARN at 0.5
/// (values are floats), so that every earlier value and alert (`> 0`, `>= 3`) keeps its
/// meaning.
pub fn status_value(s: LagStatus) -> f64 {
    match s {
        LagStatus::Ok => 0.0,
        LagStatus::Unknown => 0.5,
        LagStatus::Warn => 1.0,
        LagStatus::Rewind => 2.0,
        LagStatus::Stall => 3.0,
        LagStatus::Stop => 4.0,
        LagStatus::Err => 5.0,
    }
}

const STATUS_VALUES: &str =
    "0 OK, 0.5 UNKNOWN (lag with no evidence yet either way), 1 WARN, 2 REWIND, 3 STALL, 4 STOP, 5 ERR";

/// Prometheus text format 0.0.4.
pub fn render(s: &Snapshot) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    };
    let mut lag = Vec::new();
    let mut lag_seconds = Vec::new();
    let mut out_rate = Vec::new();
    let mut status = Vec::new();
    let mut group_status = Vec::new();
    let mut rebalances = Vec::new();
    let mut without_commit = Vec::new();
    let mut backlog = Vec::new();
    for g in &s.groups {
        let gl = labels(&[("group", &g.group)]);
        rebalances.push((gl.clone(), g.rebalances.to_string()));
        group_status.push((gl, number(status_value(g.status))));
        for t in &g.topics {
            let gt = labels(&[("group", &g.group), ("topic", &t.topic)]);
            for p in &t.partitions {
                // No committed offset: the lag is unknown, left out rather than 0.
                let Some(figure) = p.lag_figure() else {
                    continue;
                };
                let l = labels(&[
                    ("group", &g.group),
                    ("topic", &t.topic),
                    ("partition", &p.partition.to_string()),
                ]);
                lag.push((l, figure.to_string()));
            }
            without_commit.push((gt.clone(), t.partitions_without_commit.to_string()));
            backlog.push((gt.clone(), t.backlog_without_commit.to_string()));
            if let Some(secs) = t.lag_seconds {
                lag_seconds.push((gt.clone(), number(secs)));
            }
            out_rate.push((gt.clone(), number(t.out_per_sec)));
            status.push((gt, number(status_value(t.status))));
        }
    }
    let mut in_rate = Vec::new();
    let mut high = Vec::new();
    for t in &s.topics {
        in_rate.push((labels(&[("topic", &t.topic)]), number(t.in_per_sec)));
        for p in &t.partitions {
            let l = labels(&[("topic", &t.topic), ("partition", &p.partition.to_string())]);
            high.push((l, p.high.to_string()));
        }
    }
    family(
        "eventdeck_consumergroup_lag",
        "gauge",
        "Messages a consumer group is behind on a partition (high watermark - committed offset); absent without a committed offset.",
        lag,
    );
    family(
        "eventdeck_consumergroup_partitions_without_commit",
        "gauge",
        "Partitions of a topic a consumer group has no committed offset for (their lag is unknown).",
        without_commit,
    );
    family(
        "eventdeck_consumergroup_backlog_without_commit",
        "gauge",
        "Records (high - low watermark) on the partitions a consumer group has no committed offset for.",
        backlog,
    );
    family(
        "eventdeck_consumergroup_lag_seconds",
        "gauge",
        "Age of the oldest record a consumer group has not consumed on a topic, or lag / consume rate when no record could be read.",
        lag_seconds,
    );
    family(
        "eventdeck_topic_messages_in_per_second",
        "gauge",
        "Messages written to a topic per second (rate of the high watermarks).",
        in_rate,
    );
    family(
        "eventdeck_consumergroup_messages_out_per_second",
        "gauge",
        "Messages a consumer group consumes from a topic per second (rate of the committed offsets).",
        out_rate,
    );
    family(
        "eventdeck_consumergroup_rebalances_total",
        "counter",
        "Rebalances of a consumer group seen since the monitor started.",
        rebalances,
    );
    family(
        "eventdeck_consumergroup_status",
        "gauge",
        &format!("Burrow status of a consumer group on a topic: {STATUS_VALUES}."),
        status,
    );
    family(
        "eventdeck_consumergroup_worst_status",
        "gauge",
        &format!(
            "Status of a consumer group: the worst of its topics and of its problems (a worker of ours assigned no partitions): {STATUS_VALUES}."
        ),
        group_status,
    );
    family(
        "eventdeck_topic_partition_high_watermark",
        "gauge",
        "High watermark (offset of the next record) of a topic partition.",
        high,
    );
    if let Some(o) = &s.outbox {
        let store = labels(&[("store", &o.store)]);
        if let Some(rows) = o.rows {
            family(
                "eventdeck_outbox_backlog_rows",
                "gauge",
                "Outbox entries of the write model not yet acknowledged by the broker.",
                vec![(store.clone(), rows.to_string())],
            );
            family(
                "eventdeck_outbox_oldest_age_seconds",
                "gauge",
                "Age of the oldest unpublished outbox entry (0 when none waits).",
                vec![(store, number(o.oldest_age_ms.unwrap_or(0) as f64 / 1000.0))],
            );
        }
    }
    if let Some(c) = &s.cqrs {
        let sides = [
            ("write", &c.write),
            ("read", &c.read),
            ("commit_to_searchable", &c.commit_to_searchable),
        ];
        family(
            "eventdeck_cqrs_operations_total",
            "counter",
            "Commands committed (write), searches answered (read), changes seen searchable by the indexer (commit_to_searchable).",
            sides
                .iter()
                .map(|(side, f)| (labels(&[("side", side)]), f.total.to_string()))
                .collect(),
        );
        let mut quantiles = Vec::new();
        for (side, f) in sides {
            if let Some(p) = f.latency {
                for (q, ms) in [("0.5", p.p50_ms), ("0.95", p.p95_ms), ("0.99", p.p99_ms)] {
                    quantiles.push((
                        labels(&[("side", side), ("quantile", q)]),
                        number(ms / 1000.0),
                    ));
                }
            }
        }
        family(
            "eventdeck_cqrs_latency_seconds",
            "gauge",
            "Latency over the last minute: a command's commit (write), a search (read), a change's commit to searchable.",
            quantiles,
        );
    }
    out
}

fn labels(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Label values escape backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else if v.is_nan() {
        "NaN".into()
    } else if v > 0.0 {
        "+Inf".into()
    } else {
        "-Inf".into()
    }
}

/// Serves `/metrics` on 127.0.0.1:`port` until the task is dropped or the listener fails.
pub async fn serve_metrics(port: u16, snapshots: watch::Receiver<Snapshot>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for /metrics on 127.0.0.1:{port}: {e}"))?;
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let body = render(&snapshots.borrow());
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    body,
                )
                    .into_response()
            }
        }),
    );
    axum::serve(listener, app).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::snapshot::{
        GroupStats, GroupTopicLag, PartitionLag, PartitionStats, TopicStats,
    };

    fn snapshot() -> Snapshot {
        let mut s = Snapshot::empty("kafka k:9092", "local");
        s.topics.push(TopicStats {
            topic: "platform.messages.created".into(),
            partitions: vec![PartitionStats {
                partition: 0,
                leader: Some(1),
                low: 0,
                high: 1200,
                in_per_sec: 12.5,
            }],
            messages: 1200,
            in_per_sec: 12.5,
            ..TopicStats::default()
        });
        s.groups.push(GroupStats {
            group: "search-\"indexer\"".into(),
            rebalances: 3,
            topics: vec![GroupTopicLag {
                topic: "platform.messages.created".into(),
                lag_sum: 200,
                lag_max: 200,
                lag_seconds: Some(4.25),
                out_per_sec: 10.0,
                status: LagStatus::Stall,
                partitions: vec![PartitionLag {
                    partition: 0,
                    high: 1200,
                    committed: Some(1000),
                    lag: 200,
                    ..PartitionLag::default()
                }],
                ..GroupTopicLag::default()
            }],
            ..GroupStats::default()
        });
        s
    }

    #[test]
    fn renders_every_family_with_help_type_and_labels() {
        let text = render(&snapshot());
        let g = r#"group="search-\"indexer\"""#;
        for line in [
            "# TYPE eventdeck_consumergroup_lag gauge".to_string(),
            format!(r#"eventdeck_consumergroup_lag{{{g},topic="platform.messages.created",partition="0"}} 200"#),
            format!(r#"eventdeck_consumergroup_lag_seconds{{{g},topic="platform.messages.created"}} 4.25"#),
            r#"eventdeck_topic_messages_in_per_second{topic="platform.messages.created"} 12.5"#.into(),
            format!(r#"eventdeck_consumergroup_messages_out_per_second{{{g},topic="platform.messages.created"}} 10"#),
            "# TYPE eventdeck_consumergroup_rebalances_total counter".into(),
            format!("eventdeck_consumergroup_rebalances_total{{{g}}} 3"),
            format!(r#"eventdeck_consumergroup_status{{{g},topic="platform.messages.created"}} 3"#),
            r#"eventdeck_topic_partition_high_watermark{topic="platform.messages.created",partition="0"} 1200"#.into(),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
        assert_eq!(text.matches("# HELP ").count(), 10);
    }

    #[test]
    fn no_commit_leaves_the_lag_out_and_counts_the_backlog() {
        let mut s = snapshot();
        let t = &mut s.groups[0].topics[0];
        t.partitions[0].committed = None;
        t.partitions_without_commit = 1;
        t.backlog_without_commit = 1_200;
        t.status = LagStatus::Unknown;
        s.groups[0].status = LagStatus::Unknown;
        let text = render(&s);
        assert!(
            !text.contains("eventdeck_consumergroup_lag{"),
            "a lag that is not known is not 0:\n{text}"
        );
        let g = r#"group="search-\"indexer\"""#;
        for line in [
            format!(
                r#"eventdeck_consumergroup_partitions_without_commit{{{g},topic="platform.messages.created"}} 1"#
            ),
            format!(
                r#"eventdeck_consumergroup_backlog_without_commit{{{g},topic="platform.messages.created"}} 1200"#
            ),
            format!(
                r#"eventdeck_consumergroup_status{{{g},topic="platform.messages.created"}} 0.5"#
            ),
            format!("eventdeck_consumergroup_worst_status{{{g}}} 0.5"),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
    }

    #[test]
    fn the_group_status_carries_its_problems() {
        let mut s = snapshot();
        s.groups[0].topics[0].status = LagStatus::Ok;
        s.groups[0].status = LagStatus::Warn;
        let text = render(&s);
        let g = r#"group="search-\"indexer\"""#;
        assert!(text
            .lines()
            .any(|l| l == format!("eventdeck_consumergroup_worst_status{{{g}}} 1")));
    }

    #[test]
    fn unknown_lag_seconds_is_left_out_rather_than_zero() {
        let mut s = snapshot();
        s.groups[0].topics[0].lag_seconds = None;
        assert!(!render(&s).contains("eventdeck_consumergroup_lag_seconds{"));
    }

    #[test]
    fn an_empty_snapshot_still_describes_the_families() {
        let text = render(&Snapshot::empty("", ""));
        assert_eq!(text.matches("# TYPE ").count(), 10);
        assert!(text.lines().all(|l| l.starts_with('#')));
    }

    #[test]
    fn status_values_follow_the_documented_order() {
        let all = [
            LagStatus::Ok,
            LagStatus::Unknown,
            LagStatus::Warn,
            LagStatus::Rewind,
            LagStatus::Stall,
            LagStatus::Stop,
            LagStatus::Err,
        ];
        let values: Vec<f64> = all.iter().map(|s| status_value(*s)).collect();
        assert_eq!(values, [0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0]);
        // Worse is higher, in the same order as the statuses themselves.
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        let text = render(&snapshot());
        assert!(text.contains("0 OK, 0.5 UNKNOWN"), "{text}");
    }
}
