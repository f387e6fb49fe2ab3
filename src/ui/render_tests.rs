//! Every pane, rendered with ratatui's TestBackend, compared with insta snapshots (the
//! `.snap` files next to this one are the screens: read them when reviewing).

use insta::assert_snapshot;
use ratatui::style::Color;

use super::app::{App, Mode, SearchStatus};
use super::layout::draw_pane;
use super::test_support::{self as ts, render_with, screen, NOW};
use super::views::ViewId;

fn pane(app: &App, pane: ViewId, w: u16, h: u16) -> String {
    render_with(w, h, |f, area| draw_pane(f, area, app, pane)).0
}

fn with_results(mut app: App) -> App {
    app.search.query.text = "배포".into();
    app.search.status = SearchStatus::Done(ts::results());
    app
}

#[test]
fn dashboard_120x40() {
    let mut app = with_results(ts::app(ts::normal()));
    app.focus = ViewId::Lag;
    assert_snapshot!("dashboard_120x40", screen(&app, 120, 40));
}

#[test]
fn dashboard_loading() {
    let app = ts::app(crate::monitor::snapshot::Snapshot::empty("", ""));
    assert_snapshot!("dashboard_loading", screen(&app, 120, 40));
}

#[test]
fn dashboard_cluster_down() {
    let app = ts::app(ts::down());
    assert_snapshot!("dashboard_cluster_down", screen(&app, 120, 40));
}

#[test]
fn narrow_80x24_tabbed() {
    let mut app = ts::app(ts::normal());
    app.focus = ViewId::Lag;
    assert_snapshot!("narrow_80x24_lag", screen(&app, 80, 24));
    app.focus = ViewId::Throughput;
    assert_snapshot!("narrow_80x24_throughput", screen(&app, 80, 24));
    app.focus = ViewId::Notifications;
    assert_snapshot!("narrow_80x24_notifications", screen(&app, 80, 24));
    let mut app = with_results(app);
    app.focus = ViewId::Search;
    assert_snapshot!("narrow_80x24_search", screen(&app, 80, 24));
    app.focus = ViewId::Assignments;
    assert_snapshot!("narrow_80x24_assignments", screen(&app, 80, 24));
}

#[test]
fn throughput_states() {
    let normal = ts::app(ts::normal());
    assert_snapshot!(
        "throughput_normal",
        pane(&normal, ViewId::Throughput, 110, 10)
    );
    assert_snapshot!(
        "throughput_empty",
        pane(&ts::app(ts::empty()), ViewId::Throughput, 80, 7)
    );
    let loading = ts::app(crate::monitor::snapshot::Snapshot::empty("", ""));
    assert_snapshot!(
        "throughput_loading",
        pane(&loading, ViewId::Throughput, 80, 7)
    );
    assert_snapshot!(
        "throughput_error",
        pane(&ts::app(ts::down()), ViewId::Throughput, 80, 7)
    );
    let mut long = ts::app(ts::long());
    long.list_mut(ViewId::Throughput).selected = 30;
    assert_snapshot!(
        "throughput_long_scrolled",
        pane(&long, ViewId::Throughput, 110, 12)
    );
}

#[test]
fn throughput_stale_rows_keep_their_figures() {
    let mut snap = ts::normal();
    snap.cluster_health =
        crate::monitor::snapshot::Health::Down("Local: All broker connections are down".into());
    snap.topics[0].freshness.stale = true;
    let app = ts::app(snap);
    assert_snapshot!("throughput_stale", pane(&app, ViewId::Throughput, 110, 10));
}

#[test]
fn throughput_partitions_drill_down() {
    let mut app = ts::app(ts::normal());
    app.topic_drill = Some("platform.messages.created".into());
    assert_snapshot!(
        "throughput_partitions",
        pane(&app, ViewId::Throughput, 100, 8)
    );
}

#[test]
fn lag_states() {
    let mut app = ts::app(ts::normal());
    app.focus = ViewId::Lag;
    assert_snapshot!("lag_normal_wide", pane(&app, ViewId::Lag, 140, 8));
    assert_snapshot!("lag_normal_80", pane(&app, ViewId::Lag, 80, 8));
    assert_snapshot!("lag_empty", pane(&ts::app(ts::empty()), ViewId::Lag, 80, 6));
    assert_snapshot!("lag_error", pane(&ts::app(ts::down()), ViewId::Lag, 80, 7));
    let mut long = ts::app(ts::long());
    long.focus = ViewId::Lag;
    long.list_mut(ViewId::Lag).selected = 25;
    assert_snapshot!("lag_long_scrolled", pane(&long, ViewId::Lag, 120, 12));
}

