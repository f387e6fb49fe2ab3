//! Frame render benchmark: the whole console drawn into ratatui's TestBackend at 80×24 and
//! 200×60, with a snapshot of 10 topics × 100 partitions (1,000 partitions) and 20 groups,
//! against a baseline measured in the same run: the same frame with an empty snapshot.
//!
//! `eventdeck bench render`

use std::time::Instant;

use super::Row;
use crate::event::NotificationSent;
use crate::monitor::snapshot::{
    GroupStats, GroupTopicLag, Health, LagStatus, MemberInfo, NotificationLine, PartitionLag,
    PartitionStats, Snapshot, TopicStats,
};
use crate::ui::{layout, App};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn big_snapshot(now: i64) -> Snapshot {
    let mut s = Snapshot::empty("embedded broker 127.0.0.1:9092", "local index /data/index");
    s.taken_ms = now;
    s.cluster_health = Health::Up;
    s.search_health = Health::Up;
    let history: Vec<f64> = (0..300).map(|i| (i % 37) as f64).collect();
    for t in 0..10 {
        s.topics.push(TopicStats {
            topic: format!("platform.topic.{t:02}"),
            partitions: (0..100)
                .map(|p| PartitionStats {
                    partition: p,
                    leader: Some(1),
                    low: 0,
                    high: 10_000 + p as i64,
                    in_per_sec: 3.5,
                })
                .collect(),
            messages: 1_000_000,
            in_per_sec: 350.0,
            in_history: history.clone(),
            ..TopicStats::default()
        });
    }
    for g in 0..20 {
        let topics = (0..2)
            .map(|k| {
                let topic = format!("platform.topic.{:02}", (g + k) % 10);
                GroupTopicLag {
                    topic,
                    lag_sum: 12_345,
                    lag_max: 400,
                    lag_seconds: Some(3.2),
                    lag_seconds_estimated: g % 2 == 0,
                    out_per_sec: 300.0,
                    status: if g % 5 == 0 {
                        LagStatus::Warn
                    } else {
                        LagStatus::Ok
                    },
                    reason: "lag grew in 10 of 10 samples".into(),
                    partitions: (0..100)
                        .map(|p| PartitionLag {
                            partition: p,
                            high: 10_000,
                            committed: Some(9_900),
                            lag: 100,
                            owner: Some(format!("worker-{}", p % 4)),
                            status: LagStatus::Ok,
                        })
                        .collect(),
                    lag_history: history.clone(),
                    ..GroupTopicLag::default()
                }
            })
            .collect();
        s.groups.push(GroupStats {
            group: format!("group-{g:02}"),
            members: (0..4)
                .map(|m| MemberInfo {
                    member: format!("member-{m}"),
                    client_id: format!("worker-{m}"),
                    host: "/127.0.0.1".into(),
                    assignments: (0..50)
                        .map(|p| ("platform.topic.00".to_string(), p))
                        .collect(),
                    ours: m == 0,
                })
                .collect(),
            topics,
            rebalances: 3,
            ..GroupStats::default()
        });
    }
    for i in 0..500 {
        s.notifications.push(NotificationLine {
            received_ms: now - i * 1000,
            notification: NotificationSent {
                notification_id: format!("n{i}"),
                user_id: format!("user_{:03}", i % 40),
                message_id: format!("msg_{i}"),
                channel_id: "ch_dev".into(),
                author_id: "user_001".into(),
                preview: "프로젝트 배포 완료 @user_002".into(),
                source_timestamp: now,
            },
        });
    }
    s
}

/// Frames per batch, and batches: the median batch is the figure, steadier than one mean on
/// a machine doing other work.
const FRAMES: u32 = 50;
const BATCHES: usize = 11;

/// Median over `BATCHES` of the mean microseconds per frame of `FRAMES` draws.
fn measure(width: u16, height: u16, app: &App) -> anyhow::Result<f64> {
    let mut terminal = Terminal::new(TestBackend::new(width, height))?;
    for _ in 0..FRAMES {
        terminal.draw(|f| layout::draw(f, app))?; // warm-up
    }
    let mut batches = Vec::with_capacity(BATCHES);
    for _ in 0..BATCHES {
        let started = Instant::now();
        for _ in 0..FRAMES {
            terminal.draw(|f| layout::draw(f, app))?;
        }
        batches.push(started.elapsed().as_secs_f64() * 1e6 / f64::from(FRAMES));
    }
    batches.sort_by(f64::total_cmp);
    Ok(batches[BATCHES / 2])
}

/// The console's frame at 80×24 and 200×60 with 1,000 partitions, against an empty frame.
pub fn run() -> anyhow::Result<Vec<Row>> {
    let now = chrono::Utc::now().timestamp_millis();
    let empty = App::new(
        Snapshot::empty("embedded broker 127.0.0.1:9092", "local index"),
        now,
    );
    let full = App::new(big_snapshot(now), now);
    let mut rows = Vec::new();
    for (w, h, limit) in [(80u16, 24u16, 150.0), (200, 60, 1_000.0)] {
        let base = measure(w, h, &empty)?;
        let t = measure(w, h, &full)?;
        rows.push(
            Row::new(format!("console frame {w}×{h}"), format!("{t:.0} µs"))
                .against(format!("empty frame {base:.0} µs"), t / base)
                .target(
                    if limit >= 1_000.0 { "< 1 ms".to_string() } else { format!("< {limit:.0} µs") },
                    t < limit,
                )
                .params(format!(
                    "1,000 partitions, 20 groups, 500 notifications; TestBackend, median of {BATCHES} × {FRAMES} frames"
                )),
        );
    }
    Ok(rows)
}
