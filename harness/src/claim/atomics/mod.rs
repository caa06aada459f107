//! Claim: "Atomics in a shared mapped file work across processes."
//!
//! N processes (this binary re-run with hidden `--child-rank`) map a file the harness
//! creates and each add 1 to each of K u64 counters in it `--increments` times with
//! atomic fetch_add; the same is done by N threads of one process on the same kind of
//! mapping, and on heap memory. The final counts must be exactly N x increments per
//! counter; any difference is a failure. Two layouts: `--counters` K packed in adjacent
//! words (K = 1: every increment contends for one cache line) and `--spread-counters`
//! on separate cache lines. `--control` adds a variant that increments with a plain
//! load and store (not atomic as a whole), to show that the check catches lost updates.

use super::{median, ClaimRecord};
use crate::env::Environment;
use crate::sys::process::monotonic_ns;
use crate::sys::shared_map::AtomicMap;
use crate::{interrupt, units};
use anyhow::{bail, Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub const STATEMENT: &str = "Atomics in a shared mapped file work across processes";

/// Word indices of the control block in the file's first page.
const READY: usize = 0;
const GO: usize = 8;
const DONE: usize = 16;
const ABORT: usize = 24;
/// Counters start at the second page.
const FIRST_COUNTER: usize = 512;
const CACHE_LINE: u64 = 64;

#[derive(Debug, Args)]
#[command(
    about = "N processes vs N threads incrementing u64 counters in a shared file mapping \
             (and threads on heap memory) with atomic fetch_add: ops/s, and final counts \
             that must be exact",
    after_help = "Examples:\n  faultline claim atomics                         2 processes, 1 contended counter and 16 spread ones\n  \
faultline claim atomics --procs 4 --increments 5000000 --control"
)]
pub struct AtomicsArgs {
    /// Processes (and threads, in the thread variants).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub procs: u32,

    /// Counters packed in adjacent u64 words (1: every increment contends for one cache line).
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub counters: u32,

    /// Also run with this many counters, each on its own 64-byte cache line (0: skip).
    #[arg(long, value_name = "K", default_value_t = 16)]
    pub spread_counters: u32,

    /// Increments of every counter by every process or thread.
    #[arg(long, value_name = "N", default_value_t = 5_000_000)]
    pub increments: u64,

    /// Runs per variant; the order of the variants rotates each time.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub repeats: u32,

    /// Add a control variant whose processes increment with a separate load and store:
    /// it is expected to lose updates (reported, not a failure).
    #[arg(long)]
    pub control: bool,

    /// Directory for the counter files the harness creates and removes (default faultline-data/).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Result directory (must not exist). Default: results/claims/atomics/<UTC time>-<host>/.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// No per-run lines; the table and the result path still print.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Internal: run as worker process RANK on --file and print its time as JSON.
    #[arg(long, hide = true, value_name = "RANK", requires = "file")]
    pub child_rank: Option<u32>,

    /// Internal: the counter file of a --child-rank worker.
    #[arg(long, hide = true, value_name = "PATH", requires = "child_rank")]
    pub file: Option<PathBuf>,

    /// Internal: bytes between counters (8 packed, 64 spread).
    #[arg(long, hide = true, value_name = "BYTES", default_value_t = 8)]
    pub stride: u64,

    /// Internal: increment with load + store instead of fetch_add.
    #[arg(long, hide = true)]
    pub racy: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// N processes, one shared file mapping each (the claim).
    Processes,
    /// N threads of one process on one shared file mapping.
    ThreadsMapped,
    /// N threads of one process on heap memory.
    ThreadsHeap,
    /// Control: N processes incrementing with a plain load and store.
    ProcessesLoadStore,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::Processes => "processes",
            Variant::ThreadsMapped => "threads-mapped",
            Variant::ThreadsHeap => "threads-heap",
            Variant::ProcessesLoadStore => "processes-load-store",
        }
    }

    pub fn is_control(self) -> bool {
        self == Variant::ProcessesLoadStore
    }
}

/// Counters and the bytes between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Layout {
    pub counters: u64,
    pub stride: u64,
}

