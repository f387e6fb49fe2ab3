//! The console's browse features against the keyboard and the screen: the dead letters
//! (`:dlq`, `r`, `R`), following a message (`f`, `:trace`), and a group's offset reset
//! (`R`, `:reset`), each through its confirmation, read-only mode included. Pure: the jobs'
//! answers are fed in as the I/O loop would feed them.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use insta::assert_snapshot;

use super::app::{Action, App, Confirm, Mode};
use super::input::handle_key;
use super::test_support::{self as ts, screen};
use super::views::ViewId;
use crate::browse::jobs::{Job, JobDone};
use crate::browse::redrive::RedriveReport;
use crate::browse::reset::{ResetRow, ResetTo};
use crate::browse::trace::Trace;
use crate::ops::WorkerId;

fn key(app: &mut App, code: KeyCode) -> Vec<Action> {
    handle_key(app, KeyEvent::new(code, KeyModifiers::NONE))
}

fn ch(app: &mut App, c: char) -> Vec<Action> {
    key(app, KeyCode::Char(c))
}

fn command(app: &mut App, line: &str) -> Vec<Action> {
    ch(app, ':');
    for c in line.chars() {
        ch(app, c);
    }
    key(app, KeyCode::Enter)
}

fn no_control_characters(text: &str) {
    for c in text.chars() {
        assert!(!c.is_control() || c == '\n', "{c:?} on the screen");
    }
}

