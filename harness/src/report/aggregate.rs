//! Pooling: the results of one backend at one thread count (its repeats, and the same
//! backend in several records of one workload) become one `Row` whose metrics are the
//! mean with the min-max spread. Only results with status `ok` carry metrics; skipped
//! and failed results are counted and keep their reasons.

use crate::probe::CounterId;
use crate::record::Status;
use crate::record::{BackendResult, RunRecord};
use std::collections::BTreeMap;

/// Mean, smallest and largest value of one metric over `n` results.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Spread {
    /// None when there are no values.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Spread> {
        let mut n = 0usize;
        let (mut sum, mut min, mut max) = (0.0, f64::INFINITY, f64::NEG_INFINITY);
        for v in values {
            n += 1;
            sum += v;
            min = min.min(v);
            max = max.max(v);
        }
        (n > 0).then(|| Spread {
            mean: sum / n as f64,
            min,
            max,
            n,
        })
    }

    pub fn scale(self, k: f64) -> Spread {
        Spread {
            mean: self.mean * k,
            min: self.min * k,
            max: self.max * k,
            n: self.n,
        }
    }
}

/// The counters the report shows per row, each derived per result before pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Derived {
    /// Major page faults per operation.
    MajorFaultsPerOp,
    /// System-wide TLB shootdown interrupts per 1000 operations.
    TlbShootdownsPerKop,
    /// Bytes the device read per byte the application read.
    ReadAmplification,
}

impl Derived {
    pub const ALL: [Derived; 3] = [
        Derived::MajorFaultsPerOp,
        Derived::TlbShootdownsPerKop,
        Derived::ReadAmplification,
    ];

    /// The counter in run.json the value comes from (the key of its null reason).
    pub fn counter(self) -> CounterId {
        match self {
            Derived::MajorFaultsPerOp => CounterId::MajorFaults,
            Derived::TlbShootdownsPerKop => CounterId::TlbShootdownsSystem,
            Derived::ReadAmplification => CounterId::ReadAmplification,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Derived::MajorFaultsPerOp => "major faults/op",
            Derived::TlbShootdownsPerKop => "TLB shootdowns/1k ops",
            Derived::ReadAmplification => "read amp.",
        }
    }

    fn value(self, b: &BackendResult) -> Option<f64> {
        let ops = b.ops as f64;
        let c = &b.counters;
        match self {
            Derived::MajorFaultsPerOp => {
                c.major_faults.filter(|_| ops > 0.0).map(|v| v as f64 / ops)
            }
            Derived::TlbShootdownsPerKop => c
                .tlb_shootdowns_system
                .filter(|_| ops > 0.0)
                .map(|v| v as f64 * 1000.0 / ops),
            Derived::ReadAmplification => c.read_amplification,
        }
    }
}

/// Said when a counter is null and the result gives no reason (runs made before the
/// probe existed).
pub const NO_REASON: &str = "not recorded by the version of faultline that made this run";

/// One backend at one thread count, pooled.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub workload: String,
    pub name: String,
    pub threads: usize,
    /// Results pooled (any status).
    pub runs: usize,
    /// Of those, with status ok: the ones the metrics come from.
    pub ok: usize,
    pub skipped: usize,
    pub failed: usize,
    /// Reasons given by skipped or failed results, without repeats.
    pub reasons: Vec<String>,
    /// Reads that returned wrong bytes, summed; None when nothing could be verified.
    pub verify_errors: Option<u64>,
    pub ops_per_sec: Option<Spread>,
    pub bytes_per_sec: Option<Spread>,
    /// Latency percentiles in ns.
    pub p50: Option<Spread>,
    pub p99: Option<Spread>,
    pub p999: Option<Spread>,
    pub derived: BTreeMap<Derived, Spread>,
    /// The timing-floor note of the first pooled result whose p50 is at the floor.
    pub timing_floor: Option<String>,
    /// Why a derived counter is n/a: {counter: reason}, in counter-name order.
    pub unavailable: BTreeMap<CounterId, String>,
    /// With a page-cache limit: whether each pooled cell was in its reclaim regime.
    pub regime_notes: Vec<String>,
}

impl Row {
    pub fn derived(&self, d: Derived) -> Option<Spread> {
        self.derived.get(&d).copied()
    }

    /// "ok", "skipped", "failed", or "2 of 3 ok" when the pooled results disagree.
    pub fn status_text(&self) -> String {
        if self.ok == self.runs {
            "ok".into()
        } else if self.skipped == self.runs {
            "skipped".into()
        } else if self.failed == self.runs {
            "failed".into()
        } else {
            format!("{} of {} ok", self.ok, self.runs)
        }
    }
}

