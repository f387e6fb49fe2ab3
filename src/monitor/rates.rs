//! Throughput from counters: messages in per second (high watermarks) and out per second
//! (committed offsets). Pure functions of `(time ms, value)` points, oldest first.

/// Per-second rate over the points: the sum of increases divided by the time they span.
///
/// A decrease (a topic re-created, a group's offsets reset or rewound) contributes nothing
/// to that interval rather than a negative or a huge figure: after a reset we cannot know how
/// much really flowed, and 0 is the honest lower bound. One pass, no allocation: it runs for
/// every partition of every group at every sample.
pub fn rate(points: impl IntoIterator<Item = (i64, i64)>) -> f64 {
    let mut it = points.into_iter();
    let Some((t0, v0)) = it.next() else {
        return 0.0;
    };
    let (mut last_t, mut prev, mut increase) = (t0, v0, 0i64);
    for (t, v) in it {
        increase = increase.saturating_add((v - prev).max(0));
        prev = v;
        last_t = t;
    }
    let span_ms = last_t - t0;
    if span_ms <= 0 {
        return 0.0;
    }
    increase as f64 * 1000.0 / span_ms as f64
}

/// The newest `n` items of a double-ended queue, oldest first.
pub fn newest<T: Copy>(
    q: &std::collections::VecDeque<T>,
    n: usize,
) -> impl Iterator<Item = T> + '_ {
    q.iter().skip(q.len().saturating_sub(n)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_counter_gives_its_slope() {
        let pts: Vec<(i64, i64)> = (0..5).map(|i| (i * 1000, i * 50)).collect();
        assert!((rate(pts.iter().copied()) - 50.0).abs() < 1e-9);
    }

    #[test]
    fn uneven_intervals_use_the_real_time_span() {
        // 300 messages over 1.5 s.
        let pts = [(0, 0), (500, 100), (1500, 300)];
        assert!((rate(pts) - 200.0).abs() < 1e-9);
    }

    #[test]
    fn a_counter_reset_counts_as_no_progress_not_a_negative_rate() {
        // 100 → 200, then the topic is re-created (→ 10), then 10 → 60.
        let pts = [(0, 100), (1000, 200), (2000, 10), (3000, 60)];
        // Increases 100 + 0 + 50 over 3 s.
        assert!((rate(pts) - 50.0).abs() < 1e-9);
        assert!(rate([(0, 500), (1000, 0)]) == 0.0);
    }

    #[test]
    fn too_few_points_or_no_time_give_zero() {
        assert_eq!(rate([]), 0.0);
        assert_eq!(rate([(1000, 5)]), 0.0);
        assert_eq!(rate([(1000, 5), (1000, 9)]), 0.0);
    }

    #[test]
    fn newest_takes_the_last_n() {
        let q: std::collections::VecDeque<i32> = (1..=4).collect();
        assert_eq!(newest(&q, 2).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(newest(&q, 9).count(), 4);
    }
}
