//! The engines' verdict lines: for each run (one regime) that measured a real engine
//! beside the micro backends of the same shape, whether the engine's ranking of its
//! two read paths agrees with the micro-benchmark's ranking, with both ratios.
//!
//! Pairs (engine ratio against micro ratio, both as ops/s of the first over the second
//! at the same thread count):
//! * SQLite `mmap=SIZE` (SIZE > 0) over SQLite without mmap, against `mmap` over
//!   `pread` (SQLite's two paths: a mapping with the default advice, or pread(2));
//! * `lmdb` over SQLite without mmap, against `mmap` over `pread` (the pure-mmap
//!   engine against the explicit-I/O engine);
//! * `lmdb:nordahead` over SQLite without mmap, against `mmap:advice=random` over
//!   `pread` (MDB_NORDAHEAD is MADV_RANDOM on LMDB's mapping).
//!
//! A ratio within `EVEN` of 1 counts as "about even"; the verdicts agree when both
//! ratios fall in the same class (faster, about even, slower).

use crate::record::{RunRecord, Status};
use crate::spec::backend::{BackendKind, MmapAdvice};
use crate::spec::BackendSpec;
use crate::units::{format_count, format_size};

/// Ratios within this factor of 1 are "about even" (10%: about the spread of repeated
/// short cells on a loaded machine).
pub const EVEN: f64 = 1.1;

/// What a backend is, for the pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    SqliteOff,
    SqliteOn,
    Lmdb,
    LmdbNoRa,
    Pread,
    Mmap,
    MmapRandom,
}

fn role(name: &str) -> Option<Role> {
    let spec = BackendSpec::parse(name).ok()?;
    Some(match spec.kind {
        BackendKind::Sqlite(o) if o.mmap == 0 => Role::SqliteOff,
        BackendKind::Sqlite(_) => Role::SqliteOn,
        BackendKind::Lmdb(o) if o.nordahead => Role::LmdbNoRa,
        BackendKind::Lmdb(_) => Role::Lmdb,
        BackendKind::Pread => Role::Pread,
        BackendKind::Mmap(o) if !(o.populate || o.lock || o.prefault) => match o.advice {
            MmapAdvice::Normal => Role::Mmap,
            MmapAdvice::Random => Role::MmapRandom,
            _ => return None,
        },
        _ => return None,
    })
}

/// One engine pair and the micro pair it is checked against.
#[derive(Clone, Copy)]
struct Pair {
    engine: (Role, Role),
    engine_label: &'static str,
    micro: (Role, Role),
    micro_label: &'static str,
}

/// The class of a ratio: 1 faster, 0 about even, -1 slower.
fn class(r: f64) -> i32 {
    if r > EVEN {
        1
    } else if r < 1.0 / EVEN {
        -1
    } else {
        0
    }
}

fn class_text(c: i32) -> &'static str {
    match c {
        1 => "faster",
        -1 => "slower",
        _ => "about even",
    }
}

/// The regime of a run in words: device, page-cache limit and its reclaim, start.
pub fn regime(r: &RunRecord) -> String {
    let w = &r.workload;
    let mut parts = Vec::new();
    let device = match w
        .get("device")
        .and_then(|d| d.get("kind"))
        .and_then(|k| k.as_str())
    {
        Some("zram") => {
            let d = w.get("device");
            let cap = |k: &str| {
                d.and_then(|d| d.get(k).or_else(|| d.get("cap").and_then(|c| c.get(k))))
                    .and_then(|v| v.as_u64())
            };
            match (cap("read_iops"), cap("read_bps")) {
                (Some(i), _) => format!(
                    "zram (emulated fast device) capped at {} read IOPS",
                    format_count(i as f64)
                ),
                (None, Some(b)) => format!(
                    "zram (emulated fast device) capped at {}/s reads",
                    format_size(b)
                ),
                _ => "zram (emulated fast device)".to_string(),
            }
        }
        Some(k) => k.to_string(),
        None => format!(
            "disk {}",
            r.environment.device.as_deref().unwrap_or("(unknown)")
        ),
    };
    parts.push(device);
    match w.get("page_cache_limit").and_then(|v| v.as_u64()) {
        Some(l) => parts.push(format!(
            "page cache limited to {} ({} reclaim)",
            format_size(l),
            w.get("reclaim")
                .and_then(|v| v.as_str())
                .unwrap_or("cgroup")
        )),
        None => parts.push("no page-cache limit".into()),
    }
    if let Some(s) = w.get("start").and_then(|v| v.as_str()) {
        parts.push(format!("{s} start"));
    }
    match w.get("op").and_then(|v| v.as_str()) {
        Some("write") | Some("mix") => parts.push(format!(
            "op = {}, sync = {}",
            w.get("op").and_then(|v| v.as_str()).unwrap_or("?"),
            sync_text(w.get("sync"))
        )),
        _ => {}
    }
    parts.join(", ")
}

/// A recorded sync policy as the workload spells it (every:64, interval:200ms, end).
fn sync_text(v: Option<&serde_json::Value>) -> String {
    let Some(v) = v else { return "?".into() };
    match v.get("kind").and_then(|k| k.as_str()) {
        Some("every") => format!(
            "every:{}",
            v.get("writes").and_then(|n| n.as_u64()).unwrap_or(0)
        ),
        Some("interval") => format!(
            "interval:{}ms",
            v.get("every").and_then(|n| n.as_u64()).unwrap_or(0) / 1_000_000
        ),
        Some(k) => k.to_string(),
        None => v.to_string(),
    }
}

