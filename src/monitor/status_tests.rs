//! Unit tests of the status rules (`status.rs`), one rule per test.

use super::*;

const FULL: usize = 10;
const RULES: Rules = Rules {
    full: FULL,
    stall_after_s: 30.0,
};

/// Samples one second apart from (committed, high) pairs.
fn win(points: &[(i64, i64)]) -> Vec<CommitPoint> {
    points
        .iter()
        .enumerate()
        .map(|(i, (c, h))| CommitPoint {
            t_ms: 100_000 + i as i64 * 1000,
            committed: Some(*c),
            high: *h,
        })
        .collect()
}

fn moving(lag_of: impl Fn(i64) -> i64) -> Vec<CommitPoint> {
    let pts: Vec<(i64, i64)> = (0..10).map(|i| (i * 10, i * 10 + lag_of(i))).collect();
    win(&pts)
}

fn owned() -> Owner {
    Owner::Member("indexer".into())
}

/// The verdict on `window` with nothing else known (no time lag, no backlog).
fn judge(window: &[CommitPoint], owner: &Owner, last_move_ms: Option<i64>) -> Verdict {
    judge_behind(window, owner, last_move_ms, None)
}

fn judge_behind(
    window: &[CommitPoint],
    owner: &Owner,
    last_move_ms: Option<i64>,
    time_lag_s: Option<f64>,
) -> Verdict {
    let facts = Facts {
        window,
        owner,
        last_move_ms,
        time_lag_s,
        backlog: 0,
    };
    evaluate(&facts, &RULES)
}

#[test]
fn growing_lag_while_offsets_move_is_warn() {
    let v = judge(&moving(|i| 5 + i * 3), &owned(), None);
    assert_eq!(v.status, LagStatus::Warn, "{}", v.reason);
    assert_eq!(
        v.reason,
        "lag grew in 9 of 9 samples, never shrank (5 → 32)"
    );
}

#[test]
fn constant_nonzero_lag_while_moving_is_warn_too() {
    // Burrow: lag never decreasing, even if flat, is a warning.
    let v = judge(&moving(|_| 7), &owned(), None);
    assert_eq!(v.status, LagStatus::Warn);
    assert!(v.reason.starts_with("lag grew in 0 of 9"), "{}", v.reason);
}

#[test]
fn lag_that_shrinks_once_is_ok() {
    let v = judge(&moving(|i| if i == 5 { 2 } else { 5 + i }), &owned(), None);
    assert_eq!(v.status, LagStatus::Ok);
    assert_eq!(v.reason, "lag shrank in 1 of 9 samples");
}

#[test]
fn zero_lag_now_is_ok_whatever_came_before() {
    let mut w = moving(|i| 5 + i);
    let last = w.len() - 1;
    w[last].high = w[last].committed.unwrap_or(0);
    let v = judge(&w, &Owner::Nobody, None);
    assert_eq!(v, Verdict::new(LagStatus::Ok, "caught up"));
    // Also with a single sample: lag 0 is evidence enough.
    assert_eq!(
        judge(&win(&[(50, 50)]), &Owner::Unknown, None),
        Verdict::new(LagStatus::Ok, "caught up")
    );
}

#[test]
fn zero_lag_inside_the_window_is_ok() {
    let v = judge(&moving(|i| if i == 3 { 0 } else { 1 + i }), &owned(), None);
    assert_eq!(v.status, LagStatus::Ok);
    assert!(v.reason.contains("lag was 0"));
}

#[test]
fn stuck_offset_with_an_owner_is_stall() {
    let w = win(&(0..10).map(|i| (50, 60 + i)).collect::<Vec<_>>());
    let v = judge(&w, &owned(), Some(90_000));
    assert_eq!(v.status, LagStatus::Stall);
    assert!(
        v.reason.contains("stuck at 50") && v.reason.contains("indexer"),
        "{}",
        v.reason
    );
}

