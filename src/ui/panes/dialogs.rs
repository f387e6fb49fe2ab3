//! Confirmation dialogs: quit, delete a message, re-drive dead letters (how many, where
//! to), reset a group's offsets (every partition before → after, and the lag it creates).

use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::browse::redrive::RedriveReport;
use crate::browse::reset::ResetRow;
use crate::browse::view::safe_text;
use crate::ops::WorkerId;
use crate::ui::app::Confirm;
use crate::ui::format::{one_line, thousands, thousands_i, truncate};
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
        Confirm::Redrive { filter, report } => (
            " Re-drive dead letters ",
            redrive_lines(filter, report),
            false,
        ),
        Confirm::RedriveOne { dead, to } => (
            " Re-drive dead letter ",
            vec![
                Line::raw(format!(
                    "Re-drive dead letter {}/{} to {}?",
                    dead.partition,
                    dead.offset,
                    safe_text(to.as_bytes(), 80)
                )),
                Line::styled(
                    "Same key (same partition), value and headers; its re-drive count goes up by one.",
                    theme::muted(),
                ),
            ],
            false,
        ),
        Confirm::Reset {
            group,
            to,
            rows,
            own_worker,
        } => (
            " Reset offsets ",
            reset_lines(group, to, rows, *own_worker, area.height.saturating_sub(10)),
            false,
        ),
    };
    let width = match confirm {
        Confirm::Reset { .. } => 76,
        _ => 64,
    };
    let h = body.len() as u16 + 4;
    let popup = area.centered(
        Constraint::Length(width.min(area.width)),
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

fn redrive_lines(filter: &str, report: &RedriveReport) -> Vec<Line<'static>> {
    let which = if filter.trim().is_empty() {
        "every dead letter".to_string()
    } else {
        format!(
            "the dead letters matching “{}”",
            safe_text(filter.as_bytes(), 40)
        )
    };
    let mut lines = vec![
        Line::raw(format!(
            "Re-drive {} of {} read ({which})?",
            thousands(report.total_redriven()),
            thousands(report.read)
        )),
        Line::raw(format!(
            "where: {}",
            safe_text(report.where_to().as_bytes(), 200)
        )),
    ];
    if report.held > 0 {
        lines.push(Line::styled(
            format!(
                "{} held: re-driven {} times already, not sent again",
                report.held,
                crate::browse::redrive::DEFAULT_MAX_REDRIVES
            ),
            Style::new().fg(theme::WARN),
        ));
    }
    lines.push(Line::styled(
        format!(
            "At most {}/s; an interruption resumes where it stopped.",
            crate::browse::redrive::DEFAULT_RATE
        ),
        theme::muted(),
    ));
    lines
}

/// The plan as a table, cut to `max_rows` partitions (the total says how many more).
fn reset_lines(
    group: &str,
    to: &str,
    rows: &[ResetRow],
    own_worker: Option<WorkerId>,
    max_rows: u16,
) -> Vec<Line<'static>> {
    let mut lines = vec![
        Line::raw(format!(
            "Reset {} to {}?",
            safe_text(group.as_bytes(), 40),
            safe_text(to.as_bytes(), 40)
        )),
        Line::from(format!(
            "{:<38} {:>10} {:>10} {:>10}",
            "partition", "before", "after", "lag after"
        ))
        .style(theme::header())
        .left_aligned(),
    ];
    let shown = rows.len().min(max_rows.max(1) as usize);
    for r in &rows[..shown] {
        let place = format!("{}[{}]", truncate(&r.topic, 32), r.partition);
        let before = r.before.map_or("-".to_string(), thousands_i);
        lines.push(
            Line::raw(format!(
                "{place:<38} {before:>10} {:>10} {:>10}",
                thousands_i(r.after),
                thousands(r.lag_after.max(0) as u64)
            ))
            .left_aligned(),
        );
    }
    let lag: i64 = rows.iter().map(|r| r.lag_after.max(0)).sum();
    let more = rows.len() - shown;
    lines.push(Line::styled(
        format!(
            "{} partitions{} · the group will read {} records",
            rows.len(),
            if more > 0 {
                format!(" ({more} not shown)")
            } else {
                String::new()
            },
            thousands(lag as u64)
        ),
        theme::muted(),
    ));
    if let Some(worker) = own_worker {
        lines.push(Line::styled(
            format!("eventdeck's {worker} is stopped first and started again after."),
            Style::new().fg(theme::WARN),
        ));
    }
    lines
}
