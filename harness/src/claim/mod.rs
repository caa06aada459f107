//! `faultline claim <name>`: one experiment per popular claim about mmap, each printing
//! a table and writing `results/claims/<name>/<UTC time>-<host>/` with `claim.json`
//! (command, environment, parameters, per-variant measurements) and `summary.md`.
//!
//! One file per claim (`logscan`, `flush`, `atomics`); the helpers they share (result
//! record and directory, child processes, small statistics, tables) live here.

pub mod atomics;
pub mod flush;
pub mod loggen;
pub mod logscan;
pub mod pageflags;

use crate::env::Environment;
use crate::record::{self, output::ResultDir};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Version of the claim.json layout. Bump on incompatible changes.
pub const SCHEMA: u32 = 1;

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
}

/// Write claim.json and summary.md (plus `extra` files) and rename the directory into
/// place. Returns the final path.
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
    dir.commit()
}

/// A short description of the machine for summaries, from the environment record.
/// The directory a claim creates its files in: `dir` or faultline-data/, created if
/// missing. `flag` names the option in the error.
pub fn work_dir(dir: &Option<PathBuf>, flag: &str) -> Result<PathBuf> {
    let dir = dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(crate::spec::DEFAULT_DATA_DIR));
    std::fs::create_dir_all(&dir).with_context(|| {
        format!(
            "cannot create the directory {}; choose another with {flag}",
            dir.display()
        )
    })?;
    Ok(dir)
}

/// A markdown table with header `head` and the given rows.
pub fn md_table(head: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut s = format!("| {} |\n", head.join(" | "));
    s.push_str(&format!("|{}\n", " --- |".repeat(head.len())));
    for r in rows {
        s.push_str(&format!("| {} |\n", r.join(" | ")));
    }
    s
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

/// The path of this executable, to re-run it as a measured child process.
pub fn self_exe() -> Result<PathBuf> {
    std::env::current_exe().context("cannot find this program's own path to start child processes")
}

/// A finished child process: what it printed, how it ended, its own resource usage.
#[derive(Debug)]
pub struct ChildRun {
    pub status: std::process::ExitStatus,
    pub usage: crate::sys::process::ChildUsage,
    pub stdout: String,
    pub stderr: String,
}

impl ChildRun {
    /// Why the child failed, or None when it exited with status 0.
    pub fn failure(&self) -> Option<String> {
        use std::os::unix::process::ExitStatusExt;
        if self.status.success() {
            return None;
        }
        let how = match (self.status.code(), self.status.signal()) {
            (Some(c), _) => format!("exited with status {c}"),
            (None, Some(sig)) => format!("was killed by signal {sig}"),
            _ => "failed".to_string(),
        };
        let err = self.stderr.trim();
        Some(if err.is_empty() {
            format!("the child process {how}")
        } else {
            format!("the child process {how}: {err}")
        })
    }

    /// The last line of stdout parsed as JSON.
    pub fn report<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        let line = self.stdout.lines().rev().find(|l| !l.trim().is_empty());
        let line = line.ok_or_else(|| anyhow::anyhow!("the child process printed no report"))?;
        serde_json::from_str(line)
            .with_context(|| format!("the child process printed an unreadable report: {line}"))
    }
}

/// Start `cmd` with stdout and stderr piped (stdin closed).
pub fn spawn_child(mut cmd: std::process::Command) -> Result<std::process::Child> {
    use std::process::Stdio;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn()
        .with_context(|| format!("cannot start the child process {:?}", cmd.get_program()))
}

/// Read everything a child prints, then reap it with its own resource usage.
pub fn collect_child(mut child: std::process::Child) -> Result<ChildRun> {
    use std::io::Read;
    let err = child.stderr.take();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut e) = err {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let mut stdout = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut stdout);
    }
    let (status, usage) =
        crate::sys::process::wait_with_usage(&child).context("cannot wait for a child process")?;
    let stderr = err_reader.join().unwrap_or_default();
    Ok(ChildRun {
        status,
        usage,
        stdout,
        stderr,
    })
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

/// Median of a non-empty sample (mean of the middle two for an even count); None when
/// empty.
pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    })
}

pub fn min(v: &[f64]) -> Option<f64> {
    v.iter().copied().min_by(|a, b| a.total_cmp(b))
}

/// A plain text table: the first `left` columns are left-aligned, the rest
/// right-aligned; two spaces between columns; a dashed line under the header.
pub fn table(head: &[&str], rows: &[Vec<String>], left: usize) -> String {
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, c) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let fmt_row = |cells: &[String], out: &mut String| {
        let mut line = String::new();
        for (i, w) in widths.iter().enumerate() {
            let c = cells.get(i).map(String::as_str).unwrap_or("");
            let pad = w.saturating_sub(c.chars().count());
            if i < left {
                line.push_str(c);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str(&" ".repeat(pad));
                line.push_str(c);
            }
            line.push_str("  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    let mut out = String::new();
    fmt_row(
        &head.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        &mut out,
    );
    fmt_row(
        &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
        &mut out,
    );
    for row in rows {
        fmt_row(row, &mut out);
    }
    out
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
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(min(&[4.0, 1.0, 2.0]), Some(1.0));
    }

    #[test]
    fn table_aligns() {
        let t = table(
            &["name", "value"],
            &[
                vec!["a".into(), "1".into()],
                vec!["long name".into(), "12345".into()],
            ],
            1,
        );
        assert_eq!(
            t,
            "name       value\n---------  -----\na              1\nlong name  12345\n"
        );
    }

    #[test]
    fn self_status_has_rss() {
        let s = self_status_bytes();
        assert!(s.get("VmRSS").copied().unwrap_or(0) > 0, "{s:?}");
    }
}
