//! Workload definitions: the TOML wire form (unknown keys are errors) and the validated
//! `Workload` the runner consumes. Every error names the file (or CLI flag), the key,
//! the value and what is allowed, on one line. Each setting (key, type, default, flag,
//! help, validation) is declared once, in `settings`.

pub mod backend;
pub mod options;
pub mod pattern;
pub mod reclaim;
pub mod settings;
pub mod sweep;
pub mod write;

use crate::units;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::{Spanned, Value};

pub use backend::BackendSpec;
pub use pattern::Pattern;
use settings::Wire;
pub use settings::{Settings, ThreadCounts, KEYS};

/// The built-in default workload (a copy of workloads/quick.toml), used when that file
/// is not present in the working directory.
pub const BUILTIN_QUICK: &str = include_str!("../../../workloads/quick.toml");

pub const MAX_THREADS: u64 = 4096;
pub const MAX_QUEUE_DEPTH: u64 = 4096;
pub const MAX_REPEATS: u64 = 1000;
/// Data files are made of 4 KiB pages, each with a verifiable header.
pub const PAGE: u64 = 4096;
pub const DEFAULT_DATA_DIR: &str = "faultline-data";
/// The measured threads, their buffers and histograms must fit beside the page cache.
pub const MIN_PAGE_CACHE_LIMIT: u64 = 16 * units::MIB;

#[derive(Debug, thiserror::Error)]
#[error("{location}: {message}")]
pub struct SpecError {
    pub location: String,
    pub message: String,
}

impl SpecError {
    fn new(location: impl Into<String>, message: impl Into<String>) -> SpecError {
        SpecError {
            location: location.into(),
            message: message.into(),
        }
    }
}

/// Where the data lives when not in a file: an emulated device created for the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Device {
    /// zram block devices hot-added for the run (RAM-backed, emulated fast SSDs): one,
    /// or `count` striped, each optionally capped. The size defaults to what the
    /// workload needs.
    Zram(crate::env::zram::ZramSpec),
    /// A FUSE file system mounted for the run that fails and delays reads of chosen
    /// pages (`env::fuse`).
    Fuse(crate::env::fuse::FuseSpec),
}

pub fn parse_device(s: &str) -> Result<Device, String> {
    let t = s.trim();
    if let Some(rest) = t.strip_prefix("fuse") {
        if rest.is_empty() || rest.starts_with(':') || rest.starts_with(',') {
            return crate::env::fuse::parse_spec(rest).map(Device::Fuse);
        }
    }
    crate::env::zram::parse_device(s)
        .map(Device::Zram)
        .map_err(|e| {
            if !t.starts_with("zram") {
                format!("`{t}` is not a device spec; use zram[:SIZE][,count=N][,stripe=S][,read_iops=N][,read_bps=B] (emulated RAM-backed devices) or fuse[:SIZE][,eio_every=N][,eio_at=OFF;...][,delay_every=N,delay=D][,delay_at=OFF;...] (a device that fails and delays reads)")
            } else {
                e
            }
        })
}

/// What to do when an operation fails (an I/O error, a SIGBUS): stop the backend
/// (`fail`, status failed) or count the error and go on (`continue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    Fail,
    Continue,
}

pub fn parse_on_error(s: &str) -> Result<OnError, String> {
    match s.trim() {
        "fail" => Ok(OnError::Fail),
        "continue" => Ok(OnError::Continue),
        _ => Err(format!(
            "`{s}` is not allowed; use fail (stop the backend at its first failed operation) or continue (count failed operations and go on)"
        )),
    }
}

pub use reclaim::{parse_reclaim, Reclaim};
pub use write::{Op, SyncMethod, SyncPolicy};

/// How much of each block an operation reads: the first u64 of every 4 KiB page
/// (`first`, the paper's one byte per page) or every u64 (`all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Touch {
    First,
    All,
}

/// Cache state before each backend: `cold` drops the data file's cached pages
/// (posix_fadvise DONTNEED), `warm` reads the whole file once through the page cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Start {
    Cold,
    Warm,
}

/// When a measured run stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StopAt {
    /// After this long.
    Duration(#[serde(serialize_with = "ser_ns")] Duration),
    /// After this many operations in total (split evenly over the threads).
    Ops(u64),
}

