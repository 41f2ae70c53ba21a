//! The kernel's virtual address layout, for the flavour it is built in.
//!
//! The flavour (a Linux version, a page size and `VA_BITS`; see
//! [`crate::flavour`]) comes from the `VAKERN_FLAVOUR` environment variable
//! when this crate is compiled, written like `6.12-64K-52`; without it the
//! kernel is built as `4.10-4K-48`. Every constant below is derived from that
//! one [`ACTIVE`] flavour, the way arm64 Linux derives them in its `memory.h`,
//! and every flavour is checked at compile time (`flavour.rs`). Both the
//! kernel and the host tools use this module, so the launcher, the GDB helpers
//! and the boot log can never disagree about where a region starts.
//!
//! The default, 4.10 with 48-bit VAs and 4 KiB pages:
//!
//! ```text
//! 0x0000_0000_0000_0000 .. 0x0001_0000_0000_0000  user (TTBR0), empty after boot
//! 0xffff_0000_0000_0000 .. 0xffff_0000_0800_0000  modules        (MODULES_VADDR)
//! 0xffff_0000_0800_0000 .. 0xffff_7dff_bfff_0000  vmalloc; kernel image at its start
//! 0xffff_7dff_fe60_0000 .. 0xffff_7dff_fec0_0000  fixmap         (FIXADDR_TOP)
//! 0xffff_7dff_fee0_0000 .. 0xffff_7dff_ffe0_0000  PCI I/O
//! 0xffff_7e00_0000_0000 .. 0xffff_8000_0000_0000  vmemmap
//! 0xffff_8000_0000_0000 .. 2^64                   linear map     (PAGE_OFFSET)
//! ```
//!
//! 6.12 with the same page and VA size turns it over:
//!
//! ```text
//! 0xffff_0000_0000_0000 .. 0xffff_8000_0000_0000  linear map     (PAGE_OFFSET .. PAGE_END)
//! 0xffff_8000_0000_0000 .. 0xffff_8000_8000_0000  modules
//! 0xffff_8000_8000_0000 .. 0xffff_fdff_bf80_0000  vmalloc; kernel image at its start
//! 0xffff_fdff_c000_0000 .. 0xffff_ffff_c000_0000  vmemmap
//! 0xffff_ffff_c080_0000 .. 0xffff_ffff_c180_0000  PCI I/O
//! 0xffff_ffff_ff20_0000 .. 0xffff_ffff_ff80_0000  fixmap
//! ```
//!
//! # What a flavour changes in the kernel
//!
//! - **Build.** The launcher sets `VAKERN_FLAVOUR` for the nested kernel
//!   build and gives each flavour its own target directory
//!   (`target/kernel/<flavour>[-debug_virtual]`), so switching flavours never
//!   rebuilds another one. The build script links the image at this module's
//!   `KIMAGE_VADDR`, so it follows. The launcher's own copy of this crate
//!   stays at the default; it works with [`crate::flavour::flavour`]'s
//!   [`Layout`] for the flavour it boots, and so do the GDB helpers.
//! - **Before the MMU is on.** `TCR_EL1` takes T0SZ/T1SZ from
//!   [`Layout::tcr_txsz`] and TG0/TG1 from [`Layout::tcr_granule_bits`], and
//!   the image header's page-size field follows the granule. The boot stub
//!   reads ID_AA64MMFR0_EL1 and stops with exit code 6 and a message naming
//!   the granule if the CPU lacks it ([`crate::cpufeat`]); with 52-bit VAs it
//!   reads ID_AA64MMFR2_EL1.VARange to pick `vabits_actual`, sets T1SZ from
//!   it, and adds [`Layout::ttbr1_offset`] to TTBR1.
//! - **Tables.** The early map, the fixmap, the populate routines and the
//!   walker start at [`ROOT_LEVEL`] instead of level 0 and index with
//!   [`table_index`] (its root mask comes from `VA_BITS`). Level-1 blocks
//!   exist only with 4 KiB pages ([`Layout::block_allowed`]); the image is
//!   mapped early with [`Layout::swapper_block_size`] (pages with 16 and
//!   64 KiB); contiguous runs are [`CONT_PTES`] pages and [`CONT_PMDS`]
//!   level-2 blocks; the device tree window is mapped with pages where
//!   [`Layout::fdt_block_mapped`] is false.
//! - **Memory.** `memstart_addr` is [`Layout::memstart_addr`] for the lowest
//!   RAM and the boot's `vabits_actual`, RAM is clipped to
//!   [`Layout::linear_region_size`], and with 52-bit VAs the boot log shows
//!   `vabits_actual`, the linear map's start and the lowered `memstart_addr`.
//!   [`VMALLOC_END`], [`LINEAR_SIZE`] and the linear map's start are the
//!   52-bit values here; a 48-bit CPU needs the `vabits_actual` forms.
//! - **Translation.** The unchecked `__pa` uses the version's own
//!   [`Layout::lm_test`] (4.10's single bit, 6.12's range) and
//!   [`Layout::lm_to_phys`]; `debug_virtual` keeps the exact range check.

