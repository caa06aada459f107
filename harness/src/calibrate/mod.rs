//! `faultline calibrate`: the cost of the primitives the mmap argument is made of, on
//! this machine. Each primitive is measured `reps` times (at least 5); the record keeps
//! the median, min and max of the per-repetition values (ns per unit: per read, per
//! fault, per page) and a one-line method saying what was done. A primitive that
//! cannot be measured here is listed with the reason, never as 0.
//!
//! The measuring code is split by what it touches: `cpu` (clocks, a system call, a
//! copy), `memory` (first touches of anonymous memory, the balloon), `file` (a cached
//! scratch file), `device` (a hot-added zram device and a memory cgroup: root), `tlb`
//! (shootdowns between two pinned threads). `model` turns the figures into predicted
//! ceilings of throughput per CPU. All `unsafe` lives in `sys::calibrate`.

pub mod cpu;
pub mod device;
pub mod file;
pub mod memory;
pub mod model;
pub mod tlb;

use crate::ui::Reporter;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The primitives, in the order they are reported.
pub const NAMES: [&str; 12] = [
    "clock_tsc",
    "clock_gettime",
    "syscall",
    "memcpy_4k",
    "anon_first_touch_fresh",
    "anon_first_touch_recycled",
    "file_minor_fault",
    "zram_major_fault",
    "pread_4k_cached",
    "direct_4k_zram",
    "tlb_shootdown",
    "page_cache_evict",
];

/// The fewest repetitions a primitive may have.
pub const MIN_REPS: u32 = 5;

/// One primitive: its figures (ns per unit) or why it was not measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Primitive {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns_median: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns_min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns_max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reps: Option<u32>,
    /// What was measured and how, in one line.
    pub method: String,
    /// Why it was not measured (then the figures are absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl Primitive {
    /// A measured primitive from its per-repetition values (ns per unit).
    pub fn measured(name: &str, samples: &[f64], method: String) -> Primitive {
        match Stats::of(samples) {
            Some(s) => Primitive {
                name: name.into(),
                ns_median: Some(s.median),
                ns_min: Some(s.min),
                ns_max: Some(s.max),
                reps: Some(samples.len() as u32),
                method,
                skipped: None,
            },
            None => Primitive::skipped(
                name,
                "no valid repetition (every value was not a positive finite number)".into(),
                method,
            ),
        }
    }

    pub fn skipped(name: &str, reason: String, method: String) -> Primitive {
        Primitive {
            name: name.into(),
            ns_median: None,
            ns_min: None,
            ns_max: None,
            reps: None,
            method,
            skipped: Some(reason),
        }
    }

    /// The median, when measured.
    pub fn ns(&self) -> Option<f64> {
        self.skipped.is_none().then_some(self.ns_median).flatten()
    }

    /// Either complete figures (positive, min <= median <= max, at least MIN_REPS
    /// repetitions) and no skip reason, or a non-empty skip reason and no figures.
    pub fn check(&self) -> Result<(), String> {
        let n = &self.name;
        if self.method.trim().is_empty() {
            return Err(format!("{n}: no method"));
        }
        match (&self.skipped, self.ns_median, self.ns_min, self.ns_max) {
            (Some(why), None, None, None) if !why.trim().is_empty() => Ok(()),
            (Some(_), _, _, _) => Err(format!(
                "{n}: a skipped primitive has a non-empty reason and no figures"
            )),
            (None, Some(med), Some(min), Some(max)) => {
                let ok = [med, min, max].iter().all(|v| v.is_finite() && *v > 0.0);
                if !(ok && min <= med && med <= max) {
                    return Err(format!(
                        "{n}: figures must be positive with min <= median <= max, got {min} <= {med} <= {max}"
                    ));
                }
                match self.reps {
                    Some(r) if r >= MIN_REPS => Ok(()),
                    r => Err(format!(
                        "{n}: needs at least {MIN_REPS} repetitions, has {r:?}"
                    )),
                }
            }
            _ => Err(format!(
                "{n}: has neither all of ns_median, ns_min, ns_max nor a skip reason"
            )),
        }
    }
}

