//! Passing means: the layout constants are arm64 Linux 4.10's for VA_BITS = 48, and `classify` puts every address (random, and at every region boundary) in the region an independent table says it is in.

use crate::common;

use proptest::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use vakern_mm::layout::*;

const TIB: u64 = 1 << 40;
const MIB: u64 = 1 << 20;

#[test]
fn constants_are_linux_4_10_va_bits_48() {
    assert_eq!(VA_BITS, 48);
    assert_eq!(PAGE_SIZE, 4096);
    assert_eq!(PMD_SIZE, 2 * MIB);
    assert_eq!(PUD_SIZE, 1 << 30);
    assert_eq!(PGDIR_SIZE, 512 << 30);
    assert_eq!(CONT_PTE_SIZE, 64 << 10);
    assert_eq!(CONT_PMD_SIZE, 32 * MIB);

    assert_eq!(VA_START, 0xffff_0000_0000_0000);
    assert_eq!(PAGE_OFFSET, 0xffff_8000_0000_0000);
    assert_eq!(LINEAR_SIZE, 128 * TIB);
    assert_eq!(MODULES_VADDR, 0xffff_0000_0000_0000);
    assert_eq!(MODULES_END, 0xffff_0000_0800_0000);
    assert_eq!(MODULES_END - MODULES_VADDR, 128 * MIB);
    assert_eq!(KIMAGE_VADDR, 0xffff_0000_0800_0000);
    assert_eq!(VMALLOC_START, 0xffff_0000_0800_0000);
    assert_eq!(VMALLOC_END, 0xffff_7dff_bfff_0000);
    assert_eq!(VMEMMAP_START, 0xffff_7e00_0000_0000);
    assert_eq!(VMEMMAP_END, 0xffff_8000_0000_0000);
    assert_eq!(VMEMMAP_SIZE, 2 * TIB);
    assert_eq!(PCI_IO_START, 0xffff_7dff_fee0_0000);
    assert_eq!(PCI_IO_END, 0xffff_7dff_ffe0_0000);
    assert_eq!(PCI_IO_END - PCI_IO_START, 16 * MIB);
    assert_eq!(FIXADDR_TOP, 0xffff_7dff_fec0_0000);
    // The model's fixmap: 2 MiB of slots on top of a 4 MiB device tree window.
    assert_eq!(FIXADDR_START, 0xffff_7dff_fe60_0000);
    assert_eq!(FIX_FDT_BASE, FIXADDR_START);
    assert_eq!(FIX_SLOTS_BASE, 0xffff_7dff_fea0_0000);
    assert_eq!(MEMSTART_ALIGN, 1 << 30);
    assert_eq!(MAX_FDT_SIZE, 2 * MIB);

    // The flavour behind them, and the constants that name its shape.
    assert_eq!(ACTIVE.to_string(), "4.10-4K-48");
    assert_eq!((ACTIVE.version(), ACTIVE.granule()), (Version::V4_10, Granule::K4));
    assert_eq!((VA_BITS_MIN, LEVELS, ROOT_LEVEL), (48, 4, 0));
    assert_eq!((CONT_PTES, CONT_PMDS), (16, 16));
    assert_eq!(PAGE_END, 0, "the 4.10 linear map runs to 2^64");
    assert_eq!(FIX_SLOTS_SIZE, 2 * MIB);
    assert_eq!(FIXADDR_SIZE, 6 * MIB);
}

#[test]
fn index_and_alignment_helpers() {
    let va = 0xffff_8123_4567_8abc_u64;
    // Hand-computed: bits 47..39, 38..30, 29..21, 20..12.
    assert_eq!(table_index(va, 0), ((va >> 39) & 0x1ff) as usize);
    assert_eq!(table_index(va, 0), 0x102);
    assert_eq!(table_index(va, 1), 0x8d);
    assert_eq!(table_index(va, 2), 0x2b);
    assert_eq!(table_index(va, 3), 0x78);
    assert_eq!(table_index(PAGE_OFFSET, 0), 256);
    assert_eq!(table_index(VA_START, 0), 0);
    assert_eq!(table_index(u64::MAX, 3), 511);
    assert_eq!(
        [level_size(0), level_size(1), level_size(2), level_size(3)],
        [PGDIR_SIZE, PUD_SIZE, PMD_SIZE, PAGE_SIZE]
    );

    assert_eq!(align_down(0x1fff, 0x1000), 0x1000);
    assert_eq!(align_up(0x1001, 0x1000), 0x2000);
    assert_eq!(align_up(0x1000, 0x1000), 0x1000);
    assert_eq!(align_up(0, 0x1000), 0);
    // Saturates instead of wrapping.
    assert_eq!(align_up(u64::MAX - 5, 0x1000), 0xffff_ffff_ffff_f000);
    assert!(is_aligned(0x20_0000, PMD_SIZE) && !is_aligned(0x20_1000, PMD_SIZE));
    assert_eq!(span(PAGE_OFFSET, 0), LINEAR_SIZE);
    assert_eq!(span(MODULES_VADDR, MODULES_END), 128 * MIB);
}

