//! Translating between virtual and physical addresses, checked.
//!
//! The run-time half of Linux's `memory.h` and `physaddr.c`: the two values
//! every translation depends on (`memstart_addr`, set by `memblock.rs` from
//! the device tree, and `kimage_voffset`, set at entry to `start_kernel`),
//! and the translations built on them. Every function keeps its Linux name as
//! a doc alias, and a few raw-`u64` forms carry the Linux names themselves
//! for addresses that arrive from outside (registers, the device tree, the
//! monitor).
//!
//! With the `debug_virtual` feature each call is checked, as Linux's
//! CONFIG_DEBUG_VIRTUAL does, plus a few checks Linux does not make:
//! - `__pa`/`virt_to_phys` of an address outside the linear map: a report
//!   "virt_to_phys used for non-linear address: ADDR (REGION) at CALLER",
//!   counted in [`reports`]; then, as in Linux, the image rule is applied and
//!   the kernel carries on. A linear address past the end of RAM is reported
//!   the same way ("… linear address beyond RAM"), with the linear rule.
//! - `__va`/`phys_to_virt` of a physical address outside RAM: reported and
//!   counted (Linux does not check this).
//! - `__pa_symbol` outside `[_text, _end]`, `PHYS_OFFSET` before
//!   `memstart_addr` is set, `lm_alias` before the linear map exists: the
//!   kernel stops with exit code `DEBUG_VIRTUAL_BUG` (Linux: BUG).
//!
//! Without the feature the same calls are the bare arithmetic of
//! `vakern_mm::addr`, inlined: no call and no branch to a check. The checks
//! themselves are in `physaddr/debug_virtual.rs`.
//!
//! The file is over 400 lines because every translation keeps its Linux
//! name, alias and caller-tracking wrapper next to the rule it applies, and
//! the unchecked `__pa` has one hand-scheduled form per Linux version (4.10's
//! bit test, 6.12's range check as a count of leading ones); splitting them
//! apart would separate each rule from the only code that states it.

use crate::arch::sections::{_end, _text};
#[cfg(feature = "debug_virtual")]
mod debug_virtual;
#[cfg(feature = "debug_virtual")]
use core::panic::Location;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
#[cfg(feature = "debug_virtual")]
use debug_virtual::{bug, check_pa_symbol, check_phys_to_virt, check_virt_to_phys, lm_alias_bug};
use vakern_mm::addr;
pub use vakern_mm::addr::{PhysAddr, VirtAddr};
use vakern_mm::layout::{self, PAGE_OFFSET};

/// The value `memstart_addr` holds until memory is discovered: odd, so no
/// real (page-aligned) value can be mistaken for it. Linux uses -1.
pub const MEMSTART_UNSET: u64 = u64::MAX;

/// The values every translation reads, together in one page-aligned block
/// so that the fast paths address them with a single `adrp` and no `add`:
/// `__pa` picks its offset from `pa_offset` (see [`virt_to_phys_nodebug`]).
#[repr(C, align(4096))]
struct Translation {
    /// What `__pa` subtracts, indexed by the version's fast test: the image
    /// rule's `kimage_voffset` or the linear rule's `PAGE_OFFSET -
    /// memstart_addr` (see [`slot_is_linear`]).
    pa_offset: [AtomicU64; PA_SLOTS],
    /// Linux `memstart_addr` (`PHYS_OFFSET`); odd until memory is discovered.
    memstart: AtomicU64,
    /// `kimage_voffset + memstart_addr`: what `lm_alias` subtracts before the OR.
    lm_alias_offset: AtomicU64,
    /// For the `debug_virtual` fast checks: the first linear address past
    /// RAM (`u64::MAX` until the linear map exists) …
    linear_limit: AtomicU64,
    /// … the physical RAM bounds (`[0, u64::MAX)` until memory is known) …
    ram_start: AtomicU64,
    ram_end: AtomicU64,
    /// … and whether RAM has holes, so that the bounds are not enough.
    holes: AtomicU64,
    /// `va ^ PAGE_OFFSET` below this is linear RAM for sure (0 while RAM has
    /// holes, and 0 until the linear map exists, so that every address takes
    /// the full check: before `memstart_addr` is set, `__pa` of a linear
    /// address stops the kernel).
    linear_fast_size: AtomicU64,
    /// `pa - ram_start` below this is mapped RAM for sure (0 with holes;
    /// `u64::MAX` until memory is known).
    ram_fast_size: AtomicU64,
}

