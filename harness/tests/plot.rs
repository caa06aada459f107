//! Charts through the binary: `run --plot` on a tiny workload, then `plot` over two
//! result directories, and the refusals (several directories without --out, existing
//! chart files).

mod common;
use common::*;
use std::path::Path;

const CHARTS: [&str; 8] = [
    "throughput",
    "faults-shootdowns",
    "amplification",
    "latency-percentiles",
    "latency-cdf",
    "ops-bars",
    "latency-over-time",
    "latency-heatmap",
];

fn tiny_run(dir: &Path, name: &str, plot: bool) -> (std::path::PathBuf, String) {
    let wl = tiny_workload(dir, "");
    let out = dir.join(name);
    let data = data_dir();
    let mut args = vec![
        "run",
        wl.to_str().unwrap(),
        "--backend",
        "pread",
        "--backend",
        "mmap:advice=random",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    if plot {
        args.push("--plot");
    }
    let o = run(&args);
    assert!(o.status.success(), "{}", text(&o));
    (out, String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Every chart is either written in both formats (and listed) or skipped with a reason.
fn check_charts(dir: &Path, stdout: &str) {
    for stem in CHARTS {
        let skipped = stdout
            .lines()
            .find(|l| l.starts_with(&format!("skipped {stem}: ")));
        match skipped {
            Some(line) => {
                eprintln!("{line}");
                assert!(line.len() > format!("skipped {stem}: ").len() + 5, "{line}");
                assert!(!dir.join(format!("{stem}.svg")).exists());
            }
            None => {
                for ext in ["svg", "png"] {
                    let p = dir.join(format!("{stem}.{ext}"));
                    let len = std::fs::metadata(&p)
                        .unwrap_or_else(|_| panic!("{} missing:\n{stdout}", p.display()))
                        .len();
                    assert!(len > 1000, "{} is {len} bytes", p.display());
                    assert!(
                        stdout.contains(&format!("chart: {}", p.display())),
                        "{stdout}"
                    );
                }
            }
        }
    }
    // These need only what every run records: the time series and the histograms.
    for stem in [
        "throughput",
        "latency-percentiles",
        "latency-cdf",
        "ops-bars",
    ] {
        assert!(dir.join(format!("{stem}.png")).exists(), "{stem}: {stdout}");
    }
    let svg = std::fs::read_to_string(dir.join("throughput.svg")).unwrap();
    assert!(svg.contains("Throughput over time") && svg.contains("mmap:advice=random"));
}

#[test]
fn run_with_plot_then_plot_two_results() {
    let dir = scratch("plot");
    let (a, stdout) = tiny_run(&dir, "a", true);
    assert!(a.join("run.json").exists());
    check_charts(&a, &stdout);
    // Nothing left behind: the charts were written before the rename.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let (b, _) = tiny_run(&dir, "b", false);
    assert!(
        !b.join("throughput.svg").exists(),
        "no charts without --plot"
    );

    let both = dir.join("charts");
    let o = run(&[
        "plot",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        both.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    check_charts(&both, &stdout);
    let svg = std::fs::read_to_string(both.join("throughput.svg")).unwrap();
    assert!(svg.contains("pread @ ") && svg.contains("/a") && svg.contains("/b"));

    // PNG only into a fresh directory.
    let pngs = dir.join("pngs");
    let o = run(&[
        "plot",
        b.to_str().unwrap(),
        "--out",
        pngs.to_str().unwrap(),
        "--format",
        "png",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(pngs.join("throughput.png").exists());
    assert!(!pngs.join("throughput.svg").exists());

    // Refusals.
    let o = run(&["plot", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--out"),
        "{}",
        text(&o)
    );
    let before = std::fs::read(a.join("throughput.png")).unwrap();
    let o = run(&["plot", a.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("never overwrites") && err.contains("throughput"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read(a.join("throughput.png")).unwrap(), before);
    let o = run(&["plot", dir.join("missing").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such directory"));
    let o = run(&["plot", a.to_str().unwrap(), "--format", "gif"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}
