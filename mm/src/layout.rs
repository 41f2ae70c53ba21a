//! The kernel's virtual address layout (VA_BITS = 48, 4 KiB pages).
//!
//! Every constant is derived from the ones above it, the way arm64 Linux 4.10
//! derives them in its `memory.h`, and the derived values are pinned by
//! compile-time assertions at the bottom of this file. Both the kernel and the
//! host tools use this module, so the launcher, the GDB helpers and the boot
//! log can never disagree about where a region starts.
//!
//! ```text
//! 0x0000_0000_0000_0000 .. 0x0001_0000_0000_0000  user (TTBR0), empty after boot
//! 0xffff_0000_0000_0000 .. 0xffff_0000_0800_0000  modules        (MODULES_VADDR)
//! 0xffff_0000_0800_0000 .. 0xffff_7dff_bfff_0000  vmalloc; kernel image at its start
//! FIXADDR_START         .. 0xffff_7dff_fec0_0000  fixmap         (FIXADDR_TOP)
//! 0xffff_7dff_fee0_0000 .. 0xffff_7dff_ffe0_0000  PCI I/O
//! 0xffff_7e00_0000_0000 .. 0xffff_8000_0000_0000  vmemmap
//! 0xffff_8000_0000_0000 .. 2^64                   linear map     (PAGE_OFFSET)
//! ```

/// Bits of virtual address translated by each half (T0SZ = T1SZ = 64 - 48).
pub const VA_BITS: u32 = 48;
/// log2 of the page size.
pub const PAGE_SHIFT: u32 = 12;
/// The translation granule and smallest mapping: 4 KiB.
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
/// Size mapped by a level-2 block descriptor.
pub const PMD_SIZE: u64 = 1 << 21;
/// Size mapped by a level-1 block descriptor.
pub const PUD_SIZE: u64 = 1 << 30;
/// Size covered by one level-0 entry.
pub const PGDIR_SIZE: u64 = 1 << 39;
/// Entries per contiguous-hint run at levels 2 and 3 with a 4 KiB granule.
pub const CONT_ENTRIES: u64 = 16;
/// Size of a run of contiguous pages (64 KiB).
pub const CONT_PTE_SIZE: u64 = CONT_ENTRIES * PAGE_SIZE;
/// Size of a run of contiguous level-2 blocks (32 MiB).
pub const CONT_PMD_SIZE: u64 = CONT_ENTRIES * PMD_SIZE;

/// First address of the kernel half of the address space (Linux 4.x `VA_START`).
pub const VA_START: u64 = u64::MAX << VA_BITS;
/// Start of the linear map of all RAM: the top half of the kernel range.
pub const PAGE_OFFSET: u64 = u64::MAX << (VA_BITS - 1);
/// End (exclusive, wrapping to 0) of the linear map; its size is 128 TiB.
pub const LINEAR_SIZE: u64 = 1 << (VA_BITS - 1);

/// Loadable modules live here, just below the kernel image.
pub const MODULES_VADDR: u64 = VA_START;
/// Size of the module area.
pub const MODULES_VSIZE: u64 = 128 << 20;
/// End of the module area.
pub const MODULES_END: u64 = MODULES_VADDR + MODULES_VSIZE;
/// Where the kernel image is linked: right above module space.
pub const KIMAGE_VADDR: u64 = MODULES_END;

/// `struct page` is 64 bytes in the model; vmemmap has one per page of the linear range.
pub const STRUCT_PAGE_SIZE: u64 = 64;
/// Size of the vmemmap array (2 TiB).
pub const VMEMMAP_SIZE: u64 = (LINEAR_SIZE >> PAGE_SHIFT) * STRUCT_PAGE_SIZE;
/// Start of vmemmap, just below the linear map.
pub const VMEMMAP_START: u64 = PAGE_OFFSET - VMEMMAP_SIZE;
/// End of vmemmap.
pub const VMEMMAP_END: u64 = PAGE_OFFSET;

/// The vmalloc area starts where the modules end; the image sits at its bottom.
pub const VMALLOC_START: u64 = MODULES_END;
/// The vmalloc area ends a PUD and 64 KiB below vmemmap.
pub const VMALLOC_END: u64 = PAGE_OFFSET - PUD_SIZE - VMEMMAP_SIZE - 0x1_0000;

