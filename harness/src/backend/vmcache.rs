//! `vmcache`: a buffer manager after Leis et al., "Virtual-Memory Assisted Buffer
//! Management" (SIGMOD 2023), the mmap critique's authors' answer to "what instead of
//! mmap". One anonymous virtual region the size of the data (MAP_NORESERVE): page `p`
//! always lives at `base + p * block`, so a hit is address arithmetic and a state-word
//! check, no hash table. A state word per page (state + version) gives exclusive,
//! shared and optimistic access (`sys::vmregion`). A miss reads the block with
//! `pread(2)` on the worker's O_DIRECT descriptor straight into the page's address.
//! When the memory budget (`pool=SIZE`, default the workload's page_cache_limit, as for
//! `bufferpool`) is used up, the clock picks a batch of resident pages (`batch=N`,
//! default 64) and their memory goes back to the kernel with one MADV_DONTNEED call
//! per batch (`process_madvise(2)` with one iovec per run of adjacent pages; where the
//! kernel refuses that, `madvise(2)` per run, noted). See `pool` for the protocol.
//!
//! exmap, the paper's kernel module that makes eviction cheaper still (its own page
//! table handling and batched TLB shootdowns), is not in mainline Linux: this backend
//! is vmcache over the stock kernel interface, as the paper's own MADV_DONTNEED
//! variant.
//!
//! Counters: hits, misses, evictions, eviction batches and the release system calls,
//! per thread, published through `Backend::counters`; the runner notes them for the
//! measured phase with the TLB shootdowns per batch.
//!
//! Writes, as in `bufferpool`: a write copies the block into its page (latched
//! exclusively; a missing page is not read first) and marks it dirty; a dirty page is
//! written back with `pwrite(2)` (O_DIRECT) by the thread that evicts it, before its
//! memory is released; a thread's sync writes back the pages it dirtied since its last
//! sync, then calls the sync method's system call; when the cell ends the pages still
//! dirty are written back, untimed.

mod pool;

use super::direct::{alignment, open_direct};
use super::pread::{open_file, read_block, sync_file, write_block};
use super::{consume, Backend, CacheCounters, Files, OpError, OpenCtx, OpenError, Worker};
use crate::datafile::Target;
use crate::spec::backend::{VmcacheOptions, VmcacheRelease};
use crate::spec::{SyncMethod, Touch};
use crate::sys::vmregion::{Reader, Release};
use crate::{sys, units};
use pool::{Access, Pool, PoolError, Scratch};
use std::sync::atomic::{AtomicU64, Ordering};

/// One worker's counts, on its own cache line.
#[repr(align(128))]
#[derive(Default)]
struct ThreadCounters {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    batches: AtomicU64,
    release_calls: AtomicU64,
}

pub struct Vmcache {
    target: Target,
    block: usize,
    writes: bool,
    touch: Touch,
    pool: Pool,
    counters: Box<[ThreadCounters]>,
    notes: Vec<String>,
}

