//! The counters every probe contributes to, as recorded per backend (totals over the
//! measured phase) and per sampling interval (deltas). A counter that could not be read
//! is `None` (JSON null) and its reason is kept in the result's `reasons` map; it is
//! never reported as 0.
//!
//! `CounterId` names one counter: its `name()` is the counter's key in run.json (the
//! field of `Counters` and the key of its null reason), so code asks
//! `counters.get(CounterId::MajorFaults)` instead of matching on key strings.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

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
    /// device_read_bytes and device_read_ios of each disk (sysfs name) they sum.
    pub device_read_bytes_by_disk: Option<BTreeMap<String, u64>>,
    pub device_read_ios_by_disk: Option<BTreeMap<String, u64>>,
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
    /// CPU time (user + system) of the whole measuring process (/proc/self/stat): the
    /// measured threads plus the process's other threads, such as io_uring's workers
    /// (`iou-wrk`) doing the backend's I/O and the harness's sampler.
    pub process_cpu_ns: Option<u64>,
    /// CPU time of the whole machine (all CPUs), from /proc/stat.
    pub machine_cpu_user_ns: Option<u64>,
    pub machine_cpu_system_ns: Option<u64>,
    pub machine_cpu_idle_ns: Option<u64>,
    pub machine_cpu_iowait_ns: Option<u64>,
    /// Time the hypervisor ran something else while this machine's CPUs wanted to run
    /// (the steal field of /proc/stat, all CPUs).
    pub steal_ns: Option<u64>,
    /// KiB the guest handed back to the host by free page reporting
    /// (/sys/module/page_reporting/parameters/reported_kib).
    pub balloon_reported_kib: Option<u64>,
    /// Deltas of selected /proc/vmstat fields (pgmajfault, pgscan_*, pgsteal_*,
    /// workingset_refault_file, thp_*).
    pub vmstat: Option<BTreeMap<String, u64>>,
    /// Times an allocation entered direct reclaim (machine-wide): the sum of
    /// /proc/vmstat's `allocstall_*` (one per memory zone; `allocstall` before 4.8).
    /// Reclaim for a memory cgroup's limit does not count here.
    pub allocstall: Option<u64>,
    /// CPU time (user + system) of every kswapd thread (/proc/<pid>/stat of each
    /// `kswapdN`): the background reclaim the global regime relies on.
    pub kswapd_cpu_ns: Option<u64>,
    /// Pages the run's memory cgroup evicted at its limit: memory.stat `pgpgout` (v1:
    /// pages uncharged, which in a read cell are evictions) or `pgsteal` (v2).
    pub cgroup_reclaim_pages: Option<u64>,
}

/// One counter of `Counters`. Ordered by name, as the keys of a JSON map of counters
/// are, so maps keyed by `CounterId` list them as run.json does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CounterId {
    MinorFaults,
    MajorFaults,
    FaultOps,
    StallNs,
    TlbShootdownsSystem,
    TlbFlushProcess,
    DeviceReadBytes,
    DeviceWriteBytes,
    DeviceReadIos,
    DeviceBusyNs,
    DeviceReadBytesByDisk,
    DeviceReadIosByDisk,
    ReadAmplification,
    PageCacheBytesEnd,
    CgroupPageCacheBytesEnd,
    HugePageBytes,
    CpuUserNs,
    CpuSystemNs,
    ProcessCpuNs,
    MachineCpuUserNs,
    MachineCpuSystemNs,
    MachineCpuIdleNs,
    MachineCpuIowaitNs,
    StealNs,
    BalloonReportedKib,
    Vmstat,
    Allocstall,
    KswapdCpuNs,
    CgroupReclaimPages,
}

impl CounterId {
    /// Every counter, in the field order of `Counters`.
    pub const ALL: [CounterId; 29] = [
        CounterId::MinorFaults,
        CounterId::MajorFaults,
        CounterId::FaultOps,
        CounterId::StallNs,
        CounterId::TlbShootdownsSystem,
        CounterId::TlbFlushProcess,
        CounterId::DeviceReadBytes,
        CounterId::DeviceWriteBytes,
        CounterId::DeviceReadIos,
        CounterId::DeviceBusyNs,
        CounterId::DeviceReadBytesByDisk,
        CounterId::DeviceReadIosByDisk,
        CounterId::ReadAmplification,
        CounterId::PageCacheBytesEnd,
        CounterId::CgroupPageCacheBytesEnd,
        CounterId::HugePageBytes,
        CounterId::CpuUserNs,
        CounterId::CpuSystemNs,
        CounterId::ProcessCpuNs,
        CounterId::MachineCpuUserNs,
        CounterId::MachineCpuSystemNs,
        CounterId::MachineCpuIdleNs,
        CounterId::MachineCpuIowaitNs,
        CounterId::StealNs,
        CounterId::BalloonReportedKib,
        CounterId::Vmstat,
        CounterId::Allocstall,
        CounterId::KswapdCpuNs,
        CounterId::CgroupReclaimPages,
    ];

