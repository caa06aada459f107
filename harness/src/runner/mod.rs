//! Runs one cell (one backend at one thread count): set the cache state, open the
//! backend, start the workers behind a barrier, warm up, measure while sampling
//! per-thread progress every interval, stop, merge the per-thread histograms.
//!
//! The worker's hot loop (`Driver::run_sync`) takes two clock readings and records
//! one histogram sample per operation: no allocation, no lock, no system call beyond
//! what the backend itself needs. Progress is published with one relaxed store.

pub mod access;

use crate::backend::{self, OpError, OpenCtx, OpenError, Worker};
use crate::datafile::{self, page, Target};
use crate::spec::backend::BackendKind;
use crate::spec::{BackendSpec, Start, StopAt, Workload};
use crate::{interrupt, ui, units};
use access::OffsetGen;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

/// Highest latency the histograms hold (1 hour); longer samples are clamped to it.
pub const HIST_MAX_NS: u64 = 3_600_000_000_000;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_NS, 3).expect("static histogram bounds are valid")
}

/// Per-thread progress, on its own cache line so that threads do not share lines.
#[repr(align(128))]
#[derive(Default)]
pub struct Progress {
    /// Measured operations completed so far (0 during warm-up).
    pub ops: AtomicU64,
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
    fn new(threads: usize) -> Shared {
        Shared {
            phase: AtomicU8::new(WARMUP),
            failed: AtomicBool::new(false),
            finished: AtomicUsize::new(0),
            cursor: AtomicU64::new(0),
            progress: (0..threads).map(|_| Progress::default()).collect(),
        }
    }

    fn total_ops(&self) -> u64 {
        self.progress
            .iter()
            .map(|p| p.ops.load(Ordering::Relaxed))
            .sum()
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
}

impl<'a> Driver<'a> {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Skipped,
    Failed,
}

/// One sampling interval: deltas over (t_ns - previous t_ns].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Interval {
    /// End of the interval, ns since the measured phase began.
    pub t_ns: u64,
    pub ops: u64,
    pub bytes: u64,
    /// Probe counters over this interval (deltas; gauges at its end).
    #[serde(flatten)]
    pub counters: crate::probe::Counters,
}

/// What one cell produced.
pub struct Outcome {
    pub status: Status,
    pub reason: Option<String>,
    pub notes: Vec<String>,
    pub threads: usize,
    pub queue_depth: u32,
    pub ops: u64,
    pub elapsed_ns: u64,
    pub hist: Option<Histogram<u64>>,
    pub timeseries: Vec<Interval>,
    pub verify_errors: u64,
    pub interrupted: bool,
}

impl Outcome {
    fn not_run(status: Status, reason: String, threads: usize) -> Outcome {
        Outcome {
            status,
            reason: Some(reason),
            notes: Vec::new(),
            threads,
            queue_depth: 1,
            ops: 0,
            elapsed_ns: 0,
            hist: None,
            timeseries: Vec::new(),
            verify_errors: 0,
            interrupted: false,
        }
    }
}

struct WorkerOut {
    hist: Histogram<u64>,
    ops: u64,
    verify_errors: u64,
    first_bad_offset: Option<u64>,
    error: Option<String>,
    end: Instant,
}

/// Per-thread RNG seed: differs per cell, thread and repeat, reproducible from the seed.
fn thread_seed(w: &Workload, repeat: u32, thread: usize) -> u64 {
    page::mix(w.seed ^ page::mix(((repeat as u64) << 32) | thread as u64))
}

