//! Semihosting exit codes: how a kernel run ends, as the launcher and the
//! tests read it from QEMU's exit status. Shared by both sides so they cannot
//! drift apart.

/// Clean power-off, or a self-test that passed.
pub const SUCCESS: u32 = 0;
/// A self-test found a wrong result.
pub const TEST_FAILED: u32 = 1;
/// Boot stopped on bad input from outside (DTB, memory layout, command line).
pub const BOOT_ERROR: u32 = 2;
/// A Rust panic: a broken invariant.
pub const PANIC: u32 = 3;
/// An unhandled exception: a kernel fault or an unexpected vector.
pub const FAULT: u32 = 4;
/// A `debug_virtual` check stopped the kernel (Linux: BUG in physaddr.c).
pub const DEBUG_VIRTUAL_BUG: u32 = 5;
/// The boot stub or the pre-relocation code failed before any console existed
/// (an unknown relocation type, an image the early tables cannot hold).
pub const EARLY_BOOT_FAILED: u32 = 6;
/// A fault taken while reporting a fault.
pub const RECURSIVE_FAULT: u32 = 7;

/// What an exit code means, for the launcher's final line.
pub fn describe(code: u32) -> &'static str {
    match code {
        SUCCESS => "success",
        TEST_FAILED => "self-test failed",
        BOOT_ERROR => "boot error (bad input)",
        PANIC => "kernel panic",
        FAULT => "kernel fault",
        DEBUG_VIRTUAL_BUG => "debug_virtual check failed",
        EARLY_BOOT_FAILED => "early boot failure (before the console)",
        RECURSIVE_FAULT => "fault inside the fault handler",
        _ => "unknown",
    }
}
