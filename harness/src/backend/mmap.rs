//! Reads through a shared, read-only mapping of the whole file (memmap2), with one
//! madvise(2) advice for the whole range, and optionally MAP_POPULATE and mlock(2). An
//! operation reads the block straight from the mapping: page faults, read-around and
//! eviction are the kernel's.

use super::{Backend, MemoryWorker, OpenCtx, OpenError, Worker};
use crate::spec::backend::{MmapAdvice, MmapOptions};
use crate::spec::Touch;
use crate::sys;
use memmap2::Advice;

pub struct Mmap {
    // Dropped before `map` and `_file`: unregister the range before it is unmapped and
    // its file closed.
    _sigbus: sys::sigbus::Registration,
    map: memmap2::Mmap,
    /// Kept open for SIGBUS recovery (`sys::sigbus::restore` maps a page from it again).
    _file: std::fs::File,
    block: usize,
    touch: Touch,
    notes: Vec<String>,
}

impl Mmap {
    pub fn open(ctx: &OpenCtx, o: &MmapOptions) -> Result<Mmap, OpenError> {
        let t = ctx.target;
        let file = t
            .open_read()
            .map_err(|e| OpenError::Failed(format!("{e:#}")))?;
        let len = usize::try_from(t.size).map_err(|_| {
            OpenError::Unavailable("the file is larger than the address space".into())
        })?;
        // The mapping covers exactly the bytes the workload reads: never more than the
        // file holds, so no access can fall past its end.
        let map = sys::map_readonly(&file, len, o.populate)
            .map_err(|e| OpenError::Failed(format!("mmap of {} failed: {e}", t.path.display())))?;
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
        // A truncated file or a failing device raises SIGBUS on access: recover it as
        // an error of this backend instead of a crash of the run (with the file, so a
        // failed page can be mapped again when the run continues after errors).
        let sigbus =
            sys::sigbus::register_file(map.as_ptr(), map.len(), &file, advice.map_or(0, |a| a.2))
                .map_err(|e| OpenError::Failed(format!("cannot install the SIGBUS handler: {e}")))?;
        if let Some((a, name, _)) = advice {
            map.advise(a).map_err(|e| {
                OpenError::Unavailable(format!(
                    "madvise({name}) on {} failed: {e}",
                    t.path.display()
                ))
            })?;
            notes.push(format!("madvise({name}) applied to the whole mapping"));
        }
        if o.populate {
            notes.push("mapped with MAP_POPULATE (the fill is not timed)".into());
        }
        if o.prefault {
            // One read per page, in order: the faults (and any I/O) happen now, before
            // the measured phase, as a program that pre-warms its mapping would do.
            let page = sys::page_size();
            let before = sys::sigbus::thread_hits();
            let mut x = 0u8;
            for i in (0..map.len()).step_by(page) {
                x ^= map[i];
            }
            std::hint::black_box(x);
            if sys::sigbus::thread_hits() != before {
                return Err(OpenError::Failed(
                    "SIGBUS while prefaulting the mapping: the file was truncated or the device failed a read".into(),
                ));
            }
            notes.push(
                "prefaulted: one byte of every page read before the run (not timed; see setup_ns)"
                    .into(),
            );
        }
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
            map.lock().map_err(|e| {
                OpenError::Unavailable(format!(
                    "mlock of {} bytes failed: {e}; raise the locked-memory limit (ulimit -l) or run as root",
                    len
                ))
            })?;
            notes.push("mlock(2) held the whole mapping in memory".into());
        }
        Ok(Mmap {
            _sigbus: sigbus,
            map,
            _file: file,
            block: ctx.workload.block as usize,
            touch: ctx.workload.touch,
            notes,
        })
    }
}

impl Backend for Mmap {
    fn worker(&self, _index: usize) -> Result<Box<dyn Worker + '_>, OpenError> {
        Ok(Box::new(MemoryWorker::new(
            &self.map, self.block, self.touch,
        )))
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}
