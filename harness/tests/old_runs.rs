//! Runs written before a field existed still load: `report` and `compare` work on a
//! run.json from before the provenance fields (hypervisor, clocksource, balloon, swap,
//! git revision ...) and the `steal_ns` / `balloon_reported_kib` counters.

mod common;
use common::*;
use faultline::record::RunRecord;
use std::path::{Path, PathBuf};

/// The committed run (claim-prewarm of 2026-11-21, two of its backends, the time series
/// cut to two intervals), as written before the provenance fields.
fn old_run() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/run-before-provenance")
}

#[test]
fn a_run_without_provenance_loads_with_the_new_fields_null() {
    let text = std::fs::read_to_string(old_run().join("run.json")).unwrap();
    assert!(!text.contains("\"balloon\"") && !text.contains("steal_ns"));
    let r = RunRecord::from_json(&text).unwrap();
    let e = &r.environment;
    assert_eq!(e.cpu_model.as_deref(), Some("AMD EPYC"));
    assert!(e.hypervisor.is_none() && e.clocksource.is_none() && e.balloon.is_none());
    assert!(e.swap.is_none() && e.git_revision.is_none() && e.git_dirty.is_none());
    assert!(e.cpu_id.is_none() && e.zram_comp_algorithm.is_none());
    for b in &r.backends {
        assert_eq!(b.counters.steal_ns, None, "absent is null, never 0");
        assert_eq!(b.counters.balloon_reported_kib, None);
        assert!(b.counters.major_faults.is_some());
        assert!(b.timeseries.iter().all(|i| i.counters.steal_ns.is_none()));
    }
}

#[test]
fn report_and_compare_read_a_run_without_provenance() {
    let old = old_run();
    let o = run(&["report", old.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.contains("| pread |") && md.contains("| mmap |"), "{md}");

    // Old against old, and old against a copy: same numbers, no regression.
    let dir = scratch("old-runs");
    let copy = dir.join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(old.join("run.json"), copy.join("run.json")).unwrap();
    let o = run(&["compare", old.to_str().unwrap(), copy.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_new_run_compares_with_an_old_one() {
    // A record written now (every new field set) and the old one side by side: the
    // old one's missing fields are null, not an error.
    let old = std::fs::read_to_string(old_run().join("run.json")).unwrap();
    let mut r = RunRecord::from_json(&old).unwrap();
    r.environment = faultline::env::Environment::collect(Path::new("."));
    for b in &mut r.backends {
        b.counters.steal_ns = Some(1_000_000);
        b.counters.balloon_reported_kib = Some(4096);
    }
    let json = r.to_json().unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["environment"]["git_revision"].is_string());
    assert_eq!(v["backends"][0]["counters"]["steal_ns"], 1_000_000);
    let dir = scratch("old-vs-new");
    let new = dir.join("new");
    std::fs::create_dir_all(&new).unwrap();
    std::fs::write(new.join("run.json"), json).unwrap();
    let o = run(&[
        "compare",
        old_run().to_str().unwrap(),
        new.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["report", old_run().to_str().unwrap(), new.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
}
