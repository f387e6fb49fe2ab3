//! Consumer lag per group and topic: messages and seconds behind (estimates marked "~"),
//! a sparkline, and Burrow's status in colour with its reason. A lag that is not known (no
//! committed offset) is "–", never 0; partitions without a commit and the records waiting
//! on them show in a NO COMMIT column when there are any. `enter` drills into the
//! partitions (high watermark, committed offset, lag, ETA, owner); `esc` comes back. ETA is
//! the time to clear the lag at the current consume rate. `R` resets the group's offsets
//! (`:reset`: a plan first, then a confirmation), where the broker allows it.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Row;
use ratatui::Frame;

use crossterm::event::{KeyCode, KeyEvent};

use super::{enter_drill, leave_drill, View, ViewId};
use crate::monitor::snapshot::{GroupTopicLag, LagStatus, PartitionLag};
use crate::ui::app::{Action, App};
use crate::ui::format::{
    duration_secs, rate, sparkline, thousands, thousands_i, truncate, truncate_left,
};
use crate::ui::keymap::{self, Hint, KeyBinding};
use crate::ui::model::{self, LagRow};
use crate::ui::panes::{
    cells, col, list_frame, message, num_cell, pane_block, plan, render_table, text_cell, Col,
    EmptyText, Plan,
};
use crate::ui::theme;

pub struct Lag;

fn drilled(app: &App) -> bool {
    app.lag_drill.is_some()
}

fn not_drilled(app: &App) -> bool {
    !drilled(app)
}

static KEYS: &[KeyBinding] = &[
    keymap::FILTER.when(not_drilled),
    KeyBinding::new(
        &[KeyCode::Enter],
        "enter",
        "a group's partitions of the topic",
        drill_in,
    )
    .hint(Hint::Lead("partitions"))
    .when(not_drilled),
    KeyBinding::new(&[KeyCode::Esc], "esc", "back to the groups", drill_out)
        .hint(Hint::Lead("back"))
        .when(drilled),
    KeyBinding::new(
        &[KeyCode::Char('R')],
        "R",
        "reset the group's offsets (:reset GROUP TO; plan first, then asks)",
        ask_reset,
    )
    .hint(Hint::Lead("reset"))
    .when(resettable),
    KeyBinding::new(
        &[KeyCode::Char('R')],
        "R",
        "offset reset: not offered on the embedded broker (says why)",
        refuse_reset,
    )
    .when(reset_not_offered),
];

fn resettable(app: &App) -> bool {
    keymap::writable(app) && app.resets_offered
}

fn reset_not_offered(app: &App) -> bool {
    keymap::writable(app) && !app.resets_offered
}

/// `R` where no reset is offered: the `:reset` answer, so the key is not silently dead.
fn refuse_reset(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    Some(crate::ui::command::run_command(app, "reset"))
}

/// `R`: the `:` line with `reset GROUP ` typed, for the person to say where to.
fn ask_reset(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    let group = match model::lag_partitions(app) {
        Some((row, _)) => row.group.group.clone(),
        None => {
            let sel = app.list(ViewId::Lag).selected;
            model::lag_rows(app)
                .into_iter()
                .nth(sel)?
                .group
                .group
                .clone()
        }
    };
    let mut field = crate::ui::text_input::TextField::default();
    field.set(&format!("reset {group} "));
    app.mode = crate::ui::app::Mode::Command(field);
    app.flash_info("reset to: earliest · latest · 15m · 2026-12-01T10:00:00Z · an offset");
    Some(Vec::new())
}

fn drill_in(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    let sel = app.list(ViewId::Lag).selected;
    if let Some(row) = model::lag_rows(app).into_iter().nth(sel) {
        app.lag_drill = Some((row.group.group.clone(), row.topic.topic.clone()));
        enter_drill(app, ViewId::Lag, sel);
    }
    Some(Vec::new())
}

fn drill_out(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    app.lag_drill = None;
    leave_drill(app, ViewId::Lag);
    Some(Vec::new())
}