fn ser_ns<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_nanos() as u64)
}

/// A validated workload. Sizes in bytes, durations as `Duration` (ns in JSON).
#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    /// Short name: the file stem (`quick` for workloads/quick.toml).
    pub name: String,
    /// Where the definition came from (a path, or "built-in").
    pub source: String,
    pub description: String,
    /// Bytes of the data file the workload reads (the whole file when it is given).
    pub size: u64,
    pub block: u64,
    pub pattern: Pattern,
    pub op: Op,
    /// With op = mix: the percentage of operations that read.
    pub read_pct: u32,
    /// When writing threads make their writes durable, and with which call.
    pub sync: SyncPolicy,
    pub sync_method: SyncMethod,
    pub touch: Touch,
    pub threads: Vec<usize>,
    pub queue_depth: u32,
    pub stop: StopAt,
    #[serde(serialize_with = "ser_ns")]
    pub warmup: Duration,
    #[serde(serialize_with = "ser_ns")]
    pub interval: Duration,
    pub start: Start,
    pub backends: Vec<BackendSpec>,
    /// An existing file or block device to read instead of a generated data file.
    pub file: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub repeats: u32,
    pub seed: u64,
    /// Run the measured threads in a memory cgroup with this limit (bytes): a page cache
    /// smaller than the file.
    pub page_cache_limit: Option<u64>,
    /// Who evicts when the page cache reaches `page_cache_limit`: the memory cgroup
    /// (`cgroup`) or kswapd, machine-wide, with huge pages reserved (`global`).
    pub reclaim: Reclaim,
    /// Attribute major faults to operations (a histogram of faulting operations and the
    /// time stalled in them). Costs one atomic load per operation.
    pub fault_attribution: bool,
    /// Attribution samples one major fault in this many (1: every fault, exact).
    pub fault_sample_period: u64,
    /// Per-thread perf counters of minor and major faults.
    pub thread_counters: bool,
    /// Per-thread tlb:tlb_flush tracepoint counters.
    pub tlb_tracepoint: bool,
    /// Read from an emulated device created for the run instead of a data file.
    pub device: Option<Device>,
    /// Throttle of the data file's own disk (blkio), for runs without `device`.
    pub device_cap: Option<crate::env::blkio::Cap>,
    /// read_ahead_kb of the device(s) under test, set for the run and restored.
    pub read_ahead_kb: Option<u64>,
    /// Which operations are timed: every one, one in N, or N together.
    pub timing: crate::timing::TimingMode,
    /// What a failed operation does: stop the backend, or count it and go on.
    pub on_error: OnError,
    /// Drop the whole page cache (root) before each backend, besides the per-file cold
    /// start. Command line only (--drop-caches).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub drop_caches: bool,
    /// Rounds of the probe-overhead A/B per cell (0: a normal run). Command line only
    /// (--probe-overhead N).
    #[serde(skip_serializing_if = "is_zero")]
    pub probe_overhead: u32,
    /// A write workload may overwrite the user's --file. Command line only
    /// (--allow-write).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_write: bool,
    /// Write cells: how long the writers are held before their final sync while the
    /// harness looks at the written pages every second. Command line only
    /// (--hold-before-sync).
    #[serde(skip_serializing_if = "Duration::is_zero", serialize_with = "ser_ns")]
    pub hold_before_sync: Duration,
    /// True when the size was given (workload key or --size) rather than defaulted; with
    /// a user `file` and no given size, the whole file is read.
    #[serde(skip)]
    pub size_given: bool,
}