proptest! {
    #![proptest_config(common::config(10_000))]

    #[test]
    fn align_down_and_up_bracket_the_value(x in any::<u64>(), shift in 0u32..40) {
        let align = 1u64 << shift;
        let d = align_down(x, align);
        prop_assert!(d <= x && x - d < align && is_aligned(d, align));
        let u = align_up(x, align);
        prop_assert!(is_aligned(u, align));
        if x <= u64::MAX - (align - 1) {
            prop_assert!(u >= x && u - x < align, "align_up({:#x}, {:#x}) = {:#x}", x, align, u);
        }
    }
}

/// Canonical for a 48-bit VA on arm64: bits 63..48 are all 0 (TTBR0) or all
/// 1 (TTBR1). Bit 47 is a plain address bit in both halves: it is set in
/// the top half of user space and clear in the bottom half of the kernel
/// range (modules to vmemmap).
#[test]
fn canonical_addresses() {
    for va in [
        0,
        0x0000_7fff_ffff_ffff,
        0x0000_8000_0000_0000,
        0x0000_ffff_ffff_ffff,
        VA_START,
        VMEMMAP_START,
        PAGE_OFFSET - 1,
        PAGE_OFFSET,
        u64::MAX,
    ] {
        assert!(is_canonical(va), "{:#x} should be canonical", va);
    }
    for va in [
        0x0001_0000_0000_0000,
        0x8000_0000_0000_0000,
        0xfffe_ffff_ffff_ffff,
        0x7fff_ffff_ffff_ffff,
        0x0000_8000_0000_0000 | (1 << 63),
    ] {
        assert!(!is_canonical(va), "{:#x} should not be canonical", va);
    }
}

fn placement() -> Placement {
    // The README's reference boot: a 1.5 MiB image at KIMAGE_VADDR, 1 GiB of RAM.
    Placement { text: KIMAGE_VADDR, end: KIMAGE_VADDR + 0x18_0000, linear_end: PAGE_OFFSET + (1 << 30) }
}

/// The layout written out from the README's table, independently of the
/// library's derivations. Ends are exclusive, as u128 so 2^64 fits.
fn table(at: &Placement) -> Vec<(u128, u128, Region)> {
    const TOP: u128 = 1 << 64;
    let le = at.linear_end as u128;
    vec![
        (0, 0x0001_0000_0000_0000, Region::User),
        (0x0001_0000_0000_0000, 0xffff_0000_0000_0000, Region::NonCanonical),
        (0xffff_0000_0000_0000, 0xffff_0000_0800_0000, Region::Modules),
        (0xffff_0000_0800_0000, 0xffff_7dff_bfff_0000, Region::Vmalloc),
        (0xffff_7dff_bfff_0000, 0xffff_7dff_fe60_0000, Region::Hole),
        (0xffff_7dff_fe60_0000, 0xffff_7dff_fec0_0000, Region::Fixmap),
        (0xffff_7dff_fec0_0000, 0xffff_7dff_fee0_0000, Region::Hole),
        (0xffff_7dff_fee0_0000, 0xffff_7dff_ffe0_0000, Region::PciIo),
        (0xffff_7dff_ffe0_0000, 0xffff_7e00_0000_0000, Region::Hole),
        (0xffff_7e00_0000_0000, 0xffff_8000_0000_0000, Region::Vmemmap),
        (0xffff_8000_0000_0000, le, Region::Linear),
        (le, TOP, Region::LinearBeyondRam),
    ]
}

fn reference(va: u64, at: &Placement, rows: &[(u128, u128, Region)]) -> Region {
    let v = va as u128;
    let row = rows.iter().find(|&&(s, e, _)| s <= v && v < e).expect("the table covers 2^64");
    // The image is carved out of vmalloc.
    if row.2 == Region::Vmalloc && at.text <= va && va < at.end {
        Region::KernelImage
    } else {
        row.2
    }
}

#[test]
fn reference_table_is_a_partition() {
    let at = placement();
    let rows = table(&at);
    assert_eq!(rows[0].0, 0);
    assert_eq!(rows.last().unwrap().1, 1 << 64);
    for w in rows.windows(2) {
        assert_eq!(w[0].1, w[1].0, "rows must touch");
        assert!(w[0].0 <= w[0].1);
    }
}

