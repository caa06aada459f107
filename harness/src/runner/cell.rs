//! One cell: one backend at one thread count in one repeat. Set the cache state, open
//! the backend, start the workers behind a barrier, warm up, measure while sampling
//! every interval, stop, merge the per-thread histograms into an `Outcome`.

use crate::backend::{self, Backend, CacheCounters, External, OpenCtx, OpenError, Opened};
use crate::datafile::{self, page, written, Origin, Target};
use crate::driver::errors::ErrorLog;
use crate::driver::floor::{self, Floor};
use crate::driver::interval;
use crate::driver::write::{self as wdrv, WriteOut, Writer};
use crate::driver::{Driver, DriverConfig, Shared, WorkerOut};
use crate::probe::{self, CounterId, Counters, ProbeSet, ReasonKey, Reasons, ThreadProbes};
use crate::record::writes::KindResult;
use crate::record::{new_histogram, Interval, Outcome, Status};
use crate::spec::{BackendSpec, Start, StopAt, Workload};
use crate::timing::{self, Clock, TimingMode, TimingRecord};
use crate::ui::Reporter;
use crate::{interrupt, units};
use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

/// What a cell runs: a backend at a thread count, in one repeat of a workload.
pub struct Cell<'a> {
    pub target: &'a Target,
    pub workload: &'a Workload,
    pub spec: &'a BackendSpec,
    pub threads: usize,
    pub repeat: u32,
    pub probes: &'a ProbeSet,
    /// An engine backend's generated database (`target` is then its file).
    pub db: Option<&'a crate::datafile::database::Database>,
}

/// Run one cell. Never fails: a backend that cannot run, or fails, becomes an outcome
/// with status skipped or failed and the reason.
pub fn run_cell(c: &Cell, ui: &dyn Reporter) -> Outcome {
    // Cache state first, then open: MAP_POPULATE and WILLNEED must see the start state.
    let prep = match c.workload.start {
        Start::Cold => datafile::drop_cache(c.target),
        Start::Warm => datafile::warm_cache(c.target),
    };
    if let Err(e) = prep {
        return Outcome::not_run(Status::Failed, format!("{e:#}"), c.threads);
    }
    let ctx = OpenCtx {
        target: c.target,
        workload: c.workload,
        threads: c.threads,
        db: c.db,
    };
    let writes = c.workload.op.writes();
    let opened_at = Instant::now();
    match backend::open(c.spec, &ctx) {
        Ok(Opened::InProcess(be)) => {
            if writes {
                if let Err(e) = written::mark(c.target) {
                    return Outcome::not_run(Status::Failed, format!("{e:#}"), c.threads);
                }
            }
            // Mapping, MAP_POPULATE, prefaulting, mlock, loading: not in the measured
            // phase, but part of what a backend costs, so recorded.
            let setup_ns = opened_at.elapsed().as_nanos() as u64;
            let (mut o, wouts) = InProcess::new(c, &*be).run(ui);
            o.setup_ns = setup_ns;
            if writes {
                match be.finish_writes() {
                    Ok(note) => o.notes.extend(note),
                    Err(e) => o.notes.push(format!(
                        "the backend could not write back what it held ({e}); the read-back will count those pages as lost"
                    )),
                }
            }
            // An engine checks its rows itself, through the engine (its workers are
            // closed by now); then it is closed.
            let engine = if writes { be.check_written() } else { None };
            // Unmapped and closed before the written pages are read back.
            drop(be);
            if writes {
                check_writes(c, &mut o, &wouts, engine);
            }
            o
        }
        Ok(Opened::External(ext)) => {
            if writes {
                if let Err(e) = written::mark(c.target) {
                    return Outcome::not_run(Status::Failed, format!("{e:#}"), c.threads);
                }
            }
            let mut o = run_external(c, &*ext, &ctx);
            if writes {
                external_writes(c, &mut o, ui);
            }
            o
        }
        Err(OpenError::Unavailable(r)) => Outcome::not_run(Status::Skipped, r, c.threads),
        Err(OpenError::Failed(r)) => Outcome::not_run(Status::Failed, r, c.threads),
    }
}