/// Entries of `pa_offset`. 4.10's fast test is bit `VA_BITS - 1` of the
/// address: two slots, 0 for the image (bit clear) and 1 for the linear map
/// (bit set). 6.12's is the number of leading ones of the address
/// (`clz(!va)`, 0 to 64): 65 slots.
const PA_SLOTS: usize = match layout::ACTIVE.version() {
    layout::Version::V4_10 => 2,
    layout::Version::V6_12 => 65,
};

/// Whether slot `i` of `pa_offset` holds the linear rule's offset.
///
/// 6.12: `PAGE_OFFSET` is `-2^VA_BITS` and `PAGE_END` is `-2^e` (`e` is
/// `VA_BITS_MIN - 1`), both runs of ones from bit 63 down. An address lies in
/// `[PAGE_OFFSET, PAGE_END)`, Linux's `__is_lm_address`, exactly when it has
/// at least `64 - VA_BITS` leading ones (it is at or above `PAGE_OFFSET`) and
/// at most `63 - e` (it is below `PAGE_END`). Every other count, including 0
/// for any address with bit 63 clear, is the image rule, as in Linux.
const fn slot_is_linear(i: usize) -> bool {
    match layout::ACTIVE.version() {
        layout::Version::V4_10 => i == 1,
        layout::Version::V6_12 => {
            let first = (64 - layout::VA_BITS) as usize;
            let last = 63 - (!layout::PAGE_END).wrapping_add(1).trailing_zeros() as usize;
            first <= i && i <= last
        }
    }
}

/// The slot `kimage_voffset` is read from: 0 is the image rule in both
/// versions (4.10: bit clear; 6.12: no leading ones).
const IMAGE_SLOT: usize = 0;
const _: () = assert!(!slot_is_linear(IMAGE_SLOT));
// 6.12's count of leading ones is the range check only while both ends of
// the linear range are runs of ones from bit 63 down.
const _: () = assert!(match layout::ACTIVE.version() {
    layout::Version::V4_10 => true,
    layout::Version::V6_12 => {
        PAGE_OFFSET == u64::MAX << layout::VA_BITS && (!layout::PAGE_END).wrapping_add(1).is_power_of_two()
    }
});
// The linear rule has one slot in 4.10 and `VA_BITS - VA_BITS_MIN + 1` in
// 6.12: one for a fixed VA size, five for 52 bits (the counts 12 to 16).
const _: () = {
    let mut linear = 0;
    let mut i = 0;
    while i < PA_SLOTS {
        linear += slot_is_linear(i) as u32;
        i += 1;
    }
    assert!(match layout::ACTIVE.version() {
        layout::Version::V4_10 => linear == 1,
        layout::Version::V6_12 => linear == layout::VA_BITS - layout::VA_BITS_MIN + 1,
    });
};

static TRANSLATION: Translation = Translation {
    pa_offset: {
        let unset = PAGE_OFFSET.wrapping_sub(MEMSTART_UNSET);
        let mut slots = [const { AtomicU64::new(0) }; PA_SLOTS];
        let mut i = 0;
        while i < PA_SLOTS {
            if slot_is_linear(i) {
                slots[i] = AtomicU64::new(unset);
            }
            i += 1;
        }
        slots
    },
    memstart: AtomicU64::new(MEMSTART_UNSET),
    lm_alias_offset: AtomicU64::new(MEMSTART_UNSET),
    linear_limit: AtomicU64::new(u64::MAX),
    ram_start: AtomicU64::new(0),
    ram_end: AtomicU64::new(u64::MAX),
    holes: AtomicU64::new(0),
    linear_fast_size: AtomicU64::new(0),
    ram_fast_size: AtomicU64::new(u64::MAX),
};

