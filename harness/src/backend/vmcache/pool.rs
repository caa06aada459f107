//! The vmcache pool proper: the region (`sys::vmregion`), the set of resident pages the
//! clock sweeps, and the memory budget, independent of how a page is read (the caller
//! passes the loader), so it can be stress-tested without a disk.
//!
//! * Hit: page `p` is at `base + p * page_len`. A read-only pool reads it optimistically
//!   (no write to shared memory: load the state word, read, check the version did not
//!   move); a pool that takes writes takes a shared latch (one CAS in, one atomic
//!   subtraction out), since a writer's copy may run concurrently. A page latched
//!   exclusively (being loaded or evicted) is waited for.
//! * Miss: latch the evicted page exclusively (one CAS; a thread that loses the race
//!   waits for the winner's load, then hits), reserve one page of the budget (evicting
//!   a batch first when the budget is used up), read the page straight into its
//!   address, add it to the resident set, and downgrade to a shared latch to read it.
//! * Eviction: the clock sweeps the resident set in chunks from a shared hand. An
//!   unlocked page gets marked; a page still marked when the hand comes back (nobody
//!   read it meanwhile) is latched exclusively, until `batch` pages are latched. Dirty
//!   ones are written back (still latched: readers wait, then miss and read what was
//!   written). Then the batch leaves the resident set and its memory goes back to the
//!   kernel in one call (`VmRegion::release`), and the pages are marked evicted.
//!   One thread evicts at a time (a try-lock), starting while `batch` pages of the
//!   budget are still free, so the others take those meanwhile instead of sweeping too.
//! * The budget: `used` counts pages resident or being loaded; a miss may take one only
//!   while `used < capacity`. Each thread holds at most one latch while it reserves, so
//!   with a capacity of at least twice the threads a batch can always be found.
//! * Writes (`write_page`): the page is latched exclusively (a missing page is not read
//!   first: the write covers it), filled and marked dirty. `flush_page` writes a dirty
//!   page back under a shared latch (a sync by its only writer); `flush_all` every dirty
//!   resident page (closing the pool).

use crate::datafile::page::mix;
use crate::sys::vmregion::{ExclusivePage, Release, Shared, VmRegion};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// How a page was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Hit,
    Miss,
}

#[derive(Debug)]
pub enum PoolError<E> {
    /// The loader or the write-back of a dirty victim failed; nothing was cached.
    Load(E),
    /// The clock found nothing to evict for many sweeps (every page latched).
    NoVictim,
    /// Giving memory back to the kernel failed.
    Release(io::Error),
}

/// A worker's scratch space and its eviction counts (cumulative).
#[derive(Default)]
pub struct Scratch<'a> {
    victims: Vec<ExclusivePage<'a>>,
    /// Pages this worker evicted.
    pub evictions: u64,
    /// Batches it evicted (each released with one call where the kernel allows it).
    pub batches: u64,
    /// System calls those batches took.
    pub release_calls: u64,
}

/// Sweeps over the resident set before a miss gives up (never reached when the
/// capacity is at least twice the threads; a bound instead of a hang).
const MAX_SWEEPS: usize = 10_000;
/// Slots of the resident set one step of the clock claims from the shared hand.
const CHUNK: usize = 64;

pub struct Pool {
    region: VmRegion,
    resident: ResidentSet,
    capacity: usize,
    used: AtomicUsize,
    batch: usize,
    /// A batch is started while this many pages of the budget are still free.
    headroom: usize,
    /// Held by the one thread that is evicting a batch.
    evicting: AtomicBool,
    /// Tests: threads inside `evict_batch` now, and the most seen at once.
    #[cfg(test)]
    evictors: (AtomicUsize, AtomicUsize),
    optimistic: bool,
    /// Per page, only for pools that take writes: written since last written back.
    dirty: Option<Box<[AtomicBool]>>,
}

impl Pool {
    /// A pool over `pages` pages of `page_len` bytes with room for `capacity` resident
    /// pages (plus one per thread while it loads), evicting `batch` at a time; `writes`
    /// makes hits take a shared latch and keeps dirty flags.
    pub fn new(
        pages: usize,
        page_len: usize,
        capacity: usize,
        batch: usize,
        writes: bool,
        release: Release,
    ) -> io::Result<Pool> {
        let capacity = capacity.clamp(1, pages.max(1));
        let batch = batch.clamp(1, capacity);
        Ok(Pool {
            region: VmRegion::new(pages, page_len, release)?,
            resident: ResidentSet::new(capacity),
            capacity,
            used: AtomicUsize::new(0),
            batch,
            // At most half the budget (a batch is at most half of it): the pool stays
            // at least half full.
            headroom: batch.min(capacity / 2),
            evicting: AtomicBool::new(false),
            #[cfg(test)]
            evictors: (AtomicUsize::new(0), AtomicUsize::new(0)),
            optimistic: !writes,
            dirty: writes.then(|| (0..pages).map(|_| AtomicBool::new(false)).collect()),
        })
    }

