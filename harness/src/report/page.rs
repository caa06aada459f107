//! The model of the HTML report (`faultline report --html`, `faultline run --html`): a
//! plain data structure built from the records, holding only text (and the charts'
//! SVG), so it can be tested without a template. `report::html` renders it.
//!
//! Runs are grouped and pooled as in the markdown report: one section per workload, one
//! row per backend x thread count, repeats and runs of the same workload pooled (mean
//! with the min-max spread). The charts of a workload are drawn in memory from its
//! records by the chart code (`plot::render`, SVG only), so a result made without
//! `--plot` has them too; a chart the records cannot give is listed with the reason.
//! Anything a record (older ones included) does not hold is said to be missing, never
//! shown as 0.

use super::aggregate::{self, Derived, Row, Spread};
use super::markdown::{build, command_line, default_reference, describe_workload, machine_line};
use crate::plot;
use crate::probe::{CounterId, CounterValue};
use crate::record::{BackendResult, RunRecord, Status};
use crate::units::{format_count, format_ns, format_size};

/// One result to show: the record, what to call it and where its files are as seen
/// from the page.
#[derive(Debug, Clone)]
pub struct PageRun<'a> {
    pub record: &'a RunRecord,
    /// The result directory as given (shown as the run's name).
    pub label: String,
    /// The result directory's name, for the charts' series names.
    pub dir_name: String,
    /// The relative path from the page's directory to the result directory, ending in
    /// '/' (empty when the page is in the result directory). None: no links.
    pub link_dir: Option<String>,
    /// File names in the result directory (run.json, CSV, .hgrm, .hlog, charts).
    pub files: Vec<String>,
}

/// A link from the page to a file of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub href: String,
    pub text: String,
    /// What the file holds.
    pub what: String,
}

/// "What was run": one result directory.
#[derive(Debug, Clone, PartialEq)]
pub struct RunView {
    pub label: String,
    pub workload: String,
    pub description: String,
    /// Each backend spec with its status: "pread (ok)", "direct (skipped)".
    pub backends: Vec<String>,
    pub command: String,
    /// "git 0123456789ab" (with local changes), or why it is not known.
    pub build: String,
    pub tool: String,
    pub started: String,
    pub finished: String,
    /// "complete", or that the run was interrupted.
    pub completeness: String,
    /// Index (1-based) of the machine in `Page::machines`.
    pub machine: usize,
    pub files: Vec<Link>,
    /// Why there are no links, when there are none.
    pub files_note: Option<String>,
}

/// One cell of a table, with a CSS class for its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub text: String,
    /// "num", "text", "map" (a counter's named values), "na" (not measured, see the
    /// notes) or "bad" (a backend that read wrong bytes).
    pub class: &'static str,
}

impl Cell {
    fn num(text: String) -> Cell {
        Cell { text, class: "num" }
    }
    fn text(text: String) -> Cell {
        Cell {
            text,
            class: "text",
        }
    }
    /// A counter that is a map (vmstat fields, TLB flushes by reason): wrapped text.
    fn map(text: String) -> Cell {
        Cell { text, class: "map" }
    }
    fn na(text: &str) -> Cell {
        Cell {
            text: text.into(),
            class: "na",
        }
    }
}

/// A table: header and rows of cells.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableView {
    pub head: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// One chart, inline.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartView {
    /// The chart's file stem ("throughput"), used as the anchor.
    pub name: String,
    pub title: String,
    /// One sentence: how to read it.
    pub caption: String,
    /// The SVG document, without an XML declaration.
    pub svg: String,
}

/// Counters per backend: one row per counter, one column per backend x threads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CounterTable {
    pub table: TableView,
    /// "[1] major_faults (direct x2): perf_event_open: EACCES", numbered as the cells
    /// that refer to them.
    pub reasons: Vec<String>,
}

/// One workload: its verdict, table, charts and counters.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadView {
    /// An HTML id (letters, digits and '-').
    pub id: String,
    pub name: String,
    pub description: String,
    pub runs_pooled: usize,
    pub verdict: String,
    pub reference: Option<String>,
    /// Sorted by throughput, fastest first; rows that measured nothing last.
    pub summary: TableView,
    pub notes: Vec<String>,
    /// The write and mix workloads' table by operation kind (markdown text).
    pub kinds: Option<String>,
    /// What the stall detection found overall ("Stalls: none ..." or the heading of
    /// the list), then one line per cell with stalls.
    pub stalls_intro: Option<String>,
    pub stalls: Vec<String>,
    pub charts: Vec<ChartView>,
    /// "latency-over-time: the run has fewer than 2 intervals".
    pub skipped_charts: Vec<String>,
    pub counters: CounterTable,
}

/// One machine (host and setup) the runs came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineView {
    /// 1-based.
    pub number: usize,
    pub summary: String,
    pub facts: Vec<(String, String)>,
    /// Labels of the runs made on it.
    pub runs: Vec<String>,
}

/// The whole page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub title: String,
    /// The faultline that wrote the page.
    pub tool: String,
    pub runs: Vec<RunView>,
    pub workloads: Vec<WorkloadView>,
    pub machines: Vec<MachineView>,
    /// Page-wide warnings (runs from several machines, interrupted runs).
    pub warnings: Vec<String>,
    /// With a baseline (`report --html DIR --baseline B`): what regressed.
    pub comparison: Option<ComparisonView>,
}

/// The page's runs against a baseline, as `faultline compare` judges them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComparisonView {
    /// "Against results/quick/OLD (3 runs), threshold 5%: 2 regressions."
    pub summary: String,
    /// One line per regression ("mmap x2 ops/s: 1.00M -> 800K (-20.0%)").
    pub regressions: Vec<String>,
    /// The comparison's own notes (different machines, settings, one-side backends).
    pub notes: Vec<String>,
}

