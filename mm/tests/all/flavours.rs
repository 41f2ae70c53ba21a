//! Passing means: every layout flavour's numbers (region boundaries, table
//! geometry, TCR fields, the 52-bit `vabits_actual` cases) equal an
//! independent reference written out literally below; `classify` and the
//! banner rows follow that reference in every flavour; `__va`/`__pa` invert
//! each other in every flavour; 4.10's single-bit test misclassifies a user
//! address that 6.12's range check rejects; flavour names and the errors for
//! combinations Linux never offered are as documented; and the ID register
//! decoding finds missing granules and short PA ranges.

use crate::common;

use common::Draws;
use vakern_mm::cpufeat;
use vakern_mm::flavour::{self, Granule, Layout, Version, FLAVOURS};
use vakern_mm::layout::{Placement, Region};

/// One flavour at one `vabits_actual`, as derived from Linux's headers by
/// `mm/tests/fixtures/layouts_reference.py` (its output, pasted). An end of 0
/// stands for 2^64.
#[derive(Debug)]
struct Ref {
    name: &'static str,
    vabits_actual: u32,
    levels: u32,
    root_level: u32,
    pgdir_size: u64,
    linux_pud_size: u64,
    pmd_size: u64,
    cont_ptes: u64,
    cont_pmds: u64,
    memstart_align: u64,
    t1sz: u64,
    tg0: u64,
    tg1: u64,
    va_start: u64,
    page_offset: u64,
    page_end: u64,
    linear_start: u64,
    linear_size: u64,
    modules_vaddr: u64,
    modules_end: u64,
    kimage_vaddr: u64,
    vmalloc_start: u64,
    vmalloc_end: u64,
    vmemmap_start: u64,
    vmemmap_in_use: u64,
    vmemmap_end: u64,
    vmemmap_size: u64,
    pci_io_start: u64,
    pci_io_end: u64,
    fixaddr_top: u64,
    fixaddr_start: u64,
    memstart_offset: u64,
    ttbr1_offset: u64,
}

