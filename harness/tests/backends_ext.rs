//! The huge-page backend and the fio reference backend, run for real on a few-MiB file
//! through the binary. Where the machine lacks a capability (THP, root for the hugetlb
//! pool, fio), the result is "skipped" with a reason, which the tests print.

mod common;
use common::*;
use serde_json::Value;

/// Run one backend on the tiny workload (plus `extra` keys) and return its result.
fn run_one(spec: &str, extra: &str, env: &[(&str, &str)]) -> Value {
    let dir = scratch("ext");
    let wl = tiny_workload(&dir, extra);
    let out = dir.join("result");
    let o = bin()
        .args([
            "run",
            wl.to_str().unwrap(),
            "--backend",
            spec,
            "--data-dir",
            data_dir().to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .envs(env.iter().copied())
        .output()
        .expect("run faultline");
    assert!(o.status.success(), "{}", text(&o));
    let r = load(&out);
    let b = r["backends"][0].clone();
    assert_eq!(b["name"], spec);
    let _ = std::fs::remove_dir_all(&dir);
    b
}

fn notes(b: &Value) -> Vec<String> {
    b["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect()
}

fn print_huge_notes(b: &Value) {
    for n in notes(b) {
        if n.contains("huge pages") || n.contains("MADV_COLLAPSE") || n.contains("reserved") {
            eprintln!("{}: {n}", b["name"].as_str().unwrap());
        }
    }
}

fn hugepage(spec: &str) -> Option<Value> {
    let b = run_one(spec, "", &[]);
    if !check_backend(&b, 4096) {
        return None;
    }
    print_huge_notes(&b);
    assert!(
        notes(&b)
            .iter()
            .any(|n| n.starts_with("huge pages mapped") || n.contains("huge pages mapped unknown")),
        "{spec}: a note says how many bytes were mapped with huge pages: {:?}",
        notes(&b)
    );
    Some(b)
}

#[test]
fn hugepage_thp() {
    hugepage("hugepage:mode=thp");
    hugepage("hugepage:mode=thp,nocollapse");
}

#[test]
fn hugepage_anon_thp() {
    hugepage("hugepage:mode=anon-thp");
}

fn nr_hugepages() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/vm/nr_hugepages")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Both hugetlb cases in one test, so the reservation of one cannot change what the
/// other sees.
#[test]
fn hugepage_hugetlb_reserve_and_restore() {
    let Some(before) = nr_hugepages() else {
        eprintln!("SKIPPED hugetlb: /proc/sys/vm/nr_hugepages is not readable here");
        return;
    };
    // Without `reserve` and without free pages: skipped with a reason that says how
    // many pages are needed and how to get them.
    let b = run_one("hugepage:mode=hugetlb", "", &[]);
    if b["status"] == "skipped" {
        let r = b["reason"].as_str().unwrap();
        assert!(
            r.contains("needs 2 huge pages")
                && r.contains("hugepage:mode=hugetlb,reserve")
                && r.contains("nr_hugepages"),
            "{r}"
        );
    } else {
        check_backend(&b, 4096);
    }
    assert_eq!(nr_hugepages(), Some(before));

    if faultline::sys::uid() != 0 {
        eprintln!("SKIPPED hugepage:mode=hugetlb,reserve: needs root to change nr_hugepages");
        let b = run_one("hugepage:mode=hugetlb,reserve", "", &[]);
        assert_ne!(b["status"], "failed", "{}", b["reason"]);
        return;
    }
    let b = run_one("hugepage:mode=hugetlb,reserve", "", &[]);
    assert_eq!(
        nr_hugepages(),
        Some(before),
        "nr_hugepages is restored after the run"
    );
    if hugepage_checked(&b) {
        let n = notes(&b);
        assert!(
            n.iter()
                .any(|n| n.contains("huge pages mapped after loading: 4MiB of 4MiB")),
            "a 4 MiB file in 2 MiB hugetlb pages is mapped whole: {n:?}"
        );
    }
}

fn hugepage_checked(b: &Value) -> bool {
    let ok = check_backend(b, 4096);
    if ok {
        print_huge_notes(b);
    }
    ok
}

fn fio_installed() -> bool {
    std::process::Command::new("fio")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The fio checks: totals, histogram and time series, with fio's own slack explained.
///
/// * ops is fio's `total_ios` (I/Os issued in the measured phase); the histogram holds
///   fio's latency bins, which also count the I/Os that were in flight when the ramp
///   ended (issued before, completed after). So for synchronous engines the histogram
///   count equals ops, and for asynchronous ones it may exceed it by at most
///   jobs x iodepth.
/// * The time series adds up to ops exactly: faultline sums fio's averaged IOPS log
///   (rate x window) and puts what no window covered (the tail after fio's last window,
///   rounding) into the last interval, or takes an excess off the end. The windows are
///   an estimate (fio logs averaged integer rates, not counts, over windows that end
///   when its helper thread wakes): the note says how many they held. A gross error
///   (a job's lines mixed up, a window counted several times) would exceed what
///   completed by far; a few percent either way is what fio's log allows.
fn check_fio(b: &Value, block: u64, qd: u64) -> bool {
    let name = b["name"].as_str().unwrap().to_string();
    match b["status"].as_str().unwrap() {
        "ok" => {}
        "skipped" => {
            eprintln!("SKIPPED {name}: {}", b["reason"]);
            assert!(b["reason"].as_str().is_some_and(|r| !r.is_empty()));
            return false;
        }
        s => panic!("{name}: status {s}: {}", b["reason"]),
    }
    let ops = b["ops"].as_u64().unwrap();
    let threads = b["threads"].as_u64().unwrap();
    assert!(ops > 0, "{name}: no operations");
    assert_eq!(b["bytes"].as_u64().unwrap(), ops * block);
    assert_eq!(
        b["queue_depth"].as_u64().unwrap(),
        qd,
        "{name}: queue depth"
    );
    let h = faultline::record::decode_histogram(b["histogram"].as_str().unwrap()).unwrap();
    let slack = threads * qd;
    if qd == 1 {
        assert_eq!(h.len(), ops, "{name}: histogram count == ops (sync engine)");
    } else {
        assert!(
            h.len() >= ops && h.len() <= ops + slack,
            "{name}: histogram count {} within ops {ops} .. ops + jobs x iodepth ({slack})",
            h.len()
        );
    }
    let l = &b["latency_ns"];
    let v: Vec<u64> = ["min", "p50", "p90", "p99", "p999", "max"]
        .iter()
        .map(|k| l[k].as_u64().unwrap())
        .collect();
    assert!(v.windows(2).all(|w| w[0] <= w[1]), "{name}: {v:?}");
    assert!(v[0] > 0);
    let ts = b["timeseries"].as_array().unwrap();
    assert!(!ts.is_empty());
    let sum: u64 = ts.iter().map(|i| i["ops"].as_u64().unwrap()).sum();
    assert_eq!(sum, ops, "{name}: time series adds up to ops");
    let bsum: u64 = ts.iter().map(|i| i["bytes"].as_u64().unwrap()).sum();
    assert_eq!(bsum, ops * block);
    let t: Vec<u64> = ts.iter().map(|i| i["t_ns"].as_u64().unwrap()).collect();
    assert!(t.windows(2).all(|w| w[0] <= w[1]), "{name}: times increase");
    let n = notes(b);
    let logged = n
        .iter()
        .find_map(|n| {
            let s = n.split("the windows held ").nth(1)?;
            s.split(' ').next()?.parse::<u64>().ok()
        })
        .unwrap_or_else(|| panic!("{name}: a note gives the logged ops: {n:?}"));
    assert!(
        logged as f64 <= ops as f64 * 1.25 + slack as f64,
        "{name}: fio's windows held {logged}, far more than completed ({ops} + {slack})"
    );
    eprintln!(
        "{name}: ops {ops}, histogram {}, IOPS log windows {logged} ({:.0}%)",
        h.len(),
        logged as f64 * 100.0 / ops as f64
    );
    assert!(n.iter().any(|n| n.contains("not verified by faultline")));
    assert!(
        n.iter().any(|n| n.starts_with("fio-")),
        "{name}: the command"
    );
    assert!(b["ops_per_sec"].as_f64().unwrap() > 0.0);
    true
}

fn fio(spec: &str, extra: &str, qd: u64) -> Option<Value> {
    fio_block(spec, extra, qd, 4096)
}

fn fio_block(spec: &str, extra: &str, qd: u64, block: u64) -> Option<Value> {
    if !fio_installed() {
        let b = run_one(spec, extra, &[]);
        assert_eq!(b["status"], "skipped");
        assert_eq!(b["reason"], "fio is not installed (apt-get install fio)");
        eprintln!("SKIPPED {spec}: fio is not installed");
        return None;
    }
    let b = run_one(spec, extra, &[]);
    check_fio(&b, block, qd).then_some(b)
}

#[test]
fn fio_psync() {
    if let Some(b) = fio("fio", "", 1) {
        assert!(notes(&b).iter().any(|n| n.contains("fio's lat")));
    }
}

#[test]
fn fio_psync_direct() {
    fio("fio:engine=psync,direct", "", 1);
}

#[test]
fn fio_libaio_direct_qd8() {
    fio("fio:engine=libaio,qd=8,direct", "", 8);
}

#[test]
fn fio_io_uring_qd8() {
    fio("fio:engine=io_uring,qd=8", "", 8);
}

#[test]
fn fio_patterns_and_op_count() {
    fio("fio:engine=mmap", "pattern = \"zipf:theta=1.2\"", 1);
    fio(
        "fio",
        "pattern = \"hotset:ops=90,size=10\"\nstart = \"warm\"",
        1,
    );
    fio_block(
        "fio",
        "pattern = \"sequential:chunk=1MiB\"\nblock = \"64KiB\"",
        1,
        65536,
    );
    // An op count is exact: one fio job section per thread with its share.
    let dir = scratch("fio-ops");
    let wl = dir.join("ops.toml");
    std::fs::write(
        &wl,
        "size = \"4MiB\"\nthreads = 2\nops = 10001\nwarmup = \"0s\"\ninterval = \"10ms\"\nbackends = [\"fio\"]\n",
    )
    .unwrap();
    let out = dir.join("r");
    let o = run(&[
        "run",
        wl.to_str().unwrap(),
        "--data-dir",
        data_dir().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let b = load(&out)["backends"][0].clone();
    if check_fio(&b, 4096, 1) {
        assert_eq!(b["ops"], 10001);
    }
    // A pattern fio cannot express is skipped with the reason, not approximated.
    let b = run_one("fio", "pattern = \"zipf:theta=1.0\"", &[]);
    if fio_installed() {
        assert_eq!(b["status"], "skipped");
        assert!(b["reason"].as_str().unwrap().contains("theta=1.0"));
    }
}

#[test]
fn fio_missing_is_skipped_with_the_install_hint() {
    let b = run_one("fio", "", &[("FAULTLINE_FIO", "/nonexistent/fio")]);
    assert_eq!(b["status"], "skipped");
    assert_eq!(b["reason"], "fio is not installed (apt-get install fio)");
}
