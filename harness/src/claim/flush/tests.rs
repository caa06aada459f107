//! Unit tests of the flush claim: policies and their engine sync policies.

use super::*;

#[test]
fn policies_parse_and_name() {
    assert_eq!(Policy::parse("always"), Ok(Policy::Always));
    assert_eq!(Policy::parse("manual"), Ok(Policy::Manual));
    assert_eq!(
        Policy::parse("every-bytes=1MiB"),
        Ok(Policy::EveryBytes { bytes: 1 << 20 })
    );
    assert_eq!(
        Policy::parse("every-writes=16"),
        Ok(Policy::EveryWrites { writes: 16 })
    );
    assert_eq!(
        Policy::parse("every-ms=100"),
        Ok(Policy::EveryMs { ms: 100 })
    );
    for p in default_policies() {
        assert_eq!(Policy::parse(&p.name()), Ok(p));
    }
    assert!(Policy::parse("sometimes")
        .unwrap_err()
        .contains("every-bytes=SIZE"));
    assert!(Policy::parse("every-writes=0")
        .unwrap_err()
        .contains("at least 1"));
    assert!(Policy::parse("every-writes")
        .unwrap_err()
        .contains("needs a value"));
    assert!(Policy::parse("every-bytes=1MB")
        .unwrap_err()
        .contains("MiB"));
    assert!(Policy::parse("always=3").unwrap_err().contains("no value"));
}

#[test]
fn policies_become_the_engines_sync_policies() {
    let r = 4096;
    assert_eq!(Policy::Always.sync(r), SyncPolicy::Every { writes: 1 });
    assert_eq!(
        Policy::EveryWrites { writes: 16 }.sync(r),
        SyncPolicy::Every { writes: 16 }
    );
    // every-bytes: the writes that make up the bytes, at least one.
    assert_eq!(
        Policy::EveryBytes { bytes: 1 << 20 }.sync(r),
        SyncPolicy::Every { writes: 256 }
    );
    assert_eq!(
        Policy::EveryBytes { bytes: 5000 }.sync(r),
        SyncPolicy::Every { writes: 2 }
    );
    assert_eq!(
        Policy::EveryBytes { bytes: 1 }.sync(r),
        SyncPolicy::Every { writes: 1 }
    );
    assert_eq!(
        Policy::EveryMs { ms: 100 }.sync(r),
        SyncPolicy::Interval {
            every: Duration::from_millis(100)
        }
    );
    assert_eq!(Policy::Manual.sync(r), SyncPolicy::End);
    assert_eq!(Method::Mmap.backend(), "mmap");
    assert_eq!(Method::Mmap.sync_method(), SyncMethod::Msync);
    assert_eq!(Method::Pwrite.backend(), "pread");
    assert_eq!(Method::Pwrite.sync_method(), SyncMethod::Fdatasync);
}
