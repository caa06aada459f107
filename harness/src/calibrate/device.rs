//! Primitives on an emulated fast device (root): a zram device hot-added for the
//! calibration (env::zram, removed afterwards; existing zram devices are never
//! touched), filled with the data pattern. On it: the major fault of a cold page
//! through a MADV_RANDOM mapping, a 4 KiB O_DIRECT read, and the eviction of a page
//! when a memory cgroup's page cache is full (env::cgroup, removed afterwards).

use super::{random_pages, Options, Primitive, NEEDS_ROOT};
use crate::env::cgroup::MemCgroup;
use crate::env::zram::Zram;
use crate::probe::parse::{self, CgroupVersion};
use crate::ui::Reporter;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};

const MAJOR: &str = "zram_major_fault";
const DIRECT: &str = "direct_4k_zram";
const EVICT: &str = "page_cache_evict";

fn methods(opts: &Options) -> [String; 3] {
    let size = device_bytes(opts) >> 20;
    let limit = limit_bytes(opts) >> 20;
    [
        format!(
            "per repetition: drop the page cache of a {size} MiB zram device (filled with incompressible pages), map it shared with MADV_RANDOM (no read-ahead), read {} random distinct pages; time / major faults (getrusage)",
            faults(opts)
        ),
        format!(
            "{} O_DIRECT pread(4 KiB) at random page offsets of a {size} MiB zram device, per call",
            direct_reads(opts)
        ),
        format!(
            "in a memory cgroup limited to {limit} MiB: 4 KiB buffered reads (POSIX_FADV_RANDOM) of distinct cold pages of the zram device, once with room in the cache and once with the cache full; (time full - median time with room) / pages evicted (memory.stat), per page"
        ),
    ]
}

fn device_bytes(opts: &Options) -> u64 {
    opts.pick(256 << 20, 128 << 20)
}
fn limit_bytes(opts: &Options) -> u64 {
    opts.pick(64 << 20, 32 << 20)
}
fn faults(opts: &Options) -> usize {
    opts.pick(4096, 1024)
}
fn direct_reads(opts: &Options) -> usize {
    opts.pick(20_000, 5_000)
}

/// zram_major_fault, direct_4k_zram, page_cache_evict (all skipped with the reason
/// when not root or when zram is missing).
pub fn measure(opts: &Options, ui: &dyn Reporter) -> Vec<Primitive> {
    let [m_major, m_direct, m_evict] = methods(opts);
    let skip_all = |why: String| {
        vec![
            Primitive::skipped(MAJOR, why.clone(), m_major.clone()),
            Primitive::skipped(DIRECT, why.clone(), m_direct.clone()),
            Primitive::skipped(EVICT, why, m_evict.clone()),
        ]
    };
    if crate::sys::uid() != 0 {
        return skip_all(format!("{NEEDS_ROOT}; run `faultline calibrate` as root"));
    }
    let size = device_bytes(opts);
    let zram = match Zram::create(size) {
        Ok(z) => z,
        Err(e) => return skip_all(format!("cannot set up a zram device: {e}")),
    };
    ui.note(&format!(
        "hot-added {} ({} MiB) for the device primitives; it is removed at the end",
        zram.name(),
        size >> 20
    ));
    if let Err(e) = crate::datafile::fill_device(&zram.dev, size, 0x63616c, ui) {
        return skip_all(format!("cannot fill {}: {e:#}", zram.name()));
    }
    let open =
        || File::open(&zram.dev).map_err(|e| format!("cannot open {}: {e}", zram.dev.display()));
    let major = open()
        .and_then(|f| major_fault(opts, &f, size))
        .map_or_else(
            |e| Primitive::skipped(MAJOR, e, m_major.clone()),
            |s| Primitive::measured(MAJOR, &s, m_major.clone()),
        );
    let direct = direct_reads_ns(opts, &zram, size).map_or_else(
        |e| Primitive::skipped(DIRECT, e, m_direct.clone()),
        |s| Primitive::measured(DIRECT, &s, m_direct.clone()),
    );
    let evict = match open().and_then(|f| evict(opts, &f, size)) {
        Ok((s, note)) => Primitive::measured(EVICT, &s, format!("{m_evict}; {note}")),
        Err(e) => Primitive::skipped(EVICT, e, m_evict),
    };
    drop(zram);
    vec![major, direct, evict]
}

fn major_fault(opts: &Options, f: &File, size: u64) -> Result<Vec<f64>, String> {
    let pages = (size / 4096) as usize;
    let mut samples = Vec::new();
    for rep in 0..opts.reps {
        crate::sys::drop_file_cache(f).map_err(|e| format!("cannot drop the cache: {e}"))?;
        let order = random_pages(pages, faults(opts), 100 + u64::from(rep));
        let (ns, _, majors) = super::file::touch_mapped(f, size as usize, &order)
            .map_err(|e| format!("mapped reads of the device: {e}"))?;
        if majors == 0 {
            return Err(
                "no major fault was counted: the device's cache could not be dropped".into(),
            );
        }
        samples.push(ns / majors as f64);
    }
    Ok(samples)
}

