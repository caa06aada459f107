//! The worker's side of a cell: the `Driver` each backend's `Worker` runs its loop
//! through (where to read next, when to switch from warm-up to measuring, when to stop,
//! where to record), the state the workers share with the sampler, and the offset
//! generators of the access patterns (`access`).
//!
//! The hot loop (`Driver::run_sync`) takes two clock readings and records one histogram
//! sample per operation: no allocation, no lock, no system call beyond what the backend
//! itself needs. Progress is published with one relaxed store.

pub mod access;
mod fault;

use crate::backend::{OpError, Worker};
use crate::datafile::page;
use crate::record::new_histogram;
use crate::sys::perf::FaultRing;
use access::OffsetGen;
use fault::FaultWatch;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::time::Instant;

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

/// Per-thread progress, on its own cache line so that threads do not share lines.
#[repr(align(128))]
#[derive(Default)]
pub struct Progress {
    /// Measured operations completed so far (0 during warm-up).
    pub ops: AtomicU64,
    /// Measured operations that took a major fault, and the sum of their latencies.
    pub fault_ops: AtomicU64,
    pub stall_ns: AtomicU64,
}

/// State shared by the workers of one cell and the sampler.
pub struct Shared {
    phase: AtomicU8,
    failed: AtomicBool,
    finished: AtomicUsize,
    cursor: AtomicU64,
    progress: Vec<Progress>,
}

impl Shared {
    pub fn new(threads: usize) -> Shared {
        Shared {
            phase: AtomicU8::new(WARMUP),
            failed: AtomicBool::new(false),
            finished: AtomicUsize::new(0),
            cursor: AtomicU64::new(0),
            progress: (0..threads).map(|_| Progress::default()).collect(),
        }
    }

    /// Measured operations completed so far, over all threads.
    pub fn total_ops(&self) -> u64 {
        self.total(|p| &p.ops)
    }

    /// A per-thread progress counter summed over the threads.
    pub fn total(&self, f: fn(&Progress) -> &AtomicU64) -> u64 {
        self.progress
            .iter()
            .map(|p| f(p).load(Ordering::Relaxed))
            .sum()
    }

    /// End the warm-up: workers drop what they recorded so far and start measuring.
    pub fn start_measuring(&self) {
        self.phase.store(MEASURE, Ordering::Relaxed);
    }

    /// Tell every worker to stop after its current operation.
    pub fn stop(&self) {
        self.phase.store(STOP, Ordering::Relaxed);
    }

    /// A worker says it is done (`ok` false: it failed, and the cell stops).
    pub fn worker_done(&self, ok: bool) {
        if !ok {
            self.failed.store(true, Ordering::Relaxed);
        }
        self.finished.fetch_add(1, Ordering::Relaxed);
    }

    pub fn any_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Workers that have returned (finished their quota, failed or stopped).
    pub fn finished(&self) -> usize {
        self.finished.load(Ordering::Relaxed)
    }
}

/// How a worker's `Driver` is set up.
pub struct DriverConfig<'a> {
    pub pattern: &'a crate::spec::Pattern,
    /// Blocks in the target (offsets are block-aligned below `nblocks * block`).
    pub nblocks: u64,
    pub block: u64,
    /// Per-thread RNG seed.
    pub seed: u64,
    /// Check each operation's fold against the data file's tag (None: no verification).
    pub verify_tag: Option<u64>,
    /// Measured operations this thread performs (None: until the sampler says stop).
    pub quota: Option<u64>,
    /// This thread's major-fault ring and its sample period, for per-operation fault
    /// attribution.
    pub fault_ring: Option<(&'a FaultRing, u64)>,
}

/// What one worker measured.
pub struct WorkerOut {
    pub hist: Histogram<u64>,
    pub fault_hist: Option<Histogram<u64>>,
    pub ops: u64,
    pub verify_errors: u64,
    pub first_bad_offset: Option<u64>,
    pub error: Option<String>,
    pub end: Instant,
}

impl WorkerOut {
    /// A worker thread that panicked.
    pub fn panicked() -> WorkerOut {
        WorkerOut {
            hist: new_histogram(),
            fault_hist: None,
            ops: 0,
            verify_errors: 0,
            first_bad_offset: None,
            error: Some("a worker thread panicked".into()),
            end: Instant::now(),
        }
    }
}

