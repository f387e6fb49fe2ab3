//! The screen around the views (title bar, footer, help, dialogs, the compose form) and
//! the helpers the views draw with: the pane frame (number, title, focus colour, filter)
//! and tables whose columns drop out by priority when the terminal is narrow.

pub mod compose;
pub mod dialogs;
pub mod footer;
pub mod help;
pub mod title;
pub mod trace;

use std::borrow::Cow;
use std::ops::Range;

use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Cell, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::app::App;
use super::theme;
use super::views::ViewId;

/// The frame of a pane: "1 Throughput", focused in cyan, the filter in the title, and an
/// optional summary on the right of the top border. A view that flashes (a rebalance)
/// restyles the border itself with [`theme::border`].
pub fn pane_block<'a>(
    app: &App,
    pane: ViewId,
    crumbs: &[&str],
    right: Option<String>,
    width: u16,
) -> Block<'a> {
    let focused = app.focus == pane;
    let mut title = vec![
        Span::styled(format!(" {} ", pane.index() + 1), theme::key()),
        Span::styled(
            pane.title().to_string(),
            if focused {
                theme::header().fg(theme::ACCENT)
            } else {
                theme::header()
            },
        ),
    ];
    for c in crumbs {
        title.push(Span::styled(" › ", theme::muted()));
        title.push(Span::styled(c.to_string(), theme::header()));
    }
    let filter = app.filter(pane);
    if !filter.is_empty() {
        title.push(Span::styled(format!(" /{filter}"), theme::key()));
    }
    title.push(Span::raw(" "));
    let left = Line::from(title.clone()).width();
    let mut block = Block::bordered()
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Rounded
        })
        .border_style(theme::border(focused, false))
        .title(Line::from(title));
    // The summary gives way to the pane's name: cut it to the room left of the border.
    let room = (width as usize).saturating_sub(left + 6);
    if let Some(r) = right.filter(|_| room > 3) {
        let r = crate::ui::format::truncate(&r, room);
        block = block.title(
            Line::from(Span::styled(format!(" {r} "), theme::muted())).alignment(Alignment::Right),
        );
    }
    block
}

/// A centred one- or two-line message inside an empty pane ("loading…", an error).
/// What a list pane shows when it has no rows: the message for an empty list and for a
/// filter that matches nothing.
pub struct EmptyText {
    pub none: &'static str,
    pub no_match: &'static str,
}

