//! The environment record: what machine, kernel, file system and device a result
//! comes from. A fact that cannot be read is null, with the reason in `reasons`.

pub mod blkio;
pub mod cgroup;
pub mod devstate;
pub mod fuse;
pub mod global_reclaim;
pub mod provenance;
pub mod readahead;
pub mod zram;
pub mod zramfs;

use crate::sys;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiskInfo {
    pub name: String,
    pub read_ahead_kb: Option<u64>,
    /// The active I/O scheduler (the bracketed entry of queue/scheduler).
    pub scheduler: Option<String>,
    pub model: Option<String>,
    pub rotational: Option<bool>,
    pub logical_block_size: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Environment {
    pub kernel: Option<String>,
    pub arch: Option<String>,
    pub cpu_model: Option<String>,
    pub cpus: usize,
    pub memory_bytes: Option<u64>,
    pub hostname: Option<String>,
    /// File system type of the data file (from /proc/self/mountinfo).
    pub fs_type: Option<String>,
    /// Block device that holds the data file (e.g. "nvme0n1p2"), or the device itself.
    pub device: Option<String>,
    /// The whole disk behind `device` when `device` is a partition.
    pub disk: Option<String>,
    /// The physical disks behind the file (partitions, device-mapper and md resolved),
    /// with their queue settings.
    #[serde(default)]
    pub disks: Vec<DiskInfo>,
    /// True when the data lives on a RAM-backed emulated device (zram), not real storage.
    #[serde(default)]
    pub emulated_device: bool,
    /// Transparent huge pages: the selected mode of /sys/kernel/mm/transparent_hugepage.
    pub thp_enabled: Option<String>,
    pub thp_defrag: Option<String>,
    pub nr_hugepages: Option<u64>,
    /// CPU vulnerability mitigations as the kernel reports them (file name -> text).
    #[serde(default)]
    pub mitigations: BTreeMap<String, String>,
    /// Whether hardware perf counters (cycles) can be read here (VMs often cannot).
    pub hw_perf_counters: Option<bool>,
    pub perf_event_paranoid: Option<i64>,
    /// "v1" or "v2": the cgroup hierarchy that holds the memory controller.
    pub cgroup_version: Option<String>,
    /// Provenance (`provenance`): vendor, family, model, stepping and microcode of the CPU.
    #[serde(default)]
    pub cpu_id: Option<provenance::CpuId>,
    /// What CPUID, /sys/hypervisor and DMI say about the hypervisor; null when none
    /// says anything.
    #[serde(default)]
    pub hypervisor: Option<provenance::Hypervisor>,
    /// The kernel's current and available clocksources.
    #[serde(default)]
    pub clocksource: Option<provenance::Clocksource>,
    /// The virtio balloon and free page reporting at the start of the run.
    #[serde(default)]
    pub balloon: Option<provenance::Balloon>,
    /// Swap devices and SwapTotal/SwapFree.
    #[serde(default)]
    pub swap: Option<provenance::Swap>,
    /// The selected compressor of the zram device the data is on (zram runs only).
    #[serde(default)]
    pub zram_comp_algorithm: Option<String>,
    /// The git revision of the source the binary was built from ("unknown" outside a
    /// checkout or without git) and whether that tree had uncommitted changes.
    #[serde(default)]
    pub git_revision: Option<String>,
    #[serde(default)]
    pub git_dirty: Option<bool>,
    /// The devices under test when the run striped, capped or set read-ahead on them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_control: Option<DeviceControl>,
    /// Why a field above is null.
    #[serde(default)]
    pub reasons: BTreeMap<String, String>,
}

/// What the run set on the devices under test (all of it restored afterwards). The
/// read-ahead in effect is each disk's `read_ahead_kb` in `disks`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceControl {
    /// The devices under test (sysfs names), in stripe order.
    pub devices: Vec<String>,
    /// Stripe unit in bytes when the data is striped over `devices`.
    pub stripe_unit: Option<u64>,
    /// The blkio throttle of each device (empty: not capped).
    #[serde(default)]
    pub cap: Vec<blkio::CappedDevice>,
    /// The blkio cgroup the harness (and fio) ran in, and its rules as the kernel
    /// showed them after they were set.
    pub cap_cgroup: Option<String>,
    #[serde(default)]
    pub cap_rules: Vec<String>,
    /// read_ahead_kb set for the run, and each device's value before it.
    pub read_ahead_kb: Option<u64>,
    #[serde(default)]
    pub read_ahead_kb_before: BTreeMap<String, u64>,
}