/// After an in-process write cell: read back every written page, put the generated
/// content back, and fill in the write result (an interrupted cell leaves the data
/// file marked, to be created again before it is reused).
fn check_writes(
    c: &Cell,
    o: &mut Outcome,
    wouts: &[WriteOut],
    engine: Option<backend::engine_writes::EngineCheck>,
) {
    let w = c.workload;
    let mut wr = o.writes.take().unwrap_or_default();
    let mut all = WriteOut::empty();
    for x in wouts {
        all.read.add(&x.read);
        all.write.add(&x.write);
        all.sync.add(&x.sync);
    }
    for (name, k) in [
        ("read", &all.read),
        ("write", &all.write),
        ("sync", &all.sync),
    ] {
        match KindResult::from_kind(k) {
            Ok(r) => {
                wr.ops_by_kind.insert(name.to_string(), r);
            }
            Err(e) => {
                wr.reasons
                    .insert(format!("ops_by_kind.{name}"), e.to_string());
            }
        }
    }
    let mut exp = crate::driver::write::Exposure::default();
    for x in wouts {
        exp.add(&x.exposure);
    }
    wr.sync_exposure = Some(crate::record::writes::SyncExposure {
        max_unsynced_writes: exp.max_unsynced_writes,
        max_unsynced_bytes: exp
            .max_unsynced_writes
            .saturating_mul(w.block)
            .min(c.target.size),
        max_unsynced_ns: exp.max_unsynced_ns,
        unsynced_at_end: exp.unsynced_at_end,
        syncs: exp.syncs,
    });
    let rw = all.read.ops + all.write.ops;
    wr.read_share_pct = (rw > 0).then(|| 100.0 * all.read.ops as f64 / rw as f64);
    let pages_per_block = w.block / page::PAGE as u64;
    let written: u64 = wouts.iter().map(|x| x.written().count() as u64).sum();
    wr.written_pages = Some(written * pages_per_block);
    wr.write_amplification = match o.counters.device_write_bytes {
        Some(d) if all.write.bytes > 0 => Some(d as f64 / all.write.bytes as f64),
        Some(_) => None,
        None => None,
    };
    if wr.write_amplification.is_none() {
        let why = if all.write.bytes == 0 {
            "no writes in the measured phase".to_string()
        } else {
            o.reasons
                .get(CounterId::DeviceWriteBytes)
                .unwrap_or("device_write_bytes is null")
                .to_string()
        };
        wr.reasons.insert("write_amplification".into(), why);
    }
    if o.interrupted {
        let why = "interrupted: the written pages were not read back; the data file is marked and will be created again before it is reused";
        wr.reasons.insert("verified_pages".into(), why.into());
        wr.reasons.insert("verify_errors".into(), why.into());
        o.writes = Some(wr);
        return;
    }
    if let Some(eng) = engine {
        engine_checked(c, o, &mut wr, eng);
        o.writes = Some(wr);
        return;
    }
    let tag = c
        .target
        .verify_tag
        .unwrap_or_else(|| page::file_tag(w.seed));
    match written::verify(c.target, w.block, tag, wouts) {
        Ok(chk) => {
            wr.verified_pages = Some(chk.pages);
            wr.verify_errors = Some(chk.errors);
            o.verify_errors += chk.errors;
            if let Some(off) = chk.first_bad {
                o.notes.push(format!(
                    "read back after the cell: {} of {} written pages lost, stale or torn; the first at offset {off}",
                    chk.errors, chk.pages
                ));
            }
        }
        Err(e) => {
            let why = format!("{e:#}");
            wr.reasons.insert("verified_pages".into(), why.clone());
            wr.reasons.insert("verify_errors".into(), why.clone());
            o.notes
                .push(format!("the written pages could not be read back: {why}"));
        }
    }
    let disk_full = o
        .reason
        .as_deref()
        .is_some_and(|r| r.contains(backend::DISK_FULL));
    match c.target.origin {
        Origin::Generated | Origin::Zram if disk_full => o.notes.push(
            "the device filled up during the cell: the data file was not restored and stays marked; it will be created again before it is reused (free space first)".into(),
        ),
        Origin::Generated | Origin::Zram => {
            match written::restore(c.target, w.block, wouts).and_then(|_| written::unmark(c.target))
            {
                Ok(()) => {}
                Err(e) => o.notes.push(format!(
                    "the data file could not be restored ({e:#}); it stays marked and will be created again before it is reused"
                )),
            }
        }
        // Refused before the run (the workload check): the device is read-only.
        Origin::Fuse => {}
        Origin::File | Origin::BlockDevice => o.notes.push(format!(
            "--allow-write: {} pages of {} were overwritten with the harness's pages",
            written * pages_per_block,
            c.target.path.display()
        )),
    }
    o.writes = Some(wr);
}