/// Size of the PCI I/O window.
pub const PCI_IO_SIZE: u64 = 16 << 20;
/// End of the PCI I/O window: 2 MiB below vmemmap.
pub const PCI_IO_END: u64 = VMEMMAP_START - PMD_SIZE;
/// Start of the PCI I/O window.
pub const PCI_IO_START: u64 = PCI_IO_END - PCI_IO_SIZE;

/// Top of the fixmap (exclusive): 2 MiB below the PCI I/O window.
pub const FIXADDR_TOP: u64 = PCI_IO_START - PMD_SIZE;
/// The fixmap's size: one 2 MiB window of 4 KiB slots plus a 4 MiB window
/// for the device tree (mapped with 2 MiB blocks, like Linux's FIX_FDT).
pub const FIXADDR_SIZE: u64 = PMD_SIZE + FIX_FDT_SIZE;
/// Bottom of the fixmap.
pub const FIXADDR_START: u64 = FIXADDR_TOP - FIXADDR_SIZE;
/// Size of the window the device tree is mapped into (a 2 MiB DTB at any
/// 8-byte alignment needs two 2 MiB blocks).
pub const FIX_FDT_SIZE: u64 = 2 * PMD_SIZE;
/// Base of the device tree window.
pub const FIX_FDT_BASE: u64 = FIXADDR_START;
/// Base of the 4 KiB slot window (the top 2 MiB of the fixmap).
pub const FIX_SLOTS_BASE: u64 = FIXADDR_TOP - PMD_SIZE;

/// Largest device tree the boot protocol allows.
pub const MAX_FDT_SIZE: u64 = 2 << 20;

/// Minimum alignment of `memstart_addr` (Linux ARM64_MEMSTART_ALIGN with 4 KiB pages).
pub const MEMSTART_ALIGN: u64 = PUD_SIZE;

/// Index of `va` in the table at `level` (0..=3).
pub const fn table_index(va: u64, level: u32) -> usize {
    ((va >> (PAGE_SHIFT + 9 * (3 - level))) & 0x1ff) as usize
}

/// Size mapped by one entry at `level`.
pub const fn level_size(level: u32) -> u64 {
    1 << (PAGE_SHIFT + 9 * (3 - level))
}

/// Round `x` down to a multiple of `align` (a power of two).
pub const fn align_down(x: u64, align: u64) -> u64 {
    x & !(align - 1)
}

/// Round `x` up to a multiple of `align` (a power of two); saturates near 2^64.
pub const fn align_up(x: u64, align: u64) -> u64 {
    match x.checked_add(align - 1) {
        Some(v) => v & !(align - 1),
        None => !(align - 1),
    }
}

/// True if `x` is a multiple of `align` (a power of two).
pub const fn is_aligned(x: u64, align: u64) -> bool {
    x & (align - 1) == 0
}

/// True if `va` is canonical for 48-bit addresses: bits 63..48 all zero (the
/// TTBR0 half) or all one (the TTBR1 half). Bit 47 is an address bit in both.
pub const fn is_canonical(va: u64) -> bool {
    let top = va >> VA_BITS;
    top == 0 || top == (u64::MAX >> VA_BITS)
}

/// The parts of the address space a virtual address can fall in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Region {
    /// The low half, translated through TTBR0.
    User,
    /// Neither half: bits 63..48 are neither all zero nor all one.
    NonCanonical,
    /// The module area.
    Modules,
    /// The kernel image (`[_text, _end)`), inside the vmalloc area.
    KernelImage,
    /// The vmalloc area outside the image.
    Vmalloc,
    /// Unused addresses between the vmalloc area and the fixmap.
    Hole,
    /// The fixmap.
    Fixmap,
    /// The PCI I/O window.
    PciIo,
    /// vmemmap.
    Vmemmap,
    /// The linear map, below the end of RAM.
    Linear,
    /// The linear range above the end of RAM (not mapped).
    LinearBeyondRam,
}

impl Region {
    /// A short human name, as used in the boot log and the reports.
    pub const fn name(self) -> &'static str {
        match self {
            Region::User => "user",
            Region::NonCanonical => "non-canonical",
            Region::Modules => "modules",
            Region::KernelImage => "kernel image",
            Region::Vmalloc => "vmalloc",
            Region::Hole => "unused hole",
            Region::Fixmap => "fixmap",
            Region::PciIo => "PCI I/O",
            Region::Vmemmap => "vmemmap",
            Region::Linear => "linear map",
            Region::LinearBeyondRam => "linear map beyond end of RAM",
        }
    }
}

