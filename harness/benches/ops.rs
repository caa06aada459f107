//! `cargo bench`: what the harness's building blocks cost per operation on this machine.
//!
//! * `read_4k/<backend>`: one 4 KiB `Worker::read` at a random offset of a 16 MiB data
//!   file that is in the page cache (O_DIRECT bypasses the cache: its figure is the
//!   device's). Every spec `backend::open` accepts is measured; the others are printed
//!   as skipped with the reason.
//! * `record/*`: the runner's per-operation bookkeeping (two clock readings, one
//!   histogram sample): with CLOCK_MONOTONIC (`Instant`) and with the clock the runner
//!   uses (`timing::Clock`: the invariant TSC where the kernel trusts it).
//! * `verify/*`: the checksum the runner computes to verify every read.
//! * `page_fault/*`: the first touch of a fresh mapping, per 4 KiB page (and, for the
//!   file, per fault when only one page in 64 KiB is touched).
//!
//! The data file lives in target/tmp/bench-data (created once, then reused). No root.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use faultline::backend::{self, OpenCtx};
use faultline::datafile::{self, page};
use faultline::spec::{self, BackendSpec, Workload};
use memmap2::{Advice, MmapMut};
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

const BLOCK: u64 = 4096;
/// Pages per fresh mapping in the page-fault benches (4 MiB).
const FAULT_PAGES: usize = 1024;
/// Random offsets cycled through by the read benches (a power of two).
const OFFSETS: usize = 1 << 14;

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

/// A 16 MiB workload whose data file lives under target/.
fn workload() -> Workload {
    let mut w = Workload::parse(
        "size = \"16MiB\"\nblock = \"4KiB\"\nthreads = 1\nstart = \"warm\"\n",
        "benches/ops.rs",
        "bench",
    )
    .expect("the bench workload is valid");
    w.data_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-data");
    w
}

fn target(w: &Workload) -> datafile::Target {
    let t = datafile::prepare(w, &faultline::ui::Quiet)
        .expect("create the bench data file under target/");
    datafile::warm_cache(&t).expect("read the bench data file into the page cache");
    t
}

/// Block-aligned pseudo-random offsets over the file.
fn offsets(size: u64) -> Vec<u64> {
    let blocks = size / BLOCK;
    (0..OFFSETS as u64)
        .map(|i| page::mix(i ^ 0x5eed) % blocks * BLOCK)
        .collect()
}

/// The specs to measure: every kind's default, the mmap variants that change the
/// per-operation path, and kinds that other branches are adding (io_uring): they are
/// measured as soon as `backend::open` accepts them, and skipped with the reason until
/// then.
fn specs() -> Vec<String> {
    let mut v: Vec<String> = spec::backend::KINDS
        .iter()
        .map(|k| k.name.to_string())
        .collect();
    for extra in ["mmap:advice=random", "mmap:populate", "uring"] {
        if !v.iter().any(|s| s == extra) {
            v.push(extra.to_string());
        }
    }
    v
}

fn read_4k(c: &mut Criterion) {
    let w = workload();
    let t = target(&w);
    let offs = offsets(t.size);
    let tag = t.verify_tag.expect("generated files verify");
    let ctx = OpenCtx {
        target: &t,
        workload: &w,
        threads: 1,
        db: None,
    };
    let mut g = c.benchmark_group("read_4k");
    g.throughput(Throughput::Elements(1));
    for name in specs() {
        let spec = match BackendSpec::parse(&name) {
            Ok(s) => s,
            Err(e) => {
                println!("read_4k/{name}: skipped: not a backend of this build ({e})");
                continue;
            }
        };
        let be = match backend::open(&spec, &ctx) {
            Ok(backend::Opened::InProcess(b)) => b,
            Ok(backend::Opened::External(_)) => {
                println!("read_4k/{name}: skipped: an external backend has no in-process reads");
                continue;
            }
            Err(e) => {
                println!("read_4k/{name}: skipped: {e:?}");
                continue;
            }
        };
        let mut wk = match be.worker(0) {
            Ok(wk) => wk,
            Err(e) => {
                println!("read_4k/{name}: skipped: {e:?}");
                continue;
            }
        };
        // The bench doubles as a correctness check.
        let fold = wk.read(offs[1]).expect("first read");
        assert_eq!(
            fold,
            page::expected_fold(offs[1], BLOCK, tag),
            "{name} read wrong bytes"
        );
        g.bench_function(name.as_str(), |b| {
            let mut i = 0usize;
            b.iter(|| {
                let off = offs[i & (OFFSETS - 1)];
                i += 1;
                black_box(wk.read(black_box(off)).expect("read"))
            })
        });
    }
    g.finish();
}

