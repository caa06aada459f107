//! Exports of the pooled results for continuous-benchmarking services. Both are pure
//! functions of the records (normally the new side of `faultline compare`).
//!
//! * github-action-benchmark (`tool: customBiggerIsBetter` / `customSmallerIsBetter`):
//!   each tool reads one file holding a JSON array of `{name, unit, value, range?,
//!   extra?}`, so throughput and latency go to two files.
//! * Bencher Metric Format (BMF): `{benchmark: {measure: {value, lower_value,
//!   upper_value}}}`; the bounds are the min and max over the pooled repeats.
//!
//! Benchmark names are `<workload>/<backend>/t<threads>`; github-action-benchmark gets
//! the metric appended (`.../t2/ops_per_sec`), Bencher keys the metric as the measure.

use super::aggregate::{self, Row};
use super::metric::Metric;
use crate::record::RunRecord;
use serde_json::{json, Map, Value};

/// The two files of the github-action-benchmark export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubExport {
    /// For `tool: customBiggerIsBetter`: ops/s and MiB/s.
    pub bigger_is_better: String,
    /// For `tool: customSmallerIsBetter`: latency percentiles in ns.
    pub smaller_is_better: String,
}

fn measured_rows(records: &[RunRecord]) -> Vec<Row> {
    let refs: Vec<&RunRecord> = records.iter().collect();
    aggregate::rows(&refs, false)
        .into_iter()
        .filter(|r| r.ok > 0)
        .collect()
}

pub fn benchmark_name(r: &Row) -> String {
    format!("{}/{}/t{}", r.workload, r.name, r.threads)
}

/// github-action-benchmark's custom JSON, one array per direction.
pub fn github_json(records: &[RunRecord]) -> GithubExport {
    let mut bigger = Vec::new();
    let mut smaller = Vec::new();
    for r in measured_rows(records) {
        for m in Metric::ALL {
            let Some(s) = m.of(&r) else { continue };
            let mut e = json!({
                "name": format!("{}/{}", benchmark_name(&r), m.key()),
                "unit": m.unit(),
                "value": s.mean,
            });
            if s.n > 1 {
                e["range"] = json!(format!("± {}", (s.max - s.min) / 2.0));
                e["extra"] = json!(format!(
                    "mean of {} runs; min {}, max {}",
                    s.n, s.min, s.max
                ));
            }
            if m.bigger_is_better() {
                bigger.push(e);
            } else {
                smaller.push(e);
            }
        }
    }
    GithubExport {
        bigger_is_better: pretty(&Value::Array(bigger)),
        smaller_is_better: pretty(&Value::Array(smaller)),
    }
}

/// Bencher Metric Format JSON.
pub fn bencher_json(records: &[RunRecord]) -> String {
    let mut benches = Map::new();
    for r in measured_rows(records) {
        let mut measures = Map::new();
        for m in Metric::ALL {
            let Some(s) = m.of(&r) else { continue };
            measures.insert(
                m.slug().to_string(),
                json!({"value": s.mean, "lower_value": s.min, "upper_value": s.max}),
            );
        }
        benches.insert(benchmark_name(&r), Value::Object(measures));
    }
    pretty(&Value::Object(benches))
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::markdown::tests::record_with_counters;

    #[test]
    fn github_snapshot() {
        let g = github_json(&[crate::record::tests::sample_record()]);
        let want_bigger = r#"[
  {
    "name": "quick/mmap:advice=random/t2/ops_per_sec",
    "unit": "ops/s",
    "value": 2.5
  },
  {
    "name": "quick/mmap:advice=random/t2/bytes_per_sec",
    "unit": "MiB/s",
    "value": 0.009765625
  }
]
"#;
        assert_eq!(g.bigger_is_better, want_bigger, "\n{}", g.bigger_is_better);
        let v: Value = serde_json::from_str(&g.smaller_is_better).unwrap();
        let names: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "quick/mmap:advice=random/t2/p50",
                "quick/mmap:advice=random/t2/p99",
                "quick/mmap:advice=random/t2/p999"
            ]
        );
        assert_eq!(v[0]["unit"], "ns");
        assert_eq!(v[0]["value"], 2000.0);
    }

    #[test]
    fn github_range_with_repeats() {
        let g = github_json(&[record_with_counters()]);
        let v: Value = serde_json::from_str(&g.bigger_is_better).unwrap();
        assert_eq!(v[0]["name"], "quick/mmap:advice=random/t2/ops_per_sec");
        assert_eq!(v[0]["value"], 3.0);
        assert_eq!(v[0]["range"], "± 0.5");
        assert!(v[0]["extra"]
            .as_str()
            .unwrap()
            .starts_with("mean of 2 runs"));
    }

    #[test]
    fn bencher_snapshot() {
        let got = bencher_json(&[record_with_counters()]);
        let v: Value = serde_json::from_str(&got).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(
            obj.keys().collect::<Vec<_>>(),
            ["quick/direct/t2", "quick/mmap:advice=random/t2"],
            "skipped backends are not exported"
        );
        let t = &v["quick/mmap:advice=random/t2"]["throughput"];
        assert_eq!(
            t,
            &json!({"value": 3.0, "lower_value": 2.5, "upper_value": 3.5})
        );
        let want_latency = json!({"value": 2000.0, "lower_value": 2000.0, "upper_value": 2000.0});
        assert_eq!(v["quick/direct/t2"]["latency-p50"], want_latency);
        for m in Metric::ALL {
            assert!(v["quick/direct/t2"].get(m.slug()).is_some(), "{}", m.slug());
        }
    }
}
