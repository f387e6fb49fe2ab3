//! `eventdeck dlq list [--json]` and `eventdeck dlq redrive [--filter TEXT] [--yes]`: the
//! dead letters with why and where from, and sending them back to their source topics once
//! the cause is fixed (see `browse::redrive`: resumable, loop-guarded, rate-limited). Without
//! `--yes`, `redrive` only says how many would go where.

use std::collections::HashMap;

use super::client_cluster;
use crate::archive::line::archive_line;
use crate::browse::redrive::{redrive, RedriveOptions, HEADER_REDRIVES};
use crate::browse::view::{dead_letter_source, safe_text, TailRow};
use crate::bus::producer::EventProducer;
use crate::config::Config;
use crate::workers::batch::Record;

pub async fn list(config: Config, json: bool) -> anyhow::Result<()> {
    let cluster = client_cluster(&config);
    let topic = config.topics.dlq.clone();
    let records = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        crate::replay::read_log::read_records(
            &cluster,
            std::slice::from_ref(&topic),
            &mut HashMap::new(),
            |_| {},
            |m| out.push(Record::from_message(m)),
        )
        .map(|_| out)
    })
    .await??;
    for r in &records {
        if json {
            println!("{}", archive_line(r));
        } else {
            println!("{}", line(r));
        }
    }
    if !json {
        eprintln!("{} dead letters in {}", records.len(), config.topics.dlq);
    }
    Ok(())
}

/// `2026-12-02 10:00:00  1/7  from platform.messages.created[2]@41  ×1  reason · gist`.
fn line(r: &Record) -> String {
    let when = r
        .timestamp
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into());
    format!(
        "{when}  {}/{}  from {}{}  {}",
        r.partition,
        r.offset,
        dead_letter_source(r),
        r.last_header(HEADER_REDRIVES)
            .map(|n| format!("  re-driven ×{}", safe_text(n, 6)))
            .unwrap_or_default(),
        TailRow::new(r.clone()).summary
    )
}

pub async fn redrive_command(
    config: Config,
    options: RedriveOptions,
    yes: bool,
) -> anyhow::Result<()> {
    let cluster = client_cluster(&config);
    let producer = EventProducer::new(&cluster, &config.producer, "redrive")?;
    let dry = RedriveOptions {
        dry_run: true,
        ..options.clone()
    };
    let plan = redrive(&cluster, &config.topics.dlq, &producer, &dry).await?;
    if !yes {
        println!(
            "would re-drive {} of {} dead letters: {}{}{}",
            plan.total_redriven(),
            plan.read,
            plan.where_to(),
            clause(
                plan.held,
                &format!(
                    "held (re-driven {} times already: fix them, or raise --max-redrives)",
                    options.max_redrives
                )
            ),
            clause(plan.not_matching, "do not match the filter")
        );
        println!("nothing sent: run again with --yes to re-drive them");
        return Ok(());
    }
    let done = redrive(&cluster, &config.topics.dlq, &producer, &options).await?;
    println!(
        "re-drove {} of {} dead letters: {}{}{}",
        done.total_redriven(),
        done.read,
        done.where_to(),
        clause(done.held, "held by the loop guard"),
        clause(done.already_sent, "already sent by an interrupted re-drive")
    );
    Ok(())
}

/// "; 3 held by the loop guard", or nothing for none.
fn clause(n: u64, what: &str) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("; {n} {what}")
    }
}
