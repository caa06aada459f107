//! What a run sets up once, before its first cell, and undoes when it ends (every
//! guard here restores on drop, also on error): the data file or emulated device, the
//! memory cgroup of the page-cache limit, tracefs for the TLB tracepoint, the probes.

use super::cell;
use crate::datafile::database::{self, Database, Engine};
use crate::datafile::{self, Target};
use crate::env::blkio::{BlkioCgroup, CappedDevice};
use crate::env::cgroup::MemCgroup;
use crate::env::fuse::FuseDevice;
use crate::env::global_reclaim::{self, Reservation};
use crate::env::readahead::ReadAhead;
use crate::env::zram::Zram;
use crate::env::zramfs::ZramFs;
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
    // Before the devices: the harness leaves the blkio cgroup of the device cap (which
    // is removed), and read-ahead is restored.
    _blkio: Option<BlkioCgroup>,
    _readahead: Option<ReadAhead>,
    // Dropped last: tracefs unmounted and the emulated devices removed after the cells.
    _tracefs: Option<probe::tlb::TracefsMount>,
    /// The file system on the zram device (engines): unmounted before it is removed.
    _zramfs: Option<ZramFs>,
    _zram: Vec<Zram>,
    /// The fault-injecting FUSE device (unmounted when the setup is dropped).
    pub fuse: Option<FuseDevice>,
    /// The databases of the engine backends (sqlite, lmdb), beside the data file.
    pub dbs: Vec<Database>,
}

