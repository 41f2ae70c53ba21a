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

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

fn put_be32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// Offset in `dtb` of the length word of the first property called `name`.
fn prop_len_offset(dtb: &[u8], name: &str) -> usize {
    let (st, sr) = (be32(dtb, 8) as usize, be32(dtb, 12) as usize);
    let mut want = name.as_bytes().to_vec();
    want.push(0);
    let nameoff = dtb[sr..].windows(want.len()).position(|w| w == want).expect("name in the strings block");
    (st..dtb.len() - 12)
        .step_by(4)
        .find(|&o| be32(dtb, o) == 3 && be32(dtb, o + 8) as usize == nameoff)
        .map(|o| o + 4)
        .expect("property in the structure block")
}

/// Boot a copy of QEMU's tree (with `bootargs`) changed by `edit`, verbatim.
fn boot_edited(name: &str, bootargs: &str, edit: impl FnOnce(&mut Vec<u8>)) -> vakern::qemu::Outcome {
    let mut b = std::fs::read(tree_1g(name, bootargs)).unwrap();
    edit(&mut b);
    let path = scratch("badinput").join(format!("{name}.dtb"));
    std::fs::write(&path, &b).unwrap();
    boot(&raw(machine(), path), false)
}

// The early KASLR scan trusts nothing: a tree whose header points outside it
// or whose property runs past it is left to the full parse, which stops the
// boot with exit 2 and names the problem.
#[test]
fn struct_offset_past_the_tree_is_exit_2() {
    let out = boot_edited("struct-far", "kaslr_seed=5 poweroff", |b| put_be32(b, 8, 0x0100_0000));
    out.expect_code(2).unwrap();
    has(&out.console, &["bad device tree layout"]);
}

#[test]
fn strings_offset_past_the_tree_is_exit_2() {
    let out = boot_edited("strings-far", "kaslr_seed=5 poweroff", |b| put_be32(b, 12, 0x7fff_fff0));
    out.expect_code(2).unwrap();
    has(&out.console, &["bad device tree layout"]);
}

#[test]
fn chosen_property_megabytes_long_is_exit_2() {
    let out = boot_edited("bootargs-huge", "kaslr_seed=5 poweroff", |b| {
        let at = prop_len_offset(b, "bootargs");
        put_be32(b, at, 0x0040_0000);
    });
    out.expect_code(2).unwrap();
    has(&out.console, &["malformed device tree structure"]);
}
