//! The human `eventdeck status`: topics, then per group a table like
//! `kafka-consumer-groups --describe` with the owner, status and time lag added.

use chrono::TimeZone;

use super::snapshot::{GroupStats, Health, Snapshot};

pub fn render(s: &Snapshot) -> String {
    let mut out = String::new();
    let health = match &s.cluster_health {
        Health::Up => "up".to_string(),
        Health::Down(e) => format!("DOWN ({e})"),
        Health::Slow(why) => format!("SLOW ({why})"),
        Health::Unknown => "unknown".to_string(),
    };
    out.push_str(&format!(
        "{} · {health} · sampled {}\n\n",
        s.cluster,
        clock(s.taken_ms)
    ));
    let mut rows = vec![row(&["TOPIC", "PARTITIONS", "MESSAGES", "IN/S"])];
    // Internal topics are the broker's business; `--json` has them, marked.
    for t in s.topics.iter().filter(|t| !t.internal) {
        let name = if t.freshness.stale {
            format!("{} (stale)", t.topic)
        } else {
            t.topic.clone()
        };
        rows.push(vec![
            name,
            t.partitions.len().to_string(),
            thousands(t.messages),
            format!("{:.1}", t.in_per_sec),
        ]);
    }
    out.push_str(&table(&rows, &[false, true, true, true]));
    if !s.workers.is_empty() {
        out.push('\n');
        out.push_str(&workers(s));
    }
    for g in &s.groups {
        out.push('\n');
        out.push_str(&group(g));
    }
    out
}

/// The workers of the eventdeck on this data directory, with why one is not running.
fn workers(s: &Snapshot) -> String {
    let mut rows = vec![row(&["WORKER", "STATE", "PROCESSED", "ERRORS", "WHY"])];
    for w in &s.workers {
        let state = match &w.state {
            crate::ops::WorkerState::BackingOff { attempt, .. } => {
                format!("BACKING OFF ({attempt})")
            }
            other => other.word().to_uppercase(),
        };
        rows.push(vec![
            w.name.clone(),
            state,
            thousands(w.processed as i64),
            w.errors.to_string(),
            why(w),
        ]);
    }
    table(&rows, &[false, false, true, true, false])
}

/// The error it is retrying or failed with; for one running again, its last error, marked
/// as past (the embedded broker's restart, a search outage it came through).
fn why(w: &crate::monitor::snapshot::WorkerStatus) -> String {
    match (w.state.error(), &w.last_error) {
        (Some(now), _) => now.to_string(),
        (None, Some(past)) => format!("last: {past}"),
        (None, None) => String::new(),
    }
}

