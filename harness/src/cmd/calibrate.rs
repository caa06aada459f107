//! `faultline calibrate`: measure the primitives the mmap argument is made of
//! (`calibrate`), print them as a table or as calibrate.json, and optionally write
//! calibrate.json into a new result directory.

use crate::calibrate::{self, Options, MIN_REPS};
use crate::record::output::ResultDir;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(
    after_help = "Parts that need root (the zram device and the memory cgroup) are skipped with the reason otherwise.\n\n\
Examples:\n  faultline calibrate                         print the table\n  \
faultline calibrate --out results/calibrate-2026-12-01-vm\n  \
faultline report results/paper/* --calibration results/calibrate-2026-12-01-vm/calibrate.json"
)]
pub struct CalibrateArgs {
    /// Print calibrate.json on stdout instead of the table.
    #[arg(long)]
    pub json: bool,

    /// Also write calibrate.json and table.txt into DIR, a new directory (an existing
    /// non-empty one is refused: results are never overwritten).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// No progress lines on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Fewer repetitions (5) and smaller regions: a few seconds, for tests.
    #[arg(long)]
    pub quick: bool,

    /// Repetitions per primitive (at least 5). Default: 7 (5 with --quick).
    #[arg(long, value_name = "N")]
    pub reps: Option<u32>,

    /// Directory for the scratch file (written and removed; default faultline-data/).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// `faultline calibrate`. Returns the process exit code.
pub fn run(args: &CalibrateArgs) -> Result<i32> {
    let reps = args.reps.unwrap_or(if args.quick { MIN_REPS } else { 7 });
    if reps < MIN_REPS {
        bail!("--reps {reps}: use at least {MIN_REPS} (the median needs them)");
    }
    if reps > 1000 {
        bail!("--reps {reps}: use at most 1000");
    }
    crate::interrupt::install().context("cannot install the Ctrl-C handler")?;
    let started = crate::record::now_rfc3339();
    // Reserved before anything is measured: an unwritable destination fails first.
    let dir = match &args.out {
        Some(p) => Some(ResultDir::reserve_under(
            Some(p),
            std::path::Path::new("results"),
            "calibrate",
            &started,
            &crate::claim::host(),
        )?),
        None => None,
    };
    let data_dir = crate::claim::work_dir(&args.data_dir)?;
    let opts = Options {
        reps,
        quick: args.quick,
        data_dir,
    };
    let ui = crate::ui::reporter(args.quiet);
    let cal = calibrate::run(&opts, std::env::args().collect(), ui)?;
    let json = cal.to_json()?;
    let table = format!("{}\n{}", cal.table().to_text(), cal.footer());
    if let Some(dir) = dir {
        dir.write_file("calibrate.json", json.as_bytes())?;
        dir.write_file("table.txt", table.as_bytes())?;
        let path = dir.commit()?;
        eprintln!("calibration: {}", path.display());
    }
    if args.json {
        print!("{json}");
    } else {
        print!("{table}");
    }
    Ok(0)
}