#[test]
fn lag_partitions_drill_down() {
    let mut app = ts::app(ts::normal());
    app.focus = ViewId::Lag;
    app.lag_drill = Some((
        "notification-service".into(),
        "platform.messages.created".into(),
    ));
    assert_snapshot!("lag_partitions", pane(&app, ViewId::Lag, 100, 8));
}

/// Never OK without evidence (issue 8): a new group's backlog with its lag "–", STALL
/// before the window is complete, UNKNOWN progress, a worker assigned nothing, one
/// partition without a commit.
#[test]
fn lag_without_evidence() {
    let mut app = ts::app(ts::evidence());
    app.focus = ViewId::Lag;
    app.list_mut(ViewId::Lag).selected = 1;
    assert_snapshot!("lag_evidence_wide", pane(&app, ViewId::Lag, 150, 9));
    app.list_mut(ViewId::Lag).selected = 0;
    assert_snapshot!("lag_evidence_80", pane(&app, ViewId::Lag, 80, 9));
    app.lag_drill = Some(("billing".into(), "platform.users.activity".into()));
    assert_snapshot!("lag_evidence_partitions", pane(&app, ViewId::Lag, 100, 7));
}

#[test]
fn unknown_rows_are_neither_green_nor_red() {
    let mut app = ts::app(ts::evidence());
    app.focus = ViewId::Throughput;
    let (text, buf) = render_with(150, 9, |f, area| draw_pane(f, area, &app, ViewId::Lag));
    let y = text
        .lines()
        .position(|l| l.contains("audit-new"))
        .unwrap_or_else(|| panic!("audit-new not on screen:\n{text}"));
    let line = text.lines().nth(y).unwrap_or_default();
    let x = line
        .find("UNKNOWN")
        .map(|b| line[..b].chars().count())
        .unwrap_or_else(|| panic!("no UNKNOWN in {line}"));
    assert_eq!(buf[(x as u16, y as u16)].fg, Color::LightBlue);
}

#[test]
fn lagging_rows_are_coloured_by_status() {
    let mut app = ts::app(ts::normal());
    app.focus = ViewId::Throughput;
    let (text, buf) = render_with(140, 8, |f, area| draw_pane(f, area, &app, ViewId::Lag));
    let row_of = |needle: &str| {
        text.lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not on screen:\n{text}")) as u16
    };
    let fg_at = |y: u16, needle: &str| {
        let line = text.lines().nth(y as usize).unwrap_or_default();
        let x = line
            .find(needle)
            .map(|b| line[..b].chars().count())
            .unwrap_or(0) as u16;
        buf[(x, y)].fg
    };
    let stall = row_of("notification-service");
    assert_eq!(fg_at(stall, "STALL"), Color::Red);
    assert_eq!(fg_at(stall, "9,731"), Color::Red);
    let warn = row_of("1,284");
    assert_eq!(fg_at(warn, "WARN"), Color::Yellow);
    let ok = row_of("platform.messages.updated");
    assert_eq!(fg_at(ok, "OK"), Color::Green);
}

#[test]
fn assignments_states() {
    let app = ts::app(ts::normal());
    assert_snapshot!(
        "assignments_normal",
        pane(&app, ViewId::Assignments, 120, 10)
    );
    assert_snapshot!(
        "assignments_narrow",
        pane(&app, ViewId::Assignments, 60, 10)
    );
    assert_snapshot!(
        "assignments_empty",
        pane(&ts::app(ts::empty()), ViewId::Assignments, 60, 6)
    );
    assert_snapshot!(
        "assignments_error",
        pane(&ts::app(ts::down()), ViewId::Assignments, 60, 7)
    );
    assert_snapshot!(
        "assignments_long",
        pane(&ts::app(ts::long()), ViewId::Assignments, 100, 12)
    );
}