impl Setup {
    /// Prepare the data (generated file, the user's file, or a filled emulated device),
    /// check every backend against it, record the environment, create the memory
    /// cgroup and open the probes. Reports the header and setup notes to `ui`.
    pub fn prepare(mut w: Workload, ui: &dyn Reporter) -> Result<Setup> {
        let (target, zram, fuse, zramfs) = prepare_data(&w, ui)?;
        w.size = target.size;
        for spec in &w.backends {
            crate::backend::preflight(spec, &target, &w).map_err(anyhow::Error::msg)?;
        }
        let dbs = prepare_databases(&w, &target, ui)?;
        let (readahead, blkio, control) = control_devices(&w, &target)?;
        let mut env = Environment::collect(&target.path);
        add_devices(&mut env, &target, control);
        ui.header(&header(&w, &target, &env));
        if let Some(c) = &env.device_control {
            for n in c.notes() {
                ui.note(&n);
            }
        }
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
        let mut probes = ProbeSet::new(&target.paths(), memory_stat, tlb.clone(), true);
        if w.op.writes() {
            probes.throttle = match probe::tlb::root() {
                Some(root) => {
                    probe::dirty_throttle::ThrottleTrace::start(&root).map(std::sync::Mutex::new)
                }
                None => Err(tlb
                    .as_ref()
                    .err()
                    .cloned()
                    .unwrap_or_else(|| "tracefs is not mounted".into())),
            };
        }
        Ok(Setup {
            workload: w,
            target,
            env,
            probes,
            tlb,
            cgroup,
            _blkio: blkio,
            _readahead: readahead,
            _tracefs: tracefs,
            _zramfs: zramfs,
            _zram: zram,
            fuse,
            dbs,
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
        let db = engine_of(spec).and_then(|e| self.dbs.iter().find(|d| d.engine == e));
        let cell = cell::Cell {
            target: db.map_or(&self.target, |d| &d.target),
            workload: &self.workload,
            spec,
            threads,
            repeat,
            probes: &self.probes,
            db,
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
                "global reclaim: {} huge pages of {} reserved ({} asked, {} attempt(s)){}; MemAvailable {} -> {}; nr_hugepages {} restored to {}",
                rec.pages_reserved,
                units::format_size(rec.hugepage_size),
                rec.pages_asked,
                rec.attempts,
                if rec.locked_bytes > 0 {
                    format!(
                        " and {} of locked anonymous memory for the rest",
                        units::format_size(rec.locked_bytes)
                    )
                } else {
                    String::new()
                },
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

/// The engine whose database a backend reads, for the engine backends.
fn engine_of(spec: &BackendSpec) -> Option<Engine> {
    match spec.kind {
        spec::backend::BackendKind::Sqlite(_) => Some(Engine::Sqlite),
        spec::backend::BackendKind::Lmdb(_) => Some(Engine::Lmdb),
        _ => None,
    }
}

/// The databases the workload's engine backends read, generated (or reused) in the
/// directory of the generated data file, so they share its file system and device
/// (and the device probes see their reads). Without a generated data file (a --file,
/// a fuse device, raw or striped zram devices) there is no place for them: none are
/// made and the engine cells are skipped with the reason (`backend::sqlite::engine_db`).
fn prepare_databases(w: &Workload, t: &Target, ui: &dyn Reporter) -> Result<Vec<Database>> {
    let mut engines: Vec<Engine> = Vec::new();
    for e in w.backends.iter().filter_map(engine_of) {
        if !engines.contains(&e) {
            engines.push(e);
        }
    }
    let file_backed = matches!(
        t.origin,
        datafile::Origin::Generated | datafile::Origin::Zram
    ) && t.stripe.is_none()
        && t.path.is_file();
    if engines.is_empty() || !file_backed {
        return Ok(Vec::new());
    }
    let dir = t.path.parent().unwrap_or(std::path::Path::new("."));
    let mut dbs = Vec::new();
    for e in engines {
        let d = database::prepare(e, w, dir, t.origin, ui)
            .with_context(|| format!("cannot prepare the {} database", e.name()))?;
        ui.note(&d.note());
        dbs.push(d);
    }
    Ok(dbs)
}

/// The target the cells read, and the emulated devices holding it (if any).
#[allow(clippy::type_complexity)]
fn prepare_data(
    w: &Workload,
    ui: &dyn Reporter,
) -> Result<(Target, Vec<Zram>, Option<FuseDevice>, Option<ZramFs>)> {
    match &w.device {
        Some(spec::Device::Zram(z))
            if z.count == 1 && w.backends.iter().any(|b| b.kind.is_engine()) =>
        {
            // The engines' databases are files: a file system on the device holds
            // them and the data file (`env::zramfs`).
            let engines = w
                .backends
                .iter()
                .filter_map(engine_of)
                .fold(Vec::new(), |mut v, e| {
                    if !v.contains(&e) {
                        v.push(e);
                    }
                    v
                })
                .len();
            let need = crate::env::zramfs::needed(w.size, engines);
            if let Some(have) = z.size.filter(|&h| h < need) {
                bail!(
                    "the zram device ({}) is too small for the data file and the {engines} engine database(s) on a file system; use zram:{} or more, or leave the size out",
                    units::format_size(have),
                    units::format_size(need)
                );
            }
            let devs = Zram::create_set(1, z.size.unwrap_or(need))?;
            let fs = ZramFs::mount(&devs[0])?;
            ui.note(&format!(
                "zram device {} with an ext4 file system mounted at {}: the data file and the engines' databases are files on it",
                devs[0].name(),
                fs.dir.display()
            ));
            let mut on_fs = w.clone();
            on_fs.data_dir = fs.dir.clone();
            let mut t = datafile::prepare(&on_fs, ui)?;
            t.origin = datafile::Origin::Zram;
            Ok((t, devs, None, Some(fs)))
        }
        Some(spec::Device::Zram(z)) => {
            let each = z.size.unwrap_or_else(|| z.needed_per_device(w.size));
            let devs = Zram::create_set(z.count, each)?;
            let t = if devs.len() == 1 {
                datafile::fill_device(&devs[0].dev, w.size, w.seed, ui)?
            } else {
                let paths: Vec<_> = devs.iter().map(|d| d.dev.clone()).collect();
                ui.note(&format!(
                    "{} zram devices of {} each ({}), striped in units of {}",
                    devs.len(),
                    units::format_size(each),
                    devs.iter().map(Zram::name).collect::<Vec<_>>().join(", "),
                    units::format_size(z.stripe)
                ));
                datafile::fill_striped(&paths, z.stripe, w.size, w.seed, ui)?
            };
            Ok((t, devs, None, None))
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
            Ok((t, Vec::new(), Some(dev), None))
        }
        None => Ok((datafile::prepare(w, ui)?, Vec::new(), None, None)),
    }
}

/// The devices under test as sysfs disk names: the zram devices, or the physical disks
/// behind the data file.
fn devices_under_test(t: &Target) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for p in t.paths() {
        let (maj, min, _) = crate::probe::device::device_of_path(p).map_err(anyhow::Error::msg)?;
        let d = crate::probe::device::physical_disks(std::path::Path::new("/sys"), maj, min)
            .map_err(|e| anyhow::anyhow!("cannot find the disk that holds {}: {e}", p.display()))?;
        for n in d {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    Ok(names)
}

/// `MAJ:MIN` of a sysfs disk (/sys/block/NAME/dev).
fn disk_numbers(name: &str) -> Result<(u32, u32)> {
    let p = format!("/sys/block/{name}/dev");
    let text = std::fs::read_to_string(&p).with_context(|| format!("cannot read {p}"))?;
    let (a, b) = text
        .trim()
        .split_once(':')
        .ok_or_else(|| anyhow::anyhow!("{p}: not MAJ:MIN"))?;
    Ok((a.parse()?, b.parse()?))
}

/// Set read-ahead and the device cap for the run (each restored when its guard drops).
fn control_devices(
    w: &Workload,
    t: &Target,
) -> Result<(
    Option<ReadAhead>,
    Option<BlkioCgroup>,
    Option<crate::env::DeviceControl>,
)> {
    let cap = match &w.device {
        Some(spec::Device::Zram(z)) if !z.cap.is_empty() => Some(z.cap),
        Some(spec::Device::Zram(_)) => None,
        _ => w.device_cap,
    };
    if cap.is_none() && w.read_ahead_kb.is_none() && t.stripe.is_none() {
        return Ok((None, None, None));
    }
    if crate::sys::uid() != 0 {
        if cap.is_some() {
            bail!("a device cap needs root (it creates a blkio cgroup and moves the harness into it); run as root or leave the cap out");
        }
        if w.read_ahead_kb.is_some() {
            bail!("read_ahead_kb: setting a device's read-ahead needs root (it writes /sys/block/DISK/queue/read_ahead_kb); run as root or leave it out");
        }
    }
    let names = devices_under_test(t)
        .context("the device cap and read_ahead_kb need the block devices under test")?;
    if names.iter().any(|n| n == "zram0") {
        bail!("the data is on zram0, which this harness never changes (no cap, no read-ahead); use --device zram for devices of its own");
    }
    let mut control = crate::env::DeviceControl {
        devices: names.clone(),
        stripe_unit: t.stripe.as_ref().map(|s| s.unit),
        ..Default::default()
    };
    let readahead = match w.read_ahead_kb {
        Some(kb) => {
            let ra = ReadAhead::set(&names, kb).map_err(anyhow::Error::msg)?;
            control.read_ahead_kb = Some(kb);
            for n in &names {
                let before = ra
                    .changed
                    .iter()
                    .find(|(d, _)| d == n)
                    .map_or(kb, |(_, old)| *old);
                control.read_ahead_kb_before.insert(n.clone(), before);
            }
            Some(ra)
        }
        None => None,
    };
    let blkio = match cap {
        Some(cap) => {
            let mut devs = Vec::new();
            for n in &names {
                let (major, minor) = disk_numbers(n)?;
                devs.push(CappedDevice {
                    name: n.clone(),
                    major,
                    minor,
                    cap,
                });
            }
            let cg = BlkioCgroup::create(devs).context("cannot cap the device")?;
            control.cap = cg.devices.clone();
            control.cap_cgroup = Some(cg.path().display().to_string());
            control.cap_rules = cg.read_back();
            Some(cg)
        }
        None => None,
    };
    Ok((readahead, blkio, Some(control)))
}

/// Record the device control, and the queue settings of every device under test (the
/// environment's own disk list covers only the first part of a striped target).
fn add_devices(env: &mut Environment, t: &Target, control: Option<crate::env::DeviceControl>) {
    if t.stripe.is_some() {
        if let Some(c) = &control {
            for n in &c.devices {
                if !env.disks.iter().any(|d| &d.name == n) {
                    env.disks
                        .push(crate::env::disk_info(std::path::Path::new("/sys/block"), n));
                }
            }
        }
    }
    env.device_control = control;
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
