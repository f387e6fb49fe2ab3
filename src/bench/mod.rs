//! `eventdeck bench`: each benchmark measures a figure and, in the same run, the baseline it
//! is judged against, and adds rows to one table: figure, measured, baseline, ratio, target,
//! parameters. Figures to read, never assertions: the tests do not time anything.

pub mod e2e;
pub mod ingest;
pub mod monitor;
pub mod render;

use std::fmt::Write as _;

use crate::config::Config;

/// What `eventdeck bench all` runs.
#[derive(Debug, Clone)]
pub struct AllArgs {
    /// Events of the local index's ingest (the memory target is taken after 100,000).
    pub events: u64,
    /// Events of each engine's ingest: its baselines are slow.
    pub engine_events: u64,
    pub seconds: u64,
    /// Elasticsearch APIs to index into besides the local index.
    pub search_urls: Vec<String>,
}

/// Every benchmark, one table: ingest and end to end on the local index and on each
/// `search_urls` engine, then the monitor and the console frame.
pub async fn all(config: Config, args: &AllArgs) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let engines = std::iter::once(String::new()).chain(args.search_urls.iter().cloned());
    for url in engines {
        let ingest = ingest::IngestArgs {
            events: if url.is_empty() {
                args.events
            } else {
                args.engine_events
            },
            search_url: url.clone(),
            guide_events: 2_000,
        };
        rows.extend(ingest::run(config.clone(), &ingest).await?);
        let e2e = e2e::E2eArgs {
            rate: 1_000,
            seconds: args.seconds,
            search_url: url,
            ..e2e::E2eArgs::default()
        };
        rows.extend(e2e::run(config.clone(), &e2e).await?);
    }
    rows.extend(tokio::task::spawn_blocking(monitor::run).await?);
    rows.extend(tokio::task::spawn_blocking(render::run).await??);
    Ok(rows)
}

/// One line of the table.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub figure: String,
    pub measured: String,
    /// What the figure is compared with, measured in the same run; empty when nothing is.
    pub baseline: String,
    /// measured ÷ baseline, or the figure ÷ its limit, as the target states it.
    pub ratio: Option<f64>,
    pub target: String,
    /// Whether the target is met; `None` when the row has no target.
    pub met: Option<bool>,
    pub params: String,
}

impl Row {
    pub fn new(figure: impl Into<String>, measured: impl Into<String>) -> Self {
        Self {
            figure: figure.into(),
            measured: measured.into(),
            ..Self::default()
        }
    }

    pub fn against(mut self, baseline: impl Into<String>, ratio: f64) -> Self {
        self.baseline = baseline.into();
        self.ratio = Some(ratio);
        self
    }

    pub fn target(mut self, target: impl Into<String>, met: bool) -> Self {
        self.target = target.into();
        self.met = Some(met);
        self
    }

    pub fn params(mut self, params: impl Into<String>) -> Self {
        self.params = params.into();
        self
    }
}

/// Rows as a Markdown table (what the README's Performance section shows).
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| figure | measured | baseline (same run) | ratio | target | parameters |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let ratio = r.ratio.map(|x| format!("{x:.2}×")).unwrap_or_default();
        let target = match r.met {
            Some(true) => format!("{} ✓", r.target),
            Some(false) => format!("{} ✗", r.target),
            None => r.target.clone(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            r.figure, r.measured, r.baseline, ratio, target, r.params
        );
    }
    out
}

/// `12,345`: figures rounded, with thousands separators, as the README writes them.
pub fn thousands(n: f64) -> String {
    crate::ui::format::thousands_i(n.round() as i64)
}

/// A benchmark's temporary directory, removed when the benchmark ends, however it ends.
pub struct RemoveOnDrop(pub std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The process's resident memory in MiB, from /proc (0 where there is none).
pub fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<f64>().ok())
            })
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1_000.0), "1,000");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(thousands(-12_345.0), "-12,345");
    }

    #[test]
    fn the_table_marks_targets_met_and_missed() {
        let rows = [
            Row::new("indexer", "9,000 events/s")
                .against("raw _bulk 10,000 docs/s", 0.9)
                .target("≥ 0.9×", true)
                .params("20,000 events"),
            Row::new("idle CPU", "3.0 %").target("< 2 %", false),
        ];
        let table = markdown(&rows);
        assert!(table.contains("| indexer | 9,000 events/s | raw _bulk 10,000 docs/s | 0.90× | ≥ 0.9× ✓ | 20,000 events |"));
        assert!(table.contains("| idle CPU | 3.0 % |  |  | < 2 % ✗ |  |"));
    }
}
