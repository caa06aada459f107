//! `faultline plot`: charts from finished result directories.

use crate::plot::{self as charts, Format};
use anyhow::{bail, Result};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
#[command(
    after_help = "Charts: throughput, faults-shootdowns, amplification, latency-percentiles, \
latency-cdf, ops-bars, latency-over-time (p50/p99/p99.9 per interval), latency-heatmap \
(time x latency, colour = operations); for write and mix workloads also ops-by-kind \
(reads, writes and syncs per second) and sync-latency (.svg and/or .png). The \
latency-over-time and heatmap charts need a run with 2 or more intervals. For the \
directory of a `run --sweep` (or its runs): sweep-ops, sweep-p99, sweep-faults and \
sweep-shootdowns, each metric against the swept value, one line per backend \
(--x-scale, --y-scale). Existing files are never replaced.\n\n\
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

    /// Sweep charts: the x axis (the swept value): auto (log when the values span 8x or
    /// more), linear or log.
    #[arg(long, value_name = "auto|linear|log", default_value = "auto", value_parser = charts::AxisScale::parse)]
    pub x_scale: charts::AxisScale,

    /// Sweep charts: the y axis (the metric): auto (log when the lines span 50x or
    /// more), linear or log.
    #[arg(long, value_name = "auto|linear|log", default_value = "auto", value_parser = charts::AxisScale::parse)]
    pub y_scale: charts::AxisScale,
}

/// `faultline plot`. Returns the process exit code.
pub fn run(args: &PlotArgs) -> Result<i32> {
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
    let axes = charts::SweepAxes {
        x: args.x_scale,
        y: args.y_scale,
    };
    let written = charts::plot(&args.dirs, &out, args.format, axes)?;
    for p in &written {
        println!("chart: {}", p.display());
    }
    if written.is_empty() {
        eprintln!("error: no chart could be drawn from these results (the reasons are above)");
        return Ok(1);
    }
    Ok(0)
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::parse(s)
}
