//! The k9s-style `:` command line: a view's name opens that view in place of the dashboard
//! (`:lag`, `:search WORDS`), `:dashboard` (or `esc`) brings the dashboard back, and a few
//! verbs act (`:send`, `:load`, `:rate`, `:reindex`, `:pause`/`:resume`/`:restart`/`:stop`/
//! `:start` WORKER, `:trace ID`, `:reset GROUP TO`, `:help`, `:q`). `tab` completes a name; an unknown
//! one is answered with the names that exist, never ignored. Pure, like `input.rs`.

use crossterm::event::{KeyCode, KeyEvent};

use super::app::{Action, App, Mode};
use super::compose::{ComposeForm, FormOutcome};
use super::keymap::{self, focus, COMMANDS};
use super::text_input::TextField;
use super::views::{ViewId, DASHBOARD};
use crate::ops::{Control, WorkerId};

/// The verbs that are not views, as `tab` completes them (aliases are not offered).
pub(crate) const VERBS: &[&str] = &[
    "send", "load", "rate", "reindex", "pause", "resume", "restart", "stop", "start", "trace",
    "reset", "help", "quit",
];

/// A key while the `:` line is open.
pub fn key(app: &mut App, mut field: TextField, key: KeyEvent) -> Vec<Action> {
    match key.code {
        KeyCode::Esc => Vec::new(),
        KeyCode::Enter => run_command(app, field.value()),
        KeyCode::Backspace if field.value().is_empty() => Vec::new(),
        KeyCode::Tab => {
            complete(app, &mut field);
            app.mode = Mode::Command(field);
            Vec::new()
        }
        _ => {
            field.handle(key);
            app.mode = Mode::Command(field);
            Vec::new()
        }
    }
}

/// Every name `tab` offers: views (all their names), the dashboard, the verbs.
fn names() -> impl Iterator<Item = &'static str> {
    ViewId::ALL
        .iter()
        .flat_map(|id| id.view().names().iter().copied())
        .chain(DASHBOARD.iter().copied())
        .chain(VERBS.iter().copied())
}

/// Completes the first word: to the name when one matches, else to what the matches share
/// (listing them), else says nothing matches. Arguments are left alone.
fn complete(app: &mut App, field: &mut TextField) {
    let line = field.value().to_string();
    if line.contains(char::is_whitespace) {
        return;
    }
    let matches: Vec<&str> = names().filter(|n| n.starts_with(line.as_str())).collect();
    match matches.as_slice() {
        [] => app.flash_error(unknown(&line)),
        [one] => field.set(one),
        many => {
            let shared = many.iter().fold(many[0], |acc, n| common_prefix(acc, n));
            field.set(shared);
            app.flash_info(format!(":{line}… {}", many.join(" ")));
        }
    }
}

fn common_prefix<'a>(a: &'a str, b: &str) -> &'a str {
    let end = a
        .char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map_or(a.len().min(b.len()), |((i, _), _)| i);
    &a[..end]
}

/// The answer to a name that is neither a view nor a verb: what exists instead.
fn unknown(name: &str) -> String {
    let views: Vec<&str> = ViewId::ALL.iter().map(|id| id.view().names()[0]).collect();
    format!(
        "unknown command :{name} — views: {} {} · commands: {COMMANDS}",
        views.join(" "),
        DASHBOARD[0]
    )
}

