//! First touches of anonymous memory: what a page costs the first time a process
//! writes it, when the memory was just freed by this process (recycled: the kernel's
//! free lists hand the same, host-backed, pages back) and when it is memory the host
//! has not backed (fresh: in a VM whose virtio-balloon reports free pages, the guest
//! hands free memory back to the host, and the first touch after that makes the host
//! fault the page in again). Every region is advised MADV_NOHUGEPAGE, so each touch is
//! one 4 KiB fault, as for page-cache pages.

use super::{Options, Primitive};
use crate::sys::calibrate::Region;
use crate::ui::Reporter;
use std::path::Path;
use std::time::{Duration, Instant};

const REPORTED_KIB: &str = "/sys/module/page_reporting/parameters/reported_kib";

/// KiB the guest has reported free to the host so far (cumulative), where this kernel
/// exposes it.
pub fn reported_kib() -> Option<u64> {
    std::fs::read_to_string(REPORTED_KIB)
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// Whether free page reporting exists here, in words for the method line.
fn balloon_state() -> String {
    let balloon = Path::new("/sys/bus/virtio/drivers/virtio_balloon").exists();
    let reporting = Path::new("/sys/module/page_reporting").exists();
    match (balloon, reporting) {
        (true, true) => "virtio-balloon with free page reporting".into(),
        (true, false) => "virtio-balloon without free page reporting".into(),
        (false, true) => "free page reporting without virtio-balloon".into(),
        (false, false) => "no virtio-balloon and no free page reporting".into(),
    }
}

/// Bytes per region and pages in it.
fn region_bytes(opts: &Options) -> usize {
    opts.pick(64 << 20, 16 << 20)
}

/// A new region, advised to use 4 KiB pages.
fn region(len: usize) -> std::io::Result<Region> {
    let r = Region::anon(len)?;
    // THP may be compiled out (EINVAL): then the pages are 4 KiB anyway.
    let _ = r.advise(libc::MADV_NOHUGEPAGE);
    Ok(r)
}

/// Touch every page of `r` (one byte written per page); ns per page.
fn touch_all(r: &mut Region) -> f64 {
    let n = r.pages();
    let t0 = super::CpuTimer::start();
    for p in 0..n {
        r.write(p, 1);
    }
    t0.ns() / n as f64
}

/// anon_first_touch_recycled: per repetition, touch a region, unmap it, map a region
/// of the same size and time the first touch of each of its pages.
pub fn recycled(opts: &Options) -> Primitive {
    let len = region_bytes(opts);
    let method = format!(
        "per repetition: map {} MiB anonymous (MADV_NOHUGEPAGE), touch every page, unmap, map {} MiB again and time the first write to each page (the pages this process just freed), {}, per page",
        len >> 20,
        len >> 20,
        super::TIMING
    );
    let mut samples = Vec::new();
    for _ in 0..opts.reps {
        let once = || -> std::io::Result<f64> {
            let mut a = region(len)?;
            touch_all(&mut a);
            drop(a);
            let mut b = region(len)?;
            Ok(touch_all(&mut b))
        };
        match once() {
            Ok(v) => samples.push(v),
            Err(e) => {
                return Primitive::skipped(
                    "anon_first_touch_recycled",
                    format!("cannot map {} MiB: {e}", len >> 20),
                    method,
                )
            }
        }
    }
    Primitive::measured("anon_first_touch_recycled", &samples, method)
}

/// anon_first_touch_fresh, measured first in the run (before the other primitives
/// free memory that the next allocations would reuse): wait until reported_kib shows
/// that the guest has handed at least as much free memory to the host as will be
/// touched (or a timeout passes), then touch new regions, kept mapped so that no
/// repetition reuses another's pages.
pub fn fresh(opts: &Options, ui: &dyn Reporter) -> Primitive {
    let len = region_bytes(opts);
    let total = len * opts.reps as usize;
    let state = balloon_state();
    let want_kib = (total / 1024) as u64;
    let timeout = Duration::from_secs(opts.pick(15, 5));
    let t0 = Instant::now();
    let wait = match reported_kib() {
        Some(r0) => {
            let mut now = r0;
            ui.note(&format!(
                "anon_first_touch_fresh: waiting up to {} s for the guest to report {} MiB of free memory to the host",
                timeout.as_secs(),
                want_kib >> 10
            ));
            while now.saturating_sub(r0) < want_kib && t0.elapsed() < timeout {
                if crate::interrupt::requested() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
                now = reported_kib().unwrap_or(now);
            }
            let grown = now.saturating_sub(r0);
            format!(
                "waited {:.1} s, in which reported_kib grew by {} MiB{}",
                t0.elapsed().as_secs_f64(),
                grown >> 10,
                if grown >= want_kib {
                    String::new()
                } else {
                    format!(
                        " (less than the {} MiB touched: some pages may be backed by the host, which lowers the figure)",
                        want_kib >> 10
                    )
                }
            )
        }
        None if state.contains("with free page reporting") => {
            "this kernel exposes no reported_kib, so whether the host took the memory back cannot be checked".to_string()
        }
        None => "nothing is handed back to the host here, so this is the first touch of memory this process never used (host-backed like recycled pages)".to_string(),
    };
    let method = format!(
        "{state}; {wait}; then per repetition: map {} MiB anonymous (MADV_NOHUGEPAGE, kept mapped) and time the first write to each page, {}, per page",
        len >> 20,
        super::TIMING
    );
    let mut kept = Vec::new();
    let mut samples = Vec::new();
    for _ in 0..opts.reps {
        match region(len) {
            Ok(mut r) => {
                samples.push(touch_all(&mut r));
                kept.push(r);
            }
            Err(e) => {
                return Primitive::skipped(
                    "anon_first_touch_fresh",
                    format!("cannot map {} MiB: {e}", len >> 20),
                    method,
                )
            }
        }
    }
    drop(kept);
    Primitive::measured("anon_first_touch_fresh", &samples, method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycled_touch_is_measured() {
        let opts = Options {
            reps: 5,
            quick: true,
            data_dir: ".".into(),
        };
        let p = recycled(&opts);
        p.check().unwrap();
        let ns = p.ns().expect("measured");
        // A first touch is a page fault: well above a cached store, well below a ms.
        assert!(ns > 50.0 && ns < 1e6, "{ns}");
    }
}
