//! The huge-page backend and the fio reference backend, run for real on a few-MiB file
//! through the binary. Where the machine lacks a capability (THP, root for the hugetlb
//! pool, fio), the result is "skipped" with a reason, which the tests print.

mod common;
use common::*;
use faultline::record::{BackendResult, Status};

/// Run one backend on the tiny workload (plus `extra` keys) and return its result.
fn run_one(spec: &str, extra: &str, env: &[(&str, &str)]) -> BackendResult {
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
    let b = load(&out).backends.remove(0);
    assert_eq!(b.name, spec);
    let _ = std::fs::remove_dir_all(&dir);
    b
}

fn print_huge_notes(b: &BackendResult) {
    for n in &b.notes {
        if n.contains("huge pages") || n.contains("MADV_COLLAPSE") || n.contains("reserved") {
            eprintln!("{}: {n}", b.name);
        }
    }
}

fn hugepage(spec: &str) -> Option<BackendResult> {
    let b = run_one(spec, "", &[]);
    if !check_backend(&b) {
        return None;
    }
    print_huge_notes(&b);
    assert!(
        b.notes
            .iter()
            .any(|n| n.starts_with("huge pages mapped") || n.contains("huge pages mapped unknown")),
        "{spec}: a note says how many bytes were mapped with huge pages: {:?}",
        b.notes
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
        skip(
            "hugepage",
            "hugetlb: /proc/sys/vm/nr_hugepages is not readable here",
        );
        return;
    };
    // Without `reserve` and without free pages: skipped (by design, not for a missing
    // capability) with a reason that says how many pages are needed and how to get them.
    let b = run_one("hugepage:mode=hugetlb", "", &[]);
    if b.status == Status::Skipped {
        let r = b.reason.as_deref().unwrap();
        assert!(
            r.contains("needs 2 huge pages")
                && r.contains("hugepage:mode=hugetlb,reserve")
                && r.contains("nr_hugepages"),
            "{r}"
        );
    } else {
        check_backend(&b);
    }
    assert_eq!(nr_hugepages(), Some(before));

    if faultline::sys::uid() != 0 {
        let b = run_one("hugepage:mode=hugetlb,reserve", "", &[]);
        assert_ne!(b.status, Status::Failed, "{:?}", b.reason);
        skip(
            "hugepage",
            "hugepage:mode=hugetlb,reserve: needs root to change nr_hugepages",
        );
        return;
    }
    let b = run_one("hugepage:mode=hugetlb,reserve", "", &[]);
    assert_eq!(
        nr_hugepages(),
        Some(before),
        "nr_hugepages is restored after the run"
    );
    if hugepage_checked(&b) {
        let n = &b.notes;
        assert!(
            n.iter()
                .any(|n| n.contains("huge pages mapped after loading: 4MiB of 4MiB")),
            "a 4 MiB file in 2 MiB hugetlb pages is mapped whole: {n:?}"
        );
    }
}

fn hugepage_checked(b: &BackendResult) -> bool {
    let ok = check_backend(b);
    if ok {
        print_huge_notes(b);
    }
    ok
}

const FIO_MISSING: &str = "fio is not installed (apt-get install fio)";

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
fn check_fio(b: &BackendResult, block: u64, qd: u64) -> bool {
    if !ran(b) {
        return false;
    }
    let name = &b.name;
    let ops = b.ops;
    assert!(ops > 0, "{name}: no operations");
    assert_eq!(b.block, block);
    assert_eq!(b.queue_depth, qd as u32, "{name}: queue depth");
    check_latency_and_series(b);
    let h = histogram(b);
    let slack = b.threads as u64 * qd;
    if qd == 1 {
        assert_eq!(h.len(), ops, "{name}: histogram count == ops (sync engine)");
    } else {
        assert!(
            h.len() >= ops && h.len() <= ops + slack,
            "{name}: histogram count {} within ops {ops} .. ops + jobs x iodepth ({slack})",
            h.len()
        );
    }
    let n = &b.notes;
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
    true
}

fn fio(spec: &str, extra: &str, qd: u64) -> Option<BackendResult> {
    fio_block(spec, extra, qd, 4096)
}

fn fio_block(spec: &str, extra: &str, qd: u64, block: u64) -> Option<BackendResult> {
    if !fio_installed() {
        let b = run_one(spec, extra, &[]);
        assert_eq!(b.status, Status::Skipped);
        assert_eq!(b.reason.as_deref(), Some(FIO_MISSING));
        skip("fio", &format!("{spec}: {FIO_MISSING}"));
        return None;
    }
    let b = run_one(spec, extra, &[]);
    check_fio(&b, block, qd).then_some(b)
}

#[test]
fn fio_psync() {
    if let Some(b) = fio("fio", "", 1) {
        assert!(b.notes.iter().any(|n| n.contains("fio's lat")));
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
    let b = load(&out).backends.remove(0);
    if check_fio(&b, 4096, 1) {
        assert_eq!(b.ops, 10001);
    }
    // A pattern fio cannot express is skipped with the reason, not approximated.
    let b = run_one("fio", "pattern = \"zipf:theta=1.0\"", &[]);
    assert_eq!(b.status, Status::Skipped);
    if fio_installed() {
        assert!(b.reason.as_deref().unwrap().contains("theta=1.0"));
    }
}

#[test]
fn fio_missing_is_skipped_with_the_install_hint() {
    let b = run_one("fio", "", &[("FAULTLINE_FIO", "/nonexistent/fio")]);
    assert_eq!(b.status, Status::Skipped);
    assert_eq!(b.reason.as_deref(), Some(FIO_MISSING));
}
