//! Synthetic snapshots and a text renderer for the pane tests: a realistic pipeline (six
//! topics, two groups, Korean messages) at a fixed clock, so snapshots are stable.

// `..Default::default()` stays on literal fixtures so that fields the monitor adds to the
// snapshot do not break every pane test.
#![allow(clippy::needless_update)]

use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::Frame;
use ratatui::Terminal;
use unicode_width::UnicodeWidthStr;

use crate::event::NotificationSent;
use crate::monitor::snapshot::{
    GroupStats, GroupTopicLag, Health, LagStatus, MemberInfo, NotificationLine, PartitionLag,
    PartitionStats, Snapshot, TopicStats, Totals, WorkerStatus,
};
use crate::search::{SearchDoc, SearchHit, SearchResults};
use crate::workers::report::WorkerState;

use super::app::App;

/// 2024-06-10 06:13:20 UTC: the fixed "now" of every test.
pub const NOW: i64 = 1_718_000_000_000;

pub fn history(n: usize, f: impl Fn(usize) -> f64) -> Vec<f64> {
    (0..n).map(f).collect()
}

pub fn topic(name: &str, parts: i32, messages: i64, rate: f64) -> TopicStats {
    let partitions = (0..parts)
        .map(|p| PartitionStats {
            partition: p,
            leader: Some(1),
            low: 0,
            high: messages / i64::from(parts) + i64::from(p),
            in_per_sec: rate / f64::from(parts),
            ..Default::default()
        })
        .collect();
    TopicStats {
        topic: name.to_string(),
        partitions,
        messages,
        in_per_sec: rate,
        in_history: history(300, |i| rate * (0.5 + 0.5 * ((i as f64) / 9.0).sin().abs())),
        ..Default::default()
    }
}

pub fn lag(
    topic: &str,
    lag: i64,
    secs: Option<f64>,
    estimated: bool,
    out: f64,
    status: LagStatus,
    reason: &str,
) -> GroupTopicLag {
    let partitions = (0..3)
        .map(|p| PartitionLag {
            partition: p,
            high: 4_000 + i64::from(p) * 17,
            committed: if p == 2 && status == LagStatus::Stall {
                None
            } else {
                Some(4_000 + i64::from(p) * 17 - lag / 3)
            },
            lag: lag / 3,
            owner: Some(format!("eventdeck-indexer-{p}")),
            status,
            ..Default::default()
        })
        .collect();
    GroupTopicLag {
        topic: topic.to_string(),
        lag_sum: lag,
        lag_max: lag / 3 + lag % 3,
        lag_seconds: secs,
        lag_seconds_estimated: estimated,
        out_per_sec: out,
        status,
        reason: reason.to_string(),
        partitions,
        lag_history: history(300, |i| {
            (lag as f64) * (0.4 + 0.6 * ((i as f64) / 4.0).sin().abs())
        }),
        negative_lag_samples: 0,
        ..Default::default()
    }
}

fn member(name: &str, host: &str, topics: &[&str], parts: &[i32], ours: bool) -> MemberInfo {
    MemberInfo {
        member: format!("{name}-0b6f3c2a"),
        client_id: name.to_string(),
        host: host.to_string(),
        assignments: topics
            .iter()
            .flat_map(|t| parts.iter().map(move |p| (t.to_string(), *p)))
            .collect(),
        ours,
        ..Default::default()
    }
}

pub fn notification(
    i: usize,
    user: &str,
    channel: &str,
    author: &str,
    text: &str,
) -> NotificationLine {
    NotificationLine {
        received_ms: NOW - 3_000 - (i as i64) * 7_000,
        notification: NotificationSent {
            notification_id: format!("n{i}"),
            user_id: user.to_string(),
            message_id: format!("msg_{i}"),
            channel_id: channel.to_string(),
            author_id: author.to_string(),
            preview: text.to_string(),
            source_timestamp: NOW - 3_500 - (i as i64) * 7_000,
        },
    }
}

fn worker(name: &str, state: WorkerState, processed: u64) -> WorkerStatus {
    WorkerStatus {
        name: name.to_string(),
        state,
        processed,
        errors: 0,
        last_error: None,
    }
}

