//! Partition assignments: per group a heading with its state, generation, rebalance count
//! and the time of the last rebalance; under it which member (client id, host, our worker)
//! owns which partitions of which topic. A new rebalance flashes the border and the heading.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};
use ratatui::Frame;

use super::{View, ViewId};
use crate::monitor::snapshot::{GroupStats, MemberInfo};
use crate::ui::app::App;
use crate::ui::format::{ago, thousands, truncate, truncate_left};
use crate::ui::keymap::{self, KeyBinding};
use crate::ui::model::{self, partition_ranges, AssignmentRow};
use crate::ui::panes::{
    cells, col, list_frame, pane_block, plan, render_table, text_cell, Col, EmptyText, Plan,
};
use crate::ui::theme;

pub struct Assignments;

impl View for Assignments {
    fn id(&self) -> ViewId {
        ViewId::Assignments
    }
    fn title(&self) -> &'static str {
        "Partition assignments"
    }
    fn short(&self) -> &'static str {
        "Assignments"
    }
    fn names(&self) -> &'static [&'static str] {
        &["assignments", "members", "partitions"]
    }
    fn keys(&self) -> &'static [KeyBinding] {
        &[keymap::FILTER]
    }
    fn draw(&self, frame: &mut Frame, area: Rect, app: &App) {
        draw(frame, area, app)
    }
    fn row_count(&self, app: &App) -> usize {
        model::assignment_rows(app).len()
    }
}

const COLS: [Col; 4] = [
    col("MEMBER", 12).fill(),
    col("HOST", 9).fill().prio(1),
    col("TOPIC", 12).fill(),
    col("PARTS", 6).stretch(),
];

/// Our own workers are starred (legend in the border); the others get as much room.
const MARK_CHARS: usize = 2;

fn member_name(m: &MemberInfo) -> String {
    let mark = if m.ours { "★ " } else { "  " };
    format!("{mark}{}", member_id(m))
}

/// The client id, or the member id when the client gave none.
fn member_id(m: &MemberInfo) -> &str {
    if m.client_id.is_empty() {
        &m.member
    } else {
        &m.client_id
    }
}

fn group_heading<'a>(app: &App, g: &GroupStats, n_cols: u16) -> Row<'a> {
    let flashing = app.is_flashing(&g.group);
    let name_style = if flashing {
        Style::new().fg(theme::FLASH).add_modifier(Modifier::BOLD)
    } else {
        theme::header().fg(theme::ACCENT)
    };
    let mut spans = vec![Span::styled(g.group.clone(), name_style)];
    let mut facts = Vec::new();
    // "Stable" is the normal case: only other states are worth the room.
    if let Some(state) = g.state.as_ref().filter(|s| s.as_str() != "Stable") {
        facts.push(state.clone());
    }
    if let Some(gen) = g.generation {
        facts.push(format!("gen {gen}"));
    }
    let noun = if g.rebalances == 1 {
        "rebalance"
    } else {
        "rebalances"
    };
    let last = g
        .last_rebalance_ms
        .map(|t| format!(" ({})", ago(t, app.now_ms)))
        .unwrap_or_default();
    facts.push(format!("{} {noun}{last}", thousands(g.rebalances)));
    spans.push(Span::styled(
        format!("  {}", facts.join(" · ")),
        theme::muted(),
    ));
    if flashing {
        spans.push(Span::styled("  ⟳ rebalanced", name_style));
    }
    Row::new([Cell::from(Line::from(spans)).column_span(n_cols)])
}

fn row<'a>(app: &App, r: &AssignmentRow<'_>, plan: &Plan) -> Row<'a> {
    match r {
        AssignmentRow::Group(g) => group_heading(app, g, plan.keep.len() as u16),
        AssignmentRow::NoMembers(_) => {
            Row::new(cells(plan, vec![text_cell("  no members", theme::muted())]))
        }
        AssignmentRow::Member {
            member,
            first_of_member,
            topic,
            ..
        } => {
            let (name, host) = if *first_of_member {
                (member_name(member), member.host.clone())
            } else {
                (String::new(), String::new())
            };
            let member_style = if member.ours {
                Style::new().fg(theme::ACCENT)
            } else {
                Style::new()
            };
            Row::new(cells(
                plan,
                vec![
                    text_cell(truncate(&name, plan.width(0)), member_style),
                    text_cell(truncate(&host, plan.width(1)), theme::muted()),
                    text_cell(
                        truncate_left(topic.unwrap_or(""), plan.width(2)),
                        Style::new(),
                    ),
                    text_cell(partition_ranges(&r.partitions()), Style::new()),
                ],
            ))
        }
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let rows = model::assignment_rows(app);
    let flashing: Vec<&str> = app
        .snapshot
        .groups
        .iter()
        .filter(|g| app.is_flashing(&g.group))
        .map(|g| g.group.as_str())
        .collect();
    let right = if !flashing.is_empty() {
        Some(format!("⟳ rebalance: {}", flashing.join(", ")))
    } else {
        app.loaded.then(|| {
            let members: usize = app.snapshot.groups.iter().map(|g| g.members.len()).sum();
            format!("{members} members")
        })
    };
    let mut block = pane_block(app, ViewId::Assignments, &[], right, area.width);
    if !flashing.is_empty() {
        block = block.border_style(theme::border(app.focus == ViewId::Assignments, true));
    }
    let ours = rows
        .iter()
        .any(|r| matches!(r, AssignmentRow::Member { member, .. } if member.ours));
    if ours {
        block = block.title_bottom(Line::styled(" ★ our worker ", theme::muted()));
    }
    let empty = EmptyText {
        none: "no consumer groups yet",
        no_match: "no member matches the filter",
    };
    let Some(inner) = list_frame(
        frame,
        area,
        app,
        ViewId::Assignments,
        block,
        !rows.is_empty(),
        empty,
    ) else {
        return;
    };
    let mut naturals = [0usize; 3];
    for r in &rows {
        if let AssignmentRow::Member { member, topic, .. } = r {
            naturals[0] = naturals[0].max(MARK_CHARS + member_id(member).chars().count());
            naturals[1] = naturals[1].max(member.host.len());
            naturals[2] = naturals[2].max(topic.map_or(0, str::len));
        }
    }
    let plan = plan(&COLS, &naturals, inner.width);
    let sel = app.list(ViewId::Assignments).selected;
    let focused = app.focus == ViewId::Assignments;
    render_table(
        frame,
        inner,
        &COLS,
        &plan,
        rows.len(),
        |i| row(app, &rows[i], &plan),
        focused.then_some(sel),
    );
}