/// The comparison of the page's runs (new) against `baseline` (its label and the
/// comparison), for the verdict section.
pub fn comparison_view(baseline: &str, c: &super::Comparison) -> ComparisonView {
    let regressions = c.regressions();
    let verdict = match regressions.len() {
        0 => format!("no regressions past {}%", c.threshold_pct),
        1 => "1 regression".to_string(),
        n => format!("{n} regressions"),
    };
    let mut notes = c.notes.clone();
    if !c.only_baseline.is_empty() {
        notes.push(format!(
            "only in the baseline: {}",
            c.only_baseline.join(", ")
        ));
    }
    if !c.only_new.is_empty() {
        notes.push(format!("only in these runs: {}", c.only_new.join(", ")));
    }
    notes.extend(c.not_compared.iter().cloned());
    ComparisonView {
        summary: format!(
            "Against the baseline {baseline} ({} run(s); these: {}), threshold {}%: {verdict}.",
            c.baseline_runs, c.new_runs, c.threshold_pct
        ),
        regressions,
        notes,
    }
}

/// Build the page for `runs`. `reference` names the backend of the relative-speed
/// column (default: `direct` when it ran, else the workload's first backend).
/// `comparison`: the verdict against a baseline, when one was given.
pub fn build_page(
    runs: &[PageRun],
    reference: Option<&str>,
    comparison: Option<ComparisonView>,
) -> Page {
    let mut machines: Vec<MachineView> = Vec::new();
    let mut machine_runs: Vec<Vec<&RunRecord>> = Vec::new();
    let mut run_views = Vec::new();
    for r in runs {
        let line = machine_line(r.record);
        let number = match machines.iter().position(|m| m.summary == line) {
            Some(i) => {
                machines[i].runs.push(r.label.clone());
                machine_runs[i].push(r.record);
                i + 1
            }
            None => {
                machines.push(MachineView {
                    number: machines.len() + 1,
                    summary: line,
                    facts: Vec::new(),
                    runs: vec![r.label.clone()],
                });
                machine_runs.push(vec![r.record]);
                machines.len()
            }
        };
        run_views.push(run_view(r, number));
    }
    for (m, recs) in machines.iter_mut().zip(&machine_runs) {
        m.facts = machine_facts(recs);
    }
    let mut warnings = Vec::new();
    if machines.len() > 1 {
        warnings.push(format!(
            "These runs come from {} different machines or setups (see Environment); runs of one workload are pooled across them.",
            machines.len()
        ));
    }
    for r in runs.iter().filter(|r| !r.record.complete) {
        warnings.push(format!(
            "{} was interrupted: it holds only what was measured before the interruption.",
            r.label
        ));
    }
    let workloads: Vec<WorkloadView> = by_workload(runs)
        .into_iter()
        .enumerate()
        .map(|(i, g)| workload_view(i, &g, reference))
        .collect();
    let names: Vec<&str> = workloads.iter().map(|w| w.name.as_str()).collect();
    let title = if names.is_empty() {
        "faultline report".to_string()
    } else {
        format!("faultline report: {}", names.join(", "))
    };
    Page {
        title,
        tool: format!("faultline {}", env!("CARGO_PKG_VERSION")),
        runs: run_views,
        workloads,
        machines,
        warnings,
        comparison,
    }
}

/// The runs grouped by workload name, in order of first appearance.
fn by_workload<'r, 'a>(runs: &'r [PageRun<'a>]) -> Vec<Vec<&'r PageRun<'a>>> {
    let mut groups: Vec<Vec<&PageRun>> = Vec::new();
    for r in runs {
        let name = r.record.workload_name();
        match groups
            .iter_mut()
            .find(|g| g[0].record.workload_name() == name)
        {
            Some(g) => g.push(r),
            None => groups.push(vec![r]),
        }
    }
    groups
}

fn run_view(r: &PageRun, machine: usize) -> RunView {
    let rec = r.record;
    let mut backends: Vec<String> = Vec::new();
    for b in &rec.backends {
        let s = format!("{} x{} ({})", b.name, b.threads, status_word(b.status));
        if !backends.contains(&s) {
            backends.push(s);
        }
    }
    let build = match build(&rec.environment) {
        b if b.is_empty() => match rec.environment.reasons.get("git_revision") {
            Some(why) => format!("unknown: {why}"),
            None => "not recorded by the version of faultline that made this run".into(),
        },
        b => b.trim_start_matches(", build ").to_string(),
    };
    let (files, files_note) = match &r.link_dir {
        Some(prefix) => (links(prefix, &r.files), None),
        None => (
            Vec::new(),
            Some("no links: the page is not in a place the result's files can be reached from by a relative path".into()),
        ),
    };
    RunView {
        label: r.label.clone(),
        workload: rec.workload_name().to_string(),
        description: describe_workload(&rec.workload),
        backends,
        command: command_line(&rec.command),
        build,
        tool: rec.tool.clone(),
        started: rec.started_at.clone(),
        finished: if rec.finished_at.is_empty() {
            "not recorded".into()
        } else {
            rec.finished_at.clone()
        },
        completeness: if rec.complete {
            "complete".into()
        } else {
            "interrupted: holds what was measured before the interruption".into()
        },
        machine,
        files,
        files_note,
    }
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Skipped => "skipped",
        Status::Failed => "failed",
    }
}

