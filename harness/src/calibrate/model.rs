//! The cost model: from the calibrated primitives, the ceiling of random 4 KiB reads
//! per second per CPU of mmap with MADV_RANDOM under a page-cache limit, and of
//! O_DIRECT, on the emulated device. A ceiling counts only the CPU time of the
//! primitives each read needs, so a measured backend should reach at most about it;
//! the ratio measured / predicted says how much of the time the model explains.
//!
//! * mmap:advice=random, cache full (steady state):
//!   `t = zram_major_fault + page_cache_evict + s x tlb_shootdown`, where `s` is the
//!   number of TLB shootdowns per read (1 unless a run measured it: reclaim batches its
//!   flushes, so 1 is the upper bound for two CPUs).
//! * mmap:advice=random, cache filling (no eviction yet, pages the host must back):
//!   `t = zram_major_fault + max(0, anon_first_touch_fresh - anon_first_touch_recycled)`.
//! * direct (O_DIRECT): `t = direct_4k_zram`.
//!
//! Ceiling per CPU = 1e9 / t reads per second.

use super::Calibration;

/// The formulas, as the report and the docs state them.
pub const MMAP_FORMULA: &str =
    "t = zram_major_fault + page_cache_evict + s x tlb_shootdown (s = TLB shootdowns per read; 1 when not measured)";
pub const MMAP_FILLING_FORMULA: &str =
    "t = zram_major_fault + max(0, anon_first_touch_fresh - anon_first_touch_recycled)";
pub const DIRECT_FORMULA: &str = "t = direct_4k_zram";
pub const CEILING: &str = "ceiling = 1e9 / t reads per second per CPU";

/// One term of a prediction: a primitive's median times how often a read needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub name: String,
    pub times: f64,
    pub ns: f64,
}

/// A predicted cost per read and the terms it is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub formula: &'static str,
    pub terms: Vec<Term>,
    pub ns_per_op: f64,
}

impl Prediction {
    fn of(formula: &'static str, terms: Vec<Term>) -> Result<Prediction, String> {
        let ns: f64 = terms.iter().map(|t| t.times * t.ns).sum();
        if !(ns.is_finite() && ns > 0.0) {
            return Err(format!("the terms add up to {ns} ns per read"));
        }
        Ok(Prediction {
            formula,
            terms,
            ns_per_op: ns,
        })
    }

    /// The ceiling: reads per second one CPU can do.
    pub fn ops_per_sec_per_cpu(&self) -> f64 {
        1e9 / self.ns_per_op
    }

    /// "33.1us x 1 + 3.2us x 1 + ..." with the names.
    pub fn describe(&self) -> String {
        self.terms
            .iter()
            .map(|t| {
                let f = if t.times == 1.0 {
                    String::new()
                } else {
                    format!("{:.3} x ", t.times)
                };
                format!("{f}{} {}", t.name, super::fmt_ns(t.ns))
            })
            .collect::<Vec<_>>()
            .join(" + ")
    }
}

/// The median of `name`, or why the model cannot use it.
fn need(c: &Calibration, name: &str) -> Result<f64, String> {
    match c.get(name) {
        None => Err(format!("the calibration has no {name}")),
        Some(p) => p.ns().ok_or_else(|| {
            format!(
                "{name} was skipped ({})",
                p.skipped.as_deref().unwrap_or("no figure")
            )
        }),
    }
}

fn term(c: &Calibration, name: &str, times: f64) -> Result<Term, String> {
    Ok(Term {
        name: name.into(),
        times,
        ns: need(c, name)?,
    })
}

/// mmap:advice=random with the page cache full: each read faults a page in from the
/// device, evicts one, and pays `shootdowns_per_op` TLB shootdowns (None: 1).
pub fn mmap_random(c: &Calibration, shootdowns_per_op: Option<f64>) -> Result<Prediction, String> {
    let s = shootdowns_per_op
        .filter(|v| v.is_finite() && *v >= 0.0)
        .unwrap_or(1.0);
    Prediction::of(
        MMAP_FORMULA,
        vec![
            term(c, "zram_major_fault", 1.0)?,
            term(c, "page_cache_evict", 1.0)?,
            term(c, "tlb_shootdown", s)?,
        ],
    )
}

