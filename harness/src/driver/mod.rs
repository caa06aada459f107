//! The worker's side of a cell: the `Driver` each backend's `Worker` runs its loop
//! through (where to read next, when to switch from warm-up to measuring, when to stop,
//! where to record), the state the workers share with the sampler, and the offset
//! generators of the access patterns (`access`).
//!
//! The hot loops (`Driver::run_sync`, one per timing mode) take two clock readings per
//! timed operation (or batch) and record one histogram value: no allocation, no lock, no
//! system call beyond what the backend itself needs. Progress is published with one
//! relaxed store per operation.
//!
//! Latency over time: the phase word the loops already load once per operation also
//! carries the sampler's interval number (`Shared::next_interval`). A worker that sees
//! it change (the same one comparison as before, on the cold path) files its histogram
//! under the interval it was recording (`interval::Filed`, the recorded buckets only)
//! and records on into the emptied histogram, so the per-operation path is unchanged.

pub mod access;
pub mod errors;
mod fault;
pub mod final_sync;
pub mod floor;
pub mod interval;
pub mod write;

use crate::backend::{OpError, Worker};
use crate::datafile::page;
use crate::record::new_histogram;
use crate::spec::OnError;
use crate::sys::perf::FaultRing;
use crate::timing::{Clock, TimingMode};
use access::OffsetGen;
use errors::ErrorLog;
use fault::FaultWatch;
use hdrhistogram::Histogram;
use interval::Filed;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

/// The phase word: the phase in the low byte, the sampler's interval number above it.
const WARMUP: u64 = 0;
const MEASURE: u64 = 1;
const STOP: u64 = 2;
const PHASE_BITS: u32 = 8;
const PHASE_MASK: u64 = (1 << PHASE_BITS) - 1;
/// A phase word no load returns: the fast path's comparison fails until measuring starts.
const NOT_MEASURING: u64 = u64::MAX;

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
    /// Phase (low byte) and interval number (above it), see `PHASE_BITS`.
    phase: AtomicU64,
    failed: AtomicBool,
    finished: AtomicUsize,
    cursor: AtomicU64,
    progress: Vec<Progress>,
}

