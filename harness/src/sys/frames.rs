//! Page frames shared by threads: the memory of a user-space buffer pool, each frame
//! guarded by a latch word, with the only `unsafe` of the pool.
//!
//! A frame's bytes are reachable only through a guard:
//!
//! * `SharedFrame` (a *pin*): read-only access; any number may exist at once.
//! * `ExclusiveFrame`: read-write access, to refill the frame; exists only while no pin
//!   does.
//!
//! The latch word of each frame holds `EXCLUSIVE` (bit 63), `REFERENCED` (bit 62, the
//! clock's second-chance bit) and the pin count (the low bits):
//!
//! * a pin is taken by a CAS that adds 1 only while `EXCLUSIVE` is clear (Acquire), and
//!   dropped with a Release decrement;
//! * the exclusive latch is taken only by a CAS from exactly 0 (no pins, not exclusive,
//!   not referenced) to `EXCLUSIVE` (Acquire), and released with a Release store (to 0,
//!   or to 1 pin when downgraded).
//!
//! So a `&mut [u8]` of a frame never coexists with any other reference to it, and each
//! hand-over is a Release/Acquire pair: a reader that pins a frame sees every byte the
//! last exclusive holder wrote, and an exclusive holder sees the frame after every
//! reader that had it pinned is done. This is a reader-writer latch whose operations
//! never block (the caller decides how to wait), as DBMS buffer pools use.
//!
//! Each frame also carries a *tag* (the buffer pool stores the page number there). The
//! tag is set only through `ExclusiveFrame`, so under a pin it is stable and describes
//! the bytes the pin reads.

use super::AlignedBuf;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

const EXCLUSIVE: u64 = 1 << 63;
const REFERENCED: u64 = 1 << 62;
const PINS: u64 = REFERENCED - 1;

/// The tag of a frame that holds nothing.
pub const NO_TAG: u64 = u64::MAX;

/// One frame's latch and tag, on its own cache line so that threads pinning
/// neighbouring frames do not contend.
#[repr(align(64))]
struct Latch {
    state: AtomicU64,
    tag: AtomicU64,
}

/// `count` frames of `frame_len` bytes each, aligned as O_DIRECT needs.
pub struct FrameArena {
    /// Owner of the frames' memory; never accessed through a reference after `new`:
    /// frames are reached only through `base`.
    _mem: AlignedBuf,
    base: *mut u8,
    frame_len: usize,
    latches: Box<[Latch]>,
}

// SAFETY: the arena owns its memory (like Vec<u8>); moving it to another thread moves
// that ownership.
unsafe impl Send for FrameArena {}
// SAFETY: shared access to frame bytes goes only through SharedFrame/ExclusiveFrame,
// whose latch protocol (module docs) makes every access either shared-read-only or
// exclusive, with Release/Acquire hand-over; latches and tags are atomics.
unsafe impl Sync for FrameArena {}

/// What `try_evict` found.
pub enum Evict<'a> {
    /// The frame is now exclusively latched by the caller.
    Locked(ExclusiveFrame<'a>),
    /// It was referenced since the clock last passed: the bit is now cleared.
    SecondChance,
    /// Pinned or exclusively latched by someone else.
    Busy,
}

