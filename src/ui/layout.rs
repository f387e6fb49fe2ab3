//! The whole screen: title bar, the main area, footer and overlays. The main area is the
//! dashboard by default; a view chosen on the `:` line (or the focused one, zoomed) takes
//! all of it instead. On the dashboard from 100×34 up every view is on screen (throughput
//! and lag full width, where long topic names and reasons fit); smaller terminals (down to
//! 80×24) show a tab strip and the focused view.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use super::app::{App, Mode};
use super::panes::{compose, dialogs, footer, help, title, trace};
use super::theme;
use super::views::ViewId;

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
    if let Some(id) = app.view {
        draw_pane(frame, body, app, id);
    } else if app.zoomed {
        draw_pane(frame, body, app, app.focus);
    } else if area.width >= FULL_MIN_WIDTH && area.height >= FULL_MIN_HEIGHT {
        if ON_DASHBOARD.contains(&app.focus) {
            draw_dashboard(frame, body, app);
        } else {
            // A view the dashboard has no place for (write vs read) is shown alone while
            // focused; tab or a number brings the dashboard back.
            draw_pane(frame, body, app, app.focus);
        }
    } else {
        draw_tabbed(frame, body, app);
    }
    match &app.mode {
        Mode::Help { scroll } => help::draw(frame, area, app, *scroll),
        Mode::Compose(form) => compose::draw(frame, area, form),
        Mode::Confirm(c) => dialogs::draw(frame, area, c),
        Mode::Trace { scroll } => {
            if let Some(t) = &app.trace {
                trace::draw(frame, area, t, *scroll)
            }
        }
        _ => {}
    }
    // Last: whatever text a pane drew, no cell sends the terminal a control or a bidi
    // formatting character.
    super::scrub::scrub(frame.buffer_mut());
}

pub fn draw_pane(frame: &mut Frame, area: Rect, app: &App, pane: ViewId) {
    pane.view().draw(frame, area, app);
}

/// Height that shows `rows` table rows (plus borders and header), within bounds.
fn table_height(rows: usize, max: u16) -> u16 {
    (rows as u16 + 3).clamp(5, max.max(5))
}

/// The views the dashboard shows; the others are reached by tab, number or `:` name.
const ON_DASHBOARD: &[ViewId] = &[
    ViewId::Throughput,
    ViewId::Lag,
    ViewId::Assignments,
    ViewId::Notifications,
    ViewId::Search,
];

/// The dashboard's arrangement of its five views: the two tables sized to their rows, then
/// assignments beside notifications, then search.
fn draw_dashboard(frame: &mut Frame, area: Rect, app: &App) {
    let cap = area.height / 4 + 2;
    let t_rows = ViewId::Throughput.view().row_count(app);
    let l_rows = ViewId::Lag.view().row_count(app);
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
    for (id, area) in [
        (ViewId::Throughput, t),
        (ViewId::Lag, l),
        (ViewId::Assignments, a),
        (ViewId::Notifications, n),
        (ViewId::Search, s),
    ] {
        draw_pane(frame, area, app, id);
    }
}

fn draw_tabbed(frame: &mut Frame, area: Rect, app: &App) {
    let [tabs, pane] = area.layout(&Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
    ]));
    let labels: Vec<String> = ViewId::ALL
        .iter()
        .map(|p| format!(" {} {} ", p.index() + 1, p.short()))
        .collect();
    // A space between tabs when they all fit with it; at 80 columns they fit only without.
    let needed: usize = labels.iter().map(|l| l.width() + 1).sum();
    let gap = needed <= area.width as usize;
    let mut spans = Vec::new();
    for (&p, label) in ViewId::ALL.iter().zip(labels) {
        let style = if p == app.focus {
            theme::selected().fg(theme::ACCENT)
        } else {
            theme::muted()
        };
        if gap {
            spans.push(Span::raw(" "));
        }
        spans.push(Span::styled(label, style));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), tabs);
    draw_pane(frame, pane, app, app.focus);
}
