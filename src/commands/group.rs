//! `eventdeck group reset GROUP --to earliest|latest|TIME|OFFSET [--topic T]… [--dry-run]`:
//! a consumer group's committed offsets moved (see `browse::reset`). The plan — before,
//! after, and the lag it creates — is always printed first; `--dry-run` stops there.

use super::client_cluster;
use crate::browse::reset::{apply, read_plan, render, ResetTo};
use crate::config::Config;

pub async fn reset(
    config: Config,
    group: &str,
    topics: Vec<String>,
    to: ResetTo,
    dry_run: bool,
) -> anyhow::Result<()> {
    let cluster = client_cluster(&config);
    // Our own groups read the message topics; another service's group names its topics.
    let topics = if topics.is_empty() {
        config
            .message_topics()
            .iter()
            .map(|t| t.to_string())
            .collect()
    } else {
        topics
    };
    let (c, g) = (cluster.clone(), group.to_string());
    let rows = tokio::task::spawn_blocking(move || read_plan(&c, &g, &topics, to)).await??;
    print!("{}", render(group, &rows));
    if dry_run {
        println!("dry run: nothing changed");
        return Ok(());
    }
    let (c, g) = (cluster, group.to_string());
    tokio::task::spawn_blocking(move || apply(&c, &g, &rows)).await??;
    println!("done: {group}'s committed offsets are moved");
    Ok(())
}