fn check(va: u64, at: &Placement, rows: &[(u128, u128, Region)]) {
    let want = reference(va, at, rows);
    let got = classify(va, at);
    assert_eq!(got, want, "classify({:#018x}) with {:x?}", va, at);
}

#[test]
fn every_region_boundary() {
    let mut places = vec![placement()];
    // Before the linear map exists, and an image placed higher (KASLR-like).
    places.push(Placement { text: KIMAGE_VADDR, end: KIMAGE_VADDR + 0x20_0000, linear_end: PAGE_OFFSET });
    places.push(Placement {
        text: 0xffff_0012_3440_0000,
        end: 0xffff_0012_3580_1000,
        linear_end: PAGE_OFFSET + (3 << 30) + 0x5000,
    });
    for at in &places {
        let rows = table(at);
        let mut edges: Vec<u64> = Vec::new();
        for &(s, e, _) in &rows {
            for x in [s, e] {
                if x <= u64::MAX as u128 {
                    edges.push(x as u64);
                }
            }
        }
        edges.extend([at.text, at.end]);
        let mut n = 0;
        for &x in &edges {
            for d in [0u64, 1, 2, 0x1000, 0x10_0000] {
                for va in [x.wrapping_sub(d), x.wrapping_add(d)] {
                    check(va, at, &rows);
                    n += 1;
                }
            }
        }
        assert!(n > 100);
    }

    // Spelled out, for the reader: start, start - 1, end - 1, end of each region.
    let at = placement();
    let c = |va| classify(va, &at);
    assert_eq!(c(0), Region::User);
    assert_eq!(c(0x0000_7fff_ffff_ffff), Region::User);
    assert_eq!(c(0x0000_8000_0000_0000), Region::User, "bit 47 set in the top half of user space");
    assert_eq!(c(0x0000_ffff_ffff_ffff), Region::User);
    assert_eq!(c(0x0001_0000_0000_0000), Region::NonCanonical);
    assert_eq!(c(0x8000_0000_0000_0000), Region::NonCanonical);
    assert_eq!(c(0xfffe_ffff_ffff_ffff), Region::NonCanonical);
    assert_eq!(c(0xffff_0000_0000_0000), Region::Modules);
    assert_eq!(c(0xffff_0000_07ff_ffff), Region::Modules);
    assert_eq!(c(0xffff_0000_0800_0000), Region::KernelImage);
    assert_eq!(c(0xffff_0000_0817_ffff), Region::KernelImage);
    assert_eq!(c(0xffff_0000_0818_0000), Region::Vmalloc);
    assert_eq!(c(0xffff_7dff_bffe_ffff), Region::Vmalloc);
    assert_eq!(c(0xffff_7dff_bfff_0000), Region::Hole);
    assert_eq!(c(0xffff_7dff_fe5f_ffff), Region::Hole);
    assert_eq!(c(0xffff_7dff_fe60_0000), Region::Fixmap);
    assert_eq!(c(0xffff_7dff_febf_ffff), Region::Fixmap);
    assert_eq!(c(0xffff_7dff_fec0_0000), Region::Hole);
    assert_eq!(c(0xffff_7dff_fedf_ffff), Region::Hole);
    assert_eq!(c(0xffff_7dff_fee0_0000), Region::PciIo);
    assert_eq!(c(0xffff_7dff_ffdf_ffff), Region::PciIo);
    assert_eq!(c(0xffff_7dff_ffe0_0000), Region::Hole);
    assert_eq!(c(0xffff_7dff_ffff_ffff), Region::Hole);
    assert_eq!(c(0xffff_7e00_0000_0000), Region::Vmemmap);
    assert_eq!(c(0xffff_7fff_ffff_ffff), Region::Vmemmap);
    assert_eq!(c(0xffff_8000_0000_0000), Region::Linear);
    assert_eq!(c(0xffff_8000_3fff_ffff), Region::Linear);
    assert_eq!(c(0xffff_8000_4000_0000), Region::LinearBeyondRam);
    assert_eq!(c(u64::MAX), Region::LinearBeyondRam);
}

/// A placement: the image anywhere 2 MiB-aligned in the first 1 TiB of
/// vmalloc, up to 64 MiB long; RAM from nothing (one in five) to 64 TiB.
fn placements() -> impl Strategy<Value = Placement> {
    (0u64..1 << 19, 1u64..=64 << 20, prop_oneof![1 => Just(0u64), 4 => 0u64..64 * TIB]).prop_map(|(slot, len, ram)| {
        let text = KIMAGE_VADDR + slot * PMD_SIZE;
        Placement { text, end: text + len, linear_end: PAGE_OFFSET + (ram & !0xfff) }
    })
}