/// Run one backend at one thread count.
pub fn run_cell(
    target: &Target,
    w: &Workload,
    spec: &BackendSpec,
    threads: usize,
    repeat: u32,
    quiet: bool,
) -> Outcome {
    // Cache state first, then open: MAP_POPULATE and WILLNEED must see the start state.
    let prep = match w.start {
        Start::Cold => datafile::drop_cache(target),
        Start::Warm => datafile::warm_cache(target),
    };
    if let Err(e) = prep {
        return Outcome::not_run(Status::Failed, format!("{e:#}"), threads);
    }
    // fio is an external reference: it runs the whole cell in its own process.
    if let BackendKind::Fio(_) = spec.kind {
        return backend::fio::run_cell(target, w, spec, threads);
    }
    let ctx = OpenCtx {
        target,
        workload: w,
        threads,
    };
    let be = match backend::open(spec, &ctx) {
        Ok(b) => b,
        Err(OpenError::Unavailable(r)) => return Outcome::not_run(Status::Skipped, r, threads),
        Err(OpenError::Failed(r)) => return Outcome::not_run(Status::Failed, r, threads),
    };
    let queue_depth = be.queue_depth();
    let nblocks = target.size / w.block;
    let shared = Shared::new(threads);
    let barrier = Barrier::new(threads + 1);
    let quota = |i: usize| match w.stop {
        StopAt::Ops(n) => Some(n / threads as u64 + u64::from((i as u64) < n % threads as u64)),
        StopAt::Duration(_) => None,
    };
    let planned = match w.stop {
        StopAt::Duration(d) => Some(d),
        StopAt::Ops(_) => None,
    };
    let bar = ui::cell_bar(
        planned.map(|d| d.as_millis() as u64),
        &format!("{} x{}", spec.name, threads),
        quiet,
    );

    let (outs, t0, timeseries, interrupted) = std::thread::scope(|s| {
        let be = &*be;
        let shared = &shared;
        let barrier = &barrier;
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let seed = thread_seed(w, repeat, i);
                let q = quota(i);
                s.spawn(move || {
                    let worker = be.worker(i);
                    let mut drv = Driver {
                        shared,
                        me: &shared.progress[i],
                        gen: OffsetGen::new(&w.pattern, nblocks, w.block, seed, &shared.cursor),
                        block: w.block,
                        verify_tag: target.verify_tag,
                        quota: q,
                        measuring: false,
                        hist: new_histogram(),
                        ops: 0,
                        verify_errors: 0,
                        first_bad_offset: None,
                    };
                    barrier.wait();
                    let result = match worker {
                        Ok(mut wk) => wk.run(&mut drv).map_err(|e| e.0),
                        Err(OpenError::Unavailable(r) | OpenError::Failed(r)) => Err(r),
                    };
                    let end = Instant::now();
                    if result.is_err() {
                        shared.failed.store(true, Ordering::Relaxed);
                    }
                    shared.finished.fetch_add(1, Ordering::Relaxed);
                    WorkerOut {
                        hist: drv.hist,
                        ops: if drv.measuring { drv.ops } else { 0 },
                        verify_errors: drv.verify_errors,
                        first_bad_offset: drv.first_bad_offset,
                        error: result.err(),
                        end,
                    }
                })
            })
            .collect();

        barrier.wait();
        let begin = Instant::now();
        let mut interrupted = false;
        // Warm-up: run, record nothing.
        while begin.elapsed() < w.warmup {
            if shared.failed.load(Ordering::Relaxed)
                || shared.finished.load(Ordering::Relaxed) == threads
            {
                break;
            }
            if interrupt::requested() {
                interrupted = true;
                break;
            }
            std::thread::sleep(
                (w.warmup - begin.elapsed().min(w.warmup)).min(Duration::from_millis(20)),
            );
        }
        shared.phase.store(MEASURE, Ordering::Relaxed);
        let t0 = Instant::now();
        let mut series: Vec<Interval> = Vec::new();
        let mut prev_ops = 0u64;
        let mut prev_t = 0u64;
        let mut next = w.interval;
        while !interrupted {
            let now = t0.elapsed();
            if now >= next {
                let ops = shared.total_ops();
                let t_ns = now.as_nanos() as u64;
                series.push(Interval {
                    t_ns,
                    ops: ops - prev_ops,
                    bytes: (ops - prev_ops) * w.block,
                    counters: Default::default(),
                });
                let rate = (ops - prev_ops) as f64 / ((t_ns - prev_t) as f64 / 1e9);
                bar.set_position(now.as_millis() as u64);
                bar.set_message(format!(
                    "{} ops/s  {}/s",
                    units::format_count(rate),
                    units::format_size((rate * w.block as f64) as u64)
                ));
                prev_ops = ops;
                prev_t = t_ns;
                while next <= now {
                    next += w.interval;
                }
            }
            let done = match planned {
                Some(d) => now >= d,
                None => shared.finished.load(Ordering::Relaxed) == threads,
            };
            if done || shared.failed.load(Ordering::Relaxed) {
                break;
            }
            if interrupt::requested() {
                interrupted = true;
                break;
            }
            let mut wake = next;
            if let Some(d) = planned {
                wake = wake.min(d);
            }
            let nap = wake
                .saturating_sub(t0.elapsed())
                .min(Duration::from_millis(20));
            std::thread::sleep(nap);
        }
        shared.phase.store(STOP, Ordering::Relaxed);
        let outs: Vec<WorkerOut> = handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| WorkerOut {
                    hist: new_histogram(),
                    ops: 0,
                    verify_errors: 0,
                    first_bad_offset: None,
                    error: Some("a worker thread panicked".into()),
                    end: Instant::now(),
                })
            })
            .collect();
        (outs, t0, series, interrupted)
    });
    bar.finish_and_clear();
    // Notes are taken after the run, so a backend can say what the run changed (huge
    // pages mapped by the run's faults).
    let notes = be.notes();
    finish(Finish {
        outs,
        t0,
        timeseries,
        interrupted,
        w,
        threads,
        queue_depth,
        notes,
    })
}

