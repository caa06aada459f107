//! The write side of `faultline report` (write and mix workloads): a second table per
//! workload with each operation kind apart, pooled like the main table (mean over the
//! runs, with (min-max) when they differ), and the page-cache measurements of the
//! write cells.

use super::aggregate::Spread;
use crate::record::writes::WriteResult;
use crate::record::{BackendResult, RunRecord, Status};
use crate::table::Table;
use crate::units::{format_count, format_ns};
use std::collections::BTreeMap;

fn spread(s: Option<Spread>, f: impl Fn(f64) -> String) -> String {
    match s {
        None => "-".into(),
        Some(s) if s.n > 1 && s.min != s.max => {
            format!("{} ({}-{})", f(s.mean), f(s.min), f(s.max))
        }
        Some(s) => f(s.mean),
    }
}

fn kind_rate(b: &BackendResult, w: &WriteResult, kind: &str) -> Option<f64> {
    let k = w.ops_by_kind.get(kind).filter(|k| k.ops > 0)?;
    (b.elapsed_ns > 0).then(|| k.ops as f64 / (b.elapsed_ns as f64 / 1e9))
}

fn kind_lat(w: &WriteResult, kind: &str, f: fn(&crate::record::Latency) -> u64) -> Option<f64> {
    let k = w.ops_by_kind.get(kind).filter(|k| k.ops > 0)?;
    k.latency_ns.as_ref().map(|l| f(l) as f64)
}

/// The markdown table of `group`'s write cells, or None for a read workload.
pub fn kinds_markdown(group: &[&RunRecord]) -> Option<String> {
    let mut order: Vec<(String, usize)> = Vec::new();
    let mut cells: BTreeMap<(String, usize), Vec<(&BackendResult, &WriteResult)>> = BTreeMap::new();
    for r in group {
        for b in &r.backends {
            let Some(w) = &b.writes else { continue };
            if b.status != Status::Ok || b.ops == 0 {
                continue;
            }
            let key = (b.name.clone(), b.threads);
            let v = cells.entry(key.clone()).or_default();
            if v.is_empty() {
                order.push(key);
            }
            v.push((b, w));
        }
    }
    if order.is_empty() {
        return None;
    }
    let reads = cells
        .values()
        .flatten()
        .any(|(b, w)| kind_rate(b, w, "read").is_some());
    let mut head = vec!["backend", "threads"];
    if reads {
        head.extend(["reads/s", "read p50", "read p99"]);
    }
    head.extend([
        "writes/s",
        "write p50",
        "write p99",
        "syncs/s",
        "sync p50",
        "sync p99",
        "written back before sync",
        "throttled",
        "write ampl.",
        "read back",
    ]);
    let mut t = Table::new(&head, 1);
    let mut reasons: Vec<String> = Vec::new();
    for key in &order {
        let v = &cells[key];
        let sp = |f: &dyn Fn(&BackendResult, &WriteResult) -> Option<f64>| {
            Spread::of(v.iter().filter_map(|(b, w)| f(b, w)))
        };
        let mut row = vec![key.0.replace('|', "\\|"), key.1.to_string()];
        let kinds: &[&str] = if reads {
            &["read", "write", "sync"]
        } else {
            &["write", "sync"]
        };
        for k in kinds {
            row.push(spread(sp(&|b, w| kind_rate(b, w, k)), format_count));
            row.push(spread(sp(&|_, w| kind_lat(w, k, |l| l.p50)), format_ns));
            row.push(spread(sp(&|_, w| kind_lat(w, k, |l| l.p99)), format_ns));
        }
        let wb = sp(&|_, w| {
            let x = w.written_back_before_sync.as_ref()?;
            (x.of_pages > 0).then(|| 100.0 * x.pages as f64 / x.of_pages as f64)
        });
        row.push(match (wb, v.len()) {
            (Some(s), 1) => {
                let x = v[0].1.written_back_before_sync.as_ref();
                format!(
                    "{}/{} ({:.0}%)",
                    x.map_or(0, |x| x.pages),
                    x.map_or(0, |x| x.of_pages),
                    s.mean
                )
            }
            (Some(s), _) => spread(Some(s), |p| format!("{p:.0}%")),
            (None, _) => "n/a".into(),
        });
        let th = sp(&|_, w| w.dirty_throttle.map(|t| t.paused_ns as f64));
        row.push(match th {
            Some(s) if s.max == 0.0 => "0".into(),
            Some(s) => spread(Some(s), format_ns),
            None => "n/a".into(),
        });
        row.push(match sp(&|_, w| w.write_amplification) {
            Some(s) => spread(Some(s), |x| format!("{x:.2}")),
            None => "n/a".into(),
        });
        let verified: Option<u64> = v.iter().map(|(_, w)| w.verified_pages).sum();
        let errors: Option<u64> = v.iter().map(|(_, w)| w.verify_errors).sum();
        row.push(match (verified, errors) {
            (Some(p), Some(0)) => format!("{p} pages ok"),
            (Some(p), Some(e)) => format!("{e} of {p} BAD"),
            _ => "n/a".into(),
        });
        t.push(row);
        for field in [
            "written_back_before_sync",
            "dirty_throttle",
            "write_amplification",
            "verified_pages",
        ] {
            if let Some(why) = v.iter().find_map(|(_, w)| w.reasons.get(field)) {
                let line = format!("`{field}` n/a for {}: {why}", key.0);
                if !reasons.contains(&line) {
                    reasons.push(line);
                }
            }
        }
    }
    let mut out = String::from("\nBy operation kind (`writes.ops_by_kind`; syncs are not operations: `ops/s` above counts reads and writes). `written back before sync`: written pages the kernel had already written back before the final sync; `throttled`: time the writers slept in balance_dirty_pages.\n\n");
    out.push_str(&t.to_markdown());
    if !reasons.is_empty() {
        out.push('\n');
        for r in reasons {
            out.push_str(&format!("- {}\n", r.replace('|', "\\|")));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::writes::{KindResult, WrittenBack};

    #[test]
    fn a_table_for_write_cells_only() {
        let mut r = crate::report::markdown::tests::record_with_counters();
        assert_eq!(kinds_markdown(&[&r]), None);
        let b = &mut r.backends[0];
        b.status = Status::Ok;
        b.ops = 1000;
        b.elapsed_ns = 1_000_000_000;
        let mut w = WriteResult::default();
        w.ops_by_kind.insert(
            "write".into(),
            KindResult {
                ops: 1000,
                bytes: 1000 * 4096,
                latency_ns: None,
                histogram: None,
            },
        );
        w.written_back_before_sync = Some(WrittenBack {
            pages: 10,
            of_pages: 40,
            dirty: 30,
            writeback: 0,
            not_cached: 0,
            scan_ns: 0,
        });
        w.verified_pages = Some(40);
        w.verify_errors = Some(0);
        w.reasons
            .insert("dirty_throttle".into(), "no tracefs".into());
        b.writes = Some(w);
        let md = kinds_markdown(&[&r]).unwrap();
        assert!(md.contains("| writes/s"), "{md}");
        assert!(md.contains("10/40 (25%)"), "{md}");
        assert!(md.contains("40 pages ok"), "{md}");
        assert!(md.contains("`dirty_throttle` n/a for"), "{md}");
        assert!(!md.contains("reads/s"), "{md}");
    }
}
