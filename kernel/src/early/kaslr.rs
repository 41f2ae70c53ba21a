//! Boot stage 3b: choose the KASLR offset from the device tree, before
//! relocation (Linux's `kaslr_early`).
//!
//! The seed is `/chosen/kaslr-seed` (wiped after use) or `kaslr_seed=N` in
//! `/chosen/bootargs`; `nokaslr` turns it off. The device tree is reached by
//! adding it to the identity map with the image's granularity (2 MiB blocks
//! with 4K pages, pages with 16K and 64K): its header first, then as far
//! as its `totalsize` reaches, no further. It is read by `vakern_mm::kaslr::scan`,
//! which checks the whole tree with the same walker as the full parse
//! before it uses anything in it. What was decided is left in [`KASLR_INFO`]
//! for `mm::kaslr` to report after relocation. Runs at the physical address,
//! from `.idmap.text` (see `early/mod.rs` for the rules).

use crate::arch::table::Table;
use vakern_mm::layout::{
    align_down, align_up, table_index, tables_spanned, FIXADDR_START, KIMAGE_VADDR, MAX_FDT_SIZE, PAGE_SIZE, PMD_SIZE,
    PUD_SIZE, ROOT_LEVEL, SWAPPER_BLOCK_SIZE, SWAPPER_LEAF_LEVEL, VA_BITS_MIN,
};
use vakern_mm::pte::{self, Prot};
use vakern_mm::{dtb, kaslr};

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
/// levels the image's identity map may not share with it: a level-1 table
/// (with four levels, if the tree lies under another root entry than the
/// image), level-2 tables (none with two levels: the root is one) and,
/// with 16K and 64K pages, where the tree is mapped page by page,
/// level-3 tables; each as many as a tree of [`MAX_FDT_SIZE`] at any page
/// can straddle.
const FDT_PUDS: usize = (ROOT_LEVEL == 0) as usize;
/// See [`FDT_PUDS`].
const FDT_PMDS: usize = if ROOT_LEVEL < 2 { tables_spanned(MAX_FDT_SIZE + PAGE_SIZE, PAGE_SIZE, PUD_SIZE) } else { 0 };
/// See [`FDT_PUDS`].
const FDT_PTES: usize =
    if SWAPPER_LEAF_LEVEL == 3 { tables_spanned(MAX_FDT_SIZE + PAGE_SIZE, PAGE_SIZE, PMD_SIZE) } else { 0 };
/// See [`FDT_PUDS`].
pub static mut IDMAP_FDT_PUD: [Table; FDT_PUDS] = [const { Table::new() }; FDT_PUDS];
/// See [`FDT_PUDS`].
pub static mut IDMAP_FDT_PMD: [Table; FDT_PMDS] = [const { Table::new() }; FDT_PMDS];
/// See [`FDT_PUDS`].
pub static mut IDMAP_FDT_PTE: [Table; FDT_PTES] = [const { Table::new() }; FDT_PTES];

/// The device tree's tables handed out so far, per level below the root.
struct Pools {
    used: [usize; 3],
}

impl Pools {
    /// A fresh table for `level` (1, 2 or 3), or `None` when the level's
    /// pool is spent (cannot happen for a tree of at most `MAX_FDT_SIZE`).
    #[link_section = ".idmap.text"]
    #[inline(always)]
    fn take(&mut self, level: u32) -> Option<u64> {
        let (base, cap, used) = match level {
            1 => (pc_rel!(IDMAP_FDT_PUD), FDT_PUDS, &mut self.used[0]),
            2 => (pc_rel!(IDMAP_FDT_PMD), FDT_PMDS, &mut self.used[1]),
            _ => (pc_rel!(IDMAP_FDT_PTE), FDT_PTES, &mut self.used[2]),
        };
        if *used >= cap {
            return None;
        }
        *used += 1;
        Some(base + (*used as u64 - 1) * PAGE_SIZE)
    }
}

