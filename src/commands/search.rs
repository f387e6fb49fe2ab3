//! `eventdeck search "words" [--channel C] [--author U] [--json]`: a match query on whichever
//! index the configuration selects, for scripts and for people without the console.

use chrono::TimeZone;

use crate::config::Config;
use crate::search::{SearchQuery, SearchResults};

pub async fn search(config: Config, query: SearchQuery, json: bool) -> anyhow::Result<()> {
    let index = super::client_index(&config)?;
    let results = index.search(&query).await?;
    // On stderr: `--json` output stays a document.
    if let Some(warning) = index.analysis().await.ok().and_then(|a| a.warning()) {
        eprintln!("eventdeck: {warning}");
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        print!("{}", render(&results, &index.describe()));
    }
    Ok(())
}

/// The human listing: one hit a line, matched terms in brackets.
pub fn render(results: &SearchResults, source: &str) -> String {
    let mut out = format!(
        "{} hits ({} ms) from {source}\n",
        results.total, results.took_ms
    );
    for hit in &results.hits {
        let when = hit
            .doc
            .created_at
            .and_then(|ms| chrono::Utc.timestamp_millis_opt(ms).single())
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| "-".into());
        let text = hit
            .highlights
            .first()
            .map(|h| h.replace("<em>", "[").replace("</em>", "]"))
            .unwrap_or_else(|| hit.doc.content.clone());
        out.push_str(&format!(
            "{when}  #{:<12} @{:<12} {}  ({})\n",
            hit.doc.channel, hit.doc.author, text, hit.doc.message_id
        ));
    }
    out
}