/// A worker thread's view of the run: where to read next, when to stop, and where to
/// record what happened.
pub struct Driver<'a> {
    shared: &'a Shared,
    me: &'a Progress,
    gen: OffsetGen<'a>,
    block: u64,
    verify_tag: Option<u64>,
    quota: Option<u64>,
    measuring: bool,
    pub(crate) hist: Histogram<u64>,
    pub(crate) ops: u64,
    pub(crate) verify_errors: u64,
    pub(crate) first_bad_offset: Option<u64>,
    fault: Option<FaultWatch<'a>>,
}

impl<'a> Driver<'a> {
    /// The driver of worker `index`: offsets from `pattern` (seeded per thread), an
    /// optional quota of measured operations, reads verified against `verify_tag`, and
    /// per-operation fault attribution when a fault ring is given.
    pub fn new(shared: &'a Shared, index: usize, cfg: DriverConfig<'a>) -> Driver<'a> {
        Driver {
            shared,
            me: &shared.progress[index],
            gen: OffsetGen::new(
                cfg.pattern,
                cfg.nblocks,
                cfg.block,
                cfg.seed,
                &shared.cursor,
            ),
            block: cfg.block,
            verify_tag: cfg.verify_tag,
            quota: cfg.quota,
            measuring: false,
            hist: new_histogram(),
            ops: 0,
            verify_errors: 0,
            first_bad_offset: None,
            fault: cfg.fault_ring.map(|(r, n)| FaultWatch::new(r, n)),
        }
    }

    /// What this worker measured, once its loop has returned.
    pub fn finish(self, error: Option<String>, end: Instant) -> WorkerOut {
        let measured = self.measuring;
        WorkerOut {
            fault_hist: self.fault.map(FaultWatch::into_histogram),
            hist: self.hist,
            ops: if measured { self.ops } else { 0 },
            verify_errors: self.verify_errors,
            first_bad_offset: self.first_bad_offset,
            error,
            end,
        }
    }

    /// False once the run is over for this thread. Switches from warm-up to measuring
    /// (dropping what was recorded so far) when the sampler says so.
    #[inline]
    pub fn should_continue(&mut self) -> bool {
        let phase = self.shared.phase.load(Ordering::Relaxed);
        if phase == STOP {
            return false;
        }
        if phase == MEASURE && !self.measuring {
            self.measuring = true;
            self.hist.reset();
            self.ops = 0;
            if let Some(f) = self.fault.as_mut() {
                f.reset();
            }
        }
        match self.quota {
            Some(q) => !(self.measuring && self.ops >= q),
            None => true,
        }
    }

    /// Byte offset of the next block to read.
    #[inline]
    pub fn next_offset(&mut self) -> u64 {
        self.gen.next_block() * self.block
    }

    /// Record one finished operation: verify its fold, count it, record its latency.
    #[inline]
    pub fn complete(&mut self, offset: u64, fold: u64, latency_ns: u64) {
        if let Some(tag) = self.verify_tag {
            if fold != page::expected_fold(offset, self.block, tag) {
                self.verify_errors += 1;
                self.first_bad_offset.get_or_insert(offset);
            }
        }
        if self.measuring {
            self.hist.saturating_record(latency_ns.max(1));
            self.ops += 1;
            self.me.ops.store(self.ops, Ordering::Relaxed);
        }
        if let Some(f) = self.fault.as_mut() {
            f.after_op(latency_ns, self.measuring, self.ops, self.me);
        }
    }

    /// For asynchronous workers: may one more operation be issued while `in_flight`
    /// issued ones have not completed? `should_continue` for a worker with operations
    /// in flight, with two differences: when the warm-up ends it says no until the
    /// worker has completed every operation issued during the warm-up (so the measured
    /// phase holds exactly the operations issued in it), and an operation quota counts
    /// the operations in flight (so exactly the quota is measured).
    #[inline]
    pub fn should_issue(&mut self, in_flight: u64) -> bool {
        let phase = self.shared.phase.load(Ordering::Relaxed);
        if phase == STOP {
            return false;
        }
        if phase == MEASURE && !self.measuring {
            if in_flight > 0 {
                return false;
            }
            self.measuring = true;
            self.hist.reset();
            self.ops = 0;
        }
        match self.quota {
            Some(q) if self.measuring => self.ops + in_flight < q,
            _ => true,
        }
    }

    /// The synchronous loop: time each `read` with the monotonic clock.
    #[inline]
    pub fn run_sync<W: Worker + ?Sized>(&mut self, w: &mut W) -> Result<(), OpError> {
        while self.should_continue() {
            let off = self.next_offset();
            let t0 = Instant::now();
            let r = w.read(off);
            let ns = t0.elapsed().as_nanos() as u64;
            let fold = r?;
            self.complete(off, fold, ns);
        }
        Ok(())
    }
}
