//! Stall detection on a cell's time series: intervals whose throughput is under a tenth
//! of the cell's median interval throughput, adjacent ones merged into one stall. Pure
//! functions of the time series, so `faultline report` finds the stalls of any run,
//! also of one made before run.json stored them.

use super::Interval;
use serde::{Deserialize, Serialize};

/// An interval is stalled when its throughput is under this share of the cell's median.
pub const STALL_SHARE: f64 = 0.10;

/// One stall: one or more adjacent intervals under `STALL_SHARE` of the median.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stall {
    /// Start of the first stalled interval, seconds since the measured phase began.
    pub start_s: f64,
    /// Length of the stalled intervals together, seconds.
    pub length_s: f64,
    /// Operations per second over the stall.
    pub ops_per_s: f64,
}

/// (start ns, length ns, ops) of each interval with a length.
fn spans(ts: &[Interval]) -> Vec<(u64, u64, u64)> {
    let mut prev = 0u64;
    let mut out = Vec::with_capacity(ts.len());
    for iv in ts {
        let len = iv.t_ns.saturating_sub(prev);
        if len > 0 {
            out.push((prev, len, iv.ops));
        }
        prev = prev.max(iv.t_ns);
    }
    out
}

/// The median of the intervals' throughputs (ops/s); None with fewer than 2 intervals.
pub fn median_rate(ts: &[Interval]) -> Option<f64> {
    let rates: Vec<f64> = spans(ts)
        .iter()
        .map(|&(_, len, ops)| ops as f64 * 1e9 / len as f64)
        .collect();
    if rates.len() < 2 {
        return None;
    }
    crate::stats::median(&rates)
}

/// The intervals that are judged: all but a last one shorter than half the median
/// interval length. That remainder spans the stop (the threads see the stop flag and
/// are joined within it), so its rate says nothing about the device or the backend.
fn judged_spans(ts: &[Interval]) -> Vec<(u64, u64, u64)> {
    let mut s = spans(ts);
    let lens: Vec<f64> = s.iter().map(|&(_, len, _)| len as f64).collect();
    if ends_with_stop_remainder(&lens) {
        s.pop();
    }
    s
}

/// Whether the last of these interval lengths is the stop's remainder: more than two
/// intervals and the last shorter than half their median. Stall detection does not
/// judge it and the charts do not draw it (`plot::rates::steps`).
pub fn ends_with_stop_remainder(lens: &[f64]) -> bool {
    match (crate::stats::median(lens), lens.last()) {
        (Some(med), Some(&last)) => lens.len() > 2 && last < 0.5 * med,
        _ => false,
    }
}

/// The stalls of a time series (none with fewer than 2 intervals, or when the median
/// throughput is 0: then most intervals did nothing and none stands out). A last
/// interval shorter than half the median interval (the stop's remainder) is not judged.
pub fn detect(ts: &[Interval]) -> Vec<Stall> {
    let Some(median) = median_rate(ts).filter(|m| *m > 0.0) else {
        return Vec::new();
    };
    let limit = STALL_SHARE * median;
    let mut out: Vec<Stall> = Vec::new();
    // (start, length, ops) of the stall being built.
    let mut cur: Option<(u64, u64, u64)> = None;
    for (start, len, ops) in judged_spans(ts) {
        let stalled = (ops as f64 * 1e9 / len as f64) < limit;
        cur = match (cur, stalled) {
            (Some((s, l, o)), true) => Some((s, l + len, o + ops)),
            (None, true) => Some((start, len, ops)),
            (Some(c), false) => {
                out.push(to_stall(c));
                None
            }
            (None, false) => None,
        };
    }
    out.extend(cur.map(to_stall));
    out
}

fn to_stall((start, len, ops): (u64, u64, u64)) -> Stall {
    Stall {
        start_s: start as f64 / 1e9,
        length_s: len as f64 / 1e9,
        ops_per_s: ops as f64 * 1e9 / len as f64,
    }
}

/// Why a cell with 2+ intervals has no stalls although it may have stalled: its median
/// interval did no operation, so no interval is under a tenth of it.
pub fn zero_median_note(ts: &[Interval]) -> Option<String> {
    (median_rate(ts) == Some(0.0)).then(|| {
        let idle = spans(ts).iter().filter(|s| s.2 == 0).count();
        format!(
            "{idle} of {} intervals did no operation (median 0 ops/s): stalled most of the time, no stall stands out",
            spans(ts).len()
        )
    })
}

/// "at 3.0 s for 2.0 s (1.2K ops/s)": one stall in a line of text.
pub fn describe(s: &Stall) -> String {
    format!(
        "at {:.1} s for {:.1} s ({} ops/s)",
        s.start_s,
        s.length_s,
        crate::units::format_count(s.ops_per_s)
    )
}

