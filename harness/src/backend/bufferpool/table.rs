//! The page table: block number -> frame index, readable without any lock, and the
//! version that validates an optimistic read of a page's frame.
//!
//! A fixed array of buckets of one cache line each: a version word and 7 entries. A page
//! lives only in the bucket its hash selects, so a lookup is one cache line and never
//! probes further. An entry packs `(page + 1) << 26 | LOADING | REFERENCED | frame`
//! (0 = empty), so one atomic word holds the whole mapping and a reader can never see a
//! key with another key's frame. There are at least as many buckets as frames (7
//! entries per frame, at most one mapped page per frame), so a bucket is on average at
//! most 1/7 full.
//!
//! The version is a seqlock over the bucket: odd while a writer holds the bucket's lock,
//! advanced by 2 at every unlock. Every change of a bucket's entries (insert, remove,
//! a replacement when full) is made under that lock, and so is every change of the
//! bytes of a mapped frame in place (`lock` by a writer of a resident page). A frame is
//! refilled only after its old page's entry was removed. So a reader that finds a ready
//! entry `page -> frame` at an even version, reads the frame, and finds the same version
//! again (after an Acquire fence) read `page`'s bytes, whole (`read_optimistic`): a hit
//! is the bucket's line and the data, with no third line (the frame's latch) between
//! them. `LOADING` marks an entry inserted by a miss whose read is under way; it is
//! cleared (`ready`, a Release CAS) when the frame holds the page. Optimistic readers
//! skip a loading entry (the caller waits on the frame's latch instead).
//!
//! `REFERENCED` is the clock's second-chance bit of an optimistic hit: set by the hit
//! (a CAS, only when clear) and cleared by the clock (`clear_referenced`), outside the
//! lock: only the flag bits of a live entry change that way, and every locked change
//! compares whole entries (a flag set concurrently makes it retry).
//!
//! A full bucket spills: an insert that finds all 7 entries taken puts the mapping in
//! one overflow map (under its own mutex) and counts it in the bucket's spill counter,
//! both under the bucket's lock. A lookup that does not find its page in the bucket
//! reads that counter (a second cache line, only on the way to a miss) and searches the
//! overflow map only when it is not zero; `Locked::lookup` does the same under the
//! bucket's lock, so "absent? then insert" stays exact. A spilled page is never read
//! optimistically (the caller pins its frame and checks the tag). The table is exact: a
//! resident page is always found, which dirty pages need (a dirty page that could not be
//! found would be read again from the file, stale, and skipped by its writer's sync).
//! Spills are rare (at least as many buckets as frames, 7 entries each).
//! The overflow mutex is taken last and nothing is locked while it is held.

use std::collections::HashMap;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

const WAYS: usize = 7;
const FRAME_BITS: u32 = 24;
const FRAME_MASK: u64 = (1 << FRAME_BITS) - 1;
const REFERENCED: u64 = 1 << FRAME_BITS;
const LOADING: u64 = 1 << (FRAME_BITS + 1);
const KEY_SHIFT: u32 = FRAME_BITS + 2;
/// The bits that name a mapping (key and frame), without the flags.
const MAPPING: u64 = !(REFERENCED | LOADING);

/// Frames the table can address.
pub const MAX_FRAMES: usize = FRAME_MASK as usize;
/// Highest page number the table can hold.
pub const MAX_PAGE: u64 = (1u64 << (64 - KEY_SHIFT)) - 2;

#[repr(align(64))]
struct Bucket {
    /// Seqlock: odd while locked, +2 per unlock.
    version: AtomicU64,
    entries: [AtomicU64; WAYS],
}

pub struct PageTable {
    buckets: Box<[Bucket]>,
    mask: usize,
    /// `64 - log2(buckets)` (at most 63): the bucket is the top bits of the page
    /// number times the golden ratio (one multiply; neighbouring pages spread evenly).
    shift: u32,
    /// Mappings whose bucket was full when they were inserted.
    overflow: Mutex<HashMap<u64, usize>>,
    /// Per bucket: how many of its pages are in `overflow` (changed under its lock).
    spilled: Box<[AtomicU32]>,
    spills: AtomicU64,
}

#[inline]
fn pack(page: u64, frame: usize) -> u64 {
    ((page + 1) << KEY_SHIFT) | frame as u64
}

