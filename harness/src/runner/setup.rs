//! What a run sets up once, before its first cell, and undoes when it ends (every
//! guard here restores on drop, also on error): the data file or emulated device, the
//! memory cgroup of the page-cache limit, tracefs for the TLB tracepoint, the probes.

use super::cell;
use crate::datafile::{self, Target};
use crate::env::cgroup::MemCgroup;
use crate::env::fuse::FuseDevice;
use crate::env::global_reclaim::{self, Reservation};
use crate::env::zram::Zram;
use crate::env::Environment;
use crate::probe::{self, ProbeSet};
use crate::record::Outcome;
use crate::spec::{self, BackendSpec, Workload};
use crate::ui::Reporter;
use crate::units;
use anyhow::{bail, Context, Result};

pub struct Setup {
    /// The workload, with `size` resolved to the target's.
    pub workload: Workload,
    pub target: Target,
    pub env: Environment,
    pub probes: ProbeSet,
    /// The TLB tracepoint as found at setup (each cell opens it unless turned off).
    tlb: Result<probe::tlb::TlbTracepoint, String>,
    cgroup: Option<MemCgroup>,
    // Dropped last: tracefs unmounted and the emulated device removed after the cells.
    _tracefs: Option<probe::tlb::TracefsMount>,
    _zram: Option<Zram>,
    /// The fault-injecting FUSE device (unmounted when the setup is dropped).
    pub fuse: Option<FuseDevice>,
}

impl Setup {
    /// Prepare the data (generated file, the user's file, or a filled emulated device),
    /// check every backend against it, record the environment, create the memory
    /// cgroup and open the probes. Reports the header and setup notes to `ui`.
    pub fn prepare(mut w: Workload, ui: &dyn Reporter) -> Result<Setup> {
        let (target, zram, fuse) = prepare_data(&w, ui)?;
        w.size = target.size;
        for spec in &w.backends {
            crate::backend::preflight(spec, &target, &w).map_err(anyhow::Error::msg)?;
        }
        let env = Environment::collect(&target.path);
        ui.header(&header(&w, &target, &env));
        let cgroup = control_memory(&w, &env)?;
        if let Some(cg) = &cgroup {
            ui.note(&format!(
                "page cache limited to {} in memory cgroup {} ({})",
                units::format_size(cg.limit),
                cg.path().display(),
                cg.version
            ));
        }
        if let (spec::Reclaim::Global, Some(limit)) = (w.reclaim, w.page_cache_limit) {
            ui.note(&format!(
                "global reclaim: before each page-cache cell, huge pages are reserved so that about {} stays available machine-wide (page_cache_limit {} + safety margin {}), then given back",
                units::format_size(limit + global_reclaim::MARGIN),
                units::format_size(limit),
                units::format_size(global_reclaim::MARGIN)
            ));
        }
        let (tlb, tracefs) = match probe::tlb::setup() {
            Ok((t, m)) => (Ok(t), Some(m)),
            Err(e) => (Err(e), None),
        };
        let memory_stat = cgroup
            .as_ref()
            .map(|c| (c.path().join("memory.stat"), c.version));
        let probes = ProbeSet::new(&target.path, memory_stat, tlb.clone(), true);
        Ok(Setup {
            workload: w,
            target,
            env,
            probes,
            tlb,
            cgroup,
            _tracefs: tracefs,
            _zram: zram,
            fuse,
        })
    }

    /// Run one cell. Backends that use the page cache run inside the memory cgroup;
    /// those that bypass it (O_DIRECT, the buffer pool, whose budget is its pool) run
    /// outside, so their anonymous memory does not compete with the page-cache limit.
    pub fn run_cell(
        &mut self,
        spec: &BackendSpec,
        threads: usize,
        repeat: u32,
        ui: &dyn Reporter,
    ) -> Result<Outcome> {
        if self.workload.drop_caches {
            drop_all_caches()?;
        }
        self.configure_probes();
        let limited = spec.uses_page_cache();
        if let (Some(cg), true) = (self.cgroup.as_mut(), limited) {
            cg.enter()?;
        }
        // The global regime: the machine-wide limit is held for this cell only.
        let mut reservation = match (self.workload.reclaim, self.workload.page_cache_limit) {
            (spec::Reclaim::Global, Some(limit)) if limited => Some(
                Reservation::take(limit)
                    .context("cannot set up the global reclaim regime for this cell")?,
            ),
            _ => None,
        };
        let cell = cell::Cell {
            target: &self.target,
            workload: &self.workload,
            spec,
            threads,
            repeat,
            probes: &self.probes,
        };
        let served = self.fuse.as_ref().map(|f| f.stats.snapshot());
        let mut outcome = cell::run_cell(&cell, ui);
        if let (Some(f), Some(before)) = (&self.fuse, served) {
            outcome
                .notes
                .push(crate::env::fuse::stats_note(before, f.stats.snapshot()));
        }
        if let (Some(cg), true) = (self.cgroup.as_mut(), limited) {
            cg.leave()?;
        }
        if self.cgroup.is_some() && !limited {
            outcome
                .notes
                .push("ran outside the memory cgroup: it does not use the page cache".into());
        }
        let held = reservation.as_mut().map(|r| {
            let restored = r.release();
            (r.record.clone(), restored)
        });
        drop(reservation);
        if let Some((rec, restored)) = &held {
            outcome.notes.push(format!(
                "global reclaim: {} huge pages of {} reserved ({} asked, {} attempt(s)); MemAvailable {} -> {}; nr_hugepages {} restored to {}",
                rec.pages_reserved,
                units::format_size(rec.hugepage_size),
                rec.pages_asked,
                rec.attempts,
                units::format_size(rec.mem_available_before),
                units::format_size(rec.mem_available_after),
                rec.nr_hugepages_before,
                match restored {
                    Ok(n) => n.to_string(),
                    Err(e) => format!("? ({e})"),
                }
            ));
        }
        if self.workload.page_cache_limit.is_some() && outcome.ops > 0 {
            let reclaim = self.workload.reclaim;
            let (ok, why) = crate::record::regime::judge(reclaim, limited, &outcome.counters);
            outcome.regime = Some(crate::record::regime::RegimeCheck {
                reclaim: reclaim.to_string(),
                ok,
                why,
                reservation: held.map(|(r, _)| r),
            });
        }
        Ok(outcome)
    }
}

