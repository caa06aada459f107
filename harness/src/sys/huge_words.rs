//! `HugeWords`: a zeroed array of `AtomicU64` in its own anonymous mapping, on
//! transparent huge pages (MADV_HUGEPAGE) when it spans at least one 2 MiB page, and
//! faulted in when made. For the buffer pool's page table and frame latches: arrays that
//! every hit reads at a random index, where a 4 KiB-page mapping costs a TLB miss (a
//! two-dimensional page walk in a virtual machine) on most reads.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

/// Size of a transparent huge page on x86_64 and arm64 with 4 KiB pages.
const HUGE: usize = 2 << 20;

pub struct HugeWords {
    /// Owns the memory; reached only through `words`.
    _map: memmap2::MmapMut,
    words: *const AtomicU64,
    len: usize,
    huge: bool,
}

// SAFETY: the words are atomics (Sync), and the mapping is owned like a Vec's buffer.
unsafe impl Send for HugeWords {}
// SAFETY: shared access is only through &[AtomicU64], which is Sync.
unsafe impl Sync for HugeWords {}

impl HugeWords {
    /// `len` words, all 0 (len >= 1).
    pub fn new(len: usize) -> io::Result<HugeWords> {
        let bytes = len.max(1).checked_mul(8).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                "array exceeds the address space",
            )
        })?;
        let huge = bytes >= HUGE;
        let map_len = if huge { bytes + HUGE } else { bytes };
        let map = memmap2::MmapOptions::new().len(map_len).map_anon()?;
        let addr = map.as_ptr() as usize;
        let start = if huge {
            addr.next_multiple_of(HUGE) - addr
        } else {
            0
        };
        let advised = huge
            && super::madvise::madvise_huge(
                &map[start..start + bytes],
                super::madvise::HugeAdvice::HugePage,
            )
            .is_ok();
        let words = map.as_ptr().wrapping_add(start) as *const AtomicU64;
        let w = HugeWords {
            _map: map,
            words,
            len: len.max(1),
            huge: advised,
        };
        // Fault every page in now (a write, so that the kernel allocates it, huge
        // where it can), so that no measured access pays for the fault.
        for x in w.as_slice().iter().step_by(4096 / 8) {
            x.store(0, Ordering::Relaxed);
        }
        Ok(w)
    }

    /// Whether MADV_HUGEPAGE was applied (the kernel may still use 4 KiB pages).
    pub fn huge_advised(&self) -> bool {
        self.huge
    }

    #[inline]
    pub fn as_slice(&self) -> &[AtomicU64] {
        // SAFETY: `words` points into the owned mapping at a page-aligned (hence
        // 8-byte-aligned) offset with at least len * 8 bytes after it; anonymous memory
        // starts zeroed, a valid AtomicU64; the mapping lives as long as &self and is
        // only accessed through atomics.
        unsafe { std::slice::from_raw_parts(self.words, self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_aligned_and_writable() {
        for n in [1, 7, 4096, (4 << 20) / 8 + 3] {
            let w = HugeWords::new(n).unwrap();
            let s = w.as_slice();
            assert_eq!(s.len(), n);
            assert_eq!(s.as_ptr() as usize % 4096, 0);
            assert!(s.iter().all(|x| x.load(Ordering::Relaxed) == 0));
            s[n - 1].store(5, Ordering::Relaxed);
            assert_eq!(s[n - 1].load(Ordering::Relaxed), 5);
        }
        let big = HugeWords::new(HUGE / 8).unwrap();
        assert_eq!(big.as_slice().as_ptr() as usize % HUGE, 0);
    }
}
