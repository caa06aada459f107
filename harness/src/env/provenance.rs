//! Provenance: where a result comes from beyond kernel and CPU. The hypervisor (what
//! CPUID, /sys/hypervisor and DMI each say), the clocksource, the virtio balloon and
//! free page reporting (read only: they belong to the host), swap, the zram compressor
//! of a zram run, and the git revision the binary was built from (`build.rs`).
//!
//! Collection (`collect`) reads the files; everything it reads is interpreted by the
//! pure functions below, tested on captured text (`env/testdata/`). A fact that cannot
//! be read is null with the reason in the environment's `reasons` under the field's
//! dotted name (e.g. `hypervisor.cpuid_vendor`).

use super::{bracketed, meminfo_kb, Environment};
use crate::sys::cpuid::{self, Regs};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// What each source says about the hypervisor the machine runs under.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hypervisor {
    /// The hypervisor a source names ("KVM", "Microsoft Hyper-V", ...): CPUID's vendor
    /// leaf first, then /sys/hypervisor/type, then DMI.
    pub name: Option<String>,
    /// CPUID leaf 1, ECX bit 31 ("running under a hypervisor"; x86 only).
    pub cpuid_hypervisor_bit: Option<bool>,
    /// The vendor signature of CPUID leaf 0x40000000 (e.g. "KVMKVMKVM") when the
    /// hypervisor bit is set.
    pub cpuid_vendor: Option<String>,
    /// /sys/hypervisor/type (Xen and a few others).
    pub sys_hypervisor_type: Option<String>,
    /// /sys/class/dmi/id/sys_vendor and product_name (firmware tables; absent in
    /// minimal VMs such as Firecracker's).
    pub dmi_sys_vendor: Option<String>,
    pub dmi_product_name: Option<String>,
}

/// The kernel's clocksource (/sys/devices/system/clocksource/clocksource0).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Clocksource {
    pub current: String,
    pub available: Vec<String>,
}

/// The memory balloon and free page reporting, as the guest sees them (never changed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Balloon {
    /// A virtio balloon device (virtio device id 5) exists.
    pub present: bool,
    /// Its sysfs name (e.g. "virtio0") and the driver bound to it.
    pub device: Option<String>,
    pub driver: Option<String>,
    /// Free page reporting: the device negotiated VIRTIO_BALLOON_F_REPORTING (feature
    /// bit 5), so the guest hands free memory back to the host, which must back it
    /// again on the next touch.
    pub free_page_reporting: Option<bool>,
    /// /sys/module/page_reporting/parameters/reported_kib at the start of the run
    /// (cumulative KiB reported since boot; a statistic only some kernels export).
    pub reported_kib: Option<u64>,
    /// Every parameter of /sys/module/page_reporting/parameters, as text.
    pub page_reporting: BTreeMap<String, String>,
}

/// One line of /proc/swaps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwapDevice {
    pub name: String,
    /// "partition" or "file".
    pub kind: String,
    pub size_kib: u64,
    pub used_kib: u64,
    pub priority: i64,
}

/// Swap: the devices of /proc/swaps and SwapTotal/SwapFree of /proc/meminfo.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Swap {
    pub devices: Vec<SwapDevice>,
    pub total_kib: Option<u64>,
    pub free_kib: Option<u64>,
}

/// CPU identification from /proc/cpuinfo (the model name alone can be a generic
/// "Intel Xeon Processor" under a hypervisor; family, model and stepping still tell
/// the generation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuId {
    pub vendor: Option<String>,
    pub family: Option<u32>,
    pub model: Option<u32>,
    pub stepping: Option<u32>,
    pub microcode: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Pure parsers
// ---------------------------------------------------------------------------------------

/// The 12-character vendor signature of a CPUID vendor leaf (EBX, ECX, EDX), NULs and
/// surrounding blanks removed; None when it is empty or not printable ASCII.
pub fn cpuid_signature(r: Regs) -> Option<String> {
    let mut b = Vec::with_capacity(12);
    for reg in [r.ebx, r.ecx, r.edx] {
        b.extend_from_slice(&reg.to_le_bytes());
    }
    let s: String = b
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as char)
        .collect();
    let s = s.trim();
    (!s.is_empty() && s.chars().all(|c| c.is_ascii_graphic() || c == ' ')).then(|| s.to_string())
}

