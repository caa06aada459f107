//! `bufferpool`: what the mmap critique recommends instead of mmap, a DBMS-style
//! user-space page cache. A fixed number of page frames (`pool=SIZE`, one page = one
//! workload block) over O_DIRECT reads; a lock-free page table; clock (second-chance)
//! eviction; per-frame latches (pin count + exclusive bit) so that a hit takes no lock
//! and a frame being refilled is never read as another page. See `pool` for the
//! protocol, `table` for the page table and `sys::frames` for the latch.
//!
//! A hit of a read workload reads the block in place optimistically: no pin, the frame's
//! version checked after the read (`sys::frames`); a hit of a write workload reads it
//! under a pin, as a DBMS reads a page it has fixed; a miss reads the block from the file into a frame with `pread(2)` on the
//! worker's own O_DIRECT descriptor. Hits and misses are counted per thread and
//! published (relaxed stores, like `runner::Progress`) through `Backend::counters`.
//!
//! A write workload's write copies the block into its page's frame (latched
//! exclusively; a missing page takes a frame without being read, the write covers it)
//! and marks the frame dirty. A dirty frame is written back with `pwrite(2)` (O_DIRECT)
//! by whichever thread evicts it, before the frame is reused; a thread's sync writes
//! back every frame it dirtied since its last sync that is still dirty, then calls the
//! sync method's system call on its descriptor. When the cell ends, the frames still
//! dirty (sync = none) are written back before the pool is closed, untimed
//! (`Backend::finish_writes`), as a DBMS flushes its pool at shutdown.

mod pool;
mod table;

use super::direct::{alignment, open_direct};
use super::pread::{open_file, read_block, sync_file, write_block};
use super::{consume, Backend, CacheCounters, Files, OpError, OpenCtx, OpenError, Worker};
use crate::datafile::page;
use crate::datafile::Target;
use crate::spec::backend::BufferpoolOptions;
use crate::spec::{SyncMethod, Touch};
use crate::sys::frames::OptimisticView;
use crate::units;
use pool::{Access, Pool, PoolError};
use std::sync::atomic::{AtomicU64, Ordering};

/// One worker's hit and miss counts, on its own cache line.
#[repr(align(128))]
#[derive(Default)]
struct ThreadCounters {
    hits: AtomicU64,
    misses: AtomicU64,
}

pub struct Bufferpool {
    target: Target,
    block: usize,
    writes: bool,
    touch: Touch,
    pool: Pool,
    counters: Box<[ThreadCounters]>,
    notes: Vec<String>,
}

impl Bufferpool {
    pub fn open(ctx: &OpenCtx, o: &BufferpoolOptions) -> Result<Bufferpool, OpenError> {
        let path = ctx.target.path.clone();
        let file = open_direct(&path)?;
        let (mem_align, offset_align, source) = alignment(&file).map_err(OpenError::Unavailable)?;
        let block = ctx.workload.block;
        if !block.is_multiple_of(offset_align) {
            return Err(OpenError::Unavailable(format!(
                "block {} is not a multiple of the direct I/O alignment {} B of {} (from {source}); \
                 the buffer pool's pages are blocks read with O_DIRECT: use a block of {} or a \
                 multiple of it",
                units::format_size(block),
                offset_align,
                path.display(),
                units::format_size(offset_align)
            )));
        }
        let nblocks = ctx.target.size / block;
        if nblocks > table::MAX_PAGE {
            return Err(OpenError::Unavailable(format!(
                "the file has {nblocks} blocks; the page table holds block numbers up to {}",
                table::MAX_PAGE
            )));
        }
        // The same memory budget as the page cache gets: the fair alternative to mmap.
        let super::budget::Budget {
            blocks: frames,
            bytes: pool_bytes,
            source: pool_source,
            mut notes,
        } = super::budget::budget(ctx, o.pool, block, nblocks, "the buffer pool", "frames")?;
        let threads = ctx.threads.max(1) as u64;
        if frames > table::MAX_FRAMES as u64 {
            return Err(OpenError::Unavailable(format!(
                "pool {} would need {frames} frames of {}; the page table addresses at most {}",
                units::format_size(pool_bytes),
                units::format_size(block),
                table::MAX_FRAMES
            )));
        }
        let align = mem_align.max(1).next_power_of_two();
        let frame_len = (block as usize).next_multiple_of(align);
        let pool = Pool::new(frames as usize, frame_len, align).map_err(|e| {
            OpenError::Failed(format!(
                "cannot allocate {frames} frames of {}: {e}",
                units::format_size(frame_len as u64)
            ))
        })?;
        let writes = ctx.workload.op.writes();
        notes.insert(
            0,
            format!(
                "buffer pool: {frames} frames of {} = {} ({pool_source}{}), clock eviction, \
                 lock-free hits read in place {}; misses pread(2) on O_DIRECT \
                 (buffer and offsets aligned to {mem_align}/{offset_align} B from {source}); {}",
                units::format_size(block),
                units::format_size(frames * block),
                o.pool.map(units::format_size).unwrap_or_default(),
                if writes {
                    "under a pin (a write workload)"
                } else {
                    "optimistically (no pin; the frame's version checked after the read)"
                },
                pool.backing(),
            ),
        );
        if o.prefault {
            let loaded = prefault(&pool, ctx.target, block as usize, frames)?;
            notes.push(format!(
                "prefault: blocks 0..{loaded} read into the pool at open (untimed, in setup_ns)"
            ));
        }
        if writes {
            notes.push(
                "writes: copied into the page's frame (dirty); dirty frames written back with pwrite(2) on eviction, the thread's own dirty frames at each sync before the sync's system call, the rest when the pool closes (untimed)".into(),
            );
        }
        notes.extend(super::stripe_note(ctx.target));
        Ok(Bufferpool {
            target: ctx.target.clone(),
            block: block as usize,
            writes,
            touch: ctx.workload.touch,
            pool,
            counters: (0..threads).map(|_| ThreadCounters::default()).collect(),
            notes,
        })
    }
}

