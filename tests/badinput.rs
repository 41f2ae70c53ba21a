//! Bad input from outside, booted for real: a pass means every broken or odd
//! device tree and every load address ends with its documented exit code and
//! a message that says what was wrong, never exit 6 without a word, a panic
//! or a hang.

mod common;
use common::*;
use vakern::qemu::Machine;

/// QEMU's 1 GiB tree with `bootargs`, handed over verbatim.
fn tree_1g(name: &str, bootargs: &str) -> std::path::PathBuf {
    let memory =
        "\tmemory@40000000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x40000000 0x00 0x40000000>;\n\t};\n";
    custom_dtb(name, "1G", memory, bootargs)
}

/// The Image loaded so high that its file fits in RAM but its .bss runs past
/// the end: clearing .bss faults before the boot stack exists. The early
/// vectors must say so and exit 6, whatever SP holds, instead of faulting on
/// their own stack for ever.
#[test]
fn bss_past_the_end_of_ram_is_exit_6_with_a_message() {
    let k = kernel(false);
    let ram_end = 0x8000_0000u64;
    let pa = (ram_end - k.image_len) & !0xffff;
    assert!(pa + k.image_size > ram_end, "the test needs .bss past the end of RAM");
    let m = Machine { kernel_pa: pa, ..raw(machine(), tree_1g("bss-past-ram", "poweroff")) };
    let out = boot(&m, false);
    out.expect_code(6).unwrap_or_else(|e| panic!("loaded at {pa:#x}: {e}"));
    has(&out.console, &["vakern: early boot failed: exception before the kernel's vectors"]);
}
