//! Claim: "A flush policy (every N bytes, every N writes, every N ms, always, manual)
//! trades durability for write throughput on a mapped file."
//!
//! Each case runs on the run engine as a write workload: blocks of `--record` bytes
//! appended in order to the harness's generated data file, wrapping at its end (a
//! recycled log segment, `pattern = "append"`), one thread, for `--duration`, through
//! the `mmap` backend (stores into a shared writable mapping, synced with msync) or the
//! `pread` backend (pwrite, synced with fdatasync). The flush policy becomes the
//! engine's sync policy (`Policy::sync`). The engine measures writes and syncs apart,
//! counts what the program's syncs left at risk (`writes.sync_exposure`), holds the
//! writer before its final sync to count the written pages the kernel already wrote
//! back on its own (`writes.written_back_before_sync`, kpageflags, root) and, for
//! `manual` with `--observe D`, keeps it held for D looking again every second; then
//! it reads back every written page from the device and checks it.

mod measure;
mod report;
#[cfg(test)]
mod tests;

pub use report::table;

use super::{ClaimRecord, CommonClaimArgs};
use crate::record::writes::{ObservedPages, WrittenBack};
use crate::record::{BackendResult, Latency};
use crate::spec::{SyncMethod, SyncPolicy};
use crate::{interrupt, sys, units};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub const STATEMENT: &str = "A flush policy (every N bytes, every N writes, every N ms, always, manual) trades durability for write throughput on a mapped file";

/// When to make written data durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Policy {
    /// After every write.
    Always,
    /// When at least this many bytes were written since the last flush.
    EveryBytes { bytes: u64 },
    /// When at least this many writes happened since the last flush.
    EveryWrites { writes: u64 },
    /// At the first write at least this many ms after the last flush completed.
    EveryMs { ms: u64 },
    /// Only once, at the end.
    Manual,
}

pub const POLICY_HELP: &str =
    "always, every-bytes=SIZE (e.g. every-bytes=1MiB), every-writes=N, every-ms=N or manual";

impl Policy {
    pub fn parse(s: &str) -> Result<Policy, String> {
        let s = s.trim();
        let (k, v) = match s.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (s, None),
        };
        let num = |v: Option<&str>| -> Result<u64, String> {
            let v = v.ok_or_else(|| format!("`{s}` needs a value, e.g. {k}=16"))?;
            let n: u64 = v
                .replace('_', "")
                .parse()
                .map_err(|_| format!("`{v}` in `{s}` is not a whole number"))?;
            if n == 0 {
                return Err(format!("`{s}`: use a value of at least 1"));
            }
            Ok(n)
        };
        match (k, v) {
            ("always", None) => Ok(Policy::Always),
            ("manual", None) => Ok(Policy::Manual),
            ("every-bytes", Some(v)) => {
                let b = units::parse_size(v).map_err(|e| e.to_string())?;
                if b == 0 {
                    return Err(format!("`{s}`: use at least 1 byte"));
                }
                Ok(Policy::EveryBytes { bytes: b })
            }
            ("every-writes", v) => Ok(Policy::EveryWrites { writes: num(v)? }),
            ("every-ms", v) => Ok(Policy::EveryMs { ms: num(v)? }),
            ("every-bytes", None) => Err(format!("`{s}` needs a size, e.g. every-bytes=1MiB")),
            ("always" | "manual", Some(_)) => Err(format!("`{k}` takes no value")),
            _ => Err(format!("unknown flush policy `{s}`; use {POLICY_HELP}")),
        }
    }

    /// The engine's sync policy for this flush policy with blocks of `record` bytes:
    /// always = every:1, every-writes=N = every:N, every-bytes=S = every:ceil(S/record),
    /// every-ms=N = interval:N ms, manual = end.
    pub fn sync(&self, record: u64) -> SyncPolicy {
        match *self {
            Policy::Always => SyncPolicy::Every { writes: 1 },
            Policy::EveryWrites { writes } => SyncPolicy::Every { writes },
            Policy::EveryBytes { bytes } => SyncPolicy::Every {
                writes: bytes.div_ceil(record.max(1)).max(1),
            },
            Policy::EveryMs { ms } => SyncPolicy::Interval {
                every: Duration::from_millis(ms),
            },
            Policy::Manual => SyncPolicy::End,
        }
    }

    pub fn name(&self) -> String {
        match self {
            Policy::Always => "always".into(),
            Policy::EveryBytes { bytes } => format!("every-bytes={}", units::format_size(*bytes)),
            Policy::EveryWrites { writes } => format!("every-writes={writes}"),
            Policy::EveryMs { ms } => format!("every-ms={ms}"),
            Policy::Manual => "manual".into(),
        }
    }
}

