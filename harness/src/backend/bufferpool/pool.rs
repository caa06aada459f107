//! The buffer pool proper: page table + frames + clock, independent of how a page is
//! read (the caller passes the loader), so it can be stress-tested without a disk.
//!
//! `with_page(page, load, read)` makes `page` resident and calls `read` on its bytes
//! under a pin:
//!
//! * Optimistic hit (`read_page`, read workloads): the table's `read_optimistic`: the
//!   page's bucket line (version, entry) and the frame's bytes, validated by the
//!   bucket's version (see `table`): no pin, no access to the frame's latch. It fails
//!   (and the pinned path below runs) while the page is being loaded or its bucket
//!   changed during the read.
//! * Hit (no lock): look the page up in the table, pin the frame (one CAS on the
//!   frame's latch word), and check the frame's tag. The tag is written only under the
//!   frame's exclusive latch, which no one can hold while we hold a pin, so if the tag
//!   says `page`, the bytes are `page`'s until we unpin. A lookup can be stale (the frame
//!   was refilled with another page after we read the table): the tag check catches it
//!   and we look again. A frame that is exclusively latched is being refilled: wait
//!   until it is released, then look again.
//! * Miss: take a victim frame exclusively with the clock (below), lock the page's
//!   table shard, and check the page is still absent (else another thread is loading
//!   it: release the victim untouched and wait for that load as for a hit). Insert
//!   `page -> victim` marked loading, unlock, remove the victim's old mapping (under
//!   its bucket's lock: optimistic readers of the old page fail from then on), set the
//!   tag, read the page into the frame (still exclusive, no lock held during I/O), mark
//!   the entry loaded, then downgrade the latch to a pin in one store. A failed read
//!   clears the tag and the mapping before releasing the frame, so no one ever pins or
//!   reads a half-read frame under a page's name.
//! * Clock (second chance): a shared hand sweeps the frames; a referenced frame
//!   (pinned since the hand last passed: the latch's bit; or read optimistically: the
//!   bit of its page's table entry) loses its bit and is skipped; a pinned or
//!   latched one is skipped; the first unreferenced, unpinned one is latched by a CAS
//!   from 0. Each thread holds at most one frame at a time, so with more frames than
//!   threads a victim always exists; the pool requires twice as many.
//! * Writes (`write_page`): a resident page's frame is latched exclusively (waiting
//!   while it is pinned), filled under its bucket's lock (so an optimistic read that
//!   overlaps the fill fails) and marked dirty; a missing page takes a victim as a
//!   miss does, but is not read (the write covers the whole page). A dirty victim is
//!   written back (`writeback`) while still latched and still mapped under its old
//!   page, before anything else: a thread looking the old page up waits for the latch
//!   and then finds it gone, and reads it from the file after the write-back
//!   completed. A failed write-back leaves the victim dirty and mapped.
//! * `flush_page` writes a dirty resident page back under a pin (a sync);
//!   `flush_all` every dirty frame (closing the pool). Dirty flags change only under
//!   the frame's exclusive latch (set by a write, cleared by an eviction) or under a
//!   pin by the page's only writer (a flush), so the latch's Release/Acquire orders
//!   them.

use super::table::PageTable;
use crate::sys::frames::{Evict, ExclusiveFrame, FrameArena, OptimisticView, NO_TAG};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// How `with_page` found the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Resident (possibly after waiting for another thread's load of it).
    Hit,
    /// This call read it.
    Miss,
}

#[derive(Debug)]
pub enum PoolError<E> {
    /// The loader (or the write-back of a dirty victim) failed; nothing was cached.
    Load(E),
    /// The clock found no frame to evict (every frame pinned or latched for many sweeps).
    NoFrame,
}

/// Sweeps of the clock over all frames before a miss gives up (never reached when
/// frames outnumber threads; a bound instead of a hang if that is violated).
const MAX_SWEEPS: usize = 100_000;

pub struct Pool {
    frames: FrameArena,
    table: PageTable,
    hand: AtomicUsize,
    /// Per frame: written since it was last written back.
    dirty: Box<[AtomicBool]>,
}

