//! `eventdeck tail TOPIC [--from-beginning | --since TIME] [--json] [--limit N]`: the records of
//! a topic as they arrive, like `kcat -C`, one line each (partition/offset, key, event type,
//! a safe one-line summary) or one JSON line each in the archive's format. It joins no group
//! and commits nothing, so it never disturbs the workers.

use std::io::Write;

use tokio::sync::mpsc;

use super::client_cluster;
use super::run::wait_for_signal;
use crate::archive::line::archive_line;
use crate::browse::tail::{start_tail, TailEvent, TailFrom};
use crate::browse::view::TailRow;
use crate::config::Config;

pub async fn tail(
    config: Config,
    topic: &str,
    from: TailFrom,
    json: bool,
    limit: Option<u64>,
) -> anyhow::Result<()> {
    let cluster = client_cluster(&config);
    let (tx, mut events) = mpsc::channel(64);
    let handle = start_tail(&cluster, topic, from, tx);
    let signal = wait_for_signal();
    tokio::pin!(signal);
    let mut printed = 0u64;
    let mut reading = false;
    let result = loop {
        let event = tokio::select! {
            _ = &mut signal => break Ok(()),
            event = events.recv() => event,
        };
        match event {
            None => break Ok(()),
            Some(TailEvent::Started { partitions }) => {
                reading = true;
                let from: Vec<String> = partitions
                    .iter()
                    .map(|(p, start, high)| format!("{p}@{start}/{high}"))
                    .collect();
                // On stderr: stdout holds only records, for pipes.
                eprintln!(
                    "eventdeck: tailing {topic} on {} from partition@offset/end {}",
                    cluster.describe(),
                    from.join(" ")
                );
            }
            // Could not start (no such topic, no broker): that is the command's failure.
            Some(TailEvent::Error(e)) if !reading => break Err(anyhow::anyhow!("tail: {e}")),
            Some(TailEvent::Error(e)) => eprintln!("eventdeck: tail: {e}"),
            Some(TailEvent::Records(records)) => {
                let mut out = std::io::stdout().lock();
                for record in records {
                    let line = if json {
                        archive_line(&record)
                    } else {
                        line(&TailRow::new(record))
                    };
                    writeln!(out, "{line}")?;
                    printed += 1;
                    if limit.is_some_and(|n| printed >= n) {
                        break;
                    }
                }
                out.flush()?;
                if limit.is_some_and(|n| printed >= n) {
                    break Ok(());
                }
            }
        }
    };
    handle.stop();
    result
}

/// `2026-12-02 10:00:00.123  2/1041  ch_dev  message.created  m1 #ch_dev @u1: text`.
pub fn line(row: &TailRow) -> String {
    let when = row
        .record
        .timestamp
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| "-".repeat(23));
    format!(
        "{when}  {}/{}  {}  {}  {}",
        row.record.partition,
        row.record.offset,
        row.key,
        row.event_type.as_deref().unwrap_or("-"),
        row.summary
    )
}
