//! Probes, the memory cgroup, the emulated zram device and --drop-caches, through the
//! real binary. Counters must be present or explained (a reason), never silently 0.

mod common;
use common::*;
use faultline::record::{BackendResult, RunRecord, Status};
use serde_json::Value;

/// The capability a probe's counter needs: perf events for the fault counters, tracefs
/// for the tlb:tlb_flush tracepoint, a memory cgroup for its page cache; else its name.
fn probe_capability(counter: &str) -> &str {
    match counter {
        "minor_faults" | "major_faults" | "fault_ops" | "stall_ns" => "perf",
        "tlb_flush_process" => "tracefs",
        c if c.starts_with("cgroup_") => "cgroup",
        c => c,
    }
}

/// The counter; when it is null, skip (with its reason) through `skip`.
fn read_value(b: &BackendResult, k: &str) -> Option<Value> {
    let v = counter(&b.counters, k);
    if v.is_null() {
        let key: faultline::probe::ReasonKey = k.parse().expect("a known counter");
        let why = b.reasons.get(key).unwrap_or("no reason");
        skip(
            probe_capability(k),
            &format!("{}: {k} is null: {why}", b.name),
        );
        return None;
    }
    Some(v)
}

/// A numeric counter, or None after a skip (see `read_value`).
fn read_counter(b: &BackendResult, k: &str) -> Option<u64> {
    let v = read_value(b, k)?;
    Some(v.as_u64().unwrap_or_else(|| panic!("{k} is a number: {v}")))
}

fn run_ok(args: &[&str]) -> RunRecord {
    let dir = scratch("probe");
    let out = dir.join("r");
    let mut a: Vec<&str> = args.to_vec();
    let o = out.to_str().unwrap().to_string();
    let dd = data_dir().to_str().unwrap().to_string();
    a.extend_from_slice(&["--out", &o, "--data-dir", &dd, "--quiet"]);
    let r = run(&a);
    assert!(r.status.success(), "{}", text(&r));
    load(&out)
}

/// Fault attribution: one major fault in `period` is sampled; the faulting operations
/// are estimated as `period` x the sampled ones, whose histogram holds exactly them.
fn check_fault_attribution(b: &BackendResult, period: u64) {
    let (Some(fo), Some(maj)) = (
        read_counter(b, "fault_ops"),
        read_counter(b, "major_faults"),
    ) else {
        return;
    };
    // Each sampled operation stands for `period` faults, capped at the operations: at
    // most one period more than the exact count of major faults.
    assert!(
        fo <= maj + period,
        "fault_ops {fo} <= major_faults {maj} + {period}"
    );
    assert!(fo <= b.ops, "fault_ops {fo} <= ops {}", b.ops);
    let h = faultline::record::decode_histogram(b.fault_histogram.as_deref().unwrap()).unwrap();
    assert!(
        h.len() <= fo && fo <= h.len() * period,
        "fault_ops {fo} from {} sampled",
        h.len()
    );
    if fo > 0 {
        assert!(read_counter(b, "stall_ns").unwrap() > 0);
    }
    assert!(
        b.notes.iter().any(|n| n.contains("fault_sample_period")),
        "the record says how faults were attributed: {:?}",
        b.notes
    );
}

/// The workload's fault_sample_period as recorded in run.json.
fn sample_period(r: &RunRecord) -> u64 {
    r.workload["fault_sample_period"]
        .as_u64()
        .expect("run.json records fault_sample_period")
}

#[test]
fn counters_are_recorded_per_backend_and_interval() {
    let dir = scratch("counters");
    let wl = tiny_workload(
        &dir,
        "backends = [\"pread\", \"direct\", \"mmap:advice=random\"]",
    );
    let r = run_ok(&["run", wl.to_str().unwrap()]);
    for b in &r.backends {
        if !check_backend(b) {
            continue;
        }
        counters_present_or_explained(b);
        // Sums of the per-interval deltas equal the totals.
        for k in [
            "major_faults",
            "minor_faults",
            "device_read_bytes",
            "tlb_shootdowns_system",
        ] {
            let Some(total) = read_counter(b, k) else {
                continue;
            };
            let sum: u64 = b
                .timeseries
                .iter()
                .map(|i| counter(i, k).as_u64().unwrap())
                .sum();
            assert_eq!(sum, total, "{}: {k} intervals add up", b.name);
        }
        // The tlb:tlb_flush tracepoint (tracefs): by reason, a map when present.
        if let Some(v) = read_value(b, "tlb_flush_process") {
            assert!(
                v.is_object(),
                "{}: tlb_flush_process by reason: {v}",
                b.name
            );
        }
        check_fault_attribution(b, sample_period(&r));
    }
    // direct never faults through the page cache.
    let d = r.backends.iter().find(|b| b.name == "direct").unwrap();
    if d.status == Status::Ok {
        if let Some(m) = read_counter(d, "major_faults") {
            assert!(m < 5, "direct took {m} major faults");
        }
    }
    let env = serde_json::to_value(&r.environment).unwrap();
    for k in [
        "thp_enabled",
        "nr_hugepages",
        "cgroup_version",
        "hw_perf_counters",
        "mitigations",
        "disks",
    ] {
        assert!(env.get(k).is_some(), "environment.{k}");
    }
}

