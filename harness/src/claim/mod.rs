//! `faultline claim <name>`: one experiment per popular claim about mmap, each printing
//! a table and writing `results/claims/<name>/<UTC time>-<host>/` with `claim.json`
//! (command, environment, parameters, per-variant measurements) and `summary.md`.
//!
//! One directory per claim (`logscan`, `flush`, `atomics`), each split into its
//! arguments and run (`mod.rs`), its measurement and its report (table, summary.md).
//! What they share lives here: the common options (`CommonClaimArgs`), the sweep over
//! the variants rotated per repeat (`sweep`, on `plan::rotated`), the result record and
//! directory, small statistics, and child processes (`child`). Tables are printed by
//! `crate::table`, generated files written by `datafile::fill`.

pub mod atomics;
pub mod child;
pub mod flush;
pub mod loggen;
pub mod logscan;
/// The page-state reader lives with the probes (the write cells use it too).
pub use crate::probe::pageflags;

pub use child::{collect_child, self_exe, spawn_child, ChildRun};

use crate::env::Environment;
use crate::record::{self, output::ResultDir};
use crate::table::Table;
use anyhow::Result;
use clap::{Args, Subcommand};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Version of the claim.json layout. Bump on incompatible changes.
pub const SCHEMA: u32 = 1;

/// The options every claim has: where the result and the scratch files go, how often
/// each variant runs, and how much it prints.
#[derive(Debug, Clone, Default, Args)]
pub struct CommonClaimArgs {
    /// Result directory (must not exist). Default: results/claims/<claim>/<UTC time>-<host>/.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// No per-run lines; the table and the result path still print.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Runs per variant; the order of the variants rotates each repeat. Default: 3
    /// (flush: 1).
    #[arg(long, value_name = "N")]
    pub repeats: Option<u32>,

    /// Directory for the files the claim creates: the generated log (kept and reused),
    /// or the files flush and atomics write and remove (default faultline-data/).
    #[arg(long, value_name = "DIR", alias = "dir")]
    pub data_dir: Option<PathBuf>,
}

impl CommonClaimArgs {
    /// `--repeats`, or the claim's default; 0 is refused.
    pub fn repeats_or(&self, default: u32) -> Result<u32> {
        match self.repeats.unwrap_or(default) {
            0 => anyhow::bail!("--repeats 0: use at least 1"),
            n => Ok(n),
        }
    }

    /// The data directory, created if missing.
    pub fn data_dir(&self) -> Result<PathBuf> {
        work_dir(&self.data_dir)
    }
}

#[derive(Debug, Args)]
pub struct ClaimArgs {
    #[command(subcommand)]
    pub claim: ClaimCommand,
}

#[derive(Debug, Subcommand)]
pub enum ClaimCommand {
    /// "Reading a 5 GB log with BufReader takes ~23 s and 450 MB; with mmap ~3.1 s and
    /// 110 MB: over 7x": count the lines containing ERROR in a generated log, four ways.
    Logscan(logscan::LogscanArgs),
    /// "A flush policy (every N bytes, every N writes, every N ms, always, manual) trades
    /// durability for write throughput on a mapped file": msync vs pwrite+fdatasync.
    Flush(flush::FlushArgs),
    /// "Atomics in a shared mapped file work across processes": N processes vs N threads
    /// incrementing counters in a file mapping (and on the heap); counts must be exact.
    Atomics(atomics::AtomicsArgs),
}

/// `faultline claim ...`. Returns the process exit code.
pub fn run(args: &ClaimArgs) -> Result<i32> {
    match &args.claim {
        ClaimCommand::Logscan(a) => logscan::run(a),
        ClaimCommand::Flush(a) => flush::run(a),
        ClaimCommand::Atomics(a) => atomics::run(a),
    }
}

/// The claim.json of one claim run. `P` holds the claim's parameters, `V` one variant's
/// measurements; `observations` anything else the claim measured (null when nothing).
#[derive(Debug, Serialize)]
pub struct ClaimRecord<P: Serialize, V: Serialize> {
    pub schema: u32,
    /// "faultline X.Y.Z".
    pub tool: String,
    /// The claim's short name (logscan, flush, atomics).
    pub claim: String,
    /// The claim as its source states it.
    pub statement: String,
    /// The command line that produced the result.
    pub command: Vec<String>,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
    /// False when interrupted: the variants listed are what was measured.
    pub complete: bool,
    pub environment: Environment,
    pub parameters: P,
    pub variants: Vec<V>,
    pub observations: serde_json::Value,
    /// Why the run counts as failed (wrong counts, failed verification, errors); empty
    /// when every check passed.
    pub failures: Vec<String>,
}

