//! Axis scales and tick labels. Every chart plots on plain f64 coordinates: a log axis is
//! drawn as log10 of the value on a linear coordinate, with its own tick positions and
//! labels. That keeps one coordinate type for all charts and lets a chart switch between
//! linear and log at run time.

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use std::ops::Range;

/// One axis: the data range shown and whether it is logarithmic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub log: bool,
    /// Data units (not log10), lo < hi; for a log axis lo > 0.
    pub lo: f64,
    pub hi: f64,
}

impl Scale {
    /// A linear axis from `lo` to `hi` (widened when empty).
    pub fn linear(lo: f64, hi: f64) -> Scale {
        let (lo, hi) = sane(lo, hi);
        let hi = if hi > lo { hi } else { lo + 1.0 };
        Scale { log: false, lo, hi }
    }

    /// A linear axis from 0 to a little above `max`.
    pub fn from_zero(max: f64) -> Scale {
        let max = if max.is_finite() && max > 0.0 {
            max
        } else {
            1.0
        };
        Scale::linear(0.0, max * 1.08)
    }

    /// A log axis that holds the positive values from `min` to `max`, with a margin.
    pub fn log(min: f64, max: f64) -> Scale {
        let min = if min.is_finite() && min > 0.0 {
            min
        } else {
            1.0
        };
        let max = if max.is_finite() && max > min {
            max
        } else {
            min * 10.0
        };
        Scale {
            log: true,
            lo: min / 1.3,
            hi: max * 1.3,
        }
    }

    /// Linear from 0 unless the positive values span more than `ratio` (then log, so a
    /// slow series is not a flat line on the floor of a fast one).
    pub fn auto(values: impl IntoIterator<Item = f64>, ratio: f64) -> Scale {
        let (mut min, mut max) = (f64::INFINITY, 0.0f64);
        for v in values {
            if v.is_finite() && v > 0.0 {
                min = min.min(v);
                max = max.max(v);
            }
        }
        if max > 0.0 && max / min > ratio {
            Scale::log(min, max)
        } else {
            Scale::from_zero(max)
        }
    }

    /// A value in axis coordinates. On a log axis, values at or below the floor (zero
    /// included) sit on the floor.
    pub fn axis(&self, v: f64) -> f64 {
        if self.log {
            v.max(self.lo).log10()
        } else {
            v
        }
    }

    /// Back from axis coordinates to data units.
    pub fn value(&self, a: f64) -> f64 {
        if self.log {
            10f64.powf(a)
        } else {
            a
        }
    }

    pub fn range(&self) -> Range<f64> {
        self.axis(self.lo)..self.axis(self.hi)
    }

    /// Tick positions in axis coordinates.
    pub fn ticks(&self) -> Vec<f64> {
        if self.log {
            log_ticks(self.lo, self.hi)
                .into_iter()
                .map(f64::log10)
                .collect()
        } else {
            linear_ticks(self.lo, self.hi)
        }
    }

    /// Minor grid lines in axis coordinates: 2x..9x each decade on a log axis.
    pub fn minor_ticks(&self) -> Vec<f64> {
        if !self.log || self.hi / self.lo > 1e8 {
            return Vec::new();
        }
        let mut out = Vec::new();
        let first = self.lo.log10().floor() as i32;
        let last = self.hi.log10().ceil() as i32;
        for e in first..=last {
            for m in 2..10 {
                let v = m as f64 * 10f64.powi(e);
                if self.contains(v) {
                    out.push(v.log10());
                }
            }
        }
        out
    }

    /// Whether `v` (data units) is inside the axis.
    pub fn contains(&self, v: f64) -> bool {
        v >= self.lo && v <= self.hi
    }
}

impl Scale {
    /// The plotters coordinate of this axis, with its own ticks.
    pub fn coord(&self) -> Ticked {
        self.coord_with(None)
    }

    /// The plotters coordinate, with `ticks` (data units) instead of the scale's own.
    pub fn coord_with(&self, ticks: Option<&[f64]>) -> Ticked {
        let r = self.range();
        Ticked {
            lo: r.start,
            hi: r.end,
            major: match ticks {
                Some(t) => t
                    .iter()
                    .filter(|v| self.contains(**v))
                    .map(|v| self.axis(*v))
                    .collect(),
                None => self.ticks(),
            },
            minor: self.minor_ticks(),
        }
    }
}

