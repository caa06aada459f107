//! How operations are timed: the clock, the timing modes, and what one run records
//! about them (`TimingRecord`).
//!
//! The clock is the CPU's invariant time-stamp counter (read through the `quanta`
//! crate, calibrated against CLOCK_MONOTONIC once per process) where the CPU reports an
//! invariant counter *and* the kernel itself uses it as its clocksource. The second
//! check matters in virtual machines: a kernel that picked kvm-clock or hpet over the
//! TSC has found a reason not to trust it (unsynchronised CPUs, migration), and neither
//! do we. Elsewhere the clock is CLOCK_MONOTONIC (`std::time::Instant`). Either way a
//! cell checks the conversion at its end against CLOCK_MONOTONIC (`ClockCheck`).
//!
//! Modes (`timing` setting): `every` operation timed; `sample:N`, one operation in N
//! timed (all counted); `batch:N`, N operations timed together and their mean recorded
//! N times. Throughput is counted the same way in every mode.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::OnceLock;
use std::time::Instant;

/// Largest N of `sample:N` and `batch:N`.
pub const MAX_TIMING_N: u32 = 1 << 20;

/// Which operations are timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimingMode {
    /// Every operation, two clock readings each.
    #[default]
    Every,
    /// One operation in N (N >= 2); the histogram holds the sampled operations.
    Sample(u32),
    /// N operations timed together (N >= 2), their mean recorded once per operation.
    Batch(u32),
}

impl TimingMode {
    /// Operations timed per recorded latency value (1 unless batch).
    pub fn n(self) -> u32 {
        match self {
            TimingMode::Every => 1,
            TimingMode::Sample(n) | TimingMode::Batch(n) => n,
        }
    }
}

impl Serialize for TimingMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for TimingMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimingMode::Every => f.write_str("every"),
            TimingMode::Sample(n) => write!(f, "sample:{n}"),
            TimingMode::Batch(n) => write!(f, "batch:{n}"),
        }
    }
}

/// Parse `every`, `sample:N` or `batch:N`.
pub fn parse_timing(s: &str) -> Result<TimingMode, String> {
    let usage = "use every, sample:N or batch:N (N from 2 to 1048576), e.g. sample:64";
    let (kind, n) = match s.split_once(':') {
        None if s == "every" => return Ok(TimingMode::Every),
        None => return Err(format!("`{s}` is not a timing mode; {usage}")),
        Some(p) => p,
    };
    let n: u32 = n
        .parse()
        .map_err(|_| format!("`{n}` in `{s}` is not a whole number; {usage}"))?;
    if !(2..=MAX_TIMING_N).contains(&n) {
        return Err(format!("N = {n} in `{s}` is out of range; {usage}"));
    }
    match kind {
        "sample" => Ok(TimingMode::Sample(n)),
        "batch" => Ok(TimingMode::Batch(n)),
        _ => Err(format!("`{kind}` is not a timing mode; {usage}")),
    }
}

/// The clock the hot loops read: raw ticks, converted to nanoseconds only for a delta.
#[derive(Debug, Clone)]
pub struct Clock {
    source: Source,
}

#[derive(Debug, Clone)]
enum Source {
    /// The CPU's counter through quanta (raw ticks, scaled per delta).
    Counter(quanta::Clock),
    /// CLOCK_MONOTONIC, as nanoseconds since `base`.
    Monotonic(Instant),
}

/// The clock chosen for this process, and why.
struct Chosen {
    clock: Clock,
    why: String,
}

static CHOSEN: OnceLock<Chosen> = OnceLock::new();

impl Clock {
    /// The process's clock (chosen and calibrated on first use, ~10-200 ms once).
    pub fn get() -> Clock {
        chosen().clock.clone()
    }

    /// The monotonic clock, whatever the machine has (for comparisons and tests).
    pub fn monotonic() -> Clock {
        Clock {
            source: Source::Monotonic(Instant::now()),
        }
    }

    /// The current reading in raw ticks.
    #[inline(always)]
    pub fn raw(&self) -> u64 {
        match &self.source {
            // The reading quanta takes itself, inline (quanta's `raw` is not inlined
            // across crates and would cost a call per reading).
            Source::Counter(_) => crate::sys::counter::read(),
            Source::Monotonic(base) => base.elapsed().as_nanos() as u64,
        }
    }

