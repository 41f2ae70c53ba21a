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

/// With 4K pages the boot's identity map ends on the 2 MiB boundary after
/// `_end`. A tree whose RAM ends between the two (the image inside RAM, its
/// last block not; the second RAM range holds the tree the boot loader
/// shim puts at `SHIM_DTB_PA`) is the one case where that block reaches
/// past RAM: the boot log says so, `test=idmap` fails naming the run, exit
/// code 1.
#[test]
fn identity_map_block_past_the_end_of_ram_is_reported() {
    let k = kernel_pgt(false);
    let pa = machine().kernel_pa;
    let (ram_end, block_end) =
        ((pa + k.image_size).div_ceil(0x1_0000) * 0x1_0000, (pa + k.image_size).div_ceil(2 << 20) * (2 << 20));
    assert!(ram_end < block_end, "the test needs the image to end at least 64 KiB before a 2 MiB boundary");
    let memory = format!(
        "\tmemory@40000000 {{\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x40000000 0x00 {:#x}>;\n\t}};\n\
         \tmemory@{tree:x} {{\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 {tree:#x} 0x00 0x0c000000>;\n\t}};\n",
        ram_end - 0x4000_0000,
        tree = vakern::qemu::SHIM_DTB_PA
    );
    let dtb = custom_dtb("idmap-past-ram", "1G", &memory, "");
    let c = selftest(raw(machine(), dtb), "idmap", 1, false);
    let run = format!("{}-{}", vakern::mm::fmt::Addr(pa & !((2 << 20) - 1)), vakern::mm::fmt::Addr(block_end));
    has(
        &c,
        &[
            &format!("Identity map: {run} (2 MiB entries) reached past the RAM the device tree describes"),
            &format!("selftest idmap: FAIL: run {run} is not all RAM the device tree describes"),
        ],
    );
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

/// The monitor on 1 GiB with `input` piped in; it must power off at the end
/// of input (exit 0), so the kernel survived everything before.
fn monitor_1g(input: &str) -> String {
    let k = kernel(false);
    let out = machine().run_with_input(&k.image, Some(input.as_bytes())).unwrap();
    out.expect_code(0).unwrap_or_else(|e| panic!("input {input:?}: {e}"));
    has(&out.console, &["end of input: powering off"]);
    out.console
}

/// The first address `vmalloc(N) = ADDR ..` printed in `console`.
fn vmalloc_address(console: &str) -> String {
    let line = console.lines().find(|l| l.starts_with("vmalloc(")).unwrap_or_else(|| panic!("no vmalloc in {console}"));
    line.split(" = ").nth(1).and_then(|r| r.split(' ').next()).unwrap().to_string()
}

// vmalloc and vfree run to exhaustion and back through the monitor: asking
// for more than is free (1 GiB on 1 GiB, a size the monitor allows) is "out
// of memory", a large area freed leaves no hole every 2 MiB (which used to
// overflow the page allocator's table and panic), and the same large area
// can be had again afterwards.
#[test]
fn monitor_vmalloc_to_exhaustion_and_back() {
    let big = 300_000_000;
    let first = monitor_1g(&format!("vmalloc {big}\n"));
    let va = vmalloc_address(&first);
    let c = monitor_1g(&format!(
        "vmalloc 1073741824\nmeminfo\nvmalloc {big}\nvfree {va}\nmeminfo\nvmalloc 1073741824\nvmalloc {big}\nvfree {va}\nmeminfo\n"
    ));
    assert_eq!(count(&c, "vmalloc: out of memory"), 2, "{}", &c[c.len().saturating_sub(3000)..]);
    assert!(!c.contains("panic"), "{}", &c[c.len().saturating_sub(3000)..]);
    assert_eq!(count(&c, &format!("vmalloc({big}) = {va}")), 2);
    // meminfo's free memory is the same before and after each round trip.
    let free: Vec<&str> = c.lines().filter(|l| l.starts_with("page allocator:")).collect();
    assert!(free.len() == 3 && free[0] == free[1] && free[1] == free[2], "free memory changed: {free:?}");
}

// Many small vmallocs until the heap holding their bookkeeping is full, on
// 128 MiB: "out of memory", every page comes back, and the table of free
// ranges grows when freeing scatters memory (the self-test checks each).
#[test]
fn vmalloc_exhaustion_selftest_on_128m() {
    let c = selftest(Machine { ram: "128M".into(), ..machine() }, "vmalloc-exhaust", 0, false);
    has(&c, &["single-page areas, then \"out of memory\"", "selftest vmalloc-exhaust: PASS"]);
    assert!(!c.contains("left unused, "), "pages were lost:\n{c}");
}

// RAM edges off page boundaries, a 256-byte no-map region, a zero-size entry
// beside good ones and a duplicated range: the kernel trims, rounds, skips
// and merges as Linux's memblock does, warns about each in the memory table,
// and boots.
#[test]
fn odd_memory_nodes_are_trimmed_rounded_skipped_and_merged() {
    let memory = "\tmemory@40000010 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x40000010 0x00 0x3fffffe0>;\n\t};\n\
\tmemory@50000000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x50000000 0x00 0x00 0x00 0x50000000 0x00 0x1000000>;\n\t};\n\
\treserved-memory {\n\t\t#address-cells = <0x02>;\n\t\t#size-cells = <0x02>;\n\t\tranges;\n\
\t\tfw@4c000080 {\n\t\t\treg = <0x00 0x4c000080 0x00 0x100>;\n\t\t\tno-map;\n\t\t};\n\t};\n";
    let dtb = custom_dtb("odd-memory", "1G", memory, "poweroff");
    let out = boot(&raw(machine(), dtb), false);
    out.expect_code(0).unwrap();
    has(
        &out.console,
        &[
            "memory@40000010 reg [0x0000_0000_4000_0010, 0x0000_0000_7fff_fff0): RAM trimmed to whole pages: \
             [0x0000_0000_4000_1000, 0x0000_0000_7fff_f000)",
            "memory@50000000 reg [0x0000_0000_5000_0000, 0x0000_0000_5000_0000): size zero: skipped",
            "memory@50000000 reg [0x0000_0000_5000_0000, 0x0000_0000_5100_0000): overlaps RAM already listed: merged",
            "fw@4c000080 reg [0x0000_0000_4c00_0080, 0x0000_0000_4c00_0180): reservation rounded out to whole pages: \
             [0x0000_0000_4c00_0000, 0x0000_0000_4c00_1000)",
            "0x0000_0000_4000_1000 0x0000_0000_7fff_f000",
            "Boot complete.",
        ],
    );
}