/// Median, minimum and maximum of the per-repetition values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    /// None when `samples` is empty or holds a value that is not a positive finite
    /// number (a failed repetition is never averaged away). The median of an even count is the mean of the two middle values.
    pub fn of(samples: &[f64]) -> Option<Stats> {
        let mut v: Vec<f64> = samples
            .iter()
            .copied()
            .filter(|x| x.is_finite() && *x > 0.0)
            .collect();
        if v.is_empty() || v.len() != samples.len() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(Stats {
            median: crate::stats::median(&v)?,
            min: v[0],
            max: v[v.len() - 1],
        })
    }
}

/// calibrate.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Calibration {
    /// "faultline X.Y.Z".
    pub tool: String,
    pub command: Vec<String>,
    pub host: Option<String>,
    pub kernel: Option<String>,
    pub cpu_model: Option<String>,
    pub cpus: usize,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
    /// True when run with --quick (fewer repetitions, smaller regions).
    pub quick: bool,
    /// The clock every figure was taken with.
    #[serde(default)]
    pub timing: String,
    /// /proc/loadavg (1, 5, 15 minutes) at the start and at the end: a busy machine
    /// makes the figures noisier (waiting for a CPU is not counted; cache and memory
    /// contention is).
    #[serde(default)]
    pub load_average: Vec<[f64; 3]>,
    pub primitives: Vec<Primitive>,
}

impl Calibration {
    pub fn get(&self, name: &str) -> Option<&Primitive> {
        self.primitives.iter().find(|p| p.name == name)
    }

    /// The median of `name`, when measured.
    pub fn ns(&self, name: &str) -> Option<f64> {
        self.get(name).and_then(Primitive::ns)
    }

    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        let mut s = serde_json::to_string_pretty(self)?;
        s.push('\n');
        Ok(s)
    }

    /// Parse and check calibrate.json (every primitive: figures or a reason).
    pub fn from_json(text: &str) -> Result<Calibration, String> {
        let c: Calibration = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if c.primitives.is_empty() {
            return Err("it lists no primitives".into());
        }
        for p in &c.primitives {
            p.check()?;
        }
        Ok(c)
    }

    /// Read calibrate.json (or the directory `calibrate --out` wrote).
    pub fn load(path: &Path) -> Result<Calibration> {
        let file = if path.is_dir() {
            path.join("calibrate.json")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|e| {
            anyhow::anyhow!(
                "--calibration {}: cannot read it ({e}); give the calibrate.json that `faultline calibrate --out DIR` wrote, or DIR",
                file.display()
            )
        })?;
        Calibration::from_json(&text).map_err(|e| {
            anyhow::anyhow!(
                "--calibration {}: not a faultline calibrate.json: {e}",
                file.display()
            )
        })
    }

    /// The printed table: one row per primitive.
    pub fn table(&self) -> crate::table::Table {
        let mut t = crate::table::Table::new(
            &[
                "primitive",
                "median",
                "min",
                "max",
                "reps",
                "method / why skipped",
            ],
            1,
        );
        t.columns[5].align = crate::table::Align::Left;
        for p in &self.primitives {
            let row = match (&p.skipped, p.ns_median, p.ns_min, p.ns_max) {
                (None, Some(med), Some(min), Some(max)) => vec![
                    p.name.clone(),
                    fmt_ns(med),
                    fmt_ns(min),
                    fmt_ns(max),
                    p.reps.map_or_else(String::new, |r| r.to_string()),
                    p.method.clone(),
                ],
                _ => vec![
                    p.name.clone(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    format!("skipped: {}", p.skipped.as_deref().unwrap_or("?")),
                ],
            };
            t.push(row);
        }
        t
    }
}

impl Calibration {
    /// The lines printed under the table: clock, load, quick.
    pub fn footer(&self) -> String {
        let load = self
            .load_average
            .iter()
            .map(|l| format!("{:.2}", l[0]))
            .collect::<Vec<_>>()
            .join(" -> ");
        format!(
            "Per repetition ns per unit, median/min/max over the repetitions, {}. Load average (1 min) {} on {} CPUs{}.\n",
            self.timing,
            if load.is_empty() { "unknown".into() } else { load },
            self.cpus,
            if self.quick { "; --quick: small regions, 5 repetitions" } else { "" }
        )
    }
}

