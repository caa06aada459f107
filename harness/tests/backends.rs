//! Every backend, run for real on a few-MiB file through the binary: checksums,
//! ops x block == bytes, ordered percentiles, histogram count, time-series sums.

mod common;
use common::*;
use faultline::record::{BackendResult, RunRecord, Status};

/// Run `spec` on workload `wl` through the binary; the output and run.json.
fn run_spec(
    spec: &str,
    dir: &std::path::Path,
    wl: &std::path::Path,
) -> (std::process::Output, RunRecord) {
    let out = dir.join("result");
    let o = run(&[
        "run",
        wl.to_str().unwrap(),
        "--backend",
        spec,
        "--data-dir",
        data_dir().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(out.join("run.json").exists(), "{}", text(&o));
    let r = load(&out);
    (o, r)
}

fn run_backend(spec: &str, extra: &str) {
    let dir = scratch("backend");
    let wl = tiny_workload(&dir, extra);
    let (o, r) = run_spec(spec, &dir, &wl);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(r.schema, 1);
    assert!(r.complete);
    assert_eq!(r.backends.len(), 1);
    let b = &r.backends[0];
    assert_eq!(b.name, spec);
    assert_eq!(Some(b.block), r.workload["block"].as_u64());
    // A skipped backend is reported as skipped (and fails under FAULTLINE_REQUIRE).
    check_backend(b);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("p99.9") && stdout.contains(spec),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pread() {
    run_backend("pread", "");
}

#[test]
fn direct() {
    run_backend("direct", "");
}

#[test]
fn mmap_normal() {
    run_backend("mmap", "");
}

#[test]
fn mmap_advice_variants() {
    for a in ["random", "sequential", "willneed", "hugepage", "nohugepage"] {
        run_backend(&format!("mmap:advice={a}"), "");
    }
}

#[test]
fn mmap_populate_and_lock() {
    run_backend("mmap:advice=random,populate", "");
    // mlock of 4 MiB may exceed RLIMIT_MEMLOCK for non-root users: then the result is
    // "skipped" with the reason, which check_backend prints (and FAULTLINE_REQUIRE
    // naming `mmap:lock` turns into a failure).
    run_backend("mmap:lock", "");
}

#[test]
fn touch_all_with_large_blocks_sequential() {
    run_backend(
        "pread",
        "block = \"64KiB\"\npattern = \"sequential:chunk=1MiB\"\ntouch = \"all\"",
    );
    run_backend(
        "mmap",
        "block = \"64KiB\"\npattern = \"sequential:chunk=1MiB\"\ntouch = \"all\"",
    );
    run_backend(
        "direct",
        "block = \"64KiB\"\npattern = \"sequential:chunk=1MiB\"\ntouch = \"all\"",
    );
}

#[test]
fn skewed_patterns_and_op_count() {
    run_backend("pread", "pattern = \"zipf:theta=1.1\"");
    run_backend(
        "mmap:advice=random",
        "pattern = \"hotset:ops=90,size=10\"\nstart = \"warm\"",
    );
    // A fixed number of operations instead of a duration.
    let dir = scratch("ops");
    let wl = dir.join("ops.toml");
    std::fs::write(&wl, "size = \"4MiB\"\nthreads = 2\nops = 10001\nwarmup = \"0s\"\ninterval = \"10ms\"\nbackends = [\"pread\", \"mmap\"]\n").unwrap();
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
    for b in &load(&out).backends {
        assert!(check_backend(b), "{} is never skipped", b.name);
        assert_eq!(b.ops, 10001);
    }
}

#[test]
fn small_blocks_below_a_page() {
    // 512 B blocks: most blocks hold no page header; the fold still matches.
    run_backend("pread", "block = \"512B\"");
    run_backend("mmap", "block = \"512B\"");
}

#[test]
fn every_shipped_workload_runs_tiny() {
    let root = repo_root().join("workloads");
    let mut n = 0;
    for e in std::fs::read_dir(&root).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let body = std::fs::read_to_string(&p).unwrap();
        if body.contains("page_cache_limit") && faultline::sys::uid() != 0 {
            let why = format!("{}: its page_cache_limit needs root", p.display());
            skip("cgroup", &why);
            continue;
        }
        let dir = scratch("wl");
        // A global-reclaim workload reserves most of the machine's memory as huge pages,
        // which a fragmented machine (other tests running) may refuse: here it runs in
        // the cgroup regime; tests/reclaim.rs runs the global regime where the machine
        // can reserve.
        let reclaim: &[&str] = if body.contains("reclaim = \"global\"") {
            &["--reclaim", "cgroup"]
        } else {
            &[]
        };
        let tiny = |duration: &str, out: &std::path::Path| {
            let o = run(&[
                &[
                    "run",
                    p.to_str().unwrap(),
                    "--size",
                    "8MiB",
                    "--duration",
                    duration,
                    "--warmup",
                    "20ms",
                    "--interval",
                    "50ms",
                    "--data-dir",
                    data_dir().to_str().unwrap(),
                    "--out",
                    out.to_str().unwrap(),
                    "--quiet",
                ],
                reclaim,
            ]
            .concat());
            assert!(o.status.success(), "{}: {}", p.display(), text(&o));
            load(out)
        };
        let mut r = tiny("150ms", &dir.join("r"));
        // A cold 1 MiB block read through mmap:advice=random is 256 synchronous 4 KiB
        // reads: on a busy disk the first one may not finish within 150 ms, and an
        // operation still in flight when the measured phase ends is not counted. Such a
        // run is repeated once with a measured second (it must then have operations).
        let idle: Vec<String> = r
            .backends
            .iter()
            .filter(|b| b.status == Status::Ok && b.ops == 0)
            .map(|b| b.name.clone())
            .collect();
        if !idle.is_empty() {
            eprintln!(
                "{}: no operation of {} finished in 150 ms (a slow device): measuring 1 s",
                p.display(),
                idle.join(", ")
            );
            r = tiny("1s", &dir.join("r-1s"));
        }
        let writes = r.workload["op"] != "read";
        for b in &r.backends {
            // A write workload lists every backend; those without a write path are
            // skipped by design (not for a missing capability of the machine), and
            // say so.
            if writes && b.status == Status::Skipped {
                let why = b.reason.as_deref().unwrap_or("");
                let by_design = ["does not write", "is read-only"]
                    .iter()
                    .any(|s| why.contains(s));
                assert!(by_design, "{}: {}: skipped: {why}", p.display(), b.name);
                continue;
            }
            if b.status == Status::Ok {
                assert!(b.ops > 0, "{}: {}: no operations", p.display(), b.name);
            }
            check_backend(b);
        }
        n += 1;
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(n >= 3);
}

#[test]
fn user_file_is_read_without_verification_and_untouched() {
    let dir = scratch("userfile");
    let f = dir.join("mine.bin");
    let content: Vec<u8> = (0..(2u32 << 20)).map(|i| (i % 251) as u8).collect();
    std::fs::write(&f, &content).unwrap();
    let out = dir.join("r");
    let o = run(&[
        "run",
        tiny_workload(&dir, "").to_str().unwrap(),
        "--file",
        f.to_str().unwrap(),
        "--backend",
        "pread",
        "--backend",
        "mmap",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("verification off"),
        "{}",
        text(&o)
    );
    let r = load(&out);
    assert_eq!(r.data_file.size, 2u64 << 20);
    assert!(r.data_file.verify_tag.is_none());
    for b in &r.backends {
        assert!(b.verify_errors.is_none());
        check_backend(b);
    }
    assert_eq!(
        std::fs::read(&f).unwrap(),
        content,
        "the user's file is unchanged"
    );
}

#[test]
fn repeats_and_thread_lists_make_one_entry_per_cell() {
    let dir = scratch("cells");
    let out = dir.join("r");
    let o = run(&[
        "run",
        tiny_workload(&dir, "").to_str().unwrap(),
        "--backend",
        "pread",
        "--backend",
        "mmap",
        "--threads",
        "1,2",
        "--repeats",
        "2",
        // An operation count, not a duration: a cold read on a disk busy with the other
        // tests' files can take longer than a short measured phase.
        "--ops",
        "2000",
        "--data-dir",
        data_dir().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let bs = load(&out).backends;
    assert_eq!(bs.len(), 8);
    for b in &bs {
        check_backend(b);
    }
    // Repeats alternate the order.
    assert_eq!(bs[0].name, "pread");
    assert_eq!(bs[4].name, "mmap");
    assert!(out.join("pread.t2.r2.hgrm").exists());
}

/// Run one backend like `run_backend` and return its result object.
fn run_one(spec: &str, extra: &str) -> BackendResult {
    let dir = scratch("one");
    let wl = tiny_workload(&dir, extra);
    run_wl(spec, &dir, &wl)
}

/// Run one backend for a fixed number of operations (total over 2 threads).
fn run_ops(spec: &str, ops: u64, extra: &str) -> BackendResult {
    let dir = scratch("ops");
    let wl = dir.join("ops.toml");
    std::fs::write(
        &wl,
        format!("size = \"4MiB\"\nthreads = 2\nops = {ops}\nwarmup = \"20ms\"\ninterval = \"10ms\"\n{extra}\n"),
    )
    .unwrap();
    run_wl(spec, &dir, &wl)
}

fn run_wl(spec: &str, dir: &std::path::Path, wl: &std::path::Path) -> BackendResult {
    let (o, r) = run_spec(spec, dir, wl);
    let b = r.backends[0].clone();
    assert!(
        o.status.success() || b.status == Status::Skipped,
        "{}",
        text(&o)
    );
    let _ = std::fs::remove_dir_all(dir);
    b
}

#[test]
fn uring() {
    run_backend("uring", "");
}

#[test]
fn uring_qd8() {
    run_backend("uring:qd=8", "");
}

#[test]
fn uring_direct_fixed_regfile() {
    run_backend("uring:qd=16,direct,fixed,regfile", "");
}

#[test]
fn uring_sqpoll() {
    run_backend("uring:sqpoll", "");
}

#[test]
fn uring_batch() {
    run_backend("uring:qd=4,batch=4", "");
}

#[test]
fn uring_takes_the_workloads_queue_depth_and_counts_ops_exactly() {
    // A skip goes through `skip` (FAULTLINE_REQUIRE=uring makes it fail).
    let b = run_one("uring:direct", "queue_depth = 4");
    if check_backend(&b) {
        assert_eq!(b.queue_depth, 4);
    }
    // An operation count with 8 reads in flight per thread: exactly that many measured.
    let b = run_ops("uring:qd=8,batch=2", 10001, "");
    if check_backend(&b) {
        assert_eq!(b.ops, 10001);
        assert_eq!(b.queue_depth, 8);
    }
}

#[test]
fn uring_large_blocks_sequential_touch_all() {
    run_backend(
        "uring:qd=4,direct,fixed",
        "block = \"64KiB\"\npattern = \"sequential:chunk=1MiB\"\ntouch = \"all\"",
    );
}

#[test]
fn bufferpool() {
    run_backend("bufferpool", "");
}

#[test]
fn bufferpool_small_pool_heavy_eviction() {
    // 1 MiB of frames over a 4 MiB file, 2 threads: three reads in four miss.
    run_backend("bufferpool:pool=1MiB", "");
    let b = run_one("bufferpool:pool=1MiB", "");
    if check_backend(&b) {
        let notes = &b.notes;
        assert!(notes.iter().any(|n| n.contains("256 frames")), "{notes:?}");
        assert!(
            notes
                .iter()
                .any(|n| n.contains("hits") && n.contains("misses") && n.contains("hit ratio")),
            "{notes:?}"
        );
    }
}

#[test]
fn bufferpool_hot_set_and_op_count() {
    let b = run_ops(
        "bufferpool:pool=1MiB",
        20000,
        "pattern = \"hotset:ops=90,size=10\"",
    );
    if check_backend(&b) {
        assert_eq!(b.ops, 20000);
    }
}

#[test]
fn bufferpool_too_small_is_skipped_with_the_reason() {
    // 2 frames for 2 threads: the pool needs at least 2 per thread.
    let b = run_one("bufferpool:pool=8KiB", "");
    assert_eq!(b.status, Status::Skipped, "{b:?}");
    let reason = b.reason.as_deref().unwrap();
    assert!(reason.contains("at least 2 frames per thread"), "{reason}");
}

#[test]
fn vmcache() {
    run_backend("vmcache", "");
}

#[test]
fn vmcache_small_budget_batched_eviction() {
    // 1 MiB budget over a 4 MiB file, 2 threads, batches of 32 pages: three reads in
    // four miss, and the measured phase evicts in batches.
    run_backend("vmcache:pool=1MiB,batch=32", "");
    let b = run_one("vmcache:pool=1MiB,batch=32,release=madvise", "");
    if check_backend(&b) {
        let notes = &b.notes;
        assert!(
            notes.iter().any(|n| n.contains("budget 256 pages")),
            "{notes:?}"
        );
        let cache = notes
            .iter()
            .find(|n| n.contains("hit ratio"))
            .unwrap_or_else(|| panic!("{notes:?}"));
        assert!(
            cache.contains("evictions in") && cache.contains("batches"),
            "{cache}"
        );
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with("TLB shootdowns per eviction batch")),
            "{notes:?}"
        );
    }
    let b = run_ops(
        "vmcache:pool=1MiB",
        20000,
        "pattern = \"hotset:ops=90,size=10\"",
    );
    if check_backend(&b) {
        assert_eq!(b.ops, 20000);
    }
}

#[test]
fn vmcache_too_small_or_uring_is_refused_with_the_reason() {
    let b = run_one("vmcache:pool=8KiB", "");
    assert_eq!(b.status, Status::Skipped, "{b:?}");
    let reason = b.reason.as_deref().unwrap();
    assert!(reason.contains("at least 2 pages per thread"), "{reason}");
    let dir = scratch("vmcache-uring");
    let wl = tiny_workload(&dir, "");
    let out = dir.join("result");
    let o = run(&[
        "run",
        wl.to_str().unwrap(),
        "--backend",
        "vmcache:io=uring",
        "--data-dir",
        data_dir().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("one miss in flight"), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mock_runs_through_the_binary_and_verifies() {
    run_backend("mock:latency=1us", "");
    run_backend("mock:qd=4", "");
    let b = run_ops("mock", 1001, "");
    assert!(check_backend(&b));
    assert_eq!(b.ops, 1001);
}
