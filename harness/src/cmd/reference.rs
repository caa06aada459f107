//! `faultline reference` (hidden): untimed reference loops that measure what the
//! harness's own loop adds. No histograms, no clock per operation, no probes: each
//! thread counts its reads in its own cache line and the main thread reads the counters
//! once per second.
//!
//! * `mmap-random`: the paper's benchmark method (mmapbench's random mode): one byte
//!   read at a uniformly random offset of the mapped file or device, per-thread
//!   counters, nothing else. Optionally inside a memory cgroup (`--page-cache-limit`),
//!   as a cell with a page-cache limit runs, and cold (the file's cached pages dropped
//!   first, as a cold cell starts).
//! * `mmap-block`: one u64 load per random 4 KiB block of a warm mapped file
//!   (xorshift offsets): the floor under a timed in-memory mmap read. With `--timed`,
//!   the same loop takes two readings of the harness's clock around each load and sums
//!   their differences (nothing else): the least that timing every operation can cost
//!   on this CPU, which no harness loop can go below. With `--verify-tag TAG` (the
//!   data file's `verify_tag` in run.json), it also checks each block's header
//!   against the page format, as every faultline operation does: the floor under an
//!   untimed but verified read (`timing = "sample:N"` between its sampled reads).
//!
//! Prints the rate of every second on stderr and `ops_per_sec=<float> ns_per_op=<float>`
//! on stdout (ns_per_op = threads / ops_per_sec: the time one thread spends per read),
//! or one JSON object with `--json`.

