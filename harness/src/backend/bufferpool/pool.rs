//! The buffer pool proper: page table + frames + clock, independent of how a page is
//! read (the caller passes the loader), so it can be stress-tested without a disk.
//!
//! `with_page(page, load, read)` makes `page` resident and calls `read` on its bytes
//! under a pin:
//!
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
//!   `page -> victim`, unlock, remove the victim's old mapping, set the tag, read the
//!   page into the frame (still exclusive, no lock held during I/O), then downgrade the
//!   latch to a pin in one store. A failed read clears the tag and the mapping before
//!   releasing the frame, so no one ever pins a half-read frame under a page's name.
//! * Clock (second chance): a shared hand sweeps the frames; a referenced frame
//!   (pinned since the hand last passed) loses its bit and is skipped; a pinned or
//!   latched one is skipped; the first unreferenced, unpinned one is latched by a CAS
//!   from 0. Each thread holds at most one frame at a time, so with more frames than
//!   threads a victim always exists; the pool requires twice as many.

use super::table::PageTable;
use crate::sys::frames::{Evict, ExclusiveFrame, FrameArena, NO_TAG};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    /// The loader failed; nothing was cached.
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
}

impl Pool {
    /// `frames` frames of `frame_len` bytes aligned to `align`.
    pub fn new(frames: usize, frame_len: usize, align: usize) -> io::Result<Pool> {
        Ok(Pool {
            frames: FrameArena::new(frames, frame_len, align)?,
            table: PageTable::new(frames),
            hand: AtomicUsize::new(0),
        })
    }

    pub fn frames(&self) -> usize {
        self.frames.len()
    }

    /// Table inserts that replaced an entry (see `table`).
    pub fn table_conflicts(&self) -> u64 {
        self.table.conflicts()
    }

    /// Make `page` resident (reading it with `load` on a miss) and return `read` of
    /// its frame's bytes.
    #[inline]
    pub fn with_page<R, E>(
        &self,
        page: u64,
        load: impl FnOnce(&mut [u8]) -> Result<(), E>,
        read: impl FnOnce(&[u8]) -> R,
    ) -> Result<(R, Access), PoolError<E>> {
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
            let mut victim = self.victim().ok_or(PoolError::NoFrame)?;
            let shard = self.table.lock(page);
            if shard.lookup().is_some() {
                // Another thread mapped it meanwhile: its load is under way or done.
                drop(shard);
                drop(victim);
                continue;
            }
            shard.insert(victim.index());
            drop(shard);
            let old = victim.tag();
            if old != NO_TAG {
                self.table.remove(old, victim.index());
            }
            victim.set_tag(page);
            return match load(victim.data_mut()) {
                Ok(()) => {
                    let pin = victim.downgrade();
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

    fn victim(&self) -> Option<ExclusiveFrame<'_>> {
        let n = self.frames.len();
        for step in 0..n.saturating_mul(MAX_SWEEPS) {
            let i = self.hand.fetch_add(1, Ordering::Relaxed) % n;
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
        let r = pool.with_page(9, |_| Err("disk on fire"), |_| ());
        assert!(matches!(r, Err(PoolError::Load("disk on fire"))));
        assert_eq!(get(9), (want(9), Access::Miss));
        assert_eq!(pool.table_conflicts(), 0);
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
            "stress: {h} hits, {m} misses, {} table conflicts",
            pool.table_conflicts()
        );
    }
}
