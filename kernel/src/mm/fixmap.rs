//! The fixmap: compile-time virtual addresses for things that must be
//! reachable before the linear map and vmalloc exist.
//!
//! Its tables (`BM_PUD`, `BM_PMD`, `BM_PTE`, as many of them as the
//! flavour has levels below the root) are static, inside the image;
//! `early_fixmap_init` hooks them into the early tables through
//! `__pa_symbol`, and `paging_init` hooks the same tables into
//! `swapper_pg_dir`. The top 2 MiB holds page-sized slots ([`FixSlot`]): the
//! early console and the four windows through which `paging_init` reaches
//! new table pages. Below them, a 4 MiB window maps the device tree
//! read-only (Linux's FIX_FDT): with 2 MiB blocks with 4 KiB pages, with
//! pages from the slots' level-3 table with 16 and 64 KiB pages, whose
//! level-2 blocks are far larger than the window; in either case only the
//! blocks or pages that hold the tree (its header, then up to its
//! `totalsize`), never the whole window.

use crate::arch::table::Table;
use crate::early::map_kernel::INIT_PG_DIR;
use crate::image_sym;
use crate::mm::physaddr::{self, pa_symbol, PhysAddr};
use crate::mm::populate::populate_phys;
use crate::mm::{debug_pgtable, table_access, tlbflush};
use vakern_mm::dtb::{self, DtbError};
use vakern_mm::layout::{
    self, table_index, ACTIVE, FIXADDR_START, FIXADDR_TOP, FIX_FDT_BASE, FIX_FDT_SIZE, FIX_SLOTS_BASE, PAGE_SIZE,
    PMD_SIZE, ROOT_LEVEL,
};
use vakern_mm::pte::{self, Prot};

/// Level-1 table for the fixmap's root entry: one with four levels, none
/// with fewer (the root is the level-1 table, or there is none).
pub static mut BM_PUD: [Table; (ROOT_LEVEL == 0) as usize] = [const { Table::new() }; (ROOT_LEVEL == 0) as usize];
/// Level-2 table for the fixmap: none with two levels (the root is it).
pub static mut BM_PMD: [Table; (ROOT_LEVEL < 2) as usize] = [const { Table::new() }; (ROOT_LEVEL < 2) as usize];
/// Level-3 table of the page-sized slots.
pub static mut BM_PTE: Table = Table::new();

/// The page-sized fixmap slots, counted down from FIXADDR_TOP.
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

/// The fixmap's static table at `level` (below the root), by image address.
fn bm_table(level: u32) -> *mut u64 {
    match level {
        1 => &raw mut BM_PUD as *mut u64,
        2 => &raw mut BM_PMD as *mut u64,
        _ => bm(&raw mut BM_PTE),
    }
}

/// The physical address of the fixmap's static table at `level`.
fn bm_table_pa(level: u32) -> PhysAddr {
    match level {
        1 => pa_symbol(image_sym!(BM_PUD)),
        2 => pa_symbol(image_sym!(BM_PMD)),
        _ => pa_symbol(image_sym!(BM_PTE)),
    }
}

/// Which address of the fixmap each static table's link is made for: the
/// whole fixmap lies under one level-1 entry, and the slots under one
/// level-2 entry (checked for every flavour in `vakern_mm::flavour`).
const fn link_va(level: u32) -> u64 {
    if level >= 2 {
        FIX_SLOTS_BASE
    } else {
        FIXADDR_START
    }
}

/// Hook the fixmap tables into the early tables (`INIT_PG_DIR`). Before the
/// linear map exists the static tables are named by `__pa_symbol`.
///
/// The walk from the root goes through tables that are already there (with
/// 16 KiB pages and 48-bit VAs the root has two entries, and the image's
/// entry is the fixmap's too) and links the fixmap's own table at the
/// first level whose entry is free, as Linux's `early_fixmap_init` does.
pub fn early_fixmap_init() {
    // SAFETY: single CPU, early boot; the tables (the fixmap's and the
    // early ones) are in the image's .bss, mapped read-write at their image
    // addresses.
    unsafe {
        hook_lower_levels();
        let mut table = bm(&raw mut INIT_PG_DIR);
        for level in ROOT_LEVEL..3 {
            let entry = table.add(table_index(link_va(level), level));
            let d = entry.read_volatile();
            if level < 2 && pte::kind(d, level) == pte::Kind::Table {
                table = physaddr::phys_to_kimg(pte::desc_addr(d)) as *mut u64;
                continue;
            }
            assert!(d & pte::VALID == 0, "fixmap: level {level} entry for it already in use: {d:#018x}");
            populate_phys(level, entry, bm_table_pa(level + 1));
            break;
        }
    }
    tlbflush::sync_tables();
}