/// Map `[start, end)` of the device tree in the identity map, rounded out
/// to what the image's identity map uses ([`SWAPPER_BLOCK_SIZE`]: 2 MiB
/// level-2 blocks with 4K pages, pages with 16K and 64K ones), as normal
/// read-write memory. Tables the image's identity map already has are
/// shared; new ones come from `pools`. An entry that is already valid (a
/// block or page of the image) is left as it is.
///
/// # Safety
/// Runs with the identity map live, before anything else changes it.
#[link_section = ".idmap.text"]
#[inline(always)]
unsafe fn idmap_fdt(start: u64, end: u64, pools: &mut Pools) -> bool {
    let root = pc_rel!(crate::early::head::IDMAP_PG_DIR) as *mut u64;
    let attrs = pte::leaf_desc(0, SWAPPER_LEAF_LEVEL, Prot::KERNEL_RW);
    // Rule: a new table's zeroes (the .bss clear) reach the walker before
    // the link to it.
    // SAFETY: a barrier only.
    unsafe { core::arch::asm!("dsb ishst", options(nostack, preserves_flags)) };
    let mut at = align_down(start, SWAPPER_BLOCK_SIZE);
    while at < end {
        // SAFETY: the identity map's tables, reached through the identity map;
        // the indexes are in range and the pools are checked before use.
        unsafe {
            let mut table = root;
            let mut level = ROOT_LEVEL;
            let mut mapped = false;
            while level < SWAPPER_LEAF_LEVEL {
                let e = table.add(table_index(at, level));
                let d = e.read_volatile();
                if d & 1 == 0 {
                    let Some(new) = pools.take(level + 1) else { return false };
                    e.write_volatile(pte::table_desc(new));
                } else if d & 2 == 0 {
                    mapped = true; // already a block
                    break;
                }
                table = (e.read_volatile() & pte::ADDR_MASK) as *mut u64;
                level += 1;
            }
            let leaf = table.add(table_index(at, SWAPPER_LEAF_LEVEL));
            if !mapped && leaf.read_volatile() & 1 == 0 {
                leaf.write_volatile((at & pte::ADDR_MASK) | attrs);
            }
        }
        at += SWAPPER_BLOCK_SIZE;
    }
    // SAFETY: barriers only.
    unsafe { core::arch::asm!("dsb ishst", "isb", options(nostack, preserves_flags)) };
    true
}

/// Map the device tree at `dtb` in the identity map and return its size:
/// first the blocks or pages holding its header, then, once `totalsize`
/// has been read and checked (at most [`MAX_FDT_SIZE`]), those holding the
/// rest. `None` if there is no usable tree there or it cannot be mapped.
///
/// # Safety
/// As [`idmap_fdt`].
#[link_section = ".idmap.text"]
#[inline(always)]
unsafe fn map_fdt(dtb: u64) -> Option<usize> {
    // The identity map reaches only PAs below 2^VA_BITS_MIN (T0SZ).
    let limit = 1u64 << VA_BITS_MIN;
    if dtb == 0 || dtb & 7 != 0 || dtb >= limit || align_up(dtb + MAX_FDT_SIZE, SWAPPER_BLOCK_SIZE) > limit {
        return None;
    }
    let mut pools = Pools { used: [0; 3] };
    // Magic and totalsize: the first 8 bytes, inside one page (8-byte aligned).
    // SAFETY: forwarded.
    if !unsafe { idmap_fdt(dtb, dtb + 8, &mut pools) } {
        return None;
    }
    // SAFETY: [dtb, dtb + 8) was just mapped as normal memory.
    let head = unsafe { core::slice::from_raw_parts(dtb as *const u8, 8) };
    let total = dtb::header_total_size(head).ok()?;
    // SAFETY: forwarded; totalsize is at most MAX_FDT_SIZE, checked above.
    if !unsafe { idmap_fdt(dtb, dtb + total as u64, &mut pools) } {
        return None;
    }
    Some(total)
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
    let Some(total) = (unsafe { map_fdt(dtb) }) else {
        return set(0, kaslr::SOURCE_NO_TREE, 0);
    };
    // SAFETY: map_fdt mapped [dtb, dtb + total) as normal memory; nothing
    // else writes it while the scan reads it.
    let bytes = unsafe { core::slice::from_raw_parts(dtb as *const u8, total) };
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
