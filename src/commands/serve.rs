//! `eventdeck serve`: the whole platform backend in one process — the HTTP API (commands,
//! searches, health, metrics), the workers (relay, indexer, notifier, producer) and the
//! monitor behind `/metrics`. Ctrl-C or SIGTERM: stop taking requests, let the in-flight ones
//! finish, then stop the workers as `run` does.

use std::net::SocketAddr;

use tokio::sync::{mpsc, watch};

use super::run::{log_event, wait_for_signal};
use crate::api::{self, ApiState};
use crate::config::{Config, DEFAULT_API_ADDR};
use crate::monitor::{spawn_monitor, MonitorOptions, MonitorSetup};
use crate::ops::WorkerId;
use crate::workers::report::Reporter;
use crate::workers::supervisor::Services;

/// `[api] addr`, or the loopback default.
pub fn api_addr(config: &Config) -> anyhow::Result<SocketAddr> {
    match config.api.socket_addr() {
        Some(addr) => addr.map_err(|e| anyhow::anyhow!("api.addr: {e}")),
        None => Ok(DEFAULT_API_ADDR.parse()?),
    }
}

pub async fn serve(config: Config, workers: &[WorkerId]) -> anyhow::Result<()> {
    let addr = api_addr(&config)?;
    let services = Services::start(config).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let pipeline = services.spawn_workers(workers, Reporter::new(tx))?;
    let (to_monitor, monitor_events) = mpsc::unbounded_channel();
    let (snapshots, monitor) = spawn_monitor(monitor_setup(&services).with_events(monitor_events));
    let log_task = tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            log_event(&event);
            let _ = to_monitor.send(event);
        }
    });
    let state = api_state(&services, Some(snapshots));
    if !addr.ip().is_loopback() && state.token.is_empty() {
        tracing::warn!(%addr, "the API listens beyond loopback without [api] token: anyone who reaches it can write");
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for the API on {addr}: {e}"))?;
    let names: Vec<&str> = workers.iter().map(|w| w.as_str()).collect();
    println!(
        "eventdeck serving http://{} · {} · {} · {} · workers: {}",
        listener.local_addr().unwrap_or(addr),
        services.cluster.describe(),
        services.index.describe(),
        match &services.store {
            Ok(s) => s.describe(),
            Err(e) => format!("write store unavailable: {e}"),
        },
        names.join(", ")
    );
    let (stop, stopping) = watch::channel(false);
    let mut server = tokio::spawn(api::serve_on(listener, state, async move {
        let mut stopping = stopping;
        let _ = stopping.wait_for(|s| *s).await;
    }));
    // The server only ends early when it fails; then the workers stop too.
    let served = tokio::select! {
        _ = wait_for_signal() => {
            tracing::info!("stopping: no new requests; flushing open batches and committing");
            let _ = stop.send(true);
            (&mut server).await
        }
        ended = &mut server => ended,
    };
    let errors = pipeline
        .stop_within(services.config.shutdown_grace_seconds)
        .await;
    log_task.abort();
    monitor.abort();
    for e in &errors {
        tracing::error!("{e}");
    }
    match served {
        Ok(Err(e)) => return Err(e),
        Err(e) => anyhow::bail!("the API server panicked: {e}"),
        Ok(Ok(())) => {}
    }
    if errors.is_empty() {
        tracing::info!("stopped cleanly");
        Ok(())
    } else {
        anyhow::bail!("{} worker(s) failed: {}", errors.len(), errors.join("; "))
    }
}

/// The monitor of a process that runs the services: index, store and meter.
pub fn monitor_setup(services: &Services) -> MonitorSetup {
    let setup = MonitorSetup::new(
        services.cluster.clone(),
        MonitorOptions::from_config(&services.config),
    )
    .with_index(services.index.clone())
    .with_meter(services.meter.clone())
    .with_board(services.board.clone());
    match &services.store {
        Ok(store) => setup.with_store(store.clone()),
        Err(_) => setup,
    }
}

/// The API over these services.
pub fn api_state(
    services: &Services,
    snapshots: Option<watch::Receiver<crate::monitor::snapshot::Snapshot>>,
) -> ApiState {
    ApiState {
        store: services.store.clone(),
        index: services.index.clone(),
        snapshots,
        token: services.config.api.token.clone(),
        meter: services.meter.clone(),
        activity: services.activity.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_listens_on_loopback_unless_told_otherwise() {
        let default = api_addr(&Config::default()).expect("default");
        assert!(default.ip().is_loopback(), "{default}");
        let mut told = Config::default();
        told.api.addr = "0.0.0.0:9090".into();
        let addr = api_addr(&told).expect("told");
        assert!(!addr.ip().is_loopback());
        assert_eq!(addr.port(), 9090);
        told.api.addr = "everywhere".into();
        let e = api_addr(&told).expect_err("not an address").to_string();
        assert!(e.starts_with("api.addr:"), "{e}");
    }
}
