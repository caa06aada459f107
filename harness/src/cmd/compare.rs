//! `faultline compare`: new runs against baseline runs; exit 1 on a regression past the
//! threshold. Optional exports for benchmark-tracking services.

use super::{refuse_existing, write_new};
use crate::record::RunRecord;
use crate::report::compare as cmp;
use crate::report::metric::Metric;
use crate::report::{export, load};
use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

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

pub(crate) fn parse_percent(s: &str) -> Result<f64, String> {
    let t = s.trim().trim_end_matches('%');
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "`{s}` is not a percentage; use a number of percent such as 5 or 2.5"
        )),
    }
}

/// `faultline compare`. Exit code 1 when a regression passed the threshold.
pub fn run(args: &CompareArgs) -> Result<i32> {
    let side = |p: &Path, which: &str| -> Result<Vec<RunRecord>> {
        Ok(load::load(p)
            .with_context(|| format!("cannot read the {which} runs"))?
            .into_iter()
            .map(|l| l.record)
            .collect())
    };
    let baseline = side(&args.baseline, "baseline")?;
    let new = side(&args.new, "new")?;
    let metrics = match &args.metrics {
        Some(m) => m.0.clone(),
        None => Metric::ALL.to_vec(),
    };
    let c = cmp::compare_metrics(&baseline, &new, args.threshold, &metrics);
    print!("{}", provenance_text(&baseline, &new));
    print!("{}", cmp::comparison_text(&c));
    if let (Some(format), Some(out)) = (args.export, &args.export_out) {
        match format {
            ExportFormat::Github => {
                let g = export::github_json(&new);
                let (bigger, smaller) = github_paths(out);
                for p in [&bigger, &smaller] {
                    refuse_existing(p)?;
                }
                write_new(&bigger, g.bigger_is_better.as_bytes())?;
                write_new(&smaller, g.smaller_is_better.as_bytes())?;
                eprintln!(
                    "export: {} (customBiggerIsBetter), {} (customSmallerIsBetter)",
                    bigger.display(),
                    smaller.display()
                );
            }
            ExportFormat::Bencher => {
                write_new(out, export::bencher_json(&new).as_bytes())?;
                eprintln!("export: {} (Bencher Metric Format)", out.display());
            }
        }
    }
    Ok(if c.has_regressions() { 1 } else { 0 })
}

/// `bench.json` -> (`bench.bigger.json`, `bench.smaller.json`).
pub fn github_paths(out: &Path) -> (PathBuf, PathBuf) {
    let name = out
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bench.json".into());
    let stem = name.strip_suffix(".json").unwrap_or(&name).to_string();
    (
        out.with_file_name(format!("{stem}.bigger.json")),
        out.with_file_name(format!("{stem}.smaller.json")),
    )
}

/// Where each side's runs were made: the machine and build lines of each side (each
/// distinct line once), and a note when the two sides differ, since a change of
/// machine, kernel, hypervisor or build moves numbers as much as a change of code.
fn provenance_text(baseline: &[RunRecord], new: &[RunRecord]) -> String {
    use crate::report::markdown::{build, machine_line};
    let lines = |runs: &[RunRecord]| -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for r in runs {
            let b = build(&r.environment);
            let b = b.trim_start_matches(", ");
            let l = format!(
                "{}{}",
                machine_line(r),
                if b.is_empty() {
                    String::new()
                } else {
                    format!("; {b}")
                }
            );
            if !v.contains(&l) {
                v.push(l);
            }
        }
        v
    };
    let (b, n) = (lines(baseline), lines(new));
    let mut s = String::new();
    for (side, ls) in [("baseline", &b), ("new", &n)] {
        for l in ls.iter() {
            s.push_str(&format!("{side}: {l}\n"));
        }
    }
    let machine = |runs: &[RunRecord]| -> Vec<String> {
        let mut v: Vec<String> = runs
            .iter()
            .map(|r| {
                let e = &r.environment;
                format!(
                    "{:?}",
                    (
                        &e.hostname,
                        &e.cpu_model,
                        e.cpus,
                        &e.kernel,
                        e.hypervisor.as_ref().map(|h| &h.name),
                        e.clocksource.as_ref().map(|c| &c.current),
                    )
                )
            })
            .collect();
        v.sort();
        v.dedup();
        v
    };
    if machine(baseline) != machine(new) {
        s.push_str(
            "note: the two sides ran on different machines (host, CPU, kernel, hypervisor or \
             clocksource differ, see above): a difference may come from the machine, not \
             the code\n",
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_export_names_two_files() {
        let (b, s) = github_paths(Path::new("out/bench.json"));
        assert_eq!(b, Path::new("out/bench.bigger.json"));
        assert_eq!(s, Path::new("out/bench.smaller.json"));
        let (b, _) = github_paths(Path::new("bench"));
        assert_eq!(b, Path::new("bench.bigger.json"));
    }
}

#[cfg(test)]
mod provenance_tests {
    use super::*;

    fn committed() -> RunRecord {
        let p =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/in-memory/2026-12-01T162600Z");
        load::load(&p).expect("committed result").remove(0).record
    }

    #[test]
    fn compare_names_each_sides_machine_and_build_and_flags_a_different_machine() {
        let a = committed();
        let same = provenance_text(std::slice::from_ref(&a), std::slice::from_ref(&a));
        assert!(same.starts_with("baseline: host "), "{same}");
        assert!(same.contains("\nnew: host "), "{same}");
        assert!(same.contains("build "), "{same}");
        assert!(!same.contains("different machines"), "{same}");
        let mut b = a.clone();
        b.environment.kernel = Some("7.0.0".into());
        let diff = provenance_text(&[a], &[b]);
        assert!(diff.contains("different machines"), "{diff}");
    }
}
