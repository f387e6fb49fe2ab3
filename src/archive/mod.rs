//! The archive: every record of the platform topics kept as time-partitioned, zstd-compressed
//! NDJSON files, `<root>/<topic>/<yyyy-mm-dd>/<partition>-<first offset>.ndjson.zst`, so the
//! history outlives the topics' retention.
//!
//! A batch's records of one partition become one file, written under a temporary name,
//! synced, renamed and its directory synced before the batch's offsets may be committed: a
//! file is complete or absent, never half-written. A batch done again after a crash starts
//! at the same committed offset, so it has the same name and replaces its earlier attempt;
//! a later file only exists once the batch before it committed. Every record is therefore in
//! exactly one file.

pub mod line;
pub mod writer;