/// Draws a list pane's frame (with the stale-data note) and, when there is nothing to list,
/// the cluster state or the empty text inside it. Returns the area for the rows, or `None`
/// when the pane is already complete.
pub fn list_frame(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    pane: ViewId,
    mut block: Block<'_>,
    has_rows: bool,
    empty: EmptyText,
) -> Option<Rect> {
    if let Some(note) = stale_note(app).filter(|_| has_rows) {
        block = block.title_bottom(note);
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if let Some(lines) = cluster_state_message(app, has_rows) {
        message(frame, inner, lines);
        return None;
    }
    if !has_rows {
        let text = if app.filter(pane).is_empty() {
            empty.none
        } else {
            empty.no_match
        };
        message(frame, inner, vec![Line::styled(text, theme::muted())]);
        return None;
    }
    Some(inner)
}

pub fn message(frame: &mut Frame, area: Rect, lines: Vec<Line<'static>>) {
    if area.height == 0 {
        return;
    }
    let top = area.height.saturating_sub(lines.len() as u16) / 2;
    let inner = Rect {
        y: area.y + top,
        height: area.height - top,
        ..area
    };
    frame.render_widget(Paragraph::new(lines).alignment(Alignment::Center), inner);
}

/// A table column: its heading, minimum width, how it grows, alignment, and how important it
/// is (0 = always kept; higher numbers are dropped first when the terminal is narrow).
#[derive(Clone, Copy)]
pub struct Col {
    pub title: &'static str,
    pub width: u16,
    /// Sized by its content (names): grows up to the longest value.
    pub fill: bool,
    /// Takes whatever width is left (sparklines, reasons).
    pub stretch: bool,
    pub right: bool,
    pub priority: u8,
}

pub const fn col(title: &'static str, width: u16) -> Col {
    Col {
        title,
        width,
        fill: false,
        stretch: false,
        right: false,
        priority: 0,
    }
}

impl Col {
    pub const fn fill(mut self) -> Self {
        self.fill = true;
        self
    }
    pub const fn stretch(mut self) -> Self {
        self.stretch = true;
        self
    }
    pub const fn right(mut self) -> Self {
        self.right = true;
        self
    }
    pub const fn prio(mut self, p: u8) -> Self {
        self.priority = p;
        self
    }
}

/// Which columns are shown and how wide each is (0 for a dropped column).
pub struct Plan {
    pub keep: Vec<usize>,
    pub widths: Vec<u16>,
}

impl Plan {
    pub fn width(&self, col: usize) -> usize {
        self.widths.get(col).copied().unwrap_or(0) as usize
    }
}

/// Lays out columns in `width`: drops the least important ones until the names fit at their
/// natural width, then shrinks names (widest first) if still needed; what is left over goes
/// to the stretch column. `natural[i]` is the longest value of column i.
pub fn plan(cols: &[Col], natural: &[usize], width: u16) -> Plan {
    let want = |i: usize| -> u16 {
        let c = cols[i];
        if c.fill && !c.stretch {
            let n = natural.get(i).copied().unwrap_or(0).min(200) as u16;
            n.max(c.width).max(c.title.len() as u16)
        } else {
            c.width
        }
    };
    let total = |keep: &[usize], w: &dyn Fn(usize) -> u16| -> u16 {
        keep.iter()
            .map(|i| w(*i) + 1)
            .sum::<u16>()
            .saturating_sub(1)
    };
    let mut keep: Vec<usize> = (0..cols.len()).collect();
    while total(&keep, &want) > width {
        let Some((pos, _)) = keep
            .iter()
            .enumerate()
            .filter(|(_, i)| cols[**i].priority > 0)
            .max_by_key(|(pos, i)| (cols[**i].priority, *pos))
        else {
            break;
        };
        keep.remove(pos);
    }
    let mut widths = vec![0u16; cols.len()];
    for i in &keep {
        widths[*i] = want(*i);
    }
    // Still too wide: shave the widest name column one step at a time.
    let mut used = total(&keep, &|i| widths[i]);
    while used > width {
        let Some(i) = keep
            .iter()
            .copied()
            .filter(|i| cols[*i].fill && widths[*i] > 4)
            .max_by_key(|i| widths[*i])
        else {
            break;
        };
        widths[i] -= 1;
        used -= 1;
    }
    if used < width {
        let target = keep
            .iter()
            .copied()
            .rfind(|i| cols[*i].stretch)
            .or_else(|| keep.iter().copied().rfind(|i| cols[*i].fill));
        if let Some(i) = target {
            widths[i] += width - used;
        }
    }
    Plan { keep, widths }
}

/// One table cell per kept column.
pub fn cells<'a>(plan: &Plan, values: Vec<Cell<'a>>) -> Vec<Cell<'a>> {
    let mut values: Vec<Option<Cell<'a>>> = values.into_iter().map(Some).collect();
    plan.keep
        .iter()
        // Not Cell::default(): its column span is 0, which would shift the row left.
        .map(|i| {
            values
                .get_mut(*i)
                .and_then(Option::take)
                .unwrap_or_else(|| Cell::from(""))
        })
        .collect()
}

pub fn text_cell<'a>(s: impl Into<Cow<'a, str>>, style: Style) -> Cell<'a> {
    Cell::from(styled_line(s.into(), style))
}

pub fn num_cell<'a>(s: impl Into<Cow<'a, str>>, style: Style) -> Cell<'a> {
    Cell::from(styled_line(s.into(), style).alignment(Alignment::Right))
}

