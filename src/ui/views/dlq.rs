//! The dead letters (`:dlq`): every record of the dead-letter topic with when, where it is,
//! where it came from (source topic, partition, offset), how often it was re-driven, and why
//! it failed. `r` re-drives the selected one, `R` every one matching the `/` filter (all
//! without one), each after a confirmation that says how many go where; `enter` shows one
//! whole, `f` follows its message. The records come from the live tail of the dead-letter
//! topic from its beginning (`browse::tail`: no group joined, nothing committed).

use crossterm::event::KeyCode::{self, Char};
use crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph};
use ratatui::Frame;

use super::tail::{close_detail, draw_record, selected_message, toggle_detail};
use super::{View, ViewId};
use crate::browse::jobs::Job;
use crate::browse::redrive::{decide, Decision, DEFAULT_MAX_REDRIVES, HEADER_REDRIVES};
use crate::browse::tail::TailFrom;
use crate::browse::view::{dead_letter_source, safe_text, TailRow};
use crate::ui::app::{Action, App, Confirm};
use crate::ui::format::{thousands, truncate};
use crate::ui::keymap::{self, Hint, KeyBinding};
use crate::ui::panes::{message, pane_block, visible_items};
use crate::ui::tail::TailStatus;
use crate::ui::theme;
use crate::workers::batch::Record;

pub struct Dlq;

static KEYS: &[KeyBinding] = &[
    keymap::FILTER,
    KeyBinding::new(
        &[KeyCode::Enter],
        "enter",
        "show the selected dead letter whole (headers, value)",
        toggle_detail,
    )
    .hint(Hint::Lead("record"))
    .when(has_rows),
    KeyBinding::new(&[KeyCode::Esc], "esc", "close the record", close_detail).when(detail_open),
    KeyBinding::new(
        &[Char('r')],
        "r",
        "re-drive the selected dead letter to its source topic (asks)",
        redrive_selected,
    )
    .hint(Hint::Lead("re-drive"))
    .when(writable_with_rows),
    KeyBinding::new(
        &[Char('R')],
        "R",
        "re-drive every dead letter matching the filter (counts, then asks)",
        redrive_matching,
    )
    .hint(Hint::Lead("re-drive all"))
    .when(writable_with_rows),
    KeyBinding::new(
        &[Char('f')],
        "f",
        "follow the selected dead letter's message through the pipeline",
        follow,
    )
    .hint(Hint::Lead("follow"))
    .when(selected_has_message),
    KeyBinding::new(&[Char('l')], "l", "read the dead letters again", reload),
];

/// The tail holds the dead-letter topic (another `:tail` replaces it).
fn showing_dlq(app: &App) -> bool {
    app.tail.topic.as_deref() == Some(app.dlq_topic.as_str())
}

fn has_rows(app: &App) -> bool {
    showing_dlq(app) && !app.tail.buffer.is_empty()
}

fn writable_with_rows(app: &App) -> bool {
    keymap::writable(app) && has_rows(app)
}

fn detail_open(app: &App) -> bool {
    showing_dlq(app) && app.tail.detail.is_some()
}

fn selected_has_message(app: &App) -> bool {
    showing_dlq(app) && selected_message(app, ViewId::Dlq).is_some()
}

fn selected(app: &App) -> Option<Record> {
    let rows = rows(app);
    let i = app
        .list(ViewId::Dlq)
        .selected
        .min(rows.len().checked_sub(1)?);
    Some(rows[i].record.clone())
}

/// Decided here, as the re-drive will: a held record or one without a source is said at
/// once instead of asked about.
fn redrive_selected(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    let dead = selected(app)?;
    match decide(&dead, "", DEFAULT_MAX_REDRIVES) {
        Decision::Redrive { topic, .. } => {
            app.mode = crate::ui::app::Mode::Confirm(Confirm::RedriveOne {
                dead: Box::new(dead),
                to: topic,
            });
        }
        Decision::Hold { redrives } => app.flash_error(format!(
            "dead letter {}/{} is held: re-driven {redrives} times already; fix the cause \
             (eventdeck dlq redrive --max-redrives raises the limit)",
            dead.partition, dead.offset
        )),
        _ => app.flash_error(format!(
            "dead letter {}/{} names no source topic: nowhere to send it",
            dead.partition, dead.offset
        )),
    }
    Some(Vec::new())
}

fn redrive_matching(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    let filter = app.filter(ViewId::Dlq).to_string();
    app.flash_info("counting the dead letters to re-drive…");
    Some(vec![Action::Job(Job::Redrive {
        filter,
        dry_run: true,
    })])
}

fn follow(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    let id = selected_message(app, ViewId::Dlq)?;
    Some(vec![app.trace_action(&id)])
}

fn reload(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    let topic = app.dlq_topic.clone();
    Some(vec![app.tail_action(&topic, TailFrom::Beginning)])
}

pub fn rows(app: &App) -> Vec<&TailRow> {
    if !showing_dlq(app) {
        return Vec::new();
    }
    app.tail.buffer.visible(app.filter(ViewId::Dlq)).collect()
}

