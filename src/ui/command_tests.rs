//! The `:` line: views by name take the main area, `:dashboard` and `esc` bring the
//! dashboard back, `tab` completes, unknown names are answered with what exists.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{Action, App, Mode};
use super::input::handle_key;
use super::test_support::{self as ts, screen};
use super::views::ViewId;

fn key(app: &mut App, code: KeyCode) -> Vec<Action> {
    handle_key(app, KeyEvent::new(code, KeyModifiers::NONE))
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, KeyCode::Char(c));
    }
}

/// Types `:line` and presses enter.
fn command(app: &mut App, line: &str) -> Vec<Action> {
    key(app, KeyCode::Char(':'));
    typed(app, line);
    key(app, KeyCode::Enter)
}

#[test]
fn every_view_opens_by_each_of_its_names() {
    for &id in ViewId::ALL {
        for name in id.view().names() {
            let mut app = ts::app(ts::normal());
            command(&mut app, name);
            assert_eq!(app.view, Some(id), ":{name}");
            assert_eq!(app.focus, id, ":{name} focuses the view");
        }
    }
}

#[test]
fn a_view_takes_the_main_area_and_esc_or_dashboard_return() {
    let mut app = ts::app(ts::normal());
    let dashboard = screen(&app, 120, 40);
    assert!(dashboard.contains("Partition assignments"));
    command(&mut app, "lag");
    let lag = screen(&app, 120, 40);
    assert!(lag.contains("Consumer lag"), "{lag}");
    assert!(!lag.contains("Partition assignments"), "{lag}");
    assert!(!lag.contains("Throughput"), "{lag}");

    let footer = lag.lines().last().unwrap_or_default().to_string();
    assert!(footer.contains("esc dashboard"), "{footer}");

    // esc leaves a drill-down first, then the view; the footer says which comes next.
    key(&mut app, KeyCode::Enter);
    assert!(app.lag_drill.is_some());
    let footer = screen(&app, 120, 40)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(footer.contains("esc back"), "{footer}");
    assert!(!footer.contains("esc dashboard"), "{footer}");
    key(&mut app, KeyCode::Esc);
    assert!(app.lag_drill.is_none());
    assert_eq!(app.view, Some(ViewId::Lag));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.view, None);
    assert!(
        screen(&app, 120, 40).contains("Partition assignments"),
        "dashboard again"
    );

    command(&mut app, "notifications");
    assert_eq!(app.view, Some(ViewId::Notifications));
    // Zoom is the dashboard's: not offered, and `z` does nothing, in a `:` view.
    let footer = screen(&app, 120, 40)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(!footer.contains("z zoom"), "{footer}");
    key(&mut app, KeyCode::Char('z'));
    assert!(!app.zoomed);
    command(&mut app, "dashboard");
    assert_eq!(app.view, None);
    assert_eq!(app.focus, ViewId::Notifications, "focus stays where it was");
}

#[test]
fn switching_views_inside_a_colon_view_keeps_keys_and_screen_together() {
    let mut app = ts::app(ts::normal());
    command(&mut app, "throughput");
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.view, Some(ViewId::Lag));
    assert_eq!(app.focus, ViewId::Lag);
    key(&mut app, KeyCode::Char('5'));
    assert_eq!(app.view, Some(ViewId::Search));
    // On the dashboard the same keys only move the focus.
    command(&mut app, "dashboard");
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.view, None);
    assert_eq!(app.focus, ViewId::Cqrs);
}

#[test]
fn colon_search_opens_the_view_and_searches() {
    let mut app = ts::app(ts::normal());
    match command(&mut app, "search 배포").as_slice() {
        [Action::Search { query, .. }] => assert_eq!(query.text, "배포"),
        other => panic!("{other:?}"),
    }
    assert_eq!(app.view, Some(ViewId::Search));
}

#[test]
fn unknown_names_list_the_views() {
    let mut app = ts::app(ts::normal());
    assert!(command(&mut app, "foo").is_empty());
    assert_eq!(app.view, None);
    let flash = app.flash.clone().expect("explains").text;
    assert!(flash.contains("unknown command :foo"), "{flash}");
    assert!(
        flash.contains(
            "views: throughput lag assignments notifications search cqrs analytics tail dlq dashboard"
        ),
        "{flash}"
    );
}

#[test]
fn tab_completes_view_names() {
    let field = |app: &App| match &app.mode {
        Mode::Command(f) => f.value().to_string(),
        other => panic!("command line closed: {other:?}"),
    };
    let mut app = ts::app(ts::normal());
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "assi");
    key(&mut app, KeyCode::Tab);
    assert_eq!(field(&app), "assignments");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.view, Some(ViewId::Assignments));

    // Several matches: as far as they agree, and the choices in the footer.
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "no");
    key(&mut app, KeyCode::Tab);
    assert_eq!(field(&app), "notif");
    let flash = app.flash.clone().expect("choices").text;
    assert!(
        flash.contains("notifications") && flash.contains("notif"),
        "{flash}"
    );

    // Nothing matches: said at once, the line stays open to be corrected.
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "zz");
    key(&mut app, KeyCode::Tab);
    assert_eq!(field(&app), "zz");
    assert!(app
        .flash
        .clone()
        .expect("error")
        .text
        .contains("unknown command :zz"));

    // Arguments are not completed.
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "search as");
    key(&mut app, KeyCode::Tab);
    assert_eq!(field(&app), "search as");
}

