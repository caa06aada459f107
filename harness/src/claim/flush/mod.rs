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

use super::pageflags::{self, PageStates};
use super::ClaimRecord;
use crate::datafile::page::mix;
use crate::env::Environment;
use crate::record::{encode_histogram, latency_of, Latency};
use crate::{interrupt, sys, units};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
                let b = units::parse_size(v)?;
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

    /// Directory for the files the harness creates and removes (default faultline-data/).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Keep the written files (named after the variant) instead of removing them.
    #[arg(long)]
    pub keep: bool,

    /// Result directory (must not exist). Default: results/claims/flush/<UTC time>-<host>/.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// No per-variant lines; the table and the result path still print.
    #[arg(long, short = 'q')]
    pub quiet: bool,
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
// Bookkeeping: when to flush, and what is at risk
// ---------------------------------------------------------------------------------------

/// The policy's state: data written since the last completed flush, and the worst
/// exposure seen. Times are ns since the variant started.
#[derive(Debug, Clone)]
pub struct Book {
    pub policy: Policy,
    /// Bytes of the record area: unflushed data never exceeds it (a ring overwrites).
    cap: u64,
    pub unflushed_bytes: u64,
    pub unflushed_writes: u64,
    last_flush_ns: u64,
    oldest_unflushed_ns: Option<u64>,
    span: Option<(u64, u64)>,
    /// The most bytes ever written and not yet flushed (capped at the record area).
    pub max_at_risk_bytes: u64,
    /// The longest time from a write to the completion of the flush that covered it.
    pub max_unflushed_age_ns: u64,
    /// Completed flushes (the final one included).
    pub flushes: u64,
}

impl Book {
    pub fn new(policy: Policy, cap: u64, now_ns: u64) -> Book {
        Book {
            policy,
            cap,
            unflushed_bytes: 0,
            unflushed_writes: 0,
            last_flush_ns: now_ns,
            oldest_unflushed_ns: None,
            span: None,
            max_at_risk_bytes: 0,
            max_unflushed_age_ns: 0,
            flushes: 0,
        }
    }

    /// A write of `len` bytes at `off` completed at `now_ns`. Returns true when the
    /// policy says to flush now.
    pub fn wrote(&mut self, off: u64, len: u64, now_ns: u64) -> bool {
        self.unflushed_bytes += len;
        self.unflushed_writes += 1;
        self.oldest_unflushed_ns.get_or_insert(now_ns);
        self.span = Some(match self.span {
            None => (off, off + len),
            Some((lo, hi)) => (lo.min(off), hi.max(off + len)),
        });
        self.max_at_risk_bytes = self.max_at_risk_bytes.max(self.at_risk_bytes());
        match self.policy {
            Policy::Always => true,
            Policy::EveryBytes { bytes } => self.unflushed_bytes >= bytes,
            Policy::EveryWrites { writes } => self.unflushed_writes >= writes,
            Policy::EveryMs { ms } => now_ns.saturating_sub(self.last_flush_ns) >= ms * 1_000_000,
            Policy::Manual => false,
        }
    }

    /// A flush that covered everything written so far completed at `now_ns`.
    pub fn flushed(&mut self, now_ns: u64) {
        if let Some(t) = self.oldest_unflushed_ns.take() {
            self.max_unflushed_age_ns = self.max_unflushed_age_ns.max(now_ns.saturating_sub(t));
        }
        self.unflushed_bytes = 0;
        self.unflushed_writes = 0;
        self.span = None;
        self.last_flush_ns = now_ns;
        self.flushes += 1;
    }

    /// Written but not yet flushed, capped at the record area.
    pub fn at_risk_bytes(&self) -> u64 {
        self.unflushed_bytes.min(self.cap)
    }

    /// The byte range written since the last flush.
    pub fn dirty_span(&self) -> Option<(u64, u64)> {
        self.span
    }
}

// ---------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------

/// Checksum of a record's payload words: order-sensitive, cheap.
fn fold(bytes: &[u8]) -> u64 {
    let mut h = 0x6a09_e667_f3bc_c908u64;
    for c in bytes.chunks_exact(8) {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h ^ w).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29);
    }
    h
}

fn header(seq: u64, tag: u64) -> u64 {
    mix(seq ^ tag)
}

fn checksum(seq: u64, hdr: u64, payload_fold: u64) -> u64 {
    mix(payload_fold ^ seq.rotate_left(17) ^ hdr)
}

/// Records: `seq` (u64, from 1), `header(seq, tag)`, a payload, `checksum`. Payloads
/// come from a small pool (a prime number of them, chosen not to divide the number of
/// slots, so the same slot gets a different payload on the next lap) with their folds
/// precomputed, so building a record costs one copy.
pub struct Records {
    pub len: usize,
    tag: u64,
    pool: Vec<Vec<u8>>,
    folds: Vec<u64>,
}

