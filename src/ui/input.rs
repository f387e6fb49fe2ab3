//! The keyboard state machine: `handle_key` moves between modes and turns keys into
//! [`Action`]s. No I/O here, so every transition is unit-tested without a terminal.
//!
//! Normal-mode keys are not written here: they are the focused view's
//! ([`View::keys`](super::views::View::keys)) and the global keymap (`keymap.rs`), tried in
//! that order. This file holds the modes that read keys themselves (filter, `:` line,
//! search prompt, compose form, help, dialogs).

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::browse::jobs::Job;
use crate::ops::{DeleteMessage, Write};

use super::app::{Action, App, Confirm, Mode, PromptTarget};
use super::command;
use super::compose::{ComposeForm, FormOutcome};
use super::keymap;
use super::text_input::{Edit, TextField};

pub fn handle_key(app: &mut App, key: KeyEvent) -> Vec<Action> {
    dispatch_key(app, key).unwrap_or_default()
}

/// [`handle_key`], telling a key that did something (`Some`, perhaps with no action) from
/// one that nothing in normal mode handles (`None`). Other modes take every key.
pub fn dispatch_key(app: &mut App, key: KeyEvent) -> Option<Vec<Action>> {
    let actions = dispatch_unguarded(app, key)?;
    Some(app.guard_read_only(actions))
}

fn dispatch_unguarded(app: &mut App, key: KeyEvent) -> Option<Vec<Action>> {
    // Key releases/repeats arrive on some terminals (kitty protocol); act on presses only.
    if key.kind == KeyEventKind::Release {
        return None;
    }
    // Ctrl-C always leaves at once: raw mode turns it into a key, so it must be handled here.
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        app.quit = true;
        return Some(vec![Action::Quit]);
    }
    let mode = std::mem::replace(&mut app.mode, Mode::Normal);
    Some(match mode {
        Mode::Normal => return normal(app, key),
        Mode::Filter(field) => filter(app, field, key),
        Mode::Command(field) => command::key(app, field, key),
        Mode::SearchPrompt { target, field } => search_prompt(app, target, field, key),
        Mode::Compose(form) => compose(app, form, key),
        Mode::Help { scroll } => help(app, scroll, key),
        Mode::Confirm(c) => confirm(app, c, key),
        Mode::Trace { scroll } => trace(app, scroll, key),
    })
}

/// Normal mode: the focused view's keys first, then the global keymap.
fn normal(app: &mut App, key: KeyEvent) -> Option<Vec<Action>> {
    let view = app.focus.view();
    view.handle_key(app, key)
        .or_else(|| keymap::dispatch(keymap::global(), app, key))
}

fn filter(app: &mut App, mut field: TextField, key: KeyEvent) -> Vec<Action> {
    let pane = app.focus;
    match key.code {
        KeyCode::Esc => {
            let list = app.list_mut(pane);
            list.filter.clear();
            list.selected = 0;
        }
        KeyCode::Enter => {}
        _ => {
            if field.handle(key) == Edit::Changed {
                let list = app.list_mut(pane);
                list.filter = field.value().to_string();
                list.selected = 0;
            }
            app.mode = Mode::Filter(field);
        }
    }
    Vec::new()
}

fn search_prompt(
    app: &mut App,
    target: PromptTarget,
    mut field: TextField,
    key: KeyEvent,
) -> Vec<Action> {
    match key.code {
        KeyCode::Esc => Vec::new(),
        KeyCode::Enter => {
            let value = field.value().trim().to_string();
            match target {
                PromptTarget::Query => vec![app.start_search(&value)],
                PromptTarget::Channel | PromptTarget::Author => {
                    let v = (!value.is_empty()).then_some(value);
                    if target == PromptTarget::Channel {
                        app.search.query.channel = v;
                    } else {
                        app.search.query.author = v;
                    }
                    app.search.query.page = 0;
                    app.search.selected = 0;
                    vec![app.search_action()]
                }
            }
        }
        _ => {
            field.handle(key);
            app.mode = Mode::SearchPrompt { target, field };
            Vec::new()
        }
    }
}

fn compose(app: &mut App, mut form: ComposeForm, key: KeyEvent) -> Vec<Action> {
    match form.handle(key) {
        FormOutcome::Editing => {
            app.mode = Mode::Compose(form);
            Vec::new()
        }
        FormOutcome::Cancel => Vec::new(),
        FormOutcome::Submit(write) => {
            // Remember who/where for the next message, as a chat client would.
            if let Write::Post(p) = &write {
                app.channel = p.channel_id.clone();
                app.author = p.author_id.clone();
            }
            vec![Action::Write(write)]
        }
    }
}

/// The help overlay reads its keys from [`keymap::HELP`]; any other key leaves it open.
fn help(app: &mut App, scroll: u16, key: KeyEvent) -> Vec<Action> {
    app.mode = Mode::Help { scroll };
    keymap::dispatch(keymap::HELP, app, key);
    Vec::new()
}

fn confirm(app: &mut App, c: Confirm, key: KeyEvent) -> Vec<Action> {
    let yes = matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y'))
        || (key.code == KeyCode::Enter && c == Confirm::Quit)
        || (key.code == KeyCode::Char('q') && c == Confirm::Quit);
    let no = matches!(
        key.code,
        KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc
    ) || key.code == KeyCode::Enter;
    if yes {
        return match c {
            Confirm::Quit => {
                app.quit = true;
                vec![Action::Quit]
            }
            Confirm::Delete { message_id, .. } => {
                vec![Action::Write(Write::Delete {
                    message_id,
                    delete: DeleteMessage {
                        deleted_by: Some(app.author.clone()),
                    },
                })]
            }
            Confirm::Redrive { filter, .. } => {
                app.flash_info("re-driving…");
                vec![Action::Job(Job::Redrive {
                    filter,
                    dry_run: false,
                })]
            }
            Confirm::RedriveOne { dead, .. } => vec![Action::Job(Job::RedriveOne { dead })],
            Confirm::Reset { group, rows, .. } => {
                app.flash_info(format!("resetting {group}…"));
                vec![Action::Job(Job::ApplyReset { group, rows })]
            }
        };
    }
    if !no {
        app.mode = Mode::Confirm(c);
    }
    Vec::new()
}

/// The trace overlay: scrolled with the arrows, `j`/`k`, `]`/`[`; closed by `esc`, `q`,
/// `enter` or `f`.
fn trace(app: &mut App, scroll: u16, key: KeyEvent) -> Vec<Action> {
    let scroll = match key.code {
        KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') | KeyCode::Char('f') => {
            app.trace = None;
            return Vec::new();
        }
        KeyCode::Down | KeyCode::Char('j') => scroll.saturating_add(1),
        KeyCode::Up | KeyCode::Char('k') => scroll.saturating_sub(1),
        KeyCode::Char(']') | KeyCode::PageDown => scroll.saturating_add(10),
        KeyCode::Char('[') | KeyCode::PageUp => scroll.saturating_sub(10),
        KeyCode::Home | KeyCode::Char('g') => 0,
        _ => scroll,
    };
    app.mode = Mode::Trace { scroll };
    Vec::new()
}