/// A busy, mostly healthy pipeline: one WARN group topic, one STALL.
pub fn normal() -> Snapshot {
    let created = "platform.messages.created";
    let updated = "platform.messages.updated";
    let deleted = "platform.messages.deleted";
    let mut s = Snapshot::empty(
        "embedded broker 127.0.0.1:9092",
        "local index /var/lib/eventdeck/index",
    );
    s.taken_ms = NOW - 400;
    s.cluster_health = Health::Up;
    s.search_health = Health::Up;
    s.indexed_messages = Some(128_412);
    s.workers = vec![
        worker("producer", WorkerState::Running, 131_077),
        worker("indexer", WorkerState::Running, 128_412),
        worker("notifier", WorkerState::Running, 38_204),
    ];
    s.topics = vec![
        topic(created, 3, 118_502, 47.3),
        topic(updated, 3, 11_840, 4.9),
        topic(deleted, 3, 3_551, 1.4),
        topic("platform.notifications.sent", 3, 38_204, 14.2),
        topic("platform.users.activity", 3, 0, 0.0),
        topic("platform.messages.dlq", 1, 2, 0.0),
    ];
    s.groups = vec![
        GroupStats {
            group: "search-indexer".into(),
            state: Some("Stable".into()),
            members: vec![member(
                "eventdeck-indexer",
                "127.0.0.1",
                &[created, updated, deleted],
                &[0, 1, 2],
                true,
            )],
            topics: vec![
                lag(
                    created,
                    1_284,
                    Some(2.7),
                    false,
                    46.8,
                    LagStatus::Warn,
                    "lag grew in 10 of 10 samples while offsets moved",
                ),
                lag(updated, 12, Some(0.3), false, 4.9, LagStatus::Ok, ""),
                lag(deleted, 0, Some(0.0), false, 1.4, LagStatus::Ok, ""),
            ],
            status: LagStatus::Warn,
            rebalances: 2,
            last_rebalance_ms: Some(NOW - 754_000),
            generation: Some(3),
            ..Default::default()
        },
        GroupStats {
            group: "notification-service".into(),
            state: Some("Stable".into()),
            members: vec![
                member("eventdeck-notifier", "127.0.0.1", &[created], &[0, 1], true),
                member("eventdeck-notifier-2", "10.0.4.17", &[created], &[2], false),
            ],
            topics: vec![lag(
                created,
                9_731,
                Some(41.0),
                true,
                0.0,
                LagStatus::Stall,
                "offset stuck at 38,204 for 10 samples with lag 9,731",
            )],
            status: LagStatus::Stall,
            rebalances: 1,
            last_rebalance_ms: Some(NOW - 3_600_000),
            generation: Some(1),
            ..Default::default()
        },
    ];
    s.totals = Totals {
        produced: 133_893,
        produce_failed: 0,
        indexed: 128_412,
        notified: 38_204,
        dead_lettered: 2,
        ..Default::default()
    };
    s.notifications = vec![
        notification(0, "user_002", "ch_dev", "user_001", "프로젝트 배포 완료 @user_002"),
        notification(1, "user_017", "ch_general", "user_023", "lunch at 12:30? @user_017 @user_031"),
        notification(2, "user_031", "ch_general", "user_023", "lunch at 12:30? @user_017 @user_031"),
        notification(3, "user_005", "ch_ops", "user_012", "@user_005 the consumer lag alert fired again on search-indexer, can you take a look before the release train leaves?"),
        notification(4, "user_040", "ch_random", "user_008", "こんにちは @user_040 — 新しいダッシュボードを見てください"),
        notification(5, "user_002", "ch_dev", "user_019", "review please @user_002"),
    ];
    s.load_generator = Some(50);
    s
}

/// The cluster could not be reached before any figure was read.
pub fn down() -> Snapshot {
    let mut s = Snapshot::empty(
        "kafka k1.prod:9092,k2.prod:9092",
        "elastic http://es.prod:9200/messages",
    );
    s.taken_ms = NOW - 1_000;
    s.cluster_health =
        Health::Down("BrokerTransportFailure (Local: Broker transport failure)".into());
    s.search_health = Health::Down("connection refused (os error 111)".into());
    s.workers = vec![
        worker(
            "indexer",
            WorkerState::BackingOff {
                error: "search unavailable: connection refused".into(),
                attempt: 4,
            },
            0,
        ),
        worker(
            "notifier",
            WorkerState::Failed {
                error: "group coordinator not available".into(),
            },
            0,
        ),
        worker("producer", WorkerState::Running, 0),
    ];
    s
}