/// Where the image and RAM are at run time: what [`classify`] needs beyond the constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Virtual address of `_text`.
    pub text: u64,
    /// Virtual address of `_end`.
    pub end: u64,
    /// End (exclusive) of the linear addresses backed by RAM: `__va(last RAM byte) + 1`,
    /// or `PAGE_OFFSET` while the linear map does not exist.
    pub linear_end: u64,
}

/// The region of the layout `va` falls in.
pub fn classify(va: u64, at: &Placement) -> Region {
    if !is_canonical(va) {
        Region::NonCanonical
    } else if va < VA_START {
        Region::User
    } else if va >= PAGE_OFFSET {
        if va < at.linear_end {
            Region::Linear
        } else {
            Region::LinearBeyondRam
        }
    } else if va < MODULES_END {
        Region::Modules
    } else if va >= at.text && va < at.end {
        Region::KernelImage
    } else if va < VMALLOC_END {
        Region::Vmalloc
    } else if va < FIXADDR_START {
        Region::Hole
    } else if va < FIXADDR_TOP {
        Region::Fixmap
    } else if (PCI_IO_START..PCI_IO_END).contains(&va) {
        Region::PciIo
    } else if va >= VMEMMAP_START {
        Region::Vmemmap
    } else {
        Region::Hole
    }
}

/// One row of the "Virtual kernel memory layout" table printed at boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayoutRow {
    /// Name, as Linux 4.x printed it.
    pub name: &'static str,
    /// First address.
    pub start: u64,
    /// End address (exclusive); 0 means 2^64.
    pub end: u64,
}

/// The layout table with the run-time placement of the image and the linear map.
pub fn layout_rows(at: &Placement) -> [LayoutRow; 8] {
    let row = |name, start, end| LayoutRow { name, start, end };
    [
        row("modules", MODULES_VADDR, MODULES_END),
        row("vmalloc", VMALLOC_START, VMALLOC_END),
        row("  .image", at.text, at.end),
        row("fixed", FIXADDR_START, FIXADDR_TOP),
        row("PCI I/O", PCI_IO_START, PCI_IO_END),
        row("vmemmap", VMEMMAP_START, VMEMMAP_END),
        row("memory", PAGE_OFFSET, at.linear_end),
        row("user", 0, 1 << VA_BITS),
    ]
}

/// Size of `[start, end)` where an `end` of 0 stands for 2^64.
pub const fn span(start: u64, end: u64) -> u64 {
    end.wrapping_sub(start)
}

// The derived values match the published arm64 Linux 4.10 layout for VA_BITS = 48.
const _: () = assert!(VA_START == 0xffff_0000_0000_0000);
const _: () = assert!(PAGE_OFFSET == 0xffff_8000_0000_0000);
const _: () = assert!(MODULES_END == 0xffff_0000_0800_0000);
const _: () = assert!(KIMAGE_VADDR == 0xffff_0000_0800_0000);
const _: () = assert!(VMALLOC_END == 0xffff_7dff_bfff_0000);
const _: () = assert!(VMEMMAP_START == 0xffff_7e00_0000_0000);
const _: () = assert!(VMEMMAP_SIZE == 2 << 40);
const _: () = assert!(PCI_IO_START == 0xffff_7dff_fee0_0000);
const _: () = assert!(PCI_IO_END == 0xffff_7dff_ffe0_0000);
const _: () = assert!(FIXADDR_TOP == 0xffff_7dff_fec0_0000);
// The regions are in order and do not overlap.
const _: () = assert!(MODULES_END <= VMALLOC_START);
const _: () = assert!(VMALLOC_END <= FIXADDR_START);
const _: () = assert!(FIXADDR_TOP <= PCI_IO_START);
const _: () = assert!(PCI_IO_END <= VMEMMAP_START);
const _: () = assert!(VMEMMAP_END <= PAGE_OFFSET);
// The fixmap fits in one level-2 table, so one static table set can serve it.
const _: () = assert!(FIXADDR_START / PUD_SIZE == (FIXADDR_TOP - 1) / PUD_SIZE);
const _: () = assert!(is_aligned(FIX_FDT_BASE, PMD_SIZE) && is_aligned(FIX_SLOTS_BASE, PMD_SIZE));
// The image's 2 MiB-aligned placement is what the boot protocol's "anywhere" flag needs.
const _: () = assert!(is_aligned(KIMAGE_VADDR, PMD_SIZE));
