//! One function per subcommand; `main` only parses and reports errors.

use crate::cli::{EnvArgs, ListArgs, PlotArgs, RunArgs};
use crate::datafile;
use crate::env::Environment;
use crate::record::Status;
use crate::record::{self, output::ResultDir, BackendResult, RunRecord};
use crate::runner;
use crate::spec::{self, Workload};
use crate::{interrupt, plot as charts, units};
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::Path;

pub use crate::report::commands::{compare, report};

/// `faultline run`. Returns the process exit code.
pub fn run(args: &RunArgs) -> Result<i32> {
    interrupt::install().context("cannot install the Ctrl-C handler")?;
    let mut w = match &args.workload {
        Some(p) => Workload::load(p)?,
        None => Workload::default_quick()?,
    };
    w.apply(&args.overrides())?;
    let quiet = args.quiet;

    let started_at = record::now_rfc3339();
    let host = crate::sys::uname()
        .map(|u| u.nodename)
        .unwrap_or_else(|_| "host".into());
    let dir = ResultDir::reserve(args.out.as_deref(), &w.name, &started_at, &host)?;

    // An emulated device lives until the end of this function (removed on drop).
    let mut zram = None;
    let prepared = match w.device {
        Some(spec::Device::Zram { size }) => crate::env::zram::Zram::create(size.unwrap_or(w.size))
            .and_then(|z| {
                let t = datafile::fill_device(&z.dev, w.size, w.seed, quiet);
                zram = Some(z);
                t
            }),
        None => datafile::prepare(&w, quiet),
    };
    let target = match prepared {
        Ok(t) => t,
        Err(e) => {
            dir.abandon();
            return Err(e);
        }
    };
    w.size = target.size;
    for spec in &w.backends {
        if let Err(e) = crate::backend::preflight(spec, &target, &w) {
            dir.abandon();
            bail!("{e}");
        }
    }
    let env = Environment::collect(&target.path);
    if !quiet {
        eprintln!("{}", header(&w, &target, &env));
    }
    let mut cgroup = match control_memory(&w, &env) {
        Ok(c) => c,
        Err(e) => {
            dir.abandon();
            return Err(e);
        }
    };
    if let (Some(cg), false) = (&cgroup, quiet) {
        eprintln!(
            "  page cache limited to {} in memory cgroup {} ({})",
            units::format_size(cg.limit),
            cg.path().display(),
            cg.version
        );
    }
    // tracefs stays mounted (if this run mounted it) until the run ends.
    let (tlb, _tracefs) = match crate::probe::tlb::setup() {
        Ok((t, m)) => (Ok(t), Some(m)),
        Err(e) => (Err(e), None),
    };
    let probes = crate::probe::ProbeSet::new(
        &target.path,
        cgroup
            .as_ref()
            .map(|c| (c.path().join("memory.stat"), c.version)),
        tlb,
        true,
    );

    let mut rec = RunRecord::new(&w, env, target.clone(), started_at);
    let mut interrupted = false;
    rec.process.push(record::ProcessSnapshot::take(0));
    'plan: for repeat in 0..w.repeats {
        for &threads in &w.threads {
            let n = w.backends.len();
            // Rotate the backend order on each repeat so no backend always runs first.
            for k in 0..n {
                let spec = &w.backends[(k + repeat as usize) % n];
                if interrupt::requested() {
                    interrupted = true;
                    break 'plan;
                }
                if w.drop_caches {
                    drop_all_caches()?;
                }
                // The cgroup limits the page cache. Backends that bypass it (O_DIRECT,
                // the buffer pool, whose own budget is its pool) run outside: their
                // anonymous memory must not compete with a page-cache limit.
                let limited = spec.uses_page_cache();
                if let (Some(cg), true) = (cgroup.as_mut(), limited) {
                    cg.enter()?;
                }
                let mut outcome =
                    runner::run_cell(&target, &w, spec, threads, repeat, &probes, quiet);
                if let (Some(cg), true) = (cgroup.as_mut(), limited) {
                    cg.leave()?;
                }
                if cgroup.is_some() && !limited {
                    outcome.notes.push(
                        "ran outside the memory cgroup: it does not use the page cache".into(),
                    );
                }
                let was_interrupted = outcome.interrupted;
                let b =
                    BackendResult::from_outcome(spec, outcome, repeat, w.block, target.verifies())?;
                if !quiet {
                    eprintln!("{}", cell_line(&b));
                }
                rec.backends.push(b);
                rec.process
                    .push(record::ProcessSnapshot::take(rec.backends.len()));
                if was_interrupted {
                    interrupted = true;
                    break 'plan;
                }
            }
        }
    }
    rec.complete = !interrupted;
    rec.finished_at = record::now_rfc3339();
    record::output::write_all(&dir, &rec)?;
    // Charts go into the temporary directory too, so they arrive with the result.
    let drawn = args.plot.then(|| draw_charts(&dir, &rec));
    let path = dir.commit()?;

    if args.json {
        print!("{}", record::summary::summary_json(&rec, &path));
    } else {
        println!("{}", record::table::summary_table(&rec));
        println!("result: {}", path.display());
    }
    let mut chart_error = false;
    match drawn {
        // With --json, stdout holds only the JSON object.
        Some(Ok(r)) if !args.json => print_charts(&path, &r),
        Some(Ok(_)) => {}
        Some(Err(e)) => {
            chart_error = true;
            eprintln!(
                "error: the charts were not drawn: {e:#}\n  the result is complete; draw them later with `faultline plot {}`",
                path.display()
            );
        }
        None => {}
    }
    if interrupted {
        eprintln!("interrupted: the result holds what was measured and is marked incomplete");
        return Ok(130);
    }
    let failed = rec
        .backends
        .iter()
        .filter(|b| b.status == Status::Failed)
        .count();
    let bad_reads: u64 = rec.backends.iter().filter_map(|b| b.verify_errors).sum();
    if bad_reads > 0 {
        eprintln!("error: {bad_reads} reads returned the wrong bytes; see the notes in run.json");
        return Ok(1);
    }
    if failed > 0 {
        eprintln!(
            "error: {failed} backend(s) failed; the reasons are in the table above and in run.json"
        );
        return Ok(1);
    }
    Ok(if chart_error { 1 } else { 0 })
}

