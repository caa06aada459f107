//! A write cell's page-cache measurements, beside the probes: per interval the dirty
//! and write-back bytes (system-wide from /proc/vmstat and the memory cgroup's from
//! its memory.stat) and the writers' throttling in balance_dirty_pages; and once,
//! with every writer held before its final sync, which written pages the kernel had
//! already written back on its own.

use super::cell::Cell;
use crate::driver::final_sync::Gate;
use crate::driver::Shared;
use crate::probe::parse::CgroupVersion;
use crate::probe::writeback::{self, PageCount};
use crate::record::writes::{
    self as wrec, DirtySample, ObservedPages, Throttle, ThrottleSample, WriteResult, WrittenBack,
};
use crate::spec::SyncPolicy;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long the harness waits for the writers to reach the gate after it told them to
/// stop (a write can block on a slow device).
const GATE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Default)]
struct State {
    dirty: Vec<DirtySample>,
    dirty_err: Option<String>,
    cgroup_err: Option<String>,
    intervals: Vec<ThrottleSample>,
    throttle_err: Option<String>,
    lost_at_start: Option<u64>,
    pages: Option<Result<(PageCount, u64), String>>,
    /// With --hold-before-sync: (ns since the first look, count) once a second.
    observed: Vec<(u64, PageCount)>,
}

pub struct WriteProbes<'a> {
    c: &'a Cell<'a>,
    cgroup: Result<(PathBuf, CgroupVersion), String>,
    /// Set when the cell looks at the written pages before its final sync.
    pub gate: Option<Arc<Gate>>,
    /// Why it does not, otherwise.
    gate_reason: Option<String>,
    state: Mutex<State>,
}

