//! The `?` overlay: every key, grouped as k9s does, scrollable on small terminals.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};
use ratatui::Frame;

use crate::ui::app::App;
use crate::ui::theme;

pub const KEYS: &[(&str, &[(&str, &str)])] = &[
    (
        "General",
        &[
            ("?", "this help (esc closes)"),
            (":", "command: :topics :groups :assignments :notifications"),
            ("", ":search WORDS  :send TEXT  :load on|off  :rate N  :q"),
            ("q", "quit (asks first)   ctrl-c quits at once"),
            ("s", "compose and send a test message"),
            ("L", "load generator on/off"),
            ("+ / -", "load generator rate up/down"),
        ],
    ),
    (
        "Navigation",
        &[
            ("tab / shift-tab", "next / previous pane"),
            (
                "1 – 5",
                "throughput, lag, assignments, notifications, search",
            ),
            ("j k / ↓ ↑", "move the selection"),
            ("g G / home end", "first / last row   pgup pgdn: by 10"),
            ("enter", "drill in: a topic's or a group's partitions"),
            ("esc", "back: leave drill-down, clear filter, unzoom"),
            ("z", "zoom the focused pane"),
            ("/", "filter the focused list (esc clears)"),
        ],
    ),
    (
        "Search pane",
        &[
            ("/", "search words (match query)"),
            ("c / a", "filter by channel / author (empty: any)"),
            ("n / p", "next / previous page"),
            ("o", "order: relevance / newest"),
            ("r", "run the search again"),
            ("e", "edit the selected message (message.updated)"),
            ("d", "delete the selected message (message.deleted)"),
        ],
    ),
    (
        "Compose form",
        &[
            ("tab / shift-tab", "next / previous field"),
            ("enter", "send (on the text field)"),
            ("ctrl-u ctrl-w ctrl-k", "clear line / word / to end"),
            ("esc", "cancel"),
        ],
    ),
];

pub fn lines(app: &App) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for (section, keys) in KEYS {
        out.push(Line::styled(
            section.to_string(),
            theme::header().fg(theme::ACCENT),
        ));
        for (k, what) in *keys {
            out.push(Line::from(vec![
                Span::styled(format!("  {k:>20}  "), theme::key()),
                Span::raw(what.to_string()),
            ]));
        }
        out.push(Line::default());
    }
    if let Some(p) = &app.log_path {
        out.push(Line::styled(format!("logs: {p}"), theme::muted()));
    }
    out
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, scroll: u16) {
    let text = lines(app);
    let h = (text.len() as u16 + 2).min(area.height);
    let popup = area.centered(
        Constraint::Length(84.min(area.width)),
        Constraint::Length(h),
    );
    frame.render_widget(Clear, popup);
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(theme::border(true, false))
        .title(Line::styled(" Keys ", theme::header()))
        .title_bottom(Line::styled(" esc close · j/k scroll ", theme::muted()));
    frame.render_widget(Paragraph::new(text).block(block).scroll((scroll, 0)), popup);
}