fn parse_policy(s: &str) -> Result<Policy, String> {
    Policy::parse(s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// The `mmap` backend: a store into a shared writable mapping; flush =
    /// msync(MS_SYNC) of the mapping.
    Mmap,
    /// The `pread` backend: pwrite(2) of the block; flush = fdatasync(2).
    Pwrite,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Mmap => "mmap",
            Method::Pwrite => "pwrite",
        }
    }

    /// The engine's backend spec for this method.
    pub fn backend(self) -> &'static str {
        match self {
            Method::Mmap => "mmap",
            Method::Pwrite => "pread",
        }
    }

    /// The engine's sync method for this method.
    pub fn sync_method(self) -> SyncMethod {
        match self {
            Method::Mmap => SyncMethod::Msync,
            Method::Pwrite => SyncMethod::Fdatasync,
        }
    }
}

#[derive(Debug, Args)]
#[command(
    about = "Append blocks to the harness's data file through a mapping (msync) or pwrite \
             (fdatasync) under each flush policy, on the run engine: throughput, latency, \
             bytes at risk, kernel write-back seen before the final flush, read-back check",
    after_help = "Policies: always, every-bytes=SIZE, every-writes=N, every-ms=N, manual.\n\
Examples:\n  faultline claim flush                                   every default policy, 5 s each, mmap and pwrite\n  \
faultline claim flush --policy manual --method mmap --duration 10s --observe 40s"
)]
pub struct FlushArgs {
    /// Size of the data file the records go to (a ring: writing wraps at the end).
    #[arg(long, short = 's', value_name = "S", default_value = "256MiB", value_parser = units::parse_size)]
    pub size: u64,

    /// Bytes per record (one write), a multiple of 4KiB: every written page carries a
    /// header the read-back checks.
    #[arg(long, value_name = "S", default_value = "4KiB", value_parser = units::parse_size)]
    pub record: u64,

    /// Writing time per variant.
    #[arg(long, short = 'd', value_name = "D", default_value = "5s", value_parser = units::parse_duration)]
    pub duration: Duration,

    /// Flush policies (repeatable or comma-separated). Default: always,
    /// every-bytes=1MiB, every-writes=16, every-ms=100, manual.
    #[arg(long = "policy", value_name = "P", value_delimiter = ',', value_parser = parse_policy)]
    pub policies: Vec<Policy>,

    /// Write methods, comma-separated.
    #[arg(
        long = "method",
        value_name = "mmap,pwrite",
        value_delimiter = ',',
        default_value = "mmap,pwrite"
    )]
    pub methods: Vec<Method>,

    /// For `manual`: after writing, keep the data unflushed this long and sample every
    /// second which written pages the kernel has written back on its own (needs root),
    /// e.g. 40s (longer than vm.dirty_expire_centisecs).
    #[arg(long, value_name = "D", default_value = "0s", value_parser = units::parse_duration)]
    pub observe: Duration,

    /// Keep the data file the claim created (faultline-SIZE-TAG.dat in --data-dir)
    /// instead of removing it.
    #[arg(long)]
    pub keep: bool,

    #[command(flatten)]
    pub common: CommonClaimArgs,
}

pub fn default_policies() -> Vec<Policy> {
    vec![
        Policy::Always,
        Policy::EveryBytes { bytes: 1 << 20 },
        Policy::EveryWrites { writes: 16 },
        Policy::EveryMs { ms: 100 },
        Policy::Manual,
    ]
}

// ---------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------

