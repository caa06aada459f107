//! The runner on the `mock` backend: no I/O, so the warm-up switch, operation quotas,
//! the sampler's time series and the error paths are checked in a fraction of a second.
//! The target is an empty file that claims 4 MiB: the mock never reads it, and the
//! cold start (dropping its cached pages) has nothing to drop.

use super::{run_cell, Cell};
use crate::datafile::{page, Target};
use crate::probe::ProbeSet;
use crate::record::cell::{Outcome, Status};
use crate::spec::{BackendSpec, Workload};

/// Run `spec` once on the 4 MiB mock target with `threads` threads; `keys` are workload
/// keys (the stop condition and warm-up at least).
fn cell(spec: &str, threads: usize, keys: &str) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.dat");
    std::fs::write(&path, b"").unwrap();
    let toml = format!("size = \"4MiB\"\ninterval = \"10ms\"\nthreads = {threads}\n{keys}\n");
    let w = Workload::parse(&toml, "test", "test").unwrap();
    let target = Target {
        path,
        size: w.size,
        origin: crate::datafile::Origin::Generated,
        verify_tag: Some(page::file_tag(w.seed)),
        created: false,
        create_secs: None,
        stripe: None,
    };
    let probes = ProbeSet::new(
        &[target.path.as_path()],
        None,
        Err("not in unit tests".into()),
        false,
    );
    let spec = BackendSpec::parse(spec).unwrap();
    let cell = Cell {
        target: &target,
        workload: &w,
        spec: &spec,
        threads,
        repeat: 0,
        probes: &probes,
        db: None,
    };
    run_cell(&cell, &crate::ui::Quiet)
}

/// The invariants of every measured cell: the histogram holds exactly the operations,
/// and the time series adds up to them.
fn check_sums(o: &Outcome, block: u64) {
    let h = o.hist.as_ref().expect("a measured cell has a histogram");
    assert_eq!(h.len(), o.ops, "histogram count == ops");
    let ops: u64 = o.timeseries.iter().map(|i| i.ops).sum();
    let bytes: u64 = o.timeseries.iter().map(|i| i.bytes).sum();
    assert_eq!(ops, o.ops, "intervals add up to ops");
    assert_eq!(bytes, o.ops * block, "intervals add up to bytes");
    let t: Vec<u64> = o.timeseries.iter().map(|i| i.t_ns).collect();
    assert!(t.windows(2).all(|p| p[0] <= p[1]), "times increase: {t:?}");
}

fn assert_ok(o: &Outcome) {
    assert_eq!(o.status, Status::Ok, "{:?}", o.reason);
    assert_eq!(o.verify_errors, 0);
}

#[test]
fn warm_up_operations_are_done_but_not_recorded() {
    // Each worker's 1000th read returns wrong bytes; at 5 us per read both workers get
    // there inside the 200 ms warm-up, and verification counts warm-up reads. The
    // measured phase then holds exactly the 200 operations of the quota.
    let o = cell(
        "mock:latency=5us,corrupt_at=1000",
        2,
        "ops = 200\nwarmup = \"200ms\"",
    );
    assert_eq!(o.status, Status::Ok, "{:?}", o.reason);
    assert_eq!(o.verify_errors, 2, "both workers read during the warm-up");
    assert!(o
        .notes
        .iter()
        .any(|n| n.contains("returned the wrong bytes")));
    assert_eq!(o.ops, 200);
    check_sums(&o, 4096);
}

#[test]
fn operation_quotas_are_exact_for_any_thread_count_and_queue_depth() {
    for (spec, threads) in [("mock", 1), ("mock", 2), ("mock", 3), ("mock:qd=8", 3)] {
        let o = cell(spec, threads, "ops = 1001\nwarmup = \"5ms\"");
        assert_ok(&o);
        assert_eq!(o.ops, 1001, "{spec} x{threads}");
        assert_eq!(o.threads, threads);
        check_sums(&o, 4096);
    }
    let o = cell("mock:qd=8", 2, "ops = 64\nwarmup = \"0s\"");
    assert_eq!(o.queue_depth, 8);
    assert_eq!(o.ops, 64, "operations in flight count against the quota");
}

#[test]
fn sampler_intervals_add_up_to_the_totals() {
    let o = cell(
        "mock:latency=1us",
        2,
        "duration = \"120ms\"\nwarmup = \"10ms\"",
    );
    assert_ok(&o);
    assert!(o.ops > 0);
    assert!(
        o.timeseries.len() >= 2,
        "a 120 ms run sampled every 10 ms has several intervals: {}",
        o.timeseries.len()
    );
    check_sums(&o, 4096);
    let last = o.timeseries.last().unwrap().t_ns;
    assert!(
        last <= o.elapsed_ns,
        "last interval {last} within {}",
        o.elapsed_ns
    );
    assert!(
        o.elapsed_ns >= 120_000_000,
        "ran the planned 120 ms: {}",
        o.elapsed_ns
    );
}

#[test]
fn an_error_mid_run_fails_the_cell_with_the_reason_and_keeps_what_was_measured() {
    // 10 s planned, but the 3000th read of each worker fails (at 10 us per read, some
    // 30 ms in): the cell stops there.
    let o = cell(
        "mock:latency=10us,fail_at=3000",
        2,
        "duration = \"10s\"\nwarmup = \"0s\"",
    );
    assert_eq!(o.status, Status::Failed);
    let reason = o.reason.as_deref().unwrap();
    assert!(
        reason.contains("injected error at operation 3000"),
        "{reason}"
    );
    assert!(o.elapsed_ns < 5_000_000_000, "the error ended the cell");
    assert!(o.ops > 0, "what was measured before the error is kept");
    check_sums(&o, 4096);
}

#[test]
fn wrong_bytes_are_counted() {
    let o = cell("mock:corrupt_at=10", 2, "ops = 100\nwarmup = \"0s\"");
    assert_eq!(o.verify_errors, 2);
    assert!(
        o.notes
            .iter()
            .any(|n| n.starts_with("2 reads returned the wrong bytes")),
        "{:?}",
        o.notes
    );
}

#[test]
fn a_skip_or_a_failure_at_open_measures_nothing() {
    let o = cell("mock:skip=no such device", 2, "ops = 10\nwarmup = \"0s\"");
    assert_eq!(o.status, Status::Skipped);
    assert_eq!(o.reason.as_deref(), Some("no such device"));
    assert_eq!((o.ops, o.threads), (0, 2));
    assert!(o.hist.is_none() && o.timeseries.is_empty());
    let o = cell("mock:fail_open=broken", 1, "ops = 10\nwarmup = \"0s\"");
    assert_eq!(o.status, Status::Failed);
    assert_eq!(o.reason.as_deref(), Some("broken"));
    assert_eq!(o.ops, 0);
}

#[test]
fn slow_operations_show_in_the_tail_only() {
    // Every 50th read waits 300 us more: 2% of reads, so p50 stays fast and max is slow.
    // (More may be slow: a busy machine can preempt a worker in any read.)
    let o = cell(
        "mock:latency=1us,stall_every=50,stall=300us",
        1,
        "ops = 2000\nwarmup = \"0s\"",
    );
    assert_ok(&o);
    let h = o.hist.as_ref().unwrap();
    assert!(h.max() >= 300_000, "max {}", h.max());
    assert!(h.value_at_quantile(0.5) < 300_000);
    let slow = h.count_between(300_000, u64::MAX);
    assert!(slow >= 39, "{slow} of 2000 reads stalled");
}