impl<'a> WriteProbes<'a> {
    /// For a write cell; None for a read workload.
    pub fn new(c: &'a Cell<'a>) -> Option<WriteProbes<'a>> {
        let w = c.workload;
        if !w.op.writes() {
            return None;
        }
        let cgroup = match (&c.probes.cgroup_stat, c.spec.uses_page_cache()) {
            (Some(p), true) => Ok(p.clone()),
            (Some(_), false) => Err(
                "the cell ran outside the memory cgroup: its backend does not use the page cache"
                    .to_string(),
            ),
            (None, _) => Err("the run has no memory cgroup (no page_cache_limit)".to_string()),
        };
        let gate_reason = if !c.spec.uses_page_cache() {
            Some(format!(
                "{} does not write through the page cache: no written page is ever dirty there",
                c.spec.name
            ))
        } else if !matches!(w.sync, SyncPolicy::None | SyncPolicy::End) {
            Some(format!(
                "the program synced during the run (sync = {}): the pages it synced cannot be told apart from pages the kernel wrote back on its own",
                w.sync
            ))
        } else if !c.target.path.exists() {
            Some(format!(
                "{} is not a path this process can map",
                c.target.path.display()
            ))
        } else {
            None
        };
        Some(WriteProbes {
            c,
            cgroup,
            gate: gate_reason
                .is_none()
                .then(|| Arc::new(Gate::holding(w.hold_before_sync))),
            gate_reason,
            state: Mutex::new(State::default()),
        })
    }

    /// Whether every worker is at the gate or has returned (for a loop that waits for
    /// the workers to finish: those at the gate cannot).
    pub fn all_stopped(&self, shared: &Shared) -> bool {
        let at = self.gate.as_ref().map_or(0, |g| g.arrived());
        at > 0 && at + shared.finished() >= self.c.threads
    }

    /// One sample: `first` at the start of the measured phase (throttle events before
    /// it, in the warm-up, are dropped).
    pub fn sample(&self, t_ns: u64, first: bool) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        let (cg_dirty, cg_wb) = match &self.cgroup {
            Ok((p, v)) if s.cgroup_err.is_none() => match writeback::read_cgroup_dirty(p, *v) {
                Ok((d, w)) => (Some(d), Some(w)),
                Err(e) => {
                    s.cgroup_err = Some(e);
                    (None, None)
                }
            },
            _ => (None, None),
        };
        if s.dirty_err.is_none() {
            match wrec::read_dirty() {
                Ok((dirty_bytes, writeback_bytes)) => s.dirty.push(DirtySample {
                    t_ns,
                    dirty_bytes,
                    writeback_bytes,
                    cgroup_dirty_bytes: cg_dirty,
                    cgroup_writeback_bytes: cg_wb,
                }),
                Err(why) => s.dirty_err = Some(why),
            }
        }
        if s.throttle_err.is_some() {
            return;
        }
        let drained = match &self.c.probes.throttle {
            Err(e) => Err(e.clone()),
            Ok(t) => match t.lock() {
                Ok(mut t) => {
                    if first {
                        s.lost_at_start = t.lost();
                    }
                    t.drain()
                }
                Err(_) => Err("the trace reader was poisoned by a panic".into()),
            },
        };
        match drained {
            Ok(_) if first => {}
            Ok(throttle) => s.intervals.push(ThrottleSample { t_ns, throttle }),
            Err(e) => s.throttle_err = Some(e),
        }
    }

    /// After the workers were told to stop: wait until each one is at the gate (or has
    /// returned), look at the file's pages, open the gate.
    pub fn before_final_sync(&self, shared: &Shared, interrupted: bool) {
        let Some(g) = &self.gate else {
            return;
        };
        let n = self.c.threads;
        let all = g.wait_for(GATE_TIMEOUT, |at| at + shared.finished() >= n);
        let pages = if interrupted {
            Err("interrupted: the pages were not looked at".to_string())
        } else if !all {
            Err(format!(
                "the writers did not stop within {} s of the end of the measured phase",
                GATE_TIMEOUT.as_secs()
            ))
        } else if shared.any_failed() {
            Err("a writer failed: the pages were not looked at".to_string())
        } else if g.arrived() != n {
            // A backend that drives its own write loop (and syncs in it) never
            // stops at the gate: looking now would see its synced pages as written
            // back by the kernel.
            Err("the backend's write loop does not stop before its final sync, so the pages cannot be looked at before it".to_string())
        } else {
            let per_block = self.c.workload.block / crate::datafile::page::PAGE as u64;
            let written = g.take_written();
            let look = || {
                writeback::file_pages(&self.c.target.path, self.c.target.size)
                    .map(|(st, took)| (writeback::count(&st, &written, per_block), took))
            };
            let first = look().map(|(n, took)| (n, took.as_nanos() as u64));
            // --hold-before-sync: keep the writers held and look again once a second.
            let hold = self.c.workload.hold_before_sync;
            let mut observed = Vec::new();
            if first.is_ok() && !hold.is_zero() {
                let t0 = std::time::Instant::now();
                let mut next = Duration::from_secs(1);
                while t0.elapsed() < hold && !crate::interrupt::requested() {
                    let left = next.min(hold).saturating_sub(t0.elapsed());
                    std::thread::sleep(left.min(Duration::from_millis(100)));
                    if t0.elapsed() >= next.min(hold) {
                        if let Ok((n, _)) = look() {
                            observed.push((t0.elapsed().as_nanos() as u64, n));
                        }
                        next += Duration::from_secs(1);
                    }
                }
            }
            if let Ok(mut s) = self.state.lock() {
                s.observed = observed;
            }
            first
        };
        g.open();
        if let Ok(mut s) = self.state.lock() {
            s.pages = Some(pages);
        }
    }

    /// The write result so far (the read-back adds to it) and notes.
    pub fn result(&self) -> (WriteResult, Vec<String>) {
        let mut wr = WriteResult::default();
        let mut notes = Vec::new();
        let Ok(s) = self.state.lock() else {
            return (wr, notes);
        };
        wr.dirty = s.dirty.clone();
        if let Some(e) = &s.dirty_err {
            wr.reasons.insert("dirty".into(), e.clone());
        }
        match (&self.cgroup, &s.cgroup_err) {
            (Err(e), _) | (Ok(_), Some(e)) => {
                wr.reasons.insert("dirty.cgroup".into(), e.clone());
            }
            _ => {}
        }
        match &s.throttle_err {
            Some(e) => {
                wr.reasons.insert("dirty_throttle".into(), e.clone());
            }
            None => {
                let mut t = Throttle::default();
                for i in &s.intervals {
                    t.add(&i.throttle);
                }
                wr.dirty_throttle = Some(t);
                wr.dirty_throttle_intervals = s.intervals.clone();
                let lost = match (&self.c.probes.throttle, s.lost_at_start) {
                    (Ok(tr), Some(a)) => tr
                        .lock()
                        .ok()
                        .and_then(|t| t.lost())
                        .map(|b| b.saturating_sub(a)),
                    _ => None,
                };
                if let Some(n) = lost.filter(|&n| n > 0) {
                    notes.push(format!(
                        "the trace buffer dropped {n} events during the cell: dirty_throttle is a lower bound"
                    ));
                }
            }
        }
        match (&s.pages, &self.gate_reason) {
            (_, Some(why)) => {
                wr.reasons
                    .insert("written_back_before_sync".into(), why.clone());
            }
            (Some(Ok((p, scan_ns))), None) => {
                wr.written_back_observed = s
                    .observed
                    .iter()
                    .map(|(t_ns, o)| ObservedPages {
                        t_ns: *t_ns,
                        pages: o.clean + o.not_cached,
                        of_pages: o.pages,
                        dirty: o.dirty,
                        writeback: o.writeback,
                        not_cached: o.not_cached,
                    })
                    .collect();
                wr.written_back_before_sync = Some(WrittenBack {
                    pages: p.clean + p.not_cached,
                    of_pages: p.pages,
                    dirty: p.dirty,
                    writeback: p.writeback,
                    not_cached: p.not_cached,
                    scan_ns: *scan_ns,
                });
            }
            (Some(Err(e)), None) => {
                wr.reasons
                    .insert("written_back_before_sync".into(), e.clone());
            }
            (None, None) => {
                wr.reasons.insert(
                    "written_back_before_sync".into(),
                    "the cell ended before its writers reached the final sync".into(),
                );
            }
        }
        (wr, notes)
    }
}