#[rustfmt::skip]
const REFERENCE: &[Ref] = &[
    Ref {
        name: "4.10-4K-39",
        vabits_actual: 39,
        levels: 3,
        root_level: 1,
        pgdir_size: 0x0000_0000_4000_0000,
        linux_pud_size: 0x0000_0000_4000_0000,
        pmd_size: 0x0000_0000_0020_0000,
        cont_ptes: 16,
        cont_pmds: 16,
        memstart_align: 0x0000_0000_4000_0000,
        t1sz: 25,
        tg0: 0,
        tg1: 2,
        va_start: 0xffff_ff80_0000_0000,
        page_offset: 0xffff_ffc0_0000_0000,
        page_end: 0x0000_0000_0000_0000,
        linear_start: 0xffff_ffc0_0000_0000,
        linear_size: 0x0000_0040_0000_0000,
        modules_vaddr: 0xffff_ff80_0000_0000,
        modules_end: 0xffff_ff80_0800_0000,
        kimage_vaddr: 0xffff_ff80_0800_0000,
        vmalloc_start: 0xffff_ff80_0800_0000,
        vmalloc_end: 0xffff_ffbe_bfff_0000,
        vmemmap_start: 0xffff_ffbf_0000_0000,
        vmemmap_in_use: 0xffff_ffbf_0000_0000,
        vmemmap_end: 0xffff_ffc0_0000_0000,
        vmemmap_size: 0x0000_0001_0000_0000,
        pci_io_start: 0xffff_ffbe_fee0_0000,
        pci_io_end: 0xffff_ffbe_ffe0_0000,
        fixaddr_top: 0xffff_ffbe_fec0_0000,
        fixaddr_start: 0xffff_ffbe_fe60_0000,
        memstart_offset: 0x0000_0000_0000_0000,
        ttbr1_offset: 0x0000_0000_0000_0000,
    },
    Ref {
        name: "4.10-4K-48",
        vabits_actual: 48,
        levels: 4,
        root_level: 0,
        pgdir_size: 0x0000_0080_0000_0000,
        linux_pud_size: 0x0000_0000_4000_0000,
        pmd_size: 0x0000_0000_0020_0000,
        cont_ptes: 16,
        cont_pmds: 16,
        memstart_align: 0x0000_0000_4000_0000,
        t1sz: 16,
        tg0: 0,
        tg1: 2,
        va_start: 0xffff_0000_0000_0000,
        page_offset: 0xffff_8000_0000_0000,
        page_end: 0x0000_0000_0000_0000,
        linear_start: 0xffff_8000_0000_0000,
        linear_size: 0x0000_8000_0000_0000,
        modules_vaddr: 0xffff_0000_0000_0000,
        modules_end: 0xffff_0000_0800_0000,
        kimage_vaddr: 0xffff_0000_0800_0000,
        vmalloc_start: 0xffff_0000_0800_0000,
        vmalloc_end: 0xffff_7dff_bfff_0000,
        vmemmap_start: 0xffff_7e00_0000_0000,
        vmemmap_in_use: 0xffff_7e00_0000_0000,
        vmemmap_end: 0xffff_8000_0000_0000,
        vmemmap_size: 0x0000_0200_0000_0000,
        pci_io_start: 0xffff_7dff_fee0_0000,
        pci_io_end: 0xffff_7dff_ffe0_0000,
        fixaddr_top: 0xffff_7dff_fec0_0000,
        fixaddr_start: 0xffff_7dff_fe60_0000,
        memstart_offset: 0x0000_0000_0000_0000,
        ttbr1_offset: 0x0000_0000_0000_0000,
    },
    Ref {
        name: "4.10-16K-47",
        vabits_actual: 47,
        levels: 3,
        root_level: 1,
        pgdir_size: 0x0000_0010_0000_0000,
        linux_pud_size: 0x0000_0010_0000_0000,
        pmd_size: 0x0000_0000_0200_0000,
        cont_ptes: 128,
        cont_pmds: 32,
        memstart_align: 0x0000_0000_4000_0000,
        t1sz: 17,
        tg0: 2,
        tg1: 1,
        va_start: 0xffff_8000_0000_0000,
        page_offset: 0xffff_c000_0000_0000,
        page_end: 0x0000_0000_0000_0000,
        linear_start: 0xffff_c000_0000_0000,
        linear_size: 0x0000_4000_0000_0000,
        modules_vaddr: 0xffff_8000_0000_0000,
        modules_end: 0xffff_8000_0800_0000,
        kimage_vaddr: 0xffff_8000_0800_0000,
        vmalloc_start: 0xffff_8000_0800_0000,
        vmalloc_end: 0xffff_bfaf_ffff_0000,
        vmemmap_start: 0xffff_bfc0_0000_0000,
        vmemmap_in_use: 0xffff_bfc0_0000_0000,
        vmemmap_end: 0xffff_c000_0000_0000,
        vmemmap_size: 0x0000_0040_0000_0000,
        pci_io_start: 0xffff_bfbf_fee0_0000,
        pci_io_end: 0xffff_bfbf_ffe0_0000,
        fixaddr_top: 0xffff_bfbf_fec0_0000,
        fixaddr_start: 0xffff_bfbf_fe60_0000,
        memstart_offset: 0x0000_0000_0000_0000,
        ttbr1_offset: 0x0000_0000_0000_0000,
    },
    Ref {
        name: "4.10-16K-48",
        vabits_actual: 48,
        levels: 4,
        root_level: 0,
        pgdir_size: 0x0000_8000_0000_0000,
        linux_pud_size: 0x0000_0010_0000_0000,
        pmd_size: 0x0000_0000_0200_0000,
        cont_ptes: 128,
        cont_pmds: 32,
        memstart_align: 0x0000_0000_4000_0000,
        t1sz: 16,
        tg0: 2,
        tg1: 1,
        va_start: 0xffff_0000_0000_0000,
        page_offset: 0xffff_8000_0000_0000,
        page_end: 0x0000_0000_0000_0000,
        linear_start: 0xffff_8000_0000_0000,
        linear_size: 0x0000_8000_0000_0000,
        modules_vaddr: 0xffff_0000_0000_0000,
        modules_end: 0xffff_0000_0800_0000,
        kimage_vaddr: 0xffff_0000_0800_0000,
        vmalloc_start: 0xffff_0000_0800_0000,
        vmalloc_end: 0xffff_7f6f_ffff_0000,
        vmemmap_start: 0xffff_7f80_0000_0000,
        vmemmap_in_use: 0xffff_7f80_0000_0000,
        vmemmap_end: 0xffff_8000_0000_0000,
        vmemmap_size: 0x0000_0080_0000_0000,
        pci_io_start: 0xffff_7f7f_fee0_0000,
        pci_io_end: 0xffff_7f7f_ffe0_0000,
        fixaddr_top: 0xffff_7f7f_fec0_0000,
        fixaddr_start: 0xffff_7f7f_fe60_0000,
        memstart_offset: 0x0000_0000_0000_0000,
        ttbr1_offset: 0x0000_0000_0000_0000,
    },
    Ref {
        name: "4.10-64K-42",
        vabits_actual: 42,
        levels: 2,
        root_level: 2,
        pgdir_size: 0x0000_0000_2000_0000,
        linux_pud_size: 0x0000_0000_2000_0000,
        pmd_size: 0x0000_0000_2000_0000,
        cont_ptes: 32,
        cont_pmds: 32,
        memstart_align: 0x0000_0000_4000_0000,
        t1sz: 22,
        tg0: 1,
        tg1: 3,
        va_start: 0xffff_fc00_0000_0000,
        page_offset: 0xffff_fe00_0000_0000,
        page_end: 0x0000_0000_0000_0000,
        linear_start: 0xffff_fe00_0000_0000,
        linear_size: 0x0000_0200_0000_0000,
        modules_vaddr: 0xffff_fc00_0000_0000,
        modules_end: 0xffff_fc00_0800_0000,
        kimage_vaddr: 0xffff_fc00_0800_0000,
        vmalloc_start: 0xffff_fc00_0800_0000,
        vmalloc_end: 0xffff_fdff_5fff_0000,
        vmemmap_start: 0xffff_fdff_8000_0000,
        vmemmap_in_use: 0xffff_fdff_8000_0000,
        vmemmap_end: 0xffff_fe00_0000_0000,
        vmemmap_size: 0x0000_0000_8000_0000,
        pci_io_start: 0xffff_fdff_7ee0_0000,
        pci_io_end: 0xffff_fdff_7fe0_0000,
        fixaddr_top: 0xffff_fdff_7ec0_0000,
        fixaddr_start: 0xffff_fdff_7e60_0000,
        memstart_offset: 0x0000_0000_0000_0000,
        ttbr1_offset: 0x0000_0000_0000_0000,
    },
    Ref {
        name: "4.10-64K-48",
        vabits_actual: 48,
        levels: 3,
        root_level: 1,
        pgdir_size: 0x0000_0400_0000_0000,
        linux_pud_size: 0x0000_0400_0000_0000,
        pmd_size: 0x0000_0000_2000_0000,
        cont_ptes: 32,
        cont_pmds: 32,
        memstart_align: 0x0000_0000_4000_0000,
        t1sz: 16,
        tg0: 1,
        tg1: 3,
        va_start: 0xffff_0000_0000_0000,
        page_offset: 0xffff_8000_0000_0000,
        page_end: 0x0000_0000_0000_0000,
        linear_start: 0xffff_8000_0000_0000,
        linear_size: 0x0000_8000_0000_0000,
        modules_vaddr: 0xffff_0000_0000_0000,
        modules_end: 0xffff_0000_0800_0000,
        kimage_vaddr: 0xffff_0000_0800_0000,
        vmalloc_start: 0xffff_0000_0800_0000,
        vmalloc_end: 0xffff_7bdf_ffff_0000,
        vmemmap_start: 0xffff_7fe0_0000_0000,
        vmemmap_in_use: 0xffff_7fe0_0000_0000,
        vmemmap_end: 0xffff_8000_0000_0000,
        vmemmap_size: 0x0000_0020_0000_0000,
        pci_io_start: 0xffff_7fdf_fee0_0000,
        pci_io_end: 0xffff_7fdf_ffe0_0000,
        fixaddr_top: 0xffff_7fdf_fec0_0000,
        fixaddr_start: 0xffff_7fdf_fe60_0000,
        memstart_offset: 0x0000_0000_0000_0000,
        ttbr1_offset: 0x0000_0000_0000_0000,
    },
    Ref {
        name: "6.12-4K-39",
        vabits_actual: 39,
        levels: 3,
        root_level: 1,
        pgdir_size: 0x0000_0000_4000_0000,
        linux_pud_size: 0x0000_0000_4000_0000,
        pmd_size: 0x0000_0000_0020_0000,
        cont_ptes: 16,
        cont_pmds: 16,
        memstart_align: 0x0000_0000_4000_0000,
        t1sz: 25,
        tg0: 0,
        tg1: 2,
        va_start: 0xffff_ff80_0000_0000,
        page_offset: 0xffff_ff80_0000_0000,
        page_end: 0xffff_ffc0_0000_0000,
        linear_start: 0xffff_ff80_0000_0000,
        linear_size: 0x0000_0040_0000_0000,
        modules_vaddr: 0xffff_ffc0_0000_0000,
        modules_end: 0xffff_ffc0_8000_0000,
        kimage_vaddr: 0xffff_ffc0_8000_0000,
        vmalloc_start: 0xffff_ffc0_8000_0000,
        vmalloc_end: 0xffff_fffe_bf80_0000,
        vmemmap_start: 0xffff_fffe_c000_0000,
        vmemmap_in_use: 0xffff_fffe_c000_0000,
        vmemmap_end: 0xffff_ffff_c000_0000,
        vmemmap_size: 0x0000_0001_0000_0000,
        pci_io_start: 0xffff_ffff_c080_0000,
        pci_io_end: 0xffff_ffff_c180_0000,
        fixaddr_top: 0xffff_ffff_ff80_0000,
        fixaddr_start: 0xffff_ffff_ff20_0000,
        memstart_offset: 0x0000_0000_0000_0000,
        ttbr1_offset: 0x0000_0000_0000_0000,
    },
    Ref {
        name: "6.12-4K-48",
        vabits_actual: 48,
        levels: 4,
        root_level: 0,
        pgdir_size: 0x0000_0080_0000_0000,
        linux_pud_size: 0x0000_0000_4000_0000,
        pmd_size: 0x0000_0000_0020_0000,
        cont_ptes: 16,
        cont_pmds: 16,
        memstart_align: 0x0000_0000_4000_0000,
        t1sz: 16,
        tg0: 0,
        tg1: 2,
        va_start: 0xffff_0000_0000_0000,
        page_offset: 0xffff_0000_0000_0000,
        page_end: 0xffff_8000_0000_0000,
        linear_start: 0xffff_0000_0000_0000,
        linear_size: 0x0000_8000_0000_0000,
        modules_vaddr: 0xffff_8000_0000_0000,
        modules_end: 0xffff_8000_8000_0000,
        kimage_vaddr: 0xffff_8000_8000_0000,
        vmalloc_start: 0xffff_8000_8000_0000,
        vmalloc_end: 0xffff_fdff_bf80_0000,
        vmemmap_start: 0xffff_fdff_c000_0000,
        vmemmap_in_use: 0xffff_fdff_c000_0000,
        vmemmap_end: 0xffff_ffff_c000_0000,
        vmemmap_size: 0x0000_0200_0000_0000,
        pci_io_start: 0xffff_ffff_c080_0000,
        pci_io_end: 0xffff_ffff_c180_0000,
        fixaddr_top: 0xffff_ffff_ff80_0000,
        fixaddr_start: 0xffff_ffff_ff20_0000,
        memstart_offset: 0x0000_0000_0000_0000,
        ttbr1_offset: 0x0000_0000_0000_0000,
    },
    Ref {
        name: "6.12-16K-47",
        vabits_actual: 47,
        levels: 3,
        root_level: 1,
        pgdir_size: 0x0000_0010_0000_0000,
        linux_pud_size: 0x0000_0010_0000_0000,
        pmd_size: 0x0000_0000_0200_0000,
        cont_ptes: 128,
        cont_pmds: 32,
        memstart_align: 0x0000_0000_4000_0000,
        t1sz: 17,
        tg0: 2,
        tg1: 1,
        va_start: 0xffff_8000_0000_0000,
        page_offset: 0xffff_8000_0000_0000,
        page_end: 0xffff_c000_0000_0000,
        linear_start: 0xffff_8000_0000_0000,
        linear_size: 0x0000_4000_0000_0000,
        modules_vaddr: 0xffff_c000_0000_0000,
        modules_end: 0xffff_c000_8000_0000,
        kimage_vaddr: 0xffff_c000_8000_0000,
        vmalloc_start: 0xffff_c000_8000_0000,
        vmalloc_end: 0xffff_ffbf_bf80_0000,
        vmemmap_start: 0xffff_ffbf_c000_0000,
        vmemmap_in_use: 0xffff_ffbf_c000_0000,
        vmemmap_end: 0xffff_ffff_c000_0000,
        vmemmap_size: 0x0000_0040_0000_0000,
        pci_io_start: 0xffff_ffff_c080_0000,
        pci_io_end: 0xffff_ffff_c180_0000,
        fixaddr_top: 0xffff_ffff_ff80_0000,
        fixaddr_start: 0xffff_ffff_ff20_0000,
        memstart_offset: 0x0000_0000_0000_0000,
        ttbr1_offset: 0x0000_0000_0000_0000,
    },
    Ref {
        name: "6.12-16K-48",
        vabits_actual: 48,
        levels: 4,
        root_level: 0,
        pgdir_size: 0x0000_8000_0000_0000,
        linux_pud_size: 0x0000_0010_0000_0000,
        pmd_size: 0x0000_0000_0200_0000,
        cont_ptes: 128,
        cont_pmds: 32,
        memstart_align: 0x0000_0000_4000_0000,
        t1sz: 16,
        tg0: 2,
        tg1: 1,
        va_start: 0xffff_0000_0000_0000,
        page_offset: 0xffff_0000_0000_0000,
        page_end: 0xffff_8000_0000_0000,
        linear_start: 0xffff_0000_0000_0000,
        linear_size: 0x0000_8000_0000_0000,
        modules_vaddr: 0xffff_8000_0000_0000,
        modules_end: 0xffff_8000_8000_0000,
        kimage_vaddr: 0xffff_8000_8000_0000,
        vmalloc_start: 0xffff_8000_8000_0000,
        vmalloc_end: 0xffff_ff7f_bf80_0000,
        vmemmap_start: 0xffff_ff7f_c000_0000,
        vmemmap_in_use: 0xffff_ff7f_c000_0000,
        vmemmap_end: 0xffff_ffff_c000_0000,
        vmemmap_size: 0x0000_0080_0000_0000,
        pci_io_start: 0xffff_ffff_c080_0000,
        pci_io_end: 0xffff_ffff_c180_0000,
        fixaddr_top: 0xffff_ffff_ff80_0000,
        fixaddr_start: 0xffff_ffff_ff20_0000,
        memstart_offset: 0x0000_0000_0000_0000,
        ttbr1_offset: 0x0000_0000_0000_0000,
    },
    Ref {
        name: "6.12-64K-42",
        vabits_actual: 42,
        levels: 2,
        root_level: 2,
        pgdir_size: 0x0000_0000_2000_0000,
        linux_pud_size: 0x0000_0000_2000_0000,
        pmd_size: 0x0000_0000_2000_0000,
        cont_ptes: 32,
        cont_pmds: 32,
        memstart_align: 0x0000_0000_2000_0000,
        t1sz: 22,
        tg0: 1,
        tg1: 3,
        va_start: 0xffff_fc00_0000_0000,
        page_offset: 0xffff_fc00_0000_0000,
        page_end: 0xffff_fe00_0000_0000,
        linear_start: 0xffff_fc00_0000_0000,
        linear_size: 0x0000_0200_0000_0000,
        modules_vaddr: 0xffff_fe00_0000_0000,
        modules_end: 0xffff_fe00_8000_0000,
        kimage_vaddr: 0xffff_fe00_8000_0000,
        vmalloc_start: 0xffff_fe00_8000_0000,
        vmalloc_end: 0xffff_ffff_3f80_0000,
        vmemmap_start: 0xffff_ffff_4000_0000,
        vmemmap_in_use: 0xffff_ffff_4000_0000,
        vmemmap_end: 0xffff_ffff_c000_0000,
        vmemmap_size: 0x0000_0000_8000_0000,
        pci_io_start: 0xffff_ffff_c080_0000,
        pci_io_end: 0xffff_ffff_c180_0000,
        fixaddr_top: 0xffff_ffff_ff80_0000,
        fixaddr_start: 0xffff_ffff_ff20_0000,
        memstart_offset: 0x0000_0000_0000_0000,
        ttbr1_offset: 0x0000_0000_0000_0000,
    },
    Ref {
        name: "6.12-64K-48",
        vabits_actual: 48,
        levels: 3,
        root_level: 1,
        pgdir_size: 0x0000_0400_0000_0000,
        linux_pud_size: 0x0000_0400_0000_0000,
        pmd_size: 0x0000_0000_2000_0000,
        cont_ptes: 32,
        cont_pmds: 32,
        memstart_align: 0x0000_0000_2000_0000,
        t1sz: 16,
        tg0: 1,
        tg1: 3,
        va_start: 0xffff_0000_0000_0000,
        page_offset: 0xffff_0000_0000_0000,
        page_end: 0xffff_8000_0000_0000,
        linear_start: 0xffff_0000_0000_0000,
        linear_size: 0x0000_8000_0000_0000,
        modules_vaddr: 0xffff_8000_0000_0000,
        modules_end: 0xffff_8000_8000_0000,
        kimage_vaddr: 0xffff_8000_8000_0000,
        vmalloc_start: 0xffff_8000_8000_0000,
        vmalloc_end: 0xffff_ffdf_bf80_0000,
        vmemmap_start: 0xffff_ffdf_c000_0000,
        vmemmap_in_use: 0xffff_ffdf_c000_0000,
        vmemmap_end: 0xffff_ffff_c000_0000,
        vmemmap_size: 0x0000_0020_0000_0000,
        pci_io_start: 0xffff_ffff_c080_0000,
        pci_io_end: 0xffff_ffff_c180_0000,
        fixaddr_top: 0xffff_ffff_ff80_0000,
        fixaddr_start: 0xffff_ffff_ff20_0000,
        memstart_offset: 0x0000_0000_0000_0000,
        ttbr1_offset: 0x0000_0000_0000_0000,
    },
    Ref {
        name: "6.12-64K-52",
        vabits_actual: 52,
        levels: 3,
        root_level: 1,
        pgdir_size: 0x0000_0400_0000_0000,
        linux_pud_size: 0x0000_0400_0000_0000,
        pmd_size: 0x0000_0000_2000_0000,
        cont_ptes: 32,
        cont_pmds: 32,
        memstart_align: 0x0000_0000_2000_0000,
        t1sz: 12,
        tg0: 1,
        tg1: 3,
        va_start: 0xfff0_0000_0000_0000,
        page_offset: 0xfff0_0000_0000_0000,
        page_end: 0xffff_8000_0000_0000,
        linear_start: 0xfff0_0000_0000_0000,
        linear_size: 0x000f_8000_0000_0000,
        modules_vaddr: 0xffff_8000_0000_0000,
        modules_end: 0xffff_8000_8000_0000,
        kimage_vaddr: 0xffff_8000_8000_0000,
        vmalloc_start: 0xffff_8000_8000_0000,
        vmalloc_end: 0xffff_fc1f_bf80_0000,
        vmemmap_start: 0xffff_fc1f_c000_0000,
        vmemmap_in_use: 0xffff_fc1f_c000_0000,
        vmemmap_end: 0xffff_ffff_c000_0000,
        vmemmap_size: 0x0000_03e0_0000_0000,
        pci_io_start: 0xffff_ffff_c080_0000,
        pci_io_end: 0xffff_ffff_c180_0000,
        fixaddr_top: 0xffff_ffff_ff80_0000,
        fixaddr_start: 0xffff_ffff_ff20_0000,
        memstart_offset: 0x0000_0000_0000_0000,
        ttbr1_offset: 0x0000_0000_0000_0000,
    },
    Ref {
        name: "6.12-64K-52",
        vabits_actual: 48,
        levels: 3,
        root_level: 1,
        pgdir_size: 0x0000_0400_0000_0000,
        linux_pud_size: 0x0000_0400_0000_0000,
        pmd_size: 0x0000_0000_2000_0000,
        cont_ptes: 32,
        cont_pmds: 32,
        memstart_align: 0x0000_0000_2000_0000,
        t1sz: 16,
        tg0: 1,
        tg1: 3,
        va_start: 0xfff0_0000_0000_0000,
        page_offset: 0xfff0_0000_0000_0000,
        page_end: 0xffff_8000_0000_0000,
        linear_start: 0xffff_0000_0000_0000,
        linear_size: 0x0000_8000_0000_0000,
        modules_vaddr: 0xffff_8000_0000_0000,
        modules_end: 0xffff_8000_8000_0000,
        kimage_vaddr: 0xffff_8000_8000_0000,
        vmalloc_start: 0xffff_8000_8000_0000,
        vmalloc_end: 0xffff_ffdf_bf80_0000,
        vmemmap_start: 0xffff_fc1f_c000_0000,
        vmemmap_in_use: 0xffff_ffdf_c000_0000,
        vmemmap_end: 0xffff_ffff_c000_0000,
        vmemmap_size: 0x0000_03e0_0000_0000,
        pci_io_start: 0xffff_ffff_c080_0000,
        pci_io_end: 0xffff_ffff_c180_0000,
        fixaddr_top: 0xffff_ffff_ff80_0000,
        fixaddr_start: 0xffff_ffff_ff20_0000,
        memstart_offset: 0x000f_0000_0000_0000,
        ttbr1_offset: 0x0000_0000_0000_1e00,
    },
];

