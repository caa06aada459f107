//! Per-operation major-fault attribution, sampled: the fault ring's event writes one
//! record every `period` major faults, so its head moves when the thread took the
//! sampled fault; the operation during which it moved waited for that fault. Those
//! operations are a systematic sample (one fault in `period`) of the faulting
//! operations: their latencies go into the fault histogram as they are, and the
//! published totals are estimates: `fault_ops` = min(sampled x `period`, operations so
//! far) (an operation that takes many faults, a 1 MiB scan block, is sampled every
//! time, so the cap keeps the estimate at "every operation faulted"), `stall_ns` = the
//! sampled latencies' mean x `fault_ops`. Exact when `period` is 1. Writing a record on every fault costs ~15% of a
//! fault-bound cell's throughput here; one in 64 costs nothing measurable (see
//! docs/results-and-probes.md).

use super::Progress;
use crate::record::new_histogram;
use crate::sys::perf::FaultRing;
use hdrhistogram::Histogram;
use std::sync::atomic::Ordering;

pub(super) struct FaultWatch<'a> {
    ring: &'a FaultRing,
    period: u64,
    head: u64,
    hist: Histogram<u64>,
    ops: u64,
    stall_ns: u64,
}

/// The published estimate of a sampled total: `sampled` times the sample period.
#[inline]
pub fn scale(sampled: u64, period: u64) -> u64 {
    sampled.saturating_mul(period.max(1))
}

/// (fault_ops, stall_ns) estimated from `sampled` operations whose latencies sum to
/// `sampled_ns`, out of `ops` measured operations, one fault in `period` sampled.
pub fn estimate(sampled: u64, sampled_ns: u64, ops: u64, period: u64) -> (u64, u64) {
    if sampled == 0 {
        return (0, 0);
    }
    let fault_ops = scale(sampled, period).min(ops.max(sampled));
    let stall = (sampled_ns as u128 * fault_ops as u128 / sampled as u128).min(u64::MAX as u128);
    (fault_ops, stall as u64)
}

impl<'a> FaultWatch<'a> {
    pub(super) fn new(ring: &'a FaultRing, period: u64) -> FaultWatch<'a> {
        FaultWatch {
            ring,
            period: period.max(1),
            head: ring.head(),
            hist: new_histogram(),
            ops: 0,
            stall_ns: 0,
        }
    }

    /// Forget what the warm-up recorded.
    pub(super) fn reset(&mut self) {
        self.hist.reset();
        self.ops = 0;
        self.stall_ns = 0;
    }

    /// After each operation: if the thread took a sampled fault during it, record the
    /// operation (when measuring) and publish the estimated totals in `me`.
    #[inline]
    /// `ops`: measured operations so far, this one included.
    pub(super) fn after_op(&mut self, latency_ns: u64, measuring: bool, ops: u64, me: &Progress) {
        let head = self.ring.head();
        if head != self.head {
            self.sampled(head, latency_ns, measuring, ops, me);
        }
    }

    #[cold]
    fn sampled(&mut self, head: u64, latency_ns: u64, measuring: bool, ops: u64, me: &Progress) {
        self.head = head;
        self.ring.consume(head);
        if measuring {
            self.hist.saturating_record(latency_ns.max(1));
            self.ops += 1;
            self.stall_ns += latency_ns;
            let (fo, st) = estimate(self.ops, self.stall_ns, ops, self.period);
            me.fault_ops.store(fo, Ordering::Relaxed);
            me.stall_ns.store(st, Ordering::Relaxed);
        }
    }

    pub(super) fn into_histogram(self) -> Histogram<u64> {
        self.hist
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn scale_multiplies_by_the_period() {
        assert_eq!(super::scale(3, 64), 192);
        assert_eq!(super::scale(3, 1), 3);
        assert_eq!(super::scale(3, 0), 3, "a period of 0 is treated as 1");
        assert_eq!(super::scale(u64::MAX, 2), u64::MAX);
    }

    #[test]
    fn estimate_scales_caps_at_the_operations_and_keeps_the_mean() {
        use super::estimate;
        // 4 KiB reads: 10 sampled of 1000 operations, one in 64: 640 faulting ops.
        assert_eq!(estimate(10, 10_000, 1000, 64), (640, 640_000));
        // 1 MiB scans, 256 faults each: every operation sampled; at most all of them.
        assert_eq!(estimate(100, 1_000_000, 100, 64), (100, 1_000_000));
        assert_eq!(estimate(0, 0, 100, 64), (0, 0));
        // Exact with period 1.
        assert_eq!(estimate(7, 700, 9, 1), (7, 700));
    }
}
