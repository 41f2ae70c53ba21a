//! Boot stage 4: physical memory from the device tree, `memstart_addr`, and
//! the early allocator (Linux's memblock and `arm64_memblock_init`).
//!
//! `arm64_memblock_init` takes what `vakern_mm::dtb` found, drops RAM the
//! kernel cannot map (beyond the CPU's physical address size or the 128 TiB
//! linear range: a warning each), refuses a layout that cannot work (RAM that
//! does not hold the kernel: a boot error), sets `memstart_addr`, and
//! reserves the image, the device tree and every reservation the tree lists.
//! Until the page allocator takes over, table pages come from [`alloc`].

use crate::mm::physaddr::{self, image_bounds, kimg_to_phys};
use crate::{pr_info, pr_warn};
use spin::{Mutex, Once};
use vakern_mm::dtb::{MemoryInfo, ReservedKind, MAX_RAM_RANGES};
use vakern_mm::fmt::{Addr, Size};
use vakern_mm::layout::{self, MEMSTART_ALIGN, PAGE_SIZE};
use vakern_mm::ranges::{Range, RangeSet};

/// Most free ranges tracked (fragmentation, not RAM size, sets the need).
pub const MAX_FREE_RANGES: usize = 128;

/// Memory as the kernel sees it once discovery is done.
pub struct Memory {
    /// All RAM the kernel uses (after clipping), including `no-map` ranges.
    pub ram: RangeSet<MAX_RAM_RANGES>,
    /// RAM in the linear map (RAM less `no-map`).
    pub mapped: RangeSet<MAX_RAM_RANGES>,
    /// Everything reserved, merged.
    pub reserved: RangeSet<MAX_FREE_RANGES>,
}

static MEMORY: Once<Memory> = Once::new();
/// RAM by NUMA node (`numa-node-id` of the memory nodes), as found.
static NUMA: Once<[Option<(u32, Range)>; MAX_RAM_RANGES]> = Once::new();
static FREE: Mutex<RangeSet<MAX_FREE_RANGES>> = Mutex::new(RangeSet::new());

/// Why memory set-up failed.
#[derive(Debug)]
pub enum MemError {
    /// The kernel image is not inside RAM the linear map covers.
    KernelNotInRam {
        /// Physical range of the image.
        image: Range,
    },
    /// No RAM is left after clipping.
    NoUsableRam,
    /// More ranges than the fixed tables hold.
    TooFragmented,
}

impl core::fmt::Display for MemError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MemError::KernelNotInRam { image } => write!(
                f,
                "RAM does not contain the kernel image [{}, {}): the device tree's memory nodes are wrong",
                Addr(image.base),
                Addr(image.end)
            ),
            MemError::NoUsableRam => write!(f, "no usable RAM left after clipping to the physical address size"),
            MemError::TooFragmented => write!(f, "too many memory ranges or reservations"),
        }
    }
}

/// The CPU's physical address size in bits (ID_AA64MMFR0_EL1.PARange, capped at 48).
pub fn pa_bits() -> u32 {
    use aarch64_cpu::registers::{Readable, ID_AA64MMFR0_EL1, ID_AA64MMFR0_EL1::PARange};
    match ID_AA64MMFR0_EL1.read_as_enum(PARange) {
        Some(PARange::Value::Bits_32) => 32,
        Some(PARange::Value::Bits_36) => 36,
        Some(PARange::Value::Bits_40) => 40,
        Some(PARange::Value::Bits_42) => 42,
        Some(PARange::Value::Bits_44) => 44,
        _ => 48,
    }
}