/// mmap:advice=random while the page cache fills: a fault per read, on pages the host
/// must back again (the fresh-page penalty over recycled pages), no eviction.
pub fn mmap_random_filling(c: &Calibration) -> Result<Prediction, String> {
    let fresh = need(c, "anon_first_touch_fresh")?;
    let recycled = need(c, "anon_first_touch_recycled")?;
    Prediction::of(
        MMAP_FILLING_FORMULA,
        vec![
            term(c, "zram_major_fault", 1.0)?,
            Term {
                name: "fresh-page penalty".into(),
                times: 1.0,
                ns: (fresh - recycled).max(0.0),
            },
        ],
    )
}

/// O_DIRECT: one 4 KiB read from the device per read.
pub fn direct(c: &Calibration) -> Result<Prediction, String> {
    Prediction::of(DIRECT_FORMULA, vec![term(c, "direct_4k_zram", 1.0)?])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::calibrate::{Primitive, NEEDS_ROOT};

    /// A calibration with these primitives (each measured 5 times at the value given).
    pub(crate) fn cal(prims: &[(&str, f64)]) -> Calibration {
        Calibration {
            tool: "t".into(),
            command: vec![],
            host: None,
            kernel: None,
            cpu_model: None,
            cpus: 2,
            started_at: String::new(),
            finished_at: String::new(),
            quick: false,
            timing: String::new(),
            load_average: vec![],
            primitives: prims
                .iter()
                .map(|(n, v)| Primitive::measured(n, &[*v; 5], "m".into()))
                .collect(),
        }
    }

    #[test]
    fn mmap_ceiling_adds_fault_eviction_and_shootdown() {
        let c = cal(&[
            ("zram_major_fault", 4000.0),
            ("page_cache_evict", 500.0),
            ("tlb_shootdown", 500.0),
        ]);
        let p = mmap_random(&c, None).unwrap();
        assert_eq!(p.ns_per_op, 5000.0);
        assert_eq!(p.ops_per_sec_per_cpu(), 200_000.0);
        let p = mmap_random(&c, Some(0.1)).unwrap();
        assert!((p.ns_per_op - 4550.0).abs() < 1e-9, "{}", p.ns_per_op);
        assert!(
            p.describe().contains("0.100 x tlb_shootdown"),
            "{}",
            p.describe()
        );
        // A nonsensical measured share falls back to 1.
        assert_eq!(mmap_random(&c, Some(f64::NAN)).unwrap().ns_per_op, 5000.0);
    }

    #[test]
    fn direct_and_filling() {
        let c = cal(&[
            ("zram_major_fault", 4000.0),
            ("direct_4k_zram", 2500.0),
            ("anon_first_touch_fresh", 5000.0),
            ("anon_first_touch_recycled", 2000.0),
        ]);
        assert_eq!(direct(&c).unwrap().ops_per_sec_per_cpu(), 400_000.0);
        assert_eq!(mmap_random_filling(&c).unwrap().ns_per_op, 7000.0);
        // Fresh cheaper than recycled (no balloon): no negative penalty.
        let c = cal(&[
            ("zram_major_fault", 4000.0),
            ("anon_first_touch_fresh", 1900.0),
            ("anon_first_touch_recycled", 2000.0),
        ]);
        assert_eq!(mmap_random_filling(&c).unwrap().ns_per_op, 4000.0);
    }

    #[test]
    fn missing_or_skipped_primitives_are_named() {
        let mut c = cal(&[("zram_major_fault", 4000.0)]);
        c.primitives.push(Primitive::skipped(
            "direct_4k_zram",
            NEEDS_ROOT.into(),
            "m".into(),
        ));
        let e = direct(&c).unwrap_err();
        assert!(e.contains("direct_4k_zram was skipped (needs root"), "{e}");
        let e = mmap_random(&c, None).unwrap_err();
        assert!(e.contains("no page_cache_evict"), "{e}");
    }
}
