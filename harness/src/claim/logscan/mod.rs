//! Claim: "Reading a 5 GB log with BufReader takes ~23 s and 450 MB; with mmap ~3.1 s
//! and 110 MB: over 7x" (counting the lines that contain ERROR).
//!
//! A generated log (see `loggen`) is scanned by four variants, each in its own child
//! process (this binary re-run with the hidden `--variant X --file F`), so that peak
//! RSS and CPU time are measured per variant (wait4). Every variant must report the
//! generator's exact line and match counts; a different count is a failure.

mod measure;
mod report;
pub mod scan;

pub use scan::{count_lines, scan, ChildReport};

use super::loggen::{self, LogFile, NEEDLE};
use super::{ClaimRecord, CommonClaimArgs};
use crate::env::Environment;
use crate::{interrupt, sys, units};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const STATEMENT: &str = "Reading a 5 GB log with BufReader takes ~23 s and 450 MB; with mmap ~3.1 s and 110 MB: over 7x (counting lines that contain ERROR)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// BufReader::lines() (8 KiB buffer, one String per line, UTF-8 checked) and
    /// str::contains: the naive version.
    BufreaderLines,
    /// BufReader::fill_buf over a 1 MiB buffer, lines split with memchr, memmem per
    /// line; no allocation per line.
    BufreaderMemmem,
    /// One fs::read of the whole file, then memmem per line.
    ReadAll,
    /// memmap2 read-only mapping with MADV_SEQUENTIAL, then memmem per line.
    Mmap,
}

impl Variant {
    pub const ALL: [Variant; 4] = [
        Variant::BufreaderLines,
        Variant::BufreaderMemmem,
        Variant::ReadAll,
        Variant::Mmap,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Variant::BufreaderLines => "bufreader-lines",
            Variant::BufreaderMemmem => "bufreader-memmem",
            Variant::ReadAll => "read-all",
            Variant::Mmap => "mmap",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cache {
    /// posix_fadvise(DONTNEED) on the log before the run (per file; no root needed).
    Cold,
    /// The log is read once through the page cache before the run.
    Warm,
}

impl Cache {
    pub fn name(self) -> &'static str {
        match self {
            Cache::Cold => "cold",
            Cache::Warm => "warm",
        }
    }
}

#[derive(Debug, Args)]
#[command(
    about = "Count the lines containing ERROR in a generated log: BufReader::lines vs \
             BufReader+memmem vs read-all vs mmap, each in its own process (time, peak RSS)",
    after_help = "Examples:\n  faultline claim logscan                      2 GiB log, cold and warm, 3 repeats\n  \
                  faultline claim logscan --size 256MiB --repeats 1 --cache warm"
)]
pub struct LogscanArgs {
    /// Log size, a multiple of 4KiB (the claim's log was 5 GB). Generated once in the
    /// data directory and reused.
    #[arg(long, short = 's', value_name = "S", default_value = "2GiB", value_parser = units::parse_size)]
    pub size: u64,

    /// Seed of the generated log (another seed, another file).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,

    /// Variants to run, comma-separated (default: all four).
    #[arg(long, value_name = "V,...", value_delimiter = ',')]
    pub variants: Vec<Variant>,

    /// Cache states to run, comma-separated.
    #[arg(
        long,
        value_name = "cold,warm",
        value_delimiter = ',',
        default_value = "cold,warm"
    )]
    pub cache: Vec<Cache>,

    #[command(flatten)]
    pub common: CommonClaimArgs,

    /// Internal: scan FILE with one variant in this process and print the measurement
    /// as one JSON line (how the parent measures each variant in its own process).
    #[arg(long, hide = true, value_name = "V", requires = "file")]
    pub variant: Option<Variant>,

    /// Internal: the file the --variant child scans.
    #[arg(long, hide = true, value_name = "PATH", requires = "variant")]
    pub file: Option<PathBuf>,
}

/// One measured run of one variant.
#[derive(Debug, Clone, Serialize)]
pub struct RunMeasure {
    pub repeat: u32,
    /// Position in the whole sequence of runs.
    pub order: u32,
    pub ok: bool,
    pub error: Option<String>,
    pub lines: Option<u64>,
    pub count: Option<u64>,
    pub elapsed_ns: Option<u64>,
    /// wait4 of the child: CPU time, faults, and ru_maxrss (which includes the parent's
    /// peak RSS when the child was started with vfork/posix_spawn, as std does: use
    /// `hwm_bytes` for the child's own peak).
    pub usage: Option<sys::process::ChildUsage>,
    pub rss_before_bytes: Option<u64>,
    pub hwm_bytes: Option<u64>,
    pub rss_anon_bytes: Option<u64>,
    pub rss_file_bytes: Option<u64>,
}