    pub fn region(&self) -> &VmRegion {
        &self.region
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn optimistic(&self) -> bool {
        self.optimistic
    }

    /// Pages resident or being loaded now.
    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Make `page` resident (reading it with `load` on a miss) and return `read` of its
    /// bytes. `read` may run more than once (an optimistic read that raced an eviction
    /// is repeated); only the result of a validated run is returned.
    ///
    /// The hit of a read-only pool (one optimistic read) is inlined into the caller's
    /// loop; everything else (a miss, a latched page, a pool that takes writes) is one
    /// call out of line. In-memory reads are bound by how many cache misses the core
    /// keeps in flight, and a call with its register saves per operation, or a loop
    /// body a few times longer, leaves fewer of them in its window.
    #[inline(always)]
    pub fn with_page<'a, R, E>(
        &'a self,
        page: u64,
        scratch: &mut Scratch<'a>,
        load: impl FnOnce(&mut [u8]) -> Result<(), E>,
        read: impl Fn(&[u8]) -> R,
        writeback: impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<(R, Access), PoolError<E>> {
        if self.optimistic {
            if let Ok(r) = self.region.read_optimistic(page as usize, &read) {
                return Ok((r, Access::Hit));
            }
        }
        self.with_page_slow(page, scratch, load, read, writeback)
    }

    /// `with_page` past its inlined optimistic hit.
    #[cold]
    #[inline(never)]
    fn with_page_slow<'a, R, E>(
        &'a self,
        page: u64,
        scratch: &mut Scratch<'a>,
        load: impl FnOnce(&mut [u8]) -> Result<(), E>,
        read: impl Fn(&[u8]) -> R,
        mut writeback: impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<(R, Access), PoolError<E>> {
        let i = page as usize;
        let mut waits = 0u32;
        loop {
            let evicted = if self.optimistic {
                match self.region.read_optimistic(i, &read) {
                    Ok(r) => return Ok((r, Access::Hit)),
                    Err(evicted) => evicted,
                }
            } else {
                match self.region.try_shared(i) {
                    Shared::Latched(p) => return Ok((read(p.data()), Access::Hit)),
                    Shared::Evicted => true,
                    Shared::Busy => false,
                }
            };
            if !evicted {
                backoff(&mut waits);
                continue;
            }
            // Tests widen the window between seeing the page evicted and latching it.
            #[cfg(test)]
            tests::maybe_pause();
            let Some(mut x) = self.region.try_lock_evicted(i) else {
                // Another thread is loading it: wait for its load, then hit.
                backoff(&mut waits);
                continue;
            };
            self.reserve(scratch, &mut writeback)?;
            if let Err(e) = load(x.data_mut()) {
                drop(x); // memory given back, evicted again
                self.used.fetch_sub(1, Ordering::Relaxed);
                return Err(PoolError::Load(e));
            }
            x.set_loaded();
            self.resident.insert(page);
            let s = x.downgrade();
            return Ok((read(s.data()), Access::Miss));
        }
    }

    /// Write `page`: `fill` its bytes (the whole page) and mark it dirty. Returns how
    /// it was found and whether it was clean before. Only one thread writes a page.
    pub fn write_page<'a, E>(
        &'a self,
        page: u64,
        scratch: &mut Scratch<'a>,
        fill: impl FnOnce(&mut [u8]),
        mut writeback: impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<(Access, bool), PoolError<E>> {
        let i = page as usize;
        let mut waits = 0u32;
        loop {
            if let Some(mut x) = self.region.try_lock_resident(i) {
                fill(x.data_mut());
                let was_dirty = self.set_dirty(i);
                return Ok((Access::Hit, !was_dirty));
            }
            if let Some(mut x) = self.region.try_lock_evicted(i) {
                self.reserve(scratch, &mut writeback)?;
                fill(x.data_mut());
                x.set_loaded();
                self.set_dirty(i);
                self.resident.insert(page);
                return Ok((Access::Miss, true));
            }
            backoff(&mut waits);
        }
    }

    fn set_dirty(&self, i: usize) -> bool {
        self.dirty
            .as_ref()
            .is_some_and(|d| d[i].swap(true, Ordering::Relaxed))
    }

    fn is_dirty(&self, i: usize) -> bool {
        self.dirty
            .as_ref()
            .is_some_and(|d| d[i].load(Ordering::Relaxed))
    }

    fn clear_dirty(&self, i: usize) {
        if let Some(d) = &self.dirty {
            d[i].store(false, Ordering::Relaxed);
        }
    }

    /// Write `page` back if it is resident and dirty (a sync by its writer).
    pub fn flush_page<E>(
        &self,
        page: u64,
        writeback: impl FnOnce(u64, &[u8]) -> Result<(), E>,
    ) -> Result<bool, E> {
        let i = page as usize;
        let mut waits = 0u32;
        loop {
            match self.region.try_shared(i) {
                Shared::Evicted => return Ok(false), // written back by its eviction
                Shared::Busy => backoff(&mut waits),
                Shared::Latched(p) => {
                    if !self.is_dirty(i) {
                        return Ok(false);
                    }
                    writeback(page, p.data())?;
                    self.clear_dirty(i);
                    return Ok(true);
                }
            }
        }
    }

    /// Write every dirty resident page back (closing the pool, no writer running).
    pub fn flush_all<E>(
        &self,
        mut writeback: impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<u64, E> {
        let mut n = 0;
        for page in self.resident.pages() {
            if self.is_dirty(page as usize) && self.flush_page(page, &mut writeback)? {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Take one page of the budget. One thread at a time evicts (`evicting`), and it
    /// starts a batch while `batch` pages of the budget are still free, so the others
    /// go on taking those meanwhile instead of sweeping the clock at the same time or
    /// waiting; a miss waits only when the budget is used up while a batch is being
    /// evicted.
    fn reserve<'a, E>(
        &'a self,
        scratch: &mut Scratch<'a>,
        writeback: &mut impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<(), PoolError<E>> {
        let mut waits = 0u32;
        loop {
            let mut u = self.used.load(Ordering::Relaxed);
            if u + self.headroom >= self.capacity
                && !self.evicting.load(Ordering::Relaxed)
                && self
                    .evicting
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                // While pages are free this may return having swept one chunk and
                // found nothing yet (the next miss sweeps on).
                #[cfg(test)]
                {
                    let now = self.evictors.0.fetch_add(1, Ordering::Relaxed) + 1;
                    self.evictors.1.fetch_max(now, Ordering::Relaxed);
                }
                let r = self.evict_batch(scratch, writeback);
                #[cfg(test)]
                self.evictors.0.fetch_sub(1, Ordering::Relaxed);
                self.evicting.store(false, Ordering::Release);
                r?;
                u = self.used.load(Ordering::Relaxed);
            }
            if u < self.capacity {
                if self
                    .used
                    .compare_exchange_weak(u, u + 1, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
                {
                    return Ok(());
                }
                continue;
            }
            // Used up, and another thread is evicting: wait for its batch.
            backoff(&mut waits);
        }
    }

    /// Evict up to `batch` pages chosen by the clock; returns how many.
    fn evict_batch<'a, E>(
        &'a self,
        scratch: &mut Scratch<'a>,
        writeback: &mut impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<usize, PoolError<E>> {
        let victims = &mut scratch.victims;
        let slots = self.resident.len();
        let mut scanned = 0usize;
        while victims.len() < self.batch {
            if scanned >= slots.saturating_mul(MAX_SWEEPS) {
                break;
            }
            let start = self.resident.hand.fetch_add(CHUNK, Ordering::Relaxed);
            for k in 0..CHUNK {
                let Some(p) = self.resident.at(start.wrapping_add(k)) else {
                    continue;
                };
                if let Some(x) = self.region.clock_step(p as usize) {
                    victims.push(x);
                    if victims.len() == self.batch {
                        break;
                    }
                }
            }
            scanned += CHUNK;
            if !victims.is_empty() && scanned >= 2 * slots {
                break; // two full sweeps (one marks, one takes): take what they found
            }
            if scanned >= 2 * slots && scanned % slots < CHUNK {
                // Two sweeps found nothing: everything is latched or re-read as fast
                // as the hand marks it. Let the others run.
                std::thread::yield_now();
            }
            // Another thread may have made room meanwhile.
            if victims.is_empty() && self.used.load(Ordering::Relaxed) < self.capacity {
                return Ok(0);
            }
        }
        if victims.is_empty() {
            return Err(PoolError::NoVictim);
        }
        for x in victims.iter_mut() {
            let i = x.index();
            if self.is_dirty(i) {
                // Still latched: a reader of this page waits, then misses and reads
                // what this wrote.
                if let Err(e) = writeback(i as u64, x.data_mut()) {
                    victims.clear(); // unlatched, resident, still dirty
                    return Err(PoolError::Load(e));
                }
                self.clear_dirty(i);
            }
        }
        for x in victims.iter() {
            self.resident.remove(x.index() as u64);
        }
        let n = victims.len();
        let r = self.region.release(victims);
        self.used.fetch_sub(n, Ordering::Relaxed);
        let calls = r.map_err(PoolError::Release)?;
        scratch.evictions += n as u64;
        scratch.batches += 1;
        scratch.release_calls += calls as u64;
        Ok(n)
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

const EMPTY: u64 = u64::MAX;
const TOMBSTONE: u64 = u64::MAX - 1;

/// The pages that are resident, for the clock to sweep: an open-addressing hash set of
/// page numbers with linear probing, at most half full (room for the capacity plus
/// the pages being loaded). A page is inserted and removed only by the holder of its
/// exclusive latch, so it is never in the set twice. Removed entries become tombstones,
/// which inserts reuse; the clock reads slots without locks and may see a page that
/// was just evicted or loaded (its state word decides, not the set).
struct ResidentSet {
    slots: Box<[AtomicU64]>,
    mask: usize,
    hand: AtomicUsize,
}

impl ResidentSet {
    fn new(capacity: usize) -> ResidentSet {
        let n = (2 * capacity + 2 * CHUNK).next_power_of_two();
        ResidentSet {
            slots: (0..n).map(|_| AtomicU64::new(EMPTY)).collect(),
            mask: n - 1,
            hand: AtomicUsize::new(0),
        }
    }

    fn len(&self) -> usize {
        self.slots.len()
    }

    /// The page in slot `k` (modulo the size), if any.
    #[inline]
    fn at(&self, k: usize) -> Option<u64> {
        let v = self.slots[k & self.mask].load(Ordering::Relaxed);
        (v < TOMBSTONE).then_some(v)
    }

    fn insert(&self, page: u64) {
        let mut pos = mix(page) as usize & self.mask;
        loop {
            let s = &self.slots[pos];
            let cur = s.load(Ordering::Relaxed);
            if (cur == EMPTY || cur == TOMBSTONE)
                && s.compare_exchange(cur, page, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                return;
            }
            pos = (pos + 1) & self.mask;
        }
    }

    fn remove(&self, page: u64) {
        let mut pos = mix(page) as usize & self.mask;
        for _ in 0..self.slots.len() {
            let s = &self.slots[pos];
            if s.load(Ordering::Relaxed) == page {
                s.store(TOMBSTONE, Ordering::Relaxed);
                return;
            }
            pos = (pos + 1) & self.mask;
        }
    }

    /// The pages in the set now (closing flush; no concurrent changes).
    fn pages(&self) -> Vec<u64> {
        (0..self.slots.len()).filter_map(|k| self.at(k)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datafile::page::{self, PAGE};
    use rand::{Rng, SeedableRng};

    const TAG: u64 = 0x5eed;

    thread_local! {
        static PAUSES: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }

    /// Yield on every 5th miss of a thread, so that others evict and reload around it.
    pub(super) fn maybe_pause() {
        PAUSES.with(|c| {
            c.set(c.get().wrapping_add(1));
            if c.get() % 5 == 0 {
                std::thread::yield_now();
            }
        });
    }

    fn fill(b: &mut [u8], p: u64) -> Result<(), ()> {
        page::fill_page(b, p, TAG);
        Ok(())
    }

    #[test]
    fn hits_misses_and_batched_eviction_single_thread() {
        let pool = Pool::new(64, PAGE, 8, 4, false, Release::ProcessMadvise).unwrap();
        let mut s = Scratch::default();
        let want = |p: u64| page::expected_fold(p * PAGE as u64, PAGE as u64, TAG);
        for p in 0..8u64 {
            let r = pool
                .with_page(
                    p,
                    &mut s,
                    |b| fill(b, p),
                    |d| page::fold_headers(d, p * PAGE as u64),
                    |_, _| Ok(()),
                )
                .unwrap();
            assert_eq!(r, (want(p), Access::Miss));
        }
        assert_eq!(pool.used(), 8);
        assert_eq!(s.evictions, 0);
        let r = pool
            .with_page(
                3,
                &mut s,
                |b| fill(b, 3),
                |d| page::fold_headers(d, 3 * PAGE as u64),
                |_, _| Ok(()),
            )
            .unwrap();
        assert_eq!(r, (want(3), Access::Hit));
        // The 9th page evicts one batch of 4.
        pool.with_page(
            20,
            &mut s,
            |b| fill(b, 20),
            |d| page::fold_headers(d, 20 * PAGE as u64),
            |_, _| Ok(()),
        )
        .unwrap();
        assert_eq!((s.evictions, s.batches), (4, 1));
        assert_eq!(pool.used(), 5);
        let resident = (0..64).filter(|&i| pool.region().is_resident(i)).count();
        assert_eq!(resident, 5);
        // A failed load caches nothing.
        let r = pool.with_page(40, &mut s, |_| Err("disk on fire"), |_| (), |_, _| Ok(()));
        assert!(matches!(r, Err(PoolError::Load("disk on fire"))));
        assert!(!pool.region().is_resident(40));
        // (Its reservation may have evicted ahead of time: 5 + a batch reached the
        // budget.) The budget counts exactly the resident pages, none for page 40.
        let resident = (0..64).filter(|&i| pool.region().is_resident(i)).count();
        assert_eq!(pool.used(), resident);
        assert!(resident <= 5);
    }

    /// Dirty pages are written back (with their newest bytes) when evicted, once by a
    /// flush, and by flush_all at close.
    #[test]
    fn dirty_pages_written_back_on_eviction_flush_and_close() {
        let pool = Pool::new(16, PAGE, 2, 1, true, Release::Madvise).unwrap();
        let mut s = Scratch::default();
        let disk = std::cell::RefCell::new(std::collections::HashMap::<u64, u8>::new());
        let wb = |p: u64, b: &[u8]| -> Result<(), ()> {
            disk.borrow_mut().insert(p, b[0]);
            Ok(())
        };
        assert_eq!(
            pool.write_page(1, &mut s, |b| b.fill(11), wb).unwrap(),
            (Access::Miss, true)
        );
        assert_eq!(
            pool.write_page(1, &mut s, |b| b.fill(12), wb).unwrap(),
            (Access::Hit, false)
        );
        pool.write_page(2, &mut s, |b| b.fill(21), wb).unwrap();
        assert!(disk.borrow().is_empty());
        pool.write_page(3, &mut s, |b| b.fill(31), wb).unwrap();
        let d = disk.borrow().clone();
        assert_eq!(d.len(), 1, "one page evicted and written back: {d:?}");
        assert!(d.get(&1) == Some(&12) || d.get(&2) == Some(&21), "{d:?}");
        assert!(pool.flush_page(3, wb).unwrap());
        assert!(!pool.flush_page(3, wb).unwrap(), "clean now");
        assert_eq!(disk.borrow()[&3], 31);
        let gone = if d.contains_key(&1) { 1 } else { 2 };
        let (v, how) = pool
            .with_page(
                gone,
                &mut s,
                |b| -> Result<(), ()> {
                    b.fill(disk.borrow()[&gone]);
                    Ok(())
                },
                |b| b[0],
                wb,
            )
            .unwrap();
        assert_eq!((how, v), (Access::Miss, if gone == 1 { 12 } else { 21 }));
        // One dirty page left (the other of 1 and 2 or none); flush_all writes it.
        disk.borrow_mut().clear();
        let n = pool.flush_all(wb).unwrap();
        assert_eq!(n as usize, disk.borrow().len());
    }

    /// Threads hammer a tiny budget (8 pages, batches of 4) over 64 pages; every page
    /// handed out must be the page asked for, whole, never a page mid-load or zeroed by
    /// an eviction. `shared` runs the latched hit path, else the optimistic one.
    fn stress(writes: bool, release: Release) {
        const PAGES: u64 = 64;
        const OPS: usize = 12_000;
        let pool = Pool::new(PAGES as usize, PAGE, 8, 4, writes, release).unwrap();
        let hits = AtomicU64::new(0);
        let misses = AtomicU64::new(0);
        let evictions = AtomicU64::new(0);
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (pool, hits, misses, evictions) = (&pool, &hits, &misses, &evictions);
                s.spawn(move || {
                    let mut rng = rand::rngs::SmallRng::seed_from_u64(t);
                    let mut expected = vec![0u8; PAGE];
                    let mut scratch = Scratch::default();
                    for i in 0..OPS {
                        let p = if rng.gen_bool(0.5) {
                            rng.gen_range(0..4)
                        } else {
                            rng.gen_range(0..PAGES)
                        };
                        page::fill_page(&mut expected, p, TAG);
                        let (ok, how) = pool
                            .with_page(
                                p,
                                &mut scratch,
                                |b: &mut [u8]| -> Result<(), ()> {
                                    // In two halves with a pause between, so a reader of a
                                    // page mid-load would see it torn.
                                    page::fill_page(b, p, TAG);
                                    b[PAGE / 2..].fill(0);
                                    std::thread::yield_now();
                                    page::fill_page(b, p, TAG);
                                    Ok(())
                                },
                                |d| d == &expected[..],
                                |_, _| Ok(()),
                            )
                            .unwrap();
                        assert!(ok, "thread {t} op {i}: page {p} came back wrong");
                        match how {
                            Access::Hit => hits.fetch_add(1, Ordering::Relaxed),
                            Access::Miss => misses.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                    evictions.fetch_add(scratch.evictions, Ordering::Relaxed);
                    assert!(pool.used() <= pool.capacity());
                });
            }
        });
        let (h, m) = (hits.into_inner(), misses.into_inner());
        assert_eq!(h + m, 4 * OPS as u64);
        assert!(h > 0 && m > 0, "hits {h} misses {m}");
        let e = evictions.into_inner();
        assert!(
            e + 8 >= m,
            "every miss past the budget evicted: {e} evictions, {m} misses"
        );
        let resident = (0..PAGES as usize)
            .filter(|&i| pool.region().is_resident(i))
            .count();
        assert_eq!(
            resident,
            pool.used(),
            "the budget counts exactly the resident pages"
        );
        assert_eq!(
            pool.evictors.1.load(Ordering::Relaxed),
            1,
            "one thread evicts at a time (and someone evicted)"
        );
        eprintln!("vmcache stress ({writes}, {release:?}): {h} hits, {m} misses, {e} evictions");
    }

    #[test]
    fn stress_tiny_budget_optimistic_reads() {
        stress(false, Release::ProcessMadvise);
    }

    #[test]
    fn stress_tiny_budget_shared_latches_madvise() {
        stress(true, Release::Madvise);
    }

    /// Writers and readers at once on a tiny budget: each thread owns the pages
    /// congruent to it and writes a generation into them; every read of any page must
    /// show a whole page of one generation its writer wrote, and evicted dirty pages
    /// come back from the "disk" with their newest bytes.
    #[test]
    fn stress_writes_evictions_and_readers() {
        const PAGES: u64 = 32;
        let pool = Pool::new(PAGES as usize, PAGE, 8, 3, true, Release::ProcessMadvise).unwrap();
        let disk: Vec<std::sync::Mutex<u8>> =
            (0..PAGES).map(|_| std::sync::Mutex::new(0)).collect();
        let wb = |p: u64, b: &[u8]| -> Result<(), ()> {
            assert!(b.iter().all(|&x| x == b[0]), "page {p} written back torn");
            *disk[p as usize].lock().unwrap() = b[0];
            Ok(())
        };
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (pool, disk) = (&pool, &disk);
                s.spawn(move || {
                    let mut rng = rand::rngs::SmallRng::seed_from_u64(100 + t);
                    let mut scratch = Scratch::default();
                    let mut gen = vec![0u8; PAGES as usize];
                    for _ in 0..4000 {
                        let p = rng.gen_range(0..PAGES);
                        if p % 4 == t && rng.gen_bool(0.3) {
                            let g = gen[p as usize].wrapping_add(1).max(1);
                            gen[p as usize] = g;
                            pool.write_page(p, &mut scratch, |b| b.fill(g), wb).unwrap();
                        } else {
                            let (b0, whole) = pool
                                .with_page(
                                    p,
                                    &mut scratch,
                                    |b: &mut [u8]| -> Result<(), ()> {
                                        b.fill(*disk[p as usize].lock().unwrap());
                                        Ok(())
                                    },
                                    |b| (b[0], b.iter().all(|&x| x == b[0])),
                                    wb,
                                )
                                .unwrap()
                                .0;
                            assert!(whole, "page {p} torn");
                            if p % 4 == t {
                                assert_eq!(b0, gen[p as usize], "own page {p} lost a write");
                            }
                        }
                    }
                });
            }
        });
    }
}
