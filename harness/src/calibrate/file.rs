//! Primitives on a cached file: the minor fault of a new mapping of a page that is
//! in the page cache, and a 4 KiB pread from the page cache. Both use one scratch file
//! in the data directory, written, flushed (so its pages are clean and cached) and
//! removed at the end.

use super::{random_pages, Options, Primitive};
use crate::sys::calibrate::{thread_faults, Region};
use crate::ui::Reporter;
use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// The scratch file, removed on drop.
struct Scratch {
    path: PathBuf,
    file: File,
    len: usize,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn scratch(opts: &Options) -> Result<Scratch> {
    let len: usize = opts.pick(64 << 20, 16 << 20);
    let path = opts
        .data_dir
        .join(format!("calibrate-{}.tmp", std::process::id()));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| {
            format!(
                "cannot create the scratch file {}; choose a writable directory with --data-dir",
                path.display()
            )
        })?;
    let s = Scratch {
        path,
        file: file.try_clone()?,
        len,
    };
    let tag = crate::datafile::page::file_tag(7);
    let mut buf = vec![0u8; 1 << 20];
    for chunk in 0..len / buf.len() {
        for (i, pg) in buf.chunks_mut(4096).enumerate() {
            crate::datafile::page::fill_page(pg, (chunk * 256 + i) as u64, tag);
        }
        file.write_all(&buf)
            .with_context(|| format!("cannot write {}", s.path.display()))?;
    }
    // Clean pages: no writeback can run while faults are timed.
    file.sync_all()
        .with_context(|| format!("cannot flush {}", s.path.display()))?;
    Ok(s)
}

/// file_minor_fault and pread_4k_cached.
pub fn measure(opts: &Options, _ui: &dyn Reporter) -> Result<Vec<Primitive>> {
    let s = scratch(opts)?;
    Ok(vec![minor_fault(opts, &s), pread_cached(opts, &s)])
}

fn fault_around_kib() -> String {
    std::fs::read_to_string("/sys/kernel/debug/fault_around_bytes")
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .map_or_else(
            || "64 KiB by default".to_string(),
            |b| format!("{} KiB", b / 1024),
        )
}

/// Map the first `len` bytes of `f` anew (MADV_RANDOM), read one byte of each page in
/// `order`, and return the on-CPU time with the minor and major faults it took.
pub(super) fn touch_mapped(
    f: &std::fs::File,
    len: usize,
    order: &[usize],
) -> std::io::Result<(f64, u64, u64)> {
    let r = Region::file(f, len)?;
    r.advise(libc::MADV_RANDOM)?;
    let (min0, maj0) = thread_faults()?;
    let t0 = super::CpuTimer::start();
    let mut acc = 0u8;
    for &p in order {
        acc ^= r.read(p);
    }
    let ns = t0.ns();
    std::hint::black_box(acc);
    let (min1, maj1) = thread_faults()?;
    Ok((ns, min1 - min0, maj1 - maj0))
}

fn minor_fault(opts: &Options, s: &Scratch) -> Primitive {
    let pages = s.len / 4096;
    let order = random_pages(pages, pages, 11);
    let mut samples = Vec::new();
    let mut pages_per_fault = Vec::new();
    let mut majors = 0;
    for _ in 0..opts.reps {
        match touch_mapped(&s.file, s.len, &order) {
            Ok((ns, minors, maj)) if minors > 0 => {
                samples.push(ns / minors as f64);
                pages_per_fault.push(pages as f64 / minors as f64);
                majors += maj;
            }
            Ok(_) => {
                return Primitive::skipped(
                    "file_minor_fault",
                    "no minor fault was counted (getrusage): cannot attribute the time".into(),
                    "first touch of cached file pages through a new mapping".into(),
                )
            }
            Err(e) => {
                return Primitive::skipped(
                    "file_minor_fault",
                    format!("cannot map the scratch file: {e}"),
                    "first touch of cached file pages through a new mapping".into(),
                )
            }
        }
    }
    let ppf = super::Stats::of(&pages_per_fault).map_or(0.0, |s| s.median);
    let method = format!(
        "per repetition: a new shared mapping (MADV_RANDOM) of a cached, clean {} MiB file, every page read once in random order; time / minor faults (getrusage): {ppf:.1} pages mapped per fault (fault-around of {}; a large folio is mapped whole){}",
        s.len >> 20,
        fault_around_kib(),
        if majors > 0 {
            format!("; {majors} major faults seen (the cache lost pages)")
        } else {
            String::new()
        }
    );
    Primitive::measured("file_minor_fault", &samples, method)
}

fn pread_cached(opts: &Options, s: &Scratch) -> Primitive {
    let n: usize = opts.pick(20_000, 5_000);
    let pages = s.len / 4096;
    let offs: Vec<u64> = (0..n)
        .map(|i| (crate::datafile::page::mix(i as u64) % pages as u64) * 4096)
        .collect();
    let mut buf = vec![0u8; 4096];
    let method = format!(
        "{n} pread(4 KiB) at random page offsets of a cached {} MiB file into a user buffer, per call",
        s.len >> 20
    );
    let mut samples = Vec::new();
    for _ in 0..opts.reps {
        let t0 = super::CpuTimer::start();
        for &o in &offs {
            if let Err(e) = s.file.read_exact_at(&mut buf, o) {
                return Primitive::skipped("pread_4k_cached", format!("pread failed: {e}"), method);
            }
        }
        samples.push(t0.ns() / n as f64);
        std::hint::black_box(&buf);
    }
    Primitive::measured("pread_4k_cached", &samples, method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_file_primitives_are_measured_and_the_file_removed() {
        let d = std::env::temp_dir().join(format!("fl-cal-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let opts = Options {
            reps: 5,
            quick: true,
            data_dir: d.clone(),
        };
        let ps = measure(&opts, &crate::ui::Quiet).unwrap();
        assert_eq!(ps.len(), 2);
        for p in &ps {
            p.check().unwrap();
            assert!(p.ns().is_some(), "{p:?}");
        }
        assert!(
            ps[0].method.contains("pages mapped per fault"),
            "{}",
            ps[0].method
        );
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0, "scratch removed");
        std::fs::remove_dir(&d).unwrap();
    }
}
