//! The compose form overlay: channel, author, text (wide characters placed by display
//! width), the mentions found so far, and why a submit was refused.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};
use ratatui::Frame;

use crate::ui::compose::{ComposeForm, ComposeKind, Field};
use crate::ui::theme;

const LABEL_W: u16 = 10;

pub fn draw(frame: &mut Frame, area: Rect, form: &ComposeForm) {
    let popup = area.centered(
        Constraint::Length(76.min(area.width)),
        Constraint::Length(10.min(area.height)),
    );
    frame.render_widget(Clear, popup);
    let title = match &form.kind {
        ComposeKind::New => " New message (message.created) ".to_string(),
        ComposeKind::Edit { message_id, .. } => format!(" Edit {message_id} (message.updated) "),
    };
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(theme::border(true, false))
        .title(Line::styled(title, theme::header()))
        .title_bottom(Line::from(vec![
            Span::styled(" tab", theme::key()),
            Span::styled(" field ", theme::muted()),
            Span::styled(" enter", theme::key()),
            Span::styled(" send ", theme::muted()),
            Span::styled(" esc", theme::key()),
            Span::styled(" cancel ", theme::muted()),
        ]));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let field_w = inner.width.saturating_sub(LABEL_W + 1) as usize;
    let mut y = inner.y;
    let editable_channel = matches!(form.kind, ComposeKind::New);
    let rows = [
        (Field::Channel, "Channel", &form.channel, editable_channel),
        (
            Field::Author,
            if editable_channel { "Author" } else { "Editor" },
            &form.author,
            true,
        ),
        (Field::Text, "Text", &form.text, true),
    ];
    for (field, label, value, editable) in rows {
        if y >= inner.bottom() {
            return;
        }
        let focused = form.focus == field;
        let (shown, col) = value.window(field_w);
        let label_style = if focused {
            theme::key()
        } else {
            theme::muted()
        };
        let value_style = if editable {
            ratatui::style::Style::new()
        } else {
            theme::muted()
        };
        let marker = if focused { "›" } else { " " };
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(
                    format!("{marker}{label:<w$}", w = LABEL_W as usize - 1),
                    label_style,
                ),
                Span::raw(" "),
                Span::styled(
                    shown,
                    value_style.add_modifier(if focused {
                        ratatui::style::Modifier::UNDERLINED
                    } else {
                        ratatui::style::Modifier::empty()
                    }),
                ),
            ])),
            Rect {
                y,
                height: 1,
                ..inner
            },
        );
        if focused {
            frame.set_cursor_position((inner.x + LABEL_W + 1 + col as u16, y));
        }
        y += 2;
    }
    let mentions = form.mentions();
    let mut info = vec![Span::styled(
        format!("{:<w$} ", " Mentions", w = LABEL_W as usize),
        theme::muted(),
    )];
    if mentions.is_empty() {
        info.push(Span::styled(
            "none (type @user_002 to notify someone)",
            theme::muted(),
        ));
    } else {
        info.push(Span::styled(
            mentions
                .iter()
                .map(|m| format!("@{m}"))
                .collect::<Vec<_>>()
                .join(" "),
            ratatui::style::Style::new().fg(theme::ACCENT),
        ));
    }
    if y < inner.bottom() {
        frame.render_widget(
            Paragraph::new(Line::from(info)),
            Rect {
                y,
                height: 1,
                ..inner
            },
        );
    }
    if let (Some(e), true) = (&form.error, y + 1 < inner.bottom()) {
        frame.render_widget(
            Paragraph::new(Line::styled(format!(" cannot send: {e}"), theme::error())),
            Rect {
                y: y + 1,
                height: 1,
                ..inner
            },
        );
    }
}
