//! The fault-injecting FUSE device (`--device fuse:...`) and `on_error = "continue"`:
//! an EIO injected at a known page is reported by every backend at that page's offset,
//! a delayed page shows in the latency histogram at or above the delay, nothing is ever
//! written through FUSE, and the mount is gone after a normal end, Ctrl-C, a server
//! that stops answering, and SIGKILL followed by the next run. Needs root and
//! /dev/fuse (capability `fuse`); skipped with the reason otherwise.

mod common;
use common::*;
use faultline::record::{BackendResult, RunRecord, Status};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The page the EIO and delay tests inject at (page 300 of a 4 MiB file).
const PAGE_AT: u64 = 300 * 4096;

/// One test of this file at a time: every run first removes the stale mounts of killed
/// runs, which must not race with the SIGKILL test's own check.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn fuse_here(test: &str) -> bool {
    if faultline::sys::uid() != 0 {
        skip(
            "fuse",
            &format!("{test}: mounting a FUSE file system needs root"),
        );
        return false;
    }
    if !Path::new("/dev/fuse").exists() {
        skip("fuse", &format!("{test}: /dev/fuse does not exist"));
        return false;
    }
    true
}

/// The mount point a result's data file was served from.
fn mountpoint(r: &RunRecord) -> PathBuf {
    r.data_file
        .path
        .parent()
        .expect("the served file is inside the mount point")
        .to_path_buf()
}

fn mounted(p: &Path) -> bool {
    faultline::env::fuse::is_mounted(p)
}

fn assert_unmounted(p: &Path) {
    assert!(!mounted(p), "{} is still mounted", p.display());
    assert!(
        !p.exists(),
        "the mount point {} is left behind",
        p.display()
    );
}

/// A sequential read workload of 4 MiB (1024 pages, each read at least once by every
/// backend in `ops`).
fn workload(dir: &Path, backends: &[&str]) -> PathBuf {
    let list: Vec<String> = backends.iter().map(|b| format!("\"{b}\"")).collect();
    let p = dir.join("fuse.toml");
    std::fs::write(
        &p,
        format!(
            "description = \"fuse test\"\nsize = \"4MiB\"\nthreads = 1\npattern = \"sequential\"\nops = 1500\nwarmup = \"0s\"\ninterval = \"100ms\"\non_error = \"continue\"\nbackends = [{}]\n",
            list.join(", ")
        ),
    )
    .unwrap();
    p
}

