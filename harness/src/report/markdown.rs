//! `faultline report`: a markdown summary of one or more runs. One table per workload
//! (records of the same workload are pooled), one row per backend x thread count, the
//! repeats aggregated as mean with the min-max spread, then the notes, the machine and
//! the command under each table.

use super::aggregate::{self, Derived, Row, Spread};
use crate::probe::CounterId;
use crate::record::RunRecord;
use crate::table::Table;
use crate::units::{format_count, format_ns, format_size};
use std::fmt::Write as _;

/// The markdown report of `records`. `reference` names the backend the "vs" column
/// compares with; by default `direct` when it ran, else the workload's first backend.
pub fn report_markdown(records: &[RunRecord], reference: Option<&str>) -> String {
    let mut out = String::from("# faultline report\n");
    if records.is_empty() {
        out.push_str("\nNo runs given.\n");
        return out;
    }
    for group in by_workload(records) {
        table(&mut out, &group, reference);
    }
    out
}

/// The records grouped by workload name (and sweep value: each value of a sweep is a
/// table of its own), in order of first appearance.
fn by_workload(records: &[RunRecord]) -> Vec<Vec<&RunRecord>> {
    let mut groups: Vec<Vec<&RunRecord>> = Vec::new();
    for r in records {
        match groups
            .iter_mut()
            .find(|g| g[0].report_name() == r.report_name())
        {
            Some(g) => g.push(r),
            None => groups.push(vec![r]),
        }
    }
    groups
}

/// The backend the relative-speed column compares with.
pub fn default_reference(rows: &[Row]) -> Option<&str> {
    rows.iter()
        .find(|r| r.name == "direct")
        .or_else(|| rows.first())
        .map(|r| r.name.as_str())
}

fn table(out: &mut String, group: &[&RunRecord], reference: Option<&str>) {
    let first = group[0];
    let rows = aggregate::rows(group, false);
    let reference = reference.or_else(|| default_reference(&rows));
    let _ = writeln!(out, "\n## {}\n", first.report_name());
    let _ = writeln!(
        out,
        "{}; {} run(s) pooled.\n",
        describe_workload(&first.workload),
        group.len()
    );
    out.push_str(&rows_table(&rows, reference).to_markdown());
    out.push('\n');
    out.push_str("Values are means over the pooled runs, with (min-max) when they differ; ");
    out.push_str("latency per operation; `vs` is ops/s relative to the reference backend at the same thread count.\n");
    // Write and mix workloads: each operation kind apart.
    if let Some(k) = super::kinds::kinds_markdown(group) {
        out.push_str(&k);
    }
    let notes = notes(&rows, reference);
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            let _ = writeln!(out, "- {}", escape(&n));
        }
    }
    let verdicts = super::verdict::lines(group);
    if !verdicts.is_empty() {
        let _ = writeln!(
            out,
            "\nEngines against the micro-benchmark (each run is one regime; ratios are ops/s of the first over the second; within {:.0}% of 1 is about even):",
            (super::verdict::EVEN - 1.0) * 100.0
        );
        for v in verdicts {
            let _ = writeln!(out, "- verdict: {}", escape(&v));
        }
    }
    let stalls = super::stalls::lines(group);
    if let Some((head, cells)) = stalls.split_first() {
        let _ = writeln!(out, "\n{}", escape(head));
        for c in cells {
            let _ = writeln!(out, "- {}", escape(c));
        }
    }
    out.push('\n');
    provenance(out, group);
}

