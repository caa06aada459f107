//! What the floor examples (`vmcache_floor`, `bufferpool_floor`) share: the random
//! block index, the timed loop over threads, the device's fill, and `O_DIRECT` reads
//! into one fixed buffer (what the `direct` backend does).

use faultline::backend::direct::open_direct;
use faultline::backend::pread::read_block;
use faultline::datafile::page::{self, PAGE};
use faultline::sys;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// xorshift64*: a random block index below `n`.
#[inline]
pub fn next(s: &mut u64, n: u64) -> u64 {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    (s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) % n
}

/// Run `body(thread, stop)` on `threads` threads for `secs`; each returns its ops and
/// header mismatches. Returns summed ops/s; an error if any read returned the wrong
/// page.
pub fn timed<F>(threads: usize, secs: f64, body: F) -> Result<f64, String>
where
    F: Fn(usize, &AtomicBool) -> Result<(u64, u64), String> + Sync,
{
    let stop = AtomicBool::new(false);
    let t0 = Instant::now();
    let (ops, bad) = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let (body, stop) = (&body, &stop);
                s.spawn(move || body(t, stop))
            })
            .collect();
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
        let (mut ops, mut bad) = (0u64, 0u64);
        for h in hs {
            let (o, b) = h.join().map_err(|_| "a thread panicked".to_string())??;
            ops += o;
            bad += b;
        }
        Ok::<_, String>((ops, bad))
    })?;
    let el = t0.elapsed().as_secs_f64();
    if bad != 0 {
        return Err(format!("{bad} reads returned the wrong page"));
    }
    Ok(ops as f64 / el)
}

/// Write the first `size` bytes of `dev` with the harness's page pattern under `tag`,
/// and sync them.
pub fn fill(dev: &Path, size: u64, tag: u64) -> Result<(), String> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(dev)
        .map_err(|e| format!("open {}: {e}", dev.display()))?;
    let chunk = 1 << 20;
    let mut buf = vec![0u8; chunk];
    let mut off = 0u64;
    while off < size {
        for (k, p) in buf.chunks_mut(PAGE).enumerate() {
            page::fill_page(p, off / PAGE as u64 + k as u64, tag);
        }
        f.write_all_at(&buf, off)
            .map_err(|e| format!("write {}: {e}", dev.display()))?;
        off += chunk as u64;
    }
    f.sync_all().map_err(|e| format!("fsync: {e}"))?;
    Ok(())
}

/// `dev` opened for `O_DIRECT` reads.
pub fn open(dev: &Path) -> Result<File, String> {
    open_direct(dev).map_err(|e| format!("{e:?}"))
}

/// `O_DIRECT` reads of random blocks among the first `pages` of `dev` into one fixed
/// buffer per thread, each block's header checked against `tag`.
pub fn direct(dev: &Path, threads: usize, secs: f64, pages: u64, tag: u64) -> Result<f64, String> {
    timed(threads, secs, |t, stop| {
        let f = open(dev)?;
        let mut buf = sys::AlignedBuf::new(PAGE, PAGE).map_err(|e| e.to_string())?;
        let mut s = 0x9e37_79b9 + t as u64 * 7919;
        let (mut ops, mut bad) = (0u64, 0u64);
        while !stop.load(Ordering::Relaxed) {
            let p = next(&mut s, pages);
            read_block(&f, &mut buf, p * PAGE as u64).map_err(|e| e.0)?;
            let h = u64::from_le_bytes(buf[..8].try_into().expect("a page has 8 bytes"));
            bad += (h != page::header(p, tag)) as u64;
            ops += 1;
        }
        Ok((ops, bad))
    })
}
