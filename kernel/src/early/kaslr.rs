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
use vakern_mm::layout::{
    align_down, align_up, table_index, FIXADDR_START, KIMAGE_VADDR, MAX_FDT_SIZE, PAGE_SIZE, PMD_SIZE, ROOT_LEVEL,
    VA_BITS_MIN,
};
use vakern_mm::pte::{self, Prot};

/// KASLR: the image moves in 2 MiB steps inside
/// `[KIMAGE_VADDR, KIMAGE_VADDR + KASLR_WINDOW)`, Linux 4.10's part of the
/// vmalloc area (`vakern_mm::kaslr::position`), never across the span of
/// the one level-2 table the early code maps it with.
pub use vakern_mm::kaslr::KASLR_WINDOW;
// The window stays below the fixmap's level-2 entries, which the early
// tables hook in separately (`mm::fixmap::early_fixmap_init`; the tables
// above them may be shared).
const _: () = assert!(KIMAGE_VADDR + KASLR_WINDOW + PMD_SIZE * 2 <= align_down(FIXADDR_START, PMD_SIZE));

/// What the KASLR decision was, for the boot log: `[offset, source, seed]`
/// with source one of `vakern_mm::kaslr::SOURCE_*`.
#[no_mangle]
pub static mut KASLR_INFO: [u64; 3] = [0; 3];

/// Identity-map tables for reaching the device tree from here, for the
/// levels between the root and the level-2 blocks: a level-1 table (with
/// four levels, if the tree lies under another root entry than the image)
/// and two level-2 tables (none with two levels: the root holds the blocks).
const FDT_PUDS: usize = (ROOT_LEVEL == 0) as usize;
/// See [`FDT_PUDS`].
const FDT_PMDS: usize = 2 * (ROOT_LEVEL < 2) as usize;
/// See [`FDT_PUDS`].
pub static mut IDMAP_FDT_PUD: [Table; FDT_PUDS] = [const { Table::new() }; FDT_PUDS];
/// See [`FDT_PUDS`].
pub static mut IDMAP_FDT_PMD: [Table; FDT_PMDS] = [const { Table::new() }; FDT_PMDS];

/// End of what [`idmap_fdt`] maps for a tree at `dtb`: the level-2 blocks
/// that hold `[dtb, dtb + MAX_FDT_SIZE)`, and at least two from the one
/// holding `dtb` when blocks are small (2 MiB, with 4 KiB pages).
#[link_section = ".idmap.text"]
#[inline(always)]
const fn fdt_map_end(dtb: u64) -> u64 {
    let base = dtb & !(PMD_SIZE - 1);
    let need = align_up(dtb + MAX_FDT_SIZE, PMD_SIZE);
    let two_small = base + 2 * if PMD_SIZE < MAX_FDT_SIZE { PMD_SIZE } else { MAX_FDT_SIZE };
    if need > two_small {
        need
    } else {
        two_small
    }
}

/// Map the level-2 blocks around `dtb` in the identity map (normal memory;
/// 2 MiB, 32 MiB or 512 MiB each), reusing tables the image's identity map
/// already has and taking new ones from [`IDMAP_FDT_PUD`] and
/// [`IDMAP_FDT_PMD`].
///
/// # Safety
/// Runs with the identity map live, before anything else changes it.
#[link_section = ".idmap.text"]
#[inline(always)]
unsafe fn idmap_fdt(dtb: u64) -> bool {
    let root = pc_rel!(crate::early::head::IDMAP_PG_DIR) as *mut u64;
    let extra_pud = pc_rel!(IDMAP_FDT_PUD);
    let extra_pmd = pc_rel!(IDMAP_FDT_PMD);
    let attrs = pte::leaf_desc(0, 2, Prot::KERNEL_RW);
    let (mut used_puds, mut used_pmds) = (0usize, 0usize);
    // Rule: a new table's zeroes (the .bss clear) reach the walker before
    // the link to it.
    // SAFETY: a barrier only.
    unsafe { core::arch::asm!("dsb ishst", options(nostack, preserves_flags)) };
    let end = fdt_map_end(dtb);
    let mut block = dtb & !(PMD_SIZE - 1);
    while block < end {
        // SAFETY: the identity map's tables, reached through the identity map;
        // the indexes are in range and the pools are checked before use.
        unsafe {
            let mut table = root;
            let mut level = ROOT_LEVEL;
            let mut mapped = false;
            while level < 2 {
                let e = table.add(table_index(block, level));
                let d = e.read_volatile();
                if d & 1 == 0 {
                    let new = if level == 0 {
                        if used_puds == FDT_PUDS {
                            return false;
                        }
                        used_puds += 1;
                        extra_pud + (used_puds as u64 - 1) * PAGE_SIZE
                    } else {
                        if used_pmds == FDT_PMDS {
                            return false;
                        }
                        used_pmds += 1;
                        extra_pmd + (used_pmds as u64 - 1) * PAGE_SIZE
                    };
                    e.write_volatile(pte::table_desc(new));
                } else if d & 2 == 0 {
                    mapped = true; // already a block
                    break;
                }
                table = (e.read_volatile() & pte::ADDR_MASK) as *mut u64;
                level += 1;
            }
            let l2 = table.add(table_index(block, 2));
            if !mapped && l2.read_volatile() & 1 == 0 {
                l2.write_volatile((block & pte::ADDR_MASK) | attrs);
            }
        }
        block += PMD_SIZE;
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
    // The identity map reaches only PAs below 2^VA_BITS_MIN (T0SZ).
    if dtb == 0
        || dtb & 7 != 0
        || dtb >= 1 << VA_BITS_MIN
        || fdt_map_end(dtb) > 1 << VA_BITS_MIN
        || !unsafe { idmap_fdt(dtb) }
    {
        return set(0, kaslr::SOURCE_NO_TREE, 0);
    }
    // What is mapped from `dtb` on: up to the end of the blocks, at most
    // twice the largest tree.
    let mapped = fdt_map_end(dtb) - dtb;
    let window = if mapped < 2 * MAX_FDT_SIZE { mapped } else { 2 * MAX_FDT_SIZE };
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
