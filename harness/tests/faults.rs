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
