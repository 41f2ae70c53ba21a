//! Boot stage 4: the final kernel tables, `swapper_pg_dir`, with the image
//! and the linear map of all RAM (Linux's `paging_init`, `map_kernel` and
//! `map_mem`), then the switch to them and the end of the identity map.
//!
//! New table pages come from memblock and are reached through fixmap slots
//! (`table_access::FixmapTables`), because nothing else maps them yet. The linear map
//! uses the largest blocks alignment allows (1 GiB, 2 MiB, contiguous runs)
//! and is never executable. The static fixmap tables are linked into the new
//! root by `__pa_symbol`.

use crate::arch::sections::{__end_rodata, _etext};
use crate::arch::table::Table;
use crate::mm::memblock;
use crate::mm::physaddr::{self, image_bounds, kimg_to_phys, pa_symbol, PhysAddr};
use crate::mm::table_access::FixmapTables;
use crate::mm::tlbflush;
use crate::{image_sym, pr_info};
use aarch64_cpu::registers::{ReadWriteable, Readable, Writeable, TCR_EL1, TTBR0_EL1};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use vakern_mm::dtb::MAX_RAM_RANGES;
use vakern_mm::fmt::{Addr, Size};
use vakern_mm::pgtable::{self, MapError, MapFlags, TableCounts};
use vakern_mm::pte::Prot;
use vakern_mm::ranges::{Range, RangeSet};

/// The kernel's root table for the upper half, from `paging_init` on. The
/// boot stub loads it for the secondary CPUs by its link name.
#[export_name = "swapper_pg_dir"]
pub static mut SWAPPER_PG_DIR: Table = Table::new();

/// Table pages the linear map used, per level (index = level of the table).
static LINEAR_TABLES: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
/// Table pages the image mapping used, per level.
static IMAGE_TABLES: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

fn add(counts: &[AtomicU64; 4], c: &TableCounts) {
    for (a, n) in counts.iter().zip(c.per_level) {
        a.fetch_add(n, Relaxed);
    }
}

/// Table pages the linear map used, per level.
pub fn linear_table_counts() -> [u64; 4] {
    LINEAR_TABLES.each_ref().map(|a| a.load(Relaxed))
}

/// Table pages the image mapping in `swapper_pg_dir` used, per level.
pub fn image_table_counts() -> [u64; 4] {
    IMAGE_TABLES.each_ref().map(|a| a.load(Relaxed))
}

/// The pieces of the linear map, `(pa, size, prot)` in address order, handed
/// to `each`: the mapped RAM, with the image's text and rodata cut out as
/// read-only pieces.
pub fn linear_pieces(
    mapped: &RangeSet<MAX_RAM_RANGES>,
    each: &mut dyn FnMut(u64, u64, Prot) -> Result<(), MapError>,
) -> Result<(), MapError> {
    let (text, _) = image_bounds();
    let ro = Range { base: kimg_to_phys(text), end: kimg_to_phys(&raw const __end_rodata as u64) };
    for r in mapped.iter() {
        if !r.overlaps(&ro) {
            each(r.base, r.size(), Prot::KERNEL_RW)?;
            continue;
        }
        let (a, b) = (ro.base.max(r.base), ro.end.min(r.end));
        if r.base < a {
            each(r.base, a - r.base, Prot::KERNEL_RW)?;
        }
        each(a, b - a, Prot::KERNEL_RO)?;
        if b < r.end {
            each(b, r.end - b, Prot::KERNEL_RW)?;
        }
    }
    Ok(())
}

/// An all-invalid root table: TTBR1 points at it while the kernel root is
/// replaced (Linux's `reserved_pg_dir`). In .bss, so zero from the boot stub on.
pub static mut RESERVED_PG_DIR: Table = Table::new();

extern "C" {
    /// boot/head.S: TTBR1 := reserved table, invalidate, TTBR1 := new root.
    fn idmap_cpu_replace_ttbr1(ttbr1: u64, reserved: u64);
}