/// An engine's own check of its written rows (`Backend::check_written`) into the
/// write result; the database stays marked (to be built again) unless its generated
/// rows were put back.
fn engine_checked(
    c: &Cell,
    o: &mut Outcome,
    wr: &mut crate::record::writes::WriteResult,
    eng: backend::engine_writes::EngineCheck,
) {
    o.notes.extend(eng.notes);
    match eng.checked {
        Ok(chk) => {
            wr.verified_pages = Some(chk.pages);
            wr.verify_errors = Some(chk.errors);
            o.verify_errors += chk.errors;
        }
        Err(why) => {
            wr.reasons.insert("verified_pages".into(), why.clone());
            wr.reasons.insert("verify_errors".into(), why.clone());
            o.notes
                .push(format!("the written rows could not be read back: {why}"));
        }
    }
    let keep = eng.keep_marked;
    match eng.restored.map_err(anyhow::Error::msg).and_then(|_| match &keep {
        Some(_) => Ok(()),
        None => written::unmark(c.target),
    }) {
        Ok(()) => o.notes.extend(keep),
        Err(e) => o.notes.push(format!(
            "the database could not be restored ({e:#}); it stays marked and will be built again before it is reused"
        )),
    }
}

/// After an external tool's write cell: it wrote its own content, so nothing can be
/// checked; the generated data file is written anew.
fn external_writes(c: &Cell, o: &mut Outcome, ui: &dyn Reporter) {
    let mut wr = o.writes.take().unwrap_or_default();
    wr.reasons.insert(
        "dirty".into(),
        "the harness reads its probes only before and after an external tool's run".into(),
    );
    wr.reasons.insert(
        "written_back_before_sync".into(),
        "an external tool's writers run in its own processes and cannot be held before their final sync: with sync = end fio's end_fsync=1 is that sync, inside fio's run (dropping it and syncing from the harness would take the sync out of fio's runtime and IOPS, a different measurement), and with sync = none the harness does not know which pages fio wrote (fio records its offsets only with write_iolog, a log write per I/O in fio's loop)".into(),
    );
    wr.reasons.insert(
        "sync_exposure".into(),
        "an external tool's writes and syncs are not seen one by one by the harness".into(),
    );
    wr.reasons.insert(
        "dirty_throttle".into(),
        "the balance_dirty_pages trace is read only in the harness's own write cells".into(),
    );
    let why = "an external tool writes its own content, which the harness cannot check";
    for k in ["verified_pages", "verify_errors", "written_pages"] {
        wr.reasons.insert(k.into(), why.into());
    }
    let app = o.ops * c.workload.block;
    wr.write_amplification = match (o.counters.device_write_bytes, c.workload.op) {
        (Some(d), crate::spec::Op::Write) if app > 0 => Some(d as f64 / app as f64),
        _ => None,
    };
    if wr.write_amplification.is_none() {
        wr.reasons.insert(
            "write_amplification".into(),
            "needs the bytes written (op = write) and device_write_bytes".into(),
        );
    }
    if o.status != Status::Skipped {
        let restored = match c.target.origin {
            Origin::Generated | Origin::Zram => {
                written::rewrite(c.target, ui).and_then(|_| written::unmark(c.target))
            }
            _ => Ok(()),
        };
        if let Err(e) = restored {
            o.notes.push(format!(
                "the data file could not be written anew ({e:#}); it stays marked and will be created again before it is reused"
            ));
        }
    } else {
        let _ = written::unmark(c.target);
    }
    o.writes = Some(wr);
}