/// The hypervisor bit (leaf 1 ECX bit 31) and, when it is set and the hypervisor
/// leaf exists, the vendor signature of leaf 0x40000000.
pub fn cpuid_hypervisor(leaf1: Regs, leaf_hv: Option<Regs>) -> (bool, Option<String>) {
    let bit = leaf1.ecx & (1 << 31) != 0;
    let vendor = if bit {
        leaf_hv.and_then(cpuid_signature)
    } else {
        None
    };
    (bit, vendor)
}

/// A readable name for a CPUID hypervisor signature; unknown signatures are kept as
/// they are.
pub fn hypervisor_from_cpuid(sig: &str) -> String {
    let name = match sig {
        "KVMKVMKVM" => "KVM",
        "Linux KVM Hv" => "KVM (Hyper-V enlightenments)",
        "Microsoft Hv" => "Microsoft Hyper-V",
        "VMwareVMware" => "VMware",
        "XenVMMXenVMM" => "Xen",
        "TCGTCGTCGTCG" => "QEMU TCG (emulated)",
        "VBoxVBoxVBox" => "VirtualBox",
        "bhyve bhyve" => "bhyve",
        "ACRNACRNACRN" => "ACRN",
        "QNXQVMBSQG" => "QNX",
        "lrpepyh  vr" | "prl hyperv" => "Parallels",
        "EVMMEVMMEVMM" => "Intel EVMM",
        "SRESRESRESRE" => "Lockheed SRE",
        "Apple VZ" => "Apple Virtualization",
        other => other,
    };
    name.to_string()
}

/// The hypervisor the DMI strings name, when they name one (a physical machine's DMI
/// names its maker, which is not a hypervisor).
pub fn hypervisor_from_dmi(sys_vendor: Option<&str>, product: Option<&str>) -> Option<String> {
    let v = sys_vendor.unwrap_or("");
    let p = product.unwrap_or("");
    let name = if p.starts_with("KVM") || p.contains("Standard PC (") || v == "QEMU" {
        "KVM/QEMU"
    } else if v.starts_with("VMware") {
        "VMware"
    } else if v == "Microsoft Corporation" && p == "Virtual Machine" {
        "Microsoft Hyper-V"
    } else if v == "Xen" || p.starts_with("HVM domU") {
        "Xen"
    } else if v == "innotek GmbH" || p == "VirtualBox" {
        "VirtualBox"
    } else if v == "Amazon EC2" {
        "Amazon EC2"
    } else if v == "Google" && p == "Google Compute Engine" {
        "Google Compute Engine"
    } else if v == "Parallels Software International Inc." || p.starts_with("Parallels") {
        "Parallels"
    } else if v == "BHYVE" {
        "bhyve"
    } else {
        return None;
    };
    Some(name.to_string())
}

/// The clocksource from the contents of current_clocksource and
/// available_clocksource.
pub fn parse_clocksource(current: &str, available: &str) -> Option<Clocksource> {
    let current = current.trim();
    (!current.is_empty()).then(|| Clocksource {
        current: current.to_string(),
        available: available.split_whitespace().map(str::to_string).collect(),
    })
}

/// Whether virtio feature `bit` is set in a device's sysfs `features` file (one '0'
/// or '1' per feature bit, bit 0 first). None when the text is not such a string or
/// is too short.
pub fn virtio_feature(features: &str, bit: usize) -> Option<bool> {
    let f = features.trim();
    if f.is_empty() || !f.bytes().all(|c| c == b'0' || c == b'1') {
        return None;
    }
    f.as_bytes().get(bit).map(|&c| c == b'1')
}

/// VIRTIO_BALLOON_F_REPORTING: the balloon reports free pages to the host.
pub const VIRTIO_BALLOON_F_REPORTING: usize = 5;
/// The virtio device id of a memory balloon.
pub const VIRTIO_ID_BALLOON: u32 = 5;

/// A virtio `device` id file ("0x0005").
pub fn parse_virtio_id(text: &str) -> Option<u32> {
    let t = text.trim();
    let hex = t.strip_prefix("0x").unwrap_or(t);
    u32::from_str_radix(hex, 16).ok()
}

