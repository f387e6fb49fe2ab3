//! Analytics: what the analytics worker counted over the last hour (from the snapshot): the
//! post rate now and per minute, edits, deletes and searches, a per-minute sparkline, and
//! four rankings side by side — channels, authors, mentioned users, search terms. Read-only:
//! no keys of its own, no I/O.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{View, ViewId};
use crate::analytics::AnalyticsSummary;
use crate::ui::app::App;
use crate::ui::format::{one_line, sparkline, thousands, truncate};
use crate::ui::panes::{message, pane_block};
use crate::ui::theme;

pub struct Analytics;

impl View for Analytics {
    fn id(&self) -> ViewId {
        ViewId::Analytics
    }
    fn title(&self) -> &'static str {
        "Analytics"
    }
    fn short(&self) -> &'static str {
        "Stats"
    }
    fn names(&self) -> &'static [&'static str] {
        &["analytics", "stats"]
    }
    fn draw(&self, frame: &mut Frame, area: Rect, app: &App) {
        draw(frame, area, app)
    }
    fn row_count(&self, app: &App) -> usize {
        app.snapshot.analytics.as_ref().map_or(0, |s| {
            [
                &s.top_channels,
                &s.top_authors,
                &s.top_mentioned,
                &s.top_terms,
            ]
            .iter()
            .map(|r| r.len())
            .max()
            .unwrap_or(0)
        })
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let right = app.snapshot.analytics.as_ref().map(|s| {
        format!(
            "{} posts · last {} min",
            thousands(s.posted),
            s.window_minutes
        )
    });
    let block = pane_block(app, ViewId::Analytics, &[], right, area.width);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if !app.loaded {
        return message(frame, inner, vec![Line::styled("loading…", theme::muted())]);
    }
    let Some(s) = &app.snapshot.analytics else {
        return message(frame, inner, not_running());
    };
    let [figures, spark, _, rankings] = inner.layout(&Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
    ]));
    frame.render_widget(Paragraph::new(figures_line(s)), figures);
    let label = "posts/min ";
    let width = (spark.width as usize).saturating_sub(label.len());
    let history: Vec<f64> = s.posted_history.iter().map(|n| *n as f64).collect();
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(label, theme::muted()),
            Span::styled(sparkline(&history, width.min(history.len())), theme::key()),
        ])),
        spark,
    );
    let columns: [Rect; 4] = rankings.layout(&Layout::horizontal([Constraint::Ratio(1, 4); 4]));
    for (area, (title, ranked)) in columns.iter().zip([
        ("TOP CHANNELS", &s.top_channels),
        ("TOP AUTHORS", &s.top_authors),
        ("MENTIONED", &s.top_mentioned),
        ("SEARCHED FOR", &s.top_terms),
    ]) {
        frame.render_widget(Paragraph::new(ranking(title, ranked, area.width)), *area);
    }
}

/// "posts 12 last min · 9.4/min over 5 min · 3.1/min over 60 · edits 3 · deletes 2 · searches 7"
fn figures_line(s: &AnalyticsSummary) -> Line<'static> {
    let mut spans = Vec::new();
    let mut figure = |label: &str, value: String| {
        if !spans.is_empty() {
            spans.push(Span::styled(" · ", theme::muted()));
        }
        spans.push(Span::styled(value, theme::header()));
        spans.push(Span::styled(format!(" {label}"), theme::muted()));
    };
    figure("posts last minute", thousands(s.posted_last_minute));
    figure("/min over 5 min", format!("{:.1}", s.posted_per_minute_5m));
    figure("/min over 60", format!("{:.1}", s.posted_per_minute_60m));
    figure("edits", thousands(s.edited));
    figure("deletes", thousands(s.deleted));
    figure("searches", thousands(s.searched));
    Line::from(spans)
}

/// A ranking as lines: its title, then "name   count" per row, names cut to fit. Names come
/// from events and may be hostile: control characters become spaces.
fn ranking(title: &'static str, ranked: &[(String, u64)], width: u16) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled(title, theme::header())];
    if ranked.is_empty() {
        lines.push(Line::styled("–", theme::muted()));
        return lines;
    }
    let width = width.saturating_sub(2) as usize;
    for (name, n) in ranked {
        let count = thousands(*n);
        let room = width.saturating_sub(count.len() + 1);
        let name = truncate(&one_line(name), room);
        let pad = width
            .saturating_sub(unicode_width::UnicodeWidthStr::width(name.as_str()) + count.len());
        lines.push(Line::from(vec![
            Span::raw(name),
            Span::raw(" ".repeat(pad)),
            Span::raw(count),
        ]));
    }
    lines
}

fn not_running() -> Vec<Line<'static>> {
    vec![
        Line::styled(
            "the analytics worker does not run in this process",
            theme::header(),
        ),
        Line::raw(""),
        Line::styled(
            "its counters live in the process that runs it: set [analytics] enabled = true",
            theme::muted(),
        ),
        Line::styled(
            "in config.toml (or EVENTDECK_ANALYTICS_ENABLED=true) and start eventdeck again",
            theme::muted(),
        ),
    ]
}
