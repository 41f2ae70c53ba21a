//! The page-frame allocator: the free RAM memblock leaves, page by page.
//!
//! Free memory is a set of ranges, so the bookkeeping grows with
//! fragmentation, not with RAM: 64 GiB in one range is one entry. Freed runs
//! merge with their neighbours. Pages are handed out lowest address first.
//!
//! The set starts in a table of [`MAX_FREE_RANGES`] entries in .bss. When a
//! free needs one more entry than the table has, the table grows as Linux's
//! memblock grows its arrays: one twice the size is taken from the free
//! memory itself (through the linear map), the entries move over and the
//! old table, if it was such a one, is freed into the new. Only if no run of
//! pages is left for a bigger table are the pages being freed left unused,
//! with a warning: never a panic.

use crate::mm::memblock::{self, MAX_FREE_RANGES};
use crate::mm::physaddr::{self, PhysAddr};
use crate::{pr_info, pr_warn};
use spin::Mutex;
use vakern_mm::fmt::{Addr, Size};
use vakern_mm::layout::{self, PAGE_SIZE};
use vakern_mm::range_table::RangeTable;
use vakern_mm::ranges::{Range, RangeError};

struct Free {
    table: RangeTable<'static>,
    /// The pages of the current table, once it is no longer the first one.
    grown: Option<Range>,
    /// Bytes freed while no table could hold them (left unused).
    lost: u64,
}

static FREE: Mutex<Option<Free>> = Mutex::new(None);
static TOTAL: Mutex<u64> = Mutex::new(0);

/// Take over what memblock has not handed out.
pub fn init() {
    static mut FIRST_TABLE: [Range; MAX_FREE_RANGES] = [Range { base: 0, end: 0 }; MAX_FREE_RANGES];
    // SAFETY: init runs once, on the boot CPU; nothing else names FIRST_TABLE,
    // so this is its only reference, kept in FREE for good.
    let storage: &'static mut [Range] = unsafe { &mut *core::ptr::addr_of_mut!(FIRST_TABLE) };
    let mut table = RangeTable::new(storage);
    let free = memblock::take_free();
    for r in free.iter() {
        table.add(*r).expect("memblock's free set fits a table as large as its own");
    }
    *TOTAL.lock() = table.total();
    *FREE.lock() = Some(Free { table, grown: None, lost: 0 });
}

impl Free {
    /// Swap the table for one twice as large, taken from the free memory or,
    /// if no free run is long enough, from the head of `freeing` (the range
    /// being freed, not yet in the table). Returns what is left of `freeing`.
    fn grow(&mut self, freeing: Range) -> Result<Range, RangeError> {
        let cap = self.table.capacity() * 2;
        let bytes = layout::align_up((cap * core::mem::size_of::<Range>()) as u64, PAGE_SIZE);
        // Free ranges are page-aligned, so this takes the head of a range
        // and never needs a new entry.
        let (pa, rest) = match self.table.alloc(bytes, PAGE_SIZE) {
            Ok(pa) => (pa, freeing),
            Err(_) if freeing.size() >= bytes => (freeing.base, Range { base: freeing.base + bytes, end: freeing.end }),
            Err(e) => return Err(e),
        };
        let va = physaddr::phys_to_virt(PhysAddr(pa));
        // SAFETY: the pages were free and are now the table's alone, mapped
        // read-write through the linear map, page-aligned (so aligned for
        // Range); `cap` entries fit in `bytes`.
        let storage: &'static mut [Range] = unsafe {
            let p = va.as_ptr::<Range>();
            for i in 0..cap {
                p.add(i).write(Range::default());
            }
            core::slice::from_raw_parts_mut(p, cap)
        };
        let old = core::mem::replace(&mut self.table, RangeTable::new(&mut []));
        self.table = old.move_to(storage).map_err(|_| RangeError::Full)?;
        if let Some(prev) = self.grown.replace(Range { base: pa, end: pa + bytes }) {
            self.table.add(prev)?;
        }
        pr_info!("page allocator: free-range table grown to {} entries at {}", cap, Addr(pa));
        Ok(rest)
    }
}

/// `n` physically contiguous pages, or `None` if no run is long enough.
pub fn alloc_pages(n: u64) -> Option<PhysAddr> {
    let size = n.checked_mul(PAGE_SIZE)?;
    FREE.lock().as_mut()?.table.alloc(size, PAGE_SIZE).ok().map(PhysAddr)
}

/// Give back `n` pages at `pa` (as returned by [`alloc_pages`]).
pub fn free_pages(pa: PhysAddr, n: u64) {
    let r = Range { base: pa.0, end: pa.0 + n * PAGE_SIZE };
    let mut guard = FREE.lock();
    let free = guard.as_mut().expect("page allocator used before init");
    assert!(!free.table.intersects(&r), "double free of pages at {:#x}", pa.0);
    assert!(memblock::is_mapped_ram(pa.0) && !memblock::is_reserved(pa.0), "freeing non-RAM page {:#x}", pa.0);
    if free.table.add(r).is_ok() {
        return;
    }
    if let Ok(rest) = free.grow(r) {
        if free.table.add(rest).is_ok() {
            return;
        }
    }
    free.lost += r.size();
    pr_warn!(
        "page allocator: no room to record {} free at {} (range table full, no pages to grow it): left unused, {} so far",
        Size(r.size()),
        Addr(r.base),
        Size(free.lost)
    );
}

/// Free bytes.
pub fn free_bytes() -> u64 {
    FREE.lock().as_ref().map_or(0, |f| f.table.total())
}

/// Bytes the allocator started with.
pub fn total_bytes() -> u64 {
    *TOTAL.lock()
}

/// Number of free ranges (its bookkeeping size).
pub fn free_ranges() -> usize {
    FREE.lock().as_ref().map_or(0, |f| f.table.len())
}

/// Bytes the grown free-range table takes (0 while the first one in .bss
/// serves) and bytes freed that no table could record (left unused).
pub fn bookkeeping() -> (u64, u64) {
    FREE.lock().as_ref().map_or((0, 0), |f| (f.grown.map_or(0, |r| r.size()), f.lost))
}

/// How many free ranges the table holds before it has to grow again.
pub fn free_range_capacity() -> usize {
    FREE.lock().as_ref().map_or(0, |f| f.table.capacity())
}