/// A linear f64 coordinate (axis units) with explicit major ticks (labelled, bold grid)
/// and minor ticks (light grid). Plotters' own f64 coordinate with fixed key points
/// cannot take a label formatter, hence this small type.
pub struct Ticked {
    lo: f64,
    hi: f64,
    major: Vec<f64>,
    minor: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.hi - self.lo;
        let frac = if span > 0.0 {
            (value - self.lo) / span
        } else {
            0.0
        };
        let px = limit.0 as f64 + frac * (limit.1 - limit.0) as f64;
        // Far outside the axis (clipped anyway): keep the cast in range.
        px.clamp(-1e6, 1e6).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.minor.clone()
        } else {
            self.major.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

fn sane(lo: f64, hi: f64) -> (f64, f64) {
    let lo = if lo.is_finite() { lo } else { 0.0 };
    let hi = if hi.is_finite() { hi } else { lo + 1.0 };
    (lo, hi)
}

/// 1, 2 or 5 times a power of ten, so that `span` holds about `target` steps.
pub fn nice_step(span: f64, target: f64) -> f64 {
    let raw = (span / target.max(1.0)).abs();
    if !raw.is_finite() || raw == 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

fn linear_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let step = nice_step(hi - lo, 6.0);
    let mut v = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while v <= hi + step * 1e-9 && out.len() < 50 {
        // Avoid "-0" and float dust such as 0.30000000000000004.
        out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        v += step;
    }
    out
}

/// Powers of ten inside [lo, hi]; 2x and 5x steps too when that gives fewer than 3.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if lo <= 0.0 || hi <= lo {
        return Vec::new();
    }
    let first = lo.log10().floor() as i32;
    let last = hi.log10().ceil() as i32;
    let pick = |mults: &[f64]| -> Vec<f64> {
        let mut out = Vec::new();
        for e in first..=last {
            for m in mults {
                let v = m * 10f64.powi(e);
                if v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9) {
                    out.push(v);
                }
            }
        }
        out
    };
    let decades = pick(&[1.0]);
    if decades.len() >= 3 {
        // Thin out very long axes to at most ~10 labels.
        let every = decades.len().div_ceil(10);
        return decades.into_iter().step_by(every).collect();
    }
    pick(&[1.0, 2.0, 5.0])
}

/// A count or rate with a metric suffix: 0, 950, 1.5K, 21.2M.
pub fn format_si(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    let (x, suffix) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "K")
    } else {
        (v, "")
    };
    format!("{}{suffix}", trim(x))
}

/// A latency in ns as a short label: 50 ns, 1.5 µs, 20 ms, 1.2 s.
pub fn format_latency_ns(ns: f64) -> String {
    let a = ns.abs();
    if a < 1e3 {
        format!("{} ns", trim(ns))
    } else if a < 1e6 {
        format!("{} µs", trim(ns / 1e3))
    } else if a < 1e9 {
        format!("{} ms", trim(ns / 1e6))
    } else {
        format!("{} s", trim(ns / 1e9))
    }
}

/// A latency already in µs, as a plain number (the axis says "µs").
pub fn format_us(us: f64) -> String {
    if us >= 1000.0 {
        format_si(us)
    } else {
        trim(us)
    }
}

/// The percentile of a "nines" axis position x = 1/(1-q): 1 -> 0%, 2 -> 50%,
/// 10 -> 90%, 1000 -> 99.9%.
pub fn format_nines(x: f64) -> String {
    if x <= 1.0 {
        return "0%".into();
    }
    let p = 100.0 * (1.0 - 1.0 / x);
    // As many decimals as the nines need: 99.99% needs two.
    let decimals = ((x.log10() - 2.0).ceil().max(0.0) as usize).min(9);
    let s = format!("{p:.decimals$}");
    format!("{s}%")
}

/// Three significant digits without trailing zeros.
pub fn trim(v: f64) -> String {
    let a = v.abs();
    if a < 1e-12 {
        return "0".into();
    }
    let s = if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a >= 0.01 {
        format!("{v:.3}")
    } else {
        format!("{v:.2e}")
    };
    if s.contains('.') && !s.contains('e') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round() {
        let s = Scale::linear(0.0, 10.0);
        assert_eq!(s.ticks(), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert!(!Scale::linear(5.0, 5.0).ticks().is_empty());
    }

    #[test]
    fn log_ticks_are_decades() {
        let s = Scale::log(30.0, 5e6);
        let t: Vec<f64> = s.ticks().iter().map(|a| s.value(*a)).collect();
        assert_eq!(t.len(), 5, "{t:?}");
        assert!((t[0] - 100.0).abs() < 1e-6);
        // A narrow log axis gets 2x and 5x ticks.
        let n = Scale::log(3.0, 40.0).ticks();
        assert!(n.len() >= 3, "{n:?}");
        // Zero sits on the floor instead of -inf.
        assert_eq!(s.axis(0.0), s.lo.log10());
    }

    #[test]
    fn auto_switches_to_log_for_wide_ranges() {
        assert!(!Scale::auto([1.0, 10.0], 50.0).log);
        assert!(Scale::auto([26e3, 21e6, 0.0], 50.0).log);
        assert!(!Scale::auto([0.0], 50.0).log);
    }

    #[test]
    fn labels() {
        assert_eq!(format_nines(2.0), "50%");
        assert_eq!(format_nines(10.0), "90%");
        assert_eq!(format_nines(100.0), "99%");
        assert_eq!(format_nines(1000.0), "99.9%");
        assert_eq!(format_nines(10000.0), "99.99%");
        assert_eq!(format_nines(1.0), "0%");
        assert_eq!(format_si(21.2e6), "21.2M");
        assert_eq!(format_si(1500.0), "1.5K");
        assert_eq!(format_si(0.0), "0");
        assert_eq!(format_latency_ns(1500.0), "1.5 µs");
        assert_eq!(format_latency_ns(50.0), "50 ns");
        assert_eq!(format_us(0.05), "0.05");
        assert_eq!(format_us(100000.0), "100K");
        assert_eq!(trim(2.50), "2.5");
    }
}
