//! The CPUID instruction (x86_64 only): the hypervisor bit and the hypervisor's vendor
//! leaf for the environment's provenance. Other architectures have no CPUID; the
//! wrapper returns None there and the caller says why.

/// The four registers one CPUID leaf returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Regs {
    pub eax: u32,
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
}

/// CPUID `leaf`, sub-leaf `sub`; None on architectures without the instruction.
#[cfg(target_arch = "x86_64")]
pub fn cpuid(leaf: u32, sub: u32) -> Option<Regs> {
    // SAFETY: every x86_64 CPU implements CPUID (it is part of the x86_64 baseline), so
    // the instruction cannot fault; it only reads identification registers. For leaves
    // above the maximum the CPU returns the data of the highest basic leaf (or, under a
    // hypervisor, zeroes), never an error: callers check the maximum leaf first. Newer
    // Rust made the intrinsic safe; `unused_unsafe` keeps older compilers happy.
    #[allow(unused_unsafe)]
    let r = unsafe { core::arch::x86_64::__cpuid_count(leaf, sub) };
    Some(Regs {
        eax: r.eax,
        ebx: r.ebx,
        ecx: r.ecx,
        edx: r.edx,
    })
}

/// CPUID `leaf`, sub-leaf `sub`; None on architectures without the instruction.
#[cfg(not(target_arch = "x86_64"))]
pub fn cpuid(_leaf: u32, _sub: u32) -> Option<Regs> {
    None
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn leaf_zero_names_a_vendor() {
        let r = super::cpuid(0, 0).unwrap();
        assert!(r.eax >= 1, "every x86_64 CPU has leaf 1");
        let mut v = Vec::new();
        for reg in [r.ebx, r.edx, r.ecx] {
            v.extend_from_slice(&reg.to_le_bytes());
        }
        assert!(v.iter().all(|b| b.is_ascii()), "{v:?}");
    }
}
