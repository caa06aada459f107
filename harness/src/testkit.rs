//! For tests (unit and integration): a skip for a missing capability that
//! `FAULTLINE_REQUIRE` can turn into a failure. Not part of the tool's behaviour.
//!
//! `FAULTLINE_REQUIRE` is `all` or a comma-separated list of capabilities: backend kinds
//! or specs (`direct`, `uring`, `bufferpool`, `mmap:lock`, `hugepage`, `fio`), probes and
//! environment controls (`cgroup`, `zram`, `blkio`, `fuse`, `tracefs`, `perf`, `global-reclaim`), or `root`, `tmpfs`,
//! `pageflags`. A test that cannot run for a capability the list names fails instead of
//! passing with a printed "SKIPPED". `.ci/run` sets it on a root CI machine.

/// The environment variable that turns a skip into a failure.
pub const REQUIRE: &str = "FAULTLINE_REQUIRE";

/// True when `FAULTLINE_REQUIRE` is `all` or names `capability`.
pub fn required(capability: &str) -> bool {
    let Ok(list) = std::env::var(REQUIRE) else {
        return false;
    };
    list.split(',')
        .map(str::trim)
        .any(|c| c == "all" || c == capability)
}

/// A test (or part of one) cannot run because `capability` is missing here: print why,
/// and panic when `FAULTLINE_REQUIRE` says this machine must have it.
pub fn skip(capability: &str, reason: &str) {
    eprintln!("SKIPPED ({capability}): {reason}");
    assert!(
        !required(capability),
        "{REQUIRE} requires `{capability}`, but it was skipped: {reason}"
    );
}
