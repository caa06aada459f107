//! The page-cache measurements of write cells through the binary: the written pages the
//! kernel wrote back before the final sync (kpageflags, root), the writers' time in
//! balance_dirty_pages (tracefs, root), the memory cgroup's dirty and writeback bytes
//! (cgroup, root), null with a reason where they do not apply; the per-kind charts
//! and tables; and the removal of a killed run's tracefs instance.

mod common;
use common::*;
use faultline::record::{BackendResult, RunRecord, Status};
use std::path::Path;

fn run_in(dir: &Path, name: &str, extra: &[&str]) -> (String, RunRecord) {
    let out = dir.join(name);
    let data = dir.join("data");
    let wl = repo_root().join("workloads/checkpoint.toml");
    let mut args = vec![
        "run",
        wl.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--warmup",
        "20ms",
        "--interval",
        "50ms",
        "--threads",
        "2",
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(o.status.success(), "{}", text(&o));
    (String::from_utf8_lossy(&o.stdout).into_owned(), load(&out))
}

fn root() -> bool {
    faultline::sys::uid() == 0
}

/// written_back_before_sync adds up, or is null with a reason.
fn check_written_back(b: &BackendResult) {
    let w = b.writes.as_ref().expect("write result");
    match &w.written_back_before_sync {
        Some(x) => {
            assert_eq!(Some(x.of_pages), w.written_pages, "{}", b.name);
            assert_eq!(
                x.pages + x.dirty + x.writeback,
                x.of_pages,
                "{}: {x:?}",
                b.name
            );
            assert!(x.not_cached <= x.pages, "{}: {x:?}", b.name);
        }
        None => {
            let why = w.reasons.get("written_back_before_sync").expect("a reason");
            skip("pageflags", &format!("{}: {why}", b.name));
        }
    }
    match &w.dirty_throttle {
        Some(t) => {
            assert!(t.pauses <= t.events, "{}: {t:?}", b.name);
            let sum: u64 = w
                .dirty_throttle_intervals
                .iter()
                .map(|i| i.throttle.paused_ns)
                .sum();
            assert_eq!(sum, t.paused_ns, "{}: intervals add up", b.name);
        }
        None => {
            let why = w.reasons.get("dirty_throttle").expect("a reason");
            skip("tracefs", &format!("{}: {why}", b.name));
        }
    }
}

#[test]
fn checkpoint_records_write_back_throttle_and_kinds() {
    let dir = scratch("wmeasure");
    let (stdout, r) = run_in(
        &dir,
        "a",
        &[
            "--ops", "4000", "--size", "8MiB", "-b", "pread", "-b", "mmap", "-b", "direct",
            "--plot",
        ],
    );
    assert!(r.complete);
    for b in &r.backends {
        if b.status == Status::Skipped {
            skip(&capability_of(&b.name), b.reason.as_deref().unwrap_or(""));
            continue;
        }
        assert_eq!(b.status, Status::Ok, "{}: {:?}", b.name, b.reason);
        let w = b.writes.as_ref().unwrap();
        assert_eq!(w.verify_errors, Some(0), "{}", b.name);
        if b.name == "direct" {
            assert!(w.written_back_before_sync.is_none());
            assert!(
                w.reasons["written_back_before_sync"].contains("page cache"),
                "{:?}",
                w.reasons
            );
        } else {
            check_written_back(b);
        }
        // No page-cache limit: the cgroup's figures are null, and say why.
        assert!(w.dirty.iter().all(|d| d.cgroup_dirty_bytes.is_none()));
        assert!(w.reasons["dirty.cgroup"].contains("no memory cgroup"));
    }
    assert!(stdout.contains("by kind"), "{stdout}");
    assert!(stdout.contains("written back before sync"), "{stdout}");
    for chart in ["ops-by-kind", "sync-latency"] {
        for ext in ["svg", "png"] {
            let p = dir.join("a").join(format!("{chart}.{ext}"));
            assert!(p.exists(), "{} missing:\n{stdout}", p.display());
        }
    }
    let o = run(&["report", dir.join("a").to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.contains("By operation kind"), "{md}");
    assert!(md.contains("| syncs/s"), "{md}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn uring_writers_stop_at_the_gate_and_a_hold_looks_every_second() {
    let dir = scratch("wmeasure-gate");
    // uring (buffered): its own write loop drains what is in flight, then waits at the
    // gate before its final sync, so its written pages are counted like the others'.
    let (_, r) = run_in(
        &dir,
        "u",
        &[
            "--ops",
            "3000",
            "--size",
            "8MiB",
            "-b",
            "uring:qd=8",
            "-b",
            "pread",
        ],
    );
    for b in &r.backends {
        if b.status == Status::Skipped {
            skip(&capability_of(&b.name), b.reason.as_deref().unwrap_or(""));
            continue;
        }
        assert_eq!(b.status, Status::Ok, "{}: {:?}", b.name, b.reason);
        let w = b.writes.as_ref().unwrap();
        assert_eq!(w.verify_errors, Some(0), "{}", b.name);
        check_written_back(b);
        if let Some(why) = w.reasons.get("written_back_before_sync") {
            assert!(!why.contains("write loop"), "{}: {why}", b.name);
        }
        // sync = end: one sync per thread covers everything; what was at risk is
        // counted per thread.
        let e = w.sync_exposure.expect("sync_exposure");
        assert_eq!(e.unsynced_at_end, 0, "{}: {e:?}", b.name);
        assert_eq!(e.syncs, 2, "{}: one final sync per thread", b.name);
        assert!(e.max_unsynced_writes >= 1500 - 1, "{}: {e:?}", b.name);
        // Capped at the file: a block written twice is at risk once.
        assert_eq!(
            e.max_unsynced_bytes,
            (e.max_unsynced_writes * 4096).min(8 << 20),
            "{}",
            b.name
        );
    }
    // --hold-before-sync: the writers stay held, the pages are looked at every second,
    // and the hold is not in the measured time.
    let (_, r) = run_in(
        &dir,
        "h",
        &[
            "--ops",
            "2000",
            "--size",
            "8MiB",
            "-b",
            "pread",
            "--hold-before-sync",
            "2s",
        ],
    );
    let b = &r.backends[0];
    assert_eq!(b.status, Status::Ok, "{:?}", b.reason);
    let w = b.writes.as_ref().unwrap();
    match &w.written_back_before_sync {
        Some(first) => {
            assert_eq!(
                w.written_back_observed.len(),
                2,
                "{:?}",
                w.written_back_observed
            );
            for o in &w.written_back_observed {
                assert_eq!(o.of_pages, first.of_pages);
                assert_eq!(o.pages + o.dirty + o.writeback, o.of_pages, "{o:?}");
            }
            assert!(b.elapsed_ns < 1_900_000_000, "elapsed {} ns", b.elapsed_ns);
        }
        None => skip(
            "pageflags",
            w.reasons
                .get("written_back_before_sync")
                .map_or("no reason", |s| s.as_str()),
        ),
    }
    // Refused where it cannot apply.
    let o = run(&[
        "run",
        repo_root().join("workloads/quick.toml").to_str().unwrap(),
        "--hold-before-sync",
        "1s",
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("write workload"), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cgroup_dirty_and_writeback_under_a_page_cache_limit() {
    if !root() {
        skip("cgroup", "a memory cgroup needs root");
        return;
    }
    let dir = scratch("wmeasure-cg");
    let (_, r) = run_in(
        &dir,
        "cg",
        &[
            "--ops",
            "6000",
            "--size",
            "32MiB",
            "--page-cache-limit",
            "16MiB",
            "-b",
            "pread",
            "-b",
            "direct",
        ],
    );
    for b in &r.backends {
        if b.status == Status::Skipped {
            skip(&capability_of(&b.name), b.reason.as_deref().unwrap_or(""));
            continue;
        }
        let w = b.writes.as_ref().unwrap();
        assert!(!w.dirty.is_empty(), "{}", b.name);
        if b.name == "pread" {
            if let Some(why) = w.reasons.get("dirty.cgroup") {
                skip("cgroup", why);
                continue;
            }
            assert!(
                w.dirty
                    .iter()
                    .all(|d| d.cgroup_dirty_bytes.is_some() && d.cgroup_writeback_bytes.is_some()),
                "{:?}",
                w.dirty
            );
            check_written_back(b);
        } else {
            assert!(
                w.reasons["dirty.cgroup"].contains("outside the memory cgroup"),
                "{:?}",
                w.reasons
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_killed_runs_tracefs_instance_is_removed_at_the_next_run() {
    let Some(tracefs) = faultline::probe::tlb::root() else {
        skip("tracefs", "tracefs is not mounted");
        return;
    };
    if !root() {
        skip("root", "tracefs instances need root");
        return;
    }
    // A pid that no longer runs (and never ran faultline).
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    let inst = tracefs.join("instances").join(format!("faultline-{pid}"));
    std::fs::create_dir(&inst).unwrap();
    let records = Path::new(faultline::probe::dirty_throttle::RECORDS);
    std::fs::create_dir_all(records).unwrap();
    std::fs::write(records.join(pid.to_string()), inst.to_str().unwrap()).unwrap();
    let dir = scratch("wmeasure-stale");
    let wl = tiny_workload(&dir, "");
    let o = run(&[
        "run",
        wl.to_str().unwrap(),
        "-b",
        "pread",
        "--data-dir",
        data_dir().to_str().unwrap(),
        "--out",
        dir.join("r").to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!inst.exists(), "the stale instance is removed");
    assert!(!records.join(pid.to_string()).exists());
    // This run says it removed the instance, unless a faultline run of a test running
    // in parallel removed it first (each run cleans stale instances at its start).
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !err.contains(&format!("faultline-{pid}"))
            || err.contains("removed the stale tracefs instance"),
        "{}",
        text(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
