//! The write side of a backend's result (write and mix workloads): operations by kind,
//! the read-back check, write amplification and the page cache's dirty and
//! write-back state per interval.

use super::{encode_histogram, latency_of, Latency, RecordError};
use crate::driver::write::KindOut;
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
    /// Per interval, the page cache's dirty and write-back bytes (system-wide).
    pub dirty: Vec<DirtySample>,
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
