//! Self-tests across CPUs: `smp` (every CPU came up, translates every
//! kind of address alike, and has its own logical number, stack and
//! exception stack; `smp-percpu` checks only the last part) and `smp-tlb` (a mapping changed on one CPU is
//! seen by the others after broadcast TLB maintenance).

use crate::arch::at::at_s1e1r;
use crate::arch::cpu::NR_CPUS;
use crate::cpu::smp;
use crate::debug::{fault_inject, traps};
use crate::mm::stack;
use crate::mm::table_access::LinearTables;
use crate::mm::tlbflush;
use crate::mm::{memblock, page_alloc, physaddr, vmalloc};
use crate::pr_info;
use crate::selftest::{check, Outcome};
use alloc::format;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};
use vakern_mm::fmt::Addr;
use vakern_mm::layout::{self, PAGE_SIZE};
use vakern_mm::pgtable;
use vakern_mm::pte;

pub(super) fn test_smp() -> Outcome {
    let n = smp::online_cpus();
    let expected = smp::cpu_count().min(smp::max_cpus());
    check!(
        n == expected,
        "{} CPUs online, the device tree lists {} (maxcpus={})",
        n,
        smp::cpu_count(),
        smp::max_cpus()
    );
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
    per_cpu_data(n)
}

/// What each CPU reported about itself in [`self_report`], by the logical
/// number it read from TPIDR_EL1: (that number + 1, SP, exception stack).
static REPORTS: [[AtomicU64; 3]; NR_CPUS] =
    [const { [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)] }; NR_CPUS];

/// Run on each CPU (one mailbox round trip, cheap with many CPUs): note the
/// logical number (TPIDR_EL1), the stack pointer, and the base of the
/// exception stack a probe fault was handled on (`u64::MAX` if the frame
/// was not on this CPU's exception stack); return the logical number.
fn self_report(_: u64) -> u64 {
    let id = crate::arch::cpu::cpu_id();
    let sp: u64;
    // SAFETY: reads SP only.
    unsafe { core::arch::asm!("mov {0}, sp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
    // An address nothing maps: the probe faults and is fixed up, on the
    // exception stack the vectors picked for this CPU.
    let _ = traps::probe_read(fault_inject::UNMAPPED_VA);
    let frame = traps::last_probe_frame();
    let (lo, hi) = traps::exception_stack();
    let exc = if frame >= lo && frame < hi { lo } else { u64::MAX };
    let r = &REPORTS[id];
    r[0].store(id as u64 + 1, SeqCst);
    r[1].store(sp, SeqCst);
    r[2].store(exc, SeqCst);
    id as u64
}

/// `smp-percpu`: the per-CPU part of `smp` alone, cheap enough for many
/// CPUs (QEMU's GICv3 virt with 17 CPUs gives one MPIDR with Aff1 = 1).
pub(super) fn test_smp_percpu() -> Outcome {
    let n = smp::online_cpus();
    let expected = smp::cpu_count();
    check!(n == expected, "{} CPUs online, the device tree lists {}", n, expected);
    per_cpu_data(n)
}

/// Per-CPU data is indexed by the logical CPU number, whatever the MPIDRs:
/// each CPU has its own number, kernel stack and exception stack.
fn per_cpu_data(n: usize) -> Outcome {
    let mut seen: Vec<(u64, u64, u64)> = Vec::new();
    for (cpu, r) in REPORTS.iter().enumerate().take(n) {
        let id = smp::run_on(cpu, self_report, 0).ok_or(format!("CPU{cpu} did not answer"))?;
        check!(id == cpu as u64, "CPU{} says it is logical CPU {}", cpu, id);
        let (tag, sp, exc) = (r[0].load(SeqCst), r[1].load(SeqCst), r[2].load(SeqCst));
        check!(tag == cpu as u64 + 1, "CPU{} left no report under its number", cpu);
        let mpidr = smp::mpidr(cpu).unwrap_or(u64::MAX);
        pr_info!(
            "smp: CPU{} MPIDR {:#x} (Aff1 {}) logical {} stack {} exception stack {}",
            cpu,
            mpidr,
            (mpidr >> 8) & 0xff,
            id,
            Addr(sp),
            Addr(exc)
        );
        check!(exc != u64::MAX, "CPU{}: its probe fault was not handled on its own exception stack", cpu);
        if cpu > 0 {
            let top = smp::stack_top(cpu).ok_or("no stack")?;
            check!(sp < top && sp >= top - stack::KERNEL_STACK_SIZE, "CPU{}: SP {} is not on its stack", cpu, Addr(sp));
        }
        for &(other, _, other_exc) in &seen {
            check!(other_exc != exc, "CPU{} and CPU{} share the exception stack {}", cpu, other, Addr(exc));
        }
        seen.push((cpu as u64, sp, exc));
    }
    pr_info!("smp: {} CPUs, each with its own logical number, stack and exception stack", n);
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
