//! fio as an external reference backend. A cell (workload x spec x threads) becomes one
//! fio invocation on the same file: same block size, pattern, thread count (fio jobs run
//! as threads of one process), duration and warm-up. fio's `json+` output gives the
//! totals and its latency histogram bins, which are loaded into an HdrHistogram so the
//! result has the same `histogram` and `latency_ns` fields as a native backend; its
//! averaged IOPS log gives the time series.
//!
//! fio does not fit the `Worker` contract (it runs its own loop in its own process), so
//! `runner::run_cell` hands the whole cell to [`run_cell`].

use crate::datafile::Target;
use crate::record::{self, Interval, Outcome, Status};
use crate::spec::backend::{FioEngine, FioOptions};
use crate::spec::{Pattern, Start, StopAt, Workload};
use crate::{interrupt, units};
use hdrhistogram::Histogram;
use serde_json::Value;
use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable that names the fio binary (default: `fio` from PATH).
pub const FIO_ENV: &str = "FAULTLINE_FIO";
pub const NOT_INSTALLED: &str = "fio is not installed (apt-get install fio)";
/// How long fio may run past its planned time before it is killed.
const GRACE: Duration = Duration::from_secs(60);
const LOG_PREFIX: &str = "faultline";

/// The fio binary to run.
pub fn fio_binary() -> PathBuf {
    std::env::var_os(FIO_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("fio"))
}