/// Set up memory from the device tree: see the module comment.
pub fn arm64_memblock_init(info: &mut MemoryInfo, dtb_pa: u64, dtb_size: u64) -> Result<u64, MemError> {
    let (text, end) = image_bounds();
    let image = Range { base: kimg_to_phys(text), end: kimg_to_phys(end) };
    let mut ram = info.ram.clone();

    let limit = 1u64 << pa_bits();
    for r in info.ram.iter().filter(|r| r.end > limit) {
        pr_warn!(
            "RAM [{}, {}) beyond the CPU's {}-bit physical address space: left out",
            Addr(r.base.max(limit)),
            Addr(r.end),
            pa_bits()
        );
    }
    ram.remove(Range { base: limit, end: u64::MAX }).map_err(|_| MemError::TooFragmented)?;
    let lowest = ram.iter().next().ok_or(MemError::NoUsableRam)?.base;
    // With 52-bit VAs on a 48-bit CPU, memstart_addr is lowered so that RAM
    // lands where a 48-bit walk reaches (`Layout::memstart_addr`); the
    // linear map then holds what fits from RAM's aligned base.
    let va = crate::arch::sysreg::vabits_actual();
    let memstart = layout::ACTIVE.memstart_addr(lowest, va);
    let linear_limit = layout::align_down(lowest, MEMSTART_ALIGN).saturating_add(layout::ACTIVE.linear_region_size(va));
    if ram.iter().any(|r| r.end > linear_limit) {
        pr_warn!(
            "RAM above {} does not fit the {} linear map: left out",
            Addr(linear_limit),
            vakern_mm::fmt::Size(layout::ACTIVE.linear_region_size(va))
        );
        ram.remove(Range { base: linear_limit, end: u64::MAX }).map_err(|_| MemError::TooFragmented)?;
    }

    info.ram = ram.clone();
    let mapped = info.mappable().map_err(|_| MemError::TooFragmented)?;
    if !mapped.covers(&image) {
        return Err(MemError::KernelNotInRam { image });
    }

    let mut reserved = RangeSet::new();
    let page_out =
        |r: Range| Range { base: layout::align_down(r.base, PAGE_SIZE), end: layout::align_up(r.end, PAGE_SIZE) };
    info.reserve(image, ReservedKind::Kernel).map_err(|_| MemError::TooFragmented)?;
    if let Some(dtb) = Range::new(dtb_pa, dtb_size) {
        if ram.intersects(&dtb) {
            info.reserve(dtb, ReservedKind::Dtb).map_err(|_| MemError::TooFragmented)?;
        }
    }
    for r in info.reservations() {
        reserved.add(page_out(r.range)).map_err(|_| MemError::TooFragmented)?;
    }
    let mut free = RangeSet::new();
    for r in mapped.iter() {
        let r = Range { base: layout::align_up(r.base, PAGE_SIZE), end: layout::align_down(r.end, PAGE_SIZE) };
        free.add(r).map_err(|_| MemError::TooFragmented)?;
    }
    for r in reserved.iter() {
        free.remove(*r).map_err(|_| MemError::TooFragmented)?;
    }
    *FREE.lock() = free;

    let ram_start = mapped.iter().next().map_or(0, |r| r.base);
    let ram_end = mapped.iter().last().map_or(0, |r| r.end);
    let holes = mapped.len() > 1;
    MEMORY.call_once(|| Memory { ram, mapped, reserved });
    NUMA.call_once(|| info.numa);
    physaddr::set_memstart(memstart, ram_start, ram_end, holes);
    Ok(memstart)
}