impl DeviceControl {
    /// One line per thing set, for the run's header.
    pub fn notes(&self) -> Vec<String> {
        let mut n = Vec::new();
        if let Some(c) = self.cap.first() {
            n.push(format!(
                "device cap {} on {} (blkio cgroup {}, removed afterwards)",
                c.cap.to_spec_string(),
                self.devices.join(", "),
                self.cap_cgroup.as_deref().unwrap_or("?")
            ));
        }
        if let Some(kb) = self.read_ahead_kb {
            n.push(format!(
                "read_ahead_kb {kb} on {} (restored afterwards)",
                self.devices.join(", ")
            ));
        }
        n
    }
}

impl Environment {
    /// Read the environment for a run on `target`.
    pub fn collect(target: &Path) -> Environment {
        let mut e = Environment {
            cpus: sys::online_cpus(),
            ..Default::default()
        };
        match sys::uname() {
            Ok(u) => {
                e.kernel = Some(u.release);
                e.arch = Some(u.machine);
                e.hostname = Some(u.nodename);
            }
            Err(err) => {
                e.reasons
                    .insert("kernel".into(), format!("uname failed: {err}"));
            }
        }
        match std::fs::read_to_string("/proc/cpuinfo") {
            Ok(t) => e.cpu_model = cpu_model(&t),
            Err(err) => {
                e.reasons.insert(
                    "cpu_model".into(),
                    format!("cannot read /proc/cpuinfo: {err}"),
                );
            }
        }
        if e.cpu_model.is_none() && !e.reasons.contains_key("cpu_model") {
            e.reasons
                .insert("cpu_model".into(), "/proc/cpuinfo names no model".into());
        }
        match std::fs::read_to_string("/proc/meminfo") {
            Ok(t) => e.memory_bytes = meminfo_kb(&t, "MemTotal").map(|k| k * 1024),
            Err(err) => {
                e.reasons.insert(
                    "memory_bytes".into(),
                    format!("cannot read /proc/meminfo: {err}"),
                );
            }
        }
        e.storage(target);
        e.disks(target);
        e.memory_settings();
        e.perf();
        provenance::collect(&mut e);
        e
    }

    fn disks(&mut self, target: &Path) {
        let disks = crate::probe::device::device_of_path(target).and_then(|(maj, min, _)| {
            crate::probe::device::physical_disks(Path::new("/sys"), maj, min)
        });
        match disks {
            Ok(names) => {
                self.emulated_device = names.iter().any(|n| n.starts_with("zram"));
                self.disks = names
                    .iter()
                    .map(|n| disk_info(Path::new("/sys/block"), n))
                    .collect();
            }
            Err(e) => {
                self.reasons.insert("disks".into(), e);
            }
        }
    }

    fn memory_settings(&mut self) {
        let thp = Path::new("/sys/kernel/mm/transparent_hugepage");
        self.thp_enabled = read_trim(&thp.join("enabled")).map(|s| bracketed(&s));
        if self.thp_enabled.is_none() {
            self.reasons.insert(
                "thp_enabled".into(),
                "no /sys/kernel/mm/transparent_hugepage (kernel without THP)".into(),
            );
        }
        self.thp_defrag = read_trim(&thp.join("defrag")).map(|s| bracketed(&s));
        self.nr_hugepages =
            read_trim(Path::new("/proc/sys/vm/nr_hugepages")).and_then(|s| s.parse().ok());
        if let Ok(entries) = std::fs::read_dir("/sys/devices/system/cpu/vulnerabilities") {
            for e in entries.flatten() {
                if let Some(v) = read_trim(&e.path()) {
                    self.mitigations
                        .insert(e.file_name().to_string_lossy().into_owned(), v);
                }
            }
        }
        match crate::env::cgroup::locate() {
            Ok((v, _)) => self.cgroup_version = Some(v.to_string()),
            Err(e) => {
                self.reasons
                    .insert("cgroup_version".into(), format!("{e:#}"));
            }
        }
    }

