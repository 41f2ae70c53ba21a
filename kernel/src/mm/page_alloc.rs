//! The page-frame allocator: the free RAM memblock leaves, page by page.
//!
//! Free memory is a set of ranges, so the bookkeeping grows with
//! fragmentation, not with RAM: 64 GiB in one range is one entry. Freed runs
//! merge with their neighbours. Pages are handed out lowest address first.

use crate::mm::memblock::{self, MAX_FREE_RANGES};
use crate::mm::physaddr::PhysAddr;
use spin::Mutex;
use vakern_mm::layout::PAGE_SIZE;
use vakern_mm::ranges::{Range, RangeSet};

static FREE: Mutex<RangeSet<MAX_FREE_RANGES>> = Mutex::new(RangeSet::new());
static TOTAL: Mutex<u64> = Mutex::new(0);

/// Take over what memblock has not handed out.
pub fn init() {
    let free = memblock::take_free();
    *TOTAL.lock() = free.total();
    *FREE.lock() = free;
}

/// `n` physically contiguous pages, or `None` if no run is long enough.
pub fn alloc_pages(n: u64) -> Option<PhysAddr> {
    let size = n.checked_mul(PAGE_SIZE)?;
    FREE.lock().alloc(size, PAGE_SIZE).ok().map(PhysAddr)
}

/// Give back `n` pages at `pa` (as returned by [`alloc_pages`]).
pub fn free_pages(pa: PhysAddr, n: u64) {
    let r = Range { base: pa.0, end: pa.0 + n * PAGE_SIZE };
    let mut free = FREE.lock();
    assert!(!free.intersects(&r), "double free of pages at {:#x}", pa.0);
    assert!(memblock::is_mapped_ram(pa.0) && !memblock::is_reserved(pa.0), "freeing non-RAM page {:#x}", pa.0);
    free.add(r).expect("page allocator range table full");
}

/// Free bytes.
pub fn free_bytes() -> u64 {
    FREE.lock().total()
}

/// Bytes the allocator started with.
pub fn total_bytes() -> u64 {
    *TOTAL.lock()
}

/// Number of free ranges (its bookkeeping size).
pub fn free_ranges() -> usize {
    FREE.lock().len()
}
