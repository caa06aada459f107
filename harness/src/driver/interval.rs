//! Latency per sampling interval. A worker records into one histogram; when the
//! sampler begins a new interval the worker files that histogram's recorded buckets under
//! the interval's number (`Filed`) and records on into it, emptied. After the cell, the
//! runner adds the filed buckets up per interval over the threads (`by_interval`): the
//! per-interval histograms add up to the cell's histogram exactly, bucket by bucket.

use crate::record::new_histogram;
use hdrhistogram::Histogram;

/// The recorded buckets of one thread's histogram over one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Filed {
    /// The sampler's interval number: 0 for the first interval of the measured phase.
    pub index: usize,
    /// (a value in the bucket, its count) for every bucket with a count.
    pub buckets: Vec<(u64, u64)>,
}

impl Filed {
    /// The recorded buckets of `h` under interval `index`; None when `h` is empty.
    pub fn take(index: usize, h: &Histogram<u64>) -> Option<Filed> {
        if h.is_empty() {
            return None;
        }
        let buckets = h
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        Some(Filed { index, buckets })
    }

    /// Add these buckets to `h` (a histogram with `new_histogram`'s bounds).
    pub fn add_to(&self, h: &mut Histogram<u64>) {
        for &(v, n) in &self.buckets {
            h.saturating_record_n(v, n);
        }
    }
}

/// Every filed bucket in one histogram.
pub fn total(filed: &[Filed]) -> Histogram<u64> {
    let mut h = new_histogram();
    for f in filed {
        f.add_to(&mut h);
    }
    h
}

/// The histograms of intervals 0..n, added over the threads (`per_thread`: each
/// thread's filed intervals). Buckets filed under an interval at or past `n` (a thread
/// that saw a boundary the sampler's samples do not show) go to the last interval, so
/// nothing recorded is lost.
pub fn by_interval<'a>(
    per_thread: impl IntoIterator<Item = &'a [Filed]>,
    n: usize,
) -> Vec<Histogram<u64>> {
    let mut out: Vec<Histogram<u64>> = (0..n).map(|_| new_histogram()).collect();
    if n == 0 {
        return out;
    }
    for filed in per_thread {
        for f in filed {
            f.add_to(&mut out[f.index.min(n - 1)]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filed_buckets_add_up_exactly() {
        let mut h = new_histogram();
        let mut all = new_histogram();
        let mut filed = Vec::new();
        for i in 0..3usize {
            for v in [100u64, 1_234, 99_999, 5_000_000, 3_600_000_000_000] {
                h.record_n(v * (i as u64 + 1) / (i as u64 + 1), 3 + i as u64)
                    .unwrap();
                all.record_n(v, 3 + i as u64).unwrap();
            }
            filed.extend(Filed::take(i, &h));
            h.reset();
        }
        assert!(
            Filed::take(9, &h).is_none(),
            "an empty histogram files nothing"
        );
        assert_eq!(total(&filed), all);
        let per = by_interval([&filed[..], &filed[..1]], 2);
        assert_eq!(per.len(), 2);
        assert_eq!(
            per[0].len(),
            2 * filed[0].buckets.iter().map(|b| b.1).sum::<u64>()
        );
        // Interval 2 is past n = 2: it goes to the last one.
        assert_eq!(per[1].len(), 4 * 5 + 5 * 5);
        let mut sum = new_histogram();
        for p in &per {
            sum.add(p).unwrap();
        }
        let mut want = all.clone();
        want.add(total(&filed[..1])).unwrap();
        assert_eq!(sum, want);
        assert!(by_interval([&filed[..]], 0).is_empty());
    }
}
