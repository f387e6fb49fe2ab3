//! Writes a batch's records as archive files: one per partition, complete or absent.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::line::{archive_line, file_path};
use crate::workers::batch::Record;

/// zstd level: 3 is zstd's default, fast and about as small as it gets for JSON lines.
const LEVEL: i32 = 3;

/// Writes `records` (a batch, in log order) under `root`, one file per topic partition, each
/// synced to disk with its directory before this returns. Returns the files written.
/// Blocking: call it off the async threads.
pub fn write_batch(root: &Path, records: &[Record]) -> io::Result<Vec<PathBuf>> {
    let mut by_partition: BTreeMap<(&str, i32), Vec<&Record>> = BTreeMap::new();
    for r in records {
        by_partition
            .entry((r.topic.as_str(), r.partition))
            .or_default()
            .push(r);
    }
    let mut written = Vec::with_capacity(by_partition.len());
    for records in by_partition.values() {
        let path = file_path(root, records[0]);
        write_file(&path, records)?;
        written.push(path);
    }
    Ok(written)
}

/// Temp name, compress, sync, rename over any earlier attempt, sync the directory.
fn write_file(path: &Path, records: &[&Record]) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other(format!("{} has no directory", path.display())))?;
    fs::create_dir_all(dir)?;
    let tmp = path.with_extension("zst.tmp");
    let file = File::create(&tmp)?;
    let mut encoder = zstd::Encoder::new(file, LEVEL)?;
    for r in records {
        encoder.write_all(archive_line(r).as_bytes())?;
        encoder.write_all(b"\n")?;
    }
    let file = encoder.finish()?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// The lines of an archive file (for replay and tests).
pub fn read_file(path: &Path) -> io::Result<Vec<String>> {
    let text = zstd::decode_all(File::open(path)?)?;
    let text = String::from_utf8(text).map_err(io::Error::other)?;
    Ok(text.lines().map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(topic: &str, partition: i32, offset: i64) -> Record {
        Record {
            topic: topic.into(),
            partition,
            offset,
            key: Some(b"ch_a".to_vec()),
            payload: Some(format!("event {offset}").into_bytes()),
            headers: vec![],
            timestamp: Some(1_796_083_200_000),
        }
    }

    fn all_files(root: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    out.push(path);
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn one_complete_file_per_partition_and_a_redone_batch_replaces_its_file() {
        let root = tempfile::tempdir().unwrap();
        let batch = vec![
            record("t", 0, 10),
            record("t", 1, 4),
            record("t", 0, 11),
            record("u", 0, 0),
        ];
        let written = write_batch(root.path(), &batch).unwrap();
        assert_eq!(written.len(), 3);
        let p0 = root
            .path()
            .join("t/2026-12-01/0-00000000000000000010.ndjson.zst");
        let lines = read_file(&p0).unwrap();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].contains("\"offset\":11"), "{}", lines[1]);
        // After a crash the batch is done again from the same offset, maybe with more records:
        // the same name, replaced whole; no temporary file is left anywhere.
        let mut again = batch.clone();
        again.push(record("t", 0, 12));
        write_batch(root.path(), &again).unwrap();
        assert_eq!(read_file(&p0).unwrap().len(), 3);
        let files = all_files(root.path());
        assert_eq!(files.len(), 3, "{files:?}");
        assert!(files
            .iter()
            .all(|f| f.to_string_lossy().ends_with(".ndjson.zst")));
    }
}
