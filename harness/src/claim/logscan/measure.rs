//! One measured run of a logscan variant (cache state set, child process run, counts
//! checked) and the aggregation of a variant's runs.

use super::{Cache, ChildReport, RunMeasure, Variant, VariantResult};
use crate::claim::loggen::LogFile;
use crate::claim::{collect_child, median, min, spawn_child};
use crate::{interrupt, sys};
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Set the cache state, run one variant in a child process, check its counts.
pub(super) fn measure(
    exe: &Path,
    log: &LogFile,
    v: Variant,
    cache: Cache,
    repeat: u32,
    order: u32,
) -> RunMeasure {
    let mut m = RunMeasure {
        repeat,
        order,
        ok: false,
        error: None,
        lines: None,
        count: None,
        elapsed_ns: None,
        usage: None,
        rss_before_bytes: None,
        hwm_bytes: None,
        rss_anon_bytes: None,
        rss_file_bytes: None,
    };
    if let Err(e) = run_child(exe, log, v, cache, &mut m) {
        m.error = Some(format!("{e:#}"));
    }
    m.ok = m.error.is_none();
    m
}

/// Fill `m` from one child run; an error for anything that makes the run count as failed.
fn run_child(
    exe: &Path,
    log: &LogFile,
    v: Variant,
    cache: Cache,
    m: &mut RunMeasure,
) -> Result<()> {
    match cache {
        Cache::Cold => File::open(&log.path)
            .and_then(|f| sys::drop_file_cache(&f))
            .with_context(|| format!("cannot drop the page cache of {}", log.path.display()))?,
        Cache::Warm => warm(&log.path)?,
    }
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["claim", "logscan", "--variant", v.name(), "--file"])
        .arg(&log.path);
    let run = spawn_child(cmd).and_then(collect_child)?;
    m.usage = Some(run.usage);
    if let Some(f) = run.failure() {
        bail!("{f}");
    }
    let r: ChildReport = run.report()?;
    m.lines = Some(r.lines);
    m.count = Some(r.count);
    m.elapsed_ns = Some(r.elapsed_ns);
    m.rss_before_bytes = r.rss_before_bytes;
    m.hwm_bytes = r.hwm_bytes;
    m.rss_anon_bytes = r.rss_anon_bytes;
    m.rss_file_bytes = r.rss_file_bytes;
    if r.count != log.error_lines || r.lines != log.lines {
        bail!(
            "counted {} lines with ERROR in {} lines; the generator wrote {} in {}",
            r.count,
            r.lines,
            log.error_lines,
            log.lines
        );
    }
    Ok(())
}

/// Each variant's median time against bufreader-lines' in the same cache state.
pub(super) fn set_speedups(vs: &mut [VariantResult]) {
    let base: Vec<(Cache, f64)> = vs
        .iter()
        .filter(|r| r.variant == Variant::BufreaderLines)
        .filter_map(|r| r.median_s.map(|m| (r.cache, m)))
        .collect();
    for r in vs.iter_mut() {
        let b = base.iter().find(|(c, _)| *c == r.cache).map(|(_, b)| *b);
        if let (Some(b), Some(m)) = (b, r.median_s) {
            if m > 0.0 {
                r.speedup_vs_bufreader_lines = Some(b / m);
            }
        }
    }
}

fn warm(path: &Path) -> Result<()> {
    let mut f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let _ = sys::fadvise(&f, 0, 0, libc::POSIX_FADV_SEQUENTIAL);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("cannot read {} to warm the cache", path.display()))?;
        if n == 0 || interrupt::requested() {
            return Ok(());
        }
    }
}

fn median_u64(v: &[u64]) -> Option<u64> {
    median(&v.iter().map(|&x| x as f64).collect::<Vec<_>>()).map(|m| m.round() as u64)
}

pub(super) fn aggregate(
    v: Variant,
    cache: Cache,
    runs: Vec<RunMeasure>,
    log: &LogFile,
) -> VariantResult {
    let ok: Vec<&RunMeasure> = runs.iter().filter(|r| r.ok).collect();
    let secs: Vec<f64> = ok
        .iter()
        .filter_map(|r| r.elapsed_ns)
        .map(|n| n as f64 / 1e9)
        .collect();
    let usage: Vec<sys::process::ChildUsage> = ok.iter().filter_map(|r| r.usage).collect();
    // The child's own VmHWM, not wait4's ru_maxrss: a child started with vfork
    // (posix_spawn) inherits its parent's peak into ru_maxrss at exec.
    let rss: Vec<u64> = ok.iter().filter_map(|r| r.hwm_bytes).collect();
    let file_rss: Vec<u64> = ok.iter().filter_map(|r| r.rss_file_bytes).collect();
    let med = median(&secs);
    let counts: Vec<u64> = runs.iter().filter_map(|r| r.count).collect();
    let count = match counts.first() {
        Some(&c) if counts.iter().all(|&x| x == c) => Some(c),
        _ => None,
    };
    VariantResult {
        variant: v,
        cache,
        ok_runs: ok.len() as u32,
        median_s: med,
        min_s: min(&secs),
        gb_per_s: med.filter(|&m| m > 0.0).map(|m| log.size as f64 / m / 1e9),
        peak_rss_bytes_median: median_u64(&rss),
        peak_rss_bytes_max: rss.iter().copied().max(),
        rss_file_bytes_median: median_u64(&file_rss),
        user_s_median: median(
            &usage
                .iter()
                .map(|u| u.user_ns as f64 / 1e9)
                .collect::<Vec<_>>(),
        ),
        system_s_median: median(
            &usage
                .iter()
                .map(|u| u.system_ns as f64 / 1e9)
                .collect::<Vec<_>>(),
        ),
        major_faults_median: median_u64(&usage.iter().map(|u| u.major_faults).collect::<Vec<_>>()),
        count_ok: runs.iter().all(|r| r.ok),
        count,
        speedup_vs_bufreader_lines: None,
        runs,
    }
}
