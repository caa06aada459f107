//! `faultline report`: a markdown report of finished runs, one table per workload,
//! repeats pooled. The text is a pure function of the records (`report::markdown`).

use super::write_new;
use crate::record::RunRecord;
use crate::report::{load, markdown};
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(
    after_help = "Under each table: notes, then the stalls of every cell (intervals under \
10% of the cell's median interval throughput, adjacent ones merged, with start and \
length), the machine and the commands.\n\nExamples:\n  faultline report results/quick/2026-11-21T214602Z-vm\n  \
faultline report results/quick/* --reference pread --out quick.md"
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
}

/// `faultline report`. Returns the process exit code.
pub fn run(args: &ReportArgs) -> Result<i32> {
    let records: Vec<RunRecord> = load::load_all(&args.results)?
        .into_iter()
        .map(|l| l.record)
        .collect();
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
    let mut text = markdown::report_markdown(&records, args.reference.as_deref());
    if let (Some(c), Some(p)) = (&calibration, &args.calibration) {
        text += &crate::report::model::predicted_vs_measured(&records, c, &p.display().to_string());
    }
    match &args.out {
        Some(p) => {
            write_new(p, text.as_bytes())?;
            eprintln!("report: {}", p.display());
        }
        None => print!("{text}"),
    }
    Ok(0)
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