impl PageTable {
    /// A table for `frames` frames (at most `MAX_FRAMES`) and pages up to `MAX_PAGE`.
    pub fn new(frames: usize) -> PageTable {
        Self::with_buckets(frames.clamp(1, MAX_FRAMES).next_power_of_two())
    }

    /// A table of `n` buckets (a power of two; tests use few to force sharing).
    pub fn with_buckets(n: usize) -> PageTable {
        let n = n.max(1).next_power_of_two();
        PageTable {
            buckets: (0..n)
                .map(|_| Bucket {
                    version: AtomicU64::new(0),
                    entries: std::array::from_fn(|_| AtomicU64::new(0)),
                })
                .collect(),
            mask: n - 1,
            shift: (64 - n.trailing_zeros()).min(63),
            overflow: Mutex::new(HashMap::new()),
            spilled: (0..n).map(|_| AtomicU32::new(0)).collect(),
            spills: AtomicU64::new(0),
        }
    }

    /// `page`'s bucket number.
    #[inline]
    pub(super) fn index(&self, page: u64) -> usize {
        let h = page.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift;
        h as usize & self.mask
    }

    #[inline]
    fn bucket(&self, page: u64) -> &Bucket {
        &self.buckets[self.index(page)]
    }

    /// `page` in the overflow map, if its bucket has spilled entries.
    #[inline]
    fn lookup_spilled(&self, page: u64) -> Option<usize> {
        if self.spilled[self.index(page)].load(Ordering::Acquire) == 0 {
            return None;
        }
        self.overflow().get(&page).copied()
    }

    fn overflow(&self) -> MutexGuard<'_, HashMap<u64, usize>> {
        // A poisoned lock only means another thread panicked while holding it; the map
        // is only ever changed by single insert/remove calls and stays consistent.
        self.overflow.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The frame that holds `page` or is being loaded with it, if the table knows one
    /// (lock-free; the caller pins the frame and checks its tag).
    #[inline]
    pub fn lookup(&self, page: u64) -> Option<usize> {
        match find(self.bucket(page), page) {
            Some((_, v)) => Some((v & FRAME_MASK) as usize),
            None => self.lookup_spilled(page),
        }
    }

    /// `read(frame)` of the frame that holds `page`, if the table maps `page` to a
    /// loaded frame and the bucket did not change during the read (see the module
    /// docs): then `read` saw `page`'s bytes, whole, and the entry is marked
    /// referenced. None: not mapped, being loaded, or the bucket changed (`read`'s
    /// result, possibly of torn bytes, is dropped); the caller takes the pinned path.
    #[inline]
    pub fn read_optimistic<R>(&self, page: u64, read: impl FnOnce(usize) -> R) -> Option<R> {
        let b = self.bucket(page);
        let v1 = b.version.load(Ordering::Acquire);
        if v1 & 1 != 0 {
            return None;
        }
        let (e, v) = find(b, page)?;
        if v & LOADING != 0 {
            return None;
        }
        let r = read((v & FRAME_MASK) as usize);
        fence(Ordering::Acquire);
        if b.version.load(Ordering::Relaxed) != v1 {
            return None;
        }
        if v & REFERENCED == 0 {
            // Losing this race (the entry changed) only loses the second chance.
            let _ = e.compare_exchange(v, v | REFERENCED, Ordering::Relaxed, Ordering::Relaxed);
        }
        Some(r)
    }

    /// Ask the CPU to bring `page`'s bucket into its cache (a hint, for a lookup or
    /// removal that comes soon).
    #[inline]
    pub fn prefetch(&self, page: u64) {
        crate::sys::prefetch(self.bucket(page) as *const Bucket as *const u8);
    }

