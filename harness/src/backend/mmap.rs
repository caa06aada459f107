//! Reads through a shared, read-only mapping of the whole file (memmap2), with one
//! madvise(2) advice for the whole range, and optionally MAP_POPULATE and mlock(2). An
//! operation reads the block straight from the mapping: page faults, read-around and
//! eviction are the kernel's.
//!
//! A write workload maps the file shared and writable instead: a write stores the block
//! into the mapping, a sync is msync (MS_SYNC or MS_ASYNC) of the whole mapping or
//! fdatasync/fsync/sync_file_range of the file; the kernel may write dirty pages back
//! at any time before.

use super::{Backend, MemoryWorker, OpError, OpenCtx, OpenError, Worker};
use crate::spec::backend::{MmapAdvice, MmapOptions};
use crate::spec::{SyncMethod, Touch};
use crate::sys;
use memmap2::Advice;
use std::fs::File;

pub struct Mmap {
    /// One mapping per file or device the target is stored on (one unless striped).
    parts: Vec<Part>,
    stripe: crate::datafile::stripe::Stripe,
    block: usize,
    touch: Touch,
    notes: Vec<String>,
}

/// One mapped file or device.
struct Part {
    // Dropped before `map` and `file`: unregister the range before it is unmapped and
    // its file closed.
    _sigbus: sys::sigbus::Registration,
    map: Map,
    /// The file: kept open for SIGBUS recovery (`sys::sigbus::restore` maps a page from
    /// it again), and open read-write for write workloads (fdatasync and friends).
    file: File,
}

impl Mmap {
    pub fn open(ctx: &OpenCtx, o: &MmapOptions) -> Result<Mmap, OpenError> {
        let t = ctx.target;
        let writes = ctx.workload.op.writes();
        let stripe = t.stripe_map();
        let mut notes = Vec::new();
        let advice = match o.advice {
            MmapAdvice::Normal => None,
            MmapAdvice::Random => Some((Advice::Random, "MADV_RANDOM", libc::MADV_RANDOM)),
            MmapAdvice::Sequential => {
                Some((Advice::Sequential, "MADV_SEQUENTIAL", libc::MADV_SEQUENTIAL))
            }
            MmapAdvice::Willneed => Some((Advice::WillNeed, "MADV_WILLNEED", 0)),
            MmapAdvice::Hugepage => Some((Advice::HugePage, "MADV_HUGEPAGE", libc::MADV_HUGEPAGE)),
            MmapAdvice::Nohugepage => {
                Some((Advice::NoHugePage, "MADV_NOHUGEPAGE", libc::MADV_NOHUGEPAGE))
            }
        };
        if o.lock {
            if let Some(limit) = ctx.workload.page_cache_limit {
                if t.size + t.size / 16 > limit {
                    return Err(OpenError::Unavailable(format!(
                        "`lock` pins all {} of the file in memory, which does not fit page_cache_limit {}: the memory cgroup would kill the run; drop `lock` or the limit",
                        crate::units::format_size(t.size),
                        crate::units::format_size(limit)
                    )));
                }
            }
        }
        let mut parts = Vec::new();
        for (d, path) in t.paths().into_iter().enumerate() {
            let len = usize::try_from(stripe.bytes_on(d, t.size)).map_err(|_| {
                OpenError::Unavailable("the file is larger than the address space".into())
            })?;
            parts.push(map_part(path, len, writes, o, advice)?);
        }
        if let Some((_, name, _)) = advice {
            notes.push(format!("madvise({name}) applied to the whole mapping"));
        }
        if o.populate {
            notes.push("mapped with MAP_POPULATE (the fill is not timed)".into());
        }
        if o.prefault {
            notes.push(
                "prefaulted: one byte of every page read before the run (not timed; see setup_ns)"
                    .into(),
            );
        }
        if o.lock {
            notes.push("mlock(2) held the whole mapping in memory".into());
        }
        if writes {
            notes.push("mapped shared and writable (MAP_SHARED, PROT_WRITE): writes are stores into the mapping".into());
        }
        notes.extend(super::stripe_note(t));
        Ok(Mmap {
            parts,
            stripe,
            block: ctx.workload.block as usize,
            touch: ctx.workload.touch,
            notes,
        })
    }
}