impl Records {
    pub fn new(len: usize, tag: u64, slots: u64) -> Records {
        let n = [61u64, 59, 53, 47]
            .into_iter()
            .find(|p| !slots.is_multiple_of(*p))
            .unwrap_or(61);
        let plen = len - 24;
        let mut pool = Vec::with_capacity(n as usize);
        let mut folds = Vec::with_capacity(n as usize);
        for i in 0..n {
            let mut p = vec![0u8; plen];
            let mut st = mix(tag ^ (i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            for c in p.chunks_exact_mut(8) {
                st = st.wrapping_add(0x9e37_79b9_7f4a_7c15);
                c.copy_from_slice(&mix(st).to_le_bytes());
            }
            folds.push(fold(&p));
            pool.push(p);
        }
        Records {
            len,
            tag,
            pool,
            folds,
        }
    }

    /// Build record `seq` into `buf` (`len` bytes).
    pub fn build(&self, seq: u64, buf: &mut [u8]) {
        let i = (seq % self.pool.len() as u64) as usize;
        let h = header(seq, self.tag);
        let n = self.len;
        buf[..8].copy_from_slice(&seq.to_le_bytes());
        buf[8..16].copy_from_slice(&h.to_le_bytes());
        buf[16..n - 8].copy_from_slice(&self.pool[i]);
        buf[n - 8..n].copy_from_slice(&checksum(seq, h, self.folds[i]).to_le_bytes());
    }

    /// Check one record read back: it must be record `want_seq`, intact.
    pub fn check(&self, rec: &[u8], want_seq: u64) -> Result<(), String> {
        let n = self.len;
        let w = |i: usize| u64::from_le_bytes(rec[i..i + 8].try_into().unwrap_or([0; 8]));
        let seq = w(0);
        if seq != want_seq {
            return Err(if seq == 0 && rec.iter().all(|&b| b == 0) {
                format!("record {want_seq} is missing (zeros)")
            } else {
                format!("holds sequence number {seq} instead of {want_seq}")
            });
        }
        let h = w(8);
        if h != header(seq, self.tag) {
            return Err(format!(
                "record {seq} has a wrong header (not from this run)"
            ));
        }
        if w(n - 8) != checksum(seq, h, fold(&rec[16..n - 8])) {
            return Err(format!("record {seq} fails its checksum"));
        }
        Ok(())
    }
}

/// The sequence number slot `k` holds after `written` records went round a ring of
/// `slots` slots (0: never written).
pub fn expected_seq(k: u64, written: u64, slots: u64) -> u64 {
    if k >= written {
        0
    } else {
        k + 1 + slots * ((written - 1 - k) / slots)
    }
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

// ---------------------------------------------------------------------------------------
// The experiment
// ---------------------------------------------------------------------------------------

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

fn ns(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

fn vm_dirty_settings() -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for k in [
        "dirty_expire_centisecs",
        "dirty_writeback_centisecs",
        "dirty_background_ratio",
        "dirty_background_bytes",
        "dirty_ratio",
        "dirty_bytes",
    ] {
        let v = std::fs::read_to_string(format!("/proc/sys/vm/{k}"))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|e| format!("unreadable: {e}"));
        m.insert(k.to_string(), v);
    }
    m
}

fn vmstat() -> BTreeMap<String, u64> {
    std::fs::read_to_string("/proc/vmstat")
        .map(|t| crate::probe::parse::parse_vmstat(&t))
        .unwrap_or_default()
}

/// Whether page states can be read here: try on a page of our own.
fn page_states_readable() -> Result<(), String> {
    let v = vec![1u8; 4096 * 2];
    let addr = v.as_ptr() as usize;
    let st = pageflags::states(addr, 4096)?;
    std::hint::black_box(&v);
    if st.is_empty() {
        return Err("no page states".into());
    }
    Ok(())
}

/// `faultline claim flush`.
pub fn run(a: &FlushArgs) -> Result<i32> {
    interrupt::install().context("cannot install the Ctrl-C handler")?;
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
    let dir = super::work_dir(&a.dir, "--dir")?;
    let free = sys::free_space(&dir).unwrap_or(u64::MAX);
    if free < a.size {
        bail!(
            "not enough space in {}: a variant's file needs {} and {} is free; use --dir elsewhere or a smaller --size",
            dir.display(),
            units::format_size(a.size),
            units::format_size(free)
        );
    }
    let started_at = super::now();
    let out = super::reserve_dir(a.out.as_deref(), "flush", &started_at)?;
    let env = Environment::collect(&dir);
    let slots = a.size / a.record;
    let readable = page_states_readable();
    let params = Params {
        size: a.size,
        record: a.record,
        slots,
        duration_ns: ns(a.duration),
        policies: policies.iter().map(|p| p.name()).collect(),
        methods: methods.clone(),
        observe_ns: ns(a.observe),
        dir: dir.clone(),
        keep: a.keep,
        vm_dirty: vm_dirty_settings(),
        page_states_unavailable: readable.clone().err(),
    };
    if !a.quiet {
        eprintln!(
            "faultline claim flush: {} records of {} into a {} ring in {} on {} / {}, {} per variant{}",
            units::format_size(a.record),
            units::format_size(a.record),
            units::format_size(a.size),
            dir.display(),
            env.fs_type.as_deref().unwrap_or("?"),
            env.device.as_deref().unwrap_or("no block device"),
            units::format_duration(a.duration),
            match &readable {
                Ok(()) => String::new(),
                Err(e) => format!("\n  kernel writeback cannot be observed: {e}"),
            }
        );
    }
    let mut rec: ClaimRecord<Params, VariantResult> =
        ClaimRecord::new("flush", STATEMENT, env, params, started_at);
    let mut interrupted = false;
    let mut index = 0;
    'all: for p in &policies {
        for &m in &methods {
            if interrupt::requested() {
                interrupted = true;
                break 'all;
            }
            let r = variant(a, &dir, m, *p, slots, index);
            index += 1;
            if !a.quiet {
                eprintln!("  {}", variant_line(&r));
            }
            if let Some(e) = &r.error {
                rec.failures.push(format!("{}: {e}", r.name));
            } else if !r.verify.passed {
                rec.failures.push(format!(
                    "{}: verification failed: {}",
                    r.name,
                    r.verify.problems.join("; ")
                ));
            }
            rec.variants.push(r);
            if interrupt::requested() {
                interrupted = true;
                break 'all;
            }
        }
    }
    rec.complete = !interrupted;
    rec.finished_at = super::now();
    let table = table(&rec.variants);
    let summary = summary(&rec, &table);
    super::conclude(
        out,
        &rec,
        &table,
        &summary,
        interrupted,
        "variant(s) failed",
    )
}

/// Where a variant writes: a mapping or a descriptor.
enum Sink {
    Map(memmap2::MmapMut),
    Fd,
}

fn variant(
    a: &FlushArgs,
    dir: &Path,
    method: Method,
    policy: Policy,
    slots: u64,
    index: usize,
) -> VariantResult {
    let name = format!("{}/{}", method.name(), policy.name());
    let path = dir.join(format!(
        "faultline-flush-{}-{:02}-{}.dat",
        std::process::id(),
        index,
        crate::record::output::sanitize(&name.replace('/', "-"))
    ));
    let mut r = VariantResult {
        name,
        method,
        policy,
        ok: false,
        error: None,
        records: 0,
        bytes: 0,
        laps: 0,
        write_phase_ns: 0,
        final_flush_ns: 0,
        final_flush_needed: false,
        records_per_sec: 0.0,
        mib_per_sec: 0.0,
        records_per_sec_writing: 0.0,
        policy_flushes: 0,
        write_latency_ns: None,
        write_histogram: None,
        flush_latency_ns: None,
        flush_histogram: None,
        max_at_risk_bytes: 0,
        max_unflushed_age_ns: 0,
        writeback: Writeback::default(),
        verify: Verify::default(),
        file: a.keep.then(|| path.clone()),
    };
    let created = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()));
    let file = match created {
        Ok(f) => f,
        Err(e) => {
            r.error = Some(format!("{e:#}"));
            return r;
        }
    };
    if let Err(e) = measure(a, &file, &path, slots, &mut r) {
        r.error = Some(format!("{e:#}"));
    }
    drop(file);
    if !a.keep {
        if let Err(e) = std::fs::remove_file(&path) {
            let msg = format!("cannot remove {}: {e}", path.display());
            r.error = Some(match r.error.take() {
                Some(prev) => format!("{prev}; {msg}"),
                None => msg,
            });
        }
    }
    r.ok = r.error.is_none() && r.verify.passed;
    r
}

