//! Write workloads through the binary on small files: every shipped write workload on
//! every backend that writes (pread, direct, mmap, uring with qd > 1, fixed buffers
//! and O_DIRECT, bufferpool with a pool smaller than the file so dirty frames are
//! evicted: verify_errors 0, every written page read back), disk full during a write
//! cell, the
//! backends that do not write skipped with a reason, the mix's read share, fio's write
//! translation, and the safety rules (--file needs --allow-write; the data file is
//! restored after a write cell and recreated when a write run left it changed).
//!
//! Each test has its own data directory: a write cell changes the data file while it
//! runs, which must not disturb other tests' reads of the shared one.

mod common;
use common::*;
use faultline::record::{BackendResult, RunRecord, Status};
use std::path::Path;

/// Run `workload` (a path) with extra arguments into `dir/name`; output and record.
fn run_in(
    dir: &Path,
    name: &str,
    workload: &str,
    extra: &[&str],
) -> (std::process::Output, RunRecord) {
    let out = dir.join(name);
    let data = dir.join("data");
    let mut args = vec![
        "run",
        workload,
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--warmup",
        "20ms",
        "--interval",
        "50ms",
        "--size",
        "4MiB",
    ];
    if !extra.contains(&"--threads") {
        args.extend_from_slice(&["--threads", "2"]);
    }
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(o.status.success(), "{}", text(&o));
    let r = load(&out);
    (o, r)
}

fn shipped(name: &str) -> String {
    repo_root()
        .join("workloads")
        .join(format!("{name}.toml"))
        .to_str()
        .unwrap()
        .to_string()
}

/// A writing backend's result: ran, every written page read back correct.
fn check_written(b: &BackendResult) {
    assert_eq!(b.status, Status::Ok, "{}: {:?}", b.name, b.reason);
    assert!(check_backend(b), "{} ran", b.name);
    let w = b.writes.as_ref().expect("a write cell has a write result");
    let written = w.written_pages.expect("written_pages");
    assert!(written > 0, "{}: wrote nothing", b.name);
    assert_eq!(w.verify_errors, Some(0), "{}: {:?}", b.name, w.reasons);
    assert_eq!(
        w.verified_pages,
        Some(written),
        "{}: every written page checked",
        b.name
    );
    assert_eq!(b.verify_errors, Some(0), "{}", b.name);
    let k = |n: &str| w.ops_by_kind.get(n).map(|k| k.ops).unwrap_or(0);
    assert_eq!(
        k("read") + k("write"),
        b.ops,
        "{}: reads + writes == ops",
        b.name
    );
    assert!(k("write") > 0, "{}", b.name);
}