use crate::env::cgroup::MemCgroup;
use crate::units;
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Loop {
    /// One byte at a uniformly random offset of the mapping (the paper's method).
    MmapRandom,
    /// One u64 per random 4 KiB block of a warm mapping (the in-memory floor).
    MmapBlock,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RefAdvice {
    Normal,
    Random,
}

#[derive(Debug, Args)]
pub struct ReferenceArgs {
    /// Which loop to run.
    #[arg(value_enum)]
    pub r#loop: Loop,
    /// The file or block device to map (read-only).
    #[arg(long, value_name = "PATH")]
    pub file: PathBuf,
    /// Reader threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub threads: u64,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub seconds: u64,
    /// Seconds run before counting (like a cell's warm-up).
    #[arg(long, default_value_t = 0)]
    pub warmup_seconds: u64,
    /// madvise advice for the mapping (mmap-random; default random, as the paper's
    /// MADV_RANDOM case).
    #[arg(long, value_enum, default_value_t = RefAdvice::Random)]
    pub advice: RefAdvice,
    /// Run inside a memory cgroup with this limit (root), as a cell with
    /// page_cache_limit does.
    #[arg(long, value_name = "S", value_parser = units::parse_size)]
    pub page_cache_limit: Option<u64>,
    /// Map only the first S bytes (default: the whole file or device).
    #[arg(long, value_name = "S", value_parser = units::parse_size)]
    pub size: Option<u64>,
    /// mmap-block only: read the harness's clock before and after each load (as
    /// `timing = "every"` does) and sum the differences; nothing is recorded.
    #[arg(long)]
    pub timed: bool,
    /// mmap-block only: check each block's header as a faultline operation does (the
    /// data file's `verify_tag`, from run.json's `data_file`); prints the blocks that
    /// failed the check on stderr (a file of another tag fails them all).
    #[arg(long, value_name = "TAG")]
    pub verify_tag: Option<u64>,
    /// Print one JSON object instead of the `ops_per_sec=... ns_per_op=...` line.
    #[arg(long)]
    pub json: bool,
}

/// Per-thread read counter, on its own cache line.
#[repr(align(128))]
#[derive(Default)]
struct Counter(AtomicU64);

pub fn run(a: &ReferenceArgs) -> Result<i32> {
    if a.timed && a.r#loop != Loop::MmapBlock {
        bail!("--timed applies to the mmap-block loop only");
    }
    if a.verify_tag.is_some() && (a.r#loop != Loop::MmapBlock || a.timed) {
        bail!("--verify-tag applies to the untimed mmap-block loop only (without --timed)");
    }
    let file = File::open(&a.file).with_context(|| format!("cannot open {}", a.file.display()))?;
    let full = (&file)
        .seek(SeekFrom::End(0))
        .with_context(|| format!("cannot find the size of {}", a.file.display()))?;
    let size = a.size.unwrap_or(full).min(full);
    if size < 4096 {
        bail!(
            "{}: {size} bytes; the reference loops need at least 4 KiB",
            a.file.display()
        );
    }
    let len = usize::try_from(size).context("the file does not fit the address space")?;
    let map = crate::sys::map_readonly(&file, len, false)
        .with_context(|| format!("cannot map {}", a.file.display()))?;
    match a.r#loop {
        Loop::MmapRandom => {
            let adv = match a.advice {
                RefAdvice::Random => memmap2::Advice::Random,
                RefAdvice::Normal => memmap2::Advice::Normal,
            };
            map.advise(adv).context("madvise failed")?;
            // Cold, as a cold cell starts (and as the paper dropped caches per run).
            crate::sys::drop_file_cache(&file).context("cannot drop the file's cached pages")?;
        }
        Loop::MmapBlock => {
            // Warm: every page cached and mapped before counting.
            let mut s = 0u64;
            for o in (0..len).step_by(4096) {
                s = s.wrapping_add(map[o] as u64);
            }
            std::hint::black_box(s);
        }
    }
    // The cgroup is entered after the setup above, as the harness enters it per cell.
    let mut cgroup = match a.page_cache_limit {
        Some(l) => {
            let mut cg = MemCgroup::create(l).context("cannot set up the page-cache limit")?;
            cg.enter()?;
            Some(cg)
        }
        None => None,
    };
    let counters: Vec<Counter> = (0..a.threads).map(|_| Counter::default()).collect();
    let stop = AtomicBool::new(false);
    let wrong = AtomicU64::new(0);
    let bytes: &[u8] = &map;
    let (per_second, measured) = std::thread::scope(|s| {
        for (i, c) in counters.iter().enumerate() {
            let stop = &stop;
            let lp = a.r#loop;
            let clock = a.timed.then(crate::timing::Clock::get);
            let (tag, wrong) = (a.verify_tag, &wrong);
            s.spawn(move || {
                let seed = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(i as u64 + 1) | 1;
                match lp {
                    Loop::MmapRandom => random_bytes(bytes, seed, c, stop),
                    Loop::MmapBlock => match (&clock, tag) {
                        (None, None) => random_blocks(bytes, seed, c, stop),
                        (None, Some(tag)) => {
                            let w = verified_blocks(bytes, seed, c, stop, tag);
                            wrong.fetch_add(w, Ordering::Relaxed);
                        }
                        (Some(clock), _) => timed_blocks(bytes, seed, c, stop, clock),
                    },
                }
            });
        }
        let r = sample(&counters, a.warmup_seconds, a.seconds);
        stop.store(true, Ordering::Relaxed);
        r
    });
    if let Some(cg) = cgroup.as_mut() {
        cg.leave()?;
    }
    drop(cgroup);
    let (ops, secs) = measured;
    let wrong = wrong.load(Ordering::Relaxed);
    if wrong > 0 {
        bail!(
            "{wrong} block(s) failed the header check: is {} a faultline data file of tag {}? (run.json's data_file.verify_tag gives the tag)",
            a.file.display(),
            a.verify_tag.unwrap_or_default()
        );
    }
    let ops_per_sec = ops as f64 / secs;
    let ns_per_op = if ops_per_sec > 0.0 {
        a.threads as f64 * 1e9 / ops_per_sec
    } else {
        f64::NAN
    };
    if a.json {
        let v = serde_json::json!({
            "loop": match a.r#loop { Loop::MmapRandom => "mmap-random", Loop::MmapBlock => "mmap-block" },
            "file": a.file,
            "size": size,
            "threads": a.threads,
            "warmup_seconds": a.warmup_seconds,
            "seconds": secs,
            "advice": match (a.r#loop, a.advice) { (Loop::MmapBlock, _) => "normal", (_, RefAdvice::Random) => "random", _ => "normal" },
            "page_cache_limit": a.page_cache_limit,
            "timed": a.timed.then(|| crate::timing::Clock::get().name()),
            "verify_tag": a.verify_tag,
            "verify_errors": a.verify_tag.map(|_| wrong),
            "ops": ops,
            "ops_per_sec": ops_per_sec,
            "ns_per_op": ns_per_op,
            "per_second": per_second,
        });
        println!("{v}");
    } else {
        println!("ops_per_sec={ops_per_sec:.1} ns_per_op={ns_per_op:.3}");
    }
    Ok(0)
}

/// Sum of the counters.
fn total(c: &[Counter]) -> u64 {
    c.iter().map(|c| c.0.load(Ordering::Relaxed)).sum()
}