/// The verdict lines of the runs in `group` (one per run, engine pair and thread
/// count that has both sides); empty when no run measured an engine.
pub fn lines(group: &[&RunRecord]) -> Vec<String> {
    let pairs = [
        Pair {
            engine: (Role::SqliteOn, Role::SqliteOff),
            engine_label: "SQLite mmap on/off",
            micro: (Role::Mmap, Role::Pread),
            micro_label: "mmap/pread",
        },
        Pair {
            engine: (Role::Lmdb, Role::SqliteOff),
            engine_label: "LMDB/SQLite (no mmap)",
            micro: (Role::Mmap, Role::Pread),
            micro_label: "mmap/pread",
        },
        Pair {
            engine: (Role::LmdbNoRa, Role::SqliteOff),
            engine_label: "LMDB nordahead/SQLite (no mmap)",
            micro: (Role::MmapRandom, Role::Pread),
            micro_label: "mmap:advice=random/pread",
        },
    ];
    let mut out = Vec::new();
    for r in group {
        // ops/s per (role, threads, name), mean over repeats of ok results.
        let mut seen: Vec<(Role, usize, String, Vec<f64>)> = Vec::new();
        for b in &r.backends {
            let Some(role) = role(&b.name) else { continue };
            if b.status != Status::Ok || b.ops == 0 {
                continue;
            }
            match seen
                .iter_mut()
                .find(|(ro, t, n, _)| *ro == role && *t == b.threads && *n == b.name)
            {
                Some(e) => e.3.push(b.ops_per_sec),
                None => seen.push((role, b.threads, b.name.clone(), vec![b.ops_per_sec])),
            }
        }
        let rate = |role: Role, t: usize| {
            seen.iter()
                .find(|(ro, th, _, _)| *ro == role && *th == t)
                .map(|(_, _, n, v)| (n.clone(), v.iter().sum::<f64>() / v.len() as f64))
        };
        let mut threads: Vec<usize> = seen.iter().map(|s| s.1).collect();
        threads.sort_unstable();
        threads.dedup();
        for t in threads {
            for p in &pairs {
                let ((ea, eb), elabel) = (p.engine, p.engine_label);
                let ((ma, mb), mlabel) = (p.micro, p.micro_label);
                let (Some((na, a)), Some((nb, b))) = (rate(ea, t), rate(eb, t)) else {
                    continue;
                };
                let micro = match (rate(ma, t), rate(mb, t)) {
                    (Some((_, x)), Some((_, y))) if y > 0.0 => Some((x, y)),
                    _ => None,
                };
                let er = a / b;
                let writes = matches!(
                    r.workload.get("op").and_then(|v| v.as_str()),
                    Some("write") | Some("mix")
                );
                let (eunit, munit) = if writes {
                    ("operations/s", "operations/s")
                } else {
                    ("lookups/s", "reads/s")
                };
                let head = format!(
                    "{} ({}, {t} thread(s)): {elabel} {} (`{na}` {} vs `{nb}` {} {eunit})",
                    regime(r),
                    r.started_at,
                    ratio(er),
                    format_count(a),
                    format_count(b)
                );
                let line = match micro {
                    Some((x, y)) => {
                        let mr = x / y;
                        let (ce, cm) = (class(er), class(mr));
                        let verdict = if ce == cm {
                            format!("agree (both {})", class_text(ce))
                        } else {
                            format!(
                                "disagree (engine {}, micro {})",
                                class_text(ce),
                                class_text(cm)
                            )
                        };
                        format!(
                            "{head}; micro {mlabel} {} ({} vs {} {munit}): {verdict}",
                            ratio(mr),
                            format_count(x),
                            format_count(y)
                        )
                    }
                    None => format!(
                        "{head}; micro {mlabel}: not measured in this run (add both micro backends to compare)"
                    ),
                };
                out.push(line);
            }
        }
    }
    out
}

fn ratio(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}x")
    } else if r >= 0.1 {
        format!("{r:.2}x")
    } else {
        format!("{r:.3}x")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, ops_per_sec: f64) -> crate::record::BackendResult {
        let mut b = crate::record::tests::sample_record().backends[0].clone();
        b.name = name.to_string();
        b.status = Status::Ok;
        b.ops = 1000;
        b.threads = 1;
        b.ops_per_sec = ops_per_sec;
        b
    }

    #[test]
    fn agreement_and_disagreement() {
        let mut r = crate::record::tests::sample_record();
        r.backends = vec![
            result("sqlite", 15000.0),
            result("sqlite:mmap=1GiB", 170.0),
            result("lmdb", 160.0),
            result("lmdb:nordahead", 16000.0),
            result("pread", 25000.0),
            result("mmap", 212.0),
            result("mmap:advice=random", 10000.0),
        ];
        let l = lines(&[&r]);
        assert_eq!(l.len(), 3, "{l:#?}");
        assert!(l[0].contains("SQLite mmap on/off 0.011x"), "{}", l[0]);
        assert!(l[0].contains("micro mmap/pread 0.008x"), "{}", l[0]);
        assert!(l[0].ends_with("agree (both slower)"), "{}", l[0]);
        assert!(l[1].contains("LMDB/SQLite (no mmap)"), "{}", l[1]);
        assert!(
            l[2].ends_with("disagree (engine about even, micro slower)"),
            "{}",
            l[2]
        );
        // Without the micro backends the line says so; without an engine, no line.
        r.backends.retain(|b| b.name.starts_with("sqlite"));
        let l = lines(&[&r]);
        assert!(l[0].contains("not measured in this run"), "{}", l[0]);
        r.backends.clear();
        assert!(lines(&[&r]).is_empty());
    }
}
