//! A fixed record for chart tests: three measured backends with two repeats each and a
//! skipped one, 11.5 s of 1 s intervals (the last one half), with every counter the charts
//! use filled in, or all null with reasons.

use super::Run;
use crate::datafile::Target;
use crate::env::Environment;
use crate::probe::{CounterId, Counters, Reasons};
use crate::record::{encode_histogram, latency_of, BackendResult, RunRecord, SCHEMA};
use crate::record::{new_histogram, Interval, Status};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};
use std::collections::BTreeMap;

const MIB: u64 = 1 << 20;

pub fn run(dir_name: &str, with_counters: bool) -> Run {
    Run {
        record: record(with_counters),
        dir_name: dir_name.into(),
    }
}

pub fn record(with_counters: bool) -> RunRecord {
    let mut backends = Vec::new();
    for repeat in 0..2 {
        for (i, name) in ["pread", "direct", "mmap:advice=random"].iter().enumerate() {
            backends.push(backend(name, i as u64, repeat, with_counters));
        }
        backends.push(skipped(repeat));
    }
    RunRecord {
        schema: SCHEMA,
        tool: "faultline test".into(),
        command: vec!["faultline".into(), "run".into()],
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: "2026-01-01T00:01:00Z".into(),
        complete: true,
        workload: serde_json::json!({"name": "fixture", "block": 4096}),
        environment: Environment {
            kernel: Some("6.18.0-test".into()),
            arch: Some("x86_64".into()),
            cpu_model: Some("Test CPU @ 3.0GHz".into()),
            cpus: 2,
            memory_bytes: Some(24 << 30),
            hostname: Some("testhost".into()),
            ..Default::default()
        },
        data_file: Target {
            path: "faultline-data/x.dat".into(),
            size: 1 << 30,
            origin: crate::datafile::Origin::Generated,
            verify_tag: Some(1),
            created: false,
            create_secs: None,
            stripe: None,
        },
        backends,
        process: Vec::new(),
        probe_overhead: Vec::new(),
        sweep: None,
    }
}

/// Operations per second of backend `kind` (0 pread, 1 direct, 2 mmap) in interval `i`.
fn rate(kind: u64, i: usize, repeat: u32) -> f64 {
    let base = match kind {
        0 => 1.0e6,
        1 => 25.0e3,
        _ if i < 6 => 2.0e6,
        // After the cache fills mmap collapses and oscillates, as in the paper.
        _ => 0.5e6 + 0.2e6 * ((i % 3) as f64 - 1.0),
    };
    base * (1.0 + 0.03 * repeat as f64) * (1.0 + 0.02 * ((i * 7 % 5) as f64 - 2.0))
}

fn backend(name: &str, kind: u64, repeat: u32, with_counters: bool) -> BackendResult {
    let block = 4096u64;
    let mut timeseries = Vec::new();
    let mut ops_total = 0;
    let mut device_total = 0;
    for i in 0..12usize {
        let (t_ns, secs) = if i < 11 {
            ((i as u64 + 1) * 1_000_000_000, 1.0)
        } else {
            (11_500_000_000, 0.5)
        };
        let ops = (rate(kind, i, repeat) * secs) as u64;
        ops_total += ops;
        let bytes = ops * block;
        let device = match kind {
            0 => bytes * 11 / 10,
            1 => bytes,
            _ => bytes * 4,
        };
        device_total += device;
        let counters = if with_counters {
            Counters {
                major_faults: Some(if kind == 2 { ops * 9 / 10 } else { 0 }),
                tlb_shootdowns_system: Some(match kind {
                    2 if i >= 7 => (120_000.0 * secs) as u64,
                    2 => 0,
                    _ => (50.0 * secs) as u64,
                }),
                device_read_bytes: Some(device),
                page_cache_bytes_end: Some(
                    1024 * MIB + 500 * MIB * (i.min(5) as u64) + (i as u64 % 2) * MIB,
                ),
                vmstat: Some(BTreeMap::from([
                    ("pgsteal_kswapd".to_string(), if i >= 7 { 1000 } else { 0 }),
                    ("pgscan_kswapd".to_string(), if i >= 6 { 2000 } else { 0 }),
                ])),
                ..Default::default()
            }
        } else {
            Counters::default()
        };
        timeseries.push(Interval {
            t_ns,
            ops,
            bytes,
            histogram: None,
            counters,
        });
    }
    let mut rng = SmallRng::seed_from_u64(kind * 10 + repeat as u64);
    let mut h = new_histogram();
    // The samples in order, filed into the 12 intervals (as the runner files them).
    let mut per: Vec<_> = (0..timeseries.len()).map(|_| new_histogram()).collect();
    for k in 0..20_000usize {
        let ns: f64 = match kind {
            0 => sample(&mut rng, 2_000.0, 0.6),
            1 => sample(&mut rng, 80_000.0, 0.3),
            _ if rng.gen_bool(0.6) => sample(&mut rng, 100.0, 0.3),
            _ => sample(&mut rng, 90_000.0, 0.4),
        };
        let _ = h.record(ns.max(1.0) as u64);
        let n = per.len();
        let _ = per[k * n / 20_000].record(ns.max(1.0) as u64);
    }
    for (iv, ph) in timeseries.iter_mut().zip(&per) {
        iv.histogram = encode_histogram(ph).ok();
    }
    let elapsed_ns = 11_500_000_000u64;
    let (counters, reasons) = if with_counters {
        (
            Counters {
                device_read_bytes: Some(device_total),
                read_amplification: Some(device_total as f64 / (ops_total * block) as f64),
                ..Default::default()
            },
            Reasons::default(),
        )
    } else {
        (Counters::default(), null_reasons())
    };
    BackendResult {
        name: name.into(),
        kind: name.split(':').next().unwrap_or(name).into(),
        status: Status::Ok,
        reason: None,
        threads: 2,
        repeat,
        queue_depth: 1,
        block,
        ops: ops_total,
        bytes: ops_total * block,
        elapsed_ns,
        setup_ns: 0,
        ops_per_sec: ops_total as f64 / 11.5,
        bytes_per_sec: (ops_total * block) as f64 / 11.5,
        verify_errors: Some(0),
        latency_ns: Some(latency_of(&h)),
        histogram: encode_histogram(&h).ok(),
        timeseries,
        notes: vec![],
        counters,
        fault_histogram: None,
        timing: None,
        writes: None,
        io_errors: 0,
        io_error_samples: Vec::new(),
        error_histogram: None,
        regime: None,
        measure_start_unix_s: None,
        stalls: Vec::new(),
        reasons,
    }
}

