//! Fault reports in arm64 Linux's shape (its `fault.c` and `traps.c`).
//!
//! For a kernel data or instruction abort: the headline ("Unable to handle
//! kernel paging request at virtual address …", or NULL pointer
//! dereference, write to read-only memory, execute from non-executable
//! memory), the "Mem abort info" block decoded from ESR, the layout region
//! of the address, the walk of the tables for it (one value per level, up to
//! the first entry that is not a table: Linux's `show_pte`), the registers,
//! and the call trace from the frame records, with symbol names.

use crate::arch::cpu::cpu_id;
use crate::console::fmt::StrBuf;
use crate::debug::kallsyms;
use crate::debug::traps::{self, TrapFrame};
use crate::mm::physaddr::region_of;
use crate::mm::stack;
use crate::mm::table_access::PhysTables;
use crate::{pr_err, println};
use aarch64_cpu::registers::{Readable, TCR_EL1, TTBR0_EL1, TTBR1_EL1};
use core::fmt::Write;
use vakern_mm::esr::{self, Esr};
use vakern_mm::fmt::Addr;
use vakern_mm::layout::{table_index, PAGE_SIZE, ROOT_LEVEL, VA_BITS};
use vakern_mm::pgtable::TableAccess;
use vakern_mm::pte::{self, Kind};

/// Print the report for a synchronous exception from EL1.
pub fn report_sync(esr_value: u64, far: u64, frame: &TrapFrame) {
    let e = Esr(esr_value);
    if let Some((lo, hi)) = stack::guard_hit(far).or(stack::guard_hit(frame.sp)) {
        pr_err!("Insufficient stack space to handle exception!");
        pr_err!(
            "kernel stack overflow: SP {} FAR {}; the stack is [{}, {}), its guard page is below it",
            Addr(frame.sp),
            Addr(far),
            Addr(lo),
            Addr(hi)
        );
        let (elo, ehi) = traps::exception_stack();
        pr_err!("(reported on CPU{}'s exception stack [{}, {}))", cpu_id(), Addr(elo), Addr(ehi));
    }
    if e.is_data_abort() || e.is_instruction_abort() {
        pr_err!("{}", esr::fault_headline(esr_value, far));
        let mut info = StrBuf::<512>::new();
        let _ = esr::write_mem_abort_info(&mut info, esr_value);
        for line in info.as_str().lines() {
            pr_err!("{}", line);
        }
        pr_err!("Address {} is in: {}", Addr(far), region_of(far).name());
        show_pte(far);
    } else {
        pr_err!("Internal error: Oops - {}: {:#018x}", e.ec_name(), esr_value);
    }
    pr_err!("Internal error: Oops: {:016x} [#1] SMP", esr_value);
    show_regs(frame);
    backtrace(frame.regs[29], frame.elr);
    pr_err!("Kernel panic - not syncing: Oops: Fatal exception");
}

/// Print the report for IRQ, FIQ, SError or an exception from an unexpected level.
pub fn report_unexpected(kind: &str, origin: &str, esr_value: u64, frame: &TrapFrame) {
    pr_err!(
        "Unexpected {} exception from {} on CPU{}, ESR {:#018x} ({})",
        kind,
        origin,
        cpu_id(),
        esr_value,
        Esr(esr_value).ec_name()
    );
    show_regs(frame);
    backtrace(frame.regs[29], frame.elr);
    pr_err!("Kernel panic - not syncing: Unexpected {} exception", kind);
}

fn where_is(addr: u64) -> StrBuf<160> {
    let mut b = StrBuf::new();
    match kallsyms::lookup(addr) {
        Some(f) => {
            let _ = write!(b, "{}", f);
        }
        None => {
            let _ = write!(b, "{:#018x}", addr);
        }
    }
    b
}

