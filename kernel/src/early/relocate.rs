//! Boot stage 3a: apply the image's own dynamic relocations, before
//! anything reads a pointer stored in the image.
//!
//! The kernel is a static position-independent executable linked at
//! KIMAGE_VADDR; the linker leaves every pointer field zero and lists it in
//! `.rela.dyn` (kernel/build.rs). Each entry must be R_AARCH64_RELATIVE: the
//! field becomes the link-time value (the addend) plus how far the image
//! moved. Runs at the physical address, from `.idmap.text`, like the rest of
//! `early` (see `early/mod.rs` for the rules).

use crate::arch::sections::{__rela_end, __rela_start, _end};
use vakern_mm::layout::KIMAGE_VADDR;

/// ELF relocation type: write `base + addend`.
const R_AARCH64_RELATIVE: u64 = 1027;

/// Apply every relocation for an image whose `_text` is at physical address
/// `pa_text` (where the fields are written, through the identity map) and
/// will run `delta` bytes above its link address. False if an entry is not
/// R_AARCH64_RELATIVE or points outside the image.
///
/// # Safety
/// Runs once, with the identity map of the whole image live and writable.
#[link_section = ".idmap.text"]
#[inline(always)]
pub unsafe fn relocate(pa_text: u64, delta: u64) -> bool {
    let (pa_end, rela, rela_end) = (pc_rel!(_end), pc_rel!(__rela_start), pc_rel!(__rela_end));
    // Every entry is R_AARCH64_RELATIVE with the link-time value in the
    // addend; the target is an image address.
    let mut r = rela;
    while r + 24 <= rela_end {
        // SAFETY: [__rela_start, __rela_end) is the image's table of Elf64_Rela.
        let (offset, info, addend) = unsafe {
            (
                core::ptr::read_volatile(r as *const u64),
                core::ptr::read_volatile((r + 8) as *const u64),
                core::ptr::read_volatile((r + 16) as *const u64),
            )
        };
        if info & 0xffff_ffff != R_AARCH64_RELATIVE {
            return false;
        }
        let target = offset.wrapping_sub(KIMAGE_VADDR).wrapping_add(pa_text);
        if target < pa_text || target + 8 > pa_end {
            return false;
        }
        // SAFETY: the target lies inside the image, writable through the idmap.
        unsafe { core::ptr::write_unaligned(target as *mut u64, addend.wrapping_add(delta)) };
        r += 24;
    }
    true
}
