//! The fixmap: compile-time virtual addresses for things that must be
//! reachable before the linear map and vmalloc exist.
//!
//! Its tables (`BM_PUD`, `BM_PMD`, `BM_PTE`) are static, inside the image;
//! `early_fixmap_init` hooks them into the early tables through
//! `__pa_symbol`, and `paging_init` hooks the same tables into
//! `swapper_pg_dir`. The top 2 MiB holds 4 KiB slots ([`FixSlot`]): the early
//! console and the four windows through which `paging_init` reaches new table
//! pages. Below them, a 4 MiB window maps the device tree with two 2 MiB
//! read-only blocks (Linux's FIX_FDT).

use crate::arch::table::Table;
use crate::early::map_kernel::INIT_PG_DIR;
use crate::image_sym;
use crate::mm::physaddr::{pa_symbol, PhysAddr};
use crate::mm::populate::{__pgd_populate, __pmd_populate, __pud_populate};
use crate::mm::{table_access, tlbflush};
use vakern_mm::dtb::{self, DtbError};
use vakern_mm::layout::{
    self, table_index, FIXADDR_START, FIXADDR_TOP, FIX_FDT_BASE, FIX_SLOTS_BASE, PAGE_SIZE, PMD_SIZE,
};
use vakern_mm::pte::{self, Prot};

/// Level-1 table for the fixmap's level-0 entry.
pub static mut BM_PUD: Table = Table::new();
/// Level-2 table for the fixmap.
pub static mut BM_PMD: Table = Table::new();
/// Level-3 table of the 4 KiB slots.
pub static mut BM_PTE: Table = Table::new();

/// The 4 KiB fixmap slots, counted down from FIXADDR_TOP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum FixSlot {
    /// The early console's UART.
    EarlyCon = 0,
    /// Table windows for `paging_init` (Linux FIX_PGD..FIX_PTE).
    Pgd,
    /// See [`FixSlot::Pgd`].
    Pud,
    /// See [`FixSlot::Pgd`].
    Pmd,
    /// See [`FixSlot::Pgd`].
    Pte,
}

/// Virtual address of a slot.
pub const fn fix_to_virt(slot: FixSlot) -> u64 {
    FIXADDR_TOP - (slot as u64 + 1) * PAGE_SIZE
}

const _: () = assert!(fix_to_virt(FixSlot::Pte) >= FIX_SLOTS_BASE);
const _: () = assert!(FIX_SLOTS_BASE == FIXADDR_TOP - layout::FIX_SLOTS_SIZE);

fn bm(t: *mut Table) -> *mut u64 {
    t as *mut u64
}

/// Hook the fixmap tables into the early tables (`INIT_PG_DIR`). Before the
/// linear map exists the static tables are named by `__pa_symbol`.
pub fn early_fixmap_init() {
    // SAFETY: single CPU, early boot; the tables are in the image's .bss,
    // mapped read-write at their image addresses.
    unsafe {
        let pgd = bm(&raw mut INIT_PG_DIR);
        __pgd_populate(pgd.add(table_index(FIXADDR_START, 0)), pa_symbol(image_sym!(BM_PUD)));
        hook_lower_levels();
    }
    tlbflush::sync_tables();
}

/// The fixmap's level-1 -> level-2 -> level-3 links (shared by every root).
unsafe fn hook_lower_levels() {
    // SAFETY: as in `early_fixmap_init`.
    unsafe {
        __pud_populate(bm(&raw mut BM_PUD).add(table_index(FIXADDR_START, 1)), pa_symbol(image_sym!(BM_PMD)));
        __pmd_populate(bm(&raw mut BM_PMD).add(table_index(FIX_SLOTS_BASE, 2)), pa_symbol(image_sym!(BM_PTE)));
    }
}

/// Hook the fixmap into the final root table `pgd` (by physical address,
/// reached through `tables`).
pub fn fixmap_link(tables: &mut table_access::FixmapTables, pgd: PhysAddr) {
    use vakern_mm::pgtable::TableAccess;
    let pud = pa_symbol(image_sym!(BM_PUD));
    tables.populate(pgd, table_index(FIXADDR_START, 0), 0, pud);
}

/// Map `pa` at `slot` with `prot`.
pub fn set_fixmap(slot: FixSlot, pa: PhysAddr, prot: Prot) {
    let va = fix_to_virt(slot);
    // SAFETY: BM_PTE is the live level-3 table of the fixmap slots.
    unsafe {
        let p = bm(&raw mut BM_PTE).add(table_index(va, 3));
        let old = p.read_volatile();
        p.write_volatile(pte::leaf_desc(pa.0, 3, prot));
        if old & pte::VALID != 0 {
            tlbflush::flush_tlb_kernel_page(va);
        } else {
            tlbflush::sync_tables();
        }
    }
}

/// Unmap `slot`.
pub fn clear_fixmap(slot: FixSlot) {
    let va = fix_to_virt(slot);
    // SAFETY: as in `set_fixmap`.
    unsafe { bm(&raw mut BM_PTE).add(table_index(va, 3)).write_volatile(0) };
    tlbflush::flush_tlb_kernel_page(va);
}

/// Map the device tree at `pa` read-only into the FDT window and return its
/// checked bytes. A missing, misaligned or broken blob is an error that names
/// the problem.
pub fn fixmap_remap_fdt(pa: u64) -> Result<&'static [u8], DtbError> {
    if pa == 0 {
        return Err(DtbError::BadLayout("no device tree: x0 was 0 at entry"));
    }
    if !pa.is_multiple_of(8) {
        return Err(DtbError::BadLayout("device tree address is not 8-byte aligned"));
    }
    if pa >= 1 << 48 {
        return Err(DtbError::BadLayout("device tree address beyond the physical address space"));
    }
    let base = layout::align_down(pa, PMD_SIZE);
    // SAFETY: BM_PMD is the live level-2 table of the fixmap; the FDT window
    // entries belong to this function.
    unsafe {
        let pmd = bm(&raw mut BM_PMD);
        for i in 0..2 {
            let va = FIX_FDT_BASE + i * PMD_SIZE;
            let p = pmd.add(table_index(va, 2));
            p.write_volatile(pte::leaf_desc(base + i * PMD_SIZE, 2, Prot::KERNEL_RO));
            tlbflush::flush_tlb_kernel_page(va);
        }
    }
    let va = FIX_FDT_BASE + (pa - base);
    // SAFETY: the window maps 4 MiB from `base`; a header (40 bytes) and then
    // at most 2 MiB (the checked totalsize) fit after `pa`.
    let header = unsafe { core::slice::from_raw_parts(va as *const u8, 40) };
    let total = dtb::header_total_size(header)?;
    // SAFETY: as above.
    Ok(unsafe { core::slice::from_raw_parts(va as *const u8, total) })
}
