//! One module per subcommand, each owning its clap arguments and its `run`: a straight
//! pipeline from arguments to an exit code. `main` parses and calls `dispatch`.

pub mod calibrate;
pub mod claim;
pub mod compare;
pub mod env;
pub mod list;
pub mod plot;
pub mod reference;
pub mod report;
pub mod run;

use anyhow::{bail, Context, Result};
use calibrate::CalibrateArgs;
use claim::ClaimArgs;
use clap::{Parser, Subcommand};
use compare::CompareArgs;
use env::EnvArgs;
use list::ListArgs;
use plot::PlotArgs;
use report::ReportArgs;
use run::RunArgs;
use std::io::Write as _;
use std::path::Path;

#[derive(Debug, Parser)]
#[command(
    name = "faultline",
    version,
    about = "Measure whether to read data through mmap or explicit I/O, on this machine",
    long_about = "Runs workload definitions (workloads/*.toml) against I/O backends (buffered \
pread, O_DIRECT, mmap with each madvise advice) and records per-operation latency \
histograms and throughput over time in a result directory.\n\n\
With no command, runs the default workload (workloads/quick.toml, or its built-in copy).",
    after_help = "Examples:\n  faultline                                  run the default demo\n  \
faultline run workloads/random-read.toml --threads 2 --duration 5s\n  \
faultline run workloads/quick.toml --backend pread --backend mmap:advice=random\n  \
faultline run --plot                       the default demo, with charts\n  \
faultline plot results/quick/2026-11-21T214602Z-vm\n  \
faultline list                             backends, options and workloads\n  \
faultline claim logscan --size 256MiB       test a claim (logscan, flush, atomics)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a workload against its backends and write a result directory.
    Run(Box<RunArgs>),
    /// Draw charts (SVG/PNG) from one or more result directories.
    Plot(PlotArgs),
    /// List the backends with their options, the access patterns, and the workloads.
    List(ListArgs),
    /// Markdown report of finished runs: one table per workload, repeats pooled.
    Report(ReportArgs),
    /// Compare new runs with baseline runs; exit 1 on a regression past the threshold.
    Compare(CompareArgs),
    /// Show the environment record and, for each probe, whether it works here and why not.
    Env(EnvArgs),
    /// Test one popular claim about mmap (logscan, flush, atomics): a table and a result
    /// directory under results/claims/<name>/.
    Claim(ClaimArgs),
    /// Measure the primitives the mmap argument is made of (clocks, faults, copies,
    /// shootdowns, eviction) on this machine: a table, or calibrate.json.
    Calibrate(CalibrateArgs),
    /// Untimed reference loops (mmap-random: the paper's method; mmap-block: the
    /// in-memory floor) that show what the harness's own loop costs.
    #[command(hide = true)]
    Reference(reference::ReferenceArgs),
}

/// Run the subcommand the user chose (the default workload when none). Returns the
/// process exit code.
pub fn dispatch(cli: &Cli) -> Result<i32> {
    match &cli.command {
        None => run::run(&RunArgs::default()),
        Some(Command::Run(args)) => run::run(args),
        Some(Command::Plot(args)) => plot::run(args),
        Some(Command::List(args)) => list::run(args),
        Some(Command::Env(args)) => env::run(args),
        Some(Command::Report(args)) => report::run(args),
        Some(Command::Compare(args)) => compare::run(args),
        Some(Command::Claim(args)) => claim::run(args),
        Some(Command::Calibrate(args)) => calibrate::run(args),
        Some(Command::Reference(args)) => reference::run(args),
    }
}

pub(crate) fn refuse_existing(p: &Path) -> Result<()> {
    if p.exists() {
        bail!(
            "{}: already exists; faultline does not overwrite files, remove it or choose another path",
            p.display()
        );
    }
    Ok(())
}

/// Create `p` (which must not exist) and write `bytes` into it.
pub(crate) fn write_new(p: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(p)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                anyhow::anyhow!(
                    "{}: already exists; faultline does not overwrite files, remove it or choose another path",
                    p.display()
                )
            } else {
                anyhow::anyhow!("cannot create {}: {e}", p.display())
            }
        })?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", p.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_overwrites() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.md");
        write_new(&p, b"1").unwrap();
        let e = write_new(&p, b"2").unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), b"1");
    }
}