impl View for Lag {
    fn id(&self) -> ViewId {
        ViewId::Lag
    }
    fn title(&self) -> &'static str {
        "Consumer lag"
    }
    fn short(&self) -> &'static str {
        "Lag"
    }
    fn names(&self) -> &'static [&'static str] {
        &["lag", "groups", "group", "consumers"]
    }
    fn keys(&self) -> &'static [KeyBinding] {
        KEYS
    }
    fn draw(&self, frame: &mut Frame, area: Rect, app: &App) {
        draw(frame, area, app)
    }
    fn row_count(&self, app: &App) -> usize {
        match model::lag_partitions(app) {
            Some((_, p)) => p.len(),
            None => model::lag_rows(app).len(),
        }
    }
}

const COLS: [Col; 10] = [
    col("GROUP", 12).fill(),
    col("TOPIC", 12).fill(),
    col("LAG", 8).right(),
    col("MAX", 7).right().prio(4),
    col("TIME", 7).right(),
    col("ETA", 7).right().prio(4),
    col("OUT/S", 7).right().prio(5),
    col("TREND", 10).prio(3),
    col("STATUS", 6),
    col("REASON", 20).stretch().prio(6),
];
const STATUS_AT: usize = 8;

/// Shown after MAX when some row has partitions without a committed offset: "3 (1,234)",
/// how many and the records waiting on them.
const NO_COMMIT: Col = col("NO COMMIT", 9).right();
const NO_COMMIT_AT: usize = 4;

