//! Exceptions: the EL1 vector table, fault reports, and the fault-safe probe.
//! The boot stub installs the vectors (`primary_switched`, and
//! `secondary_switched` for the other CPUs) as it jumps to the upper half;
//! before that, `early_vectors` in boot/head.S stop the boot with an exit code.
//!
//! Every vector switches to this CPU's exception stack before it touches
//! memory (so a kernel stack overflow, which faults with SP in a guard page,
//! can still be reported), saves the interrupted registers in a
//! [`TrapFrame`] and calls [`handle_exception`]. The handler either fixes the
//! exception up and returns (a fault in [`probe_read`], used by the monitor
//! to read memory that may not be mapped) or reports it the way arm64 Linux
//! does (`fault.rs` prints the report) and stops the kernel with exit code
//! `FAULT`. A second exception while reporting stops at once with
//! `RECURSIVE_FAULT`; IRQ, FIQ and SError are reported, never waited on.

use crate::arch::cpu::{cpu_id, NR_CPUS};
use crate::arch::semihosting;
use crate::debug::{fault, fault_inject};
use crate::pr_err;
use aarch64_cpu::registers::{Readable, ESR_EL1, FAR_EL1};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use vakern_mm::exit;

/// Registers saved on exception entry.
#[repr(C)]
#[derive(Debug)]
pub struct TrapFrame {
    /// x0..x30.
    pub regs: [u64; 31],
    /// Stack pointer at the time of the exception.
    pub sp: u64,
    /// Exception link register: where it happened.
    pub elr: u64,
    /// Saved program status.
    pub spsr: u64,
}

/// Size of each CPU's exception stack.
pub const EXC_STACK_SIZE: usize = 16 * 1024;
const EXC_STACK_SHIFT: u32 = EXC_STACK_SIZE.trailing_zeros();
const FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();
const _: () = assert!(FRAME_SIZE.is_multiple_of(16) && EXC_STACK_SIZE.is_power_of_two());

#[repr(C, align(16))]
struct ExcStacks([[u8; EXC_STACK_SIZE]; NR_CPUS]);

/// One exception stack per CPU, in .bss, indexed by the logical CPU number.
static mut EXC_STACKS: ExcStacks = ExcStacks([[0; EXC_STACK_SIZE]; NR_CPUS]);