    /// The counter's key in run.json (its field name in `Counters`).
    pub fn name(self) -> &'static str {
        match self {
            CounterId::MinorFaults => "minor_faults",
            CounterId::MajorFaults => "major_faults",
            CounterId::FaultOps => "fault_ops",
            CounterId::StallNs => "stall_ns",
            CounterId::TlbShootdownsSystem => "tlb_shootdowns_system",
            CounterId::TlbFlushProcess => "tlb_flush_process",
            CounterId::DeviceReadBytes => "device_read_bytes",
            CounterId::DeviceWriteBytes => "device_write_bytes",
            CounterId::DeviceReadIos => "device_read_ios",
            CounterId::DeviceBusyNs => "device_busy_ns",
            CounterId::DeviceReadBytesByDisk => "device_read_bytes_by_disk",
            CounterId::DeviceReadIosByDisk => "device_read_ios_by_disk",
            CounterId::ReadAmplification => "read_amplification",
            CounterId::PageCacheBytesEnd => "page_cache_bytes_end",
            CounterId::CgroupPageCacheBytesEnd => "cgroup_page_cache_bytes_end",
            CounterId::HugePageBytes => "huge_page_bytes",
            CounterId::CpuUserNs => "cpu_user_ns",
            CounterId::CpuSystemNs => "cpu_system_ns",
            CounterId::ProcessCpuNs => "process_cpu_ns",
            CounterId::MachineCpuUserNs => "machine_cpu_user_ns",
            CounterId::MachineCpuSystemNs => "machine_cpu_system_ns",
            CounterId::MachineCpuIdleNs => "machine_cpu_idle_ns",
            CounterId::MachineCpuIowaitNs => "machine_cpu_iowait_ns",
            CounterId::StealNs => "steal_ns",
            CounterId::BalloonReportedKib => "balloon_reported_kib",
            CounterId::Vmstat => "vmstat",
            CounterId::Allocstall => "allocstall",
            CounterId::KswapdCpuNs => "kswapd_cpu_ns",
            CounterId::CgroupReclaimPages => "cgroup_reclaim_pages",
        }
    }
}

impl Ord for CounterId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name().cmp(other.name())
    }
}

impl PartialOrd for CounterId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for CounterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A string that names no counter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown counter `{0}`")]
pub struct UnknownCounter(pub String);

impl FromStr for CounterId {
    type Err = UnknownCounter;

    fn from_str(s: &str) -> Result<CounterId, UnknownCounter> {
        CounterId::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| UnknownCounter(s.to_string()))
    }
}

/// The value of one counter that was read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CounterValue<'a> {
    /// A count, bytes or nanoseconds.
    Count(u64),
    /// A ratio (read amplification).
    Ratio(f64),
    /// Counts by name (tlb_flush_process by reason, vmstat by field).
    ByName(&'a BTreeMap<String, u64>),
}