const TOP: u128 = 1 << 64;

fn layout(name: &str) -> Layout {
    flavour::parse(name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn is_4_10(r: &Ref) -> bool {
    r.name.starts_with("4.10-")
}

#[test]
fn reference_has_every_flavour_at_every_vabits_actual() {
    assert_eq!(FLAVOURS.len(), 13);
    assert_eq!(REFERENCE.len(), 14);
    for l in FLAVOURS {
        let name = l.to_string();
        let rows: Vec<u32> = REFERENCE.iter().filter(|r| r.name == name).map(|r| r.vabits_actual).collect();
        let want = if l.va_bits() == 52 { vec![52, 48] } else { vec![l.va_bits()] };
        assert_eq!(rows, want, "{name}");
    }
}

#[test]
fn every_flavour_matches_the_reference() {
    for r in REFERENCE {
        let l = layout(r.name);
        let va = r.vabits_actual;
        let tcr = l.tcr_granule_bits();
        let fields: [(&str, u64, u64); 33] = [
            ("vabits_actual", l.vabits_actual(va == l.va_bits()) as u64, va as u64),
            ("levels", l.levels() as u64, r.levels as u64),
            ("root_level", l.root_level() as u64, r.root_level as u64),
            ("PGDIR_SIZE", l.pgdir_size(), r.pgdir_size),
            ("Linux PUD_SIZE", l.linux_pud_size(), r.linux_pud_size),
            ("PMD_SIZE", l.pmd_size(), r.pmd_size),
            ("CONT_PTES", l.cont_ptes(), r.cont_ptes),
            ("CONT_PMDS", l.cont_pmds(), r.cont_pmds),
            ("ARM64_MEMSTART_ALIGN", l.memstart_align(), r.memstart_align),
            ("T1SZ", l.tcr_txsz(va), r.t1sz),
            ("TG0", (tcr >> 14) & 3, r.tg0),
            ("TG1", (tcr >> 30) & 3, r.tg1),
            ("VA_START", l.va_start(), r.va_start),
            ("PAGE_OFFSET", l.page_offset(), r.page_offset),
            ("PAGE_END", l.page_end(), r.page_end),
            ("linear map start", l.linear_start(va), r.linear_start),
            ("linear_region_size", l.linear_region_size(va), r.linear_size),
            ("MODULES_VADDR", l.modules_vaddr(), r.modules_vaddr),
            ("MODULES_END", l.modules_end(), r.modules_end),
            ("KIMAGE_VADDR", l.kimage_vaddr(), r.kimage_vaddr),
            ("VMALLOC_START", l.vmalloc_start(), r.vmalloc_start),
            ("VMALLOC_END", l.vmalloc_end(va), r.vmalloc_end),
            ("VMEMMAP_START", l.vmemmap_start(), r.vmemmap_start),
            ("vmemmap in use", l.vmemmap_start_in_use(va), r.vmemmap_in_use),
            ("VMEMMAP_END", l.vmemmap_end(), r.vmemmap_end),
            ("VMEMMAP_SIZE", l.vmemmap_size(), r.vmemmap_size),
            ("PCI_IO_START", l.pci_io_start(), r.pci_io_start),
            ("PCI_IO_END", l.pci_io_end(), r.pci_io_end),
            ("FIXADDR_TOP", l.fixaddr_top(), r.fixaddr_top),
            ("FIXADDR_START", l.fixaddr_start(), r.fixaddr_start),
            ("memstart_addr adjustment", l.memstart_offset(va), r.memstart_offset),
            ("TTBR1 offset", l.ttbr1_offset(va), r.ttbr1_offset),
            ("T0SZ", l.tcr_txsz(va), 64 - va as u64),
        ];
        for (what, got, want) in fields {
            assert_eq!(got, want, "{} at vabits_actual {}: {}: {:#x} != {:#x}", r.name, va, what, got, want);
        }
    }
}

/// The numbers a boot of `--layout 6.12` prints, and the 52-bit case of
/// `arm64_memblock_init` on QEMU virt (RAM from 1 GiB), worked by hand.
#[test]
fn linux_6_12_numbers_worked_by_hand() {
    let l = layout("6.12-4K-48");
    assert_eq!(l.page_offset(), 0xffff_0000_0000_0000);
    assert_eq!(l.page_end(), 0xffff_8000_0000_0000);
    assert_eq!(l.kimage_vaddr(), 0xffff_8000_8000_0000);
    let memstart = l.memstart_addr(0x4000_0000, 48);
    assert_eq!(memstart, 0x4000_0000);
    assert_eq!(l.phys_to_virt(0x4000_0000, memstart), 0xffff_0000_0000_0000, "the linear map starts at PAGE_OFFSET");

    let l = layout("6.12-64K-52");
    assert_eq!((l.vabits_actual(true), l.vabits_actual(false)), (52, 48));
    // PAGE_OFFSET and PAGE_END do not depend on the CPU...
    assert_eq!(l.page_offset(), 0xfff0_0000_0000_0000);
    assert_eq!(l.page_end(), 0xffff_8000_0000_0000);
    // ...but memstart_addr does: lowered by 2^52 - 2^48 without LVA, which
    // makes it negative as Linux's s64.
    let with_lva = l.memstart_addr(0x4000_0000, 52);
    let without = l.memstart_addr(0x4000_0000, 48);
    assert_eq!(with_lva, 0x4000_0000);
    assert_eq!(without, 0xfff1_0000_4000_0000);
    assert_eq!(without as i64, 0x4000_0000 - 0xf_0000_0000_0000);
    // So the same __va formula puts RAM at a different start.
    assert_eq!(l.phys_to_virt(0x4000_0000, with_lva), 0xfff0_0000_0000_0000);
    assert_eq!(l.phys_to_virt(0x4000_0000, without), 0xffff_0000_0000_0000);
    assert_eq!(l.linear_start(52), 0xfff0_0000_0000_0000);
    assert_eq!(l.linear_start(48), 0xffff_0000_0000_0000);
    // Only the second start is translatable with 48 bits.
    assert!(l.is_canonical(0xffff_0000_0000_0000, 48) && !l.is_canonical(0xfff0_0000_0000_0000, 48));
    assert!(l.is_canonical(0xfff0_0000_0000_0000, 52));
    // __pa takes the same PAGE_OFFSET off in both.
    assert_eq!(l.virt_to_phys(0xfff0_0000_0001_0000, with_lva, 0), 0x4001_0000);
    assert_eq!(l.virt_to_phys(0xffff_0000_0001_0000, without, 0), 0x4001_0000);
    // The linear range Linux checks is the same; the part in use is 2^47 without LVA.
    assert_eq!((l.linear_region_size(52), l.linear_region_size(48)), (0xf_8000_0000_0000, 0x8000_0000_0000));
    // TCR and TTBR1: 52 or 48 bits, and the 48-bit walk starts 64 entries
    // from the end of the 1024-entry root, where a kernel address indexes.
    assert_eq!((l.tcr_txsz(52), l.tcr_txsz(48)), (12, 16));
    assert_eq!((l.ttbr1_offset(52), l.ttbr1_offset(48)), (0, (1024 - 64) * 8));
    assert_eq!(l.table_index(0xffff_0000_0000_0000, 1), 1024 - 64);
    assert_eq!(l.table_index(u64::MAX, 1), 1023);
    // vmalloc grows into the vmemmap a 48-bit CPU does not need.
    assert!(l.vmalloc_end(48) > l.vmalloc_end(52));
    assert_eq!(l.vmalloc_end(48), layout("6.12-64K-48").vmalloc_end(48));
}

/// Bit ranges of each level's index, from the architecture's tables.
#[test]
fn table_geometry_by_hand() {
    type Levels = &'static [(u32, u32, u32)];
    let cases: [(&str, u32, u64, Levels); 7] = [
        ("4.10-4K-39", 3, 512, &[(1, 38, 30), (2, 29, 21), (3, 20, 12)]),
        ("6.12-4K-48", 4, 512, &[(0, 47, 39), (1, 38, 30), (2, 29, 21), (3, 20, 12)]),
        ("4.10-16K-47", 3, 2048, &[(1, 46, 36), (2, 35, 25), (3, 24, 14)]),
        ("6.12-16K-48", 4, 2, &[(0, 47, 47), (1, 46, 36), (2, 35, 25), (3, 24, 14)]),
        ("4.10-64K-42", 2, 8192, &[(2, 41, 29), (3, 28, 16)]),
        ("6.12-64K-48", 3, 64, &[(1, 47, 42), (2, 41, 29), (3, 28, 16)]),
        ("6.12-64K-52", 3, 1024, &[(1, 51, 42), (2, 41, 29), (3, 28, 16)]),
    ];
    let mut rng = Draws::new(0x5eed_7ab1);
    for (name, levels, root_entries, ranges) in cases {
        let l = layout(name);
        assert_eq!(l.levels(), levels, "{name}");
        assert_eq!(l.root_level(), ranges[0].0, "{name}");
        assert_eq!(l.entries(l.root_level()), root_entries, "{name}");
        for &(level, hi, lo) in ranges {
            assert_eq!(l.level_size(level), 1 << lo, "{name} level {level}");
            assert_eq!(l.entries(level), 1 << (hi - lo + 1), "{name} level {level}");
            for _ in 0..1000 {
                let va = rng.next_u64();
                let want = (va >> lo) & ((1 << (hi - lo + 1)) - 1);
                assert_eq!(l.table_index(va, level) as u64, want, "{name} level {level} va {va:#x}");
            }
        }
    }
    const K: u64 = 1 << 10;
    const M: u64 = 1 << 20;
    const G: u64 = 1 << 30;
    // (granule, L1 block, L2 block, page, CONT_PTE_SIZE, CONT_PMD_SIZE, early image blocks)
    for (name, l1, l2, page, cont_pte, cont_pmd, swapper) in [
        ("6.12-4K-48", Some(G), 2 * M, 4 * K, 64 * K, 32 * M, 2 * M),
        ("6.12-16K-48", None, 32 * M, 16 * K, 2 * M, G, 16 * K),
        ("6.12-64K-48", None, 512 * M, 64 * K, 2 * M, 16 * G, 64 * K),
    ] {
        let l = layout(name);
        assert_eq!(l.block_allowed(1).then(|| l.level_size(1)), l1, "{name}");
        assert!(l.block_allowed(2) && !l.block_allowed(0) && !l.block_allowed(3), "{name}");
        assert_eq!((l.level_size(2), l.page_size()), (l2, page), "{name}");
        assert_eq!((l.cont_pte_size(), l.cont_pmd_size()), (cont_pte, cont_pmd), "{name}");
        assert_eq!((l.cont_entries(3), l.cont_entries(2), l.cont_entries(1)), (cont_pte / page, cont_pmd / l2, 1));
        assert_eq!(l.swapper_block_size(), swapper, "{name}");
        assert_eq!(l.fdt_block_mapped(), l2 == 2 * M, "{name}");
    }
}

/// 4.10 tells linear addresses by bit VA_BITS - 1 alone, which is also set in
/// the top half of user space; 6.12's range check is not fooled.
#[test]
fn the_4_10_bit_test_takes_a_user_address_for_linear() {
    let user = 0x0000_8000_0000_1000; // bit 47 set: the upper half of a 48-bit user space
    let (old, new) = (layout("4.10-4K-48"), layout("6.12-4K-48"));
    let (memstart, voffset) = (0x4000_0000, 0xfffe_ffff_c7e0_0000);
    assert!(old.lm_test(user), "4.10's bit test calls it linear");
    assert!(!old.in_linear_range(user), "though it is below PAGE_OFFSET");
    assert!(!new.lm_test(user), "6.12's range check rejects it");
    // So 4.10's unchecked __pa hands back a plausible RAM address...
    assert_eq!(old.virt_to_phys(user, memstart, voffset), 0x4000_1000);
    // ...where 6.12 falls through to the image rule.
    assert_eq!(new.virt_to_phys(user, memstart, voffset), user.wrapping_sub(voffset));

    // The same, at random, in every flavour: the bit test and the exact
    // range differ only on 4.10, and only outside the kernel's half.
    let mut rng = Draws::new(0x5eed_b147);
    for l in FLAVOURS {
        let top_bit = 1u64 << (l.va_bits() - 1);
        let mut differ = 0;
        for i in 0..20_000 {
            let va = match i % 3 {
                0 => rng.next_u64(),
                1 => rng.below(1 << l.va_bits()),                // user half
                _ => l.va_start() | rng.below(1 << l.va_bits()), // kernel half
            };
            let (fast, exact) = (l.lm_test(va), l.in_linear_range(va));
            if fast != exact {
                differ += 1;
                assert_eq!(l.version(), Version::V4_10, "{l}: {va:#x}");
                assert!(fast && va & top_bit != 0 && va < l.va_start(), "{l}: {va:#x}");
            }
            if va >= l.va_start() {
                assert_eq!(fast, exact, "{l}: kernel address {va:#x}");
            }
        }
        assert_eq!(differ > 0, l.version() == Version::V4_10, "{l}: {differ} disagreements");
    }
}

#[test]
fn va_and_pa_invert_each_other_in_every_flavour() {
    let mut rng = Draws::new(0x5eed_f1a0);
    for r in REFERENCE {
        let l = layout(r.name);
        let va_bits = r.vabits_actual;
        for _ in 0..20_000 {
            // RAM anywhere below 2^44, up to 64 TiB of it (clipped to the linear map).
            let base = rng.below(1 << 32) << 12;
            let base_aligned = base & !(r.memstart_align - 1);
            let size = rng.range_incl(1, (64u64 << 40).min(r.linear_size - (base - base_aligned)) >> 12) << 12;
            let pa = base + rng.below(size);
            let memstart = l.memstart_addr(base, va_bits);
            // The reference rule: RAM's aligned base sits at the linear map's start.
            let va = r.linear_start + (pa - base_aligned);
            assert_eq!(l.phys_to_virt(pa, memstart), va, "{} {}: __va({pa:#x})", r.name, va_bits);
            assert!(l.lm_test(va) && l.in_linear_range(va), "{}: {va:#x}", r.name);
            assert!(l.is_canonical(va, va_bits), "{}: {va:#x}", r.name);
            assert_eq!(l.lm_to_phys(va, memstart), pa, "{} {}: __lm_to_phys({va:#x})", r.name, va_bits);
            assert_eq!(l.virt_to_phys(va, memstart, 0x1234_0000), pa, "{}: __pa({va:#x})", r.name);
        }
        for _ in 0..2_000 {
            // The image anywhere 2 MiB-aligned in the first 256 GiB of PA.
            let pa_text = rng.below(1 << 17) << 21;
            let voffset = r.kimage_vaddr.wrapping_sub(pa_text);
            let off = rng.below(64 << 20);
            let va = r.kimage_vaddr + off;
            assert!(!l.lm_test(va), "{}: image address {va:#x} taken for linear", r.name);
            assert_eq!(l.virt_to_phys(va, 0x4000_0000, voffset), pa_text + off, "{}", r.name);
        }
    }
}

/// The reference layout as a partition of 2^64, from the reference numbers
/// alone. Ends are exclusive.
fn partition(r: &Ref, at: &Placement) -> Vec<(u128, u128, Region)> {
    let n = |x: u64| if x == 0 { TOP } else { x as u128 };
    let user_end = 1u128 << r.vabits_actual;
    let kernel_start = TOP - user_end;
    let le = at.linear_end as u128;
    let mut rows = vec![(0, user_end, Region::User), (user_end, kernel_start, Region::NonCanonical)];
    if is_4_10(r) {
        assert_eq!(kernel_start, r.va_start as u128);
        rows.extend([
            (kernel_start, r.modules_end as u128, Region::Modules),
            (r.modules_end as u128, r.vmalloc_end as u128, Region::Vmalloc),
            (r.vmalloc_end as u128, r.fixaddr_start as u128, Region::Hole),
            (r.fixaddr_start as u128, r.fixaddr_top as u128, Region::Fixmap),
            (r.fixaddr_top as u128, r.pci_io_start as u128, Region::Hole),
            (r.pci_io_start as u128, r.pci_io_end as u128, Region::PciIo),
            (r.pci_io_end as u128, r.vmemmap_start as u128, Region::Hole),
            (r.vmemmap_start as u128, r.vmemmap_end as u128, Region::Vmemmap),
            (r.page_offset as u128, le, Region::Linear),
            (le, TOP, Region::LinearBeyondRam),
        ]);
    } else {
        assert_eq!(kernel_start, r.linear_start as u128);
        rows.extend([
            (kernel_start, le, Region::Linear),
            (le, n(r.page_end), Region::LinearBeyondRam),
            (r.modules_vaddr as u128, r.modules_end as u128, Region::Modules),
            (r.modules_end as u128, r.vmalloc_end as u128, Region::Vmalloc),
            (r.vmalloc_end as u128, r.vmemmap_in_use as u128, Region::Hole),
            (r.vmemmap_in_use as u128, r.vmemmap_end as u128, Region::Vmemmap),
            (r.vmemmap_end as u128, r.pci_io_start as u128, Region::Hole),
            (r.pci_io_start as u128, r.pci_io_end as u128, Region::PciIo),
            (r.pci_io_end as u128, r.fixaddr_start as u128, Region::Hole),
            (r.fixaddr_start as u128, r.fixaddr_top as u128, Region::Fixmap),
            (r.fixaddr_top as u128, TOP, Region::Hole),
        ]);
    }
    for w in rows.windows(2) {
        assert_eq!(w[0].1, w[1].0, "{}: the reference rows must touch: {:x?}", r.name, w);
        assert!(w[0].0 <= w[0].1, "{}: {:x?}", r.name, w[0]);
    }
    rows
}

fn reference(va: u64, at: &Placement, rows: &[(u128, u128, Region)]) -> Region {
    let v = va as u128;
    let row = rows.iter().find(|&&(s, e, _)| s <= v && v < e).expect("the rows cover 2^64");
    if row.2 == Region::Vmalloc && at.text <= va && va < at.end {
        Region::KernelImage
    } else {
        row.2
    }
}

#[test]
fn classify_follows_the_reference_in_every_flavour() {
    let mut rng = Draws::new(0x5eed_c1a5);
    for r in REFERENCE {
        let l = layout(r.name);
        let mut hits = std::collections::HashMap::new();
        for round in 0..20 {
            let text = r.kimage_vaddr + rng.below(1 << 12) * (2 << 20);
            let at = Placement {
                text,
                end: text + rng.range_incl(1, 64 << 20),
                linear_end: r.linear_start + if round % 5 == 0 { 0 } else { rng.below(r.linear_size.min(64 << 40)) },
            };
            let rows = partition(r, &at);
            let mut edges: Vec<u64> =
                rows.iter().flat_map(|&(s, e, _)| [s, e]).filter(|&x| x < TOP).map(|x| x as u64).collect();
            edges.extend([at.text, at.end]);
            for i in 0..3_000 {
                let va = match i % 3 {
                    0 => rng.next_u64(),
                    1 => {
                        let &(s, e, _) = rng.pick(&rows);
                        if s == e {
                            continue;
                        }
                        (s + rng.next_u64() as u128 % (e - s)) as u64
                    }
                    _ => rng.pick(&edges).wrapping_add(rng.range_incl(0, 0x20_000)).wrapping_sub(0x10_000),
                };
                let want = reference(va, &at, &rows);
                assert_eq!(
                    l.classify(va, &at, r.vabits_actual),
                    want,
                    "{} {}: {va:#018x} with {at:x?}",
                    r.name,
                    r.vabits_actual
                );
                *hits.entry(want).or_insert(0u32) += 1;
            }
        }
        assert_eq!(hits.len(), 11, "{}: every region is exercised: {hits:?}", r.name);
    }
}

#[test]
fn banner_rows_follow_each_version() {
    for r in REFERENCE {
        let l = layout(r.name);
        let at =
            Placement { text: r.kimage_vaddr, end: r.kimage_vaddr + 0x18_0000, linear_end: r.linear_start + (1 << 30) };
        let rows = l.layout_rows(&at, r.vabits_actual);
        let names: Vec<&str> = rows.iter().map(|x| x.name).collect();
        let get = |n: &str| rows.iter().find(|x| x.name == n).map(|x| (x.start, x.end)).unwrap();
        assert_eq!(get("modules"), (r.modules_vaddr, r.modules_end), "{}", r.name);
        assert_eq!(get("vmalloc"), (r.vmalloc_start, r.vmalloc_end), "{}", r.name);
        assert_eq!(get("  .image"), (at.text, at.end), "{}", r.name);
        assert_eq!(get("fixed"), (r.fixaddr_start, r.fixaddr_top), "{}", r.name);
        assert_eq!(get("PCI I/O"), (r.pci_io_start, r.pci_io_end), "{}", r.name);
        assert_eq!(get("vmemmap"), (r.vmemmap_in_use, r.vmemmap_end), "{}", r.name);
        assert_eq!(get("memory"), (r.linear_start, at.linear_end), "{}", r.name);
        assert_eq!(get("user"), (0, 1 << r.vabits_actual), "{}", r.name);
        if is_4_10(r) {
            // As Linux 4.10 printed them.
            assert_eq!(names, ["modules", "vmalloc", "  .image", "fixed", "PCI I/O", "vmemmap", "memory", "user"]);
        } else {
            // In address order.
            assert_eq!(names, ["user", "memory", "modules", "vmalloc", "  .image", "vmemmap", "PCI I/O", "fixed"]);
            assert!(rows.windows(2).all(|w| w[0].start <= w[1].start), "{}: {rows:x?}", r.name);
        }
        for row in rows {
            if row.end != 0 {
                assert!(row.start < row.end, "{}: {row:x?}", r.name);
            }
        }
    }
}

#[test]
fn flavour_names_and_refusals() {
    for l in FLAVOURS {
        let name = l.to_string();
        assert_eq!(flavour::parse(&name), Ok(l), "{name}");
        assert_eq!(flavour::flavour(l.version(), l.granule(), l.va_bits()), Ok(l));
        assert_eq!(Version::from_name(l.version().name()), Ok(l.version()));
        assert_eq!(Granule::from_name(l.granule().name()), Ok(l.granule()));
    }
    assert_eq!(flavour::DEFAULT.to_string(), "4.10-4K-48");
    assert_eq!(flavour::parse("4.10-4k-48"), Ok(flavour::DEFAULT));
    if option_env!("VAKERN_FLAVOUR").is_none_or(str::is_empty) {
        assert_eq!(vakern_mm::layout::ACTIVE, flavour::DEFAULT, "built without VAKERN_FLAVOUR");
    }
    // Exactly the listed combinations are accepted.
    for v in Version::ALL {
        for g in Granule::ALL {
            for bits in 0..=64 {
                let listed = FLAVOURS.iter().any(|l| (l.version(), l.granule(), l.va_bits()) == (v, g, bits));
                let got = flavour::flavour(v, g, bits);
                assert_eq!(got.is_ok(), listed, "{} {} {bits}: {got:?}", v.name(), g.name());
                if let Err(e) = got {
                    assert!(e.len() > 20, "{e}");
                }
            }
        }
    }
    let why = |s: &str| flavour::parse(s).unwrap_err();
    assert!(why("4.10-64K-52").contains("5.4"));
    assert!(why("4.10-4K-52").contains("5.4"));
    assert!(why("6.12-4K-52").contains("LPA2"));
    assert!(why("6.12-16K-52").contains("LPA2"));
    assert!(why("4.10-16K-36").contains("EXPERT"));
    assert!(why("6.12-16K-36").contains("EXPERT"));
    assert!(why("6.12-4K-47").contains("39 and 48"));
    assert!(why("4.10-16K-42").contains("47 and 48"));
    assert!(why("4.10-64K-39").contains("42 and 48"));
    assert!(why("6.12-64K-39").contains("42, 48 and 52"));
    assert!(why("5.4-4K-48").contains("4.10 and 6.12"));
    assert!(why("4.10-8K-48").contains("4K, 16K and 64K"));
    for bad in ["4.10-4K-x", "4.10-4K-480", "4.10-4K-", "4.10-4K-+8"] {
        assert!(why(bad).contains("number"), "{bad}: {}", why(bad));
    }
    for bad in ["", "4.10", "4.10-4K", "4.10-4K-48-1", "4.10_4K_48"] {
        assert!(why(bad).contains("VERSION-PAGESIZE-VABITS"), "{bad}: {}", why(bad));
    }
}

#[test]
fn id_registers_decide_granule_va_and_pa_size() {
    use cpufeat::*;
    use Granule::*;
    // QEMU's cortex-a72 (and a57): PARange 4 (44 bits), TGran4 = TGran64 = 0
    // (present), TGran16 = 0 (absent).
    let a72 = 0x0000_1124;
    assert!(has_granule(a72, K4) && has_granule(a72, K64) && !has_granule(a72, K16));
    assert_eq!(pa_bits(a72), Some(44));
    let e = check_early(&layout("4.10-16K-48"), a72, 0).unwrap_err();
    assert_eq!(e, CpuError::NoGranule { granule: K16, field: 0 });
    let msg = e.to_string();
    assert!(msg.contains("no 16K translation granule") && msg.contains("TGran16 = 0x0"), "{msg}");
    assert_eq!(check_early(&layout("4.10-4K-48"), a72, 0), Ok(48));
    assert_eq!(check_early(&layout("6.12-64K-42"), a72, 0), Ok(42));

    // Field encodings, every value: TGran4/64 signed (0..=7 present, 0xf
    // absent), TGran16 unsigned (0 absent, 1 and 2 present).
    for v in 0..16u64 {
        assert_eq!(has_granule(v << 28, K4), v <= 7, "TGran4 = {v}");
        assert_eq!(has_granule(v << 24, K64), v <= 7, "TGran64 = {v}");
        assert_eq!(has_granule(v << 20, K16), v >= 1, "TGran16 = {v}");
        assert_eq!(tgran_field((v << 28) | (v << 24) | (v << 20), K16), v);
    }
    let no_4k = (0xf << 28) | (1 << 20) | 5;
    let e = check_early(&layout("6.12-4K-39"), no_4k, 0).unwrap_err();
    assert_eq!(e, CpuError::NoGranule { granule: K4, field: 0xf });
    assert!(e.to_string().contains("TGran4 = 0xf"), "{e}");
    assert_eq!(check_early(&layout("6.12-16K-47"), no_4k, 0), Ok(47));

    // 52-bit VAs follow ID_AA64MMFR2_EL1.VARange (bits 19:16).
    let lpa2_cpu = (1 << 28) | (2 << 20) | 6;
    let l52 = layout("6.12-64K-52");
    assert_eq!(check_early(&l52, a72, 0), Ok(48));
    assert_eq!(check_early(&l52, lpa2_cpu, 1 << 16), Ok(52));
    assert_eq!(check_early(&l52, lpa2_cpu, 2 << 16), Ok(48), "only VARange = 1 means 52-bit VAs");
    assert_eq!(check_early(&layout("6.12-64K-48"), lpa2_cpu, 1 << 16), Ok(48), "LVA changes nothing at 48 bits");

    // PA range against the end of RAM.
    for (parange, bits) in [(0, 32), (1, 36), (2, 40), (3, 42), (4, 44), (5, 48), (6, 52), (7, 56)] {
        assert_eq!(pa_bits(parange), Some(bits));
        assert_eq!(check_ram(parange, 1 << bits), Ok(bits));
        let e = check_ram(parange, (1 << bits) + 0x1000).unwrap_err();
        assert_eq!(e, CpuError::RamBeyondPaRange { pa_bits: bits, ram_end: (1 << bits) + 0x1000 });
        assert!(e.to_string().contains(&format!("{bits}-bit physical address space")), "{e}");
    }
    assert_eq!(check_ram(a72, 65 << 30), Ok(44));
    for v in 8..16 {
        assert_eq!(check_ram(v, 1 << 30), Err(CpuError::UnknownPaRange(v)));
    }
}