/// Print the memory table: RAM ranges, reservations, free memory.
pub fn print_regions(info: &MemoryInfo) {
    let Some(m) = MEMORY.get() else { return };
    pr_info!("Memory: {} RAM range(s) from {} memory reg entr(ies)", m.ram.len(), info.ram_entries);
    for a in info.adjustments() {
        pr_warn!("Memory: device tree {}", a);
    }
    if info.nadjustments > info.adjustments().count() {
        pr_warn!("Memory: and {} more such changes", info.nadjustments - info.adjustments().count());
    }
    pr_info!("  {:<23} {:<23} {:>10}  {}", "base", "end", "size", "kind");
    for r in m.ram.iter() {
        pr_info!("  {} {} {:>10}  RAM", Addr(r.base), Addr(r.end), crate::console::fmt::padded(Size(r.size())));
    }
    for r in info.reservations() {
        let kind = match r.kind {
            ReservedKind::NoMap(_) => "reserved, no-map",
            ReservedKind::ReservedMemory(_) => "reserved",
            ReservedKind::MemReserve => "reserved (/memreserve/)",
            ReservedKind::Kernel => "reserved",
            ReservedKind::Dtb => "reserved",
        };
        pr_info!(
            "  {} {} {:>10}  {} ({})",
            Addr(r.range.base),
            Addr(r.range.end),
            crate::console::fmt::padded(Size(r.range.size())),
            kind,
            r.kind.label()
        );
    }
    print_numa(&mut |l| pr_info!("{}", l));
    pr_info!(
        "Memory: {} total, {} in the linear map, {} free",
        Size(m.ram.total()),
        Size(m.mapped.total()),
        Size(free_bytes())
    );
}

/// The NUMA nodes and their RAM, one line each, to `emit` (Linux's
/// "NUMA: ... node N [mem START-END]" shape, END inclusive). Without any
/// `numa-node-id` all RAM is one node 0, as Linux's fake node.
pub fn print_numa(emit: &mut dyn FnMut(core::fmt::Arguments)) {
    let (Some(m), Some(numa)) = (MEMORY.get(), NUMA.get()) else { return };
    let line = |e: &mut dyn FnMut(core::fmt::Arguments), node: u32, r: &Range| {
        e(format_args!("NUMA: node {}: [mem {:#018x}-{:#018x}] {}", node, r.base, r.end - 1, Size(r.size())))
    };
    if numa.iter().all(Option::is_none) {
        let (Some(first), Some(last)) = (m.ram.iter().next(), m.ram.iter().last()) else { return };
        emit(format_args!("NUMA: no numa-node-id in the device tree: all RAM is node 0"));
        line(emit, 0, &Range { base: first.base, end: last.end });
        return;
    }
    let mut nodes: [u32; MAX_RAM_RANGES] = [u32::MAX; MAX_RAM_RANGES];
    let mut n = 0;
    for (node, _) in numa.iter().flatten() {
        if !nodes[..n].contains(node) {
            nodes[n] = *node;
            n += 1;
        }
    }
    nodes[..n].sort_unstable();
    emit(format_args!("NUMA: {} {} in the device tree", n, if n == 1 { "node" } else { "nodes" }));
    for &node in &nodes[..n] {
        for (_, r) in numa.iter().flatten().filter(|(k, _)| *k == node) {
            line(emit, node, r);
        }
    }
}

/// The memory description, once `arm64_memblock_init` has run.
pub fn memory() -> Option<&'static Memory> {
    MEMORY.get()
}

/// True if `pa` is RAM the kernel uses (including `no-map` RAM).
pub fn is_ram(pa: u64) -> bool {
    MEMORY.get().is_some_and(|m| m.ram.contains(pa))
}

/// True if `pa` is RAM covered by the linear map.
pub fn is_mapped_ram(pa: u64) -> bool {
    MEMORY.get().is_some_and(|m| m.mapped.contains(pa))
}

/// True if `pa` is reserved.
pub fn is_reserved(pa: u64) -> bool {
    MEMORY.get().is_some_and(|m| m.reserved.contains(pa))
}

/// Take `size` bytes aligned to `align` from free memory (early allocator).
pub fn alloc(size: u64, align: u64) -> Option<u64> {
    FREE.lock().alloc(size, align).ok()
}

/// Free bytes left.
pub fn free_bytes() -> u64 {
    FREE.lock().total()
}

/// Hand every free range over (to the page allocator); memblock is empty afterwards.
pub fn take_free() -> RangeSet<MAX_FREE_RANGES> {
    core::mem::take(&mut *FREE.lock())
}
