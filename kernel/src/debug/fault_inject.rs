//! Deliberate faults, one per kind, for the fault-report tests
//! (`test=fault:KIND`) and the monitor (`fault KIND`). Each is fatal: the
//! kernel prints the report and stops with exit code `FAULT` (or
//! `RECURSIVE_FAULT` for `fault-in-handler`).

use crate::debug::traps;
use core::sync::atomic::Ordering;
use vakern_mm::layout::{align_down, PAGE_SIZE, VMALLOC_END, VMALLOC_START};

/// A kernel address nothing maps: 1 TiB into the vmalloc area, or three
/// quarters into it where the area is smaller (39- and 42-bit VAs); far
/// from the image at its bottom and from anything vmalloc hands out.
pub const UNMAPPED_VA: u64 = if VMALLOC_END - VMALLOC_START > 2 << 40 {
    VMALLOC_START + (1 << 40)
} else {
    align_down(VMALLOC_START + (VMALLOC_END - VMALLOC_START) / 4 * 3, PAGE_SIZE)
};

/// The kinds, with what each does.
pub const KINDS: &[(&str, &str)] = &[
    ("null-read", "read from address 0"),
    ("unmapped-read", "read from an unmapped vmalloc-area address"),
    ("noncanonical", "read from 0x1234_0000_0000_0000"),
    ("rodata-write", "write to read-only data"),
    ("text-write", "write to kernel text"),
    ("exec-data", "jump into a data page (never executable)"),
    ("stack-overflow", "unbounded recursion into the stack's guard page"),
    ("fault-in-handler", "a fault while the fault handler reports one"),
    ("brk", "a BRK instruction (not an abort)"),
];

static RODATA_WORD: u64 = 0x0123_4567_89ab_cdef;
static mut DATA_CODE: [u32; 4] = [0xd503_201f, 0xd65f_03c0, 0, 0]; // nop; ret

fn load(addr: u64) -> u64 {
    let v: u64;
    // SAFETY: deliberately faults; the handler does not return.
    unsafe { core::arch::asm!("ldr {v}, [{a}]", a = in(reg) addr, v = out(reg) v, options(nostack)) };
    v
}

fn store(addr: u64) {
    // SAFETY: as in `load`.
    unsafe { core::arch::asm!("str xzr, [{a}]", a = in(reg) addr, options(nostack)) };
}

/// Recurse until the stack runs into its guard page (the limit is never
/// reached: 64 KiB of stack holds far fewer than 2^20 frames).
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let mut big = [depth; 64];
    core::hint::black_box(&mut big);
    if depth > 1 << 20 {
        return big[7];
    }
    recurse(depth + 1).wrapping_add(big[7])
}

/// Trigger fault `kind`. Returns only if `kind` is unknown.
pub fn trigger(kind: &str) -> Result<(), &'static str> {
    match kind {
        "null-read" => {
            load(0);
        }
        "unmapped-read" => {
            load(UNMAPPED_VA);
        }
        "noncanonical" => {
            load(0x1234_0000_0000_0000);
        }
        "rodata-write" => store(&raw const RODATA_WORD as u64),
        "text-write" => store(trigger as *const () as u64),
        "exec-data" => {
            let f = &raw mut DATA_CODE as u64;
            // SAFETY: deliberately branches to a never-executable page.
            unsafe { core::arch::asm!("blr {f}", f = in(reg) f, out("x30") _, options(nostack)) };
        }
        "stack-overflow" => {
            core::hint::black_box(recurse(0));
        }
        "fault-in-handler" => {
            traps::FAULT_IN_HANDLER.store(true, Ordering::SeqCst);
            load(0);
        }
        // SAFETY: a breakpoint exception, reported as an Oops.
        "brk" => unsafe { core::arch::asm!("brk #0x100", options(nostack)) },
        _ => return Err("unknown fault kind"),
    }
    Err("the fault did not happen")
}
