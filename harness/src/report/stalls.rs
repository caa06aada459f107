//! The stalls section of `faultline report`: for every measured cell, the intervals
//! whose throughput was under 10% of the cell's median interval, adjacent ones merged
//! (`record::stalls`, found again from the time series, so runs made before run.json
//! stored them are covered too).

use crate::record::{stalls, RunRecord, Status};

/// One line per cell with stalls; or one line saying there were none, or that no cell
/// had the 2 intervals detection needs. Empty when nothing was measured.
pub fn lines(group: &[&RunRecord]) -> Vec<String> {
    let pooled = group.len() > 1;
    let repeated = group
        .iter()
        .any(|r| r.backends.iter().any(|b| b.repeat > 0));
    let mut out = Vec::new();
    let (mut checked, mut measured) = (0usize, 0usize);
    for r in group {
        for b in r.backends.iter().filter(|b| b.status == Status::Ok) {
            measured += 1;
            if b.timeseries.len() >= 2 {
                checked += 1;
            }
            let found = stalls::detect(&b.timeseries);
            let Some(text) = stalls::summary(&b.timeseries, &found)
                .or_else(|| stalls::zero_median_note(&b.timeseries))
            else {
                continue;
            };
            let mut who = format!("{} x{}", b.name, b.threads);
            if repeated {
                who.push_str(&format!(" #{}", b.repeat + 1));
            }
            if pooled {
                who.push_str(&format!(" (run of {})", r.started_at));
            }
            out.push(format!("{who}: {text}"));
        }
    }
    if measured == 0 {
        return out;
    }
    if out.is_empty() {
        out.push(if checked == 0 {
            "Stalls: not checked; no cell has the 2 intervals it needs (`--interval` shorter than the duration)".to_string()
        } else {
            format!(
                "Stalls: none (no interval under {:.0}% of its cell's median interval throughput)",
                stalls::STALL_SHARE * 100.0
            )
        });
    } else {
        out.insert(
            0,
            format!(
                "Stalls (intervals under {:.0}% of the cell's median interval throughput, adjacent ones merged; start and length in s since the measured phase began):",
                stalls::STALL_SHARE * 100.0
            ),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_with_a_stall_are_listed_with_start_and_length() {
        let mut r = crate::record::tests::sample_record();
        let b = &mut r.backends[0];
        let ops = [1000u64, 1000, 5, 0, 1000];
        b.timeseries = ops
            .iter()
            .enumerate()
            .map(|(i, &o)| crate::record::Interval {
                t_ns: (i as u64 + 1) * 1_000_000_000,
                ops: o,
                bytes: o * 4096,
                histogram: None,
                counters: Default::default(),
            })
            .collect();
        let l = lines(&[&r]);
        assert_eq!(l.len(), 2, "{l:?}");
        assert!(l[0].starts_with("Stalls (intervals under 10%"), "{l:?}");
        assert_eq!(
            l[1],
            "mmap:advice=random x2: 1 stall under 10% of the median interval (1.00K ops/s): at 2.0 s for 2.0 s (2.50 ops/s)"
        );
        let none = crate::record::tests::sample_record();
        assert!(lines(&[&none])[0].starts_with("Stalls: none"));
        let mut short = none.clone();
        short.backends[0].timeseries.truncate(1);
        assert!(lines(&[&short])[0].starts_with("Stalls: not checked"));
    }
}
