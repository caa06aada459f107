//! The "where" of a chart: which runs it shows (workload, host, kernel, CPU), what each
//! series is called and which colour it gets. Charts take the data ("what") from the
//! groups built here, so every chart names and colours a backend the same way.

use crate::probe::CounterId;
use crate::record::{BackendResult, RunRecord};
use plotters::style::RGBColor;

/// One result directory (or an in-memory record) to plot.
#[derive(Debug, Clone)]
pub struct Run {
    pub record: RunRecord,
    /// The result directory's name, e.g. "2026-11-21T214602Z-vm".
    pub dir_name: String,
}

/// The results of one backend spec at one thread count in one run: its repeats.
#[derive(Debug)]
pub struct Group<'a> {
    pub label: String,
    pub color: RGBColor,
    pub name: &'a str,
    pub threads: usize,
    /// Every result of this backend and thread count, in repeat order.
    pub results: Vec<&'a BackendResult>,
}

impl<'a> Group<'a> {
    /// The results that measured something (ok, or failed after measuring).
    pub fn measured(&self) -> impl Iterator<Item = &'a BackendResult> + '_ {
        self.results.iter().copied().filter(|b| b.ops > 0)
    }

    pub fn is_measured(&self) -> bool {
        self.measured().next().is_some()
    }

    /// Why nothing was measured (the first result's reason).
    pub fn not_measured_reason(&self) -> String {
        self.results
            .iter()
            .find_map(|b| b.reason.clone())
            .unwrap_or_else(|| "no operations completed".into())
    }
}

/// What a null counter without an entry in `reasons` means.
pub const NO_REASON: &str = "null, and the record gives no reason (made without that probe)";

/// Matplotlib's "tab10" palette (distinguishable, readable on white), then darker shades
/// of it for charts with more than ten series.
pub const PALETTE: [RGBColor; 20] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(16, 60, 110),
    RGBColor(170, 80, 0),
    RGBColor(20, 90, 30),
    RGBColor(130, 15, 20),
    RGBColor(80, 45, 125),
    RGBColor(80, 45, 35),
    RGBColor(160, 50, 130),
    RGBColor(50, 50, 50),
    RGBColor(110, 110, 10),
    RGBColor(10, 110, 120),
];

pub struct Context<'a> {
    pub runs: &'a [Run],
    pub groups: Vec<Group<'a>>,
}

impl<'a> Context<'a> {
    pub fn new(runs: &'a [Run]) -> Context<'a> {
        let mut thread_counts: Vec<usize> = runs
            .iter()
            .flat_map(|r| r.record.backends.iter().map(|b| b.threads))
            .collect();
        thread_counts.sort_unstable();
        thread_counts.dedup();
        let with_threads = thread_counts.len() > 1;
        let with_run = runs.len() > 1;
        let mut groups: Vec<Group<'a>> = Vec::new();
        for run in runs {
            let first = groups.len();
            for b in &run.record.backends {
                if let Some(g) = groups[first..]
                    .iter_mut()
                    .find(|g| g.name == b.name && g.threads == b.threads)
                {
                    g.results.push(b);
                    continue;
                }
                let mut label = b.name.clone();
                if with_threads {
                    label.push_str(&format!(
                        ", {} thread{}",
                        b.threads,
                        if b.threads == 1 { "" } else { "s" }
                    ));
                }
                if with_run {
                    label.push_str(&format!(" @ {}/{}", host(&run.record), run.dir_name));
                }
                groups.push(Group {
                    label,
                    color: PALETTE[groups.len() % PALETTE.len()],
                    name: &b.name,
                    threads: b.threads,
                    results: vec![b],
                });
            }
        }
        for g in &mut groups {
            g.results.sort_by_key(|b| b.repeat);
        }
        Context { runs, groups }
    }

    /// Groups that measured something.
    pub fn measured(&self) -> impl Iterator<Item = &Group<'a>> {
        self.groups.iter().filter(|g| g.is_measured())
    }