/// An external tool runs the whole cell in its own processes. The harness's
/// system-wide probes (device, shootdowns, vmstat, machine CPU) are read around it; its
/// thread probes cannot see the tool's processes.
fn run_external(c: &Cell, ext: &dyn External, ctx: &OpenCtx) -> Outcome {
    let (before, _) = c.probes.read(&[]);
    let mut o = ext.run_cell(ctx);
    let (after, mut reasons) = c.probes.read(&[]);
    o.counters = probe::delta(&before, &after, o.ops * c.workload.block);
    let name = ext.name();
    let unseen =
        format!("{name} runs in its own processes, which the harness's thread probes do not see");
    for k in [
        CounterId::MinorFaults,
        CounterId::MajorFaults,
        CounterId::TlbFlushProcess,
        CounterId::CpuUserNs,
        CounterId::CpuSystemNs,
        CounterId::FaultOps,
        CounterId::StallNs,
        CounterId::HugePageBytes,
    ] {
        reasons.replace(k, unseen.clone());
    }
    // Per-interval counters would need readings during the tool's run; totals only.
    o.counters.huge_page_bytes = None;
    reasons.replace(
        ReasonKey::Timeseries,
        format!("{name}: every interval's counters are null: the harness reads its system-wide probes only before and after the {name} run (the totals)"),
    );
    o.reasons = reasons;
    o.notes.push(format!(
        "counters: system-wide totals read around the {name} run; none per interval"
    ));
    o
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

/// Reads the probes and the workers' progress at one moment.
struct Sampler<'a> {
    probes: &'a ProbeSet,
    threads: Vec<Arc<ThreadProbes>>,
    shared: &'a Shared,
    /// Every worker has a fault ring: fault_ops and stall_ns come from the workers.
    attributing: bool,
}

impl Sampler<'_> {
    fn take(&self, t_ns: u64) -> Sample {
        let (mut reading, _) = self.probes.read(&self.threads);
        if self.attributing {
            reading.fault_ops = Some(self.shared.total(|p| &p.fault_ops));
            reading.stall_ns = Some(self.shared.total(|p| &p.stall_ns));
        }
        Sample {
            t_ns,
            ops: self.shared.total_ops(),
            reading,
        }
    }
}

/// A backend's own cache counters at the start and end of the measured phase.
type CachePair = (Option<CacheCounters>, Option<CacheCounters>);

/// The measured phase as the sampler saw it.
struct Measured {
    t0: Instant,
    samples: Vec<Sample>,
    interrupted: bool,
    outs: Vec<WorkerOut>,
    /// The backend's own cache counters at the start and end of the measured phase.
    cache: CachePair,
    reasons: Reasons,
    /// The clock's conversion error over the measured phase (ppm).
    clock_error_ppm: Option<f64>,
}

/// A cell of an in-process backend: its workers and the state they share.
struct InProcess<'a> {
    c: &'a Cell<'a>,
    be: &'a dyn Backend,
    shared: Shared,
    barrier: Barrier,
    registered: Mutex<Vec<Arc<ThreadProbes>>>,
    clock: Clock,
    /// Write workloads: the page cache's dirty and write-back state per interval, the
    /// writers' throttling, the written pages before the final sync.
    wprobes: Option<super::writeback::WriteProbes<'a>>,
}

impl<'a> InProcess<'a> {
    fn new(c: &'a Cell<'a>, be: &'a dyn Backend) -> InProcess<'a> {
        InProcess {
            c,
            be,
            shared: Shared::new(c.threads),
            barrier: Barrier::new(c.threads + 1),
            registered: Mutex::new(Vec::new()),
            clock: Clock::get(),
            wprobes: super::writeback::WriteProbes::new(c),
        }
    }

    /// The driver settings of worker `i` (no quota, no fault ring: `worker` adds them).
    fn driver_config(&self, i: usize) -> DriverConfig<'a> {
        let (c, w) = (self.c, self.c.workload);
        DriverConfig {
            pattern: &w.pattern,
            nblocks: c.target.size / w.block,
            block: w.block,
            seed: thread_seed(w, c.repeat, i),
            verify_tag: c.target.verify_tag,
            quota: None,
            fault_ring: None,
            timing: w.timing,
            clock: self.clock.clone(),
        }
    }

    fn planned(&self) -> Option<Duration> {
        match self.c.workload.stop {
            StopAt::Duration(d) => Some(d),
            StopAt::Ops(_) => None,
        }
    }