/// The read-back of every written page (the engine's `writes.verified_pages`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verify {
    /// Pages read back from the device after the cell and compared.
    pub pages: Option<u64>,
    /// Distinct pages written.
    pub written_pages: Option<u64>,
    /// Pages lost, stale or torn.
    pub errors: Option<u64>,
    pub passed: bool,
    /// Why the pages were not read back, when they were not.
    pub reason: Option<String>,
}

/// What was already on disk before the final flush, without asking.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Writeback {
    /// The engine's count at the moment the writer stopped, before its final sync.
    pub pages: Option<WrittenBack>,
    /// With `--observe` (manual): the count once a second while the data stayed
    /// unflushed.
    pub observed: Vec<ObservedPages>,
    /// Why `pages` is null.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VariantResult {
    pub name: String,
    /// Which repeat (from 0) this run of the variant was.
    pub repeat: u32,
    pub method: Method,
    pub policy: Policy,
    /// The engine's backend and sync policy the case ran with.
    pub backend: String,
    pub sync: String,
    pub sync_method: SyncMethod,
    pub ok: bool,
    pub error: Option<String>,
    /// Writes (records) in the measured phase.
    pub records: u64,
    pub bytes: u64,
    /// Times the ring wrapped to the start of the file.
    pub laps: u64,
    /// The measured phase, the final sync of `manual` included (the engine's
    /// elapsed_ns).
    pub elapsed_ns: u64,
    pub records_per_sec: f64,
    pub mib_per_sec: f64,
    /// Syncs the policy made in the measured phase (the final one of `manual` not
    /// included).
    pub policy_flushes: u64,
    /// `manual`: the final sync, after the writer stopped (timed, in elapsed_ns).
    pub final_flush_ns: Option<u64>,
    /// Latency of each write (ns); the flush is timed apart.
    pub write_latency_ns: Option<Latency>,
    pub write_histogram: Option<String>,
    /// Latency of the flushes (ns).
    pub flush_latency_ns: Option<Latency>,
    pub flush_histogram: Option<String>,
    /// The most bytes written and not yet covered by a completed flush at any moment
    /// (capped at the file size, since the ring overwrites).
    pub max_at_risk_bytes: Option<u64>,
    /// The longest time from a write's completion to the completion of the flush that
    /// covered it.
    pub max_unflushed_age_ns: Option<u64>,
    /// Writes after the policy's last flush, left to the harness's own fdatasync
    /// before the read-back (0 for always and manual).
    pub unflushed_at_end: Option<u64>,
    pub writeback: Writeback,
    pub verify: Verify,
    /// The engine's whole result of the case (as in a run.json).
    pub cell: Option<BackendResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Params {
    pub size: u64,
    pub record: u64,
    pub slots: u64,
    pub duration_ns: u64,
    pub repeats: u32,
    pub policies: Vec<String>,
    pub methods: Vec<Method>,
    pub observe_ns: u64,
    pub dir: PathBuf,
    /// The engine's data file the cases wrote.
    pub data_file: PathBuf,
    pub keep: bool,
    /// The kernel's writeback settings (/proc/sys/vm/dirty_*).
    pub vm_dirty: BTreeMap<String, String>,
    /// Why per-page states (dirty, writeback) cannot be read here; null when they can.
    pub page_states_unavailable: Option<String>,
}

