//! Boot stages 1 to 3: the entry and the position-independent early code
//! (Linux keeps the same apart in `arch/arm64/kernel/pi/`).
//!
//! - [`head`]: the Image header and the boot stub (`boot/head.S`): EL2 to
//!   EL1, .bss, boot stack, identity map, MMU on;
//! - [`map_kernel`]: `early_map_kernel`, called by the stub: asks
//!   [`kaslr`] where the image goes, has [`relocate`] apply the
//!   relocations, maps the image at KIMAGE_VADDR in `INIT_PG_DIR`.
//!
//! Everything but the stub's hand-over runs at the physical address,
//! before relocation, so every pointer stored in the image still reads as
//! zero. The rules for that code:
//! - it lives in `.idmap.text` and is `#[inline(always)]` into
//!   `early_map_kernel`, so it calls nothing outside that section;
//! - it reaches symbols only PC-relative, through [`pc_rel!`];
//! - it reads memory it does not own (the device tree) only with volatile
//!   byte loads, so no library call (`memcmp`, `memcpy`) is generated, and
//!   only after checking the offset against what was mapped;
//! - it never panics (a panic would call code outside the section).
//!
//! The image builder proves the first two from the section's relocations
//! before it writes the Image (src/image.rs in the launcher): every
//! relocation in `.idmap.text` must be PC-relative and local, and no branch
//! may leave it.
//!
//! May use: `arch` (section symbols, the `Table` type, register values,
//! the semihosting reason code) and the constant functions of `vakern_mm`.
//! Nothing above it: the stub hands over to the later stages by their link
//! names (`start_kernel`, `secondary_start_kernel`, `swapper_pg_dir`,
//! `SECONDARY_STACKS`, `SPIN_TABLE_CPU`), as Linux's head.S does, so no Rust path leads up.

/// The address of a symbol, computed with `adrp`/`add` from the PC. Plain
/// `&raw const` of an `extern` static goes through the GOT in a PIE, and
/// the GOT holds link-time (unrelocated) values at this point.
macro_rules! pc_rel {
    ($sym:path) => {{
        let addr: u64;
        // SAFETY: computes an address; no memory is accessed.
        unsafe {
            core::arch::asm!(
                "adrp {a}, {s}",
                "add {a}, {a}, :lo12:{s}",
                a = out(reg) addr,
                s = sym $sym,
                options(pure, nomem, nostack, preserves_flags)
            )
        };
        addr
    }};
}

pub mod head;
pub mod kaslr;
pub mod map_kernel;
pub mod relocate;
