//! The `report` and `compare` subcommands: read the runs named on the command line,
//! call the pure functions of this module, write or print what they return.

use super::compare as cmp;
use super::metric::Metric;
use super::{export, load, markdown};
use crate::cli::{CompareArgs, ExportFormat, ReportArgs};
use crate::record::RunRecord;
use anyhow::{bail, Context, Result};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// `faultline report`. Returns the process exit code.
pub fn report(args: &ReportArgs) -> Result<i32> {
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
    let text = markdown::report_markdown(&records, args.reference.as_deref());
    match &args.out {
        Some(p) => {
            write_new(p, text.as_bytes())?;
            eprintln!("report: {}", p.display());
        }
        None => print!("{text}"),
    }
    Ok(0)
}

/// `faultline compare`. Exit code 1 when a regression passed the threshold.
pub fn compare(args: &CompareArgs) -> Result<i32> {
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

fn refuse_existing(p: &Path) -> Result<()> {
    if p.exists() {
        bail!(
            "{}: already exists; faultline does not overwrite files, remove it or choose another path",
            p.display()
        );
    }
    Ok(())
}

/// Create `p` (which must not exist) and write `bytes` into it.
fn write_new(p: &Path, bytes: &[u8]) -> Result<()> {
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
    fn github_export_names_two_files() {
        let (b, s) = github_paths(Path::new("out/bench.json"));
        assert_eq!(b, Path::new("out/bench.bigger.json"));
        assert_eq!(s, Path::new("out/bench.smaller.json"));
        let (b, _) = github_paths(Path::new("bench"));
        assert_eq!(b, Path::new("bench.bigger.json"));
    }

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
