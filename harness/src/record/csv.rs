//! timeseries.csv: one row per backend per sampling interval (long format), with the
//! interval's deltas and the rates derived from them.

use super::RunRecord;
use std::fmt::Write as _;

pub const HEADER: &str =
    "backend,threads,repeat,status,t_s,interval_s,ops,bytes,ops_per_sec,mib_per_sec";

pub fn timeseries_csv(r: &RunRecord) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{HEADER}");
    for b in &r.backends {
        let mut prev = 0u64;
        for i in &b.timeseries {
            let dt = i.t_ns.saturating_sub(prev) as f64 / 1e9;
            let (ops_s, mib_s) = if dt > 0.0 {
                (i.ops as f64 / dt, i.bytes as f64 / dt / 1048576.0)
            } else {
                (0.0, 0.0)
            };
            let _ = writeln!(
                out,
                "{},{},{},{},{:.6},{:.6},{},{},{:.1},{:.3}",
                quote(&b.name),
                b.threads,
                b.repeat,
                serde_json::to_value(b.status)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                i.t_ns as f64 / 1e9,
                dt,
                i.ops,
                i.bytes,
                ops_s,
                mib_s
            );
            prev = i.t_ns;
        }
    }
    out
}

/// Quote a field that contains a comma or a quote (backend specs contain commas).
fn quote(s: &str) -> String {
    if s.contains(',') || s.contains('"') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_of_sample_record() {
        let r = crate::record::tests::sample_record();
        let got = timeseries_csv(&r);
        let want = "\
backend,threads,repeat,status,t_s,interval_s,ops,bytes,ops_per_sec,mib_per_sec
mmap:advice=random,2,0,ok,1.000000,1.000000,3,12288,3.0,0.012
mmap:advice=random,2,0,ok,2.000000,1.000000,2,8192,2.0,0.008
";
        assert_eq!(got, want);
        assert_eq!(
            quote("mmap:advice=random,populate"),
            "\"mmap:advice=random,populate\""
        );
    }
}
