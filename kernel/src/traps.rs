//! The EL1 exception vectors and the report for an exception the kernel did
//! not expect.
//!
//! Every vector saves the interrupted registers in a [`TrapFrame`] on the
//! current stack and calls [`handle_exception`]. Nothing is expected yet, so
//! every exception is reported (the kind, ESR decoded, FAR, ELR, the layout
//! region of FAR) and the kernel stops with exit code `FAULT`. A second
//! exception while reporting stops with `RECURSIVE_FAULT` at once.

use crate::physaddr::region_of;
use crate::{pr_err, semihosting};
use aarch64_cpu::registers::{Readable, ESR_EL1, FAR_EL1};
use core::sync::atomic::{AtomicBool, Ordering};
use vakern_mm::exit;
use vakern_mm::fmt::Addr;

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

const FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();
const _: () = assert!(FRAME_SIZE.is_multiple_of(16));

core::arch::global_asm!(
    r#"
    .section .text.vectors, "ax"
    .balign 0x800
    .global __vectors
__vectors:
    .set vector, 0
    .rept 16
    .balign 0x80
    sub     sp, sp, #{frame}
    stp     x0, x1, [sp, #0]
    mov     x0, #vector
    b       __exception_common
    .set vector, vector + 1
    .endr

__exception_common:
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
    add     x1, sp, #{frame}
    stp     x30, x1, [sp, #240]             // x30 and the interrupted sp
    mrs     x1, elr_el1
    mrs     x2, spsr_el1
    stp     x1, x2, [sp, #256]
    mov     x1, sp                          // x0 = vector number, x1 = frame
    bl      {handler}
    b       .
"#,
    frame = const FRAME_SIZE,
    handler = sym handle_exception,
);

static IN_HANDLER: AtomicBool = AtomicBool::new(false);

const VECTOR_NAMES: [&str; 16] = [
    "Synchronous (EL1t)",
    "IRQ (EL1t)",
    "FIQ (EL1t)",
    "SError (EL1t)",
    "Synchronous (EL1h)",
    "IRQ (EL1h)",
    "FIQ (EL1h)",
    "SError (EL1h)",
    "Synchronous (EL0, AArch64)",
    "IRQ (EL0, AArch64)",
    "FIQ (EL0, AArch64)",
    "SError (EL0, AArch64)",
    "Synchronous (EL0, AArch32)",
    "IRQ (EL0, AArch32)",
    "FIQ (EL0, AArch32)",
    "SError (EL0, AArch32)",
];

/// Called by the vectors with the vector number and the saved registers.
#[no_mangle]
extern "C" fn handle_exception(vector: u64, frame: &mut TrapFrame) -> ! {
    if IN_HANDLER.swap(true, Ordering::SeqCst) {
        pr_err!("Recursive exception (vector {}) while handling an exception: stopping", vector);
        semihosting::exit(exit::RECURSIVE_FAULT);
    }
    let esr = ESR_EL1.get();
    let far = FAR_EL1.get();
    let name = VECTOR_NAMES.get(vector as usize).copied().unwrap_or("unknown vector");
    pr_err!("Unhandled exception: {}", name);
    pr_err!(
        "  ESR_EL1 {:#010x} (EC {:#04x}, IL {}, ISS {:#x})",
        esr,
        (esr >> 26) & 0x3f,
        (esr >> 25) & 1,
        esr & 0x1ff_ffff
    );
    pr_err!("  FAR_EL1 {} ({})", Addr(far), region_of(far).name());
    pr_err!("  ELR_EL1 {} ({})", Addr(frame.elr), region_of(frame.elr).name());
    pr_err!("  SPSR    {:#010x}  SP {}", frame.spsr, Addr(frame.sp));
    semihosting::exit(exit::FAULT)
}