/// The columns for `rows`: NO COMMIT only when a row has partitions without a commit, as
/// wide as its longest value; STATUS as wide as its longest label (UNKNOWN is 7), so that
/// the others keep their room when every status is short.
fn columns(rows: &[LagRow<'_>]) -> Vec<Col> {
    let mut cols = COLS.to_vec();
    cols[STATUS_AT].width = status_width(rows.iter().map(|r| r.topic.status), COLS[STATUS_AT]);
    let no_commit = rows
        .iter()
        .map(|r| no_commit_text(r.topic).chars().count())
        .max()
        .unwrap_or(0);
    if no_commit > 0 {
        let mut c = NO_COMMIT;
        c.width = c.width.max(u16::try_from(no_commit).unwrap_or(u16::MAX));
        cols.insert(NO_COMMIT_AT, c);
    }
    cols
}

fn status_width(statuses: impl Iterator<Item = LagStatus>, c: Col) -> u16 {
    statuses
        .map(|s| s.label().len() as u16)
        .fold(c.width.max(c.title.len() as u16), u16::max)
}

/// "3 (1,234)": partitions without a commit and their backlog; empty when none.
fn no_commit_text(t: &GroupTopicLag) -> String {
    match t.partitions_without_commit {
        0 => String::new(),
        n => format!("{n} ({})", thousands_i(t.backlog_without_commit)),
    }
}

const PART_COLS: [Col; 7] = [
    col("PARTITION", 9).right(),
    col("HIGH WATERMARK", 14).right(),
    col("COMMITTED", 12).right(),
    col("LAG", 10).right(),
    col("ETA", 8).right(),
    col("OWNER", 12).stretch().prio(1),
    col("STATUS", 6),
];
const PART_STATUS_AT: usize = 6;

/// The time to clear `lag` at the group's consume rate now (Δ committed / Δt): "–" without
/// a committed offset, "0 s" with nothing to clear, "∞" while nothing is consumed. An ETA
/// against the consume rate, as Kafka UI users asked for; the in-rate is not subtracted, so
/// a group keeping pace with steady traffic shows its small lag's few seconds, not ∞.
pub fn eta(lag: Option<i64>, out_per_sec: f64) -> String {
    match lag {
        None => "–".to_string(),
        Some(l) if l <= 0 => "0 s".to_string(),
        Some(_) if out_per_sec.is_nan() || out_per_sec <= 0.0 => "∞".to_string(),
        Some(l) => duration_secs(l as f64 / out_per_sec),
    }
}

/// "1.2 s", "~40 s" when estimated from the consume rate, "–" when unknown.
pub fn lag_time(t: &GroupTopicLag) -> String {
    match t.lag_seconds {
        Some(s) if t.lag_seconds_estimated => format!("~{}", duration_secs(s)),
        Some(s) => duration_secs(s),
        None => "–".to_string(),
    }
}

fn status_cell<'a>(status: LagStatus) -> ratatui::widgets::Cell<'a> {
    text_cell(status.label(), theme::status(status))
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    if let Some((row, _)) = model::lag_partitions(app) {
        return draw_partitions(frame, area, app, row);
    }
    let rows = model::lag_rows(app);
    let sel = app.list(ViewId::Lag).selected;
    // The groups' own verdicts: they include problems that are no topic's (a worker of
    // ours assigned nothing) and groups with nothing to show yet.
    let worst = app.snapshot.groups.iter().map(|g| g.status).max();
    let right = app.loaded.then(|| {
        let groups = app.snapshot.groups.len();
        match worst {
            Some(w) if w != LagStatus::Ok => format!("{groups} groups · worst {}", w.label()),
            _ => format!("{groups} groups"),
        }
    });
    let mut block = pane_block(app, ViewId::Lag, &[], right, area.width);
    // The selected row's reason in words, for when the REASON column does not fit.
    if let Some(r) = rows.get(sel).filter(|r| !r.topic.reason.is_empty()) {
        block = block.title_bottom(Line::from(vec![
            Span::raw(" "),
            Span::styled(r.topic.status.label(), theme::status(r.topic.status)),
            Span::raw(format!(": {} ", r.topic.reason)),
        ]));
    }
    let empty = EmptyText {
        none: "no consumer groups yet",
        no_match: "no group matches the filter",
    };
    let Some(inner) = list_frame(
        frame,
        area,
        app,
        ViewId::Lag,
        block,
        !rows.is_empty(),
        empty,
    ) else {
        return;
    };
    let longest = |f: &dyn Fn(&LagRow<'_>) -> usize| rows.iter().map(f).max().unwrap_or(0);
    let naturals = [
        longest(&|r| group_name(r).len()),
        longest(&|r| r.topic.topic.len()),
    ];
    let cols = columns(&rows);
    let plan = plan(&cols, &naturals, inner.width);
    let focused = app.focus == ViewId::Lag;
    render_table(
        frame,
        inner,
        &cols,
        &plan,
        rows.len(),
        |i| lag_row(&rows[i], &cols, &plan),
        focused.then_some(sel),
    );
}

fn group_name(r: &LagRow<'_>) -> String {
    if r.group.freshness.stale {
        format!("{} (stale)", r.group.group)
    } else {
        r.group.group.clone()
    }
}

fn lag_row<'a>(r: &LagRow<'_>, cols: &[Col], plan: &Plan) -> Row<'a> {
    let t = r.topic;
    let style = theme::lag_row(t.status);
    let (lag, max) = match t.lag_figures() {
        Some((sum, max)) => (thousands_i(sum), thousands_i(max)),
        None => ("–".to_string(), "–".to_string()),
    };
    let reason_at = cols.len() - 1;
    let mut values = vec![
        text_cell(truncate(&group_name(r), plan.width(0)), style),
        text_cell(truncate_left(&t.topic, plan.width(1)), style),
        num_cell(lag, style),
        num_cell(max, style),
        num_cell(lag_time(t), style),
        num_cell(
            eta(t.lag_figures().map(|(sum, _)| sum), t.out_per_sec),
            style,
        ),
        num_cell(rate(t.out_per_sec), style),
        num_cell(
            sparkline(&t.lag_history, 10),
            Style::new().fg(theme::status_color(t.status)),
        ),
        status_cell(t.status),
        text_cell(truncate(&t.reason, plan.width(reason_at)), style),
    ];
    if cols.len() > COLS.len() {
        values.insert(NO_COMMIT_AT, num_cell(no_commit_text(t), style));
    }
    Row::new(cells(plan, values))
}

