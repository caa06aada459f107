//! The backend contract. A backend is opened once per measured cell (before the clock
//! starts) and hands each worker thread its own `Worker`. One operation makes one block
//! at an offset readable by the CPU, reads it (`touch`), and returns the fold of the
//! page headers it saw (see `datafile::page`), so the runner can verify every read.
//!
//! Synchronous backends implement `Worker::read`; the runner's loop times each call.
//! Asynchronous backends (several operations in flight) override `Worker::run` and
//! drive the loop themselves through the same `Driver`. An external backend (fio) runs
//! a whole cell in its own processes: `open` returns it as an `External`, so the
//! runner treats every external tool alike and never names one.

pub mod budget;
pub mod bufferpool;
pub mod direct;
pub mod engine_writes;
pub mod fio;
pub mod hugepage;
pub mod lmdb;
pub mod mmap;
pub mod mock;
pub mod pread;
pub mod sqlite;
pub mod uring;
pub mod vmcache;

use crate::datafile::{page, Target};
use crate::driver::write::Writer;
use crate::driver::Driver;
use crate::record::Outcome;
use crate::spec::{backend::BackendKind, BackendSpec, SyncMethod, Touch, Workload};

/// Why a backend could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// This machine or file cannot run it (no O_DIRECT, mlock refused, ...): the result
    /// records status "skipped" with the reason. Never a silent fallback.
    Unavailable(String),
    /// It should have worked and did not: status "failed".
    Failed(String),
}

/// An error during a measured operation (I/O error, short read, SIGBUS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError(pub String);

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The words every "device full" error of a write starts with: the runner keeps the
/// data file marked (to be created again) after a write cell that failed with it.
pub const DISK_FULL: &str = "the device is full (ENOSPC)";

/// The error of a write or sync that found the device full.
#[cold]
pub fn disk_full(what: &str, offset: Option<u64>) -> OpError {
    let at = offset
        .map(|o| format!(" at offset {o}"))
        .unwrap_or_default();
    OpError(format!(
        "{DISK_FULL} during {what}{at}; free space on the data file's file system (or use a smaller --size) and run again"
    ))
}

/// What a backend needs to know when it is opened.
pub struct OpenCtx<'a> {
    pub target: &'a Target,
    pub workload: &'a Workload,
    pub threads: usize,
    /// The generated database an engine backend (sqlite, lmdb) reads; `target` is then
    /// its file. None for the other backends.
    pub db: Option<&'a crate::datafile::database::Database>,
}

pub trait Backend: Sync {
    /// Per-thread state, created on the worker's own thread before the start barrier.
    fn worker(&self, index: usize) -> Result<Box<dyn Worker + '_>, OpenError>;

    /// Facts about how the backend was set up, kept with its result (alignment used,
    /// advice applied, ...).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// Operations each worker keeps in flight (1 for synchronous backends).
    fn queue_depth(&self) -> u32 {
        1
    }

    /// Bytes of the backend's memory mapped with huge pages right now (smaps), for
    /// backends that use huge pages; `None` elsewhere or when it cannot be read.
    fn huge_page_bytes(&self) -> Option<u64> {
        None
    }
    /// After a write cell's workers stopped, before the backend is closed and the
    /// written pages are read back: write back what the backend still holds (the
    /// buffer pool's dirty frames). Ok carries a note for the result.
    fn finish_writes(&self) -> Result<Option<String>, String> {
        Ok(None)
    }

    /// After a write cell's workers stopped: an engine backend checks the rows written
    /// through the engine and puts the generated values back (`engine_writes`). None:
    /// the runner reads the data file's written pages back (`datafile::written`).
    fn check_written(&self) -> Option<engine_writes::EngineCheck> {
        None
    }

    /// Cache counters of a backend with its own cache (the buffer pool): cumulative
    /// since it was opened, summed over its threads; None for backends without one.
    /// Cheap (relaxed loads of per-thread counters), so a sampler may read it at every
    /// interval and take deltas; the runner reports the measured phase's delta in the
    /// notes (`cache_note`).
    fn counters(&self) -> Option<CacheCounters> {
        None
    }
}