/// Pool the results of `records` into rows keyed by (workload, backend, threads), in
/// order of first appearance. With `ignore_workload`, the workload name is not part of
/// the key (comparing two sides that each ran one workload under different names).
pub fn rows(records: &[&RunRecord], ignore_workload: bool) -> Vec<Row> {
    let mut order: Vec<(String, String, usize)> = Vec::new();
    let mut groups: BTreeMap<(String, String, usize), Vec<&BackendResult>> = BTreeMap::new();
    for r in records {
        let w = if ignore_workload {
            String::new()
        } else {
            r.report_name()
        };
        for b in &r.backends {
            let key = (w.clone(), b.name.clone(), b.threads);
            let g = groups.entry(key.clone()).or_default();
            if g.is_empty() {
                order.push(key);
            }
            g.push(b);
        }
    }
    order
        .into_iter()
        .map(|key| {
            let g = &groups[&key];
            pool(key.0, key.1, key.2, g)
        })
        .collect()
}

fn pool(workload: String, name: String, threads: usize, g: &[&BackendResult]) -> Row {
    let ok: Vec<&BackendResult> = g
        .iter()
        .copied()
        .filter(|b| b.status == Status::Ok && b.ops > 0)
        .collect();
    let count = |s: Status| g.iter().filter(|b| b.status == s).count();
    let mut reasons: Vec<String> = Vec::new();
    for b in g {
        if let Some(r) = &b.reason {
            if !reasons.contains(r) {
                reasons.push(r.clone());
            }
        }
    }
    let verify_errors = g
        .iter()
        .filter_map(|b| b.verify_errors)
        .reduce(|a, b| a + b);
    let lat = |f: fn(&crate::record::Latency) -> u64| {
        Spread::of(
            ok.iter()
                .filter_map(|b| b.latency_ns.as_ref().map(|l| f(l) as f64)),
        )
    };
    let mut derived = BTreeMap::new();
    let mut unavailable = BTreeMap::new();
    for d in Derived::ALL {
        match Spread::of(ok.iter().filter_map(|b| d.value(b))) {
            Some(s) => {
                derived.insert(d, s);
            }
            None => {
                if !ok.is_empty() {
                    let why = ok
                        .iter()
                        .find_map(|b| b.reasons.get(d.counter()).map(str::to_string))
                        .unwrap_or_else(|| NO_REASON.to_string());
                    unavailable.insert(d.counter(), why);
                }
            }
        }
    }
    Row {
        workload,
        name,
        threads,
        runs: g.len(),
        ok: ok.len(),
        skipped: count(Status::Skipped),
        failed: count(Status::Failed),
        reasons,
        verify_errors,
        ops_per_sec: Spread::of(ok.iter().map(|b| b.ops_per_sec)),
        bytes_per_sec: Spread::of(ok.iter().map(|b| b.bytes_per_sec)),
        p50: lat(|l| l.p50),
        p99: lat(|l| l.p99),
        p999: lat(|l| l.p999),
        derived,
        timing_floor: ok.iter().find_map(|b| b.timing_floor_note()),
        unavailable,
        regime_notes: g
            .iter()
            .filter_map(|b| {
                let r = b.regime.as_ref()?;
                crate::record::regime::held_note(&b.name, b.threads, r)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_pool_into_mean_and_spread() {
        let mut r = crate::record::tests::sample_record();
        let mut second = r.backends[0].clone();
        second.repeat = 1;
        second.ops_per_sec = 4.5;
        second.counters.major_faults = Some(10);
        r.backends.push(second);
        let rows = rows(&[&r], false);
        assert_eq!(rows.len(), 2);
        let m = &rows[0];
        assert_eq!((m.runs, m.ok), (2, 2));
        assert_eq!(
            m.ops_per_sec,
            Some(Spread {
                mean: 3.5,
                min: 2.5,
                max: 4.5,
                n: 2
            })
        );
        // One repeat has the counter, the other not: the mean is over the one.
        let mf = m.derived(Derived::MajorFaultsPerOp).unwrap();
        assert_eq!((mf.mean, mf.n), (2.0, 1));
        assert!(m.derived(Derived::TlbShootdownsPerKop).is_none());
        assert_eq!(m.unavailable[&CounterId::TlbShootdownsSystem], NO_REASON);
        let d = &rows[1];
        assert_eq!(d.status_text(), "skipped");
        assert_eq!(d.reasons, vec!["no O_DIRECT here".to_string()]);
        assert!(d.ops_per_sec.is_none() && d.unavailable.is_empty());
    }
}