/// Started, sampled once, nothing published yet.
pub fn empty() -> Snapshot {
    let mut s = Snapshot::empty(
        "embedded broker 127.0.0.1:9092",
        "local index /tmp/ed/index",
    );
    s.taken_ms = NOW - 200;
    s.cluster_health = Health::Up;
    s.search_health = Health::Up;
    s.indexed_messages = Some(0);
    s.workers = vec![
        worker("producer", WorkerState::Running, 0),
        worker("indexer", WorkerState::Starting, 0),
        worker("notifier", WorkerState::Running, 0),
    ];
    s
}

/// A group-topic row from its partitions' (low, high, committed, status), with lag and the
/// backlog without a commit summed as the monitor does.
fn evidence_row(
    topic: &str,
    partitions: &[(i64, i64, Option<i64>, LagStatus)],
    status: LagStatus,
    reason: &str,
    secs: Option<f64>,
) -> GroupTopicLag {
    let rows: Vec<PartitionLag> = partitions
        .iter()
        .enumerate()
        .map(|(p, (_, high, committed, status))| PartitionLag {
            partition: p as i32,
            high: *high,
            committed: *committed,
            lag: committed.map_or(0, |c| (high - c).max(0)),
            owner: committed.map(|_| format!("eventdeck-worker-{p}")),
            status: *status,
            ..Default::default()
        })
        .collect();
    let known: Vec<i64> = rows.iter().filter_map(|p| p.lag_figure()).collect();
    let without: Vec<i64> = partitions
        .iter()
        .filter(|(_, _, committed, _)| committed.is_none())
        .map(|(low, high, _, _)| (high - low).max(0))
        .collect();
    GroupTopicLag {
        topic: topic.to_string(),
        lag_sum: known.iter().sum(),
        lag_max: known.iter().copied().max().unwrap_or(0),
        lag_seconds: secs,
        lag_seconds_estimated: false,
        out_per_sec: 0.0,
        status,
        reason: reason.to_string(),
        partitions: rows,
        lag_history: history(300, |_| 0.0),
        negative_lag_samples: 0,
        partitions_without_commit: without.len(),
        backlog_without_commit: without.iter().sum(),
        ..Default::default()
    }
}

/// What the monitor says without evidence of health (issue 8): a new group that never
/// committed, with its backlog; a group stuck for two samples 205 s behind (STALL before the
/// window is complete); a group whose progress is unknown; a worker of ours assigned
/// nothing; a topic where one partition has no commit yet.
pub fn evidence() -> Snapshot {
    const U: LagStatus = LagStatus::Unknown;
    let created = "platform.messages.created";
    let activity = "platform.users.activity";
    let mut s = empty();
    s.taken_ms = NOW - 400;
    s.topics = vec![
        topic(created, 3, 12_000, 0.0),
        topic(activity, 3, 1_800, 6.0),
    ];
    let group =
        |name: &str, status: LagStatus, reason: &str, topics: Vec<GroupTopicLag>| GroupStats {
            group: name.to_string(),
            status,
            reason: reason.to_string(),
            topics,
            ..Default::default()
        };
    let mut indexer = group(
        "search-indexer",
        LagStatus::Warn,
        "indexer has no partitions for 25 s (topics have 9)",
        vec![evidence_row(
            created,
            &[(0, 40, None, U), (0, 31, None, U), (0, 25, None, U)],
            LagStatus::Warn,
            "indexer has no partitions for 25 s (topics have 9)",
            None,
        )],
    );
    indexer.problems = vec![crate::monitor::snapshot::GroupProblem {
        kind: "no_partitions".into(),
        worker: "indexer".into(),
        status: LagStatus::Warn,
        reason: "indexer has no partitions for 25 s (topics have 9)".into(),
    }];
    s.groups = vec![
        group(
            "audit-new",
            LagStatus::Unknown,
            "platform.messages.created: unknown: 3 partitions without a commit, backlog 12,001",
            vec![evidence_row(
                created,
                &[
                    (0, 4_000, None, U),
                    (0, 4_001, None, U),
                    (0, 4_000, None, U),
                ],
                LagStatus::Unknown,
                "unknown: 3 partitions without a commit, backlog 12,001",
                None,
            )],
        ),
        group(
            "notification-service",
            LagStatus::Stall,
            "",
            vec![evidence_row(
                created,
                &[
                    (0, 4_000, Some(700), LagStatus::Stall),
                    (0, 4_001, Some(705), LagStatus::Stall),
                    (0, 4_000, Some(702), LagStatus::Stall),
                ],
                LagStatus::Stall,
                "partition 1: offset stuck at 705 for 2 samples with lag 3,296, 205 s behind, \
                 while eventdeck-notifier owns it (and 2 more partitions STALL)",
                Some(205.0),
            )],
        ),
        group(
            "analytics",
            LagStatus::Unknown,
            "",
            vec![evidence_row(
                activity,
                &[
                    (0, 600, Some(590), U),
                    (0, 600, Some(600), LagStatus::Ok),
                    (0, 600, Some(598), U),
                ],
                LagStatus::Unknown,
                "partition 0: unknown: 2 samples, offset unchanged with lag 10, 4 s behind \
                 (stall after 30 s)",
                Some(4.0),
            )],
        ),
        group(
            "billing",
            LagStatus::Unknown,
            "",
            vec![evidence_row(
                activity,
                &[
                    (0, 600, Some(588), LagStatus::Ok),
                    (0, 600, None, U),
                    (0, 600, Some(600), LagStatus::Ok),
                ],
                LagStatus::Unknown,
                "unknown: 1 partition without a commit, backlog 600",
                Some(1.5),
            )],
        ),
        indexer,
    ];
    s
}

