//! Translation arithmetic: a pass means __va and __pa are inverse on random
//! RAM addresses for random 1 GiB-aligned memstart values, the image rule
//! inverts __phys_to_kimg, the range check rejects everything below
//! PAGE_OFFSET (including user addresses with bit 47 set) while the default
//! flavour's own 4.10 test is bit 47 alone, and min_tables
//! agrees with a brute-force count of the chunks a layout touches.

mod common;

use proptest::prelude::*;
use std::collections::BTreeSet;
use vakern_mm::addr::*;
use vakern_mm::layout::*;

/// RAM somewhere below 2^48 at a 1 GiB-aligned memstart, at most 128 TiB
/// of it, and an address inside: (memstart, pa).
fn ram_and_pa() -> impl Strategy<Value = (u64, u64)> {
    (0u64..1 << 18, 1u64..=1 << 17)
        .prop_flat_map(|(gib, mib)| (Just(gib << 30), 0..mib << 20))
        .prop_map(|(memstart, off)| (memstart, memstart + off))
}

proptest! {
    #![proptest_config(common::config(20_000))]

    #[test]
    fn va_pa_round_trips_for_random_ram((memstart, pa) in ram_and_pa()) {
        let va = phys_to_virt(pa, memstart);
        prop_assert!(is_lm_address(va), "__va({:#x}) = {:#x} is not linear", pa, va);
        prop_assert_eq!(lm_to_phys(va, memstart), pa);
        prop_assert_eq!(virt_to_phys(va, memstart, 0x1234_0000), pa);
        prop_assert_eq!(va - PAGE_OFFSET, pa - memstart);
    }

    #[test]
    fn image_rule_round_trips(slot in 0u64..1 << 27, off in 0u64..4 << 20) {
        let pa_text = slot << 21;
        let voffset = KIMAGE_VADDR.wrapping_sub(pa_text);
        let va = KIMAGE_VADDR + off;
        prop_assert_eq!(kimg_to_phys(va, voffset), pa_text + off);
        prop_assert_eq!(phys_to_kimg(pa_text + off, voffset), va);
        prop_assert!(!is_lm_address(va));
        prop_assert_eq!(virt_to_phys(va, 0x4000_0000, voffset), pa_text + off);
    }

    #[test]
    fn range_check_is_page_offset_and_up(va in any::<u64>()) {
        prop_assert_eq!(is_lm_address(va), va >= PAGE_OFFSET, "{:#x}", va);
        // The seed's single-bit test disagrees exactly on addresses below
        // PAGE_OFFSET with bit 47 set, such as user addresses.
        let bit47 = va & (1 << 47) != 0;
        if bit47 != is_lm_address(va) {
            prop_assert!(va < PAGE_OFFSET && bit47);
        }
    }
}

#[test]
fn range_check_rejects_everything_below_page_offset() {
    for va in [0, 0x0000_8000_0000_0000, 0x0000_ffff_ffff_ffff, KIMAGE_VADDR, VMEMMAP_END - 1, PAGE_OFFSET - 1] {
        assert!(!is_lm_address(va), "{va:#x}");
    }
    assert!(is_lm_address(PAGE_OFFSET) && is_lm_address(u64::MAX));
}

/// The built flavour's own test (4.10: bit 47 alone) against the exact range.
#[test]
fn version_test_is_the_single_bit_in_the_default_flavour() {
    let mut rng = common::Draws::new(0x5eed_0005);
    let mut differ = 0;
    for _ in 0..100_000 {
        let va = rng.next_u64();
        assert_eq!(lm_test(va), va & (1 << 47) != 0, "{va:#x}");
        if lm_test(va) != is_lm_address(va) {
            differ += 1;
            assert!(va < VA_START, "only outside the kernel half: {va:#x}");
        }
    }
    assert!(differ > 10_000, "random addresses below VA_START have bit 47 set half the time: {differ}");
    assert!(lm_test(0x0000_8000_0000_0000) && !is_lm_address(0x0000_8000_0000_0000));
}

#[test]
fn pfn_helpers() {
    assert_eq!(PhysAddr(0x4020_1fff).pfn(), 0x40201);
    assert_eq!(PhysAddr::from_pfn(0x40201), PhysAddr(0x4020_1000));
}

/// Brute force: mark every 2 MiB and 1 GiB chunk with how much it is covered.
fn brute_tables(ranges: &[(u64, u64)]) -> [u64; 4] {
    // Per level below the root: the entries of the level above that some
    // sample touches, less those a range covers whole where that level
    // has blocks. Sampled every 64 KiB, the ranges' granule.
    let mut sets: [BTreeSet<u64>; 4] = Default::default();
    for &(va, size) in ranges {
        let mut a = va;
        while a < va + size {
            for level in ACTIVE.root_level() + 1..4 {
                let shift = ACTIVE.level_shift(level - 1);
                let chunk = a >> shift;
                let (cs, ce) = (chunk << shift, (chunk + 1) << shift);
                let whole = cs >= va && ce <= va + size;
                if !(whole && ACTIVE.block_allowed(level - 1)) {
                    sets[level as usize].insert(chunk);
                }
            }
            a += 1 << 16;
        }
    }
    [0, sets[1].len() as u64, sets[2].len() as u64, sets[3].len() as u64]
}

/// One to four ranges from a random GiB of the linear map: gaps and sizes
/// in 64 KiB granules, never adjacent.
fn layouts() -> impl Strategy<Value = Vec<(u64, u64)>> {
    (0u64..4, prop::collection::vec((0u64..1 << 12, 1u64..=1 << 13), 1..=4)).prop_map(|(first, parts)| {
        let mut at = PAGE_OFFSET + (first << 30);
        let mut ranges = Vec::new();
        for (gap, size) in parts {
            at += gap << 16;
            ranges.push((at, size << 16));
            at += (size << 16) + (1 << 16);
        }
        ranges
    })
}

proptest! {
    #![proptest_config(common::config(300))]

    #[test]
    fn min_tables_matches_brute_force(ranges in layouts()) {
        let want = brute_tables(&ranges);
        prop_assert_eq!(vakern_mm::pgtable::min_tables(ranges.iter().copied()), want, "{:x?}", ranges);
    }
}
