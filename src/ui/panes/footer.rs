//! The bottom line: the command line or filter while typing, otherwise the keys that work
//! in the focused view, with the latest flash message (sent, failed, unknown command). The
//! keys come from the keymap and the view's declarations, never from strings kept here.

use std::borrow::Cow;

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use super::title::fit_spans;
use crate::ops::ReindexProgress;
use crate::ui::app::{App, Level, Mode};
use crate::ui::keymap::{self, short_label, Hint, KeyBinding};
use crate::ui::theme;

/// The keys that work now, from the keymap: the global lead hints, the focused view's own
/// (those active in its current state), then the global tail hints. A global key the view
/// takes over (its `esc` inside a drill-down) is not offered: the view's meaning wins.
fn hints(app: &App) -> Vec<(Cow<'static, str>, &'static str)> {
    let view: Vec<&KeyBinding> = app
        .focus
        .view()
        .keys()
        .iter()
        .filter(|b| (b.active)(app))
        .collect();
    let shadowed = |b: &KeyBinding| view.iter().any(|v| b.codes.iter().any(|c| v.handles(*c)));
    let global = |lead: bool| {
        keymap::global()
            .filter(|b| (b.active)(app) && !shadowed(b))
            .filter_map(move |b| match b.hint {
                Hint::Lead(w) if lead => Some((short_label(b.label), w)),
                Hint::Tail(w) if !lead => Some((short_label(b.label), w)),
                _ => None,
            })
    };
    let own = view
        .iter()
        .filter_map(|b| Some((short_label(b.label), b.hint.word()?)));
    global(true).chain(own).chain(global(false)).collect()
}

/// "reindex: building the new index ████████░░░░ 62% 31,204/s ETA 2s": a reindex's stage
/// and how far it is, `bar` cells wide.
pub fn reindex_bar(p: &ReindexProgress, bar: usize) -> String {
    let filled = ((p.ratio() * bar as f64).round() as usize).min(bar);
    let eta = p
        .progress
        .eta
        .map(|e| format!(" ETA {}s", e.as_secs()))
        .unwrap_or_default();
    format!(
        "reindex: {} {}{} {:>3.0}% {}/s{eta}",
        p.stage.label(),
        "█".repeat(filled),
        "░".repeat(bar - filled),
        p.ratio() * 100.0,
        crate::ui::format::thousands(p.progress.per_sec.round() as u64),
    )
}

fn prompt(frame: &mut Frame, area: Rect, label: &str, field: &crate::ui::text_input::TextField) {
    let lw = label.width() as u16;
    let (shown, col) = field.window(area.width.saturating_sub(lw) as usize);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(label.to_string(), theme::key()),
            Span::raw(shown),
        ])),
        area,
    );
    frame.set_cursor_position((area.x + lw + col as u16, area.y));
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    match &app.mode {
        Mode::Command(field) => return prompt(frame, area, ":", field),
        Mode::Filter(field) => return prompt(frame, area, "/", field),
        _ => {}
    }
    let mut spans: Vec<Span<'static>> = Vec::new();
    if let Some(p) = &app.reindex {
        spans.push(Span::styled(
            format!(" {} ", reindex_bar(p, 20)),
            theme::key(),
        ));
        spans.push(Span::styled("│", theme::muted()));
    }
    if let Some(f) = &app.flash {
        let style = match f.level {
            Level::Info => ratatui::style::Style::new().fg(theme::OK),
            Level::Error => theme::error(),
        };
        spans.push(Span::styled(format!(" {} ", f.text), style));
        spans.push(Span::styled("│", theme::muted()));
    }
    for (k, what) in hints(app) {
        spans.push(Span::styled(format!(" {k}"), theme::key()));
        spans.push(Span::styled(format!(" {what}"), theme::muted()));
    }
    frame.render_widget(
        Paragraph::new(Line::from(fit_spans(spans, area.width as usize))),
        area,
    );
}
