//! Boot stage 3b: choose the KASLR offset from the device tree, before
//! relocation (Linux's `kaslr_early`).
//!
//! The seed is `/chosen/kaslr-seed` (wiped after use) or `kaslr_seed=N` in
//! `/chosen/bootargs`; `nokaslr` turns it off. The device tree is reached by
//! adding it to the identity map, and read by `vakern_mm::kaslr::scan`,
//! which checks the whole tree with the same walker as the full parse
//! before it uses anything in it. What was decided is left in [`KASLR_INFO`]
//! for `mm::kaslr` to report after relocation. Runs at the physical address,
//! from `.idmap.text` (see `early/mod.rs` for the rules).

use crate::arch::table::Table;
use vakern_mm::kaslr;
use vakern_mm::layout::{table_index, FIXADDR_START, KIMAGE_VADDR, PMD_SIZE};
use vakern_mm::pte::{self, Prot};

/// KASLR: the image moves in 2 MiB steps inside
/// `[KIMAGE_VADDR, KIMAGE_VADDR + KASLR_WINDOW)`, Linux 4.10's part of the
/// vmalloc area (`vakern_mm::kaslr::position`), never across the span of
/// the one level-2 table the early code maps it with.
pub use vakern_mm::kaslr::KASLR_WINDOW;
// The window stays below the fixmap's level-0 entry, which the early
// tables hook in separately (`mm::fixmap::early_fixmap_init`). Only for the
// geometry the early tables are written for: other flavours stop in the
// boot stub before any of this runs.
const _: () = assert!(
    crate::early::head::TABLES_IMPLEMENTED == 0
        || table_index(KIMAGE_VADDR + KASLR_WINDOW + PMD_SIZE * 2, 0) < table_index(FIXADDR_START, 0)
);

/// What the KASLR decision was, for the boot log: `[offset, source, seed]`
/// with source one of `vakern_mm::kaslr::SOURCE_*`.
#[no_mangle]
pub static mut KASLR_INFO: [u64; 3] = [0; 3];

/// Identity-map tables for reaching the device tree from here: a level-1
/// table (if it lies under another level-0 entry than the image) and two
/// level-2 tables.
pub static mut IDMAP_FDT_PUD: Table = Table::new();
/// See [`IDMAP_FDT_PUD`].
pub static mut IDMAP_FDT_PMD: [Table; 2] = [Table::new(), Table::new()];

/// Map the 4 MiB around `dtb` in the identity map (2 MiB blocks, normal
/// memory), reusing tables the image's identity map already has.
///
/// # Safety
/// Runs with the identity map live, before anything else changes it.
#[link_section = ".idmap.text"]
#[inline(always)]
unsafe fn idmap_fdt(dtb: u64) -> bool {
    let pg_dir = pc_rel!(crate::early::head::IDMAP_PG_DIR) as *mut u64;
    let extra_pud = pc_rel!(IDMAP_FDT_PUD);
    let extra_pmd = pc_rel!(IDMAP_FDT_PMD);
    let attrs = pte::leaf_desc(0, 2, Prot::KERNEL_RW);
    let base = dtb & !(PMD_SIZE - 1);
    let mut used_pmds = 0u64;
    let mut i = 0;
    while i < 2 {
        let block = base + i * PMD_SIZE;
        // SAFETY: the identity map's tables, reached through the identity map.
        unsafe {
            let l0 = pg_dir.add(table_index(block, 0));
            if l0.read_volatile() & 1 == 0 {
                l0.write_volatile(pte::table_desc(extra_pud));
            }
            let pud = (l0.read_volatile() & pte::ADDR_MASK) as *mut u64;
            let l1 = pud.add(table_index(block, 1));
            let d1 = l1.read_volatile();
            if d1 & 1 == 0 {
                if used_pmds == 2 {
                    return false;
                }
                l1.write_volatile(pte::table_desc(extra_pmd + used_pmds * 4096));
                used_pmds += 1;
            } else if d1 & 2 == 0 {
                i += 1;
                continue; // already a block
            }
            let pmd = (l1.read_volatile() & pte::ADDR_MASK) as *mut u64;
            let l2 = pmd.add(table_index(block, 2));
            if l2.read_volatile() & 1 == 0 {
                l2.write_volatile((block & pte::ADDR_MASK) | attrs);
            }
        }
        i += 1;
    }
    // SAFETY: barriers only.
    unsafe { core::arch::asm!("dsb ishst", "isb", options(nostack, preserves_flags)) };
    true
}

/// The KASLR offset for this boot, for an image of `size` bytes loaded
/// `modulo` bytes into its 2 MiB, from `/chosen/kaslr-seed` or
/// `kaslr_seed=N` in `/chosen/bootargs`; 0 with `nokaslr`, without a seed,
/// or without a device tree that passes every check of the walker
/// (`vakern_mm::kaslr::scan`). A seed in the tree is wiped on every path,
/// `nokaslr` included.
///
/// # Safety
/// As [`idmap_fdt`].
#[link_section = ".idmap.text"]
#[inline(always)]
pub unsafe fn kaslr_offset(dtb: u64, size: u64, modulo: u64) -> u64 {
    let info = pc_rel!(KASLR_INFO) as *mut u64;
    // SAFETY: KASLR_INFO is ours, reached through the identity map.
    let set = |offset: u64, source: u64, seed: u64| unsafe {
        info.write_volatile(offset);
        info.add(1).write_volatile(source);
        info.add(2).write_volatile(seed);
        offset
    };
    // SAFETY: forwarded.
    if dtb == 0 || dtb & 7 != 0 || dtb >= 1 << 48 || !unsafe { idmap_fdt(dtb) } {
        return set(0, kaslr::SOURCE_NO_TREE, 0);
    }
    // What is mapped from `dtb` on: up to the end of the second 2 MiB block.
    let window = (dtb & !(PMD_SIZE - 1)) + 2 * PMD_SIZE - dtb;
    // SAFETY: idmap_fdt mapped [dtb, dtb + window) as normal memory; nothing
    // else writes it while the scan reads it.
    let bytes = unsafe { core::slice::from_raw_parts(dtb as *const u8, window as usize) };
    let choice = kaslr::scan(bytes);
    if let Some(off) = choice.seed_offset {
        // Wipe the seed so nothing later can read it, whatever the command
        // line says. Written with the MMU and caches on, through a Normal
        // cacheable mapping, like every later reader: no maintenance needed.
        // SAFETY: the property's 8 bytes inside the checked blob, mapped
        // read-write; the scan's borrow has ended.
        unsafe { core::ptr::write_volatile((dtb + off as u64) as *mut [u8; 8], [0; 8]) };
    }
    match choice.source {
        kaslr::SOURCE_DTB | kaslr::SOURCE_CMDLINE => {
            set(kaslr::offset_for_image(choice.seed, size, modulo), choice.source, choice.seed)
        }
        source => set(0, source, 0),
    }
}