fn measure(
    a: &FlushArgs,
    file: &File,
    path: &Path,
    slots: u64,
    r: &mut VariantResult,
) -> Result<()> {
    let rlen = a.record as usize;
    let size = a.size;
    // Allocate the blocks up front (both methods alike), and make the empty file
    // durable, so the measured flushes only write records.
    if sys::fallocate(file, size).is_err() {
        file.set_len(size)
            .with_context(|| format!("cannot size {}", path.display()))?;
    }
    file.sync_all()
        .with_context(|| format!("cannot fsync {}", path.display()))?;
    // A tag unique to this variant's run: records from anything else fail the check.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let tag = mix(std::process::id() as u64 ^ mix(now));
    let records = Records::new(rlen, tag, slots);
    let mut buf = vec![0u8; rlen];
    let mut sink = match r.method {
        Method::Mmap => Sink::Map(
            sys::shared_map::map_shared_mut(file, size as usize)
                .with_context(|| format!("cannot map {}", path.display()))?,
        ),
        Method::Pwrite => Sink::Fd,
    };
    let vm0 = vmstat();
    let mut wh = new_hist();
    let mut fh = new_hist();
    let start = Instant::now();
    let deadline = start + a.duration;
    let mut book = Book::new(r.policy, slots * a.record, 0);
    let mut n: u64 = 0;
    loop {
        if n.is_multiple_of(64) && interrupt::requested() {
            break;
        }
        if Instant::now() >= deadline {
            break;
        }
        let seq = n + 1;
        records.build(seq, &mut buf);
        let off = (n % slots) * a.record;
        let t0 = Instant::now();
        match &mut sink {
            Sink::Map(m) => m[off as usize..off as usize + rlen].copy_from_slice(&buf),
            Sink::Fd => file
                .write_all_at(&buf, off)
                .with_context(|| format!("pwrite to {}", path.display()))?,
        }
        let tw = Instant::now();
        let mut end = tw;
        if book.wrote(off, a.record, ns(tw - start)) {
            flush(&sink, file, &book)?;
            end = Instant::now();
            fh.saturating_record(ns(end - tw).max(1));
            book.flushed(ns(end - start));
        }
        wh.saturating_record(ns(end - t0).max(1));
        n += 1;
    }
    let write_phase = start.elapsed();
    r.policy_flushes = book.flushes;
    r.records = n;
    r.bytes = n * a.record;
    r.laps = n / slots;

    // Before the final flush: which of the pages written since the last flush did the
    // kernel already write back?
    let mut wb = Writeback {
        at_risk_bytes: book.at_risk_bytes(),
        span: book.dirty_span(),
        ..Default::default()
    };
    // For pwrite: a read-only view of the same page cache. Reading a byte per page
    // maps the cached page without changing its dirty state.
    let probe_map = match &sink {
        Sink::Fd => sys::map_readonly(file, size as usize, false).ok(),
        Sink::Map(_) => None,
    };
    let (base, maplen) = match (&sink, &probe_map) {
        (Sink::Map(m), _) => (m.as_ptr() as usize, m.len()),
        (Sink::Fd, Some(m)) => (m.as_ptr() as usize, m.len()),
        (Sink::Fd, None) => (0, 0),
    };
    let touch: Option<&[u8]> = probe_map.as_deref();
    let sample = |span: (u64, u64)| -> Result<PageStates, String> {
        if base == 0 {
            return Err("cannot map the file to look at its pages".into());
        }
        let lo = (span.0 as usize / 4096) * 4096;
        let hi = (span.1 as usize).min(maplen);
        if let Some(t) = touch {
            let mut x = 0u8;
            for p in (lo..hi).step_by(4096) {
                x ^= t[p];
            }
            std::hint::black_box(x);
        }
        pageflags::states(base + lo, hi - lo).map(|s| pageflags::summarize(&s))
    };
    if let Some(span) = wb.span {
        match sample(span) {
            Ok(s) => wb.pages = Some(s),
            Err(e) => wb.reason = Some(e),
        }
    } else {
        wb.reason = Some("nothing was written since the last flush".into());
    }
    let vm1 = vmstat();
    for k in ["nr_dirty", "nr_writeback"] {
        if let Some(v) = vm1.get(k) {
            wb.vmstat.insert(k.to_string(), *v as i64);
        }
    }
    for k in ["nr_dirtied", "nr_written"] {
        if let (Some(a0), Some(a1)) = (vm0.get(k), vm1.get(k)) {
            wb.vmstat
                .insert(format!("{k}_delta"), *a1 as i64 - *a0 as i64);
        }
    }
    if r.policy == Policy::Manual {
        if let Some(span) = wb.span {
            if !a.observe.is_zero() && wb.pages.is_some() {
                let t0 = Instant::now();
                while t0.elapsed() < a.observe && !interrupt::requested() {
                    std::thread::sleep(Duration::from_secs(1).min(a.observe));
                    if let Ok(s) = sample(span) {
                        wb.observed.push(ObservePoint {
                            t_s: t0.elapsed().as_secs_f64(),
                            pages: s,
                        });
                    }
                }
            }
            wb.odirect_probe = odirect_probe(path, base, span, maplen);
        }
    }
    r.writeback = wb;

    // The final flush: everything written becomes durable.
    let mut final_flush = Duration::ZERO;
    if book.unflushed_bytes > 0 {
        let tf = Instant::now();
        flush(&sink, file, &book)?;
        final_flush = tf.elapsed();
        book.flushed(ns(start.elapsed()));
        r.final_flush_needed = true;
    }
    drop(sink);
    drop(probe_map);
    r.write_phase_ns = ns(write_phase);
    r.final_flush_ns = ns(final_flush);
    let total = (write_phase + final_flush).as_secs_f64();
    if total > 0.0 {
        r.records_per_sec = n as f64 / total;
        r.mib_per_sec = r.bytes as f64 / total / 1048576.0;
    }
    if write_phase.as_secs_f64() > 0.0 {
        r.records_per_sec_writing = n as f64 / write_phase.as_secs_f64();
    }
    r.max_at_risk_bytes = book.max_at_risk_bytes;
    r.max_unflushed_age_ns = book.max_unflushed_age_ns;
    if !wh.is_empty() {
        r.write_latency_ns = Some(latency_of(&wh));
        r.write_histogram = Some(encode_histogram(&wh)?);
    }
    if !fh.is_empty() {
        r.flush_latency_ns = Some(latency_of(&fh));
        r.flush_histogram = Some(encode_histogram(&fh)?);
    }
    r.verify = verify(path, &records, slots, n)?;
    Ok(())
}