/// `Line::styled(s, style)`, without copying `s` again: `Line::styled` splits its text on
/// line breaks and copies each piece, which for the one-line text of a cell is a copy of
/// every cell of every row drawn. Text with a break still goes through it.
fn styled_line(s: Cow<'_, str>, style: Style) -> Line<'_> {
    if s.contains(['\n', '\r']) {
        return Line::styled(s, style);
    }
    // Line::styled("") has no span at all, not an empty one.
    let spans = if s.is_empty() {
        Vec::new()
    } else {
        vec![Span::raw(s)]
    };
    Line::from(spans).style(style)
}

/// The rows a widget of one-line rows shows in `height` lines, for a fresh state (offset 0)
/// with `selected` (already within the rows, if any) as ratatui places it: from the top,
/// scrolled just far enough for the selection to be the last row on screen. Building only
/// these rows and handing the widget the selection within them draws the same screen as
/// handing it every row, without formatting the thousands nobody sees.
pub fn visible_rows(n: usize, selected: Option<usize>, height: u16) -> Range<usize> {
    let height = usize::from(height);
    if height == 0 {
        return 0..0;
    }
    let start = match selected {
        Some(s) if s >= height => s + 1 - height,
        _ => 0,
    };
    start..n.min(start + height)
}

/// The items of a `List` of one-line items in `area`, and the selection within them: the
/// list clamps a selection past the end to the last item, as ratatui's `List` does.
pub fn visible_items(
    n: usize,
    selected: Option<usize>,
    area: Rect,
) -> (Range<usize>, Option<usize>) {
    let selected = selected.map(|s| s.min(n.saturating_sub(1)));
    let rows = visible_rows(n, selected, area.height);
    let within = within(&rows, selected);
    (rows, within)
}

/// The selection as an index into the rows shown; `None` when none are (an area too small).
fn within(shown: &Range<usize>, selected: Option<usize>) -> Option<usize> {
    selected
        .filter(|s| shown.contains(s))
        .map(|s| s - shown.start)
}

/// Renders `n` rows under a header with the planned columns, the selection highlighted and
/// scrolled into view. Only the rows on screen are built (`row(i)` for row i of the n).
pub fn render_table<'a>(
    frame: &mut Frame,
    area: Rect,
    cols: &[Col],
    plan: &Plan,
    n: usize,
    row: impl FnMut(usize) -> Row<'a>,
    selected: Option<usize>,
) {
    // A selection past the last row is no selection (not the last row, as ratatui would).
    let selected = selected.filter(|s| *s < n);
    // The header takes the first line of the area; the rows get the rest.
    let shown = visible_rows(n, selected, area.height.saturating_sub(1));
    let within = within(&shown, selected);
    let table = table(cols, plan, shown.map(row));
    let mut state = TableState::default().with_selected(within);
    frame.render_stateful_widget(table, area, &mut state);
}

/// A table of `rows` under the columns' headings, in the planned widths.
fn table<'a>(cols: &[Col], plan: &Plan, rows: impl IntoIterator<Item = Row<'a>>) -> Table<'a> {
    let header = Row::new(plan.keep.iter().map(|i| {
        let c = cols[*i];
        let line = Line::from(c.title);
        Cell::from(if c.right {
            line.alignment(Alignment::Right)
        } else {
            line
        })
    }))
    .style(theme::header());
    let widths = plan
        .keep
        .iter()
        .map(|i| Constraint::Length(plan.widths[*i]));
    Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(theme::selected())
}

/// "Loading" or "down": the message a pane shows instead of rows, if any. With rows from an
/// earlier sample the rows stay on screen (marked stale) instead.
pub fn cluster_state_message(app: &App, has_rows: bool) -> Option<Vec<Line<'static>>> {
    use crate::monitor::snapshot::Health;
    if !app.loaded {
        return Some(vec![
            Line::styled("loading…", theme::muted()),
            Line::styled(
                "waiting for the first sample of the cluster",
                theme::muted(),
            ),
        ]);
    }
    if let (Health::Down(e), false) = (&app.snapshot.cluster_health, has_rows) {
        return Some(vec![
            Line::styled("cluster unreachable", theme::error()),
            Line::styled(e.clone(), theme::error()),
            Line::styled("retrying…", theme::muted()),
        ]);
    }
    None
}

