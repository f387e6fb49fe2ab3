//! The keyboard state machine: `handle_key` moves between modes and turns keys into
//! [`Action`]s. No I/O here, so every transition is unit-tested without a terminal.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::event::{MessageDeleted, MessageEvent};

use super::app::{Action, App, Confirm, Mode, Pane, PromptTarget};
use super::compose::{ComposeForm, FormOutcome};
use super::model;
use super::text_input::{Edit, TextField};

pub fn handle_key(app: &mut App, key: KeyEvent) -> Vec<Action> {
    // Key releases/repeats arrive on some terminals (kitty protocol); act on presses only.
    if key.kind == KeyEventKind::Release {
        return Vec::new();
    }
    // Ctrl-C always leaves at once: raw mode turns it into a key, so it must be handled here.
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        app.quit = true;
        return vec![Action::Quit];
    }
    let mode = std::mem::replace(&mut app.mode, Mode::Normal);
    match mode {
        Mode::Normal => normal(app, key),
        Mode::Filter(field) => filter(app, field, key),
        Mode::Command(field) => command(app, field, key),
        Mode::SearchPrompt { target, field } => search_prompt(app, target, field, key),
        Mode::Compose(form) => compose(app, form, key),
        Mode::Help { scroll } => help(app, scroll, key),
        Mode::Confirm(c) => confirm(app, c, key),
    }
}

fn normal(app: &mut App, key: KeyEvent) -> Vec<Action> {
    let pane = app.focus;
    if pane == Pane::Search {
        if let Some(actions) = search_pane_key(app, key) {
            return actions;
        }
    }
    match key.code {
        KeyCode::Char('q') => app.mode = Mode::Confirm(Confirm::Quit),
        KeyCode::Char('?') | KeyCode::F(1) => app.mode = Mode::Help { scroll: 0 },
        KeyCode::Char(':') => app.mode = Mode::Command(TextField::default()),
        KeyCode::Char('/') => {
            app.mode = Mode::Filter(TextField::new(app.filter(pane)));
        }
        KeyCode::Tab => focus(app, pane.next()),
        KeyCode::BackTab => focus(app, pane.prev()),
        KeyCode::Char(c @ '1'..='9') => {
            let i = c as usize - '1' as usize;
            if let Some(p) = Pane::ALL.get(i) {
                focus(app, *p);
            }
        }
        KeyCode::Char('j') | KeyCode::Down => move_selection(app, 1),
        KeyCode::Char('k') | KeyCode::Up => move_selection(app, -1),
        KeyCode::PageDown => move_selection(app, 10),
        KeyCode::PageUp => move_selection(app, -10),
        KeyCode::Char('g') | KeyCode::Home => move_selection(app, i64::MIN / 2),
        KeyCode::Char('G') | KeyCode::End => move_selection(app, i64::MAX / 2),
        KeyCode::Enter => drill_in(app),
        KeyCode::Esc => back(app),
        KeyCode::Char('z') => app.zoomed = !app.zoomed,
        KeyCode::Char('s') => {
            app.mode = Mode::Compose(ComposeForm::new_message(&app.channel, &app.author));
        }
        KeyCode::Char('L') => {
            app.load_on = !app.load_on;
            let state = if app.load_on { "on" } else { "off" };
            app.flash_info(format!("load generator {state} at {}/s", app.load_rate));
            let mut actions = vec![Action::SetLoad(app.load_on)];
            if app.load_on {
                actions.insert(0, Action::SetRate(app.load_rate));
            }
            return actions;
        }
        KeyCode::Char('+') | KeyCode::Char('=') | KeyCode::Char('-') => {
            let rate = app.rate_step(key.code != KeyCode::Char('-'));
            app.load_rate = rate;
            app.flash_info(format!("load generator rate {rate}/s"));
            return vec![Action::SetRate(rate)];
        }
        _ => {}
    }
    Vec::new()
}

