//! The reclaim regime (`reclaim = "cgroup" | "global"`): bad input, a short global-reclaim
//! run on a zram device larger than the limit (kswapd does most of the scanning, the
//! per-interval reclaim counters are there, and nr_hugepages, the zram devices and the
//! disks' read_ahead_kb are as they were afterwards), and the restoration of
//! nr_hugepages after Ctrl-C, after SIGKILL (the guardian process) and from the state
//! file of a dead run (the next run). The root parts need root, a huge-page pool and
//! zram (capability `global-reclaim`); skipped with the reason otherwise.

mod common;
use common::*;
use faultline::env::global_reclaim::{State, STATE_DIR};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// One test of this file at a time: the reservation is machine-wide (and one at a
/// time: a second run would be refused as busy).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

const NR: &str = "/proc/sys/vm/nr_hugepages";

fn nr_hugepages() -> u64 {
    std::fs::read_to_string(NR).unwrap().trim().parse().unwrap()
}

fn state_file() -> PathBuf {
    Path::new(STATE_DIR).join("reservation")
}

/// Root, a huge-page pool, and no reservation held by someone else.
fn global_here(test: &str) -> bool {
    if faultline::sys::uid() != 0 {
        skip(
            "global-reclaim",
            &format!("{test}: reserving huge pages needs root"),
        );
        return false;
    }
    if !Path::new(NR).exists() {
        skip("global-reclaim", &format!("{test}: {NR} does not exist"));
        return false;
    }
    if state_file().exists() {
        skip(
            "global-reclaim",
            &format!(
                "{test}: another run holds a reservation ({})",
                state_file().display()
            ),
        );
        return false;
    }
    true
}