/// Hits and misses of a backend's own cache, and its evictions where it counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCounters {
    /// Operations whose block was already cached (or being loaded by another thread).
    pub hits: u64,
    /// Operations that read their block from the file.
    pub misses: u64,
    /// Pages evicted (None: the backend does not count them).
    pub evictions: Option<u64>,
    /// Eviction batches (vmcache: each released with one MADV_DONTNEED call where the
    /// kernel allows it).
    pub eviction_batches: Option<u64>,
    /// System calls that released the batches' memory.
    pub release_calls: Option<u64>,
}

/// The note a run records for a backend's cache counters between two readings.
pub fn cache_note(before: Option<CacheCounters>, after: Option<CacheCounters>) -> Option<String> {
    let (b, a) = (before?, after?);
    let hits = a.hits.saturating_sub(b.hits);
    let misses = a.misses.saturating_sub(b.misses);
    let total = hits + misses;
    let ratio = if total > 0 {
        format!("{:.1}%", 100.0 * hits as f64 / total as f64)
    } else {
        "n/a".to_string()
    };
    let mut note =
        format!("cache in the measured phase: {hits} hits, {misses} misses, hit ratio {ratio}");
    let delta = |a: Option<u64>, b: Option<u64>| Some(a?.saturating_sub(b?));
    if let Some(e) = delta(a.evictions, b.evictions) {
        note.push_str(&format!(", {e} evictions"));
    }
    if let Some(n) = delta(a.eviction_batches, b.eviction_batches) {
        note.push_str(&format!(" in {n} batches"));
        if let Some(c) = delta(a.release_calls, b.release_calls) {
            note.push_str(&format!(" released with {c} system calls"));
        }
    }
    Some(note)
}

/// The note on TLB shootdowns per eviction batch of a backend that evicts in batches
/// (vmcache), from its counters over the measured phase and the cell's shootdown
/// counters: the system-wide TLB interrupts, and the measured threads' own
/// tlb:tlb_flush events, each divided by the batches; unavailable counters are said so
/// with their reason.
pub fn batch_shootdown_note(
    before: Option<CacheCounters>,
    after: Option<CacheCounters>,
    system: Option<u64>,
    system_reason: Option<&str>,
    process: Option<u64>,
    process_reason: Option<&str>,
) -> Option<String> {
    let batches = after?
        .eviction_batches?
        .checked_sub(before?.eviction_batches?)?;
    if batches == 0 {
        return Some(
            "TLB shootdowns per eviction batch: no batch was evicted in the measured phase".into(),
        );
    }
    let per = |v: Option<u64>, why: Option<&str>| match v {
        Some(v) => format!("{:.2} ({v} / {batches})", v as f64 / batches as f64),
        None => format!("unavailable ({})", why.unwrap_or("not read")),
    };
    Some(format!(
        "TLB shootdowns per eviction batch: {} system-wide (/proc/interrupts TLB row), {} by the measured threads (tlb:tlb_flush)",
        per(system, system_reason),
        per(process, process_reason)
    ))
}

pub trait Worker {
    /// One operation on the block at `offset`: returns the fold of page headers.
    fn read(&mut self, offset: u64) -> Result<u64, OpError>;

    /// Write `data` (one block) at `offset`. Only called for write workloads, on
    /// backends that `write_support` accepted.
    fn write(&mut self, offset: u64, _data: &[u8]) -> Result<(), OpError> {
        Err(OpError(format!(
            "this backend cannot write (offset {offset})"
        )))
    }

    /// Make this worker's writes durable with `method` (see `SyncMethod`).
    fn sync(&mut self, method: SyncMethod) -> Result<(), OpError> {
        Err(OpError(format!("this backend cannot sync with {method}")))
    }

    /// The measured loop. The default times each `read`; asynchronous backends override
    /// it. Compiled per backend, so `read` is called directly.
    fn run(&mut self, drv: &mut Driver) -> Result<(), OpError> {
        drv.run_sync(self)
    }

    /// The measured loop of a write workload (op = write or mix). The default runs the
    /// writer's synchronous loop over `read`, `write` and `sync`; asynchronous backends
    /// override it to keep several operations in flight through the same `Writer`.
    fn run_writes(&mut self, drv: &mut Driver, wr: &mut Writer) -> Result<(), OpError> {
        wr.run(drv, self)
    }
}

/// A backend that runs a whole cell in processes of its own (fio). The harness cannot
/// time its operations or see its threads: it reads its system-wide probes around the
/// cell, and the tool reports throughput, latency and intervals itself.
pub trait External {
    /// The tool's name, for messages ("fio").
    fn name(&self) -> &'static str;
    /// Run the cell; every problem becomes a skipped or failed outcome with its reason.
    fn run_cell(&self, ctx: &OpenCtx) -> Outcome;
}