/// Flush everything written since the last flush.
fn flush(sink: &Sink, file: &File, book: &Book) -> Result<()> {
    match sink {
        Sink::Map(m) => {
            if let Some((lo, hi)) = book.dirty_span() {
                m.flush_range(lo as usize, (hi - lo) as usize)
                    .context("msync(MS_SYNC) failed")?;
            }
        }
        Sink::Fd => file.sync_data().context("fdatasync failed")?,
    }
    Ok(())
}

/// Read one dirty page of the span with O_DIRECT and see whether that read cleaned it
/// (Linux writes back the dirty cached pages of the range before a direct read).
fn odirect_probe(
    path: &Path,
    base: usize,
    span: (u64, u64),
    maplen: usize,
) -> Option<OdirectProbe> {
    if base == 0 {
        return None;
    }
    let lo = (span.0 as usize / 4096) * 4096;
    let hi = (span.1 as usize).min(maplen);
    let states = pageflags::states(base + lo, hi - lo).ok()?;
    let i = states.iter().position(|s| *s == pageflags::State::Dirty)?;
    let off = (lo + i * 4096) as u64;
    let mut p = OdirectProbe {
        page_offset: off,
        dirty_before: true,
        dirty_after: None,
        note: String::new(),
    };
    let f = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    {
        Ok(f) => f,
        Err(e) => {
            p.note = format!("O_DIRECT open failed: {e}");
            return Some(p);
        }
    };
    let mut buf = match sys::AlignedBuf::new(4096, 4096) {
        Ok(b) => b,
        Err(e) => {
            p.note = format!("no aligned buffer: {e}");
            return Some(p);
        }
    };
    if let Err(e) = f.read_exact_at(&mut buf[..4096], off) {
        p.note = format!("O_DIRECT read failed: {e}");
        return Some(p);
    }
    p.dirty_after = pageflags::states(base + off as usize, 4096)
        .ok()
        .and_then(|s| s.first().copied())
        .map(|s| s == pageflags::State::Dirty || s == pageflags::State::Writeback);
    p.note = match p.dirty_after {
        Some(false) => "the O_DIRECT read wrote the dirty page back first: re-reading with O_DIRECT cannot show what is on disk without changing it".into(),
        Some(true) => "the page stayed dirty after the O_DIRECT read".into(),
        None => "the page state after the read could not be read".into(),
    };
    Some(p)
}