#[test]
fn attribution_can_be_switched_off_and_says_so() {
    let dir = scratch("noattr");
    let wl = tiny_workload(
        &dir,
        "backends = [\"mmap:advice=random\"]\nfault_attribution = false",
    );
    let r = run_ok(&["run", wl.to_str().unwrap()]);
    let b = &r.backends[0];
    assert!(check_backend(b), "mmap is never skipped");
    assert!(counter(&b.counters, "fault_ops").is_null());
    assert!(b.fault_histogram.is_none());
    let why = b.reasons.get(faultline::probe::CounterId::FaultOps);
    assert!(why.is_some_and(|r| r.contains("off")), "{why:?}");
}

#[test]
fn every_fault_is_attributed_with_period_one() {
    let dir = scratch("period1");
    let wl = tiny_workload(
        &dir,
        "backends = [\"mmap:advice=random\"]\nfault_sample_period = 1",
    );
    let r = run_ok(&["run", wl.to_str().unwrap()]);
    assert_eq!(sample_period(&r), 1);
    let b = &r.backends[0];
    assert!(check_backend(b), "mmap is never skipped");
    check_fault_attribution(b, 1);
    if let (Some(fo), Some(maj)) = (
        read_counter(b, "fault_ops"),
        read_counter(b, "major_faults"),
    ) {
        assert!(fo <= maj + 1, "exact: fault_ops {fo} <= major_faults {maj}");
    }
}

#[test]
fn probes_can_be_turned_off_and_say_so() {
    let dir = scratch("probesoff");
    let wl = tiny_workload(
        &dir,
        "backends = [\"mmap:advice=random\"]\nthread_counters = false\ntlb_tracepoint = false",
    );
    let r = run_ok(&["run", wl.to_str().unwrap()]);
    let b = &r.backends[0];
    assert!(check_backend(b), "mmap is never skipped");
    assert!(counter(&b.counters, "minor_faults").is_null());
    assert!(counter(&b.counters, "tlb_flush_process").is_null());
    for (k, id) in [
        ("minor_faults", faultline::probe::CounterId::MinorFaults),
        (
            "tlb_flush_process",
            faultline::probe::CounterId::TlbFlushProcess,
        ),
    ] {
        let why = b.reasons.get(id);
        assert!(
            why.is_some_and(|w| w.contains("off") || w.contains("unavailable")),
            "{k}: {why:?}"
        );
    }
}

/// A short probe-overhead run on a tiny cell records, for each probe, a throughput
/// ratio, a p50 ratio and whether it fired. Root: tracefs for the tlb tracepoint, so
/// every probe is really on in the A runs.
#[test]
fn probe_overhead_records_a_ratio_for_each_probe() {
    if !is_root() {
        skip(
            "root",
            "probe_overhead test: needs root for the memory cgroup and tracefs",
        );
        return;
    }
    let dir = scratch("overhead");
    let wl = tiny_workload(
        &dir,
        // No page_cache_limit: another test here checks that the run's memory cgroups
        // are gone, and a concurrent one would race with it. A cold 64 MiB file read
        // at random faults on its first touches anyway.
        "backends = [\"mmap:advice=random\"]",
    );
    let r = run_ok(&[
        "run",
        wl.to_str().unwrap(),
        "--size",
        "64MiB",
        "--threads",
        "1",
        "--probe-overhead",
        "2",
    ]);
    assert_eq!(r.probe_overhead.len(), 1, "one cell");
    let c = &r.probe_overhead[0];
    assert_eq!(
        (c.backend.as_str(), c.threads, c.rounds),
        ("mmap:advice=random", 1, 2)
    );
    assert_eq!(c.on.ops_per_sec.len(), 2, "two A rounds");
    assert_eq!(r.backends.len(), 2, "the A runs are the run's backends");
    let names: Vec<&str> = c.probes.iter().map(|p| p.probe.as_str()).collect();
    assert_eq!(
        names,
        [
            "fault_attribution",
            "thread_counters",
            "tlb_tracepoint",
            "sampler",
            "all_default_probes"
        ]
    );
    for p in &c.probes {
        assert_eq!(p.off.ops_per_sec.len(), 2, "{}: two B rounds", p.probe);
        let t = p
            .throughput_ratio
            .unwrap_or_else(|| panic!("{}: throughput ratio", p.probe));
        assert!(t > 0.0 && t.is_finite(), "{}: {t}", p.probe);
        let l = p
            .p50_ratio
            .unwrap_or_else(|| panic!("{}: p50 ratio", p.probe));
        assert!(l > 0.0 && l.is_finite(), "{}: {l}", p.probe);
        assert!(!p.off_by.is_empty());
    }
    // A cold 64 MiB file read at random: major faults, so attribution fired.
    let fa = &c.probes[0];
    assert_eq!(fa.fired, Some(true), "fault attribution fired: {fa:?}");
    assert!(fa.events.unwrap() > 0);
    // The sampler took interval samples (250 ms phase, 50 ms interval).
    assert_eq!(c.probes[3].fired, Some(true));
}

