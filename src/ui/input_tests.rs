//! The keyboard state machine, driven key by key without a terminal.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{Action, App, Confirm, Mode, PromptTarget, SearchStatus};
use super::compose::Field;
use super::input::handle_key;
use super::test_support::{self as ts, NOW};
use super::views::ViewId;
use crate::ops::Write;
use crate::search::{SearchError, SortOrder};

fn key(app: &mut App, code: KeyCode) -> Vec<Action> {
    handle_key(app, KeyEvent::new(code, KeyModifiers::NONE))
}

fn ch(app: &mut App, c: char) -> Vec<Action> {
    key(app, KeyCode::Char(c))
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        ch(app, c);
    }
}

fn app() -> App {
    ts::app(ts::normal())
}

#[test]
fn quit_asks_first_and_ctrl_c_does_not() {
    let mut a = app();
    assert!(ch(&mut a, 'q').is_empty());
    assert_eq!(a.mode, Mode::Confirm(Confirm::Quit));
    assert!(ch(&mut a, 'n').is_empty());
    assert_eq!(a.mode, Mode::Normal);
    assert!(!a.quit);
    ch(&mut a, 'q');
    assert_eq!(ch(&mut a, 'y'), vec![Action::Quit]);
    assert!(a.quit);

    let mut a = app();
    ch(&mut a, 's');
    let out = handle_key(
        &mut a,
        KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
    );
    assert_eq!(out, vec![Action::Quit], "ctrl-c quits even inside a form");
}

#[test]
fn panes_cycle_with_tab_and_numbers() {
    let mut a = app();
    assert_eq!(a.focus, ViewId::Throughput);
    key(&mut a, KeyCode::Tab);
    assert_eq!(a.focus, ViewId::Lag);
    key(&mut a, KeyCode::BackTab);
    key(&mut a, KeyCode::BackTab);
    assert_eq!(a.focus, ViewId::Dlq, "back from the first: the last");
    key(&mut a, KeyCode::BackTab);
    assert_eq!(a.focus, ViewId::Tail);
    key(&mut a, KeyCode::BackTab);
    assert_eq!(a.focus, ViewId::Analytics);
    key(&mut a, KeyCode::BackTab);
    assert_eq!(a.focus, ViewId::Cqrs);
    key(&mut a, KeyCode::BackTab);
    assert_eq!(a.focus, ViewId::Search);
    ch(&mut a, '4');
    assert_eq!(a.focus, ViewId::Notifications);
    ch(&mut a, '9');
    assert_eq!(a.focus, ViewId::Dlq);
    ch(&mut a, '4');
    ch(&mut a, 'z');
    assert!(a.zoomed);
    key(&mut a, KeyCode::Esc);
    assert!(!a.zoomed);
}

#[test]
fn selection_moves_and_is_clamped() {
    let mut a = app();
    ch(&mut a, '2');
    for _ in 0..10 {
        ch(&mut a, 'j');
    }
    assert_eq!(a.list(ViewId::Lag).selected, 3, "4 group/topic rows");
    key(&mut a, KeyCode::Up);
    assert_eq!(a.list(ViewId::Lag).selected, 2);
    ch(&mut a, 'g');
    assert_eq!(a.list(ViewId::Lag).selected, 0);
    ch(&mut a, 'G');
    assert_eq!(a.list(ViewId::Lag).selected, 3);
}

#[test]
fn enter_drills_into_partitions_and_esc_returns() {
    let mut a = app();
    ch(&mut a, '2');
    ch(&mut a, 'G');
    key(&mut a, KeyCode::Enter);
    assert_eq!(
        a.lag_drill,
        Some((
            "notification-service".into(),
            "platform.messages.created".into()
        ))
    );
    assert_eq!(a.list(ViewId::Lag).selected, 0);
    ch(&mut a, 'j');
    assert_eq!(a.list(ViewId::Lag).selected, 1);
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.lag_drill, None);
    assert_eq!(
        a.list(ViewId::Lag).selected,
        3,
        "back on the row we came from"
    );

    ch(&mut a, '1');
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.topic_drill.as_deref(), Some("platform.messages.created"));
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.topic_drill, None);
}

