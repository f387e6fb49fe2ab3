//! Throughput: messages in/s per topic (Δ high watermark), out/s (Δ committed, summed over
//! the consumer groups reading the topic), a sparkline of the in-rate, and the pipeline
//! totals, and each topic's retention and cleanup policy where the broker describes them.
//! `enter` shows a topic's partitions, `t` tails the topic, `i` shows the broker's internal
//! topics (hidden by default, as in Kafka UI).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Row;
use ratatui::Frame;

use crossterm::event::{KeyCode, KeyEvent};

use super::{enter_drill, leave_drill, View, ViewId};
use crate::monitor::snapshot::{PartitionStats, TopicStats};
use crate::ui::app::{Action, App};
use crate::ui::format::{rate, sparkline, thousands, thousands_i, truncate_left};
use crate::ui::keymap::{self, Hint, KeyBinding};
use crate::ui::panes::{
    cells, col, list_frame, num_cell, pane_block, plan, render_table, text_cell, Col, EmptyText,
    Plan,
};
use crate::ui::{model, theme};

pub struct Throughput;

fn drilled(app: &App) -> bool {
    app.topic_drill.is_some()
}

fn not_drilled(app: &App) -> bool {
    !drilled(app)
}

static KEYS: &[KeyBinding] = &[
    keymap::FILTER.when(not_drilled),
    KeyBinding::new(&[KeyCode::Enter], "enter", "a topic's partitions", drill_in)
        .hint(Hint::Lead("partitions"))
        .when(not_drilled),
    KeyBinding::new(&[KeyCode::Esc], "esc", "back to the topics", drill_out)
        .hint(Hint::Lead("back"))
        .when(drilled),
    KeyBinding::new(
        &[KeyCode::Char('t')],
        "t",
        "tail the topic: its records as they arrive",
        tail,
    )
    .hint(Hint::Lead("tail")),
    KeyBinding::new(
        &[KeyCode::Char('i')],
        "i",
        "show / hide the broker's internal topics (__consumer_offsets, …)",
        toggle_internal,
    )
    .when(not_drilled),
];

/// `t`: the drilled-in topic, else the selected one, tailed from its end in the Tail view.
fn tail(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    let topic = match &app.topic_drill {
        Some(t) => t.clone(),
        None => {
            let sel = app.list(ViewId::Throughput).selected;
            model::topics(app).into_iter().nth(sel)?.topic.clone()
        }
    };
    app.view = Some(ViewId::Tail);
    keymap::focus(app, ViewId::Tail);
    Some(vec![
        app.tail_action(&topic, crate::browse::tail::TailFrom::End)
    ])
}

fn toggle_internal(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    app.show_internal = !app.show_internal;
    let hidden = app.snapshot.topics.iter().filter(|t| t.internal).count();
    app.flash_info(if app.show_internal {
        format!("internal topics shown ({hidden})")
    } else {
        format!("internal topics hidden ({hidden})")
    });
    Some(Vec::new())
}

fn drill_in(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    let sel = app.list(ViewId::Throughput).selected;
    if let Some(t) = model::topics(app).into_iter().nth(sel) {
        app.topic_drill = Some(t.topic.clone());
        enter_drill(app, ViewId::Throughput, sel);
    }
    Some(Vec::new())
}

fn drill_out(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    app.topic_drill = None;
    leave_drill(app, ViewId::Throughput);
    Some(Vec::new())
}

impl View for Throughput {
    fn id(&self) -> ViewId {
        ViewId::Throughput
    }
    fn title(&self) -> &'static str {
        "Throughput"
    }
    fn short(&self) -> &'static str {
        "Throughput"
    }
    fn names(&self) -> &'static [&'static str] {
        &["throughput", "topics", "topic", "tp"]
    }
    fn keys(&self) -> &'static [KeyBinding] {
        KEYS
    }
    fn draw(&self, frame: &mut Frame, area: Rect, app: &App) {
        draw(frame, area, app)
    }
    fn row_count(&self, app: &App) -> usize {
        match model::topic_partitions(app) {
            Some((_, p)) => p.len(),
            None => model::topics(app).len(),
        }
    }
}

