//! Helpers for tests that run the real `faultline` binary on small files.
#![allow(dead_code)]

use faultline::record::{BackendResult, RunRecord, Status};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
}

/// A scratch directory under target/ (on the project's file system, which supports
/// O_DIRECT more often than a tmpfs /tmp does).
pub fn scratch(name: &str) -> PathBuf {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("it");
    std::fs::create_dir_all(&base).unwrap();
    let d = tempfile::Builder::new()
        .prefix(name)
        .tempdir_in(&base)
        .unwrap();
    d.keep()
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Shared data directory for generated files: created once per size, then reused.
pub fn data_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("it-data");
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn run(args: &[&str]) -> Output {
    let out = bin().args(args).output().expect("run faultline");
    out
}

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The run.json in `dir`, read through the library's own record type.
pub fn load(dir: &Path) -> RunRecord {
    let t = std::fs::read_to_string(dir.join("run.json")).expect("run.json exists");
    RunRecord::from_json(&t).expect("run.json is a faultline RunRecord")
}

/// `FAULTLINE_REQUIRE`: see `faultline::testkit`.
pub use faultline::testkit::skip;

/// The capability a backend spec needs: its kind (`direct`, `uring`, `fio`, ...), or
/// `mmap:lock` for a locked mapping (mlock needs RLIMIT_MEMLOCK or root).
pub fn capability_of(spec: &str) -> String {
    let (kind, opts) = spec.split_once(':').unwrap_or((spec, ""));
    if kind == "mmap" && opts.split(',').any(|o| o.trim() == "lock") {
        "mmap:lock".into()
    } else {
        kind.to_string()
    }
}

/// True when the backend ran; false when it was skipped (with a reason, reported
/// through `skip`); a failure panics.
pub fn ran(b: &BackendResult) -> bool {
    match b.status {
        Status::Ok => true,
        Status::Skipped => {
            let reason = b.reason.as_deref().unwrap_or("");
            assert!(!reason.is_empty(), "{}: a skip has a reason", b.name);
            skip(&capability_of(&b.name), &format!("{}: {reason}", b.name));
            false
        }
        Status::Failed => panic!("{}: status failed: {:?}", b.name, b.reason),
    }
}

/// The contract checks for one backend result. Returns false when the backend was
/// skipped (see `ran`).
pub fn check_backend(b: &BackendResult) -> bool {
    if !ran(b) {
        return false;
    }
    let name = &b.name;
    assert!(b.ops > 0, "{name}: no operations");
    assert_eq!(b.verify_errors.unwrap_or(0), 0, "{name}: verify_errors");
    check_latency_and_series(b);
    let h = histogram(b);
    if b.kind == "fio" {
        // fio's latency bins also count the I/Os in flight when it stopped (async
        // engines): up to jobs x iodepth more than its completed total.
        let slack = b.threads as u64 * u64::from(b.queue_depth);
        assert!(
            h.len() >= b.ops && h.len() <= b.ops + slack,
            "{name}: fio histogram count {} within ops {} + {slack}",
            h.len(),
            b.ops
        );
    } else {
        let t = b
            .timing
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: an in-process cell records its timing"));
        assert_eq!(
            h.len(),
            t.sampled_ops,
            "{name}: histogram count == sampled_ops"
        );
        assert!(
            t.overhead_ns > 0.0 && t.floor_ns >= 1.0,
            "{name}: floor {t:?}"
        );
        if t.mode == "every" {
            assert_eq!(h.len(), b.ops, "{name}: histogram count == ops");
        } else if let Some(n) = t.mode.strip_prefix("sample:") {
            // One in N on average: far fewer than all, but some.
            let n: u64 = n.parse().expect("sample:N");
            assert!(
                !h.is_empty() && h.len() <= b.ops / n * 3 + 1,
                "{name}: {} sampled of {} ops at {}",
                h.len(),
                b.ops,
                t.mode
            );
        } else {
            // batch:N: every measured batch recorded, except one that spanned the end
            // of the warm-up (per thread).
            assert!(h.len() <= b.ops, "{name}: batch histogram count <= ops");
        }
    }
    true
}

pub fn histogram(b: &BackendResult) -> hdrhistogram::Histogram<u64> {
    b.decode_histogram()
        .expect("the histogram decodes")
        .unwrap_or_else(|| panic!("{}: a measured backend has a histogram", b.name))
}

/// bytes == ops x block, ordered percentiles, and a time series that adds up to the
/// totals with increasing times.
pub fn check_latency_and_series(b: &BackendResult) {
    let name = &b.name;
    assert_eq!(b.bytes, b.ops * b.block, "{name}: bytes == ops x block");
    let l = b.latency_ns.as_ref().expect("latency percentiles");
    let v = [l.min, l.p50, l.p90, l.p99, l.p999, l.max];
    assert!(
        v.windows(2).all(|w| w[0] <= w[1]),
        "{name}: percentiles ordered {v:?}"
    );
    assert!(v[0] > 0, "{name}: min latency > 0");
    let ts = &b.timeseries;
    assert!(!ts.is_empty(), "{name}: time series");
    let sum: u64 = ts.iter().map(|i| i.ops).sum();
    assert_eq!(sum, b.ops, "{name}: time-series ops add up to ops");
    let bsum: u64 = ts.iter().map(|i| i.bytes).sum();
    assert_eq!(bsum, b.ops * b.block, "{name}: time-series bytes add up");
    assert!(
        ts.windows(2).all(|w| w[0].t_ns <= w[1].t_ns),
        "{name}: time-series times increase"
    );
    assert!(b.ops_per_sec > 0.0);
    check_interval_histograms(b);
}

/// The per-interval histograms of an in-process cell add up to the cell's histogram,
/// bucket by bucket (an external tool's cell has none).
pub fn check_interval_histograms(b: &BackendResult) {
    let name = &b.name;
    if b.kind == "fio" {
        assert!(
            b.timeseries.iter().all(|i| i.histogram.is_none()),
            "{name}: fio's intervals have no histograms"
        );
        return;
    }
    let mut sum = faultline::record::new_histogram();
    for (k, iv) in b.timeseries.iter().enumerate() {
        let enc = iv
            .histogram
            .as_deref()
            .unwrap_or_else(|| panic!("{name}: interval {k} has a histogram"));
        let h = faultline::record::decode_histogram(enc).expect("an interval histogram decodes");
        sum.add(&h).unwrap();
    }
    assert_eq!(
        sum,
        histogram(b),
        "{name}: the per-interval histograms add up to the cell's"
    );
}

/// A counter by its name in run.json (`major_faults`, `tlb_flush_process`, ...) from a
/// result's `counters` or one interval of its time series: null when the probe could
/// not read it. By name, as run.json has it, whatever the counters' Rust type.
pub fn counter<T: serde::Serialize>(c: &T, name: &str) -> Value {
    counter_map(c).get(name).cloned().unwrap_or(Value::Null)
}

/// The counters as run.json names them.
pub fn counter_map<T: serde::Serialize>(c: &T) -> serde_json::Map<String, Value> {
    match serde_json::to_value(c).expect("counters serialize") {
        Value::Object(m) => m,
        v => panic!("counters are not an object: {v}"),
    }
}

/// Every counter of `counters` is either non-null or has a reason.
pub fn counters_present_or_explained(b: &BackendResult) {
    let name = &b.name;
    let c = counter_map(&b.counters);
    for (k, v) in &c {
        if v.is_null() && k != "read_amplification" {
            assert!(
                b.reasons
                    .get(
                        k.parse::<faultline::probe::ReasonKey>()
                            .expect("a known counter")
                    )
                    .is_some_and(|r| !r.is_empty()),
                "{name}: counter {k} is null without a reason (reasons: {:?})",
                b.reasons
            );
        }
    }
    // The same counters in every interval.
    for i in &b.timeseries {
        let m = counter_map(i);
        for k in c.keys() {
            assert!(m.contains_key(k), "{name}: interval lacks {k}");
        }
    }
}

/// Wait (bounded) until the runner of `child`, started with `FAULTLINE_READY_FILE` =
/// `ready`, has measured at least one operation of `backend`. Panics if the child exits
/// first.
pub fn wait_measuring(child: &mut Child, ready: &Path, backend: &str) {
    let prefix = format!("measuring {backend} x");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = std::fs::read_to_string(ready).unwrap_or_default();
        let measuring = text
            .split_inclusive('\n')
            .filter(|l| l.ends_with('\n') && l.starts_with(&prefix))
            .filter_map(|l| l.rsplit_once("ops=")?.1.trim().parse::<u64>().ok())
            .any(|ops| ops > 0);
        if measuring {
            return;
        }
        if let Some(st) = child.try_wait().expect("child status") {
            panic!("faultline exited ({st}) before measuring {backend}; ready file:\n{text}");
        }
        assert!(
            Instant::now() < deadline,
            "{backend} was not measured within 120 s; ready file:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Write a tiny workload file and return its path.
pub fn tiny_workload(dir: &Path, extra: &str) -> PathBuf {
    let p = dir.join("tiny.toml");
    std::fs::write(
        &p,
        format!(
            "description = \"tiny test workload\"\nsize = \"4MiB\"\nthreads = 2\nduration = \"250ms\"\nwarmup = \"50ms\"\ninterval = \"50ms\"\n{extra}\n"
        ),
    )
    .unwrap();
    p
}
