//! KASLR: where the image went, as decided by the early code
//! (`early::kaslr::kaslr_offset`, before relocation) from `/chosen/kaslr-seed` or
//! `kaslr_seed=N` on the command line, and turned off by `nokaslr`. The image
//! moves in 2 MiB steps inside `[KIMAGE_VADDR, KIMAGE_VADDR + KASLR_WINDOW)`
//! (64 TiB with 48-bit VAs, Linux 4.10's `2^(VA_BITS - 2)`).

use crate::early::kaslr::{KASLR_INFO, KASLR_WINDOW};
use crate::pr_info;
use vakern_mm::fmt::{Addr, Size};
use vakern_mm::kaslr;
use vakern_mm::layout::KIMAGE_VADDR;

/// (offset, source, seed) as the early code left them.
pub fn info() -> (u64, u64, u64) {
    // SAFETY: written once before relocation, only read afterwards.
    let i = unsafe { core::ptr::read_volatile(&raw const KASLR_INFO) };
    (i[0], i[1], i[2])
}

/// The offset of the image from KIMAGE_VADDR (without the load address's
/// offset inside its 2 MiB).
pub fn offset() -> u64 {
    info().0
}

/// Say where the image went and why.
pub fn report() {
    let (offset, source, seed) = info();
    let why = match source {
        kaslr::SOURCE_DTB => "seed from /chosen/kaslr-seed (wiped from the device tree)",
        kaslr::SOURCE_CMDLINE => "seed from kaslr_seed= on the command line",
        kaslr::SOURCE_DISABLED => "disabled by nokaslr",
        kaslr::SOURCE_NO_TREE => "no usable device tree",
        _ => "no seed in the device tree",
    };
    if offset != 0 || source == kaslr::SOURCE_DTB || source == kaslr::SOURCE_CMDLINE {
        pr_info!(
            "KASLR: image at KIMAGE_VADDR + {:#x} = {} ({}, seed {:#x}; window {})",
            offset,
            Addr(KIMAGE_VADDR + offset),
            why,
            seed,
            Size(KASLR_WINDOW)
        );
    } else {
        pr_info!("KASLR: off ({}); image at KIMAGE_VADDR {}", why, Addr(KIMAGE_VADDR));
    }
}

/// `/chosen/kaslr-seed` as the device-tree parser saw it after the early
/// code used it (it must read as zero then).
pub static SEED_IN_DTB_AFTER: spin::Once<Option<u64>> = spin::Once::new();