/// Keys that mean something else on the search pane; `None` falls through to the common map.
fn search_pane_key(app: &mut App, key: KeyEvent) -> Option<Vec<Action>> {
    let prompt = |app: &mut App, target: PromptTarget| {
        let current = match target {
            PromptTarget::Query => app.search.query.text.clone(),
            PromptTarget::Channel => app.search.query.channel.clone().unwrap_or_default(),
            PromptTarget::Author => app.search.query.author.clone().unwrap_or_default(),
        };
        app.mode = Mode::SearchPrompt {
            target,
            field: TextField::new(&current),
        };
        Some(Vec::new())
    };
    match key.code {
        KeyCode::Char('/') => prompt(app, PromptTarget::Query),
        KeyCode::Char('c') => prompt(app, PromptTarget::Channel),
        KeyCode::Char('a') => prompt(app, PromptTarget::Author),
        KeyCode::Char('n') => Some(page(app, 1)),
        KeyCode::Char('p') => Some(page(app, -1)),
        KeyCode::Char('o') => {
            app.toggle_sort();
            app.search.query.page = 0;
            Some(vec![app.search_action()])
        }
        KeyCode::Char('r') => Some(vec![app.search_action()]),
        KeyCode::Char('e') => {
            let hit = model::search_hits(app).get(app.search.selected)?.clone();
            app.mode = Mode::Compose(ComposeForm::edit(
                &hit.doc.message_id,
                &hit.doc.channel,
                &app.author,
                &hit.doc.content,
            ));
            Some(Vec::new())
        }
        KeyCode::Char('d') => {
            let hit = model::search_hits(app).get(app.search.selected)?.clone();
            app.mode = Mode::Confirm(Confirm::Delete {
                message_id: hit.doc.message_id,
                channel_id: hit.doc.channel,
                preview: hit.doc.content,
            });
            Some(Vec::new())
        }
        KeyCode::Esc if app.search.query.channel.is_some() || app.search.query.author.is_some() => {
            app.search.query.channel = None;
            app.search.query.author = None;
            app.search.query.page = 0;
            Some(vec![app.search_action()])
        }
        _ => None,
    }
}

fn page(app: &mut App, delta: i64) -> Vec<Action> {
    let total = app.search_results().map(|r| r.total).unwrap_or(0) as usize;
    let pages = total.div_ceil(app.search.query.page_size.max(1)).max(1);
    let next = (app.search.query.page as i64 + delta).clamp(0, pages as i64 - 1) as usize;
    if next == app.search.query.page {
        return Vec::new();
    }
    app.search.query.page = next;
    app.search.selected = 0;
    vec![app.search_action()]
}

fn focus(app: &mut App, pane: Pane) {
    app.focus = pane;
}

fn move_selection(app: &mut App, delta: i64) {
    let pane = app.focus;
    let n = model::row_count(app, pane) as i64;
    let sel = if pane == Pane::Search {
        &mut app.search.selected
    } else {
        &mut app.list_mut(pane).selected
    };
    let next = (*sel as i64).saturating_add(delta).clamp(0, (n - 1).max(0));
    *sel = next as usize;
}

fn drill_in(app: &mut App) {
    let sel = app.list(app.focus).selected;
    match app.focus {
        Pane::Lag if app.lag_drill.is_none() => {
            let Some(row) = model::lag_rows(app).into_iter().nth(sel) else {
                return;
            };
            app.lag_drill = Some((row.group.group.clone(), row.topic.topic.clone()));
        }
        Pane::Throughput if app.topic_drill.is_none() => {
            let Some(t) = model::topics(app).into_iter().nth(sel) else {
                return;
            };
            app.topic_drill = Some(t.topic.clone());
        }
        _ => return,
    }
    let list = app.list_mut(app.focus);
    list.parent_selected = sel;
    list.selected = 0;
}

