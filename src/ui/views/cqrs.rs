//! Write vs read: the CQRS figures the monitor puts in the snapshot. One row per side
//! (commands committed, searches answered, commit → searchable) with its total, rate over
//! the last 10 s and latency percentiles over the last minute; under it the outbox and what
//! the figures mean. Read-only: no keys of its own, no I/O (the snapshot is all it reads).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Wrap};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use super::{View, ViewId};
use crate::monitor::cqrs::{CqrsFigures, SideFigures};
use crate::monitor::snapshot::OutboxStatus;
use crate::ui::app::App;
use crate::ui::format::{duration_secs, millis, rate, thousands};
use crate::ui::panes::{
    cells, col, message, num_cell, pane_block, plan, render_table, text_cell, Col, Plan,
};
use crate::ui::theme;

pub struct Cqrs;

impl View for Cqrs {
    fn id(&self) -> ViewId {
        ViewId::Cqrs
    }
    fn title(&self) -> &'static str {
        "Write vs read"
    }
    fn short(&self) -> &'static str {
        "CQRS"
    }
    fn names(&self) -> &'static [&'static str] {
        &["cqrs", "writeread"]
    }
    fn draw(&self, frame: &mut Frame, area: Rect, app: &App) {
        draw(frame, area, app)
    }
    fn row_count(&self, app: &App) -> usize {
        if app.snapshot.cqrs.is_some() {
            3
        } else {
            0
        }
    }
}

const COLS: [Col; 7] = [
    col("", 19).fill(),
    col("TOTAL", 9).right().prio(1),
    col("/S", 7).right(),
    col("P50", 8).right(),
    col("P95", 8).right(),
    col("P99", 8).right(),
    col("MAX", 8).right().prio(2),
];

/// Which side a row is, as the table's first column says it.
fn sides(c: &CqrsFigures) -> [(&'static str, &SideFigures); 3] {
    [
        ("write · commands committed", &c.write),
        ("read · searches", &c.read),
        ("commit → searchable", &c.commit_to_searchable),
    ]
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let right = app.loaded.then(|| match &app.snapshot.cqrs {
        Some(c) => format!(
            "{} written · {} searched",
            thousands(c.write.total),
            thousands(c.read.total)
        ),
        None => "nothing measured".to_string(),
    });
    let block = pane_block(app, ViewId::Cqrs, &[], right, area.width);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if !app.loaded {
        return message(frame, inner, vec![Line::styled("loading…", theme::muted())]);
    }
    let Some(figures) = &app.snapshot.cqrs else {
        return message(frame, inner, not_measured());
    };
    let [table, _, outbox, _, legend] = inner.layout(&Layout::vertical([
        Constraint::Length(4),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
    ]));
    draw_table(frame, table, app, figures);
    frame.render_widget(
        Paragraph::new(outbox_line(app.snapshot.outbox.as_ref())),
        outbox,
    );
    frame.render_widget(
        Paragraph::new(Line::styled(LEGEND, theme::muted())).wrap(Wrap { trim: true }),
        legend,
    );
}

const LEGEND: &str = "write = a post, edit or delete committed (its row + outbox entry) · \
    read = a search answered · commit → searchable = from the commit to the indexer making \
    it searchable · latency over the last minute, rate over the last 10 s";

/// What the pane says when this process records no figures.
fn not_measured() -> Vec<Line<'static>> {
    vec![
        Line::styled(
            "this process has no write model: nothing measured yet",
            theme::header(),
        ),
        Line::raw(""),
        Line::styled(
            "figures appear once commands and searches go through this process:",
            theme::muted(),
        ),
        Line::styled(
            "post from the compose form (s), `eventdeck serve` or `eventdeck bench cqrs`",
            theme::muted(),
        ),
    ]
}

fn draw_table(frame: &mut Frame, area: Rect, app: &App, figures: &CqrsFigures) {
    let rows = sides(figures);
    let names = rows.iter().map(|(n, _)| n.width()).max().unwrap_or(0);
    let plan = plan(&COLS, &[names], area.width);
    let sel = app.list(ViewId::Cqrs).selected;
    let focused = app.focus == ViewId::Cqrs;
    render_table(
        frame,
        area,
        &COLS,
        &plan,
        rows.len(),
        |i| side_row(rows[i].0, rows[i].1, &plan),
        focused.then_some(sel),
    );
}

fn side_row(name: &'static str, side: &SideFigures, plan: &Plan) -> Row<'static> {
    let s = Default::default();
    let p = side.latency;
    let ms = |f: fn(&crate::monitor::cqrs::Percentiles) -> f64| {
        p.as_ref().map(f).map(millis).unwrap_or_else(|| "–".into())
    };
    Row::new(cells(
        plan,
        vec![
            text_cell(name, theme::header()),
            num_cell(thousands(side.total), s),
            num_cell(rate(side.per_sec), s),
            num_cell(ms(|p| p.p50_ms), s),
            num_cell(ms(|p| p.p95_ms), s),
            num_cell(ms(|p| p.p99_ms), s),
            num_cell(ms(|p| p.max_ms), s),
        ],
    ))
}

/// "outbox  embedded store /d/store.db · 3 waiting · oldest 0.4 s", the error in red.
fn outbox_line(outbox: Option<&OutboxStatus>) -> Line<'static> {
    let mut spans = vec![Span::styled("outbox  ", theme::header())];
    let Some(o) = outbox else {
        spans.push(Span::styled("none in this process", theme::muted()));
        return Line::from(spans);
    };
    spans.push(Span::raw(o.store.clone()));
    spans.push(Span::styled(" · ", theme::muted()));
    match (o.rows, &o.error) {
        (Some(rows), _) => {
            // Waiting entries are normal for a moment; an old one means the relay is stuck.
            let age_s = o.oldest_age_ms.unwrap_or(0) as f64 / 1000.0;
            let style = if age_s >= 10.0 {
                theme::error()
            } else {
                theme::header()
            };
            spans.push(Span::styled(format!("{} waiting", thousands(rows)), style));
            if rows > 0 {
                spans.push(Span::styled(
                    format!(" · oldest {}", duration_secs(age_s)),
                    style,
                ));
            }
        }
        (None, Some(e)) => spans.push(Span::styled(format!("? {e}"), theme::error())),
        (None, None) => spans.push(Span::raw("–")),
    }
    Line::from(spans)
}