/// /proc/swaps: one device per line after the header (`Filename Type Size Used
/// Priority`, sizes in KiB; names escaped as in mountinfo). Err on a malformed line.
pub fn parse_proc_swaps(text: &str) -> Result<Vec<SwapDevice>, String> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if line.starts_with("Filename") {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let bad = || format!("/proc/swaps: malformed line {line:?}");
        if f.len() < 5 {
            return Err(bad());
        }
        out.push(SwapDevice {
            name: crate::probe::parse::unescape_mountinfo(f[0]),
            kind: f[1].to_string(),
            size_kib: f[2].parse().map_err(|_| bad())?,
            used_kib: f[3].parse().map_err(|_| bad())?,
            priority: f[4].parse().map_err(|_| bad())?,
        });
    }
    Ok(out)
}

/// Vendor, family, model, stepping and microcode of the first CPU in /proc/cpuinfo.
/// None when it has none of them (arm64 names its CPU differently; see `cpu_model`).
pub fn parse_cpu_id(cpuinfo: &str) -> Option<CpuId> {
    let first = cpuinfo.split("\n\n").next().unwrap_or("");
    let field = |name: &str| {
        first.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
    };
    let num = |name: &str| field(name).and_then(|v| v.parse::<u32>().ok());
    let id = CpuId {
        vendor: field("vendor_id"),
        family: num("cpu family"),
        model: num("model"),
        stepping: num("stepping"),
        microcode: field("microcode"),
    };
    (id != CpuId::default()).then_some(id)
}

// ---------------------------------------------------------------------------------------
// Collection
// ---------------------------------------------------------------------------------------

fn read_trim(p: &Path) -> Result<String, String> {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("cannot read {}: {e}", p.display()))
}

/// Fill the provenance fields of `e` (after its disks are known: the zram compressor
/// comes from them).
pub fn collect(e: &mut Environment) {
    hypervisor(e, Path::new("/sys"));
    match (
        read_trim(Path::new(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )),
        read_trim(Path::new(
            "/sys/devices/system/clocksource/clocksource0/available_clocksource",
        )),
    ) {
        (Ok(c), a) => e.clocksource = parse_clocksource(&c, a.as_deref().unwrap_or("")),
        (Err(why), _) => {
            e.reasons.insert("clocksource".into(), why);
        }
    }
    e.balloon = Some(balloon(Path::new("/sys"), &mut e.reasons));
    swap(e);
    zram_compressor(e, Path::new("/sys/block"));
    git(e);
    if let Ok(t) = std::fs::read_to_string("/proc/cpuinfo") {
        e.cpu_id = parse_cpu_id(&t);
    }
    if e.cpu_id.is_none() {
        e.reasons.insert(
            "cpu_id".into(),
            "/proc/cpuinfo has no vendor_id, cpu family, model or stepping".into(),
        );
    }
}

