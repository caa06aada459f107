//! The binary's behaviour on bad input and its result-directory guarantees.

mod common;
use common::*;

fn fails_with(args: &[&str], needle: &str) -> String {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "expected failure: {}", text(&o));
    assert!(err.contains(needle), "expected `{needle}` in: {}", text(&o));
    assert!(!err.contains("panicked"), "{}", text(&o));
    err
}

#[test]
fn unknown_key_is_a_one_line_error_naming_the_key() {
    let dir = scratch("badkey");
    let p = dir.join("bad.toml");
    std::fs::write(&p, "size = \"4MiB\"\nthreadz = 2\n").unwrap();
    let err = fails_with(&["run", p.to_str().unwrap()], "unknown key `threadz`");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains("bad.toml:2:1"),
        "{err}"
    );
}

#[test]
fn bad_values_and_missing_files() {
    let dir = scratch("badval");
    let p = dir.join("w.toml");
    std::fs::write(&p, "size = \"4MB\"\n").unwrap();
    fails_with(&["run", p.to_str().unwrap()], "write 4MiB");
    fails_with(&["run", "/nonexistent/w.toml"], "cannot read workload file");
    fails_with(&["run", "--block", "4KB"], "4KiB");
    fails_with(&["run", "--threads", "0"], "out of range");
    fails_with(&["run", "--duration", "10"], "no unit");
    fails_with(
        &["run", "--backend", "mmap:advice=sometimes"],
        "normal, random",
    );
    fails_with(&["run", "--backend", "nvme"], "unknown backend `nvme`");
    fails_with(&["run", "--pattern", "gauss"], "unknown pattern");
    std::fs::write(&p, "size = \"4MiB\"\n").unwrap();
    fails_with(
        &["run", p.to_str().unwrap(), "--block", "8MiB"],
        "larger than `size`",
    );
    fails_with(
        &["run", p.to_str().unwrap(), "--file", dir.to_str().unwrap()],
        "is a directory",
    );
    fails_with(
        &["run", p.to_str().unwrap(), "--file", "/nonexistent/data"],
        "cannot access",
    );
}

#[test]
fn existing_result_directory_is_never_overwritten() {
    let dir = scratch("noover");
    let out = dir.join("r");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    fails_with(
        &[
            "run",
            tiny_workload(&dir, "").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        "never overwrites",
    );
    assert_eq!(
        std::fs::read_to_string(out.join("keep.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn list_shows_backends_options_and_workloads() {
    let o = bin().arg("list").current_dir(repo_root()).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "pread",
        "direct",
        "mmap",
        "advice=normal|random|sequential|willneed|hugepage|nohugepage",
        "populate",
        "lock",
        "quick.toml",
        "random-read.toml",
        "seq-scan.toml",
        "zipf",
    ] {
        assert!(s.contains(needle), "missing {needle} in:\n{s}");
    }
}

#[test]
fn help_documents_run_flags() {
    let o = run(&["run", "--help"]);
    let s = String::from_utf8_lossy(&o.stdout);
    for flag in [
        "--backend",
        "--threads",
        "--duration",
        "--warmup",
        "--size",
        "--block",
        "--file",
        "--out",
    ] {
        assert!(s.contains(flag), "{flag}");
    }
}

#[test]
fn no_arguments_runs_the_default_workload() {
    // From a directory without workloads/: the built-in copy of quick.toml runs.
    let dir = scratch("noargs");
    let o = bin()
        .current_dir(&dir)
        .env("FAULTLINE_TEST_SHORT", "1")
        .args([
            "run",
            "--duration",
            "100ms",
            "--warmup",
            "10ms",
            "--size",
            "4MiB",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("result: results/quick/"), "{s}");
    let results = dir.join("results/quick");
    let run_dir = std::fs::read_dir(&results)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let r = load(&run_dir);
    assert_eq!(r.workload["source"], "built-in quick.toml");
    let _ = std::fs::remove_dir_all(&dir);
}
