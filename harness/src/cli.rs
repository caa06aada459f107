//! Command-line interface (clap derive). `faultline` alone runs the default workload.

use crate::plot::Format;
use crate::report::metric::Metric;
use crate::spec;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

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
    Claim(crate::claim::ClaimArgs),
}

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

#[derive(Debug, Args)]
#[command(
    after_help = "Charts: throughput, faults-shootdowns, amplification, latency-percentiles, \
latency-cdf, ops-bars (.svg and/or .png). Existing files are never replaced.\n\n\
Examples:\n  faultline plot results/quick/2026-11-21T214602Z-vm\n  \
faultline plot results/quick/A results/quick/B --out charts/a-vs-b --format png"
)]
pub struct PlotArgs {
    /// Result directories written by `faultline run` (or their run.json files). Several
    /// are drawn on the same charts, each series named "<backend> @ <host>/<dir>".
    #[arg(required = true, value_name = "RESULT_DIR")]
    pub dirs: Vec<PathBuf>,

    /// Directory for the charts (created if missing). Default: the result directory when
    /// one is given; required with several.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Image format: svg, png or both.
    #[arg(long, value_name = "svg|png|both", default_value = "both", value_parser = parse_format)]
    pub format: Format,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  faultline report results/quick/2026-11-21T214602Z-vm\n  \
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

    /// Write the report to FILE (which must not exist) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 no regression, 1 a regression past the threshold (or bad input).\n\n\
Examples:\n  faultline compare results/quick/OLD results/quick/NEW\n  \
faultline compare base/ new/ --threshold 10 --export github --export-out bench.json"
)]
pub struct CompareArgs {
    /// Baseline: a result directory, its run.json, or a directory of result directories
    /// (all pooled, e.g. the rounds of scripts/ci-bench.sh).
    pub baseline: PathBuf,

    /// New runs, in the same forms as BASELINE.
    pub new: PathBuf,

    /// A change of more than PCT percent in the bad direction is a regression.
    #[arg(long, value_name = "PCT", default_value = "5", value_parser = parse_percent)]
    pub threshold: f64,

    /// Metrics to check, comma-separated (default all): ops_per_sec, bytes_per_sec, p50,
    /// p99, p999. Sub-microsecond tail latencies are noisy on shared machines.
    #[arg(long, value_name = "LIST", value_parser = parse_metrics)]
    pub metrics: Option<MetricList>,

    /// Also export the new runs for a benchmark-tracking service.
    #[arg(long, value_enum, value_name = "FORMAT", requires = "export_out")]
    pub export: Option<ExportFormat>,

    /// Where the export goes (must not exist). `github` writes two files beside it:
    /// STEM.bigger.json (customBiggerIsBetter) and STEM.smaller.json (customSmallerIsBetter).
    #[arg(long, value_name = "FILE", requires = "export")]
    pub export_out: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct MetricList(pub Vec<Metric>);

fn parse_metrics(s: &str) -> Result<MetricList, String> {
    s.split(',')
        .map(Metric::parse)
        .collect::<Result<Vec<_>, _>>()
        .map(MetricList)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// github-action-benchmark, tools customBiggerIsBetter and customSmallerIsBetter.
    Github,
    /// Bencher Metric Format (BMF) JSON.
    Bencher,
}

#[derive(Debug, Args, Default)]
pub struct ListArgs {
    /// Directory of workload files to describe.
    #[arg(long, default_value = "workloads")]
    pub workloads: PathBuf,
}

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
    /// Print one JSON object (result directory, per-backend status, throughput and
    /// latency) on stdout instead of the table. Progress still goes to stderr.
    #[arg(long)]
    pub json: bool,
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::parse(s)
}
fn parse_percent(s: &str) -> Result<f64, String> {
    let t = s.trim().trim_end_matches('%');
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "`{s}` is not a percentage; use a number of percent such as 5 or 2.5"
        )),
    }
}

impl RunArgs {
    /// The values given on the command line, to apply over the workload's own.
    pub fn overrides(&self) -> spec::Settings {
        self.settings.clone()
    }
}
