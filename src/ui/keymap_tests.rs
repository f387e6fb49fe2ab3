//! The keymap against the keyboard, key by key: every declared key does something in some
//! state of its view, every key that does something is declared, and help and footer show
//! what the declarations say.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{Action, App};
use super::input::dispatch_key;
use super::keymap::{self, KeyBinding};
use super::panes::help;
use super::test_support::{self as ts, screen};
use super::views::ViewId;

/// The states a view is tested in: plain (with search hits, so `e` and `d` have a hit),
/// drilled in (`enter`), with the search's channel filter set, and opened as a `:` view.
/// Every binding must be active in at least one of them.
fn states(id: ViewId) -> Vec<App> {
    let plain = || {
        let mut a = ts::app(ts::normal());
        a.search.status = super::app::SearchStatus::Done(ts::results());
        a.focus = id;
        a
    };
    let mut drilled = plain();
    dispatch_key(&mut drilled, press(KeyCode::Enter));
    let mut filtered = plain();
    filtered.search.query.channel = Some("ch_dev".into());
    let mut colon_view = plain();
    colon_view.view = Some(id);
    // Tailing a topic with a record, the record open.
    let mut tailing = plain();
    ts::tail_rows(&mut tailing, &[b"{}", &ts::created_event("m-1")]);
    tailing.tail.detail = Some(0);
    // The dead letters read, one open.
    let mut dead_letters = plain();
    ts::dlq_rows(&mut dead_letters);
    let mut dead_letter_open = plain();
    ts::dlq_rows(&mut dead_letter_open);
    dead_letter_open.tail.detail = Some(0);
    // On the embedded broker: no offset reset.
    let mut embedded = plain();
    embedded.resets_offered = false;
    vec![
        plain(),
        embedded,
        drilled,
        filtered,
        colon_view,
        tailing,
        dead_letters,
        dead_letter_open,
    ]
}

fn press(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn declared(id: ViewId) -> impl Iterator<Item = &'static KeyBinding> {
    id.view().keys().iter().chain(keymap::global())
}

#[test]
fn every_declared_key_is_handled() {
    for &id in ViewId::ALL {
        for b in declared(id) {
            for &code in b.codes {
                let Some(mut app) = states(id).into_iter().find(|a| (b.active)(a)) else {
                    panic!("{id:?}: `{}` is active in no tested state", b.label);
                };
                let out: Option<Vec<Action>> = dispatch_key(&mut app, press(code));
                assert!(
                    out.is_some(),
                    "{id:?}: {code:?} (`{}`: {}) is declared but ignored",
                    b.label,
                    b.help
                );
            }
        }
    }
}

#[test]
fn every_handled_key_is_declared() {
    let mut probe: Vec<KeyCode> = (' '..='~').map(KeyCode::Char).collect();
    probe.extend([
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Backspace,
        KeyCode::Delete,
        KeyCode::Insert,
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::Left,
        KeyCode::Right,
        KeyCode::Home,
        KeyCode::End,
        KeyCode::PageUp,
        KeyCode::PageDown,
    ]);
    probe.extend((1..=12).map(KeyCode::F));
    for &id in ViewId::ALL {
        for (state, _) in states(id).iter().enumerate() {
            for &code in &probe {
                let mut app = states(id).swap_remove(state);
                let listed = declared(id).any(|b| b.handles(code) && (b.active)(&app));
                if dispatch_key(&mut app, press(code)).is_some() {
                    assert!(
                        listed,
                        "{id:?} (state {state}): {code:?} acts but is not declared"
                    );
                }
            }
        }
    }
}

#[test]
fn a_key_of_no_binding_is_ignored() {
    let mut app = ts::app(ts::normal());
    assert_eq!(dispatch_key(&mut app, press(KeyCode::Char('x'))), None);
    assert_eq!(app.mode, super::app::Mode::Normal);
}

#[test]
fn help_shows_the_global_keys_and_the_focused_views() {
    let text =
        |app: &App| -> String { help::lines(app).iter().map(|l| format!("{l}\n")).collect() };
    for &id in ViewId::ALL {
        let mut app = ts::app(ts::normal());
        app.focus = id;
        let shown = text(&app);
        for b in id.view().keys().iter().chain(keymap::global()) {
            let first = b.help.split('\n').next().unwrap_or_default();
            assert!(
                shown.contains(&format!("{}  {first}", b.label)),
                "{id:?}: `{}` missing from help:\n{shown}",
                b.label
            );
        }
        for other in ViewId::ALL {
            assert!(shown.contains(&format!(":{}", other.view().names()[0])));
        }
    }
    let mut app = ts::app(ts::normal());
    app.focus = ViewId::Notifications;
    assert!(
        !text(&app).contains("next / previous page"),
        "another view's keys stay out of help"
    );
}

#[test]
fn footer_follows_the_declarations_and_the_state() {
    let footer = |app: &App| {
        screen(app, 160, 36)
            .lines()
            .last()
            .unwrap_or_default()
            .to_string()
    };
    let mut app = ts::app(ts::normal());
    app.focus = ViewId::Lag;
    assert_eq!(
        footer(&app),
        " ? help : command / filter enter partitions R reset s send L load +/- rate q quit tab pane z zoom"
    );
    dispatch_key(&mut app, press(KeyCode::Enter));
    let drilled = footer(&app);
    assert!(drilled.contains("esc back"), "{drilled}");
    assert!(!drilled.contains("enter partitions"), "{drilled}");
    assert!(!drilled.contains("/ filter"), "{drilled}");
    app.focus = ViewId::Search;
    assert!(
        footer(&app).starts_with(
            " ? help : command / search c/a channel/author n/p page e edit d delete f follow s send"
        ),
        "{}",
        footer(&app)
    );
}

#[test]
fn every_key_of_the_help_overlay_acts() {
    for b in keymap::HELP {
        for &code in b.codes {
            let mut app = ts::app(ts::normal());
            app.mode = super::app::Mode::Help { scroll: 1 };
            dispatch_key(&mut app, press(code));
            assert_ne!(
                app.mode,
                super::app::Mode::Help { scroll: 1 },
                "{code:?} (`{}`) is shown under help but does nothing",
                b.label
            );
        }
    }
}
