//! Burrow's consumer status rules (DESIGN.md §6) over a sliding window of samples of one
//! partition of one group. Pure: the window, who owns the partition and the rules in, a
//! status and the reason in words out.
//!
//! We sample committed offsets rather than seeing every commit as Burrow does, so "no
//! commit" means "the committed offset did not move", and STALL (a live consumer stuck on a
//! record) is told apart from STOP (nobody consuming) by ownership: a member that owns the
//! partition makes it STALL; no owner, or an owner we cannot know, makes it STOP.

use super::lag::partition_lag;
use super::snapshot::LagStatus;

/// One sample of a group's position on a partition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CommitPoint {
    pub t_ms: i64,
    pub committed: Option<i64>,
    pub high: i64,
}

impl CommitPoint {
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
    fn new(status: LagStatus, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
        }
    }
}

/// Evaluates a window, oldest first. `full` is the number of samples a complete window
/// holds: STOP, STALL and WARN need a complete one (as in Burrow), REWIND does not.
/// `last_move_ms` is when the committed offset last changed, if it was ever seen to.
pub fn evaluate(
    window: &[CommitPoint],
    owner: &Owner,
    last_move_ms: Option<i64>,
    full: usize,
) -> Verdict {
    let Some(last) = window.last() else {
        return Verdict::new(LagStatus::Ok, "no samples yet");
    };
    let Some(offset) = last.committed else {
        return Verdict::new(LagStatus::Ok, "no committed offset");
    };
    let lag = last.lag();
    if lag == 0 {
        return Verdict::new(LagStatus::Ok, "caught up");
    }
    if let Some((from, to)) = rewind(window) {
        return Verdict::new(
            LagStatus::Rewind,
            format!("offset went back from {from} to {to}"),
        );
    }
    let full = full.max(2);
    if window.len() < full {
        return Verdict::new(
            LagStatus::Ok,
            format!("collecting samples ({} of {full})", window.len()),
        );
    }
    let first = &window[0];
    let span_s = (last.t_ms - first.t_ms) as f64 / 1000.0;
    let stuck = window.iter().all(|p| p.committed == Some(offset));
    if stuck {
        return match owner {
            Owner::Member(m) => Verdict::new(
                LagStatus::Stall,
                format!(
                    "offset stuck at {offset} for {} samples with lag {lag} while {m} owns it",
                    window.len()
                ),
            ),
            Owner::Nobody | Owner::Unknown => {
                let idle_s = last_move_ms
                    .map(|t| (last.t_ms - t) as f64 / 1000.0)
                    .filter(|s| *s >= span_s);
                let since = match idle_s {
                    Some(s) => format!("{s:.0} s"),
                    None => format!("at least {span_s:.0} s"),
                };
                let who = if *owner == Owner::Nobody {
                    "no member owns it"
                } else {
                    "owner unknown"
                };
                Verdict::new(
                    LagStatus::Stop,
                    format!("no commit for {since} (window {span_s:.0} s) with lag {lag}; {who}"),
                )
            }
        };
    }
    // Burrow's first rule: a lag of zero anywhere in the window makes it OK.
    if window.iter().any(|p| p.committed.is_some() && p.lag() == 0) {
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
                "lag grew in {grew} of {intervals} samples, never shrank ({} → {lag})",
                first.lag()
            ),
        );
    }
    Verdict::new(
        LagStatus::Ok,
        format!("lag shrank in {shrank} of {intervals} samples"),
    )
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

    /// A window of 10 samples one second apart from (committed, high) pairs.
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

    #[test]
    fn growing_lag_while_offsets_move_is_warn() {
        let v = evaluate(&moving(|i| 5 + i * 3), &owned(), None, FULL);
        assert_eq!(v.status, LagStatus::Warn, "{}", v.reason);
        assert_eq!(
            v.reason,
            "lag grew in 9 of 9 samples, never shrank (5 → 32)"
        );
    }

    #[test]
    fn constant_nonzero_lag_while_moving_is_warn_too() {
        // Burrow: lag never decreasing, even if flat, is a warning.
        let v = evaluate(&moving(|_| 7), &owned(), None, FULL);
        assert_eq!(v.status, LagStatus::Warn);
        assert!(v.reason.starts_with("lag grew in 0 of 9"), "{}", v.reason);
    }

    #[test]
    fn lag_that_shrinks_once_is_ok() {
        let v = evaluate(
            &moving(|i| if i == 5 { 2 } else { 5 + i }),
            &owned(),
            None,
            FULL,
        );
        assert_eq!(v.status, LagStatus::Ok);
        assert_eq!(v.reason, "lag shrank in 1 of 9 samples");
    }

    #[test]
    fn zero_lag_now_is_ok_whatever_came_before() {
        let mut w = moving(|i| 5 + i);
        let last = w.len() - 1;
        w[last].high = w[last].committed.unwrap_or(0);
        let v = evaluate(&w, &Owner::Nobody, None, FULL);
        assert_eq!(v, Verdict::new(LagStatus::Ok, "caught up"));
    }

    #[test]
    fn zero_lag_inside_the_window_is_ok() {
        let v = evaluate(
            &moving(|i| if i == 3 { 0 } else { 1 + i }),
            &owned(),
            None,
            FULL,
        );
        assert_eq!(v.status, LagStatus::Ok);
        assert!(v.reason.contains("lag was 0"));
    }

    #[test]
    fn stuck_offset_with_an_owner_is_stall() {
        let w = win(&(0..10).map(|i| (50, 60 + i)).collect::<Vec<_>>());
        let v = evaluate(&w, &owned(), Some(90_000), FULL);
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
        let v = evaluate(&w, &Owner::Nobody, Some(90_000), FULL);
        assert_eq!(v.status, LagStatus::Stop);
        // Last sample at 109 s, last move at 90 s.
        assert_eq!(
            v.reason,
            "no commit for 19 s (window 9 s) with lag 19; no member owns it"
        );
        let v = evaluate(&w, &Owner::Unknown, None, FULL);
        assert_eq!(v.status, LagStatus::Stop);
        assert!(v.reason.contains("at least 9 s"), "{}", v.reason);
    }

    #[test]
    fn stuck_without_lag_is_an_idle_consumer_not_a_stop() {
        let w = win(&[(50, 50); 10]);
        assert_eq!(
            evaluate(&w, &Owner::Nobody, None, FULL).status,
            LagStatus::Ok
        );
    }

    #[test]
    fn stuck_for_part_of_the_window_is_not_stop() {
        let mut pts: Vec<(i64, i64)> = (0..10).map(|i| (50, 60 + i * 2)).collect();
        pts[0] = (40, 50);
        let v = evaluate(&win(&pts), &Owner::Nobody, None, FULL);
        assert_eq!(v.status, LagStatus::Warn, "{}", v.reason);
    }

    #[test]
    fn offset_going_back_is_rewind() {
        let pts: Vec<(i64, i64)> = (0..10)
            .map(|i| (if i < 6 { 100 + i } else { 20 + i }, 200))
            .collect();
        let v = evaluate(&win(&pts), &owned(), None, FULL);
        assert_eq!(
            v,
            Verdict::new(LagStatus::Rewind, "offset went back from 105 to 26")
        );
        // Even before the window is complete.
        let v = evaluate(&win(&[(100, 200), (20, 200)]), &owned(), None, FULL);
        assert_eq!(v.status, LagStatus::Rewind);
    }

    #[test]
    fn forward_moves_never_rewind() {
        let v = evaluate(&moving(|i| 10 - i), &owned(), None, FULL);
        assert_ne!(v.status, LagStatus::Rewind);
        assert_eq!(v.status, LagStatus::Ok);
    }

    #[test]
    fn incomplete_windows_wait_before_judging() {
        let w = win(&(0..4).map(|i| (50, 60 + i)).collect::<Vec<_>>());
        let v = evaluate(&w, &Owner::Nobody, None, FULL);
        assert_eq!(
            v,
            Verdict::new(LagStatus::Ok, "collecting samples (4 of 10)")
        );
    }

    #[test]
    fn no_commit_or_no_sample_is_ok() {
        assert_eq!(evaluate(&[], &owned(), None, FULL).status, LagStatus::Ok);
        let w = [CommitPoint {
            t_ms: 0,
            committed: None,
            high: 10,
        }];
        assert_eq!(
            evaluate(&w, &owned(), None, FULL).reason,
            "no committed offset"
        );
    }

    #[test]
    fn the_group_takes_its_worst_partition() {
        assert_eq!(
            worst([LagStatus::Ok, LagStatus::Stall, LagStatus::Warn]),
            LagStatus::Stall
        );
        assert_eq!(worst([LagStatus::Rewind, LagStatus::Err]), LagStatus::Err);
        assert_eq!(worst([]), LagStatus::Ok);
    }
}
