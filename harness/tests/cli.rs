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

/// `run --sweep`: one result per value in one directory, each recording its value,
/// the sweep table, the sweep charts; `plot` draws them again from the directory; bad
/// keys and values are refused before anything runs.
#[test]
fn sweep_runs_once_per_value_and_plots_against_it() {
    let dir = scratch("sweep");
    let w = tiny_workload(&dir, "backends = [\"mock\", \"pread\"]");
    let out = dir.join("sw");
    let data = data_dir();
    let o = run(&[
        "run",
        w.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--quiet",
        "--sweep",
        "size=1MiB,2MiB",
        "--plot",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("sweep: size = 2MiB (2 of 2)"), "{}", text(&o));
    for (i, v, n) in [(0, "1MiB", 1u64 << 20), (1, "2MiB", 2 << 20)] {
        let r = load(&out.join(format!("{:02}-size={v}", i + 1)));
        let p = r.sweep.expect("sweep recorded");
        assert_eq!((p.key.as_str(), p.value.as_str()), ("size", v));
        assert_eq!((p.number, p.index, p.count), (n as f64, i, 2));
        assert_eq!(r.data_file.size, n);
    }
    let table = std::fs::read_to_string(out.join("sweep.md")).unwrap();
    assert!(
        table.contains("| backend | size=1MiB | size=2MiB |"),
        "{table}"
    );
    for c in ["sweep-ops.svg", "sweep-p99.png"] {
        assert!(out.join(c).is_file(), "{c}: {}", text(&o));
    }
    let charts = dir.join("charts");
    let o = run(&[
        "plot",
        out.to_str().unwrap(),
        "--out",
        charts.to_str().unwrap(),
        "--format",
        "svg",
        "--x-scale",
        "log",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let svg = std::fs::read_to_string(charts.join("sweep-ops.svg")).unwrap();
    assert!(svg.contains("log scale"), "x axis on a log scale");
    fails_with(&["run", "--sweep", "pattern=1,2"], "sweepable keys: size");
    fails_with(
        &["run", "--sweep", "size=1MiB,bananas"],
        "--sweep size=bananas",
    );
    fails_with(&["run", "--sweep", "threads=1,0"], "--sweep threads=0");
    fails_with(
        &["plot", "--x-scale", "sideways", "x"],
        "auto, linear or log",
    );
}