#[test]
fn rebalance_flashes_the_assignments_pane() {
    let mut app = ts::app(ts::normal());
    let mut next = ts::normal();
    next.groups[0].rebalances += 1;
    next.groups[0].generation = Some(4);
    next.groups[0].last_rebalance_ms = Some(NOW - 1_000);
    app.on_snapshot(next);
    assert!(app.is_flashing("search-indexer"));
    let (text, buf) = render_with(120, 10, |f, area| {
        draw_pane(f, area, &app, ViewId::Assignments)
    });
    assert_snapshot!("assignments_rebalance_flash", text);
    assert_eq!(buf[(0, 0)].fg, Color::Magenta, "border flashes");
    assert!(app.tick(NOW + 10_000));
    assert!(!app.is_flashing("search-indexer"));
}

#[test]
fn notifications_states() {
    let app = ts::app(ts::normal());
    assert_snapshot!(
        "notifications_normal",
        pane(&app, ViewId::Notifications, 90, 10)
    );
    assert_snapshot!(
        "notifications_narrow_wide_chars",
        pane(&app, ViewId::Notifications, 50, 10)
    );
    assert_snapshot!(
        "notifications_empty",
        pane(&ts::app(ts::empty()), ViewId::Notifications, 80, 5)
    );
    let loading = ts::app(crate::monitor::snapshot::Snapshot::empty("", ""));
    assert_snapshot!(
        "notifications_loading",
        pane(&loading, ViewId::Notifications, 80, 5)
    );
    let mut long = ts::app(ts::long());
    long.focus = ViewId::Notifications;
    long.list_mut(ViewId::Notifications).selected = 150;
    assert_snapshot!(
        "notifications_long_scrolled",
        pane(&long, ViewId::Notifications, 80, 8)
    );
}

#[test]
fn notifications_filter() {
    let mut app = ts::app(ts::normal());
    app.list_mut(ViewId::Notifications).filter = "ch_dev".into();
    assert_snapshot!(
        "notifications_filtered",
        pane(&app, ViewId::Notifications, 90, 6)
    );
}

#[test]
fn search_states() {
    let mut app = ts::app(ts::normal());
    app.focus = ViewId::Search;
    assert_snapshot!("search_idle", pane(&app, ViewId::Search, 100, 6));
    app.search.status = SearchStatus::Running;
    assert_snapshot!("search_running", pane(&app, ViewId::Search, 100, 6));
    app.search.status = SearchStatus::Failed("search unavailable: connection refused".into());
    assert_snapshot!("search_failed", pane(&app, ViewId::Search, 100, 6));
    let mut app = with_results(app);
    app.search.query.channel = Some("ch_dev".into());
    app.search.selected = 1;
    assert_snapshot!("search_results", pane(&app, ViewId::Search, 100, 11));
    assert_snapshot!("search_results_narrow", pane(&app, ViewId::Search, 60, 11));
    app.search.status = SearchStatus::Done(crate::search::SearchResults::default());
    assert_snapshot!("search_no_hits", pane(&app, ViewId::Search, 100, 6));
    let down = ts::app(ts::down());
    assert_snapshot!("search_backend_down", pane(&down, ViewId::Search, 100, 6));
}

#[test]
fn search_highlights_are_styled() {
    let mut app = with_results(ts::app(ts::normal()));
    app.focus = ViewId::Search;
    let (text, buf) = render_with(100, 11, |f, area| draw_pane(f, area, &app, ViewId::Search));
    let y = text
        .lines()
        .position(|l| l.contains("rollback"))
        .expect("second hit") as u16;
    let line = text.lines().nth(y as usize).unwrap_or_default();
    let x = line[..line.find("배포").expect("term")].chars().count() as u16;
    assert_eq!(buf[(x, y)].fg, Color::Yellow);
    assert!(!text.contains("<em>"), "tags are not shown:\n{text}");
}