#[test]
fn stuck_offset_without_an_owner_is_stop() {
    let w = win(&(0..10).map(|i| (50, 60 + i)).collect::<Vec<_>>());
    let v = judge(&w, &Owner::Nobody, Some(90_000));
    assert_eq!(v.status, LagStatus::Stop);
    // Last sample at 109 s, last move at 90 s.
    assert_eq!(
        v.reason,
        "no commit for 19 s (window 9 s) with lag 19; no member owns it"
    );
    let v = judge(&w, &Owner::Unknown, None);
    assert_eq!(v.status, LagStatus::Stop);
    assert!(v.reason.contains("at least 9 s"), "{}", v.reason);
}

#[test]
fn caught_up_then_stopped_is_not_ok_for_a_window() {
    // linkedin/Burrow#745: lag 0 earlier in the window kept a stopped consumer OK.
    // Caught up at 50 for six samples, then records arrive and nothing is committed.
    let pts: Vec<(i64, i64)> = (0..10)
        .map(|i| {
            (
                if i < 3 { 40 + i * 5 } else { 50 },
                if i < 6 { 50 } else { 50 + i },
            )
        })
        .collect();
    let mut w = win(&pts);
    w[0].high = 40;
    let v = judge(&w, &Owner::Nobody, None);
    assert_eq!(
        v,
        Verdict::new(
            LagStatus::Unknown,
            "unknown: 5 samples since the lag was 0, offset unchanged with lag 9, time lag \
             unknown"
        )
    );
    // Far enough behind, it is STOP (STALL with an owner) before the window says so.
    let v = judge_behind(&w, &Owner::Nobody, None, Some(45.0));
    assert_eq!(v.status, LagStatus::Stop, "{}", v.reason);
    assert!(
        v.reason
            .starts_with("no commit in 5 samples since the lag was 0 (4 s)"),
        "{}",
        v.reason
    );
    assert_eq!(
        judge_behind(&w, &owned(), None, Some(45.0)).status,
        LagStatus::Stall
    );
    // Once the offset moves after the lag was 0, Burrow's first rule holds.
    let mut moved = w.clone();
    moved[9].committed = Some(55);
    assert_eq!(
        judge(&moved, &Owner::Nobody, None),
        Verdict::new(LagStatus::Ok, "lag was 0 within the window")
    );
}

#[test]
fn stuck_without_lag_is_an_idle_consumer_not_a_stop() {
    let w = win(&[(50, 50); 10]);
    assert_eq!(judge(&w, &Owner::Nobody, None).status, LagStatus::Ok);
}

#[test]
fn stuck_for_part_of_the_window_is_not_stop() {
    let mut pts: Vec<(i64, i64)> = (0..10).map(|i| (50, 60 + i * 2)).collect();
    pts[0] = (40, 50);
    let v = judge(&win(&pts), &Owner::Nobody, None);
    assert_eq!(v.status, LagStatus::Warn, "{}", v.reason);
}

#[test]
fn offset_going_back_is_rewind() {
    let pts: Vec<(i64, i64)> = (0..10)
        .map(|i| (if i < 6 { 100 + i } else { 20 + i }, 200))
        .collect();
    let v = judge(&win(&pts), &owned(), None);
    assert_eq!(
        v,
        Verdict::new(LagStatus::Rewind, "offset went back from 105 to 26")
    );
    // Even before the window is complete.
    let v = judge(&win(&[(100, 200), (20, 200)]), &owned(), None);
    assert_eq!(v.status, LagStatus::Rewind);
}

#[test]
fn forward_moves_never_rewind() {
    let v = judge(&moving(|i| 10 - i), &owned(), None);
    assert_ne!(v.status, LagStatus::Rewind);
    assert_eq!(v.status, LagStatus::Ok);
}

// Before the window is complete: never OK without evidence.

/// Two samples one second apart, offset 50 unchanged, 10,000 waiting: `eventdeck
/// status` on a stuck group.
fn two_stuck() -> Vec<CommitPoint> {
    win(&[(50, 10_050), (50, 10_050)])
}

#[test]
fn two_samples_without_progress_far_behind_with_an_owner_is_stall() {
    let v = judge_behind(&two_stuck(), &owned(), None, Some(205.4));
    assert_eq!(
        v,
        Verdict::new(
            LagStatus::Stall,
            "offset stuck at 50 for 2 samples with lag 10,000, 205 s behind, while indexer \
             owns it"
        )
    );
}

