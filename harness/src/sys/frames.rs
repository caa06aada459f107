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
//! clock's second-chance bit), a version (bits 32..62) and the pin count (the low 32
//! bits):
//!
//! * a pin is taken by a CAS that adds 1 only while `EXCLUSIVE` is clear (Acquire), and
//!   dropped with a Release decrement;
//! * the exclusive latch is taken only by a CAS from a word with no pins, not exclusive
//!   and not referenced to the same word with `EXCLUSIVE` (Acquire), and released with a
//!   Release store that advances the version (and leaves 0 pins, or 1 when downgraded);
//! * an *optimistic read* (`read_optimistic`) takes no pin and writes nothing: it reads
//!   the word (Acquire), gives up if the frame is exclusive, reads the tag and the bytes
//!   with relaxed atomic loads, then reads the word again after an Acquire fence; the
//!   read is valid only if neither the exclusive bit nor the version changed in between
//!   (a seqlock). Every refill takes the exclusive latch, so a valid read saw one
//!   page's bytes, whole. The version has 30 bits: a reader would have to stall across
//!   2^30 refills of the same frame to be fooled.
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
const VERSION_SHIFT: u32 = 32;
const VERSION_ONE: u64 = 1 << VERSION_SHIFT;
const VERSION: u64 = REFERENCED - VERSION_ONE;
const PINS: u64 = VERSION_ONE - 1;

/// The word an exclusive holder leaves when it releases a latch taken at `s`: the
/// version advanced, the given extra bits (pins, referenced), never exclusive.
#[inline]
fn released(s: u64, extra: u64) -> u64 {
    (s.wrapping_add(VERSION_ONE) & VERSION) | extra
}

/// Size of a transparent huge page on x86_64 and arm64 with 4 KiB pages.
const HUGE: usize = 2 << 20;

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
    _mem: Memory,
    base: *mut u8,
    frame_len: usize,
    latches: Box<[Latch]>,
    /// How the memory was obtained (for the backend's notes).
    backing: String,
}

/// The frames' memory: an anonymous mapping aligned to 2 MiB with MADV_HUGEPAGE (so
/// the frames are mapped by few TLB entries and O_DIRECT's page pinning walks short
/// page tables), or a heap allocation for small arenas and when mapping fails.
enum Memory {
    Map(memmap2::MmapMut),
    Heap(AlignedBuf),
}

/// One view of a frame's bytes for an optimistic read: every access is a relaxed
/// atomic load, so a concurrent refill (by the kernel's O_DIRECT read) can only make
/// the values wrong, which the version check then discards.
pub struct OptimisticView<'a> {
    words: &'a [AtomicU64],
}