pub use crate::flavour::{Granule, Layout, Version};

/// The flavour this crate was compiled for: `VAKERN_FLAVOUR` (for example
/// `6.12-64K-52`), or 4.10 with 4 KiB pages and 48-bit VAs when it is unset
/// or empty. A name that is not a flavour stops the build with the reason.
pub const ACTIVE: Layout = match option_env!("VAKERN_FLAVOUR") {
    None => crate::flavour::DEFAULT,
    Some(name) if name.is_empty() => crate::flavour::DEFAULT,
    Some(name) => match crate::flavour::parse(name) {
        Ok(l) => l,
        Err(why) => panic!("{}", why),
    },
};

/// Bits of virtual address the TTBR1 half can translate (`VA_BITS`).
pub const VA_BITS: u32 = ACTIVE.va_bits();
/// `VA_BITS_MIN`: the VA size on a CPU without FEAT_LVA (differs only with 52-bit VAs).
pub const VA_BITS_MIN: u32 = ACTIVE.va_bits_min();
/// log2 of the page size.
pub const PAGE_SHIFT: u32 = ACTIVE.page_shift();
/// The translation granule and smallest mapping.
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
/// Translation table levels.
pub const LEVELS: u32 = ACTIVE.levels();
/// The level of the root table (0 with four levels; 3 is the page level).
pub const ROOT_LEVEL: u32 = ACTIVE.root_level();
/// Size mapped by a level-2 entry (2 MiB with 4 KiB pages).
pub const PMD_SIZE: u64 = ACTIVE.pmd_size();
/// Size covered by a level-1 entry (1 GiB with 4 KiB pages, the only
/// granule with level-1 blocks).
pub const PUD_SIZE: u64 = ACTIVE.pud_size();
/// Size covered by one entry of the root table.
pub const PGDIR_SIZE: u64 = ACTIVE.pgdir_size();
/// Pages in a contiguous-hint run at level 3.
pub const CONT_PTES: u64 = ACTIVE.cont_ptes();
/// Level-2 blocks in a contiguous-hint run.
pub const CONT_PMDS: u64 = ACTIVE.cont_pmds();
/// Size of a run of contiguous pages (64 KiB with 4 KiB pages).
pub const CONT_PTE_SIZE: u64 = ACTIVE.cont_pte_size();
/// Size of a run of contiguous level-2 blocks (32 MiB with 4 KiB pages).
pub const CONT_PMD_SIZE: u64 = ACTIVE.cont_pmd_size();

/// First address of the TTBR1 half (Linux 4.x `VA_START`).
pub const VA_START: u64 = ACTIVE.va_start();
/// Start of the linear map of all RAM: `__va(PHYS_OFFSET)`.
pub const PAGE_OFFSET: u64 = ACTIVE.page_offset();
/// End (exclusive) of the linear range; 0 stands for 2^64 (4.10).
pub const PAGE_END: u64 = ACTIVE.page_end();
/// Size of the linear range (128 TiB by default).
pub const LINEAR_SIZE: u64 = ACTIVE.linear_region_size(VA_BITS);

/// Loadable modules live here, just below the kernel image.
pub const MODULES_VADDR: u64 = ACTIVE.modules_vaddr();
/// Size of the module area.
pub const MODULES_VSIZE: u64 = ACTIVE.modules_vsize();
/// End of the module area.
pub const MODULES_END: u64 = ACTIVE.modules_end();
/// Where the kernel image is linked: right above module space.
pub const KIMAGE_VADDR: u64 = ACTIVE.kimage_vaddr();

/// `struct page` is 64 bytes in the model; vmemmap has one per page of the linear range.
pub const STRUCT_PAGE_SIZE: u64 = ACTIVE.struct_page_size();
/// Size of the vmemmap array (2 TiB by default).
pub const VMEMMAP_SIZE: u64 = ACTIVE.vmemmap_size();
/// Start of vmemmap.
pub const VMEMMAP_START: u64 = ACTIVE.vmemmap_start();
/// End of vmemmap.
pub const VMEMMAP_END: u64 = ACTIVE.vmemmap_end();

