//! `faultline list`: the backends with their options, the access patterns, the workloads.

use crate::spec::{self, Workload};
use anyhow::{bail, Result};
use clap::Args;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Args, Default)]
pub struct ListArgs {
    /// Directory of workload files to describe.
    #[arg(long, default_value = "workloads")]
    pub workloads: PathBuf,
}

/// `faultline list`.
pub fn run(args: &ListArgs) -> Result<i32> {
    let mut out = String::new();
    out.push_str("Backends (spec: kind[:key=value|flag,...]):\n");
    out.push_str(&spec::options::describe_kinds(spec::backend::KINDS));
    out.push_str("\nAccess patterns (workload key `pattern`, or --pattern):\n");
    out.push_str(&spec::options::describe_kinds(spec::pattern::KINDS));
    out.push_str(&format!("\nWorkloads in {}:\n", args.workloads.display()));
    out.push_str(&describe_workloads(&args.workloads)?);
    print!("{out}");
    Ok(0)
}

fn describe_workloads(dir: &Path) -> Result<String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            if e.kind() == std::io::ErrorKind::NotFound {
                return Ok(format!(
                    "  (no {} directory here; `faultline` alone runs the built-in quick workload)\n",
                    dir.display()
                ));
            }
            bail!("cannot read {}: {e}", dir.display());
        }
    };
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut out = String::new();
    for p in files {
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        match Workload::load(&p) {
            Ok(w) => {
                let _ = writeln!(out, "  {:<28} {}", name, w.description);
            }
            Err(e) => {
                let _ = writeln!(out, "  {:<28} (invalid: {e})", name);
            }
        }
    }
    Ok(out)
}