/// Print each second's rate; return the rates and (ops, seconds) of the measured part.
fn sample(c: &[Counter], warmup: u64, seconds: u64) -> (Vec<f64>, (u64, f64)) {
    let t0 = Instant::now();
    let mut rates = Vec::new();
    let (mut prev, mut prev_t) = (0u64, t0);
    let mut start = (0u64, t0);
    for s in 1..=(warmup + seconds) {
        let due = t0 + Duration::from_secs(s);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let (n, t) = (total(c), Instant::now());
        let rate = (n - prev) as f64 / t.duration_since(prev_t).as_secs_f64();
        eprintln!(
            "{s:>4} s  {rate:>14.0} reads/s{}",
            if s <= warmup { "  (warm-up)" } else { "" }
        );
        rates.push(rate);
        (prev, prev_t) = (n, t);
        if s == warmup {
            start = (n, t);
        }
    }
    let secs = prev_t.duration_since(start.1).as_secs_f64();
    (rates, (prev - start.0, secs))
}

#[inline]
fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Uniform in [0, n) from a 64-bit random value (multiply-shift, no division).
#[inline]
fn below(r: u64, n: u64) -> u64 {
    ((r as u128 * n as u128) >> 64) as u64
}

/// The paper's loop: one byte at a random offset, count it.
fn random_bytes(m: &[u8], mut x: u64, c: &Counter, stop: &AtomicBool) {
    let n = m.len() as u64;
    let (mut ops, mut sum) = (0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        let off = below(xorshift(&mut x), n) as usize;
        sum = sum.wrapping_add(m[off] as u64);
        ops += 1;
        c.0.store(ops, Ordering::Relaxed);
    }
    std::hint::black_box(sum);
}

/// One u64 per random 4 KiB block; the stop flag is read once per 1024 reads.
fn random_blocks(m: &[u8], mut x: u64, c: &Counter, stop: &AtomicBool) {
    let blocks = m.len() as u64 / 4096;
    let (mut ops, mut sum) = (0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..1024 {
            let o = (below(xorshift(&mut x), blocks) * 4096) as usize;
            let w: [u8; 8] = m[o..o + 8].try_into().unwrap_or([0; 8]);
            sum = sum.wrapping_add(u64::from_ne_bytes(w));
        }
        ops += 1024;
        c.0.store(ops, Ordering::Relaxed);
    }
    std::hint::black_box(sum);
}

/// `random_blocks` that also checks each block's header against the page format, as
/// a faultline operation does (`page::fold_headers` of the block against
/// `page::expected_fold` of its offset); returns the blocks that failed.
fn verified_blocks(m: &[u8], mut x: u64, c: &Counter, stop: &AtomicBool, tag: u64) -> u64 {
    use crate::datafile::page;
    let blocks = m.len() as u64 / 4096;
    let (mut ops, mut wrong) = (0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..1024 {
            let o = below(xorshift(&mut x), blocks) * 4096;
            let b = &m[o as usize..o as usize + 4096];
            wrong += (page::fold_headers(b, o) != page::expected_fold(o, 4096, tag)) as u64;
        }
        ops += 1024;
        c.0.store(ops, Ordering::Relaxed);
    }
    wrong
}

/// `random_blocks` with two clock readings around each load, their differences summed
/// (so the readings cannot be optimised away); the floor of `timing = "every"`.
fn timed_blocks(
    m: &[u8],
    mut x: u64,
    c: &Counter,
    stop: &AtomicBool,
    clock: &crate::timing::Clock,
) {
    let blocks = m.len() as u64 / 4096;
    let (mut ops, mut sum, mut ns) = (0u64, 0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..1024 {
            let o = (below(xorshift(&mut x), blocks) * 4096) as usize;
            let t0 = clock.raw();
            let w: [u8; 8] = m[o..o + 8].try_into().unwrap_or([0; 8]);
            sum = sum.wrapping_add(u64::from_ne_bytes(w));
            let t1 = clock.raw();
            ns = ns.wrapping_add(clock.nanos(t0, t1));
        }
        ops += 1024;
        c.0.store(ops, Ordering::Relaxed);
    }
    std::hint::black_box((sum, ns));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_spreads() {
        let mut x = 12345u64;
        let mut seen = [0u32; 10];
        for _ in 0..10_000 {
            let v = below(xorshift(&mut x), 10);
            assert!(v < 10);
            seen[v as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800 && n < 1200), "{seen:?}");
    }
}
