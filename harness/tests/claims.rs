//! `faultline claim logscan|flush|atomics`, run tiny through the real binary: exact
//! counts, verification, failures reported as failures, result directories.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;

fn load_claim(dir: &Path) -> Value {
    let t = std::fs::read_to_string(dir.join("claim.json")).expect("claim.json exists");
    serde_json::from_str(&t).expect("claim.json is JSON")
}

fn check_common(r: &Value, out: &Path, claim: &str) {
    assert_eq!(r["schema"], 1);
    assert_eq!(r["claim"], claim);
    assert_eq!(r["complete"], true);
    assert!(r["environment"]["kernel"].is_string());
    assert!(r["command"].as_array().unwrap().len() > 2);
    let summary = std::fs::read_to_string(out.join("summary.md")).expect("summary.md exists");
    assert!(
        summary.starts_with(&format!("# Claim: {claim}")),
        "{summary}"
    );
    assert!(
        !std::fs::read_dir(out.parent().unwrap()).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".tmp-")),
        "no temporary result directory left"
    );
}

fn leftovers(dir: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn logscan_every_variant_reports_the_generators_count() {
    let dir = scratch("logscan");
    let out = dir.join("r");
    let dd = data_dir();
    let o = run(&[
        "claim",
        "logscan",
        "--size",
        "8MiB",
        "--repeats",
        "1",
        "--data-dir",
        dd.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("vs lines") && stdout.contains("result:"),
        "{stdout}"
    );
    let r = load_claim(&out);
    check_common(&r, &out, "logscan");
    let p = &r["parameters"];
    let expected = p["expected_count"].as_u64().unwrap();
    let lines = p["expected_lines"].as_u64().unwrap();
    // The generator's count, checked independently of it and of the scanners.
    let log = p["log"]["path"].as_str().unwrap();
    let text_ = std::fs::read_to_string(log).expect("the log is UTF-8 text");
    assert_eq!(text_.lines().count() as u64, lines);
    assert_eq!(
        text_.lines().filter(|l| l.contains("ERROR")).count() as u64,
        expected
    );
    assert!(expected > 0 && (expected as f64) < 0.02 * lines as f64);
    let vs = r["variants"].as_array().unwrap();
    assert_eq!(vs.len(), 8, "4 variants x cold/warm");
    for v in vs {
        let name = format!("{} {}", v["variant"], v["cache"]);
        assert_eq!(v["count"].as_u64(), Some(expected), "{name}");
        assert_eq!(v["count_ok"], true, "{name}");
        assert_eq!(v["ok_runs"], 1, "{name}");
        assert!(v["median_s"].as_f64().unwrap() > 0.0, "{name}");
        assert!(v["peak_rss_bytes_median"].as_u64().unwrap() > 0, "{name}");
        let run = &v["runs"][0];
        assert_eq!(run["lines"].as_u64(), Some(lines), "{name}");
        assert!(run["usage"]["user_ns"].is_u64(), "{name}");
    }
    assert!(r["failures"].as_array().unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn logscan_a_wrong_count_fails_the_run() {
    let dir = scratch("logscan-bad");
    let dd = dir.join("data");
    let args = |out: &Path| {
        vec![
            "claim".to_string(),
            "logscan".into(),
            "--size".into(),
            "16MiB".into(),
            "--repeats".into(),
            "1".into(),
            "--cache".into(),
            "warm".into(),
            "--variants".into(),
            "mmap,bufreader-lines".into(),
            "--data-dir".into(),
            dd.to_str().unwrap().into(),
            "--out".into(),
            out.to_str().unwrap().into(),
            "--quiet".into(),
        ]
    };
    let a1 = args(&dir.join("r1"));
    let o = run(&a1.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", text(&o));
    let r = load_claim(&dir.join("r1"));
    let expected = r["parameters"]["expected_count"].as_u64().unwrap();
    // Turn one INFO line of the second 4 MiB chunk (not among the chunks the reuse
    // check regenerates) into an ERROR line: every scanner now finds one more.
    let log = r["parameters"]["log"]["path"].as_str().unwrap().to_string();
    let mut bytes = std::fs::read(&log).unwrap();
    let from = 4 << 20;
    let at =
        from + memchr::memmem::find(&bytes[from..], b" INFO  [").expect("an INFO line in chunk 1");
    bytes[at..at + 8].copy_from_slice(b" ERROR [");
    std::fs::write(&log, &bytes).unwrap();
    let a2 = args(&dir.join("r2"));
    let o = run(&a2.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("WRONG"), "{stdout}");
    let r = load_claim(&dir.join("r2"));
    let f = r["failures"].as_array().unwrap();
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(
        f[0].as_str()
            .unwrap()
            .contains(&format!("counted {} lines with ERROR", expected + 1)),
        "{f:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn logscan_bad_input_is_refused() {
    for (args, needle) in [
        (
            vec!["claim", "logscan", "--size", "5000"],
            "multiple of 4KiB",
        ),
        (vec!["claim", "logscan", "--size", "1GB"], "1GiB"),
        (
            vec!["claim", "logscan", "--variants", "fast"],
            "bufreader-lines",
        ),
        (vec!["claim", "logscan", "--repeats", "0"], "at least 1"),
        (vec!["claim", "logscan", "--variant", "mmap"], "--file"),
        (vec!["claim", "nosuch"], "unrecognized subcommand"),
    ] {
        let o = run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?}: {}", text(&o));
        assert!(
            err.contains(needle),
            "{args:?}: expected `{needle}`: {}",
            text(&o)
        );
        assert!(!err.contains("panicked"), "{}", text(&o));
    }
}

#[test]
fn flush_every_policy_runs_on_the_engine_and_verifies() {
    let dir = scratch("flush");
    let work = dir.join("files");
    let out = dir.join("r");
    let o = run(&[
        "claim",
        "flush",
        "--size",
        "1MiB",
        "--duration",
        "150ms",
        "--data-dir",
        work.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("max at risk"), "{stdout}");
    let r = load_claim(&out);
    check_common(&r, &out, "flush");
    let record = r["parameters"]["record"].as_u64().unwrap();
    let slots = r["parameters"]["slots"].as_u64().unwrap();
    assert_eq!(record, 4096);
    assert_eq!(slots, 256);
    let root = is_root();
    let vs = r["variants"].as_array().unwrap();
    assert_eq!(vs.len(), 10, "5 policies x mmap/pwrite");
    for v in vs {
        let name = v["name"].as_str().unwrap();
        assert_eq!(v["ok"], true, "{name}: {v}");
        assert!(v["error"].is_null(), "{name}");
        // The case ran as an engine cell: its backend and sync policy.
        let cell = &v["cell"];
        assert_eq!(cell["status"], "ok", "{name}");
        let backend = v["backend"].as_str().unwrap();
        assert_eq!(cell["name"], backend, "{name}");
        assert_eq!(
            backend,
            if name.starts_with("mmap/") {
                "mmap"
            } else {
                "pread"
            }
        );
        let records = v["records"].as_u64().unwrap();
        assert!(records > 0, "{name}");
        assert_eq!(v["bytes"].as_u64().unwrap(), records * record);
        assert_eq!(
            cell["ops"].as_u64().unwrap(),
            records,
            "{name}: writes only"
        );
        // Every written page read back from the device and checked.
        let ver = &v["verify"];
        assert_eq!(ver["passed"], true, "{name}: {ver}");
        assert_eq!(ver["errors"], 0, "{name}");
        assert_eq!(ver["pages"], ver["written_pages"], "{name}");
        assert!(
            ver["pages"].as_u64().unwrap() >= records.min(slots),
            "{name}"
        );
        let flushes = v["policy_flushes"].as_u64().unwrap();
        let at_risk = v["max_at_risk_bytes"].as_u64().unwrap();
        let lat = &v["write_latency_ns"];
        assert!(lat["p50"].as_u64().unwrap() <= lat["p99"].as_u64().unwrap());
        let hist =
            faultline::record::decode_histogram(v["write_histogram"].as_str().unwrap()).unwrap();
        assert_eq!(hist.len(), records, "{name}: one latency per write");
        let sync = v["sync"].as_str().unwrap();
        match v["policy"]["kind"].as_str().unwrap() {
            "always" => {
                assert_eq!(sync, "every:1");
                // The measured phase may start between a write and its flush.
                assert!(
                    flushes.abs_diff(records) <= 1,
                    "{name}: {flushes} {records}"
                );
                assert_eq!(at_risk, record, "{name}");
                assert_eq!(v["unflushed_at_end"], 0, "{name}");
            }
            "every-writes" => {
                assert_eq!(sync, "every:16");
                assert!(flushes.abs_diff(records / 16) <= 1, "{name}");
                assert_eq!(at_risk, 16 * record, "{name}");
            }
            "every-bytes" => {
                assert_eq!(sync, "every:256", "1 MiB of 4 KiB writes");
                assert!(flushes.abs_diff(records / 256) <= 1, "{name}");
                assert!(at_risk <= 1 << 20, "{name}");
            }
            "manual" => {
                assert_eq!(sync, "end");
                assert_eq!(flushes, 0, "{name}");
                assert!(v["final_flush_ns"].as_u64().unwrap() > 0, "{name}");
                assert_eq!(at_risk, (records * record).min(slots * record), "{name}");
                assert_eq!(v["unflushed_at_end"], 0, "{name}");
                let age = v["max_unflushed_age_ns"].as_u64().unwrap();
                assert!(
                    age >= 100_000_000,
                    "{name}: unflushed for the whole run: {age}"
                );
                // The kernel's write-back before the final flush: counted as root,
                // else null with the reason.
                let wb = &v["writeback"];
                if root {
                    let p = &wb["pages"];
                    assert!(p.is_object(), "{name}: {wb}");
                    assert!(p["of_pages"].as_u64().unwrap() >= records.min(slots));
                } else {
                    assert!(wb["reason"].is_string(), "{name}: {wb}");
                }
            }
            "every-ms" => {
                assert_eq!(sync, "interval:100ms");
                assert!(flushes <= 2, "{name}: one flush per 100 ms in 150 ms");
            }
            k => panic!("unknown policy {k}"),
        }
        if v["policy"]["kind"] != "manual" {
            // The program's flushes cannot be told apart from the kernel's write-back.
            assert!(v["writeback"]["pages"].is_null(), "{name}");
            assert!(v["writeback"]["reason"].is_string(), "{name}");
        }
    }
    assert!(
        leftovers(&work, "faultline-")
            .iter()
            .all(|n| !n.ends_with(".dat")),
        "the claim removes the data file it created: {:?}",
        leftovers(&work, "faultline-")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether the tests run as root (page states need it).
fn is_root() -> bool {
    faultline::sys::uid() == 0
}

#[test]
fn flush_observe_keeps_manual_unflushed_and_looks_every_second() {
    if !is_root() {
        faultline::testkit::skip(
            "root",
            "claim flush --observe counts page states from /proc/kpageflags, which needs root",
        );
        return;
    }
    let dir = scratch("flush-observe");
    let work = dir.join("files");
    let out = dir.join("r");
    let o = run(&[
        "claim",
        "flush",
        "--size",
        "1MiB",
        "--duration",
        "100ms",
        "--policy",
        "manual",
        "--method",
        "mmap",
        "--observe",
        "2s",
        "--data-dir",
        work.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let r = load_claim(&out);
    let v = &r["variants"][0];
    assert_eq!(v["ok"], true, "{v}");
    let obs = v["writeback"]["observed"].as_array().unwrap();
    assert_eq!(obs.len(), 2, "one look per second of --observe: {obs:?}");
    let of = v["writeback"]["pages"]["of_pages"].as_u64().unwrap();
    for o in obs {
        assert_eq!(o["of_pages"].as_u64().unwrap(), of);
        let parts = ["dirty", "writeback"]
            .iter()
            .map(|k| o[k].as_u64().unwrap())
            .sum::<u64>()
            + o["pages"].as_u64().unwrap();
        assert_eq!(parts, of, "{o}");
    }
    // The hold is not in the measured time: 100 ms of writing and the final flush.
    let elapsed = v["elapsed_ns"].as_u64().unwrap();
    assert!(
        elapsed < 1_900_000_000,
        "elapsed {elapsed} includes the hold"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn flush_keep_and_bad_input() {
    let dir = scratch("flush-keep");
    let work = dir.join("files");
    let o = run(&[
        "claim",
        "flush",
        "--size",
        "64KiB",
        "--record",
        "8KiB",
        "--duration",
        "50ms",
        "--policy",
        "manual",
        "--method",
        "pwrite",
        "--keep",
        "--data-dir",
        work.to_str().unwrap(),
        "--out",
        dir.join("r").to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let kept: Vec<String> = leftovers(&work, "faultline-")
        .into_iter()
        .filter(|n| n.ends_with(".dat"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        std::fs::metadata(work.join(&kept[0])).unwrap().len(),
        64 * 1024
    );
    for (args, needle) in [
        (
            vec!["claim", "flush", "--record", "512"],
            "multiple of 4KiB",
        ),
        (
            vec!["claim", "flush", "--policy", "sometimes"],
            "every-bytes=SIZE",
        ),
        (
            vec!["claim", "flush", "--policy", "every-writes=0"],
            "at least 1",
        ),
        (vec!["claim", "flush", "--size", "4097"], "multiple of 4KiB"),
        (vec!["claim", "flush", "--duration", "0s"], "writing time"),
        (vec!["claim", "flush", "--method", "fsync"], "mmap"),
        (vec!["claim", "flush", "--repeats", "0"], "at least 1"),
    ] {
        let o = run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?}: {}", text(&o));
        assert!(
            err.contains(needle),
            "{args:?}: expected `{needle}`: {}",
            text(&o)
        );
        assert!(!err.contains("panicked"), "{}", text(&o));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn atomics_counts_are_exact_across_processes_and_threads() {
    let dir = scratch("atomics");
    let work = dir.join("files");
    let out = dir.join("r");
    let o = run(&[
        "claim",
        "atomics",
        "--procs",
        "3",
        "--counters",
        "2",
        "--spread-counters",
        "4",
        "--increments",
        "20000",
        "--repeats",
        "2",
        "--control",
        "--data-dir",
        work.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let r = load_claim(&out);
    check_common(&r, &out, "atomics");
    let vs = r["variants"].as_array().unwrap();
    assert_eq!(vs.len(), 8, "2 layouts x 4 variants");
    for v in vs {
        let name = format!("{} {}", v["layout"], v["variant"]);
        let k = v["layout"]["counters"].as_u64().unwrap();
        assert_eq!(v["expected"], 60000, "{name}");
        assert_eq!(v["ok_runs"], 2, "{name}");
        for run in v["runs"].as_array().unwrap() {
            let counts = run["counts"].as_array().unwrap();
            assert_eq!(counts.len() as u64, k, "{name}");
            assert_eq!(run["ops"].as_u64().unwrap(), 60000 * k, "{name}");
            assert!(run["ops_per_sec"].as_f64().unwrap() > 0.0, "{name}");
            let ov = run["overlap"].as_f64().unwrap();
            assert!(ov > 0.0 && ov <= 1.0 + 1e-9, "{name}: overlap {ov}");
            if v["variant"] != "processes-load-store" {
                assert!(counts.iter().all(|c| c == 60000), "{name}: {counts:?}");
                assert_eq!(run["exact"], true, "{name}");
            } else {
                // A lost update can only make a counter smaller.
                assert!(counts.iter().all(|c| c.as_u64().unwrap() <= 60000));
            }
        }
    }
    assert!(r["failures"].as_array().unwrap().is_empty());
    assert!(leftovers(&work, "faultline-atomics-").is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn claims_write_to_results_claims_by_default() {
    let dir = scratch("claims-default");
    let work = dir.join("files");
    let o = bin()
        .current_dir(&dir)
        .args([
            "claim",
            "atomics",
            "--increments",
            "1000",
            "--repeats",
            "1",
            "--spread-counters",
            "0",
            // The old spelling of --data-dir still works (a hidden alias).
            "--dir",
            work.to_str().unwrap(),
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let base = dir.join("results").join("claims").join("atomics");
    let runs: Vec<_> = std::fs::read_dir(&base).unwrap().collect();
    assert_eq!(runs.len(), 1);
    let run_dir = runs.into_iter().next().unwrap().unwrap().path();
    let name = run_dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.ends_with(&format!("Z-{}", faultline::claim::host())),
        "{name}"
    );
    assert!(run_dir.join("claim.json").exists());
    assert!(run_dir.join("summary.md").exists());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("results/claims/atomics/"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
