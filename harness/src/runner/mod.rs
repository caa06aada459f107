//! Runs one cell (one backend at one thread count): set the cache state, open the
//! backend, start the workers behind a barrier, warm up, measure while sampling
//! per-thread progress every interval, stop, merge the per-thread histograms.
//!
//! The worker's hot loop (`Driver::run_sync`) takes two clock readings and records
//! one histogram sample per operation: no allocation, no lock, no system call beyond
//! what the backend itself needs. Progress is published with one relaxed store.

pub mod access;
pub mod ready;
#[cfg(test)]
mod tests;

use crate::backend::{self, OpError, OpenCtx, OpenError, Worker};
use crate::datafile::{self, page, Target};
use crate::probe::{self, Counters, ProbeSet, Reasons, ThreadProbes};
use crate::record::cell::{new_histogram, Interval, Outcome, Status};
use crate::spec::backend::BackendKind;
use crate::spec::{BackendSpec, Start, StopAt, Workload};
use crate::sys::perf::FaultRing;
use crate::{interrupt, ui, units};
use access::OffsetGen;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

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
        self.total(|p| &p.ops)
    }

    fn total(&self, f: fn(&Progress) -> &AtomicU64) -> u64 {
        self.progress
            .iter()
            .map(|p| f(p).load(Ordering::Relaxed))
            .sum()
    }
}

/// Per-operation major-fault attribution: the fault ring's head moves when the thread
/// took a major fault, so an operation during which it moved waited for one.
struct FaultWatch<'a> {
    ring: &'a FaultRing,
    head: u64,
    hist: Histogram<u64>,
    ops: u64,
    stall_ns: u64,
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
                f.hist.reset();
                f.ops = 0;
                f.stall_ns = 0;
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
            let head = f.ring.head();
            if head != f.head {
                f.head = head;
                f.ring.consume(head);
                if self.measuring {
                    f.hist.saturating_record(latency_ns.max(1));
                    f.ops += 1;
                    f.stall_ns += latency_ns;
                    self.me.fault_ops.store(f.ops, Ordering::Relaxed);
                    self.me.stall_ns.store(f.stall_ns, Ordering::Relaxed);
                }
            }
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

