//! `faultline report`: a markdown report of finished runs, one table per workload,
//! repeats pooled. The text is a pure function of the records (`report::markdown`).

use super::{refuse_existing, write_new};
use crate::record::RunRecord;
use crate::report::{html, load, markdown, page};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
#[command(
    after_help = "Under each table: notes, then the stalls of every cell (intervals under \
10% of the cell's median interval throughput, adjacent ones merged, with start and \
length), the machine and the commands.\n\nWith --html DIR: DIR/index.html, one \
self-contained page (verdict, what was run, the tables, every chart inline as SVG with \
a caption, counters with the reasons for nulls, environment and provenance, links to \
the result files); the markdown is then written only with --out FILE.\n\nExamples:\n  faultline report results/quick/2026-11-21T214602Z-vm\n  \
faultline report results/quick/* --reference pread --out quick.md\n  \
faultline report results/paper/2026-11-21T224400Z/paper-fig1-random-read-zram --html /tmp/fig1"
)]
pub struct ReportArgs {
    /// Result directories (or their run.json, or directories holding result directories).
    #[arg(required = true, value_name = "RESULT_DIR")]
    pub results: Vec<PathBuf>,

    /// Backend the relative-speed column compares with. Default: `direct` when it ran,
    /// else the workload's first backend.
    #[arg(long, value_name = "BACKEND")]
    pub reference: Option<String>,

    /// Add a "predicted vs measured" section for the mmap:advice=random and direct
    /// cells: the cost model's ceiling from FILE (the calibrate.json of `faultline
    /// calibrate --out DIR`, or DIR) against the measured throughput per CPU.
    #[arg(long, value_name = "FILE")]
    pub calibration: Option<PathBuf>,

    /// Write the report to FILE (which must not exist) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Write a self-contained HTML page to DIR/index.html (DIR is created if missing;
    /// an existing index.html is never replaced). The markdown is then written only
    /// with --out.
    #[arg(long, value_name = "DIR")]
    pub html: Option<PathBuf>,

    /// With --html: compare the runs with BASELINE (a result directory, its run.json, or
    /// a directory of them) as `faultline compare BASELINE ...` does, and put the
    /// regressions past --threshold under the verdict.
    #[arg(long, value_name = "BASELINE", requires = "html")]
    pub baseline: Option<PathBuf>,

    /// With --baseline: a change of more than PCT percent in the bad direction is a
    /// regression (default 5).
    #[arg(long, value_name = "PCT", default_value = "5", requires = "baseline", value_parser = super::compare::parse_percent)]
    pub threshold: f64,
}

/// `faultline report`. Returns the process exit code.
pub fn run(args: &ReportArgs) -> Result<i32> {
    let loaded = load::load_all(&args.results)?;
    let records: Vec<RunRecord> = loaded.iter().map(|l| l.record.clone()).collect();
    if let Some(r) = &args.reference {
        let names = backend_names(&records);
        if !names.iter().any(|n| n == r) {
            bail!(
                "--reference {r}: no backend of that name in the given runs; they ran: {}",
                names.join(", ")
            );
        }
    }
    let calibration = match &args.calibration {
        Some(p) => Some(crate::calibrate::Calibration::load(p)?),
        None => None,
    };
    if let Some(p) = &args.out {
        refuse_existing(p)?;
    }
    let comparison = match &args.baseline {
        Some(b) => {
            let base: Vec<RunRecord> = load::load(b)
                .with_context(|| {
                    format!("--baseline {}: cannot read the baseline runs", b.display())
                })?
                .into_iter()
                .map(|l| l.record)
                .collect();
            let c = crate::report::compare(&base, &records, args.threshold);
            Some(page::comparison_view(&b.display().to_string(), &c))
        }
        None => None,
    };
    if let Some(dir) = &args.html {
        write_page(dir, &loaded, args.reference.as_deref(), comparison)?;
    }
    let mut text = markdown::report_markdown(&records, args.reference.as_deref());
    if let (Some(c), Some(p)) = (&calibration, &args.calibration) {
        text += &crate::report::model::predicted_vs_measured(&records, c, &p.display().to_string());
    }
    match (&args.out, &args.html) {
        (Some(p), _) => {
            write_new(p, text.as_bytes())?;
            eprintln!("report: {}", p.display());
        }
        (None, None) => print!("{text}"),
        (None, Some(_)) => {}
    }
    Ok(0)
}

/// `--html DIR`: DIR/index.html for `loaded`, refusing to replace an existing page.
fn write_page(
    dir: &Path,
    loaded: &[load::Loaded],
    reference: Option<&str>,
    comparison: Option<page::ComparisonView>,
) -> Result<()> {
    let index = dir.join(html::INDEX);
    refuse_existing(&index)?;
    if dir.exists() && !dir.is_dir() {
        bail!(
            "--html {}: not a directory; give a directory for index.html",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "--html {}: cannot create the directory; give another --html DIR",
            dir.display()
        )
    })?;
    let runs = html::page_runs(loaded, dir);
    let text = html::render(&page::build_page(&runs, reference, comparison))?;
    write_new(&index, text.as_bytes())?;
    println!("page: {}", index.display());
    Ok(())
}

/// The backend names in `records`, each once, in order of appearance.
fn backend_names(records: &[RunRecord]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for b in records.iter().flat_map(|r| &r.backends) {
        if !v.contains(&b.name) {
            v.push(b.name.clone());
        }
    }
    v
}