#[test]
fn shipped_write_workloads_verify_on_every_writing_backend() {
    let dir = scratch("writes");
    for (wl, ops) in [
        ("random-write", "3000"),
        ("checkpoint", "3000"),
        ("wal-append", "600"),
        ("mixed-70-30", "8000"),
    ] {
        let path = shipped(wl);
        let (_, r) = run_in(
            &dir,
            wl,
            &path,
            &[
                "--ops",
                ops,
                "-b",
                "pread",
                "-b",
                "direct",
                "-b",
                "mmap",
                "-b",
                "uring",
                "-b",
                "uring:qd=8,direct,fixed",
                "-b",
                "bufferpool",
                "-b",
                "bufferpool:pool=1MiB",
            ],
        );
        assert!(r.complete);
        assert_eq!(r.backends.len(), 7);
        for b in &r.backends {
            if b.status == Status::Skipped
                && ["direct", "uring", "bufferpool"].contains(&b.kind.as_str())
            {
                skip(&b.kind, b.reason.as_deref().unwrap_or(""));
                continue;
            }
            check_written(b);
            let w = b.writes.as_ref().unwrap();
            if wl == "mixed-70-30" {
                let share = w.read_share_pct.unwrap();
                assert!(
                    (share - 70.0).abs() <= 2.0,
                    "{}: read share {share}",
                    b.name
                );
            }
            if wl == "wal-append" {
                // A sync after every write.
                assert_eq!(
                    w.ops_by_kind["sync"].ops, w.ops_by_kind["write"].ops,
                    "{}",
                    b.name
                );
            }
            if wl == "checkpoint" || wl == "random-write" {
                // One sync per thread, at the end.
                assert_eq!(w.ops_by_kind["sync"].ops, 2, "{}", b.name);
            }
            assert!(
                !w.dirty.is_empty() || w.reasons.contains_key("dirty"),
                "{}",
                b.name
            );
        }
    }
    // The shipped lists: the backends that do not write are skipped with their reason.
    let (_, r) = run_in(&dir, "all", &shipped("wal-append"), &["--ops", "200"]);
    for b in &r.backends {
        match b.kind.as_str() {
            "hugepage" => {
                assert_eq!(b.status, Status::Skipped, "{}", b.name);
                assert!(b.reason.as_deref().unwrap_or("").len() > 20, "{}", b.name);
            }
            "fio" => {
                check_backend(b);
            }
            _ => check_written(b),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mmap_syncs_with_msync_and_file_backends_refuse_it() {
    let dir = scratch("writes-msync");
    for m in ["msync", "msync-async"] {
        let (_, r) = run_in(
            &dir,
            m,
            &shipped("wal-append"),
            &[
                "--ops",
                "300",
                "-b",
                "mmap",
                "-b",
                "pread",
                "--sync-method",
                m,
            ],
        );
        check_written(&r.backends[0]);
        let p = &r.backends[1];
        assert_eq!(p.status, Status::Skipped);
        assert!(
            p.reason.as_deref().unwrap().contains("no mapping"),
            "{:?}",
            p.reason
        );
    }
    let (_, r) = run_in(
        &dir,
        "sfr",
        &shipped("random-write"),
        &[
            "--ops",
            "500",
            "-b",
            "pread",
            "--sync",
            "interval:1ms",
            "--sync-method",
            "sync_file_range",
        ],
    );
    check_written(&r.backends[0]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn data_file_is_restored_after_writes_and_recreated_when_left_marked() {
    let dir = scratch("writes-restore");
    run_in(
        &dir,
        "w",
        &shipped("random-write"),
        &["--ops", "500", "-b", "pread"],
    );
    // A read run on the same data file verifies every read against the generated content.
    let (_, r) = run_in(
        &dir,
        "r",
        &shipped("random-read"),
        &["--ops", "2000", "-b", "pread"],
    );
    assert_eq!(r.backends[0].verify_errors, Some(0));
    // A run that stopped between a write cell and its restore leaves the marker.
    let data = dir.join("data");
    let file = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "dat"))
        .unwrap();
    let mut marker = file.as_os_str().to_owned();
    marker.push(".writing");
    std::fs::write(&marker, "").unwrap();
    let (_, r) = run_in(
        &dir,
        "r2",
        &shipped("random-read"),
        &["--ops", "500", "-b", "pread"],
    );
    assert!(r.data_file.created, "a marked data file is created again");
    assert_eq!(r.backends[0].verify_errors, Some(0));
    assert!(!Path::new(&marker).exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn file_needs_allow_write_and_is_left_unchanged_without_it() {
    let dir = scratch("writes-file");
    let f = dir.join("mine.bin");
    let content: Vec<u8> = (0..1024 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&f, &content).unwrap();
    let out = dir.join("out");
    let o = run(&[
        "run",
        &shipped("random-write"),
        "--file",
        f.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--ops",
        "100",
        "-b",
        "pread",
    ]);
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--allow-write"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(std::fs::read(&f).unwrap(), content, "the file is unchanged");
    assert!(!out.exists());
    // A read workload on the same file never writes it.
    let o = run(&[
        "run",
        &shipped("random-read"),
        "--file",
        f.to_str().unwrap(),
        "--out",
        dir.join("read").to_str().unwrap(),
        "--ops",
        "100",
        "--warmup",
        "0s",
        "-b",
        "pread",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read(&f).unwrap(),
        content,
        "a read run leaves it unchanged"
    );
    // With --allow-write it is overwritten, and what was written is read back.
    let out2 = dir.join("out2");
    let o = run(&[
        "run",
        &shipped("random-write"),
        "--file",
        f.to_str().unwrap(),
        "--allow-write",
        "--out",
        out2.to_str().unwrap(),
        "--ops",
        "100",
        "--warmup",
        "0s",
        "-b",
        "pread",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let r = load(&out2);
    let w = r.backends[0].writes.as_ref().unwrap();
    assert_eq!(w.verify_errors, Some(0));
    assert_eq!(w.verified_pages, w.written_pages);
    assert_ne!(std::fs::read(&f).unwrap(), content);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_write_settings_are_refused_with_advice() {
    let dir = scratch("writes-bad");
    for (args, want) in [
        (vec!["--op", "write", "--pattern", "sequential"], "append"),
        (vec!["--pattern", "append"], "op = \"write\""),
        (vec!["--sync", "every:1"], "write workload"),
        (vec!["--op", "write", "--block", "1000"], "multiple of 4KiB"),
        (vec!["--op", "mix", "--read-pct", "100"], "--read-pct"),
        (vec!["--op", "overwrite"], "allowed"),
        (vec!["--op", "write", "--sync", "often"], "sync policy"),
        (vec!["--op", "write", "--sync-method", "flush"], "fdatasync"),
    ] {
        let mut a = vec![
            "run",
            "--size",
            "1MiB",
            "--ops",
            "10",
            "--out",
            dir.join("never").to_str().unwrap(),
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        a.extend(args.iter().map(|s| s.to_string()));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let o = run(&a);
        assert!(!o.status.success(), "{}", text(&o));
        let t = text(&o);
        assert!(t.contains(want), "{args:?}: {t}");
        assert!(!t.contains("panicked"), "{t}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fio_writes_are_translated_and_the_data_file_is_written_anew() {
    if std::process::Command::new("fio")
        .arg("--version")
        .output()
        .is_err()
    {
        skip("fio", "fio is not installed (apt-get install fio)");
        return;
    }
    let dir = scratch("writes-fio");
    let (_, r) = run_in(
        &dir,
        "f",
        &shipped("wal-append"),
        &["--ops", "400", "-b", "fio:engine=psync", "--threads", "1"],
    );
    let b = &r.backends[0];
    assert!(check_backend(b));
    let w = b.writes.as_ref().unwrap();
    assert!(w.verified_pages.is_none() && w.reasons.contains_key("verified_pages"));
    assert!(b.verify_errors.is_none());
    // The generated file was written anew: a read run verifies.
    let (_, r) = run_in(
        &dir,
        "r",
        &shipped("random-read"),
        &["--ops", "2000", "-b", "pread"],
    );
    assert_eq!(r.backends[0].verify_errors, Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn interrupted_write_cell_is_incomplete_and_its_data_file_recreated() {
    let dir = scratch("writes-int");
    let data = dir.join("data");
    let out = dir.join("out");
    let ready = dir.join("ready");
    let mut child = bin()
        .env("FAULTLINE_READY_FILE", &ready)
        .args([
            "run",
            &shipped("random-write"),
            "--size",
            "4MiB",
            "-b",
            "pread",
            "--duration",
            "20s",
            "--warmup",
            "0s",
            "--quiet",
            "--data-dir",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_measuring(&mut child, &ready, "pread");
    let st = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let r = load(&out);
    assert!(!r.complete);
    let w = r.backends[0].writes.as_ref().unwrap();
    assert!(w.verified_pages.is_none() && w.reasons.contains_key("verified_pages"));
    let marked = std::fs::read_dir(&data).unwrap().any(|e| {
        e.unwrap()
            .path()
            .to_string_lossy()
            .ends_with(".dat.writing")
    });
    assert!(marked, "the changed data file is marked");
    // The next run creates it again and its reads verify.
    let (_, r) = run_in(
        &dir,
        "r",
        &shipped("random-read"),
        &["--ops", "500", "-b", "pread"],
    );
    assert!(r.data_file.created);
    assert_eq!(r.backends[0].verify_errors, Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A write cell that finds the device full: the backend fails with a message that
/// says so, the result (status failed) is saved, and the data file stays marked and is
/// created again by the next run. The device: a size-limited tmpfs holding the data
/// file with holes punched between the pages a reuse check samples (so the file is
/// still reused) and the rest of the space filled, so a write into a hole finds no
/// space, as on a full copy-on-write or thin-provisioned file system.
#[test]
fn disk_full_during_a_write_cell_fails_saves_and_marks_the_data_file() {
    use std::process::Command;
    if faultline::sys::uid() != 0 {
        skip("root", "disk full: mounting a small tmpfs needs root");
        return;
    }
    let dir = scratch("writes-full");
    let mnt = dir.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=8m",
            "tmpfs",
            mnt.to_str().unwrap(),
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !mounted {
        skip("tmpfs", "disk full: cannot mount a tmpfs here");
        return;
    }
    // Unmounted on every exit of the test, also when an assertion fails.
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let args = |out: &Path, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "run",
            &shipped("random-write"),
            "--data-dir",
            mnt.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            "--warmup",
            "0s",
            "--size",
            "4MiB",
            "--threads",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run_v = |v: Vec<String>| {
        let a: Vec<&str> = v.iter().map(String::as_str).collect();
        run(&a)
    };
    // Create the data file (and check writes work here at all).
    let o = run_v(args(&dir.join("first"), &["--ops", "100", "-b", "pread"]));
    assert!(o.status.success(), "{}", text(&o));
    let file = std::fs::read_dir(&mnt)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "dat"))
        .expect("the data file");
    // Punch holes over the pages the reuse check does not sample (64 pages of 1024).
    let sampled: Vec<u64> = (0..64u64).map(|i| i * 1023 / 63).collect();
    for w in sampled.windows(2) {
        let (from, to) = (w[0] + 1, w[1]);
        if to > from {
            let st = Command::new("fallocate")
                .args([
                    "-p",
                    "-o",
                    &(from * 4096).to_string(),
                    "-l",
                    &((to - from) * 4096).to_string(),
                    file.to_str().unwrap(),
                ])
                .status()
                .unwrap();
            assert!(st.success(), "fallocate -p");
        }
    }
    // Fill the rest of the tmpfs.
    {
        use std::io::Write;
        let mut f = std::fs::File::create(mnt.join("filler")).unwrap();
        let chunk = vec![1u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
    }
    let out = dir.join("full");
    let o = run_v(args(&out, &["--ops", "3000", "-b", "pread", "-b", "uring"]));
    assert!(!o.status.success(), "a failed backend fails the run");
    let r = load(&out);
    assert_eq!(r.backends.len(), 2, "the result is saved");
    for b in &r.backends {
        if b.kind == "uring" && b.status == Status::Skipped {
            skip("uring", b.reason.as_deref().unwrap_or(""));
            continue;
        }
        assert_eq!(b.status, Status::Failed, "{}", b.name);
        let why = b.reason.as_deref().unwrap_or("");
        assert!(
            why.contains("ENOSPC") && why.contains("free space"),
            "{}: {why}",
            b.name
        );
        assert!(
            b.notes.iter().any(|n| n.contains("stays marked")),
            "{}: {:?}",
            b.name,
            b.notes
        );
    }
    assert!(
        faultline::datafile::written::marker(&file).exists(),
        "the data file stays marked"
    );
    // With space again, the next run creates the file anew and its reads verify.
    std::fs::remove_file(mnt.join("filler")).unwrap();
    let after = dir.join("after");
    let mut v = args(&after, &["--ops", "2000", "-b", "pread"]);
    v[1] = shipped("random-read");
    let o = run_v(v);
    assert!(o.status.success(), "{}", text(&o));
    let r = load(&after);
    assert!(r.data_file.created, "a marked data file is created again");
    assert_eq!(r.backends[0].verify_errors, Some(0));
    drop(_guard);
    let _ = std::fs::remove_dir_all(&dir);
}

/// vmcache on every shipped write workload, with a budget of 1 MiB over the 4 MiB
/// file so dirty pages are written back by evictions: every written page read back.
#[test]
fn shipped_write_workloads_verify_on_vmcache() {
    let dir = scratch("writes-vmcache");
    for (wl, ops) in [
        ("random-write", "3000"),
        ("checkpoint", "3000"),
        ("wal-append", "600"),
        ("mixed-70-30", "8000"),
    ] {
        let path = shipped(wl);
        let (_, r) = run_in(
            &dir,
            wl,
            &path,
            &[
                "--ops",
                ops,
                "-b",
                "vmcache",
                "-b",
                "vmcache:pool=1MiB,batch=16",
            ],
        );
        assert!(r.complete);
        assert_eq!(r.backends.len(), 2);
        for b in &r.backends {
            if b.status == Status::Skipped {
                skip("vmcache", b.reason.as_deref().unwrap_or(""));
                continue;
            }
            check_written(b);
            if b.name.contains("pool=1MiB") && wl != "wal-append" {
                assert!(
                    b.notes.iter().any(|n| n.contains("evictions in")),
                    "{}: {:?}",
                    b.name,
                    b.notes
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
