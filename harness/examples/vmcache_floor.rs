//! The floor of what vmcache can reach on this kernel: plain loops, no harness, no pool,
//! that do only what a stock-kernel vmcache operation must do, each beside the loop it
//! is compared with, alternated, on a zram device hot-added for the run (root).
//!
//! All miss (random 4 KiB blocks of the device, `O_DIRECT`, one descriptor per thread):
//!
//! * `direct`: `pread(2)` into one fixed buffer per thread (the `direct` backend);
//! * `miss+release`: `pread(2)` into the page of an anonymous `MAP_NORESERVE` region
//!   (`sys::vmregion`) that the block belongs to, latched with one CAS; every 64 pages
//!   a thread gives its batch back with one `process_madvise(MADV_DONTNEED)` call. No
//!   clock, no resident set, no budget: a vmcache miss cannot do less on a stock kernel
//!   (the read faults the released page in, the release zaps it);
//! * `miss, no release`: `pread(2)` into 64 pages of the region that stay resident, in
//!   turn (what the read costs into a resident anonymous page: `miss+release` minus
//!   this is the fault-in and release).
//!
//! In memory (the first `--mem` bytes of the device, all cached):
//!
//! * `mmap`: a read of the first u64 of a random block through a populated shared
//!   mapping of the device (its page cache; the `mmap:populate` backend);
//! * `anon`: the same read from an anonymous mapping (`memmap2::MmapMut::map_anon`)
//!   filled with the same bytes;
//! * `vmregion`: `read_optimistic` of a region filled by `pread(2)`: the state word,
//!   the read and the re-check (vmcache's hit, without the harness);
//! * `vmregion fresh`: the same on a region made and filled again just before;
//! * `vmregion fresh, random order`: the same, filled in a random page order (as
//!   vmcache's misses fill it: the physical frames behind neighbouring pages scatter).
//!
//! The loops above read independent random blocks: the core keeps many reads in
//! flight, so they are bound by memory-level parallelism, and every extra load and
//! instruction per read (the state word, its re-check) costs throughput. The vmcache
//! paper's in-memory parity concerns dependent reads (a B-tree descent: the next page
//! depends on the data just read), where the state word's load overlaps the data's
//! miss. Two more loops read such a chain, beside each other, alternated:
//!
//! * `mmap, dependent chain`: through the populated mapping, the next block a hash of
//!   the u64 just read (and a counter, so the chain does not cycle), modulo the blocks;
//! * `vmregion, dependent chain`: the same chain through `read_optimistic` of the first
//!   region.
//!
//! Each figure is ops/s summed over the threads; every read's header is checked.
//!
//!   cargo run --release --example vmcache_floor -- [--threads 2] [--seconds 2]
//!       [--rounds 3] [--size 2GiB] [--mem 256MiB] [--only miss|mem]
#[path = "common/floor.rs"]
mod floor;

use faultline::backend::pread::read_block;
use faultline::datafile::page::{self, PAGE};
use faultline::env::zram::Zram;
use faultline::sys::vmregion::{ExclusivePage, Release, VmRegion};
use faultline::{sys, units};
use floor::{direct, fill, next, open, timed};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

const TAG: u64 = 0xf100_4c0f_fee5;
const BATCH: usize = 64;