struct Finish<'a> {
    outs: Vec<WorkerOut>,
    t0: Instant,
    timeseries: Vec<Interval>,
    interrupted: bool,
    w: &'a Workload,
    threads: usize,
    queue_depth: u32,
    notes: Vec<String>,
}

/// Merge the workers' results and close the time series so that it adds up to the
/// total exactly.
fn finish(f: Finish) -> Outcome {
    let mut hist = new_histogram();
    let mut ops = 0;
    let mut verify_errors = 0;
    let mut first_bad = None;
    let mut errors: Vec<String> = Vec::new();
    let mut end = f.t0;
    for o in &f.outs {
        // Both histograms have the same bounds, so add cannot fail.
        let _ = hist.add(&o.hist);
        ops += o.ops;
        verify_errors += o.verify_errors;
        first_bad = first_bad.or(o.first_bad_offset);
        if let Some(e) = &o.error {
            if !errors.contains(e) {
                errors.push(e.clone());
            }
        }
        end = end.max(o.end);
    }
    let elapsed_ns = end.saturating_duration_since(f.t0).as_nanos() as u64;
    let mut timeseries = f.timeseries;
    let counted: u64 = timeseries.iter().map(|i| i.ops).sum();
    let last_t = timeseries.last().map(|i| i.t_ns).unwrap_or(0);
    let rest = ops.saturating_sub(counted);
    let interval_ns = f.w.interval.as_nanos() as u64;
    if let Some(last) = timeseries
        .last_mut()
        .filter(|_| elapsed_ns.saturating_sub(last_t) < interval_ns / 10)
    {
        // The few operations that finished after the last sample: fold them into it
        // rather than reporting a sliver of an interval.
        last.ops += rest;
        last.bytes += rest * f.w.block;
        last.t_ns = last.t_ns.max(elapsed_ns);
    } else if rest > 0 || timeseries.is_empty() {
        timeseries.push(Interval {
            t_ns: elapsed_ns.max(last_t),
            ops: rest,
            bytes: rest * f.w.block,
            counters: Default::default(),
        });
    }
    let mut notes = f.notes;
    if let Some(off) = first_bad {
        notes.push(format!(
            "{verify_errors} reads returned the wrong bytes; the first at offset {off}"
        ));
    }
    let (status, reason) = if f.interrupted {
        (
            Status::Failed,
            Some(format!(
                "interrupted by the user after {:.1} s",
                elapsed_ns as f64 / 1e9
            )),
        )
    } else if !errors.is_empty() {
        (Status::Failed, Some(errors.join("; ")))
    } else {
        (Status::Ok, None)
    };
    Outcome {
        status,
        reason,
        notes,
        threads: f.threads,
        queue_depth: f.queue_depth,
        ops,
        elapsed_ns,
        hist: Some(hist),
        timeseries,
        verify_errors,
        interrupted: f.interrupted,
    }
}
