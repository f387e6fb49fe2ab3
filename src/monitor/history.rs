//! Fixed-size ring buffers of figures, one point per sample, for sparklines.

use std::collections::VecDeque;

/// Points kept for five minutes at `interval_ms` (never fewer than 300).
pub fn capacity_for(interval_ms: u64) -> usize {
    const FIVE_MINUTES_MS: u64 = 5 * 60 * 1000;
    (FIVE_MINUTES_MS.div_ceil(interval_ms.max(1)) as usize).max(300)
}

/// The newest `capacity` values; pushing into a full ring drops the oldest.
#[derive(Debug, Clone, PartialEq)]
pub struct Ring {
    values: VecDeque<f64>,
    capacity: usize,
}

impl Ring {
    /// Allocates the whole capacity up front so that memory use is known and flat.
    pub fn new(capacity: usize) -> Self {
        Self {
            values: VecDeque::with_capacity(capacity.max(1)),
            capacity: capacity.max(1),
        }
    }

    pub fn push(&mut self, v: f64) {
        if self.values.len() == self.capacity {
            self.values.pop_front();
        }
        self.values.push_back(v);
    }

    /// Oldest first: two slice copies, not a push per point (a snapshot copies every
    /// history).
    pub fn to_vec(&self) -> Vec<f64> {
        let (a, b) = self.values.as_slices();
        let mut v = Vec::with_capacity(a.len() + b.len());
        v.extend_from_slice(a);
        v.extend_from_slice(b);
        v
    }

    /// The newest value.
    pub fn last(&self) -> Option<f64> {
        self.values.back().copied()
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Heap bytes held by the buffer when full.
    pub fn bytes(&self) -> usize {
        self.values.capacity() * std::mem::size_of::<f64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_values_in_order() {
        let mut r = Ring::new(3);
        for v in 1..=5 {
            r.push(v as f64);
        }
        assert_eq!(r.to_vec(), vec![3.0, 4.0, 5.0]);
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn five_minutes_at_one_second_is_300_points() {
        assert_eq!(capacity_for(1000), 300);
        assert_eq!(capacity_for(200), 1500);
        assert_eq!(capacity_for(5000), 300);
    }

    #[test]
    fn memory_is_allocated_up_front() {
        let r = Ring::new(300);
        assert!(r.bytes() >= 300 * 8);
        assert!(r.is_empty());
    }
}