/// Write one rule's offset into every slot that selects it.
fn store_pa_offset(linear: bool, v: u64) {
    for (i, slot) in TRANSLATION.pa_offset.iter().enumerate() {
        if slot_is_linear(i) == linear {
            slot.store(v, Relaxed);
        }
    }
}

// Linux's names for the two values, as global symbols for GDB
// (scripts/gdb/vakern.py). They are aliases into TRANSLATION: the kernel
// itself uses the local static, so no access goes through the GOT.
core::arch::global_asm!(
    ".globl kimage_voffset",
    ".set kimage_voffset, {t} + {image}",
    ".globl memstart_addr",
    ".set memstart_addr, {t} + {memstart}",
    image = const IMAGE_SLOT * 8,
    memstart = const core::mem::offset_of!(Translation, memstart),
    t = sym TRANSLATION,
);

/// Number of `debug_virtual` reports so far.
static REPORTS: AtomicU64 = AtomicU64::new(0);

/// Record `kimage_voffset`, once, at entry to `start_kernel`.
pub fn set_kimage_voffset(v: u64) {
    store_pa_offset(false, v);
    let m = TRANSLATION.memstart.load(Relaxed);
    TRANSLATION.lm_alias_offset.store(v.wrapping_add(m), Relaxed);
}

/// Record `memstart_addr` and the RAM the linear map covers (`memblock.rs`):
/// `[ram_start, ram_end)`, with `holes` if that span is not all mapped RAM.
pub fn set_memstart(memstart: u64, ram_start: u64, ram_end: u64, holes: bool) {
    assert!(memstart & 1 == 0, "memstart_addr must be page aligned");
    TRANSLATION.ram_start.store(ram_start, Relaxed);
    TRANSLATION.ram_end.store(ram_end, Relaxed);
    TRANSLATION.holes.store(holes as u64, Relaxed);
    TRANSLATION.ram_fast_size.store(if holes { 0 } else { ram_end - ram_start }, Relaxed);
    store_pa_offset(true, PAGE_OFFSET.wrapping_sub(memstart));
    TRANSLATION.lm_alias_offset.store(kimage_voffset().wrapping_add(memstart), Relaxed);
    TRANSLATION.memstart.store(memstart, Relaxed);
}

/// Mark the linear map as live (`linear_map.rs`).
pub fn set_linear_map_ready() {
    let end = TRANSLATION.ram_end.load(Relaxed);
    let limit = addr::phys_to_virt(end, TRANSLATION.memstart.load(Relaxed));
    TRANSLATION.linear_limit.store(limit, Relaxed);
    let holes = TRANSLATION.holes.load(Relaxed) != 0;
    TRANSLATION.linear_fast_size.store(if holes { 0 } else { limit - PAGE_OFFSET }, Relaxed);
}

/// True once the linear map is live.
pub fn linear_map_ready() -> bool {
    TRANSLATION.linear_limit.load(Relaxed) != u64::MAX
}

/// `kimage_voffset`: VA - PA of the image.
#[inline(always)]
pub fn kimage_voffset() -> u64 {
    TRANSLATION.pa_offset[IMAGE_SLOT].load(Relaxed)
}

/// `memstart_addr` as stored, without the check (for the boot log and tests).
pub fn memstart_addr_raw() -> u64 {
    TRANSLATION.memstart.load(Relaxed)
}

/// Physical RAM covered by the linear map, `[start, end)`.
pub fn ram_bounds() -> (u64, u64) {
    let (start, end) = (TRANSLATION.ram_start.load(Relaxed), TRANSLATION.ram_end.load(Relaxed));
    if end == u64::MAX {
        (u64::MAX, 0)
    } else {
        (start, end)
    }
}

