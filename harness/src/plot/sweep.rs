//! Sweep charts (`faultline plot` over the runs of `run --sweep`): one metric against
//! the swept value, one line per backend (and thread count), a point per value (the
//! mean over repeats). Metrics: ops/s, p99 latency, major faults per operation, TLB
//! shootdowns (system-wide) per 1000 operations. A counter that is null for a backend
//! at a value leaves that point out, and the legend says why; it is never drawn as 0.

use super::axes::{self, Scale};
use super::context::{host, Run, PALETTE};
use super::figure::Figure;
use super::legend::{Legend, Mark};
use super::panel::{Line, Panel};
use super::Prepared;
use crate::record::BackendResult;
use crate::spec::sweep::SweepPoint;

/// Whether an axis is linear, logarithmic, or chosen from the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AxisScale {
    /// x: log when the values span 8x or more; y: log when the lines span 50x or more.
    #[default]
    Auto,
    Linear,
    Log,
}

impl AxisScale {
    pub fn parse(s: &str) -> Result<AxisScale, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(AxisScale::Auto),
            "linear" => Ok(AxisScale::Linear),
            "log" => Ok(AxisScale::Log),
            _ => Err(format!(
                "`{s}` is not an axis scale; use auto, linear or log"
            )),
        }
    }
}

/// The axes of the sweep charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SweepAxes {
    pub x: AxisScale,
    pub y: AxisScale,
}

/// The sweep charts, by file stem.
pub const SWEEP_CHARTS: [&str; 4] = ["sweep-ops", "sweep-p99", "sweep-faults", "sweep-shootdowns"];

struct Metric {
    stem: &'static str,
    title: &'static str,
    y_desc: &'static str,
    value: fn(&BackendResult) -> Option<f64>,
    /// The counter behind it, for the reason when it is null.
    counter: Option<crate::probe::CounterId>,
    y_fmt: fn(f64) -> String,
}

fn per_op(n: Option<u64>, b: &BackendResult, scale: f64) -> Option<f64> {
    (b.ops > 0).then_some(n? as f64 * scale / b.ops as f64)
}

const METRICS: [Metric; 4] = [
    Metric {
        stem: "sweep-ops",
        title: "Throughput against the swept setting",
        y_desc: "operations per second",
        value: |b| (b.ops > 0).then_some(b.ops_per_sec),
        counter: None,
        y_fmt: axes::format_si,
    },
    Metric {
        stem: "sweep-p99",
        title: "p99 latency against the swept setting",
        y_desc: "p99 latency per operation (µs)",
        value: |b| b.latency_ns.as_ref().map(|l| l.p99 as f64 / 1000.0),
        counter: None,
        y_fmt: axes::format_us,
    },
    Metric {
        stem: "sweep-faults",
        title: "Major page faults per operation against the swept setting",
        y_desc: "major faults per operation",
        value: |b| per_op(b.counters.major_faults, b, 1.0),
        counter: Some(crate::probe::CounterId::MajorFaults),
        y_fmt: axes::trim,
    },
    Metric {
        stem: "sweep-shootdowns",
        title: "TLB shootdowns per 1000 operations against the swept setting",
        y_desc: "TLB shootdowns (all CPUs) per 1000 operations",
        value: |b| per_op(b.counters.tlb_shootdowns_system, b, 1000.0),
        counter: Some(crate::probe::CounterId::TlbShootdownsSystem),
        y_fmt: axes::trim,
    },
];

/// Every run must carry a sweep point of one key; Err says what is wrong.
pub fn points(runs: &[Run]) -> Result<(&str, bool), String> {
    let mut key: Option<&SweepPoint> = None;
    for r in runs {
        let Some(p) = r.record.sweep.as_ref() else {
            return Err(format!(
                "{} is not part of a sweep (its run.json has no `sweep`); plot a sweep's runs apart from other results",
                r.dir_name
            ));
        };
        match key {
            Some(k) if k.key != p.key => {
                return Err(format!(
                    "the runs sweep different settings ({} and {}); plot one sweep at a time",
                    k.key, p.key
                ))
            }
            _ => key = Some(p),
        }
    }
    let k = key.ok_or("no runs")?;
    Ok((k.key.as_str(), k.is_bytes()))
}

fn format_bytes(v: f64) -> String {
    crate::units::format_size(v.round().max(0.0) as u64)
}

