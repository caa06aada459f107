//! Pure parsers for the kernel files the probes read: `/proc/interrupts`, block device
//! statistics (`/sys/block/<dev>/stat`, `/proc/diskstats`), `/proc/vmstat`,
//! `/proc/meminfo` and `/proc/self/smaps_rollup`, the cgroup files (`memory.stat`,
//! `memory.max` / `memory.limit_in_bytes`, `/proc/self/cgroup`, cgroup mounts in
//! `/proc/self/mountinfo`), and CPU time (`/proc/stat`, `/proc/<pid>/task/<tid>/stat`).
//!
//! Every function takes the file's contents and touches nothing else, so each one is
//! tested on captured text (from the development VM and from other machines). Nothing
//! here panics on any input: malformed text gives an `Err` that says what was wrong, or
//! a key missing from a map, which the caller reports as `None` with a reason. A value
//! that could not be read is never turned into 0.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// At most this many characters of an offending line are quoted in an error message.
const QUOTE_MAX: usize = 120;

fn quote(line: &str) -> String {
    let mut s: String = line.chars().take(QUOTE_MAX).collect();
    if line.chars().count() > QUOTE_MAX {
        s.push_str("...");
    }
    format!("{s:?}")
}

fn parse_u64(tok: &str, what: &str) -> Result<u64, String> {
    tok.parse::<u64>()
        .map_err(|_| format!("{what}: {tok:?} is not a non-negative integer"))
}

// ---------------------------------------------------------------------------------------
// /proc/interrupts
// ---------------------------------------------------------------------------------------

/// `CPU<n>`, the column names of the header line of /proc/interrupts.
fn cpu_column(tok: &str) -> Option<u32> {
    let n = tok.strip_prefix("CPU")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// Per-CPU counts of the `TLB:` row of /proc/interrupts (x86 "TLB shootdowns"), as
/// `(cpu number, count)` in header order.
///
/// The header line lists the online CPUs (`CPU0 CPU1 ...`; with offline CPUs the numbers
/// have gaps). The row has at most one count per listed CPU, followed by a description;
/// parsing stops at the first token that is not a number, so a row with fewer numbers
/// than CPUs yields fewer entries.
///
/// `Ok(None)` when there is no `TLB:` row: arm64 has none (it invalidates TLBs with
/// broadcast instructions, not IPIs), nor do most other architectures. `Err` when the
/// text has no CPU header, or the row has no count at all.
///
/// Each per-CPU count is a 32-bit counter in the kernel and wraps at 2^32; a caller
/// taking deltas over long runs should subtract per CPU with wrapping u32 arithmetic
/// (valid while the set of online CPUs does not change), which this form allows.
pub fn interrupts_tlb_per_cpu(text: &str) -> Result<Option<Vec<(u32, u64)>>, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines
        .next()
        .ok_or_else(|| "/proc/interrupts is empty".to_string())?;
    let cpus: Vec<u32> = header
        .split_whitespace()
        .map(cpu_column)
        .collect::<Option<Vec<u32>>>()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            format!(
                "/proc/interrupts: the first line is not a CPU header (\"CPU0 CPU1 ...\"): {}",
                quote(header)
            )
        })?;
    for line in lines {
        let Some((label, rest)) = line.trim_start().split_once(':') else {
            continue;
        };
        if label != "TLB" {
            continue;
        }
        let mut counts = Vec::with_capacity(cpus.len());
        for (cpu, tok) in cpus.iter().zip(rest.split_whitespace()) {
            match tok.parse::<u64>() {
                Ok(v) => counts.push((*cpu, v)),
                Err(_) => break,
            }
        }
        if counts.is_empty() {
            return Err(format!(
                "/proc/interrupts: the TLB row has no counts: {}",
                quote(line)
            ));
        }
        return Ok(Some(counts));
    }
    Ok(None)
}

/// Sum over all CPUs of the `TLB:` row of /proc/interrupts (TLB shootdown IPIs received,
/// system-wide). See [`interrupts_tlb_per_cpu`] for the format, `Ok(None)` (no such row,
/// e.g. arm64) and the 32-bit wrap of the per-CPU counters.
pub fn interrupts_tlb_total(text: &str) -> Result<Option<u64>, String> {
    let Some(counts) = interrupts_tlb_per_cpu(text)? else {
        return Ok(None);
    };
    counts
        .iter()
        .try_fold(0u64, |acc, (_, v)| acc.checked_add(*v))
        .map(Some)
        .ok_or_else(|| "/proc/interrupts: the TLB counts overflow u64".to_string())
}

// ---------------------------------------------------------------------------------------
// Block device statistics
// ---------------------------------------------------------------------------------------

/// One block device's I/O statistics (Documentation/block/stat.rst), the first 11 fields
/// of `/sys/block/<dev>/stat` and of a `/proc/diskstats` line. The discard (kernel 4.18+)
/// and flush (5.5+) fields that follow are not kept.
///
/// Sectors are always 512-byte units, whatever the device's logical or physical block
/// size; [`DiskStat::read_bytes`] and [`DiskStat::write_bytes`] convert them.
/// All fields are counters except `in_flight`, a gauge. The kernel keeps them in
/// `unsigned long` (the `_ticks` fields in `unsigned int` milliseconds, which wrap after
/// about 49.7 days of busy time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskStat {
    /// Read requests completed.
    pub read_ios: u64,
    /// Read requests merged with an adjacent queued request.
    pub read_merges: u64,
    /// 512-byte sectors read.
    pub read_sectors: u64,
    /// Milliseconds spent by read requests (summed over requests, so it can exceed
    /// wall time).
    pub read_ticks_ms: u64,
    pub write_ios: u64,
    pub write_merges: u64,
    /// 512-byte sectors written.
    pub write_sectors: u64,
    pub write_ticks_ms: u64,
    /// Requests in flight at the moment of reading (a gauge, not a counter).
    pub in_flight: u64,
    /// Milliseconds during which the device had at least one request in flight
    /// (utilisation = delta / elapsed).
    pub io_ticks_ms: u64,
    /// Weighted milliseconds: in-flight requests times time (average queue length =
    /// delta / elapsed).
    pub time_in_queue_ms: u64,
}

impl DiskStat {
    /// Bytes read: `read_sectors * 512` (sectors in these files are always 512 bytes).
    pub fn read_bytes(&self) -> u64 {
        self.read_sectors.saturating_mul(512)
    }

    /// Bytes written: `write_sectors * 512` (sectors in these files are always 512 bytes).
    pub fn write_bytes(&self) -> u64 {
        self.write_sectors.saturating_mul(512)
    }
}

/// Whether `n` statistics fields is a layout some kernel writes: 11 (before 4.18), 15
/// (with discards), 17 (with flushes, 5.5+). More than 17 is accepted too, as future
/// kernels append fields; 12..14 and 16 mean a damaged line.
fn known_stat_field_count(n: usize) -> bool {
    matches!(n, 11 | 15) || n >= 17
}

fn disk_stat_from_fields(fields: &[&str], what: &str) -> Result<DiskStat, String> {
    if !known_stat_field_count(fields.len()) {
        return Err(format!(
            "{what}: {} statistics fields (expected 11, 15 or 17)",
            fields.len()
        ));
    }
    let mut v = [0u64; 11];
    for (i, slot) in v.iter_mut().enumerate() {
        *slot = parse_u64(fields[i], &format!("{what}, field {}", i + 1))?;
    }
    Ok(DiskStat {
        read_ios: v[0],
        read_merges: v[1],
        read_sectors: v[2],
        read_ticks_ms: v[3],
        write_ios: v[4],
        write_merges: v[5],
        write_sectors: v[6],
        write_ticks_ms: v[7],
        in_flight: v[8],
        io_ticks_ms: v[9],
        time_in_queue_ms: v[10],
    })
}