fn show_regs(f: &TrapFrame) {
    pr_err!("CPU: {} PID: 0 Comm: swapper", cpu_id());
    pr_err!("pc : {}", where_is(f.elr));
    pr_err!("lr : {}", where_is(f.regs[30]));
    pr_err!("sp : {:016x}  pstate : {:08x}", f.sp, f.spsr);
    let mut i = 29i32;
    while i >= 0 {
        let mut line = StrBuf::<128>::new();
        for r in (i.saturating_sub(2).max(0)..=i).rev() {
            let _ = write!(line, "x{:<2}: {:016x} ", r, f.regs[r as usize]);
        }
        pr_err!("{}", line.as_str().trim_end());
        i -= 3;
    }
}

/// The walk of the tables for `va`, one value per level (Linux `show_pte`),
/// as error lines.
pub fn show_pte(va: u64) {
    show_pte_with(va, &mut |line| pr_err!("{}", line));
}

/// [`show_pte`], each line handed to `emit`.
pub fn show_pte_with(va: u64, emit: &mut dyn FnMut(&str)) {
    let top = va >> VA_BITS;
    let (name, ttbr, epd) = if top == u64::MAX >> VA_BITS {
        ("swapper", TTBR1_EL1.get(), TCR_EL1.matches_all(TCR_EL1::EPD1::DisableTTBR1Walks))
    } else if top == 0 {
        ("user", TTBR0_EL1.get(), TCR_EL1.matches_all(TCR_EL1::EPD0::DisableTTBR0Walks))
    } else {
        let mut l = StrBuf::<96>::new();
        let _ = write!(l, "[{:016x}] address between user and kernel address ranges", va);
        emit(l.as_str());
        return;
    };
    let root = pte::ttbr_root(ttbr);
    let mut line = StrBuf::<256>::new();
    // Walks disabled is what "no tables" means: a root table at PA 0 is
    // legal where RAM starts at 0.
    if epd {
        let _ = write!(line, "{} pgtable: empty (TTBR{} walks disabled)", name, if top == 0 { 0 } else { 1 });
        emit(line.as_str());
        return;
    }
    let _ = write!(line, "{} pgtable: {}k pages, {}-bit VAs, pgdp={:016x}", name, PAGE_SIZE >> 10, VA_BITS, root);
    emit(line.as_str());
    let mut line = StrBuf::<256>::new();
    let _ = write!(line, "[{:016x}]", va);
    let mut t = PhysTables;
    let mut table = root;
    // Linux's names: the root is the pgd whatever its level; the levels
    // below keep theirs (pgd, pmd, pte with three levels).
    for level in ROOT_LEVEL..4 {
        let lname = if level == ROOT_LEVEL { "pgd" } else { ["pgd", "pud", "pmd", "pte"][level as usize] };
        let Some(d) = t.try_read(table, table_index(va, level)) else {
            let _ = write!(line, " {}=<table at PA {:#x} not reachable>", lname, table);
            break;
        };
        let _ = write!(line, "{} {}={:016x}", if level == ROOT_LEVEL { "" } else { "," }, lname, d);
        if pte::kind(d, level) != Kind::Table {
            break;
        }
        table = t.table_at(pte::desc_addr(d), level + 1);
    }
    emit(line.as_str());
}

/// Follow the frame records from `fp`: the call trace.
pub fn backtrace(mut fp: u64, pc: u64) {
    pr_err!("Call trace:");
    pr_err!(" {}", where_is(pc));
    for _ in 0..32 {
        if fp == 0 || !fp.is_multiple_of(16) || region_of(fp) == vakern_mm::layout::Region::User {
            break;
        }
        let (Ok(next), Ok(lr)) = (traps::probe_read_u64(fp), traps::probe_read_u64(fp + 8)) else { break };
        if lr == 0 {
            break;
        }
        pr_err!(" {}", where_is(lr.wrapping_sub(4)));
        if next <= fp {
            break;
        }
        fp = next;
    }
}

/// Print a short report for a fault the monitor's probe took, and carry on.
pub fn report_probe_fault(va: u64, far: u64, esr_value: u64) {
    println!("{}", esr::fault_headline(esr_value, far));
    let mut info = StrBuf::<512>::new();
    let _ = esr::write_mem_abort_info(&mut info, esr_value);
    crate::print!("{}", info.as_str());
    println!("Address {} is in: {}", Addr(va), region_of(va).name());
    show_pte_with(va, &mut |line| println!("{}", line));
}
