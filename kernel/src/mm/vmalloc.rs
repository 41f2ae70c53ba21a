//! The vmalloc area: virtually contiguous mappings of physically scattered
//! pages (`vmalloc`/`vfree`) and of device registers (`ioremap`/`iounmap`).
//!
//! Address space comes from `[VMALLOC_START, vmalloc_end())` less the kernel
//! image (with 52-bit VAs on a CPU without FEAT_LVA the end moves up, as in
//! Linux 6.12, by the vmemmap the smaller linear map does not need); every area is followed by one unmapped guard page, so running off
//! its end faults instead of corrupting a neighbour. Pages are mapped one by
//! one into `swapper_pg_dir` through the linear map (`mmu::LinearTables`).
//!
//! Running out is an error, never a panic: no pages, no room on the heap
//! for the bookkeeping (which may fill at most half the heap), or no virtual
//! space give [`VmError::NoMemory`] with everything taken so far given back. Unmapping also gives back every
//! level-3 table it leaves empty, so freeing a large area leaves no page
//! behind every 2 MiB.

use crate::mm::physaddr::{self, image_bounds, PhysAddr, VirtAddr};
use crate::mm::table_access::LinearTables;
use crate::mm::tlbflush;
use crate::mm::{heap, page_alloc};
use crate::pr_warn;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use spin::Mutex;
use vakern_mm::fmt::Addr;
use vakern_mm::layout::{self, PAGE_SIZE, PMD_SIZE, VMALLOC_START};
use vakern_mm::pgtable::{self, MapError, MapFlags, TableAccess};
use vakern_mm::pte::{self, Kind, Prot};
use vakern_mm::ranges::{Range, RangeSet};

/// What went wrong in the vmalloc area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmError {
    /// Size zero or too large.
    BadSize(u64),
    /// No virtual space or no pages left.
    NoMemory,
    /// No area starts at this address.
    NotAnArea(u64),
    /// The mapper refused.
    Map(MapError),
}

impl core::fmt::Display for VmError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            VmError::BadSize(s) => write!(f, "bad size {:#x}", s),
            VmError::NoMemory => write!(f, "out of memory"),
            VmError::NotAnArea(va) => write!(f, "{:#x} is not the start of a vmalloc/ioremap area", va),
            VmError::Map(e) => write!(f, "{}", e),
        }
    }
}

/// What an area maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AreaKind {
    /// RAM pages from the page allocator, one per virtual page.
    Vmalloc(Vec<PhysAddr>),
    /// Device registers at this physical address.
    Ioremap(PhysAddr),
}

/// One mapped area (the guard page after it is not counted in `size`).
#[derive(Clone, Debug)]
pub struct Area {
    /// First virtual address.
    pub va: u64,
    /// Mapped bytes.
    pub size: u64,
    /// What is mapped.
    pub kind: AreaKind,
}

struct Vmalloc {
    free: RangeSet<256>,
    areas: Vec<Area>,
}

static VMALLOC: Mutex<Option<Vmalloc>> = Mutex::new(None);
/// Largest single request (keeps one request from exhausting memory by mistake).
pub const MAX_VMALLOC: u64 = 1 << 30;

/// `VMALLOC_END` for the VA size in use: the build's `VMALLOC_END` unless
/// the flavour has 52-bit VAs and the CPU uses 48.
pub fn vmalloc_end() -> u64 {
    layout::ACTIVE.vmalloc_end(crate::arch::sysreg::vabits_actual())
}

/// The free address space in `[lo, hi)` (for the self-tests).
pub fn free_span() -> Option<(u64, u64)> {
    let v = VMALLOC.lock();
    let free = &v.as_ref()?.free;
    let span = (free.iter().next()?.base, free.iter().last()?.end);
    Some(span)
}

/// Make the area's address space available. Needs the heap.
pub fn init() {
    let (text, end) = image_bounds();
    let mut free = RangeSet::new();
    let vmalloc_end = vmalloc_end();
    free.add(Range { base: VMALLOC_START, end: vmalloc_end }).unwrap();
    // The image's level-2 entries stay out (clipped to the area: with
    // 64 KiB pages one is 512 MiB, more than lies below the image).
    let image = Range {
        base: layout::align_down(text, PMD_SIZE).max(VMALLOC_START),
        end: layout::align_up(end, PMD_SIZE).min(vmalloc_end),
    };
    free.remove(image).unwrap();
    *VMALLOC.lock() = Some(Vmalloc { free, areas: Vec::new() });
}

