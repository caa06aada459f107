//! Workload definitions: the TOML wire form (unknown keys are errors) and the validated
//! `Workload` the runner consumes. Every error names the file (or CLI flag), the key,
//! the value and what is allowed, on one line.

pub mod backend;
pub mod options;
pub mod pattern;

use crate::units;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::{Spanned, Value};

pub use backend::BackendSpec;
pub use pattern::Pattern;

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

/// The keys of a workload file, as written. Values stay untyped (with their position)
/// until validation, so every message can name the key, the value and what is allowed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    description: Option<Spanned<Value>>,
    size: Option<Spanned<Value>>,
    block: Option<Spanned<Value>>,
    pattern: Option<Spanned<Value>>,
    op: Option<Spanned<Value>>,
    touch: Option<Spanned<Value>>,
    threads: Option<Spanned<Value>>,
    queue_depth: Option<Spanned<Value>>,
    duration: Option<Spanned<Value>>,
    ops: Option<Spanned<Value>>,
    warmup: Option<Spanned<Value>>,
    interval: Option<Spanned<Value>>,
    start: Option<Spanned<Value>>,
    backends: Option<Spanned<Value>>,
    file: Option<Spanned<Value>>,
    data_dir: Option<Spanned<Value>>,
    repeats: Option<Spanned<Value>>,
    seed: Option<Spanned<Value>>,
    page_cache_limit: Option<Spanned<Value>>,
    fault_attribution: Option<Spanned<Value>>,
    device: Option<Spanned<Value>>,
}

/// The keys a workload file may have, for messages.
pub const KEYS: &[&str] = &[
    "description",
    "size",
    "block",
    "pattern",
    "op",
    "touch",
    "threads",
    "queue_depth",
    "duration",
    "ops",
    "warmup",
    "interval",
    "start",
    "backends",
    "file",
    "data_dir",
    "repeats",
    "seed",
    "page_cache_limit",
    "fault_attribution",
    "device",
];

/// Where the data lives when not in a file: an emulated device created for the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Device {
    /// A zram block device hot-added for the run (RAM-backed, emulated fast SSD). The
    /// size defaults to the workload's size.
    Zram { size: Option<u64> },
}

pub fn parse_device(s: &str) -> Result<Device, String> {
    crate::env::zram::parse_device(s).map(|size| Device::Zram { size })
}

/// What one operation does. Only reads are implemented; the format leaves room for
/// `write` and read/write mixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Read,
}

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
    /// Attribute major faults to operations (a histogram of faulting operations and the
    /// time stalled in them). Costs one atomic load per operation.
    pub fault_attribution: bool,
    /// Read from an emulated device created for the run instead of a data file.
    pub device: Option<Device>,
    /// Drop the whole page cache (root) before each backend, besides the per-file cold
    /// start. Command line only (--drop-caches).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub drop_caches: bool,
    /// True when the size was given (workload key or --size) rather than defaulted; with
    /// a user `file` and no given size, the whole file is read.
    #[serde(skip)]
    pub size_given: bool,
}