/// A duration in ns for the table: one decimal below 100 ns, else 3 significant digits.
pub fn fmt_ns(ns: f64) -> String {
    if ns < 100.0 {
        format!("{ns:.1}ns")
    } else {
        crate::units::format_ns(ns)
    }
}

/// How much to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Repetitions per primitive (at least MIN_REPS).
    pub reps: u32,
    /// Smaller regions and fewer iterations per repetition.
    pub quick: bool,
    /// Where the scratch file goes (removed afterwards).
    pub data_dir: PathBuf,
}

impl Options {
    /// `full` when not quick, else `quick`.
    pub fn pick<T>(&self, full: T, quick: T) -> T {
        if self.quick {
            quick
        } else {
            full
        }
    }
}

/// Skip reason for the parts that need root.
pub const NEEDS_ROOT: &str = "needs root (hot-adds a zram device and creates a memory cgroup)";

/// Measure every primitive. Progress goes to `ui`; the command owns the output.
pub fn run(opts: &Options, command: Vec<String>, ui: &dyn Reporter) -> Result<Calibration> {
    let started_at = crate::record::now_rfc3339();
    let uname = crate::sys::uname().ok();
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| cpu_model_of(&t));
    let host = uname.as_ref().map(|u| u.nodename.clone());
    let load_at_start = load_average();
    ui.header(&format!(
        "calibrate: {} on {} ({}, {} CPUs, kernel {}), {} repetitions per primitive",
        if opts.quick { "quick run" } else { "full run" },
        host.as_deref().unwrap_or("?"),
        cpu_model.as_deref().unwrap_or("CPU model unknown"),
        crate::sys::online_cpus(),
        uname.as_ref().map_or("?", |u| u.release.as_str()),
        opts.reps
    ));
    let mut out: Vec<Primitive> = Vec::new();
    let report = |p: Primitive, out: &mut Vec<Primitive>| {
        ui.note(&progress_line(&p));
        out.push(p);
    };
    // First, before this process frees memory that the next allocations would reuse.
    report(memory::fresh(opts, ui), &mut out);
    check_interrupt()?;
    for p in cpu::measure(opts) {
        report(p, &mut out);
        check_interrupt()?;
    }
    report(memory::recycled(opts), &mut out);
    check_interrupt()?;
    for p in file::measure(opts, ui)? {
        report(p, &mut out);
        check_interrupt()?;
    }
    report(tlb::measure(opts), &mut out);
    check_interrupt()?;
    for p in device::measure(opts, ui) {
        report(p, &mut out);
        check_interrupt()?;
    }
    out.sort_by_key(|p| NAMES.iter().position(|n| *n == p.name));
    Ok(Calibration {
        tool: format!("faultline {}", env!("CARGO_PKG_VERSION")),
        command,
        host,
        kernel: uname.map(|u| u.release),
        cpu_model,
        cpus: crate::sys::online_cpus(),
        started_at,
        finished_at: crate::record::now_rfc3339(),
        quick: opts.quick,
        timing: TIMING.into(),
        load_average: [load_at_start, load_average()]
            .into_iter()
            .flatten()
            .collect(),
        primitives: out,
    })
}

/// The three load averages of /proc/loadavg.
pub fn load_average() -> Option<[f64; 3]> {
    let t = std::fs::read_to_string("/proc/loadavg").ok()?;
    let v: Vec<f64> = t
        .split_whitespace()
        .take(3)
        .filter_map(|x| x.parse().ok())
        .collect();
    v.try_into().ok()
}

fn check_interrupt() -> Result<()> {
    if crate::interrupt::requested() {
        anyhow::bail!("interrupted; nothing was written (what calibrate set up was undone)");
    }
    Ok(())
}

fn progress_line(p: &Primitive) -> String {
    match (p.ns(), p.ns_min, p.ns_max) {
        (Some(m), Some(lo), Some(hi)) => format!(
            "{:<26} {} (min {}, max {})",
            p.name,
            fmt_ns(m),
            fmt_ns(lo),
            fmt_ns(hi)
        ),
        _ => format!(
            "{:<26} skipped: {}",
            p.name,
            p.skipped.as_deref().unwrap_or("?")
        ),
    }
}