/// Parses `/sys/block/<dev>/stat` (also `/sys/block/<disk>/<part>/stat`): one line of 11,
/// 15 or 17 whitespace-separated numbers.
pub fn parse_block_stat(text: &str) -> Result<DiskStat, String> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    if fields.is_empty() {
        return Err("block device stat file is empty".into());
    }
    disk_stat_from_fields(&fields, "block device stat")
}

/// One line of /proc/diskstats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskStatsLine {
    pub major: u32,
    pub minor: u32,
    /// The kernel's device name. For the rare names with a '/' (e.g. `cciss/c0d0`) the
    /// sysfs directory uses '!' instead (`/sys/block/cciss!c0d0`).
    pub name: String,
    pub stat: DiskStat,
}

/// Parses /proc/diskstats: one device per line, `major minor name` followed by 11, 15 or
/// 17 statistics (14, 18 or 20 fields). Blank lines are skipped; any other malformed line
/// is an error naming its line number.
pub fn parse_diskstats(text: &str) -> Result<Vec<DiskStatsLine>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        let what = format!("/proc/diskstats line {}", i + 1);
        if f.len() < 3 {
            return Err(format!("{what}: too few fields: {}", quote(line)));
        }
        let major = f[0]
            .parse::<u32>()
            .map_err(|_| format!("{what}: major number {:?} is not a number", f[0]))?;
        let minor = f[1]
            .parse::<u32>()
            .map_err(|_| format!("{what}: minor number {:?} is not a number", f[1]))?;
        let stat = disk_stat_from_fields(&f[3..], &what)?;
        out.push(DiskStatsLine {
            major,
            minor,
            name: f[2].to_string(),
            stat,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// /proc/vmstat
// ---------------------------------------------------------------------------------------

/// Parses /proc/vmstat (`name value` lines). Lines that are not a name and one
/// non-negative integer are skipped, so a missing key means "not readable here".
pub fn parse_vmstat(text: &str) -> BTreeMap<String, u64> {
    parse_flat_keyed(text)
}

/// The /proc/vmstat fields the probes record: `pgmajfault`, `pgfault`, every `pgscan_*`
/// and `pgsteal_*`, `workingset_refault_file`, `workingset_refault_anon`,
/// `workingset_activate_file`, and every `thp_*`.
///
/// Do not sum the `pgscan_*` (or `pgsteal_*`) fields: since Linux 5.8 they are two
/// views of the same pages, by reclaimer (`_kswapd`, `_direct`, `_khugepaged`,
/// `_proactive`) and by LRU type (`_anon`, `_file`); `pgscan_direct_throttle` counts
/// throttling events, not pages.
pub fn vmstat_selected(map: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    const EXACT: [&str; 5] = [
        "pgmajfault",
        "pgfault",
        "workingset_refault_file",
        "workingset_refault_anon",
        "workingset_activate_file",
    ];
    const PREFIXES: [&str; 3] = ["pgscan_", "pgsteal_", "thp_"];
    map.iter()
        .filter(|(k, _)| EXACT.contains(&k.as_str()) || PREFIXES.iter().any(|p| k.starts_with(p)))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// Times an allocation entered direct reclaim: the sum of the per-zone `allocstall_*`
/// fields (Linux 4.8+), or the single `allocstall` of older kernels. `None` when
/// /proc/vmstat has neither.
pub fn vmstat_allocstall(map: &BTreeMap<String, u64>) -> Option<u64> {
    let zones: Vec<u64> = map
        .iter()
        .filter(|(k, _)| k.starts_with("allocstall_"))
        .map(|(_, v)| *v)
        .collect();
    if zones.is_empty() {
        return map.get("allocstall").copied();
    }
    Some(zones.iter().fold(0u64, |a, v| a.saturating_add(*v)))
}

/// True for the command name of a kswapd thread (`kswapd0`, `kswapd1`, ...: one per
/// NUMA node), as /proc/<pid>/comm gives it (with or without the newline).
pub fn is_kswapd_comm(comm: &str) -> bool {
    comm.trim_end()
        .strip_prefix("kswapd")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Pages a memory cgroup evicted at its limit, from its memory.stat: v1 `pgpgout`
/// (pages uncharged; in a read cell these are evictions), v2 `pgsteal` (pages
/// reclaimed). `None` when the field is missing.
pub fn cgroup_reclaim_pages(stat: &BTreeMap<String, u64>, v: CgroupVersion) -> Option<u64> {
    match v {
        CgroupVersion::V1 => stat.get("pgpgout").copied(),
        CgroupVersion::V2 => stat.get("pgsteal").copied(),
    }
}

// ---------------------------------------------------------------------------------------
// /proc/meminfo, /proc/self/smaps_rollup
// ---------------------------------------------------------------------------------------

/// Parses `Key:   123 kB` lines (/proc/meminfo, /proc/self/smaps_rollup, the per-mapping
/// fields of smaps), returning BYTES for values in kB; values without a unit (e.g.
/// `HugePages_Total`) stay as they are. Lines that do not have that shape are skipped,
/// among them smaps_rollup's first line (`00400000-7fff... ---p 00000000 00:00 0
/// [rollup]`), values with another unit, and values that overflow u64 in bytes. A key
/// that occurs twice keeps its last value.
pub fn parse_kv_kb(text: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        if key.is_empty() || key.chars().any(char::is_whitespace) {
            continue;
        }
        let toks: Vec<&str> = rest.split_whitespace().collect();
        let value = match toks.as_slice() {
            [n] => n.parse::<u64>().ok(),
            [n, "kB"] => n.parse::<u64>().ok().and_then(|v| v.checked_mul(1024)),
            _ => None,
        };
        if let Some(v) = value {
            out.insert(key.to_string(), v);
        }
    }
    out
}

/// Bytes mapped with huge pages, from /proc/self/smaps_rollup: `AnonHugePages` +
/// `ShmemPmdMapped` + `FilePmdMapped` + `Shared_Hugetlb` + `Private_Hugetlb`. Fields that
/// are absent (older kernels lack `FilePmdMapped`) are left out of the sum; `None` only
/// when none of them is present.
pub fn smaps_huge_bytes(text: &str) -> Option<u64> {
    const FIELDS: [&str; 5] = [
        "AnonHugePages",
        "ShmemPmdMapped",
        "FilePmdMapped",
        "Shared_Hugetlb",
        "Private_Hugetlb",
    ];
    let kv = parse_kv_kb(text);
    FIELDS
        .iter()
        .filter_map(|f| kv.get(*f))
        .fold(None, |acc: Option<u64>, v| {
            Some(acc.unwrap_or(0).saturating_add(*v))
        })
}

/// System-wide page cache size in bytes: /proc/meminfo `Cached` plus `Buffers`.
/// `Cached` holds the pages of regular files (and shmem/tmpfs pages, `Shmem`); the page
/// cache of a raw block device (a zram device the harness reads directly, file system
/// metadata) is counted under `Buffers` instead, so a gauge of `Cached` alone stays flat
/// while a device under test fills the cache. `SwapCached` is excluded. A missing
/// `Buffers` line counts as 0 (old kernels); a missing `Cached` line gives `None`.
pub fn meminfo_page_cache_bytes(text: &str) -> Option<u64> {
    let kv = parse_kv_kb(text);
    let cached = *kv.get("Cached")?;
    Some(cached.saturating_add(kv.get("Buffers").copied().unwrap_or(0)))
}

/// /proc/meminfo `Buffers` in bytes: the page cache of raw block devices (file system
/// metadata, and a data file that is a block device read through the cache).
pub fn meminfo_buffers_bytes(text: &str) -> Option<u64> {
    parse_kv_kb(text).get("Buffers").copied()
}

// ---------------------------------------------------------------------------------------
// cgroups
// ---------------------------------------------------------------------------------------

/// Parses flat-keyed files: `key value` lines, e.g. memory.stat (v1 and v2), cpu.stat,
/// /proc/vmstat. Lines that are not a key and one non-negative integer are skipped.
pub fn parse_flat_keyed(text: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut toks = line.split_whitespace();
        let (Some(k), Some(v), None) = (toks.next(), toks.next(), toks.next()) else {
            continue;
        };
        if let Ok(v) = v.parse::<u64>() {
            out.insert(k.to_string(), v);
        }
    }
    out
}

/// Which cgroup hierarchy a file comes from. Shown as "v1" or "v2".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

impl std::fmt::Display for CgroupVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            CgroupVersion::V1 => "v1",
            CgroupVersion::V2 => "v2",
        })
    }
}

