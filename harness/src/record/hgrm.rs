//! The HdrHistogram percentile-distribution text format (.hgrm), as written by
//! HdrHistogram's outputPercentileDistribution and read by its plotters. Values are
//! written in microseconds.

use hdrhistogram::Histogram;
use std::fmt::Write as _;

/// ns per unit of the written values (microseconds).
pub const UNIT_RATIO: f64 = 1000.0;

/// Percentile distribution of `h` with 5 ticks per half distance, values in us.
pub fn percentile_text(h: &Histogram<u64>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    if h.is_empty() {
        let _ = writeln!(
            out,
            "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]",
            0.0, 0.0
        );
        let _ = writeln!(
            out,
            "#[Max     = {:>12.3}, Total count    = {:>12}]",
            0.0, 0
        );
        let _ = writeln!(
            out,
            "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
            h.buckets(),
            sub_buckets(h)
        );
        return out;
    }
    let mut cumulative = 0u64;
    for v in h.iter_quantiles(5) {
        cumulative += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let value = v.value_iterated_to() as f64 / UNIT_RATIO;
        if q < 1.0 {
            let _ = writeln!(
                out,
                "{:>12.3} {:>2.12} {:>10} {:>14.2}",
                value,
                q,
                cumulative,
                1.0 / (1.0 - q)
            );
        } else {
            let _ = writeln!(out, "{:>12.3} {:>2.12} {:>10}", value, q, cumulative);
        }
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]",
        h.mean() / UNIT_RATIO,
        h.stdev() / UNIT_RATIO
    );
    let _ = writeln!(
        out,
        "#[Max     = {:>12.3}, Total count    = {:>12}]",
        h.max() as f64 / UNIT_RATIO,
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        sub_buckets(h)
    );
    out
}

/// HdrHistogram's sub-bucket count: the power of two that holds 2 * 10^sigfig.
fn sub_buckets(h: &Histogram<u64>) -> u64 {
    let single_unit = 2.0 * 10f64.powi(h.sigfig() as i32);
    1u64 << (single_unit.log2().ceil() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_has_header_rows_and_footer() {
        let mut h = crate::record::new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let t = percentile_text(&h);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].contains("Value") && lines[0].contains("1/(1-Percentile)"));
        assert_eq!(lines[1], "");
        // First row: the minimum (1us) at percentile 0.
        let first: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(first[0], "1.000");
        assert_eq!(first[1], "0.000000000000");
        // Last data row: percentile 1 with the full count and no 1/(1-p) column.
        let last_row = lines.iter().rev().find(|l| !l.starts_with('#')).unwrap();
        let cols: Vec<&str> = last_row.split_whitespace().collect();
        assert_eq!(cols.len(), 3);
        assert_eq!(cols[1], "1.000000000000");
        assert_eq!(cols[2], "1000");
        assert!(t.contains("Total count    =         1000"));
        assert!(t.contains("SubBuckets     =         2048"), "{t}");
        // Percentiles and counts never decrease.
        let rows: Vec<(f64, u64)> = lines[2..]
            .iter()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let c: Vec<&str> = l.split_whitespace().collect();
                (c[1].parse().unwrap(), c[2].parse().unwrap())
            })
            .collect();
        assert!(rows
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
    }
}
