//! Unit tests of the flush claim: policies, books, records, the ring, verification.

use super::verify::verify;
use super::*;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;

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
fn book_flushes_per_policy() {
    let cap = 1 << 30;
    // always: every write; at risk never more than one record.
    let mut b = Book::new(Policy::Always, cap, 0);
    for i in 0..5 {
        assert!(b.wrote(i * 4096, 4096, i * 10));
        b.flushed(i * 10 + 3);
    }
    assert_eq!(b.flushes, 5);
    assert_eq!(b.max_at_risk_bytes, 4096);
    assert_eq!(b.max_unflushed_age_ns, 3);
    // every-writes=3: the third write flushes.
    let mut b = Book::new(Policy::EveryWrites { writes: 3 }, cap, 0);
    assert!(!b.wrote(0, 100, 1));
    assert!(!b.wrote(100, 100, 2));
    assert!(b.wrote(200, 100, 3));
    assert_eq!(b.dirty_span(), Some((0, 300)));
    b.flushed(10);
    assert_eq!(b.max_at_risk_bytes, 300);
    assert_eq!(b.max_unflushed_age_ns, 9);
    assert_eq!(b.dirty_span(), None);
    // every-bytes=250: the third 100-byte write crosses it.
    let mut b = Book::new(Policy::EveryBytes { bytes: 250 }, cap, 0);
    assert!(!b.wrote(0, 100, 1));
    assert!(!b.wrote(100, 100, 2));
    assert!(b.wrote(200, 100, 3));
    // every-ms=5: by time since the last completed flush.
    let mut b = Book::new(Policy::EveryMs { ms: 5 }, cap, 0);
    assert!(!b.wrote(0, 10, 1_000_000));
    assert!(!b.wrote(10, 10, 4_999_999));
    assert!(b.wrote(20, 10, 5_000_000));
    b.flushed(7_000_000);
    assert!(!b.wrote(30, 10, 11_000_000));
    assert!(b.wrote(40, 10, 12_000_000));
    // manual: never; at risk capped at the ring size.
    let mut b = Book::new(Policy::Manual, 1000, 0);
    for i in 0..50 {
        assert!(!b.wrote((i % 10) * 100, 100, i));
    }
    assert_eq!(b.unflushed_bytes, 5000);
    assert_eq!(b.max_at_risk_bytes, 1000);
    assert_eq!(b.dirty_span(), Some((0, 1000)));
    b.flushed(100);
    assert_eq!(b.max_unflushed_age_ns, 100);
    assert_eq!(b.flushes, 1);
}

#[test]
fn records_round_trip_and_detect_damage() {
    let r = Records::new(4096, 77, 1000);
    let mut buf = vec![0u8; 4096];
    r.build(5, &mut buf);
    assert_eq!(r.check(&buf, 5), Ok(()));
    assert!(r.check(&buf, 6).unwrap_err().contains("instead of 6"));
    let mut bad = buf.clone();
    bad[2000] ^= 1;
    assert!(r.check(&bad, 5).unwrap_err().contains("checksum"));
    let other = Records::new(4096, 78, 1000);
    assert!(other.check(&buf, 5).unwrap_err().contains("header"));
    assert!(r.check(&[0u8; 4096], 5).unwrap_err().contains("missing"));
    // Two laps of the same slot carry different payloads.
    let mut next = vec![0u8; 4096];
    r.build(5 + 1000, &mut next);
    assert_ne!(buf[16..4088], next[16..4088]);
    let small = Records::new(32, 1, 7);
    let mut b = vec![0u8; 32];
    small.build(1, &mut b);
    assert_eq!(small.check(&b, 1), Ok(()));
}

#[test]
fn ring_expected_sequence() {
    // 4 slots, 10 records: slots hold 9, 10, 7, 8.
    let got: Vec<u64> = (0..4).map(|k| expected_seq(k, 10, 4)).collect();
    assert_eq!(got, vec![9, 10, 7, 8]);
    assert_eq!(expected_seq(3, 2, 4), 0);
    assert_eq!(expected_seq(1, 2, 4), 2);
    assert_eq!(expected_seq(0, 0, 4), 0);
}

#[test]
fn verify_reads_back_a_ring() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("v");
    let slots = 8;
    let r = Records::new(512, 9, slots);
    std::fs::write(&p, [0u8; 4096]).unwrap();
    let f = OpenOptions::new().write(true).open(&p).unwrap();
    let mut buf = vec![0u8; 512];
    for n in 0..11u64 {
        r.build(n + 1, &mut buf);
        f.write_all_at(&buf, (n % slots) * 512).unwrap();
    }
    f.sync_all().unwrap();
    let v = verify(&p, &r, slots, 11).unwrap();
    assert!(v.passed, "{v:?}");
    assert_eq!(v.ok_records, 8);
    // A stale record in slot 1 (seq 2 where 10 belongs).
    r.build(2, &mut buf);
    f.write_all_at(&buf, 512).unwrap();
    f.sync_all().unwrap();
    let v = verify(&p, &r, slots, 11).unwrap();
    assert!(!v.passed);
    assert_eq!(v.bad_records, 1);
    assert!(v.problems[0].contains("slot 1"), "{:?}", v.problems);
    // Fewer records than slots: the rest must be zeros.
    let v = verify(&p, &r, slots, 3).unwrap();
    assert!(!v.passed, "slots 3.. are not zero");
}
