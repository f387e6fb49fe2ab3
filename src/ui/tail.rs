//! The live tail's state in the console: which topic from where, what the tail said, the
//! bounded buffer of rows, and whether the newest row is followed. Pure: the records come in
//! through [`TailState::on_event`], the I/O lives in `browse::service`.

use crate::browse::buffer::TailBuffer;
use crate::browse::tail::{BadTime, TailEvent, TailFrom};
use crate::browse::view::TailRow;

#[derive(Debug, Clone, PartialEq)]
pub enum TailStatus {
    /// No topic asked yet.
    Idle,
    Starting,
    /// Reading this many partitions.
    Reading {
        partitions: usize,
    },
    /// Could not start, or stopped on request.
    Failed(String),
    Stopped,
}

#[derive(Debug)]
pub struct TailState {
    /// The id of the newest request; events of older ones are dropped.
    pub id: u64,
    pub topic: Option<String>,
    pub from: TailFrom,
    pub status: TailStatus,
    pub buffer: TailBuffer,
    /// The last fetch error while reading (the tail retries), until records flow again.
    pub error: Option<String>,
    /// The selected row is the newest and moves with new rows.
    pub follow: bool,
    /// `enter`: the selected record is shown whole, scrolled this far.
    pub detail: Option<u16>,
}

impl TailState {
    pub fn new(capacity: usize) -> TailState {
        TailState {
            id: 0,
            topic: None,
            from: TailFrom::End,
            status: TailStatus::Idle,
            buffer: TailBuffer::new(capacity),
            error: None,
            follow: true,
            detail: None,
        }
    }

    /// A new tail: everything of the old one goes (the bound is kept).
    pub fn restart(&mut self, id: u64, topic: &str, from: TailFrom) {
        let capacity = self.buffer.capacity();
        *self = TailState::new(capacity);
        self.id = id;
        self.topic = Some(topic.to_string());
        self.from = from;
        self.status = TailStatus::Starting;
    }

    /// What the tail of request `id` reported; `true` when something changed.
    pub fn on_event(&mut self, id: u64, event: TailEvent) -> bool {
        if id != self.id {
            return false;
        }
        match event {
            TailEvent::Started { partitions } => {
                self.status = TailStatus::Reading {
                    partitions: partitions.len(),
                };
            }
            TailEvent::Records(records) => {
                self.error = None;
                for record in records {
                    self.buffer.push(TailRow::new(record));
                }
            }
            TailEvent::Error(e) => {
                if matches!(self.status, TailStatus::Starting) {
                    self.status = TailStatus::Failed(e);
                } else {
                    self.error = Some(e);
                }
            }
        }
        true
    }

    pub fn from_label(&self) -> String {
        match self.from {
            TailFrom::End => "from the end".into(),
            TailFrom::Beginning => "from the beginning".into(),
            TailFrom::Since(ms) => format!(
                "since {}",
                chrono::DateTime::from_timestamp_millis(ms)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                    .unwrap_or_else(|| ms.to_string())
            ),
        }
    }
}

/// `:tail TOPIC [beginning|end|SINCE]`: the topic and where to start; `None` without a topic.
pub fn parse_args(args: &str, now_ms: i64) -> Result<Option<(String, TailFrom)>, BadTime> {
    let mut words = args.split_whitespace();
    let Some(topic) = words.next() else {
        return Ok(None);
    };
    let rest: Vec<&str> = words.collect();
    let from = match rest.join(" ").as_str() {
        "" | "end" | "--from-end" => TailFrom::End,
        "beginning" | "begin" | "--from-beginning" => TailFrom::Beginning,
        since => TailFrom::Since(crate::browse::tail::parse_since(
            since.trim_start_matches("--since").trim(),
            now_ms,
        )?),
    };
    Ok(Some((topic.to_string(), from)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workers::batch::Record;

    fn record(offset: i64) -> Record {
        Record {
            topic: "t".into(),
            partition: 0,
            offset,
            key: None,
            payload: Some(b"x".to_vec()),
            headers: vec![],
            timestamp: None,
        }
    }

    #[test]
    fn events_of_an_older_tail_are_dropped_and_errors_say_where_they_belong() {
        let mut t = TailState::new(10);
        t.restart(2, "a", TailFrom::End);
        assert!(!t.on_event(1, TailEvent::Records(vec![record(0)])));
        assert!(t.buffer.is_empty());
        assert!(t.on_event(
            2,
            TailEvent::Started {
                partitions: vec![(0, 0, 0)]
            }
        ));
        assert_eq!(t.status, TailStatus::Reading { partitions: 1 });
        t.on_event(2, TailEvent::Error("broker down".into()));
        assert_eq!(t.error.as_deref(), Some("broker down"));
        t.on_event(2, TailEvent::Records(vec![record(0), record(1)]));
        assert_eq!((t.buffer.len(), t.error.as_deref()), (2, None));
        t.restart(3, "b", TailFrom::Beginning);
        t.on_event(3, TailEvent::Error("no topic b".into()));
        assert_eq!(t.status, TailStatus::Failed("no topic b".into()));
        assert_eq!(t.buffer.capacity(), 10);
    }

    #[test]
    fn tail_arguments() {
        assert_eq!(parse_args("", 0), Ok(None));
        assert_eq!(
            parse_args("platform.messages.created", 0),
            Ok(Some(("platform.messages.created".into(), TailFrom::End)))
        );
        assert_eq!(
            parse_args("t beginning", 0),
            Ok(Some(("t".into(), TailFrom::Beginning)))
        );
        assert_eq!(
            parse_args("t 15m", 1_000_000),
            Ok(Some(("t".into(), TailFrom::Since(100_000))))
        );
        assert!(parse_args("t whenever", 0).is_err());
    }
}
