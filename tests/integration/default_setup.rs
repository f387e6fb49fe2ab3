//! The zero-setup default, through the real binary: `eventdeck run` on an empty data
//! directory (embedded broker + local index, nothing else running), `eventdeck send`,
//! `eventdeck search`; then SIGTERM, a restart on the same directory, and the messages are
//! still found with nothing indexed twice.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use eventdeck::bus::Cluster;
use eventdeck::config::Config;

use crate::harness::{eventually, kafka_view};

const BIN: &str = env!("CARGO_BIN_EXE_eventdeck");
const N: usize = 5;

fn eventdeck(data: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.args([
        "--data-dir",
        &data.display().to_string(),
        "--embedded-port",
        "0",
    ])
    // No config file and no inherited overrides: the defaults, as on a fresh machine.
    .args(["--config", "/dev/null"])
    .env_remove("EVENTDECK_SEARCH_URL")
    .env_remove("EVENTDECK_KAFKA_BROKERS")
    .env("EVENTDECK_INDEXER_FLUSH_INTERVAL_MS", "50");
    c
}

/// Starts `eventdeck run` and returns once it printed its ready line.
fn start_run(data: &Path) -> (Child, String) {
    let mut child = eventdeck(data)
        .arg("run")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn eventdeck run");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("ready line");
    assert!(
        line.starts_with("eventdeck ready: embedded broker 127.0.0.1:"),
        "{line}"
    );
    assert!(line.contains("local index"), "{line}");
    (child, line)
}

fn stop(mut child: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert!(
        exit.success(),
        "eventdeck run exited with {exit} after SIGTERM"
    );
}

fn search_total(data: &Path, word: &str) -> Result<(u64, serde_json::Value), String> {
    let out = eventdeck(data)
        .args(["search", word, "--json"])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    Ok((v["total"].as_u64().unwrap_or(0), v))
}

/// Committed offset (0 when none) and high watermark of each partition of `topic` for `group`.
async fn progress(data: &Path, group: &str, topic: &str) -> Vec<(i64, i64)> {
    let addr = std::fs::read_to_string(data.join("broker.addr")).expect("broker.addr");
    let cluster = Cluster::from_config(&Config::default(), addr.trim().to_string());
    kafka_view(&cluster, group, topic)
        .await
        .into_iter()
        .map(|(_, _, high, committed)| (committed.unwrap_or(0).max(0), high))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_setup_indexes_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (run, _) = start_run(&data);

    // A second eventdeck on the same directory refuses to start, clearly.
    let second = eventdeck(&data).arg("run").output().expect("second run");
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("already using the data directory"), "{err}");

    for i in 0..N {
        let out = eventdeck(&data)
            .args(["send", "--channel", "ch_zero", "--author", "user_001"])
            .arg(format!("hello zerosetup{i} @user_002"))
            .output()
            .expect("send");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for i in 0..N {
        let word = format!("zerosetup{i}");
        let hit = eventually(
            &format!("{word} searchable"),
            Duration::from_secs(30),
            || {
                let data = data.clone();
                let word = word.clone();
                async move {
                    let (total, v) = search_total(&data, &word)?;
                    (total == 1).then_some(v).ok_or(format!("total {total}"))
                }
            },
        )
        .await;
        assert_eq!(hit["hits"][0]["doc"]["channel"], "ch_zero");
        assert_eq!(hit["hits"][0]["doc"]["author"], "user_001");
    }
    stop(run);

    let (run, _) = start_run(&data);
    for i in 0..N {
        let (total, _) = search_total(&data, &format!("zerosetup{i}")).expect("search");
        assert_eq!(total, 1, "zerosetup{i} after the restart");
    }
    let config = Config::default();
    let created = progress(&data, &config.groups.indexer, &config.topics.created).await;
    let highs: i64 = created.iter().map(|(_, h)| h).sum();
    assert_eq!(highs, N as i64, "the broker kept every record, once");
    for (committed, high) in &created {
        assert_eq!(
            committed, high,
            "offsets survived the restart: nothing is re-indexed"
        );
    }
    stop(run);
}