impl Layout {
    pub fn name(&self) -> String {
        match (self.counters, self.stride) {
            (1, _) => "1 counter".into(),
            (k, s) if s >= CACHE_LINE => format!("{k} counters, 1 per cache line"),
            (k, _) => format!("{k} counters, packed"),
        }
    }

    fn stride_words(&self) -> usize {
        (self.stride / 8) as usize
    }

    /// Bytes of the counter file: the control page plus the counters, in whole pages.
    pub fn file_len(&self) -> u64 {
        4096 + (self.counters * self.stride).div_ceil(4096) * 4096
    }

    /// The word index of every counter, in the order worker `rank` of `workers` visits
    /// them (rotated so workers start on different counters), relative to `first`.
    pub fn order(&self, rank: u32, workers: u32, first: usize) -> Vec<usize> {
        let k = self.counters as usize;
        let start = (rank as usize * k) / workers.max(1) as usize;
        (0..k)
            .map(|j| first + ((start + j) % k) * self.stride_words())
            .collect()
    }
}

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

/// One run of one variant.
#[derive(Debug, Clone, Serialize)]
pub struct RunMeasure {
    pub repeat: u32,
    pub ok: bool,
    pub error: Option<String>,
    /// Increments done in total (workers x counters x increments).
    pub ops: u64,
    /// From the first worker's first increment to the last worker's last one.
    pub span_ns: u64,
    /// Each worker's own time for its increments.
    pub worker_elapsed_ns: Vec<u64>,
    /// Sum of the workers' times / (workers x span): 1 when they all ran together the
    /// whole time, 1/workers when they ran one after the other (a busy machine).
    pub overlap: f64,
    /// ops / span.
    pub ops_per_sec: f64,
    /// Final value of every counter.
    pub counts: Vec<u64>,
    pub expected: u64,
    pub exact: bool,
    /// Expected total minus the actual total (updates lost).
    pub lost: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct VariantResult {
    pub layout: Layout,
    pub variant: Variant,
    pub runs: Vec<RunMeasure>,
    pub ok_runs: u32,
    pub median_ops_per_sec: Option<f64>,
    /// Per worker: nanoseconds per increment at the median.
    pub median_ns_per_op: Option<f64>,
    /// Median of the runs' overlap (see RunMeasure::overlap).
    pub median_overlap: Option<f64>,
    pub min_count: Option<u64>,
    pub max_count: Option<u64>,
    pub expected: u64,
    pub all_exact: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Params {
    pub procs: u32,
    pub increments: u64,
    pub repeats: u32,
    pub layouts: Vec<Layout>,
    pub control: bool,
    pub dir: PathBuf,
    pub ordering: String,
}

fn child(a: &AtomicsArgs, rank: u32, file: &Path) -> Result<i32> {
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

/// `faultline claim atomics`.
pub fn run(a: &AtomicsArgs) -> Result<i32> {
    if let Some(rank) = a.child_rank {
        let Some(file) = a.file.as_deref() else {
            bail!("--child-rank needs --file (both are internal: the parent passes them)");
        };
        return child(a, rank, file);
    }
    interrupt::install().context("cannot install the Ctrl-C handler")?;
    if a.procs == 0 || a.procs > 256 {
        bail!("--procs {}: use 1 to 256", a.procs);
    }
    if a.counters == 0 || a.counters > 1 << 20 {
        bail!("--counters {}: use 1 to 1048576", a.counters);
    }
    if a.spread_counters > 1 << 16 {
        bail!("--spread-counters {}: use 0 to 65536", a.spread_counters);
    }
    if a.increments == 0 {
        bail!("--increments 0: use at least 1");
    }
    if a.repeats == 0 {
        bail!("--repeats 0: use at least 1");
    }
    let total = a.procs as u128 * a.increments as u128 * a.counters.max(a.spread_counters) as u128;
    if total > u64::MAX as u128 / 2 {
        bail!("--procs x --increments x counters is too large; use fewer increments");
    }
    let dir = super::work_dir(&a.dir, "--dir")?;
    let mut layouts = vec![Layout {
        counters: a.counters as u64,
        stride: 8,
    }];
    if a.spread_counters > 0 {
        layouts.push(Layout {
            counters: a.spread_counters as u64,
            stride: CACHE_LINE,
        });
    }
    let mut variants = vec![
        Variant::Processes,
        Variant::ThreadsMapped,
        Variant::ThreadsHeap,
    ];
    if a.control {
        variants.push(Variant::ProcessesLoadStore);
    }
    let exe = super::self_exe()?;
    let started_at = super::now();
    let out = super::reserve_dir(a.out.as_deref(), "atomics", &started_at)?;
    let env = Environment::collect(&dir);
    let params = Params {
        procs: a.procs,
        increments: a.increments,
        repeats: a.repeats,
        layouts: layouts.clone(),
        control: a.control,
        dir: dir.clone(),
        ordering: "fetch_add(1, Relaxed) (lock xadd on x86-64); the control uses load + store"
            .into(),
    };
    if !a.quiet {
        eprintln!(
            "faultline claim atomics: {} worker(s) x {} increments per counter; {}; files in {} ({})",
            a.procs,
            a.increments,
            layouts.iter().map(|l| l.name()).collect::<Vec<_>>().join(" / "),
            dir.display(),
            env.fs_type.as_deref().unwrap_or("?")
        );
    }
    let mut rec: ClaimRecord<Params, VariantResult> =
        ClaimRecord::new("atomics", STATEMENT, env, params, started_at);
    let mut interrupted = false;
    let mut runs: Vec<(Layout, Variant, RunMeasure)> = Vec::new();
    let mut seq = 0usize;
    'all: for layout in &layouts {
        for repeat in 0..a.repeats {
            let n = variants.len();
            for k in 0..n {
                if interrupt::requested() {
                    interrupted = true;
                    break 'all;
                }
                let v = variants[(k + repeat as usize) % n];
                let m = measure(a, &exe, &dir, *layout, v, repeat, seq);
                seq += 1;
                if !a.quiet {
                    eprintln!("  {}", run_line(layout, v, &m));
                }
                runs.push((*layout, v, m));
            }
        }
    }
    for layout in &layouts {
        for &v in &variants {
            let rs: Vec<RunMeasure> = runs
                .iter()
                .filter(|(l, rv, _)| l == layout && *rv == v)
                .map(|(_, _, m)| m.clone())
                .collect();
            if !rs.is_empty() {
                rec.variants.push(aggregate(*layout, v, a.procs, rs));
            }
        }
    }
    for (l, v, m) in &runs {
        if let Some(e) = &m.error {
            rec.failures.push(format!(
                "{} / {} run {}: {e}",
                l.name(),
                v.name(),
                m.repeat + 1
            ));
        } else if !m.exact && !v.is_control() {
            rec.failures.push(format!(
                "{} / {} run {}: counts are not exact: {} updates lost (counts {}..{}, expected {} each)",
                l.name(),
                v.name(),
                m.repeat + 1,
                m.lost,
                m.counts.iter().min().unwrap_or(&0),
                m.counts.iter().max().unwrap_or(&0),
                m.expected
            ));
        }
    }
    rec.complete = !interrupted;
    rec.finished_at = super::now();
    let table = table(&rec.variants);
    let summary = summary(&rec, &table);
    super::conclude(out, &rec, &table, &summary, interrupted, "run(s) failed")
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

fn measure(
    a: &AtomicsArgs,
    exe: &Path,
    dir: &Path,
    layout: Layout,
    v: Variant,
    repeat: u32,
    seq: usize,
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
fn with_counter_file<T>(
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
fn threads_on(
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

fn threads_heap(a: &AtomicsArgs, layout: Layout) -> Result<(Vec<Window>, Vec<u64>)> {
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
        match super::spawn_child(cmd) {
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
        match super::collect_child(c) {
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

fn aggregate(layout: Layout, v: Variant, workers: u32, runs: Vec<RunMeasure>) -> VariantResult {
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

fn run_line(l: &Layout, v: Variant, m: &RunMeasure) -> String {
    match &m.error {
        Some(e) => format!(
            "{:<30} {:<21} #{} FAILED: {e}",
            l.name(),
            v.name(),
            m.repeat + 1
        ),
        None => format!(
            "{:<30} {:<21} #{} {:>9} ops/s  overlap {:.2}  counts {}",
            l.name(),
            v.name(),
            m.repeat + 1,
            units::format_count(m.ops_per_sec),
            m.overlap,
            if m.exact {
                format!("exact ({} each)", m.expected)
            } else {
                format!("NOT exact: {} lost", m.lost)
            }
        ),
    }
}

const HEAD: [&str; 9] = [
    "counters",
    "variant",
    "runs",
    "ops/s",
    "ns/op/worker",
    "overlap",
    "final counts",
    "expected",
    "status",
];

fn rows(vs: &[VariantResult]) -> Vec<Vec<String>> {
    vs.iter()
        .map(|r| {
            let counts = match (r.min_count, r.max_count) {
                (Some(a), Some(b)) if a == b => a.to_string(),
                (Some(a), Some(b)) => format!("{a}..{b}"),
                _ => "-".into(),
            };
            let lost: i64 = r.runs.iter().filter(|m| m.ok).map(|m| m.lost).sum();
            vec![
                r.layout.name(),
                r.variant.name().to_string(),
                format!("{}/{}", r.ok_runs, r.runs.len()),
                r.median_ops_per_sec
                    .map(units::format_count)
                    .unwrap_or_else(|| "-".into()),
                r.median_ns_per_op
                    .map(|n| format!("{n:.1}"))
                    .unwrap_or_else(|| "-".into()),
                r.median_overlap
                    .map(|o| format!("{o:.2}"))
                    .unwrap_or_else(|| "-".into()),
                counts,
                r.expected.to_string(),
                if r.ok_runs as usize != r.runs.len() {
                    "FAILED".into()
                } else if r.all_exact {
                    "exact".into()
                } else if r.variant.is_control() {
                    format!("lost {lost} (control)")
                } else {
                    format!("MISMATCH: lost {lost}")
                },
            ]
        })
        .collect()
}

pub fn table(vs: &[VariantResult]) -> String {
    super::table(&HEAD, &rows(vs), 2)
}

fn md_table(vs: &[VariantResult]) -> String {
    super::md_table(&HEAD, rows(vs))
}

pub fn summary(rec: &ClaimRecord<Params, VariantResult>, table: &str) -> String {
    let p = &rec.parameters;
    let mut s = String::new();
    s.push_str(&super::summary_header("atomics", rec));
    let _ = writeln!(
        s,
        "{} workers each added 1 to every counter {} times ({}). Expected final value of every counter: {}. ops/s = all increments / the span from the first worker's first increment to the last worker's last (CLOCK_MONOTONIC, comparable across processes); ns/op/worker = workers / ops/s; overlap = the workers' summed busy time / (workers x span): 1.00 when they incremented at the same time throughout, 1/workers when one ran after the other (contention then is not measured; a busy machine does that).\n",
        p.procs,
        p.increments,
        p.ordering,
        p.procs as u64 * p.increments
    );
    let _ = writeln!(s, "{}", md_table(&rec.variants));
    let _ = writeln!(s, "```\n{}```\n", table);
    if !rec.failures.is_empty() {
        let _ = writeln!(s, "**Failures:**\n");
        for f in &rec.failures {
            let _ = writeln!(s, "* {f}");
        }
        s.push('\n');
    }
    let _ = writeln!(s, "## Verdict\n");
    let claim_vs: Vec<&VariantResult> = rec
        .variants
        .iter()
        .filter(|v| v.variant == Variant::Processes)
        .collect();
    if claim_vs.is_empty() {
        let _ = writeln!(s, "The process variant did not run.");
    } else if claim_vs.iter().all(|v| v.all_exact) {
        let _ = writeln!(
            s,
            "Atomic increments through a shared file mapping were exact across {} processes in every run ({}): the claim holds here. It holds because a MAP_SHARED mapping of one file puts the same physical page-cache pages in every process, and a locked read-modify-write on them is atomic in hardware whoever issues it; the file adds nothing but the name.",
            p.procs,
            claim_vs
                .iter()
                .map(|v| v.layout.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
    } else {
        let _ = writeln!(
            s,
            "The process variant did NOT produce exact counts in every run: see the failures above."
        );
    }
    for l in &p.layouts {
        let get = |v: Variant| {
            rec.variants
                .iter()
                .find(|r| r.layout == *l && r.variant == v)
                .and_then(|r| r.median_ops_per_sec)
        };
        if let (Some(pr), Some(tm), Some(th)) = (
            get(Variant::Processes),
            get(Variant::ThreadsMapped),
            get(Variant::ThreadsHeap),
        ) {
            let _ = writeln!(
                s,
                "* {}: processes {} ops/s, threads on the mapping {} ops/s ({:.2}x processes), threads on the heap {} ops/s ({:.2}x).",
                l.name(),
                units::format_count(pr),
                units::format_count(tm),
                tm / pr,
                units::format_count(th),
                th / pr
            );
        }
    }
    if let Some(c) = rec
        .variants
        .iter()
        .find(|v| v.variant == Variant::ProcessesLoadStore)
    {
        let lost: i64 = c.runs.iter().map(|r| r.lost).sum();
        let _ = writeln!(
            s,
            "* Control (load + store instead of fetch_add, processes): {}",
            if lost > 0 {
                format!(
                    "{lost} updates lost over its runs: the check does catch non-atomic increments"
                )
            } else {
                "no update was lost this time; with few overlapping increments a race can go unseen, so this run does not show the check catching one".into()
            }
        );
    }
    let _ = writeln!(
        s,
        "\nWhat the claim does not cover: the counters are only as durable as the page cache (nothing here calls msync); atomicity holds for naturally aligned 8-byte words on the same machine, not across machines sharing a network file system; and a process that dies mid-update leaves no torn counter, but any multi-word invariant has no such protection."
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_orders_and_sizes() {
        let l = Layout {
            counters: 4,
            stride: 64,
        };
        assert_eq!(l.order(0, 2, 100), vec![100, 108, 116, 124]);
        assert_eq!(l.order(1, 2, 100), vec![116, 124, 100, 108]);
        assert_eq!(l.file_len(), 8192);
        let one = Layout {
            counters: 1,
            stride: 8,
        };
        assert_eq!(one.order(3, 4, 512), vec![512]);
        assert_eq!(one.name(), "1 counter");
        assert_eq!(
            Layout {
                counters: 1000,
                stride: 8
            }
            .file_len(),
            4096 + 8192
        );
    }

    #[test]
    fn threads_count_exactly_on_heap_and_mapping() {
        let a = AtomicsArgs {
            procs: 3,
            counters: 5,
            spread_counters: 0,
            increments: 2000,
            repeats: 1,
            control: false,
            dir: None,
            out: None,
            quiet: true,
            child_rank: None,
            file: None,
            stride: 8,
            racy: false,
        };
        for stride in [8, 64] {
            let l = Layout {
                counters: 5,
                stride,
            };
            let (t, c) = threads_heap(&a, l).unwrap();
            assert_eq!(t.len(), 3);
            assert_eq!(c, vec![6000; 5]);
            let d = tempfile::tempdir().unwrap();
            let (_, c) =
                with_counter_file(&d.path().join("c"), l, |m| threads_on(m.words(), &a, l))
                    .unwrap();
            assert_eq!(c, vec![6000; 5]);
        }
    }

    #[test]
    fn hammer_racy_is_plain_increment_single_threaded() {
        let w: Vec<AtomicU64> = (0..4).map(|_| AtomicU64::new(0)).collect();
        hammer(&w, &[1, 3], 10, true);
        hammer(&w, &[1], 5, false);
        let v: Vec<u64> = w.iter().map(|x| x.load(Ordering::SeqCst)).collect();
        assert_eq!(v, vec![0, 15, 0, 10]);
    }
}
