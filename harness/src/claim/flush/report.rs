//! The output of the flush claim: the per-variant line, the table, and a short
//! summary.md whose findings are computed from the measurements.

use super::{FlushArgs, Method, Params, Policy, VariantResult, Writeback};
use crate::claim::ClaimRecord;
use crate::env::Environment;
use crate::table::{or_dash, Table};
use crate::units;
use std::fmt::Write as _;
use std::path::Path;

/// Printed under the table: what its columns mean.
pub const LEGEND: &str = "  p50/p99: per write (the flush is timed apart: flush p50); final flush: manual's one sync after the writer stopped; max at risk: most bytes written and not yet covered by a completed flush; max age: longest time from a write to the flush that covered it; kernel-cleaned: of the pages written, those already clean or evicted (written back without being asked) when the writer stopped before its final flush (manual; n/a for policies that flush while writing), at the last look with --observe\n";

/// The variant's name, with ` #N` when the run repeated the variants.
fn label(r: &VariantResult, repeated: bool) -> String {
    if repeated {
        format!("{} #{}", r.name, r.repeat + 1)
    } else {
        r.name.clone()
    }
}

/// The line printed before the variants run.
pub(super) fn opening_line(
    a: &FlushArgs,
    file: &Path,
    env: &Environment,
    readable: &Result<(), String>,
) -> String {
    format!(
        "faultline claim flush: records of {} appended round {} ({}) on {} / {}, {} per variant, on the run engine{}",
        units::format_size(a.record),
        units::format_size(a.size),
        file.display(),
        env.fs_type.as_deref().unwrap_or("?"),
        env.device.as_deref().unwrap_or("no block device"),
        units::format_duration(a.duration),
        match readable {
            Ok(()) => String::new(),
            Err(e) => format!("\n  kernel writeback cannot be observed: {e}"),
        }
    )
}

fn fmt_ns(v: Option<u64>) -> String {
    or_dash(v, |n| units::format_ns(n as f64))
}

fn kernel_cleaned(w: &Writeback) -> String {
    match (w.observed.last(), &w.pages) {
        (Some(o), _) => format!("{}/{}", o.pages, o.of_pages),
        (None, Some(p)) => format!("{}/{}", p.pages, p.of_pages),
        (None, None) => "n/a".into(),
    }
}

fn verify_cell(r: &VariantResult) -> String {
    if r.error.is_some() {
        "ERROR".into()
    } else if r.verify.passed {
        format!("ok ({} pages)", r.verify.pages.unwrap_or(0))
    } else {
        "FAILED".into()
    }
}

/// The line printed after each variant.
pub(super) fn variant_line(r: &VariantResult) -> String {
    let name = label(r, r.repeat > 0);
    match &r.error {
        Some(e) => format!("{name:<26} FAILED: {e}"),
        None => format!(
            "{name:<26} {:>9} rec/s {:>8.1} MiB/s  p99 {:>8}  flushes {:>6}  max at risk {:>9}  verify {}",
            units::format_count(r.records_per_sec),
            r.mib_per_sec,
            fmt_ns(r.write_latency_ns.as_ref().map(|l| l.p99)),
            r.policy_flushes,
            or_dash(r.max_at_risk_bytes, units::format_size),
            if r.verify.passed { "ok" } else { "FAILED" }
        ),
    }
}

const HEAD: [&str; 12] = [
    "variant",
    "rec/s",
    "MiB/s",
    "p50",
    "p99",
    "flushes",
    "flush p50",
    "final flush",
    "max at risk",
    "max age",
    "kernel-cleaned",
    "verify",
];

fn rows(vs: &[VariantResult]) -> Vec<Vec<String>> {
    let repeated = vs.iter().any(|r| r.repeat > 0);
    vs.iter()
        .map(|r| {
            let l = r.write_latency_ns.as_ref();
            vec![
                label(r, repeated),
                or_dash(
                    (r.records > 0).then_some(r.records_per_sec),
                    units::format_count,
                ),
                format!("{:.1}", r.mib_per_sec),
                fmt_ns(l.map(|l| l.p50)),
                fmt_ns(l.map(|l| l.p99)),
                r.policy_flushes.to_string(),
                fmt_ns(
                    r.flush_latency_ns
                        .as_ref()
                        .filter(|_| r.policy_flushes > 0)
                        .map(|l| l.p50),
                ),
                fmt_ns(r.final_flush_ns),
                or_dash(r.max_at_risk_bytes, units::format_size),
                fmt_ns(r.max_unflushed_age_ns),
                kernel_cleaned(&r.writeback),
                verify_cell(r),
            ]
        })
        .collect()
}

/// The table printed at the end and put into summary.md.
pub fn table(vs: &[VariantResult]) -> Table {
    Table::new(&HEAD, 1).with_rows(rows(vs))
}

/// One policy of one method over its repeats: median rec/s, worst exposure.
struct PolicyStat {
    policy: Policy,
    records_per_sec: f64,
    at_risk: u64,
    age_ns: u64,
}

/// The policies of `m` that ran without error, least bytes at risk first.
fn policy_stats(vs: &[VariantResult], m: Method) -> Vec<PolicyStat> {
    let ok: Vec<&VariantResult> = vs
        .iter()
        .filter(|v| v.method == m && v.error.is_none())
        .collect();
    let mut policies: Vec<Policy> = ok.iter().map(|v| v.policy).collect();
    crate::claim::dedup_keep_order(&mut policies);
    let mut out: Vec<PolicyStat> = policies
        .into_iter()
        .map(|policy| {
            let runs: Vec<&&VariantResult> = ok.iter().filter(|v| v.policy == policy).collect();
            let rates: Vec<f64> = runs.iter().map(|v| v.records_per_sec).collect();
            PolicyStat {
                policy,
                records_per_sec: crate::claim::median(&rates).unwrap_or(0.0),
                at_risk: runs
                    .iter()
                    .filter_map(|v| v.max_at_risk_bytes)
                    .max()
                    .unwrap_or(0),
                age_ns: runs
                    .iter()
                    .filter_map(|v| v.max_unflushed_age_ns)
                    .max()
                    .unwrap_or(0),
            }
        })
        .collect();
    out.sort_by_key(|p| p.at_risk);
    out
}