/// One variant in one cache state, over its repeats.
#[derive(Debug, Clone, Serialize)]
pub struct VariantResult {
    pub variant: Variant,
    pub cache: Cache,
    pub runs: Vec<RunMeasure>,
    pub ok_runs: u32,
    pub median_s: Option<f64>,
    pub min_s: Option<f64>,
    /// Decimal GB/s at the median time.
    pub gb_per_s: Option<f64>,
    /// The child's peak RSS (VmHWM at the end of the scan), median and max over runs.
    pub peak_rss_bytes_median: Option<u64>,
    pub peak_rss_bytes_max: Option<u64>,
    pub rss_file_bytes_median: Option<u64>,
    pub user_s_median: Option<f64>,
    pub system_s_median: Option<f64>,
    pub major_faults_median: Option<u64>,
    /// The match count every run reported (null when runs disagreed or none ran).
    pub count: Option<u64>,
    pub count_ok: bool,
    /// Median time of bufreader-lines in the same cache state / this variant's.
    pub speedup_vs_bufreader_lines: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Params {
    pub size: u64,
    pub seed: u64,
    pub repeats: u32,
    pub variants: Vec<Variant>,
    pub cache: Vec<Cache>,
    pub log: LogFile,
    pub expected_lines: u64,
    pub expected_count: u64,
    pub needle: String,
    pub cold_method: String,
    pub warm_method: String,
    pub child_command: String,
}

/// `faultline claim logscan`.
pub fn run(a: &LogscanArgs) -> Result<i32> {
    if let Some(v) = a.variant {
        let Some(file) = a.file.as_deref() else {
            bail!("--variant needs --file (both are internal: the parent passes them)");
        };
        println!("{}", serde_json::to_string(&scan::scan(v, file)?)?);
        return Ok(0);
    }
    interrupt::install().context("cannot install the Ctrl-C handler")?;
    let (repeats, variants, caches) = validate(a)?;
    let exe = super::self_exe()?;
    let started_at = super::now();
    let dir = super::reserve_dir(a.common.out.as_deref(), "logscan", &started_at)?;
    let data_dir = a
        .common
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(crate::spec::DEFAULT_DATA_DIR));
    let log = match loggen::prepare(
        &data_dir,
        a.size,
        a.seed,
        crate::ui::reporter(a.common.quiet),
    ) {
        Ok(l) => l,
        Err(e) => {
            drop(dir);
            return Err(e);
        }
    };
    let env = Environment::collect(&log.path);
    if !a.common.quiet {
        eprintln!("{}", report::opening_line(&log, repeats, &caches, &env));
    }
    let params = params(a, repeats, &variants, &caches, &log, &exe);
    let mut rec = ClaimRecord::new("logscan", STATEMENT, env, params, started_at);
    let rounds = (0..repeats).flat_map(|r| caches.iter().map(move |&c| (c, r)));
    let (runs, interrupted) = super::sweep(rounds, &variants, |cache, v, repeat, order| {
        let m = measure::measure(&exe, &log, v, cache, repeat, order);
        if interrupt::requested() {
            return None;
        }
        if !a.common.quiet {
            eprintln!("  {}", report::run_line(v, cache, &m, log.size));
        }
        Some(m)
    });
    for c in &caches {
        for v in &variants {
            let rs = super::runs_of(&runs, c, v);
            if !rs.is_empty() {
                rec.variants.push(measure::aggregate(*v, *c, rs, &log));
            }
        }
    }
    measure::set_speedups(&mut rec.variants);
    rec.failures = runs
        .iter()
        .filter_map(|(c, v, m)| {
            let e = m.error.as_ref()?;
            Some(format!(
                "{} ({}, repeat {}): {e}",
                v.name(),
                c.name(),
                m.repeat + 1
            ))
        })
        .collect();
    super::finish(
        dir,
        rec,
        interrupted,
        "run(s) failed or counted wrong",
        |rec| {
            let t = report::table(&rec.variants);
            let printed = t.to_text();
            let summary = report::summary(rec, &t, &printed);
            (printed, summary)
        },
    )
}

/// Check the arguments; returns the repeats and the variants and cache states to run.
fn validate(a: &LogscanArgs) -> Result<(u32, Vec<Variant>, Vec<Cache>)> {
    loggen::check_size(a.size)?;
    let repeats = a.common.repeats_or(3)?;
    let mut variants = if a.variants.is_empty() {
        Variant::ALL.to_vec()
    } else {
        a.variants.clone()
    };
    super::dedup_keep_order(&mut variants);
    let mut caches = a.cache.clone();
    super::dedup_keep_order(&mut caches);
    if caches.is_empty() {
        bail!("--cache is empty: give cold, warm or cold,warm");
    }
    Ok((repeats, variants, caches))
}

