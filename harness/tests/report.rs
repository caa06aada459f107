//! `report`, `compare` and `run --json` on real tiny runs through the binary.

mod common;
use common::*;
use std::path::{Path, PathBuf};

/// One tiny run (pread and mmap, two threads, 250 ms each) into `dir/name`.
fn tiny_run(dir: &Path, name: &str, extra_args: &[&str]) -> PathBuf {
    let wl = tiny_workload(dir, "backends = [\"pread\", \"mmap\"]");
    let out = dir.join(name);
    // A data directory per test: concurrent creation of one shared data file races
    // (the second process finds the first one's .partial file and stops).
    let data = dir.join("data");
    let mut args = vec![
        "run",
        wl.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra_args);
    let o = run(&args);
    assert!(o.status.success(), "{}", text(&o));
    out
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn report_and_compare_two_real_runs_of_the_same_build() {
    let dir = scratch("report");
    let a = tiny_run(&dir, "a", &[]);
    let b = tiny_run(&dir, "b", &["--repeats", "2"]);
    let (a_s, b_s) = (a.to_str().unwrap(), b.to_str().unwrap());

    // report: one table for the one workload, both runs pooled, counters n/a for now.
    let o = run(&["report", a_s, b_s]);
    assert!(o.status.success(), "{}", text(&o));
    let md = stdout(&o);
    assert_eq!(md.matches("\n## tiny\n").count(), 1, "{md}");
    assert!(md.contains("| backend | threads | runs | ops/s |"), "{md}");
    assert!(md.contains("| pread | 2 | 3 |"), "{md}");
    assert!(
        md.contains("| vs pread |"),
        "no direct: the first backend is the reference"
    );
    assert!(
        md.contains("Machine: host ") && md.contains("Command: `"),
        "{md}"
    );

    // --out writes the file and refuses to overwrite it.
    let md_path = dir.join("report.md");
    let m = md_path.to_str().unwrap();
    let o = run(&["report", a_s, "--reference", "mmap", "--out", m]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::read_to_string(&md_path)
        .unwrap()
        .contains("| vs mmap |"));
    let o = run(&["report", a_s, "--out", m]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
    let o = run(&["report", a_s, "--reference", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("they ran: pread, mmap"));

    // compare: a run with itself never regresses.
    let o = run(&["compare", a_s, a_s]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        stdout(&o).contains("no regressions past 5%"),
        "{}",
        text(&o)
    );

    // Two runs of the same build on a shared machine: pass with a generous threshold.
    // The exports describe the new side.
    let gh = dir.join("gh.json");
    let o = run(&[
        "compare",
        a_s,
        b_s,
        "--threshold",
        "1000",
        // Tail latencies of two 250 ms runs on a shared machine differ by 10x and more;
        // throughput and the median are what two runs of one build can agree on.
        "--metrics",
        "ops_per_sec,bytes_per_sec,p50",
        "--export",
        "github",
        "--export-out",
        gh.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = stdout(&o);
    for m in ["ops/s", "MiB/s", "p50"] {
        assert!(out.contains(&format!("pread x2  {m}")), "{m}: {out}");
    }
    let bigger: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("gh.bigger.json")).unwrap())
            .unwrap();
    let smaller: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("gh.smaller.json")).unwrap())
            .unwrap();
    assert_eq!(
        bigger.as_array().unwrap().len(),
        4,
        "2 backends x ops/s, MiB/s"
    );
    assert_eq!(
        smaller.as_array().unwrap().len(),
        6,
        "2 backends x 3 percentiles"
    );
    assert_eq!(bigger[0]["name"], "tiny/pread/t2/ops_per_sec");
    assert!(bigger[0]["range"].as_str().unwrap().starts_with("± "));

    let bmf = dir.join("bmf.json");
    let o = run(&[
        "compare",
        a_s,
        b_s,
        "--threshold",
        "1000",
        "--metrics",
        "ops_per_sec,bytes_per_sec,p50",
        "--export",
        "bencher",
        "--export-out",
        bmf.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&bmf).unwrap()).unwrap();
    let t = &v["tiny/mmap/t2"]["throughput"];
    assert!(t["lower_value"].as_f64().unwrap() <= t["value"].as_f64().unwrap());
    assert!(t["value"].as_f64().unwrap() <= t["upper_value"].as_f64().unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compare_flags_an_injected_throughput_drop() {
    let dir = scratch("regress");
    let a = tiny_run(&dir, "a", &[]);
    // NEW = the same run with throughput 20% lower.
    let mut r = load(&a);
    for b in &mut r.backends {
        b.ops_per_sec *= 0.8;
        b.bytes_per_sec *= 0.8;
    }
    let slow = dir.join("slow");
    std::fs::create_dir_all(&slow).unwrap();
    std::fs::write(slow.join("run.json"), r.to_json().unwrap()).unwrap();
    let o = run(&["compare", a.to_str().unwrap(), slow.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = stdout(&o);
    assert!(out.contains("4 regression(s) past 5%"), "{out}");
    assert!(out.contains("-20.0%"), "{out}");
    // Only the latency metrics: no regression.
    let o = run(&[
        "compare",
        a.to_str().unwrap(),
        slow.to_str().unwrap(),
        "--metrics",
        "p50,p99,p999",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compare_and_report_explain_bad_input() {
    let dir = scratch("cmpbad");
    let missing = dir.join("missing");
    let o = run(&["compare", missing.to_str().unwrap(), dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("baseline") && err.contains("cannot access"),
        "{err}"
    );
    let o = run(&["report", dir.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds no run.json"));
    let o = run(&["compare", "a", "b", "--threshold", "lots"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a percentage"));
    let o = run(&["compare", "a", "b", "--export", "github"]);
    assert_eq!(o.status.code(), Some(2), "--export needs --export-out");
    let o = run(&["compare", "a", "b", "--metrics", "p95"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown metric `p95`"));
    for o in [run(&["report"]), run(&["compare", "a"])] {
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_json_prints_one_object_and_nothing_else() {
    let dir = scratch("json");
    let wl = tiny_workload(&dir, "backends = [\"pread\"]");
    let out = dir.join("r");
    let o = run(&[
        "run",
        wl.to_str().unwrap(),
        "--data-dir",
        dir.join("data").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        o.stderr.is_empty(),
        "--quiet --json: stderr stays empty: {}",
        text(&o)
    );
    let s = stdout(&o);
    assert_eq!(s.lines().count(), 1, "{s}");
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["result_dir"], out.to_str().unwrap());
    assert_eq!(v["complete"], true);
    let b = &v["backends"][0];
    assert_eq!(
        (b["name"].as_str(), b["threads"].as_u64()),
        (Some("pread"), Some(2))
    );
    assert_eq!(b["status"], "ok");
    assert!(b["ops_per_sec"].as_f64().unwrap() > 0.0);
    assert!(b["latency_ns"]["p99"].as_u64().unwrap() > 0);
    // Without --quiet the per-backend lines go to stderr; stdout is still one object.
    let out2 = dir.join("r2");
    let o = run(&[
        "run",
        wl.to_str().unwrap(),
        "--data-dir",
        dir.join("data").to_str().unwrap(),
        "--out",
        out2.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("pread"));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["backends"].as_array().unwrap().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