impl Workload {
    /// Read and validate a workload file.
    pub fn load(path: &Path) -> Result<Workload, SpecError> {
        let shown = path.display().to_string();
        if path.is_dir() {
            return Err(SpecError::new(
                &shown,
                "is a directory; give a workload file such as workloads/quick.toml",
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                "; `faultline list` shows the workloads in workloads/"
            } else {
                ""
            };
            SpecError::new(&shown, format!("cannot read workload file: {e}{hint}"))
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "workload".into());
        Workload::parse(&text, &shown, &name)
    }

    /// The default workload: workloads/quick.toml if present here, else the built-in copy.
    pub fn default_quick() -> Result<Workload, SpecError> {
        let p = Path::new("workloads/quick.toml");
        if p.is_file() {
            Workload::load(p)
        } else {
            Workload::parse(BUILTIN_QUICK, "built-in quick.toml", "quick")
        }
    }

    /// Parse workload text. `origin` names it in messages; `name` is its short name.
    pub fn parse(text: &str, origin: &str, name: &str) -> Result<Workload, SpecError> {
        let wire: Wire = toml::from_str(text).map_err(|e| toml_error(text, origin, &e))?;
        let f = Fields { text, origin };
        let given = Settings::from_wire(&wire, &f)?;
        if let (Some(_), Some(ops)) = (&wire.duration, &wire.ops) {
            return Err(SpecError::new(
                f.loc(ops),
                "give either `duration` or `ops`, not both",
            ));
        }
        let w = given.resolve(name, origin);
        w.check().map_err(|m| SpecError::new(origin, m))?;
        Ok(w)
    }

    /// Apply command-line values, then re-check the combination.
    pub fn apply(&mut self, o: &Settings) -> Result<(), SpecError> {
        if o.duration.is_some() && o.ops.is_some() {
            return Err(SpecError::new(
                "--duration/--ops",
                "give either --duration or --ops, not both",
            ));
        }
        o.merge_into(self)?;
        // A fault-injecting device given its size on the command line serves that much
        // data: it replaces the workload file's size unless --size is given too.
        if let (Some(Device::Fuse(f)), None) = (&o.device, o.size) {
            if let Some(size) = f.size {
                self.size = size;
            }
        }
        if o.duration.is_some() || o.ops.is_some() {
            self.stop = o.derived().stop();
        }
        if o.size.is_some() {
            self.size_given = true;
        } else if o.file.is_some() {
            // The workload's size describes its generated file; a file given on the
            // command line is read whole unless --size says otherwise.
            self.size_given = false;
        }
        self.check()
            .map_err(|m| SpecError::new(format!("{} with command-line values", self.source), m))
    }

    /// Checks that involve more than one key.
    fn check(&self) -> Result<(), String> {
        if self.size == 0 {
            return Err("`size` must be larger than 0".into());
        }
        if self.block == 0 {
            return Err("`block` must be larger than 0".into());
        }
        if self.block > self.size {
            return Err(format!(
                "`block` ({}) is larger than `size` ({}); use a smaller block or a larger file",
                units::format_size(self.block),
                units::format_size(self.size)
            ));
        }
        if self.file.is_none() && !self.size.is_multiple_of(PAGE) {
            return Err(format!(
                "`size` ({} bytes) must be a multiple of 4KiB for a generated data file",
                self.size
            ));
        }
        if let Pattern::Sequential { chunk } = self.pattern {
            if chunk < self.block {
                return Err(format!(
                    "the sequential chunk ({}) is smaller than `block` ({}); use chunk >= block",
                    units::format_size(chunk),
                    units::format_size(self.block)
                ));
            }
        }
        if let (Some(_), Some(f)) = (&self.device, &self.file) {
            return Err(format!(
                "`device` and `file` ({}) both say where the data is; give one",
                f.display()
            ));
        }
        if let Some(Device::Fuse(f)) = &self.device {
            f.check(self.size)?;
        }
        if let Some(Device::Zram(z)) = &self.device {
            let need = z.needed_per_device(self.size);
            if let Some(have) = z.size.filter(|&have| have < need) {
                return Err(format!(
                    "the zram device ({}) is smaller than what `size` ({}) needs of it{}; use zram:{} or more",
                    units::format_size(have),
                    units::format_size(self.size),
                    if z.count > 1 { format!(" striped over {} devices", z.count) } else { String::new() },
                    units::format_size(need)
                ));
            }
            if z.count > 1 {
                if self.size < z.stripe * u64::from(z.count) {
                    return Err(format!(
                        "`size` ({}) does not reach every device: striping over {} devices in units of {} needs at least {}; use a larger size or a smaller stripe",
                        units::format_size(self.size),
                        z.count,
                        units::format_size(z.stripe),
                        units::format_size(z.stripe * u64::from(z.count))
                    ));
                }
                if !z.stripe.is_multiple_of(self.block) {
                    return Err(format!(
                        "the stripe unit ({}) must be a multiple of `block` ({}) so that no block spans two devices; use stripe={} or a multiple of it",
                        units::format_size(z.stripe),
                        units::format_size(self.block),
                        units::format_size(self.block)
                    ));
                }
                if self.op.writes() {
                    return Err(format!(
                        "op = \"{}\" on {} striped zram devices: striped devices are read-only for now; use count=1 for writes",
                        self.op, z.count
                    ));
                }
            }
        }
        if let Some(cap) = &self.device_cap {
            match &self.device {
                Some(Device::Zram(_)) => return Err(format!(
                    "`device_cap` caps the data file's own disk; for zram devices put the cap in the device spec: --device zram:SIZE,{}",
                    cap.to_spec_string()
                )),
                Some(Device::Fuse(_)) => return Err(
                    "`device_cap`: a FUSE device has no block device to cap; use --device zram:SIZE,read_iops=N".into()
                ),
                None => {}
            }
        }
        if let (Some(_), Some(Device::Fuse(_))) = (self.read_ahead_kb, &self.device) {
            return Err("`read_ahead_kb`: a FUSE device has no block queue to set it on; use a data file or --device zram".into());
        }
        if let Some(l) = self.page_cache_limit {
            if l < MIN_PAGE_CACHE_LIMIT {
                return Err(format!(
                    "`page_cache_limit` ({}) is too small to run in; use at least {}",
                    units::format_size(l),
                    units::format_size(MIN_PAGE_CACHE_LIMIT)
                ));
            }
        }
        if self.reclaim == Reclaim::Global && self.page_cache_limit.is_none() {
            return Err("`reclaim = \"global\"` needs `page_cache_limit` (the machine-wide page cache the huge-page reservation leaves); give one, e.g. page_cache_limit = \"1GiB\"".into());
        }
        if self.interval < Duration::from_millis(1) {
            return Err("`interval` must be at least 1ms".into());
        }
        if self.backends.is_empty() {
            return Err("`backends` is empty; list at least one, e.g. [\"pread\"]".into());
        }
        if self.threads.is_empty() {
            return Err(
                "`threads` is empty; give a count such as 2 or a list such as [1, 2]".into(),
            );
        }
        self.check_writes()
    }

    /// Checks of the write settings against the rest.
    fn check_writes(&self) -> Result<(), String> {
        if !self.op.writes() {
            if self.pattern == Pattern::Append {
                return Err(
                    "pattern `append` writes a log; use it with op = \"write\" (or another pattern for reads)"
                        .into(),
                );
            }
            if self.sync != SyncPolicy::None {
                return Err(format!(
                    "`sync` = \"{}\" needs a write workload (op = \"write\" or \"mix\"); a read workload never writes",
                    self.sync
                ));
            }
            if !self.hold_before_sync.is_zero() {
                return Err("--hold-before-sync holds writers before their final sync; use it with a write workload (op = \"write\" or \"mix\")".into());
            }
            return Ok(());
        }
        if self.hold_before_sync > Duration::from_secs(600) {
            return Err(format!(
                "--hold-before-sync {} is longer than 10 minutes; use at most 600s",
                units::format_duration(self.hold_before_sync)
            ));
        }
        if !self.hold_before_sync.is_zero()
            && !matches!(self.sync, SyncPolicy::None | SyncPolicy::End)
        {
            return Err(format!(
                "--hold-before-sync needs sync = \"none\" or \"end\": with sync = \"{}\" the program's own syncs cannot be told apart from the kernel's write-back",
                self.sync
            ));
        }
        if self.op == Op::Mix && self.pattern == Pattern::Append {
            return Err(
                "pattern `append` is for op = \"write\"; a mix reads and writes random, zipf or hotset blocks"
                    .into(),
            );
        }
        if let Pattern::Sequential { .. } = self.pattern {
            return Err(format!(
                "op = \"{}\" with pattern `sequential`: writes in order use pattern = \"append\"",
                self.op
            ));
        }
        if self.timing != crate::timing::TimingMode::Every {
            return Err(format!(
                "a write workload times every operation; `timing` = \"{}\" applies to reads only: leave it at \"every\"",
                self.timing
            ));
        }
        if !self.block.is_multiple_of(PAGE) {
            return Err(format!(
                "writes are whole 4KiB pages (each carries a verifiable header): `block` ({} bytes) must be a multiple of 4KiB",
                self.block
            ));
        }
        if let Some(Device::Fuse(_)) = &self.device {
            return Err(format!(
                "op = \"{}\": the fuse device is read-only (it injects read errors and stalls); use a generated data file or --device zram:SIZE for writes",
                self.op
            ));
        }
        if let (Some(f), false) = (&self.file, self.allow_write) {
            return Err(format!(
                "op = \"{}\" would overwrite {}; add --allow-write to let it (the run overwrites the first {} of it), or drop --file to write to a generated data file",
                self.op,
                f.display(),
                units::format_size(self.size)
            ));
        }
        Ok(())
    }

    /// The text form of the stop condition, for tables.
    pub fn stop_text(&self) -> String {
        match self.stop {
            StopAt::Duration(d) => units::format_duration(d),
            StopAt::Ops(n) => format!("{n} ops"),
        }
    }
}

pub fn parse_touch(s: &str) -> Result<Touch, String> {
    match s {
        "first" => Ok(Touch::First),
        "all" => Ok(Touch::All),
        _ => Err(format!("`{s}` is not allowed; use first or all")),
    }
}

pub fn parse_start(s: &str) -> Result<Start, String> {
    match s {
        "cold" => Ok(Start::Cold),
        "warm" => Ok(Start::Warm),
        _ => Err(format!("`{s}` is not allowed; use cold or warm")),
    }
}

fn check_int(key: &str, n: u64, min: u64, max: u64) -> Result<(), String> {
    if n < min {
        return Err(format!("{key} is {n}; it must be at least {min}"));
    }
    if n > max {
        return Err(format!("{key} is {n}; it must be at most {max}"));
    }
    Ok(())
}

/// Turn a TOML error into one line: `file:line:col: message`.
fn toml_error(text: &str, origin: &str, e: &toml::de::Error) -> SpecError {
    let mut msg = e.message().trim().replace('\n', "; ");
    // serde's "unknown field `x`, expected one of ..." -> name it as a key.
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        let key = rest.split(',').next().unwrap_or(rest).to_string();
        msg = format!(
            "unknown key {key}; allowed keys: {} (see README.md, \"Workload files\")",
            KEYS.join(", ")
        );
    }
    let location = match e.span() {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            format!("{origin}:{line}:{col}")
        }
        None => origin.to_string(),
    };
    SpecError::new(location, msg)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// Typed access to wire values, with positioned errors.
