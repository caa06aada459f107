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

mod measure;
mod report;

pub use measure::{hammer, span_and_overlap, ChildReport, Window};

use super::{ClaimRecord, CommonClaimArgs};
use crate::env::Environment;
use crate::interrupt;
use anyhow::{bail, Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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

    /// Add a control variant whose processes increment with a separate load and store:
    /// it is expected to lose updates (reported, not a failure).
    #[arg(long)]
    pub control: bool,

    #[command(flatten)]
    pub common: CommonClaimArgs,

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

/// `faultline claim atomics`.
pub fn run(a: &AtomicsArgs) -> Result<i32> {
    if let Some(rank) = a.child_rank {
        let Some(file) = a.file.as_deref() else {
            bail!("--child-rank needs --file (both are internal: the parent passes them)");
        };
        return measure::child(a, rank, file);
    }
    interrupt::install().context("cannot install the Ctrl-C handler")?;
    let repeats = validate(a)?;
    let dir = a.common.data_dir()?;
    let layouts = layouts(a);
    let variants = variants(a);
    let exe = super::self_exe()?;
    let started_at = super::now();
    let out = super::reserve_dir(a.common.out.as_deref(), "atomics", &started_at)?;
    let env = Environment::collect(&dir);
    if !a.common.quiet {
        eprintln!(
            "faultline claim atomics: {} worker(s) x {} increments per counter; {}; files in {} ({})",
            a.procs,
            a.increments,
            layouts.iter().map(|l| l.name()).collect::<Vec<_>>().join(" / "),
            dir.display(),
            env.fs_type.as_deref().unwrap_or("?")
        );
    }
    let params = Params {
        procs: a.procs,
        increments: a.increments,
        repeats,
        layouts: layouts.clone(),
        control: a.control,
        dir: dir.clone(),
        ordering: "fetch_add(1, Relaxed) (lock xadd on x86-64); the control uses load + store"
            .into(),
    };
    let mut rec = ClaimRecord::new("atomics", STATEMENT, env, params, started_at);
    let rounds = layouts
        .iter()
        .flat_map(|&l| (0..repeats).map(move |r| (l, r)));
    let (runs, interrupted) = super::sweep(rounds, &variants, |l, v, repeat, order| {
        let m = measure::measure(a, &exe, &dir, l, v, repeat, order);
        if !a.common.quiet {
            eprintln!("  {}", report::run_line(&l, v, &m));
        }
        Some(m)
    });
    for l in &layouts {
        for v in &variants {
            let rs = super::runs_of(&runs, l, v);
            if !rs.is_empty() {
                rec.variants.push(measure::aggregate(*l, *v, a.procs, rs));
            }
        }
    }
    rec.failures = runs
        .iter()
        .filter_map(|(l, v, m)| failure(l, *v, m))
        .collect();
    super::finish(out, rec, interrupted, "run(s) failed", |rec| {
        let t = report::table(&rec.variants);
        let printed = t.to_text();
        let summary = report::summary(rec, &t, &printed);
        (printed, summary)
    })
}

/// Check the arguments; returns the number of repeats.
fn validate(a: &AtomicsArgs) -> Result<u32> {
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
    let repeats = a.common.repeats_or(3)?;
    let total = a.procs as u128 * a.increments as u128 * a.counters.max(a.spread_counters) as u128;
    if total > u64::MAX as u128 / 2 {
        bail!("--procs x --increments x counters is too large; use fewer increments");
    }
    Ok(repeats)
}

fn layouts(a: &AtomicsArgs) -> Vec<Layout> {
    let packed = Layout {
        counters: a.counters as u64,
        stride: 8,
    };
    let spread = Layout {
        counters: a.spread_counters as u64,
        stride: CACHE_LINE,
    };
    std::iter::once(packed)
        .chain((a.spread_counters > 0).then_some(spread))
        .collect()
}

fn variants(a: &AtomicsArgs) -> Vec<Variant> {
    let mut v = vec![
        Variant::Processes,
        Variant::ThreadsMapped,
        Variant::ThreadsHeap,
    ];
    if a.control {
        v.push(Variant::ProcessesLoadStore);
    }
    v
}

/// Why one run counts as failed: an error, or inexact counts outside the control.
fn failure(l: &Layout, v: Variant, m: &RunMeasure) -> Option<String> {
    let what = format!("{} / {} run {}", l.name(), v.name(), m.repeat + 1);
    if let Some(e) = &m.error {
        return Some(format!("{what}: {e}"));
    }
    (!m.exact && !v.is_control()).then(|| {
        format!(
            "{what}: counts are not exact: {} updates lost (counts {}..{}, expected {} each)",
            m.lost,
            m.counts.iter().min().unwrap_or(&0),
            m.counts.iter().max().unwrap_or(&0),
            m.expected
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

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
            control: false,
            common: CommonClaimArgs::default(),
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
            let (t, c) = measure::threads_heap(&a, l).unwrap();
            assert_eq!(t.len(), 3);
            assert_eq!(c, vec![6000; 5]);
            let d = tempfile::tempdir().unwrap();
            let (_, c) = measure::with_counter_file(&d.path().join("c"), l, |m| {
                measure::threads_on(m.words(), &a, l)
            })
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
