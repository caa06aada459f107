//! Timing modes through the binary: every mode counts the same operations, verifies
//! every read, records its timing block, and holds in its histogram what it says.

mod common;
use common::*;

/// Run mmap and pread on a tiny warm workload with `timing`, an exact operation count.
fn run_mode(timing: &str, ops: u64) -> faultline::record::RunRecord {
    let dir = scratch("timing");
    let wl = tiny_workload(&dir, "start = \"warm\"\nbackends = [\"mmap\", \"pread\"]");
    let out = dir.join("r");
    let o = run(&[
        "run",
        wl.to_str().unwrap(),
        "--timing",
        timing,
        "--ops",
        &ops.to_string(),
        "--data-dir",
        data_dir().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    load(&out)
}

#[test]
fn every_mode_counts_the_same_operations_and_records_its_timing() {
    let ops = 200_000u64;
    for mode in ["every", "sample:16", "batch:16"] {
        let r = run_mode(mode, ops);
        assert_eq!(r.workload["timing"], mode);
        for b in &r.backends {
            assert!(check_backend(b), "{}: did not run", b.name);
            assert_eq!(b.ops, ops, "{} at {mode}: exactly the quota", b.name);
            let t = b.timing.as_ref().unwrap();
            assert_eq!(t.mode, mode);
            assert!(
                ["tsc", "cntvct", "monotonic"].contains(&t.clock.as_str()),
                "{t:?}"
            );
            assert!(!t.clock_reason.is_empty());
            let h = histogram(b);
            match mode {
                "every" => assert_eq!(h.len(), ops),
                // 1 in 16 on average over 200k operations: well within 1/32..1/8.
                "sample:16" => assert!(
                    (ops / 32..ops / 8).contains(&h.len()),
                    "{}: {} sampled",
                    b.name,
                    h.len()
                ),
                // Whole batches (a quota ends the last one early), none spanning the
                // warm-up here: the quota-driven run has no warm-up cut mid-batch
                // except at most one per thread.
                _ => assert!(h.len() + 2 * 16 >= ops && h.len() <= ops, "{}", h.len()),
            }
        }
        // Fault attribution needs every operation timed; other modes say why not.
        let m = &r.backends[0];
        if mode != "every" {
            let why = m.reasons.get(faultline::probe::CounterId::FaultOps);
            assert!(
                why.is_some_and(|w| w.contains("every operation timed")),
                "{why:?}"
            );
        }
    }
}

#[test]
fn a_bad_timing_mode_is_refused_with_the_choices() {
    let dir = scratch("timing-bad");
    let wl = tiny_workload(&dir, "timing = \"sample:1\"");
    let o = run(&["run", wl.to_str().unwrap(), "--quiet"]);
    assert!(!o.status.success());
    let t = text(&o);
    assert!(t.contains("sample:N") && t.contains("timing"), "{t}");
    let o = run(&["run", "--timing", "often", "--quiet"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("every, sample:N or batch:N"),
        "{}",
        text(&o)
    );
}

/// `overhead_ns` comes from the warm-up's A/B on the cell's own operation when there is
/// a warm-up, and from the empty-operation loop when there is none; both say so, and
/// the empty loop's cost is always recorded.
#[test]
fn timing_cost_is_measured_on_the_cells_own_operation_during_the_warm_up() {
    for (warmup, ab) in [("300ms", true), ("0s", false)] {
        let dir = scratch("timing-ab");
        let wl = tiny_workload(&dir, "start = \"warm\"\nbackends = [\"mmap\", \"pread\"]");
        let out = dir.join("r");
        let o = run(&[
            "run",
            wl.to_str().unwrap(),
            "--warmup",
            warmup,
            "--data-dir",
            data_dir().to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", text(&o));
        for b in &load(&out).backends {
            assert!(check_backend(b), "{}: did not run", b.name);
            let t = b.timing.as_ref().unwrap();
            let method = t.overhead_method.as_deref().unwrap_or("");
            assert_eq!(
                method.starts_with("A/B on this cell's operation"),
                ab,
                "{warmup}: {method}"
            );
            let empty = t.empty_loop_ns.expect("the empty loop is always measured");
            assert!(empty > 0.0, "{t:?}");
            if !ab {
                assert_eq!(t.overhead_ns, empty, "{t:?}");
            }
        }
    }
}

#[test]
fn the_verified_reference_loop_checks_headers_and_refuses_a_wrong_tag() {
    // The data file of a tiny run, and its tag from run.json.
    let r = run_mode("sample:16", 1000);
    let path = if r.data_file.path.is_absolute() {
        r.data_file.path.clone()
    } else {
        repo_root().join(&r.data_file.path)
    };
    let tag = r.data_file.verify_tag.expect("a generated file has a tag");
    let args = |tag: u64| {
        vec![
            "reference".to_string(),
            "mmap-block".into(),
            "--file".into(),
            path.to_str().unwrap().into(),
            "--seconds".into(),
            "1".into(),
            "--verify-tag".into(),
            tag.to_string(),
            "--json".into(),
        ]
    };
    let a = args(tag);
    let o = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verify_errors"], 0, "{v}");
    assert!(v["ops"].as_u64().unwrap() > 0, "{v}");
    let a = args(tag ^ 1);
    let o = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!o.status.success(), "a wrong tag must fail: {}", text(&o));
    assert!(text(&o).contains("failed the header check"), "{}", text(&o));
}
