//! `eventdeck run`: the workers without the console, logging structured lines to stderr.
//! Ctrl-C or SIGTERM: stop fetching, flush the open batch, commit, leave the group, exit 0.

use tokio::sync::mpsc;

use crate::config::Config;
use crate::monitor::{serve_metrics, spawn_monitor};
use crate::ops::WorkerId;
use crate::workers::report::{Reporter, WorkerEvent};
use crate::workers::supervisor::Services;

pub async fn run(config: Config, workers: &[WorkerId]) -> anyhow::Result<()> {
    let services = Services::start(config).await?;
    let names: Vec<&str> = workers.iter().map(|w| w.as_str()).collect();
    println!(
        "eventdeck ready: {} · {} · workers: {}",
        services.cluster.describe(),
        services.index.describe(),
        names.join(", ")
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let pipeline = services.spawn_workers(workers, Reporter::new(tx))?;
    // With /metrics on, the monitor runs too and sees every report after it is logged.
    let (to_monitor, monitor_events) = mpsc::unbounded_channel();
    let port = services.config.monitor.metrics_port;
    let monitor = (port != 0).then(|| {
        let setup = super::serve::monitor_setup(&services).with_events(monitor_events);
        let (snapshots, sampler) = spawn_monitor(setup);
        println!("metrics on http://127.0.0.1:{port}/metrics");
        (sampler, tokio::spawn(serve_metrics(port, snapshots)))
    });
    let log_task = tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            log_event(&event);
            let _ = to_monitor.send(event);
        }
    });
    wait_for_signal().await;
    tracing::info!("stopping: flushing open batches and committing");
    let errors = pipeline
        .stop_within(services.config.shutdown_grace_seconds)
        .await;
    log_task.abort();
    if let Some((sampler, server)) = monitor {
        sampler.abort();
        server.abort();
    }
    for e in &errors {
        tracing::error!("{e}");
    }
    if errors.is_empty() {
        tracing::info!("stopped cleanly");
        Ok(())
    } else {
        anyhow::bail!("{} worker(s) failed: {}", errors.len(), errors.join("; "))
    }
}

pub(super) fn log_event(event: &WorkerEvent) {
    match event {
        WorkerEvent::State { worker, state } => tracing::info!(%worker, ?state, "worker state"),
        WorkerEvent::Assigned {
            worker,
            group,
            partitions,
        } => tracing::info!(%worker, %group, ?partitions, "assigned"),
        WorkerEvent::Revoked {
            worker,
            group,
            partitions,
        } => tracing::info!(%worker, %group, ?partitions, "revoked"),
        WorkerEvent::Processed {
            worker, records, ..
        } => tracing::debug!(%worker, records, "batch committed"),
        WorkerEvent::Produced {
            ok,
            failed,
            last_error,
        } => {
            if *failed > 0 {
                tracing::warn!(ok, failed, ?last_error, "deliveries failed")
            } else {
                tracing::debug!(ok, "delivered")
            }
        }
        WorkerEvent::DeadLettered { .. } => {}
        WorkerEvent::Notification(n) => tracing::info!(
            user = %n.user_id, channel = %n.channel_id, author = %n.author_id,
            message = %n.message_id, "notification sent"
        ),
    }
}

pub async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
