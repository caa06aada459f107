//! The machine-readable summary `faultline run --json` prints on stdout instead of the
//! table: one JSON object with the result directory and, per backend result, what a
//! script needs to decide (status, throughput, latency). run.json has everything else.

use super::RunRecord;
use serde_json::json;
use std::path::Path;

pub fn summary_json(r: &RunRecord, result_dir: &Path) -> String {
    let backends: Vec<serde_json::Value> = r
        .backends
        .iter()
        .map(|b| {
            json!({
                "name": b.name,
                "threads": b.threads,
                "repeat": b.repeat,
                "status": b.status,
                "reason": b.reason,
                "ops": b.ops,
                "ops_per_sec": b.ops_per_sec,
                "bytes_per_sec": b.bytes_per_sec,
                "verify_errors": b.verify_errors,
                "latency_ns": b.latency_ns,
            })
        })
        .collect();
    let v = json!({
        "result_dir": result_dir.display().to_string(),
        "run_json": result_dir.join("run.json").display().to_string(),
        "workload": r.workload_name(),
        "complete": r.complete,
        "backends": backends,
    });
    let mut s = serde_json::to_string(&v).unwrap_or_else(|_| v.to_string());
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_of_sample_record() {
        let r = crate::record::tests::sample_record();
        let got = summary_json(&r, Path::new("results/quick/x"));
        let want = concat!(
            r#"{"backends":[{"bytes_per_sec":10240.0,"latency_ns":{"max":50015,"mean":11600.2,"min":1000,"p50":2000,"p90":50015,"p99":50015,"p999":50015},"name":"mmap:advice=random","ops":5,"ops_per_sec":2.5,"reason":null,"repeat":0,"status":"ok","threads":2,"verify_errors":0},"#,
            r#"{"bytes_per_sec":0.0,"latency_ns":null,"name":"direct","ops":0,"ops_per_sec":0.0,"reason":"no O_DIRECT here","repeat":0,"status":"skipped","threads":2,"verify_errors":0}],"#,
            r#""complete":true,"result_dir":"results/quick/x","run_json":"results/quick/x/run.json","workload":"quick"}"#,
            "\n"
        );
        assert_eq!(got, want, "\n{got}");
        let v: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert_eq!(v["backends"][0]["status"], "ok");
    }
}