/// fio's version string ("fio-3.33"), or why it cannot run.
pub fn fio_version(bin: &Path) -> Result<String, String> {
    match Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Ok(o) => Err(format!(
            "`{} --version` failed ({}): {}",
            bin.display(),
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(NOT_INSTALLED.into()),
        Err(e) => Err(format!("cannot run {}: {e}", bin.display())),
    }
}

/// fio splits `filename` at `:`; escape it (and the escape character).
pub fn escape_filename(path: &str) -> String {
    path.replace('\\', "\\\\").replace(':', "\\:")
}

/// A duration in fio's syntax (microseconds, at least 1).
fn fio_time(d: Duration) -> String {
    format!("{}us", d.as_micros().max(1))
}

/// The fio command line for one cell, and notes on how the cell was translated.
#[derive(Debug, Clone, PartialEq)]
pub struct FioJob {
    pub args: Vec<String>,
    pub notes: Vec<String>,
    /// iodepth per job (1 for synchronous engines).
    pub queue_depth: u32,
    /// Jobs fio runs (fewer than the threads when an op count is smaller than them).
    pub jobs: usize,
    /// How long fio should run (warm-up + measured time); None for an op count.
    pub planned: Option<Duration>,
}

/// `--iodepth` for an asynchronous engine; the queue depth a job keeps.
fn queue_depth_args(
    w: &Workload,
    o: &FioOptions,
    g: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> u32 {
    if o.engine.is_async() {
        let qd = o.qd.unwrap_or(w.queue_depth).max(1);
        g.push(format!("--iodepth={qd}"));
        if o.engine == FioEngine::Libaio && !o.direct {
            notes.push(
                "libaio without direct: buffered Linux AIO completes inside io_submit, so fewer \
                 than iodepth reads are really in flight"
                    .into(),
            );
        }
        qd
    } else {
        1
    }
}

/// The access pattern as fio options: the rw mode and each job's share of the file.
/// `Err` is a pattern fio cannot reproduce faithfully.
fn pattern_args(
    w: &Workload,
    size: u64,
    threads: usize,
    g: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<(&'static str, u64), String> {
    let block = w.block;
    // Sequential: each job reads its own contiguous share of the file in order (the
    // native backends' threads claim chunks from one shared cursor instead).
    let picked = match w.pattern {
        Pattern::Sequential { .. } => {
            let part = size / threads as u64 / block * block;
            if part == 0 {
                return Err(format!(
                    "sequential reads with {threads} fio jobs need at least one {} block per job; the file has {}",
                    units::format_size(block),
                    units::format_size(size)
                ));
            }
            if threads > 1 {
                notes.push(format!(
                    "sequential: each of the {threads} fio jobs reads its own {} of the file in order, wrapping (the native backends' threads claim chunks from one shared cursor)",
                    units::format_size(part)
                ));
            }
            ("read", part)
        }
        Pattern::Random => ("randread", size),
        // Each job appends to its own contiguous share, from its start (as sequential).
        Pattern::Append => {
            let part = size / threads as u64 / block * block;
            if part == 0 {
                return Err(format!(
                    "appends with {threads} fio jobs need at least one {} block per job; the file has {}",
                    units::format_size(block),
                    units::format_size(size)
                ));
            }
            ("read", part)
        }
        Pattern::Zipf { theta } => {
            if theta == 1.0 {
                return Err(
                    "fio's Zipf generator cannot take theta=1.0 (it divides by 1 - theta); use \
                     e.g. zipf:theta=0.99 or 1.01"
                        .into(),
                );
            }
            g.push(format!("--random_distribution=zipf:{theta}"));
            notes.push(format!(
                "zipf: fio's own Zipf generator (theta {theta}, ranks hashed over the file): the \
                 same skew, not the same hot blocks"
            ));
            ("randread", size)
        }
        Pattern::Hotset { ops_pct, size_pct } => {
            let whole = |x: f64| x.fract() == 0.0;
            if !whole(ops_pct) || !whole(size_pct) {
                return Err(format!(
                    "fio's zoned distribution takes whole percentages; hotset:ops={ops_pct},size={size_pct} has a fraction"
                ));
            }
            let (p, s) = (ops_pct as u32, size_pct as u32);
            g.push(format!(
                "--random_distribution=zoned:{p}/{s}:{}/{}",
                100 - p,
                100 - s
            ));
            notes.push(format!(
                "hotset: fio's zoned distribution {p}/{s}:{}/{} ({p}% of reads to the first {s}% of the file)",
                100 - p,
                100 - s
            ));
            ("randread", size)
        }
    };
    Ok(picked)
}

/// The operation and sync policy as fio options: the read mode `rw` becomes its write
/// or mixed form, and the sync policy fio's fdatasync=N / fsync=N / end_fsync.
fn write_args(
    w: &Workload,
    rw: &'static str,
    g: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<&'static str, String> {
    use crate::spec::{Op, SyncMethod, SyncPolicy};
    let rw = match (w.op, rw) {
        (Op::Read, rw) => return Ok(rw),
        (Op::Write, "read") => "write",
        (Op::Write, _) => "randwrite",
        (Op::Mix, "read") => "rw",
        (Op::Mix, _) => "randrw",
    };
    if w.op == Op::Mix {
        g.push(format!("--rwmixread={}", w.read_pct));
    }
    match w.sync {
        SyncPolicy::None => {}
        SyncPolicy::Every { writes } => match w.sync_method {
            SyncMethod::Fdatasync => g.push(format!("--fdatasync={writes}")),
            SyncMethod::Fsync => g.push(format!("--fsync={writes}")),
            SyncMethod::SyncFileRange => g.push(format!(
                "--sync_file_range=wait_before,write,wait_after:{writes}"
            )),
            m => return Err(format!("fio cannot sync with {m}; use fdatasync or fsync")),
        },
        SyncPolicy::End => {
            g.push("--end_fsync=1".into());
            notes.push(
                "sync = end: fio's end_fsync=1 (an fsync when each job ends; its time is in the runtime, not in a latency)"
                    .into(),
            );
        }
        SyncPolicy::Interval { .. } => {
            return Err("fio has no time-based sync; use sync = \"every:N\" or \"end\"".into())
        }
    }
    notes.push(
        "fio writes its own content: the pages it wrote are not verified, and the generated data file is written anew after the cell"
            .into(),
    );
    Ok(rw)
}

/// The stop condition as fio options: a timed run with ramp, or one job section per
/// thread with exact operation counts. Returns the planned time and the job count.
fn stop_args(
    w: &Workload,
    threads: usize,
    part: u64,
    sequential: bool,
    g: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> (Option<Duration>, usize) {
    let block = w.block;
    match w.stop {
        StopAt::Duration(d) => {
            g.push("--time_based".into());
            g.push(format!("--runtime={}", fio_time(d)));
            if !w.warmup.is_zero() {
                g.push(format!("--ramp_time={}", fio_time(w.warmup)));
            }
            g.push(format!("--size={part}"));
            if sequential && threads > 1 {
                g.push(format!("--offset_increment={part}"));
            }
            g.push("--name=faultline".into());
            g.push(format!("--numjobs={threads}"));
            (Some(w.warmup + d), threads)
        }
        StopAt::Ops(n) => {
            if !w.warmup.is_zero() {
                notes.push(format!(
                    "no warm-up: fio counts ramp_time's I/Os toward number_ios, so the {} warm-up was not run",
                    units::format_duration(w.warmup)
                ));
            }
            g.push(format!("--size={part}"));
            // One job section per thread, so the per-thread counts add up to exactly n
            // (numjobs would give every job the same count).
            let mut jobs = 0;
            for i in 0..threads {
                let q = n / threads as u64 + u64::from((i as u64) < n % threads as u64);
                if q == 0 {
                    continue;
                }
                g.push(format!("--name=faultline.{i}"));
                g.push(format!("--number_ios={q}"));
                // number_ios only stops a job early; io_size lets it run that long
                // (wrapping over its range).
                g.push(format!("--io_size={}", q.saturating_mul(block)));
                if sequential {
                    g.push(format!("--offset={}", i as u64 * part));
                }
                jobs += 1;
            }
            if jobs < threads {
                notes.push(format!(
                    "{n} operations over {threads} threads: only {jobs} fio job(s) have any to do"
                ));
            }
            (None, jobs)
        }
    }
}

/// Translate a cell into a fio command line. `path` is fio's `filename`, escaped
/// (`escape_filename`; several files joined with `:`). `Err` is a reason to skip: the
/// cell has no faithful fio translation.
pub fn plan(
    path: &str,
    size: u64,
    w: &Workload,
    o: &FioOptions,
    threads: usize,
    out_dir: &Path,
) -> Result<FioJob, String> {
    let threads = threads.max(1);
    let block = w.block;
    let mut notes = Vec::new();
    let mut g: Vec<String> = vec![
        "--output-format=json+".into(),
        format!("--output={}", out_dir.join("fio.json").display()),
        "--thread".into(),
        "--group_reporting".into(),
        format!("--filename={path}"),
        // Never create or extend the file (it may be the user's); write only when the
        // workload writes (to a generated file, or with --allow-write).
        "--allow_file_create=0".into(),
        format!("--ioengine={}", o.engine.as_str()),
        format!("--direct={}", u8::from(o.direct)),
        format!("--bs={block}"),
        "--norandommap".into(),
        "--randrepeat=0".into(),
        // No POSIX_FADV_RANDOM / MADV_RANDOM behind our back: the native backends give
        // the kernel no access-pattern hint either.
        "--fadvise_hint=0".into(),
        format!("--invalidate={}", u8::from(w.start == Start::Cold)),
        // Submit-to-completion latency histograms (json+ bins) besides clat.
        "--lat_percentiles=1".into(),
        format!("--write_iops_log={}", out_dir.join(LOG_PREFIX).display()),
        format!("--log_avg_msec={}", w.interval.as_millis().max(1)),
        "--per_job_logs=0".into(),
    ];
    if !w.op.writes() {
        g.push("--readonly".into());
    }
    if w.on_error == crate::spec::OnError::Continue {
        g.push("--continue_on_error=read".into());
        notes.push(
            "on_error = continue: fio runs with continue_on_error=read and reports the failed reads (total_err) as io_errors; they are not in its latency bins' offsets, and fio keeps no offsets of them".into(),
        );
    }
    let queue_depth = queue_depth_args(w, o, &mut g, &mut notes);
    let (rw, part) = pattern_args(w, size, threads, &mut g, &mut notes)?;
    let rw = write_args(w, rw, &mut g, &mut notes)?;
    g.push(format!("--rw={rw}"));
    let sequential = rw == "read" || rw == "write";
    let (planned, jobs) = stop_args(w, threads, part, sequential, &mut g, &mut notes);
    notes.push(
        "fio does not read the bytes it receives (`touch` does not apply; the mmap engine \
         copies each block out of the mapping with memcpy)"
            .into(),
    );
    Ok(FioJob {
        args: g,
        notes,
        queue_depth,
        jobs,
        planned,
    })
}

/// What faultline takes from fio's json+ output.
#[derive(Debug, Clone)]
pub struct FioResult {
    pub version: String,
    /// read.total_ios summed over the reported jobs (groups).
    pub total_ios: u64,
    /// read.runtime, ms (the longest job).
    pub runtime_ms: u64,
    pub iops: f64,
    /// Latency bins {ns: count}: lat_ns when fio gave bins for it, else clat_ns.
    pub bins: Vec<(u64, u64)>,
    /// "lat" or "clat".
    pub latency_kind: &'static str,
    /// fio's own percentiles of the same latency (p50, p99), ns.
    pub fio_p50: Option<u64>,
    pub fio_p99: Option<u64>,
    pub usr_cpu: f64,
    pub sys_cpu: f64,
    /// Non-zero job errors, as "job: error N".
    pub errors: Vec<String>,
    /// Reads that failed and were counted (`continue_on_error=read`, under
    /// `on_error = "continue"`): fio's `total_err`, and its `first_error` (an errno).
    pub io_errors: u64,
    pub first_error: Option<u64>,
}

fn bins_of(v: &Value) -> Vec<(u64, u64)> {
    let Some(m) = v.get("bins").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut out: Vec<(u64, u64)> = m
        .iter()
        .filter_map(|(k, c)| Some((k.parse::<u64>().ok()?, c.as_u64()?)))
        .filter(|&(_, c)| c > 0)
        .collect();
    out.sort_unstable();
    out
}

fn percentile(v: &Value, key: &str) -> Option<u64> {
    v.get("percentile")?.get(key)?.as_u64()
}

/// Parse fio's `--output-format=json+` text (anything before the first `{`, such as a
/// warning fio printed into the same file, is skipped).
pub fn parse_json(text: &str) -> Result<FioResult, String> {
    let start = text
        .find('{')
        .ok_or_else(|| "fio wrote no JSON".to_string())?;
    let d: Value = serde_json::from_str(&text[start..])
        .map_err(|e| format!("cannot parse fio's JSON output: {e}"))?;
    let jobs = d
        .get("jobs")
        .and_then(Value::as_array)
        .filter(|j| !j.is_empty())
        .ok_or_else(|| "fio's JSON has no jobs".to_string())?;
    let mut r = FioResult {
        version: d
            .get("fio version")
            .and_then(Value::as_str)
            .unwrap_or("fio")
            .to_string(),
        total_ios: 0,
        runtime_ms: 0,
        iops: 0.0,
        bins: Vec::new(),
        latency_kind: "lat",
        fio_p50: None,
        fio_p99: None,
        usr_cpu: 0.0,
        sys_cpu: 0.0,
        errors: Vec::new(),
        io_errors: 0,
        first_error: None,
    };
    // The directions that did I/O: read, write or both (a mix). Sync calls are in
    // their own section ("sync") and are not operations.
    let ios = |j: &Value, dir: &str| j[dir]["total_ios"].as_u64().unwrap_or(0);
    let dirs: Vec<&str> = ["read", "write"]
        .into_iter()
        .filter(|d| jobs.iter().any(|j| ios(j, d) > 0))
        .collect();
    let dirs = if dirs.is_empty() { vec!["read"] } else { dirs };
    let lat_has_bins = jobs.iter().all(|j| {
        dirs.iter()
            .all(|d| ios(j, d) == 0 || !bins_of(&j[*d]["lat_ns"]).is_empty())
    });
    r.latency_kind = if lat_has_bins { "lat" } else { "clat" };
    let key = if lat_has_bins { "lat_ns" } else { "clat_ns" };
    let mut merged: std::collections::BTreeMap<u64, u64> = Default::default();
    for j in jobs {
        let name = j.get("jobname").and_then(Value::as_str).unwrap_or("job");
        if let Some(n) = j.get("total_err").and_then(Value::as_u64) {
            // continue_on_error: `error` holds the first error of the reads it counted.
            r.io_errors += n;
            if n > 0 {
                r.first_error = r
                    .first_error
                    .or(j.get("first_error").and_then(Value::as_u64));
            }
        } else if let Some(e) = j.get("error").and_then(Value::as_u64).filter(|&e| e != 0) {
            r.errors.push(format!("{name}: error {e}"));
        }
        for d in &dirs {
            let dir = &j[*d];
            r.total_ios += dir["total_ios"].as_u64().unwrap_or(0);
            r.runtime_ms = r.runtime_ms.max(dir["runtime"].as_u64().unwrap_or(0));
            r.iops += dir["iops"].as_f64().unwrap_or(0.0);
            for (v, c) in bins_of(&dir[key]) {
                *merged.entry(v).or_default() += c;
            }
            if r.fio_p50.is_none() && dirs.len() == 1 {
                r.fio_p50 = percentile(&dir[key], "50.000000");
                r.fio_p99 = percentile(&dir[key], "99.000000");
            }
        }
        r.usr_cpu += j["usr_cpu"].as_f64().unwrap_or(0.0);
        r.sys_cpu += j["sys_cpu"].as_f64().unwrap_or(0.0);
    }
    r.bins = merged.into_iter().collect();
    Ok(r)
}

/// Load fio's latency bins (value in ns -> count) into a histogram of the runner's
/// bounds: each bin value recorded with its count.
pub fn histogram_of(bins: &[(u64, u64)]) -> Histogram<u64> {
    let mut h = record::new_histogram();
    for &(v, c) in bins {
        h.saturating_record_n(v.clamp(1, record::HIST_MAX_NS), c);
    }
    h
}

/// The per-interval series from fio's averaged IOPS log, closed so that it adds up to
/// `total_ops` exactly. Returns the series and the sum the log itself gave (before the
/// tail of the run that no log window covers was added, or an excess removed).
///
/// With `log_avg_msec` each line is `msec, iops, ddir, bs, offset`: one job's average
/// rate over the window that ends at `msec` (ms since the measured phase began; fio
/// averages the rates it sampled in the window). With `per_job_logs=0` the jobs' lines
/// follow each other in one file; a job's block starts where the time goes back. A
/// window's operations are rate x window length: an estimate (integer rates, a mean of
/// sub-window rates, windows that end when fio's helper thread wakes), so the series is
/// closed against fio's exact total.
pub fn series_from_iops_log(
    log: &str,
    interval: Duration,
    total_ops: u64,
    runtime_ns: u64,
    block: u64,
) -> (Vec<Interval>, u64) {
    let interval_ms = (interval.as_millis() as u64).max(1);
    // bucket -> (ops, latest end ms)
    let mut buckets: std::collections::BTreeMap<u64, (f64, u64)> = Default::default();
    let mut prev: Option<u64> = None;
    for line in log.lines() {
        let mut f = line.split(',').map(str::trim);
        let (Some(Ok(t)), Some(Ok(rate))) = (
            f.next().map(str::parse::<u64>),
            f.next().map(str::parse::<u64>),
        ) else {
            continue;
        };
        // A line's rate covers the time since the job's previous line. The first line
        // of a job covers at most one window: fio's clock (t = 0) can start before the
        // job's first I/O (file setup when there is no ramp), and the rate is measured
        // from that first I/O.
        let window = match prev {
            Some(p) if t > p => t - p,
            _ => t.min(interval_ms),
        };
        prev = Some(t);
        let ops = rate as f64 * window as f64 / 1000.0;
        let k = ((t + interval_ms / 2) / interval_ms).max(1);
        let e = buckets.entry(k).or_insert((0.0, 0));
        e.0 += ops;
        e.1 = e.1.max(t);
    }
    let mut series: Vec<Interval> = buckets
        .values()
        .map(|&(ops, t_ms)| {
            let ops = ops.round() as u64;
            Interval {
                t_ns: t_ms * 1_000_000,
                ops,
                bytes: ops * block,
                histogram: None,
                counters: Default::default(),
            }
        })
        .collect();
    let logged: u64 = series.iter().map(|i| i.ops).sum();
    if logged > total_ops {
        // Rounding or I/Os that completed around the ramp's end: take the excess off
        // the last intervals.
        let mut excess = logged - total_ops;
        for i in series.iter_mut().rev() {
            let d = excess.min(i.ops);
            i.ops -= d;
            i.bytes = i.ops * block;
            excess -= d;
            if excess == 0 {
                break;
            }
        }
    }
    let counted: u64 = series.iter().map(|i| i.ops).sum();
    let rest = total_ops - counted.min(total_ops);
    let last_t = series.last().map(|i| i.t_ns).unwrap_or(0);
    let interval_ns = interval.as_nanos() as u64;
    let fold = !series.is_empty() && runtime_ns.saturating_sub(last_t) < interval_ns / 10;
    if let Some(last) = series.last_mut().filter(|_| fold) {
        // The few operations after the last window: fold them into it rather than
        // reporting a sliver of an interval (as the runner does).
        last.ops += rest;
        last.bytes = last.ops * block;
        last.t_ns = last.t_ns.max(runtime_ns);
    } else if rest > 0 || series.is_empty() {
        series.push(Interval {
            t_ns: runtime_ns.max(last_t),
            ops: rest,
            bytes: rest * block,
            histogram: None,
            counters: Default::default(),
        });
    }
    (series, logged)
}

/// A private scratch directory for fio's output and logs, removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> std::io::Result<ScratchDir> {
        let base = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for i in 0..100u32 {
            let p = base.join(format!("faultline-fio-{}-{nanos}-{i}", std::process::id()));
            match std::fs::create_dir(&p) {
                Ok(()) => return Ok(ScratchDir(p)),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::new(
            ErrorKind::AlreadyExists,
            "no free scratch directory name",
        ))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn not_run(status: Status, reason: String, threads: usize, notes: Vec<String>) -> Outcome {
    Outcome {
        notes,
        ..Outcome::not_run(status, reason, threads)
    }
}

/// O_DIRECT must work on the file and the block must fit its alignment, as for the
/// `direct` backend; fio would fail with EINVAL mid-run otherwise.
fn check_direct(path: &Path, block: u64) -> Result<String, String> {
    let f: File = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .map_err(|e| {
            format!(
                "cannot open {} with O_DIRECT ({e}); the file system may not support it",
                path.display()
            )
        })?;
    let (_, offset_align, source) = super::direct::alignment(&f)?;
    if !block.is_multiple_of(offset_align) {
        return Err(format!(
            "block {} is not a multiple of the direct I/O alignment {offset_align} B (from {source})",
            units::format_size(block)
        ));
    }
    Ok(format!(
        "direct=1: block is a multiple of the {offset_align} B direct I/O alignment (from {source})"
    ))
}

/// fio as a backend: it runs a whole cell in its own processes.
pub struct Fio<'a> {
    pub options: &'a FioOptions,
}

impl super::External for Fio<'_> {
    fn name(&self) -> &'static str {
        "fio"
    }
    fn run_cell(&self, ctx: &super::OpenCtx) -> Outcome {
        run_cell(ctx.target, ctx.workload, self.options, ctx.threads)
    }
}

/// Run one cell through fio. Never panics; every problem becomes a skipped or failed
/// outcome with the reason.
pub fn run_cell(target: &Target, w: &Workload, o: &FioOptions, threads: usize) -> Outcome {
    let (bin, job, dir, notes) = match prepare(target, w, o, threads) {
        Ok(p) => p,
        Err((status, reason)) => return not_run(status, reason, threads, vec![]),
    };
    let status = match execute(&bin, &job, &dir) {
        Ok(s) => s,
        Err(r) => return not_run(Status::Failed, r, threads, notes),
    };
    let interrupted = interrupt::requested();
    match read_result(&dir, status, interrupted) {
        Ok(r) => finish(r, &job, &dir, w, threads, interrupted, notes),
        Err((reason, stopped)) => Outcome {
            interrupted: stopped,
            ..not_run(Status::Failed, reason, threads, notes)
        },
    }
}

/// fio's binary, the job, its scratch directory and the notes so far.
type Prepared = (PathBuf, FioJob, ScratchDir, Vec<String>);

/// Everything before fio starts: its binary and version, the absolute path, the direct
/// I/O check, the scratch directory and the job. `Err` is the status and reason.
fn prepare(
    target: &Target,
    w: &Workload,
    o: &FioOptions,
    threads: usize,
) -> Result<Prepared, (Status, String)> {
    let skip = |r| (Status::Skipped, r);
    let bin = fio_binary();
    let version = fio_version(&bin).map_err(skip)?;
    // fio runs in its scratch directory: give it an absolute path.
    // Several devices (a striped target): fio's multi-file `filename=a:b:c`.
    let mut names = Vec::new();
    for p in target.paths() {
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let s = abs.to_str().ok_or_else(|| {
            skip(format!(
                "fio cannot be given the non-UTF-8 path {}",
                p.display()
            ))
        })?;
        names.push(escape_filename(s));
    }
    let joined = names.join(":");
    let path = joined.as_str();
    let mut notes = vec![];
    if let Some(s) = &target.stripe {
        notes.push(format!(
            "{} devices given to fio as filename=a:b:...: fio does not stripe one address space over them; it divides `size` evenly over the files (each read from its offset 0) and switches file after every I/O (file_service_type=roundrobin, its default), so it spreads the load over the devices as the {} stripe does, but its offsets are not faultline's",
            s.devices.len(),
            units::format_size(s.unit)
        ));
    }
    if o.direct {
        notes.push(check_direct(&target.path, w.block).map_err(skip)?);
    }
    let dir = ScratchDir::new().map_err(|e| {
        (
            Status::Failed,
            format!("cannot create a scratch directory for fio's output: {e}"),
        )
    })?;
    let job = plan(path, target.size, w, o, threads, &dir.0).map_err(skip)?;
    notes.push(format!(
        "{version}: {} {}",
        bin.display(),
        job.args.join(" ")
    ));
    notes.extend(job.notes.iter().cloned());
    Ok((bin, job, dir, notes))
}

/// Run fio in its scratch directory, polling so that a hung fio is killed after its
/// planned time plus a grace.
fn execute(bin: &Path, job: &FioJob, dir: &ScratchDir) -> Result<std::process::ExitStatus, String> {
    let (stdout, stderr) = match (
        File::create(dir.0.join("stdout")),
        File::create(dir.0.join("stderr")),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return Err(format!("cannot create fio's output files: {e}")),
    };
    let mut child = Command::new(bin)
        .args(&job.args)
        .current_dir(&dir.0)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let began = Instant::now();
    let deadline = job.planned.map(|p| p + GRACE);
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Ok(s),
            Ok(None) => {}
            Err(e) => return Err(format!("waiting for fio failed: {e}")),
        }
        if deadline.is_some_and(|d| began.elapsed() > d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "fio was still running {:.0} s after its planned end and was killed",
                GRACE.as_secs_f64()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// fio's JSON report, or why the cell failed (with whether it was interrupted).
fn read_result(
    dir: &ScratchDir,
    status: std::process::ExitStatus,
    interrupted: bool,
) -> Result<FioResult, (String, bool)> {
    let err_text = std::fs::read_to_string(dir.0.join("stderr")).unwrap_or_default();
    let tail = || {
        let lines: Vec<&str> = err_text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    };
    let json = std::fs::read_to_string(dir.0.join("fio.json")).unwrap_or_default();
    let parsed = parse_json(&json);
    if !status.success() && !interrupted {
        let mut reason = format!("fio exited with {status}");
        if !err_text.trim().is_empty() {
            reason.push_str(": ");
            reason.push_str(&tail());
        }
        if let Ok(r) = &parsed {
            if !r.errors.is_empty() {
                reason.push_str(&format!(" ({})", r.errors.join(", ")));
            }
        }
        return Err((reason, false));
    }
    let r = parsed.map_err(|e| (format!("{e}; fio said: {}", tail()), interrupted))?;
    if !r.errors.is_empty() {
        let reason = format!("fio reported {}: {}", r.errors.join(", "), tail());
        return Err((reason, false));
    }
    Ok(r)
}

/// The cell's outcome from fio's report and IOPS log.
fn finish(
    r: FioResult,
    job: &FioJob,
    dir: &ScratchDir,
    w: &Workload,
    threads: usize,
    interrupted: bool,
    mut notes: Vec<String>,
) -> Outcome {
    let hist = histogram_of(&r.bins);
    let runtime_ns = r.runtime_ms * 1_000_000;
    let timeseries = timeseries(&r, dir, w, runtime_ns, &mut notes);
    notes.extend(result_notes(&r, job, hist.len()));
    if r.io_errors > 0 {
        let first = r
            .first_error
            .map(|e| {
                format!(
                    "; the first: {}",
                    std::io::Error::from_raw_os_error(e as i32)
                )
            })
            .unwrap_or_default();
        notes.push(format!(
            "fio counted {} failed reads (continue_on_error=read){first}",
            r.io_errors
        ));
    }
    let (status, reason) = if interrupted {
        (
            Status::Failed,
            Some("interrupted by the user while fio ran".to_string()),
        )
    } else if r.total_ios == 0 {
        (Status::Failed, Some("fio completed no I/O".to_string()))
    } else {
        (Status::Ok, None)
    };
    Outcome {
        status,
        reason,
        notes,
        threads,
        queue_depth: job.queue_depth,
        ops: r.total_ios,
        elapsed_ns: runtime_ns,
        hist: (!hist.is_empty()).then_some(hist),
        timeseries,
        verify_errors: 0,
        interrupted,
        io_errors: r.io_errors,
        ..Outcome::default()
    }
}

/// The time series from fio's IOPS log (one interval when there is none), with a note.
fn timeseries(
    r: &FioResult,
    dir: &ScratchDir,
    w: &Workload,
    runtime_ns: u64,
    notes: &mut Vec<String>,
) -> Vec<Interval> {
    let log_path = dir.0.join(format!("{LOG_PREFIX}_iops.log"));
    match std::fs::read_to_string(&log_path) {
        Ok(log) => {
            let (s, logged) =
                series_from_iops_log(&log, w.interval, r.total_ios, runtime_ns, w.block);
            let fix = if logged <= r.total_ios {
                "the rest (the tail after fio's last window, and rounding) is in the last interval"
            } else {
                "the excess (rounding, I/Os completing around the ramp's end) was taken off the last intervals"
            };
            notes.push(format!(
                "time series from fio's IOPS log (rate x window, {} windows, jobs summed): the windows held {logged} of {} ops; {fix}",
                units::format_duration(w.interval),
                r.total_ios
            ));
            s
        }
        Err(e) => {
            notes.push(format!(
                "fio wrote no IOPS log ({e}): the time series is one interval"
            ));
            series_from_iops_log("", w.interval, r.total_ios, runtime_ns, w.block).0
        }
    }
}

/// What the result's numbers are, as notes: latency source, op count, fio's CPU.
fn result_notes(r: &FioResult, job: &FioJob, samples: u64) -> Vec<String> {
    let ns = |v: Option<u64>| v.map_or_else(|| "-".into(), |v| units::format_ns(v as f64));
    let kind = if r.latency_kind == "lat" {
        "submission to completion"
    } else {
        "completion latency: lat had no bins in this fio"
    };
    let bins = if samples == r.total_ios {
        String::new()
    } else {
        format!(
            " (total_ios counts I/Os issued after the ramp; the bins also count I/Os issued before the ramp ended and completed after; they differ by at most jobs x iodepth = {})",
            job.jobs as u64 * u64::from(job.queue_depth)
        )
    };
    vec![
        format!(
            "latency: fio's {} ({kind}) from its json+ bins, loaded bin value x count (fio's bins are about 1.6% wide); fio's own p50 {} p99 {}",
            r.latency_kind,
            ns(r.fio_p50),
            ns(r.fio_p99),
        ),
        format!(
            "ops = fio's read.total_ios ({}); fio's IOPS {:.0} over {} ms; the latency bins hold {samples} samples{bins}",
            r.total_ios, r.iops, r.runtime_ms,
        ),
        format!(
            "fio CPU (all jobs): usr {:.1}%, sys {:.1}% of one CPU",
            r.usr_cpu, r.sys_cpu
        ),
        "fio's reads are not verified by faultline: verify_errors 0 means not checked".into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::backend::{BackendKind, FioOptions};
    use crate::spec::BackendSpec;

    fn workload(extra: &str) -> Workload {
        Workload::parse(
            &format!("size = \"64MiB\"\nthreads = 2\nduration = \"2s\"\nwarmup = \"500ms\"\ninterval = \"250ms\"\n{extra}"),
            "w.toml",
            "w",
        )
        .unwrap()
    }

    fn opts(spec: &str) -> FioOptions {
        match BackendSpec::parse(spec).unwrap().kind {
            BackendKind::Fio(o) => o,
            _ => unreachable!(),
        }
    }

    fn has(job: &FioJob, arg: &str) -> bool {
        job.args.iter().any(|a| a == arg)
    }

    #[test]
    fn plans_a_timed_random_cell() {
        let w = workload("");
        let j = plan("/d/f.dat", 64 << 20, &w, &opts("fio"), 2, Path::new("/t")).unwrap();
        for a in [
            "--output-format=json+",
            "--filename=/d/f.dat",
            "--readonly",
            "--ioengine=psync",
            "--direct=0",
            "--bs=4096",
            "--rw=randread",
            "--norandommap",
            "--randrepeat=0",
            "--invalidate=1",
            "--time_based",
            "--runtime=2000000us",
            "--ramp_time=500000us",
            "--size=67108864",
            "--numjobs=2",
            "--thread",
            "--group_reporting",
            "--log_avg_msec=250",
            "--per_job_logs=0",
            "--write_iops_log=/t/faultline",
        ] {
            assert!(has(&j, a), "{a} missing from {:?}", j.args);
        }
        assert!(!j.args.iter().any(|a| a.starts_with("--iodepth")));
        assert_eq!(j.queue_depth, 1);
        assert_eq!(j.planned, Some(Duration::from_millis(2500)));
        // Global options come before the job section.
        let name = j.args.iter().position(|a| a == "--name=faultline").unwrap();
        assert!(j.args.iter().position(|a| a == "--rw=randread").unwrap() < name);
    }

    #[test]
    fn plans_engines_depths_and_cache_state() {
        let w = workload("start = \"warm\"\nqueue_depth = 4");
        let j = plan(
            "f",
            1 << 20,
            &w,
            &opts("fio:engine=io_uring"),
            1,
            Path::new("t"),
        )
        .unwrap();
        assert!(has(&j, "--iodepth=4") && has(&j, "--invalidate=0"));
        assert_eq!(j.queue_depth, 4);
        let j = plan(
            "f",
            1 << 20,
            &w,
            &opts("fio:engine=libaio,qd=32,direct"),
            1,
            Path::new("t"),
        )
        .unwrap();
        assert!(has(&j, "--iodepth=32") && has(&j, "--direct=1") && has(&j, "--ioengine=libaio"));
        let j = plan(
            "f",
            1 << 20,
            &w,
            &opts("fio:engine=libaio,qd=2"),
            1,
            Path::new("t"),
        )
        .unwrap();
        assert!(j.notes.iter().any(|n| n.contains("buffered Linux AIO")));
        let j = plan(
            "f",
            1 << 20,
            &w,
            &opts("fio:engine=mmap"),
            1,
            Path::new("t"),
        )
        .unwrap();
        assert!(has(&j, "--ioengine=mmap") && has(&j, "--fadvise_hint=0"));
    }

    #[test]
    fn plans_patterns() {
        let o = opts("fio");
        let w = workload("pattern = \"sequential\"\nblock = \"64KiB\"");
        let j = plan("f", 64 << 20, &w, &o, 2, Path::new("t")).unwrap();
        assert!(has(&j, "--rw=read") && has(&j, "--size=33554432"));
        assert!(has(&j, "--offset_increment=33554432"));
        let w = workload("pattern = \"zipf:theta=1.2\"");
        let j = plan("f", 64 << 20, &w, &o, 2, Path::new("t")).unwrap();
        assert!(has(&j, "--random_distribution=zipf:1.2") && has(&j, "--rw=randread"));
        let w = workload("pattern = \"zipf:theta=1\"");
        assert!(plan("f", 64 << 20, &w, &o, 2, Path::new("t"))
            .unwrap_err()
            .contains("theta=1.0"));
        let w = workload("pattern = \"hotset:ops=80,size=5\"");
        let j = plan("f", 64 << 20, &w, &o, 2, Path::new("t")).unwrap();
        assert!(
            has(&j, "--random_distribution=zoned:80/5:20/95"),
            "{:?}",
            j.args
        );
        let w = workload("pattern = \"hotset:ops=80.5,size=5\"");
        assert!(plan("f", 64 << 20, &w, &o, 2, Path::new("t"))
            .unwrap_err()
            .contains("whole percentages"));
        // A file too small for one block per job.
        let w = workload("pattern = \"sequential\"\nblock = \"64KiB\"");
        assert!(plan("f", 64 << 10, &w, &o, 2, Path::new("t")).is_err());
    }

    #[test]
    fn plans_an_op_count_as_exact_per_job_counts() {
        let w = Workload::parse(
            "size = \"4MiB\"\nthreads = 2\nops = 10001\nwarmup = \"1s\"",
            "w.toml",
            "w",
        )
        .unwrap();
        let j = plan("f", 4 << 20, &w, &opts("fio"), 2, Path::new("t")).unwrap();
        assert!(!j
            .args
            .iter()
            .any(|a| a.starts_with("--ramp_time") || a == "--time_based"));
        assert!(has(&j, "--name=faultline.0") && has(&j, "--number_ios=5001"));
        assert!(has(&j, "--name=faultline.1") && has(&j, "--number_ios=5000"));
        assert!(has(&j, &format!("--io_size={}", 5001 * 4096)));
        assert!(j.notes.iter().any(|n| n.contains("no warm-up")));
        assert_eq!((j.jobs, j.planned), (2, None));
        let w = Workload::parse(
            "size = \"4MiB\"\nthreads = 3\nops = 2\nwarmup = \"0s\"",
            "w.toml",
            "w",
        )
        .unwrap();
        let j = plan("f", 4 << 20, &w, &opts("fio"), 3, Path::new("t")).unwrap();
        assert_eq!(j.jobs, 2);
    }

    #[test]
    fn escapes_colons_in_file_names() {
        assert_eq!(escape_filename("/a:b/c"), "/a\\:b/c");
        assert_eq!(escape_filename("/plain"), "/plain");
    }

    const JSON: &str = r#"note: a warning fio printed first
{
  "fio version" : "fio-3.33",
  "jobs" : [
    {
      "jobname" : "faultline", "error" : 0, "usr_cpu" : 4.5, "sys_cpu" : 20.0,
      "read" : {
        "total_ios" : 10, "runtime" : 1000, "iops" : 10.0,
        "clat_ns" : { "N" : 11, "bins" : { "1000" : 5, "2000" : 6 },
                      "percentile" : { "50.000000" : 1000, "99.000000" : 2000 } },
        "lat_ns" : { "N" : 11, "bins" : { "1100" : 4, "2100" : 6, "900000" : 1 },
                     "percentile" : { "50.000000" : 2100, "99.000000" : 900000 } }
      }
    }
  ]
}"#;

    #[test]
    fn parses_json_plus_and_prefers_lat_bins() {
        let r = parse_json(JSON).unwrap();
        assert_eq!(r.version, "fio-3.33");
        assert_eq!((r.total_ios, r.runtime_ms), (10, 1000));
        assert_eq!(r.latency_kind, "lat");
        assert_eq!(r.bins, vec![(1100, 4), (2100, 6), (900_000, 1)]);
        assert_eq!((r.fio_p50, r.fio_p99), (Some(2100), Some(900_000)));
        assert!(r.errors.is_empty());
        let h = histogram_of(&r.bins);
        assert_eq!(h.len(), 11);
        assert!(h.equivalent(h.max(), 900_000));
        // Without lat bins, clat is used.
        let no_lat = JSON.replace(r#""bins" : { "1100" : 4, "2100" : 6, "900000" : 1 },"#, "");
        let r = parse_json(&no_lat).unwrap();
        assert_eq!(r.latency_kind, "clat");
        assert_eq!(r.bins, vec![(1000, 5), (2000, 6)]);
        let err = JSON.replace(r#""error" : 0"#, r#""error" : 5"#);
        assert_eq!(parse_json(&err).unwrap().errors, vec!["faultline: error 5"]);
        // With continue_on_error the errors are counted, not the job's failure.
        let cont = err.replacen(
            "\"error\" : 5",
            "\"error\" : 5, \"total_err\" : 7, \"first_error\" : 5",
            1,
        );
        let r = parse_json(&cont).unwrap();
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!((r.io_errors, r.first_error), (7, Some(5)));
        assert!(parse_json("").is_err());
        assert!(parse_json("{\"jobs\": []}").is_err());
        assert!(parse_json("{ not json").is_err());
    }

    #[test]
    fn iops_log_becomes_a_series_that_adds_up() {
        // Two jobs, 200 ms windows; job 2's lines follow job 1's.
        let log = "200, 1000, 0, 0, 0\n400, 2000, 0, 0, 0\n201, 500, 0, 0, 0\n402, 1500, 0, 0, 0\n";
        let ms = Duration::from_millis(200);
        // Windows: 200 + 100 (t=200/201; a first line covers at most one interval),
        // 400 + 301.5 (t=400/402) -> 300, 702.
        let (s, logged) = series_from_iops_log(log, ms, 1100, 500_000_000, 4096);
        assert_eq!(logged, 300 + 702);
        assert_eq!(
            s.iter().map(|i| i.ops).collect::<Vec<_>>(),
            vec![300, 702, 98]
        );
        assert_eq!(
            s.iter().map(|i| i.t_ns).collect::<Vec<_>>(),
            vec![201_000_000, 402_000_000, 500_000_000]
        );
        assert!(s.iter().all(|i| i.bytes == i.ops * 4096));
        // A tail shorter than a tenth of the interval is folded into the last window.
        let (s, _) = series_from_iops_log(log, ms, 1100, 410_000_000, 4096);
        assert_eq!(s.iter().map(|i| i.ops).collect::<Vec<_>>(), vec![300, 800]);
        assert_eq!(s[1].t_ns, 410_000_000);
        // More logged than fio's total (rounding): the excess comes off the end.
        let (s, _) = series_from_iops_log(log, ms, 900, 410_000_000, 4096);
        assert_eq!(s.iter().map(|i| i.ops).sum::<u64>(), 900);
        // No log at all: one interval with everything.
        let (s, logged) = series_from_iops_log("garbage\n", ms, 7, 1_000, 4096);
        assert_eq!((s.len(), s[0].ops, s[0].t_ns, logged), (1, 7, 1_000, 0));
        // The first line of a job covers at most one interval (fio's clock may start
        // before the job's first I/O).
        let (_, logged) = series_from_iops_log(
            "143, 1000, 0, 0, 0\n",
            Duration::from_millis(50),
            1000,
            200_000_000,
            1,
        );
        assert_eq!(logged, 50);
        // One sample per job at the same time (short runs): both jobs count.
        let (s, _) = series_from_iops_log(
            "50, 1000, 0, 0, 0\n50, 1000, 0, 0, 0\n",
            Duration::from_millis(50),
            100,
            50_000_000,
            1,
        );
        assert_eq!(s.iter().map(|i| i.ops).collect::<Vec<_>>(), vec![100]);
    }
}
