//! An `eventdeck` as a child process, the way operators run it: `eventdeck run` on a data
//! directory, started, killed (SIGKILL or SIGTERM) and started again on the same directory
//! and port. Each run logs to run-N.log beside the data directory, for a failing test to show.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eventdeck::bus::Cluster;
use eventdeck::config::Config;

use crate::harness::eventually;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_eventdeck");

pub(crate) struct Node {
    pub(crate) data: PathBuf,
    /// The embedded broker's port, or unused with `brokers`.
    pub(crate) port: u16,
    /// An external cluster's bootstrap servers; None runs the embedded broker.
    pub(crate) brokers: Option<String>,
    pub(crate) search_url: Option<String>,
    pub(crate) marker: String,
    /// `run --workers`; None runs the default set.
    pub(crate) workers: Option<String>,
    /// More EVENTDECK_* settings.
    pub(crate) env: Vec<(String, String)>,
    /// The configuration file; None: none (`/dev/null`).
    pub(crate) config: Option<PathBuf>,
    pub(crate) runs: usize,
}

impl Node {
    /// A node on the embedded broker at a free port, with the local index unless `search_url`.
    pub(crate) fn new(data: PathBuf, search_url: Option<String>, marker: &str) -> Node {
        Node {
            data,
            port: free_port(),
            brokers: None,
            search_url,
            marker: marker.to_string(),
            workers: None,
            env: Vec::new(),
            config: None,
            runs: 0,
        }
    }

    pub(crate) fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.args(["--data-dir", &self.data.display().to_string()])
            .args(["--embedded-port", &self.port.to_string()])
            .arg("--config")
            .arg(self.config.as_deref().unwrap_or("/dev/null".as_ref()))
            .env("EVENTDECK_INDEXER_FLUSH_INTERVAL_MS", "50")
            .env("EVENTDECK_ARCHIVE_ENABLED", "true")
            .env("RUST_LOG", "info");
        match &self.brokers {
            Some(b) => c.env("EVENTDECK_KAFKA_BROKERS", b),
            None => c.env_remove("EVENTDECK_KAFKA_BROKERS"),
        };
        match &self.search_url {
            Some(url) => c.env("EVENTDECK_SEARCH_URL", url),
            None => c.env_remove("EVENTDECK_SEARCH_URL"),
        };
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Starts `eventdeck run`; returns once it printed its ready line.
    pub(crate) fn start(&mut self) -> (Child, Instant) {
        self.runs += 1;
        let log = self.log_path(self.runs);
        let mut command = self.command();
        command.arg("run");
        if let Some(w) = &self.workers {
            command.args(["--workers", w]);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn eventdeck run");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("ready line");
        assert!(
            line.starts_with("eventdeck ready:"),
            "run {} did not start: {line}\n{}",
            self.runs,
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        (child, Instant::now())
    }

    pub(crate) fn log_path(&self, run: usize) -> PathBuf {
        let name = self
            .data
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.data.with_file_name(format!("{name}-run-{run}.log"))
    }

    pub(crate) fn logs(&self) -> String {
        (1..=self.runs)
            .map(|r| {
                let text = std::fs::read_to_string(self.log_path(r)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!(
                    "--- {} run {r} (last lines)\n{}",
                    self.data.display(),
                    tail.join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Hits for the marker word, through `eventdeck search --json`.
    pub(crate) fn search_total(&self) -> Result<u64, String> {
        self.search_hits(&self.marker)
    }

    /// Waits until the marker's hit count satisfies `done` (say, equals the events sent).
    pub(crate) async fn wait_hits(&self, what: &str, within: Duration, done: impl Fn(u64) -> bool) {
        eventually(what, within, || {
            let total = self.search_total();
            let ok = total.as_ref().is_ok_and(|n| done(*n));
            async move { ok.then_some(()).ok_or_else(|| format!("hits: {total:?}")) }
        })
        .await;
    }

    pub(crate) fn search_hits(&self, words: &str) -> Result<u64, String> {
        let out = self
            .command()
            .args(["search", words, "--json"])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
        v["total"]
            .as_u64()
            .ok_or_else(|| format!("no total in {v}"))
    }

    /// `eventdeck status --json` on this node's data directory: the report, or why not.
    pub(crate) fn status(&self) -> Result<serde_json::Value, String> {
        let out = self
            .command()
            .args(["status", "--json"])
            .output()
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(&text)
            .map_err(|e| format!("{e}: {text}{}", String::from_utf8_lossy(&out.stderr)))
    }

    pub(crate) fn cluster(&self) -> Cluster {
        let brokers = self
            .brokers
            .clone()
            .unwrap_or_else(|| format!("127.0.0.1:{}", self.port));
        Cluster::from_config(&Config::default(), brokers)
    }
}

/// Sends `signal` (SIGSTOP, SIGCONT, SIGTERM…) to a child process of this test.
pub(crate) fn signal(child: &Child, signal: i32) {
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: sends a signal to our own child process.
    assert_eq!(
        unsafe { libc::kill(pid, signal) },
        0,
        "kill({pid}, {signal})"
    );
}

pub(crate) fn kill9(mut child: Child) {
    child.kill().expect("SIGKILL");
    let _ = child.wait();
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Kills the child (SIGKILL) when the test ends in any way.
pub(crate) struct KillOnDrop(pub(crate) Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = self.0.take() {
            kill9(child);
        }
    }
}

/// A temporary directory removed when the test passes and kept, with its path printed, when
/// it fails: the processes' logs in it are what explains a failure.
pub(crate) struct KeepOnPanic(Option<tempfile::TempDir>);

impl KeepOnPanic {
    pub(crate) fn new() -> KeepOnPanic {
        KeepOnPanic(Some(tempfile::tempdir().expect("tempdir")))
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        self.0.as_ref().expect("dir").path()
    }
}

impl Drop for KeepOnPanic {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            if std::thread::panicking() {
                eprintln!("kept for the failure: {}", dir.keep().display());
            }
        }
    }
}