/// Page cache charged to a memory cgroup, in bytes, from its parsed memory.stat.
///
/// v2: `file` (includes tmpfs and shmem). v1: `total_cache` (this cgroup and its
/// descendants) if present, else `cache` (this cgroup only; also includes shmem).
pub fn cgroup_page_cache_bytes(
    stat: &BTreeMap<String, u64>,
    version: CgroupVersion,
) -> Option<u64> {
    match version {
        CgroupVersion::V2 => stat.get("file").copied(),
        CgroupVersion::V1 => stat
            .get("total_cache")
            .or_else(|| stat.get("cache"))
            .copied(),
    }
}

/// v1 reports "no limit" as `PAGE_COUNTER_MAX * PAGE_SIZE`, i.e. `i64::MAX` rounded down
/// to the page size (9223372036854771712 with 4 KiB pages). Anything at or above this
/// value (i64::MAX rounded down to 1 MiB, covering page sizes up to 1 MiB) is unlimited.
const V1_UNLIMITED_FROM: u64 = (i64::MAX as u64) & !((1u64 << 20) - 1);

/// Parses a memory limit file: v2 `memory.max` (`max` = unlimited) or v1
/// `memory.limit_in_bytes` (a number near `i64::MAX` = unlimited). `Ok(None)` means
/// unlimited, `Ok(Some(bytes))` a limit, `Err` text that is neither.
pub fn parse_limit(text: &str) -> Result<Option<u64>, String> {
    let t = text.trim();
    if t == "max" || t == "-1" {
        return Ok(None);
    }
    let v = parse_u64(t, "memory limit")?;
    Ok((v < V1_UNLIMITED_FROM).then_some(v))
}

/// Controllers listed in a v2 `cgroup.controllers` or `cgroup.subtree_control` file
/// (space-separated names). On a hybrid machine the v2 hierarchy may lack `memory`.
pub fn parse_cgroup_controllers(text: &str) -> BTreeSet<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// The cgroups this process belongs to, from /proc/self/cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupMembership {
    /// Path in the v2 hierarchy (the `0::/path` line), e.g. `/user.slice/...`.
    pub v2_path: Option<String>,
    /// Path in the v1 hierarchy that has the memory controller (`N:memory:/path`,
    /// possibly co-mounted with other controllers).
    pub v1_memory_path: Option<String>,
}

/// Parses /proc/self/cgroup: `hierarchy-id:controller-list:path` lines. The v2 line is
/// `0::/path` (empty controller list); v1 lines name their controllers, comma-separated
/// (`4:memory:/x`, `7:cpu,cpuacct:/`, `1:name=systemd:/`). Paths are returned as written
/// (relative to the root of the reader's cgroup namespace). Malformed lines are skipped.
pub fn parse_self_cgroup(text: &str) -> CgroupMembership {
    let mut m = CgroupMembership::default();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if id.parse::<u32>().is_err() || !path.starts_with('/') {
            continue;
        }
        if id == "0" && ctrls.is_empty() {
            m.v2_path.get_or_insert_with(|| path.to_string());
        } else if ctrls.split(',').any(|c| c == "memory") {
            m.v1_memory_path.get_or_insert_with(|| path.to_string());
        }
    }
    m
}

/// Where the cgroup hierarchies are mounted, from /proc/self/mountinfo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupMounts {
    /// Mount point of the v2 hierarchy (fs type `cgroup2`).
    pub v2: Option<PathBuf>,
    /// The cgroup path the v2 mount shows at its mount point (mountinfo's 4th field),
    /// `/` unless a sub-tree is bind-mounted (containers without a cgroup namespace).
    pub v2_root: Option<String>,
    /// Mount point of the v1 hierarchy with the memory controller (fs type `cgroup`,
    /// `memory` among the super options).
    pub v1_memory: Option<PathBuf>,
    /// The cgroup path the v1 memory mount shows at its mount point.
    pub v1_memory_root: Option<String>,
}

impl CgroupMounts {
    /// Directory of this process's v2 cgroup.
    pub fn v2_dir(&self, m: &CgroupMembership) -> Result<PathBuf, String> {
        match (&self.v2, &self.v2_root, &m.v2_path) {
            (None, _, _) => Err("no cgroup2 file system is mounted".into()),
            (_, _, None) => Err("/proc/self/cgroup has no v2 (0::) line".into()),
            (Some(mp), root, Some(path)) => cgroup_dir(mp, root.as_deref().unwrap_or("/"), path),
        }
    }

    /// Directory of this process's v1 memory cgroup.
    pub fn v1_memory_dir(&self, m: &CgroupMembership) -> Result<PathBuf, String> {
        match (&self.v1_memory, &self.v1_memory_root, &m.v1_memory_path) {
            (None, _, _) => {
                Err("no cgroup v1 hierarchy with the memory controller is mounted".into())
            }
            (_, _, None) => Err("/proc/self/cgroup has no v1 memory line".into()),
            (Some(mp), root, Some(path)) => cgroup_dir(mp, root.as_deref().unwrap_or("/"), path),
        }
    }
}

/// The directory of cgroup `path` in a hierarchy mounted at `mount_point` whose mount
/// shows cgroup `root`: `mount_point` + (`path` without the `root` prefix).
pub fn cgroup_dir(mount_point: &Path, root: &str, path: &str) -> Result<PathBuf, String> {
    let rel = if root == "/" {
        Some(path.trim_start_matches('/'))
    } else {
        path.strip_prefix(root)
            .filter(|r| r.is_empty() || r.starts_with('/'))
            .map(|r| r.trim_start_matches('/'))
    };
    let rel = rel.ok_or_else(|| {
        format!(
            "cgroup {path} is outside the part of the hierarchy mounted at {} (which shows {root})",
            mount_point.display()
        )
    })?;
    if rel.split('/').any(|c| c == "..") {
        return Err(format!(
            "cgroup {path} lies outside this cgroup namespace (it contains \"..\")"
        ));
    }
    Ok(if rel.is_empty() {
        mount_point.to_path_buf()
    } else {
        mount_point.join(rel)
    })
}

