//! Self-test `vmalloc-exhaust`: vmalloc and vfree driven until memory runs
//! out and back again. Runs after boot, with the page allocator, the heap
//! and the vmalloc area in place; uses only their public functions.
//!
//! A pass means every way of running out (more than is free, the last
//! pages going to tables midway, the heap full of bookkeeping) is the error
//! `out of memory` and never a panic; that vfree gives back every page,
//! level-3 tables included, so a large area leaves no hole every 2 MiB;
//! that the page allocator's free-range table grows when freeing scatters
//! memory; and that afterwards a large area can be had again.

use crate::mm::vmalloc::{self, VmError, MAX_VMALLOC};
use crate::mm::{heap, memblock, page_alloc};
use crate::pr_info;
use crate::selftest::{check, Outcome};
use alloc::format;
use alloc::vec::Vec;
use vakern_mm::fmt::Size;
use vakern_mm::layout::PAGE_SIZE;

fn vfree(va: crate::mm::physaddr::VirtAddr) -> Outcome {
    vmalloc::vfree(va).map_err(|e| format!("vfree({:#x}): {e}", va.0))
}

/// See the module comment.
pub fn test_vmalloc_exhaust() -> Outcome {
    let ranges0 = page_alloc::free_ranges();
    let free0 = page_alloc::free_bytes();

    // A large area and back: its pages and its level-3 tables return, and
    // free memory is as unfragmented as before.
    let big = (free0 / 2).min(MAX_VMALLOC) & !(PAGE_SIZE - 1);
    let a = vmalloc::vmalloc(big).map_err(|e| format!("vmalloc({big}): {e}"))?;
    vfree(a)?;
    let free1 = page_alloc::free_bytes();
    let (table0, _) = page_alloc::bookkeeping();
    let ranges1 = page_alloc::free_ranges();
    pr_info!("vmalloc-exhaust: {} and back: {} free ranges before, {} after", Size(big), ranges0, ranges1);
    check!(ranges1 <= ranges0 + 2, "vfree of {} left {} free ranges (was {})", Size(big), ranges1, ranges0);
    // Only the upper-level tables of the vmalloc area may stay.
    check!(free0 - free1 <= 4 * PAGE_SIZE, "vfree of {} gave back {} less", Size(big), Size(free0 - free1));

    // More than is free: refused at once. Exactly what is free: the tables
    // need pages too, so it runs out midway and gives everything back.
    for want in [free1 + PAGE_SIZE, free1] {
        match vmalloc::vmalloc(want.min(MAX_VMALLOC)) {
            Err(VmError::NoMemory) => {}
            Ok(_) if want > MAX_VMALLOC => {}
            r => return Err(format!("vmalloc({want}) with {} free: {r:?}, not out of memory", Size(free1))),
        }
        let (table, lost) = page_alloc::bookkeeping();
        let now = page_alloc::free_bytes() + table - table0;
        check!(now == free1 && lost == 0, "a failed vmalloc({want}) lost {}", Size(free1 - now));
    }

    // Single pages until something runs out (on a small machine the heap
    // that holds the bookkeeping goes first).
    let mut vas = Vec::new();
    vas.try_reserve_exact((free1 / PAGE_SIZE) as usize).map_err(|_| "no heap for the test's own list")?;
    let why = loop {
        match vmalloc::vmalloc(PAGE_SIZE) {
            Ok(va) if vas.len() < vas.capacity() => vas.push(va),
            Ok(va) => {
                vfree(va)?;
                break VmError::NoMemory;
            }
            Err(e) => break e,
        }
    };
    let (heap_used, heap_free) = heap::usage();
    pr_info!(
        "vmalloc-exhaust: {} single-page areas, then \"{}\" ({} free, heap {} used {} free)",
        vas.len(),
        why,
        Size(page_alloc::free_bytes()),
        Size(heap_used as u64),
        Size(heap_free as u64)
    );
    check!(why == VmError::NoMemory, "running out gave {why:?}, not out of memory");
    check!(vas.len() > 1000, "only {} single-page areas", vas.len());
    // Free every other one first: memory scatters into more ranges than the
    // allocator's first table holds, so it must grow.
    for va in vas.iter().skip(1).step_by(2).rev() {
        vfree(*va)?;
    }
    let scattered = page_alloc::free_ranges();
    for va in vas.iter().step_by(2).rev() {
        vfree(*va)?;
    }
    drop(vas);
    let cap = page_alloc::free_range_capacity();
    pr_info!(
        "vmalloc-exhaust: {} free ranges at the most scattered; table of {} entries (first {})",
        scattered,
        cap,
        memblock::MAX_FREE_RANGES
    );
    check!(
        scattered <= memblock::MAX_FREE_RANGES || cap > memblock::MAX_FREE_RANGES,
        "{scattered} free ranges but the table did not grow"
    );
    let (table, lost) = page_alloc::bookkeeping();
    let back = page_alloc::free_bytes() + table - table0;
    check!(lost == 0, "{} freed but left unused", Size(lost));
    check!(back == free1, "after freeing every area {} is free, {} before", Size(back), Size(free1));

    // And a large area works again.
    let a = vmalloc::vmalloc(big).map_err(|e| format!("vmalloc({big}) after exhaustion: {e}"))?;
    vfree(a)
}