impl OptimisticView<'_> {
    /// Bytes in the view.
    #[inline]
    pub fn len(&self) -> usize {
        self.words.len() * 8
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The little-endian u64 at byte offset `at` (a multiple of 8 below `len`).
    #[inline]
    pub fn word(&self, at: usize) -> u64 {
        u64::from_le(self.words[at / 8].load(Ordering::Relaxed))
    }
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
        let (mut mem, backing) = match map_huge(total, align) {
            Ok((map, note)) => (Memory::Map(map), note),
            Err(why) => (
                Memory::Heap(AlignedBuf::new(total, align.max(super::page_size()))?),
                why,
            ),
        };
        let base = match &mut mem {
            Memory::Map(m) => {
                let addr = m.as_mut_ptr() as usize;
                m.as_mut_ptr()
                    .wrapping_add(addr.next_multiple_of(HUGE.max(align)) - addr)
            }
            Memory::Heap(b) => b.as_mut_ptr(),
        };
        let latches = (0..count)
            .map(|_| Latch {
                state: AtomicU64::new(0),
                tag: AtomicU64::new(NO_TAG),
            })
            .collect();
        let arena = FrameArena {
            _mem: mem,
            base,
            frame_len,
            latches,
            backing,
        };
        // Fault every page in now (untimed, at open) so that no measured miss pays for
        // a page fault and the zeroing of a fresh page.
        for i in 0..count {
            if let Evict::Locked(mut f) = arena.try_evict(i) {
                f.data_mut().iter_mut().step_by(4096).for_each(|b| *b = 0);
            }
        }
        Ok(arena)
    }

    /// How the frames' memory was obtained, for notes.
    pub fn backing(&self) -> &str {
        &self.backing
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
            .compare_exchange(s, s | EXCLUSIVE, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| ExclusiveFrame {
                arena: self,
                i,
                at: s,
            })
    }

    /// Read frame `i` without pinning it: `read` gets the frame's tag and an atomic
    /// view of its bytes, and its result is returned only if the frame was not
    /// latched exclusively before or during the read (see the module docs). On success
    /// the frame is marked referenced (one write, only when the bit is not set yet).
    /// None: the frame is being refilled, or was refilled meanwhile; the caller looks
    /// again or pins.
    #[inline]
    pub fn read_optimistic<R>(
        &self,
        i: usize,
        read: impl FnOnce(u64, OptimisticView<'_>) -> R,
    ) -> Option<R> {
        let latch = self.latches.get(i)?;
        let s1 = latch.state.load(Ordering::Acquire);
        if s1 & EXCLUSIVE != 0 {
            return None;
        }
        let tag = latch.tag.load(Ordering::Relaxed);
        let r = read(tag, self.view(i));
        std::sync::atomic::fence(Ordering::Acquire);
        let s2 = latch.state.load(Ordering::Relaxed);
        if (s1 ^ s2) & (EXCLUSIVE | VERSION) != 0 {
            return None;
        }
        if s2 & REFERENCED == 0 {
            latch.state.fetch_or(REFERENCED, Ordering::Relaxed);
        }
        Some(r)
    }

    /// An atomic view of frame `i`'s bytes for an optimistic read that the caller
    /// validates with a version outside the arena, one that changes before every
    /// change of the frame's bytes (the buffer pool's page table): no pin, no access
    /// to the latch. Values read through it while the frame is refilled are wrong (torn),
    /// never undefined; the caller must discard them when its version check fails. None
    /// if the frame does not exist.
    #[inline]
    pub fn optimistic_view(&self, i: usize) -> Option<OptimisticView<'_>> {
        (i < self.latches.len()).then(|| self.view(i))
    }

    /// Frame `i`'s bytes as atomic words (i < len).
    #[inline]
    fn view(&self, i: usize) -> OptimisticView<'_> {
        // SAFETY: frame i lies inside the arena's allocation (i < len, checked by the
        // callers: `latches.get` or the bound in `optimistic_view`), starts at a multiple of the alignment (a power
        // of two of at least 8, so aligned for AtomicU64) and frame_len is a multiple
        // of it; the memory lives as long as &self. Concurrent writes to it come from
        // the kernel (O_DIRECT reads into the frame) or from an exclusive holder; every
        // access through this view is an atomic load, and a read that overlapped a
        // write is discarded by the version check (the latch's in `read_optimistic`, the
        // caller's for `optimistic_view`), so no value read during a refill is ever used.
        let words = unsafe {
            std::slice::from_raw_parts(self.frame_ptr(i) as *const AtomicU64, self.frame_len / 8)
        };
        OptimisticView { words }
    }

    /// Ask the CPU to bring frame `i`'s latch (word and tag) into its cache, for a
    /// caller that will need it soon (the clock's next candidate). A hint only.
    #[inline]
    pub fn prefetch_latch(&self, i: usize) {
        if let Some(l) = self.latches.get(i) {
            super::prefetch(l as *const Latch as *const u8);
        }
    }

    /// The tag of frame `i` right now (a hint: it may change at any time).
    #[inline]
    pub fn peek_tag(&self, i: usize) -> u64 {
        self.latches
            .get(i)
            .map_or(NO_TAG, |l| l.tag.load(Ordering::Relaxed))
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
            .compare_exchange(s, s | EXCLUSIVE, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => Evict::Locked(ExclusiveFrame {
                arena: self,
                i,
                at: s,
            }),
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
    /// The latch word when it was taken (no pins, not exclusive): its version.
    at: u64,
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
        let (arena, i, at) = (self.arena, self.i, self.at);
        std::mem::forget(self);
        arena.latches[i]
            .state
            .store(released(at, REFERENCED), Ordering::Release);
    }

    /// Release the exclusive latch and keep one pin, marked referenced, in one step
    /// (no other refill can slip in between).
    pub fn downgrade(self) -> SharedFrame<'a> {
        let (arena, i, at) = (self.arena, self.i, self.at);
        std::mem::forget(self);
        arena.latches[i]
            .state
            .store(released(at, 1 | REFERENCED), Ordering::Release);
        SharedFrame { arena, i }
    }
}

