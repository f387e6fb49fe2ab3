//! The trace overlay (`f` on a record or a search hit): one message's path — its events and
//! whether the indexer has passed them, the indexed document, dead letters, notifications —
//! in the words of `eventdeck trace`, so the console and the command line tell the same.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};
use ratatui::Frame;

use crate::browse::view::safe_text;
use crate::ui::app::TraceView;
use crate::ui::theme;

pub fn draw(frame: &mut Frame, area: Rect, trace: &TraceView, scroll: u16) {
    let lines: Vec<Line> = match &trace.result {
        None => vec![Line::styled(
            "reading the message topics, the dead letters, the notifications and the index…",
            theme::muted(),
        )],
        Some(Err(e)) => vec![Line::styled(
            format!("cannot trace: {}", safe_text(e.as_bytes(), 400)),
            theme::error(),
        )],
        // `render` already passed every text through `safe_text`.
        Some(Ok(t)) => t.render().lines().map(styled).collect(),
    };
    let h = (lines.len() as u16 + 2).min(area.height);
    let popup = area.centered(
        Constraint::Length(110.min(area.width)),
        Constraint::Length(h),
    );
    frame.render_widget(Clear, popup);
    let title = format!(" Trace {} ", safe_text(trace.message_id.as_bytes(), 60));
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(theme::border(true, false))
        .title(Line::styled(title, theme::header()))
        .title_bottom(Line::styled(" ↑↓ scroll · esc close ", theme::muted()));
    frame.render_widget(
        Paragraph::new(lines).block(block).scroll((scroll, 0)),
        popup,
    );
}

/// Section heads bold; what needs a look (not yet indexed, dead letters) in colour.
fn styled(line: &str) -> Line<'static> {
    let text = line.to_string();
    if !line.starts_with(' ') && line.ends_with(':') || line.ends_with("):") {
        let bad = line.starts_with("dead letters (") && !line.starts_with("dead letters (0)");
        return Line::styled(text, if bad { theme::error() } else { theme::header() });
    }
    if line.contains("NOT YET") || line.contains("cannot read the index") {
        return Line::styled(text, Style::new().fg(theme::WARN));
    }
    Line::raw(text)
}