/// Re-read the whole file with O_DIRECT (buffered, with a note, where the file system
/// refuses O_DIRECT) and check every slot.
fn verify(path: &Path, records: &Records, slots: u64, written: u64) -> Result<Verify> {
    let mut v = Verify {
        method: "O_DIRECT".into(),
        slots,
        written_slots: written.min(slots),
        ..Default::default()
    };
    let direct = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path);
    let (f, align) = match direct {
        Ok(f) => {
            let a = sys::statx_dio_align(&f)
                .ok()
                .flatten()
                .map(|d| d.mem_align.max(d.offset_align).max(512) as usize)
                .unwrap_or(4096);
            (f, a.max(4096))
        }
        Err(e) => {
            v.method = "buffered".into();
            v.note = Some(format!(
                "O_DIRECT refused here ({e}); verified through the page cache, which does not prove what is on disk"
            ));
            (
                File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
                4096,
            )
        }
    };
    const CHUNK: usize = 1 << 20;
    let mut buf = sys::AlignedBuf::new(CHUNK, align)?;
    let mut pending: Vec<u8> = Vec::with_capacity(CHUNK + records.len);
    let mut off = 0u64;
    let mut slot = 0u64;
    let rlen = records.len;
    fn problem(v: &mut Verify, s: String) {
        if v.problems.len() < 10 {
            v.problems.push(s);
        }
    }
    while slot < slots {
        let got = match f.read_at(&mut buf[..CHUNK], off) {
            Ok(0) => break,
            Ok(g) => g,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {} back", path.display())),
        };
        off += got as u64;
        pending.extend_from_slice(&buf[..got]);
        let mut pos = 0;
        while pending.len() - pos >= rlen && slot < slots {
            let recb = &pending[pos..pos + rlen];
            let want = expected_seq(slot, written, slots);
            if want == 0 {
                if recb.iter().all(|&b| b == 0) {
                    v.empty_slots_ok += 1;
                } else {
                    v.empty_slots_bad += 1;
                    problem(
                        &mut v,
                        format!("slot {slot} was never written but is not zero"),
                    );
                }
            } else {
                match records.check(recb, want) {
                    Ok(()) => v.ok_records += 1,
                    Err(e) => {
                        v.bad_records += 1;
                        problem(&mut v, format!("slot {slot}: {e}"));
                    }
                }
            }
            pos += rlen;
            slot += 1;
        }
        pending.drain(..pos);
    }
    if slot < slots {
        problem(
            &mut v,
            format!("the file ended after {slot} of {slots} slots"),
        );
        v.bad_records += slots - slot;
    }
    v.passed = v.bad_records == 0
        && v.empty_slots_bad == 0
        && v.ok_records == v.written_slots
        && v.problems.is_empty();
    Ok(v)
}

// ---------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------

fn fmt_ns(v: Option<u64>) -> String {
    v.map(|n| units::format_ns(n as f64))
        .unwrap_or_else(|| "-".into())
}

fn kernel_cleaned(w: &Writeback) -> String {
    let latest = w.observed.last().map(|o| &o.pages).or(w.pages.as_ref());
    match (latest, &w.reason) {
        (Some(p), _) => format!("{}/{}", p.clean + p.not_mapped + p.writeback, p.pages),
        (None, Some(_)) if w.span.is_none() => "-".into(),
        _ => "n/a".into(),
    }
}

