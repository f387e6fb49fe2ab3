//! The tail's memory: the newest rows within a fixed bound, whatever the rate, so a console
//! tailing a busy topic for hours stays flat. Paused, the shown rows stay put and arrivals
//! wait (within the same bound) until resumed. Pure.

use std::collections::VecDeque;

use super::view::TailRow;

/// The newest `capacity` rows, and what was let go.
#[derive(Debug)]
pub struct TailBuffer {
    capacity: usize,
    rows: VecDeque<TailRow>,
    /// Arrivals while paused, oldest first.
    waiting: VecDeque<TailRow>,
    paused: bool,
    /// Rows received in all.
    pub received: u64,
    /// Rows let go to keep within the bound (shown or waiting).
    pub dropped: u64,
}

impl TailBuffer {
    /// A bound of 0 is taken as 1: a tail always shows its newest record.
    pub fn new(capacity: usize) -> TailBuffer {
        TailBuffer {
            capacity: capacity.max(1),
            rows: VecDeque::new(),
            waiting: VecDeque::new(),
            paused: false,
            received: 0,
            dropped: 0,
        }
    }

    pub fn push(&mut self, row: TailRow) {
        self.received += 1;
        let queue = if self.paused {
            &mut self.waiting
        } else {
            &mut self.rows
        };
        queue.push_back(row);
        // Paused, the shown rows and the waiting ones share the bound.
        let held = self.rows.len() + self.waiting.len();
        if held > self.capacity {
            if self.paused && !self.waiting.is_empty() {
                // Keep what the person is looking at; let the oldest arrival go.
                self.waiting.pop_front();
            } else {
                self.rows.pop_front();
            }
            self.dropped += 1;
        }
    }

    pub fn paused(&self) -> bool {
        self.paused
    }

    /// Pauses, or resumes and shows what arrived meanwhile.
    pub fn toggle_pause(&mut self) {
        if self.paused {
            self.rows.append(&mut self.waiting);
            while self.rows.len() > self.capacity {
                self.rows.pop_front();
            }
        }
        self.paused = !self.paused;
    }

    /// Rows that arrived while paused.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The shown rows that match `filter` (every row for an empty one), oldest first.
    pub fn visible<'a>(&'a self, filter: &'a str) -> impl Iterator<Item = &'a TailRow> + 'a {
        self.rows
            .iter()
            .filter(move |r| filter.trim().is_empty() || r.matches(filter))
    }

    pub fn clear(&mut self) {
        self.rows.clear();
        self.waiting.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workers::batch::Record;

    fn row(offset: i64, text: &str) -> TailRow {
        TailRow::new(Record {
            topic: "t".into(),
            partition: 0,
            offset,
            key: Some(b"k".to_vec()),
            payload: Some(text.as_bytes().to_vec()),
            headers: vec![],
            timestamp: None,
        })
    }

    fn offsets<'a>(rows: impl Iterator<Item = &'a TailRow>) -> Vec<i64> {
        rows.map(|r| r.record.offset).collect()
    }

    #[test]
    fn the_newest_rows_stay_within_the_bound() {
        let mut b = TailBuffer::new(3);
        for n in 0..10 {
            b.push(row(n, "x"));
        }
        assert_eq!(offsets(b.visible("")), [7, 8, 9]);
        assert_eq!((b.received, b.dropped), (10, 7));
    }

    #[test]
    fn paused_the_shown_rows_stay_and_arrivals_wait_within_the_bound() {
        let mut b = TailBuffer::new(4);
        b.push(row(0, "a"));
        b.push(row(1, "b"));
        b.toggle_pause();
        for n in 2..8 {
            b.push(row(n, "c"));
        }
        assert_eq!(offsets(b.visible("")), [0, 1], "frozen while paused");
        assert_eq!(b.waiting(), 2, "the bound holds while paused");
        b.toggle_pause();
        assert_eq!(offsets(b.visible("")), [0, 1, 6, 7]);
        assert_eq!(b.dropped, 4);
    }

    #[test]
    fn the_filter_keeps_matching_rows() {
        let mut b = TailBuffer::new(10);
        b.push(row(0, "deploy done"));
        b.push(row(1, "lunch"));
        assert_eq!(offsets(b.visible("DEPLOY")), [0]);
        assert_eq!(offsets(b.visible("  ")), [0, 1]);
    }
}
