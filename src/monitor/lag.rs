//! Consumer lag in messages and in seconds (DESIGN.md §6). Pure functions.

/// Lag of one partition: `max(0, high − committed)`. The flag is true when the difference
/// was negative — the committed offset was read after the watermark and overtook it (a
/// racing sample) — so that the caller can count it. No committed offset means no lag
/// figure: 0 here, never shown as such — "-" and `null`, like `kafka-consumer-groups`
/// (see `PartitionLag::lag_figure`), with the partition's backlog apart.
pub fn partition_lag(high: i64, committed: Option<i64>) -> (i64, bool) {
    match committed {
        None => (0, false),
        Some(c) => {
            let d = high - c;
            (d.max(0), d < 0)
        }
    }
}

/// Sum and maximum of partition lags.
pub fn sum_max(lags: impl IntoIterator<Item = i64>) -> (i64, i64) {
    lags.into_iter()
        .fold((0, 0), |(s, m), l| (s.saturating_add(l), m.max(l)))
}

/// One lagging partition for the time-lag figure: its lag in messages and the timestamp
/// (ms) of the record at its committed offset, when it could be read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Behind {
    pub lag: i64,
    pub record_ms: Option<i64>,
}

/// Lag in seconds of a group on a topic, and whether it is an estimate.
///
/// Read: `now − timestamp of the oldest unconsumed record`, the worst partition. Estimate,
/// when no record could be read: messages lag ÷ consume rate. None when lagging and nothing
/// is consumed (the estimate would be infinite).
pub fn lag_seconds(now_ms: i64, parts: &[Behind], out_per_sec: f64) -> (Option<f64>, bool) {
    let lag_sum: i64 = parts.iter().map(|p| p.lag).sum();
    if lag_sum == 0 {
        return (Some(0.0), false);
    }
    let read = parts
        .iter()
        .filter(|p| p.lag > 0)
        .filter_map(|p| p.record_ms)
        .map(|ts| ((now_ms - ts).max(0)) as f64 / 1000.0)
        .fold(None, |acc: Option<f64>, s| {
            Some(acc.map_or(s, |a| a.max(s)))
        });
    if read.is_some() {
        return (read, false);
    }
    if out_per_sec > 0.0 {
        (Some(lag_sum as f64 / out_per_sec), true)
    } else {
        (None, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_high_minus_committed() {
        assert_eq!(partition_lag(120, Some(100)), (20, false));
        assert_eq!(partition_lag(100, Some(100)), (0, false));
    }

    #[test]
    fn a_racing_sample_shows_zero_and_is_flagged() {
        // The commit was read after the watermark and is ahead of it.
        assert_eq!(partition_lag(100, Some(103)), (0, true));
    }

    #[test]
    fn no_commit_means_no_lag_figure() {
        assert_eq!(partition_lag(100, None), (0, false));
    }

    #[test]
    fn sum_and_max() {
        assert_eq!(sum_max([3, 0, 10, 2]), (15, 10));
        assert_eq!(sum_max([]), (0, 0));
    }

    #[test]
    fn seconds_come_from_the_oldest_unread_record() {
        let parts = [
            Behind {
                lag: 5,
                record_ms: Some(9_000),
            },
            Behind {
                lag: 50,
                record_ms: Some(7_500),
            },
            // Caught up: its (stale) record time does not count.
            Behind {
                lag: 0,
                record_ms: Some(1_000),
            },
        ];
        assert_eq!(lag_seconds(10_000, &parts, 3.0), (Some(2.5), false));
    }

    #[test]
    fn without_records_the_rate_estimate_is_used_and_labelled() {
        let parts = [
            Behind {
                lag: 30,
                record_ms: None,
            },
            Behind {
                lag: 10,
                record_ms: None,
            },
        ];
        assert_eq!(lag_seconds(10_000, &parts, 20.0), (Some(2.0), true));
        assert_eq!(lag_seconds(10_000, &parts, 0.0), (None, true));
    }

    #[test]
    fn caught_up_is_zero_seconds() {
        let parts = [Behind {
            lag: 0,
            record_ms: None,
        }];
        assert_eq!(lag_seconds(10_000, &parts, 0.0), (Some(0.0), false));
    }

    #[test]
    fn a_record_from_the_future_is_not_negative() {
        let parts = [Behind {
            lag: 1,
            record_ms: Some(12_000),
        }];
        assert_eq!(lag_seconds(10_000, &parts, 0.0), (Some(0.0), false));
    }
}
