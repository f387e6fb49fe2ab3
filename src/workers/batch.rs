//! Pure batching of consumed records: a batch closes at a count, a byte size or an age,
//! whichever comes first, and knows which offsets it may commit once handled.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::message::{Headers, Message};

/// One record header as consumed: its name and its value bytes (`None` is a null value).
/// Names may repeat; order is kept.
pub type RecordHeader = (String, Option<Vec<u8>>);

/// One consumed record, owned, with where it came from. Key, value and headers are kept
/// byte for byte (null stays null) so the record can be republished whole, e.g. to the
/// dead-letter topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The key bytes; `None` for a null key (not the same as an empty key: a re-drive
    /// with an empty key would be partitioned differently).
    pub key: Option<Vec<u8>>,
    /// The value bytes; `None` for a null value (a tombstone).
    pub payload: Option<Vec<u8>>,
    /// Every header, in order, duplicates kept.
    pub headers: Vec<RecordHeader>,
    /// The record's timestamp (ms since the epoch), when the broker gave one.
    pub timestamp: Option<i64>,
}

impl Record {
    /// The value of the last header named `name` (the newest, when a record was
    /// dead-lettered or re-driven more than once); `None` when absent or null.
    pub fn last_header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Copies a consumed message: raw key, value and every header, no conversion.
    pub fn from_message<M: Message>(m: &M) -> Self {
        let headers = m
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            topic: m.topic().to_string(),
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec),
            headers,
            timestamp: m.timestamp().to_millis(),
        }
    }

    /// The value bytes, empty for a null value (for parsing; republish `payload` itself).
    pub fn value(&self) -> &[u8] {
        self.payload.as_deref().unwrap_or_default()
    }

    /// The key read as text (lossy), for display or to read an id from it. Never use it to
    /// republish: the key bytes are `key`.
    pub fn key_text(&self) -> Option<Cow<'_, str>> {
        self.key.as_deref().map(String::from_utf8_lossy)
    }

    /// The bytes this record holds: key, value, and header names and values.
    pub fn byte_size(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, value)| name.len() + value.as_ref().map_or(0, Vec::len))
            .sum();
        self.key.as_ref().map_or(0, Vec::len) + self.payload.as_ref().map_or(0, Vec::len) + headers
    }
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
        self.bytes += record.byte_size();
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
            payload: Some(vec![b'x'; size]),
            headers: Vec::new(),
            timestamp: None,
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
    fn the_size_counts_key_and_headers() {
        let now = Instant::now();
        let mut b = Batch::new(limits());
        let mut r = rec(0, 0, 10);
        r.key = Some(vec![0; 40]);
        r.headers = vec![("h".repeat(20), Some(vec![1; 29])), ("n".into(), None)];
        assert_eq!(r.byte_size(), 10 + 40 + 20 + 29 + 1);
        b.push(r.clone(), now);
        assert!(b.is_full());
        r.key = None;
        r.payload = None;
        r.headers.clear();
        assert_eq!(r.byte_size(), 0);
    }

    #[test]
    fn a_message_is_copied_whole() {
        use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};
        use rdkafka::Timestamp;
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "trace",
                value: Some(&b"t-1"[..]),
            })
            .insert(Header {
                key: "a",
                value: Some(&[0xffu8, 0x00][..]),
            })
            .insert(Header {
                key: "a",
                value: None::<&[u8]>,
            })
            .insert(Header {
                key: "a",
                value: Some(&b""[..]),
            });
        let m = OwnedMessage::new(
            Some(vec![0x7b, 0xff]),
            Some(vec![0xff, 0x00, 0x6b]),
            "platform.messages.created".into(),
            Timestamp::NotAvailable,
            2,
            41,
            Some(headers),
        );
        let r = Record::from_message(&m);
        assert_eq!(r.topic, "platform.messages.created");
        assert_eq!((r.partition, r.offset), (2, 41));
        assert_eq!(r.key, Some(vec![0xff, 0x00, 0x6b]));
        assert_eq!(r.payload, Some(vec![0x7b, 0xff]));
        assert_eq!(
            r.headers,
            vec![
                ("trace".to_string(), Some(b"t-1".to_vec())),
                ("a".to_string(), Some(vec![0xff, 0x00])),
                ("a".to_string(), None),
                ("a".to_string(), Some(Vec::new())),
            ]
        );
        assert_eq!(r.key_text().as_deref(), Some("\u{fffd}\0k"));
    }

    #[test]
    fn null_key_value_and_no_headers_stay_null_and_empty() {
        use rdkafka::message::OwnedMessage;
        use rdkafka::Timestamp;
        let m = OwnedMessage::new(None, None, "t".into(), Timestamp::NotAvailable, 0, 0, None);
        let r = Record::from_message(&m);
        assert_eq!((r.key, r.payload), (None, None));
        assert!(r.headers.is_empty());
        let empty = OwnedMessage::new(
            Some(Vec::new()),
            Some(Vec::new()),
            "t".into(),
            Timestamp::NotAvailable,
            0,
            1,
            None,
        );
        let r = Record::from_message(&empty);
        assert_eq!(r.value(), b"");
        assert_eq!((r.key, r.payload), (Some(Vec::new()), Some(Vec::new())));
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
