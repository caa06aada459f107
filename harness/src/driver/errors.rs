//! Failed operations of a worker that goes on after errors (`on_error = "continue"`):
//! how many, the first few (offset and error text), and how long the timed ones took.

use crate::backend::OpError;
use crate::record::new_histogram;
use hdrhistogram::Histogram;

/// How many failed operations keep their offset and error text.
pub const KEEP: usize = 8;

/// One failed operation, as the record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IoErrorSample {
    /// Byte offset of the block the operation read.
    pub offset: u64,
    pub error: String,
}

/// The failed operations of the measured phase.
#[derive(Debug, Default)]
pub struct ErrorLog {
    pub count: u64,
    pub first: Vec<IoErrorSample>,
    /// Latencies of the failed operations that were timed.
    pub hist: Option<Histogram<u64>>,
}

impl ErrorLog {
    pub fn record(&mut self, offset: u64, e: OpError, latency_ns: Option<u64>) {
        self.count += 1;
        if self.first.len() < KEEP {
            self.first.push(IoErrorSample { offset, error: e.0 });
        }
        if let Some(ns) = latency_ns {
            self.hist
                .get_or_insert_with(new_histogram)
                .saturating_record(ns.max(1));
        }
    }

    /// Add another worker's log (the first `KEEP` samples over all, in worker order).
    pub fn add(&mut self, o: &ErrorLog) {
        self.count += o.count;
        let room = KEEP.saturating_sub(self.first.len());
        self.first.extend(o.first.iter().take(room).cloned());
        if let Some(h) = &o.hist {
            // Same bounds: add cannot fail.
            let _ = self.hist.get_or_insert_with(new_histogram).add(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_few_and_times_the_timed() {
        let mut a = ErrorLog::default();
        for i in 0..10 {
            a.record(
                i * 4096,
                OpError(format!("e{i}")),
                i.is_multiple_of(2).then_some(1000),
            );
        }
        assert_eq!(a.count, 10);
        assert_eq!(a.first.len(), KEEP);
        assert_eq!(a.first[3].offset, 3 * 4096);
        assert_eq!(a.hist.as_ref().unwrap().len(), 5);
        let mut m = ErrorLog::default();
        m.add(&a);
        m.add(&a);
        assert_eq!(m.count, 20);
        assert_eq!(m.first.len(), KEEP);
        assert_eq!(m.hist.unwrap().len(), 10);
    }
}
