//! Leaving QEMU with an exit code, through Arm semihosting (SYS_EXIT), and
//! the semihosting console (SYS_WRITEC).
//!
//! The launcher starts QEMU with `-semihosting-config enable=on,target=native`
//! so the code given here becomes QEMU's exit status; see `vakern_mm::exit`
//! for what each code means. Usable at any time after the high mapping.

/// Reason code of SYS_EXIT's parameter block: the application exited.
pub const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;
const SYS_EXIT: u64 = 0x18;
const SYS_WRITEC: u64 = 0x03;

/// Write one byte to QEMU's semihosting console (its standard error); the
/// console of last resort, `earlycon=smh`.
pub fn writec(b: u8) {
    let c = b;
    // SAFETY: the semihosting call only reads the byte.
    unsafe {
        core::arch::asm!("hlt #0xf000", inout("x0") SYS_WRITEC => _, in("x1") &raw const c, options(nostack));
    }
}

/// Stop QEMU with `code`. Never returns; without semihosting it parks the CPU.
pub fn exit(code: u32) -> ! {
    let block = [ADP_STOPPED_APPLICATION_EXIT, code as u64];
    // SAFETY: the semihosting call only reads the two-word block.
    unsafe {
        core::arch::asm!(
            "hlt #0xf000",
            in("x0") SYS_EXIT,
            in("x1") block.as_ptr(),
            options(nostack)
        );
    }
    loop {
        aarch64_cpu::asm::wfe();
    }
}
