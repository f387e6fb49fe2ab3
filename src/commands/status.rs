//! `eventdeck status [--json] [--watch]`: the monitor's view of the cluster from the command
//! line — topics, consumer groups with lag, time lag, status and members — as a table like
//! `kafka-consumer-groups --describe`, or as JSON of the documented shape
//! ([`crate::monitor::report::StatusReport`]). It is a client: it finds the brokers as
//! `send` does, and works while the console or `eventdeck run` is up, or against any cluster.

use std::io::{IsTerminal, Write};

use super::client_cluster;
use super::run::wait_for_signal;
use crate::config::Config;
use crate::monitor::report::StatusReport;
use crate::monitor::sampler::outbox_status;
use crate::monitor::snapshot::{Health, Snapshot};
use crate::monitor::{sample_now, spawn_monitor, table, MonitorOptions, MonitorSetup};
use crate::store::SharedStore;
use crate::workers::supervisor::{open_store, STORE_FILE};

/// Samples taken by the one-shot form: rates need two. Fewer than a status window: the
/// verdicts come from the rules for an incomplete window (`monitor.stall_after_seconds`),
/// never OK without evidence — people run `status` exactly when something is wrong.
const ONE_SHOT_SAMPLES: usize = 2;

pub async fn status(config: Config, json: bool, watch: bool) -> anyhow::Result<()> {
    let cluster = client_cluster(&config);
    let options = MonitorOptions::from_config(&config);
    if watch {
        let store = existing_store(&config).await;
        return watch_status(cluster, options, store, &config.data_dir(), json).await;
    }
    // Fresh connections are slow to the first fetch, and nothing draws meanwhile: give the
    // reads of the records at committed offsets (the time lag) as long as any other call.
    let mut options = options;
    options.record_budget = options.call_timeout;
    let mut snapshot = sample_now(&cluster, options, ONE_SHOT_SAMPLES)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(store) = existing_store(&config).await {
        snapshot.outbox = Some(outbox_status(store.as_ref()).await);
    }
    // The analytics counters and the workers' states live in the process that runs them:
    // ask the eventdeck on this data directory, if one runs (briefly: status must answer).
    let data_dir = config.data_dir();
    let asking = std::time::Duration::from_secs(2);
    snapshot.analytics = tokio::time::timeout(asking, crate::remote::analytics(&data_dir))
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();
    snapshot.workers = running_workers(&data_dir).await;
    print(&snapshot, json, false)?;
    if let Health::Down(e) = &snapshot.cluster_health {
        anyhow::bail!("cannot reach {}: {e}", snapshot.cluster);
    }
    Ok(())
}

/// The workers of the eventdeck running on `data_dir`, as they last reported (none when
/// none runs there or it does not answer within 2 s: status must answer).
async fn running_workers(
    data_dir: &std::path::Path,
) -> Vec<crate::monitor::snapshot::WorkerStatus> {
    tokio::time::timeout(
        std::time::Duration::from_secs(2),
        crate::remote::workers(data_dir),
    )
    .await
    .ok()
    .and_then(Result::ok)
    .unwrap_or_default()
}

/// The write model, when there is one to look at: `[store] url`, or the embedded file an
/// eventdeck created in the data directory (never created by `status`). An unreachable
/// PostgreSQL shows as the outbox's error.
async fn existing_store(config: &Config) -> Option<SharedStore> {
    let data_dir = config.data_dir();
    if config.store.url.is_empty() && !data_dir.join(STORE_FILE).exists() {
        return None;
    }
    match open_store(config, &data_dir).await {
        Ok(store) => Some(store),
        Err(e) => {
            eprintln!("eventdeck: write store: {e}");
            None
        }
    }
}

/// Prints every new sample until Ctrl-C: the table redrawn in place on a terminal, one JSON
/// document a line with `--json`.
async fn watch_status(
    cluster: crate::bus::Cluster,
    options: MonitorOptions,
    store: Option<SharedStore>,
    data_dir: &std::path::Path,
    json: bool,
) -> anyhow::Result<()> {
    let setup = MonitorSetup::new(cluster, options);
    let setup = match store {
        Some(store) => setup.with_store(store),
        None => setup,
    };
    let (mut snapshots, task) = spawn_monitor(setup);
    let signal = wait_for_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            _ = &mut signal => break,
            changed = snapshots.changed() => {
                if changed.is_err() {
                    break;
                }
                let mut snapshot = snapshots.borrow_and_update().clone();
                // The first snapshot is the empty one published before any sample.
                if snapshot.taken_ms == 0 {
                    continue;
                }
                snapshot.workers = running_workers(data_dir).await;
                print(&snapshot, json, true)?;
            }
        }
    }
    task.abort();
    Ok(())
}

fn print(snapshot: &Snapshot, json: bool, watching: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let report = StatusReport::from_snapshot(snapshot);
        if watching {
            writeln!(out, "{}", serde_json::to_string(&report)?)?;
        } else {
            writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        }
    } else {
        if watching && std::io::stdout().is_terminal() {
            // Home and clear, so that the table is redrawn in place.
            write!(out, "\x1b[H\x1b[2J")?;
        }
        write!(out, "{}", table::render(snapshot))?;
    }
    out.flush()?;
    Ok(())
}