/// What CPUID, `<sys>/hypervisor/type` and DMI say about the hypervisor.
fn hypervisor(e: &mut Environment, sys: &Path) {
    let mut h = Hypervisor::default();
    let mut why = BTreeMap::new();
    match cpuid::cpuid(0, 0).zip(cpuid::cpuid(1, 0)) {
        Some((_, leaf1)) => {
            let (bit, _) = cpuid_hypervisor(leaf1, None);
            let hv = bit.then(|| cpuid::cpuid(0x4000_0000, 0)).flatten();
            let (bit, vendor) = cpuid_hypervisor(leaf1, hv);
            h.cpuid_hypervisor_bit = Some(bit);
            h.cpuid_vendor = vendor;
            if !bit {
                why.insert(
                    "cpuid_vendor",
                    "the CPUID hypervisor bit is clear (no hypervisor, or one that hides)"
                        .to_string(),
                );
            } else if h.cpuid_vendor.is_none() {
                why.insert(
                    "cpuid_vendor",
                    "CPUID leaf 0x40000000 has no printable vendor signature".to_string(),
                );
            }
        }
        None => {
            let r = "no CPUID on this architecture".to_string();
            why.insert("cpuid_hypervisor_bit", r.clone());
            why.insert("cpuid_vendor", r);
        }
    }
    match read_trim(&sys.join("hypervisor/type")) {
        Ok(t) if !t.is_empty() => h.sys_hypervisor_type = Some(t),
        Ok(_) => {
            why.insert(
                "sys_hypervisor_type",
                "hypervisor/type is empty".to_string(),
            );
        }
        Err(r) => {
            why.insert("sys_hypervisor_type", r);
        }
    }
    let dmi = sys.join("class/dmi/id");
    for (key, file) in [
        ("dmi_sys_vendor", "sys_vendor"),
        ("dmi_product_name", "product_name"),
    ] {
        match read_trim(&dmi.join(file)) {
            Ok(v) if !v.is_empty() => {
                if key == "dmi_sys_vendor" {
                    h.dmi_sys_vendor = Some(v);
                } else {
                    h.dmi_product_name = Some(v);
                }
            }
            Ok(_) => {
                why.insert(key, format!("{file} is empty"));
            }
            Err(r) => {
                why.insert(key, format!("{r} (no DMI tables)"));
            }
        }
    }
    h.name = h
        .cpuid_vendor
        .as_deref()
        .map(hypervisor_from_cpuid)
        .or_else(|| h.sys_hypervisor_type.clone())
        .or_else(|| {
            hypervisor_from_dmi(h.dmi_sys_vendor.as_deref(), h.dmi_product_name.as_deref())
        });
    if h.name.is_none() {
        why.insert("name", "no source names a hypervisor".to_string());
    }
    let said_anything = h.cpuid_hypervisor_bit.is_some()
        || h.sys_hypervisor_type.is_some()
        || h.dmi_sys_vendor.is_some()
        || h.dmi_product_name.is_some();
    if said_anything {
        for (k, v) in why {
            e.reasons.insert(format!("hypervisor.{k}"), v);
        }
        e.hypervisor = Some(h);
    } else {
        let all: Vec<String> = why.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        e.reasons.insert("hypervisor".into(), all.join("; "));
    }
}

/// The virtio balloon under `<sys>/bus/virtio/devices` and the page_reporting
/// module's parameters (read, never written).
fn balloon(sys: &Path, reasons: &mut BTreeMap<String, String>) -> Balloon {
    let mut b = Balloon::default();
    let devices = sys.join("bus/virtio/devices");
    let mut found = None;
    if let Ok(rd) = std::fs::read_dir(&devices) {
        let mut names: Vec<_> = rd.flatten().map(|d| d.path()).collect();
        names.sort();
        found = names.into_iter().find(|d| {
            read_trim(&d.join("device"))
                .ok()
                .and_then(|t| parse_virtio_id(&t))
                == Some(VIRTIO_ID_BALLOON)
        });
    }
    match found {
        Some(dev) => {
            b.present = true;
            b.device = dev.file_name().map(|n| n.to_string_lossy().into_owned());
            b.driver = std::fs::read_link(dev.join("driver"))
                .ok()
                .and_then(|l| l.file_name().map(|n| n.to_string_lossy().into_owned()));
            match read_trim(&dev.join("features")) {
                Ok(f) => match virtio_feature(&f, VIRTIO_BALLOON_F_REPORTING) {
                    Some(on) => b.free_page_reporting = Some(on),
                    None => {
                        reasons.insert(
                            "balloon.free_page_reporting".into(),
                            format!("cannot parse the balloon's feature bits {f:?}"),
                        );
                    }
                },
                Err(r) => {
                    reasons.insert("balloon.free_page_reporting".into(), r);
                }
            }
        }
        None => {
            reasons.insert(
                "balloon.free_page_reporting".into(),
                format!(
                    "no virtio balloon device in {} (another balloon driver, e.g. Hyper-V's, may still report free pages: see reported_kib)",
                    devices.display()
                ),
            );
        }
    }
    let params = sys.join("module/page_reporting/parameters");
    if let Ok(rd) = std::fs::read_dir(&params) {
        for p in rd.flatten() {
            if let Ok(v) = read_trim(&p.path()) {
                b.page_reporting
                    .insert(p.file_name().to_string_lossy().into_owned(), v);
            }
        }
    }
    b.reported_kib = b
        .page_reporting
        .get("reported_kib")
        .and_then(|v| v.parse().ok());
    if b.reported_kib.is_none() {
        reasons.insert(
            "balloon.reported_kib".into(),
            crate::probe::balloon::unavailable(&params),
        );
    }
    b
}

