//! Barriers and TLB maintenance for the kernel's tables (Linux's
//! `tlbflush.h`). Every invalidation is the broadcast, inner-shareable form,
//! so a change made on one CPU reaches them all. Used from the fixmap on,
//! by every mapper and by the self-tests.

/// Make earlier table writes visible to the walker.
#[inline(always)]
pub fn sync_tables() {
    // SAFETY: barriers only.
    unsafe { core::arch::asm!("dsb ishst", "isb", options(nostack, preserves_flags)) };
}

/// Invalidate the TLB entries of one kernel page on all CPUs.
pub fn flush_tlb_kernel_page(va: u64) {
    let arg = (va >> 12) & ((1 << 44) - 1);
    // SAFETY: TLB maintenance only.
    unsafe {
        core::arch::asm!("dsb ishst", "tlbi vaae1is, {0}", "dsb ish", "isb", in(reg) arg, options(nostack, preserves_flags));
    }
}

/// Invalidate all EL1 TLB entries on all CPUs.
pub fn flush_tlb_all() {
    // SAFETY: TLB maintenance only.
    unsafe { core::arch::asm!("dsb ishst", "tlbi vmalle1is", "dsb ish", "isb", options(nostack, preserves_flags)) };
}

/// `dsb ishst`: earlier table writes (a new table's zeroes) reach every
/// table walker before later ones (the link to it).
#[inline(always)]
pub fn dsb_ishst() {
    // SAFETY: a barrier only.
    unsafe { core::arch::asm!("dsb ishst", options(nostack, preserves_flags)) };
}