/// One row per backend and thread count: throughput, latency, derived counters, and
/// the speed relative to the reference.
fn rows_table(rows: &[Row], reference: Option<&str>) -> Table {
    let vs = format!("vs {}", reference.unwrap_or("-"));
    let mut head = vec![
        "backend", "threads", "runs", "ops/s", "MiB/s", "p50", "p99", "p99.9",
    ];
    head.extend(Derived::ALL.iter().map(|d| d.label()));
    head.push(&vs);
    let mut t = Table::new(&head, 1);
    for row in rows {
        let runs = if row.ok == row.runs {
            row.runs.to_string()
        } else {
            row.status_text()
        };
        let mib = row.bytes_per_sec.map(|s| s.scale(1.0 / 1048576.0));
        let mut cells = vec![
            escape(&row.name),
            row.threads.to_string(),
            runs,
            spread(row.ops_per_sec, format_count),
            spread(mib, |v| format!("{v:.1}")),
            match row.timing_floor {
                Some(_) => format!("{} *", spread(row.p50, format_ns)),
                None => spread(row.p50, format_ns),
            },
            spread(row.p99, format_ns),
            spread(row.p999, format_ns),
        ];
        cells.extend(Derived::ALL.iter().map(|&d| match row.derived(d) {
            Some(s) => spread(Some(s), small),
            None if row.ok > 0 => "n/a".into(),
            None => "-".into(),
        }));
        cells.push(relative(row, rows, reference));
        t.push(cells);
    }
    t
}

/// Why rows failed or were skipped, wrong reads, which counters are n/a and why (for
/// which backends), and a reference that did not run.
fn notes(rows: &[Row], reference: Option<&str>) -> Vec<String> {
    let mut notes: Vec<String> = Vec::new();
    for row in rows {
        if !row.reasons.is_empty() {
            notes.push(format!(
                "{} x{} {}: {}",
                row.name,
                row.threads,
                row.status_text(),
                row.reasons.join("; ")
            ));
        }
        if let Some(n) = &row.timing_floor {
            notes.push(format!("* {} x{}: {n}", row.name, row.threads));
        }
        for n in &row.regime_notes {
            if !notes.contains(n) {
                notes.push(n.clone());
            }
        }
        if let Some(n) = row.verify_errors.filter(|&n| n > 0) {
            notes.push(format!(
                "{} x{}: {n} reads returned the wrong bytes",
                row.name, row.threads
            ));
        }
    }
    let mut why: Vec<(CounterId, String, Vec<String>)> = Vec::new();
    for row in rows {
        for (counter, reason) in &row.unavailable {
            let who = format!("{} x{}", row.name, row.threads);
            match why.iter_mut().find(|(c, r, _)| c == counter && r == reason) {
                Some(e) => e.2.push(who),
                None => why.push((*counter, reason.clone(), vec![who])),
            }
        }
    }
    for (counter, reason, who) in why {
        notes.push(format!("n/a {counter}: {reason} ({})", who.join(", ")));
    }
    if let Some(r) = reference.filter(|r| !rows.iter().any(|row| row.name == *r)) {
        notes.push(format!(
            "`{r}` did not run in this workload: no relative speed"
        ));
    }
    notes
}

/// The machines and commands the pooled runs came from.
fn provenance(out: &mut String, group: &[&RunRecord]) {
    let machines: Vec<String> = dedup(group.iter().map(|r| machine_line(r)));
    if machines.len() > 1 {
        out.push_str(
            "**Warning:** these runs come from different machines or setups; the means mix them.\n\n",
        );
    }
    for m in &machines {
        let _ = writeln!(out, "Machine: {m}  ");
    }
    for r in group {
        let done = if r.complete {
            ""
        } else {
            ", interrupted: incomplete"
        };
        let _ = writeln!(
            out,
            "Command: `{}` ({}{}{done})  ",
            command_line(&r.command),
            r.started_at,
            build(&r.environment)
        );
    }
}

fn relative(row: &Row, rows: &[Row], reference: Option<&str>) -> String {
    let Some(r) = reference else {
        return "n/a".into();
    };
    let Some(mine) = row.ops_per_sec else {
        return "-".into();
    };
    let base = rows
        .iter()
        .find(|o| o.name == r && o.threads == row.threads)
        .and_then(|o| o.ops_per_sec);
    match base {
        Some(b) if b.mean > 0.0 => format!("{:.2}x", mine.mean / b.mean),
        _ => "n/a".into(),
    }
}

