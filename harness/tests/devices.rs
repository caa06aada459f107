//! Capped and striped devices and read-ahead (`--device zram:SIZE,count=N,read_iops=N`,
//! `--device-cap`, `--read-ahead-kb`): bad specs are refused with what to do; a capped
//! run records the cap and its device counters stay under it; a run striped over two
//! zram devices verifies every read and keeps counters per device; and nothing is left
//! behind (blkio cgroup, zram devices, read-ahead) after a normal end, Ctrl-C, and
//! SIGKILL followed by the next run. The root parts need root, zram and the cgroup v1
//! blkio controller (capability `blkio`); they skip with the reason otherwise.

mod common;
use common::*;
use faultline::record::{RunRecord, Status};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One test of this file at a time: every run cleans the records of dead runs, which
/// must not race with the SIGKILL test's own checks.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Root, zram and the blkio controller are here; otherwise skip with the reason.
fn devices_here(test: &str) -> bool {
    if faultline::sys::uid() != 0 {
        skip(
            "blkio",
            &format!("{test}: capping and hot-adding devices needs root"),
        );
        return false;
    }
    if !Path::new("/sys/class/zram-control/hot_add").exists() {
        skip("zram", &format!("{test}: the zram module is not loaded"));
        return false;
    }
    if let Err(e) = faultline::env::blkio::locate() {
        skip("blkio", &format!("{test}: {e}"));
        return false;
    }
    true
}

fn fails(args: &[&str], code: i32, wants: &[&str]) {
    let o = run(args);
    assert_eq!(o.status.code(), Some(code), "{:?}: {}", args, text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    for w in wants {
        assert!(err.contains(w), "{args:?}: stderr lacks `{w}`:\n{err}");
    }
}

#[test]
fn bad_device_specs_and_caps_say_what_to_do() {
    let dir = scratch("dev-bad");
    let w = tiny_workload(&dir, "");
    let ws = w.to_str().unwrap();
    // Command-line syntax: clap's exit code 2, with our message.
    fails(
        &["run", ws, "--device", "zram,read_iops=x"],
        2,
        &["whole number"],
    );
    fails(
        &["run", ws, "--device", "zram,read_iops=0"],
        2,
        &["at least 1"],
    );
    fails(
        &["run", ws, "--device", "zram,count=0"],
        2,
        &["count=0", "1 to"],
    );
    fails(
        &["run", ws, "--device", "zram,stripe=1000"],
        2,
        &["multiple of 4KiB"],
    );
    fails(
        &["run", ws, "--device", "zram,iops=5"],
        2,
        &["count=N", "read_iops=N"],
    );
    fails(&["run", ws, "--device-cap", "read_iops"], 2, &["key=value"]);
    fails(&["run", ws, "--device-cap", "bogus=3"], 2, &["read_iops=N"]);
    fails(
        &["run", ws, "--device-cap", "read_bps=1MB"],
        2,
        &["read_bps"],
    );
    fails(
        &["run", ws, "--read-ahead-kb", "99999999"],
        1,
        &["--read-ahead-kb"],
    );
    // Combinations: exit 1, before anything is created.
    fails(
        &[
            "run",
            ws,
            "--device",
            "zram",
            "--device-cap",
            "read_iops=10",
        ],
        1,
        &["zram:SIZE,read_iops=10"],
    );
    fails(
        &[
            "run",
            ws,
            "--device",
            "zram,count=2,stripe=4KiB",
            "--block",
            "8KiB",
        ],
        1,
        &["stripe unit", "multiple of `block`"],
    );
    fails(
        &["run", ws, "--device", "zram,count=4,stripe=2MiB"],
        1,
        &["does not reach every device"],
    );
    fails(
        &[
            "run",
            ws,
            "--device",
            "zram,count=2,stripe=1MiB",
            "--op",
            "write",
        ],
        1,
        &["read-only"],
    );
    fails(
        &[
            "run",
            ws,
            "--device",
            "zram:1MiB,count=2,stripe=1MiB",
            "--size",
            "4MiB",
        ],
        1,
        &["zram:2MiB"],
    );
    // In a workload file: the key, its position and what is allowed.
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "size = \"4MiB\"\ndevice_cap = \"read_iops=fast\"\n").unwrap();
    fails(
        &["run", bad.to_str().unwrap()],
        1,
        &["device_cap", "whole number"],
    );
}