/// The first `model name` of /proc/cpuinfo (x86), or `Hardware`/`CPU part` elsewhere.
pub fn cpu_model_of(cpuinfo: &str) -> Option<String> {
    for key in ["model name", "Hardware", "cpu model", "CPU part"] {
        for line in cpuinfo.lines() {
            if let Some((k, v)) = line.split_once(':') {
                if k.trim() == key && !v.trim().is_empty() {
                    return Some(v.trim().to_string());
                }
            }
        }
    }
    None
}

/// How every primitive is timed: on-CPU time of the measuring thread, i.e. wall-clock
/// time minus the time the thread waited on the guest's run queue (schedstat): on a
/// machine shared with other work that wait would inflate the figures, while time
/// the hypervisor takes (steal, such as backing a fresh page) is real cost and counts.
/// Where schedstat is missing, the thread's CPU time (which leaves steal out).
pub const TIMING: &str = "timed as wall clock minus the thread's run-queue wait (/proc/thread-self/schedstat), so waiting behind other work is left out and hypervisor time is kept";

/// The calling thread's run-queue wait so far, ns (second field of schedstat).
fn run_delay_ns() -> Option<u64> {
    let t = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    t.split_whitespace().nth(1)?.parse().ok()
}

/// The wall clock together with the run-queue wait up to that instant: read again
/// when the thread was switched out in between (a few tries).
fn wall_and_delay() -> (std::time::Instant, Option<u64>) {
    let mut last = (std::time::Instant::now(), None);
    for _ in 0..5 {
        let d0 = run_delay_ns();
        let w = std::time::Instant::now();
        let d1 = run_delay_ns();
        last = (w, d0);
        if d0 == d1 {
            break;
        }
    }
    last
}

/// A stopwatch of the calling thread's on-CPU time (see `TIMING`).
pub struct CpuTimer {
    wall: std::time::Instant,
    delay: Option<u64>,
    cpu: u64,
}

impl CpuTimer {
    pub fn start() -> CpuTimer {
        let cpu = crate::sys::thread_cpu_ns().unwrap_or(0);
        let (wall, delay) = wall_and_delay();
        CpuTimer { wall, delay, cpu }
    }

    /// On-CPU nanoseconds since `start`: wall time minus run-queue wait, never less
    /// than the thread's CPU time (which leaves steal out, so it is a lower bound).
    pub fn ns(&self) -> f64 {
        let (w1, d1) = wall_and_delay();
        let cpu = crate::sys::thread_cpu_ns()
            .unwrap_or(0)
            .saturating_sub(self.cpu);
        let wall = w1.duration_since(self.wall).as_nanos() as u64;
        let on_cpu = match (self.delay, d1) {
            (Some(a), Some(b)) => wall.saturating_sub(b.saturating_sub(a)),
            _ => cpu,
        };
        on_cpu.max(cpu) as f64
    }
}

/// Time `f` once and return CPU nanoseconds per unit (`units` of work done).
pub fn per_unit(units: u64, f: impl FnOnce()) -> f64 {
    let t0 = CpuTimer::start();
    f();
    t0.ns() / units.max(1) as f64
}