#[test]
fn search_prompt_and_compose_place_the_cursor_after_wide_text() {
    use super::compose::ComposeForm;
    use super::text_input::TextField;
    let mut app = ts::app(ts::normal());
    app.focus = ViewId::Search;
    app.mode = Mode::SearchPrompt {
        target: super::app::PromptTarget::Query,
        field: TextField::new("배포 완료"),
    };
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 6)).expect("t");
    terminal
        .draw(|f| draw_pane(f, f.area(), &app, ViewId::Search))
        .expect("draw");
    // "search › " is 9 columns, "배포 완료" 9 more, inside a 1-column border.
    terminal
        .backend_mut()
        .assert_cursor_position((1 + 9 + 9, 1));
    assert_snapshot!(
        "search_prompt",
        ts::buffer_text(terminal.backend().buffer())
    );

    let mut form = ComposeForm::new_message("ch_dev", "user_001");
    form.text.set("프로젝트 배포 완료 @user_002");
    app.mode = Mode::Compose(form);
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).expect("t");
    terminal
        .draw(|f| super::layout::draw(f, &app))
        .expect("draw");
    let text = ts::buffer_text(terminal.backend().buffer());
    assert_snapshot!("compose_form", text);
    let y = text
        .lines()
        .position(|l| l.contains("Text"))
        .expect("text row") as u16;
    let pos = terminal.get_cursor_position().expect("cursor");
    assert_eq!(pos.y, y);
    let line = text.lines().nth(y as usize).unwrap_or_default();
    let start = line[..line.find("프로젝트").expect("text")].chars().count() as u16;
    assert_eq!(
        pos.x,
        start + 28,
        "8 wide syllables (16 columns) + 12 narrow"
    );
}

#[test]
fn overlays() {
    let mut app = ts::app(ts::normal());
    app.log_path = Some("/var/lib/eventdeck/eventdeck.log".into());
    app.mode = Mode::Help { scroll: 0 };
    assert_snapshot!("help_overlay", screen(&app, 120, 40));
    assert_snapshot!("help_overlay_80x24", screen(&app, 80, 24));
    app.mode = Mode::Confirm(super::app::Confirm::Quit);
    assert_snapshot!("confirm_quit", screen(&app, 80, 24));
    app.mode = Mode::Confirm(super::app::Confirm::Delete {
        message_id: "msg_0190b5d2-0001".into(),
        channel_id: "ch_dev".into(),
        preview: "프로젝트 배포 완료 @user_002".into(),
    });
    assert_snapshot!("confirm_delete", screen(&app, 80, 24));
    let mut form = super::compose::ComposeForm::new_message("ch_dev", "user_001");
    form.submit();
    app.mode = Mode::Compose(form);
    assert_snapshot!("compose_refused_80x24", screen(&app, 80, 24));
}

/// The `?` overlay lists the focused view's keys: the search view's here.
#[test]
fn help_overlay_search_focused() {
    let mut app = ts::app(ts::normal());
    app.focus = ViewId::Search;
    app.mode = Mode::Help { scroll: 0 };
    assert_snapshot!("help_overlay_search", screen(&app, 120, 48));
}

/// `:lag` (a `:` view) takes the whole main area; the title bar and footer stay.
#[test]
fn colon_view_takes_the_main_area() {
    let mut app = ts::app(ts::long());
    super::command::run_command(&mut app, "lag");
    assert_snapshot!("colon_view_lag_120x40", screen(&app, 120, 40));
    assert_snapshot!("colon_view_lag_80x24", screen(&app, 80, 24));
}