#[test]
fn every_completed_verb_is_a_known_command() {
    for verb in super::command::VERBS {
        let mut app = ts::app(ts::normal());
        super::command::run_command(&mut app, verb);
        let flash = app.flash.map(|f| f.text).unwrap_or_default();
        assert!(!flash.contains("unknown command"), ":{verb}: {flash}");
    }
}

#[test]
fn worker_verbs_ask_the_supervisor_and_name_the_workers_on_a_typo() {
    use crate::ops::{Control, WorkerId};
    let cases = [
        ("pause indexer", WorkerId::Indexer, Control::Pause),
        ("resume indexer", WorkerId::Indexer, Control::Resume),
        ("restart notifier", WorkerId::Notifier, Control::Restart),
        ("stop producer", WorkerId::Producer, Control::Stop),
        ("start producer", WorkerId::Producer, Control::Start),
    ];
    for (line, worker, control) in cases {
        let mut app = ts::app(ts::normal());
        assert_eq!(
            command(&mut app, line),
            vec![Action::Control { worker, control }],
            ":{line}"
        );
    }
    let mut app = ts::app(ts::normal());
    assert!(command(&mut app, "pause indexr").is_empty());
    let flash = app.flash.clone().expect("explains").text;
    assert!(
        flash.contains(":pause WORKER: unknown worker \"indexr\"")
            && flash.contains("producer, indexer, notifier"),
        "{flash}"
    );
}

#[test]
fn colon_cqrs_opens_write_vs_read() {
    for name in [":cqrs", ":writeread"] {
        let mut app = ts::app(ts::normal());
        command(&mut app, &name[1..]);
        assert_eq!(app.view, Some(ViewId::Cqrs), "{name}");
        assert_eq!(app.focus, ViewId::Cqrs, "{name}");
        let text = screen(&app, 100, 30);
        assert!(text.contains("6 Write vs read"), "{text}");
        assert!(!text.contains("Consumer lag"), "{text}");
        key(&mut app, KeyCode::Esc);
        assert_eq!(app.view, None, "esc: the dashboard again");
    }
}

/// The dashboard has no place for write vs read: focused by its number it is shown alone,
/// and the next view brings the dashboard back.
#[test]
fn focusing_write_vs_read_on_the_dashboard_shows_it() {
    let mut app = ts::app(ts::normal());
    key(&mut app, KeyCode::Char('6'));
    assert_eq!(app.focus, ViewId::Cqrs);
    assert_eq!(app.view, None);
    let text = screen(&app, 120, 40);
    assert!(text.contains("6 Write vs read"), "{text}");
    assert!(!text.contains("Partition assignments"), "{text}");
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, ViewId::Analytics);
    let text = screen(&app, 120, 40);
    assert!(text.contains("7 Analytics"), "{text}");
    assert!(
        text.contains("the analytics worker does not run in this process"),
        "{text}"
    );
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, ViewId::Tail);
    let text = screen(&app, 120, 40);
    assert!(text.contains("8 Tail"), "{text}");
    assert!(text.contains("no topic tailed"), "{text}");
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, ViewId::Dlq);
    let text = screen(&app, 120, 40);
    assert!(text.contains("9 Dead letters"), "{text}");
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, ViewId::Throughput);
    assert!(screen(&app, 120, 40).contains("Partition assignments"));
}

#[test]
fn reindex_is_asked_once_and_refused_while_one_runs() {
    use crate::ops::{ReindexProgress, Stage};
    use crate::replay::read_log::Progress;
    let mut app = ts::app(ts::normal());
    assert_eq!(command(&mut app, "reindex"), vec![Action::Reindex]);
    app.on_reindex_progress(ReindexProgress {
        stage: Stage::Reading,
        progress: Progress::at(10, 100, std::time::Duration::from_secs(1)),
    });
    assert!(command(&mut app, "reindex").is_empty());
    let flash = app
        .flash
        .as_ref()
        .map(|f| f.text.clone())
        .unwrap_or_default();
    assert!(flash.contains("already running"), "{flash}");
}

/// `--read-only`: the keys that write are not offered, and no command, key or form can
/// write; the title bar says so.
#[test]
fn read_only_offers_and_does_nothing_that_writes() {
    let mut app = ts::app(ts::normal());
    app.read_only = true;
    for c in ['s', 'L', '+', '-'] {
        assert_eq!(
            super::input::dispatch_key(
                &mut app,
                KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
            ),
            None,
            "{c} is not offered"
        );
        assert_eq!(app.mode, Mode::Normal);
    }
    for line in ["send hello", "load on", "rate 200", "reindex"] {
        assert!(command(&mut app, line).is_empty(), ":{line} does nothing");
        let flash = app.flash.clone().expect("says why").text;
        assert!(flash.starts_with("read-only:"), ":{line}: {flash}");
    }
    // Reading still works.
    assert!(matches!(
        command(&mut app, "search kumquat").as_slice(),
        [Action::Search { .. }]
    ));
    app.focus = ViewId::Search;
    app.search.status = super::app::SearchStatus::Done(ts::results());
    for c in ['e', 'd'] {
        let out = super::input::dispatch_key(
            &mut app,
            KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE),
        );
        assert_eq!(out, None, "{c} on a hit is not offered");
    }
    let text = screen(&app, 120, 40);
    assert!(
        text.lines()
            .next()
            .unwrap_or_default()
            .contains("READ-ONLY"),
        "{text}"
    );
    let footer = text.lines().last().unwrap_or_default().to_string();
    assert!(
        !footer.contains(" send") && !footer.contains("edit"),
        "{footer}"
    );
}