fn variant_line(r: &VariantResult) -> String {
    match &r.error {
        Some(e) => format!("{:<26} FAILED: {e}", r.name),
        None => format!(
            "{:<26} {:>9} rec/s {:>8.1} MiB/s  p99 {:>8}  flushes {:>6}  max at risk {:>9}  verify {}",
            r.name,
            units::format_count(r.records_per_sec),
            r.mib_per_sec,
            fmt_ns(r.write_latency_ns.as_ref().map(|l| l.p99)),
            r.policy_flushes,
            units::format_size(r.max_at_risk_bytes),
            if r.verify.passed { "ok" } else { "FAILED" }
        ),
    }
}

const HEAD: [&str; 12] = [
    "variant",
    "rec/s",
    "MiB/s",
    "p50",
    "p99",
    "max",
    "flushes",
    "final flush",
    "max at risk",
    "max age",
    "kernel-cleaned",
    "verify",
];

fn rows(vs: &[VariantResult]) -> Vec<Vec<String>> {
    vs.iter()
        .map(|r| {
            let l = r.write_latency_ns.as_ref();
            vec![
                r.name.clone(),
                if r.records > 0 {
                    units::format_count(r.records_per_sec)
                } else {
                    "-".into()
                },
                format!("{:.1}", r.mib_per_sec),
                fmt_ns(l.map(|l| l.p50)),
                fmt_ns(l.map(|l| l.p99)),
                fmt_ns(l.map(|l| l.max)),
                r.policy_flushes.to_string(),
                if r.final_flush_needed {
                    units::format_ns(r.final_flush_ns as f64)
                } else {
                    "-".into()
                },
                units::format_size(r.max_at_risk_bytes),
                units::format_ns(r.max_unflushed_age_ns as f64),
                kernel_cleaned(&r.writeback),
                if r.error.is_some() {
                    "ERROR".into()
                } else if r.verify.passed {
                    format!("ok ({})", r.verify.method)
                } else {
                    "FAILED".into()
                },
            ]
        })
        .collect()
}

pub fn table(vs: &[VariantResult]) -> String {
    let mut t = super::table(&HEAD, &rows(vs), 1);
    t.push_str("  latency: per write, including the flush it triggered; max at risk: most bytes written and not yet flushed; max age: longest time from a write to the flush that covered it; kernel-cleaned: of the pages written since the last flush, those already clean, under writeback or evicted (written back without being asked) just before the final flush\n");
    t
}

fn md_table(vs: &[VariantResult]) -> String {
    super::md_table(&HEAD, rows(vs))
}

