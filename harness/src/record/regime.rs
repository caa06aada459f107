//! Whether a cell was in the reclaim regime it asked for (`reclaim = "cgroup"` or
//! `"global"` with a `page_cache_limit`): who did the evicting, judged from the cell's
//! counters over the measured phase. A pure function of the counters, so it is tested
//! on fixed values.
//!
//! * global: kswapd did most of the scanning: /proc/vmstat `pgscan_kswapd` >
//!   `pgscan_direct`.
//! * cgroup: the cgroup did the evicting: the pages it evicted at its limit
//!   (`cgroup_reclaim_pages`: memory.stat pgpgout on v1, pgsteal on v2) exceed the pages
//!   machine-wide reclaim scanned (`pgscan_kswapd + pgscan_direct`, which count only
//!   reclaim that is not for a cgroup's limit). Comparing evicted with scanned pages
//!   favours global reclaim, so `true` is a conservative verdict.
//!
//! Null (with the reason) when the counters are missing, when nothing was evicted at
//! all (the data fitted), or when the cell ran outside the limit (its backend does not
//! use the page cache).

use crate::env::global_reclaim::ReservationRecord;
use crate::probe::{CounterId, CounterValue, Counters};
use crate::spec::Reclaim;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegimeCheck {
    /// "cgroup" or "global".
    pub reclaim: String,
    /// True when the regime held, false when it did not, null when it cannot be said.
    pub ok: Option<bool>,
    /// The counters behind the verdict, or why there is none.
    pub why: String,
    /// The global regime: the cell's huge-page reservation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<ReservationRecord>,
}

fn vm(c: &Counters, key: &str) -> Option<u64> {
    match c.get(CounterId::Vmstat)? {
        CounterValue::ByName(m) => m.get(key).copied(),
        _ => None,
    }
}

fn pct(a: u64, b: u64) -> f64 {
    if a + b == 0 {
        0.0
    } else {
        100.0 * a as f64 / (a + b) as f64
    }
}

/// The verdict for a cell that ran under `reclaim` (`limited`: inside the limit, i.e.
/// in the cgroup or with the reservation held).
pub fn judge(reclaim: Reclaim, limited: bool, c: &Counters) -> (Option<bool>, String) {
    if !limited {
        return (
            None,
            "the backend does not use the page cache, so the cell ran outside the limit".into(),
        );
    }
    let (Some(k), Some(d)) = (vm(c, "pgscan_kswapd"), vm(c, "pgscan_direct")) else {
        return (
            None,
            "/proc/vmstat pgscan_kswapd/pgscan_direct could not be read".into(),
        );
    };
    match reclaim {
        Reclaim::Global => {
            if k + d == 0 {
                return (
                    None,
                    "no reclaim during the measured phase (pgscan_kswapd = pgscan_direct = 0): the page cache did not fill"
                        .into(),
                );
            }
            (
                Some(k > d),
                format!(
                    "pgscan_kswapd {k}, pgscan_direct {d}: kswapd did {:.0}% of the scanning",
                    pct(k, d)
                ),
            )
        }
        Reclaim::Cgroup => {
            let Some(e) = c.count(CounterId::CgroupReclaimPages) else {
                return (
                    None,
                    "the cgroup's evictions (cgroup_reclaim_pages) could not be read".into(),
                );
            };
            if e + k + d == 0 {
                return (
                    None,
                    "no reclaim during the measured phase: the page cache did not fill".into(),
                );
            }
            (
                Some(e > k + d),
                format!(
                    "the cgroup evicted {e} pages at its limit; machine-wide reclaim scanned {} (pgscan_kswapd {k}, pgscan_direct {d})",
                    k + d
                ),
            )
        }
    }
}

/// The note a summary shows for a cell whose regime did not hold or could not be
/// verified (a report also shows the ones that held: `held_note`).
pub fn note(name: &str, threads: usize, r: &RegimeCheck) -> Option<String> {
    match r.ok {
        Some(false) => Some(format!(
            "{name} x{threads}: the {} reclaim regime did not hold ({})",
            r.reclaim, r.why
        )),
        None if !r.why.contains("outside the limit") => Some(format!(
            "{name} x{threads}: {} reclaim regime not verified ({})",
            r.reclaim, r.why
        )),
        _ => None,
    }
}

/// The note for any verdict: `note`'s, or that the regime held, with its counters.
pub fn held_note(name: &str, threads: usize, r: &RegimeCheck) -> Option<String> {
    match r.ok {
        Some(true) => Some(format!(
            "{name} x{threads}: the {} reclaim regime held ({})",
            r.reclaim, r.why
        )),
        _ => note(name, threads, r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(k: u64, d: u64, evicted: Option<u64>) -> Counters {
        Counters {
            vmstat: Some(
                [
                    ("pgscan_kswapd".to_string(), k),
                    ("pgscan_direct".to_string(), d),
                ]
                .into(),
            ),
            cgroup_reclaim_pages: evicted,
            ..Default::default()
        }
    }

    #[test]
    fn global_needs_kswapd_to_scan_most() {
        let (ok, why) = judge(Reclaim::Global, true, &counters(3_840_000, 130_000, None));
        assert_eq!(ok, Some(true));
        assert!(why.contains("97%"), "{why}");
        assert_eq!(
            judge(Reclaim::Global, true, &counters(10, 90, None)).0,
            Some(false)
        );
        let (ok, why) = judge(Reclaim::Global, true, &counters(0, 0, None));
        assert_eq!(ok, None);
        assert!(why.contains("did not fill"), "{why}");
    }

    #[test]
    fn cgroup_needs_the_cgroup_to_evict_most() {
        let (ok, why) = judge(Reclaim::Cgroup, true, &counters(0, 0, Some(5000)));
        assert_eq!(ok, Some(true), "{why}");
        assert_eq!(
            judge(Reclaim::Cgroup, true, &counters(9000, 0, Some(5000))).0,
            Some(false)
        );
        let (ok, why) = judge(Reclaim::Cgroup, true, &counters(0, 0, None));
        assert_eq!(ok, None);
        assert!(why.contains("cgroup_reclaim_pages"), "{why}");
    }

    #[test]
    fn null_without_counters_or_outside_the_limit() {
        let (ok, why) = judge(Reclaim::Global, true, &Counters::default());
        assert_eq!(ok, None);
        assert!(why.contains("pgscan"), "{why}");
        let (ok, why) = judge(Reclaim::Global, false, &counters(1, 2, None));
        assert_eq!(ok, None);
        let r = RegimeCheck {
            reclaim: "global".into(),
            ok,
            why,
            reservation: None,
        };
        assert_eq!(
            note("direct", 2, &r),
            None,
            "no note for a cell outside the limit"
        );
        let bad = RegimeCheck {
            ok: Some(false),
            why: "pgscan_kswapd 1, pgscan_direct 9".into(),
            ..r
        };
        let n = note("mmap", 2, &bad).unwrap();
        assert!(
            n.contains("did not hold") && n.contains("pgscan_direct 9"),
            "{n}"
        );
        let good = RegimeCheck {
            ok: Some(true),
            ..bad
        };
        assert_eq!(note("mmap", 2, &good), None);
        assert!(held_note("mmap", 2, &good).unwrap().contains("held"));
    }
}