/// Values given on the command line; each replaces the workload's own.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub backends: Vec<BackendSpec>,
    pub threads: Option<Vec<usize>>,
    pub duration: Option<Duration>,
    pub ops: Option<u64>,
    pub warmup: Option<Duration>,
    pub size: Option<u64>,
    pub block: Option<u64>,
    pub pattern: Option<Pattern>,
    pub file: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub interval: Option<Duration>,
    pub start: Option<Start>,
    pub touch: Option<Touch>,
    pub queue_depth: Option<u32>,
    pub repeats: Option<u32>,
    pub page_cache_limit: Option<u64>,
    pub drop_caches: bool,
    pub no_fault_attribution: bool,
    pub device: Option<Device>,
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
        let description = match &wire.description {
            Some(v) => f.string("description", v)?,
            None => String::new(),
        };
        let size = f
            .opt(&wire.size, "size", |v| f.size("size", v))?
            .unwrap_or(units::GIB);
        let block = f
            .opt(&wire.block, "block", |v| f.size("block", v))?
            .unwrap_or(4 * units::KIB);
        let pattern = f
            .opt(&wire.pattern, "pattern", |v| {
                let s = f.string("pattern", v)?;
                Pattern::parse(&s).map_err(|e| f.err(v, format!("key `pattern`: {e}")))
            })?
            .unwrap_or(Pattern::Random);
        let op = f
            .opt(&wire.op, "op", |v| {
                let s = f.string("op", v)?;
                match s.as_str() {
                    "read" => Ok(Op::Read),
                    "write" | "readwrite" | "mix" => Err(f.err(
                        v,
                        format!(
                            "key `op`: `{s}` is not supported yet; this version measures reads only (op = \"read\")"
                        ),
                    )),
                    _ => Err(f.err(v, format!("key `op`: `{s}` is not an operation; allowed: read"))),
                }
            })?
            .unwrap_or(Op::Read);
        let touch = f
            .opt(&wire.touch, "touch", |v| {
                let s = f.string("touch", v)?;
                parse_touch(&s).map_err(|e| f.err(v, format!("key `touch`: {e}")))
            })?
            .unwrap_or(Touch::First);
        let threads = f
            .opt(&wire.threads, "threads", |v| f.threads(v))?
            .unwrap_or_else(|| vec![1]);
        let queue_depth = f
            .opt(&wire.queue_depth, "queue_depth", |v| {
                f.int("queue_depth", v, 1, MAX_QUEUE_DEPTH)
            })?
            .unwrap_or(1) as u32;
        let duration = f.opt(&wire.duration, "duration", |v| {
            f.duration("duration", v, false)
        })?;
        let ops = f.opt(&wire.ops, "ops", |v| f.int("ops", v, 1, u64::MAX / 2))?;
        let stop = match (duration, ops) {
            (Some(_), Some(_)) => {
                let at = wire.ops.as_ref().map(|v| f.loc(v)).unwrap_or_default();
                return Err(SpecError::new(
                    at,
                    "give either `duration` or `ops`, not both",
                ));
            }
            (Some(d), None) => StopAt::Duration(d),
            (None, Some(n)) => StopAt::Ops(n),
            (None, None) => StopAt::Duration(Duration::from_secs(10)),
        };
        let warmup = f
            .opt(&wire.warmup, "warmup", |v| f.duration("warmup", v, true))?
            .unwrap_or(Duration::from_secs(1));
        let interval = f
            .opt(&wire.interval, "interval", |v| {
                f.duration("interval", v, false)
            })?
            .unwrap_or(Duration::from_secs(1));
        let start = f
            .opt(&wire.start, "start", |v| {
                let s = f.string("start", v)?;
                parse_start(&s).map_err(|e| f.err(v, format!("key `start`: {e}")))
            })?
            .unwrap_or(Start::Cold);
        let backends = match &wire.backends {
            Some(v) => f.backends(v)?,
            None => ["pread", "direct", "mmap"]
                .iter()
                .map(|s| BackendSpec::parse(s).expect("built-in backend names parse"))
                .collect(),
        };
        let file = f.opt(&wire.file, "file", |v| {
            f.string("file", v).map(PathBuf::from)
        })?;
        let data_dir = f
            .opt(&wire.data_dir, "data_dir", |v| {
                f.string("data_dir", v).map(PathBuf::from)
            })?
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let repeats = f
            .opt(&wire.repeats, "repeats", |v| {
                f.int("repeats", v, 1, MAX_REPEATS)
            })?
            .unwrap_or(1) as u32;
        let seed = f
            .opt(&wire.seed, "seed", |v| f.int("seed", v, 0, i64::MAX as u64))?
            .unwrap_or(0x6661_756c_746c_696e);
        let page_cache_limit = f.opt(&wire.page_cache_limit, "page_cache_limit", |v| {
            f.size("page_cache_limit", v)
        })?;
        let fault_attribution = f
            .opt(&wire.fault_attribution, "fault_attribution", |v| {
                match v.get_ref() {
                    Value::Boolean(b) => Ok(*b),
                    other => Err(f.err(
                        v,
                        format!(
                            "key `fault_attribution`: expected true or false, got {}",
                            show(other)
                        ),
                    )),
                }
            })?
            .unwrap_or(true);
        let device = f.opt(&wire.device, "device", |v| {
            let s = f.string("device", v)?;
            parse_device(&s).map_err(|e| f.err(v, format!("key `device`: {e}")))
        })?;
        let w = Workload {
            name: name.to_string(),
            source: origin.to_string(),
            description,
            size,
            block,
            pattern,
            op,
            touch,
            threads,
            queue_depth,
            stop,
            warmup,
            interval,
            start,
            backends,
            file,
            data_dir,
            repeats,
            seed,
            page_cache_limit,
            fault_attribution,
            device,
            drop_caches: false,
            size_given: wire.size.is_some(),
        };
        w.check().map_err(|m| SpecError::new(origin, m))?;
        Ok(w)
    }

    /// Apply command-line values, then re-check the combination.
    pub fn apply(&mut self, o: &Overrides) -> Result<(), SpecError> {
        if !o.backends.is_empty() {
            self.backends = o.backends.clone();
        }
        if let Some(t) = &o.threads {
            for &n in t {
                check_int("--threads", n as u64, 1, MAX_THREADS)
                    .map_err(|m| SpecError::new("--threads", m))?;
            }
            self.threads = t.clone();
        }
        match (o.duration, o.ops) {
            (Some(_), Some(_)) => {
                return Err(SpecError::new(
                    "--duration/--ops",
                    "give either --duration or --ops, not both",
                ))
            }
            (Some(d), None) => {
                if d.is_zero() {
                    return Err(SpecError::new("--duration", "must be longer than 0"));
                }
                self.stop = StopAt::Duration(d)
            }
            (None, Some(n)) => {
                if n == 0 {
                    return Err(SpecError::new("--ops", "must be at least 1"));
                }
                self.stop = StopAt::Ops(n)
            }
            (None, None) => {}
        }
        if let Some(v) = o.warmup {
            self.warmup = v;
        }
        if let Some(v) = o.size {
            self.size = v;
            self.size_given = true;
        } else if o.file.is_some() {
            // The workload's size describes its generated file; a file given on the
            // command line is read whole unless --size says otherwise.
            self.size_given = false;
        }
        if let Some(v) = o.block {
            self.block = v;
        }
        if let Some(v) = &o.pattern {
            self.pattern = v.clone();
        }
        if let Some(v) = &o.file {
            self.file = Some(v.clone());
        }
        if let Some(v) = &o.data_dir {
            self.data_dir = v.clone();
        }
        if let Some(v) = o.interval {
            self.interval = v;
        }
        if let Some(v) = o.start {
            self.start = v;
        }
        if let Some(v) = o.touch {
            self.touch = v;
        }
        if let Some(v) = o.queue_depth {
            check_int("--queue-depth", v as u64, 1, MAX_QUEUE_DEPTH)
                .map_err(|m| SpecError::new("--queue-depth", m))?;
            self.queue_depth = v;
        }
        if let Some(v) = o.repeats {
            check_int("--repeats", v as u64, 1, MAX_REPEATS)
                .map_err(|m| SpecError::new("--repeats", m))?;
            self.repeats = v;
        }
        if let Some(v) = o.page_cache_limit {
            self.page_cache_limit = Some(v);
        }
        if o.drop_caches {
            self.drop_caches = true;
        }
        if o.no_fault_attribution {
            self.fault_attribution = false;
        }
        if let Some(d) = o.device {
            self.device = Some(d);
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
        if let Some(Device::Zram { size: Some(z) }) = self.device {
            if z < self.size {
                return Err(format!(
                    "the zram device ({}) is smaller than `size` ({}); use zram:{} or more",
                    units::format_size(z),
                    units::format_size(self.size),
                    units::format_size(self.size)
                ));
            }
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
        Ok(())
    }

    /// Total bytes one operation reads.
    pub fn op_bytes(&self) -> u64 {
        self.block
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

    fn opt<T>(
        &self,
        v: &Option<Spanned<Value>>,
        _key: &str,
        f: impl FnOnce(&Spanned<Value>) -> Result<T, SpecError>,
    ) -> Result<Option<T>, SpecError> {
        v.as_ref().map(f).transpose()
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