/// `n` distinct random indices below `len` (all of them, shuffled, when n >= len).
pub fn random_pages(len: usize, n: usize, seed: u64) -> Vec<usize> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut v: Vec<usize> = (0..len).collect();
    v.shuffle(&mut rng);
    v.truncate(n.min(len));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_median_min_max() {
        let s = Stats::of(&[5.0, 1.0, 3.0, 4.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (3.0, 1.0, 5.0));
        let s = Stats::of(&[4.0, 1.0, 3.0, 2.0, 10.0, 6.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (3.5, 1.0, 10.0));
        assert_eq!(Stats::of(&[]), None);
        assert_eq!(Stats::of(&[1.0, 0.0, 2.0]), None, "a zero is not a figure");
        assert_eq!(Stats::of(&[1.0, f64::NAN]), None);
        assert_eq!(Stats::of(&[1.0, -2.0]), None);
    }

    #[test]
    fn measured_and_skipped_primitives_check() {
        let p = Primitive::measured("syscall", &[3.0, 2.0, 4.0, 2.5, 3.5], "m".into());
        assert_eq!(p.ns(), Some(3.0));
        assert_eq!(
            (p.ns_min, p.ns_max, p.reps),
            (Some(2.0), Some(4.0), Some(5))
        );
        p.check().unwrap();
        let few = Primitive::measured("syscall", &[3.0, 2.0], "m".into());
        assert!(few.check().unwrap_err().contains("at least 5"));
        let bad = Primitive::measured("syscall", &[3.0, 0.0, 1.0, 1.0, 1.0], "m".into());
        assert!(bad.skipped.is_some() && bad.ns().is_none());
        bad.check().unwrap();
        let s = Primitive::skipped("direct_4k_zram", NEEDS_ROOT.into(), "m".into());
        s.check().unwrap();
        let mut zero = s.clone();
        zero.skipped = Some(" ".into());
        assert!(zero.check().is_err());
        let mut both = p.clone();
        both.skipped = Some("x".into());
        assert!(both.check().is_err());
        let mut unordered = p.clone();
        unordered.ns_min = Some(3.5);
        assert!(unordered.check().is_err());
    }

    fn sample() -> Calibration {
        Calibration {
            tool: "faultline 0".into(),
            command: vec!["faultline".into(), "calibrate".into()],
            host: Some("h".into()),
            kernel: Some("6.18".into()),
            cpu_model: Some("cpu".into()),
            cpus: 2,
            started_at: "2026-01-01T00:00:00Z".into(),
            finished_at: "2026-01-01T00:00:10Z".into(),
            quick: false,
            timing: TIMING.into(),
            load_average: vec![[0.5, 0.4, 0.3]],
            primitives: vec![
                Primitive::measured("syscall", &[100.0; 5], "getppid".into()),
                Primitive::skipped("direct_4k_zram", NEEDS_ROOT.into(), "O_DIRECT".into()),
            ],
        }
    }

    #[test]
    fn json_shape() {
        let c = sample();
        let v: serde_json::Value = serde_json::from_str(&c.to_json().unwrap()).unwrap();
        for k in ["host", "kernel", "cpu_model", "started_at", "primitives"] {
            assert!(v.get(k).is_some(), "{k}");
        }
        let p = &v["primitives"];
        assert_eq!(p[0]["name"], "syscall");
        for k in ["ns_median", "ns_min", "ns_max", "reps", "method"] {
            assert!(p[0].get(k).is_some(), "{k}");
        }
        assert!(p[0].get("skipped").is_none());
        assert_eq!(p[1]["skipped"], NEEDS_ROOT);
        assert!(p[1].get("ns_median").is_none(), "no figure for a skip");
        let back = Calibration::from_json(&c.to_json().unwrap()).unwrap();
        assert_eq!(back.primitives, c.primitives);
        assert_eq!(back.ns("syscall"), Some(100.0));
        assert_eq!(back.ns("direct_4k_zram"), None);
        // A zero instead of a skip is refused.
        let bad = c
            .to_json()
            .unwrap()
            .replace("\"ns_median\": 100.0", "\"ns_median\": 0.0");
        assert!(Calibration::from_json(&bad).is_err());
        assert!(Calibration::from_json("{}").is_err());
    }

    #[test]
    fn table_lists_every_primitive() {
        let t = sample().table().to_text();
        assert!(t.contains("syscall") && t.contains("100ns"), "{t}");
        assert!(t.contains("skipped: needs root"), "{t}");
    }

    #[test]
    fn cpu_model_lines() {
        assert_eq!(
            cpu_model_of("processor: 0\nmodel name\t: Intel(R) Xeon(R)\n").as_deref(),
            Some("Intel(R) Xeon(R)")
        );
        assert_eq!(
            cpu_model_of("CPU part\t: 0xd0c\n").as_deref(),
            Some("0xd0c")
        );
        assert_eq!(cpu_model_of(""), None);
    }

    #[test]
    fn random_pages_are_distinct() {
        let mut v = random_pages(100, 40, 1);
        assert_eq!(v.len(), 40);
        v.sort();
        v.dedup();
        assert_eq!(v.len(), 40);
        assert_eq!(random_pages(5, 10, 1).len(), 5);
    }
}