fn record(c: &mut Criterion) {
    let mut g = c.benchmark_group("record");
    g.bench_function("clock_pair", |b| {
        b.iter(|| {
            let t0 = Instant::now();
            black_box(t0.elapsed().as_nanos() as u64)
        })
    });
    let clock = faultline::timing::Clock::get();
    g.bench_function(format!("clock_pair_{}", clock.name()), |b| {
        b.iter(|| {
            let t0 = clock.raw();
            black_box(clock.nanos(t0, clock.raw()))
        })
    });
    // Latencies of the size the runner sees, so the samples land in different buckets.
    let values: Vec<u64> = (0..1024u64).map(|i| 50 + page::mix(i) % 200_000).collect();
    let mut h = faultline::record::new_histogram();
    g.bench_function("histogram_record", |b| {
        let mut i = 0usize;
        b.iter(|| {
            h.saturating_record(black_box(values[i & 1023]));
            i += 1;
        })
    });
    let mut h = faultline::record::new_histogram();
    g.bench_function("clock_pair_and_record", |b| {
        b.iter(|| {
            let t0 = Instant::now();
            let ns = t0.elapsed().as_nanos() as u64;
            h.saturating_record(black_box(ns.max(1)));
        })
    });
    g.finish();
}

fn verify(c: &mut Criterion) {
    let tag = page::file_tag(1);
    let mut buf = vec![0u8; 1 << 20];
    for (i, p) in buf.chunks_exact_mut(page::PAGE).enumerate() {
        page::fill_page(p, i as u64, tag);
    }
    let mut g = c.benchmark_group("verify");
    g.bench_function("expected_fold_4k", |b| {
        let mut off = 0u64;
        b.iter(|| {
            off = (off + BLOCK) & ((1 << 30) - 1);
            black_box(page::expected_fold(black_box(off), BLOCK, tag))
        })
    });
    g.bench_function("expected_fold_1m", |b| {
        b.iter(|| black_box(page::expected_fold(black_box(1 << 20), 1 << 20, tag)))
    });
    g.bench_function("fold_headers_4k", |b| {
        b.iter(|| black_box(page::fold_headers(black_box(&buf[..4096]), 0)))
    });
    g.finish();
}

fn page_fault(c: &mut Criterion) {
    let len = FAULT_PAGES * page::PAGE;
    let w = workload();
    let t = target(&w);
    let file = t.open_read().expect("open the bench data file");
    let mut g = c.benchmark_group("page_fault");
    g.throughput(Throughput::Elements(FAULT_PAGES as u64));
    // A fresh private anonymous mapping: the first write allocates and zeroes a page.
    g.bench_function("anon_write_first_touch", |b| {
        b.iter_batched(
            || {
                let m = MmapMut::map_anon(len).expect("anonymous mapping");
                // 4 KiB pages, not one 2 MiB transparent huge page.
                m.advise(Advice::NoHugePage).ok();
                m
            },
            |mut m| {
                for p in 0..FAULT_PAGES {
                    m[p * page::PAGE] = 1;
                }
                m // dropped (munmap) outside the timed part
            },
            BatchSize::PerIteration,
        )
    });
    // A read of a fresh anonymous mapping maps the shared zero page.
    g.bench_function("anon_read_first_touch", |b| {
        b.iter_batched(
            || {
                let m = MmapMut::map_anon(len).expect("anonymous mapping");
                m.advise(Advice::NoHugePage).ok();
                m
            },
            |m| {
                let mut x = 0u8;
                for p in 0..FAULT_PAGES {
                    x ^= m[p * page::PAGE];
                }
                black_box(x);
                m
            },
            BatchSize::PerIteration,
        )
    });
    // A fresh shared mapping of the cached data file: minor faults (the kernel maps up
    // to fault_around_bytes of neighbouring cached pages per fault).
    for (name, advice) in [
        ("file_read_first_touch", Advice::Normal),
        ("file_read_first_touch_random", Advice::Random),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let m = faultline::sys::map_readonly(&file, len, false).expect("map the file");
                    m.advise(advice).ok();
                    m
                },
                |m| {
                    let mut x = 0u8;
                    for p in 0..FAULT_PAGES {
                        x ^= m[p * page::PAGE];
                    }
                    black_box(x);
                    m
                },
                BatchSize::PerIteration,
            )
        });
    }
    // One touch per 64 KiB: the cost of one minor fault including the neighbouring
    // pages fault-around maps with it (the per-page figures above divide it by 16).
    const STRIDE: usize = 16;
    g.throughput(Throughput::Elements((FAULT_PAGES / STRIDE) as u64));
    g.bench_function("file_read_fault_per_64k", |b| {
        b.iter_batched(
            || faultline::sys::map_readonly(&file, len, false).expect("map the file"),
            |m| {
                let mut x = 0u8;
                for p in (0..FAULT_PAGES).step_by(STRIDE) {
                    x ^= m[p * page::PAGE];
                }
                black_box(x);
                m
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = read_4k, record, verify, page_fault
}
criterion_main!(benches);
