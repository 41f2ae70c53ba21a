//! The exit codes shared by the kernel and the launcher: each has its own
//! distinct description, and any other code reads as unknown.

use vakern_mm::exit::*;

#[test]
fn every_exit_code_has_its_own_description() {
    let all = [
        (SUCCESS, "success"),
        (TEST_FAILED, "self-test failed"),
        (BOOT_ERROR, "boot error (bad input)"),
        (PANIC, "kernel panic"),
        (FAULT, "kernel fault"),
        (DEBUG_VIRTUAL_BUG, "debug_virtual check failed"),
        (EARLY_BOOT_FAILED, "early boot failure (before the console)"),
        (RECURSIVE_FAULT, "fault inside the fault handler"),
    ];
    for (i, (code, text)) in all.iter().enumerate() {
        assert_eq!(*code, i as u32, "exit codes are 0..=7 in this order");
        assert_eq!(describe(*code), *text);
    }
    for code in [8, 9, 255, u32::MAX] {
        assert_eq!(describe(code), "unknown");
    }
}