fn swap(e: &mut Environment) {
    let devices = std::fs::read_to_string("/proc/swaps")
        .map_err(|err| format!("cannot read /proc/swaps: {err}"))
        .and_then(|t| parse_proc_swaps(&t));
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    match devices {
        Ok(devices) => {
            e.swap = Some(Swap {
                devices,
                total_kib: meminfo_kb(&meminfo, "SwapTotal"),
                free_kib: meminfo_kb(&meminfo, "SwapFree"),
            })
        }
        Err(r) => {
            e.reasons.insert("swap".into(), r);
        }
    }
}

/// The selected compressor of the zram disk the data is on (`<block>/zramN/comp_algorithm`).
fn zram_compressor(e: &mut Environment, block: &Path) {
    let Some(d) = e.disks.iter().find(|d| d.name.starts_with("zram")) else {
        e.reasons.insert(
            "zram_comp_algorithm".into(),
            "the data is not on a zram device".into(),
        );
        return;
    };
    match read_trim(&block.join(&d.name).join("comp_algorithm")) {
        Ok(t) => e.zram_comp_algorithm = Some(bracketed(&t)),
        Err(r) => {
            e.reasons.insert("zram_comp_algorithm".into(), r);
        }
    }
}

/// The git revision and dirty state `build.rs` recorded.
fn git(e: &mut Environment) {
    let (rev, dirty, why) = build_git();
    e.git_revision = Some(rev.to_string());
    e.git_dirty = dirty;
    if let Some(why) = why {
        e.reasons.insert("git_revision".into(), why.to_string());
        if dirty.is_none() {
            e.reasons.insert("git_dirty".into(), why.to_string());
        }
    }
}