/// Number of `debug_virtual` reports so far (always 0 without the feature).
pub fn reports() -> u64 {
    REPORTS.load(Relaxed)
}

/// Virtual addresses of `_text` and `_end`.
pub fn image_bounds() -> (u64, u64) {
    (&raw const _text as u64, &raw const _end as u64)
}

/// Where things are, for classifying addresses.
pub fn placement() -> layout::Placement {
    let (text, end) = image_bounds();
    let linear_end = if linear_map_ready() { TRANSLATION.linear_limit.load(Relaxed) } else { PAGE_OFFSET };
    layout::Placement { text, end, linear_end }
}

/// The region of the layout `va` falls in, with the run-time placement.
pub fn region_of(va: u64) -> layout::Region {
    layout::ACTIVE.classify(va, &placement(), crate::arch::sysreg::vabits_actual())
}

/// `PHYS_OFFSET`: the physical address the linear map starts at.
/// Stops the kernel (with `debug_virtual`) if read before it is set.
#[doc(alias = "PHYS_OFFSET")]
#[doc(alias = "memstart_addr")]
#[inline(always)]
#[track_caller]
pub fn phys_offset() -> u64 {
    let m = TRANSLATION.memstart.load(Relaxed);
    #[cfg(feature = "debug_virtual")]
    if m & 1 != 0 {
        bug(format_args!("PHYS_OFFSET read before memstart_addr was set"), Location::caller());
    }
    m
}

/// `__pa` / `virt_to_phys`: the physical address of a linear or image address.
#[doc(alias = "__pa")]
#[doc(alias = "__virt_to_phys")]
#[inline(always)]
#[track_caller]
pub fn virt_to_phys(va: VirtAddr) -> PhysAddr {
    #[cfg(feature = "debug_virtual")]
    check_virt_to_phys(va.0);
    PhysAddr(virt_to_phys_nodebug(va.0))
}

/// Linux's `__virt_to_phys_nodebug`, with the built version's own test,
/// as a load of the rule's offset from `pa_offset` and a subtraction.
///
/// 4.10, four instructions: bit `VA_BITS - 1` picks the rule (set for the
/// linear map, clear for the image; Linux's own fast test) and indexes the
/// two offsets in the page-aligned [`TRANSLATION`] block: `adrp` (the
/// block's page is its address), `ubfx`, `ldr`, `sub`.
///
/// 6.12, five instructions: Linux's range check `PAGE_OFFSET <= va <
/// PAGE_END`, exact for every address, as the count of the address's
/// leading ones (`mvn`, `clz`), which indexes 65 offsets ([`slot_is_linear`]
/// says which are the linear rule's): `adrp`, `mvn`, `clz`, `ldr`, `sub`.
/// The same five serve a fixed VA size and 52 bits, where `PAGE_END -
/// PAGE_OFFSET` is no immediate. Four are not enough for an exact check: the
/// block's address takes one, the load and the subtraction one each, and no
/// single instruction turns an address into a small index that is the same
/// for the whole linear range and different for every address outside it
/// (`cls`, the one candidate, counts the leading zeros of a user address
/// the way it counts the ones of a kernel address).
///
/// For any address that is linear or in the image this equals
/// `vakern_mm::addr::virt_to_phys`; the host tests and the self-tests check
/// it. Misuse (neither kind) is what `debug_virtual` is for.
#[inline(always)]
pub fn virt_to_phys_nodebug(va: u64) -> u64 {
    let pa: u64;
    match layout::ACTIVE.version() {
        layout::Version::V4_10 => {
            // SAFETY: reads one word of TRANSLATION, which is page aligned, so
            // the page address from `adrp` is the block's own address; the
            // index is 0 or 1, inside `pa_offset`.
            unsafe {
                core::arch::asm!(
                    "adrp {t}, {tbl}",
                    "ubfx {i}, {va}, #{bit}, #1",
                    "ldr {i}, [{t}, {i}, lsl #3]",
                    "sub {pa}, {va}, {i}",
                    tbl = sym TRANSLATION,
                    bit = const layout::VA_BITS - 1,
                    va = in(reg) va,
                    t = out(reg) _,
                    i = out(reg) _,
                    pa = lateout(reg) pa,
                    options(pure, readonly, nostack, preserves_flags)
                );
            }
        }
        layout::Version::V6_12 => {
            // SAFETY: reads one word of TRANSLATION (page aligned, as above);
            // `clz` yields 0 to 64, and `pa_offset` has 65 slots at offset 0.
            unsafe {
                core::arch::asm!(
                    "adrp {t}, {tbl}",
                    "mvn {i}, {va}",
                    "clz {i}, {i}",
                    "ldr {i}, [{t}, {i}, lsl #3]",
                    "sub {pa}, {va}, {i}",
                    tbl = sym TRANSLATION,
                    va = in(reg) va,
                    t = out(reg) _,
                    i = out(reg) _,
                    pa = lateout(reg) pa,
                    options(pure, readonly, nostack, preserves_flags)
                );
            }
        }
    }
    pa
}

