//! Self-tests across CPUs: `smp` (every CPU came up and translates every
//! kind of address alike) and `smp-tlb` (a mapping changed on one CPU is
//! seen by the others after broadcast TLB maintenance).

use crate::arch::at::at_s1e1r;
use crate::cpu::smp;
use crate::mm::table_access::LinearTables;
use crate::mm::tlbflush;
use crate::mm::{memblock, page_alloc, physaddr, vmalloc};
use crate::pr_info;
use crate::selftest::{check, Outcome};
use alloc::format;
use alloc::vec::Vec;
use vakern_mm::fmt::Addr;
use vakern_mm::layout::{self, PAGE_SIZE};
use vakern_mm::pgtable;
use vakern_mm::pte;

pub(super) fn test_smp() -> Outcome {
    let n = smp::online_cpus();
    let expected = smp::cpu_count().min(smp::max_cpus());
    check!(n == expected, "{} CPUs online, the device tree lists {} (maxcpus={})", n, smp::cpu_count(), smp::max_cpus());
    pr_info!("smp: {} CPUs online", n);
    // Addresses of every kind: image, linear (several), vmalloc, the UART.
    let (text, end) = physaddr::image_bounds();
    let mut vas = Vec::from([text, end - 8]);
    vas.extend(crate::console::printk::console_base());
    let mem = memblock::memory().ok_or("no memory")?;
    for r in mem.mapped.iter() {
        vas.push(physaddr::__va(r.base));
        vas.push(physaddr::__va(r.end - 8));
    }
    let v = vmalloc::vmalloc(3 * PAGE_SIZE).map_err(|e| format!("vmalloc: {e}"))?;
    vas.push(v.0 + PAGE_SIZE);
    for &va in &vas {
        let here = at_s1e1r(va);
        for cpu in 1..n {
            let there = smp::run_on(cpu, |va| at_s1e1r(va).unwrap_or(u64::MAX), va)
                .ok_or(format!("CPU{cpu} did not answer"))?;
            check!(
                Some(there) == here.or(Some(u64::MAX)),
                "CPU{} translates {} to {:#x}, CPU0 to {:?}",
                cpu,
                Addr(va),
                there,
                here.map(Addr)
            );
            if physaddr::is_lm_address(va) {
                let pa = smp::pa_on(cpu, va).ok_or("no answer")?;
                check!(pa == physaddr::__pa(va), "CPU{} computes __pa({}) = {:#x}", cpu, Addr(va), pa);
            }
        }
    }
    vmalloc::vfree(v).map_err(|e| format!("vfree: {e}"))?;
    pr_info!("smp: {} addresses translated alike on {} CPUs", vas.len(), n);
    Ok(())
}

/// The level-3 descriptor that maps `va` in swapper_pg_dir.
fn pte_of(va: u64) -> Option<*mut u64> {
    let mut t = LinearTables::new();
    let w = pgtable::walk(&mut t, LinearTables::root(), va);
    let table = w.tables[3]?;
    Some(table.as_ptr::<u64>().wrapping_add(layout::table_index(va, 3)))
}

fn read_on(cpu: usize, va: u64) -> Option<u64> {
    // SAFETY: the page is mapped for the whole test.
    smp::run_on(cpu, |va| unsafe { core::ptr::read_volatile(va as *const u64) }, va)
}

pub(super) fn test_smp_tlb() -> Outcome {
    let n = smp::online_cpus();
    check!(n > 1, "needs more than one CPU (boot with --smp 2 or more)");
    let v = vmalloc::vmalloc(PAGE_SIZE).map_err(|e| format!("vmalloc: {e}"))?;
    let other = page_alloc::alloc_pages(1).ok_or("no page")?;
    let ptep = pte_of(v.0).ok_or("vmalloc page has no pte")?;
    // SAFETY: the live descriptor of our own page; both pages are ours.
    let (old, first_pa) = unsafe { (ptep.read_volatile(), ptep.read_volatile() & pte::ADDR_MASK) };
    unsafe {
        core::ptr::write_volatile(physaddr::__va(first_pa) as *mut u64, 0xaaaa);
        core::ptr::write_volatile(physaddr::__va(other.0) as *mut u64, 0xbbbb);
    }
    for cpu in 1..n {
        check!(read_on(cpu, v.0) == Some(0xaaaa), "CPU{} reads the wrong first page", cpu);
    }
    // Break before make, with a broadcast invalidation in the middle.
    // SAFETY: as above.
    unsafe { ptep.write_volatile(0) };
    tlbflush::flush_tlb_kernel_page(v.0);
    unsafe { ptep.write_volatile((old & !pte::ADDR_MASK) | other.0) };
    tlbflush::sync_tables();
    for cpu in 1..n {
        let got = read_on(cpu, v.0);
        check!(
            got == Some(0xbbbb),
            "CPU{} still reads {:?} after the broadcast TLBI",
            cpu,
            got.map(|x| alloc::format!("{x:#x}"))
        );
    }
    // For contrast (printed, not asserted): change it back with a TLBI that
    // only this CPU performs (`tlbi vaae1`, not inner shareable).
    unsafe { ptep.write_volatile(0) };
    let arg = (v.0 >> 12) & ((1 << 44) - 1);
    // SAFETY: TLB maintenance only.
    unsafe { core::arch::asm!("dsb ishst", "tlbi vaae1, {0}", "dsb nsh", "isb", in(reg) arg, options(nostack)) };
    unsafe { ptep.write_volatile(old) };
    tlbflush::sync_tables();
    let stale = (1..n).filter(|&c| read_on(c, v.0) == Some(0xbbbb)).count();
    pr_info!("smp-tlb: after a local-only TLBI, {} of {} other CPUs still used the old translation", stale, n - 1);
    // Put everything back and release it.
    tlbflush::flush_tlb_all();
    page_alloc::free_pages(other, 1);
    vmalloc::vfree(v).map_err(|e| format!("vfree: {e}"))?;
    pr_info!("smp-tlb: a remap on CPU0 reached {} other CPUs", n - 1);
    Ok(())
}