impl Vmcache {
    pub fn open(ctx: &OpenCtx, o: &VmcacheOptions) -> Result<Vmcache, OpenError> {
        let path = ctx.target.path.clone();
        let file = open_direct(&path)?;
        let (mem_align, offset_align, source) = alignment(&file).map_err(OpenError::Unavailable)?;
        let block = ctx.workload.block;
        let sys_page = sys::page_size() as u64;
        if !block.is_multiple_of(offset_align) || !block.is_multiple_of(sys_page) {
            return Err(OpenError::Unavailable(format!(
                "block {} is not a multiple of both the direct I/O alignment {} B of {} (from \
                 {source}) and the page size {} B; vmcache's pages are blocks read with O_DIRECT \
                 into page-aligned addresses and released with MADV_DONTNEED: use a block of {} \
                 or a multiple of it",
                units::format_size(block),
                offset_align,
                path.display(),
                sys_page,
                units::format_size(offset_align.max(sys_page))
            )));
        }
        if mem_align as u64 > sys_page {
            return Err(OpenError::Unavailable(format!(
                "{} needs O_DIRECT buffers aligned to {mem_align} B (from {source}), more than \
                 the page size {sys_page} B that vmcache's page addresses are aligned to",
                path.display()
            )));
        }
        let nblocks = ctx.target.size / block;
        let super::budget::Budget {
            blocks: capacity,
            bytes: _,
            source: pool_source,
            mut notes,
        } = super::budget::budget(ctx, o.pool, block, nblocks, "vmcache", "pages")?;
        let threads = ctx.threads.max(1) as u64;
        // A batch of at most half the budget, so eviction never empties the pool.
        let batch = (o.batch as u64).min(capacity / 2).max(1);
        if batch < o.batch as u64 {
            notes.push(format!(
                "batch={} is more than half the pool's {capacity} pages: batches of {batch}",
                o.batch
            ));
        }
        let writes = ctx.workload.op.writes();
        let want = match o.release {
            VmcacheRelease::ProcessMadvise => Release::ProcessMadvise,
            VmcacheRelease::Madvise => Release::Madvise,
        };
        let pool = Pool::new(
            nblocks as usize,
            block as usize,
            capacity as usize,
            batch as usize,
            writes,
            want,
        )
        .map_err(|e| {
            OpenError::Failed(format!(
                "cannot reserve a virtual region of {} for vmcache: {e}",
                units::format_size(nblocks * block)
            ))
        })?;
        let got = pool.region().release_method();
        notes.insert(
            0,
            format!(
                "vmcache: virtual region of {nblocks} pages of {} (MAP_NORESERVE), budget {capacity} \
                 pages = {} ({pool_source}{}), clock eviction in batches of {batch} released with \
                 MADV_DONTNEED via {} (one call per batch{}); hits {}; misses pread(2) on O_DIRECT \
                 into the page's address (aligned to {mem_align}/{offset_align} B from {source})",
                units::format_size(block),
                units::format_size(capacity * block),
                o.pool.map(units::format_size).unwrap_or_default(),
                got.name(),
                if got == Release::Madvise {
                    ", one per run of adjacent pages"
                } else {
                    ", with one iovec per run of adjacent pages"
                },
                if pool.optimistic() {
                    "read optimistically (version checked after the read, no write to shared memory)"
                } else {
                    "take a shared latch (a write workload: writers may copy into a page concurrently)"
                },
            ),
        );
        if want == Release::ProcessMadvise && got == Release::Madvise {
            notes.push(
                "process_madvise(MADV_DONTNEED) on this process was refused by the kernel \
                 (it needs Linux 6.13+): batches are released with madvise(2) per run of \
                 adjacent pages"
                    .into(),
            );
        }
        if let Some(e) = pool.region().nohugepage_error() {
            notes.push(format!(
                "MADV_NOHUGEPAGE on the region was refused ({e}): transparent huge pages are \
                 probably compiled out"
            ));
        }
        notes.push(format!(
            "memory: at most {capacity} pages resident, plus one per thread while a miss waits \
             for its eviction's batch; {} of state words ({} rounded up to 2 MiB pages, {}) \
             and {} for the resident set",
            units::format_size(pool.region().states_bytes() as u64),
            units::format_size(nblocks * 8),
            match pool.region().states_hugepage_error() {
                None => "MADV_HUGEPAGE: one TLB entry for 262144 pages' words".to_string(),
                Some(e) => format!("MADV_HUGEPAGE refused ({e}): 4 KiB pages"),
            },
            units::format_size((2 * capacity + 128).next_power_of_two() * 8)
        ));
        if writes {
            notes.push(
                "writes: copied into the page (dirty); dirty pages written back with pwrite(2) on eviction, the thread's own dirty pages at each sync before the sync's system call, the rest when the pool closes (untimed)".into(),
            );
        }
        notes.extend(super::stripe_note(ctx.target));
        Ok(Vmcache {
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

struct VmWorker<'a> {
    pool: &'a Pool,
    files: Files,
    block: usize,
    /// log2(block) when the block is a power of two (a page number by a shift, not a
    /// division, on the hit path).
    shift: Option<u32>,
    touch: Touch,
    /// The region's optimistic read, by value, for a read-only pool (the hit path
    /// reaches the state words and the pages without going through the pool).
    hit: Option<Reader<'a>>,
    published: &'a ThreadCounters,
    misses: u64,
    scratch: Scratch<'a>,
    /// Pages this thread made dirty since its last sync (flushed at the next).
    dirtied: Vec<u64>,
}

impl Backend for Vmcache {
    fn worker(&self, index: usize) -> Result<Box<dyn Worker + '_>, OpenError> {
        let published = self.counters.get(index).ok_or_else(|| {
            OpenError::Failed(format!(
                "worker {index} asked for, but vmcache was opened for {} threads",
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
        Ok(Box::new(VmWorker {
            pool: &self.pool,
            files,
            block: self.block,
            shift: self
                .block
                .is_power_of_two()
                .then(|| self.block.trailing_zeros()),
            touch: self.touch,
            hit: self.pool.optimistic().then(|| self.pool.region().reader()),
            published,
            misses: 0,
            scratch: Scratch::default(),
            dirtied: Vec::new(),
        }))
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }

    fn finish_writes(&self) -> Result<Option<String>, String> {
        if !self.writes {
            return Ok(None);
        }
        let file =
            open_file(self.target.path.as_path(), true, libc::O_DIRECT).map_err(|e| match e {
                OpenError::Unavailable(r) | OpenError::Failed(r) => r,
            })?;
        let block = self.block;
        let n = self
            .pool
            .flush_all(|page, bytes| write_block(&file, &bytes[..block], page * block as u64))
            .map_err(|e| format!("writing the dirty pages back when vmcache closed: {e}"))?;
        Ok(Some(format!(
            "{n} dirty pages written back when vmcache closed (after the measured phase, untimed)"
        )))
    }

    fn counters(&self) -> Option<CacheCounters> {
        let mut c = CacheCounters {
            evictions: Some(0),
            eviction_batches: Some(0),
            release_calls: Some(0),
            ..Default::default()
        };
        for t in self.counters.iter() {
            c.hits += t.hits.load(Ordering::Relaxed);
            c.misses += t.misses.load(Ordering::Relaxed);
            let add = |x: &mut Option<u64>, a: &AtomicU64| {
                *x = x.map(|v| v + a.load(Ordering::Relaxed));
            };
            add(&mut c.evictions, &t.evictions);
            add(&mut c.eviction_batches, &t.batches);
            add(&mut c.release_calls, &t.release_calls);
        }
        Some(c)
    }
}

impl Worker for VmWorker<'_> {
    // Inlined into the driver's loop, as the mapping backends' reads are: the hit is a
    // few instructions (the state word, the read, the state word again), the rest is
    // one call out of line. In-memory reads are bound by how many cache misses the core
    // keeps in flight, and every instruction and load per operation takes room in its
    // window.
    #[inline(always)]
    fn read(&mut self, offset: u64) -> Result<u64, OpError> {
        let (block, touch) = (self.block, self.touch);
        let page = match self.shift {
            Some(s) => offset >> s,
            None => offset / block as u64,
        };
        if let Some(hit) = &self.hit {
            if let Ok(fold) = hit.read_optimistic(page as usize, |p| consume(p, offset, touch)) {
                self.count(Access::Hit);
                return Ok(fold);
            }
        }
        self.read_slow(offset, page)
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), OpError> {
        let block = self.block;
        let files = &self.files;
        let page = offset / block as u64;
        let r = self.pool.write_page(
            page,
            &mut self.scratch,
            |bytes| bytes.copy_from_slice(data),
            |old, bytes| {
                let (file, at) = files.at(old * block as u64);
                write_block(file, bytes, at)
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
                write_block(file, bytes, at)
            })?;
        }
        self.dirtied.clear();
        // Writes have one file (striped targets are read-only).
        sync_file(self.files.first(), method)
    }
}

impl VmWorker<'_> {
    /// `read` past the optimistic hit: a miss, a latched page, a pool that takes writes.
    #[inline(never)]
    fn read_slow(&mut self, offset: u64, page: u64) -> Result<u64, OpError> {
        let block = self.block;
        let (files, touch) = (&self.files, self.touch);
        let r = self.pool.with_page(
            page,
            &mut self.scratch,
            |page| {
                let (file, at) = files.at(offset);
                read_block(file, page, at)
            },
            |page| consume(page, offset, touch),
            |old, bytes| {
                let (file, at) = files.at(old * block as u64);
                write_block(file, bytes, at)
            },
        );
        match r {
            Ok((fold, how)) => {
                self.count(how);
                Ok(fold)
            }
            Err(e) => Err(self.pool_error(e, offset)),
        }
    }

    #[inline(always)]
    fn count(&mut self, how: Access) {
        match how {
            Access::Hit => {
                // Only this thread writes its counters: a load and a store, no atomic
                // read-modify-write.
                let h = &self.published.hits;
                h.store(h.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            }
            Access::Miss => self.count_miss(),
        }
    }

    #[inline(never)]
    fn count_miss(&mut self) {
        self.misses += 1;
        let (p, s) = (self.published, &self.scratch);
        p.misses.store(self.misses, Ordering::Relaxed);
        p.evictions.store(s.evictions, Ordering::Relaxed);
        p.batches.store(s.batches, Ordering::Relaxed);
        p.release_calls.store(s.release_calls, Ordering::Relaxed);
    }

    #[cold]
    fn pool_error(&self, e: PoolError<OpError>, offset: u64) -> OpError {
        match e {
            PoolError::Load(e) => e,
            PoolError::NoVictim => OpError(format!(
                "vmcache: no page could be evicted for offset {offset} (all of the {} resident \
                 pages latched)",
                self.pool.capacity()
            )),
            PoolError::Release(e) => OpError(format!(
                "vmcache: releasing an evicted batch's memory (MADV_DONTNEED) failed: {e}"
            )),
        }
    }
}