/// An address for `at`: fully random (mostly non-canonical, which is the
/// truth of 2^64), uniform inside one of its regions, or near a region edge.
fn addresses(at: &Placement) -> impl Strategy<Value = u64> {
    let mut regions: Vec<(u128, u128)> = table(at).iter().map(|&(s, e, _)| (s, e)).filter(|(s, e)| s < e).collect();
    regions.push((at.text as u128, at.end as u128));
    let inside = (prop::sample::select(regions.clone()), any::<u64>())
        .prop_map(|((s, e), r)| (s + (r as u128 % (e - s))) as u64);
    let near_edge = (prop::sample::select(regions), any::<bool>(), 0u64..=0x2000).prop_map(|((s, e), low, d)| {
        let edge = if low { s } else { e } as u64;
        edge.wrapping_add(d).wrapping_sub(0x1000)
    });
    prop_oneof![1 => any::<u64>(), 2 => inside, 1 => near_edge]
}

#[test]
fn random_addresses_match_reference() {
    let mut runner = common::runner(90_000, file!());
    let hits = RefCell::new(HashMap::new());
    let cases = placements().prop_flat_map(|at| (Just(at), addresses(&at)));
    runner
        .run(&cases, |(at, va)| {
            check(va, &at, &table(&at));
            *hits.borrow_mut().entry(format!("{:?}", classify(va, &at))).or_insert(0u32) += 1;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // Every region got hits, so the property covers all of them.
    let hits = hits.into_inner();
    for r in Region::ALL {
        let n = hits.get(&format!("{:?}", r)).copied().unwrap_or(0);
        assert!(n >= 100, "region {:?} got only {} hits: {:?}", r, n, hits);
    }
}

#[test]
fn region_names_and_layout_rows() {
    let at = placement();
    let rows = layout_rows(&at);
    let by_name = |n: &str| rows.iter().find(|r| r.name == n).copied().unwrap();
    assert_eq!((by_name("modules").start, by_name("modules").end), (0xffff_0000_0000_0000, 0xffff_0000_0800_0000));
    assert_eq!((by_name("vmalloc").start, by_name("vmalloc").end), (0xffff_0000_0800_0000, 0xffff_7dff_bfff_0000));
    assert_eq!((by_name("  .image").start, by_name("  .image").end), (at.text, at.end));
    assert_eq!((by_name("fixed").start, by_name("fixed").end), (FIXADDR_START, 0xffff_7dff_fec0_0000));
    assert_eq!((by_name("PCI I/O").start, by_name("PCI I/O").end), (0xffff_7dff_fee0_0000, 0xffff_7dff_ffe0_0000));
    assert_eq!((by_name("vmemmap").start, by_name("vmemmap").end), (0xffff_7e00_0000_0000, 0xffff_8000_0000_0000));
    assert_eq!((by_name("memory").start, by_name("memory").end), (PAGE_OFFSET, at.linear_end));
    assert_eq!((by_name("user").start, by_name("user").end), (0, 1 << 48));
    // Each row's start is classified as that row's region.
    for (name, region) in [
        ("modules", Region::Modules),
        ("  .image", Region::KernelImage),
        ("fixed", Region::Fixmap),
        ("PCI I/O", Region::PciIo),
        ("vmemmap", Region::Vmemmap),
        ("memory", Region::Linear),
        ("user", Region::User),
    ] {
        let r = by_name(name);
        assert_eq!(classify(r.start, &at), region, "{}", name);
        assert_eq!(classify(r.end.wrapping_sub(1), &at), region, "{} end - 1", name);
    }
    let names: std::collections::HashSet<&str> = Region::ALL.iter().map(|r| r.name()).collect();
    assert_eq!(names.len(), 11, "region names are distinct");
}

#[test]
fn vakern_flavour_unset_or_empty_is_the_default_and_a_name_selects_its_flavour() {
    use vakern_mm::flavour::{self, Granule, Version};
    assert_eq!(from_env(None), flavour::DEFAULT);
    assert_eq!(from_env(Some("")), flavour::DEFAULT);
    let l = from_env(Some("6.12-64K-52"));
    assert_eq!(l, flavour::flavour(Version::V6_12, Granule::K64, 52).unwrap());
    assert_eq!((l.page_size(), l.va_bits(), l.levels()), (64 << 10, 52, 3));
    assert_eq!(from_env(Some("4.10-4K-48")), flavour::DEFAULT);
}

#[test]
#[should_panic(expected = "a flavour is written VERSION-PAGESIZE-VABITS")]
fn vakern_flavour_that_is_not_a_flavour_panics_with_the_reason() {
    from_env(Some("4.10"));
}