impl<P: Serialize, V: Serialize> ClaimRecord<P, V> {
    pub fn new(
        claim: &str,
        statement: &str,
        environment: Environment,
        parameters: P,
        started_at: String,
    ) -> Self {
        ClaimRecord {
            schema: SCHEMA,
            tool: format!("faultline {}", env!("CARGO_PKG_VERSION")),
            claim: claim.to_string(),
            statement: statement.to_string(),
            command: std::env::args().collect(),
            started_at,
            finished_at: String::new(),
            complete: false,
            environment,
            parameters,
            variants: Vec::new(),
            observations: serde_json::Value::Null,
            failures: Vec::new(),
        }
    }

    pub fn to_json(&self) -> Result<String> {
        let mut s = serde_json::to_string_pretty(self)?;
        s.push('\n');
        Ok(s)
    }
}

/// The host name used in result directory names.
pub fn host() -> String {
    crate::sys::uname()
        .map(|u| u.nodename)
        .unwrap_or_else(|_| "host".into())
}

/// Reserve the result directory of a claim run: `--out DIR`, or
/// `results/claims/<claim>/<UTC time>-<host>/`. Reserved before anything is measured
/// so that an unwritable destination fails first.
pub fn reserve_dir(out: Option<&Path>, claim: &str, started_at: &str) -> Result<ResultDir> {
    ResultDir::reserve_under(
        out,
        &Path::new("results").join("claims"),
        claim,
        started_at,
        &host(),
    )
    .map_err(Into::into)
}

/// Close the record (complete unless interrupted, finish time), render its printed
/// table and summary.md with `render`, then `conclude`.
pub fn finish<P: Serialize, V: Serialize>(
    dir: ResultDir,
    mut rec: ClaimRecord<P, V>,
    interrupted: bool,
    what: &str,
    render: impl FnOnce(&ClaimRecord<P, V>) -> (String, String),
) -> Result<i32> {
    rec.complete = !interrupted;
    rec.finished_at = now();
    let (table, summary) = render(&rec);
    conclude(dir, &rec, &table, &summary, interrupted, what)
}

/// Write the result, print the table and failures, and return the exit code: 130 when
/// interrupted, 1 when a check failed (`what` names the failed unit, e.g. "run(s)").
pub fn conclude<P: Serialize, V: Serialize>(
    dir: ResultDir,
    rec: &ClaimRecord<P, V>,
    table: &str,
    summary: &str,
    interrupted: bool,
    what: &str,
) -> Result<i32> {
    let path = write_result(dir, rec, summary, &[])?;
    println!("{table}");
    for f in &rec.failures {
        eprintln!("FAILED: {f}");
    }
    println!("result: {}", path.display());
    if interrupted {
        eprintln!("interrupted: the result holds what was measured and is marked incomplete");
        return Ok(130);
    }
    if !rec.failures.is_empty() {
        eprintln!("error: {} {what}; see claim.json", rec.failures.len());
        return Ok(1);
    }
    Ok(0)
}

/// Write claim.json and summary.md (plus `extra` files) and rename the directory into
/// place. Returns the final path.
pub fn write_result<P: Serialize, V: Serialize>(
    dir: ResultDir,
    rec: &ClaimRecord<P, V>,
    summary: &str,
    extra: &[(String, Vec<u8>)],
) -> Result<PathBuf> {
    dir.write_file("claim.json", rec.to_json()?.as_bytes())?;
    dir.write_file("summary.md", summary.as_bytes())?;
    for (name, bytes) in extra {
        dir.write_file(name, bytes)?;
    }
    Ok(dir.commit()?)
}

/// The directory a claim creates its files in: `dir` or faultline-data/, created if
/// missing.
pub fn work_dir(dir: &Option<PathBuf>) -> Result<PathBuf> {
    let dir = dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(crate::spec::DEFAULT_DATA_DIR));
    crate::datafile::create_data_dir(&dir)?;
    Ok(dir)
}

/// The opening of every claim's summary.md: title, the claim, command, machine, times.
pub fn summary_header<P: Serialize, V: Serialize>(name: &str, rec: &ClaimRecord<P, V>) -> String {
    format!(
        "# Claim: {name}\n\n> {}\n\nCommand: `{}`  \nMachine: {}  \nStarted {}, finished {}{}.  \nThe machine may have been shared with other work; the harness does not isolate it.\n\n",
        rec.statement,
        rec.command.join(" "),
        machine_line(&rec.environment),
        rec.started_at,
        rec.finished_at,
        if rec.complete { "" } else { " (INTERRUPTED: incomplete)" }
    )
}