fn params(
    a: &LogscanArgs,
    repeats: u32,
    variants: &[Variant],
    caches: &[Cache],
    log: &LogFile,
    exe: &Path,
) -> Params {
    Params {
        size: log.size,
        seed: a.seed,
        repeats,
        variants: variants.to_vec(),
        cache: caches.to_vec(),
        log: log.clone(),
        expected_lines: log.lines,
        expected_count: log.error_lines,
        needle: String::from_utf8_lossy(NEEDLE).into_owned(),
        cold_method: "posix_fadvise(POSIX_FADV_DONTNEED) on the log before each cold run: drops this file's clean cached pages, needs no root, leaves other files' cache alone".into(),
        warm_method: "the log is read once (1 MiB reads) right before each warm run".into(),
        child_command: format!(
            "{} claim logscan --variant <V> --file {}",
            exe.display(),
            log.path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::scan::BIG_BUF;
    use super::*;
    use crate::claim::loggen::Counts;
    use memchr::memmem;

    #[test]
    fn count_lines_handles_edges() {
        let f = memmem::Finder::new(NEEDLE);
        let c = |s: &str| count_lines(s.as_bytes(), &f);
        assert_eq!(c(""), Counts::default());
        assert_eq!(
            c("a\n"),
            Counts {
                lines: 1,
                error_lines: 0
            }
        );
        assert_eq!(
            c("ERROR"),
            Counts {
                lines: 1,
                error_lines: 1
            }
        );
        assert_eq!(
            c("x ERROR y ERROR\nerror\nERRO\nR\nok ERROR\n"),
            Counts {
                lines: 5,
                error_lines: 2
            }
        );
        assert_eq!(
            c("\n\n"),
            Counts {
                lines: 2,
                error_lines: 0
            }
        );
    }

    #[test]
    fn every_variant_counts_a_generated_log_exactly() {
        let d = tempfile::tempdir().unwrap();
        // Not a multiple of the 1 MiB buffer, so lines straddle fills.
        let size = loggen::CHUNK as u64 + 3 * 4096;
        let log = loggen::prepare(d.path(), size, 5, &crate::ui::Quiet).unwrap();
        for v in Variant::ALL {
            let r = scan(v, &log.path).unwrap();
            assert_eq!(
                (r.lines, r.count),
                (log.lines, log.error_lines),
                "{}",
                v.name()
            );
            assert_eq!(r.bytes, size);
            assert!(r.hwm_bytes.unwrap() > 0);
        }
    }

    #[test]
    fn bufreader_memmem_handles_lines_longer_than_the_buffer() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("long.log");
        let mut text = vec![b'a'; BIG_BUF * 2 + 17];
        text.extend_from_slice(b" ERROR\nshort\n");
        text.extend_from_slice(&vec![b'b'; BIG_BUF - 3]);
        text.extend_from_slice(b"ERROR");
        std::fs::write(&p, &text).unwrap();
        for v in Variant::ALL {
            let r = scan(v, &p).unwrap();
            assert_eq!((r.lines, r.count), (3, 2), "{}", v.name());
        }
    }

    #[test]
    fn table_shows_ratio_and_wrong_counts() {
        let run = |ns: u64, count: u64, ok: bool| RunMeasure {
            repeat: 0,
            order: 0,
            ok,
            error: (!ok).then(|| "wrong".to_string()),
            lines: Some(10),
            count: Some(count),
            elapsed_ns: Some(ns),
            usage: Some(sys::process::ChildUsage {
                max_rss_bytes: 2 << 20,
                ..Default::default()
            }),
            rss_before_bytes: Some(1 << 20),
            hwm_bytes: Some(2 << 20),
            rss_anon_bytes: None,
            rss_file_bytes: Some(0),
        };
        let log = LogFile {
            path: "x".into(),
            size: 1_000_000_000,
            seed: 1,
            tag: 0,
            lines: 10,
            error_lines: 3,
            created: false,
            create_secs: None,
        };
        let mut a = measure::aggregate(
            Variant::BufreaderLines,
            Cache::Warm,
            vec![run(2_000_000_000, 3, true), run(4_000_000_000, 3, true)],
            &log,
        );
        a.speedup_vs_bufreader_lines = Some(1.0);
        let mut b = measure::aggregate(
            Variant::Mmap,
            Cache::Warm,
            vec![run(1_000_000_000, 4, false)],
            &log,
        );
        b.speedup_vs_bufreader_lines = None;
        assert_eq!(a.median_s, Some(3.0));
        assert_eq!(a.min_s, Some(2.0));
        assert_eq!(a.count, Some(3));
        assert!(!b.count_ok);
        let t = report::table(&[a, b]).to_text();
        assert!(t.contains("bufreader-lines  warm    2/2"), "{t}");
        assert!(t.contains("1.00x"), "{t}");
        assert!(t.contains("4 WRONG"), "{t}");
        assert!(t.contains("0.33"), "GB/s at the median: {t}");
        assert!(t.contains(" 2.0 "), "peak RSS from VmHWM: {t}");
    }
}