/// `bufferpool:prefault`: read the first `frames` blocks into the pool (one miss
/// each), so a pool at least as large as the file starts with every block resident.
fn prefault(pool: &Pool, target: &Target, block: usize, frames: u64) -> Result<u64, OpenError> {
    let files = Files::open(target, open_direct)?;
    let nblocks = (target.size / block as u64).min(frames);
    for p in 0..nblocks {
        let offset = p * block as u64;
        pool.with_page(
            p,
            |frame| {
                let (file, at) = files.at(offset);
                read_block(file, &mut frame[..block], at)
            },
            |_| (),
            |_, _| Ok(()),
        )
        .map_err(|e| match e {
            PoolError::Load(e) => OpenError::Failed(format!("prefault: {e}")),
            PoolError::NoFrame => OpenError::Failed("prefault: no frame to load into".into()),
        })?;
    }
    Ok(nblocks)
}

/// `consume` over an optimistic view of a frame: the fold of the page headers, and
/// every u64 with touch = all.
#[inline]
fn consume_view(v: &OptimisticView<'_>, block: usize, offset: u64, touch: Touch) -> u64 {
    let fold = page::fold_headers_by(block, offset, |at| v.word(at));
    if touch == Touch::All {
        let mut x = 0u64;
        for at in (0..block).step_by(8) {
            x ^= v.word(at);
        }
        std::hint::black_box(x);
    }
    fold
}

struct PoolWorker<'a> {
    /// A write workload: hits pin (frames are also written by threads).
    writes: bool,
    pool: &'a Pool,
    files: Files,
    block: usize,
    /// log2(block) when the block is a power of two: a hit's page number is a shift of
    /// the offset, not a division (on a hit's critical path).
    block_shift: Option<u32>,
    touch: Touch,
    published: &'a ThreadCounters,
    hits: u64,
    misses: u64,
    /// Pages this thread made dirty since its last sync (flushed at the next).
    dirtied: Vec<u64>,
}