impl View for Dlq {
    fn id(&self) -> ViewId {
        ViewId::Dlq
    }
    fn title(&self) -> &'static str {
        "Dead letters"
    }
    fn short(&self) -> &'static str {
        "DLQ"
    }
    fn names(&self) -> &'static [&'static str] {
        &["dlq", "deadletters"]
    }
    fn keys(&self) -> &'static [KeyBinding] {
        KEYS
    }
    fn draw(&self, frame: &mut Frame, area: Rect, app: &App) {
        draw(frame, area, app)
    }
    fn row_count(&self, app: &App) -> usize {
        rows(app).len()
    }
    /// Reads the dead-letter topic from its beginning, unless the tail already does.
    fn open(&self, app: &mut App, _args: &str) -> Vec<Action> {
        if showing_dlq(app) && !matches!(app.tail.status, TailStatus::Failed(_)) {
            return Vec::new();
        }
        let topic = app.dlq_topic.clone();
        let action = app.tail_action(&topic, TailFrom::Beginning);
        *app.list_mut(ViewId::Dlq) = Default::default();
        vec![action]
    }
}

fn row_line(row: &TailRow, width: usize, utc_offset_secs: i32) -> Line<'static> {
    let r = &row.record;
    let when = r
        .timestamp
        .map(|ms| crate::ui::format::clock(ms, utc_offset_secs))
        .unwrap_or_else(|| "--:--:--".into());
    let redrives = r
        .last_header(HEADER_REDRIVES)
        .map(|n| format!("×{}", safe_text(n, 6)))
        .unwrap_or_default();
    let head = vec![
        Span::styled(format!("{when} "), theme::muted()),
        Span::styled(
            format!("{:<9} ", format!("{}/{}", r.partition, r.offset)),
            Style::new().fg(theme::ACCENT),
        ),
        Span::styled(
            format!("{:<34} ", truncate(&dead_letter_source(r), 34)),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::styled(format!("{redrives:<3} "), Style::new().fg(theme::WARN)),
    ];
    let used: usize = head.iter().map(|s| s.width()).sum();
    let mut spans = head;
    // The summary starts with the reason (see `browse::view`).
    spans.push(Span::raw(truncate(
        &row.summary,
        width.saturating_sub(used),
    )));
    Line::from(spans)
}

fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let topic = safe_text(app.dlq_topic.as_bytes(), 80);
    let right = showing_dlq(app).then(|| {
        format!(
            "{} dead letters{}",
            thousands(app.tail.buffer.received),
            if app.tail.buffer.dropped > 0 {
                format!(
                    " · newest {} kept",
                    thousands(app.tail.buffer.capacity() as u64)
                )
            } else {
                String::new()
            }
        )
    });
    let block = pane_block(app, ViewId::Dlq, &[topic.as_str()], right, area.width);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if !showing_dlq(app) {
        return message(
            frame,
            inner,
            vec![Line::styled(
                "the tail shows another topic · l reads the dead letters again",
                theme::muted(),
            )],
        );
    }
    let rows = rows(app);
    let (list_area, detail_area) = match app.tail.detail {
        Some(_) if inner.height > 8 && !rows.is_empty() => {
            let [l, d] = inner.layout(&Layout::vertical([
                Constraint::Percentage(35),
                Constraint::Fill(1),
            ]));
            (l, Some(d))
        }
        _ => (inner, None),
    };
    let list_area = match &app.tail.status {
        TailStatus::Failed(e) => {
            let [s, rest] = list_area.layout(&Layout::vertical([
                Constraint::Length(1),
                Constraint::Fill(1),
            ]));
            frame.render_widget(
                Paragraph::new(Line::styled(
                    format!("cannot read {topic}: {}", safe_text(e.as_bytes(), 300)),
                    Style::new().fg(theme::BAD),
                )),
                s,
            );
            rest
        }
        _ => list_area,
    };
    if rows.is_empty() {
        let text = if !app.filter(ViewId::Dlq).is_empty() {
            "no dead letter matches the filter"
        } else if matches!(app.tail.status, TailStatus::Starting) {
            "reading the dead letters…"
        } else {
            "no dead letters: every event so far was valid"
        };
        return message(frame, list_area, vec![Line::styled(text, theme::muted())]);
    }
    let focused = app.focus == ViewId::Dlq;
    let width = list_area.width.saturating_sub(2) as usize;
    let selected = app.list(ViewId::Dlq).selected.min(rows.len() - 1);
    let (shown, within) = visible_items(rows.len(), focused.then_some(selected), list_area);
    let items: Vec<ListItem> = rows[shown]
        .iter()
        .map(|r| ListItem::new(row_line(r, width, app.utc_offset_secs)))
        .collect();
    let list = List::new(items)
        .highlight_style(theme::selected())
        .highlight_symbol("▌ ");
    let mut state = ListState::default().with_selected(within);
    frame.render_stateful_widget(list, list_area, &mut state);
    if let (Some(area), Some(scroll)) = (detail_area, app.tail.detail) {
        draw_record(
            frame,
            area,
            &rows[selected].record,
            scroll,
            " dead letter · esc close ",
        );
    }
}
