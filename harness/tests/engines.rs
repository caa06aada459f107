//! The real engines as backends (`sqlite[:mmap=SIZE][,cache=SIZE]`, `lmdb[:nordahead]`)
//! through the binary on tiny databases: every lookup verified, in memory, under a
//! memory cgroup (root), under global reclaim (root, huge pages), on a zram device with
//! a file system (root, zram), capped (blkio); the report's verdict lines; writes
//! (UPDATEs, puts) read back through the engine; what is refused, with what to do.

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
/// Root and the zram module, or a printed skip (`capability` names the skip without root).
fn zram_here(capability: &str, why_root: &str) -> bool {
    if faultline::sys::uid() != 0 {
        skip(capability, why_root);
        return false;
    }
    if !Path::new("/sys/class/zram-control/hot_add").exists() {
        skip("zram", "the zram module is not loaded");
        return false;
    }
    true
}

fn run_engines(name: &str, extra: &[&str]) -> std::path::PathBuf {
    run_engines_in(name, &data_dir(), extra)
}

/// `run_engines` with the data file and databases in `data`.
fn run_engines_in(name: &str, data: &Path, extra: &[&str]) -> std::path::PathBuf {
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
        data.to_str().unwrap(),
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
    if !zram_here("zram", "a zram device needs root") {
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
    // A block other than 4 KiB, writes the engines cannot express: skipped with the
    // reason (sqlite with several writer threads: skipped; lmdb runs them).
    for (i, (extra, want, backends)) in [
        (
            "block = \"8KiB\"",
            "block = \"4KiB\"",
            &["sqlite", "lmdb"][..],
        ),
        (
            "op = \"write\"\nblock = \"4KiB\"\nsync = \"end\"\nsync_method = \"fsync\"",
            "leave sync_method at its default",
            &["sqlite", "lmdb"][..],
        ),
        (
            "op = \"write\"\nblock = \"4KiB\"\npattern = \"append\"",
            "pattern = \"append\"",
            &["sqlite", "lmdb"][..],
        ),
        (
            // tiny_workload runs 2 threads.
            "op = \"write\"\nblock = \"4KiB\"",
            "use threads = 1",
            &["sqlite"][..],
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let out = dir.join(format!("r{i}"));
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
        for b in r
            .backends
            .iter()
            .filter(|b| backends.contains(&b.name.as_str()))
        {
            assert_eq!(b.status, Status::Skipped, "{}", b.name);
            let why = b.reason.as_deref().unwrap_or("");
            assert!(why.contains(want), "{}: {why}", b.name);
        }
    }
}

/// A write workload (op = write or mix) through the engines and their micro twins:
/// every cell ran, every written row (block) was read back after the cell and held its
/// newest generation, and a mix's reads were verified against the rows just written.
/// The data directory of the write tests: their own, so that a test reading the
/// shared databases never sees rows another test is writing (or a database being
/// built again after an LMDB write cell).
fn write_data_dir() -> std::path::PathBuf {
    let d = data_dir().join("engine-writes");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run_engine_writes(name: &str, extra_toml: &str, threads: &str) -> faultline::record::RunRecord {
    let dir = scratch(name);
    let out = dir.join("r");
    let wl = tiny_workload(
        &dir,
        &format!("block = \"4KiB\"\npattern = \"random\"\n{extra_toml}"),
    );
    let wd = write_data_dir();
    let mut args: Vec<String> = [
        "run",
        wl.to_str().unwrap(),
        "--size",
        "8MiB",
        "--duration",
        "300ms",
        "--threads",
        threads,
        "--data-dir",
        wd.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let engines: &[&str] = if threads == "1" {
        &["sqlite", "sqlite:mmap=64MiB", "lmdb", "pread", "mmap"]
    } else {
        &["lmdb", "pread"]
    };
    for b in engines {
        args.push("--backend".into());
        args.push(b.to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&refs);
    assert!(o.status.success(), "{}", text(&o));
    let r = load(&out);
    assert_eq!(r.backends.len(), engines.len());
    for b in &r.backends {
        assert_eq!(b.status, Status::Ok, "{}: {:?}", b.name, b.reason);
        assert_eq!(b.verify_errors, Some(0), "{}: {:?}", b.name, b.notes);
        let w = b.writes.as_ref().expect("a write result");
        let k = w.ops_by_kind.get("write").expect("writes counted");
        assert!(k.ops > 0, "{}: no writes", b.name);
        assert_eq!(w.verify_errors, Some(0), "{}", b.name);
        let verified = w.verified_pages.unwrap_or(0);
        assert!(
            verified > 0,
            "{}: nothing read back: {:?}",
            b.name,
            w.reasons
        );
        if b.name.starts_with("sqlite") || b.name.starts_with("lmdb") {
            assert!(
                b.notes
                    .iter()
                    .any(|n| n.contains("written rows, 0 without their newest value")),
                "{}: the engine's read-back is described: {:?}",
                b.name,
                b.notes
            );
            // Each distinct row written once at least: no more rows than writes.
            assert!(verified <= k.ops + 10_000, "{}: {verified} rows", b.name);
        }
    }
    r
}

#[test]
fn engine_writes_are_read_back_through_the_engine() {
    for (i, sync) in ["every:16", "end", "none", "interval:50ms"]
        .iter()
        .enumerate()
    {
        run_engine_writes(
            &format!("engines-w{i}"),
            &format!("op = \"write\"\nsync = \"{sync}\""),
            "1",
        );
    }
    // A mix: reads see the rows the thread wrote (verified against their generation).
    let r = run_engine_writes(
        "engines-mix",
        "op = \"mix\"\nread_pct = 50\nsync = \"every:8\"",
        "1",
    );
    for b in &r.backends {
        let w = b.writes.as_ref().unwrap();
        assert!(
            w.ops_by_kind.get("read").is_some_and(|k| k.ops > 0),
            "{}",
            b.name
        );
    }
    // LMDB with two writer threads (its write lock serializes them).
    run_engine_writes("engines-w2", "op = \"write\"\nsync = \"every:16\"", "2");
    // After the write cells the read workload finds the databases as generated.
    run_engines_in(
        "engines-after-writes",
        &write_data_dir(),
        &["--start", "warm"],
    );
}

#[test]
fn engines_under_global_reclaim() {
    if faultline::sys::uid() != 0 {
        skip(
            "global-reclaim",
            "engines under global reclaim need root (huge pages)",
        );
        return;
    }
    if !Path::new("/proc/sys/vm/nr_hugepages").exists() {
        skip("global-reclaim", "/proc/sys/vm/nr_hugepages does not exist");
        return;
    }
    if Path::new("/run/faultline/hugepages/reservation").exists() {
        skip(
            "global-reclaim",
            "another run holds a huge-page reservation",
        );
        return;
    }
    // A generous limit: the test checks that the engines run (verified) inside the
    // regime's reservation, not eviction (scripts/engines.sh measures that).
    let out = scratch("engines-global").join("r");
    let wl = tiny_workload(
        &scratch("engines-global"),
        "block = \"4KiB\"\npattern = \"random\"",
    );
    let mut args = vec![
        "run".to_string(),
        wl.to_str().unwrap().into(),
        "--size".into(),
        "8MiB".into(),
        "--duration".into(),
        "200ms".into(),
        "--threads".into(),
        "1".into(),
        "--data-dir".into(),
        data_dir().to_str().unwrap().into(),
        "--page-cache-limit".into(),
        "1GiB".into(),
        "--reclaim".into(),
        "global".into(),
        "--out".into(),
        out.to_str().unwrap().into(),
        "--quiet".into(),
    ];
    for b in ["sqlite", "lmdb", "pread", "mmap"] {
        args.push("--backend".into());
        args.push(b.into());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&refs);
    let err = String::from_utf8_lossy(&o.stderr);
    if o.status.code() == Some(1) && err.contains("reclaim = \"global\"") {
        skip("global-reclaim", &format!("refused here: {err}"));
        return;
    }
    assert!(o.status.success(), "{}", text(&o));
    let r = load(&out);
    for b in &r.backends {
        assert_eq!(b.status, Status::Ok, "{}: {:?}", b.name, b.reason);
        assert_eq!(b.verify_errors, Some(0), "{}", b.name);
        let reg = b.regime.as_ref().expect("the regime is recorded");
        assert_eq!(reg.reclaim, "global", "{}", b.name);
        assert!(
            b.notes.iter().any(|n| n.starts_with("global reclaim:")),
            "{}: the reservation is noted: {:?}",
            b.name,
            b.notes
        );
    }
    let o = run(&["report", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(
        md.contains("(global reclaim)") && md.contains("verdict: "),
        "{md}"
    );
}

#[test]
fn engines_on_a_capped_zram_device() {
    if !zram_here("blkio", "a capped zram device needs root") {
        return;
    }
    let out = run_engines(
        "engines-capped",
        &[
            "--device",
            "zram,read_iops=4000",
            "--page-cache-limit",
            "16MiB",
        ],
    );
    let o = run(&["report", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(
        md.lines().any(|l| l.starts_with("- verdict: ")
            && l.contains("capped at")
            && l.contains("read IOPS")),
        "the verdict names the capped device: {md}"
    );
}
