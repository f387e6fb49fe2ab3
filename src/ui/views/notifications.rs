//! The notification log, newest first: "→ @user_002 in #ch_dev by @user_001: text (3 s ago)".
//! Scrollable with `j`/`k`, filtered with `/`; wide characters are cut by display width.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use super::{View, ViewId};
use crate::monitor::snapshot::NotificationLine;
use crate::ui::app::App;
use crate::ui::format::{ago, one_line, thousands, truncate};
use crate::ui::keymap::{self, KeyBinding};
use crate::ui::panes::{message, pane_block, visible_items};
use crate::ui::{model, theme};

pub struct Notifications;

impl View for Notifications {
    fn id(&self) -> ViewId {
        ViewId::Notifications
    }
    fn title(&self) -> &'static str {
        "Notifications"
    }
    fn short(&self) -> &'static str {
        "Notifications"
    }
    fn names(&self) -> &'static [&'static str] {
        &["notifications", "notif", "log"]
    }
    fn keys(&self) -> &'static [KeyBinding] {
        &[keymap::FILTER]
    }
    fn draw(&self, frame: &mut Frame, area: Rect, app: &App) {
        draw(frame, area, app)
    }
    fn row_count(&self, app: &App) -> usize {
        model::notifications(app).len()
    }
}

/// Fewest columns of preview worth showing before the line drops its "in"/"by" words.
const MIN_PREVIEW: usize = 12;

/// One log line fitted to `width` columns: the preview is shortened so the age stays visible;
/// on a narrow pane the words "in" and "by" go first.
pub fn line(n: &NotificationLine, now_ms: i64, width: usize) -> Line<'static> {
    let s = &n.notification;
    let head = |compact: bool| {
        let (inw, byw) = if compact {
            (" ", " ")
        } else {
            (" in ", " by ")
        };
        vec![
            Span::styled("→ ", theme::muted()),
            Span::styled(
                format!("@{}", s.user_id),
                Style::new().fg(theme::ACCENT).add_modifier(Modifier::BOLD),
            ),
            Span::raw(inw),
            Span::styled(format!("#{}", s.channel_id), Style::new().fg(theme::OK)),
            Span::raw(byw),
            Span::styled(format!("@{}", s.author_id), Style::new().fg(theme::ACCENT)),
            Span::raw(": "),
        ]
    };
    let age = format!(" ({})", ago(n.received_ms, now_ms));
    let used = |h: &[Span]| h.iter().map(|s| s.content.width()).sum::<usize>() + age.width();
    let mut spans = head(false);
    if used(&spans) + MIN_PREVIEW > width {
        spans = head(true);
    }
    let preview = truncate(&one_line(&s.preview), width.saturating_sub(used(&spans)));
    spans.push(Span::raw(preview));
    spans.push(Span::styled(age, theme::muted()));
    Line::from(spans)
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let lines = model::notifications(app);
    let total = app.snapshot.notifications.len();
    let right = app.loaded.then(|| {
        if lines.len() == total {
            format!("{} sent", thousands(app.snapshot.totals.notified))
        } else {
            format!("{} of {} shown", lines.len(), total)
        }
    });
    let block = pane_block(app, ViewId::Notifications, &[], right, area.width);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if !app.loaded {
        return message(frame, inner, vec![Line::styled("loading…", theme::muted())]);
    }
    if lines.is_empty() {
        let text = if app.filter(ViewId::Notifications).is_empty() {
            "no notifications yet · press s and @mention someone"
        } else {
            "no notification matches the filter"
        };
        return message(frame, inner, vec![Line::styled(text, theme::muted())]);
    }
    let focused = app.focus == ViewId::Notifications;
    // The selection marker takes two columns, only while the pane has focus.
    let width = inner.width.saturating_sub(if focused { 2 } else { 0 }) as usize;
    let sel = app.list(ViewId::Notifications).selected;
    let (shown, sel) = visible_items(lines.len(), focused.then_some(sel), inner);
    let items: Vec<ListItem> = lines[shown]
        .iter()
        .map(|n| ListItem::new(line(n, app.now_ms, width)))
        .collect();
    let list = List::new(items)
        .highlight_style(theme::selected())
        .highlight_symbol("▌ ");
    let mut state = ListState::default().with_selected(sel);
    frame.render_stateful_widget(list, inner, &mut state);
}