/// `run --plot`: render the charts of `rec` into the result's temporary directory.
fn draw_charts(dir: &ResultDir, rec: &RunRecord) -> Result<charts::Rendered> {
    let run = charts::Run {
        record: rec.clone(),
        dir_name: charts::dir_name(dir.final_path()),
    };
    let r = charts::render(&[run], charts::Format::Both)?;
    for f in &r.files {
        dir.write_file(&f.name, &f.bytes)?;
    }
    Ok(r)
}

fn print_charts(dir: &Path, r: &charts::Rendered) {
    for f in &r.files {
        println!("chart: {}", dir.join(&f.name).display());
    }
    for s in &r.skipped {
        println!("{s}");
    }
}

/// `faultline plot`. Returns the process exit code.
pub fn plot(args: &PlotArgs) -> Result<i32> {
    let out = match (&args.out, args.dirs.as_slice()) {
        (Some(o), _) => o.clone(),
        (None, [one]) if one.is_file() => one
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf(),
        (None, [one]) => one.clone(),
        (None, many) => bail!(
            "{} result directories given: say where their charts go with --out DIR",
            many.len()
        ),
    };
    let written = charts::plot(&args.dirs, &out, args.format)?;
    for p in &written {
        println!("chart: {}", p.display());
    }
    if written.is_empty() {
        eprintln!("error: no chart could be drawn from these results (the reasons are above)");
        return Ok(1);
    }
    Ok(0)
}

/// The memory cgroup for `page_cache_limit`, after checking the limit against RAM and
/// the rights to create it.
fn control_memory(
    w: &Workload,
    env: &Environment,
) -> Result<Option<crate::env::cgroup::MemCgroup>> {
    if w.drop_caches && crate::sys::uid() != 0 {
        bail!("--drop-caches needs root (it writes /proc/sys/vm/drop_caches); run as root or leave it out (the per-file cold start needs no root)");
    }
    let Some(limit) = w.page_cache_limit else {
        return Ok(None);
    };
    if let Some(mem) = env.memory_bytes {
        if limit >= mem {
            bail!(
                "page_cache_limit {} is not below this machine's memory ({}); use a smaller limit",
                units::format_size(limit),
                units::format_size(mem)
            );
        }
    }
    crate::env::cgroup::MemCgroup::create(limit)
        .map(Some)
        .context("cannot set up the page-cache limit")
}