impl Counters {
    /// Counter `id`, or None when it is null.
    pub fn get(&self, id: CounterId) -> Option<CounterValue<'_>> {
        fn by_name(v: &Option<BTreeMap<String, u64>>) -> Option<CounterValue<'_>> {
            v.as_ref().map(CounterValue::ByName)
        }
        let count = |v: Option<u64>| v.map(CounterValue::Count);
        match id {
            CounterId::MinorFaults => count(self.minor_faults),
            CounterId::MajorFaults => count(self.major_faults),
            CounterId::FaultOps => count(self.fault_ops),
            CounterId::StallNs => count(self.stall_ns),
            CounterId::TlbShootdownsSystem => count(self.tlb_shootdowns_system),
            CounterId::TlbFlushProcess => by_name(&self.tlb_flush_process),
            CounterId::DeviceReadBytes => count(self.device_read_bytes),
            CounterId::DeviceWriteBytes => count(self.device_write_bytes),
            CounterId::DeviceReadIos => count(self.device_read_ios),
            CounterId::DeviceBusyNs => count(self.device_busy_ns),
            CounterId::DeviceReadBytesByDisk => by_name(&self.device_read_bytes_by_disk),
            CounterId::DeviceReadIosByDisk => by_name(&self.device_read_ios_by_disk),
            CounterId::ReadAmplification => self.read_amplification.map(CounterValue::Ratio),
            CounterId::PageCacheBytesEnd => count(self.page_cache_bytes_end),
            CounterId::CgroupPageCacheBytesEnd => count(self.cgroup_page_cache_bytes_end),
            CounterId::HugePageBytes => count(self.huge_page_bytes),
            CounterId::CpuUserNs => count(self.cpu_user_ns),
            CounterId::CpuSystemNs => count(self.cpu_system_ns),
            CounterId::ProcessCpuNs => count(self.process_cpu_ns),
            CounterId::MachineCpuUserNs => count(self.machine_cpu_user_ns),
            CounterId::MachineCpuSystemNs => count(self.machine_cpu_system_ns),
            CounterId::MachineCpuIdleNs => count(self.machine_cpu_idle_ns),
            CounterId::MachineCpuIowaitNs => count(self.machine_cpu_iowait_ns),
            CounterId::StealNs => count(self.steal_ns),
            CounterId::BalloonReportedKib => count(self.balloon_reported_kib),
            CounterId::Vmstat => by_name(&self.vmstat),
            CounterId::Allocstall => count(self.allocstall),
            CounterId::KswapdCpuNs => count(self.kswapd_cpu_ns),
            CounterId::CgroupReclaimPages => count(self.cgroup_reclaim_pages),
        }
    }

    /// Counter `id` when it is a plain count (bytes, ns, events) and was read; None when
    /// it is null or not a count (read_amplification, tlb_flush_process, vmstat).
    pub fn count(&self, id: CounterId) -> Option<u64> {
        match self.get(id)? {
            CounterValue::Count(v) => Some(v),
            CounterValue::Ratio(_) | CounterValue::ByName(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counters with every field set, each to a different value.
    fn all_set() -> Counters {
        let mut c = Counters {
            read_amplification: Some(1.5),
            tlb_flush_process: Some([("remote_shootdown".to_string(), 7)].into()),
            vmstat: Some([("pgmajfault".to_string(), 9)].into()),
            device_read_bytes_by_disk: Some([("zram1".to_string(), 4096)].into()),
            device_read_ios_by_disk: Some([("zram1".to_string(), 1)].into()),
            ..Default::default()
        };
        let fields = [
            &mut c.minor_faults,
            &mut c.major_faults,
            &mut c.fault_ops,
            &mut c.stall_ns,
            &mut c.tlb_shootdowns_system,
            &mut c.device_read_bytes,
            &mut c.device_write_bytes,
            &mut c.device_read_ios,
            &mut c.device_busy_ns,
            &mut c.page_cache_bytes_end,
            &mut c.cgroup_page_cache_bytes_end,
            &mut c.huge_page_bytes,
            &mut c.cpu_user_ns,
            &mut c.cpu_system_ns,
            &mut c.process_cpu_ns,
            &mut c.machine_cpu_user_ns,
            &mut c.machine_cpu_system_ns,
            &mut c.machine_cpu_idle_ns,
            &mut c.machine_cpu_iowait_ns,
            &mut c.steal_ns,
            &mut c.balloon_reported_kib,
            &mut c.allocstall,
            &mut c.kswapd_cpu_ns,
            &mut c.cgroup_reclaim_pages,
        ];
        for (i, f) in fields.into_iter().enumerate() {
            *f = Some(100 + i as u64);
        }
        c
    }

    #[test]
    fn ids_are_the_json_keys_in_field_order() {
        // A struct serializes its fields in declaration order.
        let text = serde_json::to_string(&Counters::default()).unwrap();
        let keys: Vec<&str> = text
            .trim_matches(|c| c == '{' || c == '}')
            .split(',')
            .map(|kv| kv.split(':').next().unwrap().trim_matches('"'))
            .collect();
        let names: Vec<&str> = CounterId::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(
            keys, names,
            "one CounterId per field of Counters, in field order"
        );
        let mut sorted = CounterId::ALL;
        sorted.sort();
        assert!(sorted.windows(2).all(|w| w[0].name() < w[1].name()));
        for id in CounterId::ALL {
            assert_eq!(id.name().parse::<CounterId>(), Ok(id));
            assert_eq!(id.to_string(), id.name());
            assert_eq!(format!("{id:<30}|").len(), 31, "Display pads");
        }
        assert!("timeseries".parse::<CounterId>().is_err());
    }

    #[test]
    fn get_reads_the_field_of_the_same_name() {
        let c = all_set();
        let v = serde_json::to_value(&c).unwrap();
        for id in CounterId::ALL {
            let json = &v[id.name()];
            let got = match c.get(id).expect("every field is set") {
                CounterValue::Count(n) => serde_json::json!(n),
                CounterValue::Ratio(r) => serde_json::json!(r),
                CounterValue::ByName(m) => serde_json::json!(m),
            };
            assert_eq!(&got, json, "{id}");
            assert_eq!(c.count(id), json.as_u64(), "{id}");
            assert_eq!(Counters::default().get(id), None, "{id}");
        }
    }
}