#[test]
fn two_samples_without_progress_far_behind_without_members_is_stop() {
    let v = judge_behind(&two_stuck(), &Owner::Nobody, None, Some(205.0));
    assert_eq!(
        v,
        Verdict::new(
            LagStatus::Stop,
            "no commit in 2 samples (1 s) with lag 10,000, 205 s behind; no member owns it"
        )
    );
    // A second process on the embedded broker cannot see the members: STOP too.
    let v = judge_behind(&two_stuck(), &Owner::Unknown, None, Some(205.0));
    assert_eq!(v.status, LagStatus::Stop);
    assert!(v.reason.ends_with("owner unknown"), "{}", v.reason);
}

#[test]
fn the_stall_threshold_is_inclusive_and_configurable() {
    let at = judge_behind(&two_stuck(), &owned(), None, Some(30.0));
    assert_eq!(at.status, LagStatus::Stall, "{}", at.reason);
    let lenient = Rules {
        full: FULL,
        stall_after_s: 300.0,
    };
    let facts = Facts {
        window: &two_stuck(),
        owner: &owned(),
        last_move_ms: None,
        time_lag_s: Some(205.0),
        backlog: 0,
    };
    let v = evaluate(&facts, &lenient);
    assert_eq!(v.status, LagStatus::Unknown, "{}", v.reason);
    assert!(v.reason.contains("(stall after 300 s)"), "{}", v.reason);
}

#[test]
fn no_progress_but_not_far_behind_is_unknown_not_ok() {
    let v = judge_behind(&two_stuck(), &owned(), None, Some(4.0));
    assert_eq!(
        v,
        Verdict::new(
            LagStatus::Unknown,
            "unknown: 2 samples, offset unchanged with lag 10,000, 4 s behind (stall after \
             30 s)"
        )
    );
}

#[test]
fn no_progress_and_no_time_lag_is_unknown_not_ok() {
    // No record read: watching it for one second says it is at least 1 s behind.
    let v = judge(&two_stuck(), &owned(), None);
    assert_eq!(
        v,
        Verdict::new(
            LagStatus::Unknown,
            "unknown: 2 samples, offset unchanged with lag 10,000, at least 1 s behind \
             (stall after 30 s)"
        )
    );
    // The records arrived after the first sample: not even that.
    let v = judge(&win(&[(50, 50), (50, 10_050)]), &owned(), None);
    assert_eq!(
        v,
        Verdict::new(
            LagStatus::Unknown,
            "unknown: 2 samples, offset unchanged with lag 10,000, time lag unknown"
        )
    );
}

#[test]
fn one_sample_with_lag_is_unknown_even_far_behind() {
    let w = win(&[(50, 10_050)]);
    let v = judge_behind(&w, &owned(), None, Some(205.0));
    assert_eq!(
        v,
        Verdict::new(
            LagStatus::Unknown,
            "unknown: 1 sample, lag 10,000, 205 s behind"
        )
    );
    assert_eq!(
        judge(&w, &Owner::Nobody, None).reason,
        "unknown: 1 sample, lag 10,000"
    );
}

#[test]
fn watching_an_unchanged_offset_with_lag_bounds_the_time_lag() {
    // Sampled every 5 s: after 7 samples (30 s) the offset never moved and records
    // were waiting from the first sample on, so the group is at least 30 s behind
    // even when no record could be read.
    let w: Vec<CommitPoint> = (0..7)
        .map(|i| CommitPoint {
            t_ms: 100_000 + i * 5_000,
            committed: Some(50),
            high: 80 + i,
        })
        .collect();
    let v = judge(&w, &Owner::Nobody, None);
    assert_eq!(v.status, LagStatus::Stop, "{}", v.reason);
    assert!(v.reason.contains("30 s behind"), "{}", v.reason);
    // Lag that appeared only after the first sample proves nothing about how long.
    let mut fresh = w.clone();
    fresh[0].high = 50;
    assert_eq!(
        judge(&fresh, &Owner::Nobody, None).status,
        LagStatus::Unknown
    );
}