// The fast paths index `pa_offset` from the block's first byte.
const _: () = assert!(core::mem::offset_of!(Translation, pa_offset) == 0);

/// `__pa` for a raw address (from a register, the monitor, a pointer cast).
#[allow(non_snake_case)]
#[inline(always)]
#[track_caller]
pub fn __pa(va: u64) -> u64 {
    virt_to_phys(VirtAddr(va)).0
}

/// `__va` / `phys_to_virt`: the linear address of a physical address.
#[doc(alias = "__va")]
#[doc(alias = "__phys_to_virt")]
#[inline(always)]
#[track_caller]
pub fn phys_to_virt(pa: PhysAddr) -> VirtAddr {
    #[cfg(feature = "debug_virtual")]
    check_phys_to_virt(pa.0);
    VirtAddr(addr::phys_to_virt(pa.0, phys_offset()))
}

/// `__va` for a raw physical address.
#[allow(non_snake_case)]
#[inline(always)]
#[track_caller]
pub fn __va(pa: u64) -> u64 {
    phys_to_virt(PhysAddr(pa)).0
}

/// `__pa_symbol`: the physical address of a symbol in the kernel image.
/// Stops the kernel (with `debug_virtual`) for an address outside `[_text, _end]`.
#[doc(alias = "__pa_symbol")]
#[doc(alias = "__phys_addr_symbol")]
#[inline(always)]
#[track_caller]
pub fn pa_symbol(sym: ImageAddr) -> PhysAddr {
    #[cfg(feature = "debug_virtual")]
    check_pa_symbol(sym.0);
    PhysAddr(addr::kimg_to_phys(sym.0, kimage_voffset()))
}

/// `__pa_symbol` for a raw address.
#[allow(non_snake_case)]
#[inline(always)]
#[track_caller]
pub fn __pa_symbol(va: u64) -> u64 {
    pa_symbol(ImageAddr(va)).0
}

/// `lm_alias`: the linear-map address of an image symbol, `__va(__pa_symbol(sym))`.
/// Stops the kernel (with `debug_virtual`) before the linear map exists.
#[inline(always)]
#[track_caller]
pub fn lm_alias(sym: ImageAddr) -> VirtAddr {
    #[cfg(feature = "debug_virtual")]
    if TRANSLATION.linear_limit.load(Relaxed) == u64::MAX {
        lm_alias_bug(sym.0, Location::caller());
    }
    #[cfg(feature = "debug_virtual")]
    check_pa_symbol(sym.0);
    VirtAddr(sym.0.wrapping_sub(TRANSLATION.lm_alias_offset.load(Relaxed)) | PAGE_OFFSET)
}

