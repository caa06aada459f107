//! madvise(2) advices that memmap2 does not offer: MADV_COLLAPSE (Linux 6.1+), which
//! synchronously backs a range with transparent huge pages. Only advices that keep the
//! contents of the memory unchanged are exposed, so the wrapper can be safe.

use std::io;

/// `MADV_COLLAPSE` from <linux/mman.h> (Linux 6.1). Kernels without it answer EINVAL.
pub const MADV_COLLAPSE: libc::c_int = 25;

/// Advice that changes how memory is backed, never what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HugeAdvice {
    /// MADV_HUGEPAGE: allow transparent huge pages for the range (faults and khugepaged).
    HugePage,
    /// MADV_COLLAPSE: back the range with huge pages now (copying as needed).
    Collapse,
}

impl HugeAdvice {
    pub fn name(self) -> &'static str {
        match self {
            HugeAdvice::HugePage => "MADV_HUGEPAGE",
            HugeAdvice::Collapse => "MADV_COLLAPSE",
        }
    }

    fn raw(self) -> libc::c_int {
        match self {
            HugeAdvice::HugePage => libc::MADV_HUGEPAGE,
            HugeAdvice::Collapse => MADV_COLLAPSE,
        }
    }
}

/// Apply `advice` to the pages that hold `region` (the start is rounded down to its page,
/// as madvise requires). An empty region is a no-op.
pub fn madvise_huge(region: &[u8], advice: HugeAdvice) -> io::Result<()> {
    if region.is_empty() {
        return Ok(());
    }
    let page = super::page_size();
    let start = region.as_ptr() as usize;
    let aligned = start & !(page - 1);
    let len = region.len() + (start - aligned);
    // SAFETY: the range [aligned, aligned + len) lies within pages that hold `region`,
    // which is mapped for at least as long as the borrow. MADV_HUGEPAGE only sets a flag
    // on the mapping and MADV_COLLAPSE replaces the backing pages by a huge page holding
    // the same bytes (the kernel copies and remaps atomically), so no Rust reference sees
    // its data change; madvise never writes through the pointer.
    let rc = unsafe { libc::madvise(aligned as *mut libc::c_void, len, advice.raw()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hugepage_advice_on_anonymous_memory() {
        let mut m = memmap2::MmapMut::map_anon(4 << 20).unwrap();
        m[0] = 7;
        // THP may be compiled out or disabled; then madvise answers EINVAL, which is the
        // caller's to report. The contents never change.
        let _ = madvise_huge(&m, HugeAdvice::HugePage);
        let _ = madvise_huge(&m[1..100], HugeAdvice::Collapse);
        assert_eq!(m[0], 7);
        assert!(madvise_huge(&m[..0], HugeAdvice::Collapse).is_ok());
    }
}