fn sample(rng: &mut SmallRng, median: f64, sigma: f64) -> f64 {
    LogNormal::new(median.ln(), sigma)
        .map(|d| d.sample(rng))
        .unwrap_or(median)
}

pub fn null_reasons() -> Reasons {
    Reasons::from_iter([
        (
            CounterId::TlbShootdownsSystem,
            "no TLB row in /proc/interrupts on this architecture",
        ),
        (
            CounterId::MajorFaults,
            "perf_event_open denied (perf_event_paranoid=3)",
        ),
        (
            CounterId::DeviceReadBytes,
            "the data file is on tmpfs: no block device",
        ),
        (
            CounterId::PageCacheBytesEnd,
            "meminfo not readable in the test sandbox",
        ),
    ])
}

fn skipped(repeat: u32) -> BackendResult {
    BackendResult {
        name: "mmap:advice=hugepage".into(),
        kind: "mmap".into(),
        status: Status::Skipped,
        reason: Some("no huge pages reserved".into()),
        threads: 2,
        repeat,
        queue_depth: 1,
        block: 4096,
        ops: 0,
        bytes: 0,
        elapsed_ns: 0,
        setup_ns: 0,
        ops_per_sec: 0.0,
        bytes_per_sec: 0.0,
        verify_errors: Some(0),
        latency_ns: None,
        histogram: None,
        timeseries: vec![],
        notes: vec![],
        counters: Counters::default(),
        fault_histogram: None,
        timing: None,
        writes: None,
        io_errors: 0,
        io_error_samples: Vec::new(),
        error_histogram: None,
        regime: None,
        measure_start_unix_s: None,
        stalls: Vec::new(),
        reasons: Reasons::default(),
    }
}

/// A mix workload's record: `pread` and `mmap` with reads, writes and syncs by kind
/// (400 syncs each), and `hugepage` skipped.
pub fn write_run(dir_name: &str) -> Run {
    use crate::record::writes::{DirtySample, KindResult, WriteResult};
    let mut r = record(true);
    r.workload = serde_json::json!({"name": "fixture-mix", "block": 4096, "op": "mix"});
    let mut backends = Vec::new();
    for (i, name) in ["pread", "mmap"].iter().enumerate() {
        let mut b = backend(name, i as u64 * 2, 0, true);
        let mut rng = SmallRng::seed_from_u64(77 + i as u64);
        let kind = |n: u64, median: f64, rng: &mut SmallRng| {
            let mut h = new_histogram();
            for _ in 0..n {
                let _ = h.record(sample(rng, median, 0.5).max(1.0) as u64);
            }
            KindResult {
                ops: n,
                bytes: if median > 1e5 { 0 } else { n * 4096 },
                latency_ns: Some(latency_of(&h)),
                histogram: encode_histogram(&h).ok(),
            }
        };
        let reads = b.ops * 7 / 10;
        let mut w = WriteResult::default();
        w.ops_by_kind
            .insert("read".into(), kind(reads.min(20_000), 2_000.0, &mut rng));
        w.ops_by_kind.get_mut("read").unwrap().ops = reads;
        w.ops_by_kind
            .insert("write".into(), kind(20_000, 5_000.0, &mut rng));
        w.ops_by_kind.get_mut("write").unwrap().ops = b.ops - reads;
        w.ops_by_kind
            .insert("sync".into(), kind(400, 2.0e6 * (i + 1) as f64, &mut rng));
        w.dirty = (0..12)
            .map(|k| DirtySample {
                t_ns: k * 1_000_000_000,
                dirty_bytes: k * 10 * MIB,
                writeback_bytes: MIB,
                cgroup_dirty_bytes: None,
                cgroup_writeback_bytes: None,
            })
            .collect();
        b.writes = Some(w);
        backends.push(b);
    }
    let mut h = skipped(0);
    h.name = "hugepage".into();
    h.kind = "hugepage".into();
    h.reason = Some("read-only backend".into());
    backends.push(h);
    r.backends = backends;
    Run {
        record: r,
        dir_name: dir_name.into(),
    }
}