/// Finds the cgroup mounts in /proc/self/mountinfo. A line is `id parent maj:min root
/// mount-point options [optional fields] - fstype source super-options`; the hierarchy
/// is v2 for fs type `cgroup2`, v1 memory for fs type `cgroup` with `memory` among the
/// comma-separated super options (the last field). The first matching mount wins.
/// Octal escapes in paths (`\040` for a space) are decoded.
pub fn parse_cgroup_mounts(mountinfo: &str) -> CgroupMounts {
    let mut m = CgroupMounts::default();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split_whitespace().collect();
        let r: Vec<&str> = right.split_whitespace().collect();
        let (Some(root), Some(mp), Some(fstype), Some(opts)) =
            (l.get(3), l.get(4), r.first(), r.last())
        else {
            continue;
        };
        if r.len() < 3 {
            continue;
        }
        match *fstype {
            "cgroup2" if m.v2.is_none() => {
                m.v2 = Some(PathBuf::from(unescape_mountinfo(mp)));
                m.v2_root = Some(unescape_mountinfo(root));
            }
            "cgroup" if m.v1_memory.is_none() && opts.split(',').any(|o| o == "memory") => {
                m.v1_memory = Some(PathBuf::from(unescape_mountinfo(mp)));
                m.v1_memory_root = Some(unescape_mountinfo(root));
            }
            _ => {}
        }
    }
    m
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` (octal).
pub fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b[i] == b'\\'
            && b.get(i + 1..i + 4).is_some_and(|d| {
                (b'0'..=b'3').contains(&d[0]) && d.iter().all(|c| (b'0'..=b'7').contains(c))
            });
        if octal {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------
// CPU time
// ---------------------------------------------------------------------------------------

/// Machine-wide CPU time in clock ticks (USER_HZ, see [`ticks_to_ns`]), summed over all
/// CPUs, from the aggregate `cpu ` line of /proc/stat. `user` and `nice` include the
/// guest time the kernel also reports separately.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
}

/// Parses the aggregate `cpu` line of /proc/stat (`cpu  user nice system idle iowait irq
/// softirq steal guest guest_nice`). At least the first eight numbers are required
/// (every kernel since 2.6.11 writes ten).
pub fn parse_proc_stat_cpu(text: &str) -> Result<CpuTimes, String> {
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some("cpu"))
        .ok_or_else(|| "/proc/stat has no aggregate \"cpu\" line".to_string())?;
    let nums: Vec<&str> = line.split_whitespace().skip(1).collect();
    if nums.len() < 8 {
        return Err(format!(
            "/proc/stat: the cpu line has {} fields, expected at least 8: {}",
            nums.len(),
            quote(line)
        ));
    }
    let mut v = [0u64; 8];
    const NAMES: [&str; 8] = [
        "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
    ];
    for (i, slot) in v.iter_mut().enumerate() {
        *slot = parse_u64(nums[i], &format!("/proc/stat cpu {}", NAMES[i]))?;
    }
    Ok(CpuTimes {
        user: v[0],
        nice: v[1],
        system: v[2],
        idle: v[3],
        iowait: v[4],
        irq: v[5],
        softirq: v[6],
        steal: v[7],
    })
}

/// `(utime, stime)` in clock ticks from /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat
/// (fields 14 and 15). The second field is the command name in parentheses, which may
/// itself contain spaces and ')' characters, so the line is split at its LAST ')'.
pub fn parse_task_stat_times(text: &str) -> Result<(u64, u64), String> {
    let close = text
        .rfind(')')
        .ok_or_else(|| format!("task stat has no \"(comm)\" field: {}", quote(text)))?;
    if !text[..close].contains('(') {
        return Err(format!(
            "task stat has no \"(comm)\" field: {}",
            quote(text)
        ));
    }
    // After the comm: field 3 (state) is at index 0, so field n is at index n - 3.
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let (Some(ut), Some(st)) = (rest.get(14 - 3), rest.get(15 - 3)) else {
        return Err(format!(
            "task stat has {} fields after the command name, expected at least 13",
            rest.len()
        ));
    };
    Ok((
        parse_u64(ut, "task stat utime")?,
        parse_u64(st, "task stat stime")?,
    ))
}