/// `:dlq` tails the dead-letter topic from its beginning; opened again while it does, it
/// keeps what it has.
#[test]
fn dlq_view_reads_the_dead_letter_topic_and_shows_hostile_ones_safely() {
    let mut app = ts::app(ts::normal());
    app.utc_offset_secs = 0;
    match command(&mut app, "dlq").as_slice() {
        [Action::Tail { topic, from, .. }] => {
            assert_eq!(topic, "platform.messages.dlq");
            assert_eq!(*from, crate::browse::tail::TailFrom::Beginning);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(app.view, Some(ViewId::Dlq));
    assert_snapshot!("dlq_reading_100x12", screen(&app, 100, 12));
    ts::dlq_rows(&mut app);
    assert!(command(&mut app, "dlq").is_empty(), "already read");
    let text = screen(&app, 120, 24);
    no_control_characters(&text);
    assert!(text.contains("platform.messages.created[2]@41"), "{text}");
    assert!(text.contains("×3"), "{text}");
    assert_snapshot!("dlq_120x24", text);
    key(&mut app, KeyCode::Enter);
    let text = screen(&app, 120, 30);
    no_control_characters(&text);
    assert_snapshot!("dlq_record_open_120x30", text);
}

#[test]
fn r_redrives_the_selected_dead_letter_after_asking_and_held_ones_are_refused() {
    let mut app = ts::app(ts::normal());
    command(&mut app, "dlq");
    ts::dlq_rows(&mut app);
    assert!(ch(&mut app, 'r').is_empty());
    let Mode::Confirm(Confirm::RedriveOne { dead, to }) = app.mode.clone() else {
        panic!("{:?}", app.mode);
    };
    assert_eq!((to.as_str(), dead.offset), ("platform.messages.created", 0));
    assert_snapshot!("confirm_redrive_one", screen(&app, 100, 20));
    match ch(&mut app, 'y').as_slice() {
        [Action::Job(Job::RedriveOne { dead })] => assert_eq!(dead.offset, 0),
        other => panic!("{other:?}"),
    }
    // The held one (re-driven 3 times): said at once, nothing asked.
    key(&mut app, KeyCode::Down);
    assert!(ch(&mut app, 'r').is_empty());
    assert_eq!(app.mode, Mode::Normal);
    let flash = app.flash.clone().expect("says why").text;
    assert!(flash.contains("held: re-driven 3 times"), "{flash}");
    // The one without a source topic.
    key(&mut app, KeyCode::Down);
    ch(&mut app, 'r');
    let flash = app.flash.clone().expect("says why").text;
    assert!(flash.contains("no source topic"), "{flash}");
}

#[test]
fn capital_r_counts_first_then_redrives_every_match_after_asking() {
    let mut app = ts::app(ts::normal());
    command(&mut app, "dlq");
    ts::dlq_rows(&mut app);
    ch(&mut app, '/');
    for c in "mapper".chars() {
        ch(&mut app, c);
    }
    key(&mut app, KeyCode::Enter);
    match ch(&mut app, 'R').as_slice() {
        [Action::Job(Job::Redrive { filter, dry_run })] => {
            assert_eq!((filter.as_str(), *dry_run), ("mapper", true));
        }
        other => panic!("{other:?}"),
    }
    let report = RedriveReport {
        read: 3,
        redriven: [("platform.messages.created".to_string(), 1)].into(),
        held: 1,
        not_matching: 1,
        dry_run: true,
        ..Default::default()
    };
    app.on_job_done(JobDone::Redriven {
        filter: "mapper".into(),
        result: Ok(report.clone()),
    });
    assert!(matches!(app.mode, Mode::Confirm(Confirm::Redrive { .. })));
    let text = screen(&app, 100, 20);
    assert!(text.contains("Re-drive 1 of 3 read"), "{text}");
    assert!(text.contains("1 to platform.messages.created"), "{text}");
    assert!(text.contains("1 held"), "{text}");
    assert_snapshot!("confirm_redrive_matching", text);
    assert!(ch(&mut app, 'n').is_empty(), "no: nothing sent");
    app.on_job_done(JobDone::Redriven {
        filter: "mapper".into(),
        result: Ok(report),
    });
    match ch(&mut app, 'y').as_slice() {
        [Action::Job(Job::Redrive { filter, dry_run })] => {
            assert_eq!((filter.as_str(), *dry_run), ("mapper", false));
        }
        other => panic!("{other:?}"),
    }
    // Nothing to re-drive: said, nothing asked.
    app.on_job_done(JobDone::Redriven {
        filter: String::new(),
        result: Ok(RedriveReport {
            read: 2,
            held: 2,
            dry_run: true,
            ..Default::default()
        }),
    });
    assert_eq!(app.mode, Mode::Normal);
    assert!(app
        .flash
        .clone()
        .expect("says")
        .text
        .contains("nothing to re-drive"));
}

fn trace_found() -> Trace {
    use crate::browse::trace::{Place, TracedDeadLetter, TracedEvent, TracedNotification};
    let at = |topic: &str, offset| Place {
        topic: topic.into(),
        partition: 2,
        offset,
        timestamp: Some(1_700_000_000_000 + offset),
    };
    let mut t = Trace::new("m-7");
    t.events.push(TracedEvent {
        at: at("platform.messages.created", 41),
        event_type: "message.created".into(),
        passed_indexer: Some(true),
    });
    t.events.push(TracedEvent {
        at: at("platform.messages.updated", 9),
        event_type: "message.updated".into(),
        passed_indexer: Some(false),
    });
    t.document = Some(crate::search::SearchDoc {
        message_id: "m-7".into(),
        channel: "ch_dev".into(),
        author: "u1".into(),
        content: "hi @bob \u{1b}[2J".into(),
        mentions: vec!["bob".into()],
        created_at: Some(1_700_000_000_000),
        updated_at: None,
        deleted: false,
        version: 2,
    });
    t.dead_letters.push(TracedDeadLetter {
        at: at("platform.messages.dlq", 0),
        reason: "search index rejected the document".into(),
        source: "platform.messages.created[2]@41".into(),
    });
    t.notifications.push(TracedNotification {
        at: at("platform.notifications.sent", 77),
        user_id: "bob".into(),
    });
    t
}

/// `f` on a tailed record, a dead letter or a search hit, and `:trace ID`: the overlay
/// opens at once and fills in when the job answers; an answer for another message is not
/// shown in it.
#[test]
fn f_follows_a_message_from_the_tail_the_dlq_and_a_search_hit() {
    let mut app = ts::app(ts::normal());
    app.utc_offset_secs = 0;
    command(&mut app, "tail platform.messages.created");
    ts::tail_rows(&mut app, &[&ts::created_event("m-7")]);
    match ch(&mut app, 'f').as_slice() {
        [Action::Job(Job::Trace { message_id })] => assert_eq!(message_id, "m-7"),
        other => panic!("{other:?}"),
    }
    assert_eq!(app.mode, Mode::Trace { scroll: 0 });
    assert_snapshot!("trace_running", screen(&app, 120, 30));
    app.on_job_done(JobDone::Traced {
        message_id: "other".into(),
        result: Err(anyhow::anyhow!("x").into()),
    });
    assert_eq!(app.trace.as_ref().and_then(|t| t.result.clone()), None);
    app.on_job_done(JobDone::Traced {
        message_id: "m-7".into(),
        result: Ok(Box::new(trace_found())),
    });
    let text = screen(&app, 120, 30);
    no_control_characters(&text);
    assert!(text.contains("NOT YET passed by the indexer"), "{text}");
    assert!(text.contains("→ @bob"), "{text}");
    assert_snapshot!("trace_found", text);
    key(&mut app, KeyCode::Esc);
    assert_eq!(
        (app.mode.clone(), app.trace.is_none()),
        (Mode::Normal, true)
    );

    command(&mut app, "dlq");
    ts::dlq_rows(&mut app);
    assert!(matches!(
        ch(&mut app, 'f').as_slice(),
        [Action::Job(Job::Trace { message_id })] if message_id == "m-7"
    ));
    key(&mut app, KeyCode::Esc);

    command(&mut app, "search");
    app.search.status = super::app::SearchStatus::Done(ts::results());
    let actions = ch(&mut app, 'f');
    let hit = ts::results().hits[0].doc.message_id.clone();
    assert!(
        matches!(actions.as_slice(), [Action::Job(Job::Trace { message_id })] if *message_id == hit),
        "{actions:?}"
    );
    key(&mut app, KeyCode::Esc);
    assert!(matches!(
        command(&mut app, "trace msg_42").as_slice(),
        [Action::Job(Job::Trace { message_id })] if message_id == "msg_42"
    ));
}

fn plan_rows() -> Vec<ResetRow> {
    (0..3)
        .map(|p| ResetRow {
            topic: "platform.messages.created".into(),
            partition: p,
            low: 0,
            high: 4_000 + p as i64,
            before: (p != 2).then_some(3_900),
            after: 0,
            lag_after: 4_000 + p as i64,
        })
        .collect()
}

/// `R` on a group types `:reset GROUP `; the plan comes back as a confirmation with every
/// partition before → after and the lag created; `y` applies it. For our own indexer the
/// dialog says the worker is stopped and started around it.
#[test]
fn reset_plans_first_then_asks_with_before_after_and_lag() {
    let mut app = ts::app(ts::normal());
    app.own_groups = [("search-indexer".to_string(), WorkerId::Indexer)].into();
    app.focus = ViewId::Lag;
    assert!(ch(&mut app, 'R').is_empty());
    let Mode::Command(field) = app.mode.clone() else {
        panic!("{:?}", app.mode);
    };
    assert_eq!(field.value(), "reset search-indexer ");
    for c in "earliest".chars() {
        ch(&mut app, c);
    }
    match key(&mut app, KeyCode::Enter).as_slice() {
        [Action::Job(Job::PlanReset {
            group,
            topics,
            to,
            label,
        })] => {
            assert_eq!(
                (group.as_str(), *to, label.as_str()),
                ("search-indexer", ResetTo::Earliest, "earliest")
            );
            assert_eq!(
                topics,
                &[
                    "platform.messages.created",
                    "platform.messages.updated",
                    "platform.messages.deleted"
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    app.on_job_done(JobDone::ResetPlanned {
        group: "search-indexer".into(),
        to: "earliest".into(),
        result: Ok(plan_rows()),
    });
    let text = screen(&app, 120, 30);
    assert!(
        text.contains("the group will read 12,003 records"),
        "{text}"
    );
    assert!(text.contains("indexer is stopped first"), "{text}");
    assert_snapshot!("confirm_reset", text);
    match ch(&mut app, 'y').as_slice() {
        [Action::Job(Job::ApplyReset { group, rows })] => {
            assert_eq!((group.as_str(), rows.len()), ("search-indexer", 3));
        }
        other => panic!("{other:?}"),
    }
    // A plan that fails says why; a bad target is refused before any job.
    app.on_job_done(JobDone::ResetPlanned {
        group: "g".into(),
        to: "earliest".into(),
        result: Err(anyhow::anyhow!("none of t exists").into()),
    });
    assert!(app
        .flash
        .clone()
        .expect("says")
        .text
        .contains("none of t exists"));
    assert!(command(&mut app, "reset search-indexer sometime").is_empty());
    assert!(command(&mut app, "reset unknown-group latest").is_empty());
    let flash = app.flash.clone().expect("says").text;
    assert!(flash.contains("name them"), "{flash}");
    assert!(matches!(
        command(&mut app, "reset other latest t1 t2").as_slice(),
        [Action::Job(Job::PlanReset { topics, to: ResetTo::Latest, .. })] if topics == &["t1", "t2"]
    ));
}

/// Read-only: no `r`, `R` (re-drive or reset) is offered, `:reset` is refused, and a write
/// that still reached a confirmation is dropped by the guard. On the embedded broker no
/// reset is offered.
#[test]
fn read_only_and_the_embedded_broker_offer_no_redrive_and_no_reset() {
    let mut app = ts::app(ts::normal());
    app.read_only = true;
    command(&mut app, "dlq");
    ts::dlq_rows(&mut app);
    assert!(ch(&mut app, 'r').is_empty());
    assert!(ch(&mut app, 'R').is_empty());
    assert_eq!(app.mode, Mode::Normal);
    let footer = screen(&app, 160, 30);
    assert!(!footer.contains("re-drive"), "{footer}");
    app.mode = Mode::Confirm(Confirm::Reset {
        group: "g".into(),
        to: "earliest".into(),
        rows: plan_rows(),
        own_worker: None,
    });
    assert!(ch(&mut app, 'y').is_empty(), "the guard drops it");
    assert!(app.flash.clone().expect("says").text.contains("read-only"));
    assert!(command(&mut app, "reset search-indexer earliest").is_empty());
    assert!(app.flash.clone().expect("says").text.contains("read-only"));

    let mut embedded = ts::app(ts::normal());
    embedded.resets_offered = false;
    embedded.focus = ViewId::Lag;
    assert!(ch(&mut embedded, 'R').is_empty());
    assert_eq!(embedded.mode, Mode::Normal, "R is not offered");
    let flash = embedded.flash.clone().expect("R says why").text;
    assert!(flash.contains("embedded broker"), "{flash}");
    embedded.flash = None;
    assert!(command(&mut embedded, "reset search-indexer earliest").is_empty());
    let flash = embedded.flash.clone().expect("says").text;
    assert!(flash.contains("embedded broker"), "{flash}");
}

/// The topics view: retention and cleanup where the broker described them ("–" where it
/// did not), internal topics hidden until `i`, and `t` tails the selected topic.
#[test]
fn topics_show_retention_hide_internal_ones_and_t_tails() {
    use crate::monitor::snapshot::TopicStats;
    use crate::monitor::topic_config::TopicConfig;
    let mut snapshot = ts::normal();
    snapshot.topics[0].config = Some(TopicConfig {
        retention_ms: Some(604_800_000),
        retention_bytes: Some(-1),
        cleanup_policy: Some("delete".into()),
    });
    snapshot.topics[1].config = Some(TopicConfig {
        retention_ms: Some(-1),
        retention_bytes: None,
        cleanup_policy: Some("compact,delete".into()),
    });
    snapshot.topics.push(TopicStats {
        topic: "__consumer_offsets".into(),
        internal: true,
        ..Default::default()
    });
    let mut app = ts::app(snapshot);
    command(&mut app, "topics");
    let text = screen(&app, 140, 20);
    assert!(text.contains("7 d"), "{text}");
    assert!(text.contains("forever"), "{text}");
    assert!(text.contains("1 internal hidden (i)"), "{text}");
    assert!(!text.contains("__consumer_offsets"), "{text}");
    assert_snapshot!("topics_140x20", text);
    ch(&mut app, 'i');
    assert!(screen(&app, 140, 20).contains("__consumer_offsets"));
    ch(&mut app, 'i');
    match ch(&mut app, 't').as_slice() {
        [Action::Tail { topic, .. }] => assert_eq!(topic, &app.snapshot.topics[0].topic),
        other => panic!("{other:?}"),
    }
    assert_eq!((app.view, app.focus), (Some(ViewId::Tail), ViewId::Tail));
}
