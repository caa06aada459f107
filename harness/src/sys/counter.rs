//! The CPU's free-running counter, read inline in the hot loops (the same reading the
//! `quanta` crate takes and calibrates: rdtsc on x86_64, cntvct_el0 on aarch64).

/// The counter's current value. Only called when `timing::Clock` chose the counter,
/// which it does only on the architectures below.
#[inline(always)]
pub fn read() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc has no preconditions on x86_64 (every x86_64 CPU has it; the
        // clock is chosen only where the CPU reports an invariant counter); it reads a
        // register and touches no memory.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(target_arch = "aarch64")]
    {
        let v: u64;
        // SAFETY: reading the virtual counter register is allowed at EL0 on Linux (the
        // kernel enables it for the vDSO); the instruction touches no memory.
        unsafe {
            core::arch::asm!("mrs {}, cntvct_el0", out(reg) v, options(nomem, nostack));
        }
        v
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        0
    }
}