const COLS: [Col; 8] = [
    col("TOPIC", 16).fill(),
    col("PARTS", 5).right().prio(3),
    col("MESSAGES", 10).right().prio(2),
    col("IN/S", 7).right(),
    col("OUT/S", 7).right(),
    col("RETENTION", 9).right().prio(5),
    col("CLEANUP", 7).prio(6),
    col("HISTORY", 12).stretch().prio(1),
];
const HISTORY_AT: usize = 7;
/// RETENTION and CLEANUP: left out while no topic is described (a broker that does not
/// answer DescribeConfigs), so that two columns of "–" take no room.
const CONFIG_COLS: std::ops::Range<usize> = 5..7;

fn described(topics: &[&TopicStats]) -> bool {
    topics.iter().any(|t| t.config.is_some())
}

fn columns(described: bool) -> Vec<Col> {
    let mut cols = COLS.to_vec();
    if !described {
        cols.drain(CONFIG_COLS);
    }
    cols
}

const PART_COLS: [Col; 6] = [
    col("PARTITION", 9).right(),
    col("LEADER", 6).right().prio(2),
    col("LOW", 10).right().prio(1),
    col("HIGH", 10).right(),
    col("MESSAGES", 10).right(),
    col("IN/S", 7).right(),
];

/// Messages out per second of a topic: the sum over the groups that consume it.
pub fn out_per_sec(app: &App, topic: &str) -> f64 {
    app.snapshot
        .groups
        .iter()
        .flat_map(|g| g.topics.iter())
        .filter(|t| t.topic == topic)
        .map(|t| t.out_per_sec)
        .sum()
}

fn totals_line(app: &App) -> Line<'static> {
    let t = &app.snapshot.totals;
    let mut spans = vec![
        Span::raw(" produced "),
        Span::styled(thousands(t.produced), theme::header()),
    ];
    if t.produce_failed > 0 {
        spans.push(Span::styled(
            format!(" ({} failed)", thousands(t.produce_failed)),
            theme::error(),
        ));
    }
    spans.extend([
        Span::raw(" · indexed "),
        Span::styled(thousands(t.indexed), theme::header()),
        Span::raw(" · notified "),
        Span::styled(thousands(t.notified), theme::header()),
    ]);
    if t.dead_lettered > 0 {
        spans.push(Span::styled(
            format!(" · DLQ {}", thousands(t.dead_lettered)),
            theme::error(),
        ));
    }
    if let Some(o) = &app.snapshot.outbox {
        spans.push(Span::raw(" · outbox "));
        match (o.rows, &o.error) {
            (Some(rows), _) => {
                // Waiting entries are normal for a moment; an old one means the relay is stuck.
                let age_s = o.oldest_age_ms.unwrap_or(0) as f64 / 1000.0;
                let style = if age_s >= 10.0 {
                    theme::error()
                } else {
                    theme::header()
                };
                spans.push(Span::styled(thousands(rows), style));
                if rows > 0 {
                    spans.push(Span::styled(format!(" (oldest {age_s:.1} s)"), style));
                }
            }
            (None, Some(e)) => spans.push(Span::styled(format!("? {e}"), theme::error())),
            (None, None) => spans.push(Span::raw("–")),
        }
    }
    spans.push(Span::raw(" "));
    Line::from(spans)
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    if let Some((topic, parts)) = model::topic_partitions(app) {
        return draw_partitions(frame, area, app, topic, parts.len());
    }
    let topics = model::topics(app);
    let internal = app.snapshot.topics.iter().filter(|t| t.internal).count();
    let right = app.loaded.then(|| match internal {
        0 => format!("{} topics", topics.len()),
        n if app.show_internal => format!("{} topics, {n} internal", topics.len()),
        n => format!("{} topics · {n} internal hidden (i)", topics.len()),
    });
    let block =
        pane_block(app, ViewId::Throughput, &[], right, area.width).title_bottom(totals_line(app));
    let empty = EmptyText {
        none: "no topics yet",
        no_match: "no topic matches the filter",
    };
    let Some(inner) = list_frame(
        frame,
        area,
        app,
        ViewId::Throughput,
        block,
        !topics.is_empty(),
        empty,
    ) else {
        return;
    };
    let names = topics.iter().map(|t| name(t).len()).max().unwrap_or(0);
    let described = described(&topics);
    let cols = columns(described);
    let plan = plan(&cols, &[names], inner.width);
    let sel = app.list(ViewId::Throughput).selected;
    let focused = app.focus == ViewId::Throughput;
    render_table(
        frame,
        inner,
        &cols,
        &plan,
        topics.len(),
        |i| topic_row(app, topics[i], &plan, described),
        focused.then_some(sel),
    );
}

