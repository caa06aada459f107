//! The page table: block number -> frame index, readable without any lock.
//!
//! A fixed array of buckets, one cache line (8 entries of one `AtomicU64`) each; a page
//! lives only in the bucket its hash selects, so a lookup is 8 relaxed loads of one
//! cache line and never probes further. An entry packs `(page + 1) << 24 | frame`
//! (0 = empty), so one atomic word holds the whole mapping and a reader can never see a
//! key with another key's frame. There are at least as many buckets as frames (8 entries
//! per frame, at most one mapped page per frame), so a bucket is on average at most 1/8
//! full.
//!
//! Writers: inserting takes the lock of the bucket's shard (so "absent? then insert"
//! is atomic and a page is never inserted twice); removing is a lock-free CAS of the
//! exact entry. If a bucket is ever full (8 hot pages hashed together while the pool
//! has many free entries elsewhere: at the load above, about one bucket in a million),
//! the insert replaces an entry and counts a conflict: the replaced page stays in its
//! frame but can no longer be found, so its next access is a miss. Correctness never
//! depends on the table being exact: the pool validates every lookup against the tag
//! of the frame it pinned.

use crate::datafile::page::mix;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

const WAYS: usize = 8;
const FRAME_BITS: u32 = 24;
const FRAME_MASK: u64 = (1 << FRAME_BITS) - 1;
const SHARDS: usize = 64;

/// Frames the table can address.
pub const MAX_FRAMES: usize = FRAME_MASK as usize;
/// Highest page number the table can hold.
pub const MAX_PAGE: u64 = (1u64 << (64 - FRAME_BITS)) - 2;

#[repr(align(64))]
struct Bucket([AtomicU64; WAYS]);

pub struct PageTable {
    buckets: Box<[Bucket]>,
    mask: usize,
    shards: Box<[Mutex<()>]>,
    conflicts: AtomicU64,
}

#[inline]
fn pack(page: u64, frame: usize) -> u64 {
    ((page + 1) << FRAME_BITS) | frame as u64
}

impl PageTable {
    /// A table for `frames` frames (at most `MAX_FRAMES`) and pages up to `MAX_PAGE`.
    pub fn new(frames: usize) -> PageTable {
        let n = frames.clamp(1, MAX_FRAMES).next_power_of_two();
        PageTable {
            buckets: (0..n)
                .map(|_| Bucket(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
            mask: n - 1,
            shards: (0..SHARDS.min(n)).map(|_| Mutex::new(())).collect(),
            conflicts: AtomicU64::new(0),
        }
    }

    #[inline]
    fn bucket_of(&self, page: u64) -> usize {
        mix(page) as usize & self.mask
    }

    /// The frame that holds `page`, if the table knows one (lock-free).
    #[inline]
    pub fn lookup(&self, page: u64) -> Option<usize> {
        find(&self.buckets[self.bucket_of(page)], page)
    }

    /// Ask the CPU to bring `page`'s bucket into its cache (a hint, for a lookup or
    /// removal that comes soon).
    #[inline]
    pub fn prefetch(&self, page: u64) {
        let b = &self.buckets[self.bucket_of(page)];
        crate::sys::prefetch(b as *const Bucket as *const u8);
    }

    /// Lock `page`'s bucket for inserting.
    pub fn lock(&self, page: u64) -> Locked<'_> {
        let bucket = self.bucket_of(page);
        let shard = &self.shards[bucket % self.shards.len()];
        // A poisoned shard lock only means another thread panicked while holding it;
        // the table itself is a set of atomics and stays consistent.
        let guard = shard.lock().unwrap_or_else(|p| p.into_inner());
        Locked {
            table: self,
            bucket,
            page,
            _guard: guard,
        }
    }

    /// Remove the entry `page -> frame` if it is there (lock-free).
    pub fn remove(&self, page: u64, frame: usize) -> bool {
        let want = pack(page, frame);
        self.buckets[self.bucket_of(page)].0.iter().any(|e| {
            e.load(Ordering::Relaxed) == want
                && e.compare_exchange(want, 0, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
        })
    }

    /// Inserts that found their bucket full and replaced an entry.
    pub fn conflicts(&self) -> u64 {
        self.conflicts.load(Ordering::Relaxed)
    }
}

#[inline]
fn find(b: &Bucket, page: u64) -> Option<usize> {
    let key = page + 1;
    b.0.iter().find_map(|e| {
        let v = e.load(Ordering::Relaxed);
        (v >> FRAME_BITS == key).then_some((v & FRAME_MASK) as usize)
    })
}

/// A page's bucket, locked against other inserters.
pub struct Locked<'a> {
    table: &'a PageTable,
    bucket: usize,
    page: u64,
    _guard: MutexGuard<'a, ()>,
}

impl Locked<'_> {
    pub fn lookup(&self) -> Option<usize> {
        find(&self.table.buckets[self.bucket], self.page)
    }

    /// Map the page to `frame` (the caller checked with `lookup` that it is absent).
    pub fn insert(&self, frame: usize) {
        let entries = &self.table.buckets[self.bucket].0;
        let new = pack(self.page, frame);
        // Removers may empty entries concurrently, never fill them (only lock holders
        // do), so an empty entry seen here stays empty until this CAS.
        for e in entries {
            if e.load(Ordering::Relaxed) == 0
                && e.compare_exchange(0, new, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                return;
            }
        }
        // Full: replace one entry, chosen by the page so that conflicts spread.
        let victim = &entries[(mix(self.page) >> 60) as usize % WAYS];
        victim.store(new, Ordering::Relaxed);
        self.table.conflicts.fetch_add(1, Ordering::Relaxed);
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
        l.insert(3);
        drop(l);
        assert_eq!(t.lookup(5), Some(3));
        assert!(!t.remove(5, 4), "only the exact entry is removed");
        assert!(t.remove(5, 3));
        assert_eq!(t.lookup(5), None);
        // Page 0 and the largest page and frame round-trip.
        t.lock(0).insert(0);
        t.lock(MAX_PAGE).insert(MAX_FRAMES - 1);
        assert_eq!(t.lookup(0), Some(0));
        assert_eq!(t.lookup(MAX_PAGE), Some(MAX_FRAMES - 1));
    }

    #[test]
    fn a_full_bucket_replaces_and_counts() {
        // One bucket: the 9th page replaces one of the first 8.
        let t = PageTable::new(1);
        for p in 0..9u64 {
            t.lock(p).insert(p as usize);
        }
        assert_eq!(t.conflicts(), 1);
        let found = (0..9u64)
            .filter(|&p| t.lookup(p) == Some(p as usize))
            .count();
        assert_eq!(found, 8);
        assert_eq!(t.lookup(8), Some(8), "the newest page is always found");
    }
}