struct WorkerOut {
    hist: Histogram<u64>,
    fault_hist: Option<Histogram<u64>>,
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

/// A sample point: when, how many measured operations so far, the probes' reading.
struct Sample {
    t_ns: u64,
    ops: u64,
    reading: Counters,
}

/// Run one backend at one thread count.
pub fn run_cell(
    target: &Target,
    w: &Workload,
    spec: &BackendSpec,
    threads: usize,
    repeat: u32,
    probes: &ProbeSet,
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
    // The harness's system-wide probes (device, shootdowns, vmstat, machine CPU) are
    // read around it; its thread probes cannot see fio's processes.
    if let BackendKind::Fio(_) = spec.kind {
        let (before, _) = probes.read(&[]);
        let mut o = backend::fio::run_cell(target, w, spec, threads);
        let (after, mut reasons) = probes.read(&[]);
        o.counters = probe::delta(&before, &after, o.ops * w.block);
        for k in [
            "minor_faults",
            "major_faults",
            "tlb_flush_process",
            "cpu_user_ns",
            "cpu_system_ns",
            "fault_ops",
            "stall_ns",
            "huge_page_bytes",
        ] {
            reasons.0.insert(
                k.into(),
                "fio runs in its own processes, which the harness's thread probes do not see"
                    .into(),
            );
        }
        // Per-interval counters would need readings during fio's run; totals only.
        o.counters.huge_page_bytes = None;
        reasons.0.insert(
            "timeseries".into(),
            "fio: every interval's counters are null: the harness reads its system-wide probes only before and after the fio run (the totals)".into(),
        );
        o.reasons = reasons;
        o.notes
            .push("counters: system-wide totals read around the fio run; none per interval".into());
        return o;
    }
    let ctx = OpenCtx {
        target,
        workload: w,
        threads,
    };
    let opened = Instant::now();
    let be = match backend::open(spec, &ctx) {
        Ok(b) => b,
        Err(OpenError::Unavailable(r)) => return Outcome::not_run(Status::Skipped, r, threads),
        Err(OpenError::Failed(r)) => return Outcome::not_run(Status::Failed, r, threads),
    };
    // Mapping, MAP_POPULATE, prefaulting, mlock, loading: not in the measured phase,
    // but part of what a backend costs, so recorded.
    let setup_ns = opened.elapsed().as_nanos() as u64;
    let queue_depth = be.queue_depth();
    let nblocks = target.size / w.block;
    let shared = Shared::new(threads);
    let barrier = Barrier::new(threads + 1);
    let registered: Mutex<Vec<Arc<ThreadProbes>>> = Mutex::new(Vec::new());
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
    let ready = ready::Ready::from_env(&spec.name, threads, repeat);

    let (outs, t0, samples, thread_probes, interrupted, cache) = std::thread::scope(|s| {
        let be = &*be;
        let shared = &shared;
        let barrier = &barrier;
        let registered = &registered;
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let seed = thread_seed(w, repeat, i);
                let q = quota(i);
                s.spawn(move || {
                    let worker = be.worker(i);
                    let tp = Arc::new(ThreadProbes::open(&probes.thread_cfg));
                    if let Ok(mut v) = registered.lock() {
                        v.push(Arc::clone(&tp));
                    }
                    let fault = match (&tp.major, w.fault_attribution) {
                        (Ok(ring), true) => Some(FaultWatch {
                            ring,
                            head: ring.head(),
                            hist: new_histogram(),
                            ops: 0,
                            stall_ns: 0,
                        }),
                        _ => None,
                    };
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
                        fault,
                    };
                    barrier.wait();
                    let result = match worker {
                        Ok(mut wk) => wk.run(&mut drv).map_err(|e| e.0),
                        Err(OpenError::Unavailable(r) | OpenError::Failed(r)) => Err(r),
                    };
                    let end = Instant::now();
                    tp.freeze_cpu();
                    if result.is_err() {
                        shared.failed.store(true, Ordering::Relaxed);
                    }
                    shared.finished.fetch_add(1, Ordering::Relaxed);
                    let measured = drv.measuring;
                    WorkerOut {
                        fault_hist: drv.fault.map(|f| f.hist),
                        hist: drv.hist,
                        ops: if measured { drv.ops } else { 0 },
                        verify_errors: drv.verify_errors,
                        first_bad_offset: drv.first_bad_offset,
                        error: result.err(),
                        end,
                    }
                })
            })
            .collect();

        barrier.wait();
        let thread_probes: Vec<Arc<ThreadProbes>> =
            registered.lock().map(|v| v.clone()).unwrap_or_default();
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
        let attributing = w.fault_attribution
            && thread_probes.len() == threads
            && thread_probes.iter().all(|t| t.major.is_ok());
        let sample = |t_ns: u64| {
            let (mut reading, _) = probes.read(&thread_probes);
            if attributing {
                reading.fault_ops = Some(shared.total(|p| &p.fault_ops));
                reading.stall_ns = Some(shared.total(|p| &p.stall_ns));
            }
            Sample {
                t_ns,
                ops: shared.total_ops(),
                reading,
            }
        };
        let mut samples = vec![sample(0)];
        shared.phase.store(MEASURE, Ordering::Relaxed);
        ready.mark(0);
        let cache_before = be.counters();
        let t0 = Instant::now();
        let mut next = w.interval;
        while !interrupted {
            let now = t0.elapsed();
            if now >= next {
                let smp = sample(now.as_nanos() as u64);
                let prev = samples.last().map(|p| (p.ops, p.t_ns)).unwrap_or((0, 0));
                let rate = (smp.ops - prev.0) as f64 / ((smp.t_ns - prev.1).max(1) as f64 / 1e9);
                bar.set_position(now.as_millis() as u64);
                bar.set_message(format!(
                    "{} ops/s  {}/s",
                    units::format_count(rate),
                    units::format_size((rate * w.block as f64) as u64)
                ));
                ready.mark(smp.ops);
                samples.push(smp);
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
                    fault_hist: None,
                    ops: 0,
                    verify_errors: 0,
                    first_bad_offset: None,
                    error: Some("a worker thread panicked".into()),
                    end: Instant::now(),
                })
            })
            .collect();
        // The final sample after every worker stopped: the totals.
        let end = outs.iter().map(|o| o.end).max().unwrap_or(t0);
        let mut last = sample(end.saturating_duration_since(t0).as_nanos() as u64);
        last.t_ns = last.t_ns.max(samples.last().map(|p| p.t_ns).unwrap_or(0));
        samples.push(last);
        let cache = backend::cache_note(cache_before, be.counters());
        (outs, t0, samples, thread_probes, interrupted, cache)
    });
    bar.finish_and_clear();
    let (_, reasons) = probes.read(&thread_probes);
    // Read after the run, so a backend can report what happened (e.g. its cache).
    let mut notes = be.notes();
    notes.extend(cache);
    finish(Finish {
        setup_ns,
        outs,
        t0,
        samples,
        reasons,
        interrupted,
        w,
        threads,
        queue_depth,
        notes,
    })
}