/// Links to the files of a result, in a fixed order: run.json, the CSV, the .hgrm and
/// .hlog files, the charts, the rest.
fn links(prefix: &str, files: &[String]) -> Vec<Link> {
    let what = |f: &str| -> (u8, &'static str) {
        if f == "run.json" {
            (0, "the whole record: command, workload, environment, histograms, time series, counters")
        } else if f.ends_with(".csv") {
            (1, "time series: one row per backend and interval")
        } else if f.ends_with(".hgrm") {
            (2, "latency percentiles (HdrHistogram text)")
        } else if f.ends_with(".hlog") {
            (3, "HdrHistogram interval log: a histogram per interval")
        } else if f.ends_with(".svg") || f.ends_with(".png") {
            (4, "chart")
        } else if f.ends_with(".md") || f.ends_with(".txt") {
            (5, "text")
        } else {
            (6, "")
        }
    };
    let mut v: Vec<(u8, Link)> = files
        .iter()
        .filter(|f| f.as_str() != "index.html")
        .map(|f| {
            let (rank, w) = what(f);
            (
                rank,
                Link {
                    href: format!("{prefix}{}", href_escape(f)),
                    text: f.clone(),
                    what: w.to_string(),
                },
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.text.cmp(&b.1.text)));
    v.into_iter().map(|(_, l)| l).collect()
}

/// A relative URL path for a file name: the characters a URL gives a meaning (and
/// spaces) percent-encoded. The template escapes the result once more for HTML.
pub fn href_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        let c = b as char;
        if c.is_ascii_alphanumeric() || "-_.~/=,+@".contains(c) {
            out.push(c);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn workload_view(i: usize, g: &[&PageRun], reference: Option<&str>) -> WorkloadView {
    let records: Vec<&RunRecord> = g.iter().map(|r| r.record).collect();
    let first = records[0];
    let rows = aggregate::rows(&records, false);
    let reference = reference
        .filter(|r| rows.iter().any(|row| row.name == *r))
        .or_else(|| default_reference(&rows))
        .map(str::to_string);
    let mut notes = notes(&rows);
    if let Some(r) = reference.as_deref() {
        notes.push(format!(
            "`vs {r}`: ops/s relative to {r} at the same thread count."
        ));
    }
    let (charts, skipped_charts) = charts(g);
    let mut stalls = super::stalls::lines(&records);
    let stalls_intro = (!stalls.is_empty()).then(|| stalls.remove(0));
    WorkloadView {
        id: format!("w{}-{}", i + 1, slug(first.workload_name())),
        name: first.workload_name().to_string(),
        description: describe_workload(&first.workload),
        runs_pooled: g.len(),
        verdict: verdict(&rows, reference.as_deref()),
        summary: summary_table(&rows, reference.as_deref()),
        reference,
        notes,
        kinds: super::kinds::kinds_markdown(&records),
        stalls_intro,
        stalls,
        charts,
        skipped_charts,
        counters: counter_table(&records, &rows),
    }
}

/// Letters, digits and '-' only, for HTML ids.
fn slug(s: &str) -> String {
    let v: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    v.trim_matches('-').chars().take(40).collect()
}

fn who(row: &Row) -> String {
    format!("{} x{}", row.name, row.threads)
}

/// "Fastest: mmap x2 at 901K ops/s, 53.6x direct (16.8K ops/s). 1 of 4 backends skipped."
pub fn verdict(rows: &[Row], reference: Option<&str>) -> String {
    let measured: Vec<&Row> = rows
        .iter()
        .filter(|r| r.ops_per_sec.is_some_and(|s| s.mean > 0.0))
        .collect();
    let mut parts = Vec::new();
    match measured
        .iter()
        .max_by(|a, b| mean(a.ops_per_sec).total_cmp(&mean(b.ops_per_sec)))
    {
        None => parts.push("No backend completed an operation.".to_string()),
        Some(best) => {
            let ops = mean(best.ops_per_sec);
            let base = reference.and_then(|r| {
                rows.iter()
                    .find(|o| o.name == r && o.threads == best.threads)
                    .and_then(|o| o.ops_per_sec)
                    .filter(|s| s.mean > 0.0)
                    .map(|s| (r, s.mean))
            });
            let mut s = format!("Fastest: {} at {} ops/s", who(best), format_count(ops));
            match base {
                Some((r, _)) if r == best.name => s.push_str(" (the reference)"),
                Some((r, b)) => s.push_str(&format!(
                    ", {} {r} ({} ops/s)",
                    ratio(ops / b),
                    format_count(b)
                )),
                None => {
                    if let Some(r) = reference {
                        s.push_str(&format!(
                            "; {r} has no throughput at {} threads to compare with",
                            best.threads
                        ));
                    }
                }
            }
            s.push('.');
            parts.push(s);
            if measured.len() > 1 {
                let slow = measured
                    .iter()
                    .min_by(|a, b| mean(a.ops_per_sec).total_cmp(&mean(b.ops_per_sec)))
                    .copied();
                if let Some(slow) = slow {
                    let ops = mean(slow.ops_per_sec);
                    let vs = reference
                        .filter(|r| *r != slow.name)
                        .and_then(|r| {
                            rows.iter()
                                .find(|o| o.name == r && o.threads == slow.threads)
                                .and_then(|o| o.ops_per_sec)
                                .filter(|s| s.mean > 0.0)
                                .map(|s| format!(", {} {r}", ratio(ops / s.mean)))
                        })
                        .unwrap_or_default();
                    parts.push(format!(
                        "Slowest: {} at {} ops/s{vs}.",
                        who(slow),
                        format_count(ops)
                    ));
                }
            }
        }
    }
    let not_run: Vec<String> = rows
        .iter()
        .filter(|r| r.ok == 0)
        .map(|r| format!("{} {}", who(r), r.status_text()))
        .collect();
    if !not_run.is_empty() {
        parts.push(format!(
            "Not measured: {} (reasons below).",
            not_run.join(", ")
        ));
    }
    let bad: u64 = rows.iter().filter_map(|r| r.verify_errors).sum();
    if bad > 0 {
        parts.push(format!("{bad} reads returned the wrong bytes."));
    }
    parts.join(" ")
}

/// A speed ratio with three significant digits: "122x", "18.1x", "0.92x", "0.015x".
pub fn ratio(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}x")
    } else if x >= 10.0 {
        format!("{x:.1}x")
    } else if x >= 0.1 {
        format!("{x:.2}x")
    } else {
        format!("{x:.3}x")
    }
}

fn mean(s: Option<Spread>) -> f64 {
    s.map_or(0.0, |s| s.mean)
}