/// Run `faultline` as the nobody user (root only; None otherwise).
fn as_nobody(args: &[&str], cwd: &Path) -> Option<std::process::Output> {
    if faultline::sys::uid() != 0 || !Path::new("/usr/bin/setpriv").exists() {
        return None;
    }
    Command::new("/usr/bin/setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .current_dir(cwd)
        .output()
        .ok()
}

#[test]
fn without_root_caps_and_read_ahead_say_root() {
    let dir = std::env::temp_dir().join(format!("faultline-dev-nobody-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _ = Command::new("chmod")
        .args(["777", dir.to_str().unwrap()])
        .status();
    let w = tiny_workload(&dir, "backends = [\"pread\"]");
    let _ = Command::new("chmod")
        .args(["644", w.to_str().unwrap()])
        .status();
    let ws = w.to_str().unwrap();
    let dd = dir.join("data");
    let dds = dd.to_str().unwrap();
    for (flag, value, want) in [
        ("--device-cap", "read_iops=100", "device cap needs root"),
        ("--read-ahead-kb", "64", "needs root"),
        ("--device", "zram:8MiB,read_iops=100", "root"),
    ] {
        let Some(o) = as_nobody(
            &["run", ws, flag, value, "--data-dir", dds, "--quiet"],
            &dir,
        ) else {
            skip(
                "root",
                "without_root: needs root and setpriv to run as nobody",
            );
            break;
        };
        assert_eq!(o.status.code(), Some(1), "{flag}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{flag}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// blkio cgroups named faultline-* (ours, of any run).
fn our_blkio_cgroups() -> Vec<PathBuf> {
    let Ok(home) = faultline::env::blkio::locate() else {
        return Vec::new();
    };
    std::fs::read_dir(home)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("faultline-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn blkio_cgroup_of(pid: u32) -> PathBuf {
    faultline::env::blkio::locate()
        .unwrap()
        .join(format!("faultline-{pid}"))
}

fn read_ahead(disk: &str) -> u64 {
    faultline::env::readahead::read(disk).unwrap()
}

#[test]
fn a_capped_run_records_the_cap_and_stays_under_it() {
    if !devices_here("capped") {
        return;
    }
    let _s = serial();
    let dir = scratch("dev-cap");
    let out = dir.join("r");
    let w = tiny_workload(&dir, "backends = [\"direct\"]");
    let o = run(&[
        "run",
        w.to_str().unwrap(),
        "--device",
        "zram:8MiB,read_iops=2000",
        "--duration",
        "1s",
        "--warmup",
        "200ms",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = load(&out);
    let c = r
        .environment
        .device_control
        .as_ref()
        .expect("the environment records the device control");
    assert_eq!(c.cap.len(), 1);
    assert_eq!(c.cap[0].cap.read_iops, Some(2000));
    let dev = format!("{}:{}", c.cap[0].major, c.cap[0].minor);
    assert!(
        c.cap_rules
            .iter()
            .any(|l| l.contains("read_iops_device") && l.contains(&format!("{dev} 2000"))),
        "{:?}",
        c.cap_rules
    );
    let b = &r.backends[0];
    assert_eq!(b.status, Status::Ok, "{:?}", b.reason);
    let ios = b.counters.device_read_ios.expect("device_read_ios is read");
    let secs = b.elapsed_ns as f64 / 1e9;
    let rate = ios as f64 / secs;
    // The throttle lets a slice's budget through at once: allow a little over the cap,
    // far below the uncapped rate (hundreds of thousands per second).
    assert!(rate < 2000.0 * 1.25, "{rate:.0} reads/s over a 2000/s cap");
    assert!(
        rate > 2000.0 * 0.5,
        "{rate:.0} reads/s: the cap was not reached"
    );
    let by_disk = b.counters.device_read_ios_by_disk.as_ref().unwrap();
    assert_eq!(by_disk.values().sum::<u64>(), ios);
    assert!(our_blkio_cgroups().is_empty(), "{:?}", our_blkio_cgroups());
}

#[test]
fn a_run_striped_over_two_devices_verifies_every_read() {
    if !devices_here("striped") {
        return;
    }
    let _s = serial();
    let dir = scratch("dev-stripe");
    let out = dir.join("r");
    let w = tiny_workload(
        &dir,
        "backends = [\"pread\", \"direct\", \"mmap:advice=random\", \"uring:qd=4,direct\", \"bufferpool\", \"fio:engine=psync,direct\", \"hugepage\"]",
    );
    let o = run(&[
        "run",
        w.to_str().unwrap(),
        "--device",
        "zram,count=2,stripe=64KiB",
        "--size",
        "8MiB",
        "--ops",
        "4000",
        "--warmup",
        "0s",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r: RunRecord = load(&out);
    let stripe = r
        .data_file
        .stripe
        .as_ref()
        .expect("the data file is striped");
    assert_eq!(stripe.devices.len(), 2);
    assert_eq!(stripe.unit, 64 << 10);
    for b in &r.backends {
        if b.name == "hugepage" {
            assert_eq!(b.status, Status::Skipped);
            assert!(b.reason.as_deref().unwrap_or("").contains("striped"));
            continue;
        }
        if b.status == Status::Skipped {
            skip(
                &capability_of(&b.name),
                &format!("{}: {:?}", b.name, b.reason),
            );
            continue;
        }
        assert_eq!(b.status, Status::Ok, "{}: {:?}", b.name, b.reason);
        assert_eq!(b.verify_errors, Some(0), "{}", b.name);
        let by_disk = b.counters.device_read_ios_by_disk.as_ref().unwrap();
        assert_eq!(by_disk.len(), 2, "{}: {by_disk:?}", b.name);
        if b.name.contains("direct") || b.name == "bufferpool" {
            // Bypassing the page cache, every read reaches one of the two devices, and
            // random reads reach both.
            assert!(by_disk.values().all(|&n| n > 0), "{}: {by_disk:?}", b.name);
        }
    }
    for d in &stripe.devices {
        assert!(!d.exists(), "{} is left behind", d.display());
    }
}

/// Start a long `direct` run with `extra` flags in the background; wait until it
/// measures.
fn start_long(dir: &Path, name: &str, extra: &[&str]) -> (Child, PathBuf) {
    let out = dir.join(name);
    let ready = dir.join(format!("{name}.ready"));
    let w = tiny_workload(dir, "backends = [\"direct\"]");
    let mut child = bin()
        .env("FAULTLINE_READY_FILE", &ready)
        .args([
            "run",
            w.to_str().unwrap(),
            "--duration",
            "20s",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_measuring(&mut child, &ready, "direct");
    (child, out)
}

fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

/// The zram devices a running faultline recorded (devstate).
fn recorded_zram(pid: u32) -> Vec<String> {
    let p = Path::new(faultline::env::devstate::RECORDS).join(pid.to_string());
    std::fs::read_to_string(&p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("zram "))
        .map(|id| format!("zram{id}"))
        .collect()
}

fn exists(disk: &str) -> bool {
    Path::new("/sys/block").join(disk).exists()
}

/// A zram device of the test's own, read with --file (its read-ahead is then the
/// "data file's disk" read-ahead that a run must restore).
fn own_device() -> faultline::env::zram::Zram {
    faultline::env::zram::Zram::create(16 << 20).expect("hot-add a zram device for the test")
}

#[test]
fn nothing_is_left_after_a_normal_end_and_ctrl_c() {
    if !devices_here("leftovers") {
        return;
    }
    let _s = serial();
    let dir = scratch("dev-left");
    // A normal end: the cap and read-ahead of the data's own device are undone.
    let own = own_device();
    let name = own.name();
    let before = read_ahead(&name);
    let want = if before == 64 { 32 } else { 64 };
    let out = dir.join("normal");
    let w = tiny_workload(&dir, "backends = [\"direct\"]");
    let o = run(&[
        "run",
        w.to_str().unwrap(),
        "--file",
        own.dev.to_str().unwrap(),
        "--device-cap",
        "read_iops=5000",
        "--read-ahead-kb",
        &want.to_string(),
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = load(&out);
    let c = r.environment.device_control.as_ref().unwrap();
    assert_eq!(c.read_ahead_kb, Some(want));
    assert_eq!(c.read_ahead_kb_before.get(&name), Some(&before));
    let disk = r.environment.disks.iter().find(|d| d.name == name).unwrap();
    assert_eq!(
        disk.read_ahead_kb,
        Some(want),
        "the environment shows the value in effect"
    );
    assert_eq!(c.cap[0].cap.read_iops, Some(5000));
    assert_eq!(read_ahead(&name), before, "read_ahead_kb restored");
    assert!(our_blkio_cgroups().is_empty(), "{:?}", our_blkio_cgroups());

    // Ctrl-C during a run on two capped zram devices with read-ahead set.
    let (child, out) = start_long(
        &dir,
        "int",
        &[
            "--device",
            "zram,count=2,stripe=1MiB,read_iops=5000",
            "--read-ahead-kb",
            "64",
        ],
    );
    let pid = child.id();
    let devs = recorded_zram(pid);
    assert_eq!(devs.len(), 2, "{devs:?}");
    assert!(devs.iter().all(|d| read_ahead(d) == 64));
    assert!(blkio_cgroup_of(pid).exists());
    signal(pid, "-INT");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert!(!load(&out).complete);
    assert!(!blkio_cgroup_of(pid).exists());
    for d in &devs {
        assert!(!exists(d), "{d} is left behind");
    }
    drop(own);
}

#[test]
fn kill_9_leaves_changes_that_the_next_run_undoes() {
    if !devices_here("kill-9") {
        return;
    }
    let _s = serial();
    let dir = scratch("dev-kill");
    let own = own_device();
    let name = own.name();
    let before = read_ahead(&name);
    let want = if before == 64 { 32 } else { 64 };
    // Two killed runs: one on the test's own device (cap + read-ahead of the data's
    // disk), one on two zram devices of its own (cap + read-ahead).
    let (mut a, _) = start_long(
        &dir,
        "a",
        &[
            "--file",
            own.dev.to_str().unwrap(),
            "--device-cap",
            "read_iops=5000",
            "--read-ahead-kb",
            &want.to_string(),
        ],
    );
    let (mut b, _) = start_long(
        &dir,
        "b",
        &[
            "--device",
            "zram,count=2,stripe=1MiB,read_iops=5000",
            "--read-ahead-kb",
            "64",
        ],
    );
    let (pa, pb) = (a.id(), b.id());
    let devs = recorded_zram(pb);
    signal(pa, "-KILL");
    signal(pb, "-KILL");
    let _ = a.wait();
    let _ = b.wait();
    assert_eq!(read_ahead(&name), want, "SIGKILL leaves read-ahead changed");
    assert!(blkio_cgroup_of(pa).exists() && blkio_cgroup_of(pb).exists());
    assert!(devs.iter().all(|d| exists(d)), "{devs:?}");
    // The next run (any) undoes it first.
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
    assert!(err.contains("restored read_ahead_kb"), "{err}");
    assert!(err.contains("removed the stale blkio cgroup"), "{err}");
    assert_eq!(read_ahead(&name), before);
    assert!(!blkio_cgroup_of(pa).exists() && !blkio_cgroup_of(pb).exists());
    let t0 = Instant::now();
    for d in &devs {
        while exists(d) && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!exists(d), "{d} is left behind");
    }
    drop(own);
}
