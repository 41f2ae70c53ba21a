//! The arithmetic under the kernel's translation checks, on each boundary and
//! one step inside it: `memstart_addr`'s rounding, the linear range test,
//! the two `__pa` rules and their seam at `PAGE_OFFSET`, canonical addresses.
//! Host only; the kernel's own checks on the same edges are booted by
//! tests/debug_virtual.rs (`dv:boundaries`).

use vakern_mm::addr::{is_lm_address, lm_to_phys, phys_to_virt, virt_to_phys};
use vakern_mm::flavour::{Granule, Version, FLAVOURS};
use vakern_mm::layout::{
    self, align_down, align_up, is_aligned, LINEAR_SIZE, MEMSTART_ALIGN, PAGE_END, PAGE_OFFSET, PAGE_SIZE,
};

const GIB: u64 = 1 << 30;

#[test]
fn memstart_rounds_down_to_its_alignment_never_to_the_page_nor_up() {
    // The default flavour (4.10, 4 KiB pages) aligns memstart_addr to 1 GiB.
    if layout::ACTIVE.version() == Version::V4_10 && layout::ACTIVE.granule() == Granule::K4 {
        assert_eq!(MEMSTART_ALIGN, GIB);
        assert_eq!(align_down(0x4010_0000, MEMSTART_ALIGN), 0x4000_0000);
        assert_eq!(align_down(0x6000_0000, MEMSTART_ALIGN), 0x4000_0000);
        assert_eq!(align_down(0x7fff_ffff, MEMSTART_ALIGN), 0x4000_0000);
        assert_eq!(align_down(0x8000_0000, MEMSTART_ALIGN), 0x8000_0000);
        assert_eq!(align_down(0x3fff_ffff, MEMSTART_ALIGN), 0);
    }
    for l in FLAVOURS {
        let a = l.memstart_align();
        // At least a 1 GiB section in 4.10, 128 MiB (512 MiB with 64 KiB
        // pages) in 6.12.
        let least = match (l.version(), l.granule()) {
            (Version::V4_10, _) => GIB,
            (Version::V6_12, Granule::K64) => 512 << 20,
            (Version::V6_12, _) => 128 << 20,
        };
        assert!(a.is_power_of_two() && a >= least, "{l}: MEMSTART_ALIGN {a:#x}");
        // One byte past a boundary goes back to it; the boundary stays.
        assert_eq!(align_down(4 * a + 1, a), 4 * a, "{l}");
        assert_eq!(align_down(4 * a, a), 4 * a, "{l}");
        assert_eq!(align_down(4 * a - 1, a), 3 * a, "{l}");
    }
}

#[test]
fn align_helpers_on_their_edges() {
    assert_eq!(align_up(0x4000_0000, GIB), 0x4000_0000);
    assert_eq!(align_up(0x4000_0001, GIB), 0x8000_0000);
    assert_eq!(align_up(0x3fff_ffff, GIB), 0x4000_0000);
    assert_eq!(align_up(0, PAGE_SIZE), 0);
    assert_eq!(align_up(1, PAGE_SIZE), PAGE_SIZE);
    // Saturates at the last aligned address instead of wrapping to 0.
    assert_eq!(align_up(u64::MAX - PAGE_SIZE + 2, PAGE_SIZE), !(PAGE_SIZE - 1));
    assert_eq!(align_up(u64::MAX, PAGE_SIZE), !(PAGE_SIZE - 1));
    assert_eq!(align_up(!(PAGE_SIZE - 1), PAGE_SIZE), !(PAGE_SIZE - 1));
    assert!(is_aligned(0x4000_0000, GIB));
    assert!(!is_aligned(0x4000_1000, GIB));
    assert!(is_aligned(0x4000_1000, PAGE_SIZE));
    assert!(!is_aligned(0x4000_1001, PAGE_SIZE));
}

#[test]
fn linear_range_is_page_offset_to_page_end() {
    assert!(is_lm_address(PAGE_OFFSET));
    assert!(!is_lm_address(PAGE_OFFSET - 1));
    assert!(is_lm_address(PAGE_END.wrapping_sub(1)));
    assert!(!is_lm_address(PAGE_END) || PAGE_END == 0, "PAGE_END {PAGE_END:#x} is linear");
    assert_eq!(PAGE_END.wrapping_sub(PAGE_OFFSET), LINEAR_SIZE);
}

#[test]
fn pa_rules_meet_at_page_offset() {
    let (m, kvo) = (0x4000_0000, 0xfffe_ffff_c7e0_0000);
    // The first linear byte is memstart_addr; the byte before it takes the image rule.
    assert_eq!(virt_to_phys(PAGE_OFFSET, m, kvo), m);
    assert_eq!(virt_to_phys(PAGE_OFFSET - 1, m, kvo), (PAGE_OFFSET - 1).wrapping_sub(kvo));
    // The last linear byte is memstart_addr + LINEAR_SIZE - 1.
    assert_eq!(virt_to_phys(PAGE_END.wrapping_sub(1), m, kvo), m + LINEAR_SIZE - 1);
    assert_eq!(lm_to_phys(PAGE_OFFSET + 0x3fff_ffff, m), 0x7fff_ffff);
    // __va of the first and last byte of 1 GiB of RAM at memstart, and of
    // the byte past it (the linear limit).
    assert_eq!(phys_to_virt(m, m), PAGE_OFFSET);
    assert_eq!(phys_to_virt(m + GIB - 1, m), PAGE_OFFSET + GIB - 1);
    assert_eq!(phys_to_virt(m + GIB, m), PAGE_OFFSET + GIB);
    // RAM above memstart_addr: a 1 MiB offset is kept, not rounded away.
    assert_eq!(phys_to_virt(0x4010_0000, m), PAGE_OFFSET + 0x10_0000);
    assert_eq!(lm_to_phys(PAGE_OFFSET + 0x10_0000, m), 0x4010_0000);
}

#[test]
fn canonical_edges() {
    // The bits above VA_BITS all zero or all one (bit VA_BITS - 1 is an address bit).
    let top = 1u64 << layout::VA_BITS;
    assert!(layout::is_canonical(0));
    assert!(layout::is_canonical(top - 1));
    assert!(!layout::is_canonical(top));
    assert!(!layout::is_canonical(top.wrapping_neg() - 1));
    assert!(layout::is_canonical(top.wrapping_neg()));
    assert!(layout::is_canonical(u64::MAX));
}

#[test]
fn address_types_keep_the_address() {
    use vakern_mm::addr::{PhysAddr, VirtAddr};
    let x = 5u32;
    let v = VirtAddr::of(&x);
    assert_eq!(v.0, &x as *const u32 as u64);
    assert_eq!(v.as_ptr::<u32>() as *const u32, &x as *const u32);
    // The page frame of the last byte of a page is that page's.
    assert_eq!(PhysAddr(0x4000_0fff).pfn(), 0x40000);
    assert_eq!(PhysAddr(0x4000_1000).pfn(), 0x40001);
    assert_eq!(PhysAddr::from_pfn(0x40001), PhysAddr(0x4000_1000));
}
