//! The real engines as backends (`sqlite[:mmap=SIZE][,cache=SIZE]`, `lmdb[:nordahead]`)
//! through the binary on tiny databases: every lookup verified, in memory, under a
//! memory cgroup (root) and on a zram device with a file system (root, zram); the
//! report's verdict lines; writes and bad specs refused with what to do.

mod common;
use common::*;
use faultline::record::Status;
use std::path::Path;

const ENGINES: &[&str] = &[
    "sqlite",
    "sqlite:mmap=64MiB",
    "lmdb",
    "lmdb:nordahead",
    "pread",
    "mmap",
    "mmap:advice=random",
];

/// Run the engines and their micro twins on a tiny workload with `extra` flags; check
/// every cell ran and verified; return the result directory.
fn run_engines(name: &str, extra: &[&str]) -> std::path::PathBuf {
    let dir = scratch(name);
    let out = dir.join("r");
    let wl = tiny_workload(&dir, "block = \"4KiB\"\npattern = \"random\"");
    let mut args: Vec<String> = [
        "run",
        wl.to_str().unwrap(),
        "--size",
        "8MiB",
        "--duration",
        "200ms",
        "--threads",
        "1",
        "--data-dir",
        data_dir().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for b in ENGINES {
        args.push("--backend".into());
        args.push(b.to_string());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&refs);
    assert!(o.status.success(), "{}", text(&o));
    let r = load(&out);
    assert_eq!(r.backends.len(), ENGINES.len());
    for b in &r.backends {
        assert_eq!(b.status, Status::Ok, "{}: {:?}", b.name, b.reason);
        assert!(check_backend(b));
        assert_eq!(b.verify_errors, Some(0), "{}", b.name);
        if b.name.starts_with("sqlite") || b.name.starts_with("lmdb") {
            assert!(
                b.notes.iter().any(|n| n.contains("rows of 1000 B values")),
                "{}: the database is described: {:?}",
                b.name,
                b.notes
            );
        }
    }
    out
}

#[test]
fn engines_run_verified_and_the_report_gives_verdicts() {
    let out = run_engines("engines-mem", &["--start", "warm"]);
    let o = run(&["report", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let md = String::from_utf8_lossy(&o.stdout);
    for want in [
        "verdict: ",
        "SQLite mmap on/off",
        "LMDB/SQLite (no mmap)",
        "LMDB nordahead/SQLite (no mmap)",
        "micro mmap/pread",
        "micro mmap:advice=random/pread",
    ] {
        assert!(md.contains(want), "report lacks `{want}`:\n{md}");
    }
    assert!(
        md.lines()
            .filter(|l| l.starts_with("- verdict: "))
            .all(|l| l.contains(": agree") || l.contains(": disagree")),
        "{md}"
    );
}

#[test]
fn engines_under_a_memory_cgroup() {
    if faultline::sys::uid() != 0 {
        skip(
            "cgroup",
            "engines under a page-cache limit need root (a memory cgroup)",
        );
        return;
    }
    run_engines("engines-cg", &["--page-cache-limit", "16MiB"]);
}

#[test]
fn engines_on_zram_with_a_file_system() {
    if faultline::sys::uid() != 0 {
        skip("zram", "a zram device needs root");
        return;
    }
    if !Path::new("/sys/class/zram-control/hot_add").exists() {
        skip("zram", "the zram module is not loaded");
        return;
    }
    let out = run_engines(
        "engines-zram",
        &["--device", "zram", "--page-cache-limit", "16MiB"],
    );
    let r = load(&out);
    assert_eq!(r.data_file.origin.name(), "zram");
    // The run's mount is gone after it: any faultline-zramfs mount left belongs to a
    // faultline process that still runs (a test running in parallel).
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for l in mounts.lines() {
        let Some(rest) = l.split("faultline-zramfs-").nth(1) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        assert!(
            Path::new(&format!("/proc/{pid}")).exists(),
            "a mount of a finished run is left: {l}"
        );
    }
    for b in &r.backends {
        // The device probes see the engines' reads (the database is on the device).
        let dev = counter(&b.counters, "device_read_bytes");
        assert!(dev.is_u64(), "{}: device_read_bytes {dev}", b.name);
    }
}

#[test]
fn engine_writes_and_bad_specs_are_refused_with_what_to_do() {
    let dir = scratch("engines-bad");
    for (spec, want) in [
        ("sqlite:mmap=lots", "mmap=lots"),
        ("sqlite:cache=4KiB", "at least 64KiB"),
        ("lmdb:nordahead=1", "nordahead"),
        ("sqlite:wal", "wal"),
    ] {
        let o = run(&[
            "run",
            tiny_workload(&dir, "").to_str().unwrap(),
            "--backend",
            spec,
            "--data-dir",
            data_dir().to_str().unwrap(),
            "--out",
            dir.join("x").to_str().unwrap(),
        ]);
        assert_ne!(o.status.code(), Some(0), "{spec}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains(want), "{spec}: stderr lacks `{want}`: {err}");
    }
    // Writes: skipped with the reason; a block other than 4 KiB: skipped with the reason.
    for (extra, want) in [
        ("op = \"write\"\nblock = \"4KiB\"", "point lookups only"),
        ("block = \"8KiB\"", "block = \"4KiB\""),
    ] {
        let out = dir.join(format!("r{}", want.len()));
        let o = run(&[
            "run",
            tiny_workload(&dir, extra).to_str().unwrap(),
            "--backend",
            "sqlite",
            "--backend",
            "lmdb",
            "--data-dir",
            data_dir().to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
        let r = load(&out);
        for b in &r.backends {
            assert_eq!(b.status, Status::Skipped, "{}", b.name);
            let why = b.reason.as_deref().unwrap_or("");
            assert!(why.contains(want), "{}: {why}", b.name);
        }
    }
}
