//! The title bar: cluster and search backend with their health, the load generator, the
//! clock; below it the workers' states with the last error of any that is not running.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use crate::monitor::snapshot::Health;
use crate::ops::WorkerState;
use crate::ui::app::App;
use crate::ui::format::{clock, thousands, truncate};
use crate::ui::theme;

/// Columns a shortened label keeps at least before the reasons (an error, why it is slow)
/// are shortened too.
const MIN_LABEL: usize = 16;
/// Widths a reason is cut to, tried in order, once the labels are at [`MIN_LABEL`].
const REASON_WIDTHS: [usize; 4] = [usize::MAX, 40, 24, 16];

/// The cluster's and the search server's parts after `before`, shortened as little as lets
/// both states show in `room` columns: first the labels (a host list, an index path), then
/// the reasons. A long broker error used to take the whole bar and hide the search server's
/// state; the whole text is in `status`, the panes' notes and the log.
fn services_spans(
    before: Vec<Span<'static>>,
    services: [(&str, &Health); 2],
    room: usize,
) -> Vec<Span<'static>> {
    let build = |labels: [usize; 2], reason_width: usize| {
        let mut spans = before.clone();
        for (i, ((label, health), label_width)) in services.iter().zip(labels).enumerate() {
            if i > 0 {
                spans.push(sep());
            }
            spans.extend(health_spans(
                &truncate(label, label_width),
                health,
                reason_width,
            ));
        }
        spans
    };
    let width = |spans: &[Span<'static>]| spans.iter().map(|s| s.content.width()).sum::<usize>();
    let lengths = services.map(|(label, _)| label.width());
    let mut last = Vec::new();
    for reason_width in REASON_WIDTHS {
        let full = build(lengths, reason_width);
        if width(&full) <= room {
            return full;
        }
        let fixed = width(&build([0, 0], reason_width));
        let labels = share(room.saturating_sub(fixed), lengths);
        last = build(labels, reason_width);
        if labels.iter().all(|w| *w >= MIN_LABEL) {
            return last;
        }
    }
    last
}

/// Splits `room` columns between two labels of widths `lengths`: half each, and what one
/// does not need goes to the other.
fn share(room: usize, lengths: [usize; 2]) -> [usize; 2] {
    let half = room / 2;
    if lengths[0] <= half {
        [lengths[0], room - lengths[0]]
    } else if lengths[1] <= room - half {
        [room - lengths[1], lengths[1]]
    } else {
        [half, room - half]
    }
}

fn health_spans(label: &str, h: &Health, reason_width: usize) -> Vec<Span<'static>> {
    let (dot, word) = match h {
        Health::Up => ("●", "up".to_string()),
        Health::Unknown => ("○", "connecting".to_string()),
        Health::Slow(why) => ("●", format!("slow: {}", truncate(why, reason_width))),
        Health::Down(e) => ("✗", format!("down: {}", truncate(e, reason_width))),
    };
    vec![
        Span::raw(label.to_string()),
        Span::raw(" "),
        Span::styled(format!("{dot} {word}"), theme::health(h)),
    ]
}

fn sep() -> Span<'static> {
    Span::styled(" │ ", theme::muted())
}

pub fn worker_state_text(state: &WorkerState) -> (&'static str, String) {
    match state {
        WorkerState::Starting => ("○", "starting".into()),
        WorkerState::Running => ("●", "running".into()),
        WorkerState::BackingOff { error, attempt } => {
            ("▲", format!("backing off (attempt {attempt}): {error}"))
        }
        WorkerState::Failed { error } => ("✗", format!("failed: {error}")),
        WorkerState::Paused => ("‖", "paused".into()),
        WorkerState::Stopped => ("■", "stopped".into()),
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let s = &app.snapshot;
    let [top, workers] = area.layout(&Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
    ]));
    let now = clock(app.now_ms, app.utc_offset_secs);
    let mut spans = vec![Span::styled(" eventdeck", theme::key())];
    if app.read_only {
        spans.push(Span::styled(
            " READ-ONLY",
            ratatui::style::Style::new()
                .fg(theme::WARN)
                .add_modifier(ratatui::style::Modifier::BOLD),
        ));
    }
    spans.push(sep());
    let cluster = if s.cluster.is_empty() {
        "cluster"
    } else {
        &s.cluster
    };
    let search = if s.search.is_empty() {
        "search"
    } else {
        &s.search
    };
    // Fit the left part so the clock always shows at the right edge.
    let room = (top.width as usize).saturating_sub(now.len() + 2);
    let spans = services_spans(
        spans,
        [(cluster, &s.cluster_health), (search, &s.search_health)],
        room,
    );
    let left = fit_spans(spans, room);
    let [l, r] = top.layout(&Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Length(now.len() as u16 + 1),
    ]));
    frame.render_widget(Paragraph::new(Line::from(left)), l);
    frame.render_widget(Paragraph::new(Span::styled(now, theme::header())), r);

    let mut w: Vec<Span<'static>> = vec![Span::styled(" workers", theme::muted())];
    if s.workers.is_empty() {
        w.push(Span::styled(
            if app.loaded {
                "  none reported"
            } else {
                "  starting…"
            },
            theme::muted(),
        ));
    }
    // Healthy workers are one word each; a troubled one gets its error, and goes first.
    let mut workers_sorted: Vec<_> = s.workers.iter().collect();
    workers_sorted.sort_by_key(|w| matches!(w.state, WorkerState::Running | WorkerState::Starting));
    for ws in workers_sorted {
        let (dot, text) = worker_state_text(&ws.state);
        let style = theme::worker(&ws.state);
        w.push(Span::raw("  "));
        w.push(Span::styled(format!("{dot} {}", ws.name), style));
        if !matches!(ws.state, WorkerState::Running) {
            w.push(Span::styled(format!(" {text}"), style));
        } else if let (Some(e), true) = (&ws.last_error, ws.errors > 0) {
            w.push(Span::styled(
                format!(" ({} errors, last: {e})", thousands(ws.errors)),
                Style::new().fg(theme::WARN),
            ));
        }
    }
    let load = if app.load_on {
        Span::styled(
            format!("load ON {}/s ", thousands(app.load_rate as u64)),
            theme::health(&Health::Up).add_modifier(ratatui::style::Modifier::BOLD),
        )
    } else {
        Span::styled(
            format!("load off ({}/s) ", thousands(app.load_rate as u64)),
            theme::muted(),
        )
    };
    let load_w = load.content.width() as u16;
    let [wl, wr] = workers.layout(&Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Length(load_w),
    ]));
    frame.render_widget(
        Paragraph::new(Line::from(fit_spans(w, wl.width as usize))),
        wl,
    );
    frame.render_widget(Paragraph::new(load), wr);
}

/// Cuts a line of spans to `width` columns, ending the cut span with "…".
pub fn fit_spans(spans: Vec<Span<'static>>, width: usize) -> Vec<Span<'static>> {
    let mut out = Vec::new();
    let mut used = 0;
    for s in spans {
        let w = s.content.width();
        if used + w <= width {
            used += w;
            out.push(s);
        } else {
            let room = width.saturating_sub(used);
            if room > 0 {
                out.push(Span::styled(truncate(&s.content, room), s.style));
            }
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn labels_share_the_room_and_give_away_what_they_do_not_need() {
        assert_eq!(share(40, [10, 50]), [10, 30]);
        assert_eq!(share(40, [50, 10]), [30, 10]);
        assert_eq!(share(41, [50, 50]), [20, 21]);
        assert_eq!(share(0, [5, 5]), [0, 0]);
    }
}
