//! Small functions that exist only to be disassembled: each wraps one
//! translation so its fast path can be counted instruction by instruction
//! (tests/debug_virtual.rs and the benchmark). Without `debug_virtual` each
//! must be the bare arithmetic: no call, no branch. With it, each calls its
//! check.

use crate::mm::physaddr::{self, ImageAddr};

/// `__pa` of a raw address.
#[no_mangle]
#[inline(never)]
pub extern "C" fn probe_pa(va: u64) -> u64 {
    physaddr::__pa(va)
}

/// `__va` of a raw physical address.
#[no_mangle]
#[inline(never)]
pub extern "C" fn probe_va(pa: u64) -> u64 {
    physaddr::__va(pa)
}

/// `__pa_symbol` of an image address.
#[no_mangle]
#[inline(never)]
pub extern "C" fn probe_pa_symbol(va: u64) -> u64 {
    physaddr::pa_symbol(ImageAddr::from_raw(va)).0
}

/// `lm_alias` of an image address.
#[no_mangle]
#[inline(never)]
pub extern "C" fn probe_lm_alias(va: u64) -> u64 {
    physaddr::lm_alias(ImageAddr::from_raw(va)).0
}

/// Keeps the probes in the image even though nothing calls them.
#[used]
static PROBES: [extern "C" fn(u64) -> u64; 4] = [probe_pa, probe_va, probe_pa_symbol, probe_lm_alias];