#[test]
fn footer_modes() {
    use super::text_input::TextField;
    let mut app = ts::app(ts::normal());
    app.mode = Mode::Command(TextField::new("search 배포"));
    let bottom = |app: &App| {
        screen(app, 100, 36)
            .lines()
            .last()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(bottom(&app), ":search 배포");
    app.mode = Mode::Filter(TextField::new("dev"));
    assert_eq!(bottom(&app), "/dev");
    app.mode = Mode::Normal;
    app.flash_error("unknown command :foo");
    assert!(
        bottom(&app).starts_with(" unknown command :foo │ ? help"),
        "{}",
        bottom(&app)
    );
}

#[test]
fn a_running_reindex_shows_its_stage_and_progress_in_the_footer() {
    use crate::ops::{ReindexProgress, Stage};
    use crate::replay::read_log::Progress;
    use std::time::Duration;
    let mut app = ts::app(ts::normal());
    app.on_reindex_progress(ReindexProgress {
        stage: Stage::Building,
        progress: Progress::at(62_000, 100_000, Duration::from_secs(2)),
    });
    let bottom = screen(&app, 120, 40)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(
        bottom.starts_with(
            " reindex: building the new index ████████████░░░░░░░░  62% 31,000/s ETA 1s │"
        ),
        "{bottom}"
    );
    app.on_reindex_done(Err(crate::ops::ReindexError::Index(
        crate::search::SearchError::Unavailable("connection refused".into()),
    )));
    let bottom = screen(&app, 120, 40)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(
        bottom.starts_with(
            " reindex failed: rebuilding the index: search unavailable: connection refused │"
        ),
        "{bottom}"
    );
    assert!(app.reindex.is_none());
}

#[test]
fn zoom_and_every_size_from_80x24_renders() {
    let mut app = with_results(ts::app(ts::long()));
    for &pane in ViewId::ALL {
        app.focus = pane;
        app.zoomed = true;
        let text = screen(&app, 100, 30);
        assert!(text.contains(pane.title()), "{pane:?} zoomed:\n{text}");
        app.zoomed = false;
        // Odd sizes must never panic (resizing goes through all of them).
        for (w, h) in [
            (80, 24),
            (81, 25),
            (99, 33),
            (100, 34),
            (133, 41),
            (200, 60),
            (20, 5),
            (1, 1),
        ] {
            screen(&app, w, h);
        }
    }
    app.focus = ViewId::Throughput;
    app.zoomed = true;
    assert_snapshot!("zoomed_throughput_100x30", screen(&app, 100, 30));
}

#[test]
fn the_outbox_backlog_shows_under_the_throughput_view() {
    let mut snapshot = ts::normal();
    snapshot.outbox = Some(crate::monitor::snapshot::OutboxStatus {
        store: "embedded store /d/store.db".into(),
        rows: Some(1_204),
        oldest_age_ms: Some(12_300),
        error: None,
    });
    let mut app = ts::app(snapshot);
    app.focus = ViewId::Throughput;
    app.zoomed = true;
    let text = screen(&app, 120, 20);
    assert!(text.contains("outbox 1,204 (oldest 12.3 s)"), "{text}");
    assert_snapshot!("throughput_with_outbox_backlog_120x20", text);
}

/// The normal snapshot with write-vs-read figures and an outbox.
fn with_cqrs() -> crate::monitor::snapshot::Snapshot {
    use crate::monitor::cqrs::{CqrsFigures, Percentiles, SideFigures};
    let mut snapshot = ts::normal();
    snapshot.cqrs = Some(CqrsFigures {
        write: SideFigures {
            total: 1_234,
            per_sec: 4.2,
            latency: Some(Percentiles {
                p50_ms: 0.42,
                p95_ms: 1.87,
                p99_ms: 12.4,
                max_ms: 31.0,
            }),
        },
        read: SideFigures {
            total: 56_789,
            per_sec: 180.4,
            latency: Some(Percentiles {
                p50_ms: 3.1,
                p95_ms: 9.0,
                p99_ms: 22.6,
                max_ms: 140.0,
            }),
        },
        commit_to_searchable: SideFigures {
            total: 1_230,
            per_sec: 4.1,
            latency: Some(Percentiles {
                p50_ms: 212.0,
                p95_ms: 870.0,
                p99_ms: 1_340.0,
                max_ms: 2_980.0,
            }),
        },
    });
    snapshot.outbox = Some(crate::monitor::snapshot::OutboxStatus {
        store: "embedded store /d/store.db".into(),
        rows: Some(3),
        oldest_age_ms: Some(420),
        error: None,
    });
    snapshot
}

#[test]
fn cqrs_view_states() {
    let mut app = ts::app(with_cqrs());
    super::command::run_command(&mut app, "cqrs");
    assert_snapshot!("cqrs_figures_100x30", screen(&app, 100, 30));
    let mut app = ts::app(ts::normal());
    assert!(app.snapshot.cqrs.is_none());
    super::command::run_command(&mut app, "cqrs");
    assert_snapshot!("cqrs_not_measured_100x30", screen(&app, 100, 30));
}

#[test]
fn cqrs_view_without_samples_and_with_an_outbox_error() {
    let mut snapshot = with_cqrs();
    if let Some(c) = snapshot.cqrs.as_mut() {
        c.read = Default::default();
    }
    snapshot.outbox = Some(crate::monitor::snapshot::OutboxStatus {
        store: "postgres postgres://db/eventdeck".into(),
        rows: None,
        oldest_age_ms: None,
        error: Some("connection refused".into()),
    });
    let app = ts::app(snapshot);
    let (text, buf) = render_with(100, 12, |f, area| draw_pane(f, area, &app, ViewId::Cqrs));
    let read = text
        .lines()
        .find(|l| l.contains("read · searches"))
        .unwrap_or_else(|| panic!("no read row:\n{text}"));
    assert_eq!(read.matches('–').count(), 4, "{read}");
    let y = text
        .lines()
        .position(|l| l.contains("connection refused"))
        .unwrap_or_else(|| panic!("no outbox error:\n{text}"));
    let line = text.lines().nth(y).unwrap_or_default();
    let x = line[..line.find("? connection").expect("error")]
        .chars()
        .count();
    assert_eq!(buf[(x as u16, y as u16)].fg, Color::Red);
}

#[test]
fn analytics_view_states() {
    use crate::analytics::AnalyticsSummary;
    let mut app = ts::app(ts::normal());
    app.focus = ViewId::Analytics;
    assert_snapshot!("analytics_off", pane(&app, ViewId::Analytics, 100, 10));
    let mut history = vec![0; 60];
    history[50..].copy_from_slice(&[3, 5, 8, 2, 0, 9, 12, 7, 4, 6]);
    app.snapshot.analytics = Some(AnalyticsSummary {
        window_minutes: 60,
        posted_last_minute: 6,
        posted_per_minute_5m: 7.6,
        posted_per_minute_60m: 0.9,
        posted: 56,
        edited: 4,
        deleted: 1,
        searched: 9,
        top_channels: vec![("ch_dev".into(), 30), ("ch_ops\u{1b}[31m".into(), 20)],
        top_authors: vec![("user_001".into(), 41), ("user_002".into(), 15)],
        top_mentioned: vec![("user_002".into(), 12)],
        top_terms: vec![("배포".into(), 5), ("deploy".into(), 4)],
        posted_history: history,
    });
    let text = pane(&app, ViewId::Analytics, 100, 10);
    assert!(!text.contains('\u{1b}'), "no escape reaches the terminal");
    assert_snapshot!("analytics_counts", text);
}

/// `:tail`: events, hostile values (escape sequences, bidi, invalid UTF-8, a megabyte), the
/// record opened whole, paused; nothing of a value reaches the terminal as a control.
#[test]
fn tail_view_shows_hostile_records_safely() {
    let mut app = ts::app(ts::normal());
    app.utc_offset_secs = 0;
    super::command::run_command(&mut app, "tail platform.messages.created");
    let big = vec![b'x'; 1 << 20];
    ts::tail_rows(
        &mut app,
        &[
            br#"{"event_type":"message.created","event_id":"e1","timestamp":1,"payload":{"message_id":"m1","channel_id":"ch_dev","author_id":"user_001","content":"\ubc30\ud3ec\ub97c \uc2dc\uc791\ud569\ub2c8\ub2e4 @user_002","mentions":["user_002"]}}"#,
            b"\x1b[2J\x1b]0;pwned\x07clear screen",
            "abc\u{202E}txt.exe\u{2066} bidi".as_bytes(),
            b"\xff\xfe\x00binary",
            &big,
            b"",
        ],
    );
    let text = screen(&app, 120, 24);
    for c in text.chars() {
        assert!(!c.is_control() || c == '\n', "{c:?} in the screen");
    }
    assert_snapshot!("tail_hostile_120x24", text);
    // The first record whole.
    app.list_mut(ViewId::Tail).selected = 0;
    app.tail.detail = Some(0);
    assert_snapshot!("tail_record_open_120x30", screen(&app, 120, 30));
    app.tail.detail = None;
    app.tail.buffer.toggle_pause();
    assert_snapshot!("tail_paused_80x24", screen(&app, 80, 24));
}

/// `--read-only`: the title bar says it; the footer offers nothing that writes.
#[test]
fn read_only_title_and_footer() {
    let mut app = ts::app(ts::normal());
    app.read_only = true;
    assert_snapshot!("read_only_120x40", screen(&app, 120, 40));
}

#[test]
fn a_slow_cluster_is_named_in_the_title_in_the_warning_colour() {
    let mut s = ts::normal();
    s.cluster_health = crate::monitor::snapshot::cluster_health(None, Some(2_400));
    let app = ts::app(s);
    let (text, buf) = render_with(160, 2, |f, area| super::panes::title::draw(f, area, &app));
    assert_snapshot!("title_cluster_slow", text);
    let line = text.lines().next().unwrap_or_default();
    let x = line
        .find("slow: metadata answered in 2.4 s")
        .map(|b| line[..b].chars().count())
        .unwrap_or_else(|| panic!("no slow cluster in {line}"));
    assert_eq!(buf[(x as u16, 0)].fg, super::theme::WARN);
}