/// The four sweep charts' figures (or why each is not drawn).
pub fn prepare(runs: &[Run], ax: SweepAxes) -> Vec<(&'static str, Prepared<Figure>)> {
    let (key, bytes) = match points(runs) {
        Ok(k) => k,
        Err(e) => {
            return METRICS
                .iter()
                .map(|m| (m.stem, Prepared::Skip(e.clone())))
                .collect()
        }
    };
    // Series: (backend, threads) in first-seen order.
    let mut series: Vec<(String, usize)> = Vec::new();
    for r in runs {
        for b in &r.record.backends {
            let k = (b.name.clone(), b.threads);
            if !series.contains(&k) {
                series.push(k);
            }
        }
    }
    let threads_differ = series.iter().any(|s| s.1 != series[0].1);
    let xs: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.record.sweep.as_ref().map(|p| p.number))
        .collect();
    let (xmin, xmax) = xs
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
    let x_log = match ax.x {
        AxisScale::Log => xmin > 0.0,
        AxisScale::Linear => false,
        AxisScale::Auto => xmin > 0.0 && xmax / xmin >= 8.0,
    };
    let x = if x_log {
        Scale::log(xmin, xmax)
    } else {
        let pad = ((xmax - xmin) * 0.05).max(xmax.abs() * 0.02).max(0.5);
        Scale::linear(
            (xmin - pad).min(if xmin >= 0.0 { 0.0 } else { xmin }),
            xmax + pad,
        )
    };
    let mut ticks = xs.clone();
    ticks.sort_by(|a, b| a.total_cmp(b));
    ticks.dedup();
    let context = title_line(runs, key);
    METRICS
        .iter()
        .map(|m| {
            let mut legend = Legend::default();
            let mut lines = Vec::new();
            let mut missing: Vec<String> = Vec::new();
            for (i, (name, threads)) in series.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                let mut pts: Vec<(f64, f64)> = Vec::new();
                for r in runs {
                    let Some(p) = r.record.sweep.as_ref() else {
                        continue;
                    };
                    let bs: Vec<&BackendResult> = r
                        .record
                        .backends
                        .iter()
                        .filter(|b| &b.name == name && b.threads == *threads)
                        .collect();
                    let vals: Vec<f64> = bs.iter().filter_map(|b| (m.value)(b)).collect();
                    if vals.is_empty() {
                        if let Some(b) = bs.iter().find(|b| b.ops > 0) {
                            if let Some(c) = m.counter {
                                let why = b
                                    .reasons
                                    .get(c)
                                    .map(str::to_string)
                                    .unwrap_or_else(|| super::context::NO_REASON.into());
                                missing.push(format!("{name} at {key}={}: {why}", p.value));
                            }
                        }
                        continue;
                    }
                    pts.push((p.number, vals.iter().sum::<f64>() / vals.len() as f64));
                }
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                let label = if threads_differ {
                    format!(
                        "{name}, {threads} thread{}",
                        if *threads == 1 { "" } else { "s" }
                    )
                } else {
                    name.clone()
                };
                if pts.is_empty() {
                    legend.add(format!("{label}: not measured"), color, Mark::Line);
                    continue;
                }
                legend.add(label, color, Mark::Line);
                lines.push(Line {
                    points: pts,
                    color,
                    dashed: false,
                });
            }
            if lines.is_empty() {
                let why = missing
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "no backend measured anything".into());
                return (m.stem, Prepared::Skip(format!("no data: {why}")));
            }
            missing.truncate(4);
            for n in missing {
                legend.note(format!("Unavailable: {n}"));
            }
            legend.note("Each point: one run of the sweep (mean over its repeats).");
            let vals = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1));
            let y = match ax.y {
                AxisScale::Auto => Scale::auto(vals, 50.0),
                AxisScale::Linear => Scale::from_zero(vals.fold(0.0, f64::max)),
                AxisScale::Log => {
                    let (lo, hi) = vals
                        .filter(|v| *v > 0.0)
                        .fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
                    Scale::log(lo, hi)
                }
            };
            let y_desc = if y.log {
                format!("{} (log scale)", m.y_desc)
            } else {
                m.y_desc.to_string()
            };
            let x_desc = format!(
                "{key}{}{}",
                if bytes { " (bytes)" } else { "" },
                if x.log { ", log scale" } else { "" }
            );
            let fig = Figure {
                title: m.title.into(),
                context: context.clone(),
                legend,
                panels: vec![Panel {
                    caption: None,
                    x,
                    y,
                    x_desc,
                    y_desc,
                    x_ticks: Some(ticks.clone()),
                    x_fmt: if bytes { format_bytes } else { axes::trim },
                    y_fmt: m.y_fmt,
                    lines,
                    marks: Vec::new(),
                    empty: None,
                    dots: true,
                }],
            };
            (m.stem, Prepared::Draw(fig))
        })
        .collect()
}

fn title_line(runs: &[Run], key: &str) -> String {
    let Some(first) = runs.first() else {
        return String::new();
    };
    let e = &first.record.environment;
    format!(
        "workload {} swept over {key} ({} values) · host {}, Linux {}, {}, {} CPUs · {}",
        first.record.workload_name(),
        runs.len(),
        host(&first.record),
        e.kernel.as_deref().unwrap_or("?"),
        e.cpu_model.as_deref().unwrap_or("CPU unknown"),
        e.cpus,
        first.record.started_at
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::fixture;

    fn sweep_runs() -> Vec<Run> {
        (0..3)
            .map(|i| {
                let mut r = fixture::run("a", i != 1);
                r.record.sweep = Some(SweepPoint {
                    key: "size".into(),
                    value: format!("{}MiB", 64 << i),
                    number: (64u64 << (20 + i)) as f64,
                    index: i,
                    count: 3,
                });
                r
            })
            .collect()
    }

    #[test]
    fn one_line_per_backend_with_a_point_per_value() {
        let runs = sweep_runs();
        let charts = prepare(&runs, SweepAxes::default());
        assert_eq!(charts.len(), 4);
        let Prepared::Draw(f) = &charts[0].1 else {
            panic!("ops drawn")
        };
        assert_eq!(f.panels[0].lines[0].points.len(), 3);
        assert!(!f.panels[0].x.log, "64MiB..256MiB spans 4x: auto is linear");
        let charts = prepare(
            &runs,
            SweepAxes {
                x: AxisScale::Log,
                y: AxisScale::Log,
            },
        );
        let Prepared::Draw(f) = &charts[0].1 else {
            panic!("ops drawn")
        };
        assert!(f.panels[0].x.log && f.panels[0].y.log);
    }

    #[test]
    fn a_run_without_sweep_is_refused() {
        let mut runs = sweep_runs();
        runs[1].record.sweep = None;
        let charts = prepare(&runs, SweepAxes::default());
        assert!(matches!(&charts[0].1, Prepared::Skip(r) if r.contains("not part of a sweep")));
        assert_eq!(AxisScale::parse("log"), Ok(AxisScale::Log));
        assert!(AxisScale::parse("loglog").is_err());
    }
}