fn reserve_va(v: &mut Vmalloc, size: u64) -> Result<u64, VmError> {
    // One more page: the guard.
    v.free.alloc(size + PAGE_SIZE, PAGE_SIZE).map_err(|_| VmError::NoMemory)
}

fn map_page(va: u64, pa: u64, size: u64, prot: Prot) -> Result<(), VmError> {
    let mut t = LinearTables::new();
    let r = pgtable::map_range(&mut t, LinearTables::root(), va, pa, size, prot, MapFlags::PAGES);
    tlbflush::sync_tables();
    r.map(|_| ()).map_err(VmError::Map)
}

/// Unmap `[va, va + size)` (the pages stay allocated).
fn unmap(va: u64, size: u64) {
    let mut t = LinearTables::new();
    pgtable::unmap_range(&mut t, LinearTables::root(), va, size, |_, _| {}).expect("unmapping a vmalloc area");
}

/// Free the level-3 tables that `[va, va + size)`, now unmapped, leaves
/// empty. Done after the area's own pages are freed, so that these pages,
/// one every 2 MiB, go back into a free range around them.
fn free_empty_tables(va: u64, size: u64) {
    let mut t = LinearTables::new();
    let root = LinearTables::root();
    let mut block = layout::align_down(va, PMD_SIZE);
    while block < va + size {
        let w = pgtable::walk(&mut t, root, block);
        if let (Some(pmd), Some(desc)) = (w.tables[2], w.descs[2]) {
            if pte::kind(desc, 2) == Kind::Table {
                let pte_table = physaddr::phys_to_virt(PhysAddr(pte::desc_addr(desc)));
                // SAFETY: a level-3 table of swapper_pg_dir, in the linear map.
                let empty =
                    (0..pgtable::ENTRIES).all(|i| unsafe { pte_table.as_ptr::<u64>().add(i).read_volatile() } == 0);
                if empty {
                    t.write(pmd, layout::table_index(block, 2), 0);
                    // Every walk that could have cached the table goes.
                    tlbflush::flush_tlb_kernel_page(block);
                    page_alloc::free_pages(PhysAddr(pte::desc_addr(desc)), 1);
                }
            }
        }
        block += PMD_SIZE;
    }
}

/// Give virtual space back; if the table of free space is full, leave it
/// unused (the area is vast) and say so, once.
fn release_va(v: &mut Vmalloc, r: Range) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if v.free.add(r).is_err() && !WARNED.swap(true, Ordering::Relaxed) {
        pr_warn!(
            "vmalloc: free-space table full: [{}, {}) and any further such ranges left unused",
            Addr(r.base),
            Addr(r.end)
        );
    }
}

/// Refuse bookkeeping that would take the heap past half full: what vmalloc
/// keeps there (the areas and their page lists) then always leaves room for
/// a copy of it ([`areas`], which the monitor lists) and for everything else
/// on the heap, so running vmalloc dry never starves the rest of the kernel.
fn heap_allows(v: &Vmalloc, pages: u64) -> Result<(), VmError> {
    let (used, free) = heap::usage();
    let mut need = pages as usize * core::mem::size_of::<PhysAddr>();
    if v.areas.len() == v.areas.capacity() {
        need += (v.areas.capacity().max(4)) * core::mem::size_of::<Area>();
    }
    if used + need > (used + free) / 2 {
        return Err(VmError::NoMemory);
    }
    Ok(())
}

/// Map `size / PAGE_SIZE` fresh pages at `va`; on failure undo everything
/// (pages, mappings, tables) and give the error.
fn populate_area(va: u64, size: u64) -> Result<Vec<PhysAddr>, VmError> {
    let n = size / PAGE_SIZE;
    // Quick refusal: more pages than are free cannot succeed.
    if n > page_alloc::free_bytes() / PAGE_SIZE {
        return Err(VmError::NoMemory);
    }
    let mut pages = Vec::new();
    pages.try_reserve_exact(n as usize).map_err(|_| VmError::NoMemory)?;
    for i in 0..n {
        let mapped = page_alloc::alloc_pages(1).ok_or(VmError::NoMemory).and_then(|pa| {
            pages.push(pa);
            map_page(va + i * PAGE_SIZE, pa.0, PAGE_SIZE, Prot::KERNEL_RW)
        });
        if let Err(e) = mapped {
            unmap(va, (i + 1) * PAGE_SIZE);
            for pa in pages {
                page_alloc::free_pages(pa, 1);
            }
            free_empty_tables(va, (i + 1) * PAGE_SIZE);
            return Err(e);
        }
    }
    Ok(pages)
}