/// Map `len` bytes of `path` as the options ask: advice, SIGBUS recovery, prefault,
/// mlock.
fn map_part(
    path: &std::path::Path,
    len: usize,
    writes: bool,
    o: &MmapOptions,
    advice: Option<(Advice, &str, i32)>,
) -> Result<Part, OpenError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(writes)
        .open(path)
        .map_err(|e| {
            let how = if writes { " to write" } else { "" };
            OpenError::Failed(format!("cannot open {}{how}: {e}", path.display()))
        })?;
    // The mapping covers exactly the bytes the workload reads: never more than the
    // file holds, so no access can fall past its end.
    let map = if writes {
        sys::write::SharedMap::new(&file, len, o.populate).map(Map::Rw)
    } else {
        sys::map_readonly(&file, len, o.populate).map(Map::Ro)
    }
    .map_err(|e| OpenError::Failed(format!("mmap of {} failed: {e}", path.display())))?;
    // A truncated file or a failing device raises SIGBUS on access: recover it as
    // an error of this backend instead of a crash of the run (with the file, so a
    // failed page can be mapped again when the run continues after errors).
    // A writable mapping is not mapped again page by page (a restored page would be
    // read-only): its SIGBUS is recovered as an error only.
    let (ptr, n) = (map.bytes().as_ptr(), map.bytes().len());
    let sigbus = match &map {
        Map::Ro(_) => sys::sigbus::register_file(ptr, n, &file, advice.map_or(0, |a| a.2)),
        Map::Rw(_) => sys::sigbus::register(ptr, n),
    }
    .map_err(|e| OpenError::Failed(format!("cannot install the SIGBUS handler: {e}")))?;
    if let Some((a, name, _)) = advice {
        map.advise(a).map_err(|e| {
            OpenError::Unavailable(format!("madvise({name}) on {} failed: {e}", path.display()))
        })?;
    }
    if o.prefault {
        // One read per page, in order: the faults (and any I/O) happen now, before
        // the measured phase, as a program that pre-warms its mapping would do.
        let page = sys::page_size();
        let before = sys::sigbus::thread_hits();
        let mut x = 0u8;
        let bytes = map.bytes();
        for i in (0..bytes.len()).step_by(page) {
            x ^= bytes[i];
        }
        std::hint::black_box(x);
        if sys::sigbus::thread_hits() != before {
            return Err(OpenError::Failed(
                "SIGBUS while prefaulting the mapping: the file was truncated or the device failed a read".into(),
            ));
        }
    }
    if o.lock {
        map.lock().map_err(|e| {
            OpenError::Unavailable(format!(
                "mlock of {} bytes failed: {e}; raise the locked-memory limit (ulimit -l) or run as root",
                len
            ))
        })?;
    }
    Ok(Part {
        _sigbus: sigbus,
        map,
        file,
    })
}

/// The mapping: read-only for read workloads, shared and writable for write workloads.
enum Map {
    Ro(memmap2::Mmap),
    Rw(sys::write::SharedMap),
}

impl Map {
    fn bytes(&self) -> &[u8] {
        match self {
            Map::Ro(m) => m,
            Map::Rw(m) => m.bytes(),
        }
    }

    fn advise(&self, a: Advice) -> std::io::Result<()> {
        match self {
            Map::Ro(m) => m.advise(a),
            Map::Rw(m) => m.advise(a),
        }
    }

    fn lock(&self) -> std::io::Result<()> {
        match self {
            Map::Ro(m) => m.lock(),
            Map::Rw(m) => m.lock(),
        }
    }
}

/// A worker of a write workload: reads from the mapping, stores into it, syncs.
struct MmapWriteWorker<'a> {
    reader: MemoryWorker<'a>,
    map: &'a sys::write::SharedMap,
    file: &'a File,
}

impl Worker for MmapWriteWorker<'_> {
    #[inline]
    fn read(&mut self, offset: u64) -> Result<u64, OpError> {
        self.reader.read(offset)
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), OpError> {
        self.map.store(offset as usize, data).map_err(OpError)?;
        if sys::sigbus::hits() != self.reader.sigbus_seen {
            return Err(OpError(format!(
                "SIGBUS while storing the block at offset {offset}: the file was truncated, the device failed, or it is full"
            )));
        }
        Ok(())
    }

    fn sync(&mut self, method: SyncMethod) -> Result<(), OpError> {
        let r = match method {
            SyncMethod::Msync => self.map.flush(),
            SyncMethod::MsyncAsync => self.map.flush_async(),
            SyncMethod::Fdatasync => self.file.sync_data(),
            SyncMethod::Fsync => self.file.sync_all(),
            SyncMethod::SyncFileRange => sys::write::sync_file_range(self.file),
        };
        r.map_err(|e| OpError(format!("{method} failed: {e}")))
    }
}

impl Backend for Mmap {
    fn worker(&self, _index: usize) -> Result<Box<dyn Worker + '_>, OpenError> {
        if self.parts.len() > 1 {
            // Striped (read workloads only: the workload check refuses writes).
            return Ok(Box::new(super::StripedMemoryWorker {
                parts: self
                    .parts
                    .iter()
                    .map(|p| MemoryWorker::new(p.map.bytes(), self.block, self.touch))
                    .collect(),
                stripe: self.stripe,
            }));
        }
        let p = &self.parts[0];
        let reader = MemoryWorker::new(p.map.bytes(), self.block, self.touch);
        match &p.map {
            Map::Rw(map) => Ok(Box::new(MmapWriteWorker {
                reader,
                map,
                file: &p.file,
            })),
            Map::Ro(_) => Ok(Box::new(reader)),
        }
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}