    /// Spawn the workers, warm up, measure, stop, collect. For a write workload, also
    /// what each writing thread wrote.
    fn run(&self, ui: &dyn Reporter) -> (Outcome, Vec<WriteOut>) {
        let label = format!("{} x{}", self.c.spec.name, self.c.threads);
        let bar = ui.cell_bar(self.planned(), &label);
        let ready = super::ready::Ready::from_env(&self.c.spec.name, self.c.threads, self.c.repeat);
        // The loop's own cost in this timing mode, measured right before the cell.
        let floor = floor::measure(&self.driver_config(0));
        let m = std::thread::scope(|s| {
            let handles: Vec<_> = (0..self.c.threads)
                .map(|i| s.spawn(move || self.worker(i)))
                .collect();
            self.barrier.wait();
            let sampler = self.sampler();
            let interrupted = self.warm_up();
            let check = self.clock.check();
            let (t0, mut samples, interrupted, cache) =
                self.measure(&sampler, &bar, &ready, interrupted);
            self.shared.stop();
            if let Some(wp) = &self.wprobes {
                wp.before_final_sync(&self.shared, interrupted);
            }
            let clock_error_ppm = check.error_ppm(&self.clock);
            let (outs, wouts): (Vec<WorkerOut>, Vec<Option<WriteOut>>) = handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| (WorkerOut::panicked(), None)))
                .unzip();
            self.sample_dirty(end_ns(&outs, t0));
            // The final sample after every worker stopped: the totals.
            let end = outs.iter().map(|o| o.end).max().unwrap_or(t0);
            let mut last = sampler.take(end.saturating_duration_since(t0).as_nanos() as u64);
            last.t_ns = last.t_ns.max(samples.last().map(|p| p.t_ns).unwrap_or(0));
            samples.push(last);
            let (_, reasons) = self.c.probes.read(&sampler.threads);
            (
                Measured {
                    t0,
                    samples,
                    interrupted,
                    outs,
                    cache,
                    reasons,
                    clock_error_ppm,
                },
                wouts.into_iter().flatten().collect::<Vec<_>>(),
            )
        });
        let (m, wouts) = m;
        bar.finish_and_clear();
        // Read after the run, so a backend can report what happened (e.g. its cache).
        let mut notes = self.be.notes();
        let (cache_before, cache_after) = m.cache;
        notes.extend(backend::cache_note(cache_before, cache_after));
        let mut o = finish(m, self.c, self.be.queue_depth(), notes, floor);
        let process_flushes = o
            .counters
            .tlb_flush_process
            .as_ref()
            .map(|m| m.values().sum::<u64>());
        o.notes.extend(backend::batch_shootdown_note(
            cache_before,
            cache_after,
            o.counters.tlb_shootdowns_system,
            o.reasons.get(CounterId::TlbShootdownsSystem),
            process_flushes,
            o.reasons.get(CounterId::TlbFlushProcess),
        ));
        if let Some(wp) = &self.wprobes {
            let (wr, wnotes) = wp.result();
            o.notes.extend(wnotes);
            o.writes = Some(wr);
        }
        (o, wouts)
    }

    /// Write workloads: record the page cache's dirty and write-back state now.
    fn sample_dirty(&self, t_ns: u64) {
        if let Some(wp) = &self.wprobes {
            wp.sample(t_ns, false);
        }
    }

    /// Every worker returned, or (write cells) is held before its final sync.
    fn workers_stopped(&self) -> bool {
        self.shared.finished() == self.c.threads
            || self
                .wprobes
                .as_ref()
                .is_some_and(|wp| wp.all_stopped(&self.shared))
    }

    /// One worker thread: its probes and driver, then the backend's loop (the write
    /// loop for a write workload).
    fn worker(&self, i: usize) -> (WorkerOut, Option<WriteOut>) {
        let (c, w) = (self.c, self.c.workload);
        let worker = self.be.worker(i);
        let tp = Arc::new(ThreadProbes::open(&c.probes.thread_cfg));
        if let Ok(mut v) = self.registered.lock() {
            v.push(Arc::clone(&tp));
        }
        let quota = match w.stop {
            StopAt::Ops(n) => {
                let t = c.threads as u64;
                Some(n / t + u64::from((i as u64) < n % t))
            }
            StopAt::Duration(_) => None,
        };
        let cfg = DriverConfig {
            quota,
            fault_ring: tp
                .ring()
                .filter(|_| attributes(w))
                .map(|r| (r, w.fault_sample_period)),
            ..self.driver_config(i)
        };
        let writer = wdrv::config(w, c.target, c.threads, i, thread_seed(w, c.repeat, i))
            .map(Writer::new)
            .transpose()
            .map(|wr| {
                wr.map(|mut wr| {
                    if let Some(g) = self.wprobes.as_ref().and_then(|wp| wp.gate.clone()) {
                        wr.set_gate(g);
                    }
                    wr
                })
            });
        let mut drv = Driver::new(&self.shared, i, cfg);
        drv.set_on_error(w.on_error);
        self.barrier.wait();
        let (result, writer) = match (worker, writer) {
            (Ok(mut wk), Ok(Some(mut wr))) => {
                (wk.run_writes(&mut drv, &mut wr).map_err(|e| e.0), Some(wr))
            }
            (Ok(mut wk), Ok(None)) => (wk.run(&mut drv).map_err(|e| e.0), None),
            (Err(OpenError::Unavailable(r) | OpenError::Failed(r)), _) => (Err(r), None),
            (_, Err(r)) => (Err(r), None),
        };
        // The wait before the final sync (the harness looking at the pages) is not
        // part of the measured time.
        let paused = writer.as_ref().map_or(Duration::ZERO, |w| w.paused());
        let now = Instant::now();
        let end = now.checked_sub(paused).unwrap_or(now);
        tp.freeze_cpu();
        self.shared.worker_done(result.is_ok());
        (drv.finish(result.err(), end), writer.map(Writer::finish))
    }

    fn sampler(&self) -> Sampler<'_> {
        let threads: Vec<Arc<ThreadProbes>> = self
            .registered
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default();
        let attributing = attributes(self.c.workload)
            && threads.len() == self.c.threads
            && threads.iter().all(|t| t.ring().is_some());
        Sampler {
            probes: self.c.probes,
            threads,
            shared: &self.shared,
            attributing,
        }
    }

    /// Let the workers run unrecorded for the warm-up. True when the user interrupted.
    fn warm_up(&self) -> bool {
        let warmup = self.c.workload.warmup;
        let begin = Instant::now();
        while begin.elapsed() < warmup {
            if self.shared.any_failed() || self.workers_stopped() {
                break;
            }
            if interrupt::requested() {
                return true;
            }
            let left = warmup - begin.elapsed().min(warmup);
            std::thread::sleep(left.min(Duration::from_millis(20)));
        }
        false
    }

    /// Switch the workers to measuring and sample every interval until the planned time
    /// is over, every worker finished its quota, one failed, or the user interrupted.
    /// Returns the start of the measured phase, the samples, whether interrupted, and
    /// the backend's own cache counters at the start and end of the phase.
    fn measure(
        &self,
        sampler: &Sampler,
        bar: &ProgressBar,
        ready: &super::ready::Ready,
        mut interrupted: bool,
    ) -> (Instant, Vec<Sample>, bool, CachePair) {
        let (w, planned) = (self.c.workload, self.planned());
        let mut samples = vec![sampler.take(0)];
        if let Some(wp) = &self.wprobes {
            wp.sample(0, true);
        }
        self.shared.start_measuring();
        ready.mark(0);
        let cache_before = self.be.counters();
        let t0 = Instant::now();
        let mut next = w.interval;
        while !interrupted {
            let now = t0.elapsed();
            if now >= next {
                let smp = sampler.take(now.as_nanos() as u64);
                show_rate(bar, samples.last(), &smp, now, w.block);
                self.sample_dirty(smp.t_ns);
                ready.mark(smp.ops);
                samples.push(smp);
                // After the reading: the workers file what they recorded so far under
                // the interval this sample ends.
                self.shared.next_interval();
                while next <= now {
                    next += w.interval;
                }
            }
            let done = match planned {
                Some(d) => now >= d,
                None => self.workers_stopped(),
            };
            if done || self.shared.any_failed() {
                break;
            }
            if interrupt::requested() {
                interrupted = true;
                break;
            }
            let wake = planned.map_or(next, |d| next.min(d));
            let nap = wake.saturating_sub(t0.elapsed());
            std::thread::sleep(nap.min(Duration::from_millis(20)));
        }
        (t0, samples, interrupted, (cache_before, self.be.counters()))
    }
}

