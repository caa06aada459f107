//! `faultline run`: a workload against its backends, into a result directory.
//!
//! The pipeline: arguments -> workload (file + overrides) -> reserved result directory
//! -> setup (data, cgroup, probes) -> every cell of the plan -> record -> files, charts
//! -> the table or JSON on stdout -> exit code.

use crate::plot as charts;
use crate::record::{self, output::ResultDir, RunRecord, Status};
use crate::runner::{self, Setup};
use crate::spec::{self, Workload};
use crate::{interrupt, ui};
use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// Workload file (TOML). Default: workloads/quick.toml.
    pub workload: Option<PathBuf>,

    // The workload settings (spec::settings), each replacing the workload's own.
    #[command(flatten)]
    pub settings: spec::Settings,

    /// Result directory (must not exist). Default: results/<workload>/<UTC time>-<host>/.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// No progress bars or per-backend lines; the table and result path still print.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Also draw the charts (SVG and PNG) into the result directory.
    #[arg(long)]
    pub plot: bool,

    /// Also write index.html into the result directory: one self-contained page with
    /// the verdict, the tables, every chart inline, counters, environment and links to
    /// the files (as `faultline report --html`).
    #[arg(long)]
    pub html: bool,
    /// Print one JSON object (result directory, per-backend status, throughput and
    /// latency) on stdout instead of the table. Progress still goes to stderr.
    #[arg(long)]
    pub json: bool,

    /// Run the workload once per value of one numeric setting, e.g.
    /// size=256MiB,512MiB,1GiB (values parse as the setting's flag does). Keys: size,
    /// page_cache_limit, threads, block, queue_depth, read_pct, read_ahead_kb,
    /// fault_sample_period, read_iops, read_bps, write_iops, write_bps (a device cap).
    /// The results go into one directory (--out, default
    /// results/<workload>/<UTC time>-<host>-sweep-<key>/), one sub-directory per value;
    /// each run.json records the key and value. With --plot: the sweep charts (metric
    /// against the value, one line per backend).
    #[arg(long, value_name = "KEY=V1,V2,...", value_parser = spec::sweep::parse_sweep)]
    pub sweep: Option<spec::sweep::Sweep>,
}

/// `faultline run`. Returns the process exit code.
pub fn run(args: &RunArgs) -> Result<i32> {
    interrupt::install().context("cannot install the Ctrl-C handler")?;
    // FUSE devices left mounted by a faultline that was killed (SIGKILL) go first.
    for n in crate::env::fuse::clean_stale() {
        eprintln!("note: {n}");
    }
    // So do the tracefs instances of the balance_dirty_pages trace.
    for n in crate::probe::dirty_throttle::clean_stale() {
        eprintln!("note: {n}");
    }
    // zram devices, blkio cgroups and read-ahead a killed faultline left changed.
    for n in crate::env::devstate::clean_stale() {
        eprintln!("note: {n}");
    }
    // Huge pages a killed global-reclaim run left reserved.
    for n in crate::env::global_reclaim::clean_stale() {
        eprintln!("note: {n}");
    }
    let w = workload(args)?;
    if let Some(sweep) = &args.sweep {
        return run_sweep(args, w, sweep);
    }
    let (code, _) = run_one(args, w, args.out.as_deref(), None, args.plot)?;
    Ok(code)
}

