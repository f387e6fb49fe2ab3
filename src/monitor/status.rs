//! Burrow's consumer status rules (DESIGN.md §6) over a sliding window of samples of one
//! partition of one group. Pure: the window, who owns the partition, what else is known
//! (time lag, backlog) and the rules in, a status and the reason in words out.
//!
//! We sample committed offsets rather than seeing every commit as Burrow does, so "no
//! commit" means "the committed offset did not move", and STALL (a live consumer stuck on a
//! record) is told apart from STOP (nobody consuming) by ownership: a member that owns the
//! partition makes it STALL; no owner, or an owner we cannot know, makes it STOP.
//!
//! Never OK without evidence. Burrow waits for a full window and calls everything before it
//! OK (and keeps a stopped consumer OK: linkedin/Burrow#745); `eventdeck status` takes two
//! samples, so it would never judge at all. Before the window is full we decide from what is
//! known: an offset unchanged across the samples while the group is more than
//! `stall_after_s` behind is STALL/STOP; lag with nothing to judge it by is UNKNOWN.

use super::lag::partition_lag;
use super::snapshot::LagStatus;
use super::table::thousands;

/// One sample of a group's position on a partition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CommitPoint {
    pub t_ms: i64,
    pub committed: Option<i64>,
    pub high: i64,
}

impl CommitPoint {
    /// max(0, high − committed); 0 without a commit (see [`evaluate`] for what that means).
    pub fn lag(&self) -> i64 {
        partition_lag(self.high, self.committed).0
    }
}

/// Who consumes the partition, as far as we know.
#[derive(Debug, Clone, PartialEq)]
pub enum Owner {
    /// A member of the group is assigned it (our worker's name or the member's client id).
    Member(String),
    /// The group's members are known and none has it.
    Nobody,
    /// The broker does not describe the group and it is not ours.
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub status: LagStatus,
    pub reason: String,
}

impl Verdict {
    pub fn new(status: LagStatus, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
        }
    }
}

/// Everything known about one partition of one group at the newest sample.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The newest samples, oldest first, at most a full window.
    pub window: &'a [CommitPoint],
    pub owner: &'a Owner,
    /// When the committed offset was last seen to change, if it ever was.
    pub last_move_ms: Option<i64>,
    /// Seconds behind, read from the timestamp of the record at the committed offset at the
    /// newest sample; None when it could not be read.
    pub time_lag_s: Option<f64>,
    /// Records on the partition (high − low watermark): what a group without a committed
    /// offset has in front of it.
    pub backlog: i64,
}

/// The thresholds of the rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// Samples a complete window holds: Burrow's STOP, STALL and WARN need one (REWIND
    /// does not).
    pub full: usize,
    /// Before the window is complete, an offset that did not move across the samples is
    /// STALL/STOP once the group is at least this many seconds behind
    /// (`monitor.stall_after_seconds`).
    pub stall_after_s: f64,
}

/// The status of one partition of one group. In order:
/// - no sample: UNKNOWN;
/// - no committed offset: lag unknown, UNKNOWN while records wait (backlog > 0), OK when
///   the partition is empty;
/// - lag 0: OK; the offset went back: REWIND;
/// - window not complete yet: one sample is UNKNOWN; an offset that moved is OK
///   (consuming); an offset that did not move is STALL (an owner is known) or STOP (none,
///   or not known) when the group is `stall_after_s` behind or more — the record at the
///   committed offset says how far, and an offset watched unchanged with lag since the first
///   sample is at least that far behind — else UNKNOWN;
/// - complete window, Burrow: offset unchanged with lag throughout is STALL / STOP; lag 0
///   in it is OK if the offset moved since (if not — caught up, then nothing committed while
///   records arrived — it is judged like the unchanged offset above, never OK: Burrow's
///   linkedin/Burrow#745); lag that never shrank while offsets moved is WARN; else OK.
pub fn evaluate(f: &Facts<'_>, rules: &Rules) -> Verdict {
    let window = f.window;
    let Some(last) = window.last() else {
        return Verdict::new(LagStatus::Unknown, "unknown: no samples yet");
    };
    let Some(offset) = last.committed else {
        return if f.backlog > 0 {
            Verdict::new(
                LagStatus::Unknown,
                format!(
                    "unknown: no committed offset, backlog {}",
                    thousands(f.backlog)
                ),
            )
        } else {
            Verdict::new(LagStatus::Ok, "no committed offset, nothing to read")
        };
    };
    let lag = last.lag();
    if lag == 0 {
        return Verdict::new(LagStatus::Ok, "caught up");
    }
    // Numbers in reasons with thousands separators, as everywhere on screen.
    let (offset_t, lag_t) = (thousands(offset), thousands(lag));
    if let Some((from, to)) = rewind(window) {
        return Verdict::new(
            LagStatus::Rewind,
            format!(
                "offset went back from {} to {}",
                thousands(from),
                thousands(to)
            ),
        );
    }
    let full = rules.full.max(2);
    if window.len() < full {
        return before_full_window(f, rules, offset, lag, full);
    }
    let first = &window[0];
    let span_s = (last.t_ms - first.t_ms) as f64 / 1000.0;
    let stuck = window.iter().all(|p| p.committed == Some(offset));
    if stuck {
        return match f.owner {
            Owner::Member(m) => Verdict::new(
                LagStatus::Stall,
                format!(
                    "offset stuck at {offset_t} for {} samples with lag {lag_t} while {m} owns it",
                    window.len()
                ),
            ),
            Owner::Nobody | Owner::Unknown => {
                let idle_s = f
                    .last_move_ms
                    .map(|t| (last.t_ms - t) as f64 / 1000.0)
                    .filter(|s| *s >= span_s);
                let since = match idle_s {
                    Some(s) => format!("{s:.0} s"),
                    None => format!("at least {span_s:.0} s"),
                };
                Verdict::new(
                    LagStatus::Stop,
                    format!(
                        "no commit for {since} (window {span_s:.0} s) with lag {lag_t}; {}",
                        nobody(f.owner)
                    ),
                )
            }
        };
    }
    // Burrow's first rule: a lag of zero anywhere in the window makes it OK — unless the
    // offset has not moved since, while records arrived: Burrow keeps a consumer that caught
    // up and stopped OK for a whole window that way (linkedin/Burrow#745). Since the lag was
    // 0, progress is unknown.
    if let Some(zero) = window
        .iter()
        .rposition(|p| p.committed.is_some() && p.lag() == 0)
    {
        let since_zero = &window[zero..];
        if since_zero.iter().all(|p| p.committed == Some(offset)) {
            return unchanged(f, rules, since_zero, offset, lag, "since the lag was 0");
        }
        return Verdict::new(LagStatus::Ok, "lag was 0 within the window");
    }
    let intervals = window.len() - 1;
    let grew = window
        .windows(2)
        .filter(|w| w[1].lag() > w[0].lag())
        .count();
    let shrank = window
        .windows(2)
        .filter(|w| w[1].lag() < w[0].lag())
        .count();
    if shrank == 0 {
        return Verdict::new(
            LagStatus::Warn,
            format!(
                "lag grew in {grew} of {intervals} samples, never shrank ({} → {lag_t})",
                thousands(first.lag())
            ),
        );
    }
    Verdict::new(
        LagStatus::Ok,
        format!("lag shrank in {shrank} of {intervals} samples"),
    )
}