/// Linux's `cpu_replace_ttbr1`: install `pgd` as the upper-half root without
/// ever letting the TLB hold the old and the new root's entries together.
/// The switch runs in `idmap_cpu_replace_ttbr1` at its physical address
/// through the identity map, which must still be in TTBR0.
fn replace_ttbr1(pgd: PhysAddr) {
    let reserved = pa_symbol(image_sym!(RESERVED_PG_DIR));
    let f = pa_symbol(physaddr::ImageAddr::from_raw(idmap_cpu_replace_ttbr1 as *const () as u64));
    // SAFETY: `f` is the physical address of the routine, mapped executable
    // by the identity map in TTBR0; it uses no memory and returns to the
    // caller's (upper-half) address, which the new root maps alike.
    unsafe {
        let f: unsafe extern "C" fn(u64, u64) = core::mem::transmute(f.0 as usize);
        f(pgd.0 + vakern_mm::layout::ACTIVE.ttbr1_offset(crate::arch::sysreg::vabits_actual()), reserved.0);
    }
}

/// Build `swapper_pg_dir`, switch TTBR1 to it and drop the identity map.
pub fn paging_init() -> Result<(), MapError> {
    let mut t = FixmapTables::new();
    let pgd = pa_symbol(image_sym!(SWAPPER_PG_DIR));

    // The image, with the same per-section permissions as the early mapping.
    let (text, end) = image_bounds();
    let (etext, rodata_end) = (&raw const _etext as u64, &raw const __end_rodata as u64);
    for (start, stop, prot) in
        [(text, etext, Prot::KERNEL_ROX), (etext, rodata_end, Prot::KERNEL_RO), (rodata_end, end, Prot::KERNEL_RW)]
    {
        let c = pgtable::map_range(&mut t, pgd, start, kimg_to_phys(start), stop - start, prot, MapFlags::PAGES)?;
        add(&IMAGE_TABLES, &c);
    }

    // The linear map: every mapped RAM range, never executable. The alias
    // of the image's text and rodata is read-only too (Linux's rodata=full),
    // so no kernel page is writable through one mapping and executable
    // through another.
    let mem = memblock::memory().expect("memblock set up before paging_init");
    linear_pieces(&mem.mapped, &mut |base, size, prot| {
        let va = physaddr::__va(base);
        let c = pgtable::map_range(&mut t, pgd, va, base, size, prot, MapFlags::LARGEST)?;
        add(&LINEAR_TABLES, &c);
        Ok(())
    })?;

    crate::mm::fixmap::fixmap_link(&mut t, pgd);
    t.finish();
    tlbflush::sync_tables();

    // Switch the upper half to the new tables, through the reserved zero
    // table (break-before-make for the root: see `replace_ttbr1`).
    replace_ttbr1(pgd);
    tlbflush::flush_tlb_all();
    physaddr::set_linear_map_ready();

    // No more identity map: TTBR0 walks are disabled and its root cleared
    // (what it held is kept for the monitor's `idmap`).
    crate::mm::idmap::record(TTBR0_EL1.get());
    TCR_EL1.modify(TCR_EL1::EPD0::DisableTTBR0Walks);
    TTBR0_EL1.set(0);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    tlbflush::flush_tlb_all();

    Ok(())
}

/// Log what `paging_init` built (separate, so that the boot-phase stamp taken
/// after `paging_init` does not count the printing).
pub fn report() {
    let pgd = pa_symbol(image_sym!(SWAPPER_PG_DIR));
    let mem = memblock::memory().expect("memblock set up before paging_init");
    let lin = linear_table_counts();
    let (ram_start, ram_end) = physaddr::ram_bounds();
    pr_info!(
        "Linear map: {} .. {} -> PA {} .. {} ({})",
        Addr(physaddr::__va(ram_start)),
        Addr(physaddr::__va(ram_end - 1) + 1),
        Addr(ram_start),
        Addr(ram_end),
        Size(mem.mapped.total())
    );
    if mem.mapped.iter().count() > 1 {
        // Sparse RAM: the span above has holes, which stay unmapped.
        for r in mem.mapped.iter() {
            pr_info!(
                "  RAM: {} .. {} -> PA {} .. {} ({})",
                Addr(physaddr::__va(r.base)),
                Addr(physaddr::__va(r.end - 1) + 1),
                Addr(r.base),
                Addr(r.end),
                Size(r.size())
            );
        }
    }
    pr_info!(
        "Linear map tables: {} page(s): L1 {}, L2 {}, L3 {}; image tables: L1 {}, L2 {}, L3 {}",
        lin.iter().sum::<u64>(),
        lin[1],
        lin[2],
        lin[3],
        image_table_counts()[1],
        image_table_counts()[2],
        image_table_counts()[3]
    );
    pr_info!("Switched to swapper_pg_dir at PA {}; TTBR0 (identity map) is empty", Addr(pgd.0));
}