fn spread(s: Option<Spread>, f: impl Fn(f64) -> String) -> String {
    match s {
        None => "-".into(),
        Some(s) if s.n > 1 && s.min != s.max => {
            format!("{} ({}-{})", f(s.mean), f(s.min), f(s.max))
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
    } else if v.abs() >= 0.1 {
        format!("{v:.3}")
    } else if v.abs() >= 0.01 {
        format!("{v:.4}")
    } else if v.abs() >= 0.001 {
        format!("{v:.5}")
    } else {
        format!("{v:.2e}")
    }
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|")
}

fn dedup(it: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for s in it {
        if !v.contains(&s) {
            v.push(s);
        }
    }
    v
}

/// "host vm: AMD EPYC (2 CPUs, 24GiB), Linux 6.18.0 x86_64; data on ext4, device vda1 (disk vda)".
pub fn machine_line(r: &RunRecord) -> String {
    let e = &r.environment;
    let unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
    let mut s = format!(
        "host {}: {} ({} CPUs, {}), Linux {} {}; data on {}",
        unknown(&e.hostname),
        e.cpu_model.as_deref().unwrap_or("unknown CPU"),
        e.cpus,
        e.memory_bytes
            .map(format_size)
            .unwrap_or_else(|| "? memory".into()),
        unknown(&e.kernel),
        e.arch.as_deref().unwrap_or(""),
        e.fs_type.as_deref().unwrap_or("an unknown file system"),
    );
    match (&e.device, &e.disk) {
        (Some(d), Some(k)) if d != k => {
            let _ = write!(s, ", device {d} (disk {k})");
        }
        (Some(d), _) => {
            let _ = write!(s, ", device {d}");
        }
        (None, _) => {
            let why = e
                .reasons
                .get("device")
                .map(String::as_str)
                .unwrap_or("unknown");
            let _ = write!(s, ", no block device ({why})");
        }
    }
    let _ = write!(
        s,
        "; {} {}",
        format_size(r.data_file.size),
        r.data_file.origin
    );
    if let Some(v) = virtual_machine(e) {
        let _ = write!(s, "; {v}");
    }
    s.replace("  ", " ")
}

/// The hypervisor, the clocksource and free page reporting, where the run recorded
/// them (runs made before they were recorded say nothing).
fn virtual_machine(e: &crate::env::Environment) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(name) = e.hypervisor.as_ref().and_then(|h| h.name.as_deref()) {
        parts.push(format!("{name} guest"));
    }
    if let Some(c) = &e.clocksource {
        parts.push(format!("clocksource {}", c.current));
    }
    if let Some(b) = e.balloon.as_ref().filter(|b| b.present) {
        let reporting = match b.free_page_reporting {
            Some(true) => "on",
            Some(false) => "off",
            None => "unknown",
        };
        parts.push(format!("virtio balloon, free page reporting {reporting}"));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The build a run was made with: ", build 1a2b3c4d5e6f" (", ... with local changes").
pub fn build(e: &crate::env::Environment) -> String {
    match (e.git_revision.as_deref(), e.git_dirty) {
        (Some(rev), dirty) if rev != "unknown" => {
            let short: String = rev.chars().take(12).collect();
            let local = if dirty == Some(true) {
                " with local changes"
            } else {
                ""
            };
            format!(", build {short}{local}")
        }
        _ => String::new(),
    }
}

/// The command as a shell would take it back.
pub fn command_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One line from the workload object in run.json: "64MiB file, 4KiB random reads, ...".
pub fn describe_workload(w: &serde_json::Value) -> String {
    let size = |k: &str| w.get(k).and_then(|v| v.as_u64()).map(format_size);
    let text = |k: &str| w.get(k).and_then(|v| v.as_str()).map(String::from);
    let ns = |v: &serde_json::Value| v.as_u64().map(|n| format_ns(n as f64));
    let mut parts: Vec<String> = Vec::new();
    if let Some(s) = size("size") {
        parts.push(format!("{s} file"));
    }
    let pattern = w.get("pattern").map(pattern_text).unwrap_or_default();
    let sync = || {
        let kind = w
            .get("sync")
            .and_then(|s| s.get("kind"))
            .and_then(|k| k.as_str());
        let method = text("sync_method").unwrap_or_default();
        match kind {
            Some("none") | None => "no sync".to_string(),
            Some(k) => format!("sync {k}, {method}"),
        }
    };
    let what = match text("op").as_deref() {
        Some("write") => format!("writes ({})", sync()),
        Some("mix") => format!(
            "reads ({}%) and writes ({})",
            w.get("read_pct").and_then(|v| v.as_u64()).unwrap_or(0),
            sync()
        ),
        _ => "reads".to_string(),
    };
    if let Some(b) = size("block") {
        parts.push(format!("{b} {pattern} {what}").replace("  ", " "));
    }
    if let Some(t) = text("touch") {
        parts.push(format!("touch {t}"));
    }
    if let Some(s) = text("start") {
        parts.push(format!("{s} start"));
    }
    if let Some(stop) = w.get("stop") {
        if let Some(d) = stop.get("duration").and_then(ns) {
            parts.push(format!("{d} per backend"));
        } else if let Some(o) = stop.get("ops").and_then(|v| v.as_u64()) {
            parts.push(format!("{o} ops per backend"));
        }
    }
    if let Some(d) = w.get("warmup").and_then(ns) {
        parts.push(format!("{d} warm-up"));
    }
    if parts.is_empty() {
        "workload details not recorded".into()
    } else {
        parts.join(", ")
    }
}

fn pattern_text(p: &serde_json::Value) -> String {
    let Some(obj) = p.as_object() else {
        return p.as_str().unwrap_or("").to_string();
    };
    let kind = obj.get("kind").and_then(|k| k.as_str()).unwrap_or("?");
    let opts: Vec<String> = obj
        .iter()
        .filter(|(k, _)| *k != "kind")
        .map(|(k, v)| match (k.as_str(), v.as_u64()) {
            ("chunk", Some(b)) => format!("chunk={}", format_size(b)),
            _ => format!("{k}={v}"),
        })
        .collect();
    if opts.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}:{}", opts.join(","))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::probe::Counters;

    #[test]
    fn provenance_names_the_vm_and_the_build_when_recorded() {
        use crate::env::provenance::{Balloon, Clocksource, Hypervisor};
        let mut r = crate::record::tests::sample_record();
        assert!(!machine_line(&r).contains("guest"), "old runs say nothing");
        assert_eq!(build(&r.environment), "");
        let e = &mut r.environment;
        e.hypervisor = Some(Hypervisor {
            name: Some("KVM".into()),
            ..Default::default()
        });
        e.clocksource = Some(Clocksource {
            current: "kvm-clock".into(),
            available: vec!["kvm-clock".into(), "tsc".into()],
        });
        e.balloon = Some(Balloon {
            present: true,
            free_page_reporting: Some(true),
            ..Default::default()
        });
        e.git_revision = Some("0123456789abcdef0123".into());
        e.git_dirty = Some(true);
        let m = machine_line(&r);
        assert!(
            m.ends_with(
                "; KVM guest, clocksource kvm-clock, virtio balloon, free page reporting on"
            ),
            "{m}"
        );
        assert_eq!(
            build(&r.environment),
            ", build 0123456789ab with local changes"
        );
    }

    /// The sample record with a second repeat, a `direct` result and counters filled
    /// in the way the probes will fill them.
    pub fn record_with_counters() -> RunRecord {
        let mut r = crate::record::tests::sample_record();
        r.workload = serde_json::json!({
            "name": "quick", "size": 67108864u64, "block": 4096, "pattern": {"kind": "random"},
            "touch": "first", "start": "cold", "stop": {"duration": 1_500_000_000u64},
            "warmup": 300_000_000u64
        });
        r.environment.hostname = Some("vm".into());
        r.environment.cpu_model = Some("Test CPU".into());
        r.environment.cpus = 2;
        r.environment.memory_bytes = Some(24 << 30);
        r.environment.kernel = Some("6.18.0".into());
        r.environment.arch = Some("x86_64".into());
        r.environment.fs_type = Some("ext4".into());
        r.environment.device = Some("vda".into());
        r.environment.disk = Some("vda".into());
        r.command = vec![
            "faultline".into(),
            "run".into(),
            "workloads/quick.toml".into(),
        ];
        let m = &mut r.backends[0];
        m.counters = Counters {
            major_faults: Some(5),
            tlb_shootdowns_system: Some(1),
            read_amplification: Some(1.5),
            ..Counters::default()
        };
        let mut m2 = m.clone();
        m2.repeat = 1;
        m2.ops_per_sec = 3.5;
        m2.counters.major_faults = Some(0);
        let mut direct = m.clone();
        direct.name = "direct".into();
        direct.kind = "direct".into();
        direct.ops_per_sec = 1.25;
        direct.counters = Counters::default();
        direct
            .reasons
            .replace(CounterId::MajorFaults, "perf_event_open: EACCES");
        r.backends[1].threads = 1;
        r.backends.push(m2);
        r.backends.push(direct);
        r
    }

    #[test]
    fn snapshot() {
        let got = report_markdown(&[record_with_counters()], None);
        let want = "\
# faultline report

## quick

64MiB file, 4KiB random reads, touch first, cold start, 1.50s per backend, 300ms warm-up; 1 run(s) pooled.

| backend | threads | runs | ops/s | MiB/s | p50 | p99 | p99.9 | major faults/op | TLB shootdowns/1k ops | read amp. | vs direct |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| mmap:advice=random | 2 | 2 | 3.00 (2.50-3.50) | 0.0 | 2.00us | 50.0us | 50.0us | 0.500 (0-1.00) | 200 | 1.50 | 2.40x |
| direct | 1 | skipped | - | - | - | - | - | - | - | - | - |
| direct | 2 | 1 | 1.25 | 0.0 | 2.00us | 50.0us | 50.0us | n/a | n/a | n/a | 1.00x |

Values are means over the pooled runs, with (min-max) when they differ; latency per operation; `vs` is ops/s relative to the reference backend at the same thread count.

- direct x1 skipped: no O_DIRECT here
- n/a major_faults: perf_event_open: EACCES (direct x2)
- n/a read_amplification: not recorded by the version of faultline that made this run (direct x2)
- n/a tlb_shootdowns_system: not recorded by the version of faultline that made this run (direct x2)

Stalls: none (no interval under 10% of its cell's median interval throughput)

Machine: host vm: Test CPU (2 CPUs, 24GiB), Linux 6.18.0 x86_64; data on ext4, device vda; 1MiB generated  
Command: `faultline run workloads/quick.toml` (2026-01-01T00:00:00Z)  
";
        assert_eq!(got, want, "\n{got}");
    }

    #[test]
    fn reference_and_pooling_across_records() {
        let a = record_with_counters();
        let mut b = a.clone();
        b.environment.hostname = Some("other".into());
        b.complete = false;
        let got = report_markdown(&[a, b], Some("mmap:advice=random"));
        assert_eq!(
            got.matches("\n## quick").count(),
            1,
            "one table per workload"
        );
        assert!(got.contains("| vs mmap:advice=random |"), "{got}");
        assert!(got.contains("| 1.00x |"), "{got}");
        assert!(got.contains("different machines"), "{got}");
        assert!(got.contains("interrupted: incomplete"), "{got}");
        let none = report_markdown(&[record_with_counters()], Some("pread"));
        assert!(
            none.contains("`pread` did not run in this workload"),
            "{none}"
        );
    }

    #[test]
    fn commands_are_quoted_for_a_shell() {
        let argv: Vec<String> = [
            "faultline",
            "run",
            "-b",
            "mmap:advice=random,populate",
            "a b",
            "it's",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            command_line(&argv),
            "faultline run -b mmap:advice=random,populate 'a b' 'it'\\''s'"
        );
    }
}
