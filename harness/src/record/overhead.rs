//! `probe_overhead` in run.json: what each probe costs on the cell it instruments,
//! from an A/B of the same cell with every default probe on and with that probe off,
//! alternated over rounds (`faultline run --probe-overhead N`; orchestrated by
//! `runner::overhead`). Pure types and arithmetic, tested on fixed numbers.

use crate::stats::median;
use serde::{Deserialize, Serialize};

/// The repeats of one variant of a cell: throughput and median latency per round.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Samples {
    pub ops_per_sec: Vec<f64>,
    /// p50 latency of each round, ns (null when nothing was measured).
    pub p50_ns: Vec<Option<u64>>,
    /// Operations per CPU-second of the measured threads (user + system time, clock-tick
    /// resolution) in each round: less sensitive than ops/s to other processes taking
    /// the CPUs (null when the CPU times could not be read).
    #[serde(default)]
    pub ops_per_cpu_sec: Vec<Option<f64>>,
}

impl Samples {
    pub fn push(&mut self, ops_per_sec: f64, p50_ns: Option<u64>) {
        self.ops_per_sec.push(ops_per_sec);
        self.p50_ns.push(p50_ns);
    }

    pub fn push_cpu(&mut self, ops_per_cpu_sec: Option<f64>) {
        self.ops_per_cpu_sec.push(ops_per_cpu_sec);
    }

    pub fn median_cpu(&self) -> Option<f64> {
        let v: Vec<f64> = self.ops_per_cpu_sec.iter().flatten().copied().collect();
        median(&v)
    }

    pub fn median_ops(&self) -> Option<f64> {
        median(&self.ops_per_sec)
    }

    pub fn median_p50(&self) -> Option<f64> {
        let v: Vec<f64> = self.p50_ns.iter().flatten().map(|&n| n as f64).collect();
        median(&v)
    }
}

/// One probe's cost on one cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeCost {
    /// `fault_attribution`, `thread_counters`, `tlb_tracepoint`, `sampler`, or
    /// `all_default_probes` (every one of them off at once).
    pub probe: String,
    /// How the B runs turned it off (a setting or flag).
    pub off_by: String,
    /// median ops/s with the probe on / median ops/s with it off (1.0: free; 0.9: the
    /// probe costs 10% of the throughput). Null when a side measured nothing.
    pub throughput_ratio: Option<f64>,
    /// median p50 with the probe on / median p50 with it off (above 1: slower).
    pub p50_ratio: Option<f64>,
    /// median ops per CPU-second on / off (below 1: the probe costs CPU per operation).
    #[serde(default)]
    pub cpu_ratio: Option<f64>,
    /// The B runs (probe off), one entry per round; the A runs are the cell's `on`.
    pub off: Samples,
    /// Whether the probe acted during the A runs (counted events above 0); null when
    /// its source could not be read.
    pub fired: Option<bool>,
    /// What it counted during the A runs (summed over rounds): sampled faulting
    /// operations, faults, tlb_flush events, or samples taken.
    pub events: Option<u64>,
    pub events_what: String,
}

/// Every probe's cost on one cell (backend x threads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellOverhead {
    pub backend: String,
    pub threads: usize,
    pub rounds: u32,
    /// The A runs: every default probe on.
    pub on: Samples,
    pub probes: Vec<ProbeCost>,
}

/// `on / off`, None unless both are positive.
pub fn ratio(on: Option<f64>, off: Option<f64>) -> Option<f64> {
    match (on, off) {
        (Some(a), Some(b)) if a > 0.0 && b > 0.0 => Some(a / b),
        _ => None,
    }
}

impl ProbeCost {
    /// The ratios of the A runs `on` against this probe's B runs.
    pub fn compute(&mut self, on: &Samples) {
        self.throughput_ratio = ratio(on.median_ops(), self.off.median_ops());
        self.p50_ratio = ratio(on.median_p50(), self.off.median_p50());
        self.cpu_ratio = ratio(on.median_cpu(), self.off.median_cpu());
    }

    /// Cost in percent of throughput (positive: the probe makes the cell slower).
    pub fn cost_pct(&self) -> Option<f64> {
        self.throughput_ratio.map(|r| (1.0 - r) * 100.0)
    }
}