/// An opened backend: workers in this process, or an external tool.
pub enum Opened<'a> {
    InProcess(Box<dyn Backend + 'a>),
    External(Box<dyn External + 'a>),
}

/// Whether a backend can run a write workload (op = write or mix) with its sync
/// method; `Err` is the reason it is skipped. A read workload is always accepted.
pub fn write_support(kind: &BackendKind, w: &Workload) -> Result<(), String> {
    if !w.op.writes() {
        return Ok(());
    }
    let m = w.sync_method;
    let file_sync = |name: &str| {
        if m.maps() {
            Err(format!(
                "{name} has no mapping to {m}; use sync_method = fdatasync, fsync or sync_file_range"
            ))
        } else {
            Ok(())
        }
    };
    match kind {
        BackendKind::Pread => file_sync("pread"),
        BackendKind::Direct => file_sync("direct"),
        BackendKind::Mmap(_) => Ok(()),
        // fio's translation (`fio::plan`) refuses what it cannot express.
        BackendKind::Fio(_) => Ok(()),
        BackendKind::Hugepage(_) => Err(
            "hugepage is read-only (it maps or copies the file into huge pages, which are not written back to the file)"
                .into(),
        ),
        BackendKind::Uring(_) => file_sync("uring"),
        BackendKind::Bufferpool(_) => file_sync("bufferpool"),
        BackendKind::Vmcache(_) => file_sync("vmcache"),
        BackendKind::Mock(_) => Err("mock does not write (it models reads only)".into()),
        // The sync method, the pattern and (sqlite) the thread count: checked when
        // the engine is opened (`engine_writes::refusal`), which knows the cell's threads.
        BackendKind::Sqlite(_) | BackendKind::Lmdb(_) => Ok(()),
    }
}

/// Open the backend a spec names.
pub fn open<'a>(spec: &'a BackendSpec, ctx: &OpenCtx<'a>) -> Result<Opened<'a>, OpenError> {
    write_support(&spec.kind, ctx.workload).map_err(OpenError::Unavailable)?;
    let b: Box<dyn Backend + 'a> = match &spec.kind {
        BackendKind::Pread => Box::new(pread::Pread::open(ctx)?),
        BackendKind::Direct => Box::new(direct::Direct::open(ctx)?),
        BackendKind::Mmap(o) => Box::new(mmap::Mmap::open(ctx, o)?),
        BackendKind::Hugepage(o) => Box::new(hugepage::HugePage::open(ctx, o)?),
        BackendKind::Fio(o) => return Ok(Opened::External(Box::new(fio::Fio { options: o }))),
        BackendKind::Uring(o) => Box::new(uring::Uring::open(ctx, o)?),
        BackendKind::Bufferpool(o) => Box::new(bufferpool::Bufferpool::open(ctx, o)?),
        BackendKind::Vmcache(o) => Box::new(vmcache::Vmcache::open(ctx, o)?),
        BackendKind::Sqlite(o) => Box::new(sqlite::Sqlite::open(ctx, o)?),
        BackendKind::Lmdb(o) => Box::new(lmdb::Lmdb::open(ctx, o)?),
        BackendKind::Mock(o) => Box::new(mock::Mock::open(ctx, o)?),
    };
    Ok(Opened::InProcess(b))
}

/// Cheap checks of the user's input against the target, run before anything is
/// measured, so a long run does not fail half way for a reason known at the start.
pub fn preflight(spec: &BackendSpec, target: &Target, w: &Workload) -> Result<(), String> {
    match &spec.kind {
        BackendKind::Direct => direct::preflight(&target.path, w.block)
            .map_err(|e| format!("backend `{}`: {e}", spec.name)),
        _ => Ok(()),
    }
}

/// A worker's descriptors of the target: one per file or device it is stored on, with
/// the stripe map from logical offsets to (device, device offset). One device: the
/// map is the identity behind one predictable branch.
pub struct Files {
    files: Vec<std::fs::File>,
    stripe: crate::datafile::stripe::Stripe,
}