/// sync, then drop the page cache, dentries and inodes of the whole machine.
fn drop_all_caches() -> Result<()> {
    // drop_caches only drops clean pages: write dirty ones back first.
    let _ = std::process::Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "3")
        .context("cannot write /proc/sys/vm/drop_caches (--drop-caches needs root)")
}

fn header(w: &Workload, t: &datafile::Target, env: &Environment) -> String {
    let mut s = format!(
        "faultline: workload `{}` ({}): {} {} reads over {} with {} thread(s), {} per backend, {} start",
        w.name,
        w.source,
        units::format_size(w.block),
        w.pattern.to_spec_string(),
        units::format_size(t.size),
        w.threads.iter().map(|n| n.to_string()).collect::<Vec<_>>().join("/"),
        w.stop_text(),
        match w.start {
            spec::Start::Cold => "cold",
            spec::Start::Warm => "warm",
        }
    );
    let _ = write!(
        s,
        "\n  data: {} ({}{}) on {} / {}",
        t.path.display(),
        t.origin,
        match (t.created, t.create_secs) {
            (true, Some(secs)) => format!(", created in {secs:.1} s"),
            _ if t.origin == crate::datafile::Origin::Generated => ", reused".to_string(),
            _ => String::new(),
        },
        env.fs_type.as_deref().unwrap_or("?"),
        env.device.as_deref().unwrap_or("no block device"),
    );
    if !t.verifies() {
        s.push_str(
            "\n  verification off: reading your file read-only, its content cannot be checked",
        );
    }
    s
}

fn cell_line(b: &BackendResult) -> String {
    match b.status {
        Status::Ok => format!(
            "  {:<28} x{:<3} {:>9} ops/s {:>9.1} MiB/s  p50 {:>8}  p99 {:>8}",
            b.name,
            b.threads,
            units::format_count(b.ops_per_sec),
            b.bytes_per_sec / 1048576.0,
            b.latency_ns
                .as_ref()
                .map(|l| units::format_ns(l.p50 as f64))
                .unwrap_or_default(),
            b.latency_ns
                .as_ref()
                .map(|l| units::format_ns(l.p99 as f64))
                .unwrap_or_default(),
        ),
        Status::Skipped => format!(
            "  {:<28} x{:<3} skipped: {}",
            b.name,
            b.threads,
            b.reason.as_deref().unwrap_or("")
        ),
        Status::Failed => format!(
            "  {:<28} x{:<3} FAILED: {}",
            b.name,
            b.threads,
            b.reason.as_deref().unwrap_or("")
        ),
    }
}

/// `faultline list`.
pub fn list(args: &ListArgs) -> Result<i32> {
    let mut out = String::new();
    out.push_str("Backends (spec: kind[:key=value|flag,...]):\n");
    out.push_str(&spec::options::describe_kinds(spec::backend::KINDS));
    out.push_str("\nAccess patterns (workload key `pattern`, or --pattern):\n");
    out.push_str(&spec::options::describe_kinds(spec::pattern::KINDS));
    out.push_str(&format!("\nWorkloads in {}:\n", args.workloads.display()));
    out.push_str(&describe_workloads(&args.workloads)?);
    print!("{out}");
    Ok(0)
}

fn describe_workloads(dir: &Path) -> Result<String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            if e.kind() == std::io::ErrorKind::NotFound {
                return Ok(format!(
                    "  (no {} directory here; `faultline` alone runs the built-in quick workload)\n",
                    dir.display()
                ));
            }
            bail!("cannot read {}: {e}", dir.display());
        }
    };
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut out = String::new();
    for p in files {
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        match Workload::load(&p) {
            Ok(w) => {
                let _ = writeln!(out, "  {:<28} {}", name, w.description);
            }
            Err(e) => {
                let _ = writeln!(out, "  {:<28} (invalid: {e})", name);
            }
        }
    }
    Ok(out)
}

/// `faultline claim <name>`: one experiment per claim (see `claim`).
pub fn claim(args: &crate::claim::ClaimArgs) -> Result<i32> {
    crate::claim::run(args)
}

/// `faultline env`.
pub fn env(args: &EnvArgs) -> Result<i32> {
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
    out
}
