//! The CPU's own view of a translation: `AT S1E1R` / `AT S1E1W` walk the
//! live tables in hardware, independent of the kernel's walker. The
//! self-tests compare the two; the monitor shows both.

/// The CPU's own translation of `va` for an EL1 read (`AT S1E1R`), or `None`
/// if it faults.
pub fn at_s1e1r(va: u64) -> Option<u64> {
    let par: u64;
    // SAFETY: address translation only; no memory is accessed.
    unsafe {
        core::arch::asm!("at s1e1r, {va}", "isb", "mrs {par}, par_el1", va = in(reg) va, par = out(reg) par, options(nostack));
    }
    (par & 1 == 0).then_some((par & 0x0000_ffff_ffff_f000) | (va & 0xfff))
}

/// The CPU's translation of `va` for an EL1 write (`AT S1E1W`).
pub fn at_s1e1w(va: u64) -> Option<u64> {
    let par: u64;
    // SAFETY: address translation only.
    unsafe {
        core::arch::asm!("at s1e1w, {va}", "isb", "mrs {par}, par_el1", va = in(reg) va, par = out(reg) par, options(nostack));
    }
    (par & 1 == 0).then_some((par & 0x0000_ffff_ffff_f000) | (va & 0xfff))
}
