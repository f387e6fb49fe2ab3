//! Pure batching of consumed records: a batch closes at a count, a byte size or an age,
//! whichever comes first, and knows which offsets it may commit once handled.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One consumed record, owned, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchLimits {
    pub max_records: usize,
    pub max_bytes: usize,
    pub max_age: Duration,
}

#[derive(Debug)]
pub struct Batch {
    limits: BatchLimits,
    records: Vec<Record>,
    bytes: usize,
    opened: Option<Instant>,
}

impl Batch {
    pub fn new(limits: BatchLimits) -> Self {
        Self {
            limits,
            records: Vec::new(),
            bytes: 0,
            opened: None,
        }
    }

    pub fn push(&mut self, record: Record, now: Instant) {
        self.opened.get_or_insert(now);
        self.bytes += record.payload.len() + record.key.as_ref().map_or(0, String::len);
        self.records.push(record);
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Full by count or size: stop reading and flush now.
    pub fn is_full(&self) -> bool {
        self.records.len() >= self.limits.max_records || self.bytes >= self.limits.max_bytes
    }

    /// When the batch must be flushed by age (None while empty).
    pub fn deadline(&self) -> Option<Instant> {
        self.opened.map(|t| t + self.limits.max_age)
    }

    pub fn should_flush(&self, now: Instant) -> bool {
        self.is_full() || self.deadline().is_some_and(|d| now >= d)
    }

    /// Empties the batch, returning its records in consumption order.
    pub fn take(&mut self) -> Vec<Record> {
        self.bytes = 0;
        self.opened = None;
        std::mem::take(&mut self.records)
    }
}

/// The offsets to commit after `records` are handled: per partition, one past the highest.
pub fn commit_offsets(records: &[Record]) -> BTreeMap<(String, i32), i64> {
    let mut next: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for r in records {
        let e = next
            .entry((r.topic.clone(), r.partition))
            .or_insert(r.offset + 1);
        *e = (*e).max(r.offset + 1);
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(partition: i32, offset: i64, size: usize) -> Record {
        Record {
            topic: "t".into(),
            partition,
            offset,
            key: None,
            payload: vec![b'x'; size],
        }
    }

    fn limits() -> BatchLimits {
        BatchLimits {
            max_records: 3,
            max_bytes: 100,
            max_age: Duration::from_millis(50),
        }
    }

    #[test]
    fn closes_at_the_count() {
        let now = Instant::now();
        let mut b = Batch::new(limits());
        b.push(rec(0, 0, 1), now);
        b.push(rec(0, 1, 1), now);
        assert!(!b.should_flush(now));
        b.push(rec(0, 2, 1), now);
        assert!(b.is_full() && b.should_flush(now));
    }

    #[test]
    fn closes_at_the_size() {
        let now = Instant::now();
        let mut b = Batch::new(limits());
        b.push(rec(0, 0, 100), now);
        assert!(b.is_full());
    }

    #[test]
    fn closes_at_the_age_counted_from_the_first_record() {
        let t0 = Instant::now();
        let mut b = Batch::new(limits());
        assert_eq!(b.deadline(), None);
        b.push(rec(0, 0, 1), t0);
        b.push(rec(0, 1, 1), t0 + Duration::from_millis(40));
        assert!(!b.should_flush(t0 + Duration::from_millis(49)));
        assert!(b.should_flush(t0 + Duration::from_millis(50)));
        let taken = b.take();
        assert_eq!(taken.len(), 2);
        assert!(b.is_empty() && b.deadline().is_none());
    }

    #[test]
    fn commits_one_past_the_highest_offset_per_partition() {
        let offsets = commit_offsets(&[rec(0, 5, 1), rec(1, 9, 1), rec(0, 7, 1), rec(0, 6, 1)]);
        assert_eq!(offsets.get(&("t".to_string(), 0)), Some(&8));
        assert_eq!(offsets.get(&("t".to_string(), 1)), Some(&10));
    }
}