fn run_fuse(dir: &Path, backends: &[&str], device: &str) -> RunRecord {
    let out = dir.join("r");
    let wl = workload(dir, backends);
    let o = run(&[
        "run",
        wl.to_str().unwrap(),
        "--device",
        device,
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = load(&out);
    assert_unmounted(&mountpoint(&r));
    r
}

/// The server's note for a cell: nothing written through FUSE.
fn check_no_writes(b: &BackendResult) {
    let note = b
        .notes
        .iter()
        .find(|n| n.starts_with("fuse server:"))
        .unwrap_or_else(|| panic!("{}: no fuse server note in {:?}", b.name, b.notes));
    assert!(note.contains(" 0 writes"), "{}: {note}", b.name);
}

#[test]
fn an_injected_eio_is_reported_by_every_backend_at_its_offset() {
    if !fuse_here("eio") {
        return;
    }
    let _serial = serial();
    let dir = scratch("fuse-eio");
    let backends = [
        "pread",
        "direct",
        "mmap:advice=random",
        "mmap",
        "uring:qd=4",
        "uring:qd=4,direct",
        "bufferpool:pool=1MiB",
        "fio",
    ];
    let r = run_fuse(&dir, &backends, &format!("fuse,eio_at={PAGE_AT}"));
    assert_eq!(r.backends.len(), backends.len());
    for b in &r.backends {
        if b.kind == "fio" {
            // fio counts its failed reads (continue_on_error=read) but keeps no offsets.
            if ran(b) {
                assert!(b.io_errors >= 1, "fio: {:?} {:?}", b.io_errors, b.notes);
                check_no_writes(b);
            }
            continue;
        }
        assert_eq!(b.status, Status::Ok, "{}: {:?}", b.name, b.reason);
        assert!(b.ops > 0, "{}: no operations", b.name);
        assert_eq!(b.verify_errors, Some(0), "{}: verify", b.name);
        assert!(b.io_errors >= 1, "{}: the failing page was read", b.name);
        assert!(!b.io_error_samples.is_empty(), "{}", b.name);
        for s in &b.io_error_samples {
            assert_eq!(
                s.offset, PAGE_AT,
                "{}: error at {}: {}",
                b.name, s.offset, s.error
            );
        }
        // Failed operations are not in the latency histogram.
        assert_eq!(histogram(b).len(), b.ops, "{}", b.name);
        check_no_writes(b);
    }
    let err = |name: &str| {
        let b = r.backends.iter().find(|b| b.name == name).unwrap();
        b.io_error_samples[0].error.clone()
    };
    assert!(
        err("pread").contains("Input/output error"),
        "{}",
        err("pread")
    );
    assert!(err("mmap:advice=random").contains("SIGBUS"));
    assert!(err("uring:qd=4").contains("io_uring read"));
    // Timed failures have their own histogram.
    let b = &r.backends[0];
    assert!(b.error_histogram.is_some(), "{}: error_histogram", b.name);
}

#[test]
fn a_copy_backend_skips_on_a_failing_device_and_fail_stops_at_the_error() {
    if !fuse_here("eio-fail") {
        return;
    }
    let _serial = serial();
    let dir = scratch("fuse-fail");
    let out = dir.join("r");
    let wl = workload(&dir, &["hugepage:mode=anon-thp", "pread"]);
    let o = run(&[
        "run",
        wl.to_str().unwrap(),
        "--device",
        &format!("fuse,eio_at={PAGE_AT}"),
        "--on-error",
        "fail",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let r = load(&out);
    assert_unmounted(&mountpoint(&r));
    let hp = &r.backends[0];
    assert_eq!(hp.status, Status::Skipped, "{:?}", hp.reason);
    let why = hp.reason.as_deref().unwrap_or("");
    assert!(
        why.contains("copy") && why.contains("Input/output error"),
        "{why}"
    );
    let p = &r.backends[1];
    assert_eq!(p.status, Status::Failed);
    let why = p.reason.as_deref().unwrap_or("");
    assert!(why.contains(&format!("offset {PAGE_AT}")), "{why}");
    assert_eq!(p.io_errors, 0, "fail does not count, it stops");
}

#[test]
fn a_delayed_page_shows_in_the_histogram_at_or_above_the_delay() {
    if !fuse_here("delay") {
        return;
    }
    let _serial = serial();
    let dir = scratch("fuse-delay");
    let delay_ns = 40_000_000u64;
    // Every 250th page is delayed (4 in the 4 MiB file): the first few operations of a
    // cell may run before its measured phase begins, so one page alone could be missed.
    // io_uring is measured on its direct path.
    let backends = ["pread", "direct", "mmap:advice=random", "uring:qd=4,direct"];
    let r = run_fuse(&dir, &backends, "fuse,delay_every=250,delay=40ms");
    for b in &r.backends {
        assert_eq!(b.status, Status::Ok, "{}: {:?}", b.name, b.reason);
        assert_eq!(b.io_errors, 0);
        // Buffered reads of a sequential pattern meet a stall in a read-ahead request
        // the kernel issued a few pages before the reader got to the delayed page: the
        // operation that waits for it waits the delay less those few microseconds.
        let at_least = if b.name == "pread" {
            delay_ns * 95 / 100
        } else {
            delay_ns
        };
        let h = histogram(b);
        let slow = h.count_between(at_least, h.max().max(at_least));
        assert!(
            slow >= 1,
            "{}: no operation at or above {at_least} ns (max {} ns)",
            b.name,
            h.max()
        );
        check_no_writes(b);
    }
}

/// Start a 10 s run of `direct` (every read goes to the server) on the device in the
/// background and wait until it measures.
fn start_long_run(dir: &Path, device: &str, on_error: &str) -> (std::process::Child, PathBuf) {
    let out = dir.join("r");
    let ready = dir.join("ready");
    let wl = workload(dir, &["direct"]);
    let mut child = bin()
        .env("FAULTLINE_READY_FILE", &ready)
        .args([
            "run",
            wl.to_str().unwrap(),
            "--device",
            device,
            "--duration",
            "10s",
            "--on-error",
            on_error,
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_measuring(&mut child, &ready, "direct");
    (child, out)
}

/// The mount point a running faultline process recorded.
fn recorded_mount(pid: u32) -> PathBuf {
    let rec = Path::new(faultline::env::fuse::RECORDS).join(format!("{pid}-0"));
    let t = std::fs::read_to_string(&rec)
        .unwrap_or_else(|e| panic!("no mount record {}: {e}", rec.display()));
    PathBuf::from(t.lines().next().unwrap_or(""))
}

fn signal(pid: u32, sig: &str) {
    let st = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn ctrl_c_unmounts() {
    if !fuse_here("ctrl-c") {
        return;
    }
    let _serial = serial();
    let dir = scratch("fuse-int");
    let (child, out) = start_long_run(&dir, "fuse", "fail");
    let mnt = recorded_mount(child.id());
    assert!(mounted(&mnt));
    signal(child.id(), "-INT");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert!(!load(&out).complete);
    assert_unmounted(&mnt);
}

#[test]
fn a_server_that_stops_answering_becomes_errors_not_a_hang() {
    if !fuse_here("abort") {
        return;
    }
    let _serial = serial();
    let dir = scratch("fuse-abort");
    let t0 = Instant::now();
    let (child, out) = start_long_run(&dir, "fuse", "fail");
    let mnt = recorded_mount(child.id());
    // Abort the FUSE connection under the running backend, as a crashed server would
    // leave it: every read fails with ENOTCONN from then on.
    let conn = faultline::env::fuse::connection_of(&mnt).expect("the mount's connection");
    faultline::env::fuse::abort_connection(conn).expect("abort the connection");
    let o = child.wait_with_output().unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(60),
        "the run ended in bounded time"
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let r = load(&out);
    let b = &r.backends[0];
    assert_eq!(b.status, Status::Failed);
    assert!(
        b.reason.as_deref().unwrap_or("").contains("connect"),
        "{:?}",
        b.reason
    );
    assert_unmounted(&mnt);
}

#[test]
fn kill_9_leaves_a_mount_that_the_next_run_removes() {
    if !fuse_here("kill-9") {
        return;
    }
    let _serial = serial();
    let dir = scratch("fuse-kill");
    let (mut child, _) = start_long_run(&dir, "fuse", "fail");
    let mnt = recorded_mount(child.id());
    signal(child.id(), "-KILL");
    // Not waited for yet: a read of the killed process may wait in its own dead server
    // until the next run aborts the connection.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        mounted(&mnt),
        "SIGKILL leaves the mount (nothing could undo it)"
    );
    // The next run (any) removes it first.
    let out = dir.join("next");
    let wl = tiny_workload(&dir, "backends = [\"mock\"]");
    let o = run(&[
        "run",
        wl.to_str().unwrap(),
        "--data-dir",
        data_dir().to_str().unwrap(),
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("removed the stale FUSE mount"), "{err}");
    assert_unmounted(&mnt);
    // And the killed process could finish exiting.
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the killed faultline did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
