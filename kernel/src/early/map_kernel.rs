//! Boot stage 3: relocate the image and map it at KIMAGE_VADDR
//! (`early_map_kernel`, called by the boot stub).
//!
//! Called with the MMU on but still running at the physical address,
//! through the identity map: it asks [`kaslr`](crate::early::kaslr) where
//! the image goes, applies the relocations
//! ([`relocate`](crate::early::relocate)), then maps the image with pages
//! (of the flavour's size) and per-section permissions in `INIT_PG_DIR` and
//! below, from the root level down: exactly `[_text, _end)`, no block, so
//! nothing next to the image is mapped whatever the granule. Those
//! tables serve until `paging_init` (`mm/linear_map.rs`) switches to
//! `swapper_pg_dir`. The rules for code here are in `early/mod.rs`.

use crate::arch::sections::{__end_rodata, _end, _etext};
use crate::arch::table::Table;
use crate::early::{kaslr, relocate};
use vakern_mm::kaslr::KASLR_ALIGN;
use vakern_mm::layout::{
    table_index, tables_spanned, IMAGE_LOAD_ALIGN, KIMAGE_VADDR, MAX_IMAGE_SIZE, PAGE_SIZE, PMD_SIZE, ROOT_LEVEL,
};
use vakern_mm::pgtable::ENTRIES;
use vakern_mm::pte::{self, Prot};

/// Number of level-3 tables for the image: as many as the largest image
/// ([`MAX_IMAGE_SIZE`], which linker.ld enforces) at a 2 MiB-aligned
/// address can touch: two, with every granule.
pub const INIT_PTE_TABLES: usize = tables_spanned(MAX_IMAGE_SIZE, IMAGE_LOAD_ALIGN, PMD_SIZE);

/// Root table of the early kernel mapping (TTBR1 from the boot stub on).
/// It is live (empty) from the moment the MMU goes on, before .bss is
/// cleared, so it is one of the early tables the stub zeroes (linker.ld).
#[link_section = ".bss.early_tables"]
pub static mut INIT_PG_DIR: Table = Table::new();
/// Level-1 table covering the image: one with four levels, none with fewer
/// (then the root is the level-1 table, or there is no level 1).
pub static mut INIT_PUD: [Table; (ROOT_LEVEL == 0) as usize] = [const { Table::new() }; (ROOT_LEVEL == 0) as usize];
/// Level-2 table covering the image: none with two levels, where the root is it.
pub static mut INIT_PMD: [Table; (ROOT_LEVEL < 2) as usize] = [const { Table::new() }; (ROOT_LEVEL < 2) as usize];
/// Level-3 tables mapping the image page by page.
pub static mut INIT_PTE: [Table; INIT_PTE_TABLES] = [const { Table::new() }; INIT_PTE_TABLES];

/// Relocate the image for where it runs and map it high; return
/// `kimage_voffset` (VA - PA of `_text`), or 0 if the image cannot be
/// mapped (a bad relocation, an image too large for the tables; the stub
/// then exits with `EARLY_BOOT_FAILED`).
///
/// # Safety
/// Called once, by the boot stub, with the MMU on through the identity map of
/// the whole image and the init tables zeroed.
#[no_mangle]
#[link_section = ".idmap.text"]
pub unsafe extern "C" fn early_map_kernel(pa_text: u64, dtb: u64) -> u64 {
    // Where the image runs: KIMAGE_VADDR, plus the KASLR offset, plus the
    // load address modulo 2 MiB (whatever the page size: the boot protocol
    // loads at 2 MiB alignment, and the page offsets then agree).
    // Running at the physical address, PC-relative addressing yields
    // physical addresses.
    let (pa_etext, pa_rodata_end, pa_end) = (pc_rel!(_etext), pc_rel!(__end_rodata), pc_rel!(_end));
    let modulo = pa_text & (KASLR_ALIGN - 1);
    // SAFETY: called once, with the identity map live.
    let kaslr = unsafe { kaslr::kaslr_offset(dtb, pa_end - pa_text, modulo) };
    let va_text = KIMAGE_VADDR + kaslr + modulo;
    let delta = va_text.wrapping_sub(KIMAGE_VADDR);

    // 1. Apply the relocations.
    // SAFETY: once, with the identity map live.
    if !unsafe { relocate::relocate(pa_text, delta) } {
        return 0;
    }

    // 2. Map [_text, _end) page by page with per-section permissions.
    // The chain from the root to the level-2 table holds only the levels
    // the flavour has: root (level 0) -> L1 -> L2 with four, root (L1) ->
    // L2 with three, and the root is the L2 table with two.
    let pg_dir = pc_rel!(INIT_PG_DIR) as *mut u64;
    let pud = if ROOT_LEVEL == 0 { pc_rel!(INIT_PUD) as *mut u64 } else { pg_dir };
    let pmd = if ROOT_LEVEL < 2 { pc_rel!(INIT_PMD) as *mut u64 } else { pg_dir };
    let ptes = pc_rel!(INIT_PTE) as *mut u64;
    // SAFETY: the tables are zeroed by the stub (or by the .bss clear before
    // this call), reachable through the idmap; nothing links them yet.
    unsafe {
        if ROOT_LEVEL == 0 {
            pg_dir.add(table_index(va_text, 0)).write_volatile(pte::table_desc(pud as u64));
        }
        if ROOT_LEVEL < 2 {
            pud.add(table_index(va_text, 1)).write_volatile(pte::table_desc(pmd as u64));
        }
    }
    let size = pa_end - pa_text;
    let mut off = 0;
    while off < size {
        let va = va_text + off;
        let pa = pa_text + off;
        let prot = if pa < pa_etext {
            Prot::KERNEL_ROX
        } else if pa < pa_rodata_end {
            Prot::KERNEL_RO
        } else {
            Prot::KERNEL_RW
        };
        // Which of the level-3 tables: counted from the image's first PMD_SIZE.
        let n = ((va / PMD_SIZE) - (va_text / PMD_SIZE)) as usize;
        if n >= INIT_PTE_TABLES {
            return 0;
        }
        // SAFETY: as above; n and the indexes are in range.
        unsafe {
            let pte_table = ptes.add(n * ENTRIES);
            pmd.add(table_index(va, 2)).write_volatile(pte::table_desc(pte_table as u64));
            pte_table.add(table_index(va, 3)).write_volatile(pte::leaf_desc(pa, 3, prot));
        }
        off += PAGE_SIZE;
    }
    // The entries were invalid before, so no TLB entry can hold them; make
    // the writes visible to the table walker before the jump high.
    // SAFETY: barriers only.
    unsafe { core::arch::asm!("dsb ishst", "isb", options(nostack, preserves_flags)) };
    va_text.wrapping_sub(pa_text)
}
