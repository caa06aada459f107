//! Write cells: what the page cache holds of the written file at the moment before the
//! cell's final sync (pages still dirty, under write-back, or already written back by
//! the kernel on its own), and the memory cgroup's own dirty and write-back bytes.
//!
//! The page states come from the kpageflags method of `claim flush`
//! (`probe::pageflags`): the file is mapped read-only, the pages the page cache holds
//! (mincore) are touched once so they are mapped in this process (a read fault maps the
//! cached page and leaves its dirty state alone; evicted pages are not read back), and
//! `/proc/self/pagemap` + `/proc/kpageflags` give each page's dirty and write-back bits.
//! Root only (frame numbers), else the reason.

use super::pageflags::{self, State};
use super::parse::CgroupVersion;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

/// Written pages by their state at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageCount {
    pub pages: u64,
    /// Cached and dirty (not written back yet). With large folios a page counts as
    /// dirty while its folio is.
    pub dirty: u64,
    /// Cached and being written back at that moment.
    pub writeback: u64,
    /// Cached and clean.
    pub clean: u64,
    /// Not in the page cache (for a written page: written back, then evicted, since a
    /// dirty page cannot be dropped).
    pub not_cached: u64,
}

/// The state of every 4 KiB page of the first `size` bytes of `path`, and how long
/// the look took.
pub fn file_pages(path: &Path, size: u64) -> Result<(Vec<State>, Duration), String> {
    let t0 = Instant::now();
    let f = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let m = crate::sys::map_readonly(&f, size as usize, false)
        .map_err(|e| format!("cannot map {} to look at its pages: {e}", path.display()))?;
    let resident = crate::sys::pagecache::resident(&m)
        .map_err(|e| format!("mincore of {} failed: {e}", path.display()))?;
    let page = crate::sys::page_size();
    let mut x = 0u8;
    for (i, r) in resident.iter().enumerate() {
        if *r {
            x ^= m[i * page];
        }
    }
    std::hint::black_box(x);
    let states = pageflags::states(m.as_ptr() as usize, m.len())?;
    Ok((states, t0.elapsed()))
}

/// Count the states of the pages of `blocks` (block indices, `per_block` pages each).
/// A page past the end of `states` is not counted.
pub fn count(states: &[State], blocks: &[u64], per_block: u64) -> PageCount {
    let mut c = PageCount::default();
    for &b in blocks {
        for p in b * per_block..(b + 1) * per_block {
            let Some(s) = states.get(p as usize) else {
                continue;
            };
            c.pages += 1;
            match s {
                State::Dirty => c.dirty += 1,
                State::Writeback => c.writeback += 1,
                State::Clean => c.clean += 1,
                // Evicted between mincore and the touch, or never cached.
                State::NotMapped => c.not_cached += 1,
            }
        }
    }
    c
}

/// The cgroup's dirty and write-back bytes from its memory.stat: v2 `file_dirty` and
/// `file_writeback`; v1 the hierarchical `total_dirty` and `total_writeback` (else
/// `dirty` and `writeback`).
pub fn cgroup_dirty_bytes(stat: &BTreeMap<String, u64>, v: CgroupVersion) -> Option<(u64, u64)> {
    match v {
        CgroupVersion::V2 => Some((*stat.get("file_dirty")?, *stat.get("file_writeback")?)),
        CgroupVersion::V1 => {
            let get = |total: &str, own: &str| stat.get(total).or_else(|| stat.get(own)).copied();
            Some((
                get("total_dirty", "dirty")?,
                get("total_writeback", "writeback")?,
            ))
        }
    }
}

/// Read the cgroup's dirty and write-back bytes now, or why not.
pub fn read_cgroup_dirty(stat: &Path, v: CgroupVersion) -> Result<(u64, u64), String> {
    let t = std::fs::read_to_string(stat)
        .map_err(|e| format!("cannot read {}: {e}", stat.display()))?;
    cgroup_dirty_bytes(&super::parse::parse_flat_keyed(&t), v).ok_or_else(|| {
        format!(
            "{} has no dirty/writeback fields ({v}: {})",
            stat.display(),
            match v {
                CgroupVersion::V2 => "file_dirty, file_writeback",
                CgroupVersion::V1 => "dirty, writeback",
            }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::parse::parse_flat_keyed;

    #[test]
    fn counts_written_blocks_only() {
        use State::*;
        let st = [Dirty, Clean, Writeback, NotMapped, Dirty, Dirty];
        let c = count(&st, &[0, 1, 5], 2);
        // Block 5 is past the end: not counted.
        assert_eq!(
            c,
            PageCount {
                pages: 4,
                dirty: 1,
                writeback: 1,
                clean: 1,
                not_cached: 1
            }
        );
    }

    #[test]
    fn cgroup_dirty_of_both_versions() {
        let v1 = include_str!("testdata/memory-stat-v1-vm.txt");
        let s = parse_flat_keyed(v1);
        let (d, w) = cgroup_dirty_bytes(&s, CgroupVersion::V1).unwrap();
        assert_eq!(Some(&d), s.get("total_dirty"));
        assert_eq!(Some(&w), s.get("total_writeback"));
        let mut own = BTreeMap::new();
        own.insert("dirty".to_string(), 8192);
        own.insert("writeback".to_string(), 4096);
        assert_eq!(
            cgroup_dirty_bytes(&own, CgroupVersion::V1),
            Some((8192, 4096))
        );
        assert_eq!(cgroup_dirty_bytes(&own, CgroupVersion::V2), None);
        let v2 = parse_flat_keyed("file 100\nfile_dirty 12288\nfile_writeback 0\n");
        assert_eq!(cgroup_dirty_bytes(&v2, CgroupVersion::V2), Some((12288, 0)));
        assert_eq!(cgroup_dirty_bytes(&v2, CgroupVersion::V1), None);
    }

    #[test]
    fn counts_dirty_pages_of_a_file_when_root() {
        use std::io::Write;
        let d = tempfile::tempdir().unwrap();
        if crate::sys::statfs_type(d.path()).ok() == Some(0x0102_1994) {
            // tmpfs pages have no write-back: they stay dirty after a sync.
            crate::testkit::skip("tmpfs", "the temporary directory is on tmpfs");
            return;
        }
        let p = d.path().join("f");
        let mut f = File::create(&p).unwrap();
        f.write_all(&vec![1u8; 64 * 4096]).unwrap();
        f.sync_all().unwrap();
        // Dirty four pages again with pwrite (buffered).
        use std::os::unix::fs::FileExt;
        for k in [0u64, 10, 20, 30] {
            f.write_all_at(&[2u8; 4096], k * 4096).unwrap();
        }
        let all: Vec<u64> = (0..64).collect();
        match file_pages(&p, 64 * 4096) {
            Ok((st, _)) => {
                assert_eq!(st.len(), 64);
                let w = count(&st, &[0, 10, 20, 30], 1);
                assert_eq!(w.pages, 4);
                assert_eq!(w.dirty + w.writeback, 4, "{w:?}");
                let c = count(&st, &all, 1);
                assert_eq!(c.dirty + c.writeback + c.clean + c.not_cached, 64);
                f.sync_all().unwrap();
                let (st, _) = file_pages(&p, 64 * 4096).unwrap();
                let c = count(&st, &all, 1);
                assert_eq!(c.dirty + c.writeback, 0, "{c:?}");
            }
            Err(e) => crate::testkit::skip("pageflags", &format!("page states: {e}")),
        }
    }
}