/// The fixmap's links below the root, down to the level-3 table (shared by
/// every root): level 1 -> level 2 -> level 3 with four levels, fewer with
/// fewer.
unsafe fn hook_lower_levels() {
    for level in (ROOT_LEVEL..3).skip(1) {
        // SAFETY: as in `early_fixmap_init`.
        unsafe {
            let entry = bm_table(level).add(table_index(link_va(level), level));
            populate_phys(level, entry, bm_table_pa(level + 1));
        }
    }
}

/// Hook the fixmap into the final root table `pgd` (by physical address,
/// reached through `tables`): through the tables already there, then the
/// fixmap's own table at the first free entry, as in [`early_fixmap_init`].
pub fn fixmap_link(tables: &mut table_access::FixmapTables, pgd: PhysAddr) {
    use vakern_mm::pgtable::TableAccess;
    let mut table = pgd;
    for level in ROOT_LEVEL..3 {
        let idx = table_index(link_va(level), level);
        let d = tables.read(table, idx);
        if level < 2 && pte::kind(d, level) == pte::Kind::Table {
            table = tables.table_at(pte::desc_addr(d), level + 1);
            continue;
        }
        assert!(d & pte::VALID == 0, "fixmap: level {level} entry for it already in use: {d:#018x}");
        tables.populate(table, idx, level, bm_table_pa(level + 1));
        return;
    }
}

/// Write `new` into the live descriptor `p`, which maps `va`,
/// break-before-make. Rule (Arm ARM, "break-before-make"): the output
/// address (or size) of a valid entry is never changed in place, or a TLB
/// could hold the old and the new translation at once. A valid entry that
/// differs is made invalid, its TLB entries are invalidated on every CPU
/// (`dsb ishst` so the walker sees the invalid entry, `tlbi vaae1is`, then
/// `dsb ish` + `isb` to wait for it), and only then is the new one written
/// and made visible (`dsb ishst` + `isb`).
///
/// # Safety
/// `p` is a descriptor of a live table of the fixmap, mapping `va`.
#[track_caller]
unsafe fn bbm_write(p: *mut u64, va: u64, level: u32, new: u64) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let old = p.read_volatile();
        if old == new {
            return;
        }
        if old & pte::VALID != 0 {
            debug_pgtable::write(p, va, level, 0);
            tlbflush::flush_tlb_kernel_page(va);
        }
        debug_pgtable::write(p, va, level, new);
    }
    tlbflush::sync_tables();
}

/// Map `pa` at `slot` with `prot` (a slot already in use is broken first).
pub fn set_fixmap(slot: FixSlot, pa: PhysAddr, prot: Prot) {
    let va = fix_to_virt(slot);
    // SAFETY: BM_PTE is the live level-3 table of the fixmap slots.
    unsafe { bbm_write(bm(&raw mut BM_PTE).add(table_index(va, 3)), va, 3, pte::leaf_desc(pa.0, 3, prot)) };
}

/// Unmap `slot`.
pub fn clear_fixmap(slot: FixSlot) {
    let va = fix_to_virt(slot);
    // SAFETY: as in `set_fixmap`.
    unsafe { debug_pgtable::write(bm(&raw mut BM_PTE).add(table_index(va, 3)), va, 3, 0) };
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
    // Blocks or pages, whichever the window is built from; only those that
    // hold the tree are mapped, the rest of the window is left invalid, so
    // nothing past the tree (device registers, or no memory at all) is
    // mapped as normal memory.
    let step = if ACTIVE.fdt_block_mapped() { PMD_SIZE } else { PAGE_SIZE };
    let level = if ACTIVE.fdt_block_mapped() { 2 } else { 3 };
    let base = layout::align_down(pa, step);
    let map_to = |end: u64| {
        // SAFETY: BM_PMD (or BM_PTE) is the live table of the fixmap that
        // holds the FDT window; the window's entries belong to this function.
        unsafe {
            let table = bm_table(level);
            for i in 0..FIX_FDT_SIZE / step {
                let va = FIX_FDT_BASE + i * step;
                let p = table.add(table_index(va, level));
                let new =
                    if base + i * step < end { pte::leaf_desc(base + i * step, level, Prot::KERNEL_RO) } else { 0 };
                bbm_write(p, va, level, new);
            }
        }
    };
    let va = FIX_FDT_BASE + (pa - base);
    // First the magic and totalsize (8 bytes, inside one page: `pa` is 8-byte
    // aligned), then as far as the checked totalsize reaches.
    map_to(pa + 8);
    // SAFETY: just mapped.
    let total = dtb::header_total_size(unsafe { core::slice::from_raw_parts(va as *const u8, 8) })?;
    map_to(pa + total as u64);
    // SAFETY: the window maps [pa, pa + total): at most 2 MiB (the checked
    // totalsize) from any offset into the first block or page, which fits
    // the window's 4 MiB.
    Ok(unsafe { core::slice::from_raw_parts(va as *const u8, total) })
}