/// One run of `w` into a new result directory: (exit code, record).
fn run_one(
    args: &RunArgs,
    w: Workload,
    out: Option<&Path>,
    sweep: Option<spec::sweep::SweepPoint>,
    plot: bool,
) -> Result<(i32, RunRecord)> {
    let ui = ui::reporter(args.quiet);
    let started_at = record::now_rfc3339();
    let dir = ResultDir::reserve(out, &w.name, &started_at, &host())?;
    let mut setup = Setup::prepare(w, ui)?;
    let mut rec = RunRecord::new(
        &setup.workload,
        setup.env.clone(),
        setup.target.clone(),
        started_at,
    );
    rec.sweep = sweep;
    let interrupted = runner::run_plan(&mut setup, &mut rec, ui)?;
    drop(setup);
    rec.complete = !interrupted;
    rec.finished_at = record::now_rfc3339();
    record::output::write_all(&dir, &rec)?;
    // Charts go into the temporary directory too, so they arrive with the result.
    let drawn = plot.then(|| draw_charts(&dir, &rec));
    // The page last, so it links every file of the result.
    let page = args.html.then(|| write_page(&dir, &rec));
    let path = dir.commit()?;
    print_result(args, &rec, &path);
    let chart_error = print_charts(args, &path, drawn);
    let page_error = print_page(args, &path, page);
    let code = exit_code(&rec, interrupted, chart_error || page_error);
    Ok((code, rec))
}

/// `--sweep`: every value's workload checked first, then one run per value into its
/// own sub-directory of the sweep's directory, then the sweep table (and charts).
fn run_sweep(args: &RunArgs, w: Workload, sweep: &spec::sweep::Sweep) -> Result<i32> {
    let points = sweep.workloads(&w)?;
    let dir = sweep_dir(args.out.as_deref(), &w.name, &sweep.key)?;
    let mut recs = Vec::new();
    let mut worst = 0;
    for (wk, point) in points {
        eprintln!(
            "sweep: {} = {} ({} of {})",
            point.key,
            point.value,
            point.index + 1,
            point.count
        );
        let sub = dir.join(format!(
            "{:02}-{}={}",
            point.index + 1,
            point.key,
            record::output::sanitize(&point.value)
        ));
        let (code, rec) = run_one(args, wk, Some(&sub), Some(point), false)?;
        recs.push(rec);
        if code == 130 {
            eprintln!(
                "sweep interrupted after {} of {} values; their results are in {}",
                recs.len(),
                sweep.values.len(),
                dir.display()
            );
            return Ok(130);
        }
        worst = worst.max(code);
    }
    let table = record::sweep::table(&recs);
    write_new_file(&dir.join("sweep.md"), table.as_bytes())?;
    if !args.json {
        println!("{table}");
        println!("sweep: {}", dir.display());
    }
    if args.plot {
        let runs: Vec<charts::Run> = recs
            .into_iter()
            .map(|record| charts::Run {
                dir_name: record
                    .sweep
                    .as_ref()
                    .map(|p| format!("{}={}", p.key, p.value))
                    .unwrap_or_default(),
                record,
            })
            .collect();
        match charts::render_sweep(&runs, charts::Format::Both, charts::SweepAxes::default())
            .and_then(|r| {
                for s in &r.skipped {
                    println!("{s}");
                }
                charts::write_new(&dir, &r.files)
            }) {
            Ok(files) if !args.json => {
                for f in files {
                    println!("chart: {}", f.display());
                }
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!(
                    "error: the sweep charts were not drawn: {e:#}\n  the results are complete; draw them later with `faultline plot {}`",
                    dir.display()
                );
                worst = worst.max(1);
            }
        }
    }
    Ok(worst)
}

/// The sweep's directory, created empty: `out` (which must not exist or be empty) or
/// results/<workload>/<UTC time>-<host>-sweep-<key>/ (with -2, -3, ... if taken).
fn sweep_dir(out: Option<&Path>, workload: &str, key: &str) -> Result<PathBuf> {
    let path = match out {
        Some(p) => {
            let empty = p
                .read_dir()
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
            if p.exists() && !empty {
                anyhow::bail!(
                    "--out {}: already exists; faultline never overwrites results, give a new directory",
                    p.display()
                );
            }
            p.to_path_buf()
        }
        None => {
            let base = Path::new("results").join(record::output::sanitize(workload));
            let name = format!(
                "{}-{}-sweep-{key}",
                record::output::stamp(&record::now_rfc3339()),
                record::output::sanitize(&host())
            );
            let mut p = base.join(&name);
            let mut n = 2;
            while p.exists() {
                p = base.join(format!("{name}-{n}"));
                n += 1;
            }
            p
        }
    };
    std::fs::create_dir_all(&path).with_context(|| {
        format!(
            "cannot create the sweep directory {}; choose another with --out",
            path.display()
        )
    })?;
    Ok(path)
}

