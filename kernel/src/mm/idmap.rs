//! A record of the identity map, taken by `paging_init` just before TTBR0 is
//! emptied: the runs of leaf mappings the boot stub's tables held, so the
//! monitor's `idmap` can show what the low half translated while the MMU was
//! being turned on. Uses only the read-only table access and the page-table
//! dump's run finder; it copies at most [`MAX_RUNS`] runs and counts the rest.

use crate::mm::table_access::PhysTables;
use spin::Once;
use vakern_mm::layout::VA_BITS;
use vakern_mm::ptdump::{self, Run};

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
    RECORD.call_once(|| rec);
}

/// The record, once `paging_init` has emptied TTBR0.
pub fn recorded() -> Option<&'static IdmapRecord> {
    RECORD.get()
}