impl FrameArena {
    /// Allocate `count` zeroed frames of `frame_len` bytes; every frame starts at a
    /// multiple of `align` (a power of two). All frames start unlatched with `NO_TAG`.
    pub fn new(count: usize, frame_len: usize, align: usize) -> io::Result<FrameArena> {
        if count == 0 || frame_len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an arena needs at least one frame of at least one byte",
            ));
        }
        let align = align.max(1);
        if !align.is_power_of_two() || !frame_len.is_multiple_of(align) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("frame length {frame_len} is not a multiple of the alignment {align}"),
            ));
        }
        let total = count.checked_mul(frame_len).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                "frames exceed the address space",
            )
        })?;
        let mut mem = AlignedBuf::new(total, align.max(super::page_size()))?;
        let base = mem.as_mut_ptr();
        let latches = (0..count)
            .map(|_| Latch {
                state: AtomicU64::new(0),
                tag: AtomicU64::new(NO_TAG),
            })
            .collect();
        Ok(FrameArena {
            _mem: mem,
            base,
            frame_len,
            latches,
        })
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.latches.len()
    }

    pub fn is_empty(&self) -> bool {
        self.latches.is_empty()
    }

    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Pin frame `i` for reading, and mark it referenced. None when it is exclusively
    /// latched (being refilled) or does not exist.
    #[inline]
    pub fn try_pin(&self, i: usize) -> Option<SharedFrame<'_>> {
        let latch = self.latches.get(i)?;
        let mut s = latch.state.load(Ordering::Relaxed);
        loop {
            if s & EXCLUSIVE != 0 || s & PINS == PINS {
                return None;
            }
            match latch.state.compare_exchange_weak(
                s,
                (s + 1) | REFERENCED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(SharedFrame { arena: self, i }),
                Err(now) => s = now,
            }
        }
    }

    /// Latch frame `i` exclusively whatever its referenced bit (a writer updating a
    /// resident page). None while it is pinned or exclusively latched.
    #[inline]
    pub fn try_latch(&self, i: usize) -> Option<ExclusiveFrame<'_>> {
        let latch = self.latches.get(i)?;
        let s = latch.state.load(Ordering::Relaxed);
        if s & (EXCLUSIVE | PINS) != 0 {
            return None;
        }
        latch
            .state
            .compare_exchange(s, EXCLUSIVE, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| ExclusiveFrame { arena: self, i })
    }

    /// True while frame `i` is exclusively latched (for a caller that waits for it).
    #[inline]
    pub fn is_exclusive(&self, i: usize) -> bool {
        self.latches
            .get(i)
            .is_some_and(|l| l.state.load(Ordering::Relaxed) & EXCLUSIVE != 0)
    }

    /// The clock's step at frame `i`: latch it exclusively if it is neither pinned,
    /// latched nor referenced; clear its referenced bit if it is only referenced.
    #[inline]
    pub fn try_evict(&self, i: usize) -> Evict<'_> {
        let Some(latch) = self.latches.get(i) else {
            return Evict::Busy;
        };
        let s = latch.state.load(Ordering::Relaxed);
        if s & (EXCLUSIVE | PINS) != 0 {
            return Evict::Busy;
        }
        if s & REFERENCED != 0 {
            // Losing this race to a pin only means the frame keeps its second chance.
            let _ = latch.state.compare_exchange(
                s,
                s & !REFERENCED,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            return Evict::SecondChance;
        }
        match latch
            .state
            .compare_exchange(0, EXCLUSIVE, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => Evict::Locked(ExclusiveFrame { arena: self, i }),
            Err(_) => Evict::Busy,
        }
    }

    #[inline]
    fn frame_ptr(&self, i: usize) -> *mut u8 {
        // In bounds: callers pass the index of an existing frame (guards only exist for
        // i < len), and i * frame_len + frame_len <= the allocation's size.
        self.base.wrapping_add(i * self.frame_len)
    }
}

/// A pinned frame: its bytes and tag cannot change while this guard lives.
pub struct SharedFrame<'a> {
    arena: &'a FrameArena,
    i: usize,
}

impl SharedFrame<'_> {
    pub fn index(&self) -> usize {
        self.i
    }

    /// What the frame holds (set by the last exclusive holder).
    #[inline]
    pub fn tag(&self) -> u64 {
        self.arena.latches[self.i].tag.load(Ordering::Relaxed)
    }

    #[inline]
    pub fn data(&self) -> &[u8] {
        // SAFETY: this guard holds a pin on frame i, so no ExclusiveFrame (the only
        // source of a &mut to these bytes) exists until it is dropped: the bytes are
        // not written while the returned slice, which borrows the guard, lives. The
        // pin's Acquire CAS synchronised with the last exclusive holder's Release, so
        // the bytes are initialised and visible. The range lies inside the arena's
        // allocation, which outlives the guard ('a).
        unsafe { std::slice::from_raw_parts(self.arena.frame_ptr(self.i), self.arena.frame_len) }
    }
}