    /// Lock `page`'s bucket: for inserting `page`, or for changing the bytes of the
    /// frame it is mapped to in place (optimistic readers of the bucket fail until the
    /// guard is dropped, and those that overlapped it fail their check).
    pub fn lock(&self, page: u64) -> Locked<'_> {
        let bucket = self.bucket(page);
        let mut waits = 0u32;
        loop {
            let v = bucket.version.load(Ordering::Relaxed);
            if v & 1 == 0
                && bucket
                    .version
                    .compare_exchange_weak(v, v + 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                // Order the holder's later writes (entries, and the frame's bytes after
                // the unlock) after the odd version, for readers' fences.
                fence(Ordering::Release);
                return Locked {
                    table: self,
                    bucket,
                    page,
                    at: v + 1,
                };
            }
            waits = waits.saturating_add(1);
            if waits < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Remove the entry `page -> frame` if it is there (loaded or loading), under the
    /// bucket's lock. Returns whether it was there.
    pub fn remove(&self, page: u64, frame: usize) -> bool {
        self.lock(page).remove(frame)
    }

    /// Mark `page -> frame` loaded (the frame holds the page now): optimistic readers
    /// may use it. No-op if the entry was replaced meanwhile.
    pub fn ready(&self, page: u64, frame: usize) {
        let want = pack(page, frame);
        for e in &self.bucket(page).entries {
            let mut v = e.load(Ordering::Relaxed);
            while v & MAPPING == want {
                match e.compare_exchange_weak(v, v & !LOADING, Ordering::Release, Ordering::Relaxed)
                {
                    Ok(_) => return,
                    Err(now) => v = now,
                }
            }
        }
    }

    /// The clock's step for an optimistic hit's referenced bit: if `page -> frame` is
    /// marked referenced, clear the mark and return true (a second chance).
    #[inline]
    pub fn clear_referenced(&self, page: u64, frame: usize) -> bool {
        let want = pack(page, frame);
        self.bucket(page).entries.iter().any(|e| {
            let v = e.load(Ordering::Relaxed);
            v & MAPPING == want
                && v & REFERENCED != 0
                && e.compare_exchange(v, v & !REFERENCED, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
        })
    }

    /// Inserts that found their bucket full and went to the overflow map.
    pub fn spills(&self) -> u64 {
        self.spills.load(Ordering::Relaxed)
    }
}

/// `page`'s entry in `b` and its value (Acquire: a ready entry's frame bytes, written
/// before `ready`'s Release, are visible after it).
#[inline]
fn find(b: &Bucket, page: u64) -> Option<(&AtomicU64, u64)> {
    let key = page + 1;
    b.entries.iter().find_map(|e| {
        let v = e.load(Ordering::Acquire);
        (v >> KEY_SHIFT == key).then_some((e, v))
    })
}

/// A page's bucket, locked: its entries change only through this guard, and its version
/// advances when the guard is dropped.
pub struct Locked<'a> {
    table: &'a PageTable,
    bucket: &'a Bucket,
    page: u64,
    /// The (odd) version while locked.
    at: u64,
}

impl Locked<'_> {
    pub fn lookup(&self) -> Option<usize> {
        match find(self.bucket, self.page) {
            Some((_, v)) => Some((v & FRAME_MASK) as usize),
            None => self.table.lookup_spilled(self.page),
        }
    }

    /// Map the page to `frame` (the caller checked with `lookup` that it is absent),
    /// marked loading until `PageTable::ready`.
    pub fn insert_loading(&self, frame: usize) {
        let new = pack(self.page, frame) | LOADING;
        // Only lock holders fill or empty entries; others only flip flags of live
        // entries, so an empty entry seen here stays empty until this store.
        for e in &self.bucket.entries {
            if e.load(Ordering::Relaxed) == 0 {
                e.store(new, Ordering::Relaxed);
                return;
            }
        }
        // Full: spill (never read optimistically, so no loading mark is needed; the
        // frame's latch keeps pinned readers out until the load is done).
        let t = self.table;
        t.overflow().insert(self.page, frame);
        t.spilled[t.index(self.page)].fetch_add(1, Ordering::Release);
        t.spills.fetch_add(1, Ordering::Relaxed);
    }

