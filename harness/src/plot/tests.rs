//! Every chart kind rendered from the fixed record, as SVG and PNG.

use super::*;
use crate::plot::fixture;

fn svg_text(r: &Rendered, name: &str) -> String {
    let f = r
        .files
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("{name} rendered"));
    String::from_utf8(f.bytes.clone()).unwrap()
}

#[test]
fn renders_every_chart_as_svg_and_png() {
    let runs = [fixture::run("2026-01-01T000000Z-testhost", true)];
    let r = render(&runs, Format::Both).unwrap();
    // A read workload: the write charts are skipped, with the reason.
    let skipped: Vec<&str> = r.skipped.iter().map(|s| s.chart).collect();
    assert_eq!(skipped, WRITE_CHARTS, "{:?}", r.skipped);
    assert!(r
        .skipped
        .iter()
        .all(|s| s.reason.contains("not a write or mix workload")));
    assert_eq!(r.files.len(), 2 * CHARTS.len());
    for stem in CHARTS {
        for ext in ["svg", "png"] {
            let name = format!("{stem}.{ext}");
            let f = r.files.iter().find(|f| f.name == name).unwrap();
            assert!(f.bytes.len() > 1000, "{name} is {} bytes", f.bytes.len());
        }
        let png = &r
            .files
            .iter()
            .find(|f| f.name == format!("{stem}.png"))
            .unwrap()
            .bytes;
        assert_eq!(&png[1..4], b"PNG");
    }
    let t = svg_text(&r, "throughput.svg");
    for s in [
        "Throughput over time",
        "workload fixture",
        "host testhost",
        "Linux 6.18.0-test",
        "Test CPU @ 3.0GHz",
        "time since the measured phase began (s)",
        "operations per second",
        "mmap:advice=random: ",
        "page cache full",
        "page cache stops growing",
    ] {
        assert!(t.contains(s), "throughput.svg lacks {s:?}");
    }
    let t = svg_text(&r, "latency-over-time.svg");
    for s in ["Latency over time", "p50", "p99.9 (µs, log)", "direct"] {
        assert!(t.contains(s), "latency-over-time.svg lacks {s:?}");
    }
    let t = svg_text(&r, "latency-heatmap.svg");
    for s in [
        "Latency heatmap",
        "latency (µs, log)",
        "operations",
        "mmap:advice=random (repeat 1 of 2)",
    ] {
        assert!(t.contains(s), "latency-heatmap.svg lacks {s:?}");
    }
    let t = svg_text(&r, "faults-shootdowns.svg");
    for s in [
        "TLB shootdowns",
        "shootdowns per second",
        "major faults per second",
        "direct",
    ] {
        assert!(t.contains(s), "faults-shootdowns.svg lacks {s:?}");
    }
    let t = svg_text(&r, "amplification.svg");
    for s in [
        "Read amplification",
        "MiB/s",
        "4x overall",
        "device bytes / application bytes",
    ] {
        assert!(t.contains(s), "amplification.svg lacks {s:?}");
    }
    let t = svg_text(&r, "latency-percentiles.svg");
    for s in [
        "Latency percentile spectrum",
        "percentile",
        "latency (µs, log scale)",
        "99.9%",
        "pread: p50",
    ] {
        assert!(t.contains(s), "latency-percentiles.svg lacks {s:?}");
    }
    let t = svg_text(&r, "latency-cdf.svg");
    for s in [
        "Latency distribution",
        "latency (log scale)",
        "% of operations",
        "µs",
    ] {
        assert!(t.contains(s), "latency-cdf.svg lacks {s:?}");
    }
    let t = svg_text(&r, "ops-bars.svg");
    for s in [
        "Throughput per backend",
        "operations per second",
        "slowest to fastest repeat",
        "2 runs",
        "did not run: no huge pages reserved",
    ] {
        assert!(t.contains(s), "ops-bars.svg lacks {s:?}");
    }
}

#[test]
fn null_counters_skip_with_the_reason() {
    let runs = [fixture::run("r", false)];
    let r = render(&runs, Format::Svg).unwrap();
    let skipped: Vec<String> = r
        .skipped
        .iter()
        .filter(|s| !WRITE_CHARTS.contains(&s.chart))
        .map(|s| s.to_string())
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(
        skipped[0].starts_with("skipped faults-shootdowns: "),
        "{skipped:?}"
    );
    assert!(
        skipped[0].contains("no TLB row in /proc/interrupts"),
        "{skipped:?}"
    );
    assert!(
        skipped[1].starts_with("skipped amplification: "),
        "{skipped:?}"
    );
    assert!(skipped[1].contains("tmpfs"), "{skipped:?}");
    assert_eq!(r.files.len(), CHARTS.len() - 2, "svg only");
    // Nothing drew an unavailable counter as 0: no faults chart at all, and the
    // throughput chart says why it has no page-cache marker.
    let t = svg_text(&r, "throughput.svg");
    assert!(t.contains("meminfo not readable"));
}