struct Fields<'a> {
    text: &'a str,
    origin: &'a str,
}

impl Fields<'_> {
    fn loc(&self, v: &Spanned<Value>) -> String {
        let (l, c) = line_col(self.text, v.span().start);
        format!("{}:{}:{}", self.origin, l, c)
    }

    fn err(&self, v: &Spanned<Value>, msg: String) -> SpecError {
        SpecError::new(self.loc(v), msg)
    }

    /// A key's value, if given, through its parser.
    fn get<T>(
        &self,
        v: &Option<Spanned<Value>>,
        key: &'static str,
        parse: impl FnOnce(&Self, &'static str, &Spanned<Value>) -> Result<T, SpecError>,
    ) -> Result<Option<T>, SpecError> {
        v.as_ref().map(|v| parse(self, key, v)).transpose()
    }

    /// A string value through a parser whose message says what is allowed.
    fn parsed<T>(
        &self,
        key: &str,
        v: &Spanned<Value>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, SpecError> {
        let s = self.string(key, v)?;
        parse(&s).map_err(|e| self.err(v, format!("key `{key}`: {e}")))
    }

    fn boolean(&self, key: &str, v: &Spanned<Value>) -> Result<bool, SpecError> {
        match v.get_ref() {
            Value::Boolean(b) => Ok(*b),
            other => Err(self.err(
                v,
                format!("key `{key}`: expected true or false, got {}", show(other)),
            )),
        }
    }

    fn string(&self, key: &str, v: &Spanned<Value>) -> Result<String, SpecError> {
        match v.get_ref() {
            Value::String(s) => Ok(s.clone()),
            other => Err(self.err(
                v,
                format!("key `{key}`: expected a string, got {}", show(other)),
            )),
        }
    }

    fn size(&self, key: &str, v: &Spanned<Value>) -> Result<u64, SpecError> {
        let n = match v.get_ref() {
            Value::String(s) => {
                units::parse_size(s).map_err(|e| self.err(v, format!("key `{key}`: {e}")))?
            }
            Value::Integer(i) if *i > 0 => *i as u64,
            other => {
                return Err(self.err(
                    v,
                    format!(
                        "key `{key}`: {} is not a size; expected {}",
                        show(other),
                        units::SIZE_HELP
                    ),
                ))
            }
        };
        if n == 0 {
            return Err(self.err(v, format!("key `{key}`: must be larger than 0")));
        }
        Ok(n)
    }

    fn duration(
        &self,
        key: &str,
        v: &Spanned<Value>,
        zero_ok: bool,
    ) -> Result<Duration, SpecError> {
        let d = match v.get_ref() {
            Value::String(s) => {
                units::parse_duration(s).map_err(|e| self.err(v, format!("key `{key}`: {e}")))?
            }
            other => {
                return Err(self.err(
                    v,
                    format!(
                        "key `{key}`: {} is not a duration; expected a string with {}",
                        show(other),
                        units::DURATION_HELP
                    ),
                ))
            }
        };
        if d.is_zero() && !zero_ok {
            return Err(self.err(v, format!("key `{key}`: must be longer than 0")));
        }
        Ok(d)
    }

    fn int(&self, key: &str, v: &Spanned<Value>, min: u64, max: u64) -> Result<u64, SpecError> {
        match v.get_ref() {
            Value::Integer(i) => {
                if *i < 0 {
                    return Err(self.err(
                        v,
                        format!("key `{key}`: {i} is negative; it must be at least {min}"),
                    ));
                }
                let n = *i as u64;
                check_int(&format!("key `{key}`"), n, min, max).map_err(|m| self.err(v, m))?;
                Ok(n)
            }
            other => Err(self.err(
                v,
                format!("key `{key}`: expected a whole number, got {}", show(other)),
            )),
        }
    }

    fn threads(&self, v: &Spanned<Value>) -> Result<Vec<usize>, SpecError> {
        let one = |x: &Value| -> Result<usize, SpecError> {
            match x {
                Value::Integer(i) => {
                    let n = *i;
                    if n < 1 || n as u64 > MAX_THREADS {
                        return Err(self.err(
                            v,
                            format!("key `threads`: {n} is out of range; use 1 to {MAX_THREADS}"),
                        ));
                    }
                    Ok(n as usize)
                }
                other => Err(self.err(
                    v,
                    format!(
                        "key `threads`: expected a whole number, a list of them, or \"cpus\" (one per online CPU), got {}",
                        show(other)
                    ),
                )),
            }
        };
        match v.get_ref() {
            Value::Array(items) => {
                if items.is_empty() {
                    return Err(self.err(v, "key `threads`: the list is empty".into()));
                }
                items.iter().map(one).collect()
            }
            Value::String(s) if s == "cpus" => Ok(vec![crate::sys::online_cpus()]),
            x => Ok(vec![one(x)?]),
        }
    }

    fn backends(&self, v: &Spanned<Value>) -> Result<Vec<BackendSpec>, SpecError> {
        let Value::Array(items) = v.get_ref() else {
            return Err(self.err(
                v,
                format!(
                    "key `backends`: expected a list of backend specs such as [\"pread\", \"mmap:advice=random\"], got {}",
                    show(v.get_ref())
                ),
            ));
        };
        let mut out: Vec<BackendSpec> = Vec::new();
        for item in items {
            let Value::String(s) = item else {
                return Err(self.err(
                    v,
                    format!(
                        "key `backends`: {} is not a backend spec string",
                        show(item)
                    ),
                ));
            };
            let b =
                BackendSpec::parse(s).map_err(|e| self.err(v, format!("key `backends`: {e}")))?;
            if out.iter().any(|o| o.name == b.name) {
                return Err(self.err(v, format!("key `backends`: `{s}` is listed twice")));
            }
            out.push(b);
        }
        Ok(out)
    }
}

/// A TOML value as the user wrote it, for messages.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        Value::Array(_) => "a list".into(),
        Value::Table(_) => "a table".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;

fn is_zero(n: &u32) -> bool {
    *n == 0
}
