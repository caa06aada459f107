//! The write side of a backend's result (write and mix workloads): operations by kind,
//! the read-back check, write amplification and the page cache's dirty and
//! write-back state per interval.

use super::{encode_histogram, latency_of, Latency, RecordError};
use crate::driver::write::KindOut;
pub use crate::probe::dirty_throttle::Throttle;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Operations of one kind over the measured phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindResult {
    pub ops: u64,
    pub bytes: u64,
    pub latency_ns: Option<Latency>,
    /// HdrHistogram V2, base64; null when no operation of the kind ran (or the tool
    /// reports none).
    pub histogram: Option<String>,
}

impl KindResult {
    pub fn from_kind(k: &KindOut) -> Result<KindResult, RecordError> {
        let h = Some(&k.hist).filter(|h| !h.is_empty());
        Ok(KindResult {
            ops: k.ops,
            bytes: k.bytes,
            latency_ns: h.map(latency_of),
            histogram: h.map(encode_histogram).transpose()?,
        })
    }
}

/// The page cache's dirty and write-back memory at the end of an interval
/// (/proc/vmstat nr_dirty and nr_writeback, system-wide, in bytes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirtySample {
    /// ns since the measured phase began.
    pub t_ns: u64,
    pub dirty_bytes: u64,
    pub writeback_bytes: u64,
    /// The memory cgroup's own dirty and write-back bytes (its memory.stat), when the
    /// cell runs under a page-cache limit; null otherwise (`reasons["dirty.cgroup"]`).
    #[serde(default)]
    pub cgroup_dirty_bytes: Option<u64>,
    #[serde(default)]
    pub cgroup_writeback_bytes: Option<u64>,
}

/// Before the cell's final sync (its own `sync = end`, or the harness's fdatasync
/// before the read-back under `sync = none`): how many of the pages the cell wrote the
/// kernel had already written back on its own (kpageflags of the file's pages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrittenBack {
    /// Written pages no longer dirty: clean in the cache, or written back and evicted.
    pub pages: u64,
    /// The distinct pages the cell wrote (`written_pages`, warm-up included).
    pub of_pages: u64,
    /// Written pages still dirty at that moment. With large folios a page counts as
    /// dirty while any page of its folio is (the kernel keeps the flag per folio).
    pub dirty: u64,
    /// Written pages under write-back at that moment.
    pub writeback: u64,
    /// Written pages not in the page cache then (part of `pages`).
    pub not_cached: u64,
    /// How long the look took; the workers waited, and the wait is not in their
    /// measured time.
    pub scan_ns: u64,
}

/// One look at the written pages while the writers were held before their final sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedPages {
    /// ns since the first look (the one in `written_back_before_sync`).
    pub t_ns: u64,
    /// Written pages no longer dirty (clean, or evicted), as `WrittenBack::pages`.
    pub pages: u64,
    pub of_pages: u64,
    pub dirty: u64,
    pub writeback: u64,
    pub not_cached: u64,
}

/// What the writing threads' own syncs left at risk over the whole cell (warm-up
/// included): the most writes completed and not yet covered by a completed sync of
/// the thread, the longest time from a write's completion to the completion of the
/// sync that covered it, and the writes no sync of the program covered (after the
/// last one; the harness's own fdatasync before the read-back wrote them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncExposure {
    pub max_unsynced_writes: u64,
    pub max_unsynced_bytes: u64,
    pub max_unsynced_ns: u64,
    pub unsynced_at_end: u64,
    /// Syncs the threads made (warm-up included; `ops_by_kind.sync` counts the
    /// measured phase).
    pub syncs: u64,
}

/// Throttling in balance_dirty_pages over one interval (`t_ns`: its end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottleSample {
    pub t_ns: u64,
    #[serde(flatten)]
    pub throttle: Throttle,
}

/// What a write or mix cell wrote, synced and read back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WriteResult {
    /// {read, write, sync}: each kind's count, bytes and latencies. Syncs are not
    /// operations (the result's `ops` counts reads and writes).
    pub ops_by_kind: BTreeMap<String, KindResult>,
    /// reads / (reads + writes), percent; compare with the workload's read_pct.
    pub read_share_pct: Option<f64>,
    /// Distinct 4 KiB pages the cell wrote (warm-up included).
    pub written_pages: Option<u64>,
    /// Pages read back from the device after the cell and compared with the newest
    /// generation written; equal to written_pages on a complete check.
    pub verified_pages: Option<u64>,
    /// Pages that read back lost, stale or torn; 0 on a correct run.
    pub verify_errors: Option<u64>,
    /// device_write_bytes / bytes the application wrote.
    pub write_amplification: Option<f64>,
    /// Per interval, the page cache's dirty and write-back bytes (system-wide, and the
    /// memory cgroup's).
    pub dirty: Vec<DirtySample>,
    /// The written pages the kernel wrote back before the final sync.
    #[serde(default)]
    pub written_back_before_sync: Option<WrittenBack>,
    /// With --hold-before-sync: the same count once a second while the writers were
    /// held before their final sync (`t_ns`: since the first look).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub written_back_observed: Vec<ObservedPages>,
    /// What the program's own syncs left at risk (in-process backends; null with the
    /// reason for fio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_exposure: Option<SyncExposure>,
    /// The measured threads' throttling in balance_dirty_pages over the measured phase
    /// (writeback:balance_dirty_pages tracepoint).
    #[serde(default)]
    pub dirty_throttle: Option<Throttle>,
    /// The same per interval.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dirty_throttle_intervals: Vec<ThrottleSample>,
    /// Why a null field above is null: {field: reason}.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reasons: BTreeMap<String, String>,
}

/// nr_dirty and nr_writeback from /proc/vmstat text, in pages.
pub fn parse_dirty(vmstat: &str) -> Option<(u64, u64)> {
    let mut dirty = None;
    let mut wb = None;
    for line in vmstat.lines() {
        let mut f = line.split_whitespace();
        match (f.next(), f.next().and_then(|v| v.parse::<u64>().ok())) {
            (Some("nr_dirty"), Some(v)) => dirty = Some(v),
            (Some("nr_writeback"), Some(v)) => wb = Some(v),
            _ => {}
        }
    }
    Some((dirty?, wb?))
}

/// The dirty and write-back bytes now, or why they cannot be read.
pub fn read_dirty() -> Result<(u64, u64), String> {
    let text = std::fs::read_to_string("/proc/vmstat")
        .map_err(|e| format!("cannot read /proc/vmstat: {e}"))?;
    let (d, w) = parse_dirty(&text)
        .ok_or_else(|| "/proc/vmstat has no nr_dirty or nr_writeback".to_string())?;
    let page = crate::sys::page_size() as u64;
    Ok((d * page, w * page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dirty_and_writeback() {
        let t = include_str!("../probe/testdata/vmstat-vm.txt");
        assert_eq!(parse_dirty(t), Some((97285, 12)));
        assert_eq!(parse_dirty("nr_dirty 1\n"), None);
    }
}