core::arch::global_asm!(
    r#"
    .section .text.vectors, "ax"
    .balign 0x800
    .global __vectors
__vectors:
    .set vector, 0
    .rept 16
    .balign 0x80
    msr     tpidrro_el0, x0                 // free x0 and x1 without touching memory
    msr     tpidr_el0, x1
    mov     x0, sp
    msr     sp_el0, x0                      // the interrupted SP
    mov     x0, #vector
    b       __exception_entry
    .set vector, vector + 1
    .endr

__exception_entry:
    // SP = top of this CPU's exception stack, unless the interrupted code
    // was already on it (an exception inside the handler): then stay below.
    mrs     x1, tpidr_el1                   // logical CPU number, < NR_CPUS
    cmp     x1, #{nr_cpus}                  // (by construction; bounded anyway)
    csel    x1, x1, xzr, lo
    add     x1, x1, #1
    lsl     x1, x1, #{shift}
    mov     sp, x1
    adrp    x1, {stacks}
    add     x1, x1, :lo12:{stacks}
    add     sp, sp, x1                      // top of this CPU's stack
    mrs     x1, sp_el0
    sub     x1, sp, x1                      // top - interrupted SP
    cmp     x1, #{size}
    b.hs    1f
    mrs     x1, sp_el0
    mov     sp, x1
1:  sub     sp, sp, #{frame}
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x1, tpidrro_el0
    mrs     x2, tpidr_el0
    stp     x1, x2, [sp, #0]                // the interrupted x0, x1
    mrs     x1, sp_el0
    stp     x30, x1, [sp, #240]
    mrs     x1, elr_el1
    mrs     x2, spsr_el1
    stp     x1, x2, [sp, #256]
    mov     x1, sp
    mov     x29, xzr                        // the handler starts a new frame chain
    bl      {handler}                       // returns only if fixed up

    ldp     x1, x2, [sp, #256]
    msr     elr_el1, x1
    msr     spsr_el1, x2
    ldr     x1, [sp, #248]
    msr     sp_el0, x1                      // the SP to return to
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    ldr     x30, [sp, #240]
    ldp     x0, x1, [sp, #0]
    msr     tpidrro_el0, x0
    mrs     x0, sp_el0
    mov     sp, x0
    mrs     x0, tpidrro_el0
    eret

    .text
    // probe_read_u8(addr) -> x0 = byte, x1 = 0; or x0 = 0, x1 = 1 if the
    // load faulted (the handler moves ELR to the fixup).
    .global __probe_read_u8
__probe_read_u8:
    mov     x1, #0
    .global __probe_read_insn
__probe_read_insn:
    ldrb    w0, [x0]
    ret
    .global __probe_read_fixup
__probe_read_fixup:
    mov     x0, #0
    mov     x1, #1
    ret
"#,
    frame = const FRAME_SIZE,
    shift = const EXC_STACK_SHIFT,
    nr_cpus = const NR_CPUS,
    size = const EXC_STACK_SIZE,
    stacks = sym EXC_STACKS,
    handler = sym handle_exception,
);

extern "C" {
    fn __probe_read_u8(addr: u64) -> ProbeResult;
    static __probe_read_insn: u8;
    static __probe_read_fixup: u8;
}

#[repr(C)]
struct ProbeResult {
    value: u64,
    failed: u64,
}

/// The fault a probe took: (FAR, ESR).
static PROBE_FAULT: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// Read one byte at `addr`, or return the fault it caused as `Err((far, esr))`.
pub fn probe_read(addr: u64) -> Result<u8, (u64, u64)> {
    // SAFETY: the probe's only load is covered by the fixup in the handler.
    let r = unsafe { __probe_read_u8(addr) };
    if r.failed == 0 {
        Ok(r.value as u8)
    } else {
        Err((PROBE_FAULT[0].load(Ordering::Relaxed), PROBE_FAULT[1].load(Ordering::Relaxed)))
    }
}

/// Read a u64 (little-endian) byte by byte through [`probe_read`].
pub fn probe_read_u64(addr: u64) -> Result<u64, (u64, u64)> {
    let mut v = 0u64;
    for i in 0..8 {
        v |= (probe_read(addr.wrapping_add(i))? as u64) << (8 * i);
    }
    Ok(v)
}

static IN_HANDLER: [AtomicBool; NR_CPUS] = [const { AtomicBool::new(false) }; NR_CPUS];
/// Set by the `fault-in-handler` test: the handler then faults while reporting.
pub static FAULT_IN_HANDLER: AtomicBool = AtomicBool::new(false);

/// Where the handler kept the frame of this CPU's last fixed-up probe fault,
/// by logical CPU: it shows which exception stack the vectors chose.
static PROBE_FRAME: [AtomicU64; NR_CPUS] = [const { AtomicU64::new(0) }; NR_CPUS];

/// The address of the saved registers of this CPU's last probe fault (0 if
/// none yet): inside [`exception_stack`] of this CPU.
pub fn last_probe_frame() -> u64 {
    PROBE_FRAME[cpu_id()].load(Ordering::Relaxed)
}

/// Bounds of this CPU's exception stack.
pub fn exception_stack() -> (u64, u64) {
    let base = &raw const EXC_STACKS as u64 + (cpu_id() * EXC_STACK_SIZE) as u64;
    (base, base + EXC_STACK_SIZE as u64)
}

const VECTOR_NAMES: [&str; 4] = ["Synchronous", "IRQ", "FIQ", "SError"];
const VECTOR_ORIGINS: [&str; 4] = ["EL1t", "EL1h", "EL0 AArch64", "EL0 AArch32"];

/// Called by the vectors with the vector number and the saved registers.
/// Returns only when the exception was a probe fault, fixed up.
#[no_mangle]
extern "C" fn handle_exception(vector: u64, frame: &mut TrapFrame) {
    let esr = ESR_EL1.get();
    let far = FAR_EL1.get();
    let insn = &raw const __probe_read_insn as u64;
    if vector == 4 && frame.elr == insn {
        PROBE_FAULT[0].store(far, Ordering::Relaxed);
        PROBE_FAULT[1].store(esr, Ordering::Relaxed);
        PROBE_FRAME[cpu_id()].store(frame as *mut TrapFrame as u64, Ordering::Relaxed);
        frame.elr = &raw const __probe_read_fixup as u64;
        return;
    }
    let cpu = cpu_id();
    if IN_HANDLER[cpu].swap(true, Ordering::SeqCst) {
        pr_err!(
            "Recursive fault: exception ({} from {}) at {:#018x} while handling an exception, ESR {:#010x} FAR {:#018x}",
            VECTOR_NAMES[(vector % 4) as usize],
            VECTOR_ORIGINS[(vector / 4 % 4) as usize],
            frame.elr,
            esr,
            far
        );
        pr_err!("stopping: {} (exit code {})", exit::describe(exit::RECURSIVE_FAULT), exit::RECURSIVE_FAULT);
        semihosting::exit(exit::RECURSIVE_FAULT);
    }
    if FAULT_IN_HANDLER.load(Ordering::Relaxed) {
        pr_err!("(fault-in-handler test: the handler now reads an unmapped address)");
        // SAFETY: deliberately faults; the nested exception stops the kernel.
        unsafe { core::ptr::read_volatile(fault_inject::UNMAPPED_VA as *const u64) };
    }
    let kind = vector % 4;
    if kind == 0 && vector / 4 == 1 {
        fault::report_sync(esr, far, frame);
    } else {
        fault::report_unexpected(VECTOR_NAMES[kind as usize], VECTOR_ORIGINS[(vector / 4 % 4) as usize], esr, frame);
    }
    pr_err!("stopping: {} (exit code {})", exit::describe(exit::FAULT), exit::FAULT);
    semihosting::exit(exit::FAULT)
}