    /// Whether any group holds several repeats.
    pub fn has_repeats(&self) -> bool {
        self.groups.iter().any(|g| g.results.len() > 1)
    }

    /// The line under every chart title: workload, host, kernel, CPU (per run).
    pub fn title_line(&self) -> String {
        let mut workloads: Vec<&str> = self.runs.iter().map(|r| r.record.workload_name()).collect();
        workloads.dedup();
        let machines: Vec<String> = self
            .runs
            .iter()
            .map(|r| {
                let e = &r.record.environment;
                let mut s = String::new();
                if self.runs.len() > 1 {
                    s.push_str(&format!("{}/{}: ", host(&r.record), r.dir_name));
                } else {
                    s.push_str(&format!("host {}, ", host(&r.record)));
                }
                s.push_str(&format!(
                    "Linux {}, {}, {} CPUs",
                    e.kernel.as_deref().unwrap_or("?"),
                    e.cpu_model.as_deref().unwrap_or("CPU unknown"),
                    e.cpus
                ));
                if !r.record.complete {
                    s.push_str(" (incomplete run)");
                }
                s
            })
            .collect();
        let w = if workloads.len() == 1 {
            format!("workload {}", workloads.join(""))
        } else {
            format!("workloads {}", workloads.join(", "))
        };
        let when = if self.runs.len() == 1 {
            self.runs
                .first()
                .map(|r| format!(" · {}", r.record.started_at))
                .unwrap_or_default()
        } else {
            String::new()
        };
        format!("{w} · {}{when}", machines.join(" | "))
    }

    /// Why counter `key` is null, from the first measured result that says so.
    pub fn reason(&self, key: CounterId) -> String {
        self.measured()
            .flat_map(|g| g.measured())
            .find_map(|b| b.reasons.get(key).map(str::to_string))
            .unwrap_or_else(|| NO_REASON.into())
    }

    /// Notes for the measured groups that lack counter `key` (by `has`), one per reason:
    /// "major_faults unavailable for pread, direct: <reason>".
    pub fn unavailable(&self, key: CounterId, has: impl Fn(&Group) -> bool) -> Vec<String> {
        let mut by_reason: Vec<(String, Vec<&str>)> = Vec::new();
        for g in self.measured().filter(|g| !has(g)) {
            let why = g
                .measured()
                .find_map(|b| b.reasons.get(key).map(str::to_string))
                .unwrap_or_else(|| NO_REASON.into());
            match by_reason.iter_mut().find(|(r, _)| *r == why) {
                Some((_, labels)) => labels.push(&g.label),
                None => by_reason.push((why, vec![&g.label])),
            }
        }
        by_reason
            .into_iter()
            .map(|(why, labels)| format!("{key} unavailable for {}: {why}.", labels.join(", ")))
            .collect()
    }

    /// Whether the workload has a measured series over time (not every record does).
    pub fn any_timeseries(&self) -> bool {
        self.measured()
            .any(|g| g.measured().any(|b| !b.timeseries.is_empty()))
    }
}

pub fn host(r: &RunRecord) -> &str {
    r.environment.hostname.as_deref().unwrap_or("host?")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::fixture;

    #[test]
    fn groups_collect_repeats_and_name_runs() {
        let one = [fixture::run("a", true)];
        let c = Context::new(&one);
        assert_eq!(c.groups.len(), 4);
        assert_eq!(c.measured().count(), 3);
        assert!(c.groups.iter().all(|g| g.results.len() == 2));
        assert_eq!(c.groups[0].label, "pread");
        assert!(c.title_line().contains("host testhost"));
        assert!(c.title_line().contains("Linux 6.18.0-test"));

        let two = [fixture::run("a", true), fixture::run("b", false)];
        let c = Context::new(&two);
        assert_eq!(c.groups.len(), 8);
        assert_eq!(c.groups[4].label, "pread @ testhost/b");
        assert_ne!(c.groups[0].color, c.groups[4].color);
    }
}