/// Fewer samples than a window, lag > 0, no rewind: decide from what is known.
fn before_full_window(f: &Facts<'_>, rules: &Rules, offset: i64, lag: i64, full: usize) -> Verdict {
    let window = f.window;
    let n = window.len();
    let lag_t = thousands(lag);
    let behind_read = f.time_lag_s.map(|s| format!(", {s:.0} s behind"));
    if n < 2 {
        return Verdict::new(
            LagStatus::Unknown,
            format!(
                "unknown: 1 sample, lag {lag_t}{}",
                behind_read.unwrap_or_default()
            ),
        );
    }
    if window.iter().any(|p| p.committed != Some(offset)) {
        return Verdict::new(
            LagStatus::Ok,
            format!("consuming: offset moved, lag {lag_t} ({n} of {full} samples)"),
        );
    }
    unchanged(f, rules, window, offset, lag, "")
}

/// `run`: the newest samples, two at least, across which the committed offset stayed at
/// `offset` with `lag` > 0 now. STALL/STOP when the group is `stall_after_s` behind or more,
/// else UNKNOWN. `context` says which samples these are, after their count.
fn unchanged(
    f: &Facts<'_>,
    rules: &Rules,
    run: &[CommitPoint],
    offset: i64,
    lag: i64,
    context: &str,
) -> Verdict {
    let n = run.len();
    let (offset_t, lag_t) = (thousands(offset), thousands(lag));
    let (Some(first), Some(last)) = (run.first(), run.last()) else {
        return Verdict::new(LagStatus::Unknown, "unknown: no samples yet");
    };
    let samples = if context.is_empty() {
        format!("{n} samples")
    } else {
        format!("{n} samples {context}")
    };
    // The record at the offset was already waiting at the first sample when the lag was > 0
    // then: the group is at least that far behind.
    let span_s = ((last.t_ms - first.t_ms) as f64 / 1000.0).max(0.0);
    let watched = (first.lag() > 0).then_some(span_s);
    let (behind, words) = match (f.time_lag_s, watched) {
        (Some(read), w) => {
            let s = w.map_or(read, |w| read.max(w));
            (Some(s), format!("{s:.0} s behind"))
        }
        (None, Some(w)) => (Some(w), format!("at least {w:.0} s behind")),
        (None, None) => (None, "time lag unknown".to_string()),
    };
    let threshold = rules.stall_after_s;
    match behind {
        Some(s) if s >= threshold => match f.owner {
            Owner::Member(m) => Verdict::new(
                LagStatus::Stall,
                format!(
                    "offset stuck at {offset_t} for {samples} with lag {lag_t}, {words}, while \
                     {m} owns it"
                ),
            ),
            Owner::Nobody | Owner::Unknown => Verdict::new(
                LagStatus::Stop,
                format!(
                    "no commit in {samples} ({span_s:.0} s) with lag {lag_t}, {words}; {}",
                    nobody(f.owner)
                ),
            ),
        },
        Some(_) => Verdict::new(
            LagStatus::Unknown,
            format!(
                "unknown: {samples}, offset unchanged with lag {lag_t}, {words} (stall after \
                 {threshold:.0} s)"
            ),
        ),
        None => Verdict::new(
            LagStatus::Unknown,
            format!("unknown: {samples}, offset unchanged with lag {lag_t}, {words}"),
        ),
    }
}

fn nobody(owner: &Owner) -> &'static str {
    if *owner == Owner::Nobody {
        "no member owns it"
    } else {
        "owner unknown"
    }
}

/// The first backwards move of the committed offset in the window.
fn rewind(window: &[CommitPoint]) -> Option<(i64, i64)> {
    window
        .windows(2)
        .find_map(|w| match (w[0].committed, w[1].committed) {
            (Some(a), Some(b)) if b < a => Some((a, b)),
            _ => None,
        })
}

/// The worst of several statuses (the group takes its worst partition); OK when empty.
pub fn worst(statuses: impl IntoIterator<Item = LagStatus>) -> LagStatus {
    statuses.into_iter().max().unwrap_or(LagStatus::Ok)
}

#[cfg(test)]
mod tests {
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
}