fn draw_partitions(frame: &mut Frame, area: Rect, app: &App, row: LagRow<'_>) {
    let t = row.topic;
    let lag = t
        .lag_figures()
        .map_or_else(|| "–".to_string(), |(sum, _)| thousands_i(sum));
    let no_commit = match t.partitions_without_commit {
        0 => String::new(),
        _ => format!(" · no commit {}", no_commit_text(t)),
    };
    let summary = format!(
        "lag {lag}{no_commit} · {} · ETA {} · {} · esc back",
        lag_time(t),
        eta(t.lag_figures().map(|(sum, _)| sum), t.out_per_sec),
        t.status.label()
    );
    // The consume rate per partition is not measured: the group's, shared evenly among
    // the partitions it has committed on (marked "~").
    let committed_on = t
        .partitions
        .iter()
        .filter(|p| p.committed.is_some())
        .count();
    let per_partition = t.out_per_sec / committed_on.max(1) as f64;
    let mut block = pane_block(
        app,
        ViewId::Lag,
        &[&row.group.group, &t.topic],
        Some(summary),
        area.width,
    );
    if !t.reason.is_empty() {
        block = block.title_bottom(Line::from(vec![
            Span::raw(" "),
            Span::styled(t.status.label(), theme::status(t.status)),
            Span::raw(format!(": {} ", t.reason)),
        ]));
    }
    if t.negative_lag_samples > 0 {
        block = block.title_bottom(Line::styled(
            format!(
                " {} racing samples shown as 0 ",
                thousands(t.negative_lag_samples)
            ),
            theme::muted(),
        ));
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if t.partitions.is_empty() {
        return message(
            frame,
            inner,
            vec![Line::styled("no partition figures yet", theme::muted())],
        );
    }
    let mut part_cols = PART_COLS;
    part_cols[PART_STATUS_AT].width = status_width(
        t.partitions.iter().map(|p| p.status),
        PART_COLS[PART_STATUS_AT],
    );
    let plan = plan(&part_cols, &[], inner.width);
    let sel = app.list(ViewId::Lag).selected;
    render_table(
        frame,
        inner,
        &part_cols,
        &plan,
        t.partitions.len(),
        |i| partition_row(&t.partitions[i], per_partition, &plan),
        Some(sel),
    );
}

fn partition_row<'a>(p: &PartitionLag, per_partition: f64, plan: &Plan) -> Row<'a> {
    let s = theme::lag_row(p.status);
    Row::new(cells(
        plan,
        vec![
            num_cell(p.partition.to_string(), s),
            num_cell(thousands_i(p.high), s),
            num_cell(
                p.committed.map(thousands_i).unwrap_or_else(|| "–".into()),
                s,
            ),
            num_cell(
                p.lag_figure()
                    .map(thousands_i)
                    .unwrap_or_else(|| "–".into()),
                s,
            ),
            num_cell(
                match p.lag_figure() {
                    Some(l) if l > 0 && per_partition > 0.0 => {
                        format!("~{}", eta(Some(l), per_partition))
                    }
                    lag => eta(lag, per_partition),
                },
                s,
            ),
            text_cell(p.owner.clone().unwrap_or_else(|| "–".into()), s),
            status_cell(p.status),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::eta;

    #[test]
    fn eta_is_the_lag_over_the_consume_rate_and_never_a_made_up_figure() {
        assert_eq!(eta(None, 100.0), "–");
        assert_eq!(eta(Some(0), 0.0), "0 s");
        assert_eq!(eta(Some(500), 0.0), "∞");
        assert_eq!(eta(Some(500), f64::NAN), "∞");
        assert_eq!(eta(Some(500), 100.0), "5.0 s");
        assert_eq!(eta(Some(360_000), 100.0), "60 min");
    }
}