/// A red bottom-border note when the cluster is down but older figures are shown.
pub fn stale_note(app: &App) -> Option<Line<'static>> {
    use crate::monitor::snapshot::Health;
    match &app.snapshot.cluster_health {
        Health::Down(e) => Some(Line::styled(
            format!(" stale: cluster unreachable: {e} "),
            theme::error(),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use ratatui::backend::TestBackend;
    use ratatui::widgets::{List, ListItem, ListState};
    use ratatui::Terminal;

    use super::*;

    const COLS: [Col; 2] = [col("ROW", 4).right(), col("TEXT", 6).stretch()];

    fn row<'a>(plan: &Plan, i: usize) -> Row<'a> {
        Row::new(cells(
            plan,
            vec![
                num_cell(i.to_string(), Style::new()),
                text_cell(format!("row {i}"), Style::new()),
            ],
        ))
    }

    fn draw(height: u16, f: impl FnOnce(&mut Frame, Rect)) -> ratatui::buffer::Buffer {
        let mut t = Terminal::new(TestBackend::new(16, height)).expect("test backend");
        t.draw(|frame| f(frame, frame.area())).expect("draw");
        t.backend().buffer().clone()
    }

    /// What `render_table` drew before it built only the visible rows: every row handed to
    /// ratatui, which scrolls them itself.
    fn all_rows_table(frame: &mut Frame, area: Rect, plan: &Plan, n: usize, sel: Option<usize>) {
        let table = table(&COLS, plan, (0..n).map(|i| row(plan, i)));
        let mut state = TableState::default().with_selected(sel.filter(|s| *s < n));
        frame.render_stateful_widget(table, area, &mut state);
    }

    #[test]
    fn cell_lines_are_the_lines_line_styled_makes() {
        let style = Style::new().fg(theme::ACCENT);
        for s in [
            "",
            "a",
            "12,345",
            "프로젝트",
            "a\nb",
            "a\r\nb",
            "end\r",
            "\n",
        ] {
            let owned = styled_line(Cow::Owned(s.to_string()), style);
            let borrowed = styled_line(Cow::Borrowed(s), style);
            assert_eq!(owned, Line::styled(s.to_string(), style), "{s:?}");
            assert_eq!(borrowed, Line::styled(s, style), "{s:?}");
        }
    }

    #[test]
    fn tables_built_from_the_visible_rows_draw_what_all_rows_drew() {
        for height in 0..8u16 {
            for n in 0..12 {
                for sel in [
                    None,
                    Some(0),
                    Some(3),
                    Some(6),
                    Some(n.max(1) - 1),
                    Some(n + 2),
                ] {
                    let plan = plan(&COLS, &[], 16);
                    let windowed = draw(height, |f, area| {
                        render_table(f, area, &COLS, &plan, n, |i| row(&plan, i), sel)
                    });
                    let whole = draw(height, |f, area| all_rows_table(f, area, &plan, n, sel));
                    assert_eq!(
                        windowed, whole,
                        "height {height}, {n} rows, selected {sel:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn lists_built_from_the_visible_items_draw_what_all_items_drew() {
        let list = |items: Vec<ListItem<'static>>| {
            List::new(items)
                .highlight_style(theme::selected())
                .highlight_symbol("▌ ")
        };
        let item = |i: usize| ListItem::new(format!("item {i}"));
        for height in 0..8u16 {
            for n in 1..12 {
                for sel in [None, Some(0), Some(3), Some(6), Some(n - 1), Some(n + 2)] {
                    let windowed = draw(height, |f, area| {
                        let (shown, within) = visible_items(n, sel, area);
                        let mut state = ListState::default().with_selected(within);
                        f.render_stateful_widget(list(shown.map(item).collect()), area, &mut state);
                    });
                    let whole = draw(height, |f, area| {
                        let mut state = ListState::default().with_selected(sel);
                        f.render_stateful_widget(
                            list((0..n).map(item).collect()),
                            area,
                            &mut state,
                        );
                    });
                    assert_eq!(
                        windowed, whole,
                        "height {height}, {n} items, selected {sel:?}"
                    );
                }
            }
        }
    }
}
