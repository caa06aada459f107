//! Faults during a run: a file truncated under a mapping raises SIGBUS; the harness
//! reports it as that backend's failure and goes on with the next backend.

mod common;
use common::*;
use std::time::Duration;

#[test]
fn truncation_during_a_run_is_reported_not_fatal() {
    let dir = scratch("trunc");
    let f = dir.join("victim.bin");
    std::fs::write(&f, vec![3u8; 8 << 20]).unwrap();
    let out = dir.join("r");
    let wl = tiny_workload(&dir, "");
    let child = bin()
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
            "1500ms",
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
    std::thread::sleep(Duration::from_millis(600));
    // Another process (this test) truncates the file while it is mapped.
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
    assert_eq!(r["complete"], true);
    let b = r["backends"].as_array().unwrap();
    assert_eq!(b.len(), 2, "both backends ran");
    assert_eq!(b[0]["status"], "failed");
    assert!(
        b[0]["reason"].as_str().unwrap().contains("SIGBUS"),
        "{}",
        b[0]["reason"]
    );
    assert!(
        b[0]["ops"].as_u64().unwrap() > 0,
        "what was measured before the fault is kept"
    );
    assert_eq!(b[1]["status"], "failed");
    assert!(
        b[1]["reason"].as_str().unwrap().contains("short read"),
        "{}",
        b[1]["reason"]
    );
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
    let cg_before = cgroup_children();
    let zram_before = count_entries("/sys/block", "zram");
    let dir = scratch("sigint");
    let out = dir.join("r");
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
    let child = bin()
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // kill(1) sends SIGINT as Ctrl-C would.
    let st = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let r = load(&out);
    assert_eq!(
        r["complete"], false,
        "the partial result is marked incomplete"
    );
    let b = r["backends"].as_array().unwrap();
    assert_eq!(b.len(), 1, "the remaining backends did not start");
    assert_eq!(b[0]["status"], "failed");
    assert!(b[0]["reason"].as_str().unwrap().contains("interrupted"));
    assert!(
        b[0]["ops"].as_u64().unwrap() > 0,
        "what was measured is kept"
    );
    assert_eq!(cgroup_children(), cg_before, "the memory cgroup is removed");
    assert_eq!(
        count_entries("/sys/block", "zram"),
        zram_before,
        "the zram device is removed"
    );
}