impl Drop for ExclusiveFrame<'_> {
    fn drop(&mut self) {
        // No pin can exist while EXCLUSIVE is set, so the whole word is ours.
        self.arena.latches[self.i]
            .state
            .store(released(self.at, 0), Ordering::Release);
    }
}

/// An anonymous mapping of `total` bytes starting on a 2 MiB boundary (over-allocated
/// by 2 MiB) with MADV_HUGEPAGE, and a note saying so; Err(note) when the arena is
/// smaller than a huge page or the mapping fails (the caller then uses the heap).
fn map_huge(total: usize, align: usize) -> Result<(memmap2::MmapMut, String), String> {
    if total < HUGE || align > HUGE {
        return Err("frames on the heap (smaller than one 2 MiB huge page)".into());
    }
    let len = total
        .checked_add(HUGE)
        .ok_or("frames on the heap (the arena is too large to map)")?;
    let map = memmap2::MmapOptions::new()
        .len(len)
        .map_anon()
        .map_err(|e| format!("frames on the heap (an anonymous mapping failed: {e})"))?;
    let addr = map.as_ptr() as usize;
    let start = addr.next_multiple_of(HUGE) - addr;
    let region = &map[start..start + total];
    Ok(match super::madvise::madvise_huge(region, super::madvise::HugeAdvice::HugePage) {
        Ok(()) => (
            map,
            "frames in an anonymous mapping aligned to 2 MiB with MADV_HUGEPAGE, faulted in at open"
                .into(),
        ),
        Err(e) => (
            map,
            format!("frames in an anonymous mapping, faulted in at open (MADV_HUGEPAGE refused: {e})"),
        ),
    })
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

    /// An optimistic read succeeds on a quiet frame, fails while it is exclusive and
    /// when it was refilled during the read; a pin does not stop it.
    #[test]
    fn optimistic_reads_validate_the_version() {
        let a = FrameArena::new(4, 4096, 4096).unwrap();
        let Evict::Locked(mut w) = a.try_evict(1) else {
            panic!("fresh")
        };
        w.data_mut()[..8].copy_from_slice(&7u64.to_le_bytes());
        w.set_tag(3);
        assert!(
            a.read_optimistic(1, |_, v| v.word(0)).is_none(),
            "exclusive"
        );
        drop(w.downgrade());
        assert_eq!(a.read_optimistic(1, |t, v| (t, v.word(0))), Some((3, 7)));
        let pin = a.try_pin(1).unwrap();
        assert_eq!(a.read_optimistic(1, |_, v| v.len()), Some(4096));
        drop(pin);
        // A refill between the two readings of the word invalidates the read.
        let r = a.read_optimistic(
            1,
            |_, _| {
                while !matches!(a.try_evict(1), Evict::Locked(_)) {}
            },
        );
        assert!(r.is_none(), "refilled during the read");
        assert!(a.read_optimistic(9, |_, _| ()).is_none());
        // Large arenas are mapped (with MADV_HUGEPAGE where the kernel takes it).
        let big = FrameArena::new(1024, 4096, 4096).unwrap();
        assert_eq!(big.data_ptr_align() % 4096, 0);
        assert!(
            big.backing().contains("anonymous mapping"),
            "{}",
            big.backing()
        );
    }

    impl FrameArena {
        fn data_ptr_align(&self) -> usize {
            self.base as usize % 4096
        }
    }
}