impl Setup {
    /// The per-thread probes the workload asks for (the probe-overhead mode turns them
    /// off one at a time between cells).
    fn configure_probes(&mut self) {
        let w = &self.workload;
        let tlb = match (&self.tlb, w.tlb_tracepoint) {
            (Ok(t), true) => Ok(t.clone()),
            (Err(e), _) => Err(e.clone()),
            (Ok(_), false) => Err("tlb:tlb_flush counting is off (tlb_tracepoint = false)".into()),
        };
        let reasons = &mut self.probes.static_reasons;
        match &tlb {
            Err(e) => reasons.replace(probe::CounterId::TlbFlushProcess, e.clone()),
            Ok(_) => reasons.clear(probe::CounterId::TlbFlushProcess),
        }
        self.probes.thread_cfg = probe::ThreadProbeConfig {
            faults: w.thread_counters,
            attribution: w.fault_attribution.then_some(w.fault_sample_period),
            tlb,
        };
    }
}

/// The target the cells read, and the emulated device holding it (if any).
fn prepare_data(
    w: &Workload,
    ui: &dyn Reporter,
) -> Result<(Target, Option<Zram>, Option<FuseDevice>)> {
    match &w.device {
        Some(spec::Device::Zram { size }) => {
            let z = Zram::create(size.unwrap_or(w.size))?;
            let t = datafile::fill_device(&z.dev, w.size, w.seed, ui)?;
            Ok((t, Some(z), None))
        }
        Some(spec::Device::Fuse(f)) => {
            let size = f.size.unwrap_or(w.size);
            let dev = FuseDevice::mount(f, size, datafile::page::file_tag(w.seed))?;
            ui.note(&format!(
                "fault-injecting device {} mounted at {}",
                dev.name(),
                dev.mountpoint.display()
            ));
            let t = datafile::fuse_target(&dev, w.size, w.seed);
            Ok((t, None, Some(dev)))
        }
        None => Ok((datafile::prepare(w, ui)?, None, None)),
    }
}

/// The memory cgroup for `page_cache_limit`, after checking the limit against RAM and
/// the rights to create it.
fn control_memory(w: &Workload, env: &Environment) -> Result<Option<MemCgroup>> {
    if w.drop_caches && crate::sys::uid() != 0 {
        bail!("--drop-caches needs root (it writes /proc/sys/vm/drop_caches); run as root or leave it out (the per-file cold start needs no root)");
    }
    let Some(limit) = w.page_cache_limit else {
        return Ok(None);
    };
    if w.reclaim == spec::Reclaim::Global {
        // No cgroup: the limit is machine-wide, reserved per cell. Refuse now what
        // would be refused at the first cell.
        global_reclaim::preflight(limit).context("cannot set up the page-cache limit")?;
        return Ok(None);
    }
    if let Some(mem) = env.memory_bytes {
        if limit >= mem {
            bail!(
                "page_cache_limit {} is not below this machine's memory ({}); use a smaller limit",
                units::format_size(limit),
                units::format_size(mem)
            );
        }
    }
    MemCgroup::create(limit)
        .map(Some)
        .context("cannot set up the page-cache limit")
}

/// sync, then drop the page cache, dentries and inodes of the whole machine.
fn drop_all_caches() -> Result<()> {
    // drop_caches only drops clean pages: write dirty ones back first.
    let _ = std::process::Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "3")
        .context("cannot write /proc/sys/vm/drop_caches (--drop-caches needs root)")
}

/// The run's header: what is read, how, from where.
fn header(w: &Workload, t: &Target, env: &Environment) -> String {
    let threads: Vec<String> = w.threads.iter().map(|n| n.to_string()).collect();
    let start = match w.start {
        spec::Start::Cold => "cold",
        spec::Start::Warm => "warm",
    };
    let made = match (t.created, t.create_secs) {
        (true, Some(secs)) => format!(", created in {secs:.1} s"),
        _ if t.origin == datafile::Origin::Generated => ", reused".to_string(),
        _ => String::new(),
    };
    let what = match w.op {
        spec::Op::Read => "reads".to_string(),
        spec::Op::Write => format!("writes (sync {}, {})", w.sync, w.sync_method),
        spec::Op::Mix => format!(
            "reads ({}%) and writes (sync {}, {})",
            w.read_pct, w.sync, w.sync_method
        ),
    };
    let mut s = format!(
        "faultline: workload `{}` ({}): {} {} {what} over {} with {} thread(s), {} per backend, {start} start\n  data: {} ({}{made}) on {} / {}",
        w.name,
        w.source,
        units::format_size(w.block),
        w.pattern.to_spec_string(),
        units::format_size(t.size),
        threads.join("/"),
        w.stop_text(),
        t.path.display(),
        t.origin,
        env.fs_type.as_deref().unwrap_or("?"),
        env.device.as_deref().unwrap_or("no block device"),
    );
    if !t.verifies() && !w.op.writes() {
        s.push_str(
            "\n  verification off: reading your file read-only, its content cannot be checked",
        );
    } else if !t.verifies() {
        s.push_str("\n  --allow-write: only the pages this run writes can be checked");
    }
    s
}
