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
    let ui = ui::reporter(args.quiet);
    let started_at = record::now_rfc3339();
    let dir = ResultDir::reserve(args.out.as_deref(), &w.name, &started_at, &host())?;
    let mut setup = Setup::prepare(w, ui)?;
    let mut rec = RunRecord::new(
        &setup.workload,
        setup.env.clone(),
        setup.target.clone(),
        started_at,
    );
    let interrupted = runner::run_plan(&mut setup, &mut rec, ui)?;
    drop(setup);
    rec.complete = !interrupted;
    rec.finished_at = record::now_rfc3339();
    record::output::write_all(&dir, &rec)?;
    // Charts go into the temporary directory too, so they arrive with the result.
    let drawn = args.plot.then(|| draw_charts(&dir, &rec));
    // The page last, so it links every file of the result.
    let page = args.html.then(|| write_page(&dir, &rec));
    let path = dir.commit()?;
    print_result(args, &rec, &path);
    let chart_error = print_charts(args, &path, drawn);
    let page_error = print_page(args, &path, page);
    Ok(exit_code(&rec, interrupted, chart_error || page_error))
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
