//! When the page cache filled up during a backend's measured phase: the moment the
//! paper's Figure 1 turns (mmap's throughput collapses once the kernel must evict).
//!
//! Detected from the per-interval counters, two signals, whichever comes first:
//!
//! * **Eviction started**: the first interval whose /proc/vmstat `pgsteal_*` deltas
//!   (pages reclaimed, by kswapd or direct reclaim, any `pgsteal_` key) add up to more
//!   than 0. System-wide: another process's reclaim counts too.
//! * **Page cache stopped growing**: the cache size at the end of each interval
//!   (`cgroup_page_cache_bytes_end` when the run had a memory cgroup, else the
//!   system-wide `page_cache_bytes_end`) first grew by more than a tolerance
//!   (4 MiB or 0.5 %, whichever is larger, so noise from other processes is not growth)
//!   and then stopped growing for two intervals in a row (or for the last interval).
//!   Without eviction this can also mean the whole file is now cached.
//!
//! The mark is placed at the start of the interval in which the signal appeared.
//! Where the counters are null (probe unavailable) nothing is detected: no mark.

use super::rates::{steps, Step};
use crate::record::BackendResult;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// vmstat pgsteal_* became > 0.
    Eviction,
    /// The page cache size stopped growing (`cgroup`: the run's memory cgroup's cache).
    StoppedGrowing { cgroup: bool },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fill {
    /// Seconds since the measured phase began.
    pub t_s: f64,
    pub signal: Signal,
}

impl Fill {
    pub fn describe(&self) -> &'static str {
        match self.signal {
            Signal::Eviction => "eviction starts",
            Signal::StoppedGrowing { cgroup: true } => "cgroup cache stops growing",
            Signal::StoppedGrowing { cgroup: false } => "page cache stops growing",
        }
    }
}

const MIN_GROWTH: f64 = 4.0 * 1024.0 * 1024.0;

pub fn detect(b: &BackendResult) -> Option<Fill> {
    let s = steps(b);
    let eviction = s.iter().position(|st| pgsteal(st) > 0);
    let (stopped, cgroup) = stopped_growing(&s);
    let first = match (eviction, stopped) {
        (Some(e), Some(g)) if g < e => Some((g, Signal::StoppedGrowing { cgroup })),
        (Some(e), _) => Some((e, Signal::Eviction)),
        (None, Some(g)) => Some((g, Signal::StoppedGrowing { cgroup })),
        (None, None) => None,
    };
    first.and_then(|(i, signal)| {
        s.get(i).map(|st| Fill {
            t_s: st.start_s,
            signal,
        })
    })
}

fn pgsteal(st: &Step) -> u64 {
    st.iv
        .counters
        .vmstat
        .as_ref()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.starts_with("pgsteal"))
                .map(|(_, v)| *v)
                .sum()
        })
        .unwrap_or(0)
}

/// The index of the interval in which the cache stopped growing, and whether the cgroup
/// gauge was used.
fn stopped_growing(s: &[Step]) -> (Option<usize>, bool) {
    let cgroup = s
        .iter()
        .any(|st| st.iv.counters.cgroup_page_cache_bytes_end.is_some());
    let gauge: Vec<Option<f64>> = s
        .iter()
        .map(|st| {
            if cgroup {
                st.iv.counters.cgroup_page_cache_bytes_end
            } else {
                st.iv.counters.page_cache_bytes_end
            }
            .map(|v| v as f64)
        })
        .collect();
    // grew[i]: Some(true/false) when both ends of interval i are known.
    let grew: Vec<Option<bool>> = (0..gauge.len())
        .map(|i| {
            if i == 0 {
                return None;
            }
            match (gauge[i - 1], gauge[i]) {
                (Some(a), Some(b)) => Some(b > a + MIN_GROWTH.max(a * 0.005)),
                _ => None,
            }
        })
        .collect();
    let mut seen_growth = false;
    for i in 0..grew.len() {
        match grew[i] {
            Some(true) => seen_growth = true,
            Some(false) if seen_growth => {
                let next_flat = grew.get(i + 1).is_none_or(|g| *g != Some(true));
                if next_flat {
                    return (Some(i), cgroup);
                }
            }
            _ => {}
        }
    }
    (None, cgroup)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::fixture;

    #[test]
    fn detects_eviction_and_stop() {
        let r = fixture::record(true);
        // mmap (index 2): cache grows to 6 s, pgsteal from interval 7 on: the cache
        // stopped growing first.
        let f = detect(&r.backends[2]).unwrap();
        assert_eq!(f.signal, Signal::StoppedGrowing { cgroup: false });
        assert_eq!(f.t_s, 6.0);
        // Without a gauge, eviction alone marks it.
        let mut b = r.backends[2].clone();
        for iv in &mut b.timeseries {
            iv.counters.page_cache_bytes_end = None;
        }
        let f = detect(&b).unwrap();
        assert_eq!(f.signal, Signal::Eviction);
        assert_eq!(f.t_s, 7.0);
    }

    #[test]
    fn nothing_without_counters() {
        let r = fixture::record(false);
        assert!(r.backends.iter().all(|b| detect(b).is_none()));
    }

    #[test]
    fn a_flat_cache_is_not_a_fill() {
        let mut b = fixture::record(true).backends[2].clone();
        for iv in &mut b.timeseries {
            iv.counters.page_cache_bytes_end = Some(1 << 30);
            iv.counters.vmstat = None;
        }
        assert!(detect(&b).is_none());
    }
}