struct Args {
    threads: usize,
    secs: f64,
    rounds: usize,
    size: u64,
    mem: u64,
    only: Option<String>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        threads: 2,
        secs: 2.0,
        rounds: 3,
        size: 2 << 30,
        mem: 256 << 20,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or_else(|| format!("{k} needs a value"));
        match k.as_str() {
            "--threads" => a.threads = v()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--seconds" => a.secs = v()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--rounds" => a.rounds = v()?.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--size" => a.size = units::parse_size(&v()?).map_err(|e| format!("--size: {e}"))?,
            "--mem" => a.mem = units::parse_size(&v()?).map_err(|e| format!("--mem: {e}"))?,
            "--only" => a.only = Some(v()?),
            _ => return Err(format!("unknown argument {k}")),
        }
    }
    if a.threads == 0 || a.rounds == 0 || a.secs.is_nan() || a.secs <= 0.0 {
        return Err("--threads, --rounds and --seconds must be positive".into());
    }
    if a.size < (64 << 20)
        || !a.size.is_multiple_of(PAGE as u64)
        || a.mem > a.size
        || a.mem < (1 << 20)
    {
        return Err("--size must be a multiple of 4 KiB, at least 64 MiB, and --mem between 1 MiB and --size".into());
    }
    if let Some(o) = &a.only {
        if o != "miss" && o != "mem" {
            return Err("--only takes miss or mem".into());
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vmcache_floor: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let a = parse()?;
    let z = Zram::create(a.size).map_err(|e| format!("{e}"))?;
    eprintln!(
        "filling {} ({})...",
        z.dev.display(),
        units::format_size(a.size)
    );
    fill(&z.dev, a.size, TAG)?;
    let pages = a.size / PAGE as u64;
    let mut rows: Vec<(String, Vec<f64>)> = Vec::new();
    let mut add = |name: &str, v: f64| match rows.iter_mut().find(|r| r.0 == name) {
        Some(r) => r.1.push(v),
        None => rows.push((name.to_string(), vec![v])),
    };
    let miss = a.only.as_deref() != Some("mem");
    let mem = a.only.as_deref() != Some("miss");
    for round in 0..a.rounds {
        if miss {
            let (x, y, w) = if round.is_multiple_of(2) {
                (
                    direct(&z.dev, a.threads, a.secs, pages, TAG)?,
                    miss_release(&z.dev, &a, pages)?,
                    miss_no_release(&z.dev, &a, pages)?,
                )
            } else {
                let y = miss_release(&z.dev, &a, pages)?;
                let w = miss_no_release(&z.dev, &a, pages)?;
                (direct(&z.dev, a.threads, a.secs, pages, TAG)?, y, w)
            };
            add("all miss: direct (fixed buffer)", x);
            add("all miss: miss+release (region, batch 64)", y);
            add("all miss: miss, no release (64 resident pages)", w);
            add("all miss: RATIO miss+release / direct", y / x);
        }
        if mem {
            let r = in_memory(&z.dev, &a, round)?;
            for (k, v) in r {
                add(&k, v);
            }
        }
        eprintln!("round {round} done");
    }
    println!(
        "vmcache floor: {} threads, {} s per loop, {} rounds (alternated), zram {}",
        a.threads,
        a.secs,
        a.rounds,
        units::format_size(a.size)
    );
    for (k, v) in &rows {
        let mut s = v.clone();
        s.sort_by(|x, y| x.total_cmp(y));
        let med = s[s.len() / 2];
        let all: Vec<String> = v
            .iter()
            .map(|x| {
                if k.contains("RATIO") {
                    format!("{x:.3}")
                } else {
                    format!("{x:.0}")
                }
            })
            .collect();
        if k.contains("RATIO") {
            println!("  {k:<52} median {med:>10.3}   [{}]", all.join(", "));
        } else {
            println!("  {k:<52} median {med:>10.0}   [{}] ops/s", all.join(", "));
        }
    }
    drop(z);
    Ok(())
}

fn region(pages: u64) -> Result<VmRegion, String> {
    VmRegion::new(pages as usize, PAGE, Release::ProcessMadvise).map_err(|e| e.to_string())
}

fn miss_release(dev: &std::path::Path, a: &Args, pages: u64) -> Result<f64, String> {
    let r = region(pages)?;
    if r.release_method() != Release::ProcessMadvise {
        eprintln!("note: process_madvise refused, releasing with madvise(2) per run");
    }
    timed(a.threads, a.secs, |t, stop| {
        let f = open(dev)?;
        let mut s = 0x51_7cc1_b727 + t as u64 * 104_729;
        let (mut ops, mut bad) = (0u64, 0u64);
        let mut batch: Vec<ExclusivePage<'_>> = Vec::with_capacity(BATCH);
        while !stop.load(Ordering::Relaxed) {
            let p = next(&mut s, pages);
            // Resident (in another thread's batch) or latched: take another block.
            let Some(mut x) = r.try_lock_evicted(p as usize) else {
                continue;
            };
            read_block(&f, x.data_mut(), p * PAGE as u64).map_err(|e| e.0)?;
            bad += (u64::from_le_bytes(x.data_mut()[..8].try_into().unwrap())
                != page::header(p, TAG)) as u64;
            x.set_loaded();
            batch.push(x);
            if batch.len() == BATCH {
                r.release(&mut batch).map_err(|e| e.to_string())?;
            }
            ops += 1;
        }
        r.release(&mut batch).map_err(|e| e.to_string())?;
        Ok((ops, bad))
    })
}

fn miss_no_release(dev: &std::path::Path, a: &Args, pages: u64) -> Result<f64, String> {
    let r = region(pages)?;
    timed(a.threads, a.secs, |t, stop| {
        let f = open(dev)?;
        // Pages t*64 .. t*64+64 of the region, resident for the whole loop.
        let mut own: Vec<ExclusivePage<'_>> = (0..BATCH)
            .map(|k| r.try_lock_evicted(t * BATCH + k))
            .collect::<Option<_>>()
            .ok_or("region pages already latched")?;
        let mut s = 0x2b99_2ddf_a232 + t as u64 * 15_485_863;
        let (mut ops, mut bad) = (0u64, 0u64);
        let mut k = 0;
        while !stop.load(Ordering::Relaxed) {
            let p = next(&mut s, pages);
            let x = &mut own[k];
            k = (k + 1) % BATCH;
            read_block(&f, x.data_mut(), p * PAGE as u64).map_err(|e| e.0)?;
            bad += (u64::from_le_bytes(x.data_mut()[..8].try_into().unwrap())
                != page::header(p, TAG)) as u64;
            ops += 1;
        }
        for x in own.iter_mut() {
            x.set_loaded();
        }
        Ok((ops, bad))
    })
}

/// Fill every page of a new region by pread (as vmcache's warm-up does), in page order
/// or, `random`, in a random order (as vmcache's misses load them).
fn loaded_region(dev: &std::path::Path, pages: u64, random: bool) -> Result<VmRegion, String> {
    let r = region(pages)?;
    let f = open(dev)?;
    let mut order: Vec<u64> = (0..pages).collect();
    if random {
        let mut s = 0xdead_beef_u64;
        for k in (1..order.len()).rev() {
            let j = next(&mut s, k as u64 + 1) as usize;
            order.swap(k, j);
        }
    }
    for p in order {
        let mut x = r
            .try_lock_evicted(p as usize)
            .ok_or("fresh region page latched")?;
        read_block(&f, x.data_mut(), p * PAGE as u64).map_err(|e| e.0)?;
        x.set_loaded();
    }
    Ok(r)
}

fn in_memory(dev: &std::path::Path, a: &Args, round: usize) -> Result<Vec<(String, f64)>, String> {
    let pages = a.mem / PAGE as u64;
    let f = File::open(dev).map_err(|e| e.to_string())?;
    // Bring the first `mem` bytes into the page cache, then map them populated.
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0;
    while off < a.mem {
        f.read_exact_at(&mut buf, off).map_err(|e| e.to_string())?;
        off += buf.len() as u64;
    }
    let map = sys::map_readonly(&f, a.mem as usize, true).map_err(|e| e.to_string())?;
    let mut anon = memmap2::MmapMut::map_anon(a.mem as usize).map_err(|e| e.to_string())?;
    f.read_exact_at(&mut anon, 0).map_err(|e| e.to_string())?;
    // Kept across rounds ("old"), and one made again each round ("fresh").
    let old = OLD.get_or_init(|| loaded_region(dev, pages, false));
    let old = old.as_ref().map_err(|e| e.clone())?;
    let fresh = loaded_region(dev, pages, false)?;
    let shuffled = loaded_region(dev, pages, true)?;
    let mut out = Vec::new();
    let plain = |mem: &[u8], name: &str| -> Result<(String, f64), String> {
        let v = timed(a.threads, a.secs, |t, stop| {
            let mut s = 0x1234_5678 + t as u64 * 31;
            let (mut ops, mut bad) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..256 {
                    let p = next(&mut s, pages);
                    let i = p as usize * PAGE;
                    let h = u64::from_le_bytes(mem[i..i + 8].try_into().unwrap());
                    bad += (h != page::header(p, TAG)) as u64;
                }
                ops += 256;
            }
            Ok((ops, bad))
        })?;
        Ok((name.to_string(), v))
    };
    let opt = |r: &VmRegion, name: &str| -> Result<(String, f64), String> {
        let v = timed(a.threads, a.secs, |t, stop| {
            let mut s = 0x1234_5678 + t as u64 * 31;
            let (mut ops, mut bad) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..256 {
                    let p = next(&mut s, pages);
                    match r.read_optimistic(p as usize, |d| {
                        u64::from_le_bytes(d[..8].try_into().unwrap())
                    }) {
                        Ok(h) => bad += (h != page::header(p, TAG)) as u64,
                        Err(_) => return Err(format!("page {p} not resident")),
                    }
                }
                ops += 256;
            }
            Ok((ops, bad))
        })?;
        Ok((name.to_string(), v))
    };
    let chain = |name: &str, v: f64| (name.to_string(), v);
    let map_read = |p: u64| -> Result<u64, String> {
        let i = p as usize * PAGE;
        Ok(u64::from_le_bytes(map[i..i + 8].try_into().unwrap()))
    };
    let vm_read = |p: u64| -> Result<u64, String> {
        old.read_optimistic(p as usize, |d| {
            u64::from_le_bytes(d[..8].try_into().unwrap())
        })
        .map_err(|_| format!("page {p} not resident"))
    };
    let order: [u8; 7] = if round.is_multiple_of(2) {
        [0, 1, 2, 3, 4, 5, 6]
    } else {
        [6, 5, 4, 3, 2, 1, 0]
    };
    let mut mm = 0.0;
    let mut vals = [0.0f64; 7];
    for o in order {
        let (k, v) = match o {
            0 => plain(&map, "in memory: mmap (page cache, populated)")?,
            1 => plain(&anon, "in memory: anon (map_anon, plain read)")?,
            2 => opt(old, "in memory: vmregion (first region, state word)")?,
            3 => opt(&fresh, "in memory: vmregion fresh (new region each round)")?,
            4 => opt(
                &shuffled,
                "in memory: vmregion fresh, loaded in random order",
            )?,
            5 => chain(
                "in memory: mmap, dependent chain",
                dependent(a, pages, map_read)?,
            ),
            _ => chain(
                "in memory: vmregion, dependent chain",
                dependent(a, pages, vm_read)?,
            ),
        };
        if o == 0 {
            mm = v;
        }
        vals[o as usize] = v;
        out.push((k, v));
    }
    out.sort_by(|x, y| x.0.cmp(&y.0));
    out.push(("in memory: RATIO anon / mmap".into(), vals[1] / mm));
    out.push(("in memory: RATIO vmregion / mmap".into(), vals[2] / mm));
    out.push((
        "in memory: RATIO vmregion fresh / mmap".into(),
        vals[3] / mm,
    ));
    out.push((
        "in memory: RATIO vmregion random-order / mmap".into(),
        vals[4] / mm,
    ));
    out.push((
        "in memory: RATIO dependent chain vmregion / mmap".into(),
        vals[6] / vals[5],
    ));
    Ok(out)
}

/// A dependent chain of reads (ops/s): each read's block is a hash of the u64 the
/// previous read returned (and of a counter, so the chain never closes into a short
/// cycle), mapped onto the blocks by a multiply-shift (no division on the chain).
fn dependent<F>(a: &Args, pages: u64, read: F) -> Result<f64, String>
where
    F: Fn(u64) -> Result<u64, String> + Sync,
{
    timed(a.threads, a.secs, |t, stop| {
        let mut s = 0x0bad_cafe + t as u64 * 131;
        let mut p = next(&mut s, pages);
        let (mut ops, mut bad) = (0u64, 0u64);
        while !stop.load(Ordering::Relaxed) {
            for k in 0..256u64 {
                let h = read(p)?;
                bad += (h != page::header(p, TAG)) as u64;
                p = ((page::mix(h ^ (ops + k)) as u128 * pages as u128) >> 64) as u64;
            }
            ops += 256;
        }
        Ok((ops, bad))
    })
}

static OLD: std::sync::OnceLock<Result<VmRegion, String>> = std::sync::OnceLock::new();
