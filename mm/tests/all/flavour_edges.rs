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

/// Every method taking `vabits_actual`, called with `v`; true if it returned.
fn each_method_returns(l: Layout, v: u32) -> Vec<(&'static str, bool)> {
    let calls: [(&'static str, Box<dyn Fn()>); 7] = [
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