    /// Nanoseconds between two raw readings (0 if `end` is not after `start`).
    #[inline(always)]
    pub fn nanos(&self, start: u64, end: u64) -> u64 {
        match &self.source {
            Source::Counter(c) => c.delta_as_nanos(start, end),
            Source::Monotonic(_) => end.saturating_sub(start),
        }
    }

    /// "tsc" (x86_64), "cntvct" (aarch64) or "monotonic".
    pub fn name(&self) -> &'static str {
        match &self.source {
            Source::Counter(_) if cfg!(target_arch = "aarch64") => "cntvct",
            Source::Counter(_) => "tsc",
            Source::Monotonic(_) => "monotonic",
        }
    }

    /// Start checking this clock's conversion against CLOCK_MONOTONIC.
    pub fn check(&self) -> ClockCheck {
        ClockCheck {
            raw: self.raw(),
            at: Instant::now(),
        }
    }
}

/// Why the process's clock is what it is (one sentence, for the record).
pub fn clock_reason() -> &'static str {
    &chosen().why
}

fn chosen() -> &'static Chosen {
    CHOSEN.get_or_init(|| {
        let clocksource =
            std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
                .map(|s| s.trim().to_string());
        match counter_refusal(clocksource.as_deref().ok()) {
            Some(why) => Chosen {
                clock: Clock::monotonic(),
                why,
            },
            None => {
                let q = quanta::Clock::new();
                // quanta falls back to the OS clock by itself when the CPU lacks an
                // invariant counter; its deltas are then unscaled nanoseconds.
                let scaled = q.delta_as_nanos(0, 1 << 40);
                // ... and reads the same counter as `sys::counter::read`.
                let (a, b) = (q.raw(), crate::sys::counter::read());
                if scaled == 1 << 40 || b < a || b - a > 1 << 32 {
                    Chosen {
                        clock: Clock::monotonic(),
                        why: "the CPU does not report an invariant time-stamp counter with rdtscp (cpuid): CLOCK_MONOTONIC".into(),
                    }
                } else {
                    Chosen {
                        clock: Clock {
                            source: Source::Counter(q),
                        },
                        why: "invariant time-stamp counter (cpuid) that the kernel uses as its clocksource; calibrated against CLOCK_MONOTONIC (quanta)".into(),
                    }
                }
            }
        }
    })
}

/// Why the CPU counter must not be used, given the kernel's current clocksource; None
/// when it may (the final say is the CPU's invariant-counter flag, checked by quanta).
fn counter_refusal(clocksource: Option<&str>) -> Option<String> {
    let wanted = if cfg!(target_arch = "x86_64") {
        "tsc"
    } else if cfg!(target_arch = "aarch64") {
        "arch_sys_counter"
    } else {
        return Some("no CPU counter is read on this architecture: CLOCK_MONOTONIC".into());
    };
    match clocksource {
        Some(s) if s == wanted => None,
        Some(s) => Some(format!(
            "the kernel's clocksource is {s}, not {wanted} (it does not trust the CPU counter): CLOCK_MONOTONIC"
        )),
        None => Some(
            "the kernel's clocksource cannot be read (/sys/devices/system/clocksource): CLOCK_MONOTONIC"
                .into(),
        ),
    }
}

/// A clock reading paired with CLOCK_MONOTONIC, to check the conversion later.
#[derive(Debug, Clone, Copy)]
pub struct ClockCheck {
    raw: u64,
    at: Instant,
}

impl ClockCheck {
    /// The relative error of `clock`'s conversion since the check began, in parts per
    /// million of the CLOCK_MONOTONIC elapsed time (None when under 1 ms elapsed).
    pub fn error_ppm(&self, clock: &Clock) -> Option<f64> {
        let raw = clock.raw();
        let mono = self.at.elapsed().as_nanos() as f64;
        if mono < 1e6 {
            return None;
        }
        let ours = clock.nanos(self.raw, raw) as f64;
        Some((ours - mono) / mono * 1e6)
    }
}

