//! The summary table printed at the end of a run.

use super::RunRecord;
use crate::record::Status;
use crate::table::{or_dash, Align, Table};
use crate::units::{format_count, format_ns};

/// One row per backend cell (with ` #N` after the name when the run repeated), then a
/// note per skipped or failed cell.
pub fn summary_table(r: &RunRecord) -> String {
    use Align::{Left, Right};
    let mut columns = vec![
        ("backend", Left),
        ("threads", Right),
        ("status", Left),
        ("ops/s", Right),
        ("MiB/s", Right),
        ("p50", Right),
        ("p99", Right),
        ("p99.9", Right),
        ("max", Right),
        ("verify", Left),
    ];
    // Failed operations counted under on_error = continue: a column only when any.
    let errors = r.backends.iter().any(|b| b.io_errors > 0);
    if errors {
        columns.push(("io errors", Right));
    }
    let mut t = Table::with_aligns(columns);
    let mut notes: Vec<String> = Vec::new();
    let repeated = r.backends.iter().any(|o| o.repeat > 0);
    for b in &r.backends {
        let status = match b.status {
            Status::Ok => "ok",
            Status::Skipped => "skipped",
            Status::Failed => "FAILED",
        };
        let lat = |f: fn(&crate::record::Latency) -> u64| {
            or_dash(b.latency_ns.as_ref(), |l| format_ns(f(l) as f64))
        };
        let floor = b.timing_floor_note();
        let p50 = match floor {
            Some(_) => format!("{} *", lat(|l| l.p50)),
            None => lat(|l| l.p50),
        };
        let measured = b.ops > 0;
        let verify = match b.verify_errors {
            None => "off".to_string(),
            Some(0) if measured => "ok".to_string(),
            Some(0) => "-".to_string(),
            Some(n) => format!("{n} BAD"),
        };
        t.push(vec![
            if repeated {
                format!("{} #{}", b.name, b.repeat + 1)
            } else {
                b.name.clone()
            },
            b.threads.to_string(),
            status.to_string(),
            or_dash(measured.then_some(b.ops_per_sec), format_count),
            or_dash(measured.then_some(b.bytes_per_sec), |v| {
                format!("{:.1}", v / 1048576.0)
            }),
            p50,
            lat(|l| l.p99),
            lat(|l| l.p999),
            lat(|l| l.max),
            verify,
        ]);
        if errors {
            if let Some(row) = t.rows.last_mut() {
                row.push(b.io_errors.to_string());
            }
        }
        if let Some(reason) = &b.reason {
            notes.push(format!("{} ({status}): {reason}", b.name));
        }
        if let Some(n) = b
            .regime
            .as_ref()
            .and_then(|r| super::regime::note(&b.name, b.threads, r))
        {
            notes.push(n);
        }
        let stall_line = super::stalls::summary(&b.timeseries, &b.stalls)
            .or_else(|| super::stalls::zero_median_note(&b.timeseries));
        if let Some(line) = stall_line {
            let rep = if repeated {
                format!(" #{}", b.repeat + 1)
            } else {
                String::new()
            };
            notes.push(format!("{}{rep} x{}: {line}", b.name, b.threads));
        }
        if let Some(n) = floor {
            // Once per backend and thread count, not per repeat.
            let head = format!("* {} x{}: ", b.name, b.threads);
            if !notes.iter().any(|s| s.starts_with(&head)) {
                notes.push(format!("{head}{n}"));
            }
        }
    }
    notes.extend(busy_line(r, repeated));
    let mut out = t.to_text();
    for n in notes {
        out.push_str(&format!("  {n}\n"));
    }
    // Write and mix workloads: each kind apart.
    if let Some(k) = super::kinds_table::kinds_table(r) {
        out.push_str(&k);
    }
    out
}

/// One line naming the cells measured on a busy machine, if any.
fn busy_line(r: &RunRecord, repeated: bool) -> Option<String> {
    let busy: Vec<String> = r
        .backends
        .iter()
        .filter(|b| b.measured_busy())
        .map(|b| {
            if repeated {
                format!("{} #{}", b.name, b.repeat + 1)
            } else {
                b.name.clone()
            }
        })
        .collect();
    (!busy.is_empty()).then(|| {
        format!(
            "busy machine while {} of {} cells were measured ({}): other work used the CPUs, so \
             those figures may be lower than on a quiet machine (each cell's note in run.json \
             gives the CPU time and the time the hypervisor stole)",
            busy.len(),
            r.backends.len(),
            busy.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_of_sample_record() {
        let r = crate::record::tests::sample_record();
        let got = summary_table(&r);
        let want = "\
backend             threads  status   ops/s  MiB/s     p50     p99   p99.9     max  verify
------------------  -------  -------  -----  -----  ------  ------  ------  ------  ------
mmap:advice=random        2  ok        2.50    0.0  2.00us  50.0us  50.0us  50.0us  ok
direct                    2  skipped      -      -       -       -       -       -  -
  direct (skipped): no O_DIRECT here
";
        assert_eq!(got, want, "\n{got}");
    }

    #[test]
    fn a_busy_machine_is_one_line_under_the_table() {
        let mut r = crate::record::tests::sample_record();
        let c = crate::probe::Counters {
            machine_cpu_user_ns: Some(3_000_000_000),
            machine_cpu_system_ns: Some(0),
            cpu_user_ns: Some(500_000_000),
            cpu_system_ns: Some(0),
            ..Default::default()
        };
        let note = crate::probe::cpu::busy_note(&c, 2_000_000_000).unwrap();
        r.backends[0].notes.push(note);
        let got = summary_table(&r);
        assert!(
            got.contains("  busy machine while 1 of 2 cells were measured (mmap:advice=random):"),
            "{got}"
        );
    }
}