fn zram_devices() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/sys/block")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("zram"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// read_ahead_kb of every block device.
fn read_ahead() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir("/sys/block")
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    let ra = std::fs::read_to_string(e.path().join("queue/read_ahead_kb")).ok()?;
                    Some((n, ra.trim().to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn bad_reclaim_values_are_refused_with_advice() {
    let dir = scratch("reclaim-bad");
    let wl = tiny_workload(&dir, "backends = [\"mock\"]");
    let o = run(&["run", wl.to_str().unwrap(), "--reclaim", "kswapd"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("`kswapd`") && err.contains("cgroup") && err.contains("global"),
        "{err}"
    );
    // global without a limit: nothing to make machine-wide.
    let o = run(&["run", wl.to_str().unwrap(), "--reclaim", "global"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("needs `page_cache_limit`"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // In a workload file: the key, its position and the allowed values.
    let wl2 = tiny_workload(&dir, "backends = [\"mock\"]\nreclaim = \"both\"");
    let o = run(&["run", wl2.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("reclaim") && err.contains("`both`"), "{err}");
}

#[test]
fn a_limit_the_machine_cannot_leave_is_refused_before_any_cell() {
    if !global_here("too-large") {
        return;
    }
    let _serial = serial();
    let before = nr_hugepages();
    let dir = scratch("reclaim-large");
    let wl = tiny_workload(&dir, "backends = [\"mmap\"]");
    // A limit as large as all memory: MemAvailable cannot be limit + margin.
    let o = run(&[
        "run",
        wl.to_str().unwrap(),
        "--data-dir",
        data_dir().to_str().unwrap(),
        "--page-cache-limit",
        "1TiB",
        "--reclaim",
        "global",
        "--quiet",
        "--out",
        dir.join("r").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("safety margin") || err.contains("not below this machine's memory"),
        "{err}"
    );
    assert_eq!(nr_hugepages(), before);
}

#[test]
fn global_reclaim_run_has_kswapd_scanning_and_leaves_the_machine_as_it_was() {
    if !global_here("global-run") {
        return;
    }
    if !Path::new("/sys/class/zram-control/hot_add").exists() {
        skip(
            "global-reclaim",
            "global-run: no zram (/sys/class/zram-control)",
        );
        return;
    }
    let _serial = serial();
    let (nr, zram, ra) = (nr_hugepages(), zram_devices(), read_ahead());
    let dir = scratch("reclaim-global");
    let out = dir.join("r");
    // A device twice the limit, read sequentially in 64 KiB blocks by one thread
    // through the page cache: fast enough to fill what the reservation leaves within
    // a second or two (random 4 KiB mmap faults fill it at ~100 MiB/s here: far too
    // slow for a short test), with the other CPU free for kswapd.
    let wl = tiny_workload(&dir, "backends = [\"pread\"]");
    let o = run(&[
        "run",
        wl.to_str().unwrap(),
        "--device",
        "zram:3GiB",
        "--size",
        "3GiB",
        "--page-cache-limit",
        "1536MiB",
        "--reclaim",
        "global",
        "--pattern",
        "sequential",
        "--block",
        "64KiB",
        "--threads",
        "1",
        "--duration",
        "4s",
        "--warmup",
        "0s",
        "--interval",
        "500ms",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(nr_hugepages(), nr, "nr_hugepages restored\n{}", text(&o));
    assert_eq!(zram_devices(), zram, "the zram device is removed");
    assert_eq!(read_ahead(), ra, "read_ahead_kb untouched");
    assert!(!state_file().exists(), "the state file is removed");
    let err = String::from_utf8_lossy(&o.stderr);
    if o.status.code() == Some(1) && err.contains("reclaim = \"global\"") {
        // The kernel could not reserve enough here (fragmentation, busy machine): a
        // refusal with its reason is correct behaviour, but the test did not run.
        skip(
            "global-reclaim",
            &format!("global-run: refused here: {err}"),
        );
        return;
    }
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = load(&out);
    let b = &r.backends[0];
    assert!(check_backend(b));
    let regime = b
        .regime
        .as_ref()
        .expect("a limited cell has a regime check");
    assert_eq!(regime.reclaim, "global");
    let res = regime
        .reservation
        .as_ref()
        .expect("the reservation is recorded");
    assert!(res.pages_reserved > 0, "{res:?}");
    assert_eq!(res.nr_hugepages_before, nr);
    assert_eq!(res.nr_hugepages_restored, Some(nr));
    assert!(
        res.mem_available_after >= res.margin,
        "MemAvailable with the reservation held: {res:?}"
    );
    let vm = b.counters.vmstat.as_ref().expect("vmstat");
    let (k, d) = (vm["pgscan_kswapd"], vm["pgscan_direct"]);
    assert!(k > 0, "kswapd scanned: {vm:?}");
    assert_eq!(regime.ok, Some(k > d), "{regime:?}");
    assert_eq!(
        regime.ok,
        Some(true),
        "kswapd did most of the scanning: {regime:?}"
    );
    assert!(b.counters.allocstall.is_some(), "{:?}", b.reasons);
    assert!(b.counters.kswapd_cpu_ns.is_some(), "{:?}", b.reasons);
    assert!(
        b.counters.cgroup_reclaim_pages.is_none(),
        "no cgroup in the global regime"
    );
    assert!(b
        .reasons
        .get(faultline::probe::CounterId::CgroupReclaimPages)
        .is_some());
    // Per interval: the same counters as deltas, adding up to the cell's.
    assert!(b.timeseries.len() >= 4);
    let sum = |f: fn(&faultline::probe::Counters) -> Option<u64>| -> u64 {
        b.timeseries
            .iter()
            .map(|i| f(&i.counters).expect("per interval"))
            .sum()
    };
    let ks = sum(|c| c.vmstat.as_ref().map(|v| v["pgscan_kswapd"]));
    assert!(ks <= k && ks > 0, "interval pgscan_kswapd {ks} of {k}");
    sum(|c| c.allocstall);
    sum(|c| c.kswapd_cpu_ns);
    // The summary table prints no regime warning, the report says it held.
    let report = run(&["report", out.to_str().unwrap()]);
    let rep = String::from_utf8_lossy(&report.stdout);
    assert!(rep.contains("global reclaim regime held"), "{rep}");
}

/// Start a 20 s global-reclaim run of a cached mmap backend on a small data file, and
/// wait until it measures (the reservation is then held).
fn start_long_run(dir: &Path) -> std::process::Child {
    let ready = dir.join("ready");
    let wl = tiny_workload(dir, "backends = [\"mmap\"]");
    let mut child = bin()
        .env("FAULTLINE_READY_FILE", &ready)
        .args([
            "run",
            wl.to_str().unwrap(),
            "--data-dir",
            data_dir().to_str().unwrap(),
            "--page-cache-limit",
            "2GiB",
            "--reclaim",
            "global",
            "--duration",
            "20s",
            "--warmup",
            "0s",
            "--quiet",
            "--out",
            dir.join("r").to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_measuring(&mut child, &ready, "mmap");
    child
}

fn signal(pid: u32, sig: &str) {
    let st = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < Duration::from_secs(10), "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ctrl_c_gives_the_huge_pages_back() {
    if !global_here("ctrl-c") {
        return;
    }
    let _serial = serial();
    let before = nr_hugepages();
    let dir = scratch("reclaim-int");
    let child = start_long_run(&dir);
    assert!(
        nr_hugepages() > before,
        "the reservation is held while measuring"
    );
    let s = State::parse(&std::fs::read_to_string(state_file()).unwrap()).unwrap();
    assert_eq!((s.pid, s.old), (child.id(), before));
    signal(child.id(), "-INT");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert_eq!(nr_hugepages(), before);
    assert!(!state_file().exists());
    assert!(!load(&dir.join("r")).complete);
}

#[test]
fn sigkill_is_undone_by_the_guardian_and_the_next_run_starts_clean() {
    if !global_here("kill-9") {
        return;
    }
    let _serial = serial();
    let before = nr_hugepages();
    let dir = scratch("reclaim-kill");
    let mut child = start_long_run(&dir);
    assert!(nr_hugepages() > before);
    signal(child.id(), "-KILL");
    let _ = child.wait();
    // Nothing in the killed process ran: its guardian saw the pipe close.
    wait_for("the guardian restores nr_hugepages after SIGKILL", || {
        nr_hugepages() == before && !state_file().exists()
    });
    // The next run works and leaves it as it was.
    let wl = tiny_workload(&dir, "backends = [\"mock\"]");
    let o = run(&[
        "run",
        wl.to_str().unwrap(),
        "--quiet",
        "--out",
        dir.join("next").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(nr_hugepages(), before);
}

#[test]
fn the_state_file_of_a_dead_run_is_given_back_by_the_next_run() {
    if !global_here("stale") {
        return;
    }
    let _serial = serial();
    let before = nr_hugepages();
    // A run that died with its guardian: one huge page still reserved, the record left.
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let pid = dead.id();
    dead.wait().unwrap();
    std::fs::create_dir_all(STATE_DIR).unwrap();
    let s = State {
        pid,
        old: before,
        set: before + 1,
    };
    std::fs::write(state_file(), s.to_text()).unwrap();
    std::fs::write(NR, format!("{}\n", before + 1)).unwrap();
    let dir = scratch("reclaim-stale");
    let wl = tiny_workload(&dir, "backends = [\"mock\"]");
    let o = run(&[
        "run",
        wl.to_str().unwrap(),
        "--quiet",
        "--out",
        dir.join("next").to_str().unwrap(),
    ]);
    let now = nr_hugepages();
    if now != before {
        // Leave the machine as it was even when the assertion below fails.
        std::fs::write(NR, format!("{before}\n")).unwrap();
    }
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(now, before, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("gave back the huge pages reserved by faultline process"),
        "{err}"
    );
    assert!(!state_file().exists());
}