/// When the last worker stopped, ns since the measured phase began.
fn end_ns(outs: &[WorkerOut], t0: Instant) -> u64 {
    let end = outs.iter().map(|o| o.end).max().unwrap_or(t0);
    end.saturating_duration_since(t0).as_nanos() as u64
}

/// The progress bar's position and the last interval's throughput.
fn show_rate(bar: &ProgressBar, prev: Option<&Sample>, now: &Sample, at: Duration, block: u64) {
    let (ops0, t0) = prev.map(|p| (p.ops, p.t_ns)).unwrap_or((0, 0));
    let secs = (now.t_ns - t0).max(1) as f64 / 1e9;
    let rate = (now.ops - ops0) as f64 / secs;
    bar.set_position(at.as_millis() as u64);
    bar.set_message(format!(
        "{} ops/s  {}/s",
        units::format_count(rate),
        units::format_size((rate * block as f64) as u64)
    ));
}

/// The workers' results added up.
struct Merged {
    hist: Histogram<u64>,
    fault_hist: Option<Histogram<u64>>,
    ops: u64,
    verify_errors: u64,
    first_bad: Option<u64>,
    errors: Vec<String>,
    /// Failed operations counted under on_error = continue.
    io_errors: ErrorLog,
    end: Instant,
}

fn merge(outs: &[WorkerOut], t0: Instant) -> Merged {
    let mut m = Merged {
        hist: new_histogram(),
        fault_hist: None,
        ops: 0,
        verify_errors: 0,
        first_bad: None,
        errors: Vec::new(),
        io_errors: ErrorLog::default(),
        end: t0,
    };
    for o in outs {
        // Both histograms have the same bounds, so add cannot fail.
        let _ = m.hist.add(&o.hist);
        if let Some(fh) = &o.fault_hist {
            let _ = m.fault_hist.get_or_insert_with(new_histogram).add(fh);
        }
        m.ops += o.ops;
        m.verify_errors += o.verify_errors;
        m.first_bad = m.first_bad.or(o.first_bad_offset);
        m.io_errors.add(&o.errors);
        if let Some(e) = &o.error {
            if !m.errors.contains(e) {
                m.errors.push(e.clone());
            }
        }
        m.end = m.end.max(o.end);
    }
    m
}