fn direct_reads_ns(opts: &Options, z: &Zram, size: u64) -> Result<Vec<f64>, String> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(&z.dev)
        .map_err(|e| format!("cannot open {} with O_DIRECT: {e}", z.dev.display()))?;
    let mut buf = crate::sys::AlignedBuf::new(4096, 4096).map_err(|e| e.to_string())?;
    let n = direct_reads(opts);
    let pages = size / 4096;
    let offs: Vec<u64> = (0..n)
        .map(|i| (crate::datafile::page::mix(i as u64 ^ 0xd1) % pages) * 4096)
        .collect();
    let mut samples = Vec::new();
    for _ in 0..opts.reps {
        let t0 = super::CpuTimer::start();
        for &o in &offs {
            f.read_exact_at(&mut buf[..4096], o)
                .map_err(|e| format!("O_DIRECT pread: {e}"))?;
        }
        samples.push(t0.ns() / n as f64);
    }
    Ok(samples)
}

/// Pages evicted from `cg` so far: v1 `pgpgout`, v2 `pgsteal`.
fn evicted(cg: &MemCgroup) -> Result<u64, String> {
    let text = std::fs::read_to_string(cg.path().join("memory.stat"))
        .map_err(|e| format!("cannot read memory.stat: {e}"))?;
    let stat = parse::parse_flat_keyed(&text);
    let key = match cg.version {
        CgroupVersion::V1 => "pgpgout",
        CgroupVersion::V2 => "pgsteal",
    };
    stat.get(key)
        .copied()
        .ok_or_else(|| format!("memory.stat has no {key}"))
}

/// Read pages `first..first + n` (4 KiB each); elapsed ns.
fn read_pages(f: &File, first: u64, n: u64, buf: &mut [u8]) -> Result<f64, String> {
    let t0 = super::CpuTimer::start();
    for p in first..first + n {
        f.read_exact_at(buf, p * 4096)
            .map_err(|e| format!("pread: {e}"))?;
    }
    Ok(t0.ns())
}

fn evict(opts: &Options, f: &File, size: u64) -> Result<(Vec<f64>, String), String> {
    let limit = limit_bytes(opts);
    let m = limit / 2 / 4096; // pages per timed phase
    let fill = limit / 4096 + limit / 4096 / 4; // past the limit
    if (2 * m + fill) * 4096 > size {
        return Err("the device is too small for the cgroup limit".into());
    }
    crate::sys::fadvise(f, 0, 0, libc::POSIX_FADV_RANDOM)
        .map_err(|e| format!("posix_fadvise: {e}"))?;
    let mut cg = MemCgroup::create(limit).map_err(|e| format!("memory cgroup: {e}"))?;
    let mut buf = vec![0u8; 4096];
    let mut phases: Vec<(f64, f64, u64)> = Vec::new();
    let mut evicted_total = 0u64;
    let mut pages_total = 0u64;
    let version = cg.version;
    let mut run = |cg: &mut MemCgroup| -> Result<(), String> {
        cg.enter().map_err(|e| e.to_string())?;
        for _ in 0..opts.reps {
            crate::sys::drop_file_cache(f).map_err(|e| format!("cannot drop the cache: {e}"))?;
            // With room: the cache holds less than half the limit afterwards.
            let room = read_pages(f, 0, m, &mut buf)?;
            // Fill the cache past the limit, untimed.
            read_pages(f, m, fill, &mut buf)?;
            let e0 = evicted(cg)?;
            let full = read_pages(f, m + fill, m, &mut buf)?;
            let ev = evicted(cg)? - e0;
            if ev == 0 {
                return Err(format!(
                    "no page was evicted while reading {} MiB past a {} MiB limit",
                    (m * 4096) >> 20,
                    limit >> 20
                ));
            }
            evicted_total += ev;
            pages_total += m;
            phases.push((room, full, ev));
        }
        Ok(())
    };
    let r = run(&mut cg);
    let left = cg.leave().map_err(|e| e.to_string());
    drop(cg);
    let _ = crate::sys::drop_file_cache(f);
    r?;
    left?;
    // Against the median time with room (less noisy than each repetition's own).
    let rooms: Vec<f64> = phases.iter().map(|p| p.0).collect();
    let room = super::Stats::of(&rooms).map_or(0.0, |s| s.median);
    let samples: Vec<f64> = phases
        .iter()
        .map(|&(_, full, ev)| (full - room) / ev as f64)
        .collect();
    let below = samples.iter().filter(|v| **v <= 0.0).count();
    if below > 0 {
        return Err(format!(
            "eviction cost below the noise: reading with the cache full was not slower than with room in {below} of {} repetitions",
            samples.len()
        ));
    }
    Ok((
        samples,
        format!(
            "cgroup {version}, {:.2} pages evicted per page read while full",
            evicted_total as f64 / pages_total.max(1) as f64
        ),
    ))
}
