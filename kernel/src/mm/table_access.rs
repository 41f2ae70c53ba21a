//! The ways the kernel reaches its page tables, after the early code and
//! from the fixmap on.
//!
//! The mapper in `vakern_mm::pgtable` is told how to reach a table page by a
//! [`TableAccess`] implementation. The kernel has two:
//! - [`FixmapTables`], before the linear map exists: tables are named by
//!   their physical address and reached by mapping them, one at a time, into
//!   four fixmap slots (Linux's FIX_PGD..FIX_PTE). New tables come from
//!   memblock. This is how `paging_init` builds `swapper_pg_dir`.
//! - [`LinearTables`], afterwards: tables are named by their linear address;
//!   new ones come from the page allocator, and installing one goes through
//!   `pgd_populate`/`pud_populate`/`pmd_populate`, which take `__pa` of it.

use crate::mm::debug_pgtable;
use crate::mm::fixmap::{self, FixSlot};
use crate::mm::physaddr::{self, PhysAddr, VirtAddr};
use crate::mm::populate;
use crate::mm::tlbflush::flush_tlb_kernel_page;
use vakern_mm::layout::PAGE_SIZE;
use vakern_mm::pgtable::{MapError, TableAccess, ENTRIES};
use vakern_mm::pte::Prot;

/// Tables named by physical address, reached through fixmap slots.
pub struct FixmapTables {
    /// Physical address mapped in each of the four table slots.
    mapped: [Option<u64>; 4],
    next: usize,
}

const TABLE_SLOTS: [FixSlot; 4] = [FixSlot::Pgd, FixSlot::Pud, FixSlot::Pmd, FixSlot::Pte];

impl Default for FixmapTables {
    fn default() -> Self {
        Self::new()
    }
}

impl FixmapTables {
    /// No slot in use yet.
    pub fn new() -> FixmapTables {
        FixmapTables { mapped: [None; 4], next: 0 }
    }

    /// Virtual address at which the table at `pa` can be accessed now.
    fn reach(&mut self, pa: PhysAddr) -> *mut u64 {
        if let Some(i) = self.mapped.iter().position(|m| *m == Some(pa.0)) {
            return fixmap::fix_to_virt(TABLE_SLOTS[i]) as *mut u64;
        }
        let i = self.next;
        self.next = (self.next + 1) % 4;
        fixmap::set_fixmap(TABLE_SLOTS[i], pa, Prot::KERNEL_RW);
        self.mapped[i] = Some(pa.0);
        fixmap::fix_to_virt(TABLE_SLOTS[i]) as *mut u64
    }

    /// Unmap the slots.
    pub fn finish(&mut self) {
        for (i, m) in self.mapped.iter_mut().enumerate() {
            if m.take().is_some() {
                fixmap::clear_fixmap(TABLE_SLOTS[i]);
            }
        }
    }
}

impl TableAccess for FixmapTables {
    type Table = PhysAddr;

    fn alloc_table(&mut self, _level: u32) -> Result<PhysAddr, MapError> {
        let pa = crate::mm::memblock::alloc(PAGE_SIZE, PAGE_SIZE).ok_or(MapError::NoMemory)?;
        let p = self.reach(PhysAddr(pa));
        for i in 0..ENTRIES {
            // SAFETY: the slot maps the new page.
            unsafe { p.add(i).write_volatile(0) };
        }
        Ok(PhysAddr(pa))
    }

    fn table_at(&mut self, pa: u64, _level: u32) -> PhysAddr {
        PhysAddr(pa)
    }

    fn read(&mut self, t: PhysAddr, idx: usize) -> u64 {
        // SAFETY: the slot maps the table; idx < ENTRIES.
        unsafe { self.reach(t).add(idx).read_volatile() }
    }

    #[track_caller]
    fn write(&mut self, t: PhysAddr, idx: usize, desc: u64) {
        // SAFETY: as in `read`; checked with debug_pgtable.
        unsafe { debug_pgtable::write(self.reach(t).add(idx), 0, debug_pgtable::LEVEL_UNKNOWN, desc) }
    }

    fn populate(&mut self, parent: PhysAddr, idx: usize, level: u32, child: PhysAddr) {
        let entry = self.reach(parent).wrapping_add(idx);
        // SAFETY: `entry` is descriptor idx of the mapped parent table.
        unsafe { populate::populate_phys(level, entry, child) };
    }

    fn flush(&mut self, va: u64) {
        flush_tlb_kernel_page(va);
    }

