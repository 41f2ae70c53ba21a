//! Boot stage 3b: choose the KASLR offset from the device tree, before
//! relocation (Linux's `kaslr_early`).
//!
//! The seed is `/chosen/kaslr-seed` (wiped after use) or `kaslr_seed=N` in
//! `/chosen/bootargs`; `nokaslr` turns it off. The device tree is reached by
//! adding it to the identity map. What was decided is left in [`KASLR_INFO`]
//! for `mm::kaslr` to report after relocation. Runs at the physical address,
//! from `.idmap.text` (see `early/mod.rs` for the rules).

use crate::arch::table::Table;
use vakern_mm::layout::{table_index, KIMAGE_VADDR, PMD_SIZE};
use vakern_mm::pte::{self, Prot};

/// KASLR: the image moves in 2 MiB steps inside
/// `[KIMAGE_VADDR, KIMAGE_VADDR + KASLR_WINDOW)`, inside the vmalloc area and
/// inside the 1 GiB the early level-2 table covers.
pub const KASLR_WINDOW: u64 = 512 << 20;
const _: () = assert!((KIMAGE_VADDR & ((1 << 30) - 1)) + KASLR_WINDOW + (4 << 20) <= 1 << 30);

/// What the KASLR decision was, for the boot log: `[offset, source, seed]`
/// with source 0 = no seed, 1 = /chosen/kaslr-seed, 2 = `kaslr_seed=` on the
/// command line, 3 = `nokaslr`, 4 = no usable device tree.
#[no_mangle]
pub static mut KASLR_INFO: [u64; 3] = [0; 3];

/// Identity-map tables for reaching the device tree from here: a level-1
/// table (if it lies under another level-0 entry than the image) and two
/// level-2 tables.
pub static mut IDMAP_FDT_PUD: Table = Table::new();
/// See [`IDMAP_FDT_PUD`].
pub static mut IDMAP_FDT_PMD: [Table; 2] = [Table::new(), Table::new()];

/// Read a big-endian u32 from the device tree (volatile, so no library call
/// is generated for it).
#[link_section = ".idmap.text"]
#[inline(always)]
fn be32(p: u64) -> u32 {
    // SAFETY: callers only read inside the mapped device tree.
    let b = |i: u64| unsafe { core::ptr::read_volatile((p + i) as *const u8) } as u32;
    (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3)
}

/// True if the NUL-terminated string at `p` equals `want` (byte by byte,
/// volatile: no library call).
#[link_section = ".idmap.text"]
#[inline(always)]
fn str_eq(p: u64, want: &[u8]) -> bool {
    let mut i = 0;
    while i < want.len() {
        // SAFETY: inside the mapped device tree.
        if unsafe { core::ptr::read_volatile((p + i as u64) as *const u8) } != want[i] {
            return false;
        }
        i += 1;
    }
    // SAFETY: as above.
    unsafe { core::ptr::read_volatile((p + want.len() as u64) as *const u8) == 0 }
}

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

/// The KASLR offset for this boot, from `/chosen/kaslr-seed` (wiped after
/// use) or `kaslr_seed=N` in `/chosen/bootargs`; 0 with `nokaslr`, without a
/// seed, or without a usable device tree.
///
/// # Safety
/// As [`idmap_fdt`].
#[link_section = ".idmap.text"]
#[inline(always)]
pub unsafe fn kaslr_offset(dtb: u64) -> u64 {
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
        return set(0, 4, 0);
    }
    if be32(dtb) != 0xd00d_feed || be32(dtb + 4) as u64 > 2 << 20 {
        return set(0, 4, 0);
    }
    let structs = dtb + be32(dtb + 8) as u64;
    let strings = dtb + be32(dtb + 12) as u64;
    let struct_end = structs + be32(dtb + 36) as u64;
    // Walk the structure block for /chosen's properties.
    let (mut p, mut depth, mut in_chosen) = (structs, 0u32, false);
    let (mut seed_at, mut args, mut args_len) = (0u64, 0u64, 0u64);
    while p + 4 <= struct_end {
        match be32(p) {
            1 => {
                // FDT_BEGIN_NODE: name, NUL, padding.
                depth += 1;
                in_chosen = depth == 2 && str_eq(p + 4, b"chosen");
                let mut q = p + 4;
                // SAFETY: inside the mapped device tree.
                while q < struct_end && unsafe { core::ptr::read_volatile(q as *const u8) } != 0 {
                    q += 1;
                }
                p = (q + 1 + 3) & !3;
            }
            2 => {
                depth = depth.saturating_sub(1);
                in_chosen = false;
                p += 4;
            }
            3 => {
                let len = be32(p + 4) as u64;
                let name = strings + be32(p + 8) as u64;
                if in_chosen && len == 8 && str_eq(name, b"kaslr-seed") {
                    seed_at = p + 12;
                } else if in_chosen && str_eq(name, b"bootargs") {
                    (args, args_len) = (p + 12, len);
                }
                p = (p + 12 + len + 3) & !3;
            }
            4 => p += 4,
            _ => break,
        }
    }
    // The command line: `nokaslr` and `kaslr_seed=` as whole words.
    let mut i = 0;
    let mut cmdline_seed = None;
    while i < args_len {
        // SAFETY: inside bootargs.
        let at = |k: u64| unsafe { core::ptr::read_volatile((args + k) as *const u8) };
        if i == 0 || at(i - 1) == b' ' {
            let word_is = |w: &[u8]| {
                let mut k = 0;
                while k < w.len() {
                    if i + (k as u64) >= args_len || at(i + k as u64) != w[k] {
                        return false;
                    }
                    k += 1;
                }
                true
            };
            if word_is(b"nokaslr") {
                let next = if i + 7 < args_len { at(i + 7) } else { 0 };
                if next == b' ' || next == 0 {
                    return set(0, 3, 0);
                }
            }
            if word_is(b"kaslr_seed=") {
                let mut v = 0u64;
                let mut k = i + 11;
                while k < args_len && at(k).is_ascii_digit() {
                    v = v.wrapping_mul(10).wrapping_add((at(k) - b'0') as u64);
                    k += 1;
                }
                cmdline_seed = Some(v);
            }
        }
        i += 1;
    }
    let (seed, source) = match cmdline_seed {
        Some(s) => (s, 2),
        None if seed_at != 0 => {
            let s = ((be32(seed_at) as u64) << 32) | be32(seed_at + 4) as u64;
            // Wipe the seed so nothing later can read it.
            // SAFETY: the property's 8 bytes, mapped read-write.
            unsafe { core::ptr::write_volatile(seed_at as *mut u64, 0) };
            (s, 1)
        }
        None => return set(0, 0, 0),
    };
    // Spread the seed's bits before taking the slot.
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    x = (x ^ (x >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 29;
    let slots = KASLR_WINDOW / PMD_SIZE;
    set((x % slots) * PMD_SIZE, source, seed)
}