/// The table `run --probe-overhead` prints: one row per cell and probe.
pub fn table(cells: &[CellOverhead]) -> String {
    let mut t = crate::table::Table::new(
        &[
            "backend",
            "threads",
            "probe",
            "fired",
            "on ops/s",
            "off ops/s",
            "tput on/off",
            "cost",
            "p50 on/off",
            "ops/cpu on/off",
        ],
        3,
    );
    let f = |v: Option<f64>, prec: usize| v.map_or("-".to_string(), |x| format!("{x:.prec$}"));
    for c in cells {
        for p in &c.probes {
            t.push(vec![
                c.backend.clone(),
                c.threads.to_string(),
                p.probe.clone(),
                match p.fired {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "?",
                }
                .to_string(),
                f(c.on.median_ops(), 0),
                f(p.off.median_ops(), 0),
                f(p.throughput_ratio, 3),
                p.cost_pct().map_or("-".to_string(), |x| format!("{x:.1}%")),
                f(p.p50_ratio, 3),
                f(p.cpu_ratio, 3),
            ]);
        }
    }
    t.to_text()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_needs_both_sides_positive() {
        assert_eq!(ratio(Some(90.0), Some(100.0)), Some(0.9));
        assert_eq!(ratio(Some(90.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(1.0)), None);
    }

    #[test]
    fn probe_cost_uses_medians_of_the_rounds() {
        let mut on = Samples::default();
        for (t, p) in [(100.0, 10), (80.0, 30), (90.0, 20)] {
            on.push(t, Some(p));
        }
        let mut c = ProbeCost {
            probe: "fault_attribution".into(),
            off_by: "fault_attribution = false".into(),
            throughput_ratio: None,
            p50_ratio: None,
            cpu_ratio: None,
            off: Samples::default(),
            fired: Some(true),
            events: Some(5),
            events_what: "x".into(),
        };
        for (t, p) in [(120.0, Some(10)), (100.0, None), (110.0, Some(10))] {
            c.off.push(t, p);
        }
        c.compute(&on);
        // medians: on 90 / off 110; p50: on 20 / off 10 (the null round is left out)
        assert!((c.throughput_ratio.unwrap() - 90.0 / 110.0).abs() < 1e-12);
        assert_eq!(c.p50_ratio, Some(2.0));
        assert!((c.cost_pct().unwrap() - 100.0 * 20.0 / 110.0).abs() < 1e-9);
    }

    #[test]
    fn record_shape_is_stable() {
        let c = CellOverhead {
            backend: "mmap".into(),
            threads: 1,
            rounds: 1,
            on: Samples {
                ops_per_sec: vec![10.0],
                p50_ns: vec![Some(5)],
                ops_per_cpu_sec: vec![Some(20.0)],
            },
            probes: vec![ProbeCost {
                probe: "sampler".into(),
                off_by: "interval = the whole measured phase".into(),
                throughput_ratio: Some(1.0),
                p50_ratio: None,
                cpu_ratio: Some(1.0),
                off: Samples {
                    ops_per_sec: vec![10.0],
                    p50_ns: vec![None],
                    ops_per_cpu_sec: vec![None],
                },
                fired: None,
                events: None,
                events_what: "samples".into(),
            }],
        };
        let v = serde_json::to_value(&c).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort();
        assert_eq!(keys, ["backend", "on", "probes", "rounds", "threads"]);
        let p = &v["probes"][0];
        let mut pk: Vec<&str> = p.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        pk.sort();
        assert_eq!(
            pk,
            [
                "cpu_ratio",
                "events",
                "events_what",
                "fired",
                "off",
                "off_by",
                "p50_ratio",
                "probe",
                "throughput_ratio"
            ]
        );
        assert_eq!(v["on"]["p50_ns"][0], 5);
        assert!(p["p50_ratio"].is_null() && p["fired"].is_null());
        let back: CellOverhead = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
        let t = table(&[c]);
        assert!(
            t.contains("sampler") && t.contains("1.000") && t.contains("0.0%"),
            "{t}"
        );
    }
}