fn spread(s: Option<Spread>, f: impl Fn(f64) -> String) -> String {
    match s {
        None => "-".into(),
        Some(s) if s.n > 1 && s.min != s.max => {
            format!("{} ({}–{})", f(s.mean), f(s.min), f(s.max))
        }
        Some(s) => f(s.mean),
    }
}

/// Ratios and small rates: three significant digits, exact zero as "0".
fn small(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else if v.abs() >= 0.01 {
        format!("{v:.3}")
    } else {
        format!("{v:.2e}")
    }
}

/// The summary table, fastest first.
pub fn summary_table(rows: &[Row], reference: Option<&str>) -> TableView {
    let mut head: Vec<String> = [
        "backend", "threads", "runs", "ops/s", "MiB/s", "p50", "p99", "p99.9",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    head.extend(Derived::ALL.iter().map(|d| d.label().to_string()));
    head.push(format!("vs {}", reference.unwrap_or("-")));
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort_by(|a, b| {
        let key = |r: &Row| r.ops_per_sec.map(|s| s.mean);
        match (key(a), key(b)) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
    });
    let mut t = TableView {
        head,
        rows: Vec::new(),
    };
    for row in sorted {
        let measured = row.ok > 0;
        let runs = if row.ok == row.runs {
            Cell::num(row.runs.to_string())
        } else if measured {
            Cell::text(row.status_text())
        } else {
            Cell::na(&row.status_text())
        };
        let mib = row.bytes_per_sec.map(|s| s.scale(1.0 / 1048576.0));
        let num = |s: Option<Spread>, f: &dyn Fn(f64) -> String| {
            if measured {
                Cell::num(spread(s, f))
            } else {
                Cell::na("-")
            }
        };
        let p50 = match (&row.timing_floor, row.p50) {
            (Some(_), Some(_)) => Cell::num(format!("{} *", spread(row.p50, format_ns))),
            _ => num(row.p50, &format_ns),
        };
        let mut cells = vec![
            Cell::text(row.name.clone()),
            Cell::num(row.threads.to_string()),
            runs,
            num(row.ops_per_sec, &format_count),
            num(mib, &|v| format!("{v:.1}")),
            p50,
            num(row.p99, &format_ns),
            num(row.p999, &format_ns),
        ];
        for d in Derived::ALL {
            cells.push(match row.derived(d) {
                Some(s) => Cell::num(spread(Some(s), small)),
                None if measured => Cell::na("n/a"),
                None => Cell::na("-"),
            });
        }
        cells.push(match relative(row, rows, reference) {
            Some(x) => Cell::num(ratio(x)),
            None => Cell::na(if measured { "n/a" } else { "-" }),
        });
        if row.verify_errors.is_some_and(|e| e > 0) {
            cells[0].class = "bad";
        }
        t.rows.push(cells);
    }
    t
}

fn relative(row: &Row, rows: &[Row], reference: Option<&str>) -> Option<f64> {
    let mine = row.ops_per_sec?;
    let base = rows
        .iter()
        .find(|o| Some(o.name.as_str()) == reference && o.threads == row.threads)?
        .ops_per_sec?;
    (base.mean > 0.0).then(|| mine.mean / base.mean)
}

/// Why rows were skipped or failed, wrong reads, the timing floor, the reclaim regime,
/// and the summary's n/a counters with their reasons.
fn notes(rows: &[Row]) -> Vec<String> {
    let mut notes: Vec<String> = Vec::new();
    let mut push = |n: String| {
        if !notes.contains(&n) {
            notes.push(n);
        }
    };
    for row in rows {
        if !row.reasons.is_empty() {
            push(format!(
                "{} {}: {}",
                who(row),
                row.status_text(),
                row.reasons.join("; ")
            ));
        }
        if let Some(n) = &row.timing_floor {
            push(format!("* {}: {n}", who(row)));
        }
        for n in &row.regime_notes {
            push(n.clone());
        }
        if let Some(n) = row.verify_errors.filter(|&n| n > 0) {
            push(format!("{}: {n} reads returned the wrong bytes", who(row)));
        }
    }
    let mut why: Vec<(CounterId, String, Vec<String>)> = Vec::new();
    for row in rows {
        for (counter, reason) in &row.unavailable {
            match why.iter_mut().find(|(c, r, _)| c == counter && r == reason) {
                Some(e) => e.2.push(who(row)),
                None => why.push((*counter, reason.clone(), vec![who(row)])),
            }
        }
    }
    for (counter, reason, whom) in why {
        push(format!("n/a {counter}: {reason} ({})", whom.join(", ")));
    }
    notes
}

/// The title and the how-to-read sentence of each chart kind.
pub fn chart_text(stem: &str) -> (&'static str, &'static str) {
    match stem {
        "throughput" => ("Throughput over time", "Operations per second in each sampling interval, one line per backend: higher is faster, a drop is a stall or the page cache filling (a dashed line marks where that was seen), and the legend gives each backend's mean."),
        "faults-shootdowns" => ("TLB shootdowns and major faults over time", "Top: TLB shootdown interrupts per second on all CPUs; bottom: major page faults per second of the measured threads; a backend without the counter is named in the legend's notes, not drawn as 0."),
        "amplification" => ("Read amplification", "Top: the bandwidth the application read (solid) against what the device read (dashed); bottom: their ratio per interval, where 1 means every byte read from the device was used and the legend gives each backend's overall ratio."),
        "latency-percentiles" => ("Latency percentiles", "Latency (log scale) at each percentile, with 50%, 90%, 99%, 99.9% ... equally spaced to the right: a lower line is faster, and where a line bends up is where its tail begins."),
        "latency-cdf" => ("Latency distribution", "Top: the share of operations in each latency bin (log time axis), so cache hits and device reads show as separate humps; bottom: the cumulative share of operations at or below each latency."),
        "ops-bars" => ("Throughput by backend", "Mean operations per second per backend and thread count, with whiskers from the slowest to the fastest repeat; longer is faster, and backends that did not run are listed with their reason."),
        "latency-over-time" => ("Latency over time", "p50, p99 and p99.9 of each sampling interval (log scale), one panel each: left to right is the run, so a step shows when the typical or the tail latency changed."),
        "latency-heatmap" => ("Latency heatmap", "One panel per backend: time to the right, latency up (log scale), colour the number of operations (dark purple few, yellow most); a horizontal band is a latency that persists, a pale column an interval with few operations."),
        "ops-by-kind" => ("Operations by kind", "Reads, writes and syncs per second per backend, one bar each (mean, whiskers over repeats); longer is faster."),
        "sync-latency" => ("Sync latency", "Latency of each backend's syncs (fdatasync, fsync, msync or sync_file_range) at each percentile, axes as in the latency percentiles: a lower line is a cheaper sync."),
        _ => ("Chart", "See docs/charts-and-reports.md for how to read this chart."),
    }
}

/// Draw the charts of one workload's runs as SVG, in memory.
fn charts(g: &[&PageRun]) -> (Vec<ChartView>, Vec<String>) {
    let runs: Vec<plot::Run> = g
        .iter()
        .map(|r| plot::Run {
            record: r.record.clone(),
            dir_name: r.dir_name.clone(),
        })
        .collect();
    let rendered = match plot::render(&runs, plot::Format::Svg) {
        Ok(r) => r,
        Err(e) => return (Vec::new(), vec![format!("no chart could be drawn: {e}")]),
    };
    let mut views = Vec::new();
    let mut skipped: Vec<String> = rendered
        .skipped
        .iter()
        .map(|s| format!("{}: {}", s.chart, s.reason))
        .collect();
    for f in rendered.files {
        let stem = f.name.trim_end_matches(".svg").to_string();
        let (title, caption) = chart_text(&stem);
        match inline_svg(&f.bytes) {
            Ok(svg) => views.push(ChartView {
                name: stem,
                title: title.into(),
                caption: caption.into(),
                svg,
            }),
            Err(why) => skipped.push(format!("{stem}: not shown: {why}")),
        }
    }
    (views, skipped)
}

/// The chart's SVG as it can stand inside HTML: the `<svg>` element on (no XML
/// declaration), scaled to the page's width. The chart code escapes every text it
/// draws; a document with anything that would run a script is refused all the same.
pub fn inline_svg(bytes: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the SVG is not UTF-8".to_string())?;
    let start = text
        .find("<svg")
        .ok_or_else(|| "no <svg> element".to_string())?;
    let svg = &text[start..];
    let lower = svg.to_ascii_lowercase();
    for bad in [
        "<script",
        "<foreignobject",
        "javascript:",
        " onload=",
        " onclick=",
        "<iframe",
        "<!entity",
    ] {
        if lower.contains(bad) {
            return Err(format!("it holds `{bad}`"));
        }
    }
    // A fixed width and height would overflow narrow windows: let CSS scale it by its
    // viewBox.
    let svg = match svg.find('>') {
        Some(end) => {
            let tag = &svg[..end];
            let mut t = tag.to_string();
            if !tag.contains("viewBox") {
                t.push_str(&format!(
                    " viewBox=\"0 0 {} {}\"",
                    attr(tag, "width").unwrap_or("1200"),
                    attr(tag, "height").unwrap_or("800")
                ));
            }
            t.push_str(" role=\"img\"");
            format!("{t}{}", &svg[end..])
        }
        None => return Err("the <svg> element is not closed".into()),
    };
    Ok(svg)
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let i = tag.find(&key)? + key.len();
    let rest = &tag[i..];
    Some(&rest[..rest.find('"')?])
}

/// Counters per pooled backend row (those that measured): the mean over the pooled
/// results that read the counter; a counter no result read is n/a with the reason,
/// numbered in the list under the table.
fn counter_table(records: &[&RunRecord], rows: &[Row]) -> CounterTable {
    let measured: Vec<&Row> = rows.iter().filter(|r| r.ok > 0).collect();
    if measured.is_empty() {
        return CounterTable::default();
    }
    let results = |row: &Row| -> Vec<&BackendResult> {
        records
            .iter()
            .flat_map(|r| {
                r.backends.iter().filter(move |b| {
                    r.workload_name() == row.workload
                        && b.name == row.name
                        && b.threads == row.threads
                        && b.status == Status::Ok
                        && b.ops > 0
                })
            })
            .collect()
    };
    let per_row: Vec<Vec<&BackendResult>> = measured.iter().map(|r| results(r)).collect();
    let mut head = vec!["counter".to_string()];
    head.extend(measured.iter().map(|r| who(r)));
    let mut reasons: Vec<String> = Vec::new();
    let mut table_rows = Vec::new();
    for id in CounterId::ALL {
        let mut cells = vec![Cell::text(id.name().to_string())];
        for bs in &per_row {
            cells.push(match counter_cell(id, bs) {
                Some(text)
                    if matches!(
                        bs.first().and_then(|b| b.counters.get(id)),
                        Some(CounterValue::ByName(_))
                    ) =>
                {
                    Cell::map(text)
                }
                Some(text) => Cell::num(text),
                None => {
                    let why = bs
                        .iter()
                        .find_map(|b| b.reasons.get(id).map(str::to_string))
                        .unwrap_or_else(|| aggregate::NO_REASON.to_string());
                    let key = format!("{id}: {why}");
                    let n = match reasons.iter().position(|r| *r == key) {
                        Some(i) => i + 1,
                        None => {
                            reasons.push(key);
                            reasons.len()
                        }
                    };
                    Cell::na(&format!("n/a [{n}]"))
                }
            });
        }
        table_rows.push(cells);
    }
    CounterTable {
        table: TableView {
            head,
            rows: table_rows,
        },
        reasons: reasons
            .into_iter()
            .enumerate()
            .map(|(i, r)| format!("[{}] {r}", i + 1))
            .collect(),
    }
}

/// The value of counter `id` over the pooled results `bs` as text, or None when none
/// of them read it.
fn counter_cell(id: CounterId, bs: &[&BackendResult]) -> Option<String> {
    let vals: Vec<CounterValue> = bs.iter().filter_map(|b| b.counters.get(id)).collect();
    let first = *vals.first()?;
    if let CounterValue::ByName(m) = first {
        if m.is_empty() {
            return Some("none".into());
        }
        // The largest first: the ones that say something.
        let mut entries: Vec<(&String, &u64)> = m.iter().collect();
        entries.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let mut s: Vec<String> = entries
            .iter()
            .take(3)
            .map(|(k, v)| format!("{k} {}", count_text(**v as f64)))
            .collect();
        if m.len() > 3 {
            s.push(format!("{} more in run.json", m.len() - 3));
        }
        let runs = if vals.len() > 1 { " (first run)" } else { "" };
        return Some(format!("{}{runs}", s.join(", ")));
    }
    let nums: Vec<f64> = vals
        .iter()
        .filter_map(|v| match v {
            CounterValue::Count(c) => Some(*c as f64),
            CounterValue::Ratio(r) => Some(*r),
            CounterValue::ByName(_) => None,
        })
        .collect();
    let s = Spread::of(nums)?;
    let name = id.name();
    let f: Box<dyn Fn(f64) -> String> = if name.ends_with("_bytes") || name.ends_with("_bytes_end")
    {
        Box::new(|v| format_size(v.round() as u64))
    } else if name.ends_with("_kib") {
        Box::new(|v| format_size((v * 1024.0).round() as u64))
    } else if name.ends_with("_ns") {
        Box::new(format_ns)
    } else if id == CounterId::ReadAmplification {
        Box::new(small)
    } else {
        Box::new(count_text)
    };
    Some(spread(Some(s), f))
}

/// A count: "0", "19", "2.50", "11.9K".
fn count_text(v: f64) -> String {
    if v >= 1000.0 {
        format_count(v)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        small(v)
    }
}

/// The environment of one machine's runs (the first one's record; the timing floor
/// of all) as (fact, value) pairs; a fact the record lacks says
/// why (the record's reason) or that the run predates it.
fn machine_facts(recs: &[&RunRecord]) -> Vec<(String, String)> {
    let r = recs[0];
    let e = &r.environment;
    let missing = |key: &str| -> String {
        match e.reasons.get(key) {
            Some(why) => format!("unavailable: {why}"),
            None => "not recorded by the version of faultline that made this run".into(),
        }
    };
    let opt = |v: &Option<String>, key: &str| v.clone().unwrap_or_else(|| missing(key));
    let mut f: Vec<(String, String)> = Vec::new();
    let mut add = |k: &str, v: String| f.push((k.to_string(), v));
    add("host", opt(&e.hostname, "hostname"));
    let mut cpu = opt(&e.cpu_model, "cpu_model");
    if let Some(id) = &e.cpu_id {
        let part = |n: &str, v: Option<u32>| v.map(|v| format!("{n} {v}"));
        let bits: Vec<String> = [
            id.vendor.clone(),
            part("family", id.family),
            part("model", id.model),
            part("stepping", id.stepping),
            id.microcode.as_ref().map(|m| format!("microcode {m}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !bits.is_empty() {
            cpu.push_str(&format!(" ({})", bits.join(", ")));
        }
    }
    add("CPU", cpu);
    add("CPUs", e.cpus.to_string());
    add(
        "memory",
        e.memory_bytes
            .map(format_size)
            .unwrap_or_else(|| missing("memory_bytes")),
    );
    add(
        "kernel",
        match &e.kernel {
            Some(k) => format!("Linux {k} {}", e.arch.as_deref().unwrap_or(""))
                .trim_end()
                .to_string(),
            None => missing("kernel"),
        },
    );
    add("file system", opt(&e.fs_type, "fs_type"));
    add(
        "device",
        match (&e.device, &e.disk) {
            (Some(d), Some(k)) if d != k => format!("{d} (disk {k})"),
            (Some(d), _) => d.clone(),
            (None, _) => missing("device"),
        },
    );
    if e.emulated_device {
        add(
            "emulated device",
            format!(
                "yes: RAM-backed zram, compressor {}",
                e.zram_comp_algorithm
                    .clone()
                    .unwrap_or_else(|| missing("zram_comp_algorithm"))
            ),
        );
    }
    if e.disks.is_empty() {
        add("disks and read-ahead", missing("disks"));
    }
    for d in &e.disks {
        let mut parts = vec![match d.read_ahead_kb {
            Some(kb) => format!("read-ahead {kb} KiB"),
            None => "read-ahead unknown".into(),
        }];
        if let Some(s) = &d.scheduler {
            parts.push(format!("scheduler {s}"));
        }
        if let Some(m) = &d.model {
            parts.push(format!("model {m}"));
        }
        if let Some(rot) = d.rotational {
            parts.push(if rot { "rotational" } else { "not rotational" }.into());
        }
        if let Some(b) = d.logical_block_size {
            parts.push(format!("logical block {b} B"));
        }
        add(&format!("disk {}", d.name), parts.join(", "));
    }
    if let Some(dc) = &e.device_control {
        for n in dc.notes() {
            add("device control", n);
        }
    }
    add(
        "data",
        format!(
            "{} {} at {}",
            format_size(r.data_file.size),
            r.data_file.origin,
            r.data_file.path.display()
        ),
    );
    add(
        "hypervisor",
        match &e.hypervisor {
            Some(h) => {
                let mut v = vec![h.name.clone().unwrap_or_else(|| "unnamed".into())];
                if let Some(c) = &h.cpuid_vendor {
                    v.push(format!("CPUID vendor {c}"));
                }
                if let Some(d) = &h.dmi_sys_vendor {
                    v.push(
                        format!("DMI {d} {}", h.dmi_product_name.as_deref().unwrap_or(""))
                            .trim_end()
                            .to_string(),
                    );
                }
                v.join(", ")
            }
            None => missing("hypervisor"),
        },
    );
    add(
        "clocksource",
        match &e.clocksource {
            Some(c) => format!("{} (available: {})", c.current, c.available.join(", ")),
            None => missing("clocksource"),
        },
    );
    add(
        "virtio balloon",
        match &e.balloon {
            Some(b) if !b.present => "none".into(),
            Some(b) => {
                let rep = match b.free_page_reporting {
                    Some(true) => {
                        "free page reporting on: the host may take back freed memory".to_string()
                    }
                    Some(false) => "free page reporting off".to_string(),
                    None => format!(
                        "free page reporting {}",
                        missing("balloon.free_page_reporting")
                    ),
                };
                format!("present, {rep}")
            }
            None => missing("balloon"),
        },
    );
    add(
        "swap",
        match &e.swap {
            Some(s) if s.devices.is_empty() => "none".into(),
            Some(s) => s
                .devices
                .iter()
                .map(|d| {
                    format!(
                        "{} ({}, {})",
                        d.name,
                        d.kind,
                        format_size(d.size_kib * 1024)
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
            None => missing("swap"),
        },
    );
    add(
        "transparent huge pages",
        format!(
            "enabled {}, defrag {}",
            e.thp_enabled.clone().unwrap_or_else(|| "unknown".into()),
            e.thp_defrag.clone().unwrap_or_else(|| "unknown".into())
        ),
    );
    add(
        "huge pages reserved",
        e.nr_hugepages
            .map(|n| n.to_string())
            .unwrap_or_else(|| missing("nr_hugepages")),
    );
    add(
        "perf",
        format!(
            "hardware counters {}, perf_event_paranoid {}",
            match e.hw_perf_counters {
                Some(true) => "readable",
                Some(false) => "not readable",
                None => "unknown",
            },
            e.perf_event_paranoid
                .map(|p| p.to_string())
                .unwrap_or_else(|| "unknown".into())
        ),
    );
    add("cgroup", opt(&e.cgroup_version, "cgroup_version"));
    add("timing floor", timing_floor(recs));
    if !e.mitigations.is_empty() {
        // The ones that apply, in full; the others counted.
        let (fine, apply): (Vec<_>, Vec<_>) = e
            .mitigations
            .iter()
            .partition(|(_, v)| v.trim() == "Not affected");
        let mut text: Vec<String> = apply.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        if !fine.is_empty() {
            text.push(format!("{} others: Not affected", fine.len()));
        }
        add("CPU mitigations", text.join("; "));
    }
    f
}

/// The timing modes, clocks and floors of the runs' cells ("every on tsc: floor
/// 21ns-25ns per empty operation (4 cells)"); cells made before timing was recorded
/// say so.
fn timing_floor(recs: &[&RunRecord]) -> String {
    let mut by: Vec<(String, Vec<f64>)> = Vec::new();
    let mut without = 0;
    let cells = recs.iter().flat_map(|r| &r.backends);
    for b in cells.filter(|b| b.status == Status::Ok) {
        match &b.timing {
            Some(t) => {
                let key = format!("{} on {}", t.mode, t.clock);
                match by.iter_mut().find(|(k, _)| *k == key) {
                    Some(e) => e.1.push(t.floor_ns),
                    None => by.push((key, vec![t.floor_ns])),
                }
            }
            None => without += 1,
        }
    }
    let mut parts: Vec<String> = by
        .into_iter()
        .map(|(k, v)| {
            let s = Spread::of(v.iter().copied());
            let range = match s {
                Some(s) if s.min != s.max => format!("{}–{}", format_ns(s.min), format_ns(s.max)),
                Some(s) => format_ns(s.mean),
                None => "?".into(),
            };
            format!("{k}: {range} per empty operation ({} cells)", v.len())
        })
        .collect();
    if without > 0 {
        parts.push(format!(
            "{without} cells without a timing record (an external tool's, or made before timing was recorded)"
        ));
    }
    if parts.is_empty() {
        "no measured cell".into()
    } else {
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::markdown::tests::record_with_counters;

    fn one(rec: &RunRecord) -> PageRun<'_> {
        PageRun {
            record: rec,
            label: "results/quick/2026-01-01T000000Z-vm".into(),
            dir_name: "2026-01-01T000000Z-vm".into(),
            link_dir: Some(String::new()),
            files: vec![
                "timeseries.csv".into(),
                "run.json".into(),
                "mmap_advice=random.t2.hgrm".into(),
                "throughput.png".into(),
                "index.html".into(),
            ],
        }
    }

    #[test]
    fn verdict_table_and_counters() {
        let rec = record_with_counters();
        let page = build_page(&[one(&rec)], None, None);
        assert_eq!(page.title, "faultline report: quick");
        assert_eq!(page.workloads.len(), 1);
        let w = &page.workloads[0];
        assert_eq!(w.reference.as_deref(), Some("direct"));
        assert_eq!(
            w.verdict,
            "Fastest: mmap:advice=random x2 at 3.00 ops/s, 2.40x direct (1.25 ops/s). \
             Slowest: direct x2 at 1.25 ops/s. Not measured: direct x1 skipped (reasons below)."
        );
        // Fastest first, the skipped row last.
        let names: Vec<(&str, &str)> = w
            .summary
            .rows
            .iter()
            .map(|r| (r[0].text.as_str(), r[1].text.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("mmap:advice=random", "2"),
                ("direct", "2"),
                ("direct", "1")
            ]
        );
        assert_eq!(w.summary.head.last().unwrap(), "vs direct");
        assert_eq!(w.summary.rows[0].last().unwrap().text, "2.40x");
        assert_eq!(w.summary.rows[0][3].text, "3.00 (2.50–3.50)");
        assert_eq!(w.summary.rows[2][3].class, "na");
        assert!(w
            .notes
            .iter()
            .any(|n| n == "direct x1 skipped: no O_DIRECT here"));
        // Counters: a row per counter, a column per measured backend; a null counter
        // is n/a with its reason, never 0.
        let c = &w.counters;
        assert_eq!(
            c.table.head,
            ["counter", "mmap:advice=random x2", "direct x2"]
        );
        assert_eq!(c.table.rows.len(), CounterId::ALL.len());
        let major = c
            .table
            .rows
            .iter()
            .find(|r| r[0].text == "major_faults")
            .unwrap();
        assert_eq!(major[1].text, "2.50 (0–5)");
        assert!(major[2].text.starts_with("n/a ["), "{:?}", major[2]);
        let n: usize = major[2].text[5..major[2].text.len() - 1].parse().unwrap();
        assert_eq!(
            c.reasons[n - 1],
            format!("[{n}] major_faults: perf_event_open: EACCES")
        );
        // Links: run.json first, the page itself not linked.
        let files: Vec<&str> = page.runs[0].files.iter().map(|l| l.href.as_str()).collect();
        assert_eq!(
            files,
            [
                "run.json",
                "timeseries.csv",
                "mmap_advice=random.t2.hgrm",
                "throughput.png"
            ]
        );
        // The environment says what the record lacks, never a made-up value.
        let facts = &page.machines[0].facts;
        let get = |k: &str| facts.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
        assert_eq!(get("host"), Some("vm"));
        assert_eq!(
            get("hypervisor"),
            Some("not recorded by the version of faultline that made this run")
        );
        assert!(get("timing floor")
            .unwrap()
            .contains("without a timing record"));
    }

    #[test]
    fn charts_are_drawn_from_the_record_or_listed_with_the_reason() {
        let rec = record_with_counters();
        let page = build_page(&[one(&rec)], None, None);
        let w = &page.workloads[0];
        let names: Vec<&str> = w.charts.iter().map(|c| c.name.as_str()).collect();
        for stem in ["throughput", "latency-percentiles", "ops-bars"] {
            assert!(names.contains(&stem), "{names:?}");
        }
        for c in &w.charts {
            assert!(c.svg.starts_with("<svg"), "{}", &c.svg[..40]);
            assert!(c.svg.contains("viewBox"), "{}", c.name);
            assert!(!c.caption.is_empty() && c.caption.ends_with('.'));
        }
        assert!(w
            .skipped_charts
            .iter()
            .any(|s| s.starts_with("ops-by-kind: ")));
        // Every chart is either drawn or listed.
        for stem in plot::CHARTS.iter().chain(plot::WRITE_CHARTS.iter()) {
            let listed = w.skipped_charts.iter().any(|s| s.starts_with(stem));
            assert!(names.contains(stem) ^ listed, "{stem}");
        }
    }

    #[test]
    fn several_runs_pool_and_machines_are_told_apart() {
        let a = record_with_counters();
        let mut b = a.clone();
        b.environment.hostname = Some("other".into());
        b.complete = false;
        let mut runs = vec![one(&a), one(&b)];
        runs[1].label = "b".into();
        runs[1].link_dir = None;
        let page = build_page(&runs, Some("mmap:advice=random"), None);
        assert_eq!(page.workloads.len(), 1, "one table per workload");
        assert_eq!(page.workloads[0].runs_pooled, 2);
        assert_eq!(page.machines.len(), 2);
        assert_eq!(page.runs[1].machine, 2);
        assert!(page.runs[1].files.is_empty() && page.runs[1].files_note.is_some());
        assert!(page
            .warnings
            .iter()
            .any(|w| w.contains("2 different machines")));
        assert!(page
            .warnings
            .iter()
            .any(|w| w.starts_with("b was interrupted")));
        let w = &page.workloads[0];
        assert_eq!(w.summary.head.last().unwrap(), "vs mmap:advice=random");
        assert!(w.verdict.contains("(the reference)"), "{}", w.verdict);
    }

    #[test]
    fn regressions_against_a_baseline() {
        let base = record_with_counters();
        let mut new = base.clone();
        for b in &mut new.backends {
            b.ops_per_sec /= 2.0;
        }
        let c = crate::report::compare(std::slice::from_ref(&base), &[new], 5.0);
        let v = comparison_view("results/quick/OLD", &c);
        assert!(
            v.summary.starts_with("Against the baseline results/quick/OLD (1 run(s); these: 1), threshold 5%: 2 regressions"),
            "{}",
            v.summary
        );
        assert!(v.regressions[0].contains("ops/s"), "{:?}", v.regressions);
        let same = crate::report::compare(
            std::slice::from_ref(&base),
            std::slice::from_ref(&base),
            5.0,
        );
        let v = comparison_view("b", &same);
        assert!(
            v.summary.ends_with("no regressions past 5%."),
            "{}",
            v.summary
        );
        assert!(v.regressions.is_empty());
    }

    #[test]
    fn svg_is_inlined_or_refused() {
        let ok = inline_svg(
            b"<?xml version=\"1.0\"?>\n<svg width=\"1200\" height=\"800\" xmlns=\"http://www.w3.org/2000/svg\"><text>a &lt; b</text></svg>",
        )
        .unwrap();
        assert!(ok.starts_with("<svg width=\"1200\" height=\"800\""), "{ok}");
        assert!(ok.contains("viewBox=\"0 0 1200 800\""), "{ok}");
        for bad in [
            &b"<svg><script>alert(1)</script></svg>"[..],
            b"<svg onload=\"x()\"><text>a</text></svg>",
            b"<svg><foreignObject/></svg>",
            b"no svg here",
            b"\xff\xfe",
        ] {
            assert!(inline_svg(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(href_escape("a b/c?d#e.hgrm"), "a%20b/c%3Fd%23e.hgrm");
    }
}