pub fn summary(rec: &ClaimRecord<Params, VariantResult>, table: &str) -> String {
    let p = &rec.parameters;
    let mut s = String::new();
    s.push_str(&super::summary_header("flush", rec));
    let _ = writeln!(
        s,
        "Each variant appended {} records to a new {} file (a ring of {} slots) for {}, then flushed what was left and re-read the file to check every record. mmap = copy into a shared writable mapping, flush = msync(MS_SYNC) of the range written since the last flush; pwrite = pwrite(2), flush = fdatasync(2). Kernel writeback settings: {}.\n",
        units::format_size(p.record),
        units::format_size(p.size),
        p.slots,
        units::format_ns(p.duration_ns as f64),
        p.vm_dirty
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(s, "{}", md_table(&rec.variants));
    let _ = writeln!(s, "```\n{}```\n", table);
    if !rec.failures.is_empty() {
        let _ = writeln!(s, "**Failures:**\n");
        for f in &rec.failures {
            let _ = writeln!(s, "* {f}");
        }
        s.push('\n');
    }
    let _ = writeln!(s, "## Throughput against durability\n");
    for m in &p.methods {
        let mut vs: Vec<&VariantResult> = rec
            .variants
            .iter()
            .filter(|v| v.method == *m && v.error.is_none())
            .collect();
        vs.sort_by_key(|v| v.max_at_risk_bytes);
        if vs.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "* {}: {}",
            m.name(),
            vs.iter()
                .map(|v| format!(
                    "{} {} rec/s with up to {} at risk (for up to {})",
                    v.policy.name(),
                    units::format_count(v.records_per_sec),
                    units::format_size(v.max_at_risk_bytes),
                    units::format_ns(v.max_unflushed_age_ns as f64)
                ))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    for m in &p.methods {
        let mut vs: Vec<&VariantResult> = rec
            .variants
            .iter()
            .filter(|v| v.method == *m && v.error.is_none())
            .collect();
        vs.sort_by_key(|v| v.max_at_risk_bytes);
        let exceptions: Vec<String> = vs
            .windows(2)
            .filter(|w| {
                w[1].max_at_risk_bytes > w[0].max_at_risk_bytes
                    && w[1].records_per_sec < w[0].records_per_sec
            })
            .map(|w| {
                format!(
                    "{} ({} at risk) wrote fewer records per second than {} ({})",
                    w[1].policy.name(),
                    units::format_size(w[1].max_at_risk_bytes),
                    w[0].policy.name(),
                    units::format_size(w[0].max_at_risk_bytes)
                )
            })
            .collect();
        if vs.len() >= 2 {
            let _ = writeln!(
                s,
                "* {}: {}",
                m.name(),
                if exceptions.is_empty() {
                    "every policy that left more bytes at risk wrote more records per second: the trade-off holds here".to_string()
                } else {
                    format!("not a clean trade-off: {}", exceptions.join("; "))
                }
            );
        }
        let get = |pol: Policy| {
            rec.variants
                .iter()
                .find(|v| v.method == *m && v.policy == pol && v.error.is_none())
        };
        if let (Some(al), Some(ma)) = (get(Policy::Always), get(Policy::Manual)) {
            if al.records_per_sec > 0.0 {
                let _ = writeln!(
                    s,
                    "* {}: manual wrote {:.1}x the records per second of always (final flush included), leaving up to {} unflushed instead of {}.",
                    m.name(),
                    ma.records_per_sec / al.records_per_sec,
                    units::format_size(ma.max_at_risk_bytes),
                    units::format_size(al.max_at_risk_bytes)
                );
            }
        }
    }
    let _ = writeln!(
        s,
        "\nThe bytes at risk are counted by the harness from its own writes and flushes (capped at the file size, since a ring overwrites); the age is from a write to the completion of the flush that covered it."
    );
    let _ = writeln!(
        s,
        "\n## \"The OS may write dirty pages back at any time\"\n"
    );
    match &p.page_states_unavailable {
        Some(e) => {
            let _ = writeln!(
                s,
                "Page states could not be read here ({e}), so this run has no per-page evidence. System-wide /proc/vmstat counts are in claim.json (`writeback.vmstat`), but every process's writes count there."
            );
        }
        None => {
            for v in rec.variants.iter().filter(|v| v.error.is_none()) {
                if let Some(pg) = &v.writeback.pages {
                    let _ = writeln!(
                        s,
                        "* {}: at the end of writing, of the {} pages written since the last flush, {} were still dirty, {} under writeback, {} already clean and {} no longer mapped{}.",
                        v.name,
                        pg.pages,
                        pg.dirty,
                        pg.writeback,
                        pg.clean,
                        pg.not_mapped,
                        if pg.clean + pg.writeback + pg.not_mapped > 0 {
                            ": the kernel (or a sync by another process) wrote data back that this program had not flushed"
                        } else {
                            ": the kernel had written none of it back yet"
                        }
                    );
                }
                if let Some(last) = v.writeback.observed.last() {
                    let first_clean = v
                        .writeback
                        .observed
                        .iter()
                        .find(|o| o.pages.clean + o.pages.writeback + o.pages.not_mapped > 0);
                    let _ = writeln!(
                        s,
                        "  * kept unflushed for {:.0} s more: {}; after {:.0} s, {} of {} pages were clean.",
                        last.t_s,
                        match first_clean {
                            Some(o) => format!("the kernel started writing pages back after {:.0} s", o.t_s),
                            None => "the kernel wrote none of them back".into(),
                        },
                        last.t_s,
                        last.pages.clean + last.pages.not_mapped,
                        last.pages.pages
                    );
                }
                if let Some(o) = &v.writeback.odirect_probe {
                    let _ = writeln!(
                        s,
                        "  * O_DIRECT probe at offset {}: {}.",
                        o.page_offset, o.note
                    );
                }
            }
            let _ = writeln!(
                s,
                "\nHow this is measured: the pages' dirty and writeback flags come from /proc/self/pagemap and /proc/kpageflags, which read them without writing anything back. Re-reading the file with O_DIRECT before the final flush would not show what is on disk: Linux writes the dirty cached pages of the range back before a direct read (the O_DIRECT probe above shows it where it ran). A write-back the program did not ask for means a crash after it leaves a state the program never made durable on purpose: for a database, a page written before its log record. Without `--observe`, the writing phase is usually shorter than vm.dirty_expire_centisecs, so the kernel often has not started yet; run `faultline claim flush --policy manual --observe 40s` to watch it."
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_name() {
        assert_eq!(Policy::parse("always"), Ok(Policy::Always));
        assert_eq!(Policy::parse("manual"), Ok(Policy::Manual));
        assert_eq!(
            Policy::parse("every-bytes=1MiB"),
            Ok(Policy::EveryBytes { bytes: 1 << 20 })
        );
        assert_eq!(
            Policy::parse("every-writes=16"),
            Ok(Policy::EveryWrites { writes: 16 })
        );
        assert_eq!(
            Policy::parse("every-ms=100"),
            Ok(Policy::EveryMs { ms: 100 })
        );
        for p in default_policies() {
            assert_eq!(Policy::parse(&p.name()), Ok(p));
        }
        assert!(Policy::parse("sometimes")
            .unwrap_err()
            .contains("every-bytes=SIZE"));
        assert!(Policy::parse("every-writes=0")
            .unwrap_err()
            .contains("at least 1"));
        assert!(Policy::parse("every-writes")
            .unwrap_err()
            .contains("needs a value"));
        assert!(Policy::parse("every-bytes=1MB")
            .unwrap_err()
            .contains("MiB"));
        assert!(Policy::parse("always=3").unwrap_err().contains("no value"));
    }

    #[test]
    fn book_flushes_per_policy() {
        let cap = 1 << 30;
        // always: every write; at risk never more than one record.
        let mut b = Book::new(Policy::Always, cap, 0);
        for i in 0..5 {
            assert!(b.wrote(i * 4096, 4096, i * 10));
            b.flushed(i * 10 + 3);
        }
        assert_eq!(b.flushes, 5);
        assert_eq!(b.max_at_risk_bytes, 4096);
        assert_eq!(b.max_unflushed_age_ns, 3);
        // every-writes=3: the third write flushes.
        let mut b = Book::new(Policy::EveryWrites { writes: 3 }, cap, 0);
        assert!(!b.wrote(0, 100, 1));
        assert!(!b.wrote(100, 100, 2));
        assert!(b.wrote(200, 100, 3));
        assert_eq!(b.dirty_span(), Some((0, 300)));
        b.flushed(10);
        assert_eq!(b.max_at_risk_bytes, 300);
        assert_eq!(b.max_unflushed_age_ns, 9);
        assert_eq!(b.dirty_span(), None);
        // every-bytes=250: the third 100-byte write crosses it.
        let mut b = Book::new(Policy::EveryBytes { bytes: 250 }, cap, 0);
        assert!(!b.wrote(0, 100, 1));
        assert!(!b.wrote(100, 100, 2));
        assert!(b.wrote(200, 100, 3));
        // every-ms=5: by time since the last completed flush.
        let mut b = Book::new(Policy::EveryMs { ms: 5 }, cap, 0);
        assert!(!b.wrote(0, 10, 1_000_000));
        assert!(!b.wrote(10, 10, 4_999_999));
        assert!(b.wrote(20, 10, 5_000_000));
        b.flushed(7_000_000);
        assert!(!b.wrote(30, 10, 11_000_000));
        assert!(b.wrote(40, 10, 12_000_000));
        // manual: never; at risk capped at the ring size.
        let mut b = Book::new(Policy::Manual, 1000, 0);
        for i in 0..50 {
            assert!(!b.wrote((i % 10) * 100, 100, i));
        }
        assert_eq!(b.unflushed_bytes, 5000);
        assert_eq!(b.max_at_risk_bytes, 1000);
        assert_eq!(b.dirty_span(), Some((0, 1000)));
        b.flushed(100);
        assert_eq!(b.max_unflushed_age_ns, 100);
        assert_eq!(b.flushes, 1);
    }

    #[test]
    fn records_round_trip_and_detect_damage() {
        let r = Records::new(4096, 77, 1000);
        let mut buf = vec![0u8; 4096];
        r.build(5, &mut buf);
        assert_eq!(r.check(&buf, 5), Ok(()));
        assert!(r.check(&buf, 6).unwrap_err().contains("instead of 6"));
        let mut bad = buf.clone();
        bad[2000] ^= 1;
        assert!(r.check(&bad, 5).unwrap_err().contains("checksum"));
        let other = Records::new(4096, 78, 1000);
        assert!(other.check(&buf, 5).unwrap_err().contains("header"));
        assert!(r.check(&[0u8; 4096], 5).unwrap_err().contains("missing"));
        // Two laps of the same slot carry different payloads.
        let mut next = vec![0u8; 4096];
        r.build(5 + 1000, &mut next);
        assert_ne!(buf[16..4088], next[16..4088]);
        let small = Records::new(32, 1, 7);
        let mut b = vec![0u8; 32];
        small.build(1, &mut b);
        assert_eq!(small.check(&b, 1), Ok(()));
    }

    #[test]
    fn ring_expected_sequence() {
        // 4 slots, 10 records: slots hold 9, 10, 7, 8.
        let got: Vec<u64> = (0..4).map(|k| expected_seq(k, 10, 4)).collect();
        assert_eq!(got, vec![9, 10, 7, 8]);
        assert_eq!(expected_seq(3, 2, 4), 0);
        assert_eq!(expected_seq(1, 2, 4), 2);
        assert_eq!(expected_seq(0, 0, 4), 0);
    }

    #[test]
    fn verify_reads_back_a_ring() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("v");
        let slots = 8;
        let r = Records::new(512, 9, slots);
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&p)
            .unwrap();
        f.set_len(4096).unwrap();
        let mut buf = vec![0u8; 512];
        for n in 0..11u64 {
            r.build(n + 1, &mut buf);
            f.write_all_at(&buf, (n % slots) * 512).unwrap();
        }
        f.sync_all().unwrap();
        let v = verify(&p, &r, slots, 11).unwrap();
        assert!(v.passed, "{v:?}");
        assert_eq!(v.ok_records, 8);
        // A stale record in slot 1 (seq 2 where 10 belongs).
        r.build(2, &mut buf);
        f.write_all_at(&buf, 512).unwrap();
        f.sync_all().unwrap();
        let v = verify(&p, &r, slots, 11).unwrap();
        assert!(!v.passed);
        assert_eq!(v.bad_records, 1);
        assert!(v.problems[0].contains("slot 1"), "{:?}", v.problems);
        // Fewer records than slots: the rest must be zeros.
        let v = verify(&p, &r, slots, 3).unwrap();
        assert!(!v.passed, "slots 3.. are not zero");
    }
}
