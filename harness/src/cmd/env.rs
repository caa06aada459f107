//! `faultline env`: the environment record and, for each probe, whether it works here.

use crate::env::Environment;
use crate::{spec, units};
use anyhow::{bail, Result};
use clap::Args;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Args, Default)]
pub struct EnvArgs {
    /// The file or directory whose file system and disks to describe (default: the
    /// data directory faultline-data, or the current directory when it is absent).
    #[arg(long, value_name = "PATH")]
    pub path: Option<PathBuf>,
    /// Print the record as JSON (the `environment` object of run.json).
    #[arg(long)]
    pub json: bool,
}

/// `faultline env`.
pub fn run(args: &EnvArgs) -> Result<i32> {
    let path = args.path.clone().unwrap_or_else(|| {
        let d = std::path::PathBuf::from(spec::DEFAULT_DATA_DIR);
        if d.exists() {
            d
        } else {
            std::path::PathBuf::from(".")
        }
    });
    if !path.exists() {
        bail!("--path {}: does not exist", path.display());
    }
    let e = Environment::collect(&path);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&e)?);
        return Ok(0);
    }
    print!("{}", describe_env(&e, &path));
    print!("{}", describe_probes(&path));
    Ok(0)
}

fn describe_env(e: &Environment, path: &Path) -> String {
    let opt = |v: &Option<String>, key: &str| match v {
        Some(s) => s.clone(),
        None => format!(
            "unavailable ({})",
            e.reasons.get(key).map_or("not reported", String::as_str)
        ),
    };
    let num = |v: Option<u64>, none: &str| v.map_or_else(|| none.to_string(), |v| v.to_string());
    let mut rows: Vec<(String, String)> = vec![
        ("kernel".into(), opt(&e.kernel, "kernel")),
        ("arch".into(), opt(&e.arch, "kernel")),
        (
            "cpu".into(),
            format!("{} x {}", e.cpus, opt(&e.cpu_model, "cpu_model")),
        ),
        (
            "memory".into(),
            e.memory_bytes
                .map_or_else(|| "unavailable".into(), units::format_size),
        ),
        ("hostname".into(), opt(&e.hostname, "kernel")),
        ("file system".into(), opt(&e.fs_type, "fs_type")),
        ("device".into(), opt(&e.device, "device")),
    ];
    rows.extend(
        e.disks
            .iter()
            .map(|d| (format!("disk {}", d.name), disk_line(d))),
    );
    let mut out = format!("Environment (for {}):\n", path.display());
    for (k, v) in rows {
        let _ = writeln!(out, "  {k:<19} {v}");
    }
    if e.emulated_device {
        out.push_str("  (emulated RAM-backed device: zram)\n");
    }
    let perf = match e.hw_perf_counters {
        Some(true) => "readable".to_string(),
        _ => format!(
            "not readable ({})",
            e.reasons
                .get("hw_perf_counters")
                .map_or("?", String::as_str)
        ),
    };
    let affected: Vec<&str> = e
        .mitigations
        .iter()
        .filter(|(_, v)| !v.starts_with("Not affected"))
        .map(|(k, _)| k.as_str())
        .collect();
    let rows = [
        (
            "THP",
            format!(
                "enabled {}, defrag {}",
                opt(&e.thp_enabled, "thp_enabled"),
                opt(&e.thp_defrag, "thp_enabled")
            ),
        ),
        ("nr_hugepages", num(e.nr_hugepages, "unavailable")),
        ("cgroup (memory)", opt(&e.cgroup_version, "cgroup_version")),
        (
            "perf",
            format!(
                "paranoid {}, hardware counters {perf}",
                e.perf_event_paranoid
                    .map_or_else(|| "?".into(), |v| v.to_string())
            ),
        ),
        (
            "mitigations",
            format!(
                "{} reported, {} not \"Not affected\": {}",
                e.mitigations.len(),
                affected.len(),
                affected.join(", ")
            ),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(out, "  {k:<19} {v}");
    }
    for (k, v) in provenance_rows(e) {
        let _ = writeln!(out, "  {k:<19} {v}");
    }
    out
}

/// The provenance fields: CPU identification, hypervisor, clocksource, balloon, swap,
/// zram compressor, the source the binary was built from.
fn provenance_rows(e: &Environment) -> Vec<(&'static str, String)> {
    let why = |key: &str| e.reasons.get(key).map_or("not reported", String::as_str);
    let unavailable = |key: &str| format!("unavailable ({})", why(key));
    let q = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let kib = |k: u64| units::format_size(k.saturating_mul(1024));
    let mut rows = Vec::new();
    rows.push((
        "cpu id",
        match &e.cpu_id {
            Some(c) => {
                let n = |v: Option<u32>| v.map_or_else(|| "?".into(), |v| v.to_string());
                format!(
                    "{} family {} model {} stepping {}, microcode {}",
                    q(&c.vendor),
                    n(c.family),
                    n(c.model),
                    n(c.stepping),
                    q(&c.microcode)
                )
            }
            None => unavailable("cpu_id"),
        },
    ));
    rows.push((
        "hypervisor",
        match &e.hypervisor {
            Some(h) => {
                let cpuid = match (h.cpuid_hypervisor_bit, &h.cpuid_vendor) {
                    (Some(true), Some(v)) => format!("\"{v}\""),
                    (Some(true), None) => "bit set, no vendor leaf".into(),
                    (Some(false), _) => "bit clear".into(),
                    (None, _) => "-".into(),
                };
                let dmi = match (&h.dmi_sys_vendor, &h.dmi_product_name) {
                    (None, None) => "-".to_string(),
                    (v, p) => format!("{} / {}", q(v), q(p)),
                };
                format!(
                    "{} (cpuid: {cpuid}; /sys/hypervisor: {}; DMI: {dmi})",
                    h.name.as_deref().unwrap_or("none named"),
                    q(&h.sys_hypervisor_type)
                )
            }
            None => unavailable("hypervisor"),
        },
    ));
    rows.push((
        "clocksource",
        match &e.clocksource {
            Some(c) => format!("{} (available: {})", c.current, c.available.join(" ")),
            None => unavailable("clocksource"),
        },
    ));
    if let Some(b) = &e.balloon {
        let dev = if b.present {
            format!(
                "virtio balloon {} ({})",
                q(&b.device),
                b.driver.as_deref().unwrap_or("no driver bound")
            )
        } else {
            "no virtio balloon".to_string()
        };
        let fpr = match b.free_page_reporting {
            Some(true) => "free page reporting on".to_string(),
            Some(false) => "free page reporting off".to_string(),
            None => format!(
                "free page reporting unknown ({})",
                why("balloon.free_page_reporting")
            ),
        };
        let reported = match b.reported_kib {
            Some(k) => format!("{} reported to the host since boot", kib(k)),
            None => format!("reported_kib unavailable ({})", why("balloon.reported_kib")),
        };
        rows.push(("balloon", format!("{dev}, {fpr}, {reported}")));
    }
    rows.push((
        "swap",
        match &e.swap {
            Some(s) => {
                let total = s.total_kib.map_or_else(|| "?".into(), kib);
                let free = s.free_kib.map_or_else(|| "?".into(), kib);
                if s.devices.is_empty() {
                    format!("none (SwapTotal {total})")
                } else {
                    let devs: Vec<String> = s
                        .devices
                        .iter()
                        .map(|d| {
                            format!(
                                "{} ({}, {}, {} used, priority {})",
                                d.name,
                                d.kind,
                                kib(d.size_kib),
                                kib(d.used_kib),
                                d.priority
                            )
                        })
                        .collect();
                    format!("{total} total, {free} free: {}", devs.join(", "))
                }
            }
            None => unavailable("swap"),
        },
    ));
    if let Some(c) = &e.zram_comp_algorithm {
        rows.push(("zram compressor", c.clone()));
    }
    let built = match (&e.git_revision, e.git_dirty) {
        (Some(r), Some(true)) => format!("git {r} with uncommitted changes"),
        (Some(r), Some(false)) => format!("git {r}"),
        (Some(r), None) => format!("git {r} ({})", why("git_revision")),
        (None, _) => unavailable("git_revision"),
    };
    rows.push(("built from", built));
    rows
}

/// One disk's model, read-ahead, scheduler, rotation and logical block size.
fn disk_line(d: &crate::env::DiskInfo) -> String {
    let q = |v: Option<String>| v.unwrap_or_else(|| "?".into());
    format!(
        "model {}, read_ahead_kb {}, scheduler {}, {}, logical block {}",
        q(d.model.clone()),
        q(d.read_ahead_kb.map(|v| v.to_string())),
        q(d.scheduler.clone()),
        match d.rotational {
            Some(true) => "rotational",
            Some(false) => "non-rotational",
            None => "rotational?",
        },
        q(d.logical_block_size.map(|v| format!("{v} B")))
    )
}

/// Try every probe once on this thread and say which counters work.
fn describe_probes(path: &Path) -> String {
    let tlb = crate::probe::tlb::check();
    let probes = crate::probe::ProbeSet::new(&[path], None, tlb, true);
    let me = std::sync::Arc::new(crate::probe::ThreadProbes::open(&probes.thread_cfg));
    let (c, r) = probes.read(std::slice::from_ref(&me));
    let mut out =
        String::from("\nProbes (counters of run.json; `null` counters carry these reasons):\n");
    // In name order, as run.json lists them.
    let mut ids = crate::probe::CounterId::ALL;
    ids.sort();
    for id in ids {
        use crate::probe::CounterId as C;
        let state = if c.get(id).is_some() {
            "ok".to_string()
        } else {
            match id {
                C::ReadAmplification => "computed from device_read_bytes".to_string(),
                C::FaultOps | C::StallNs => match &me.major {
                    Ok(_) => "ok (attributed per operation from the major-fault ring)".to_string(),
                    Err(e) => format!("unavailable: {e}"),
                },
                _ => format!("unavailable: {}", r.get(id).unwrap_or("not read")),
            }
        };
        let _ = writeln!(out, "  {:<28} {}", id, state);
    }
    let cg = match crate::env::cgroup::locate() {
        Ok((v, dir)) => {
            let writable = crate::sys::uid() == 0;
            format!(
                "cgroup {v} at {}{}",
                dir.display(),
                if writable {
                    " (root: --page-cache-limit can create a child)"
                } else {
                    " (not root: --page-cache-limit needs root or a delegated cgroup)"
                }
            )
        }
        Err(e) => format!("unavailable: {e:#}"),
    };
    let _ = writeln!(out, "  {:<28} {}", "page_cache_limit", cg);
    let zram = if !Path::new("/sys/class/zram-control/hot_add").exists() {
        "unavailable: no /sys/class/zram-control (zram module not loaded or not built)".to_string()
    } else if crate::sys::uid() != 0 {
        "unavailable: hot-adding a zram device needs root".to_string()
    } else {
        "ok (--device zram:SIZE)".to_string()
    };
    let _ = writeln!(out, "  {:<28} {}", "device zram", zram);
    let fuse = if !Path::new("/dev/fuse").exists() {
        "unavailable: no /dev/fuse (fuse module not loaded or not built)"
    } else if crate::sys::uid() != 0 {
        "unavailable: mounting the fault-injecting FUSE device needs root"
    } else {
        "ok (--device fuse[:SIZE][,eio_every=N][,delay_every=N,delay=D]...)"
    };
    let _ = writeln!(out, "  {:<28} {}", "device fuse", fuse);
    out
}