#[test]
fn filter_mode_applies_as_typed_enter_keeps_esc_clears() {
    let mut a = app();
    ch(&mut a, '4');
    ch(&mut a, '/');
    assert!(matches!(a.mode, Mode::Filter(_)));
    typed(&mut a, "ch_dev");
    assert_eq!(a.filter(ViewId::Notifications), "ch_dev");
    assert_eq!(super::model::notifications(&a).len(), 2);
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.mode, Mode::Normal);
    assert_eq!(a.filter(ViewId::Notifications), "ch_dev");
    // `q` typed into a filter is text, not quit.
    ch(&mut a, '/');
    ch(&mut a, 'q');
    assert_eq!(a.filter(ViewId::Notifications), "ch_devq");
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.mode, Mode::Normal);
    assert_eq!(a.filter(ViewId::Notifications), "");
}

#[test]
fn command_mode_navigates_and_searches() {
    let mut a = app();
    ch(&mut a, ':');
    typed(&mut a, "groups");
    assert!(key(&mut a, KeyCode::Enter).is_empty());
    assert_eq!(a.focus, ViewId::Lag);
    ch(&mut a, ':');
    typed(&mut a, "topics");
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.focus, ViewId::Throughput);

    ch(&mut a, ':');
    typed(&mut a, "search 배포 완료");
    let out = key(&mut a, KeyCode::Enter);
    assert_eq!(a.focus, ViewId::Search);
    match out.as_slice() {
        [Action::Search { id, query }] => {
            assert_eq!(query.text, "배포 완료");
            assert_eq!(query.page, 0);
            assert_eq!(a.search.pending, Some(*id));
        }
        other => panic!("expected one search, got {other:?}"),
    }
    assert_eq!(a.search.status, SearchStatus::Running);

    ch(&mut a, ':');
    typed(&mut a, "nonsense");
    key(&mut a, KeyCode::Enter);
    let flash = a.flash.clone().expect("explains");
    assert!(
        flash.text.contains("unknown command :nonsense"),
        "{}",
        flash.text
    );

    ch(&mut a, ':');
    ch(&mut a, 'x');
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.mode, Mode::Normal, "esc abandons the command");

    ch(&mut a, ':');
    ch(&mut a, 'q');
    assert_eq!(key(&mut a, KeyCode::Enter), vec![Action::Quit]);
}