struct Finish<'a> {
    setup_ns: u64,
    outs: Vec<WorkerOut>,
    t0: Instant,
    samples: Vec<Sample>,
    reasons: Reasons,
    interrupted: bool,
    w: &'a Workload,
    threads: usize,
    queue_depth: u32,
    notes: Vec<String>,
}

/// Merge the workers' results; build the time series from consecutive samples, so it
/// adds up to the totals exactly.
fn finish(f: Finish) -> Outcome {
    let mut hist = new_histogram();
    let mut fault_hist: Option<Histogram<u64>> = None;
    let mut ops = 0;
    let mut verify_errors = 0;
    let mut first_bad = None;
    let mut errors: Vec<String> = Vec::new();
    let mut end = f.t0;
    for o in &f.outs {
        // Both histograms have the same bounds, so add cannot fail.
        let _ = hist.add(&o.hist);
        if let Some(fh) = &o.fault_hist {
            let _ = fault_hist.get_or_insert_with(new_histogram).add(fh);
        }
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
    let mut samples = f.samples;
    // The final sample holds the true total; a sliver of an interval after the last
    // regular sample is folded into it rather than reported on its own.
    let interval_ns = f.w.interval.as_nanos() as u64;
    if samples.len() >= 3 {
        let n = samples.len();
        if samples[n - 1].t_ns.saturating_sub(samples[n - 2].t_ns) < interval_ns / 10 {
            samples.remove(n - 2);
        }
    }
    if let Some(last) = samples.last_mut() {
        last.ops = ops;
    }
    let timeseries: Vec<Interval> = samples
        .windows(2)
        .map(|p| {
            let ops = p[1].ops.saturating_sub(p[0].ops);
            Interval {
                t_ns: p[1].t_ns,
                ops,
                bytes: ops * f.w.block,
                counters: probe::delta(&p[0].reading, &p[1].reading, ops * f.w.block),
            }
        })
        .collect();
    let counters = match (samples.first(), samples.last()) {
        (Some(a), Some(b)) => probe::delta(&a.reading, &b.reading, ops * f.w.block),
        _ => Counters::default(),
    };
    let mut notes = f.notes;
    if let Some(off) = first_bad {
        notes.push(format!(
            "{verify_errors} reads returned the wrong bytes; the first at offset {off}"
        ));
    }
    let mut reasons = f.reasons;
    if !f.w.fault_attribution {
        reasons.set(
            "fault_ops",
            "fault attribution is off (fault_attribution = false)",
        );
        reasons.set(
            "stall_ns",
            "fault attribution is off (fault_attribution = false)",
        );
    } else if fault_hist.is_none() {
        let why = reasons
            .0
            .get("major_faults")
            .cloned()
            .unwrap_or_else(|| "no fault ring".into());
        reasons.set("fault_ops", why.clone());
        reasons.set("stall_ns", why);
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
        setup_ns: f.setup_ns,
        counters,
        reasons,
        fault_hist,
    }
}