    fn perf(&mut self) {
        self.perf_event_paranoid = read_trim(Path::new("/proc/sys/kernel/perf_event_paranoid"))
            .and_then(|s| s.parse().ok());
        match crate::sys::perf::PerfCounter::hardware(
            perf_event_open_sys::bindings::PERF_COUNT_HW_CPU_CYCLES as u64,
        ) {
            Ok(_) => self.hw_perf_counters = Some(true),
            Err(e) => {
                self.hw_perf_counters = Some(false);
                self.reasons.insert(
                    "hw_perf_counters".into(),
                    format!("perf_event_open(cycles) failed: {e} (usual in VMs)"),
                );
            }
        }
    }

    fn storage(&mut self, target: &Path) {
        let meta = match std::fs::metadata(target) {
            Ok(m) => m,
            Err(err) => {
                let r = format!("cannot stat {}: {err}", target.display());
                self.reasons.insert("fs_type".into(), r.clone());
                self.reasons.insert("device".into(), r);
                return;
            }
        };
        let canon = std::fs::canonicalize(target).unwrap_or_else(|_| target.to_path_buf());
        let (dev, is_bdev) = if meta.file_type().is_block_device() {
            (meta.rdev(), true)
        } else {
            (meta.dev(), false)
        };
        if is_bdev {
            self.fs_type = None;
            self.reasons
                .insert("fs_type".into(), "the target is a raw block device".into());
        } else {
            match std::fs::read_to_string("/proc/self/mountinfo") {
                Ok(t) => match mount_of(&t, &canon) {
                    Some(m) => self.fs_type = Some(m.fs_type),
                    None => {
                        self.reasons.insert(
                            "fs_type".into(),
                            "no mount in /proc/self/mountinfo holds the file".into(),
                        );
                    }
                },
                Err(err) => {
                    self.reasons.insert(
                        "fs_type".into(),
                        format!("cannot read /proc/self/mountinfo: {err}"),
                    );
                }
            }
        }
        let (maj, min) = (libc::major(dev), libc::minor(dev));
        let link = format!("/sys/dev/block/{maj}:{min}");
        match std::fs::canonicalize(&link) {
            Ok(p) => {
                let name = p.file_name().map(|s| s.to_string_lossy().into_owned());
                // A partition's sysfs directory sits inside its disk's directory.
                let is_partition = p.join("partition").exists();
                self.disk = if is_partition {
                    p.parent()
                        .and_then(|d| d.file_name())
                        .map(|s| s.to_string_lossy().into_owned())
                } else {
                    name.clone()
                };
                self.device = name;
            }
            Err(_) => {
                let why = match &self.fs_type {
                    Some(fs) => {
                        format!("the file system ({fs}, device {maj}:{min}) has no block device")
                    }
                    None => format!("device {maj}:{min} is not in /sys/dev/block"),
                };
                self.reasons.insert("device".into(), why);
            }
        }
    }
}

fn read_trim(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

/// The selected entry of a sysfs choice list: "always [madvise] never" -> "madvise".
pub fn bracketed(s: &str) -> String {
    match (s.find('['), s.find(']')) {
        (Some(a), Some(b)) if b > a => s[a + 1..b].to_string(),
        _ => s.trim().to_string(),
    }
}

/// Queue settings of one disk under `block` (normally /sys/block).
pub fn disk_info(block: &Path, name: &str) -> DiskInfo {
    let d = block.join(name);
    let num = |rel: &str| read_trim(&d.join(rel)).and_then(|s| s.parse::<u64>().ok());
    DiskInfo {
        name: name.to_string(),
        read_ahead_kb: num("queue/read_ahead_kb"),
        scheduler: read_trim(&d.join("queue/scheduler")).map(|s| bracketed(&s)),
        model: read_trim(&d.join("device/model")).filter(|s| !s.is_empty()),
        rotational: num("queue/rotational").map(|v| v != 0),
        logical_block_size: num("queue/logical_block_size"),
    }
}

/// The CPU model from /proc/cpuinfo (x86 "model name"; arm64 has none, so use
/// "CPU implementer"/"CPU part" there).
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    let field = |name: &str| {
        cpuinfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
    };
    if let Some(m) = field("model name").filter(|s| !s.is_empty()) {
        return Some(m);
    }
    match (field("CPU implementer"), field("CPU part")) {
        (Some(i), Some(p)) => Some(format!("CPU implementer {i}, part {p}")),
        _ => field("Hardware").or_else(|| field("cpu model")),
    }
}