/// Write a file that must not exist yet.
fn write_new_file(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The workload file (or the built-in default) with the command line's values applied.
fn workload(args: &RunArgs) -> Result<Workload> {
    let mut w = match &args.workload {
        Some(p) => Workload::load(p)?,
        None => Workload::default_quick()?,
    };
    w.apply(&args.settings)?;
    Ok(w)
}

fn host() -> String {
    crate::sys::uname()
        .map(|u| u.nodename)
        .unwrap_or_else(|_| "host".into())
}

/// The summary table and the result path, or with --json one JSON object.
fn print_result(args: &RunArgs, rec: &RunRecord, path: &Path) {
    if args.json {
        print!("{}", record::summary::summary_json(rec, path));
    } else {
        println!("{}", record::table::summary_table(rec));
        if !rec.probe_overhead.is_empty() {
            println!("probe overhead (median of the rounds; cost = 1 - on/off throughput):");
            println!("{}", record::overhead::table(&rec.probe_overhead));
        }
        println!("result: {}", path.display());
    }
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

/// `run --html`: the result's page, index.html, into the temporary directory.
fn write_page(dir: &ResultDir, rec: &RunRecord) -> Result<()> {
    let run = crate::report::page::PageRun {
        record: rec,
        label: dir.final_path().display().to_string(),
        dir_name: charts::dir_name(dir.final_path()),
        link_dir: Some(String::new()),
        files: dir.files(),
    };
    let page = crate::report::page::build_page(&[run], None, None);
    let text = crate::report::html::render(&page)?;
    dir.write_file(crate::report::html::INDEX, text.as_bytes())?;
    Ok(())
}

/// Name the page written (not with --json), or say why it was not. Returns true when
/// writing it failed.
fn print_page(args: &RunArgs, dir: &Path, page: Option<Result<()>>) -> bool {
    match page {
        Some(Ok(())) if !args.json => {
            println!("page: {}", dir.join(crate::report::html::INDEX).display());
            false
        }
        Some(Err(e)) => {
            eprintln!(
                "error: the HTML page was not written: {e:#}\n  the result is complete; write it later with `faultline report {} --html {}`",
                dir.display(),
                dir.display()
            );
            true
        }
        _ => false,
    }
}

/// Name the charts drawn (not with --json: stdout then holds only the JSON object), or
/// say why they were not. Returns true when drawing failed.
fn print_charts(args: &RunArgs, dir: &Path, drawn: Option<Result<charts::Rendered>>) -> bool {
    match drawn {
        Some(Ok(r)) if !args.json => {
            for f in &r.files {
                println!("chart: {}", dir.join(&f.name).display());
            }
            for s in &r.skipped {
                println!("{s}");
            }
            false
        }
        Some(Err(e)) => {
            eprintln!(
                "error: the charts were not drawn: {e:#}\n  the result is complete; draw them later with `faultline plot {}`",
                dir.display()
            );
            true
        }
        _ => false,
    }
}

/// 130 when interrupted; 1 when a read returned wrong bytes, a backend failed or the
/// charts or the page could not be written; else 0.
fn exit_code(rec: &RunRecord, interrupted: bool, chart_error: bool) -> i32 {
    if interrupted {
        eprintln!("interrupted: the result holds what was measured and is marked incomplete");
        return 130;
    }
    let bad_reads: u64 = rec.backends.iter().filter_map(|b| b.verify_errors).sum();
    if bad_reads > 0 {
        eprintln!("error: {bad_reads} reads returned the wrong bytes; see the notes in run.json");
        return 1;
    }
    let failed = rec
        .backends
        .iter()
        .filter(|b| b.status == Status::Failed)
        .count();
    if failed > 0 {
        eprintln!(
            "error: {failed} backend(s) failed; the reasons are in the table above and in run.json"
        );
        return 1;
    }
    i32::from(chart_error)
}
