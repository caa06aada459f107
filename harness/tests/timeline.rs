//! Latency over time through the binary: a short run with several intervals in each
//! timing mode, whose per-interval histograms add up to each cell's histogram, whose
//! interval logs (.hlog) parse back with the hdrhistogram crate's reader, and whose
//! latency-over-time and heatmap charts are drawn.

mod common;
use common::*;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;

fn run_timeline(timing: &str, plot: bool) -> (std::path::PathBuf, faultline::record::RunRecord) {
    let dir = scratch("timeline");
    let wl = tiny_workload(&dir, "backends = [\"mmap\", \"pread\", \"uring:qd=4\"]");
    let out = dir.join(format!("r-{}", timing.replace(':', "-")));
    let data = data_dir();
    let mut args = vec![
        "run",
        wl.to_str().unwrap(),
        "--timing",
        timing,
        "--duration",
        "600ms",
        "--interval",
        "100ms",
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
    let r = load(&out);
    (out, r)
}

/// Every interval's histogram decoded from an interval log, with its tag.
fn hlog_histograms(bytes: &[u8]) -> Vec<hdrhistogram::Histogram<u64>> {
    use base64::Engine;
    let mut out = Vec::new();
    let mut saw_start = false;
    for e in IntervalLogIterator::new(bytes) {
        match e.expect("the interval log parses") {
            LogEntry::StartTime(_) | LogEntry::BaseTime(_) => saw_start = true,
            LogEntry::Interval(iv) => {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(iv.encoded_histogram())
                    .unwrap();
                out.push(Deserializer::new().deserialize(&mut &raw[..]).unwrap());
            }
        }
    }
    assert!(saw_start, "StartTime and BaseTime are in the header");
    out
}

#[test]
fn interval_histograms_add_up_and_the_interval_log_reads_back() {
    for timing in ["every", "sample:8", "batch:8"] {
        let (out, r) = run_timeline(timing, timing == "every");
        for b in &r.backends {
            if !check_backend(b) {
                continue;
            }
            assert!(
                b.timeseries.len() >= 2,
                "{} at {timing}: {} intervals",
                b.name,
                b.timeseries.len()
            );
            // check_backend checked that the intervals add up; the log holds the same.
            let log = std::fs::read(out.join(faultline::record::hlog::hlog_name(&b.name)))
                .unwrap_or_else(|e| panic!("{}: no .hlog: {e}", b.name));
            let hists = hlog_histograms(&log);
            assert_eq!(
                hists.len(),
                b.timeseries.len(),
                "{}: one per interval",
                b.name
            );
            for (h, iv) in hists.iter().zip(&b.timeseries) {
                let want =
                    faultline::record::decode_histogram(iv.histogram.as_deref().unwrap()).unwrap();
                assert_eq!(*h, want, "{}: the log holds run.json's interval", b.name);
            }
            let mut sum = faultline::record::new_histogram();
            for h in &hists {
                sum.add(h).unwrap();
            }
            assert_eq!(sum, histogram(b), "{}: the log adds up at {timing}", b.name);
        }
        if timing == "every" {
            for stem in ["latency-over-time", "latency-heatmap"] {
                for ext in ["svg", "png"] {
                    let p = out.join(format!("{stem}.{ext}"));
                    let len = std::fs::metadata(&p)
                        .unwrap_or_else(|_| panic!("{} missing", p.display()))
                        .len();
                    assert!(len > 1000, "{} is {len} bytes", p.display());
                }
            }
        }
    }
}
