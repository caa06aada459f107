//! Memory: the page cache (system-wide from /proc/meminfo, and charged to the run's
//! memory cgroup), and the bytes this process has mapped with huge pages
//! (/proc/self/smaps_rollup).

use super::{parse, CounterId, Counters, Probe, Reasons, ThreadSet};
use crate::probe::parse::CgroupVersion;
use std::path::PathBuf;

pub struct Memory {
    /// memory.stat of the run's cgroup, when there is one.
    pub cgroup_stat: Option<(PathBuf, CgroupVersion)>,
}

impl Probe for Memory {
    fn read(&self, _t: &ThreadSet, c: &mut Counters, r: &mut Reasons) {
        match std::fs::read_to_string("/proc/meminfo") {
            Ok(t) => match parse::meminfo_page_cache_bytes(&t) {
                Some(v) => c.page_cache_bytes_end = Some(v),
                None => r.set(
                    CounterId::PageCacheBytesEnd,
                    "/proc/meminfo has no Cached line",
                ),
            },
            Err(e) => r.set(
                CounterId::PageCacheBytesEnd,
                format!("cannot read /proc/meminfo: {e}"),
            ),
        }
        match &self.cgroup_stat {
            None => {
                let why =
                    "the run has no memory cgroup (no page_cache_limit, or reclaim = \"global\")";
                r.set(CounterId::CgroupPageCacheBytesEnd, why);
                r.set(CounterId::CgroupReclaimPages, why);
            }
            Some((p, v)) => match std::fs::read_to_string(p) {
                Ok(t) => {
                    let stat = parse::parse_flat_keyed(&t);
                    match parse::cgroup_page_cache_bytes(&stat, *v) {
                        Some(b) => c.cgroup_page_cache_bytes_end = Some(b),
                        None => r.set(
                            CounterId::CgroupPageCacheBytesEnd,
                            format!("{} has no page-cache field", p.display()),
                        ),
                    }
                    match parse::cgroup_reclaim_pages(&stat, *v) {
                        Some(n) => c.cgroup_reclaim_pages = Some(n),
                        None => r.set(
                            CounterId::CgroupReclaimPages,
                            format!("{} has no pgpgout (v1) or pgsteal (v2) field", p.display()),
                        ),
                    }
                }
                Err(e) => {
                    r.set(
                        CounterId::CgroupPageCacheBytesEnd,
                        format!("cannot read {}: {e}", p.display()),
                    );
                    r.set(
                        CounterId::CgroupReclaimPages,
                        format!("cannot read {}: {e}", p.display()),
                    );
                }
            },
        }
        match std::fs::read_to_string("/proc/self/smaps_rollup") {
            Ok(t) => match parse::smaps_huge_bytes(&t) {
                Some(v) => c.huge_page_bytes = Some(v),
                None => r.set(
                    CounterId::HugePageBytes,
                    "/proc/self/smaps_rollup has no huge-page fields",
                ),
            },
            Err(e) => r.set(
                CounterId::HugePageBytes,
                format!("cannot read /proc/self/smaps_rollup: {e}"),
            ),
        }
    }
}