/// One line for a cell's stalls, e.g. "2 stalls under 10% of the median interval
/// (150K ops/s): at 3.0 s for 2.0 s (1.2K ops/s); at 7.0 s for 1.0 s (0 ops/s)";
/// None when it had none.
pub fn summary(ts: &[Interval], stalls: &[Stall]) -> Option<String> {
    if stalls.is_empty() {
        return None;
    }
    let median = median_rate(ts).unwrap_or(0.0);
    let list: Vec<String> = stalls.iter().map(describe).collect();
    Some(format!(
        "{} stall{} under {:.0}% of the median interval ({} ops/s): {}",
        stalls.len(),
        if stalls.len() == 1 { "" } else { "s" },
        STALL_SHARE * 100.0,
        crate::units::format_count(median),
        list.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One interval per entry of `ops`, each `len_ms` long.
    fn series(ops: &[u64], len_ms: u64) -> Vec<Interval> {
        ops.iter()
            .enumerate()
            .map(|(i, &o)| Interval {
                t_ns: (i as u64 + 1) * len_ms * 1_000_000,
                ops: o,
                bytes: o * 4096,
                histogram: None,
                counters: Default::default(),
            })
            .collect()
    }

    #[test]
    fn adjacent_stalled_intervals_merge() {
        // Median 1000 per 100 ms = 10K ops/s; under 1K ops/s is a stall.
        let ts = series(&[1000, 1000, 50, 0, 1000, 1000, 99, 1000, 1000], 100);
        let s = detect(&ts);
        assert_eq!(s.len(), 2, "{s:?}");
        assert!((s[0].start_s - 0.2).abs() < 1e-9);
        assert!((s[0].length_s - 0.2).abs() < 1e-9);
        assert!((s[0].ops_per_s - 250.0).abs() < 1e-6);
        assert!((s[1].start_s - 0.6).abs() < 1e-9);
        assert!((s[1].length_s - 0.1).abs() < 1e-9);
        assert!((s[1].ops_per_s - 990.0).abs() < 1e-6);
        let line = summary(&ts, &s).unwrap();
        assert!(
            line.starts_with("2 stalls under 10% of the median interval (10"),
            "{line}"
        );
        assert!(line.contains("at 0.2 s for 0.2 s"), "{line}");
    }

    #[test]
    fn exactly_a_tenth_is_not_a_stall_and_a_stall_can_end_the_run() {
        let ts = series(&[1000, 100, 1000, 1000, 0], 1000);
        let s = detect(&ts);
        assert_eq!(s.len(), 1, "{s:?}");
        assert!((s[0].start_s - 4.0).abs() < 1e-9);
        assert_eq!(s[0].ops_per_s, 0.0);
    }

    #[test]
    fn uneven_intervals_compare_rates_not_counts() {
        // A short last interval with few operations is not a stall: its rate is normal.
        let mut ts = series(&[1000, 1000, 1000], 1000);
        ts.push(Interval {
            t_ns: 3_050_000_000,
            ops: 50,
            bytes: 0,
            histogram: None,
            counters: Default::default(),
        });
        assert!(detect(&ts).is_empty());
    }

    #[test]
    fn a_short_last_interval_spanning_the_stop_is_not_judged() {
        // 1 operation in the last 15 ms, while the threads were stopping: not a stall.
        let mut ts = series(&[1000, 1000, 1000], 500);
        ts.push(Interval {
            t_ns: 1_515_000_000,
            ops: 1,
            bytes: 4096,
            histogram: None,
            counters: Default::default(),
        });
        assert!(detect(&ts).is_empty(), "{:?}", detect(&ts));
        // A full-length last interval is judged as before.
        let ts = series(&[1000, 1000, 1000, 1], 500);
        assert_eq!(detect(&ts).len(), 1);
    }

    #[test]
    fn too_few_intervals_or_a_zero_median_find_nothing() {
        assert!(detect(&series(&[], 1000)).is_empty());
        assert!(detect(&series(&[1000], 1000)).is_empty());
        assert!(detect(&series(&[0, 0, 1000], 1000)).is_empty());
        assert_eq!(
            zero_median_note(&series(&[0, 0, 1000], 1000)).unwrap(),
            "2 of 3 intervals did no operation (median 0 ops/s): stalled most of the time, no stall stands out"
        );
        assert!(zero_median_note(&series(&[5, 0, 1000], 1000)).is_none());
        assert!(summary(&[], &[]).is_none());
        // Two intervals: the median is their mean.
        assert_eq!(detect(&series(&[1000, 10], 1000)).len(), 1);
    }
}