impl Shared {
    pub fn new(threads: usize) -> Shared {
        Shared {
            phase: AtomicU64::new(WARMUP),
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

    /// The sampler took a sample: the next interval begins. Each worker files what it
    /// recorded under the previous interval when it next checks the phase (between two
    /// operations). Only during the measured phase.
    pub fn next_interval(&self) {
        let _ = self
            .phase
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                (w & PHASE_MASK == MEASURE).then_some(w + (1 << PHASE_BITS))
            });
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
    /// attribution (used only when every operation is timed).
    pub fault_ring: Option<(&'a FaultRing, u64)>,
    /// Which operations are timed, and with what clock.
    pub timing: TimingMode,
    pub clock: Clock,
}

/// What one worker measured.
pub struct WorkerOut {
    /// Every latency of the measured phase (the sum of `intervals`).
    pub hist: Histogram<u64>,
    /// The same latencies filed by the sampler's interval (`Shared::next_interval`)
    /// in which the thread recorded them, in interval order.
    pub intervals: Vec<Filed>,
    pub fault_hist: Option<Histogram<u64>>,
    pub ops: u64,
    pub verify_errors: u64,
    pub first_bad_offset: Option<u64>,
    pub error: Option<String>,
    /// Failed operations counted under `on_error = "continue"`.
    pub errors: ErrorLog,
    pub end: Instant,
    /// The timing mode's cost on this worker's own operation, from the warm-up's A/B
    /// (`Driver::warmup_ab`): (median ns per operation over untimed groups, slice pairs).
    pub timing_cost: Option<(f64, usize)>,
}

impl WorkerOut {
    /// A worker thread that panicked.
    pub fn panicked() -> WorkerOut {
        WorkerOut {
            hist: new_histogram(),
            intervals: Vec::new(),
            fault_hist: None,
            ops: 0,
            verify_errors: 0,
            first_bad_offset: None,
            error: Some("a worker thread panicked".into()),
            errors: ErrorLog::default(),
            end: Instant::now(),
            timing_cost: None,
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
    /// The phase word of the interval being recorded (`NOT_MEASURING` before): the
    /// loops' one comparison per operation.
    expect: u64,
    /// What earlier intervals recorded (`hist` holds the current one's).
    filed: Vec<Filed>,
    pub(crate) hist: Histogram<u64>,
    pub(crate) ops: u64,
    pub(crate) verify_errors: u64,
    pub(crate) first_bad_offset: Option<u64>,
    fault: Option<FaultWatch<'a>>,
    timing: TimingMode,
    clock: Clock,
    /// Operations left until the next sampled one (`sample:N`).
    gap: u32,
    /// xorshift state for the sampling gaps.
    gap_rng: u64,
    /// Per slice pair of the warm-up's A/B: ns per operation in the timing mode minus
    /// ns per operation untimed.
    ab: Vec<f64>,
    /// What a failed operation does (`failed`), and the ones counted.
    on_error: OnError,
    errors: ErrorLog,
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
            expect: NOT_MEASURING,
            filed: Vec::new(),
            hist: new_histogram(),
            ops: 0,
            verify_errors: 0,
            first_bad_offset: None,
            fault: cfg
                .fault_ring
                .filter(|_| cfg.timing == TimingMode::Every)
                .map(|(r, n)| FaultWatch::new(r, n)),
            timing: cfg.timing,
            clock: cfg.clock,
            gap: 0,
            gap_rng: page::mix(cfg.seed) | 1,
            ab: Vec::with_capacity(AB_PAIRS),
            on_error: OnError::Fail,
            errors: ErrorLog::default(),
        }
    }

    /// Go on after failed operations (`on_error = "continue"`) or stop at the first.
    pub fn set_on_error(&mut self, on_error: OnError) {
        self.on_error = on_error;
    }

    /// An operation at `offset` failed with `e`. Under `on_error = "fail"` the error
    /// ends the worker's loop (returned); under `continue` a measured one is counted,
    /// its latency (when it was timed) goes to the error histogram, never the latency
    /// histogram, it counts towards an operation quota, and the loop goes on (Ok).
    #[cold]
    #[inline(never)]
    pub fn failed(
        &mut self,
        offset: u64,
        e: OpError,
        latency_ns: Option<u64>,
    ) -> Result<(), OpError> {
        if self.on_error == OnError::Fail {
            return Err(e);
        }
        if self.measuring {
            self.errors.record(offset, e, latency_ns);
            if let Some(q) = self.quota.as_mut() {
                *q = q.saturating_sub(1);
            }
        }
        Ok(())
    }

    /// Whether the measured phase has begun for this worker.
    #[inline(always)]
    pub fn measuring(&self) -> bool {
        self.measuring
    }

    /// Count one finished operation of a write workload (verified by the writer, not
    /// against the generated content) and record its latency, in the measured phase.
    #[inline(always)]
    pub(crate) fn record_op(&mut self, ns: u64) {
        if self.measuring {
            self.ops += 1;
            self.me.ops.store(self.ops, Ordering::Relaxed);
            self.hist.saturating_record(ns.max(1));
        }
    }

    /// The clock this driver times with (asynchronous workers time their operations
    /// from issue to completion with it).
    #[inline(always)]
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// What this worker measured, once its loop has returned.
    pub fn finish(mut self, error: Option<String>, end: Instant) -> WorkerOut {
        let measured = self.measuring;
        if measured {
            self.file_current();
        }
        let (hist, intervals) = if measured {
            (
                interval::total(&self.filed),
                std::mem::take(&mut self.filed),
            )
        } else {
            (
                std::mem::replace(&mut self.hist, new_histogram()),
                Vec::new(),
            )
        };
        let timing_cost = (self.ab.len() >= AB_MIN_PAIRS)
            .then(|| crate::stats::median(&self.ab))
            .flatten()
            .map(|m| (m, self.ab.len()));
        WorkerOut {
            timing_cost,
            fault_hist: self.fault.map(FaultWatch::into_histogram),
            hist,
            intervals,
            ops: if measured { self.ops } else { 0 },
            verify_errors: self.verify_errors,
            first_bad_offset: self.first_bad_offset,
            error,
            errors: if measured {
                self.errors
            } else {
                ErrorLog::default()
            },
            end,
        }
    }

    /// False once the run is over for this thread. Switches from warm-up to measuring
    /// (dropping what was recorded so far) when the sampler says so.
    #[inline(always)]
    pub fn should_continue(&mut self) -> bool {
        let word = self.shared.phase.load(Ordering::Relaxed);
        if word == self.expect {
            return self.quota.is_none_or(|q| self.ops < q);
        }
        self.phase_changed(word)
    }

    /// `should_continue` outside the measured phase's fast path: the warm-up, its end,
    /// a new interval, the stop.
    #[cold]
    #[inline(never)]
    fn phase_changed(&mut self, word: u64) -> bool {
        let phase = word & PHASE_MASK;
        if phase == STOP {
            return false;
        }
        if phase == MEASURE {
            if !self.measuring {
                self.start_measuring(word);
                if let Some(f) = self.fault.as_mut() {
                    f.reset();
                }
            } else {
                self.new_interval(word);
            }
        }
        match self.quota {
            Some(q) => !(self.measuring && self.ops >= q),
            None => true,
        }
    }

    /// The warm-up is over: drop what it recorded and record the first interval.
    fn start_measuring(&mut self, word: u64) {
        self.measuring = true;
        self.hist.reset();
        self.ops = 0;
        self.expect = word;
    }

    /// The sampler began a new interval (`word`): file the histogram under the interval
    /// it was recording and record the next one into it, emptied. Once per interval per
    /// thread; costs a pass over the histogram's buckets (no system call: the filed
    /// buckets go to a small heap allocation).
    #[cold]
    #[inline(never)]
    fn new_interval(&mut self, word: u64) {
        self.file_current();
        self.hist.reset();
        self.expect = word;
    }

    /// File what `hist` holds under the interval it was recorded in.
    fn file_current(&mut self) {
        let index = (self.expect >> PHASE_BITS) as usize;
        if let Some(f) = Filed::take(index, &self.hist) {
            self.filed.push(f);
        }
    }

    /// Byte offset of the next block to read.
    #[inline(always)]
    pub fn next_offset(&mut self) -> u64 {
        self.gen.next_block() * self.block
    }

    /// Verify one finished operation's fold and count it (no latency recorded).
    #[inline(always)]
    fn count(&mut self, offset: u64, fold: u64) {
        if let Some(tag) = self.verify_tag {
            if fold != page::expected_fold(offset, self.block, tag) {
                self.verify_errors += 1;
                self.first_bad_offset.get_or_insert(offset);
            }
        }
        if self.measuring {
            self.ops += 1;
            self.me.ops.store(self.ops, Ordering::Relaxed);
        }
    }

    /// Record one finished operation whose latency was timed: verify its fold, count
    /// it, record its latency. Under `sample:N` only the sampled operations' latencies
    /// are recorded (asynchronous workers time every operation and call this for each).
    #[inline(always)]
    pub fn complete(&mut self, offset: u64, fold: u64, latency_ns: u64) {
        self.count(offset, fold);
        let record = match self.timing {
            TimingMode::Sample(n) => self.sample_due(n),
            _ => true,
        };
        if self.measuring && record {
            self.hist.saturating_record(latency_ns.max(1));
        }
        if let Some(f) = self.fault.as_mut() {
            f.after_op(latency_ns, self.measuring, self.ops, self.me);
        }
    }

    /// Whether this operation is the next sampled one (see `draw_gap`).
    #[inline(always)]
    fn sample_due(&mut self, n: u32) -> bool {
        if self.gap > 0 {
            self.gap -= 1;
            return false;
        }
        self.draw_gap(n);
        true
    }

    /// The untimed operations before the next sampled one: uniform in 0..=2N-2, so one
    /// operation in N is timed on average and the sampling cannot alias with a periodic
    /// access pattern.
    #[inline(always)]
    fn draw_gap(&mut self, n: u32) {
        let mut x = self.gap_rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.gap_rng = x;
        self.gap = (x % (2 * n as u64 - 1)) as u32;
    }

    /// For asynchronous workers: may one more operation be issued while `in_flight`
    /// issued ones have not completed? `should_continue` for a worker with operations
    /// in flight, with two differences: when the warm-up ends it says no until the
    /// worker has completed every operation issued during the warm-up (so the measured
    /// phase holds exactly the operations issued in it), and an operation quota counts
    /// the operations in flight (so exactly the quota is measured).
    #[inline]
    pub fn should_issue(&mut self, in_flight: u64) -> bool {
        let word = self.shared.phase.load(Ordering::Relaxed);
        if word != self.expect {
            let phase = word & PHASE_MASK;
            if phase == STOP {
                return false;
            }
            if phase == MEASURE {
                if !self.measuring {
                    if in_flight > 0 {
                        return false;
                    }
                    self.start_measuring(word);
                } else {
                    self.new_interval(word);
                }
            }
        }
        match self.quota {
            Some(q) if self.measuring => self.ops + in_flight < q,
            _ => true,
        }
    }

    /// The synchronous loop in the workload's timing mode.
    #[inline]
    pub fn run_sync<W: Worker + ?Sized>(&mut self, w: &mut W) -> Result<(), OpError> {
        if !self.measuring && self.shared.phase.load(Ordering::Relaxed) == WARMUP {
            self.warmup_ab(w)?;
        }
        match self.timing {
            TimingMode::Every => self.run_every(w),
            TimingMode::Sample(n) => self.run_sampled(w, n),
            TimingMode::Batch(n) => self.run_batched(w, n),
        }
    }

    /// Every operation timed.
    #[inline(always)]
    fn run_every<W: Worker + ?Sized>(&mut self, w: &mut W) -> Result<(), OpError> {
        while self.should_continue() {
            self.every_step(w)?;
        }
        Ok(())
    }

    /// One timed operation.
    #[inline(always)]
    fn every_step<W: Worker + ?Sized>(&mut self, w: &mut W) -> Result<u64, OpError> {
        let off = self.next_offset();
        let t0 = self.clock.raw();
        let r = w.read(off);
        let t1 = self.clock.raw();
        let ns = self.clock.nanos(t0, t1);
        match r {
            Ok(fold) => self.complete(off, fold, ns),
            Err(e) => self.failed(off, e, Some(ns))?,
        }
        Ok(1)
    }

    /// One operation in `n` timed (on average); all verified and counted. The untimed
    /// operations between two timed ones run in groups (`untimed`).
    #[inline(always)]
    fn run_sampled<W: Worker + ?Sized>(&mut self, w: &mut W, n: u32) -> Result<(), OpError> {
        while self.should_continue() {
            self.sampled_step(w, n)?;
        }
        Ok(())
    }

    /// The sampled operation if it is due, else a group of untimed ones; returns the
    /// operations done.
    #[inline(always)]
    fn sampled_step<W: Worker + ?Sized>(&mut self, w: &mut W, n: u32) -> Result<u64, OpError> {
        if self.gap == 0 {
            self.draw_gap(n);
            let off = self.next_offset();
            let t0 = self.clock.raw();
            let r = w.read(off);
            let t1 = self.clock.raw();
            let fold = match r {
                Ok(f) => f,
                Err(e) => {
                    self.failed(off, e, Some(self.clock.nanos(t0, t1)))?;
                    return Ok(1);
                }
            };
            self.count(off, fold);
            if self.measuring {
                self.hist.saturating_record(self.clock.nanos(t0, t1).max(1));
            }
            Ok(1)
        } else {
            let k = self.untimed(w, self.gap as u64)?;
            self.gap -= k as u32;
            Ok(k)
        }
    }

    /// The warm-up as an A/B of what this timing mode costs on this worker's own
    /// operation: slices of the mode's loop alternate with slices of untimed groups
    /// (the order swapped every pair), each slice timed as a whole, until the warm-up
    /// ends (checked before every step) or `AB_PAIRS` pairs are kept. A slice grows until it lasts at least
    /// `AB_SLICE_NS`, so the two clock readings per slice do not count. Each pair gives
    /// (ns per operation timed) - (ns per operation untimed); `finish` keeps their
    /// median. Warm-up operations are not measured, so this changes no result; it costs
    /// nothing after the warm-up.
    #[inline(never)]
    fn warmup_ab<W: Worker + ?Sized>(&mut self, w: &mut W) -> Result<(), OpError> {
        let mut k = 64u64;
        let mut pair = 0usize;
        while self.ab.len() < AB_PAIRS {
            let timed_first = pair.is_multiple_of(2);
            pair += 1;
            let mut ns = [0u64; 2];
            for i in 0..2 {
                let timed = (i == 0) == timed_first;
                let t0 = self.clock.raw();
                let mut done = 0u64;
                while done < k {
                    if self.shared.phase.load(Ordering::Relaxed) != WARMUP {
                        return Ok(());
                    }
                    done += if timed {
                        self.mode_step(w)?
                    } else {
                        self.untimed(w, k - done)?
                    };
                }
                ns[timed as usize] = self.clock.nanos(t0, self.clock.raw());
            }
            if ns[0].min(ns[1]) < AB_SLICE_NS {
                k = k.saturating_mul(2);
                continue;
            }
            self.ab.push((ns[1] as f64 - ns[0] as f64) / k as f64);
        }
        Ok(())
    }

    /// One step of this worker's timing mode outside the measured loop (the warm-up's
    /// A/B): an operation, a sampled step, or a batch timed as one.
    #[inline(always)]
    fn mode_step<W: Worker + ?Sized>(&mut self, w: &mut W) -> Result<u64, OpError> {
        match self.timing {
            TimingMode::Every => self.every_step(w),
            TimingMode::Sample(n) => self.sampled_step(w, n),
            TimingMode::Batch(n) => {
                let t0 = self.clock.raw();
                let mut done = 0u64;
                while done < n as u64 {
                    done += self.untimed(w, n as u64 - done)?;
                }
                let ns = self.clock.nanos(t0, self.clock.raw());
                self.hist.saturating_record_n((ns / done).max(1), done);
                Ok(done)
            }
        }
    }

    /// `n` operations timed together; their mean is recorded once per operation. A
    /// batch cut short by the end of the run counts its own operations; a batch that
    /// spans the end of the warm-up is not recorded.
    #[inline(always)]
    fn run_batched<W: Worker + ?Sized>(&mut self, w: &mut W, n: u32) -> Result<(), OpError> {
        while self.should_continue() {
            let measuring = self.measuring;
            let t0 = self.clock.raw();
            let mut done = 0u64;
            while done < n as u64 {
                done += self.untimed(w, n as u64 - done)?;
                if !self.should_continue() {
                    break;
                }
            }
            let ns = self.clock.nanos(t0, self.clock.raw());
            if measuring && self.measuring && done > 0 {
                let mean = (ns / done).max(1);
                self.hist.saturating_record_n(mean, done);
            }
        }
        Ok(())
    }

    /// Up to `want` untimed operations (at most `GROUP`, and never past the quota), run
    /// as a group: the offsets drawn first, then the reads, then their verification.
    /// The reads of a group are independent, so a CPU can overlap them (their cache and
    /// TLB misses) as it does in a loop that does nothing but read; interleaving each
    /// read with its bookkeeping would leave too few reads in its window. Returns the
    /// operations done.
    #[inline(always)]
    fn untimed<W: Worker + ?Sized>(&mut self, w: &mut W, want: u64) -> Result<u64, OpError> {
        let mut k = want.min(GROUP as u64);
        if let (Some(q), true) = (self.quota, self.measuring) {
            k = k.min(q.saturating_sub(self.ops)).max(1);
        }
        let k = k as usize;
        let mut offs = [0u64; GROUP];
        let mut folds = [0u64; GROUP];
        self.gen.fill_blocks(&mut offs[..k]);
        for o in offs[..k].iter_mut() {
            *o *= self.block;
        }
        // Failed reads (kept going under on_error = continue) are not counted.
        let mut bad = 0u32;
        for (i, (f, &o)) in folds[..k].iter_mut().zip(offs[..k].iter()).enumerate() {
            match w.read(o) {
                Ok(v) => *f = v,
                Err(e) => {
                    self.failed(o, e, None)?;
                    bad |= 1 << i;
                }
            }
        }
        if bad != 0 {
            for (i, (&o, &f)) in offs[..k].iter().zip(folds[..k].iter()).enumerate() {
                if bad & (1 << i) == 0 {
                    self.count(o, f);
                }
            }
            return Ok(k as u64);
        }
        if let Some(tag) = self.verify_tag {
            let mut wrong = 0u64;
            for (&o, &f) in offs[..k].iter().zip(folds[..k].iter()) {
                wrong += (f != page::expected_fold(o, self.block, tag)) as u64;
            }
            if wrong > 0 {
                self.group_errors(&offs[..k], &folds[..k], tag);
            }
        }
        if self.measuring {
            self.ops += k as u64;
            self.me.ops.store(self.ops, Ordering::Relaxed);
        }
        Ok(k as u64)
    }

    /// A group with a verification error: count the errors and note the first offset.
    #[cold]
    #[inline(never)]
    fn group_errors(&mut self, offs: &[u64], folds: &[u64], tag: u64) {
        for (&o, &f) in offs.iter().zip(folds) {
            if f != page::expected_fold(o, self.block, tag) {
                self.verify_errors += 1;
                self.first_bad_offset.get_or_insert(o);
            }
        }
    }
}

/// Slice pairs the warm-up's A/B keeps at most, and the least length of a slice.
const AB_PAIRS: usize = 256;
/// Fewer pairs than this (a warm-up under ~4 ms) give no figure.
const AB_MIN_PAIRS: usize = 8;
const AB_SLICE_NS: u64 = 200_000;

/// Untimed operations run together (see `Driver::untimed`); at most 32 (a bit mask
/// marks the failed ones).
const GROUP: usize = 16;
