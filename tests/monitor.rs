//! Monitor tests: a pass means the monitor answers each command through the
//! serial console, reports bad input without stopping, survives reading an
//! unmapped address, and powers off cleanly (exit 0) at end of input.

mod common;
use common::*;

fn monitor(input: &str) -> String {
    let k = kernel(false);
    let out = machine().run_with_input(&k.image, Some(input.as_bytes())).unwrap();
    out.expect_code(0).unwrap_or_else(|e| panic!("input {input:?}: {e}"));
    assert!(
        out.console.contains("end of input: powering off") || out.console.contains("powering off"),
        "{}",
        out.console
    );
    out.console
}

#[test]
fn translation_commands() {
    let c = monitor("pa 0xffff_8000_0000_1000\nva 0x4000_0000\npa _text\nwalk 0xffff800000000000\nsym start_kernel\n");
    has(
        &c,
        &[
            "__pa(0xffff_8000_0000_1000) = 0x0000_0000_4000_1000 (linear rule)",
            "MMU (AT S1E1R): 0x0000_0000_4000_1000",
            "__va(0x0000_0000_4000_0000) = 0xffff_8000_0000_0000",
            "__pa(0xffff_0000_0800_0000) = 0x0000_0000_4020_0000 (image rule)",
            "[ffff800000000000] pgd=",
            "start_kernel is at 0xffff_0000_08",
        ],
    );
    assert!(!c.contains("MISMATCH"), "{c}");
}

#[test]
fn reading_memory_and_faulting_safely() {
    let c = monitor("x _text 16\nx 0xffff010008000000 16\nlayout\n");
    // The image header starts with a branch and has the magic at offset 56.
    has(
        &c,
        &[
            "0xffff_0000_0800_0000:",
            "Unable to handle kernel paging request at virtual address ffff010008000000",
            "(x: stopped at the fault; the monitor carries on)",
            "Virtual kernel memory layout:",
        ],
    );
}

#[test]
fn vmalloc_vfree_meminfo_ptdump() {
    let c = monitor("vmalloc 10000\nmeminfo\nptdump\n");
    has(
        &c,
        &[
            "vmalloc(10000) = 0xffff_0000_08",
            "(guard page at",
            "vmalloc, 3 pages",
            "---[ Linear mapping ]---",
            "linear map tables: L1 1",
        ],
    );
    let va = c
        .lines()
        .find_map(|l| l.strip_prefix("vmalloc(10000) = "))
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .to_string();
    let c = monitor(&format!("vmalloc 10000\nvfree {va}\nvfree {va}\n"));
    has(&c, &["freed", "is not the start of a vmalloc/ioremap area"]);
}

#[test]
fn bad_input_gets_an_error_and_the_prompt() {
    let c =
        monitor("frobnicate\npa\npa zzz\nx 0x0 0\nx 1 2 3\nvmalloc 0\nfault\nfault nonesuch\nsym no_such_fn\n\nhelp\n");
    has(
        &c,
        &[
            "error: unknown command \"frobnicate\"",
            "error: pa: missing argument",
            "error: \"zzz\" is not a number",
            "error: x: length 0 must be 1..4096",
            "error: x: too many arguments",
            "error: vmalloc: bad size 0x0",
            "error: fault: give one kind",
            "error: fault nonesuch: unknown fault kind",
            "error: sym: no function named \"no_such_fn\"",
            "commands:",
        ],
    );
    assert_eq!(count(&c, "vakern> "), 12, "one prompt per line plus the last:\n{c}");
}

#[test]
fn fault_command_is_fatal() {
    let k = kernel(false);
    let out = machine().run_with_input(&k.image, Some(b"fault rodata-write\n")).unwrap();
    out.expect_code(4).unwrap();
    assert!(out.console.contains("write to read-only memory"), "{}", out.console);
}

#[test]
fn poweroff_command() {
    let c = monitor("poweroff\n");
    assert!(c.contains("powering off"), "{c}");
}
