//! Small confirmation dialogs: quit, delete a message.

use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::ui::app::Confirm;
use crate::ui::format::{one_line, truncate};
use crate::ui::theme;

pub fn draw(frame: &mut Frame, area: Rect, confirm: &Confirm) {
    let (title, body, default_yes) = match confirm {
        Confirm::Quit => (
            " Quit ",
            vec![
                Line::raw("Quit eventdeck?"),
                Line::styled(
                    "The workers stop after flushing their pending work.",
                    theme::muted(),
                ),
            ],
            true,
        ),
        Confirm::Delete {
            message_id,
            channel_id,
            preview,
        } => (
            " Delete message ",
            vec![
                Line::raw(format!("Delete {message_id} in #{channel_id}?")),
                Line::styled(
                    format!("“{}”", truncate(&one_line(preview), 50)),
                    theme::muted(),
                ),
                Line::styled("Publishes message.deleted.", theme::muted()),
            ],
            false,
        ),
    };
    let h = body.len() as u16 + 4;
    let popup = area.centered(
        Constraint::Length(60.min(area.width)),
        Constraint::Length(h.min(area.height)),
    );
    frame.render_widget(Clear, popup);
    let mut lines = body;
    lines.push(Line::default());
    lines.push(Line::from(vec![
        Span::styled("y", theme::key()),
        Span::raw(if default_yes {
            "/enter yes   "
        } else {
            " yes   "
        }),
        Span::styled("n", theme::key()),
        Span::raw(if default_yes {
            "/esc no"
        } else {
            "/esc/enter no"
        }),
    ]));
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(theme::error())
        .title(Line::styled(title, theme::header()));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true }),
        popup,
    );
}