fn is_root() -> bool {
    faultline::sys::uid() == 0
}

fn my_memory_cgroup_children() -> Vec<String> {
    match faultline::env::cgroup::locate() {
        Ok((_, dir)) => std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("faultline-"))
                    .collect()
            })
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn page_cache_limit_holds_the_cache_and_cleans_up() {
    if !is_root() {
        skip(
            "cgroup",
            "page_cache_limit: needs root to create a memory cgroup",
        );
        return;
    }
    if let Err(e) = faultline::env::cgroup::locate() {
        skip("cgroup", &format!("page_cache_limit: {e:#}"));
        return;
    }
    let before = my_memory_cgroup_children();
    let dir = scratch("cglimit");
    let wl = dir.join("w.toml");
    std::fs::write(
        &wl,
        "size = \"64MiB\"\nthreads = 2\nduration = \"1500ms\"\nwarmup = \"0s\"\ninterval = \"250ms\"\npage_cache_limit = \"16MiB\"\nbackends = [\"mmap:advice=random\", \"pread\"]\n",
    )
    .unwrap();
    let r = run_ok(&["run", wl.to_str().unwrap()]);
    for b in &r.backends {
        assert!(check_backend(b), "{} is never skipped", b.name);
        counters_present_or_explained(b);
        let cg = counter(&b.counters, "cgroup_page_cache_bytes_end")
            .as_u64()
            .expect("cgroup page cache read");
        assert!(
            cg <= 17 << 20,
            "{}: cgroup cache {cg} above the 16 MiB limit",
            b.name
        );
        let max_seen = b
            .timeseries
            .iter()
            .filter_map(|i| counter(i, "cgroup_page_cache_bytes_end").as_u64())
            .max()
            .unwrap();
        assert!(
            max_seen > 4 << 20,
            "{}: the cgroup never held a cache ({max_seen})",
            b.name
        );
    }
    if let Some(m) = read_counter(&r.backends[0], "major_faults") {
        assert!(m > 0, "a 64 MiB file through a 16 MiB cache faults");
    }
    assert_eq!(
        my_memory_cgroup_children(),
        before,
        "the run's cgroup is removed"
    );
}

#[test]
fn page_cache_limit_errors_are_clear() {
    let dir = scratch("cgerr");
    let wl = tiny_workload(&dir, "");
    let o = run(&["run", wl.to_str().unwrap(), "--page-cache-limit", "1MiB"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("too small"),
        "{}",
        text(&o)
    );
    let o = run(&["run", wl.to_str().unwrap(), "--page-cache-limit", "64TiB"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not below this machine's memory"),
        "{}",
        text(&o)
    );
}

fn zram_devices() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/sys/block")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("zram"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn zram_device_is_created_used_and_removed() {
    if !is_root() || !std::path::Path::new("/sys/class/zram-control/hot_add").exists() {
        skip("zram", "needs root and /sys/class/zram-control");
        return;
    }
    let before = zram_devices();
    let dir = scratch("zram");
    let wl = tiny_workload(&dir, "device = \"zram:32MiB\"\nsize = \"16MiB\"\nbackends = [\"direct\", \"pread\", \"mmap:advice=random\"]");
    let wl_text = std::fs::read_to_string(&wl)
        .unwrap()
        .replacen("size = \"4MiB\"\n", "", 1);
    std::fs::write(&wl, wl_text).unwrap();
    let r = run_ok(&["run", wl.to_str().unwrap()]);
    assert_eq!(r.data_file.origin, faultline::datafile::Origin::Zram);
    let env = serde_json::to_value(&r.environment).unwrap();
    assert_eq!(env["emulated_device"], true);
    for b in &r.backends {
        check_backend(b);
        assert_eq!(
            b.verify_errors,
            Some(0),
            "reads from the zram device are verified"
        );
    }
    assert_eq!(
        zram_devices(),
        before,
        "the zram device is removed after the run"
    );
}

#[test]
fn drop_caches_needs_root_or_runs() {
    let dir = scratch("dropc");
    let wl = tiny_workload(&dir, "backends = [\"pread\"]");
    let o = run(&[
        "run",
        wl.to_str().unwrap(),
        "--drop-caches",
        "--quiet",
        "--data-dir",
        data_dir().to_str().unwrap(),
        "--out",
        dir.join("r").to_str().unwrap(),
    ]);
    if is_root() {
        assert!(o.status.success(), "{}", text(&o));
    } else {
        assert!(!o.status.success());
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("needs root"),
            "{}",
            text(&o)
        );
    }
}

#[test]
fn env_command_lists_probes() {
    let o = bin().arg("env").current_dir(repo_root()).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    for k in [
        "kernel",
        "THP",
        "nr_hugepages",
        "cgroup",
        "major_faults",
        "tlb_shootdowns_system",
        "device_read_bytes",
        "page_cache_limit",
        "device zram",
        "device fuse",
    ] {
        assert!(s.contains(k), "env output lacks {k}:\n{s}");
    }
    let o = bin()
        .args(["env", "--json"])
        .current_dir(repo_root())
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["cpus"].as_u64().unwrap() >= 1);
}