impl Files {
    /// Open every part of `target` with `open`.
    pub fn open(
        target: &Target,
        mut open: impl FnMut(&std::path::Path) -> Result<std::fs::File, OpenError>,
    ) -> Result<Files, OpenError> {
        let files = target
            .paths()
            .into_iter()
            .map(&mut open)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Files {
            files,
            stripe: target.stripe_map(),
        })
    }

    /// The descriptor and device offset of logical offset `off`.
    #[inline(always)]
    pub fn at(&self, off: u64) -> (&std::fs::File, u64) {
        let (d, o) = self.stripe.locate(off);
        (&self.files[d], o)
    }

    /// The first (with one device: the only) descriptor.
    pub fn first(&self) -> &std::fs::File {
        &self.files[0]
    }

    pub fn all(&self) -> &[std::fs::File] {
        &self.files
    }
}

/// The note of a striped target, for backends' notes.
pub fn stripe_note(target: &Target) -> Option<String> {
    target.stripe.as_ref().map(|s| {
        format!(
            "striped over {} devices ({}) in units of {}: one descriptor or mapping per device",
            s.devices.len(),
            s.devices
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            crate::units::format_size(s.unit)
        )
    })
}

/// A worker that reads blocks straight from memory: a file mapping (`mmap`, `hugepage`
/// thp) or a region the data was loaded into. For a file mapping registered for SIGBUS
/// recovery (`sys::sigbus`), a SIGBUS during the read becomes this operation's error
/// (and, for a mapping registered with its file, the failed page is mapped from the
/// file again, so a run that continues after errors reads it from the device again).
pub struct MemoryWorker<'a> {
    pub data: &'a [u8],
    pub block: usize,
    pub touch: Touch,
    /// `sys::sigbus::thread_hits()` of this worker's thread after its last operation.
    pub sigbus_seen: u64,
}

impl<'a> MemoryWorker<'a> {
    pub fn new(data: &'a [u8], block: usize, touch: Touch) -> MemoryWorker<'a> {
        MemoryWorker {
            data,
            block,
            touch,
            sigbus_seen: crate::sys::sigbus::thread_hits(),
        }
    }
}

impl MemoryWorker<'_> {
    /// Read the block at `at` in this mapping, verified as the block at logical offset
    /// `offset` (the same with one device; a stripe's mapping holds other offsets).
    #[inline(always)]
    pub fn read_mapped(&mut self, at: u64, offset: u64) -> Result<u64, OpError> {
        let start = at as usize;
        let block = self
            .data
            .get(start..start + self.block)
            .ok_or_else(|| OpError(format!("offset {offset} is outside the mapping")))?;
        let fold = consume(block, offset, self.touch);
        if crate::sys::sigbus::thread_hits() != self.sigbus_seen {
            self.sigbus_seen = crate::sys::sigbus::thread_hits();
            return Err(sigbus_error(self.data, at));
        }
        Ok(fold)
    }
}

impl Worker for MemoryWorker<'_> {
    #[inline(always)]
    fn read(&mut self, offset: u64) -> Result<u64, OpError> {
        self.read_mapped(offset, offset)
    }
}

/// A worker reading from one mapping per device of a striped target.
pub struct StripedMemoryWorker<'a> {
    pub parts: Vec<MemoryWorker<'a>>,
    pub stripe: crate::datafile::stripe::Stripe,
}

impl Worker for StripedMemoryWorker<'_> {
    #[inline(always)]
    fn read(&mut self, offset: u64) -> Result<u64, OpError> {
        let (d, at) = self.stripe.locate(offset);
        self.parts[d].read_mapped(at, offset)
    }
}

#[cold]
fn sigbus_error(data: &[u8], offset: u64) -> OpError {
    let addr = crate::sys::sigbus::thread_last_addr();
    let base = data.as_ptr() as usize;
    let at = if addr >= base && addr < base + data.len() {
        format!("file offset {}", addr - base)
    } else {
        format!("address {addr:#x}")
    };
    // Map the failed page from the file again (mappings registered with their file);
    // otherwise the zero page the handler left stays.
    let _ = crate::sys::sigbus::restore(addr);
    OpError(format!(
        "SIGBUS while reading the block at offset {offset} (fault at {at}): the mapped file was truncated or the device failed the read"
    ))
}

/// Read a block that is now in memory, as `touch` asks, and return its header fold.
#[inline(always)]
pub fn consume(data: &[u8], offset: u64, touch: Touch) -> u64 {
    let fold = page::fold_headers(data, offset);
    if touch == Touch::All {
        std::hint::black_box(page::touch_all(data));
    }
    fold
}
