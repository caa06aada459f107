//! Helpers for tests that run the real `faultline` binary on small files.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

pub fn load(dir: &Path) -> Value {
    let t = std::fs::read_to_string(dir.join("run.json")).expect("run.json exists");
    serde_json::from_str(&t).expect("run.json is JSON")
}

/// The contract checks for one backend result. Returns false when the backend was
/// skipped (after printing why), so callers can tell.
pub fn check_backend(b: &Value, block: u64) -> bool {
    let name = b["name"].as_str().unwrap();
    match b["status"].as_str().unwrap() {
        "ok" => {}
        "skipped" => {
            eprintln!("SKIPPED {name}: {}", b["reason"]);
            assert!(
                b["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "a skip has a reason"
            );
            return false;
        }
        s => panic!("{name}: status {s}: {}", b["reason"]),
    }
    let ops = b["ops"].as_u64().unwrap();
    assert!(ops > 0, "{name}: no operations");
    assert_eq!(
        b["bytes"].as_u64().unwrap(),
        ops * block,
        "{name}: bytes == ops x block"
    );
    if !b["verify_errors"].is_null() {
        assert_eq!(
            b["verify_errors"].as_u64().unwrap(),
            0,
            "{name}: verify_errors"
        );
    }
    let l = &b["latency_ns"];
    let keys = ["min", "p50", "p90", "p99", "p999", "max"];
    let v: Vec<u64> = keys.iter().map(|k| l[k].as_u64().unwrap()).collect();
    assert!(
        v.windows(2).all(|w| w[0] <= w[1]),
        "{name}: percentiles ordered {v:?}"
    );
    assert!(v[0] > 0, "{name}: min latency > 0");
    let h = faultline::record::decode_histogram(b["histogram"].as_str().unwrap()).unwrap();
    if b["kind"] == "fio" {
        // fio's latency bins also count the I/Os in flight when it stopped (async
        // engines): up to jobs x iodepth more than its completed total.
        let slack = b["threads"].as_u64().unwrap() * b["queue_depth"].as_u64().unwrap();
        assert!(
            h.len() >= ops && h.len() <= ops + slack,
            "{name}: fio histogram count {} within ops {ops} + {slack}",
            h.len()
        );
    } else {
        assert_eq!(h.len(), ops, "{name}: histogram count == ops");
    }
    let ts = b["timeseries"].as_array().unwrap();
    assert!(!ts.is_empty(), "{name}: time series");
    let sum: u64 = ts.iter().map(|i| i["ops"].as_u64().unwrap()).sum();
    assert_eq!(sum, ops, "{name}: time-series ops add up to ops");
    let bsum: u64 = ts.iter().map(|i| i["bytes"].as_u64().unwrap()).sum();
    assert_eq!(bsum, ops * block, "{name}: time-series bytes add up");
    let t: Vec<u64> = ts.iter().map(|i| i["t_ns"].as_u64().unwrap()).collect();
    assert!(
        t.windows(2).all(|w| w[0] <= w[1]),
        "{name}: time-series times increase"
    );
    assert!(b["ops_per_sec"].as_f64().unwrap() > 0.0);
    true
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