/// Many rows in every list: 40 topics, 12 groups, 200 notifications.
pub fn long() -> Snapshot {
    let mut s = normal();
    for i in 0..34 {
        s.topics.push(topic(
            &format!("tenant-{i:02}.events.v2"),
            12,
            1_000_000 + i * 9_876_543,
            i as f64 * 31.7,
        ));
    }
    for g in 0..10 {
        let mut grp = s.groups[0].clone();
        grp.group = format!("analytics-{g:02}");
        grp.members = (0..4)
            .map(|m| {
                member(
                    &format!("analytics-{g:02}-{m}"),
                    &format!("10.0.1.{m}"),
                    &["platform.messages.created"],
                    &[m],
                    false,
                )
            })
            .collect();
        s.groups.push(grp);
    }
    s.notifications = (0..200)
        .map(|i| {
            notification(
                i,
                &format!("user_{:03}", i % 50),
                "ch_load",
                "user_001",
                &format!("generated message number {i} @user_{:03}", i % 50),
            )
        })
        .collect();
    s
}

pub fn results() -> SearchResults {
    let hit =
        |id: &str, ch: &str, author: &str, content: &str, hl: &str, ago: i64, edited: bool| {
            SearchHit {
                doc: SearchDoc {
                    message_id: id.to_string(),
                    channel: ch.to_string(),
                    author: author.to_string(),
                    content: content.to_string(),
                    mentions: vec![],
                    created_at: Some(NOW - ago),
                    updated_at: edited.then_some(NOW - ago / 2),
                    deleted: false,
                    version: 1,
                },
                score: Some(1.0),
                highlights: vec![hl.to_string()],
            }
        };
    SearchResults {
        total: 23,
        took_ms: 4,
        hits: vec![
            hit(
                "msg_0190b5d2-0001",
                "ch_dev",
                "user_001",
                "프로젝트 배포 완료 @user_002",
                "프로젝트 <em>배포</em> 완료 @user_002",
                3_000,
                false,
            ),
            hit(
                "msg_0190b5d2-0002",
                "ch_ops",
                "user_012",
                "배포 rollback done, lag is back to normal",
                "<em>배포</em> rollback done, lag is back to normal",
                420_000,
                true,
            ),
            hit(
                "msg_0190b5d2-0003",
                "ch_general",
                "user_023",
                "who broke the 배포 pipeline again",
                "who broke the <em>배포</em> pipeline again",
                7_200_000,
                false,
            ),
        ],
    }
}

pub fn app(snapshot: Snapshot) -> App {
    App::new(snapshot, NOW)
}