/// Converts clock ticks to nanoseconds; `hz` is `sysconf(_SC_CLK_TCK)` (USER_HZ, 100 on
/// x86 and arm64). `None` when `hz` is 0 or the result does not fit in u64.
pub fn ticks_to_ns(ticks: u64, hz: u64) -> Option<u64> {
    if hz == 0 {
        return None;
    }
    u64::try_from(u128::from(ticks) * 1_000_000_000 / u128::from(hz)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured on the development VM (x86_64, 2 vCPUs, Linux 6.18, one virtio disk, v1
    // memory controller plus a v2 hierarchy holding only hugetlb). The cgroup path of
    // self-cgroup-vm.txt was renamed and one unrelated mount removed from
    // mountinfo-vm.txt; everything else is verbatim.
    const X86_VM_INTERRUPTS: &str = include_str!("testdata/interrupts-x86-vm.txt");
    const VDA_STAT: &str = include_str!("testdata/block-stat-vda.txt");
    const VM_DISKSTATS: &str = include_str!("testdata/diskstats-vm.txt");
    const VM_VMSTAT: &str = include_str!("testdata/vmstat-vm.txt");
    const VM_MEMINFO: &str = include_str!("testdata/meminfo-vm.txt");
    const VM_SMAPS_ROLLUP: &str = include_str!("testdata/smaps-rollup-vm.txt");
    const VM_PROC_STAT: &str = include_str!("testdata/stat-vm.txt");
    const VM_MOUNTINFO: &str = include_str!("testdata/mountinfo-vm.txt");
    const VM_SELF_CGROUP: &str = include_str!("testdata/self-cgroup-vm.txt");
    const VM_MEMORY_STAT_V1: &str = include_str!("testdata/memory-stat-v1-vm.txt");
    // From other machines.
    const ARM64_INTERRUPTS: &str = include_str!("testdata/interrupts-arm64.txt");
    const OFFLINE_CPUS_INTERRUPTS: &str = include_str!("testdata/interrupts-x86-offline-cpus.txt");
    const DISKSTATS_4X: &str = include_str!("testdata/diskstats-4.x.txt");
    const DISKSTATS_50: &str = include_str!("testdata/diskstats-5.0.txt");
    const MEMORY_STAT_V2: &str = include_str!("testdata/memory-stat-v2.txt");
    const SYSTEMD_MOUNTINFO: &str = include_str!("testdata/mountinfo-systemd-v2.txt");
    const SYSTEMD_SELF_CGROUP: &str = include_str!("testdata/self-cgroup-systemd-v2.txt");
    const DOCKER_MOUNTINFO: &str = include_str!("testdata/mountinfo-docker-v1.txt");
    const DOCKER_SELF_CGROUP: &str = include_str!("testdata/self-cgroup-docker-v1.txt");

    /// Inputs no parser may panic on.
    const GARBAGE: &[&str] = &[
        "",
        "\n\n",
        " ",
        ":",
        "::",
        ")",
        "(",
        "cpu",
        "TLB:",
        "\u{0}\u{ff}\u{1F600}",
        "key",
        "key 1 2",
        "-1",
        "18446744073709551616",
        "x: 18446744073709551615 kB",
        "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21",
        "\\",
        "a - b",
        " - cgroup2",
        "1 2 3 4 \\0 x - cgroup2 c o",
        "1 2 3 4 \\9999 x - cgroup c memory",
    ];

    #[test]
    fn no_parser_panics_on_garbage() {
        for g in GARBAGE {
            let _ = interrupts_tlb_total(g);
            let _ = parse_block_stat(g);
            let _ = parse_diskstats(g);
            let _ = vmstat_selected(&parse_vmstat(g));
            let _ = parse_kv_kb(g);
            let _ = smaps_huge_bytes(g);
            let _ = meminfo_page_cache_bytes(g);
            let _ = parse_flat_keyed(g);
            let _ = parse_limit(g);
            let _ = parse_self_cgroup(g);
            let m = parse_cgroup_mounts(g);
            let _ = m.v2_dir(&parse_self_cgroup(g));
            let _ = parse_proc_stat_cpu(g);
            let _ = parse_task_stat_times(g);
        }
        // Every prefix of every sample, cut at any char boundary.
        for s in [
            X86_VM_INTERRUPTS,
            VM_DISKSTATS,
            VM_PROC_STAT,
            DOCKER_MOUNTINFO,
            VM_SMAPS_ROLLUP,
        ] {
            for (i, _) in s.char_indices() {
                let p = &s[..i];
                let _ = interrupts_tlb_total(p);
                let _ = parse_diskstats(p);
                let _ = parse_proc_stat_cpu(p);
                let _ = parse_cgroup_mounts(p);
                let _ = parse_kv_kb(p);
                let _ = parse_task_stat_times(p);
            }
        }
    }

    // --- /proc/interrupts -------------------------------------------------------------

    #[test]
    fn tlb_total_on_this_vm() {
        assert_eq!(
            interrupts_tlb_total(X86_VM_INTERRUPTS),
            Ok(Some(39103 + 35833))
        );
        assert_eq!(
            interrupts_tlb_per_cpu(X86_VM_INTERRUPTS),
            Ok(Some(vec![(0, 39103), (1, 35833)]))
        );
    }

    #[test]
    fn arm64_has_no_tlb_row() {
        assert_eq!(interrupts_tlb_total(ARM64_INTERRUPTS), Ok(None));
    }

    #[test]
    fn tlb_with_offline_cpus_uses_header_numbers() {
        assert_eq!(
            interrupts_tlb_per_cpu(OFFLINE_CPUS_INTERRUPTS),
            Ok(Some(vec![(0, 12000), (1, 11000), (4, 9000), (5, 8000)]))
        );
        assert_eq!(
            interrupts_tlb_total(OFFLINE_CPUS_INTERRUPTS),
            Ok(Some(40000))
        );
    }

    /// A synthetic 128-CPU x86 machine, formatted as the kernel does ("%10u " per CPU).
    #[test]
    fn tlb_on_a_wide_machine() {
        let mut text = String::from("      ");
        for c in 0..128 {
            text.push_str(&format!("CPU{c:<7} "));
        }
        text.push('\n');
        let row = |label: &str, f: &dyn Fn(u64) -> u64, desc: &str| {
            let mut l = format!("{label:>4}:");
            for c in 0..128 {
                l.push_str(&format!(" {:>10}", f(c)));
            }
            format!("{l}   {desc}\n")
        };
        text.push_str(&row("LOC", &|c| 1_000_000 + c, "Local timer interrupts"));
        text.push_str(&row("TLB", &|c| 4_000_000_000 + c, "TLB shootdowns"));
        text.push_str("ERR:          0\n");
        let expect: u64 = (0..128).map(|c| 4_000_000_000 + c).sum();
        assert_eq!(interrupts_tlb_total(&text), Ok(Some(expect)));
        assert_eq!(
            interrupts_tlb_per_cpu(&text).unwrap().unwrap().len(),
            128,
            "one count per CPU"
        );
    }

    #[test]
    fn tlb_row_with_fewer_numbers_than_cpus() {
        let text = "     CPU0 CPU1 CPU2 CPU3\nTLB: 5 6\n";
        assert_eq!(interrupts_tlb_total(text), Ok(Some(11)));
        // The description starts right after the counts; numbers in it are not counts.
        let text = "  CPU0 CPU1 CPU2\n  TLB:  1  2  TLB 3 shootdowns\n";
        assert_eq!(interrupts_tlb_total(text), Ok(Some(3)));
        // More numbers than CPUs: the extra one belongs to the description.
        let text = "CPU0 CPU1\nTLB: 1 2 3 desc\n";
        assert_eq!(interrupts_tlb_total(text), Ok(Some(3)));
    }

    #[test]
    fn tlb_errors() {
        let e = interrupts_tlb_total("").unwrap_err();
        assert!(e.contains("empty"), "{e}");
        let e = interrupts_tlb_total("TLB: 1 2 TLB shootdowns\n").unwrap_err();
        assert!(e.contains("not a CPU header"), "{e}");
        let e = interrupts_tlb_total("CPU0 CPUx\nTLB: 1\n").unwrap_err();
        assert!(e.contains("not a CPU header"), "{e}");
        let e = interrupts_tlb_total("  CPU0 CPU1\nTLB: TLB shootdowns\n").unwrap_err();
        assert!(e.contains("no counts"), "{e}");
        let e = interrupts_tlb_total("CPU0\nTLB: -3\n").unwrap_err();
        assert!(e.contains("no counts"), "{e}");
        let big = format!("CPU0 CPU1\nTLB: {} 1 x\n", u64::MAX);
        let e = interrupts_tlb_total(&big).unwrap_err();
        assert!(e.contains("overflow"), "{e}");
        // A header alone is a machine without the row.
        assert_eq!(interrupts_tlb_total("  CPU0\n"), Ok(None));
    }

    // --- block device statistics ------------------------------------------------------

    fn vda() -> DiskStat {
        DiskStat {
            read_ios: 989445,
            read_merges: 7656,
            read_sectors: 22048402,
            read_ticks_ms: 267082,
            write_ios: 12419,
            write_merges: 26040,
            write_sectors: 9744584,
            write_ticks_ms: 38105,
            in_flight: 0,
            io_ticks_ms: 47940,
            time_in_queue_ms: 306235,
        }
    }

    #[test]
    fn block_stat_of_this_vm_has_17_fields() {
        let s = parse_block_stat(VDA_STAT).unwrap();
        assert_eq!(s, vda());
        assert_eq!(s.read_bytes(), 22048402 * 512);
        assert_eq!(s.write_bytes(), 9744584 * 512);
    }

    #[test]
    fn block_stat_11_and_15_fields() {
        let s = parse_block_stat("     100        2      800       10        5        0       40        1        3       11       12\n").unwrap();
        assert_eq!((s.read_ios, s.in_flight, s.time_in_queue_ms), (100, 3, 12));
        let s = parse_block_stat("1 2 3 4 5 6 7 8 9 10 11 12 13 14 15").unwrap();
        assert_eq!((s.read_ios, s.time_in_queue_ms), (1, 11));
        // A later kernel appending fields still parses.
        let many: Vec<String> = (1..=21).map(|i| i.to_string()).collect();
        assert_eq!(parse_block_stat(&many.join(" ")).unwrap().io_ticks_ms, 10);
    }

    #[test]
    fn block_stat_errors() {
        assert!(parse_block_stat("").unwrap_err().contains("empty"));
        let e = parse_block_stat("1 2 3 4 5 6 7 8 9 10").unwrap_err();
        assert!(e.contains("10 statistics fields"), "{e}");
        let e = parse_block_stat("1 2 3 4 5 6 7 8 9 10 11 12 13").unwrap_err();
        assert!(e.contains("13 statistics fields"), "{e}");
        let e = parse_block_stat("1 2 x 4 5 6 7 8 9 10 11").unwrap_err();
        assert!(e.contains("field 3") && e.contains("\"x\""), "{e}");
        let e = parse_block_stat("1 2 3 4 5 6 7 8 -1 10 11").unwrap_err();
        assert!(e.contains("field 9"), "{e}");
    }

    #[test]
    fn sector_bytes_saturate() {
        let s = DiskStat {
            read_sectors: u64::MAX / 2,
            ..DiskStat::default()
        };
        assert_eq!(s.read_bytes(), u64::MAX);
    }

    #[test]
    fn diskstats_of_this_vm() {
        let d = parse_diskstats(VM_DISKSTATS).unwrap();
        assert_eq!(d.len(), 10);
        assert_eq!(d[0].name, "loop0");
        let vda_line = d.iter().find(|l| l.name == "vda").unwrap();
        assert_eq!((vda_line.major, vda_line.minor), (254, 0));
        assert_eq!(vda_line.stat, vda());
        assert!(d.iter().any(|l| l.name == "zram0" && l.major == 253));
    }

    #[test]
    fn diskstats_of_older_kernels() {
        let d = parse_diskstats(DISKSTATS_4X).unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d[2].name, "dm-0");
        assert_eq!(d[2].stat.time_in_queue_ms, 202288800);
        assert_eq!(d[1].stat.read_bytes(), 318895642 * 512);
        let d = parse_diskstats(DISKSTATS_50).unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(
            (d[1].major, d[1].minor, d[1].name.as_str()),
            (259, 1, "nvme0n1p1")
        );
        assert_eq!(d[2].stat.io_ticks_ms, 1210290);
    }

    #[test]
    fn diskstats_errors_name_the_line() {
        let text = format!("{}\n   8  0 sda 1 2 3\n", VM_DISKSTATS.trim_end());
        let e = parse_diskstats(&text).unwrap_err();
        assert!(e.starts_with("/proc/diskstats line 11:"), "{e}");
        assert!(e.contains("3 statistics fields"), "{e}");
        let e = parse_diskstats("x 0 sda 1 2 3 4 5 6 7 8 9 10 11").unwrap_err();
        assert!(e.contains("major number \"x\""), "{e}");
        let e = parse_diskstats("8 -1 sda 1 2 3 4 5 6 7 8 9 10 11").unwrap_err();
        assert!(e.contains("minor number \"-1\""), "{e}");
        let e = parse_diskstats("8 0").unwrap_err();
        assert!(e.contains("too few fields"), "{e}");
        assert_eq!(parse_diskstats(""), Ok(vec![]));
    }

    // --- /proc/vmstat -----------------------------------------------------------------

    #[test]
    fn vmstat_of_this_vm() {
        let all = parse_vmstat(VM_VMSTAT);
        assert_eq!(all.len(), VM_VMSTAT.lines().count());
        assert_eq!(all["nr_free_pages"], 839276);
        let sel = vmstat_selected(&all);
        assert_eq!(sel["pgmajfault"], 276531);
        assert_eq!(sel["pgfault"], 19309697);
        assert_eq!(sel["workingset_refault_file"], 610443);
        assert_eq!(sel["thp_file_mapped"], 180);
        for k in [
            "workingset_refault_anon",
            "workingset_activate_file",
            "pgscan_kswapd",
            "pgscan_direct",
            "pgscan_file",
            "pgsteal_anon",
            "pgsteal_khugepaged",
            "thp_fault_alloc",
            "thp_split_pmd",
        ] {
            assert!(sel.contains_key(k), "{k} missing");
        }
        for k in sel.keys() {
            assert!(
                ["pgfault", "pgmajfault"].contains(&k.as_str())
                    || k.starts_with("pgscan_")
                    || k.starts_with("pgsteal_")
                    || k.starts_with("thp_")
                    || k.starts_with("workingset_"),
                "{k} selected"
            );
        }
        assert!(!sel.contains_key("nr_free_pages"));
        assert!(!sel.contains_key("workingset_nodes"));
        assert!(!sel.contains_key("nr_anon_transparent_hugepages"));
        let expected = all
            .keys()
            .filter(|k| {
                k.starts_with("pgscan_") || k.starts_with("pgsteal_") || k.starts_with("thp_")
            })
            .count()
            + 5;
        assert_eq!(sel.len(), expected);
    }

    #[test]
    fn allocstall_sums_the_zones() {
        let all = parse_vmstat(VM_VMSTAT);
        assert_eq!(
            vmstat_allocstall(&all),
            Some(0),
            "this VM has five zeroed zones"
        );
        let m = parse_vmstat("allocstall_dma 1\nallocstall_normal 40\nallocstall_movable 2\n");
        assert_eq!(vmstat_allocstall(&m), Some(43));
        let old = parse_vmstat("allocstall 9\npgfault 1\n");
        assert_eq!(vmstat_allocstall(&old), Some(9), "before 4.8: one field");
        assert_eq!(vmstat_allocstall(&parse_vmstat("pgfault 1\n")), None);
    }

    #[test]
    fn kswapd_comm_names() {
        assert!(is_kswapd_comm("kswapd0\n"));
        assert!(is_kswapd_comm("kswapd12"));
        assert!(!is_kswapd_comm("kswapd"));
        assert!(!is_kswapd_comm("kswapd0:0"));
        assert!(!is_kswapd_comm("kcompactd0"));
        assert!(!is_kswapd_comm("faultline"));
    }

    #[test]
    fn cgroup_reclaim_of_both_versions() {
        let v1 = parse_flat_keyed(include_str!("testdata/memory-stat-v1-vm.txt"));
        assert_eq!(cgroup_reclaim_pages(&v1, CgroupVersion::V1), Some(1302329));
        let v2 = parse_flat_keyed(include_str!("testdata/memory-stat-v2.txt"));
        assert_eq!(
            cgroup_reclaim_pages(&v2, CgroupVersion::V2),
            v2.get("pgsteal").copied()
        );
        assert!(v2.contains_key("pgsteal"));
        assert_eq!(
            cgroup_reclaim_pages(&BTreeMap::new(), CgroupVersion::V1),
            None
        );
    }

    #[test]
    fn vmstat_skips_malformed_lines() {
        let m = parse_vmstat("pgfault 10\npgmajfault\nthp_x -1\npgscan_a 1 2\n\npgsteal_b 7\n");
        assert_eq!(m.len(), 2);
        assert_eq!(vmstat_selected(&m).len(), 2);
    }

    // --- meminfo, smaps_rollup ------------------------------------------------------------

    #[test]
    fn meminfo_of_this_vm_in_bytes() {
        let m = parse_kv_kb(VM_MEMINFO);
        assert_eq!(m.len(), VM_MEMINFO.lines().count());
        assert_eq!(m["MemTotal"], 24684096 * 1024);
        assert_eq!(m["Active(anon)"], 1588 * 1024);
        assert_eq!(m["HugePages_Total"], 0);
        assert_eq!(m["Hugepagesize"], 2048 * 1024);
        // 32 TiB in kB, still fits in bytes.
        assert_eq!(m["VmallocTotal"], 34359738367 * 1024);
        // Cached + Buffers: a raw block device's cache is under Buffers.
        assert_eq!(
            meminfo_page_cache_bytes(VM_MEMINFO),
            Some((2712300 + 14064) * 1024)
        );
        assert_eq!(meminfo_buffers_bytes(VM_MEMINFO), Some(14064 * 1024));
    }

    #[test]
    fn kv_kb_units_and_junk() {
        let m = parse_kv_kb(
            "A: 1 kB\nB:   7\nC: 3 MB\nD kB: 1 kB\nE: x kB\nF:\nG: 18014398509481984 kB\nA: 2 kB\n",
        );
        assert_eq!(m.get("A"), Some(&2048), "the last duplicate wins");
        assert_eq!(m.get("B"), Some(&7));
        for k in ["C", "D kB", "D", "E", "F", "G"] {
            assert!(!m.contains_key(k), "{k}");
        }
    }

    #[test]
    fn smaps_rollup_of_this_vm() {
        let m = parse_kv_kb(VM_SMAPS_ROLLUP);
        assert_eq!(
            m.len(),
            VM_SMAPS_ROLLUP.lines().count() - 1,
            "header skipped"
        );
        assert_eq!(m["Rss"], 1724 * 1024);
        assert!(m.keys().all(|k| !k.contains(' ')));
        assert_eq!(smaps_huge_bytes(VM_SMAPS_ROLLUP), Some(0));
    }

    #[test]
    fn smaps_huge_bytes_sums_present_fields() {
        let rollup = "\
7f0000000000-7fff00000000 ---p 00000000 00:00 0                          [rollup]
Rss:             1054720 kB
AnonHugePages:      4096 kB
ShmemPmdMapped:        0 kB
FilePmdMapped:    1048576 kB
Shared_Hugetlb:        0 kB
Private_Hugetlb:    2048 kB
";
        assert_eq!(
            smaps_huge_bytes(rollup),
            Some((4096 + 1048576 + 2048) * 1024)
        );
        // Linux 4.14: no FilePmdMapped yet.
        let old = "\
00400000-7ffd5d1d3000 ---p 00000000 00:00 0                              [rollup]
Rss:                 884 kB
AnonHugePages:      2048 kB
ShmemPmdMapped:        0 kB
Shared_Hugetlb:        0 kB
Private_Hugetlb:       0 kB
";
        assert_eq!(smaps_huge_bytes(old), Some(2048 * 1024));
        assert_eq!(smaps_huge_bytes("Rss: 4 kB\n"), None);
        assert_eq!(meminfo_page_cache_bytes("Buffers: 1 kB\n"), None);
        assert_eq!(meminfo_page_cache_bytes("Cached: 2 kB\n"), Some(2048));
    }

    // --- cgroups ------------------------------------------------------------------------

    #[test]
    fn memory_stat_v1_of_this_vm() {
        let s = parse_flat_keyed(VM_MEMORY_STAT_V1);
        assert_eq!(s.len(), VM_MEMORY_STAT_V1.lines().count());
        assert_eq!(s["hierarchical_memory_limit"], 9223372036854771712);
        assert_eq!(
            cgroup_page_cache_bytes(&s, CgroupVersion::V1),
            Some(274698240)
        );
        // Without the hierarchical total, `cache` is used.
        let mut only_cache = s.clone();
        only_cache.remove("total_cache");
        only_cache.insert("cache".into(), 5);
        assert_eq!(
            cgroup_page_cache_bytes(&only_cache, CgroupVersion::V1),
            Some(5)
        );
        // v1 has no `file`.
        assert_eq!(cgroup_page_cache_bytes(&s, CgroupVersion::V2), None);
    }

    #[test]
    fn memory_stat_v2() {
        let s = parse_flat_keyed(MEMORY_STAT_V2);
        assert_eq!(s.len(), MEMORY_STAT_V2.lines().count());
        assert_eq!(
            cgroup_page_cache_bytes(&s, CgroupVersion::V2),
            Some(5443584)
        );
        assert_eq!(cgroup_page_cache_bytes(&s, CgroupVersion::V1), None);
        assert_eq!(s["pgmajfault"], 54);
        assert_eq!(
            cgroup_page_cache_bytes(&BTreeMap::new(), CgroupVersion::V2),
            None
        );
    }

    #[test]
    fn cgroup_versions_show_as_v1_and_v2() {
        assert_eq!(CgroupVersion::V1.to_string(), "v1");
        assert_eq!(format!("cgroup {}", CgroupVersion::V2), "cgroup v2");
    }

    #[test]
    fn limits() {
        assert_eq!(parse_limit("max\n"), Ok(None));
        assert_eq!(
            parse_limit("9223372036854771712\n"),
            Ok(None),
            "v1, 4 KiB pages"
        );
        assert_eq!(
            parse_limit("9223372036854710272\n"),
            Ok(None),
            "v1, 64 KiB pages"
        );
        assert_eq!(parse_limit("-1"), Ok(None));
        assert_eq!(parse_limit("268435456\n"), Ok(Some(268435456)));
        assert_eq!(parse_limit("0"), Ok(Some(0)));
        // 4 EiB is a limit, not "unlimited".
        assert_eq!(parse_limit("4611686018427387904"), Ok(Some(1 << 62)));
        for bad in ["", "max max", "12k", "-2", "1.5"] {
            let e = parse_limit(bad).unwrap_err();
            assert!(e.starts_with("memory limit"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn controllers() {
        let c = parse_cgroup_controllers("cpuset cpu io memory hugetlb pids rdma misc\n");
        assert!(c.contains("memory") && c.len() == 8);
        // The v2 hierarchy of this VM: only hugetlb.
        assert!(!parse_cgroup_controllers("hugetlb\n").contains("memory"));
        assert!(parse_cgroup_controllers("\n").is_empty());
    }

    #[test]
    fn cgroups_of_this_vm_hybrid() {
        let m = parse_self_cgroup(VM_SELF_CGROUP);
        assert_eq!(m.v2_path.as_deref(), Some("/"));
        assert_eq!(
            m.v1_memory_path.as_deref(),
            Some("/sandbox/efc6db022e0f4b91f39b1cfa8d8d2cd1")
        );
        let mounts = parse_cgroup_mounts(VM_MOUNTINFO);
        assert_eq!(
            mounts.v2.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified"))
        );
        assert_eq!(
            mounts.v1_memory.as_deref(),
            Some(Path::new("/sys/fs/cgroup/memory"))
        );
        assert_eq!(mounts.v1_memory_root.as_deref(), Some("/"));
        assert_eq!(
            mounts.v1_memory_dir(&m),
            Ok(PathBuf::from(
                "/sys/fs/cgroup/memory/sandbox/efc6db022e0f4b91f39b1cfa8d8d2cd1"
            ))
        );
        assert_eq!(
            mounts.v2_dir(&m),
            Ok(PathBuf::from("/sys/fs/cgroup/unified"))
        );
    }

    #[test]
    fn cgroups_of_a_systemd_v2_host() {
        let m = parse_self_cgroup(SYSTEMD_SELF_CGROUP);
        assert_eq!(
            m.v2_path.as_deref(),
            Some("/user.slice/user-1000.slice/session-2.scope")
        );
        assert_eq!(m.v1_memory_path, None);
        let mounts = parse_cgroup_mounts(SYSTEMD_MOUNTINFO);
        // `memory_recursiveprot` among cgroup2's options is not a v1 memory hierarchy.
        assert_eq!(mounts.v1_memory, None);
        assert_eq!(mounts.v2.as_deref(), Some(Path::new("/sys/fs/cgroup")));
        assert_eq!(
            mounts.v2_dir(&m),
            Ok(PathBuf::from(
                "/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope"
            ))
        );
        let e = mounts.v1_memory_dir(&m).unwrap_err();
        assert!(
            e.contains("no cgroup v1 hierarchy with the memory controller"),
            "{e}"
        );
    }

    #[test]
    fn cgroups_of_a_docker_container_without_cgroupns() {
        let m = parse_self_cgroup(DOCKER_SELF_CGROUP);
        assert_eq!(m.v1_memory_path.as_deref(), Some("/docker/4f2a9c1e"));
        assert_eq!(
            m.v2_path.as_deref(),
            Some("/system.slice/containerd.service")
        );
        let mounts = parse_cgroup_mounts(DOCKER_MOUNTINFO);
        assert_eq!(mounts.v1_memory_root.as_deref(), Some("/docker/4f2a9c1e"));
        // The memory mount shows the container's own cgroup at its mount point.
        assert_eq!(
            mounts.v1_memory_dir(&m),
            Ok(PathBuf::from("/sys/fs/cgroup/memory"))
        );
        assert_eq!(mounts.v2, None);
        let e = mounts.v2_dir(&m).unwrap_err();
        assert!(e.contains("no cgroup2"), "{e}");
    }

    #[test]
    fn self_cgroup_co_mounted_and_odd_lines() {
        let m = parse_self_cgroup(
            "garbage\n7:cpu,cpuacct:/\n4:cpuacct,memory:/a:b\nx:memory:/no\n3:memory:relative\n",
        );
        assert_eq!(
            m.v1_memory_path.as_deref(),
            Some("/a:b"),
            "path keeps its ':'"
        );
        assert_eq!(m.v2_path, None);
        assert_eq!(parse_self_cgroup(""), CgroupMembership::default());
        // Named hierarchies and the v2 line are not the memory controller.
        let m = parse_self_cgroup("1:name=systemd:/x\n0::/y\n");
        assert_eq!((m.v1_memory_path, m.v2_path.as_deref()), (None, Some("/y")));
    }

    #[test]
    fn cgroup_mounts_escapes_and_first_wins() {
        let mi = "\
40 31 0:37 / /sys/fs/cgroup/my\\040memory rw - cgroup cgroup rw,memory
41 31 0:38 / /first rw - cgroup2 cgroup2 rw
42 31 0:39 / /second rw - cgroup2 cgroup2 rw
43 31 0:40 / /mem2 rw - cgroup cgroup rw,memory
44 31 0:41 / /named rw - cgroup cgroup rw,name=memory
";
        let m = parse_cgroup_mounts(mi);
        assert_eq!(
            m.v1_memory.as_deref(),
            Some(Path::new("/sys/fs/cgroup/my memory"))
        );
        assert_eq!(m.v2.as_deref(), Some(Path::new("/first")));
        assert_eq!(parse_cgroup_mounts(""), CgroupMounts::default());
        assert_eq!(unescape_mountinfo("a\\134b\\011c\\9"), "a\\b\tc\\9");
    }

    #[test]
    fn cgroup_dir_paths() {
        let mp = Path::new("/sys/fs/cgroup");
        assert_eq!(cgroup_dir(mp, "/", "/"), Ok(mp.to_path_buf()));
        assert_eq!(cgroup_dir(mp, "/", "/a/b"), Ok(mp.join("a/b")));
        assert_eq!(cgroup_dir(mp, "/a", "/a/b"), Ok(mp.join("b")));
        assert_eq!(cgroup_dir(mp, "/a", "/a"), Ok(mp.to_path_buf()));
        let e = cgroup_dir(mp, "/a", "/ab").unwrap_err();
        assert!(e.contains("outside the part of the hierarchy"), "{e}");
        let e = cgroup_dir(mp, "/", "/../../x").unwrap_err();
        assert!(e.contains("outside this cgroup namespace"), "{e}");
    }

    // --- CPU time -------------------------------------------------------------------------

    #[test]
    fn proc_stat_of_this_vm() {
        let t = parse_proc_stat_cpu(VM_PROC_STAT).unwrap();
        assert_eq!(
            t,
            CpuTimes {
                user: 39687,
                nice: 11028,
                system: 11680,
                idle: 140904,
                iowait: 2992,
                irq: 0,
                softirq: 177,
                steal: 41,
            }
        );
    }

    #[test]
    fn proc_stat_errors() {
        let e = parse_proc_stat_cpu("cpu0 1 2 3 4 5 6 7 8 9 10\n").unwrap_err();
        assert!(e.contains("no aggregate"), "{e}");
        let e = parse_proc_stat_cpu("cpu  1 2 3 4\n").unwrap_err();
        assert!(e.contains("4 fields"), "{e}");
        let e = parse_proc_stat_cpu("cpu  1 2 3 4 x 6 7 8 9 10\n").unwrap_err();
        assert!(e.contains("iowait") && e.contains("\"x\""), "{e}");
        // Eight fields (2.6.11 .. 2.6.23) are enough.
        assert_eq!(
            parse_proc_stat_cpu("cpu 1 2 3 4 5 6 7 8\n").unwrap().steal,
            8
        );
    }

    #[test]
    fn task_stat_times() {
        // Captured on this VM: /proc/self/stat of cat.
        let cat = "12551 (cat) R 12543 12543 12152 0 -1 4194304 101 0 0 0 0 0 0 0 20 0 1 0 91752 3133440 360 18446744073709551615 94528533426176 94528533446057 140737404397024 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94528533462064 94528533463680 94528883101696 140737404398303 140737404398323 140737404398323 140737404399595 0\n";
        assert_eq!(parse_task_stat_times(cat), Ok((0, 0)));
        let busy = "4242 (faultline) S 1 4242 4242 0 -1 4194368 2212 0 17 0 1234 567 0 0 20 0 3 0 5123 104857600 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 0 0 0 0 0 0\n";
        assert_eq!(parse_task_stat_times(busy), Ok((1234, 567)));
        // A thread name with spaces and ')' - split at the last ')'.
        let odd = "4243 (w) 1 (x) y) S 1 4242 4242 0 -1 4194368 2212 0 17 0 89 12 0 0 20 0 3 0 5123 104857600 2048\n";
        assert_eq!(parse_task_stat_times(odd), Ok((89, 12)));
        let empty_comm = "4244 () R 1 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 1 1\n";
        assert_eq!(parse_task_stat_times(empty_comm), Ok((5, 6)));
    }

    #[test]
    fn task_stat_errors() {
        let e = parse_task_stat_times("4242 faultline S 1 2 3").unwrap_err();
        assert!(e.contains("no \"(comm)\""), "{e}");
        let e = parse_task_stat_times(") 1 2 3").unwrap_err();
        assert!(e.contains("no \"(comm)\""), "{e}");
        let e = parse_task_stat_times("1 (x) S 1 2 3").unwrap_err();
        assert!(e.contains("4 fields after the command name"), "{e}");
        let e = parse_task_stat_times("1 (x) S 1 1 1 0 -1 0 0 0 0 0 -5 6").unwrap_err();
        assert!(e.contains("utime"), "{e}");
    }

    #[test]
    fn ticks() {
        assert_eq!(ticks_to_ns(1, 100), Some(10_000_000));
        assert_eq!(ticks_to_ns(39687, 100), Some(396_870_000_000));
        assert_eq!(ticks_to_ns(3, 250), Some(12_000_000));
        assert_eq!(ticks_to_ns(7, 0), None);
        assert_eq!(ticks_to_ns(u64::MAX, 100), None);
        assert_eq!(ticks_to_ns(u64::MAX, 1_000_000_000), Some(u64::MAX));
    }
}