fn name(t: &TopicStats) -> String {
    if t.freshness.stale {
        format!("{} (stale)", t.topic)
    } else {
        t.topic.clone()
    }
}

fn topic_row<'a>(app: &App, t: &TopicStats, plan: &Plan, described: bool) -> Row<'a> {
    let style = if t.freshness.stale {
        theme::muted()
    } else {
        Default::default()
    };
    let out = out_per_sec(app, &t.topic);
    let history_at = if described {
        HISTORY_AT
    } else {
        HISTORY_AT - CONFIG_COLS.len()
    };
    let mut values = vec![
        text_cell(truncate_left(&name(t), plan.width(0)), style),
        num_cell(t.partitions.len().to_string(), style),
        num_cell(thousands_i(t.messages), style),
        num_cell(rate(t.in_per_sec), style),
        num_cell(rate(out), style),
        num_cell(
            t.config
                .as_ref()
                .map_or_else(|| "–".to_string(), |c| c.retention_label()),
            style,
        ),
        text_cell(
            t.config
                .as_ref()
                .and_then(|c| c.cleanup_policy.clone())
                .unwrap_or_else(|| "–".to_string()),
            style,
        ),
        // Right-aligned so a clipped sparkline loses its oldest points, not "now".
        num_cell(
            sparkline(&t.in_history, plan.width(history_at)),
            ratatui::style::Style::new().fg(theme::ACCENT),
        ),
    ];
    if !described {
        values.drain(CONFIG_COLS);
    }
    Row::new(cells(plan, values))
}

fn draw_partitions(frame: &mut Frame, area: Rect, app: &App, topic: &TopicStats, n: usize) {
    let config = topic.config.as_ref().map_or_else(String::new, |c| {
        format!(
            " · retention {}{}",
            c.retention_label(),
            c.cleanup_policy
                .as_ref()
                .map_or_else(String::new, |p| format!(" · cleanup {p}"))
        )
    });
    let right = Some(format!("{n} partitions{config} · esc back"));
    let block = pane_block(app, ViewId::Throughput, &[&topic.topic], right, area.width)
        .title_bottom(totals_line(app));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let plan = plan(&PART_COLS, &[], inner.width);
    let sel = app.list(ViewId::Throughput).selected;
    render_table(
        frame,
        inner,
        &PART_COLS,
        &plan,
        topic.partitions.len(),
        |i| partition_row(&topic.partitions[i], &plan),
        Some(sel),
    );
}

fn partition_row<'a>(p: &PartitionStats, plan: &Plan) -> Row<'a> {
    let s = Default::default();
    Row::new(cells(
        plan,
        vec![
            num_cell(p.partition.to_string(), s),
            num_cell(p.leader.map(|l| l.to_string()).unwrap_or("–".into()), s),
            num_cell(thousands_i(p.low), s),
            num_cell(thousands_i(p.high), s),
            num_cell(thousands_i((p.high - p.low).max(0)), s),
            num_cell(rate(p.in_per_sec), s),
        ],
    ))
}