/// The vmalloc area starts where the modules end; the image sits at its bottom.
pub const VMALLOC_START: u64 = ACTIVE.vmalloc_start();
/// End of the vmalloc area (by default a PUD and 64 KiB below vmemmap).
pub const VMALLOC_END: u64 = ACTIVE.vmalloc_end(VA_BITS);

/// Size of the PCI I/O window.
pub const PCI_IO_SIZE: u64 = ACTIVE.pci_io_size();
/// End of the PCI I/O window.
pub const PCI_IO_END: u64 = ACTIVE.pci_io_end();
/// Start of the PCI I/O window.
pub const PCI_IO_START: u64 = ACTIVE.pci_io_start();

/// Top of the fixmap (exclusive).
pub const FIXADDR_TOP: u64 = ACTIVE.fixaddr_top();
/// The fixmap's size: one 2 MiB window of page-sized slots plus a 4 MiB window
/// for the device tree (mapped with two 2 MiB blocks with 4 KiB pages, like
/// Linux's FIX_FDT).
pub const FIXADDR_SIZE: u64 = ACTIVE.fixaddr_size();
/// Bottom of the fixmap.
pub const FIXADDR_START: u64 = ACTIVE.fixaddr_start();
/// Size of the window the device tree is mapped into (a 2 MiB DTB at any
/// 8-byte alignment needs two 2 MiB blocks).
pub const FIX_FDT_SIZE: u64 = ACTIVE.fix_fdt_size();
/// Base of the device tree window.
pub const FIX_FDT_BASE: u64 = ACTIVE.fix_fdt_base();
/// Size of the slot window.
pub const FIX_SLOTS_SIZE: u64 = ACTIVE.fix_slots_size();
/// Base of the slot window (the top 2 MiB of the fixmap).
pub const FIX_SLOTS_BASE: u64 = ACTIVE.fix_slots_base();

/// Largest device tree the boot protocol allows.
pub const MAX_FDT_SIZE: u64 = 2 << 20;

/// Largest image, `.bss` included, that the early tables are sized for;
/// `linker.ld` refuses a larger one (`__max_image_size`, from kernel/build.rs).
pub const MAX_IMAGE_SIZE: u64 = 4 << 20;
/// Alignment of the image's physical load address (the boot protocol's
/// 2 MiB): the one thing the early maps know about where the image sits.
pub const IMAGE_LOAD_ALIGN: u64 = 2 << 20;
/// What the early maps of the image use (Linux's `SWAPPER_BLOCK_SIZE`):
/// 2 MiB level-2 blocks with 4 KiB pages, pages with 16 and 64 KiB ones,
/// whose level-2 blocks (32 MiB, 512 MiB) would reach far past the image.
pub const SWAPPER_BLOCK_SIZE: u64 = ACTIVE.swapper_block_size();
/// The table level of the early maps' leaf entries: 2 (blocks) or 3 (pages).
pub const SWAPPER_LEAF_LEVEL: u32 = if SWAPPER_BLOCK_SIZE == PAGE_SIZE { 3 } else { 2 };
const _: () = assert!(SWAPPER_BLOCK_SIZE == level_size(SWAPPER_LEAF_LEVEL));
const _: () = assert!(SWAPPER_BLOCK_SIZE <= IMAGE_LOAD_ALIGN);

/// The most tables of `span` bytes each (`span`-aligned) that `size` bytes
/// starting at any multiple of `align` can touch: the worst start lies
/// `span - align` into a table (when `align` is the smaller; both are powers
/// of two), so the range reaches `span - align + size` bytes from that
/// table's start.
pub const fn tables_spanned(size: u64, align: u64, span: u64) -> usize {
    let lead = span.saturating_sub(align);
    (lead + size).div_ceil(span) as usize
}

/// Minimum alignment of `memstart_addr` (Linux ARM64_MEMSTART_ALIGN).
pub const MEMSTART_ALIGN: u64 = ACTIVE.memstart_align();

/// Index of `va` in the table at `level` (`ROOT_LEVEL..=3`).
pub const fn table_index(va: u64, level: u32) -> usize {
    ACTIVE.table_index(va, level)
}

