//! The summary table printed at the end of a run.

use super::RunRecord;
use crate::record::Status;
use crate::units::{format_count, format_ns};

pub fn summary_table(r: &RunRecord) -> String {
    let head = [
        "backend", "threads", "status", "ops/s", "MiB/s", "p50", "p99", "p99.9", "max", "verify",
    ];
    let mut rows: Vec<[String; 10]> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for b in &r.backends {
        let status = match b.status {
            Status::Ok => "ok",
            Status::Skipped => "skipped",
            Status::Failed => "FAILED",
        };
        let lat = |f: fn(&crate::record::Latency) -> f64| {
            b.latency_ns
                .as_ref()
                .map(|l| format_ns(f(l)))
                .unwrap_or_else(|| "-".into())
        };
        let measured = b.ops > 0;
        let verify = match b.verify_errors {
            None => "off".to_string(),
            Some(0) if measured => "ok".to_string(),
            Some(0) => "-".to_string(),
            Some(n) => format!("{n} BAD"),
        };
        rows.push([
            if r.backends.iter().any(|o| o.repeat > 0) {
                format!("{} #{}", b.name, b.repeat + 1)
            } else {
                b.name.clone()
            },
            b.threads.to_string(),
            status.to_string(),
            if measured {
                format_count(b.ops_per_sec)
            } else {
                "-".into()
            },
            if measured {
                format!("{:.1}", b.bytes_per_sec / 1048576.0)
            } else {
                "-".into()
            },
            lat(|l| l.p50 as f64),
            lat(|l| l.p99 as f64),
            lat(|l| l.p999 as f64),
            lat(|l| l.max as f64),
            verify,
        ]);
        if let Some(reason) = &b.reason {
            notes.push(format!("{} ({status}): {reason}", b.name));
        }
    }
    let mut widths = head.map(str::len);
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let fmt_row = |cells: &[String], out: &mut String| {
        let mut line = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i] - c.chars().count();
            if i == 0 || i == 2 || i == 9 {
                line.push_str(c);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str(&" ".repeat(pad));
                line.push_str(c);
            }
            line.push_str("  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    fmt_row(&head.map(String::from), &mut out);
    fmt_row(&widths.map(|w| "-".repeat(w)), &mut out);
    for row in &rows {
        fmt_row(row, &mut out);
    }
    for n in notes {
        out.push_str(&format!("  {n}\n"));
    }
    out
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
}
