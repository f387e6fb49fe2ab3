//! How long a worker waits before retrying: exponential from a base, capped, with jitter.
//! Jitter matters when one outage fails many workers at once (an indexer per process, the
//! relay, a replay): without it they all retry in the same instant, every time.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// The longest wait between two attempts.
pub const CAP: Duration = Duration::from_secs(10);

/// The wait before retry `attempt` (1 for the first retry): `base` doubling per attempt up
/// to [`CAP`], then a random point in its upper half ("equal jitter": never less than half,
/// so the backoff still grows).
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    with_jitter(capped(base, attempt), random_unit())
}

/// `base` × 2^(attempt − 1), at most [`CAP`]. Pure.
pub fn capped(base: Duration, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
    base.saturating_mul(factor).min(CAP)
}

/// `wait` moved to `wait / 2 + unit × wait / 2`, for `unit` in [0, 1). Pure.
pub fn with_jitter(wait: Duration, unit: f64) -> Duration {
    let half = wait / 2;
    half + half.mul_f64(unit.clamp(0.0, 1.0))
}

/// A number in [0, 1), different on every call. Not for secrets: std's hasher keys are
/// random per process and stepped per call, which is all a retry needs.
fn random_unit() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_per_attempt_and_is_capped() {
        let base = Duration::from_millis(200);
        assert_eq!(capped(base, 1), Duration::from_millis(200));
        assert_eq!(capped(base, 2), Duration::from_millis(400));
        assert_eq!(capped(base, 6), Duration::from_millis(6400));
        assert_eq!(capped(base, 7), CAP);
        assert_eq!(capped(base, u32::MAX), CAP);
    }

    #[test]
    fn jitter_stays_in_the_upper_half() {
        let wait = Duration::from_secs(4);
        assert_eq!(with_jitter(wait, 0.0), Duration::from_secs(2));
        assert_eq!(with_jitter(wait, 0.5), Duration::from_secs(3));
        assert!(with_jitter(wait, 0.999) < wait);
        assert_eq!(with_jitter(wait, 7.0), wait, "out of range is clamped");
    }

    #[test]
    fn retries_are_spread_not_synchronised() {
        let base = Duration::from_millis(100);
        let waits: std::collections::BTreeSet<Duration> =
            (0..50).map(|_| backoff(base, 4)).collect();
        assert!(waits.iter().all(|w| *w >= Duration::from_millis(400)));
        assert!(waits.iter().all(|w| *w < Duration::from_millis(800)));
        assert!(
            waits.len() > 40,
            "50 draws gave {} distinct waits",
            waits.len()
        );
    }
}