    /// Remove this page's entry to `frame` (loaded or loading). Returns whether it was
    /// there.
    fn remove(&self, frame: usize) -> bool {
        let want = pack(self.page, frame);
        for e in &self.bucket.entries {
            let mut v = e.load(Ordering::Relaxed);
            while v & MAPPING == want {
                match e.compare_exchange_weak(v, 0, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => return true,
                    Err(now) => v = now,
                }
            }
        }
        let t = self.table;
        let b = t.index(self.page);
        if t.spilled[b].load(Ordering::Relaxed) == 0 {
            return false;
        }
        let mut map = t.overflow();
        if map.get(&self.page) != Some(&frame) {
            return false;
        }
        map.remove(&self.page);
        t.spilled[b].fetch_sub(1, Ordering::Release);
        true
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        self.bucket
            .version
            .store(self.at.wrapping_add(1), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_lookup_remove() {
        let t = PageTable::new(16);
        assert_eq!(t.lookup(5), None);
        let l = t.lock(5);
        assert_eq!(l.lookup(), None);
        l.insert_loading(3);
        drop(l);
        assert_eq!(t.lookup(5), Some(3), "a loading entry is found for pinning");
        assert_eq!(
            t.read_optimistic(5, |f| f),
            None,
            "but not read optimistically"
        );
        t.ready(5, 3);
        assert_eq!(t.read_optimistic(5, |f| f), Some(3));
        assert!(!t.remove(5, 4), "only the exact entry is removed");
        assert!(t.remove(5, 3));
        assert_eq!(t.lookup(5), None);
        // Page 0 and the largest page and frame round-trip.
        t.lock(0).insert_loading(0);
        t.lock(MAX_PAGE).insert_loading(MAX_FRAMES - 1);
        assert_eq!(t.lookup(0), Some(0));
        assert_eq!(t.lookup(MAX_PAGE), Some(MAX_FRAMES - 1));
    }

    #[test]
    fn a_full_bucket_spills_and_every_page_stays_found() {
        // One bucket: pages 7.. spill to the overflow map and are still found, by the
        // lock-free lookup and under the lock (but never read optimistically), and
        // removed exactly.
        let t = PageTable::new(1);
        for p in 0..11u64 {
            let l = t.lock(p);
            assert_eq!(l.lookup(), None);
            l.insert_loading(p as usize);
            assert_eq!(l.lookup(), Some(p as usize));
            drop(l);
            t.ready(p, p as usize);
        }
        assert_eq!(t.spills(), 4);
        for p in 0..11u64 {
            assert_eq!(t.lookup(p), Some(p as usize), "page {p}");
        }
        assert_eq!(t.read_optimistic(3, |f| f), Some(3));
        assert_eq!(t.read_optimistic(9, |f| f), None, "spilled: pinned path");
        assert!(!t.remove(9, 3), "only the exact spilled entry is removed");
        assert!(t.remove(9, 9));
        assert_eq!(t.lookup(9), None);
        assert!(!t.remove(9, 9), "removed once");
        // A freed bucket entry takes the next insert; spilled pages stay found.
        assert!(t.remove(0, 0));
        t.lock(20).insert_loading(20);
        assert_eq!(t.spills(), 4);
        for p in (1..11u64).filter(|&p| p != 9) {
            assert_eq!(t.lookup(p), Some(p as usize), "page {p}");
        }
        assert_eq!(t.lookup(20), Some(20));
        for p in [7, 8, 10] {
            assert!(t.remove(p, p as usize));
        }
        assert_eq!(t.spilled[0].load(Ordering::Relaxed), 0);
        assert!(t.overflow().is_empty());
    }

    /// The version: a lock (and so every insert, removal and in-place change) fails an
    /// optimistic read that overlapped it; the referenced bit is set by a hit, cleared
    /// once by the clock, and does not stop a removal.
    #[test]
    fn version_and_referenced_bit() {
        let t = PageTable::new(8);
        t.lock(4).insert_loading(2);
        t.ready(4, 2);
        assert!(!t.clear_referenced(4, 2), "not referenced before a hit");
        let r = t.read_optimistic(4, |f| {
            drop(t.lock(4));
            f
        });
        assert_eq!(r, None, "the bucket changed during the read");
        assert_eq!(t.read_optimistic(4, |f| f), Some(2));
        assert!(t.clear_referenced(4, 2));
        assert!(!t.clear_referenced(4, 2), "cleared once");
        let held = t.lock(4);
        assert_eq!(t.read_optimistic(4, |f| f), None, "locked");
        drop(held);
        assert_eq!(t.read_optimistic(4, |f| f), Some(2), "referenced again");
        assert!(t.remove(4, 2), "removed whatever the flags");
        assert_eq!(t.lookup(4), None);
        t.ready(4, 2);
        assert_eq!(t.lookup(4), None, "ready of a removed entry does nothing");
    }
}
