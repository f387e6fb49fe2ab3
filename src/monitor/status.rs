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
use super::table::Thousands;

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
                    Thousands(f.backlog)
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
    let (offset_t, lag_t) = (Thousands(offset), Thousands(lag));
    if let Some((from, to)) = rewind(window) {
        return Verdict::new(
            LagStatus::Rewind,
            format!(
                "offset went back from {} to {}",
                Thousands(from),
                Thousands(to)
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
                    Some(s) => format!("{} s", Whole(s)),
                    None => format!("at least {} s", Whole(span_s)),
                };
                Verdict::new(
                    LagStatus::Stop,
                    format!(
                        "no commit for {since} (window {} s) with lag {lag_t}; {}",
                        Whole(span_s),
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
                Thousands(first.lag())
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
    let lag_t = Thousands(lag);
    let behind_read = f.time_lag_s.map(|s| format!(", {} s behind", Whole(s)));
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
        // Moved, but no member owns the partition and it has not moved since: the group
        // consumed, then its consumers left. That earlier movement is no evidence of
        // consuming now: judge the samples since it last moved (DESIGN.md §6).
        let still = window
            .iter()
            .rev()
            .take_while(|p| p.committed == Some(offset))
            .count();
        if matches!(f.owner, Owner::Nobody) && still >= 2 {
            return unchanged(
                f,
                rules,
                &window[n - still..],
                offset,
                lag,
                "since it last moved",
            );
        }
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
    let (offset_t, lag_t) = (Thousands(offset), Thousands(lag));
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
            (Some(s), format!("{} s behind", Whole(s)))
        }
        (None, Some(w)) => (Some(w), format!("at least {} s behind", Whole(w))),
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
                    "no commit in {samples} ({} s) with lag {lag_t}, {words}; {}",
                    Whole(span_s),
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

/// Seconds as `{:.0}` writes them (rounded half to even, "-0" kept), without its exact
/// decimal expansion: a reason is written for every partition of every group each pass.
struct Whole(f64);

impl std::fmt::Display for Whole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let x = self.0;
        // Below 2^53 every integer is exact, so the rounding is the formatter's.
        if !x.is_finite() || x.abs() >= 9.0e15 {
            return write!(f, "{x:.0}");
        }
        let r = x.round_ties_even();
        if r == 0.0 && x.is_sign_negative() {
            return f.write_str("-0");
        }
        write!(f, "{}", r as i64)
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
#[path = "status_tests.rs"]
mod tests;
