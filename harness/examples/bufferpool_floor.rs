//! The floor of the buffer pool's two targets on this machine: plain loops, no harness,
//! no pool code, that do only what a `bufferpool` operation must do, each beside the
//! loop it is compared with, alternated (the order of the loops rotates every round),
//! on a zram device hot-added for the run (root).
//!
//! Miss (random 4 KiB blocks of the whole device, `O_DIRECT`, one descriptor per
//! thread):
//!
//! * `direct`: `pread(2)` into one fixed buffer per thread (the `direct` backend);
//! * `frames in turn (N)`: `pread(2)` into the next of N 4 KiB frames of a region
//!   mapped as the pool maps its frames (anonymous, 2 MiB aligned, MADV_HUGEPAGE,
//!   faulted in before the clock starts), taken in turn as a clock hand takes them.
//!   With N = `--pool` / 4 KiB (4096 for 16 MiB) every read lands in a frame that was
//!   last written 16 MiB of reads ago: out of L1 and L2. Smaller N (512: 2 MiB, 64:
//!   256 KiB) keep the destination in L2, as a pool could if it reused recently freed
//!   frames first (the uniform random miss workload hits 1/64 of the time whichever
//!   frames hold which pages, so the order frames are reused in is free).
//!   `frames in turn (4096) / direct` is the cost of a cache-cold destination alone:
//!   no table, no latch, no clock.
//!
//! Hit (the first `--mem` bytes of the device, warm; random blocks, the first u64 of
//! each read and checked against the page's header):
//!
//! * `mmap`: through a populated shared mapping of the device (its page cache);
//! * `pool layout`: the lookup the pool's layout needs: the page's bucket line (8
//!   entries `(page + 1) << 24 | frame`), the frame's latch line (state word: not
//!   exclusive; tag), the data, an Acquire fence and the state word again (version
//!   unchanged), the referenced bit set if clear: three dependent cache lines;
//! * `one-line bucket`: a bucket line that carries a version word (a seqlock of the
//!   bucket) and 7 entries `(page + 1) << 24 | frame`: the version, the entry, the
//!   data, an Acquire fence and the version again: two dependent cache lines;
//! * `one-line bucket + ref byte`: the same, and a per-frame referenced byte (one byte
//!   per frame, set if clear) for the clock, loaded beside the data;
//! * `one-line bucket + ref bit`: the same with the clock's referenced bit in the entry
//!   (bit 24; set with a CAS of the entry if clear): nothing loaded beyond the two
//!   lines.
//!
//! The frames (data) of the pool loops are an anonymous 2 MiB-aligned MADV_HUGEPAGE
//! region filled by `pread(2)` with the same bytes; frame i holds block i, as the
//! pool's prefault leaves it. Each figure is ops/s summed over the threads.
//!
//!   cargo run --release --example bufferpool_floor -- [--threads 1] [--seconds 1]
//!       [--rounds 5] [--size 1GiB] [--mem 256MiB] [--pool 16MiB] [--only miss|hit]
#[path = "common/floor.rs"]
mod floor;

use faultline::backend::pread::read_block;
use faultline::datafile::page::{self, mix, PAGE};
use faultline::env::zram::Zram;
use faultline::sys::madvise::{madvise_huge, HugeAdvice};
use faultline::{sys, units};
use floor::{direct, fill, next, open, timed};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::process::ExitCode;
use std::sync::atomic::{fence, AtomicU64, AtomicU8, Ordering};

const TAG: u64 = 0xf100_4c0f_fee6;
const HUGE: usize = 2 << 20;

