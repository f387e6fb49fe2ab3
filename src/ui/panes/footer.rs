//! The bottom line: the command line or filter while typing, otherwise the keys that work
//! in the focused pane, with the latest flash message (sent, failed, unknown command).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use super::title::fit_spans;
use crate::ui::app::{App, Level, Mode, Pane};
use crate::ui::theme;

fn hints(app: &App) -> Vec<(&'static str, &'static str)> {
    let mut h = vec![("?", "help"), (":", "command")];
    match app.focus {
        Pane::Search => h.extend([
            ("/", "search"),
            ("c/a", "channel/author"),
            ("n/p", "page"),
            ("e", "edit"),
            ("d", "delete"),
        ]),
        Pane::Lag if app.lag_drill.is_some() => h.push(("esc", "back")),
        Pane::Throughput if app.topic_drill.is_some() => h.push(("esc", "back")),
        Pane::Lag | Pane::Throughput => h.extend([("/", "filter"), ("enter", "partitions")]),
        _ => h.push(("/", "filter")),
    }
    h.extend([
        ("s", "send"),
        ("L", "load"),
        ("+/-", "rate"),
        ("tab", "pane"),
        ("z", "zoom"),
        ("q", "quit"),
    ]);
    h
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
