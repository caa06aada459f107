//! The counters every probe contributes to, as recorded per backend (totals over the
//! measured phase) and per sampling interval (deltas). A counter that could not be read
//! is `None` (JSON null) and its reason is kept in the result's `reasons` map; it is
//! never reported as 0.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    /// Page faults of the measured threads.
    pub minor_faults: Option<u64>,
    pub major_faults: Option<u64>,
    /// Operations that took at least one major fault, and the sum of their latencies:
    /// the time workers were stalled in operations that waited for a major fault.
    pub fault_ops: Option<u64>,
    pub stall_ns: Option<u64>,
    /// TLB shootdown interrupts, all CPUs (the TLB row of /proc/interrupts).
    pub tlb_shootdowns_system: Option<u64>,
    /// tlb:tlb_flush tracepoint events of the measured threads, by reason.
    pub tlb_flush_process: Option<BTreeMap<String, u64>>,
    /// The block device(s) behind the data file (partitions and device-mapper resolved
    /// to physical disks), summed.
    pub device_read_bytes: Option<u64>,
    pub device_write_bytes: Option<u64>,
    pub device_read_ios: Option<u64>,
    /// Time the device had I/O in flight (io_ticks), ns; utilisation = busy / elapsed.
    pub device_busy_ns: Option<u64>,
    /// device_read_bytes / bytes the application read.
    pub read_amplification: Option<f64>,
    /// Page cache size at the end of the interval (system-wide, /proc/meminfo Cached).
    pub page_cache_bytes_end: Option<u64>,
    /// Page cache charged to the run's memory cgroup at the end of the interval.
    pub cgroup_page_cache_bytes_end: Option<u64>,
    /// Bytes the measuring process had mapped with huge pages (smaps_rollup).
    pub huge_page_bytes: Option<u64>,
    /// CPU time of the measured threads.
    pub cpu_user_ns: Option<u64>,
    pub cpu_system_ns: Option<u64>,
    /// CPU time of the whole machine (all CPUs), from /proc/stat.
    pub machine_cpu_user_ns: Option<u64>,
    pub machine_cpu_system_ns: Option<u64>,
    pub machine_cpu_idle_ns: Option<u64>,
    pub machine_cpu_iowait_ns: Option<u64>,
    /// Deltas of selected /proc/vmstat fields (pgmajfault, pgscan_*, pgsteal_*,
    /// workingset_refault_file, thp_*).
    pub vmstat: Option<BTreeMap<String, u64>>,
}
