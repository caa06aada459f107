//! The write side of the summary (write and mix workloads): one row per backend cell
//! with each kind's rate and latencies, the pages the kernel wrote back before the
//! final sync and the time writers were throttled.

use super::writes::WriteResult;
use super::{BackendResult, RunRecord};
use crate::table::{Align, Table};
use crate::units::{format_count, format_ns};

/// `reads/s`, `writes/s` ... for a kind: rate, p50, p99 (dashes when the kind did not
/// run).
fn kind_cells(b: &BackendResult, w: &WriteResult, kind: &str) -> [String; 3] {
    let k = w.ops_by_kind.get(kind).filter(|k| k.ops > 0);
    let secs = b.elapsed_ns as f64 / 1e9;
    let rate = match k {
        Some(k) if secs > 0.0 => format_count(k.ops as f64 / secs),
        _ => "-".into(),
    };
    let lat = |f: fn(&super::Latency) -> u64| {
        k.and_then(|k| k.latency_ns.as_ref())
            .map(|l| format_ns(f(l) as f64))
            .unwrap_or_else(|| "-".into())
    };
    [rate, lat(|l| l.p50), lat(|l| l.p99)]
}

/// "written back before the final sync": `N/M (P%)`, or `n/a` (the reason is in
/// run.json's writes.reasons).
pub fn written_back(w: &WriteResult) -> String {
    match &w.written_back_before_sync {
        Some(x) if x.of_pages > 0 => format!(
            "{}/{} ({:.0}%)",
            x.pages,
            x.of_pages,
            100.0 * x.pages as f64 / x.of_pages as f64
        ),
        Some(x) => format!("{}/{}", x.pages, x.of_pages),
        None => "n/a".into(),
    }
}

/// Time throttled in balance_dirty_pages (and how many pauses), or `n/a`.
pub fn throttled(w: &WriteResult) -> String {
    match &w.dirty_throttle {
        Some(t) if t.pauses == 0 => "0".into(),
        Some(t) => format!("{} ({}x)", format_ns(t.paused_ns as f64), t.pauses),
        None => "n/a".into(),
    }
}

/// The table, or None when no cell recorded writes.
pub fn kinds_table(r: &RunRecord) -> Option<String> {
    use Align::{Left, Right};
    if !r.backends.iter().any(|b| b.writes.is_some()) {
        return None;
    }
    let reads = r.backends.iter().any(|b| {
        b.writes
            .as_ref()
            .and_then(|w| w.ops_by_kind.get("read"))
            .is_some_and(|k| k.ops > 0)
    });
    let mut cols = vec![("backend", Left), ("threads", Right)];
    if reads {
        cols.extend([("reads/s", Right), ("read p50", Right), ("read p99", Right)]);
    }
    cols.extend([
        ("writes/s", Right),
        ("write p50", Right),
        ("write p99", Right),
        ("syncs/s", Right),
        ("sync p50", Right),
        ("sync p99", Right),
        ("written back before sync", Right),
        ("throttled", Right),
    ]);
    let mut t = Table::with_aligns(cols);
    let repeated = r.backends.iter().any(|o| o.repeat > 0);
    let mut nulls: Vec<String> = Vec::new();
    for b in r.backends.iter().filter(|b| b.ops > 0) {
        let Some(w) = &b.writes else { continue };
        let mut row = vec![
            if repeated {
                format!("{} #{}", b.name, b.repeat + 1)
            } else {
                b.name.clone()
            },
            b.threads.to_string(),
        ];
        if reads {
            row.extend(kind_cells(b, w, "read"));
        }
        row.extend(kind_cells(b, w, "write"));
        row.extend(kind_cells(b, w, "sync"));
        row.push(written_back(w));
        row.push(throttled(w));
        t.push(row);
        for key in ["written_back_before_sync", "dirty_throttle"] {
            if let Some(why) = w.reasons.get(key) {
                let line = format!("{} {key}: {why}", b.name);
                if !nulls.contains(&line) {
                    nulls.push(line);
                }
            }
        }
    }
    if t.rows.is_empty() {
        return None;
    }
    let mut out = String::from("\nby kind (writes.ops_by_kind; syncs are not operations):\n");
    out.push_str(&t.to_text());
    for n in nulls {
        out.push_str(&format!("  n/a: {n}\n"));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::writes::{KindResult, WrittenBack};
    use crate::record::Latency;

    #[test]
    fn one_row_per_writing_cell() {
        let mut r = crate::record::tests::sample_record();
        assert_eq!(kinds_table(&r), None, "a read workload has no kinds table");
        let b = &mut r.backends[0];
        b.elapsed_ns = 2_000_000_000;
        let lat = |p50, p99| Latency {
            min: 1,
            mean: p50 as f64,
            p50,
            p90: p99,
            p99,
            p999: p99,
            max: p99,
        };
        let mut w = WriteResult::default();
        w.ops_by_kind.insert(
            "write".into(),
            KindResult {
                ops: 2000,
                bytes: 2000 * 4096,
                latency_ns: Some(lat(3000, 40_000)),
                histogram: None,
            },
        );
        w.ops_by_kind.insert(
            "sync".into(),
            KindResult {
                ops: 2,
                bytes: 0,
                latency_ns: Some(lat(2_000_000, 3_000_000)),
                histogram: None,
            },
        );
        w.written_back_before_sync = Some(WrittenBack {
            pages: 25,
            of_pages: 100,
            dirty: 75,
            writeback: 0,
            not_cached: 0,
            scan_ns: 1,
        });
        w.reasons
            .insert("dirty_throttle".into(), "needs root".into());
        b.writes = Some(w);
        let got = kinds_table(&r).unwrap();
        assert!(got.contains("writes/s"), "{got}");
        assert!(!got.contains("reads/s"), "no reads: no read columns\n{got}");
        assert!(got.contains("1.00K"), "{got}");
        assert!(got.contains("25/100 (25%)"), "{got}");
        assert!(
            got.contains("n/a: mmap:advice=random dirty_throttle: needs root"),
            "{got}"
        );
    }
}