#[test]
fn several_runs_are_named_by_host_and_dir() {
    let runs = [fixture::run("run-a", true), fixture::run("run-b", false)];
    let r = render(&runs, Format::Svg).unwrap();
    let t = svg_text(&r, "throughput.svg");
    assert!(t.contains("pread @ testhost/run-a"));
    assert!(t.contains("pread @ testhost/run-b"));
    // One run has the counters, so the faults chart is drawn (for that run).
    assert!(r.files.iter().any(|f| f.name == "faults-shootdowns.svg"));
}

#[test]
fn writes_never_overwrite() {
    let d = tempfile::tempdir().unwrap();
    let runs = [fixture::run("r", true)];
    let r = render(&runs, Format::Png).unwrap();
    let out = d.path().join("charts");
    let written = write_new(&out, &r.files).unwrap();
    assert_eq!(written.len(), CHARTS.len());
    let before = fs::read(out.join("throughput.png")).unwrap();
    let e = write_new(&out, &r.files).unwrap_err().to_string();
    assert!(e.contains("never overwrites"), "{e}");
    assert!(e.contains("throughput.png"), "{e}");
    assert_eq!(fs::read(out.join("throughput.png")).unwrap(), before);
}

#[test]
fn plot_loads_result_directories() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("2026-01-01T000000Z-testhost");
    fs::create_dir(&dir).unwrap();
    fs::write(
        dir.join("run.json"),
        fixture::record(true).to_json().unwrap(),
    )
    .unwrap();
    let written = plot(
        std::slice::from_ref(&dir),
        &dir,
        Format::Svg,
        SweepAxes::default(),
    )
    .unwrap();
    assert_eq!(written.len(), CHARTS.len());
    assert!(written.iter().all(|p| p.starts_with(&dir)));
    let e = plot(
        &[d.path().join("nope")],
        &dir,
        Format::Svg,
        SweepAxes::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("no such directory"), "{e}");
    let e = plot(
        &[d.path().to_path_buf()],
        &dir,
        Format::Svg,
        SweepAxes::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("no run.json"), "{e}");
    assert_eq!(Format::parse("PNG"), Ok(Format::Png));
    assert!(Format::parse("gif")
        .unwrap_err()
        .contains("svg, png or both"));
}

#[test]
fn thread_counts_are_separate_series() {
    let mut run = fixture::run("r", true);
    for b in &mut run.record.backends {
        if b.repeat == 1 {
            b.repeat = 0;
            b.threads = 4;
        }
    }
    let r = render(&[run], Format::Svg).unwrap();
    let t = svg_text(&r, "ops-bars.svg");
    assert!(t.contains("pread, 2 threads") && t.contains("pread, 4 threads"));
    assert!(!t.contains("2 runs"), "no repeats left");
    assert!(t.contains("--repeats N"));
}

#[test]
fn nothing_measured_skips_every_chart() {
    let mut run = fixture::run("r", true);
    run.record.backends.retain(|b| b.ops == 0);
    let r = render(&[run], Format::Both).unwrap();
    assert!(r.files.is_empty());
    assert_eq!(r.skipped.len(), CHARTS.len() + WRITE_CHARTS.len());
    for (s, stem) in r.skipped.iter().zip(CHARTS.iter().chain(&WRITE_CHARTS)) {
        assert_eq!(s.chart, *stem);
        assert!(!s.reason.is_empty());
    }
}

#[test]
fn unreadable_histogram_is_a_note_not_a_failure() {
    let mut run = fixture::run("r", true);
    run.record.backends[0].histogram = Some("not base64!".into());
    let r = render(&[run], Format::Svg).unwrap();
    let t = svg_text(&r, "latency-percentiles.svg");
    assert!(t.contains("unreadable"), "the legend says which one");
}

#[test]
fn renders_the_write_charts_of_a_mix_workload() {
    let runs = [fixture::write_run("2026-01-01T000000Z-testhost")];
    let r = render(&runs, Format::Both).unwrap();
    for stem in WRITE_CHARTS {
        for ext in ["svg", "png"] {
            let name = format!("{stem}.{ext}");
            let f = r.files.iter().find(|f| f.name == name);
            assert!(
                f.is_some_and(|f| f.bytes.len() > 1000),
                "{name}: {:?}",
                r.skipped
            );
        }
    }
    let t = svg_text(&r, "ops-by-kind.svg");
    for s in [
        "Throughput per operation kind",
        "pread: write",
        "mmap: sync",
        "did not run: read-only backend",
        "operations of the kind per second",
    ] {
        assert!(t.contains(s), "ops-by-kind.svg lacks {s:?}");
    }
    let t = svg_text(&r, "sync-latency.svg");
    for s in [
        "Sync latency percentile spectrum",
        "sync latency (µs, log scale)",
        "pread: 400 syncs",
        "mmap: 400 syncs",
    ] {
        assert!(t.contains(s), "sync-latency.svg lacks {s:?}");
    }
}