struct Args {
    threads: usize,
    secs: f64,
    rounds: usize,
    size: u64,
    mem: u64,
    pool: u64,
    only: Option<String>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        threads: 1,
        secs: 1.0,
        rounds: 5,
        size: 1 << 30,
        mem: 256 << 20,
        pool: 16 << 20,
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
            "--pool" => a.pool = units::parse_size(&v()?).map_err(|e| format!("--pool: {e}"))?,
            "--only" => a.only = Some(v()?),
            "-h" | "--help" => {
                return Err(
                    "usage: see the comment at the top of harness/examples/bufferpool_floor.rs"
                        .into(),
                )
            }
            _ => return Err(format!("unknown argument {k}")),
        }
    }
    if a.threads == 0 || a.rounds == 0 || a.secs.is_nan() || a.secs <= 0.0 {
        return Err("--threads, --rounds and --seconds must be positive".into());
    }
    if a.size < (64 << 20)
        || !a.size.is_multiple_of(HUGE as u64)
        || !a.mem.is_multiple_of(HUGE as u64)
        || a.mem > a.size
        || a.mem < HUGE as u64
    {
        return Err("--size must be a multiple of 2 MiB, at least 64 MiB, and --mem a multiple of 2 MiB up to --size".into());
    }
    if a.pool < (64 * PAGE) as u64 || !a.pool.is_multiple_of(PAGE as u64) || a.pool > a.size {
        return Err("--pool must be a multiple of 4 KiB, at least 256 KiB, at most --size".into());
    }
    if let Some(o) = &a.only {
        if o != "miss" && o != "hit" {
            return Err("--only takes miss or hit".into());
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bufferpool_floor: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Rows of figures, one per loop, in the order first added.
#[derive(Default)]
struct Rows(Vec<(String, Vec<f64>)>);

impl Rows {
    fn add(&mut self, name: &str, v: f64) {
        match self.0.iter_mut().find(|r| r.0 == name) {
            Some(r) => r.1.push(v),
            None => self.0.push((name.to_string(), vec![v])),
        }
    }

    fn print(&self) {
        for (k, v) in &self.0 {
            let mut s = v.clone();
            s.sort_by(|x, y| x.total_cmp(y));
            let med = s[s.len() / 2];
            let ratio = k.contains("RATIO");
            let all: Vec<String> = v
                .iter()
                .map(|x| {
                    if ratio {
                        format!("{x:.3}")
                    } else {
                        format!("{x:.0}")
                    }
                })
                .collect();
            if ratio {
                println!("  {k:<58} median {med:>10.3}   [{}]", all.join(", "));
            } else {
                println!("  {k:<58} median {med:>10.0}   [{}] ops/s", all.join(", "));
            }
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
    let miss = a.only.as_deref() != Some("hit");
    let hit = a.only.as_deref() != Some("miss");
    let mut rows = Rows::default();
    let hit_state = if hit {
        Some(HitState::new(&z.dev, a.mem)?)
    } else {
        None
    };
    let frames = (a.pool / PAGE as u64) as usize;
    let mut region = huge_region(frames * PAGE)?;
    for round in 0..a.rounds {
        if miss {
            miss_round(&z.dev, &a, round, &mut region, &mut rows)?;
        }
        if let Some(h) = &hit_state {
            h.round(&a, round, &mut rows)?;
        }
        eprintln!("round {round} done");
    }
    println!(
        "bufferpool floor: {} thread(s), {} s per loop, {} rounds (order rotated each round), \
         zram {}, pool {}, in-memory {}",
        a.threads,
        a.secs,
        a.rounds,
        units::format_size(a.size),
        units::format_size(a.pool),
        units::format_size(a.mem)
    );
    rows.print();
    drop(hit_state);
    drop(z);
    Ok(())
}

/// An anonymous region of `len` bytes (a multiple of 4 KiB) on a 2 MiB boundary with
/// MADV_HUGEPAGE, every page written once: the pool's frame memory.
struct Region {
    map: memmap2::MmapMut,
    start: usize,
    len: usize,
}

impl Region {
    fn bytes(&self) -> &[u8] {
        &self.map[self.start..self.start + self.len]
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.map[self.start..self.start + self.len]
    }
}

fn huge_region(len: usize) -> Result<Region, String> {
    let mut map = memmap2::MmapOptions::new()
        .len(len + HUGE)
        .map_anon()
        .map_err(|e| format!("anonymous mapping: {e}"))?;
    let addr = map.as_ptr() as usize;
    let start = addr.next_multiple_of(HUGE) - addr;
    if let Err(e) = madvise_huge(&map[start..start + len], HugeAdvice::HugePage) {
        eprintln!("note: MADV_HUGEPAGE refused ({e}); frames on 4 KiB pages");
    }
    map[start..start + len]
        .iter_mut()
        .step_by(PAGE)
        .for_each(|b| *b = 1);
    Ok(Region { map, start, len })
}

fn miss_round(
    dev: &std::path::Path,
    a: &Args,
    round: usize,
    region: &mut Region,
    rows: &mut Rows,
) -> Result<(), String> {
    let pages = a.size / PAGE as u64;
    let frames = region.len / PAGE;
    let per_thread = frames / a.threads;
    let sets: Vec<usize> = [per_thread, 512, 64]
        .into_iter()
        .filter(|&n| n <= per_thread)
        .collect();
    // 0: direct; 1..: frames in turn over sets[k - 1].
    let n = 1 + sets.len();
    let mut vals = vec![0.0; n];
    for k in 0..n {
        let which = (k + round) % n;
        vals[which] = if which == 0 {
            direct(dev, a.threads, a.secs, pages, TAG)?
        } else {
            in_turn(dev, a, pages, region, sets[which - 1])?
        };
    }
    rows.add("miss: direct (one fixed buffer)", vals[0]);
    for (k, &set) in sets.iter().enumerate() {
        rows.add(
            &format!(
                "miss: frames in turn ({set} frames, {} per thread)",
                units::format_size((set * PAGE) as u64)
            ),
            vals[k + 1],
        );
    }
    for (k, &set) in sets.iter().enumerate() {
        rows.add(
            &format!("miss: RATIO frames in turn ({set}) / direct"),
            vals[k + 1] / vals[0],
        );
    }
    Ok(())
}

/// Reads into frames `set` at a time, in turn, of each thread's share of the region.
fn in_turn(
    dev: &std::path::Path,
    a: &Args,
    pages: u64,
    region: &mut Region,
    set: usize,
) -> Result<f64, String> {
    let share = region.len / a.threads;
    let chunks: Vec<std::sync::Mutex<&mut [u8]>> = region
        .bytes_mut()
        .chunks_mut(share)
        .map(std::sync::Mutex::new)
        .collect();
    timed(a.threads, a.secs, |t, stop| {
        let f = open(dev)?;
        let mut mine = chunks[t].lock().map_err(|_| "poisoned")?;
        let mut s = 0x51_7cc1_b727 + t as u64 * 104_729;
        let (mut ops, mut bad) = (0u64, 0u64);
        let mut k = 0;
        while !stop.load(Ordering::Relaxed) {
            let p = next(&mut s, pages);
            let frame = &mut mine[k * PAGE..(k + 1) * PAGE];
            k = if k + 1 == set { 0 } else { k + 1 };
            read_block(&f, frame, p * PAGE as u64).map_err(|e| e.0)?;
            bad += (word(frame, 0) != page::header(p, TAG)) as u64;
            ops += 1;
        }
        Ok((ops, bad))
    })
}

#[inline]
fn word(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

const FRAME_BITS: u32 = 24;
const FRAME_MASK: u64 = (1 << FRAME_BITS) - 1;
const EXCLUSIVE: u64 = 1 << 63;
const REFERENCED: u64 = 1 << 62;
const VERSION: u64 = (REFERENCED - 1) & !((1 << 32) - 1);

/// The pool's bucket: 8 entries `(page + 1) << 24 | frame`.
#[repr(align(64))]
struct Bucket8([AtomicU64; 8]);

/// The pool's latch line: state word and tag.
#[repr(align(64))]
struct Latch {
    state: AtomicU64,
    tag: AtomicU64,
}

/// A one-line bucket: a version word (odd while a writer changes the bucket) and 7
/// entries.
#[repr(align(64))]
struct Bucket7 {
    version: AtomicU64,
    entries: [AtomicU64; 7],
}

/// Where the one-line bucket's hit marks the frame referenced.
#[derive(Clone, Copy)]
enum Ref {
    None,
    Byte,
    Bit,
}

/// The one-line bucket's entries: `(page + 1) << 26 | flags << 24 | frame`.
const ENTRY_REFERENCED: u64 = 1 << FRAME_BITS;

struct HitState {
    pages: u64,
    /// Populated shared mapping of the device's first `mem` bytes.
    map: memmap2::Mmap,
    /// Frames: frame i holds block i.
    data: Region,
    mask: usize,
    b8: Vec<Bucket8>,
    latches: Vec<Latch>,
    b7: Vec<Bucket7>,
    refs: Vec<AtomicU8>,
    _file: File,
}

impl HitState {
    fn new(dev: &std::path::Path, mem: u64) -> Result<HitState, String> {
        let pages = mem / PAGE as u64;
        let f = File::open(dev).map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 1 << 20];
        let mut off = 0;
        while off < mem {
            f.read_exact_at(&mut buf, off).map_err(|e| e.to_string())?;
            off += buf.len() as u64;
        }
        let map = sys::map_readonly(&f, mem as usize, true).map_err(|e| e.to_string())?;
        let mut data = huge_region(mem as usize)?;
        let d = open(dev)?;
        for (i, frame) in data.bytes_mut().chunks_mut(PAGE).enumerate() {
            read_block(&d, frame, (i * PAGE) as u64).map_err(|e| e.0)?;
        }
        let n = (pages as usize).next_power_of_two();
        let b8: Vec<Bucket8> = (0..n)
            .map(|_| Bucket8(std::array::from_fn(|_| AtomicU64::new(0))))
            .collect();
        let b7: Vec<Bucket7> = (0..n)
            .map(|_| Bucket7 {
                version: AtomicU64::new(0),
                entries: std::array::from_fn(|_| AtomicU64::new(0)),
            })
            .collect();
        let latches: Vec<Latch> = (0..pages)
            .map(|p| Latch {
                state: AtomicU64::new(REFERENCED | (5 << 32)),
                tag: AtomicU64::new(p),
            })
            .collect();
        let refs = (0..pages).map(|_| AtomicU8::new(1)).collect();
        let mask = n - 1;
        let (mut full8, mut full7) = (0, 0);
        for p in 0..pages {
            let e = ((p + 1) << FRAME_BITS) | p;
            let b = mix(p) as usize & mask;
            match b8[b].0.iter().find(|x| x.load(Ordering::Relaxed) == 0) {
                Some(x) => x.store(e, Ordering::Relaxed),
                None => full8 += 1,
            }
            match b7[b]
                .entries
                .iter()
                .find(|x| x.load(Ordering::Relaxed) == 0)
            {
                Some(x) => x.store(
                    ((p + 1) << (FRAME_BITS + 2)) | ENTRY_REFERENCED | p,
                    Ordering::Relaxed,
                ),
                None => full7 += 1,
            }
        }
        if full8 + full7 > 0 {
            eprintln!(
                "note: {full8} pages found their 8-entry bucket full, {full7} their 7-entry one \
                 (read through the fallback, a direct frame read)"
            );
        }
        Ok(HitState {
            pages,
            map,
            data,
            mask,
            b8,
            latches,
            b7,
            refs,
            _file: f,
        })
    }

    fn round(&self, a: &Args, round: usize, rows: &mut Rows) -> Result<(), String> {
        const NAMES: [&str; 5] = [
            "hit: mmap (page cache, populated)",
            "hit: pool layout (bucket, latch, data: 3 lines)",
            "hit: one-line bucket (bucket+version, data: 2 lines)",
            "hit: one-line bucket + ref byte",
            "hit: one-line bucket + ref bit in the entry",
        ];
        let mut vals = [0.0f64; 5];
        for k in 0..5 {
            let which = (k + round) % 5;
            vals[which] = match which {
                0 => self.timed_hits(a, |p| Some(word(&self.map, p as usize * PAGE)))?,
                1 => self.timed_hits(a, |p| self.pool_layout(p))?,
                2 => self.timed_hits(a, |p| self.one_line(p, Ref::None))?,
                3 => self.timed_hits(a, |p| self.one_line(p, Ref::Byte))?,
                _ => self.timed_hits(a, |p| self.one_line(p, Ref::Bit))?,
            };
        }
        for (k, v) in vals.iter().enumerate() {
            rows.add(NAMES[k], *v);
        }
        rows.add("hit: RATIO pool layout / mmap", vals[1] / vals[0]);
        rows.add("hit: RATIO one-line bucket / mmap", vals[2] / vals[0]);
        rows.add(
            "hit: RATIO one-line bucket + ref byte / mmap",
            vals[3] / vals[0],
        );
        rows.add(
            "hit: RATIO one-line bucket + ref bit / mmap",
            vals[4] / vals[0],
        );
        rows.add(
            "hit: RATIO one-line bucket + ref bit / pool layout",
            vals[4] / vals[1],
        );
        Ok(())
    }

    fn timed_hits(
        &self,
        a: &Args,
        read: impl Fn(u64) -> Option<u64> + Sync,
    ) -> Result<f64, String> {
        timed(a.threads, a.secs, |t, stop| {
            let mut s = 0x1234_5678 + t as u64 * 31;
            let (mut ops, mut bad) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..256 {
                    let p = next(&mut s, self.pages);
                    // The fallback of a failed optimistic read: the frame read directly
                    // (never taken in this loop: nothing writes).
                    let h = match read(p) {
                        Some(h) => h,
                        None => word(self.data.bytes(), p as usize * PAGE),
                    };
                    bad += (h != page::header(p, TAG)) as u64;
                }
                ops += 256;
            }
            Ok((ops, bad))
        })
    }

    /// The pool's optimistic hit: bucket line -> frame's latch line (state, tag) ->
    /// data -> state again.
    #[inline]
    fn pool_layout(&self, p: u64) -> Option<u64> {
        let b = &self.b8[mix(p) as usize & self.mask];
        let key = p + 1;
        let f = b.0.iter().find_map(|e| {
            let v = e.load(Ordering::Relaxed);
            (v >> FRAME_BITS == key).then_some((v & FRAME_MASK) as usize)
        })?;
        let l = &self.latches[f];
        let s1 = l.state.load(Ordering::Acquire);
        if s1 & EXCLUSIVE != 0 {
            return None;
        }
        let tag = l.tag.load(Ordering::Relaxed);
        let h = word(self.data.bytes(), f * PAGE);
        fence(Ordering::Acquire);
        let s2 = l.state.load(Ordering::Relaxed);
        if (s1 ^ s2) & (EXCLUSIVE | VERSION) != 0 || tag != p {
            return None;
        }
        if s2 & REFERENCED == 0 {
            l.state.fetch_or(REFERENCED, Ordering::Relaxed);
        }
        Some(h)
    }

    /// The one-line bucket's hit: version, entry -> data -> version again (and the
    /// frame's referenced byte, set if clear).
    #[inline]
    fn one_line(&self, p: u64, referenced: Ref) -> Option<u64> {
        let b = &self.b7[mix(p) as usize & self.mask];
        let v1 = b.version.load(Ordering::Acquire);
        if v1 & 1 != 0 {
            return None;
        }
        let key = p + 1;
        let (e, v) = b.entries.iter().find_map(|e| {
            let v = e.load(Ordering::Relaxed);
            (v >> (FRAME_BITS + 2) == key).then_some((e, v))
        })?;
        let f = (v & FRAME_MASK) as usize;
        let h = word(self.data.bytes(), f * PAGE);
        fence(Ordering::Acquire);
        if b.version.load(Ordering::Relaxed) != v1 {
            return None;
        }
        match referenced {
            Ref::None => {}
            Ref::Byte => {
                let r = &self.refs[f];
                if r.load(Ordering::Relaxed) == 0 {
                    r.store(1, Ordering::Relaxed);
                }
            }
            Ref::Bit => {
                if v & ENTRY_REFERENCED == 0 {
                    let _ = e.compare_exchange(
                        v,
                        v | ENTRY_REFERENCED,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                }
            }
        }
        Some(h)
    }
}