/// The time series from consecutive samples, so it adds up to the totals exactly, and
/// the counters over the whole measured phase. `hists[i]` holds the latencies of the
/// interval between samples i and i + 1 (see `driver::interval`).
fn series(
    mut samples: Vec<Sample>,
    mut hists: Vec<Histogram<u64>>,
    ops: u64,
    w: &Workload,
) -> (Vec<Interval>, Counters) {
    // The final sample holds the true total; a sliver of an interval after the last
    // regular sample is folded into it rather than reported on its own.
    let interval_ns = w.interval.as_nanos() as u64;
    let n = samples.len();
    if n >= 3 && samples[n - 1].t_ns.saturating_sub(samples[n - 2].t_ns) < interval_ns / 10 {
        samples.remove(n - 2);
        if hists.len() == n - 1 {
            let sliver = hists.remove(n - 2);
            // Same bounds, so add cannot fail.
            let _ = hists[n - 3].add(&sliver);
        }
    }
    if let Some(last) = samples.last_mut() {
        last.ops = ops;
    }
    let timeseries = samples
        .windows(2)
        .zip(hists.iter().map(Some).chain(std::iter::repeat(None)))
        .map(|(p, h)| {
            let ops = p[1].ops.saturating_sub(p[0].ops);
            Interval {
                t_ns: p[1].t_ns,
                ops,
                bytes: ops * w.block,
                histogram: h.and_then(|h| crate::record::encode_histogram(h).ok()),
                counters: probe::delta(&p[0].reading, &p[1].reading, ops * w.block),
            }
        })
        .collect();
    let counters = match (samples.first(), samples.last()) {
        (Some(a), Some(b)) => probe::delta(&a.reading, &b.reading, ops * w.block),
        _ => Counters::default(),
    };
    (timeseries, counters)
}

/// Whether the workers attribute faults to operations: asked for, and every operation
/// timed (an untimed operation has no latency to attribute).
fn attributes(w: &Workload) -> bool {
    w.fault_attribution && w.timing == TimingMode::Every && !w.op.writes()
}

/// Why fault_ops and stall_ns are null, when they are.
fn attribution_reasons(reasons: &mut Reasons, w: &Workload, attributed: bool) {
    let why = if !w.fault_attribution {
        "fault attribution is off (fault_attribution = false)".to_string()
    } else if w.op.writes() {
        "fault attribution is not built into the write loop (op = write or mix); major_faults still counts them".to_string()
    } else if w.timing != TimingMode::Every {
        format!(
            "fault attribution needs every operation timed (timing = \"every\"); this run used {}",
            w.timing
        )
    } else if !attributed {
        reasons
            .get(CounterId::MajorFaults)
            .unwrap_or("no fault ring")
            .to_string()
    } else {
        return;
    };
    reasons.set(CounterId::FaultOps, why.clone());
    reasons.set(CounterId::StallNs, why);
}