#[test]
fn progress_before_the_window_is_complete_is_ok() {
    let w = win(&[(50, 10_050), (90, 10_090), (130, 10_130)]);
    let v = judge_behind(&w, &owned(), None, Some(205.0));
    assert_eq!(
        v,
        Verdict::new(
            LagStatus::Ok,
            "consuming: offset moved, lag 10,000 (3 of 10 samples)"
        )
    );
}

#[test]
fn burrow_rules_take_over_once_the_window_is_complete() {
    // Nine stuck samples with a small time lag wait; the tenth is Burrow's STALL.
    let w = win(&(0..10).map(|i| (50, 60 + i)).collect::<Vec<_>>());
    assert_eq!(
        judge_behind(&w[..9], &owned(), None, Some(2.0)).status,
        LagStatus::Unknown
    );
    assert_eq!(
        judge_behind(&w, &owned(), None, Some(2.0)).status,
        LagStatus::Stall
    );
}

#[test]
fn no_commit_is_unknown_while_records_wait() {
    let w = [CommitPoint {
        t_ms: 0,
        committed: None,
        high: 1_234,
    }];
    let facts = Facts {
        window: &w,
        owner: &owned(),
        last_move_ms: None,
        time_lag_s: None,
        backlog: 1_234,
    };
    assert_eq!(
        evaluate(&facts, &RULES),
        Verdict::new(
            LagStatus::Unknown,
            "unknown: no committed offset, backlog 1,234"
        )
    );
    // Never "caught up": an empty partition is OK for what it is.
    let empty = Facts {
        backlog: 0,
        ..facts
    };
    assert_eq!(
        evaluate(&empty, &RULES),
        Verdict::new(LagStatus::Ok, "no committed offset, nothing to read")
    );
}

#[test]
fn no_sample_is_unknown() {
    let v = judge(&[], &owned(), None);
    assert_eq!(v.status, LagStatus::Unknown);
}

#[test]
fn the_group_takes_its_worst_partition() {
    assert_eq!(
        worst([LagStatus::Ok, LagStatus::Stall, LagStatus::Warn]),
        LagStatus::Stall
    );
    assert_eq!(worst([LagStatus::Rewind, LagStatus::Err]), LagStatus::Err);
    assert_eq!(
        worst([LagStatus::Ok, LagStatus::Unknown]),
        LagStatus::Unknown
    );
    assert_eq!(
        worst([LagStatus::Unknown, LagStatus::Warn]),
        LagStatus::Warn
    );
    assert_eq!(worst([]), LagStatus::Ok);
}

#[test]
fn consumed_then_left_is_not_ok_before_the_window_is_full() {
    // The offset moved in the first samples, then the group's members left (nobody owns
    // the partition) while records kept arriving: not "consuming" (the integration test
    // a_stopped_indexer_with_events_waiting_is_not_ok found this OK).
    let pts: Vec<(i64, i64)> = (0..6)
        .map(|i| (if i < 2 { 40 + i * 5 } else { 45 }, 45 + i * 10))
        .collect();
    let w = win(&pts);
    let v = judge(&w, &Owner::Nobody, None);
    assert_ne!(v.status, LagStatus::Ok, "{}", v.reason);
    assert!(v.reason.contains("since it last moved"), "{}", v.reason);
    // Far enough behind, STOP; with an owner the same movement still reads as consuming.
    assert_eq!(
        judge_behind(&w, &Owner::Nobody, None, Some(45.0)).status,
        LagStatus::Stop
    );
    assert_eq!(judge(&w, &owned(), None).status, LagStatus::Ok);
}

#[test]
fn whole_seconds_are_written_as_the_formatter_writes_them() {
    let mut values = vec![
        0.0,
        -0.0,
        0.5,
        1.5,
        2.5,
        -0.4,
        -2.5,
        0.49999999999999994,
        4503599627370495.5,
        9.0e15,
        1e300,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    values.extend((0..20_000).map(|i| i as f64 * 0.0137 - 30.0));
    values.extend((0..2_000).map(|i| (i * 250) as f64 / 1000.0));
    for x in values {
        assert_eq!(super::Whole(x).to_string(), format!("{x:.0}"), "{x:e}");
    }
}
