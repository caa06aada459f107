//! `faultline compare`: regression tracking between two sets of runs. Backends are
//! matched by (name, threads) (and workload, when a side holds several workloads);
//! every metric of `Metric::ALL` is compared by its mean over the pooled repeats and
//! judged better, worse or the same against a threshold in percent. A metric that got
//! worse past the threshold is a regression; so is a backend that ran in the baseline
//! and failed, or read wrong bytes, in the new runs.

use super::aggregate::{self, Row, Spread};
use super::metric::Metric;
use crate::record::RunRecord;
use std::collections::BTreeSet;
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Better,
    Worse,
    /// Within the threshold either way.
    Same,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::Same => "same",
        }
    }
}

/// One metric of one matched backend.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub metric: Metric,
    pub baseline: Spread,
    pub new: Spread,
    /// (new - baseline) / baseline of the means, in percent; None when the baseline is 0.
    pub change_pct: Option<f64>,
    pub verdict: Verdict,
}

/// A backend at a thread count found on both sides.
#[derive(Debug, Clone, PartialEq)]
pub struct Matched {
    /// "mmap:advice=random x2", prefixed with the workload when sides hold several.
    pub label: String,
    pub changes: Vec<Change>,
    /// Regressions that are not a metric: failed or wrong bytes in the new runs.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub threshold_pct: f64,
    pub baseline_runs: usize,
    pub new_runs: usize,
    pub matched: Vec<Matched>,
    pub only_baseline: Vec<String>,
    pub only_new: Vec<String>,
    /// On both sides but without a measurement on one of them, with why.
    pub not_compared: Vec<String>,
    /// Warnings about the comparison itself (different workloads or machines).
    pub notes: Vec<String>,
}

impl Comparison {
    /// Regressions past the threshold, as one line each.
    pub fn regressions(&self) -> Vec<String> {
        let mut v = Vec::new();
        for m in &self.matched {
            for p in &m.problems {
                v.push(format!("{}: {p}", m.label));
            }
            for c in m.changes.iter().filter(|c| c.verdict == Verdict::Worse) {
                v.push(format!(
                    "{} {}: {} -> {} ({})",
                    m.label,
                    c.metric.label(),
                    c.metric.format(c.baseline.mean),
                    c.metric.format(c.new.mean),
                    pct(c.change_pct)
                ));
            }
        }
        v
    }

    pub fn has_regressions(&self) -> bool {
        !self.regressions().is_empty()
    }
}

/// Compare `new` against `baseline` on every metric. `threshold_pct`: a change of more
/// than this many percent in the bad direction is a regression (and in the good one,
/// "better").
pub fn compare(baseline: &[RunRecord], new: &[RunRecord], threshold_pct: f64) -> Comparison {
    compare_metrics(baseline, new, threshold_pct, &Metric::ALL)
}