/// Runs a `:` line.
pub fn run_command(app: &mut App, line: &str) -> Vec<Action> {
    let line = line.trim();
    let (verb, rest) = match line.split_once(char::is_whitespace) {
        Some((v, r)) => (v, r.trim()),
        None => (line, ""),
    };
    if let Some(id) = ViewId::by_name(verb) {
        // The chosen view takes the main area; keys go to it.
        app.view = Some(id);
        focus(app, id);
        return id.view().open(app, rest);
    }
    match verb {
        "" => {}
        _ if DASHBOARD.contains(&verb) => app.view = None,
        "q" | "q!" | "quit" | "exit" => {
            app.quit = true;
            return vec![Action::Quit];
        }
        "send" if rest.is_empty() => app.flash_error(":send TEXT: give the message text"),
        "send" => {
            let mut form = ComposeForm::new_message(&app.channel, &app.author);
            form.text.set(rest);
            match form.submit() {
                FormOutcome::Submit(write) => return vec![Action::Write(write)],
                _ => app.flash_error(format!(
                    ":send: {}",
                    form.error.as_deref().unwrap_or("not sent")
                )),
            }
        }
        "load" => match rest {
            "on" | "" => return keymap::set_load(app, true),
            "off" => return keymap::set_load(app, false),
            _ => app.flash_error(format!(":load {rest}: use :load on or :load off")),
        },
        "rate" => match rest.parse::<u32>() {
            Ok(rate) if rate > 0 => return keymap::set_rate(app, rate),
            _ => app.flash_error(format!(
                ":rate {rest}: give events per second, e.g. :rate 200"
            )),
        },
        "pause" | "resume" | "restart" | "stop" | "start" => {
            let control = match verb {
                "pause" => Control::Pause,
                "resume" => Control::Resume,
                "restart" => Control::Restart,
                "stop" => Control::Stop,
                _ => Control::Start,
            };
            match rest.parse::<WorkerId>() {
                Ok(worker) => return vec![Action::Control { worker, control }],
                Err(e) => app.flash_error(format!(":{verb} WORKER: {e}")),
            }
        }
        "reindex" if app.reindex.is_some() => {
            app.flash_error(":reindex: a reindex is already running (see its progress below)")
        }
        "reindex" => return vec![Action::Reindex],
        "trace" if rest.is_empty() => app.flash_error(":trace MESSAGE_ID: give the message id"),
        "trace" => return vec![app.trace_action(rest)],
        "reset" => return reset(app, rest),
        "help" | "h" => app.mode = Mode::Help { scroll: 0 },
        other => app.flash_error(unknown(other)),
    }
    Vec::new()
}

/// `:reset GROUP earliest|latest|TIME|OFFSET [TOPIC…]`: asks for the plan (a dry run); the
/// confirmation that shows it applies it. The topics default to those the group reads.
fn reset(app: &mut App, args: &str) -> Vec<Action> {
    const USAGE: &str = ":reset GROUP earliest|latest|15m|2026-12-01T10:00:00Z|OFFSET [TOPIC…]";
    if app.read_only {
        app.flash_error("read-only: offset reset is turned off (started with --read-only)");
        return Vec::new();
    }
    if !app.resets_offered {
        app.flash_error(
            "offset reset is not offered on the embedded broker: it does not describe groups, \
             so eventdeck cannot make sure no member would undo it",
        );
        return Vec::new();
    }
    let words: Vec<&str> = args.split_whitespace().collect();
    let [group, to, topics @ ..] = words.as_slice() else {
        app.flash_error(format!("{USAGE}: give the group and where to"));
        return Vec::new();
    };
    let target = match crate::browse::reset::ResetTo::parse(to, app.now_ms) {
        Ok(t) => t,
        Err(e) => {
            app.flash_error(format!(":reset {group} {to}: {e}"));
            return Vec::new();
        }
    };
    let mut topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
    if topics.is_empty() {
        topics = app
            .snapshot
            .groups
            .iter()
            .filter(|g| g.group == *group)
            .flat_map(|g| g.topics.iter().map(|t| t.topic.clone()))
            .collect();
    }
    if topics.is_empty() {
        app.flash_error(format!(
            ":reset {group}: the group reads no topic known here; name them: {USAGE}"
        ));
        return Vec::new();
    }
    app.flash_info(format!("reading {group}'s offsets for the plan…"));
    vec![Action::Job(crate::browse::jobs::Job::PlanReset {
        group: group.to_string(),
        topics,
        to: target,
        label: to.to_string(),
    })]
}
