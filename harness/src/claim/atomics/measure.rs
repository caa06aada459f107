//! The measurement of the atomics claim: the worker processes and threads, the counter
//! file, and the aggregation of runs.

use super::{
    AtomicsArgs, Layout, RunMeasure, Variant, VariantResult, ABORT, CACHE_LINE, DONE,
    FIRST_COUNTER, GO, READY,
};
use crate::claim::median;
use crate::sys::process::monotonic_ns;
use crate::sys::shared_map::AtomicMap;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fs::OpenOptions;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Add 1 to every word in `order`, `increments` times. Relaxed ordering: atomicity of
/// each read-modify-write does not depend on the ordering, and nothing else is
/// published through these counters. `racy`: a separate load and store (black_box
/// between them, so the compiler cannot merge iterations), which loses updates when
/// workers overlap.
pub fn hammer(words: &[AtomicU64], order: &[usize], increments: u64, racy: bool) {
    if racy {
        for _ in 0..increments {
            for &w in order {
                let v = std::hint::black_box(words[w].load(Ordering::Relaxed));
                words[w].store(v + 1, Ordering::Relaxed);
            }
        }
    } else {
        for _ in 0..increments {
            for &w in order {
                words[w].fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// What a worker process prints: when it started and finished its increments
/// (CLOCK_MONOTONIC, comparable with the parent's and the other workers').
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildReport {
    pub rank: u32,
    pub start_ns: u64,
    pub end_ns: u64,
}

/// One worker's increments: start and end on CLOCK_MONOTONIC.
pub type Window = (u64, u64);

/// Earliest start to latest end, and how much the workers ran at the same time: the
/// sum of their busy times over workers x span (1: all the time together; 1/workers:
/// one after the other).
pub fn span_and_overlap(w: &[Window]) -> (u64, f64) {
    let start = w.iter().map(|x| x.0).min().unwrap_or(0);
    let end = w.iter().map(|x| x.1).max().unwrap_or(0);
    let span = end.saturating_sub(start);
    let busy: u64 = w.iter().map(|x| x.1.saturating_sub(x.0)).sum();
    let overlap = if span > 0 && !w.is_empty() {
        busy as f64 / (w.len() as f64 * span as f64)
    } else {
        0.0
    };
    (span, overlap)
}

pub(super) fn child(a: &AtomicsArgs, rank: u32, file: &Path) -> Result<i32> {
    let layout = Layout {
        counters: a.counters as u64,
        stride: a.stride,
    };
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .with_context(|| format!("cannot open {}", file.display()))?;
    let map = AtomicMap::new(&f, layout.file_len() as usize)
        .with_context(|| format!("cannot map {}", file.display()))?;
    let w = map.words();
    let order = layout.order(rank, a.procs, FIRST_COUNTER);
    if order.last().is_some_and(|&i| i >= w.len()) {
        bail!(
            "the counter file is too small for {} counters",
            layout.counters
        );
    }
    w[READY].fetch_add(1, Ordering::SeqCst);
    let waited = Instant::now();
    while w[GO].load(Ordering::Acquire) == 0 {
        if w[ABORT].load(Ordering::Acquire) != 0 {
            bail!("the parent aborted the run");
        }
        if waited.elapsed() > Duration::from_secs(60) {
            bail!("no start signal from the parent within 60 s");
        }
        std::thread::yield_now();
    }
    let start_ns = monotonic_ns();
    hammer(w, &order, a.increments, a.racy);
    let end_ns = monotonic_ns();
    w[DONE].fetch_add(1, Ordering::SeqCst);
    println!(
        "{}",
        serde_json::to_string(&ChildReport {
            rank,
            start_ns,
            end_ns
        })?
    );
    Ok(0)
}

fn empty_run(repeat: u32, expected: u64) -> RunMeasure {
    RunMeasure {
        repeat,
        ok: false,
        error: None,
        ops: 0,
        span_ns: 0,
        worker_elapsed_ns: Vec::new(),
        overlap: 0.0,
        ops_per_sec: 0.0,
        counts: Vec::new(),
        expected,
        exact: false,
        lost: 0,
    }
}

pub(super) fn measure(
    a: &AtomicsArgs,
    exe: &Path,
    dir: &Path,
    layout: Layout,
    v: Variant,
    repeat: u32,
    seq: u32,
) -> RunMeasure {
    let expected = a.procs as u64 * a.increments;
    let mut m = empty_run(repeat, expected);
    let result = match v {
        Variant::ThreadsHeap => threads_heap(a, layout),
        _ => {
            let path = dir.join(format!(
                "faultline-atomics-{}-{seq}.dat",
                std::process::id()
            ));
            let r = with_counter_file(&path, layout, |map| match v {
                Variant::ThreadsMapped => threads_on(map.words(), a, layout),
                _ => processes(a, exe, &path, map, layout, v == Variant::ProcessesLoadStore),
            });
            let _ = std::fs::remove_file(&path);
            r
        }
    };
    match result {
        Ok((windows, counts)) => {
            let (span, overlap) = span_and_overlap(&windows);
            m.span_ns = span;
            m.overlap = overlap;
            m.worker_elapsed_ns = windows.iter().map(|w| w.1.saturating_sub(w.0)).collect();
            m.ops = expected * layout.counters;
            if span > 0 {
                m.ops_per_sec = m.ops as f64 / (span as f64 / 1e9);
            }
            let sum: u128 = counts.iter().map(|&c| c as u128).sum();
            m.lost = (m.ops as i128 - sum as i128) as i64;
            m.exact =
                counts.len() as u64 == layout.counters && counts.iter().all(|&c| c == expected);
            m.counts = counts;
            m.ok = true;
        }
        Err(e) => m.error = Some(format!("{e:#}")),
    }
    m
}

/// Create the counter file (create_new, zeroed), map it, run `f`, return its result.
/// The caller removes the file.
pub(super) fn with_counter_file<T>(
    path: &Path,
    layout: Layout,
    f: impl FnOnce(&AtomicMap) -> Result<T>,
) -> Result<T> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.set_len(layout.file_len())
        .with_context(|| format!("cannot size {}", path.display()))?;
    let map = AtomicMap::new(&file, layout.file_len() as usize)
        .with_context(|| format!("cannot map {}", path.display()))?;
    f(&map)
}

fn read_counts(words: &[AtomicU64], layout: Layout, first: usize) -> Vec<u64> {
    (0..layout.counters as usize)
        .map(|c| words[first + c * layout.stride_words()].load(Ordering::SeqCst))
        .collect()
}

/// N threads of this process on `words`; returns each thread's time and the counts.
pub(super) fn threads_on(
    words: &[AtomicU64],
    a: &AtomicsArgs,
    layout: Layout,
) -> Result<(Vec<Window>, Vec<u64>)> {
    threads_at(words, a, layout, FIRST_COUNTER)
}

fn threads_at(
    words: &[AtomicU64],
    a: &AtomicsArgs,
    layout: Layout,
    first: usize,
) -> Result<(Vec<Window>, Vec<u64>)> {
    let n = a.procs;
    let barrier = std::sync::Barrier::new(n as usize);
    let times: Vec<Option<Window>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..n)
            .map(|rank| {
                let order = layout.order(rank, n, first);
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let t0 = monotonic_ns();
                    hammer(words, &order, a.increments, false);
                    (t0, monotonic_ns())
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().ok()).collect()
    });
    let Some(times) = times.into_iter().collect::<Option<Vec<Window>>>() else {
        bail!("a worker thread panicked");
    };
    Ok((times, read_counts(words, layout, first)))
}

pub(super) fn threads_heap(a: &AtomicsArgs, layout: Layout) -> Result<(Vec<Window>, Vec<u64>)> {
    // Room for the counters plus one cache line, so they can start on a line boundary
    // like the mapping's.
    let words_needed = layout.counters as usize * layout.stride_words() + 8;
    let heap: Vec<AtomicU64> = (0..words_needed).map(|_| AtomicU64::new(0)).collect();
    let misalign = heap.as_ptr() as usize % CACHE_LINE as usize;
    let first = if misalign == 0 {
        0
    } else {
        (CACHE_LINE as usize - misalign) / 8
    };
    threads_at(&heap, a, layout, first)
}

fn processes(
    a: &AtomicsArgs,
    exe: &Path,
    path: &Path,
    map: &AtomicMap,
    layout: Layout,
    racy: bool,
) -> Result<(Vec<Window>, Vec<u64>)> {
    let w = map.words();
    let mut children = Vec::new();
    let mut spawn_err = None;
    for rank in 0..a.procs {
        let mut cmd = std::process::Command::new(exe);
        cmd.args([
            "claim",
            "atomics",
            "--child-rank",
            &rank.to_string(),
            "--file",
        ])
        .arg(path)
        .args([
            "--counters",
            &layout.counters.to_string(),
            "--stride",
            &layout.stride.to_string(),
            "--increments",
            &a.increments.to_string(),
            "--procs",
            &a.procs.to_string(),
        ]);
        if racy {
            cmd.arg("--racy");
        }
        match crate::claim::spawn_child(cmd) {
            Ok(c) => children.push(c),
            Err(e) => {
                spawn_err = Some(e);
                break;
            }
        }
    }
    let mut start_err = spawn_err.map(|e| format!("{e:#}"));
    if start_err.is_none() {
        let t0 = Instant::now();
        while w[READY].load(Ordering::SeqCst) < a.procs as u64 {
            if t0.elapsed() > Duration::from_secs(30) {
                start_err = Some(format!(
                    "only {} of {} worker processes were ready after 30 s",
                    w[READY].load(Ordering::SeqCst),
                    a.procs
                ));
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    if start_err.is_some() {
        w[ABORT].store(1, Ordering::SeqCst);
    } else {
        w[GO].store(1, Ordering::Release);
    }
    let mut times = Vec::new();
    let mut errors = Vec::new();
    for c in children {
        match crate::claim::collect_child(c) {
            Ok(run) => match run.failure() {
                Some(f) => errors.push(f),
                None => match run.report::<ChildReport>() {
                    Ok(r) => times.push((r.start_ns, r.end_ns)),
                    Err(e) => errors.push(format!("{e:#}")),
                },
            },
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if let Some(e) = start_err {
        bail!("{e}");
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("; "));
    }
    if w[DONE].load(Ordering::SeqCst) != a.procs as u64 {
        bail!("not every worker process reported completion");
    }
    Ok((times, read_counts(w, layout, FIRST_COUNTER)))
}

pub(super) fn aggregate(
    layout: Layout,
    v: Variant,
    workers: u32,
    runs: Vec<RunMeasure>,
) -> VariantResult {
    let ok: Vec<&RunMeasure> = runs.iter().filter(|r| r.ok).collect();
    let rates: Vec<f64> = ok.iter().map(|r| r.ops_per_sec).collect();
    let med = median(&rates);
    let all: Vec<u64> = ok.iter().flat_map(|r| r.counts.iter().copied()).collect();
    VariantResult {
        layout,
        variant: v,
        ok_runs: ok.len() as u32,
        median_ops_per_sec: med,
        median_ns_per_op: med.filter(|&r| r > 0.0).map(|r| workers as f64 * 1e9 / r),
        median_overlap: median(&ok.iter().map(|r| r.overlap).collect::<Vec<_>>()),
        min_count: all.iter().copied().min(),
        max_count: all.iter().copied().max(),
        expected: runs.first().map(|r| r.expected).unwrap_or(0),
        all_exact: !ok.is_empty() && ok.len() == runs.len() && ok.iter().all(|r| r.exact),
        runs,
    }
}