/// Size mapped by one entry at `level`.
pub const fn level_size(level: u32) -> u64 {
    ACTIVE.level_size(level)
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

/// True if `va` is canonical for `VA_BITS`-bit addresses: the bits above all
/// zero (the TTBR0 half) or all one (the TTBR1 half). By default bit 47 is an
/// address bit in both halves.
pub const fn is_canonical(va: u64) -> bool {
    ACTIVE.is_canonical(va, VA_BITS)
}

/// The parts of the address space a virtual address can fall in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Region {
    /// The low half, translated through TTBR0.
    User,
    /// Neither half: the bits above `vabits_actual` are neither all zero nor all one.
    NonCanonical,
    /// The module area.
    Modules,
    /// The kernel image (`[_text, _end)`), inside the vmalloc area.
    KernelImage,
    /// The vmalloc area outside the image.
    Vmalloc,
    /// Unused addresses between regions.
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
    /// Every region, low addresses first.
    pub const ALL: [Region; 11] = [
        Region::User,
        Region::NonCanonical,
        Region::Modules,
        Region::KernelImage,
        Region::Vmalloc,
        Region::Hole,
        Region::Fixmap,
        Region::PciIo,
        Region::Vmemmap,
        Region::Linear,
        Region::LinearBeyondRam,
    ];

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

/// The region of the layout `va` falls in (for the built flavour at `VA_BITS`).
pub fn classify(va: u64, at: &Placement) -> Region {
    ACTIVE.classify(va, at, VA_BITS)
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
    ACTIVE.layout_rows(at, VA_BITS)
}

/// Size of `[start, end)` where an `end` of 0 stands for 2^64.
pub const fn span(start: u64, end: u64) -> u64 {
    end.wrapping_sub(start)
}

impl Layout {
    /// The region `va` falls in on a CPU using `vabits_actual` bits.
    pub fn classify(&self, va: u64, at: &Placement, vabits_actual: u32) -> Region {
        let image = va >= at.text && va < at.end;
        if !self.is_canonical(va, vabits_actual) {
            return Region::NonCanonical;
        }
        if va >> vabits_actual == 0 {
            return Region::User;
        }
        if self.in_linear_range(va) {
            return if va < at.linear_end { Region::Linear } else { Region::LinearBeyondRam };
        }
        let within = |start: u64, end: u64| va >= start && va < end;
        if within(self.modules_vaddr(), self.modules_end()) {
            Region::Modules
        } else if image {
            Region::KernelImage
        } else if within(self.vmalloc_start(), self.vmalloc_end(vabits_actual)) {
            Region::Vmalloc
        } else if within(self.fixaddr_start(), self.fixaddr_top()) {
            Region::Fixmap
        } else if within(self.pci_io_start(), self.pci_io_end()) {
            Region::PciIo
        } else if within(self.vmemmap_start_in_use(vabits_actual), self.vmemmap_end()) {
            Region::Vmemmap
        } else {
            Region::Hole
        }
    }

    /// The boot banner's rows in address order: 4.10's own order (its
    /// "Virtual kernel memory layout"), or the same rows in 6.12's order.
    pub fn layout_rows(&self, at: &Placement, vabits_actual: u32) -> [LayoutRow; 8] {
        let row = |name, start, end| LayoutRow { name, start, end };
        let modules = row("modules", self.modules_vaddr(), self.modules_end());
        let vmalloc = row("vmalloc", self.vmalloc_start(), self.vmalloc_end(vabits_actual));
        let image = row("  .image", at.text, at.end);
        let fixed = row("fixed", self.fixaddr_start(), self.fixaddr_top());
        let pci = row("PCI I/O", self.pci_io_start(), self.pci_io_end());
        let vmemmap = row("vmemmap", self.vmemmap_start_in_use(vabits_actual), self.vmemmap_end());
        let memory = row("memory", self.linear_start(vabits_actual), at.linear_end);
        let user = row("user", 0, 1 << vabits_actual);
        match self.version() {
            Version::V4_10 => [modules, vmalloc, image, fixed, pci, vmemmap, memory, user],
            Version::V6_12 => [user, memory, modules, vmalloc, image, vmemmap, pci, fixed],
        }
    }
}

// The default flavour's values are those of the published arm64 Linux 4.10
// layout for VA_BITS = 48, whatever flavour this crate is built in.
const _: () = {
    let l = crate::flavour::DEFAULT;
    assert!(l.va_start() == 0xffff_0000_0000_0000);
    assert!(l.page_offset() == 0xffff_8000_0000_0000);
    assert!(l.modules_end() == 0xffff_0000_0800_0000);
    assert!(l.kimage_vaddr() == 0xffff_0000_0800_0000);
    assert!(l.vmalloc_end(48) == 0xffff_7dff_bfff_0000);
    assert!(l.vmemmap_start() == 0xffff_7e00_0000_0000);
    assert!(l.vmemmap_size() == 2 << 40);
    assert!(l.pci_io_start() == 0xffff_7dff_fee0_0000);
    assert!(l.pci_io_end() == 0xffff_7dff_ffe0_0000);
    assert!(l.fixaddr_top() == 0xffff_7dff_fec0_0000);
};
// The image's 2 MiB-aligned placement is what the boot protocol's "anywhere" flag needs.
const _: () = assert!(is_aligned(KIMAGE_VADDR, 2 << 20));
