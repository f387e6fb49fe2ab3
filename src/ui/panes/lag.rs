//! Consumer lag per group and topic: messages and seconds behind (estimates marked "~"),
//! a sparkline, and Burrow's status in colour with its reason. `enter` drills into the
//! partitions (high watermark, committed offset, lag, owner); `esc` comes back.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Row;
use ratatui::Frame;

use super::{
    cells, col, list_frame, message, num_cell, pane_block, plan, render_table, text_cell, Col,
    EmptyText, Plan,
};
use crate::monitor::snapshot::{GroupTopicLag, LagStatus};
use crate::ui::app::{App, Pane};
use crate::ui::format::{
    duration_secs, rate, sparkline, thousands, thousands_i, truncate, truncate_left,
};
use crate::ui::model::{self, LagRow};
use crate::ui::theme;

const COLS: [Col; 9] = [
    col("GROUP", 12).fill(),
    col("TOPIC", 12).fill(),
    col("LAG", 8).right(),
    col("MAX", 7).right().prio(4),
    col("TIME", 7).right(),
    col("OUT/S", 7).right().prio(5),
    col("TREND", 10).prio(3),
    col("STATUS", 6),
    col("REASON", 20).stretch().prio(6),
];

const PART_COLS: [Col; 6] = [
    col("PARTITION", 9).right(),
    col("HIGH WATERMARK", 14).right(),
    col("COMMITTED", 12).right(),
    col("LAG", 10).right(),
    col("OWNER", 12).stretch().prio(1),
    col("STATUS", 6),
];

/// "1.2 s", "~40 s" when estimated from the consume rate, "–" when unknown.
pub fn lag_time(t: &GroupTopicLag) -> String {
    match t.lag_seconds {
        Some(s) if t.lag_seconds_estimated => format!("~{}", duration_secs(s)),
        Some(s) => duration_secs(s),
        None => "–".to_string(),
    }
}

fn status_cell<'a>(status: LagStatus) -> ratatui::widgets::Cell<'a> {
    text_cell(status.label(), theme::status(status))
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    if let Some((row, _)) = model::lag_partitions(app) {
        return draw_partitions(frame, area, app, row);
    }
    let rows = model::lag_rows(app);
    let sel = app.list(Pane::Lag).selected;
    let worst = rows.iter().map(|r| r.topic.status).max();
    let right = app.loaded.then(|| {
        let groups = app.snapshot.groups.len();
        match worst {
            Some(w) if w != LagStatus::Ok => format!("{groups} groups · worst {}", w.label()),
            _ => format!("{groups} groups"),
        }
    });
    let mut block = pane_block(app, Pane::Lag, &[], right, area.width);
    // The selected row's reason in words, for when the REASON column does not fit.
    if let Some(r) = rows.get(sel).filter(|r| !r.topic.reason.is_empty()) {
        block = block.title_bottom(Line::from(vec![
            Span::raw(" "),
            Span::styled(r.topic.status.label(), theme::status(r.topic.status)),
            Span::raw(format!(": {} ", r.topic.reason)),
        ]));
    }
    let empty = EmptyText {
        none: "no consumer groups yet",
        no_match: "no group matches the filter",
    };
    let Some(inner) = list_frame(frame, area, app, Pane::Lag, block, !rows.is_empty(), empty)
    else {
        return;
    };
    let longest = |f: &dyn Fn(&LagRow<'_>) -> usize| rows.iter().map(f).max().unwrap_or(0);
    let naturals = [
        longest(&|r| group_name(r).len()),
        longest(&|r| r.topic.topic.len()),
    ];
    let plan = plan(&COLS, &naturals, inner.width);
    let table_rows = rows.iter().map(|r| lag_row(r, &plan)).collect();
    let focused = app.focus == Pane::Lag;
    render_table(
        frame,
        inner,
        &COLS,
        &plan,
        table_rows,
        focused.then_some(sel),
    );
}

fn group_name(r: &LagRow<'_>) -> String {
    if r.group.freshness.stale {
        format!("{} (stale)", r.group.group)
    } else {
        r.group.group.clone()
    }
}

fn lag_row<'a>(r: &LagRow<'_>, plan: &Plan) -> Row<'a> {
    let t = r.topic;
    let style = theme::lag_row(t.status);
    Row::new(cells(
        plan,
        vec![
            text_cell(truncate(&group_name(r), plan.width(0)), style),
            text_cell(truncate_left(&t.topic, plan.width(1)), style),
            num_cell(thousands_i(t.lag_sum), style),
            num_cell(thousands_i(t.lag_max), style),
            num_cell(lag_time(t), style),
            num_cell(rate(t.out_per_sec), style),
            num_cell(
                sparkline(&t.lag_history, 10),
                Style::new().fg(theme::status_color(t.status)),
            ),
            status_cell(t.status),
            text_cell(truncate(&t.reason, plan.width(8)), style),
        ],
    ))
}

fn draw_partitions(frame: &mut Frame, area: Rect, app: &App, row: LagRow<'_>) {
    let t = row.topic;
    let summary = format!(
        "lag {} · {} · {} · esc back",
        thousands_i(t.lag_sum),
        lag_time(t),
        t.status.label()
    );
    let mut block = pane_block(
        app,
        Pane::Lag,
        &[&row.group.group, &t.topic],
        Some(summary),
        area.width,
    );
    if !t.reason.is_empty() {
        block = block.title_bottom(Line::from(vec![
            Span::raw(" "),
            Span::styled(t.status.label(), theme::status(t.status)),
            Span::raw(format!(": {} ", t.reason)),
        ]));
    }
    if t.negative_lag_samples > 0 {
        block = block.title_bottom(Line::styled(
            format!(
                " {} racing samples shown as 0 ",
                thousands(t.negative_lag_samples)
            ),
            theme::muted(),
        ));
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if t.partitions.is_empty() {
        return message(
            frame,
            inner,
            vec![Line::styled("no partition figures yet", theme::muted())],
        );
    }
    let plan = plan(&PART_COLS, &[], inner.width);
    let rows = t
        .partitions
        .iter()
        .map(|p| {
            let s = theme::lag_row(p.status);
            Row::new(cells(
                &plan,
                vec![
                    num_cell(p.partition.to_string(), s),
                    num_cell(thousands_i(p.high), s),
                    num_cell(
                        p.committed.map(thousands_i).unwrap_or_else(|| "–".into()),
                        s,
                    ),
                    num_cell(thousands_i(p.lag), s),
                    text_cell(p.owner.clone().unwrap_or_else(|| "–".into()), s),
                    status_cell(p.status),
                ],
            ))
        })
        .collect();
    let sel = app.list(Pane::Lag).selected;
    render_table(frame, inner, &PART_COLS, &plan, rows, Some(sel));
}