/// `compare` on the given metrics only.
pub fn compare_metrics(
    baseline: &[RunRecord],
    new: &[RunRecord],
    threshold_pct: f64,
    metrics: &[Metric],
) -> Comparison {
    let names = |rs: &[RunRecord]| -> BTreeSet<String> {
        rs.iter().map(|r| r.workload_name().to_string()).collect()
    };
    let (bw, nw) = (names(baseline), names(new));
    // One workload per side: match by (backend, threads) even if the names differ.
    let single = bw.len() <= 1 && nw.len() <= 1;
    let b_refs: Vec<&RunRecord> = baseline.iter().collect();
    let n_refs: Vec<&RunRecord> = new.iter().collect();
    let b_rows = aggregate::rows(&b_refs, single);
    let n_rows = aggregate::rows(&n_refs, single);
    let label = |r: &Row| {
        if single {
            format!("{} x{}", r.name, r.threads)
        } else {
            format!("{}/{} x{}", r.workload, r.name, r.threads)
        }
    };
    let same_key =
        |a: &Row, b: &Row| a.workload == b.workload && a.name == b.name && a.threads == b.threads;

    let mut c = Comparison {
        threshold_pct,
        baseline_runs: baseline.len(),
        new_runs: new.len(),
        matched: Vec::new(),
        only_baseline: Vec::new(),
        only_new: Vec::new(),
        not_compared: Vec::new(),
        notes: notes(baseline, new, single, &bw, &nw),
    };
    for b in &b_rows {
        let Some(n) = n_rows.iter().find(|n| same_key(b, n)) else {
            c.only_baseline.push(label(b));
            continue;
        };
        let mut problems = Vec::new();
        if b.ok > 0 && n.failed > 0 {
            problems.push(format!("failed in the new runs: {}", n.reasons.join("; ")));
        }
        if let Some(e) = n.verify_errors.filter(|&e| e > 0) {
            problems.push(format!(
                "{e} reads returned the wrong bytes in the new runs"
            ));
        }
        if b.ok == 0 || n.ok == 0 {
            if problems.is_empty() {
                let side = |r: &Row, which: &str| {
                    (r.ok == 0).then(|| {
                        format!("{} in {which} ({})", r.status_text(), r.reasons.join("; "))
                    })
                };
                let why: Vec<String> = [side(b, "baseline"), side(n, "new")]
                    .into_iter()
                    .flatten()
                    .collect();
                c.not_compared
                    .push(format!("{}: {}", label(b), why.join(", ")));
            } else {
                c.matched.push(Matched {
                    label: label(b),
                    changes: Vec::new(),
                    problems,
                });
            }
            continue;
        }
        let changes = metrics
            .iter()
            .filter_map(|&m| Some(judge(m, m.of(b)?, m.of(n)?, threshold_pct)))
            .collect();
        c.matched.push(Matched {
            label: label(b),
            changes,
            problems,
        });
    }
    for n in &n_rows {
        if !b_rows.iter().any(|b| same_key(b, n)) {
            c.only_new.push(label(n));
        }
    }
    c
}

fn judge(metric: Metric, baseline: Spread, new: Spread, threshold_pct: f64) -> Change {
    let change_pct = if baseline.mean != 0.0 {
        Some((new.mean - baseline.mean) / baseline.mean * 100.0)
    } else if new.mean == 0.0 {
        Some(0.0)
    } else {
        None
    };
    let verdict = match change_pct {
        Some(p) => {
            // Positive `gain` is an improvement, whatever the metric's direction.
            let gain = if metric.bigger_is_better() { p } else { -p };
            if gain > threshold_pct {
                Verdict::Better
            } else if gain < -threshold_pct {
                Verdict::Worse
            } else {
                Verdict::Same
            }
        }
        None => Verdict::Same,
    };
    Change {
        metric,
        baseline,
        new,
        change_pct,
        verdict,
    }
}

/// Workload settings that change what a result means; names, sources, backend lists,
/// thread lists, repeats and data paths are not among them.
const SETTINGS: &[&str] = &[
    "size",
    "block",
    "pattern",
    "op",
    "touch",
    "queue_depth",
    "stop",
    "warmup",
    "start",
    "file",
    "seed",
];

fn notes(
    baseline: &[RunRecord],
    new: &[RunRecord],
    single: bool,
    bw: &BTreeSet<String>,
    nw: &BTreeSet<String>,
) -> Vec<String> {
    let mut notes = Vec::new();
    if single && bw != nw && !bw.is_empty() && !nw.is_empty() {
        notes.push(format!(
            "the workloads have different names ({} vs {}); backends are matched by name and threads",
            join(bw),
            join(nw)
        ));
    }
    if let (Some(b), Some(n)) = (baseline.first(), new.first()) {
        if single {
            let differ: Vec<String> = SETTINGS
                .iter()
                .filter(|k| b.workload.get(**k) != n.workload.get(**k))
                .map(|k| {
                    let show = |r: &RunRecord| {
                        r.workload
                            .get(*k)
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "unset".into())
                    };
                    format!("{k} {} vs {}", show(b), show(n))
                })
                .collect();
            if !differ.is_empty() {
                notes.push(format!(
                    "the workload settings differ ({}): the numbers may not be comparable",
                    differ.join(", ")
                ));
            }
        }
        let machine = |r: &RunRecord| {
            (
                r.environment.hostname.clone(),
                r.environment.kernel.clone(),
                r.environment.cpu_model.clone(),
            )
        };
        let machines: BTreeSet<_> = baseline.iter().chain(new).map(machine).collect();
        if machines.len() > 1 {
            notes.push(
                "the runs come from different machines or kernels: differences may not be the code's"
                    .into(),
            );
        }
    }
    if baseline.iter().chain(new).any(|r| !r.complete) {
        notes.push("some runs were interrupted (incomplete); they are compared as they are".into());
    }
    notes
}

