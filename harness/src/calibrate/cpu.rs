//! Primitives that touch only the CPU and the kernel entry: the two clocks the
//! harness can time with, a bare system call, and a 4 KiB copy (what every copying
//! backend pays per block on top of its I/O).

use super::{per_unit, Options, Primitive};
use crate::sys;
use std::hint::black_box;

/// clock_tsc, clock_gettime, syscall, memcpy_4k.
pub fn measure(opts: &Options) -> Vec<Primitive> {
    vec![
        clock_tsc(opts),
        clock_gettime(opts),
        syscall(opts),
        memcpy_4k(opts),
    ]
}

fn loops(opts: &Options) -> u64 {
    opts.pick(200_000, 50_000)
}

/// The flags of the first CPU in /proc/cpuinfo.
fn cpu_flags() -> Vec<String> {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("flags"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.split_whitespace().map(String::from).collect())
        })
        .unwrap_or_default()
}

fn clock_tsc(opts: &Options) -> Primitive {
    let n = loops(opts);
    let method_base = format!("{n} back-to-back rdtsc reads, per read");
    #[cfg(target_arch = "x86_64")]
    {
        let flags = cpu_flags();
        let has = |f: &str| flags.iter().any(|x| x == f);
        if !has("tsc") {
            return Primitive::skipped(
                "clock_tsc",
                "this CPU reports no `tsc` flag in /proc/cpuinfo".into(),
                method_base,
            );
        }
        let invariant = has("constant_tsc") && has("nonstop_tsc");
        let samples: Vec<f64> = (0..opts.reps)
            .map(|_| {
                per_unit(n, || {
                    let mut acc = 0u64;
                    for _ in 0..n {
                        acc = acc.wrapping_add(sys::calibrate::rdtsc());
                    }
                    black_box(acc);
                })
            })
            .collect();
        let method = format!(
            "{method_base}; TSC {}",
            if invariant {
                "invariant (constant_tsc, nonstop_tsc): usable as a clock"
            } else {
                "not invariant (constant_tsc/nonstop_tsc missing): not a safe clock here"
            }
        );
        Primitive::measured("clock_tsc", &samples, method)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = cpu_flags;
        Primitive::skipped(
            "clock_tsc",
            format!(
                "rdtsc exists only on x86_64; this is {}",
                std::env::consts::ARCH
            ),
            method_base,
        )
    }
}

fn clocksource() -> String {
    std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

fn clock_gettime(opts: &Options) -> Primitive {
    let n = loops(opts);
    let samples: Vec<f64> = (0..opts.reps)
        .map(|_| {
            per_unit(n, || {
                let mut acc = 0u64;
                for _ in 0..n {
                    acc ^= sys::process::monotonic_ns();
                }
                black_box(acc);
            })
        })
        .collect();
    Primitive::measured(
        "clock_gettime",
        &samples,
        format!(
            "{n} back-to-back clock_gettime(CLOCK_MONOTONIC) calls (vDSO unless the clocksource forbids it), per call; clocksource {}",
            clocksource()
        ),
    )
}

fn syscall(opts: &Options) -> Primitive {
    let n = loops(opts) / 2;
    let samples: Vec<f64> = (0..opts.reps)
        .map(|_| {
            per_unit(n, || {
                let mut acc = 0i64;
                for _ in 0..n {
                    acc += i64::from(sys::calibrate::getppid());
                }
                black_box(acc);
            })
        })
        .collect();
    let mitigated = std::fs::read_to_string("/sys/devices/system/cpu/vulnerabilities/meltdown")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    Primitive::measured(
        "syscall",
        &samples,
        format!("{n} getppid() system calls (a kernel entry and exit, no work), per call; meltdown: {mitigated}"),
    )
}

fn memcpy_4k(opts: &Options) -> Primitive {
    let n = loops(opts) / 2;
    let src: Vec<u8> = (0..4096u32)
        .map(|i| crate::datafile::page::mix(u64::from(i)) as u8)
        .collect();
    let mut dst = vec![0u8; 4096];
    let samples: Vec<f64> = (0..opts.reps)
        .map(|_| {
            per_unit(n, || {
                for _ in 0..n {
                    dst.copy_from_slice(black_box(&src));
                    black_box(&mut dst);
                }
            })
        })
        .collect();
    Primitive::measured(
        "memcpy_4k",
        &samples,
        format!("{n} copies of 4 KiB between two cache-resident buffers (copy_from_slice = memcpy), per copy"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_primitives_are_measured() {
        let opts = Options {
            reps: 5,
            quick: true,
            data_dir: ".".into(),
        };
        for p in measure(&opts) {
            p.check().unwrap();
            if p.name != "clock_tsc" || cfg!(target_arch = "x86_64") {
                assert!(p.ns().is_some(), "{p:?}");
            }
        }
    }
}
