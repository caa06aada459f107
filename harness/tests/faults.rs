//! Faults during a run: a file truncated under a mapping raises SIGBUS; the harness
//! reports it as that backend's failure and goes on with the next backend. The tests
//! act while a backend is being measured: they wait for the runner's readiness signal
//! (`FAULTLINE_READY_FILE`, see `runner::ready`), not for a guessed time.

mod common;
use common::*;
use faultline::record::Status;

#[test]
fn truncation_during_a_run_is_reported_not_fatal() {
    let dir = scratch("trunc");
    let f = dir.join("victim.bin");
    std::fs::write(&f, vec![3u8; 8 << 20]).unwrap();
    let out = dir.join("r");
    let ready = dir.join("ready");
    let wl = tiny_workload(&dir, "");
    // 10 s planned: the truncation ends both backends long before.
    let mut child = bin()
        .env("FAULTLINE_READY_FILE", &ready)
        .args([
            "run",
            wl.to_str().unwrap(),
            "--file",
            f.to_str().unwrap(),
            "--backend",
            "mmap:advice=random",
            "--backend",
            "pread",
            "--duration",
            "10s",
            "--warmup",
            "0s",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_measuring(&mut child, &ready, "mmap:advice=random");
    // Another process (this test) truncates the file while it is mapped and measured.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&f)
        .unwrap()
        .set_len(4096)
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(err.contains("failed"), "{err}");
    let r = load(&out);
    assert!(r.complete);
    let b = &r.backends;
    assert_eq!(b.len(), 2, "both backends ran");
    let reason = |i: usize| b[i].reason.as_deref().unwrap_or("");
    assert_eq!(b[0].status, Status::Failed);
    assert!(reason(0).contains("SIGBUS"), "{}", reason(0));
    assert!(b[0].ops > 0, "what was measured before the fault is kept");
    assert_eq!(b[1].status, Status::Failed);
    assert!(reason(1).contains("short read"), "{}", reason(1));
}

fn count_entries(dir: &str, prefix: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                .count()
        })
        .unwrap_or(0)
}

fn cgroup_children() -> usize {
    match faultline::env::cgroup::locate() {
        Ok((_, d)) => count_entries(d.to_str().unwrap(), "faultline-"),
        Err(_) => 0,
    }
}

#[test]
fn ctrl_c_writes_a_partial_result_and_undoes_everything() {
    let root = faultline::sys::uid() == 0;
    let zram = root && std::path::Path::new("/sys/class/zram-control/hot_add").exists();
    // Without root the run is checked without a memory cgroup and a zram device.
    if !root {
        skip("cgroup", "ctrl_c: the memory cgroup needs root");
    }
    if !zram {
        skip(
            "zram",
            "ctrl_c: the zram device needs root and /sys/class/zram-control",
        );
    }
    let cg_before = cgroup_children();
    let zram_before = count_entries("/sys/block", "zram");
    let dir = scratch("sigint");
    let out = dir.join("r");
    let ready = dir.join("ready");
    let wl = tiny_workload(
        &dir,
        "backends = [\"mmap:advice=random\", \"pread\", \"direct\"]",
    );
    let mut args: Vec<String> = [
        "run",
        wl.to_str().unwrap(),
        "--duration",
        "10s",
        "--warmup",
        "0s",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if root {
        args.extend(["--page-cache-limit".into(), "32MiB".into()]);
    }
    if zram {
        args.extend(["--device".into(), "zram:8MiB".into()]);
    } else {
        args.extend(["--data-dir".into(), data_dir().to_str().unwrap().into()]);
    }
    let mut child = bin()
        .env("FAULTLINE_READY_FILE", &ready)
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first backend is being measured (10 s planned): interrupt it.
    wait_measuring(&mut child, &ready, "mmap:advice=random");
    // kill(1) sends SIGINT as Ctrl-C would.
    let st = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let r = load(&out);
    assert!(!r.complete, "the partial result is marked incomplete");
    let b = &r.backends;
    assert_eq!(b.len(), 1, "the remaining backends did not start");
    assert_eq!(b[0].status, Status::Failed);
    assert!(b[0].reason.as_deref().unwrap().contains("interrupted"));
    assert!(b[0].ops > 0, "what was measured is kept");
    assert_eq!(cgroup_children(), cg_before, "the memory cgroup is removed");
    assert_eq!(
        count_entries("/sys/block", "zram"),
        zram_before,
        "the zram device is removed"
    );
}