fn join(s: &BTreeSet<String>) -> String {
    s.iter().cloned().collect::<Vec<_>>().join(", ")
}

fn pct(p: Option<f64>) -> String {
    match p {
        Some(p) => format!("{p:+.1}%"),
        None => "n/a".into(),
    }
}

/// The comparison as aligned text for a terminal or a CI log.
pub fn comparison_text(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "compare: {} baseline run(s) vs {} new run(s); threshold {}%; means over the pooled repeats",
        c.baseline_runs,
        c.new_runs,
        trim(c.threshold_pct)
    );
    for n in &c.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out.push('\n');
    let mut rows: Vec<Vec<String>> = vec![[
        "backend", "metric", "baseline", "new", "change", "verdict",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()];
    for m in &c.matched {
        for p in &m.problems {
            rows.push(vec![
                m.label.clone(),
                "status".into(),
                "ok".into(),
                "-".into(),
                "-".into(),
                format!("REGRESSION: {p}"),
            ]);
        }
        for ch in &m.changes {
            let spread = |s: Spread| {
                if s.n > 1 && s.min != s.max {
                    format!(
                        "{} ({}-{})",
                        ch.metric.format(s.mean),
                        ch.metric.format(s.min),
                        ch.metric.format(s.max)
                    )
                } else {
                    ch.metric.format(s.mean)
                }
            };
            rows.push(vec![
                m.label.clone(),
                ch.metric.label().into(),
                spread(ch.baseline),
                spread(ch.new),
                pct(ch.change_pct),
                match ch.verdict {
                    Verdict::Worse if overlap(ch) => {
                        "worse  REGRESSION (the min-max ranges overlap: may be noise)".into()
                    }
                    Verdict::Worse => "worse  REGRESSION".into(),
                    v => v.as_str().into(),
                },
            ]);
        }
    }
    out.push_str(&align(&rows, &[false, false, true, true, true, false]));
    for (what, list) in [
        ("only in baseline (not compared)", &c.only_baseline),
        ("only in new (not compared)", &c.only_new),
    ] {
        if !list.is_empty() {
            let _ = writeln!(out, "{what}: {}", list.join(", "));
        }
    }
    for n in &c.not_compared {
        let _ = writeln!(out, "not compared: {n}");
    }
    let regressions = c.regressions();
    if regressions.is_empty() {
        let _ = writeln!(out, "\nno regressions past {}%", trim(c.threshold_pct));
    } else {
        let _ = writeln!(
            out,
            "\n{} regression(s) past {}%:",
            regressions.len(),
            trim(c.threshold_pct)
        );
        for r in regressions {
            let _ = writeln!(out, "  {r}");
        }
    }
    out
}

