//! The `?` overlay, grouped as k9s does and scrollable on small terminals. Every line comes
//! from a declaration: the global keymap, the focused view's keys, the registry of views
//! (their numbers and `:` names) and the compose form's keys.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};
use ratatui::Frame;

use crate::ui::app::App;
use crate::ui::keymap::{self, KeyBinding};
use crate::ui::theme;
use crate::ui::views::{ViewId, DASHBOARD};

fn heading(out: &mut Vec<Line<'static>>, title: String) {
    out.push(Line::styled(title, theme::header().fg(theme::ACCENT)));
}

/// One key per line; a description with line breaks continues under an empty key column.
fn key_line(out: &mut Vec<Line<'static>>, key: &str, what: &str) {
    for (i, part) in what.split('\n').enumerate() {
        let k = if i == 0 { key } else { "" };
        out.push(Line::from(vec![
            Span::styled(format!("  {k:>20}  "), theme::key()),
            Span::raw(part.to_string()),
        ]));
    }
}

fn bindings(out: &mut Vec<Line<'static>>, keys: &[KeyBinding]) {
    for b in keys {
        key_line(out, b.label, b.help);
    }
    out.push(Line::default());
}

pub fn lines(app: &App) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for section in keymap::GLOBAL {
        heading(&mut out, section.title.to_string());
        bindings(&mut out, section.keys);
    }
    let view = app.focus.view();
    if !view.keys().is_empty() {
        heading(&mut out, format!("{} (focused view)", view.title()));
        bindings(&mut out, view.keys());
    }
    heading(&mut out, "Views".to_string());
    for id in ViewId::ALL {
        let names = id.view().names();
        let mut what = format!("{} {}", id.index() + 1, id.title());
        if names.len() > 1 {
            what.push_str(&format!("   also :{}", names[1..].join(" :")));
        }
        key_line(&mut out, &format!(":{}", names[0]), &what);
    }
    key_line(
        &mut out,
        &format!(":{}", DASHBOARD[0]),
        "every view at once (the default; esc from a : view)",
    );
    out.push(Line::default());
    heading(&mut out, "Compose form".to_string());
    for (k, what) in keymap::COMPOSE {
        key_line(&mut out, k, what);
    }
    out.push(Line::default());
    if let Some(p) = &app.log_path {
        out.push(Line::styled(format!("logs: {p}"), theme::muted()));
    }
    out
}

/// The overlay's own keys, from [`keymap::HELP`]: "esc close · j/k scroll".
fn own_keys() -> String {
    let hints: Vec<String> = keymap::HELP
        .iter()
        .filter_map(|b| {
            Some(format!(
                "{} {}",
                keymap::short_label(b.label),
                b.hint.word()?
            ))
        })
        .collect();
    hints.join(" · ")
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, scroll: u16) {
    let text = lines(app);
    let h = (text.len() as u16 + 2).min(area.height);
    let popup = area.centered(
        Constraint::Length(84.min(area.width)),
        Constraint::Length(h),
    );
    frame.render_widget(Clear, popup);
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(theme::border(true, false))
        .title(Line::styled(" Keys ", theme::header()))
        .title_bottom(Line::styled(format!(" {} ", own_keys()), theme::muted()));
    frame.render_widget(Paragraph::new(text).block(block).scroll((scroll, 0)), popup);
}