/// The revision ("unknown" outside a checkout or without git), whether the tree had
/// uncommitted changes, and why either is unknown, as `build.rs` found them.
pub fn build_git() -> (&'static str, Option<bool>, Option<&'static str>) {
    let rev = option_env!("FAULTLINE_GIT_REVISION").unwrap_or("unknown");
    let dirty = match option_env!("FAULTLINE_GIT_DIRTY") {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    };
    let why = option_env!("FAULTLINE_GIT_REASON").filter(|s| !s.is_empty());
    (rev, dirty, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(s: &[u8; 12]) -> Regs {
        let w = |i: usize| u32::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]);
        Regs {
            eax: 0x4000_0001,
            ebx: w(0),
            ecx: w(4),
            edx: w(8),
        }
    }

    #[test]
    fn cpuid_hypervisor_leaf() {
        let set = Regs {
            eax: 0,
            ebx: 0,
            ecx: 1 << 31,
            edx: 0,
        };
        let kvm = sig(b"KVMKVMKVM\0\0\0");
        assert_eq!(cpuid_signature(kvm).as_deref(), Some("KVMKVMKVM"));
        assert_eq!(
            cpuid_hypervisor(set, Some(kvm)),
            (true, Some("KVMKVMKVM".to_string()))
        );
        // The bit clear: no vendor leaf is trusted, whatever it holds.
        let clear = Regs {
            ecx: 0x7ffe_fbff,
            ..set
        };
        assert_eq!(cpuid_hypervisor(clear, Some(kvm)), (false, None));
        assert_eq!(cpuid_hypervisor(set, None), (true, None));
        assert_eq!(cpuid_signature(sig(&[0; 12])), None);
        assert_eq!(cpuid_signature(sig(b"\x01\x02garbage\xff\x00\x00")), None);
        assert_eq!(
            hypervisor_from_cpuid(&cpuid_signature(sig(b"Microsoft Hv")).unwrap()),
            "Microsoft Hyper-V"
        );
        assert_eq!(hypervisor_from_cpuid("KVMKVMKVM"), "KVM");
        assert_eq!(hypervisor_from_cpuid("NewHV"), "NewHV");
    }

    #[test]
    fn dmi_names_hypervisors_not_makers() {
        let d = |v, p| hypervisor_from_dmi(Some(v), Some(p));
        assert_eq!(
            d("QEMU", "Standard PC (Q35 + ICH9, 2009)").as_deref(),
            Some("KVM/QEMU")
        );
        assert_eq!(d("Red Hat", "KVM").as_deref(), Some("KVM/QEMU"));
        assert_eq!(d("VMware, Inc.", "VMware7,1").as_deref(), Some("VMware"));
        assert_eq!(
            d("Microsoft Corporation", "Virtual Machine").as_deref(),
            Some("Microsoft Hyper-V")
        );
        assert_eq!(d("Amazon EC2", "m6i.large").as_deref(), Some("Amazon EC2"));
        assert_eq!(d("Dell Inc.", "PowerEdge R640"), None);
        assert_eq!(d("Microsoft Corporation", "Surface Laptop 5"), None);
        assert_eq!(hypervisor_from_dmi(None, None), None);
    }

    #[test]
    fn clocksource_files() {
        // Captured on the development VM (KVM guest).
        let c = parse_clocksource("tsc\n", "tsc kvm-clock \n").unwrap();
        assert_eq!(c.current, "tsc");
        assert_eq!(c.available, ["tsc", "kvm-clock"]);
        assert_eq!(parse_clocksource(" \n", "tsc"), None);
    }

    #[test]
    fn virtio_features_and_ids() {
        // The balloon of the development VM (Firecracker): STATS_VQ, DEFLATE_ON_OOM,
        // REPORTING, VERSION_1.
        let fc = "01100101000000000000000000000000100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\n";
        assert_eq!(virtio_feature(fc, VIRTIO_BALLOON_F_REPORTING), Some(true));
        assert_eq!(virtio_feature(fc, 3), Some(false));
        assert_eq!(virtio_feature(fc, 32), Some(true));
        assert_eq!(virtio_feature("0110", 5), None, "too short");
        assert_eq!(virtio_feature("01x0010", 1), None);
        assert_eq!(virtio_feature("", 0), None);
        assert_eq!(parse_virtio_id("0x0005\n"), Some(5));
        assert_eq!(parse_virtio_id("0x0013"), Some(0x13));
        assert_eq!(parse_virtio_id("virtio"), None);
    }

    #[test]
    fn proc_swaps() {
        let none = include_str!("testdata/swaps-none.txt");
        assert_eq!(parse_proc_swaps(none), Ok(vec![]));
        let t = include_str!("testdata/swaps-typical.txt");
        let s = parse_proc_swaps(t).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(
            s[0],
            SwapDevice {
                name: "/dev/nvme0n1p3".into(),
                kind: "partition".into(),
                size_kib: 16777212,
                used_kib: 1048576,
                priority: -2,
            }
        );
        assert_eq!(s[1].name, "/swap file");
        assert_eq!(s[1].kind, "file");
        assert_eq!(s[2].priority, 100);
        assert!(
            parse_proc_swaps("Filename Type Size Used Priority\n/dev/x partition 1\n").is_err()
        );
        assert!(parse_proc_swaps("/dev/x partition big 0 -2\n").is_err());
    }

    #[test]
    fn cpu_identification() {
        let t = include_str!("testdata/cpuinfo-intel-kvm.txt");
        let id = parse_cpu_id(t).unwrap();
        assert_eq!(id.vendor.as_deref(), Some("GenuineIntel"));
        assert_eq!(
            (id.family, id.model, id.stepping),
            (Some(6), Some(167), Some(8))
        );
        assert_eq!(id.microcode.as_deref(), Some("0x1"));
        let amd = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC\nstepping\t: 1\n";
        let id = parse_cpu_id(amd).unwrap();
        assert_eq!(id.vendor.as_deref(), Some("AuthenticAMD"));
        assert_eq!(id.family, Some(25));
        assert_eq!(id.microcode, None);
        let arm = "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n";
        assert_eq!(parse_cpu_id(arm), None);
    }

    /// A fake sysfs tree with the development VM's balloon and page_reporting files.
    fn fake_sys(reporting_bit: char, with_params: bool) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let devs = d.path().join("bus/virtio/devices");
        for (name, id) in [("virtio0", "0x0001"), ("virtio1", "0x0005")] {
            std::fs::create_dir_all(devs.join(name)).unwrap();
            std::fs::write(devs.join(name).join("device"), format!("{id}\n")).unwrap();
        }
        let drv = d.path().join("bus/virtio/drivers/virtio_balloon");
        std::fs::create_dir_all(&drv).unwrap();
        std::os::unix::fs::symlink(&drv, devs.join("virtio1/driver")).unwrap();
        let mut features = String::from("011001010000000000000000000000001");
        features.replace_range(5..6, &reporting_bit.to_string());
        std::fs::write(devs.join("virtio1/features"), features + "\n").unwrap();
        if with_params {
            let p = d.path().join("module/page_reporting/parameters");
            std::fs::create_dir_all(&p).unwrap();
            for line in include_str!("testdata/page-reporting-params-fc.txt").lines() {
                let (k, v) = line.split_once('=').unwrap();
                std::fs::write(p.join(k), format!("{v}\n")).unwrap();
            }
        }
        d
    }

    #[test]
    fn balloon_from_sysfs() {
        let d = fake_sys('1', true);
        let mut r = BTreeMap::new();
        let b = balloon(d.path(), &mut r);
        assert!(b.present);
        assert_eq!(b.device.as_deref(), Some("virtio1"));
        assert_eq!(b.driver.as_deref(), Some("virtio_balloon"));
        assert_eq!(b.free_page_reporting, Some(true));
        assert_eq!(b.reported_kib, Some(27619944));
        assert_eq!(b.page_reporting["page_reporting_order"], "9");
        assert!(r.is_empty(), "{r:?}");

        // Reporting not negotiated, and a kernel that exports no reported_kib.
        let d = fake_sys('0', false);
        let mut r = BTreeMap::new();
        let b = balloon(d.path(), &mut r);
        assert_eq!(b.free_page_reporting, Some(false));
        assert_eq!(b.reported_kib, None, "never 0");
        assert!(r["balloon.reported_kib"].contains("without free page reporting"));

        // No balloon at all.
        let d = tempfile::tempdir().unwrap();
        let mut r = BTreeMap::new();
        let b = balloon(d.path(), &mut r);
        assert!(!b.present);
        assert_eq!(b.free_page_reporting, None);
        assert!(r["balloon.free_page_reporting"].contains("no virtio balloon"));
    }

    #[test]
    fn hypervisor_sources_each_recorded() {
        let d = tempfile::tempdir().unwrap();
        let dmi = d.path().join("class/dmi/id");
        std::fs::create_dir_all(&dmi).unwrap();
        std::fs::write(dmi.join("sys_vendor"), "QEMU\n").unwrap();
        std::fs::write(
            dmi.join("product_name"),
            "Standard PC (i440FX + PIIX, 1996)\n",
        )
        .unwrap();
        let mut e = Environment::default();
        hypervisor(&mut e, d.path());
        let h = e.hypervisor.unwrap();
        assert_eq!(h.dmi_sys_vendor.as_deref(), Some("QEMU"));
        assert!(h.name.is_some());
        assert_eq!(h.sys_hypervisor_type, None);
        assert!(e.reasons["hypervisor.sys_hypervisor_type"].contains("hypervisor/type"));
        if cfg!(target_arch = "x86_64") {
            assert!(h.cpuid_hypervisor_bit.is_some());
        }
    }

    #[test]
    fn zram_compressor_only_for_zram_runs() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("zram3")).unwrap();
        std::fs::write(
            d.path().join("zram3/comp_algorithm"),
            "[lzo-rle] lzo lz4 zstd\n",
        )
        .unwrap();
        let mut e = Environment {
            disks: vec![super::super::DiskInfo {
                name: "zram3".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        zram_compressor(&mut e, d.path());
        assert_eq!(e.zram_comp_algorithm.as_deref(), Some("lzo-rle"));
        let mut e = Environment::default();
        zram_compressor(&mut e, d.path());
        assert_eq!(e.zram_comp_algorithm, None);
        assert!(e.reasons.contains_key("zram_comp_algorithm"));
    }

    #[test]
    fn git_revision_is_recorded_or_unknown() {
        let (rev, dirty, why) = build_git();
        assert!(!rev.is_empty());
        if rev == "unknown" {
            assert!(why.is_some(), "an unknown revision says why");
        } else {
            assert!(
                rev.len() >= 40 && rev.chars().all(|c| c.is_ascii_hexdigit()),
                "{rev}"
            );
            assert!(dirty.is_some());
        }
    }
}
