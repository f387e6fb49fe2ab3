//! `eventdeck trace MESSAGE_ID [--json]`: one message's way through the pipeline — its
//! events and whether the indexer has passed them, the index's document, its dead letters
//! with their reasons, the notifications it caused (see `browse::trace`).

use super::{client_cluster, client_index};
use crate::browse::trace::trace as follow;
use crate::config::Config;

pub async fn trace(config: Config, message_id: &str, json: bool) -> anyhow::Result<()> {
    let cluster = client_cluster(&config);
    // Without an index the rest of the path still tells a lot: say why, go on.
    let index = client_index(&config);
    let trace = match &index {
        Ok(index) => follow(&cluster, &config, index.as_ref(), message_id).await?,
        Err(e) => {
            let (c, cfg, id) = (cluster.clone(), config.clone(), message_id.to_string());
            let mut t = tokio::task::spawn_blocking(move || {
                crate::browse::trace::read_trace(&c, &cfg, &id)
            })
            .await??;
            t.index_error = Some(format!("{e:#}"));
            t
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&trace)?);
    } else {
        print!("{}", trace.render());
    }
    if trace.is_empty() {
        anyhow::bail!("nothing found for message {message_id}");
    }
    Ok(())
}
