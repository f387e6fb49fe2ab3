//! Write vs read, measured where the work happens: the command side records how long each
//! committed write took, the query side each search, and the indexer how long after its
//! commit each event became searchable. The figures (rates and percentiles over the last
//! minute) are pure functions of the recorded samples; `:cqrs`, `/metrics` and `bench cqrs`
//! read them.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Samples older than this are forgotten.
const WINDOW: Duration = Duration::from_secs(60);
/// The rate is taken over the last 10 s, as the throughput pane does.
const RATE_WINDOW: Duration = Duration::from_secs(10);
/// At most this many samples per side are kept (oldest dropped first).
const MAX_SAMPLES: usize = 20_000;

/// p50, p95 and p99 of a set of durations, in milliseconds (nearest rank).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    /// `None` without samples.
    pub fn of(samples: &[Duration]) -> Option<Percentiles> {
        if samples.is_empty() {
            return None;
        }
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            let i = ((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len());
            ms[i - 1]
        };
        Some(Percentiles {
            p50_ms: rank(0.50),
            p95_ms: rank(0.95),
            p99_ms: rank(0.99),
            max_ms: ms[ms.len() - 1],
        })
    }
}

/// One side's figures.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct SideFigures {
    /// Since start.
    pub total: u64,
    /// Over the last 10 s.
    pub per_sec: f64,
    /// Over the last minute.
    pub latency: Option<Percentiles>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CqrsFigures {
    /// Commands committed (row + outbox entry).
    pub write: SideFigures,
    /// Searches answered.
    pub read: SideFigures,
    /// From a change's commit to the moment the indexer made it searchable.
    pub commit_to_searchable: SideFigures,
}

#[derive(Debug, Default)]
struct Series {
    total: u64,
    samples: VecDeque<(Instant, Duration)>,
}

impl Series {
    fn record(&mut self, at: Instant, took: Duration) {
        self.total += 1;
        self.samples.push_back((at, took));
        if self.samples.len() > MAX_SAMPLES {
            self.samples.pop_front();
        }
    }

    fn figures(&mut self, now: Instant) -> SideFigures {
        while let Some((at, _)) = self.samples.front() {
            if now.saturating_duration_since(*at) > WINDOW {
                self.samples.pop_front();
            } else {
                break;
            }
        }
        let recent = self
            .samples
            .iter()
            .filter(|(at, _)| now.saturating_duration_since(*at) <= RATE_WINDOW)
            .count();
        let durations: Vec<Duration> = self.samples.iter().map(|(_, d)| *d).collect();
        SideFigures {
            total: self.total,
            per_sec: recent as f64 / RATE_WINDOW.as_secs_f64(),
            latency: Percentiles::of(&durations),
        }
    }
}

/// Shared by the API, the search service, the indexer and the monitor.
#[derive(Debug, Default)]
pub struct CqrsMeter {
    write: Mutex<Series>,
    read: Mutex<Series>,
    visible: Mutex<Series>,
}

impl CqrsMeter {
    pub fn record_write(&self, took: Duration) {
        record(&self.write, took);
    }

    pub fn record_read(&self, took: Duration) {
        record(&self.read, took);
    }

    /// `delay`: from the change's commit (its event's timestamp) to searchable.
    pub fn record_visible(&self, delay: Duration) {
        record(&self.visible, delay);
    }

    pub fn figures(&self) -> CqrsFigures {
        let now = Instant::now();
        let of = |s: &Mutex<Series>| s.lock().map(|mut s| s.figures(now)).unwrap_or_default();
        CqrsFigures {
            write: of(&self.write),
            read: of(&self.read),
            commit_to_searchable: of(&self.visible),
        }
    }
}

fn record(series: &Mutex<Series>, took: Duration) {
    if let Ok(mut s) = series.lock() {
        s.record(Instant::now(), took);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(ms).collect();
        let p = Percentiles::of(&samples).unwrap();
        assert_eq!(
            (p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms),
            (50.0, 95.0, 99.0, 100.0)
        );
        let one = Percentiles::of(&[ms(7)]).unwrap();
        assert_eq!((one.p50_ms, one.p99_ms), (7.0, 7.0));
        assert_eq!(Percentiles::of(&[]), None);
    }

    #[test]
    fn old_samples_leave_the_window_and_the_rate_counts_the_last_ten_seconds() {
        let start = Instant::now();
        let mut s = Series::default();
        s.record(start, ms(500));
        for i in 0..20 {
            s.record(start + Duration::from_secs(55) + ms(i), ms(10));
        }
        let f = s.figures(start + Duration::from_secs(61));
        assert_eq!(f.total, 21);
        assert_eq!(f.per_sec, 2.0);
        let latency = f.latency.unwrap();
        assert_eq!(
            latency.max_ms, 10.0,
            "the 500 ms sample is older than a minute"
        );
    }
}