/// `__kimg_to_phys`: the image rule, unchecked.
#[doc(alias = "__kimg_to_phys")]
#[inline(always)]
pub fn kimg_to_phys(va: u64) -> u64 {
    addr::kimg_to_phys(va, kimage_voffset())
}

/// `__phys_to_kimg`: the image address of a physical address inside the image.
#[doc(alias = "__phys_to_kimg")]
#[inline(always)]
pub fn phys_to_kimg(pa: u64) -> u64 {
    addr::phys_to_kimg(pa, kimage_voffset())
}

/// `__lm_to_phys`: the linear rule, unchecked except for `PHYS_OFFSET` itself.
#[doc(alias = "__lm_to_phys")]
#[inline(always)]
#[track_caller]
pub fn lm_to_phys(va: u64) -> u64 {
    addr::lm_to_phys(va, phys_offset())
}

/// `__is_lm_address`: a range check, `PAGE_OFFSET <= va`.
#[doc(alias = "__is_lm_address")]
#[inline(always)]
pub fn is_lm_address(va: u64) -> bool {
    addr::is_lm_address(va)
}

/// `virt_addr_valid`: a linear address backed by RAM in the linear map.
pub fn virt_addr_valid(va: u64) -> bool {
    if !is_lm_address(va) || !linear_map_ready() {
        return false;
    }
    let pa = addr::lm_to_phys(va, TRANSLATION.memstart.load(Relaxed));
    let (start, end) = ram_bounds();
    pa >= start && pa < end && crate::mm::memblock::is_mapped_ram(pa)
}

/// `virt_to_pfn`.
#[inline(always)]
#[track_caller]
pub fn virt_to_pfn(va: VirtAddr) -> u64 {
    virt_to_phys(va).pfn()
}

/// `pfn_to_virt`.
#[inline(always)]
#[track_caller]
pub fn pfn_to_virt(pfn: u64) -> VirtAddr {
    phys_to_virt(PhysAddr::from_pfn(pfn))
}

/// `pfn_valid`: the page frame is RAM the linear map covers. Linux 4.10
/// asks `memblock_is_map_memory`, so RAM reserved `no-map` is not valid,
/// and `pfn_valid(__pa(va) >> PAGE_SHIFT)` agrees with `virt_addr_valid(va)`.
pub fn pfn_valid(pfn: u64) -> bool {
    pfn.checked_mul(layout::PAGE_SIZE).is_some_and(crate::mm::memblock::is_mapped_ram)
}

#[inline(always)]
fn phys_offset_unchecked() -> u64 {
    TRANSLATION.memstart.load(Relaxed)
}

/// `lm_alias` as the composition Linux defines, `__va(__pa_symbol(sym))`,
/// for the self-test that compares it with the one-subtraction fast path.
pub fn lm_alias_composed(sym: ImageAddr) -> VirtAddr {
    VirtAddr(addr::phys_to_virt(addr::kimg_to_phys(sym.0, kimage_voffset()), phys_offset_unchecked()))
}

/// `__va` without any check, for building deliberately bad addresses in
/// the `debug_virtual` corpus and for the monitor.
pub fn phys_to_virt_unchecked(pa: u64) -> u64 {
    addr::phys_to_virt(pa, phys_offset_unchecked())
}

/// The address of something in the kernel image: a static or a function.
///
/// Made only by [`image_sym!`](crate::image_sym) from a path to a static or a
/// function, or, for addresses from outside, by [`ImageAddr::from_raw`], so
/// a heap pointer or a linear address cannot reach `__pa_symbol` by accident.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageAddr(u64);

impl ImageAddr {
    /// An address claimed to be in the image (checked by `debug_virtual` on use).
    pub const fn from_raw(va: u64) -> ImageAddr {
        ImageAddr(va)
    }
    /// The address.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// The [`ImageAddr`] of a static or a function of the kernel image.
#[macro_export]
macro_rules! image_sym {
    ($sym:path) => {
        $crate::mm::physaddr::ImageAddr::from_raw(&raw const $sym as *const u8 as u64)
    };
}