impl Drop for SharedFrame<'_> {
    #[inline]
    fn drop(&mut self) {
        self.arena.latches[self.i]
            .state
            .fetch_sub(1, Ordering::Release);
    }
}

/// An exclusively latched frame: the only access to it, for refilling.
pub struct ExclusiveFrame<'a> {
    arena: &'a FrameArena,
    i: usize,
}

impl<'a> ExclusiveFrame<'a> {
    pub fn index(&self) -> usize {
        self.i
    }

    pub fn tag(&self) -> u64 {
        self.arena.latches[self.i].tag.load(Ordering::Relaxed)
    }

    /// Say what the frame holds; published to readers when the latch is released.
    pub fn set_tag(&mut self, tag: u64) {
        self.arena.latches[self.i].tag.store(tag, Ordering::Relaxed);
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: this guard holds the exclusive latch of frame i (taken by a CAS from
        // 0, so no pin existed, and no pin can be taken while EXCLUSIVE is set), and the
        // slice borrows the guard mutably: it is the only reference to these bytes. The
        // range lies inside the arena's allocation, which outlives the guard.
        unsafe {
            std::slice::from_raw_parts_mut(self.arena.frame_ptr(self.i), self.arena.frame_len)
        }
    }

    /// Release the exclusive latch with the frame marked referenced (a page just
    /// written: the clock gives it a second chance).
    pub fn release_referenced(self) {
        let (arena, i) = (self.arena, self.i);
        std::mem::forget(self);
        arena.latches[i].state.store(REFERENCED, Ordering::Release);
    }

    /// Release the exclusive latch and keep one pin, marked referenced, in one step
    /// (no other refill can slip in between).
    pub fn downgrade(self) -> SharedFrame<'a> {
        let (arena, i) = (self.arena, self.i);
        std::mem::forget(self);
        arena.latches[i]
            .state
            .store(1 | REFERENCED, Ordering::Release);
        SharedFrame { arena, i }
    }
}

impl Drop for ExclusiveFrame<'_> {
    fn drop(&mut self) {
        // No pin can exist while EXCLUSIVE is set, so the whole word is ours.
        self.arena.latches[self.i].state.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latch_excludes_writers_from_readers() {
        let a = FrameArena::new(2, 4096, 4096).unwrap();
        assert_eq!(a.data_ptr_align(), 0);
        let Evict::Locked(mut w) = a.try_evict(0) else {
            panic!("a fresh frame is evictable")
        };
        assert!(a.try_pin(0).is_none(), "no pin while exclusive");
        assert!(matches!(a.try_evict(0), Evict::Busy));
        w.data_mut().fill(7);
        w.set_tag(42);
        let r = w.downgrade();
        assert_eq!(r.tag(), 42);
        assert!(r.data().iter().all(|&b| b == 7));
        let r2 = a.try_pin(0).unwrap();
        assert!(matches!(a.try_evict(0), Evict::Busy), "pinned");
        drop((r, r2));
        assert!(matches!(a.try_evict(0), Evict::SecondChance));
        assert!(matches!(a.try_evict(0), Evict::Locked(_)));
        assert!(a.try_pin(5).is_none());
        assert!(matches!(a.try_evict(5), Evict::Busy));
        let Evict::Locked(fresh) = a.try_evict(1) else {
            panic!("frame 1 is free")
        };
        assert_eq!(fresh.tag(), NO_TAG);
    }

    impl FrameArena {
        fn data_ptr_align(&self) -> usize {
            self.base as usize % 4096
        }
    }
}
