//! Claim: "A flush policy (every N bytes, every N writes, every N ms, always, manual)
//! trades durability for write throughput on a mapped file."
//!
//! Records (sequence number, run tag, payload, checksum) are appended to a file the
//! harness creates, as a ring that wraps at the end of the file, for a fixed time per
//! variant: through a shared writable mapping flushed with msync(MS_SYNC) (memmap2's
//! `flush_range`), or with pwrite(2) and fdatasync(2), under each flush policy. The
//! bookkeeping (`Book`) tracks how much written data is not yet flushed at any time
//! (bytes at risk) and for how long. Before the final flush the harness looks at the
//! pages written since the last flush (pagemap + kpageflags, root) to see whether the
//! kernel has written some back on its own; after it, the whole file is re-read with
//! O_DIRECT and every record's checksum and sequence number checked.

pub mod book;
mod measure;
mod report;
#[cfg(test)]
mod tests;
mod verify;

pub use book::{expected_seq, Book, Records};
pub use report::table;

use super::pageflags::PageStates;
use super::{ClaimRecord, CommonClaimArgs};
use crate::env::Environment;
use crate::record::Latency;
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
    /// Copy into a shared writable mapping; flush = msync(MS_SYNC) of the dirty range.
    Mmap,
    /// pwrite(2) of the record; flush = fdatasync(2).
    Pwrite,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Mmap => "mmap",
            Method::Pwrite => "pwrite",
        }
    }
}

#[derive(Debug, Args)]
#[command(
    about = "Append checksummed records to a file the harness creates, through a mapping \
             (msync) or pwrite (fdatasync), under each flush policy: throughput, latency, \
             bytes at risk, kernel writeback seen before the final flush, O_DIRECT verification",
    after_help = "Policies: always, every-bytes=SIZE, every-writes=N, every-ms=N, manual.\n\
Examples:\n  faultline claim flush                                   every default policy, 5 s each, mmap and pwrite\n  \
faultline claim flush --policy manual --method mmap --duration 10s --observe 40s"
)]
pub struct FlushArgs {
    /// Size of the file the records go to (a ring: writing wraps at the end).
    #[arg(long, short = 's', value_name = "S", default_value = "256MiB", value_parser = units::parse_size)]
    pub size: u64,

    /// Bytes per record (a multiple of 8, at least 32): sequence number, tag, payload, checksum.
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

    /// Keep the written files (named after the variant) instead of removing them.
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

#[derive(Debug, Clone, Default, Serialize)]
pub struct Verify {
    /// "O_DIRECT" (read from the device, past the page cache) or "buffered" (when the
    /// file system refused O_DIRECT: then it shows the page cache, not the disk).
    pub method: String,
    pub note: Option<String>,
    pub slots: u64,
    pub written_slots: u64,
    pub ok_records: u64,
    pub bad_records: u64,
    pub empty_slots_ok: u64,
    pub empty_slots_bad: u64,
    /// The first problems found (at most 10).
    pub problems: Vec<String>,
    pub passed: bool,
}

/// What was already on disk before the final flush, without asking.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Writeback {
    /// Bytes written since the last flush, when the final flush was about to run.
    pub at_risk_bytes: u64,
    /// The pages of the byte range written since the last flush.
    pub span: Option<(u64, u64)>,
    /// Their states at the end of writing (null when unreadable; see reason).
    pub pages: Option<PageStates>,
    pub reason: Option<String>,
    /// Samples while the data stayed unflushed (`--observe`, manual only).
    pub observed: Vec<ObservePoint>,
    /// System-wide /proc/vmstat: nr_dirty and nr_writeback at the end of writing, and
    /// the change of nr_dirtied / nr_written over the variant (every process counts).
    pub vmstat: BTreeMap<String, i64>,
    /// An O_DIRECT read of one dirty page, then its state again (manual only).
    pub odirect_probe: Option<OdirectProbe>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ObservePoint {
    pub t_s: f64,
    pub pages: PageStates,
}

#[derive(Debug, Clone, Serialize)]
pub struct OdirectProbe {
    pub page_offset: u64,
    pub dirty_before: bool,
    pub dirty_after: Option<bool>,
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct VariantResult {
    pub name: String,
    /// Which repeat (from 0) this run of the variant was.
    pub repeat: u32,
    pub method: Method,
    pub policy: Policy,
    pub ok: bool,
    pub error: Option<String>,
    pub records: u64,
    pub bytes: u64,
    /// Times the ring wrapped to the start of the file.
    pub laps: u64,
    pub write_phase_ns: u64,
    /// The flush at the end of the variant (everything not yet flushed); 0 when the
    /// policy's last flush had covered everything (`final_flush_needed` false).
    pub final_flush_ns: u64,
    pub final_flush_needed: bool,
    /// Over the writing phase plus the final flush.
    pub records_per_sec: f64,
    pub mib_per_sec: f64,
    /// Over the writing phase only.
    pub records_per_sec_writing: f64,
    /// Flushes the policy made while writing (the final flush not included).
    pub policy_flushes: u64,
    /// Latency of each write, including the flush it triggered (ns).
    pub write_latency_ns: Option<Latency>,
    pub write_histogram: Option<String>,
    /// Latency of the flushes alone (ns).
    pub flush_latency_ns: Option<Latency>,
    pub flush_histogram: Option<String>,
    pub max_at_risk_bytes: u64,
    pub max_unflushed_age_ns: u64,
    pub writeback: Writeback,
    pub verify: Verify,
    pub file: Option<PathBuf>,
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
            "not enough space in {}: a variant's file needs {} and {} is free; use --data-dir elsewhere or a smaller --size",
            dir.display(),
            units::format_size(a.size),
            units::format_size(free)
        );
    }
    let started_at = super::now();
    let out = super::reserve_dir(a.common.out.as_deref(), "flush", &started_at)?;
    let env = Environment::collect(&dir);
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
        keep: a.keep,
        vm_dirty: measure::vm_dirty_settings(),
        page_states_unavailable: readable.clone().err(),
    };
    if !a.common.quiet {
        eprintln!("{}", report::opening_line(a, &dir, &env, &readable));
    }
    let mut rec = ClaimRecord::new("flush", STATEMENT, env, params, started_at);
    let rounds = (0..repeats).map(|r| ((), r));
    let (runs, interrupted) = super::sweep(rounds, &cells, |_, cell, repeat, order| {
        let r = measure::variant(a, &dir, cell, repeat, order);
        if !a.common.quiet {
            eprintln!("  {}", report::variant_line(&r));
        }
        Some(r)
    });
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
            r.verify.problems.join("; ")
        )),
        None => None,
    }
}

/// Check the arguments; returns the repeats, the policies and the methods.
fn validate(a: &FlushArgs) -> Result<(u32, Vec<Policy>, Vec<Method>)> {
    if a.record < 32 || !a.record.is_multiple_of(8) {
        bail!(
            "--record {}: a record needs at least 32 bytes and a multiple of 8 (sequence number, tag, payload, checksum), e.g. 4KiB",
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