impl Backend for Bufferpool {
    fn worker(&self, index: usize) -> Result<Box<dyn Worker + '_>, OpenError> {
        let published = self.counters.get(index).ok_or_else(|| {
            OpenError::Failed(format!(
                "worker {index} asked for, but the pool was opened for {} threads",
                self.counters.len()
            ))
        })?;
        let writes = self.writes;
        let files = Files::open(&self.target, |p| {
            if writes {
                open_file(p, true, libc::O_DIRECT)
            } else {
                open_direct(p)
            }
        })?;
        Ok(Box::new(PoolWorker {
            writes,
            pool: &self.pool,
            files,
            dirtied: Vec::new(),
            block: self.block,
            block_shift: self
                .block
                .is_power_of_two()
                .then(|| self.block.trailing_zeros()),
            touch: self.touch,
            published,
            hits: 0,
            misses: 0,
        }))
    }

    fn notes(&self) -> Vec<String> {
        let mut n = self.notes.clone();
        let spills = self.pool.table_spills();
        if spills > 0 {
            n.push(format!(
                "{spills} page-table inserts found their bucket full and went to the \
                 table's overflow map (found there by a lookup that misses its bucket)"
            ));
        }
        n
    }

    fn finish_writes(&self) -> Result<Option<String>, String> {
        if !self.writes {
            return Ok(None);
        }
        let file =
            open_file(self.target.path.as_path(), true, libc::O_DIRECT).map_err(|e| match e {
                super::OpenError::Unavailable(r) | super::OpenError::Failed(r) => r,
            })?;
        let block = self.block;
        let n = self
            .pool
            .flush_all(|page, bytes| write_block(&file, &bytes[..block], page * block as u64))
            .map_err(|e| format!("writing the dirty frames back when the pool closed: {e}"))?;
        Ok(Some(format!(
            "{n} dirty frames written back when the pool closed (after the measured phase, untimed)"
        )))
    }

    fn counters(&self) -> Option<CacheCounters> {
        let mut c = CacheCounters::default();
        for t in self.counters.iter() {
            c.hits += t.hits.load(Ordering::Relaxed);
            c.misses += t.misses.load(Ordering::Relaxed);
        }
        Some(c)
    }
}

impl Worker for PoolWorker<'_> {
    #[inline]
    fn read(&mut self, offset: u64) -> Result<u64, OpError> {
        let block = self.block;
        let (files, touch) = (&self.files, self.touch);
        let load = |frame: &mut [u8]| {
            let (file, at) = files.at(offset);
            read_block(file, &mut frame[..block], at)
        };
        let writeback = |old: u64, bytes: &[u8]| {
            let (file, at) = files.at(old * block as u64);
            write_block(file, &bytes[..block], at)
        };
        let page = match self.block_shift {
            Some(s) => offset >> s,
            None => offset / block as u64,
        };
        let pinned = |frame: &[u8]| consume(&frame[..block], offset, touch);
        let r = if self.writes {
            self.pool.with_page(page, load, pinned, writeback)
        } else {
            self.pool.read_page(
                page,
                load,
                |v| consume_view(&v, block, offset, touch),
                pinned,
                writeback,
            )
        };
        match r {
            Ok((fold, how)) => {
                self.count(how);
                Ok(fold)
            }
            Err(e) => Err(self.pool_error(e, offset)),
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), OpError> {
        let block = self.block;
        let files = &self.files;
        let page = offset / block as u64;
        let r = self.pool.write_page(
            page,
            |frame| frame[..block].copy_from_slice(data),
            |old, bytes| {
                let (file, at) = files.at(old * block as u64);
                write_block(file, &bytes[..block], at)
            },
        );
        match r {
            Ok((how, newly_dirty)) => {
                self.count(how);
                if newly_dirty {
                    self.dirtied.push(page);
                }
                Ok(())
            }
            Err(e) => Err(self.pool_error(e, offset)),
        }
    }

    fn sync(&mut self, method: SyncMethod) -> Result<(), OpError> {
        let block = self.block;
        let files = &self.files;
        for &page in &self.dirtied {
            self.pool.flush_page(page, |p, bytes| {
                let (file, at) = files.at(p * block as u64);
                write_block(file, &bytes[..block], at)
            })?;
        }
        self.dirtied.clear();
        // Writes have one file (striped targets are read-only).
        sync_file(self.files.first(), method)
    }
}

impl PoolWorker<'_> {
    #[inline]
    fn count(&mut self, how: Access) {
        match how {
            Access::Hit => {
                self.hits += 1;
                self.published.hits.store(self.hits, Ordering::Relaxed);
            }
            Access::Miss => {
                self.misses += 1;
                self.published.misses.store(self.misses, Ordering::Relaxed);
            }
        }
    }

    #[cold]
    fn pool_error(&self, e: PoolError<OpError>, offset: u64) -> OpError {
        match e {
            PoolError::Load(e) => e,
            PoolError::NoFrame => OpError(format!(
                "buffer pool: no frame could be evicted for offset {offset} (all {} pinned)",
                self.pool.frames()
            )),
        }
    }
}
