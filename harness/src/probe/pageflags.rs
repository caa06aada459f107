//! Per-page state of a mapped range, from `/proc/self/pagemap` (is the page mapped, and
//! which physical frame) and `/proc/kpageflags` (is that frame dirty or under
//! writeback). The flush claim uses it to see, without writing anything back itself,
//! which pages of a file the kernel has already written back on its own.
//!
//! Reading frame numbers needs CAP_SYS_ADMIN (root); without it pagemap reports frame
//! 0 and the state is unavailable, with that reason. With large folios the flags are
//! the folio's: a page is dirty when its folio is.

use serde::Serialize;
use std::fs::File;
use std::os::unix::fs::FileExt;

const PAGE: usize = 4096;
const PM_PRESENT: u64 = 1 << 63;
const PM_PFN_MASK: u64 = (1 << 55) - 1;
/// Bit numbers of /proc/kpageflags (Documentation/admin-guide/mm/pagemap.rst).
const KPF_DIRTY: u32 = 4;
const KPF_WRITEBACK: u32 = 8;

/// How many pages of a range are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PageStates {
    pub pages: u64,
    /// Mapped, dirty: not written back yet.
    pub dirty: u64,
    /// Mapped, being written back right now.
    pub writeback: u64,
    /// Mapped and clean: written back (or never written).
    pub clean: u64,
    /// Not mapped in this process (for a page the program wrote: written back and then
    /// evicted, since a dirty page cannot be dropped).
    pub not_mapped: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    NotMapped,
    Dirty,
    Writeback,
    Clean,
}

/// The frame number of a pagemap entry; None when not present (or swapped).
pub fn pfn(entry: u64) -> Option<u64> {
    (entry & PM_PRESENT != 0).then_some(entry & PM_PFN_MASK)
}

/// The state of a mapped page from its kpageflags word.
pub fn classify(flags: u64) -> State {
    if flags & (1 << KPF_WRITEBACK) != 0 {
        State::Writeback
    } else if flags & (1 << KPF_DIRTY) != 0 {
        State::Dirty
    } else {
        State::Clean
    }
}

/// The state of every page of `[addr, addr + len)` in this process (page-aligned
/// down/up). Errors are reasons, for the result record.
pub fn states(addr: usize, len: usize) -> Result<Vec<State>, String> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let first = addr / PAGE;
    let last = (addr + len).div_ceil(PAGE);
    let n = last - first;
    let pm = File::open("/proc/self/pagemap")
        .map_err(|e| format!("cannot open /proc/self/pagemap: {e}"))?;
    let mut raw = vec![0u8; n * 8];
    pm.read_exact_at(&mut raw, first as u64 * 8)
        .map_err(|e| format!("cannot read /proc/self/pagemap: {e}"))?;
    let entries: Vec<u64> = raw
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();
    let pfns: Vec<Option<u64>> = entries.iter().map(|&e| pfn(e)).collect();
    if pfns.iter().any(|p| p.is_some()) && pfns.iter().flatten().all(|&p| p == 0) {
        return Err(
            "pagemap hides frame numbers (reading them needs CAP_SYS_ADMIN: run as root)".into(),
        );
    }
    let kf = File::open("/proc/kpageflags").map_err(|e| {
        format!("cannot open /proc/kpageflags ({e}); it needs root and CONFIG_PROC_PAGE_MONITOR")
    })?;
    let mut out = Vec::with_capacity(n);
    let mut word = [0u8; 8];
    for p in pfns {
        out.push(match p {
            None => State::NotMapped,
            Some(pfn) => {
                kf.read_exact_at(&mut word, pfn * 8)
                    .map_err(|e| format!("cannot read /proc/kpageflags: {e}"))?;
                classify(u64::from_le_bytes(word))
            }
        });
    }
    Ok(out)
}

/// Count the states.
pub fn summarize(states: &[State]) -> PageStates {
    let mut s = PageStates {
        pages: states.len() as u64,
        ..Default::default()
    };
    for st in states {
        match st {
            State::NotMapped => s.not_mapped += 1,
            State::Dirty => s.dirty += 1,
            State::Writeback => s.writeback += 1,
            State::Clean => s.clean += 1,
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_bits() {
        assert_eq!(pfn(0), None);
        assert_eq!(pfn(PM_PRESENT | 1234), Some(1234));
        // Flags above bit 54 are not part of the frame number.
        assert_eq!(pfn(PM_PRESENT | (1 << 61) | (1 << 55) | 7), Some(7));
        assert_eq!(classify(0), State::Clean);
        assert_eq!(classify(1 << 4), State::Dirty);
        assert_eq!(classify((1 << 4) | (1 << 8)), State::Writeback);
        assert_eq!(classify(1 << 5), State::Clean, "LRU alone is clean");
        let s = summarize(&[State::Dirty, State::Clean, State::NotMapped, State::Dirty]);
        assert_eq!(
            s,
            PageStates {
                pages: 4,
                dirty: 2,
                writeback: 0,
                clean: 1,
                not_mapped: 1
            }
        );
    }

    #[test]
    fn sees_own_dirty_pages_when_root() {
        let d = tempfile::tempdir().unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(d.path().join("p"))
            .unwrap();
        f.set_len(4 * 4096).unwrap();
        let mut m = crate::sys::shared_map::map_shared_mut(&f, 4 * 4096).unwrap();
        m[0] = 1;
        m[2 * 4096] = 1;
        match states(m.as_ptr() as usize, 4 * 4096) {
            Ok(s) => {
                // (Page 1 may share a large folio with page 0, so it is not checked.)
                assert_eq!(s[0], State::Dirty);
                assert_eq!(s[2], State::Dirty);
                m.flush().unwrap();
                let s = states(m.as_ptr() as usize, 4 * 4096).unwrap();
                // tmpfs pages have no writeback: msync leaves them dirty.
                if crate::sys::statfs_type(d.path()).ok() != Some(0x0102_1994) {
                    assert_eq!(s[0], State::Clean, "msync cleaned it");
                }
            }
            Err(e) => crate::testkit::skip("pageflags", &format!("page states: {e}")),
        }
    }
}
