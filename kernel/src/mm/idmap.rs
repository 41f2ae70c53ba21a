//! A record of the identity map, taken by `paging_init` just before TTBR0 is
//! emptied: the runs of leaf mappings the boot stub's tables held, so the
//! monitor's `idmap` can show what the low half translated while the MMU was
//! being turned on. Uses only the read-only table access and the page-table
//! dump's run finder; it copies at most [`MAX_RUNS`] runs and counts the rest.
//!
//! What the identity map should hold, and nothing more ([`expected`]): the
//! image, `[_text, _end)`, and the device tree the early KASLR code read,
//! `[dtb, dtb + totalsize)`, each rounded out to `SWAPPER_BLOCK_SIZE`:
//! 2 MiB level-2 blocks with 4K pages, pages with 16K and 64K ones (the
//! boot stub, `boot/head.S`, and `early/kaslr.rs` build it so). The
//! `idmap` self-test holds the record to that and to the RAM the device
//! tree describes.

use crate::mm::table_access::PhysTables;
use spin::Once;
use vakern_mm::layout::{align_down, align_up, SWAPPER_BLOCK_SIZE, VA_BITS};
use vakern_mm::ptdump::{self, Run};
use vakern_mm::ranges::Range;

/// Runs kept; the boot stub's identity map has one or two.
pub const MAX_RUNS: usize = 8;

/// What the identity map held.
#[derive(Clone, Copy, Debug)]
pub struct IdmapRecord {
    /// TTBR0_EL1 as it was (the root table's PA and ASID bits).
    pub ttbr0: u64,
    /// The first runs of leaf mappings, in address order.
    pub runs: [Option<Run>; MAX_RUNS],
    /// Runs found in all (more than `MAX_RUNS` means some were not kept).
    pub total: usize,
}

static RECORD: Once<IdmapRecord> = Once::new();

/// Record the identity map below `ttbr0` (called once, before it is emptied).
pub fn record(ttbr0: u64) {
    let root = ttbr0 & vakern_mm::pte::ADDR_MASK;
    let mut rec = IdmapRecord { ttbr0, runs: [None; MAX_RUNS], total: 0 };
    ptdump::runs(&mut PhysTables, root, 0, 1 << VA_BITS, |run| {
        if let Some(slot) = rec.runs.get_mut(rec.total) {
            *slot = Some(run);
        }
        rec.total += 1;
    });
    warn_beyond_ram(&rec);
    RECORD.call_once(|| rec);
}

/// Say so in the boot log if a run of the identity map was not all RAM the
/// device tree describes: with 4K pages, the image's last 2 MiB block when
/// the boot loader put the image in the last, partial 2 MiB of a RAM range
/// (or a tree outside RAM). The CPU may have read there speculatively.
fn warn_beyond_ram(rec: &IdmapRecord) {
    let Some(mem) = crate::mm::memblock::memory() else { return };
    for run in rec.runs.iter().flatten() {
        if !mem.ram.covers(&Range { base: run.start, end: run.end }) {
            crate::pr_warn!(
                "Identity map: {}-{} ({} entries) reached past the RAM the device tree describes, as Normal memory",
                vakern_mm::fmt::Addr(run.start),
                vakern_mm::fmt::Addr(run.end),
                vakern_mm::fmt::Size(SWAPPER_BLOCK_SIZE)
            );
        }
    }
}

/// The record, once `paging_init` has emptied TTBR0.
pub fn recorded() -> Option<&'static IdmapRecord> {
    RECORD.get()
}

/// The device tree as the boot read it: `(pa, totalsize)`.
static FDT: Once<(u64, u64)> = Once::new();

/// Note where the device tree is (called once, by `start_kernel`).
pub fn note_fdt(pa: u64, size: u64) {
    FDT.call_once(|| (pa, size));
}

/// What the identity map should hold: the image (`pa_text`, `size` bytes)
/// and the device tree noted by [`note_fdt`], each rounded out to
/// `SWAPPER_BLOCK_SIZE`, in address order, merged where they touch.
pub fn expected(pa_text: u64, size: u64) -> ([Option<Range>; 2], usize) {
    let round = |base: u64, len: u64| Range {
        base: align_down(base, SWAPPER_BLOCK_SIZE),
        end: align_up(base.saturating_add(len), SWAPPER_BLOCK_SIZE),
    };
    let image = round(pa_text, size);
    let Some(&(dtb, total)) = FDT.get() else { return ([Some(image), None], 1) };
    let fdt = round(dtb, total);
    let (a, b) = if fdt.base < image.base { (fdt, image) } else { (image, fdt) };
    if b.base <= a.end {
        ([Some(Range { base: a.base, end: a.end.max(b.end) }), None], 1)
    } else {
        ([Some(a), Some(b)], 2)
    }
}
