//! Installing a table in its parent: Linux's `pgd_populate`, `pud_populate`
//! and `pmd_populate_kernel`.
//!
//! The `__`-prefixed forms take the table's physical address; they are for
//! tables that are not in the linear map: the static tables in the kernel
//! image before the linear map exists (their address comes from
//! `__pa_symbol`), and tables reached through the fixmap. The plain forms
//! take the table's *linear* address and store `__pa(table)`, so with
//! `debug_virtual` a table handed over by its image address (instead of
//! `lm_alias(table)`) is reported.
//!
//! Rule (Arm ARM, ordering of table walks; Linux's barrier in `__pte_alloc`
//! and `set_pmd`): a new table's contents (its zeroes, or entries already
//! written) must be visible to every walker before the entry that links it
//! is. So each link is `dsb ishst`, the store, then `dsb ishst` + `isb` so
//! that this CPU's walker sees it before the next access through it.

use crate::mm::debug_pgtable;
use crate::mm::physaddr::{self, PhysAddr, VirtAddr};
use vakern_mm::pte;

/// Link the table at physical address `table` from the live entry `entry`
/// at `level`: store barrier, the store, store barrier and `isb`.
///
/// # Safety
/// `entry` is a descriptor at `level` of a live table.
#[track_caller]
#[inline]
unsafe fn link(entry: *mut u64, level: u32, table: u64) {
    // SAFETY: barriers only; then the caller's entry.
    unsafe {
        // Rule: the new table's contents before the link to it.
        core::arch::asm!("dsb ishst", options(nostack, preserves_flags));
        debug_pgtable::write(entry, 0, level, pte::table_desc(table));
        core::arch::asm!("dsb ishst", "isb", options(nostack, preserves_flags));
    }
}

/// Level-0 entry -> level-1 table, by physical address.
///
/// # Safety
/// `pgdp` points to a level-0 descriptor of a live table.
#[track_caller]
pub unsafe fn __pgd_populate(pgdp: *mut u64, pud: PhysAddr) {
    // SAFETY: guaranteed by the caller.
    unsafe { link(pgdp, 0, pud.0) };
}

/// Level-1 entry -> level-2 table, by physical address.
///
/// # Safety
/// `pudp` points to a level-1 descriptor of a live table.
#[track_caller]
pub unsafe fn __pud_populate(pudp: *mut u64, pmd: PhysAddr) {
    // SAFETY: guaranteed by the caller.
    unsafe { link(pudp, 1, pmd.0) };
}

/// Level-2 entry -> level-3 table, by physical address.
///
/// # Safety
/// `pmdp` points to a level-2 descriptor of a live table.
#[track_caller]
pub unsafe fn __pmd_populate(pmdp: *mut u64, pte_table: PhysAddr) {
    // SAFETY: guaranteed by the caller.
    unsafe { link(pmdp, 2, pte_table.0) };
}

/// `pgd_populate`: store `__pa(pud)` in a level-0 entry.
///
/// # Safety
/// As [`__pgd_populate`]; `pud` is a zeroed or valid level-1 table.
#[track_caller]
pub unsafe fn pgd_populate(pgdp: *mut u64, pud: VirtAddr) {
    // SAFETY: forwarded.
    unsafe { __pgd_populate(pgdp, physaddr::virt_to_phys(pud)) }
}

/// `pud_populate`: store `__pa(pmd)` in a level-1 entry.
///
/// # Safety
/// As [`__pud_populate`]; `pmd` is a zeroed or valid level-2 table.
#[track_caller]
pub unsafe fn pud_populate(pudp: *mut u64, pmd: VirtAddr) {
    // SAFETY: forwarded.
    unsafe { __pud_populate(pudp, physaddr::virt_to_phys(pmd)) }
}

/// `pmd_populate_kernel`: store `__pa(pte)` in a level-2 entry.
///
/// # Safety
/// As [`__pmd_populate`]; `pte_table` is a zeroed or valid level-3 table.
#[doc(alias = "pmd_populate_kernel")]
#[track_caller]
pub unsafe fn pmd_populate(pmdp: *mut u64, pte_table: VirtAddr) {
    // SAFETY: forwarded.
    unsafe { __pmd_populate(pmdp, physaddr::virt_to_phys(pte_table)) }
}

/// The populate routine for an entry at `level`, by linear address.
///
/// # Safety
/// `entry` is a descriptor at `level` (0..=2) of a live table.
#[track_caller]
pub unsafe fn populate(level: u32, entry: *mut u64, table: VirtAddr) {
    // SAFETY: forwarded.
    unsafe {
        match level {
            0 => pgd_populate(entry, table),
            1 => pud_populate(entry, table),
            _ => pmd_populate(entry, table),
        }
    }
}

/// The populate routine for an entry at `level`, by physical address.
///
/// # Safety
/// As [`populate`].
#[track_caller]
pub unsafe fn populate_phys(level: u32, entry: *mut u64, table: PhysAddr) {
    // SAFETY: forwarded.
    unsafe {
        match level {
            0 => __pgd_populate(entry, table),
            1 => __pud_populate(entry, table),
            _ => __pmd_populate(entry, table),
        }
    }
}