/// The buffer as plain text, one line per row, trailing spaces trimmed; cells hidden behind
/// a wide character are skipped, so Korean text reads as on a terminal.
pub fn buffer_text(buf: &Buffer) -> String {
    let mut out = String::new();
    let w = buf.area.width as usize;
    for row in buf.content.chunks(w) {
        let mut line = String::new();
        let mut skip = 0;
        for cell in row {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = cell.symbol();
            line.push_str(sym);
            skip = sym.width().saturating_sub(1);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub fn render_with(w: u16, h: u16, draw: impl FnOnce(&mut Frame, Rect)) -> (String, Buffer) {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    let mut draw = Some(draw);
    terminal
        .draw(|f| {
            if let Some(d) = draw.take() {
                d(f, f.area());
            }
        })
        .expect("draw");
    let buf = terminal.backend().buffer().clone();
    (buffer_text(&buf), buf)
}

/// The whole console at `w`×`h`.
pub fn screen(app: &App, w: u16, h: u16) -> String {
    render_with(w, h, |f, _| super::layout::draw(f, app)).0
}

/// Tails `platform.messages.created` and feeds it one record per value (partition 0,
/// offsets from 0, key `ch_dev`, times a second apart).
pub fn tail_rows(app: &mut App, values: &[&[u8]]) {
    use crate::browse::tail::{TailEvent, TailFrom};
    let _ = app.tail_action("platform.messages.created", TailFrom::End);
    let id = app.tail.id;
    app.on_tail_event(
        id,
        TailEvent::Started {
            partitions: vec![(0, 0, 0), (1, 0, 0), (2, 0, 0)],
        },
    );
    let records = values
        .iter()
        .enumerate()
        .map(|(n, v)| crate::workers::batch::Record {
            topic: "platform.messages.created".into(),
            partition: 0,
            offset: n as i64,
            key: Some(b"ch_dev".to_vec()),
            payload: Some(v.to_vec()),
            // One hostile header, on the second record.
            headers: if n == 1 {
                vec![("dlq.reason".into(), Some(b"\x1b[31mred".to_vec()))]
            } else {
                vec![]
            },
            timestamp: Some(1_700_000_000_000 + n as i64 * 1_000),
        })
        .collect();
    app.on_tail_event(id, TailEvent::Records(records));
}

/// A `message.created` event of message `id`, as the tail receives it.
pub fn created_event(id: &str) -> Vec<u8> {
    format!(
        r#"{{"event_id":"e-{id}","event_type":"message.created","occurred_at":"2026-12-01T10:00:00Z","payload":{{"message_id":"{id}","channel_id":"ch_dev","author_id":"u1","content":"hi @bob","mentions":["bob"]}}}}"#
    )
    .into_bytes()
}

/// Tails the dead-letter topic (`:dlq`) and feeds it three dead letters: a valid event of
/// message m-7 that failed (first, so selected), a hostile value re-driven three times
/// already (held), and one without a source topic header.
pub fn dlq_rows(app: &mut App) {
    use crate::browse::tail::{TailEvent, TailFrom};
    let topic = app.dlq_topic.clone();
    let _ = app.tail_action(&topic, TailFrom::Beginning);
    let id = app.tail.id;
    app.on_tail_event(
        id,
        TailEvent::Started {
            partitions: vec![(0, 0, 3)],
        },
    );
    let header = |n: &str, v: &[u8]| (n.to_string(), Some(v.to_vec()));
    let source = |offset: &[u8]| {
        vec![
            header(
                "dlq.reason",
                b"search index rejected the document: mapper_parsing_exception",
            ),
            header("dlq.source.topic", b"platform.messages.created"),
            header("dlq.source.partition", b"2"),
            header("dlq.source.offset", offset),
        ]
    };
    let mut held = source(b"44");
    held[0] = header("dlq.reason", b"not JSON: expected value at line 1 column 1");
    held.push(header("eventdeck.redrives", b"3"));
    let records = [
        (created_event("m-7"), source(b"41")),
        (b"\xff\xfe\x1b[2Jnot json\xe2\x80\xae".to_vec(), held),
        (
            b"{}".to_vec(),
            vec![header("dlq.reason", b"missing event_type")],
        ),
    ]
    .into_iter()
    .enumerate()
    .map(|(n, (value, headers))| crate::workers::batch::Record {
        topic: topic.clone(),
        partition: 0,
        offset: n as i64,
        key: Some(b"ch_dev".to_vec()),
        payload: Some(value),
        headers,
        timestamp: Some(1_700_000_000_000 + n as i64 * 1_000),
    })
    .collect();
    app.on_tail_event(id, TailEvent::Records(records));
    app.list_mut(crate::ui::views::ViewId::Dlq).selected = 0;
}
