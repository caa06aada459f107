//! One flush case on the run engine: the workload the claim runs, one cell per
//! (policy, method), and the cell's result turned into the claim's variant.

use super::{FlushArgs, Method, Policy, VariantResult, Verify, Writeback};
use crate::claim::pageflags;
use crate::record::writes::WriteResult;
use crate::record::{BackendResult, Status};
use crate::runner::Setup;
use crate::spec::{BackendSpec, Workload};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The seed of the claim's data file: its own content tag, so its file name
/// (`faultline-SIZE-TAG.dat`) differs from a `faultline run`'s default data file.
pub(super) const SEED: u64 = 0x666c_7573_6801;

pub(super) fn ns(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

/// The kernel's writeback settings (/proc/sys/vm/dirty_*).
pub(super) fn vm_dirty_settings() -> BTreeMap<String, String> {
    let keys = [
        "dirty_expire_centisecs",
        "dirty_writeback_centisecs",
        "dirty_background_ratio",
        "dirty_background_bytes",
        "dirty_ratio",
        "dirty_bytes",
    ];
    keys.iter()
        .map(|k| {
            let v = std::fs::read_to_string(format!("/proc/sys/vm/{k}"))
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|e| format!("unreadable: {e}"));
            (k.to_string(), v)
        })
        .collect()
}

/// Whether page states can be read here: try on a page of our own.
pub(super) fn page_states_readable() -> Result<(), String> {
    let v = vec![1u8; 4096 * 2];
    let st = pageflags::states(v.as_ptr() as usize, 4096)?;
    std::hint::black_box(&v);
    if st.is_empty() {
        return Err("no page states".into());
    }
    Ok(())
}

/// The write workload every case runs (its sync policy and method are set per case):
/// `--record` blocks appended in order over a `--size` data file, wrapping at its end,
/// one thread, `--duration`, no warm-up (every write is measured), a warm page cache
/// (a store into the mapping finds its page cached, as it found the fresh file's pages
/// zero-filled before: no device read on a write fault).
pub(super) fn workload(a: &FlushArgs, dir: &Path, methods: &[Method]) -> Result<Workload> {
    let backends: Vec<String> = methods
        .iter()
        .map(|m| format!("\"{}\"", m.backend()))
        .collect();
    let toml = format!(
        "description = \"claim flush: appends under each flush policy\"\n\
         size = {}\nblock = {}\nop = \"write\"\npattern = \"append\"\nsync = \"end\"\n\
         sync_method = \"fdatasync\"\nthreads = 1\nduration = \"{}ms\"\nwarmup = \"0s\"\n\
         interval = \"1s\"\nstart = \"warm\"\nseed = {SEED}\nbackends = [{}]\n",
        a.size,
        a.record,
        a.duration.as_millis().max(1),
        backends.join(", ")
    );
    let mut w = Workload::parse(&toml, "claim flush", "claim-flush")
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("the flush workload is invalid")?;
    w.data_dir = dir.to_path_buf();
    Ok(w)
}

/// The result of a case that did not run.
fn empty_result(method: Method, policy: Policy, repeat: u32, record: u64) -> VariantResult {
    VariantResult {
        name: format!("{}/{}", method.name(), policy.name()),
        repeat,
        method,
        policy,
        backend: method.backend().into(),
        sync: policy.sync(record).to_string(),
        sync_method: method.sync_method(),
        ok: false,
        error: None,
        records: 0,
        bytes: 0,
        laps: 0,
        elapsed_ns: 0,
        records_per_sec: 0.0,
        mib_per_sec: 0.0,
        policy_flushes: 0,
        final_flush_ns: None,
        write_latency_ns: None,
        write_histogram: None,
        flush_latency_ns: None,
        flush_histogram: None,
        max_at_risk_bytes: None,
        max_unflushed_age_ns: None,
        unflushed_at_end: None,
        writeback: Writeback::default(),
        verify: Verify::default(),
        cell: None,
    }
}

/// Run one case as an engine cell.
pub(super) fn variant(
    a: &FlushArgs,
    setup: &mut Setup,
    (policy, method): (Policy, Method),
    repeat: u32,
) -> VariantResult {
    let mut r = empty_result(method, policy, repeat, a.record);
    let spec = match BackendSpec::parse(method.backend()) {
        Ok(s) => s,
        Err(e) => {
            r.error = Some(e.to_string());
            return r;
        }
    };
    let w = &mut setup.workload;
    w.sync = policy.sync(a.record);
    w.sync_method = method.sync_method();
    w.hold_before_sync = if policy == Policy::Manual {
        a.observe
    } else {
        Duration::ZERO
    };
    let cell = setup
        .run_cell(&spec, 1, repeat, &crate::ui::Quiet)
        .and_then(|o| {
            BackendResult::from_outcome(&spec, o, repeat, a.record, setup.target.verifies())
                .map_err(anyhow::Error::from)
        });
    match cell {
        Ok(b) => from_cell(&mut r, b, a),
        Err(e) => r.error = Some(format!("{e:#}")),
    }
    r
}

/// Fill the variant from the engine's result of its cell.
fn from_cell(r: &mut VariantResult, b: BackendResult, a: &FlushArgs) {
    if b.status != Status::Ok {
        r.error = Some(format!(
            "{} {}: {}",
            b.name,
            match b.status {
                Status::Skipped => "skipped",
                _ => "failed",
            },
            b.reason.clone().unwrap_or_else(|| "no reason given".into())
        ));
    }
    let slots = a.size / a.record;
    let empty = WriteResult::default();
    let wr = b.writes.as_ref().unwrap_or(&empty);
    let kind = |k: &str| wr.ops_by_kind.get(k);
    let writes = kind("write").map_or(0, |k| k.ops);
    let syncs = kind("sync").map_or(0, |k| k.ops);
    r.records = writes;
    r.bytes = writes * a.record;
    r.laps = writes / slots.max(1);
    r.elapsed_ns = b.elapsed_ns;
    r.records_per_sec = b.ops_per_sec;
    r.mib_per_sec = b.bytes_per_sec / 1048576.0;
    let manual = r.policy == Policy::Manual;
    r.policy_flushes = if manual {
        syncs.saturating_sub(1)
    } else {
        syncs
    };
    if let Some(k) = kind("write") {
        r.write_latency_ns = k.latency_ns.clone();
        r.write_histogram = k.histogram.clone();
    }
    if let Some(k) = kind("sync") {
        r.flush_latency_ns = k.latency_ns.clone();
        r.flush_histogram = k.histogram.clone();
        // manual: the one sync is the final flush.
        if manual && k.ops == 1 {
            r.final_flush_ns = k.latency_ns.as_ref().map(|l| l.max);
        }
    }
    if let Some(e) = &wr.sync_exposure {
        r.max_at_risk_bytes = Some(e.max_unsynced_bytes);
        r.max_unflushed_age_ns = Some(e.max_unsynced_ns);
        r.unflushed_at_end = Some(e.unsynced_at_end);
    }
    r.writeback = Writeback {
        pages: wr.written_back_before_sync,
        observed: wr.written_back_observed.clone(),
        reason: wr.reasons.get("written_back_before_sync").cloned(),
    };
    r.verify = Verify {
        pages: wr.verified_pages,
        written_pages: wr.written_pages,
        errors: wr.verify_errors,
        passed: wr.verify_errors == Some(0)
            && wr.verified_pages.is_some()
            && wr.verified_pages == wr.written_pages,
        reason: wr.reasons.get("verified_pages").cloned(),
    };
    r.ok = r.error.is_none() && r.verify.passed;
    r.cell = Some(b);
}