/// Merge the workers' results into the cell's outcome.
fn finish(
    m: Measured,
    c: &Cell,
    queue_depth: u32,
    mut notes: Vec<String>,
    floor: Floor,
) -> Outcome {
    let w = c.workload;
    let merged = merge(&m.outs, m.t0);
    let elapsed_ns = merged.end.saturating_duration_since(m.t0).as_nanos() as u64;
    let hists = interval::by_interval(
        m.outs.iter().map(|o| &o.intervals[..]),
        m.samples.len().saturating_sub(1),
    );
    let (timeseries, counters) = series(m.samples, hists, merged.ops, w);
    let costs: Vec<(f64, usize)> = m.outs.iter().filter_map(|o| o.timing_cost).collect();
    let timing = timing_record(w.timing, floor, &costs, &merged.hist, m.clock_error_ppm);
    if let Some(off) = merged.first_bad {
        notes.push(format!(
            "{} reads returned the wrong bytes; the first at offset {off}",
            merged.verify_errors
        ));
    }
    if let Some(first) = merged.io_errors.first.first() {
        notes.push(format!(
            "{} operations failed and were counted (on_error = continue), kept out of the latency histogram; the first at offset {}: {}",
            merged.io_errors.count, first.offset, first.error
        ));
    }
    notes.extend(probe::cpu::busy_note(&counters, elapsed_ns));
    let mut reasons = m.reasons;
    attribution_reasons(&mut reasons, w, merged.fault_hist.is_some());
    if merged.fault_hist.is_some() {
        notes.push(probe::thread::attribution_note(w.fault_sample_period));
    }
    let (status, reason) = if m.interrupted {
        let secs = elapsed_ns as f64 / 1e9;
        let why = format!("interrupted by the user after {secs:.1} s");
        (Status::Failed, Some(why))
    } else if !merged.errors.is_empty() {
        (Status::Failed, Some(merged.errors.join("; ")))
    } else {
        (Status::Ok, None)
    };
    Outcome {
        status,
        reason,
        notes,
        threads: c.threads,
        queue_depth,
        ops: merged.ops,
        elapsed_ns,
        hist: Some(merged.hist),
        timeseries,
        verify_errors: merged.verify_errors,
        interrupted: m.interrupted,
        setup_ns: 0,
        counters,
        reasons,
        fault_hist: merged.fault_hist,
        timing: Some(timing),
        writes: None,
        io_errors: merged.io_errors.count,
        io_error_samples: merged.io_errors.first,
        error_hist: merged.io_errors.hist,
        regime: None,
        measure_start: std::time::SystemTime::now().checked_sub(m.t0.elapsed()),
    }
}

/// What the cell records about its timing.
fn timing_record(
    mode: TimingMode,
    floor: Floor,
    costs: &[(f64, usize)],
    hist: &Histogram<u64>,
    clock_error_ppm: Option<f64>,
) -> TimingRecord {
    let clock = Clock::get();
    let pairs: usize = costs.iter().map(|c| c.1).sum();
    let per_worker: Vec<f64> = costs.iter().map(|c| c.0).collect();
    let (overhead_ns, overhead_method) = match crate::stats::median(&per_worker) {
        Some(ns) if ns <= 0.0 => (
            floor.overhead_ns,
            format!(
                "the loop around an empty operation before the cell: the warm-up A/B on this \
                 cell's operation gave {ns:.0} ns ({pairs} slice pairs), so the operation's own \
                 variation (a cache still filling, other threads) hid timing's cost"
            ),
        ),
        Some(ns) => (
            ns,
            format!(
                "A/B on this cell's operation during the warm-up: this mode's loop against \
                 untimed groups, alternated, median of {pairs} slice pairs over {} thread(s)",
                costs.len()
            ),
        ),
        None => (
            floor.overhead_ns,
            "the loop around an empty operation before the cell (no warm-up A/B: \
             the backend runs its own loop, or the warm-up was too short)"
                .to_string(),
        ),
    };
    TimingRecord {
        mode: mode.to_string(),
        clock: clock.name().to_string(),
        clock_reason: timing::clock_reason().to_string(),
        overhead_ns,
        overhead_method: Some(overhead_method),
        empty_loop_ns: Some(floor.overhead_ns),
        floor_ns: floor.floor_ns,
        sampled_ops: hist.len(),
        clock_error_ppm,
    }
}
