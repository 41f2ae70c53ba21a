//! The `debug_virtual` checks behind the translations of `physaddr.rs`
//! (compiled only with the feature): a few inline comparisons on the fast
//! path, with the reports out of line and cold. A report is counted and
//! printed and the kernel carries on; a bug stops it with exit code
//! `DEBUG_VIRTUAL_BUG`. Same place in the boot as `physaddr.rs`: usable from
//! the first line of `start_kernel`.

use super::{image_bounds, is_lm_address, region_of, virt_addr_valid, REPORTS, TRANSLATION};
use crate::mm::memblock;
use core::panic::Location;
use core::sync::atomic::Ordering::Relaxed;
use vakern_mm::fmt::Addr;
use vakern_mm::layout::PAGE_OFFSET;

#[inline(always)]
#[track_caller]
pub(super) fn check_virt_to_phys(va: u64) {
    // One comparison on the fast path: XOR with PAGE_OFFSET maps the linear
    // range onto [0, PAGE_END - PAGE_OFFSET) and everything else above it.
    if va ^ PAGE_OFFSET >= TRANSLATION.linear_fast_size.load(Relaxed) {
        virt_to_phys_slow(va, Location::caller());
    }
}

#[cold]
#[inline(never)]
fn virt_to_phys_slow(va: u64, caller: &'static Location<'static>) {
    let t = &TRANSLATION;
    if va < PAGE_OFFSET || va >= t.linear_limit.load(Relaxed) || (t.holes.load(Relaxed) != 0 && !virt_addr_valid(va)) {
        virt_to_phys_report(va, caller);
    }
}

#[cold]
#[inline(never)]
fn virt_to_phys_report(va: u64, caller: &'static Location<'static>) {
    let what = if is_lm_address(va) { "linear address beyond RAM" } else { "non-linear address" };
    report(format_args!("virt_to_phys used for {}: {} ({}) at {}", what, Addr(va), region_of(va).name(), caller));
}

#[inline(always)]
#[track_caller]
pub(super) fn check_phys_to_virt(pa: u64) {
    let t = &TRANSLATION;
    if pa.wrapping_sub(t.ram_start.load(Relaxed)) >= t.ram_fast_size.load(Relaxed) {
        phys_to_virt_slow(pa, Location::caller());
    }
}

#[cold]
#[inline(never)]
fn phys_to_virt_slow(pa: u64, caller: &'static Location<'static>) {
    let t = &TRANSLATION;
    if pa < t.ram_start.load(Relaxed)
        || pa >= t.ram_end.load(Relaxed)
        || (t.holes.load(Relaxed) != 0 && !memblock::is_mapped_ram(pa))
    {
        phys_to_virt_report(pa, caller);
    }
}

#[cold]
#[inline(never)]
fn phys_to_virt_report(pa: u64, caller: &'static Location<'static>) {
    report(format_args!("phys_to_virt used for non-RAM physical address: {} at {}", Addr(pa), caller));
}

#[cold]
#[inline(never)]
pub(super) fn lm_alias_bug(va: u64, caller: &'static Location<'static>) -> ! {
    bug(format_args!("lm_alias({}) used before the linear map exists", Addr(va)), caller)
}

#[inline(always)]
#[track_caller]
pub(super) fn check_pa_symbol(va: u64) {
    let (text, end) = image_bounds();
    if va.wrapping_sub(text) > end - text {
        pa_symbol_bug(va, Location::caller());
    }
}

#[cold]
#[inline(never)]
fn pa_symbol_bug(va: u64, caller: &'static Location<'static>) -> ! {
    let (text, end) = image_bounds();
    bug(
        format_args!(
            "__pa_symbol used for address outside the kernel image [{}, {}]: {} ({})",
            Addr(text),
            Addr(end),
            Addr(va),
            region_of(va).name()
        ),
        caller,
    );
}

fn report(args: core::fmt::Arguments) {
    REPORTS.fetch_add(1, Relaxed);
    crate::pr_warn!("{}", args);
}

/// Stop the kernel for a `debug_virtual` violation (Linux's BUG).
#[cold]
pub(super) fn bug(args: core::fmt::Arguments, caller: &'static Location<'static>) -> ! {
    crate::pr_err!("kernel BUG at {}: {}", caller, args);
    crate::pr_err!("debug_virtual: stopping (exit code {})", vakern_mm::exit::DEBUG_VIRTUAL_BUG);
    crate::arch::semihosting::exit(vakern_mm::exit::DEBUG_VIRTUAL_BUG)
}
