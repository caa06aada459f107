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
    let mut out = String::new();
    let opt = |v: &Option<String>, key: &str| match v {
        Some(s) => s.clone(),
        None => format!(
            "unavailable ({})",
            e.reasons
                .get(key)
                .map(String::as_str)
                .unwrap_or("not reported")
        ),
    };
    let _ = writeln!(out, "Environment (for {}):", path.display());
    let _ = writeln!(out, "  kernel              {}", opt(&e.kernel, "kernel"));
    let _ = writeln!(out, "  arch                {}", opt(&e.arch, "kernel"));
    let _ = writeln!(
        out,
        "  cpu                 {} x {}",
        e.cpus,
        opt(&e.cpu_model, "cpu_model")
    );
    let _ = writeln!(
        out,
        "  memory              {}",
        e.memory_bytes
            .map(units::format_size)
            .unwrap_or_else(|| "unavailable".into())
    );
    let _ = writeln!(out, "  hostname            {}", opt(&e.hostname, "kernel"));
    let _ = writeln!(out, "  file system         {}", opt(&e.fs_type, "fs_type"));
    let _ = writeln!(out, "  device              {}", opt(&e.device, "device"));
    for d in &e.disks {
        let _ = writeln!(
            out,
            "  disk {:<14} model {}, read_ahead_kb {}, scheduler {}, {}, logical block {}",
            d.name,
            d.model.as_deref().unwrap_or("?"),
            d.read_ahead_kb
                .map(|v| v.to_string())
                .unwrap_or_else(|| "?".into()),
            d.scheduler.as_deref().unwrap_or("?"),
            match d.rotational {
                Some(true) => "rotational",
                Some(false) => "non-rotational",
                None => "rotational?",
            },
            d.logical_block_size
                .map(|v| format!("{v} B"))
                .unwrap_or_else(|| "?".into())
        );
    }
    if e.emulated_device {
        let _ = writeln!(out, "  (emulated RAM-backed device: zram)");
    }
    let _ = writeln!(
        out,
        "  THP                 enabled {}, defrag {}",
        opt(&e.thp_enabled, "thp_enabled"),
        opt(&e.thp_defrag, "thp_enabled")
    );
    let _ = writeln!(
        out,
        "  nr_hugepages        {}",
        e.nr_hugepages
            .map(|v| v.to_string())
            .unwrap_or_else(|| "unavailable".into())
    );
    let _ = writeln!(
        out,
        "  cgroup (memory)     {}",
        opt(&e.cgroup_version, "cgroup_version")
    );
    let _ = writeln!(
        out,
        "  perf                paranoid {}, hardware counters {}",
        e.perf_event_paranoid
            .map(|v| v.to_string())
            .unwrap_or_else(|| "?".into()),
        match e.hw_perf_counters {
            Some(true) => "readable".to_string(),
            _ => format!(
                "not readable ({})",
                e.reasons
                    .get("hw_perf_counters")
                    .map(String::as_str)
                    .unwrap_or("?")
            ),
        }
    );
    let affected: Vec<&String> = e
        .mitigations
        .iter()
        .filter(|(_, v)| !v.starts_with("Not affected"))
        .map(|(k, _)| k)
        .collect();
    let _ = writeln!(
        out,
        "  mitigations         {} reported, {} not \"Not affected\": {}",
        e.mitigations.len(),
        affected.len(),
        affected
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    out
}

/// Try every probe once on this thread and say which counters work.
fn describe_probes(path: &Path) -> String {
    let tlb = crate::probe::tlb::check();
    let probes = crate::probe::ProbeSet::new(path, None, tlb, true);
    let me = std::sync::Arc::new(crate::probe::ThreadProbes::open(&probes.thread_cfg));
    let (c, r) = probes.read(std::slice::from_ref(&me));
    let v = serde_json::to_value(&c).unwrap_or_default();
    let mut out =
        String::from("\nProbes (counters of run.json; `null` counters carry these reasons):\n");
    if let Some(map) = v.as_object() {
        for (k, val) in map {
            let state = if val.is_null() {
                match k.as_str() {
                    "read_amplification" => "computed from device_read_bytes".to_string(),
                    "fault_ops" | "stall_ns" => match &me.major {
                        Ok(_) => {
                            "ok (attributed per operation from the major-fault ring)".to_string()
                        }
                        Err(e) => format!("unavailable: {e}"),
                    },
                    _ => format!(
                        "unavailable: {}",
                        r.0.get(k).map(String::as_str).unwrap_or("not read")
                    ),
                }
            } else {
                "ok".to_string()
            };
            let _ = writeln!(out, "  {:<28} {}", k, state);
        }
    }
    let cg = match crate::env::cgroup::locate() {
        Ok((v, dir)) => {
            let writable = crate::sys::uid() == 0;
            format!(
                "{} at {}{}",
                match v {
                    crate::probe::parse::CgroupVersion::V1 => "cgroup v1",
                    crate::probe::parse::CgroupVersion::V2 => "cgroup v2",
                },
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
    out
}
