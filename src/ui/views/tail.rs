//! The live tail of one topic (`:tail TOPIC [beginning|15m]`): records as they arrive —
//! time, partition/offset, key, event type and a one-line summary — newest at the bottom and
//! followed while the newest row is selected. `space` pauses (arrivals wait, within the
//! bound), `/` filters by key, event type or text in the value, `enter` shows the selected
//! record whole (pretty JSON, text or hex; headers), `b`/`e` start again from the beginning
//! or the end, `x` stops. Every byte shown went through `browse::view::safe_text`.

use crossterm::event::KeyCode::{self, Char};
use crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph};
use ratatui::Frame;

use super::{View, ViewId};
use crate::browse::tail::TailFrom;
use crate::browse::view::{detail_lines, safe_text, TailRow};
use crate::ui::app::{Action, App};
use crate::ui::format::{thousands, truncate};
use crate::ui::keymap::{self, Hint, KeyBinding};
use crate::ui::panes::{message, pane_block, visible_items};
use crate::ui::tail::{parse_args, TailStatus};
use crate::ui::theme;

pub struct Tail;

static KEYS: &[KeyBinding] = &[
    KeyBinding::new(&[Char(' ')], "space", "pause / resume the tail", pause)
        .hint(Hint::Lead("pause"))
        .when(has_topic),
    keymap::FILTER,
    KeyBinding::new(
        &[KeyCode::Enter],
        "enter",
        "show the selected record whole (headers, pretty value)",
        toggle_detail,
    )
    .hint(Hint::Lead("record"))
    .when(has_rows),
    KeyBinding::new(&[KeyCode::Esc], "esc", "close the record", close_detail).when(detail_open),
    KeyBinding::new(
        &[Char('f')],
        "f",
        "follow the selected record's message through the pipeline",
        follow,
    )
    .hint(Hint::Lead("follow"))
    .when(selected_has_message),
    KeyBinding::new(
        &[Char(']'), Char('[')],
        "] / [",
        "scroll the record down / up",
        scroll_detail,
    )
    .when(detail_open),
    KeyBinding::new(
        &[Char('b'), Char('e')],
        "b / e",
        "tail again from the beginning / the end",
        restart,
    )
    .hint(Hint::Lead("from start/end"))
    .when(has_topic),
    KeyBinding::new(&[Char('x')], "x", "stop tailing", stop).when(has_topic),
];

fn has_topic(app: &App) -> bool {
    app.tail.topic.is_some()
}

fn has_rows(app: &App) -> bool {
    !app.tail.buffer.is_empty()
}

fn detail_open(app: &App) -> bool {
    app.tail.detail.is_some()
}

fn selected_has_message(app: &App) -> bool {
    selected_message(app, ViewId::Tail).is_some()
}

/// The message id of the selected row of a view over the tail (`:tail`, `:dlq`).
pub fn selected_message(app: &App, view: ViewId) -> Option<String> {
    let rows: Vec<&TailRow> = app.tail.buffer.visible(app.filter(view)).collect();
    let selected = app.list(view).selected.min(rows.len().checked_sub(1)?);
    rows[selected].message_id.clone()
}

fn follow(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    let id = selected_message(app, ViewId::Tail)?;
    Some(vec![app.trace_action(&id)])
}

fn pause(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    app.tail.buffer.toggle_pause();
    Some(Vec::new())
}

/// `enter` in the views over the tail (`:tail`, `:dlq`): the selected record whole, or back.
pub(super) fn toggle_detail(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    app.tail.detail = match app.tail.detail {
        Some(_) => None,
        None => Some(0),
    };
    Some(Vec::new())
}

pub(super) fn close_detail(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    app.tail.detail = None;
    Some(Vec::new())
}

fn scroll_detail(app: &mut App, key: KeyEvent) -> Option<Vec<Action>> {
    let at = app.tail.detail?;
    app.tail.detail = Some(if key.code == Char(']') {
        at.saturating_add(5)
    } else {
        at.saturating_sub(5)
    });
    Some(Vec::new())
}

fn restart(app: &mut App, key: KeyEvent) -> Option<Vec<Action>> {
    let topic = app.tail.topic.clone()?;
    let from = if key.code == Char('b') {
        TailFrom::Beginning
    } else {
        TailFrom::End
    };
    Some(vec![app.tail_action(&topic, from)])
}

fn stop(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    app.tail.status = TailStatus::Stopped;
    Some(vec![Action::StopTail])
}

/// The rows shown: the buffer's, filtered.
pub fn rows(app: &App) -> Vec<&TailRow> {
    app.tail.buffer.visible(app.filter(ViewId::Tail)).collect()
}

impl View for Tail {
    fn id(&self) -> ViewId {
        ViewId::Tail
    }
    fn title(&self) -> &'static str {
        "Tail"
    }
    fn short(&self) -> &'static str {
        "Tail"
    }
    fn names(&self) -> &'static [&'static str] {
        &["tail", "t"]
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
    fn open(&self, app: &mut App, args: &str) -> Vec<Action> {
        match parse_args(args, app.now_ms) {
            Ok(Some((topic, from))) => vec![app.tail_action(&topic, from)],
            Ok(None) => Vec::new(),
            Err(e) => {
                app.flash_error(format!(":tail {e}"));
                Vec::new()
            }
        }
    }
}