impl Pool {
    /// `frames` frames of `frame_len` bytes aligned to `align`.
    pub fn new(frames: usize, frame_len: usize, align: usize) -> io::Result<Pool> {
        Ok(Pool {
            frames: FrameArena::new(frames, frame_len, align)?,
            table: PageTable::new(frames),
            hand: AtomicUsize::new(0),
            dirty: (0..frames).map(|_| AtomicBool::new(false)).collect(),
        })
    }

    /// A pool whose page table has `buckets` buckets (tests: few, so that pages share
    /// buckets and fill them).
    #[cfg(test)]
    fn with_buckets(frames: usize, buckets: usize) -> io::Result<Pool> {
        let mut p = Pool::new(
            frames,
            crate::datafile::page::PAGE,
            crate::datafile::page::PAGE,
        )?;
        p.table = PageTable::with_buckets(buckets);
        Ok(p)
    }

    pub fn frames(&self) -> usize {
        self.frames.len()
    }

    /// How the frames' memory was obtained (for notes).
    pub fn backing(&self) -> &str {
        self.frames.backing()
    }

    /// Table inserts that found their bucket full and spilled (see `table`).
    pub fn table_spills(&self) -> u64 {
        self.table.spills()
    }

    /// Read `page` (a read workload): a hit is one optimistic read (`optimistic` on an
    /// atomic view of the frame, no pin, no write to shared memory unless the entry's
    /// referenced bit must be set), checked against the page's bucket version
    /// afterwards; a miss, or a hit whose bucket changed during the read, goes through
    /// `with_page` (`read` under a pin).
    #[inline]
    pub fn read_page<R, E>(
        &self,
        page: u64,
        load: impl FnOnce(&mut [u8]) -> Result<(), E>,
        optimistic: impl FnOnce(OptimisticView<'_>) -> R,
        read: impl FnOnce(&[u8]) -> R,
        writeback: impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<(R, Access), PoolError<E>> {
        if let Some(Some(r)) = self.table.read_optimistic(page, |f| {
            // Tests widen the race window between the lookup and the read.
            #[cfg(test)]
            tests::maybe_pause();
            self.frames.optimistic_view(f).map(optimistic)
        }) {
            return Ok((r, Access::Hit));
        }
        self.with_page(page, load, read, writeback)
    }

    /// After a miss: bring the clock's next candidates closer (the latch after the
    /// hand, and the table bucket of the page the frame at the hand holds, which the
    /// next miss will remove), so the next miss does not wait for them. Hints only.
    #[inline]
    fn prefetch_next(&self) {
        let n = self.frames.len();
        let next = self.hand.load(Ordering::Relaxed) % n;
        self.frames
            .prefetch_latch(if next + 1 == n { 0 } else { next + 1 });
        let old = self.frames.peek_tag(next);
        if old != NO_TAG {
            self.table.prefetch(old);
        }
    }

    /// Make `page` resident (reading it with `load` on a miss, after writing a dirty
    /// victim back with `writeback(victim's page, its bytes)`) and return `read` of its
    /// frame's bytes.
    #[inline]
    pub fn with_page<R, E>(
        &self,
        page: u64,
        load: impl FnOnce(&mut [u8]) -> Result<(), E>,
        read: impl FnOnce(&[u8]) -> R,
        writeback: impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<(R, Access), PoolError<E>> {
        let mut writeback = writeback;
        let mut waits = 0u32;
        loop {
            if let Some(f) = self.table.lookup(page) {
                // Tests widen the race window between the lookup and the pin.
                #[cfg(test)]
                tests::maybe_pause();
                match self.frames.try_pin(f) {
                    Some(pin) if pin.tag() == page => return Ok((read(pin.data()), Access::Hit)),
                    // Refilled with another page since the lookup: look again.
                    Some(_) => backoff(&mut waits),
                    // Being refilled (maybe with this page): wait for the latch.
                    None => {
                        while self.frames.is_exclusive(f) {
                            backoff(&mut waits);
                        }
                    }
                }
                continue;
            }
            let Some(mut victim) = self.claim(page, &mut writeback)? else {
                continue;
            };
            return match load(victim.data_mut()) {
                Ok(()) => {
                    self.table.ready(page, victim.index());
                    let pin = victim.downgrade();
                    self.prefetch_next();
                    Ok((read(pin.data()), Access::Miss))
                }
                Err(e) => {
                    victim.set_tag(NO_TAG);
                    self.table.remove(page, victim.index());
                    Err(PoolError::Load(e))
                }
            };
        }
    }

    /// A miss's frame for `page`: a victim (written back first if dirty), mapped to
    /// `page` (the entry marked loading: the caller marks it ready once the frame holds
    /// the page) with its tag set, still latched. None when another thread mapped `page`
    /// meanwhile (look again).
    fn claim<E>(
        &self,
        page: u64,
        writeback: &mut impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<Option<ExclusiveFrame<'_>>, PoolError<E>> {
        let mut victim = self.victim().ok_or(PoolError::NoFrame)?;
        let old = victim.tag();
        let i = victim.index();
        if old != NO_TAG && self.dirty[i].load(Ordering::Relaxed) {
            // Still mapped under `old` and latched: readers of `old` wait, then miss
            // and read what this wrote.
            writeback(old, victim.data_mut()).map_err(PoolError::Load)?;
            self.dirty[i].store(false, Ordering::Relaxed);
        }
        let shard = self.table.lock(page);
        if shard.lookup().is_some() {
            // Another thread mapped it meanwhile: its load is under way or done.
            drop(shard);
            drop(victim);
            return Ok(None);
        }
        shard.insert_loading(i);
        drop(shard);
        if old != NO_TAG {
            self.table.remove(old, i);
        }
        victim.set_tag(page);
        Ok(Some(victim))
    }

    /// Write `page`: `fill` its frame's bytes (the whole page: a missing page is not
    /// read first) and mark it dirty. A dirty victim is written back first with
    /// `writeback`. Returns how the page was found and whether it was clean before (a
    /// page newly dirty, for the writer's list of pages to flush at its next sync).
    /// Only one thread writes a given page.
    pub fn write_page<E>(
        &self,
        page: u64,
        fill: impl FnOnce(&mut [u8]),
        writeback: impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<(Access, bool), PoolError<E>> {
        let mut writeback = writeback;
        let mut waits = 0u32;
        loop {
            if let Some(f) = self.table.lookup(page) {
                match self.frames.try_latch(f) {
                    Some(mut x) if x.tag() == page => {
                        // Optimistic readers of the page fail while the bytes change.
                        let bucket = self.table.lock(page);
                        fill(x.data_mut());
                        drop(bucket);
                        let was_dirty = self.dirty[f].swap(true, Ordering::Relaxed);
                        x.release_referenced();
                        return Ok((Access::Hit, !was_dirty));
                    }
                    // Refilled with another page since the lookup: look again.
                    Some(x) => drop(x),
                    // Pinned or latched: wait.
                    None => backoff(&mut waits),
                }
                continue;
            }
            let Some(mut victim) = self.claim(page, &mut writeback)? else {
                continue;
            };
            fill(victim.data_mut());
            self.table.ready(page, victim.index());
            self.dirty[victim.index()].store(true, Ordering::Relaxed);
            victim.release_referenced();
            return Ok((Access::Miss, true));
        }
    }

    /// Write `page` back with `writeback` if it is resident and dirty (a sync by its
    /// writer). Returns whether it wrote. A page no longer resident was written back
    /// by its eviction.
    pub fn flush_page<E>(
        &self,
        page: u64,
        writeback: impl FnOnce(u64, &[u8]) -> Result<(), E>,
    ) -> Result<bool, E> {
        let mut waits = 0u32;
        loop {
            let Some(f) = self.table.lookup(page) else {
                return Ok(false);
            };
            match self.frames.try_pin(f) {
                Some(pin) if pin.tag() == page => {
                    if !self.dirty[f].load(Ordering::Relaxed) {
                        return Ok(false);
                    }
                    writeback(page, pin.data())?;
                    self.dirty[f].store(false, Ordering::Relaxed);
                    return Ok(true);
                }
                Some(_) => backoff(&mut waits),
                None => {
                    // Being evicted (and written back) or refilled: look again after.
                    while self.frames.is_exclusive(f) {
                        backoff(&mut waits);
                    }
                }
            }
        }
    }

    /// Write every dirty frame back (closing the pool, with no writer running).
    /// Returns the frames written.
    pub fn flush_all<E>(
        &self,
        mut writeback: impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<u64, E> {
        let mut n = 0;
        for f in 0..self.frames.len() {
            if !self.dirty[f].load(Ordering::Relaxed) {
                continue;
            }
            if let Some(pin) = self.frames.try_pin(f) {
                if pin.tag() != NO_TAG {
                    writeback(pin.tag(), pin.data())?;
                    n += 1;
                }
                self.dirty[f].store(false, Ordering::Relaxed);
            }
        }
        Ok(n)
    }

    fn victim(&self) -> Option<ExclusiveFrame<'_>> {
        let n = self.frames.len();
        for step in 0..n.saturating_mul(MAX_SWEEPS) {
            let i = self.hand.fetch_add(1, Ordering::Relaxed) % n;
            // An optimistic hit since the hand last passed: a second chance.
            let tag = self.frames.peek_tag(i);
            if tag != NO_TAG && self.table.clear_referenced(tag, i) {
                continue;
            }
            if let Evict::Locked(frame) = self.frames.try_evict(i) {
                return Some(frame);
            }
            if step >= 2 * n && step % n == 0 {
                // Two sweeps found nothing: every frame is pinned, latched or being
                // re-referenced as fast as the hand clears it. Let the others run.
                std::thread::yield_now();
            }
        }
        None
    }
}

/// Wait a little: spin first (the other thread is usually about to finish), then yield.
#[inline]
fn backoff(waits: &mut u32) {
    *waits = waits.saturating_add(1);
    if *waits < 64 {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datafile::page::{self, PAGE};
    use rand::{Rng, SeedableRng};
    use std::sync::atomic::AtomicU64;

    const TAG: u64 = 0x5eed;

    thread_local! {
        static PAUSES: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }

    /// Yield on every 5th lookup of a thread, so that other threads get to evict and
    /// refill the frame it just looked up before it pins it (the stale-lookup race the
    /// tag check exists for).
    pub(super) fn maybe_pause() {
        PAUSES.with(|c| {
            c.set(c.get().wrapping_add(1));
            if c.get() % 5 == 0 {
                std::thread::yield_now();
            }
        });
    }

    #[test]
    fn hits_misses_and_eviction_single_thread() {
        let pool = Pool::new(2, PAGE, PAGE).unwrap();
        let get = |p: u64| {
            pool.with_page(
                p,
                |b: &mut [u8]| -> Result<(), ()> {
                    page::fill_page(b, p, TAG);
                    Ok(())
                },
                |d| page::fold_headers(d, p * PAGE as u64),
                |_, _| Ok(()),
            )
            .unwrap()
        };
        let want = |p: u64| page::expected_fold(p * PAGE as u64, PAGE as u64, TAG);
        assert_eq!(get(1), (want(1), Access::Miss));
        assert_eq!(get(1), (want(1), Access::Hit));
        assert_eq!(get(2), (want(2), Access::Miss));
        assert_eq!(get(3), (want(3), Access::Miss), "evicts one of 1, 2");
        assert_eq!(get(3), (want(3), Access::Hit));
        // A failed load caches nothing and leaves the pool usable.
        let r = pool.with_page(9, |_| Err("disk on fire"), |_| (), |_, _| Ok(()));
        assert!(matches!(r, Err(PoolError::Load("disk on fire"))));
        assert_eq!(get(9), (want(9), Access::Miss));
        assert_eq!(pool.table_spills(), 0);
    }

    /// Writes dirty frames; an evicted dirty frame is written back (as its old page,
    /// with its bytes) before the frame is reused; a flush writes a dirty page once;
    /// a failed write-back keeps the page dirty and resident.
    #[test]
    fn dirty_frames_written_back_on_eviction_and_flush() {
        let pool = Pool::new(2, PAGE, PAGE).unwrap();
        let disk = std::cell::RefCell::new(std::collections::HashMap::<u64, u8>::new());
        let wb = |p: u64, b: &[u8]| -> Result<(), ()> {
            disk.borrow_mut().insert(p, b[0]);
            Ok(())
        };
        let write = |p: u64, v: u8| pool.write_page(p, |b| b.fill(v), wb).unwrap();
        assert_eq!(write(1, 11), (Access::Miss, true));
        assert_eq!(write(1, 12), (Access::Hit, false), "already dirty");
        assert_eq!(write(2, 21), (Access::Miss, true));
        assert!(disk.borrow().is_empty(), "nothing written back yet");
        // A third page evicts a dirty one, which is written back with its newest bytes.
        write(3, 31);
        let d = disk.borrow().clone();
        assert_eq!(d.len(), 1);
        assert!(d.get(&1) == Some(&12) || d.get(&2) == Some(&21), "{d:?}");
        // A read of the evicted page misses (the loader reads it from "disk").
        let gone = if d.contains_key(&1) { 1 } else { 2 };
        let (v, how) = pool
            .with_page(
                gone,
                |b: &mut [u8]| -> Result<(), ()> {
                    b.fill(disk.borrow()[&gone]);
                    Ok(())
                },
                |b| b[0],
                wb,
            )
            .unwrap();
        assert_eq!((how, v), (Access::Miss, if gone == 1 { 12 } else { 21 }));
        // Page 3 is resident and dirty: flushed once, then clean.
        if pool.table.lookup(3).is_some() {
            assert_eq!(pool.flush_page(3, wb), Ok(true));
            assert_eq!(pool.flush_page(3, wb), Ok(false));
            assert_eq!(disk.borrow()[&3], 31);
        }
        assert_eq!(pool.flush_page(99, wb), Ok(false), "not resident");
        // A failed write-back on eviction: the write fails, the dirty page stays.
        let pool = Pool::new(2, PAGE, PAGE).unwrap();
        let fail = |_: u64, _: &[u8]| -> Result<(), &str> { Err("ENOSPC") };
        pool.write_page(1, |b| b.fill(1), fail).unwrap();
        pool.write_page(2, |b| b.fill(2), fail).unwrap();
        assert!(matches!(
            pool.write_page(3, |b| b.fill(3), fail),
            Err(PoolError::Load("ENOSPC"))
        ));
        let mut kept = Vec::new();
        let n = pool
            .flush_all(|p, b| -> Result<(), ()> {
                kept.push((p, b[0]));
                Ok(())
            })
            .unwrap();
        kept.sort();
        assert_eq!((n, kept), (2, vec![(1, 1), (2, 2)]));
    }

    /// Dirty pages whose table bucket is full stay findable: each is read back with
    /// its written bytes (not the file's) and flushed by its writer's sync. Before the
    /// table spilled, a full bucket dropped a mapping and the next read of that page
    /// loaded the file's stale bytes.
    #[test]
    fn dirty_pages_in_a_full_bucket_are_read_back_and_flushed() {
        const FRAMES: usize = 32;
        let pool = Pool::new(FRAMES, PAGE, PAGE).unwrap();
        // 12 pages of one bucket (more than its 7 entries), all written (dirty).
        let b0 = pool.table.index(0);
        let same: Vec<u64> = (0..)
            .filter(|&p| pool.table.index(p) == b0)
            .take(12)
            .collect();
        let none = |_: u64, _: &[u8]| -> Result<(), ()> { panic!("nothing is evicted") };
        for &p in &same {
            pool.write_page(p, |b| b.fill(p as u8 + 1), none).unwrap();
        }
        assert_eq!(pool.table_spills(), 5);
        for &p in &same {
            let (v, how) = pool
                .with_page(
                    p,
                    |b: &mut [u8]| -> Result<(), ()> {
                        b.fill(0xee); // the file's old bytes
                        Ok(())
                    },
                    |b| b[0],
                    none,
                )
                .unwrap();
            assert_eq!((v, how), (p as u8 + 1, Access::Hit), "page {p}");
        }
        let flushed = std::cell::RefCell::new(Vec::new());
        for &p in &same {
            let wrote = pool.flush_page(p, |q, b| -> Result<(), ()> {
                flushed.borrow_mut().push((q, b[0]));
                Ok(())
            });
            assert_eq!(wrote, Ok(true), "page {p} flushed");
        }
        let want: Vec<(u64, u8)> = same.iter().map(|&p| (p, p as u8 + 1)).collect();
        assert_eq!(flushed.into_inner(), want);
    }

    /// Optimistic hits racing refills: 4 threads, 8 frames, 64 pages, every load
    /// written in two halves with a pause between; every read returns the whole page
    /// asked for (a torn optimistic read must be discarded by the version check).
    #[test]
    fn stress_optimistic_reads() {
        optimistic_reads_racing_refills(Pool::new(8, PAGE, PAGE).unwrap());
    }

    /// The same with a page table of one bucket (7 entries for 8 frames): every insert
    /// and removal changes the version every reader checks, and a full bucket spills
    /// to the overflow map while readers use it.
    #[test]
    fn stress_optimistic_reads_one_bucket() {
        let pool = Pool::with_buckets(8, 1).unwrap();
        optimistic_reads_racing_refills(pool);
    }

    fn optimistic_reads_racing_refills(pool: Pool) {
        const PAGES: u64 = 64;
        const OPS: usize = 12_000;
        let hits = AtomicU64::new(0);
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (pool, hits) = (&pool, &hits);
                s.spawn(move || {
                    let mut rng = rand::rngs::SmallRng::seed_from_u64(t + 100);
                    for i in 0..OPS {
                        let p = if rng.gen_bool(0.5) {
                            rng.gen_range(0..4)
                        } else {
                            rng.gen_range(0..PAGES)
                        };
                        let want = page::expected_fold(p * PAGE as u64, PAGE as u64, TAG);
                        let (ok, how) = pool
                            .read_page(
                                p,
                                |b: &mut [u8]| -> Result<(), ()> {
                                    page::fill_page(b, p, TAG);
                                    b[PAGE / 2..].fill(0);
                                    std::thread::yield_now();
                                    page::fill_page(b, p, TAG);
                                    Ok(())
                                },
                                |v| {
                                    page::fold_headers_by(v.len(), p * PAGE as u64, |a| v.word(a))
                                        == want
                                        && v.word(PAGE - 8) != 0
                                },
                                |d| {
                                    page::fold_headers(d, p * PAGE as u64) == want
                                        && d[PAGE - 8..] != [0u8; 8]
                                },
                                |_, _| Ok(()),
                            )
                            .unwrap();
                        assert!(ok, "thread {t} op {i}: page {p} came back wrong");
                        if how == Access::Hit {
                            hits.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert!(hits.into_inner() > 0);
    }

    /// Optimistic reads racing in-place writes, refills and dirty write-backs: one
    /// writer rewrites 16 pages (every u64 of page p at generation g is `p << 32 | g`,
    /// each write in two halves with a pause between), three readers read them
    /// optimistically; 8 frames over 24 pages. Every read must see one page at one
    /// generation, whole, and never an older generation than
    /// the reader saw before: a write-back on eviction and the reload after it keep
    /// the newest bytes.
    #[test]
    fn stress_optimistic_reads_racing_writes() {
        const PAGES: u64 = 24;
        const WRITTEN: u64 = 16;
        const OPS: usize = 12_000;
        let pool = Pool::new(8, PAGE, PAGE).unwrap();
        let disk: Vec<AtomicU64> = (0..PAGES).map(|_| AtomicU64::new(0)).collect();
        let fill = |b: &mut [u8], p: u64, g: u64| {
            let w = ((p << 32) | g).to_le_bytes();
            let (lo, hi) = b.split_at_mut(PAGE / 2);
            lo.chunks_mut(8).for_each(|c| c.copy_from_slice(&w));
            std::thread::yield_now();
            hi.chunks_mut(8).for_each(|c| c.copy_from_slice(&w));
        };
        let writeback = |p: u64, b: &[u8]| -> Result<(), ()> {
            let w = u64::from_le_bytes(b[..8].try_into().unwrap());
            assert_eq!(w >> 32, p, "a write-back of page {p} carries another page");
            disk[p as usize].store(w & 0xffff_ffff, Ordering::SeqCst);
            Ok(())
        };
        let regressions = AtomicU64::new(0);
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let (pool, disk, done) = (&pool, &disk, &done);
            s.spawn(move || {
                let mut rng = rand::rngs::SmallRng::seed_from_u64(77);
                let mut gen = vec![0u64; PAGES as usize];
                for _ in 0..OPS {
                    let p = rng.gen_range(0..WRITTEN);
                    gen[p as usize] += 1;
                    let g = gen[p as usize];
                    pool.write_page(p, |b| fill(b, p, g), writeback).unwrap();
                }
                done.store(true, Ordering::Relaxed);
            });
            for t in 0..3u64 {
                let regressions = &regressions;
                s.spawn(move || {
                    let mut rng = rand::rngs::SmallRng::seed_from_u64(t + 200);
                    let mut seen = vec![0u64; PAGES as usize];
                    let mut i = 0usize;
                    while !done.load(Ordering::Relaxed) || i < OPS {
                        i += 1;
                        let p = rng.gen_range(0..PAGES);
                        fn whole(p: u64, w0: u64, mut all: impl Iterator<Item = u64>) -> bool {
                            w0 >> 32 == p && all.all(|w| w == w0)
                        }
                        let (w, _) = pool
                            .read_page(
                                p,
                                |b: &mut [u8]| -> Result<(), ()> {
                                    fill(b, p, disk[p as usize].load(Ordering::SeqCst));
                                    Ok(())
                                },
                                |v| {
                                    let w0 = v.word(0);
                                    whole(p, w0, (0..PAGE).step_by(8).map(|a| v.word(a)))
                                        .then_some(w0)
                                },
                                |d| {
                                    let w0 = u64::from_le_bytes(d[..8].try_into().unwrap());
                                    let all = d
                                        .chunks(8)
                                        .map(|c| u64::from_le_bytes(c.try_into().unwrap()));
                                    whole(p, w0, all).then_some(w0)
                                },
                                writeback,
                            )
                            .unwrap();
                        let w = w
                            .unwrap_or_else(|| panic!("reader {t} op {i}: page {p} torn or wrong"));
                        let g = w & 0xffff_ffff;
                        if g < seen[p as usize] {
                            regressions.fetch_add(1, Ordering::Relaxed);
                        }
                        seen[p as usize] = g;
                    }
                });
            }
        });
        let r = regressions.into_inner();
        assert_eq!(r, 0, "{r} reads saw an older generation than before");
    }

    /// 4 threads hammer 8 frames over 64 pages; every page handed out must be the page
    /// asked for, whole (the header and every word), never a frame mid-refill.
    #[test]
    fn stress_tiny_pool_many_threads() {
        const PAGES: u64 = 64;
        const OPS: usize = 12_000;
        let pool = Pool::new(8, PAGE, PAGE).unwrap();
        let hits = AtomicU64::new(0);
        let misses = AtomicU64::new(0);
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (pool, hits, misses) = (&pool, &hits, &misses);
                s.spawn(move || {
                    let mut rng = rand::rngs::SmallRng::seed_from_u64(t);
                    let mut expected = vec![0u8; PAGE];
                    for i in 0..OPS {
                        // Half the accesses to 4 hot pages (hits and contention on the
                        // same frames), half uniform (eviction).
                        let p = if rng.gen_bool(0.5) {
                            rng.gen_range(0..4)
                        } else {
                            rng.gen_range(0..PAGES)
                        };
                        let full = i % 8 == 0;
                        let (ok, how) = pool
                            .with_page(
                                p,
                                |b: &mut [u8]| -> Result<(), ()> {
                                    // Write the page in two halves with a pause between,
                                    // so that a reader of a frame mid-refill would see
                                    // a torn page.
                                    page::fill_page(b, p, TAG);
                                    b[PAGE / 2..].fill(0);
                                    std::thread::yield_now();
                                    page::fill_page(b, p, TAG);
                                    Ok(())
                                },
                                |d| {
                                    let fold_ok = page::fold_headers(d, p * PAGE as u64)
                                        == page::expected_fold(p * PAGE as u64, PAGE as u64, TAG);
                                    if full {
                                        page::fill_page(&mut expected, p, TAG);
                                        fold_ok && d == &expected[..]
                                    } else {
                                        fold_ok && d[PAGE - 8..] != [0u8; 8]
                                    }
                                },
                                |_, _| Ok(()),
                            )
                            .unwrap();
                        assert!(ok, "thread {t} op {i}: page {p} came back wrong");
                        match how {
                            Access::Hit => hits.fetch_add(1, Ordering::Relaxed),
                            Access::Miss => misses.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                });
            }
        });
        let (h, m) = (hits.into_inner(), misses.into_inner());
        assert_eq!(h + m, 4 * OPS as u64);
        assert!(h > 0 && m > 0, "hits {h} misses {m}");
        eprintln!(
            "stress: {h} hits, {m} misses, {} table spills",
            pool.table_spills()
        );
    }
}
