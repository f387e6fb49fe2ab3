//! Reads the message topics' records back from archive files (see [`crate::archive`]) into a
//! [`RebuiltState`]: the history as the archive kept it, whatever the topics' retention. The
//! fold keeps the highest version of each message, so the order the files are read in does
//! not change the result.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;

use super::read_log::Progress;
use super::state::{LogPosition, RebuiltState};
use crate::archive::writer::read_file;
use crate::event::parse_message_event;
use crate::workers::relay::HEADER_EVENT_ID;

/// Every archive file of `topics` under `root`, in name order (day, partition, offset).
fn archive_files(root: &Path, topics: &[String]) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for topic in topics {
        let mut stack = vec![root.join(topic)];
        while let Some(dir) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                let path = entry?.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.to_string_lossy().ends_with(".ndjson.zst") {
                    files.push(path);
                }
            }
        }
    }
    files.sort();
    Ok(files)
}

/// [`archive_files`], where none is an error naming what was looked for.
pub(crate) fn some_archive_files(root: &Path, topics: &[String]) -> anyhow::Result<Vec<PathBuf>> {
    let files = archive_files(root, topics)
        .map_err(|e| anyhow::anyhow!("listing the archive in {}: {e}", root.display()))?;
    if files.is_empty() {
        anyhow::bail!(
            "no archive files of {} under {}",
            topics.join(", "),
            root.display()
        );
    }
    Ok(files)
}

/// Blocking. `progress` gets records read so far, and the files as the total's unit until
/// the last file is read.
pub fn read_archive(
    root: &Path,
    topics: &[String],
    mut progress: impl FnMut(Progress),
) -> anyhow::Result<RebuiltState> {
    let files = some_archive_files(root, topics)?;
    let started = Instant::now();
    let mut state = RebuiltState::default();
    let mut reported = Instant::now();
    for (i, file) in files.iter().enumerate() {
        let lines =
            read_file(file).map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
        for line in lines {
            let v: Value = serde_json::from_str(&line)
                .map_err(|e| anyhow::anyhow!("{}: a line is not JSON: {e}", file.display()))?;
            let at = LogPosition {
                topic: v["topic"].as_str().unwrap_or_default().to_string(),
                partition: v["partition"].as_i64().unwrap_or(-1) as i32,
                offset: v["offset"].as_i64().unwrap_or(-1),
            };
            let relayed = v["headers"].as_array().is_some_and(|hs| {
                hs.iter()
                    .any(|h| h["name"].as_str() == Some(HEADER_EVENT_ID))
            });
            match v["value"]
                .as_str()
                .map(|t| parse_message_event(t.as_bytes()))
            {
                Some(Ok(event)) => {
                    state.apply(&event, at, relayed);
                }
                _ => state.unreadable += 1,
            }
        }
        if reported.elapsed().as_secs() >= 1 {
            let read = state.events + state.unreadable;
            // Until the end the total is an estimate: records per file so far × files.
            let estimate = read * files.len() as u64 / (i as u64 + 1);
            progress(Progress::at(read, estimate, started.elapsed()));
            reported = Instant::now();
        }
    }
    let read = state.events + state.unreadable;
    progress(Progress::at(read, read, started.elapsed()));
    Ok(state)
}
