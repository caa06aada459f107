//! One function per subcommand; `main` only parses and reports errors.

use crate::cli::{ListArgs, RunArgs};
use crate::datafile;
use crate::env::Environment;
use crate::record::{self, output::ResultDir, BackendResult, RunRecord};
use crate::runner::{self, Status};
use crate::spec::{self, Workload};
use crate::{interrupt, units};
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

    let target = match datafile::prepare(&w, quiet) {
        Ok(t) => t,
        Err(e) => {
            dir.abandon();
            return Err(e);
        }
    };
    w.size = target.size;
    let env = Environment::collect(&target.path);
    if !quiet {
        eprintln!("{}", header(&w, &target, &env));
    }

    let mut rec = RunRecord::new(&w, env, target.clone(), started_at);
    let mut interrupted = false;
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
                let outcome = runner::run_cell(&target, &w, spec, threads, repeat, quiet);
                let was_interrupted = outcome.interrupted;
                let b =
                    BackendResult::from_outcome(spec, outcome, repeat, w.block, target.verifies())?;
                if !quiet {
                    eprintln!("{}", cell_line(&b));
                }
                rec.backends.push(b);
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
    let path = dir.commit()?;

    if args.json {
        print!("{}", record::summary::summary_json(&rec, &path));
    } else {
        println!("{}", record::table::summary_table(&rec));
        println!("result: {}", path.display());
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
    Ok(0)
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
            _ if t.origin == "generated" => ", reused".to_string(),
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
