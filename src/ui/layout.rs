//! The whole screen: title bar, panes, footer and overlays. From 100×34 up every pane is
//! on screen (throughput and lag full width, where long topic names and reasons fit);
//! smaller terminals (down to 80×24) show a tab strip and the focused pane.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::app::{App, Mode, Pane};
use super::panes::{
    assignments, compose, dialogs, footer, help, lag, notifications, search, throughput, title,
};
use super::{model, theme};

pub const FULL_MIN_WIDTH: u16 = 100;
pub const FULL_MIN_HEIGHT: u16 = 34;

pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let [top, body, bottom] = area.layout(&Layout::vertical([
        Constraint::Length(2),
        Constraint::Fill(1),
        Constraint::Length(1),
    ]));
    title::draw(frame, top, app);
    footer::draw(frame, bottom, app);
    if app.zoomed {
        draw_pane(frame, body, app, app.focus);
    } else if area.width >= FULL_MIN_WIDTH && area.height >= FULL_MIN_HEIGHT {
        draw_dashboard(frame, body, app);
    } else {
        draw_tabbed(frame, body, app);
    }
    match &app.mode {
        Mode::Help { scroll } => help::draw(frame, area, app, *scroll),
        Mode::Compose(form) => compose::draw(frame, area, form),
        Mode::Confirm(c) => dialogs::draw(frame, area, c),
        _ => {}
    }
}

pub fn draw_pane(frame: &mut Frame, area: Rect, app: &App, pane: Pane) {
    match pane {
        Pane::Throughput => throughput::draw(frame, area, app),
        Pane::Lag => lag::draw(frame, area, app),
        Pane::Assignments => assignments::draw(frame, area, app),
        Pane::Notifications => notifications::draw(frame, area, app),
        Pane::Search => search::draw(frame, area, app),
    }
}

/// Height that shows `rows` table rows (plus borders and header), within bounds.
fn table_height(rows: usize, max: u16) -> u16 {
    (rows as u16 + 3).clamp(5, max.max(5))
}

fn draw_dashboard(frame: &mut Frame, area: Rect, app: &App) {
    let cap = area.height / 4 + 2;
    let t_rows = match model::topic_partitions(app) {
        Some((_, p)) => p.len(),
        None => model::topics(app).len(),
    };
    let l_rows = match model::lag_partitions(app) {
        Some((_, p)) => p.len(),
        None => model::lag_rows(app).len(),
    };
    let [t, l, mid, s] = area.layout(&Layout::vertical([
        Constraint::Length(table_height(t_rows, cap)),
        Constraint::Length(table_height(l_rows, cap)),
        Constraint::Fill(1),
        Constraint::Fill(1),
    ]));
    let [a, n] = mid.layout(&Layout::horizontal([
        Constraint::Percentage(45),
        Constraint::Percentage(55),
    ]));
    throughput::draw(frame, t, app);
    lag::draw(frame, l, app);
    assignments::draw(frame, a, app);
    notifications::draw(frame, n, app);
    search::draw(frame, s, app);
}

fn draw_tabbed(frame: &mut Frame, area: Rect, app: &App) {
    let [tabs, pane] = area.layout(&Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
    ]));
    let mut spans = Vec::new();
    for p in Pane::ALL {
        let style = if p == app.focus {
            theme::selected().fg(theme::ACCENT)
        } else {
            theme::muted()
        };
        spans.push(Span::raw(" "));
        spans.push(Span::styled(
            format!(" {} {} ", p.index() + 1, p.short()),
            style,
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), tabs);
    draw_pane(frame, pane, app, app.focus);
}