/// `esc`: leave a drill-down, else clear the pane's filter, else leave zoom.
fn back(app: &mut App) {
    let pane = app.focus;
    let drilled = match pane {
        Pane::Lag => app.lag_drill.take().is_some(),
        Pane::Throughput => app.topic_drill.take().is_some(),
        _ => false,
    };
    let list = app.list_mut(pane);
    if drilled {
        list.selected = list.parent_selected;
    } else if !list.filter.is_empty() {
        list.filter.clear();
        list.selected = 0;
    } else {
        app.zoomed = false;
    }
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

fn command(app: &mut App, mut field: TextField, key: KeyEvent) -> Vec<Action> {
    match key.code {
        KeyCode::Esc => Vec::new(),
        KeyCode::Enter => run_command(app, field.value()),
        KeyCode::Backspace if field.value().is_empty() => Vec::new(),
        _ => {
            field.handle(key);
            app.mode = Mode::Command(field);
            Vec::new()
        }
    }
}

/// The `:` commands. Unknown ones explain what exists instead of failing silently.
pub fn run_command(app: &mut App, line: &str) -> Vec<Action> {
    let line = line.trim();
    let (verb, rest) = match line.split_once(char::is_whitespace) {
        Some((v, r)) => (v, r.trim()),
        None => (line, ""),
    };
    match verb {
        "" => {}
        "q" | "q!" | "quit" | "exit" => {
            app.quit = true;
            return vec![Action::Quit];
        }
        "topics" | "topic" | "tp" | "throughput" => focus(app, Pane::Throughput),
        "groups" | "group" | "lag" | "consumers" => focus(app, Pane::Lag),
        "assignments" | "members" | "partitions" => focus(app, Pane::Assignments),
        "notifications" | "notif" | "log" => focus(app, Pane::Notifications),
        "search" | "s" => {
            focus(app, Pane::Search);
            return vec![app.start_search(rest)];
        }
        "send" if !rest.is_empty() => {
            let mut form = ComposeForm::new_message(&app.channel, &app.author);
            form.text.set(rest);
            if let FormOutcome::Submit(event) = form.submit() {
                return vec![Action::Publish(event)];
            }
        }
        "load" => match rest {
            "on" | "" => return toggle_load(app, true),
            "off" => return toggle_load(app, false),
            _ => app.flash_error(format!(":load {rest}: use :load on or :load off")),
        },
        "rate" => match rest.parse::<u32>() {
            Ok(rate) if rate > 0 => {
                app.load_rate = rate;
                app.flash_info(format!("load generator rate {rate}/s"));
                return vec![Action::SetRate(rate)];
            }
            _ => app.flash_error(format!(":rate {rest}: give events per second, e.g. :rate 200")),
        },
        "help" | "h" => app.mode = Mode::Help { scroll: 0 },
        other => app.flash_error(format!(
            "unknown command :{other} (try :topics :groups :assignments :notifications :search WORDS :q)"
        )),
    }
    Vec::new()
}

fn toggle_load(app: &mut App, on: bool) -> Vec<Action> {
    app.load_on = on;
    let state = if on { "on" } else { "off" };
    app.flash_info(format!("load generator {state} at {}/s", app.load_rate));
    vec![Action::SetRate(app.load_rate), Action::SetLoad(on)]
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
        FormOutcome::Submit(event) => {
            // Remember who/where for the next message, as a chat client would.
            if let MessageEvent::Created(c) = &event {
                app.channel = c.channel_id.clone();
                app.author = c.author_id.clone();
            }
            vec![Action::Publish(event)]
        }
    }
}

fn help(app: &mut App, scroll: u16, key: KeyEvent) -> Vec<Action> {
    match key.code {
        KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q') | KeyCode::Enter => {}
        KeyCode::Char('j') | KeyCode::Down => {
            app.mode = Mode::Help {
                scroll: scroll.saturating_add(1),
            }
        }
        KeyCode::Char('k') | KeyCode::Up => {
            app.mode = Mode::Help {
                scroll: scroll.saturating_sub(1),
            }
        }
        _ => app.mode = Mode::Help { scroll },
    }
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
            Confirm::Delete {
                message_id,
                channel_id,
                ..
            } => {
                let event = MessageEvent::Deleted(MessageDeleted {
                    message_id,
                    channel_id,
                    deleted_by: app.author.clone(),
                });
                vec![Action::Publish(event)]
            }
        };
    }
    if !no {
        app.mode = Mode::Confirm(c);
    }
    Vec::new()
}