/// A field of /proc/meminfo in kB.
pub fn meminfo_kb(meminfo: &str, key: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        if k.trim() != key {
            return None;
        }
        v.split_whitespace().next()?.parse().ok()
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub mount_point: String,
    pub fs_type: String,
    pub source: String,
}

/// The mount that holds `path`: the longest mount point that is a prefix of it (the
/// last such line wins, as later mounts hide earlier ones).
pub fn mount_of(mountinfo: &str, path: &Path) -> Option<Mount> {
    let mut best: Option<Mount> = None;
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split_whitespace().collect();
        let r: Vec<&str> = right.split_whitespace().collect();
        if l.len() < 5 || r.len() < 2 {
            continue;
        }
        let mp = crate::probe::parse::unescape_mountinfo(l[4]);
        if !path.starts_with(&mp) {
            continue;
        }
        if best
            .as_ref()
            .is_none_or(|b| mp.len() >= b.mount_point.len())
        {
            best = Some(Mount {
                mount_point: mp,
                fs_type: r[0].to_string(),
                source: r[1].to_string(),
            });
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
25 22 0:21 / /proc rw - proc proc rw
30 22 0:25 / /tmp rw,nosuid - tmpfs tmpfs rw
31 22 259:2 / /mnt/fast\\040disk rw - xfs /dev/nvme0n1p2 rw,attr2
";

    #[test]
    fn finds_the_mount_of_a_path() {
        let m = mount_of(MOUNTINFO, Path::new("/work/main/x.dat")).unwrap();
        assert_eq!(m.fs_type, "ext4");
        assert_eq!(m.source, "/dev/vda");
        assert_eq!(
            mount_of(MOUNTINFO, Path::new("/tmp/a")).unwrap().fs_type,
            "tmpfs"
        );
        let m = mount_of(MOUNTINFO, Path::new("/mnt/fast disk/f")).unwrap();
        assert_eq!(m.fs_type, "xfs");
        assert_eq!(m.mount_point, "/mnt/fast disk");
        // "/tmpfoo" is not under "/tmp".
        assert_eq!(
            mount_of(MOUNTINFO, Path::new("/tmpfoo")).unwrap().fs_type,
            "ext4"
        );
    }

    #[test]
    fn cpu_models() {
        assert_eq!(
            cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7713\n").as_deref(),
            Some("AMD EPYC 7713")
        );
        let arm = "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n";
        assert_eq!(
            cpu_model(arm).as_deref(),
            Some("CPU implementer 0x41, part 0xd0c")
        );
        assert_eq!(cpu_model("nothing"), None);
    }

    #[test]
    fn meminfo() {
        let t = "MemTotal:       24567890 kB\nMemFree:        1000 kB\n";
        assert_eq!(meminfo_kb(t, "MemTotal"), Some(24567890));
        assert_eq!(meminfo_kb(t, "Cached"), None);
    }

    #[test]
    fn choices_and_disk_info() {
        assert_eq!(bracketed("always [madvise] never"), "madvise");
        assert_eq!(bracketed("[none] mq-deadline kyber"), "none");
        assert_eq!(bracketed("plain"), "plain");
        let d = tempfile::tempdir().unwrap();
        let q = d.path().join("nvme0n1/queue");
        std::fs::create_dir_all(&q).unwrap();
        std::fs::create_dir_all(d.path().join("nvme0n1/device")).unwrap();
        std::fs::write(q.join("read_ahead_kb"), "128\n").unwrap();
        std::fs::write(q.join("scheduler"), "[none] mq-deadline\n").unwrap();
        std::fs::write(q.join("rotational"), "0\n").unwrap();
        std::fs::write(d.path().join("nvme0n1/device/model"), "Samsung PM1733  \n").unwrap();
        let i = disk_info(d.path(), "nvme0n1");
        assert_eq!(i.read_ahead_kb, Some(128));
        assert_eq!(i.scheduler.as_deref(), Some("none"));
        assert_eq!(i.model.as_deref(), Some("Samsung PM1733"));
        assert_eq!(i.rotational, Some(false));
        assert_eq!(i.logical_block_size, None);
    }

    #[test]
    fn collects_here() {
        let e = Environment::collect(Path::new("/proc/self/exe"));
        assert!(e.cpus >= 1);
        assert!(e.kernel.is_some());
        assert!(e.memory_bytes.unwrap() > 0);
    }
}