/// True when both sides have several runs and their ranges overlap.
fn overlap(c: &Change) -> bool {
    c.baseline.n > 1 && c.new.n > 1 && c.baseline.min <= c.new.max && c.new.min <= c.baseline.max
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Columns padded to their widest cell; `right` marks right-aligned columns.
fn align(rows: &[Vec<String>], right: &[bool]) -> String {
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            let pad = " ".repeat(widths[i] - c.chars().count());
            if right.get(i).copied().unwrap_or(false) {
                line.push_str(&pad);
                line.push_str(c);
            } else {
                line.push_str(c);
                line.push_str(&pad);
            }
            line.push_str("  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::markdown::tests::record_with_counters;

    #[test]
    fn a_record_compared_with_itself_has_no_regression() {
        let r = record_with_counters();
        let one = std::slice::from_ref(&r);
        let c = compare(one, one, 5.0);
        assert!(!c.has_regressions(), "{}", comparison_text(&c));
        assert!(c
            .matched
            .iter()
            .flat_map(|m| &m.changes)
            .all(|ch| ch.verdict == Verdict::Same && ch.change_pct == Some(0.0)));
        assert_eq!(
            c.not_compared.len(),
            1,
            "direct x1 is skipped on both sides"
        );
    }

    #[test]
    fn an_injected_20_percent_throughput_drop_is_a_regression() {
        let base = record_with_counters();
        let mut new = base.clone();
        for b in new.backends.iter_mut().filter(|b| b.name == "direct") {
            b.ops_per_sec *= 0.8;
            b.bytes_per_sec *= 0.8;
        }
        let c = compare(std::slice::from_ref(&base), std::slice::from_ref(&new), 5.0);
        let regs = c.regressions();
        assert_eq!(regs.len(), 2, "{regs:?}");
        assert!(regs[0].starts_with("direct x2 ops/s") && regs[0].contains("-20.0%"));
        // Past a 25% threshold the same drop is "same".
        assert!(!compare(
            std::slice::from_ref(&base),
            std::slice::from_ref(&new),
            25.0
        )
        .has_regressions());
        // The other way round it is an improvement, not a regression.
        let back = compare(&[new], &[base], 5.0);
        assert!(!back.has_regressions());
        assert!(back
            .matched
            .iter()
            .flat_map(|m| &m.changes)
            .any(|ch| ch.verdict == Verdict::Better));
    }

    #[test]
    fn latency_is_smaller_is_better() {
        let base = record_with_counters();
        let mut new = base.clone();
        for b in new.backends.iter_mut() {
            if let Some(l) = b.latency_ns.as_mut() {
                l.p99 = l.p99 * 12 / 10;
                l.p50 = l.p50 * 8 / 10;
            }
        }
        let c = compare(&[base], &[new], 5.0);
        let m = &c.matched[0];
        let of = |metric| {
            m.changes
                .iter()
                .find(|ch| ch.metric == metric)
                .unwrap()
                .verdict
        };
        assert_eq!(of(Metric::P99), Verdict::Worse);
        assert_eq!(of(Metric::P50), Verdict::Better);
        assert_eq!(of(Metric::OpsPerSec), Verdict::Same);
    }

    #[test]
    fn failures_missing_backends_and_setting_changes_are_reported() {
        let base = record_with_counters();
        let mut new = base.clone();
        new.workload["block"] = serde_json::json!(8192);
        let d = new
            .backends
            .iter_mut()
            .find(|b| b.name == "direct" && b.threads == 2)
            .unwrap();
        d.status = crate::record::Status::Failed;
        d.reason = Some("pread: EIO".into());
        d.ops = 0;
        new.backends
            .retain(|b| !(b.name == "direct" && b.threads == 1));
        let mut extra = new.backends[0].clone();
        extra.name = "pread".into();
        new.backends.push(extra);
        let c = compare(&[base], &[new], 5.0);
        assert_eq!(
            c.regressions(),
            vec!["direct x2: failed in the new runs: pread: EIO".to_string()]
        );
        assert_eq!(c.only_baseline, vec!["direct x1".to_string()]);
        assert_eq!(c.only_new, vec!["pread x2".to_string()]);
        assert!(
            c.notes.iter().any(|n| n.contains("block 4096 vs 8192")),
            "{:?}",
            c.notes
        );
    }

    #[test]
    fn snapshot_of_the_text() {
        let base = record_with_counters();
        let mut new = base.clone();
        new.backends[0].ops_per_sec = 2.0;
        new.backends.retain(|b| b.threads == 2);
        let got = comparison_text(&compare(&[base], &[new], 5.0));
        let want = "\
compare: 1 baseline run(s) vs 1 new run(s); threshold 5%; means over the pooled repeats

backend                metric          baseline               new  change  verdict
mmap:advice=random x2  ops/s   3.00 (2.50-3.50)  2.75 (2.00-3.50)   -8.3%  worse  REGRESSION (the min-max ranges overlap: may be noise)
mmap:advice=random x2  MiB/s                0.0               0.0   +0.0%  same
mmap:advice=random x2  p50               2.00us            2.00us   +0.0%  same
mmap:advice=random x2  p99               50.0us            50.0us   +0.0%  same
mmap:advice=random x2  p99.9             50.0us            50.0us   +0.0%  same
direct x2              ops/s               1.25              1.25   +0.0%  same
direct x2              MiB/s                0.0               0.0   +0.0%  same
direct x2              p50               2.00us            2.00us   +0.0%  same
direct x2              p99               50.0us            50.0us   +0.0%  same
direct x2              p99.9             50.0us            50.0us   +0.0%  same
only in baseline (not compared): direct x1

1 regression(s) past 5%:
  mmap:advice=random x2 ops/s: 3.00 -> 2.75 (-8.3%)
";
        assert_eq!(got, want, "\n{got}");
    }
}