/// `faultline claim flush`.
pub fn run(a: &FlushArgs) -> Result<i32> {
    interrupt::install().context("cannot install the Ctrl-C handler")?;
    let (repeats, policies, methods) = validate(a)?;
    let cells: Vec<(Policy, Method)> = policies
        .iter()
        .flat_map(|&p| methods.iter().map(move |&m| (p, m)))
        .collect();
    let dir = a.common.data_dir()?;
    let free = sys::free_space(&dir).unwrap_or(u64::MAX);
    if free < a.size {
        bail!(
            "not enough space in {}: the data file needs {} and {} is free; use --data-dir elsewhere or a smaller --size",
            dir.display(),
            units::format_size(a.size),
            units::format_size(free)
        );
    }
    let workload = measure::workload(a, &dir, &methods)?;
    let started_at = super::now();
    let out = super::reserve_dir(a.common.out.as_deref(), "flush", &started_at)?;
    let mut setup = crate::runner::Setup::prepare(workload, &crate::ui::Quiet)
        .context("cannot set up the data file for the flush cases")?;
    let readable = measure::page_states_readable();
    let params = Params {
        size: a.size,
        record: a.record,
        slots: a.size / a.record,
        duration_ns: measure::ns(a.duration),
        repeats,
        policies: policies.iter().map(|p| p.name()).collect(),
        methods,
        observe_ns: measure::ns(a.observe),
        dir: dir.clone(),
        data_file: setup.target.path.clone(),
        keep: a.keep,
        vm_dirty: measure::vm_dirty_settings(),
        page_states_unavailable: readable.clone().err(),
    };
    if !a.common.quiet {
        eprintln!(
            "{}",
            report::opening_line(a, &setup.target.path, &setup.env, &readable)
        );
    }
    let env = setup.env.clone();
    let mut rec = ClaimRecord::new("flush", STATEMENT, env, params, started_at);
    let rounds = (0..repeats).map(|r| ((), r));
    let (runs, interrupted) = super::sweep(rounds, &cells, |_, cell, repeat, _| {
        let r = measure::variant(a, &mut setup, cell, repeat);
        if !a.common.quiet {
            eprintln!("  {}", report::variant_line(&r));
        }
        Some(r)
    });
    // Ctrl-C during the last case ends that cell early, and the sweep does not see it.
    let interrupted = interrupted || interrupt::requested();
    let target = setup.target.clone();
    drop(setup);
    // Only a data file this claim created is removed.
    if target.created && !a.keep {
        if let Err(e) = std::fs::remove_file(&target.path) {
            eprintln!(
                "faultline claim flush: cannot remove {}: {e}",
                target.path.display()
            );
        }
        let _ = std::fs::remove_file(target.path.with_extension("dat.lock"));
    }
    rec.variants = runs.into_iter().map(|(_, _, r)| r).collect();
    rec.failures = rec.variants.iter().filter_map(failure).collect();
    super::finish(out, rec, interrupted, "variant(s) failed", |rec| {
        let t = report::table(&rec.variants);
        let printed = format!("{}{}", t.to_text(), report::LEGEND);
        let summary = report::summary(rec, &t, &printed);
        (printed, summary)
    })
}

/// Why a variant counts as failed: an error, or a failed verification.
fn failure(r: &VariantResult) -> Option<String> {
    match &r.error {
        Some(e) => Some(format!("{}: {e}", r.name)),
        None if !r.verify.passed => Some(format!(
            "{}: verification failed: {}",
            r.name,
            r.verify.reason.clone().unwrap_or_else(|| format!(
                "{} of {} pages read back wrong",
                r.verify.errors.unwrap_or(0),
                r.verify.pages.unwrap_or(0)
            ))
        )),
        None => None,
    }
}

/// Check the arguments; returns the repeats, the policies and the methods.
fn validate(a: &FlushArgs) -> Result<(u32, Vec<Policy>, Vec<Method>)> {
    if a.record == 0 || !a.record.is_multiple_of(4096) {
        bail!(
            "--record {}: use a multiple of 4KiB (every written page carries a header the read-back checks), e.g. 4KiB",
            a.record
        );
    }
    if a.size < 4096 || !a.size.is_multiple_of(4096) {
        bail!(
            "--size {}: use a multiple of 4KiB, e.g. 256MiB",
            units::format_size(a.size)
        );
    }
    if a.record > a.size {
        bail!(
            "--record {} is larger than --size {}; use a smaller record or a larger file",
            units::format_size(a.record),
            units::format_size(a.size)
        );
    }
    if a.record > 64 << 20 {
        bail!(
            "--record {}: use at most 64MiB",
            units::format_size(a.record)
        );
    }
    if a.duration.is_zero() {
        bail!("--duration 0s: give a writing time per variant, e.g. 5s");
    }
    let repeats = a.common.repeats_or(1)?;
    let policies = if a.policies.is_empty() {
        default_policies()
    } else {
        a.policies.clone()
    };
    let mut methods = a.methods.clone();
    super::dedup_keep_order(&mut methods);
    if methods.is_empty() {
        bail!("--method is empty: give mmap, pwrite or mmap,pwrite");
    }
    Ok((repeats, policies, methods))
}