/// The opening of a summary.md up to its findings: the header, a paragraph on what
/// was measured and how, the table (markdown, then as printed) and the failures.
pub fn summary_opening<P: Serialize, V: Serialize>(
    name: &str,
    rec: &ClaimRecord<P, V>,
    how: &str,
    table: &Table,
    printed: &str,
) -> String {
    let mut s = summary_header(name, rec);
    s.push_str(&format!(
        "{how}\n\n{}\n```\n{printed}```\n\n",
        table.to_markdown()
    ));
    if !rec.failures.is_empty() {
        s.push_str("**Failures:**\n\n");
        for f in &rec.failures {
            s.push_str(&format!("* {f}\n"));
        }
        s.push('\n');
    }
    s
}

/// A short description of the machine for summaries, from the environment record.
pub fn machine_line(e: &Environment) -> String {
    format!(
        "{} CPUs ({}), {} RAM, kernel {}, {} on {}",
        e.cpus,
        e.cpu_model.as_deref().unwrap_or("unknown CPU"),
        e.memory_bytes
            .map(crate::units::format_size)
            .unwrap_or_else(|| "unknown".into()),
        e.kernel.as_deref().unwrap_or("?"),
        e.fs_type.as_deref().unwrap_or("unknown file system"),
        e.device.as_deref().unwrap_or("no block device"),
    )
}

/// Run every cell of a claim: for each `(group, repeat)` in `rounds`, the variants
/// rotated by the repeat (`plan::rotated`). `measure(group, variant, repeat, order)`
/// returns None when it was interrupted mid-cell (its measurement is dropped). Stops
/// at Ctrl-C; returns the measured cells in run order and whether it was interrupted.
pub fn sweep<G: Copy, V: Copy, M>(
    rounds: impl IntoIterator<Item = (G, u32)>,
    variants: &[V],
    mut measure: impl FnMut(G, V, u32, u32) -> Option<M>,
) -> (Vec<(G, V, M)>, bool) {
    let mut out = Vec::new();
    let mut order = 0u32;
    for (g, repeat) in rounds {
        for &v in crate::plan::rotated(variants, repeat) {
            if crate::interrupt::requested() {
                return (out, true);
            }
            let m = measure(g, v, repeat, order);
            order += 1;
            match m {
                Some(m) => out.push((g, v, m)),
                None => return (out, true),
            }
        }
    }
    (out, false)
}

/// The measurements of one group and variant, in run order.
pub fn runs_of<G: PartialEq, V: PartialEq, M: Clone>(cells: &[(G, V, M)], g: &G, v: &V) -> Vec<M> {
    cells
        .iter()
        .filter(|(cg, cv, _)| cg == g && cv == v)
        .map(|(_, _, m)| m.clone())
        .collect()
}

/// Remove repeated entries, keeping the first of each in place.
pub fn dedup_keep_order<T: PartialEq + Clone>(v: &mut Vec<T>) {
    let mut seen: Vec<T> = Vec::with_capacity(v.len());
    v.retain(|x| {
        if seen.contains(x) {
            false
        } else {
            seen.push(x.clone());
            true
        }
    });
}

pub use crate::stats::median;

pub fn min(v: &[f64]) -> Option<f64> {
    v.iter().copied().min_by(|a, b| a.total_cmp(b))
}

/// `now_rfc3339`, re-exported for the claims.
pub fn now() -> String {
    record::now_rfc3339()
}

/// Read `/proc/self/status` fields in bytes (VmRSS, VmHWM, RssAnon, RssFile, ...).
pub fn self_status_bytes() -> std::collections::BTreeMap<String, u64> {
    std::fs::read_to_string("/proc/self/status")
        .map(|t| crate::probe::parse::parse_kv_kb(&t))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_keeps_the_first() {
        let mut v = vec![3, 1, 3, 2, 1];
        dedup_keep_order(&mut v);
        assert_eq!(v, vec![3, 1, 2]);
    }

    #[test]
    fn sweep_rotates_and_stops_on_none() {
        let (cells, stopped) = sweep([('a', 0), ('b', 1)], &[1, 2, 3], |_, v, _, o| {
            Some(o * 10 + v)
        });
        assert!(!stopped);
        let got: Vec<(char, u32)> = cells.iter().map(|(g, v, _)| (*g, *v)).collect();
        assert_eq!(
            got,
            vec![('a', 1), ('a', 2), ('a', 3), ('b', 2), ('b', 3), ('b', 1)]
        );
        assert_eq!(runs_of(&cells, &'b', &3), vec![43]);
        let (cells, stopped) = sweep([((), 0)], &[1, 2], |_, v, _, _| (v == 1).then_some(v));
        assert!(stopped);
        assert_eq!(cells.len(), 1);
    }

    #[test]
    fn self_status_has_rss() {
        let s = self_status_bytes();
        assert!(s.get("VmRSS").copied().unwrap_or(0) > 0, "{s:?}");
    }
}