/// summary.md: the table, then per method the trade-off as measured, then what the
/// kernel wrote back without being asked.
pub fn summary(rec: &ClaimRecord<Params, VariantResult>, table: &Table, printed: &str) -> String {
    let p = &rec.parameters;
    let how = format!(
        "Each variant ran on the run engine as a write workload: {} blocks appended in order to the data file {} ({}, a ring of {} slots), one thread, for {} ({} repeat(s)), with the policy as the engine's sync policy (always = every:1, every-writes=N = every:N, every-bytes=S = every:S/record, every-ms=N = interval:N ms, manual = end); afterwards every written page was read back from the device and checked. mmap: the `mmap` backend stores into a shared mapping, flush = msync(MS_SYNC) of the mapping; pwrite: the `pread` backend's pwrite(2), flush = fdatasync(2). Bytes at risk are counted from the writer's own writes and completed flushes. Writeback settings: {}.",
        units::format_size(p.record),
        p.data_file.display(),
        units::format_size(p.size),
        p.slots,
        units::format_ns(p.duration_ns as f64),
        p.repeats,
        p.vm_dirty.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
    );
    let mut s = crate::claim::summary_opening("flush", rec, &how, table, printed);
    s.push_str("## Throughput against durability\n\n");
    for &m in &p.methods {
        s.push_str(&trade_off(&policy_stats(&rec.variants, m), m));
    }
    s.push_str("\n## Writeback the program did not ask for\n\n");
    match &p.page_states_unavailable {
        Some(e) => {
            let _ = writeln!(s, "Page states could not be read here ({e}); only system-wide /proc/vmstat counts are in claim.json (`writeback.vmstat`).");
        }
        None => {
            let repeated = p.repeats > 1;
            for v in rec.variants.iter().filter(|v| {
                v.error.is_none() && (v.policy == Policy::Manual || v.writeback.pages.is_some())
            }) {
                s.push_str(&writeback_lines(v, repeated));
            }
            let _ = writeln!(s, "\nPage states come from /proc/self/pagemap and /proc/kpageflags (root), read by the engine while the writer waited before its final flush (`writes.written_back_before_sync`). Policies that flush while writing have none: the program's own flushes cannot be told apart from the kernel's write-back.");
        }
    }
    s
}

/// One method: each policy's rate and exposure, whether more exposure always bought
/// more throughput, and manual against always.
fn trade_off(st: &[PolicyStat], m: Method) -> String {
    if st.is_empty() {
        return String::new();
    }
    let each: Vec<String> = st
        .iter()
        .map(|x| {
            format!(
                "{} {} rec/s, up to {} at risk for up to {}",
                x.policy.name(),
                units::format_count(x.records_per_sec),
                units::format_size(x.at_risk),
                units::format_ns(x.age_ns as f64)
            )
        })
        .collect();
    let mut s = format!("* {}: {}\n", m.name(), each.join("; "));
    let exceptions: Vec<String> = st
        .windows(2)
        .filter(|w| w[1].at_risk > w[0].at_risk && w[1].records_per_sec < w[0].records_per_sec)
        .map(|w| {
            format!(
                "{} was slower than {} with more at risk",
                w[1].policy.name(),
                w[0].policy.name()
            )
        })
        .collect();
    if st.len() >= 2 {
        let verdict = if exceptions.is_empty() {
            "the trade-off holds (more at risk, more records per second)".to_string()
        } else {
            format!("not a clean trade-off: {}", exceptions.join("; "))
        };
        let _ = writeln!(s, "  * {verdict}.");
    }
    let get = |pol: Policy| st.iter().find(|x| x.policy == pol);
    if let (Some(al), Some(ma)) = (get(Policy::Always), get(Policy::Manual)) {
        if al.records_per_sec > 0.0 {
            let _ = writeln!(
                s,
                "  * manual / always: {:.1}x the records per second.",
                ma.records_per_sec / al.records_per_sec
            );
        }
    }
    s
}

/// One variant's pages when the writer stopped (and over `--observe`), as counted.
fn writeback_lines(v: &VariantResult, repeated: bool) -> String {
    let mut s = String::new();
    let w = &v.writeback;
    match (&w.pages, &w.reason) {
        (Some(pg), _) => {
            let _ = writeln!(
                s,
                "* {}: of {} pages written, {} dirty, {} under writeback, {} already written back ({} of them evicted) before the final flush.",
                label(v, repeated), pg.of_pages, pg.dirty, pg.writeback, pg.pages, pg.not_cached
            );
        }
        (None, Some(why)) => {
            let _ = writeln!(s, "* {}: not counted: {why}.", label(v, repeated));
        }
        (None, None) => {}
    }
    if let Some(last) = w.observed.last() {
        let first = w.observed.iter().find(|o| o.pages > 0);
        let _ = writeln!(
            s,
            "  * kept unflushed {:.0} s: first write-back seen after {}; at the end {} of {} pages written back.",
            last.t_ns as f64 / 1e9,
            or_dash(first, |o| format!("{:.0} s", o.t_ns as f64 / 1e9)),
            last.pages,
            last.of_pages
        );
    }
    s
}