/// What a cell records about its timing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimingRecord {
    /// `every`, `sample:N` or `batch:N`.
    pub mode: String,
    /// `tsc`, `cntvct` or `monotonic`, and why.
    pub clock: String,
    pub clock_reason: String,
    /// What timing costs per operation in this mode, ns. Measured on the cell's own
    /// operation where the worker runs the harness's loop and the warm-up is long
    /// enough: the warm-up alternates slices of this mode's loop with untimed groups,
    /// and this is the median per-operation difference (it includes what timing takes
    /// from the operation itself, such as overlapped cache misses). Otherwise the cost
    /// of the loop around an empty operation (`empty_loop_ns`). `overhead_method` says
    /// which.
    pub overhead_ns: f64,
    /// How `overhead_ns` was measured (one sentence; absent in results made before it).
    #[serde(default)]
    pub overhead_method: Option<String>,
    /// Mean cost per operation of the harness's loop around an empty operation in this
    /// mode (offset, timing, recording, verification), ns: measured before the cell.
    #[serde(default)]
    pub empty_loop_ns: Option<f64>,
    /// Median latency the loop records for an empty operation in this mode, ns: latencies
    /// near it are mostly the clock's own.
    pub floor_ns: f64,
    /// Operations whose latency is in the histogram (all of them for `every`; for batch,
    /// operations in timed batches).
    pub sampled_ops: u64,
    /// The clock's conversion checked against CLOCK_MONOTONIC over the cell (ppm).
    pub clock_error_ppm: Option<f64>,
}

impl TimingRecord {
    /// True when a median latency is below twice the floor: it measures the clock more
    /// than the operation.
    pub fn at_floor(&self, p50_ns: u64) -> bool {
        self.floor_ns > 0.0 && (p50_ns as f64) < 2.0 * self.floor_ns
    }
}

/// What to do about a p50 at the timing floor, by mode: a sampled operation is still
/// timed on its own, so only a batch's mean gets below the clock's floor.
pub fn floor_advice(mode: &str) -> &'static str {
    if mode.starts_with("batch:") {
        "compare throughput, or time larger batches"
    } else if mode.starts_with("sample:") {
        "its latency is mostly the clock's: compare throughput, or timing=batch:N for a mean latency"
    } else {
        "its latency is mostly the clock's: compare throughput (use timing=sample:64 so timing costs little), or timing=batch:N for a mean latency"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print() {
        for (s, m) in [
            ("every", TimingMode::Every),
            ("sample:64", TimingMode::Sample(64)),
            ("batch:2", TimingMode::Batch(2)),
        ] {
            assert_eq!(parse_timing(s), Ok(m));
            assert_eq!(m.to_string(), s);
        }
        for bad in [
            "",
            "sample",
            "sample:1",
            "sample:0",
            "batch:x",
            "often:4",
            "sample:2000000",
        ] {
            let e = parse_timing(bad).unwrap_err();
            assert!(e.contains("sample:N"), "{bad}: {e}");
        }
    }

    #[test]
    fn counter_needs_the_kernels_trust() {
        if cfg!(target_arch = "x86_64") {
            assert_eq!(counter_refusal(Some("tsc")), None);
            let r = counter_refusal(Some("kvm-clock")).unwrap();
            assert!(r.contains("kvm-clock"), "{r}");
            assert!(counter_refusal(None).is_some());
        }
    }

    #[test]
    fn the_clock_agrees_with_monotonic() {
        let c = Clock::get();
        let check = c.check();
        let t0 = c.raw();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let ns = c.nanos(t0, c.raw());
        assert!(
            (25_000_000..2_000_000_000).contains(&ns),
            "{ns} ns for a 30 ms sleep"
        );
        let ppm = check.error_ppm(&c).expect("more than 1 ms elapsed");
        // A sleep's two readings are a few microseconds apart at worst: 1% is generous.
        assert!(ppm.abs() < 10_000.0, "{ppm} ppm ({} clock)", c.name());
    }

    #[test]
    fn floor_mark_needs_a_floor() {
        let mut t = TimingRecord {
            mode: "every".into(),
            clock: "tsc".into(),
            clock_reason: String::new(),
            overhead_ns: 20.0,
            overhead_method: None,
            empty_loop_ns: None,
            floor_ns: 15.0,
            sampled_ops: 1,
            clock_error_ppm: None,
        };
        assert!(t.at_floor(29));
        assert!(!t.at_floor(30));
        t.floor_ns = 0.0;
        assert!(!t.at_floor(1));
    }
}
