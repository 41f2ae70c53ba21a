//! Passing means: the `vabits_actual` rules of every flavour hold at their
//! edges. Only the 52-bit flavour (6.12 with 64 KiB pages) picks its VA size
//! at boot, between 52 bits (a CPU with FEAT_LVA) and 48 (one without); every
//! other flavour runs with exactly `VA_BITS`. A `vabits_actual` that is
//! neither is refused by every method that takes one, with a panic naming
//! the rule, never silently used.

use std::hint::black_box;
use std::panic::{catch_unwind, AssertUnwindSafe};
use vakern_mm::flavour::{Granule, Layout, Version, FLAVOURS};

/// The VA sizes a flavour may run with, restated from the Kconfig facts:
/// `VA_BITS` always, and 48 as well when `VA_BITS` is 52 (`VA_BITS_MIN`).
fn allowed(l: &Layout) -> Vec<u32> {
    if l.va_bits() == 52 {
        vec![52, 48]
    } else {
        vec![l.va_bits()]
    }
}

#[test]
fn only_the_52_bit_flavour_chooses_its_va_size_at_boot() {
    for l in FLAVOURS {
        let is_52 = l.va_bits() == 52;
        assert_eq!(l.has_vabits_actual(), is_52, "{l}");
        assert_eq!(l.vabits_actual(true), l.va_bits(), "{l} with LVA");
        assert_eq!(l.vabits_actual(false), if is_52 { 48 } else { l.va_bits() }, "{l} without LVA");
        assert_eq!(l.va_bits_min(), if is_52 { 48 } else { l.va_bits() }, "{l}");
    }
    // The one 52-bit flavour there is, and it is 6.12 with 64 KiB pages.
    let fifty_two: Vec<_> = FLAVOURS.iter().filter(|l| l.has_vabits_actual()).collect();
    assert_eq!(fifty_two.len(), 1);
    assert_eq!((fifty_two[0].version(), fifty_two[0].granule()), (Version::V6_12, Granule::K64));
}

#[test]
fn vabits_actual_is_valid_exactly_at_va_bits_and_va_bits_min() {
    for l in FLAVOURS {
        let ok = allowed(&l);
        for v in 0..=64 {
            assert_eq!(l.valid_vabits_actual(v), ok.contains(&v), "{l} at {v}");
        }
    }
}

/// A method of [`Layout`] called with fixed arguments, by name.
type Call = (&'static str, Box<dyn Fn()>);

/// Every method taking `vabits_actual`, called with `v`; true if it returned.
fn each_method_returns(l: Layout, v: u32) -> Vec<(&'static str, bool)> {
    let calls: [Call; 7] = [
        (
            "tcr_txsz",
            Box::new(move || {
                black_box(l.tcr_txsz(v));
            }),
        ),
        (
            "ttbr1_offset",
            Box::new(move || {
                black_box(l.ttbr1_offset(v));
            }),
        ),
        (
            "linear_start",
            Box::new(move || {
                black_box(l.linear_start(v));
            }),
        ),
        (
            "linear_region_size",
            Box::new(move || {
                black_box(l.linear_region_size(v));
            }),
        ),
        (
            "memstart_offset",
            Box::new(move || {
                black_box(l.memstart_offset(v));
            }),
        ),
        (
            "memstart_addr",
            Box::new(move || {
                black_box(l.memstart_addr(0x4000_0000, v));
            }),
        ),
        (
            "is_canonical",
            Box::new(move || {
                black_box(l.is_canonical(0, v));
            }),
        ),
    ];
    calls.into_iter().map(|(name, f)| (name, catch_unwind(AssertUnwindSafe(f)).is_ok())).collect()
}

#[test]
fn a_vabits_actual_the_flavour_cannot_run_with_is_refused() {
    let mut failures = Vec::new();
    for l in FLAVOURS {
        let ok = allowed(&l);
        // One step either side of each allowed size, and the sizes themselves.
        let mut probes: Vec<u32> = ok.iter().flat_map(|&v| [v - 1, v, v + 1]).collect();
        probes.dedup();
        for v in probes {
            for (name, returned) in each_method_returns(l, v) {
                // 4.10's linear start does not depend on vabits_actual but
                // is refused all the same; every method checks first.
                if returned != ok.contains(&v) {
                    failures.push(format!("{l}.{name}({v}) returned: {returned}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `__va` outside the linear map. Linux defines `__phys_to_virt(x)` as
/// `(x - PHYS_OFFSET) | PAGE_OFFSET`: an OR, not an add, so a PA below
/// `PHYS_OFFSET` (the subtraction wraps to all ones above) stays at the top
/// of the address space, and a PA `2^VA_BITS` or more above it cannot carry
/// into the bits of `PAGE_OFFSET`. The values here are worked from that
/// definition by hand.
#[test]
fn va_outside_the_linear_map_follows_linuxs_or() {
    let phys_offset = 0x4000_0000;
    for (name, page_offset) in [("4.10-4K-48", 0xffff_8000_0000_0000u64), ("6.12-4K-48", 0xffff_0000_0000_0000)] {
        let l = vakern_mm::flavour::parse(name).unwrap();
        assert_eq!(l.page_offset(), page_offset, "{name}");
        // One page below PHYS_OFFSET: 0xffff_ffff_ffff_f000 | PAGE_OFFSET.
        assert_eq!(l.phys_to_virt(0x3fff_f000, phys_offset), 0xffff_ffff_ffff_f000, "{name}");
        // The first byte of RAM lands on PAGE_OFFSET.
        assert_eq!(l.phys_to_virt(phys_offset, phys_offset), page_offset, "{name}");
    }
    // 6.12 with 48-bit VAs: PHYS_OFFSET + 2^48 sets only bit 48, which
    // PAGE_OFFSET (bits 48..=63) already has: the OR lands on PAGE_OFFSET.
    let l = vakern_mm::flavour::parse("6.12-4K-48").unwrap();
    assert_eq!(l.phys_to_virt(phys_offset + (1 << 48), phys_offset), 0xffff_0000_0000_0000);
    assert_eq!(l.phys_to_virt(phys_offset + (1 << 48) + 0x1000, phys_offset), 0xffff_0000_0000_1000);
}
