//! `eventdeck` with no subcommand: the console. Starts the same services and workers as
//! `run`, the monitor that turns samples and worker reports into snapshots, the search
//! service, and hands the terminal to the UI. Logs go to a file: never onto the screen.

use tokio::sync::{mpsc, watch};

use super::serve::{api_state, monitor_setup};
use crate::api;
use crate::browse::jobs::{run_jobs, JobContext};
use crate::browse::service::run_tail_service;
use crate::config::Config;
use crate::monitor::{serve_metrics, spawn_monitor};
use crate::ui::{self, ConsoleLink};
use crate::workers::report::Reporter;
use crate::workers::search_service::run_search_service;
use crate::workers::supervisor::Services;

pub async fn console(config: Config) -> anyhow::Result<()> {
    let data_dir = config.data_dir();
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| anyhow::anyhow!("cannot create data directory {}: {e}", data_dir.display()))?;
    crate::logging::to_file(&data_dir)?;
    eprintln!(
        "eventdeck: starting (logs in {})",
        data_dir.join("eventdeck.log").display()
    );
    let services = Services::start(config).await?;
    let (tx, events) = mpsc::unbounded_channel();
    let pipeline = services.spawn_pipeline(Reporter::new(tx))?;
    let (snapshots, monitor) = spawn_monitor(monitor_setup(&services).with_events(events));
    // With [api] addr set, the console serves the API too (one process, as `serve`).
    let (stop_api, api_stopping) = watch::channel(false);
    let api = match services.config.api.socket_addr() {
        Some(addr) => {
            let addr = addr.map_err(|e| anyhow::anyhow!("api.addr: {e}"))?;
            let state = api_state(&services, Some(snapshots.clone()));
            Some(tokio::spawn(api::serve(addr, state, api_stopping)))
        }
        None => None,
    };
    let metrics = (services.config.monitor.metrics_port != 0).then(|| {
        tokio::spawn(serve_metrics(
            services.config.monitor.metrics_port,
            snapshots.clone(),
        ))
    });
    let (search_requests, requests) = mpsc::channel(16);
    let (responses, search_responses) = mpsc::channel(16);
    let search = tokio::spawn(run_search_service(
        services.index.clone(),
        services.meter.clone(),
        services.activity.clone(),
        requests,
        responses,
    ));
    // The live tail's reader: a Kafka client of its own, never in a group.
    let (tail_requests, tail_request_rx) = mpsc::channel(8);
    let (tail_event_tx, tail_events) = mpsc::channel(16);
    let tail = tokio::spawn(run_tail_service(
        services.cluster.clone(),
        tail_request_rx,
        tail_event_tx,
    ));
    // Trace, re-drive and reset, for the views that offer them.
    let (jobs, job_rx) = mpsc::channel(8);
    let (job_done_tx, job_results) = mpsc::channel(8);
    let own_groups = crate::ops::WorkerId::ALL
        .iter()
        .filter_map(|&w| {
            let group = crate::browse::jobs::group_of(&services.config, w)?;
            Some((group, w))
        })
        .collect();
    let jobs_task = tokio::spawn(run_jobs(
        JobContext {
            cluster: services.cluster.clone(),
            producer: services.producer.clone(),
            config: services.config.clone(),
            index: services.index.clone(),
            commands: pipeline.commands.clone(),
        },
        job_rx,
        job_done_tx,
    ));
    let result = ui::run(ConsoleLink {
        snapshots,
        commands: pipeline.commands.clone(),
        search_requests,
        search_responses,
        log_path: Some(data_dir.join("eventdeck.log")),
        warnings: services.warnings.clone(),
        tail_requests,
        tail_events,
        tail_buffer: services.config.console.tail_buffer,
        read_only: services.config.console.read_only,
        jobs,
        job_results,
        dlq_topic: services.config.topics.dlq.clone(),
        own_groups,
        resets_offered: !services.cluster.embedded,
    })
    .await;
    let _ = stop_api.send(true);
    if let Some(api) = api {
        match api.await {
            Ok(Err(e)) => eprintln!("eventdeck: API: {e:#}"),
            Err(e) => eprintln!("eventdeck: API: {e}"),
            Ok(Ok(())) => {}
        }
    }
    eprintln!("eventdeck: stopping workers (flushing and committing)…");
    let errors = pipeline
        .stop_within(services.config.shutdown_grace_seconds)
        .await;
    monitor.abort();
    search.abort();
    jobs_task.abort();
    // The console dropped its request sender: the service stops its tail and returns.
    let _ = tail.await;
    if let Some(m) = metrics {
        m.abort();
    }
    for e in &errors {
        eprintln!("eventdeck: {e}");
    }
    result
}
