//! Per-operation major-fault attribution: the fault ring's head moves when the thread
//! took a major fault, so an operation during which it moved waited for one.

use super::Progress;
use crate::record::new_histogram;
use crate::sys::perf::FaultRing;
use hdrhistogram::Histogram;
use std::sync::atomic::Ordering;

pub(super) struct FaultWatch<'a> {
    ring: &'a FaultRing,
    head: u64,
    hist: Histogram<u64>,
    ops: u64,
    stall_ns: u64,
}

impl<'a> FaultWatch<'a> {
    pub(super) fn new(ring: &'a FaultRing) -> FaultWatch<'a> {
        FaultWatch {
            ring,
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

    /// After each operation: if the thread faulted during it, count the operation as a
    /// fault operation (when measuring) and publish the totals in `me`.
    #[inline]
    pub(super) fn after_op(&mut self, latency_ns: u64, measuring: bool, me: &Progress) {
        let head = self.ring.head();
        if head != self.head {
            self.head = head;
            self.ring.consume(head);
            if measuring {
                self.hist.saturating_record(latency_ns.max(1));
                self.ops += 1;
                self.stall_ns += latency_ns;
                me.fault_ops.store(self.ops, Ordering::Relaxed);
                me.stall_ns.store(self.stall_ns, Ordering::Relaxed);
            }
        }
    }

    pub(super) fn into_histogram(self) -> Histogram<u64> {
        self.hist
    }
}