#[test]
fn command_mode_load_and_rate() {
    let mut a = app();
    ch(&mut a, ':');
    typed(&mut a, "rate 200");
    assert_eq!(key(&mut a, KeyCode::Enter), vec![Action::SetRate(200)]);
    ch(&mut a, ':');
    typed(&mut a, "load off");
    assert_eq!(
        key(&mut a, KeyCode::Enter),
        vec![Action::SetRate(200), Action::SetLoad(false)]
    );
    ch(&mut a, ':');
    typed(&mut a, "send hi @bob");
    match key(&mut a, KeyCode::Enter).as_slice() {
        [Action::Write(Write::Post(p))] => {
            assert_eq!(p.content, "hi @bob");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn search_prompt_filters_paging_and_responses() {
    let mut a = app();
    ch(&mut a, '5');
    ch(&mut a, '/');
    assert!(matches!(
        a.mode,
        Mode::SearchPrompt {
            target: PromptTarget::Query,
            ..
        }
    ));
    typed(&mut a, "배포");
    let id = match key(&mut a, KeyCode::Enter).as_slice() {
        [Action::Search { id, query }] => {
            assert_eq!(query.text, "배포");
            *id
        }
        other => panic!("{other:?}"),
    };
    // A stale answer is ignored; the current one is shown.
    a.on_search_response(id - 1, Err(SearchError::Failed("old".into())));
    assert_eq!(a.search.status, SearchStatus::Running);
    a.on_search_response(id, Ok(ts::results()));
    assert_eq!(super::model::search_hits(&a).len(), 3);

    ch(&mut a, 'c');
    typed(&mut a, "ch_ops");
    match key(&mut a, KeyCode::Enter).as_slice() {
        [Action::Search { query, .. }] => {
            assert_eq!(query.channel.as_deref(), Some("ch_ops"));
            assert_eq!(query.text, "배포", "the words stay");
        }
        other => panic!("{other:?}"),
    }
    a.on_search_response(a.search.pending.expect("pending"), Ok(ts::results()));
    // 23 hits at 20 a page: page 2 exists, page 3 does not.
    match ch(&mut a, 'n').as_slice() {
        [Action::Search { query, .. }] => assert_eq!(query.page, 1),
        other => panic!("{other:?}"),
    }
    a.on_search_response(a.search.pending.expect("pending"), Ok(ts::results()));
    assert!(ch(&mut a, 'n').is_empty());
    match ch(&mut a, 'p').as_slice() {
        [Action::Search { query, .. }] => assert_eq!(query.page, 0),
        other => panic!("{other:?}"),
    }
    match ch(&mut a, 'o').as_slice() {
        [Action::Search { query, .. }] => assert_eq!(query.sort, SortOrder::NewestFirst),
        other => panic!("{other:?}"),
    }
    // esc clears the channel/author filters.
    match key(&mut a, KeyCode::Esc).as_slice() {
        [Action::Search { query, .. }] => assert_eq!(query.channel, None),
        other => panic!("{other:?}"),
    }
}

#[test]
fn search_results_refresh_when_more_is_indexed() {
    let mut a = app();
    let out = super::command::run_command(&mut a, "search 배포");
    let [Action::Search { id, .. }] = out.as_slice() else {
        panic!("{out:?}")
    };
    a.on_search_response(*id, Ok(ts::results()));
    let mut next = ts::normal();
    next.totals.indexed += 5;
    a.now_ms = NOW + 5_000;
    let out = a.on_snapshot(next.clone());
    assert!(matches!(out.as_slice(), [Action::Search { .. }]), "{out:?}");
    // While that refresh runs, the old results stay on screen.
    assert_eq!(super::model::search_hits(&a).len(), 3);
    assert!(a.on_snapshot(next).is_empty(), "one refresh at a time");
}

#[test]
fn compose_sends_message_created_with_mentions() {
    let mut a = app();
    ch(&mut a, 's');
    let Mode::Compose(form) = &a.mode else {
        panic!("compose open")
    };
    assert_eq!(form.focus, Field::Text, "type straight away");
    typed(&mut a, "프로젝트 배포 완료 @user_002");
    // Keys that mean something in normal mode are text here.
    typed(&mut a, " q?L");
    key(&mut a, KeyCode::Backspace);
    key(&mut a, KeyCode::Backspace);
    key(&mut a, KeyCode::Backspace);
    key(&mut a, KeyCode::Backspace);
    key(&mut a, KeyCode::BackTab);
    key(&mut a, KeyCode::BackTab);
    let Mode::Compose(form) = &a.mode else {
        panic!("still composing")
    };
    assert_eq!(form.focus, Field::Channel);
    handle_key(
        &mut a,
        KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL),
    );
    typed(&mut a, "ch_dev");
    key(&mut a, KeyCode::Enter); // next field
    key(&mut a, KeyCode::Enter); // text
    let out = key(&mut a, KeyCode::Enter);
    match out.as_slice() {
        [Action::Write(Write::Post(p))] => {
            assert_eq!(p.channel_id, "ch_dev");
            assert_eq!(p.author_id, "user_001");
            assert_eq!(p.content, "프로젝트 배포 완료 @user_002");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(a.mode, Mode::Normal);
    assert_eq!(a.channel, "ch_dev", "remembered for the next message");
}

#[test]
fn compose_refuses_empty_text_and_esc_cancels() {
    let mut a = app();
    ch(&mut a, 's');
    assert!(key(&mut a, KeyCode::Enter).is_empty());
    let Mode::Compose(form) = &a.mode else {
        panic!("form stays open")
    };
    assert_eq!(form.error.as_deref(), Some("text is empty"));
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.mode, Mode::Normal);
}

#[test]
fn compose_checks_the_write_sides_rules_before_sending() {
    let mut a = app();
    a.channel = "general".into();
    ch(&mut a, 's');
    typed(&mut a, "hello");
    assert!(key(&mut a, KeyCode::Enter).is_empty(), "not sent");
    let Mode::Compose(form) = &a.mode else {
        panic!("form stays open")
    };
    let error = form.error.as_deref().unwrap_or_default();
    assert!(error.starts_with("channel_id: must start with"), "{error}");
}

fn with_hits() -> App {
    let mut a = app();
    let out = super::command::run_command(&mut a, "search 배포");
    let [Action::Search { id, .. }] = out.as_slice() else {
        panic!("{out:?}")
    };
    a.on_search_response(*id, Ok(ts::results()));
    a
}

#[test]
fn edit_a_hit_publishes_message_updated() {
    let mut a = with_hits();
    ch(&mut a, 'j');
    ch(&mut a, 'e');
    let Mode::Compose(form) = &a.mode else {
        panic!("edit form")
    };
    assert_eq!(
        form.text.value(),
        "배포 rollback done, lag is back to normal"
    );
    typed(&mut a, " @user_009");
    match key(&mut a, KeyCode::Enter).as_slice() {
        [Action::Write(Write::Edit { message_id, edit })] => {
            assert_eq!(message_id, "msg_0190b5d2-0002");
            assert!(edit.content.ends_with("@user_009"));
            assert_eq!(edit.editor_id.as_deref(), Some("user_001"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn delete_a_hit_asks_then_publishes_message_deleted() {
    let mut a = with_hits();
    ch(&mut a, 'd');
    assert!(matches!(a.mode, Mode::Confirm(Confirm::Delete { .. })));
    assert!(
        key(&mut a, KeyCode::Enter).is_empty(),
        "enter is no for a delete"
    );
    assert_eq!(a.mode, Mode::Normal);
    ch(&mut a, 'd');
    match ch(&mut a, 'y').as_slice() {
        [Action::Write(Write::Delete { message_id, delete })] => {
            assert_eq!(message_id, "msg_0190b5d2-0001");
            assert_eq!(delete.deleted_by.as_deref(), Some("user_001"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn edit_and_delete_need_a_hit() {
    let mut a = app();
    ch(&mut a, '5');
    assert!(ch(&mut a, 'e').is_empty());
    assert!(ch(&mut a, 'd').is_empty());
    assert_eq!(a.mode, Mode::Normal);
}

#[test]
fn load_generator_toggle_and_rate_steps() {
    let mut a = app();
    a.load_on = false;
    a.load_rate = 50;
    assert_eq!(
        ch(&mut a, 'L'),
        vec![Action::SetRate(50), Action::SetLoad(true)]
    );
    assert_eq!(ch(&mut a, '+'), vec![Action::SetRate(100)]);
    assert_eq!(ch(&mut a, '+'), vec![Action::SetRate(200)]);
    assert_eq!(ch(&mut a, '-'), vec![Action::SetRate(100)]);
    assert_eq!(ch(&mut a, 'L'), vec![Action::SetLoad(false)]);
    a.load_rate = 1;
    assert_eq!(ch(&mut a, '-'), vec![Action::SetRate(1)], "floor");
    a.load_rate = 10_000;
    assert_eq!(ch(&mut a, '+'), vec![Action::SetRate(10_000)], "ceiling");
}

#[test]
fn help_opens_scrolls_and_closes() {
    let mut a = app();
    ch(&mut a, '?');
    assert_eq!(a.mode, Mode::Help { scroll: 0 });
    ch(&mut a, 'j');
    assert_eq!(a.mode, Mode::Help { scroll: 1 });
    ch(&mut a, 'L');
    assert_eq!(a.mode, Mode::Help { scroll: 1 }, "other keys do nothing");
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.mode, Mode::Normal);
}

#[test]
fn help_lists_every_normal_mode_key() {
    let listed: String = super::keymap::global()
        .chain(ViewId::ALL.iter().flat_map(|id| id.view().keys()))
        .map(|b| format!(" {} ", b.label))
        .collect();
    for k in [
        "?",
        ":",
        "q",
        "s",
        "L",
        "+",
        "-",
        "tab",
        "shift-tab",
        "j",
        "k",
        "g",
        "G",
        "enter",
        "esc",
        "z",
        "/",
        "c",
        "a",
        "n",
        "p",
        "o",
        "r",
        "e",
        "d",
    ] {
        assert!(listed.contains(&format!(" {k} ")), "{k} missing from help");
    }
}

#[test]
fn key_releases_are_ignored() {
    let mut a = app();
    let mut release = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
    release.kind = crossterm::event::KeyEventKind::Release;
    assert!(handle_key(&mut a, release).is_empty());
    assert_eq!(a.mode, Mode::Normal);
}

#[test]
fn snapshot_loading_and_load_generator_state() {
    let mut a = ts::app(crate::monitor::snapshot::Snapshot::empty("", ""));
    assert!(!a.loaded);
    a.on_snapshot(ts::normal());
    assert!(a.loaded);
    assert!(a.load_on);
    assert_eq!(a.load_rate, 50);
}
