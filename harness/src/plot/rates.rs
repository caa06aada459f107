//! Per-second rates from a result's time series. Each timeseries entry holds deltas over
//! one sampling interval that ends at `t_ns`; the interval begins where the previous one
//! ended (the first at 0, the start of the measured phase). The last interval may be
//! shorter than the others, so rates divide by each interval's own length.

use crate::probe::CounterId;
use crate::record::BackendResult;
use crate::record::Interval;

/// One interval with its bounds in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    pub start_s: f64,
    pub end_s: f64,
    pub iv: &'a Interval,
}

impl Step<'_> {
    pub fn secs(&self) -> f64 {
        self.end_s - self.start_s
    }

    /// `delta` per second over this interval.
    pub fn rate(&self, delta: f64) -> f64 {
        delta / self.secs()
    }
}

/// The intervals of `b` that have a length (a zero-length interval has no rate), less
/// a last one that is the stop's remainder (shorter than half the median interval: the
/// threads saw the stop flag within it, so its rate would draw a drop that is the
/// harness stopping, not the backend; stall detection leaves it out the same way).
pub fn steps(b: &BackendResult) -> Vec<Step<'_>> {
    let mut out = Vec::with_capacity(b.timeseries.len());
    let mut prev = 0u64;
    for iv in &b.timeseries {
        if iv.t_ns > prev {
            out.push(Step {
                start_s: prev as f64 / 1e9,
                end_s: iv.t_ns as f64 / 1e9,
                iv,
            });
        }
        prev = prev.max(iv.t_ns);
    }
    let lens: Vec<f64> = out.iter().map(Step::secs).collect();
    if crate::record::stalls::ends_with_stop_remainder(&lens) {
        out.pop();
    }
    out
}

/// Points (interval end in s, ops per second).
pub fn ops_per_sec(b: &BackendResult) -> Vec<(f64, f64)> {
    steps(b)
        .iter()
        .map(|s| (s.end_s, s.rate(s.iv.ops as f64)))
        .collect()
}

/// Points (interval end in s, counter per second) for the intervals where the counter
/// (a count: see `Counters::count`) was read; intervals where it is null are left out
/// (never drawn as 0).
pub fn counter_per_sec(b: &BackendResult, id: CounterId) -> Vec<(f64, f64)> {
    steps(b)
        .iter()
        .filter_map(|s| s.iv.counters.count(id).map(|v| (s.end_s, s.rate(v as f64))))
        .collect()
}

/// Whether any interval of `b` has the counter.
pub fn has_counter(b: &BackendResult, id: CounterId) -> bool {
    b.timeseries
        .iter()
        .any(|iv| iv.counters.count(id).is_some())
}

/// The end of the last interval, s.
pub fn end_s(b: &BackendResult) -> f64 {
    b.timeseries
        .iter()
        .map(|iv| iv.t_ns as f64 / 1e9)
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::fixture;

    #[test]
    fn rates_divide_by_each_interval() {
        let r = fixture::record(true);
        let b = &r.backends[0];
        let s = steps(b);
        assert_eq!(s.len(), b.timeseries.len());
        assert_eq!(s[0].start_s, 0.0);
        let p = ops_per_sec(b);
        assert!(
            (p[0].1 - b.timeseries[0].ops as f64).abs() < 1e-6,
            "1 s intervals"
        );
        // The fixture's last interval is half a second long.
        let last = p.last().unwrap();
        let iv = b.timeseries.last().unwrap();
        assert!((last.1 - 2.0 * iv.ops as f64).abs() < 1e-6);
    }

    #[test]
    fn the_stops_remainder_is_not_drawn() {
        let mut r = fixture::record(true);
        let b = &mut r.backends[0];
        let n = b.timeseries.len();
        let before = steps(b).len();
        // Make the last interval 0.2 s long (the fixture's intervals are 1 s).
        let prev = b.timeseries[n - 2].t_ns;
        b.timeseries[n - 1].t_ns = prev + 200_000_000;
        b.timeseries[n - 1].ops = 1;
        let s = steps(b);
        assert_eq!(s.len(), before - 1, "the 0.2 s remainder is left out");
        assert!(ops_per_sec(b).iter().all(|&(t, _)| t <= prev as f64 / 1e9));
    }

    #[test]
    fn null_counters_are_left_out() {
        let r = fixture::record(false);
        let b = &r.backends[0];
        assert!(counter_per_sec(b, CounterId::MajorFaults).is_empty());
        assert!(!has_counter(b, CounterId::MajorFaults));
    }
}