/// `vmalloc`: `size` bytes (rounded up to pages) of virtually contiguous
/// memory made of separately allocated pages.
pub fn vmalloc(size: u64) -> Result<VirtAddr, VmError> {
    if size == 0 || size > MAX_VMALLOC {
        return Err(VmError::BadSize(size));
    }
    let size = layout::align_up(size, PAGE_SIZE);
    let mut guard = VMALLOC.lock();
    let v = guard.as_mut().expect("vmalloc used before init");
    heap_allows(v, size / PAGE_SIZE)?;
    v.areas.try_reserve(1).map_err(|_| VmError::NoMemory)?;
    let va = reserve_va(v, size)?;
    match populate_area(va, size) {
        Ok(pages) => {
            v.areas.push(Area { va, size, kind: AreaKind::Vmalloc(pages) });
            Ok(VirtAddr(va))
        }
        Err(e) => {
            release_va(v, Range { base: va, end: va + size + PAGE_SIZE });
            Err(e)
        }
    }
}

/// A kernel stack of `size` bytes with an unmapped guard page below it (and
/// the usual one above). Returns the lowest mapped address.
pub fn vmalloc_stack(size: u64) -> Result<VirtAddr, VmError> {
    if size == 0 || size > MAX_VMALLOC || !size.is_multiple_of(PAGE_SIZE) {
        return Err(VmError::BadSize(size));
    }
    let mut guard = VMALLOC.lock();
    let v = guard.as_mut().expect("vmalloc used before init");
    heap_allows(v, size / PAGE_SIZE)?;
    v.areas.try_reserve(1).map_err(|_| VmError::NoMemory)?;
    let base = reserve_va(v, size + PAGE_SIZE)?;
    let va = base + PAGE_SIZE;
    match populate_area(va, size) {
        Ok(pages) => {
            v.areas.push(Area { va, size, kind: AreaKind::Vmalloc(pages) });
            Ok(VirtAddr(va))
        }
        Err(e) => {
            release_va(v, Range { base, end: base + size + 2 * PAGE_SIZE });
            Err(e)
        }
    }
}

/// `ioremap`: map `size` bytes of device registers at `pa` as Device-nGnRE.
pub fn ioremap(pa: PhysAddr, size: u64) -> Result<VirtAddr, VmError> {
    let base = layout::align_down(pa.0, PAGE_SIZE);
    let end = pa.0.checked_add(size).ok_or(VmError::BadSize(size))?;
    let len = layout::align_up(end, PAGE_SIZE) - base;
    if size == 0 || len > MAX_VMALLOC {
        return Err(VmError::BadSize(size));
    }
    let mut guard = VMALLOC.lock();
    let v = guard.as_mut().expect("ioremap used before init");
    v.areas.try_reserve(1).map_err(|_| VmError::NoMemory)?;
    let va = reserve_va(v, len)?;
    if let Err(e) = map_page(va, base, len, Prot::DEVICE) {
        unmap(va, len);
        free_empty_tables(va, len);
        release_va(v, Range { base: va, end: va + len + PAGE_SIZE });
        return Err(e);
    }
    v.areas.push(Area { va, size: len, kind: AreaKind::Ioremap(PhysAddr(base)) });
    Ok(VirtAddr(va + (pa.0 - base)))
}

fn release(va: u64, want_io: bool) -> Result<(), VmError> {
    let mut guard = VMALLOC.lock();
    let v = guard.as_mut().expect("vmalloc used before init");
    let i = v
        .areas
        .iter()
        .rposition(|a| a.va == layout::align_down(va, PAGE_SIZE) && matches!(a.kind, AreaKind::Ioremap(_)) == want_io)
        .ok_or(VmError::NotAnArea(va))?;
    let area = v.areas.swap_remove(i);
    unmap(area.va, area.size);
    if let AreaKind::Vmalloc(pages) = area.kind {
        for pa in pages {
            page_alloc::free_pages(pa, 1);
        }
    }
    free_empty_tables(area.va, area.size);
    release_va(v, Range { base: area.va, end: area.va + area.size + PAGE_SIZE });
    Ok(())
}

/// `vfree`: unmap a `vmalloc` area and free its pages.
pub fn vfree(va: VirtAddr) -> Result<(), VmError> {
    release(va.0, false)
}

/// `iounmap`.
pub fn iounmap(va: VirtAddr) -> Result<(), VmError> {
    release(va.0, true)
}

/// A copy of the current areas (for the monitor and the tests).
pub fn areas() -> Vec<Area> {
    VMALLOC.lock().as_ref().map_or(Vec::new(), |v| v.areas.clone())
}