/// "3 partitions · 1,234 received · 1,000 kept · ‖ paused, 12 waiting".
fn status_line(app: &App) -> String {
    let t = &app.tail;
    let mut parts = Vec::new();
    // First: on a narrow pane the end of the line is cut.
    if t.buffer.paused() {
        parts.push(format!("‖ PAUSED, {} waiting", t.buffer.waiting()));
    }
    parts.push(t.from_label());
    if let TailStatus::Reading { partitions } = t.status {
        parts.push(format!("{partitions} partitions"));
    }
    parts.push(format!("{} received", thousands(t.buffer.received)));
    if t.buffer.dropped > 0 {
        parts.push(format!(
            "newest {} kept",
            thousands(t.buffer.capacity() as u64)
        ));
    }
    parts.join(" · ")
}

/// `s` followed by spaces up to `width` display columns.
fn pad(s: &str, width: usize) -> String {
    use unicode_width::UnicodeWidthStr;
    format!("{s}{}", " ".repeat(width.saturating_sub(s.width())))
}

fn row_line(row: &TailRow, width: usize, utc_offset_secs: i32) -> Line<'static> {
    let r = &row.record;
    let when = r
        .timestamp
        .map(|ms| crate::ui::format::clock(ms, utc_offset_secs))
        .unwrap_or_else(|| "--:--:--".into());
    let place = format!("{}/{}", r.partition, r.offset);
    let kind = row.event_type.as_deref().unwrap_or("-");
    let head = vec![
        Span::styled(format!("{when} "), theme::muted()),
        Span::styled(format!("{place:<9} "), Style::new().fg(theme::ACCENT)),
        Span::styled(
            format!("{} ", pad(&truncate(&row.key, 12), 12)),
            theme::muted(),
        ),
        Span::styled(
            format!("{:<17} ", truncate(kind, 17)),
            Style::new().add_modifier(Modifier::BOLD),
        ),
    ];
    let used: usize = head.iter().map(|s| s.width()).sum();
    let mut spans = head;
    spans.push(Span::raw(truncate(
        &row.summary,
        width.saturating_sub(used),
    )));
    Line::from(spans)
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let topic = app
        .tail
        .topic
        .as_deref()
        .map(|t| safe_text(t.as_bytes(), 120));
    let crumbs: Vec<&str> = topic.iter().map(String::as_str).collect();
    let right = topic.is_some().then(|| status_line(app));
    let block = pane_block(app, ViewId::Tail, &crumbs, right, area.width);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(topic) = topic else {
        return message(
            frame,
            inner,
            vec![
                Line::styled("no topic tailed", theme::muted()),
                Line::styled(
                    ":tail TOPIC  ·  :tail TOPIC beginning  ·  :tail TOPIC 15m",
                    theme::muted(),
                ),
            ],
        );
    };
    let rows = rows(app);
    let status = match &app.tail.status {
        TailStatus::Failed(e) => Some(Line::styled(
            format!("cannot tail {topic}: {}", safe_text(e.as_bytes(), 300)),
            Style::new().fg(theme::BAD),
        )),
        TailStatus::Stopped => Some(Line::styled(
            "stopped · b or e to tail again",
            theme::muted(),
        )),
        _ => app.tail.error.as_ref().map(|e| {
            Line::styled(
                format!("retrying: {}", safe_text(e.as_bytes(), 300)),
                Style::new().fg(theme::WARN),
            )
        }),
    };
    let (list_area, detail_area) = match app.tail.detail {
        Some(_) if inner.height > 8 => {
            let [l, d] = inner.layout(&Layout::vertical([
                Constraint::Percentage(35),
                Constraint::Fill(1),
            ]));
            (l, Some(d))
        }
        _ => (inner, None),
    };
    let list_area = match status {
        Some(line) => {
            let [s, rest] = list_area.layout(&Layout::vertical([
                Constraint::Length(1),
                Constraint::Fill(1),
            ]));
            frame.render_widget(Paragraph::new(line), s);
            rest
        }
        None => list_area,
    };
    if rows.is_empty() {
        let text = if app.filter(ViewId::Tail).is_empty() {
            "waiting for records…"
        } else {
            "no record matches the filter"
        };
        return message(frame, list_area, vec![Line::styled(text, theme::muted())]);
    }
    let focused = app.focus == ViewId::Tail;
    let width = list_area.width.saturating_sub(2) as usize;
    let selected = app.list(ViewId::Tail).selected.min(rows.len() - 1);
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
            " record · ] [ scroll · esc close ",
        );
    }
}

/// One record whole (where, key, headers, the value pretty), below the list it was chosen in.
pub(super) fn draw_record(
    frame: &mut Frame,
    area: Rect,
    record: &crate::workers::batch::Record,
    scroll: u16,
    title: &'static str,
) {
    let lines: Vec<Line> = detail_lines(record).into_iter().map(Line::raw).collect();
    let block = ratatui::widgets::Block::bordered()
        .border_style(theme::muted())
        .title(title);
    frame.render_widget(Paragraph::new(lines).block(block).scroll((scroll, 0)), area);
}