    // Rule: a new table's zeroes reach the walker before the link to it.
    fn store_barrier(&mut self) {
        crate::mm::tlbflush::dsb_ishst();
    }
}

/// Tables named by their linear-map address (after `paging_init`).
pub struct LinearTables;

impl Default for LinearTables {
    fn default() -> Self {
        Self::new()
    }
}

impl LinearTables {
    /// Access through the linear map.
    pub fn new() -> LinearTables {
        LinearTables
    }

    /// The live kernel root table, `swapper_pg_dir`, by its linear alias.
    pub fn root() -> VirtAddr {
        physaddr::lm_alias(crate::image_sym!(crate::mm::linear_map::SWAPPER_PG_DIR))
    }
}

impl TableAccess for LinearTables {
    type Table = VirtAddr;

    fn alloc_table(&mut self, _level: u32) -> Result<VirtAddr, MapError> {
        let pa = crate::mm::page_alloc::alloc_pages(1).ok_or(MapError::NoMemory)?;
        let va = physaddr::phys_to_virt(pa);
        // SAFETY: a fresh page, mapped through the linear map.
        unsafe { core::ptr::write_bytes(va.as_ptr::<u8>(), 0, PAGE_SIZE as usize) };
        Ok(va)
    }

    fn table_at(&mut self, pa: u64, _level: u32) -> VirtAddr {
        physaddr::phys_to_virt(PhysAddr(pa))
    }

    fn read(&mut self, t: VirtAddr, idx: usize) -> u64 {
        // SAFETY: t is a table page in the linear map; idx < ENTRIES.
        unsafe { t.as_ptr::<u64>().add(idx).read_volatile() }
    }

    #[track_caller]
    fn write(&mut self, t: VirtAddr, idx: usize, desc: u64) {
        // SAFETY: as in `read`; checked with debug_pgtable.
        unsafe { debug_pgtable::write(t.as_ptr::<u64>().add(idx), 0, debug_pgtable::LEVEL_UNKNOWN, desc) }
    }

    fn populate(&mut self, parent: VirtAddr, idx: usize, level: u32, child: VirtAddr) {
        let entry = parent.as_ptr::<u64>().wrapping_add(idx);
        // SAFETY: `entry` is descriptor idx of a live table.
        unsafe { populate::populate(level, entry, child) };
    }

    fn flush(&mut self, va: u64) {
        flush_tlb_kernel_page(va);
    }

    // Rule: a new table's zeroes reach the walker before the link to it.
    fn store_barrier(&mut self) {
        crate::mm::tlbflush::dsb_ishst();
    }
}

/// Read-only access to any live table by physical address, for walks and
/// dumps (fault reports, ptdump, the monitor). A table is reached through
/// the linear map once it exists, or through the image mapping if it is one
/// of the image's static tables; anything else reads as invalid.
pub struct PhysTables;

impl PhysTables {
    /// Descriptor `idx` of the table at `pa`, if the table can be reached.
    pub fn try_read(&mut self, pa: u64, idx: usize) -> Option<u64> {
        let (text, end) = physaddr::image_bounds();
        let (pa_text, pa_end) = (physaddr::kimg_to_phys(text), physaddr::kimg_to_phys(end));
        let va = if pa >= pa_text && pa < pa_end {
            physaddr::phys_to_kimg(pa)
        } else if physaddr::linear_map_ready() && crate::mm::memblock::is_mapped_ram(pa) {
            physaddr::phys_to_virt_unchecked(pa)
        } else {
            return None;
        };
        // SAFETY: a table page reachable at `va`; idx < ENTRIES.
        Some(unsafe { (va as *const u64).add(idx).read_volatile() })
    }
}

impl TableAccess for PhysTables {
    type Table = u64;

    fn alloc_table(&mut self, _level: u32) -> Result<u64, MapError> {
        Err(MapError::NoMemory) // read-only access
    }
    fn table_at(&mut self, pa: u64, _level: u32) -> u64 {
        pa
    }
    fn read(&mut self, t: u64, idx: usize) -> u64 {
        self.try_read(t, idx).unwrap_or(0)
    }
    fn write(&mut self, _t: u64, _idx: usize, _desc: u64) {
        panic!("PhysTables is read-only");
    }
    fn populate(&mut self, _parent: u64, _idx: usize, _level: u32, _child: u64) {
        panic!("PhysTables is read-only");
    }
    fn store_barrier(&mut self) {
        crate::mm::tlbflush::dsb_ishst();
    }
}
