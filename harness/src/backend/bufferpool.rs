//! `bufferpool`: what the mmap critique recommends instead of mmap, a DBMS-style
//! user-space page cache. A fixed number of page frames (`pool=SIZE`, one page = one
//! workload block) over O_DIRECT reads; a lock-free page table; clock (second-chance)
//! eviction; per-frame latches (pin count + exclusive bit) so that a hit takes no lock
//! and a frame being refilled is never read as another page. See `pool` for the
//! protocol, `table` for the page table and `sys::frames` for the latch.
//!
//! A hit reads the block in place in its frame under a pin, as a DBMS reads a page it
//! has fixed; a miss reads the block from the file into a frame with `pread(2)` on the
//! worker's own O_DIRECT descriptor. Hits and misses are counted per thread and
//! published (relaxed stores, like `runner::Progress`) through `Backend::counters`.

mod pool;
mod table;

use super::direct::{alignment, open_direct};
use super::pread::read_block;
use super::{consume, Backend, CacheCounters, Files, OpError, OpenCtx, OpenError, Worker};
use crate::datafile::Target;
use crate::spec::backend::BufferpoolOptions;
use crate::spec::Touch;
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
        let (pool_bytes, pool_source) = match (o.pool, ctx.workload.page_cache_limit) {
            (Some(b), _) => (b, "pool="),
            (None, Some(l)) => (l, "default: the workload's page_cache_limit"),
            (None, None) => (
                ctx.target.size / 4,
                "default: 1/4 of the file (the workload sets no page_cache_limit)",
            ),
        };
        let mut frames = pool_bytes / block;
        let mut notes = Vec::new();
        if frames > nblocks {
            notes.push(format!(
                "pool {} is larger than the {} read: capped at {nblocks} frames",
                units::format_size(pool_bytes),
                units::format_size(ctx.target.size)
            ));
            frames = nblocks;
        }
        let threads = ctx.threads.max(1) as u64;
        if frames < 2 * threads {
            return Err(OpenError::Unavailable(format!(
                "pool {} holds {frames} frames of {}; the buffer pool needs at least 2 frames per \
                 thread ({} for {threads} threads): raise pool= or the file size",
                units::format_size(pool_bytes),
                units::format_size(block),
                2 * threads
            )));
        }
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
        notes.insert(
            0,
            format!(
                "buffer pool: {frames} frames of {} = {} ({pool_source}{}), clock eviction, \
                 lock-free hits read in place under a pin; misses pread(2) on O_DIRECT \
                 (buffer and offsets aligned to {mem_align}/{offset_align} B from {source})",
                units::format_size(block),
                units::format_size(frames * block),
                o.pool.map(units::format_size).unwrap_or_default(),
            ),
        );
        notes.extend(super::stripe_note(ctx.target));
        Ok(Bufferpool {
            target: ctx.target.clone(),
            block: block as usize,
            touch: ctx.workload.touch,
            pool,
            counters: (0..threads).map(|_| ThreadCounters::default()).collect(),
            notes,
        })
    }
}

struct PoolWorker<'a> {
    pool: &'a Pool,
    files: Files,
    block: usize,
    touch: Touch,
    published: &'a ThreadCounters,
    hits: u64,
    misses: u64,
}

impl Backend for Bufferpool {
    fn worker(&self, index: usize) -> Result<Box<dyn Worker + '_>, OpenError> {
        let published = self.counters.get(index).ok_or_else(|| {
            OpenError::Failed(format!(
                "worker {index} asked for, but the pool was opened for {} threads",
                self.counters.len()
            ))
        })?;
        Ok(Box::new(PoolWorker {
            pool: &self.pool,
            files: Files::open(&self.target, open_direct)?,
            block: self.block,
            touch: self.touch,
            published,
            hits: 0,
            misses: 0,
        }))
    }

    fn notes(&self) -> Vec<String> {
        let mut n = self.notes.clone();
        let conflicts = self.pool.table_conflicts();
        if conflicts > 0 {
            n.push(format!(
                "{conflicts} page-table inserts found their bucket full and dropped a mapping \
                 (the page stayed in its frame but was no longer found)"
            ));
        }
        n
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
        let r = self.pool.with_page(
            offset / block as u64,
            |frame| {
                let (file, at) = files.at(offset);
                read_block(file, &mut frame[..block], at)
            },
            |frame| consume(&frame[..block], offset, touch),
        );
        match r {
            Ok((fold, Access::Hit)) => {
                self.hits += 1;
                self.published.hits.store(self.hits, Ordering::Relaxed);
                Ok(fold)
            }
            Ok((fold, Access::Miss)) => {
                self.misses += 1;
                self.published.misses.store(self.misses, Ordering::Relaxed);
                Ok(fold)
            }
            Err(PoolError::Load(e)) => Err(e),
            Err(PoolError::NoFrame) => Err(OpError(format!(
                "buffer pool: no frame could be evicted for offset {offset} (all {} pinned)",
                self.pool.frames()
            ))),
        }
    }
}