fn group(g: &GroupStats) -> String {
    let last = g
        .last_rebalance_ms
        .map(|t| format!(" (last {})", clock(t)))
        .unwrap_or_default();
    let mut out = format!(
        "GROUP {} · {} · members {} · rebalances {}{last} · state {}\n",
        g.group,
        g.status.label(),
        g.members.len(),
        g.rebalances,
        g.state.as_deref().unwrap_or("-"),
    );
    if let Some(e) = &g.freshness.error {
        out.push_str(&format!("  stale: {e}\n"));
    }
    for p in &g.problems {
        out.push_str(&format!("  {}: {}\n", p.status.label(), p.reason));
    }
    if g.topics.is_empty() {
        out.push_str(&format!("  {}: {}\n", g.status.label(), g.reason));
        return out;
    }
    let mut rows = vec![row(&[
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "OWNER",
        "STATUS",
    ])];
    for t in &g.topics {
        for p in &t.partitions {
            rows.push(vec![
                t.topic.clone(),
                p.partition.to_string(),
                p.committed.map_or("-".into(), thousands),
                thousands(p.high),
                p.lag_figure().map_or("-".into(), thousands),
                p.owner.clone().unwrap_or_else(|| "-".into()),
                p.status.label().to_string(),
            ]);
        }
    }
    out.push_str(&table(
        &rows,
        &[false, true, true, true, true, false, false],
    ));
    for t in &g.topics {
        let behind = match (t.lag_seconds, t.lag_seconds_estimated) {
            (Some(s), false) => format!("{s:.1} s behind"),
            (Some(s), true) => format!("~{s:.1} s behind (estimated)"),
            (None, _) => "time lag unknown".into(),
        };
        let lag = match t.lag_figures() {
            Some((sum, max)) => format!("lag {} (max {})", thousands(sum), thousands(max)),
            None => "lag -".to_string(),
        };
        let no_commit = match t.partitions_without_commit {
            0 => String::new(),
            n => format!(
                " · {n} {} without a commit (backlog {})",
                if n == 1 { "partition" } else { "partitions" },
                thousands(t.backlog_without_commit)
            ),
        };
        out.push_str(&format!(
            "  {}: {lag}{no_commit} · {behind} · out {:.1}/s · {}: {}\n",
            t.topic,
            t.out_per_sec,
            t.status.label(),
            t.reason
        ));
    }
    out
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// Columns padded to their widest cell; `right[i]` right-aligns column i (numbers).
fn table(rows: &[Vec<String>], right: &[bool]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if right.get(i).copied().unwrap_or(false) {
                    format!("{c:>w$}", w = width[i])
                } else {
                    format!("{c:<w$}", w = width[i])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// 1234567 → "1,234,567".
pub fn thousands(n: i64) -> String {
    Thousands(n).to_string()
}

/// `n` with thousands separators, written straight into the formatter: the status rules
/// write numbers into a reason for every partition of every group at every pass.
#[derive(Debug, Clone, Copy)]
pub struct Thousands(pub i64);

impl std::fmt::Display for Thousands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut digits = [0u8; 20];
        let mut len = 0;
        let mut v = self.0.unsigned_abs();
        loop {
            digits[len] = b'0' + (v % 10) as u8;
            len += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        let mut out = [0u8; 27];
        let mut n = 0;
        if self.0 < 0 {
            out[n] = b'-';
            n += 1;
        }
        for i in (0..len).rev() {
            out[n] = digits[i];
            n += 1;
            if i > 0 && i % 3 == 0 {
                out[n] = b',';
                n += 1;
            }
        }
        // Only ASCII digits, commas and a minus were written.
        f.pad(std::str::from_utf8(&out[..n]).map_err(|_| std::fmt::Error)?)
    }
}

fn clock(ms: i64) -> String {
    match chrono::Utc.timestamp_millis_opt(ms).single() {
        Some(t) if ms > 0 => t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        _ => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::snapshot::{
        GroupProblem, GroupTopicLag, LagStatus, PartitionLag, PartitionStats, TopicStats,
    };

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(-1234567), "-1,234,567");
        assert_eq!(thousands(i64::MIN), "-9,223,372,036,854,775,808");
        assert_eq!(thousands(i64::MAX), "9,223,372,036,854,775,807");
        assert_eq!(thousands(-100_000), "-100,000");
        assert_eq!(
            format!("{:>8}", Thousands(12_345)),
            "  12,345",
            "padded like a string"
        );
    }

    #[test]
    fn renders_topics_and_a_group_like_kafka_consumer_groups() {
        let mut s = Snapshot::empty("embedded broker 127.0.0.1:9092", "none");
        s.cluster_health = Health::Up;
        s.taken_ms = 1_764_454_203_000;
        s.topics.push(TopicStats {
            topic: "platform.messages.created".into(),
            partitions: vec![PartitionStats::default(); 3],
            messages: 1200,
            in_per_sec: 12.5,
            ..TopicStats::default()
        });
        s.groups.push(GroupStats {
            group: "search-indexer".into(),
            status: LagStatus::Warn,
            rebalances: 1,
            topics: vec![GroupTopicLag {
                topic: "platform.messages.created".into(),
                lag_sum: 1200,
                lag_max: 1200,
                lag_seconds: Some(4.25),
                out_per_sec: 10.0,
                status: LagStatus::Warn,
                reason: "lag grew in 9 of 9 samples".into(),
                partitions: vec![
                    PartitionLag {
                        partition: 0,
                        high: 2200,
                        committed: Some(1000),
                        lag: 1200,
                        owner: Some("indexer".into()),
                        status: LagStatus::Warn,
                    },
                    PartitionLag {
                        partition: 1,
                        high: 300,
                        committed: None,
                        status: LagStatus::Unknown,
                        ..PartitionLag::default()
                    },
                ],
                partitions_without_commit: 1,
                backlog_without_commit: 300,
                ..GroupTopicLag::default()
            }],
            ..GroupStats::default()
        });
        let text = render(&s);
        let expected = "\
embedded broker 127.0.0.1:9092 · up · sampled 2025-11-29 22:10:03 UTC

TOPIC                      PARTITIONS  MESSAGES  IN/S
platform.messages.created           3     1,200  12.5

GROUP search-indexer · WARN · members 0 · rebalances 1 · state -
TOPIC                      PARTITION  CURRENT-OFFSET  LOG-END-OFFSET    LAG  OWNER    STATUS
platform.messages.created          0           1,000           2,200  1,200  indexer  WARN
platform.messages.created          1               -             300      -  -        UNKNOWN
  platform.messages.created: lag 1,200 (max 1,200) · 1 partition without a commit (backlog 300) · 4.2 s behind · out 10.0/s · WARN: lag grew in 9 of 9 samples
";
        assert_eq!(text, expected, "\n{text}");
    }

    #[test]
    fn a_new_group_shows_no_lag_its_backlog_and_its_problems() {
        let mut s = Snapshot::empty("embedded broker 127.0.0.1:9092", "none");
        s.cluster_health = Health::Up;
        s.groups.push(GroupStats {
            group: "search-indexer".into(),
            status: LagStatus::Warn,
            reason: "indexer has no partitions for 25 s (topics have 3)".into(),
            problems: vec![GroupProblem {
                kind: "no_partitions".into(),
                worker: "indexer".into(),
                status: LagStatus::Warn,
                reason: "indexer has no partitions for 25 s (topics have 3)".into(),
            }],
            topics: vec![GroupTopicLag {
                topic: "t".into(),
                status: LagStatus::Warn,
                reason: "indexer has no partitions for 25 s (topics have 3)".into(),
                partitions: (0..3)
                    .map(|p| PartitionLag {
                        partition: p,
                        high: 100,
                        status: LagStatus::Unknown,
                        ..PartitionLag::default()
                    })
                    .collect(),
                partitions_without_commit: 3,
                backlog_without_commit: 300,
                ..GroupTopicLag::default()
            }],
            ..GroupStats::default()
        });
        s.groups.push(GroupStats {
            group: "billing".into(),
            status: LagStatus::Unknown,
            reason: "no committed offsets on the watched topics".into(),
            ..GroupStats::default()
        });
        let text = render(&s);
        for line in [
            "GROUP search-indexer · WARN · members 0 · rebalances 0 · state -",
            "  WARN: indexer has no partitions for 25 s (topics have 3)",
            "t              0               -             100    -  -      UNKNOWN",
            "  t: lag - · 3 partitions without a commit (backlog 300) · time lag unknown · out 0.0/s · WARN: indexer has no partitions for 25 s (topics have 3)",
            "GROUP billing · UNKNOWN · members 0 · rebalances 0 · state -",
            "  UNKNOWN: no committed offsets on the watched topics",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?}\n{text}");
        }
    }

    #[test]
    fn the_workers_section_says_why_one_is_not_running() {
        use crate::monitor::snapshot::WorkerStatus;
        use crate::ops::WorkerState;
        let mut s = Snapshot::empty("kafka 127.0.0.1:9092", "none");
        assert!(!render(&s).contains("WORKER"), "no section without workers");
        s.workers = vec![
            WorkerStatus {
                name: "indexer".into(),
                state: WorkerState::BackingOff {
                    error: "search unavailable: connection refused".into(),
                    attempt: 4,
                },
                processed: 12_000,
                errors: 4,
                last_error: Some("search unavailable: connection refused".into()),
            },
            WorkerStatus {
                name: "notifier".into(),
                state: WorkerState::Running,
                processed: 7,
                errors: 0,
                last_error: None,
            },
        ];
        let text = render(&s);
        let lines: Vec<&str> = text.lines().collect();
        let header = lines
            .iter()
            .position(|l| l.starts_with("WORKER"))
            .unwrap_or_else(|| panic!("no workers section:\n{text}"));
        assert!(lines[header + 1].starts_with("indexer"), "{text}");
        assert!(
            lines[header + 1].contains("BACKING OFF (4)")
                && lines[header + 1].contains("12,000")
                && lines[header + 1].ends_with("search unavailable: connection refused"),
            "{text}"
        );
        assert!(lines[header + 2].contains("RUNNING"), "{text}");
        let report = crate::monitor::report::StatusReport::from_snapshot(&s);
        assert_eq!(report.workers[0].state, "backing off");
        assert_eq!(report.workers[0].attempt, Some(4));
        assert_eq!(
            report.errors,
            vec!["worker indexer: backing off: search unavailable: connection refused"]
        );
        assert_eq!(report.workers[1].error, None);
    }

    #[test]
    fn a_part_running_again_shows_its_last_error_as_past_and_is_not_an_error_now() {
        use crate::monitor::snapshot::WorkerStatus;
        use crate::ops::WorkerState;
        let mut s = Snapshot::empty("kafka 127.0.0.1:9092", "none");
        s.workers = vec![WorkerStatus {
            name: "embedded broker".into(),
            state: WorkerState::Running,
            processed: 0,
            errors: 1,
            last_error: Some("its storage engine stopped answering; restarted in 0.3 s".into()),
        }];
        let text = render(&s);
        let row = text
            .lines()
            .find(|l| l.starts_with("embedded broker"))
            .unwrap_or_else(|| panic!("no broker row:\n{text}"));
        assert!(
            row.contains("RUNNING")
                && row.ends_with("last: its storage engine stopped answering; restarted in 0.3 s"),
            "{row}"
        );
        let report = crate::monitor::report::StatusReport::from_snapshot(&s);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
    }
}
