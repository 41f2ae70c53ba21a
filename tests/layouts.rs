//! Layout flavour tests: a pass means the launcher builds each flavour with
//! its own layout, that every flavour with a fixed VA size (4K, 16K and 64K
//! pages, two to four table levels) boots on `-cpu max` at 1 GiB and 64 GiB
//! with its own layout table, linear map, ptdump and translations, with
//! nothing misused on the way (`debug_virtual` and `debug_pgtable` on) and
//! a boot identity map of only the image and the device tree (2 MiB blocks
//! with 4K pages, pages with 16K and 64K);
//! that every one of the 13 flavours gives every case of the debug_virtual
//! corpus the verdict 4.10-4K-48 gives it (the same exit code, reports and
//! regions, at 1 GiB and 64 GiB; the cases that carry on in the matrix
//! boot, the cases that stop one boot each); that a 6.12 kernel
//! runs with 6.12's layout table, its range check and its addresses
//! (self-tests and the monitor, at 1 GiB and 64 GiB), that the one corpus
//! case where 4.10's bit test and 6.12's range check differ shows the
//! difference, that the 52-bit flavour picks `vabits_actual` from the CPU
//! (52 on `-cpu max`, 48 on cortex-a72) and lowers `memstart_addr` to
//! match, and that a flavour the CPU cannot run stops early with exit code
//! 6 and a message, printed before any console exists.
//!
//! Expected addresses are computed from the flavour's own [`Layout`], never
//! retyped. The file is over 400 lines because the flavour matrix, the
//! corpus comparison, the 6.12 checks and the 52-bit checks share their
//! boots (one matrix boot per flavour and RAM size serves all four) and
//! their comparison helpers; split into files, each would boot its own.

mod common;
use common::*;
use test_case::test_matrix;
use vakern::mm::flavour::{parse, Layout, Version, FLAVOURS};
use vakern::mm::fmt::Addr;
use vakern::qemu::{Machine, Outcome};

const V612: &str = "6.12-4K-48";

fn layout(name: &str) -> Layout {
    parse(name).unwrap()
}

fn boot_in(name: &str, m: &Machine, debug_virtual: bool) -> Outcome {
    let k = kernel_in(name, debug_virtual);
    m.run(&k.image).unwrap_or_else(|e| panic!("{e}"))
}

fn selftest_in(name: &str, ram: &str, test: &str, debug_virtual: bool) -> String {
    let m = Machine { ram: ram.into(), append: format!("test={test}"), ..machine() };
    let out = boot_in(name, &m, debug_virtual);
    out.expect_code(0).unwrap_or_else(|e| panic!("{name} test={test} at {ram}: {e}"));
    out.console
}

/// The boot log names the flavour and prints its layout table from the
/// flavour's own constants; the image runs at its KIMAGE_VADDR.
#[test_matrix(["4.10-4K-48", "6.12-4K-48"])]
fn boot_log_names_the_flavour_and_its_layout(name: &str) {
    let l = layout(name);
    let out = boot_in(name, &Machine { append: "poweroff".into(), ..machine() }, false);
    out.expect_code(0).unwrap_or_else(|e| panic!("{name}: {e}"));
    let c = &out.console;
    let first: Vec<&str> = c.lines().filter(|x| x.starts_with('[')).take(2).collect();
    assert!(first[1].contains(&format!("Layout flavour {name}:")), "{name}: second line is {:?}", first[1]);
    has(
        c,
        &[
            &format!("PAGE_OFFSET {}", Addr(l.page_offset())),
            &format!("  _text  {}", Addr(l.kimage_vaddr())),
            &format!("Linear map: {} ..", Addr(l.page_offset())),
            &format!("    modules : {} - {}", Addr(l.modules_vaddr()), Addr(l.modules_end())),
            &format!("    vmemmap : {} - {}", Addr(l.vmemmap_start_in_use(48)), Addr(l.vmemmap_end())),
            &format!("    PCI I/O : {} - {}", Addr(l.pci_io_start()), Addr(l.pci_io_end())),
            &format!("      fixed : {} - {}", Addr(l.fixaddr_start()), Addr(l.fixaddr_top())),
        ],
    );
}

#[test]
fn linux_6_12_puts_the_linear_map_below_the_image() {
    let l = layout(V612);
    assert_eq!(l.page_offset(), 0xffff_0000_0000_0000);
    assert_eq!(l.kimage_vaddr(), 0xffff_8000_8000_0000);
    let c = selftest_in(V612, "1G", "layout", false);
    has(&c, &["_text  0xffff_8000_8000_0000", "Linear map: 0xffff_0000_0000_0000 .."]);
}

/// The self-tests, with and without debug_virtual, at 1 GiB and 64 GiB.
#[test_matrix(["1G", "64G"], ["translate", "linear"], [false, true])]
fn selftests_pass_in_6_12(ram: &str, test: &str, debug_virtual: bool) {
    let c =
        shared(&format!("6.12 {ram} {debug_virtual}"), || selftest_in(V612, ram, "translate,linear", debug_virtual));
    assert!(c.contains(&format!("selftest {test}: PASS")), "{c}");
    if debug_virtual {
        assert!(c.contains("debug_virtual: 0 report(s) during boot"), "{c}");
    }
}

/// One boot per (flavour, case, feature), shared by the tests that compare
/// against it.
fn dv_case(name: &str, case: &str, debug_virtual: bool) -> (Option<i32>, String) {
    shared(&format!("dv {name} {case} {debug_virtual}"), || {
        let out = boot_in(name, &Machine { append: format!("test=dv:{case}"), ..machine() }, debug_virtual);
        assert!(!out.timed_out, "{name} dv:{case} timed out:\n{}", out.tail(20));
        (out.code, out.console)
    })
}

/// The caveat of 4.10's single-bit test: a user address with bit 47 set
/// passes it, and the unchecked __pa applies the linear rule to it; 6.12's
/// range check rejects it and applies the image rule.
#[test]
fn bit_47_user_address_fools_4_10_only() {
    let (code, old) = dv_case("4.10-4K-48", "pa-user-bit47", false);
    assert_eq!(code, Some(0), "{old}");
    has(
        &old,
        &[
            "dv pa-user-bit47: 4.10's __is_lm_address says linear; the exact range check says not linear",
            // the linear rule as the fast path applies it: va - (PAGE_OFFSET - PHYS_OFFSET)
            &format!(
                "dv pa-user-bit47: result {}",
                Addr(0x0000_8000_0000_1000u64.wrapping_sub(layout("4.10-4K-48").page_offset()) + 0x4000_0000)
            ),
        ],
    );
    let (code, new) = dv_case(V612, "pa-user-bit47", false);
    assert_eq!(code, Some(0), "{new}");
    let l = layout(V612);
    let kimage_voffset = l.kimage_vaddr() - 0x4020_0000;
    has(
        &new,
        &[
            "dv pa-user-bit47: 6.12's __is_lm_address says not linear; the exact range check says not linear",
            &format!("dv pa-user-bit47: result {}", Addr(0x0000_8000_0000_1000u64.wrapping_sub(kimage_voffset))),
        ],
    );
}

/// The monitor's translation and table commands in 6.12, at 1 GiB and 64 GiB.
#[test_matrix(["1G", "64G"])]
fn monitor_works_in_6_12(ram: &str) {
    let l = layout(V612);
    let k = kernel_in(V612, false);
    let lin = l.page_offset() + 0x1000;
    let input = format!("pa {lin:#x}\nva 0x4000_0000\npa _text\nwalk {lin:#x}\nptdump\nlayout\n");
    let m = Machine { ram: ram.into(), ..machine() };
    let out = m.run_with_input(&k.image, Some(input.as_bytes())).unwrap();
    out.expect_code(0).unwrap_or_else(|e| panic!("{e}"));
    let c = &out.console;
    has(
        c,
        &[
            &format!("__pa({}) = 0x0000_0000_4000_1000 (linear rule)", Addr(lin)),
            "MMU (AT S1E1R): 0x0000_0000_4000_1000",
            &format!("__va(0x0000_0000_4000_0000) = {}", Addr(l.page_offset())),
            &format!("__pa({}) = 0x0000_0000_4020_0000 (image rule)", Addr(l.kimage_vaddr())),
            &format!("[{lin:016x}] pgd="),
            "Virtual kernel memory layout:",
        ],
    );
    assert!(!c.contains("MISMATCH"), "{c}");
}

/// 16K pages on a CPU without the 16 KiB granule: exit 6 and a message
/// naming the granule, printed through semihosting before any console.
#[test]
fn missing_granule_stops_early_with_a_message() {
    let out = boot_in("4.10-16K-48", &Machine { append: "poweroff".into(), ..machine() }, false);
    out.expect_code(6).unwrap_or_else(|e| panic!("{e}"));
    has(&out.console, &["the CPU has no 16K translation granule", "ID_AA64MMFR0_EL1.TGran16", "4.10-16K-48"]);
    assert!(!out.console.contains("Layout flavour"), "the kernel went on past the check:\n{}", out.console);
}

/// Every flavour with a VA size fixed at build time, as the matrices below
/// list them (`test_matrix` takes literals). Checked against the flavour
/// list itself, so a flavour added there cannot be left out here.
const FIXED_VA_FLAVOURS: [&str; 12] = [
    "4.10-4K-39",
    "4.10-4K-48",
    "4.10-16K-47",
    "4.10-16K-48",
    "4.10-64K-42",
    "4.10-64K-48",
    "6.12-4K-39",
    "6.12-4K-48",
    "6.12-16K-47",
    "6.12-16K-48",
    "6.12-64K-42",
    "6.12-64K-48",
];

#[test]
fn the_matrix_lists_every_fixed_va_flavour() {
    let want: Vec<String> = FLAVOURS.iter().filter(|l| !l.has_vabits_actual()).map(|l| l.to_string()).collect();
    assert_eq!(FIXED_VA_FLAVOURS.to_vec(), want);
}

/// Boot `name`'s checked kernel on `cpu` with `append`, once for all the
/// tests that ask for the same boot; require exit code 0 and a boot with
/// nothing misused before the tests ran.
fn boot_checked(name: &str, cpu: &str, ram: &str, append: &str) -> String {
    shared(&format!("checked {name} {cpu} {ram} {append}"), || boot_checked_on(name, cpu, ram, append))
}

/// [`boot_checked`], booted by every caller.
fn boot_checked_on(name: &str, cpu: &str, ram: &str, append: &str) -> String {
    let m = Machine { cpu: cpu.into(), ram: ram.into(), append: append.into(), ..machine() };
    let out = m.run(&kernel_checked(name).image).unwrap_or_else(|e| panic!("{e}"));
    out.expect_code(0).unwrap_or_else(|e| panic!("{name} at {ram} with {append:?}: {e}"));
    let c = out.console;
    assert!(c.contains("debug_virtual: 0 report(s) during boot"), "{name} at {ram}:\n{c}");
    assert!(c.contains("debug_pgtable: 0 unsafe write(s) to live tables during boot"), "{name} at {ram}:\n{c}");
    assert!(!c.contains("debug_pgtable: unsafe write"), "{name} at {ram}:\n{c}");
    c
}

/// The command line of the flavour matrix's boot: `linear` with ptdump,
/// `translate`, `idmap`, then every case of the debug_virtual corpus that reports
/// and carries on, in the same boot, each test and case reading its own
/// lines. The corpus runs after the boot's "0 report(s) during boot" line,
/// so that line still counts the boot alone.
/// The 52-bit flavour's boot also runs `vmalloc`, whose space ends where
/// the VA size in use puts `VMALLOC_END`.
fn matrix_boot(name: &str) -> String {
    let cases: Vec<String> = CARRY_ON.iter().map(|c| format!("dv:{c}")).collect();
    let vmalloc = if layout(name).has_vabits_actual() { "vmalloc," } else { "" };
    format!("ptdump test=linear,{vmalloc}translate,idmap,{}", cases.join(","))
}

/// The matrix boot of `name` on `cpu`.
fn matrix_on(name: &str, cpu: &str, ram: &str) -> String {
    boot_checked(name, cpu, ram, &matrix_boot(name))
}

/// The matrix boot of `name` on `-cpu max` (every granule).
fn matrix(name: &str, ram: &str) -> String {
    matrix_on(name, "max", ram)
}

/// Every flavour boots at 1 GiB and at 64 GiB: the boot log names it and
/// prints its layout table (from the flavour's own [`Layout`]), all RAM
/// and nothing else is in the linear map with the fewest tables (`linear`),
/// and ptdump walks its tables from their root level: the image's text is
/// one read-only executable run of pages at `KIMAGE_VADDR`, the linear map
/// starts at `PAGE_OFFSET`. One boot each, shared with the next test.
#[test_matrix(
    [
        "4.10-4K-39", "4.10-4K-48", "4.10-16K-47", "4.10-16K-48", "4.10-64K-42", "4.10-64K-48",
        "6.12-4K-39", "6.12-4K-48", "6.12-16K-47", "6.12-16K-48", "6.12-64K-42", "6.12-64K-48"
    ],
    ["1G", "64G"])]
fn every_flavour_boots_and_maps_all_ram(name: &str, ram: &str) {
    let l = layout(name);
    let c = matrix(name, ram);
    let first: Vec<&str> = c.lines().filter(|x| x.starts_with('[')).take(2).collect();
    assert!(first[1].contains(&format!("Layout flavour {name}:")), "{name}: second line is {:?}", first[1]);
    has(
        &c,
        &[
            &format!("PAGE_OFFSET {}", Addr(l.page_offset())),
            &format!("  _text  {}", Addr(l.kimage_vaddr())),
            &format!("Linear map: {} ..", Addr(l.page_offset())),
            &format!("    modules : {} - {}", Addr(l.modules_vaddr()), Addr(l.modules_end())),
            &format!("    vmemmap : {} - {}", Addr(l.vmemmap_start_in_use(l.va_bits())), Addr(l.vmemmap_end())),
            &format!("    PCI I/O : {} - {}", Addr(l.pci_io_start()), Addr(l.pci_io_end())),
            &format!("      fixed : {} - {}", Addr(l.fixaddr_start()), Addr(l.fixaddr_top())),
            "---[ Kernel image ]---",
            "---[ Fixmap ]---",
            "---[ Linear mapping ]---",
            "selftest linear: PASS",
        ],
    );
    let run_at = |va: u64| {
        let start = format!("0x{va:016x}-");
        c.lines().find(|x| x.starts_with(&start)).unwrap_or_else(|| panic!("{name}: no ptdump run at {start}:\n{c}"))
    };
    let text = run_at(l.kimage_vaddr());
    assert!(text.contains(" PTE ") && text.contains(" ro x ") && text.contains("MEM/NORMAL"), "{name}: {text}");
    let linear = run_at(l.page_offset());
    assert!(linear.contains(" NX ") && linear.contains("MEM/NORMAL"), "{name}: {linear}");
}

/// `translate` passes in every flavour at 1 GiB and 64 GiB, with every
/// translation checked.
#[test_matrix(
    [
        "4.10-4K-39", "4.10-4K-48", "4.10-16K-47", "4.10-16K-48", "4.10-64K-42", "4.10-64K-48",
        "6.12-4K-39", "6.12-4K-48", "6.12-16K-47", "6.12-16K-48", "6.12-64K-42", "6.12-64K-48"
    ],
    ["1G", "64G"])]
fn every_flavour_translates(name: &str, ram: &str) {
    let c = matrix(name, ram);
    assert!(c.contains("selftest translate: PASS"), "{name} at {ram}:\n{c}");
}

/// The boot's identity map in every flavour held the image and the device
/// tree, each rounded out to the flavour's `SWAPPER_BLOCK_SIZE` (2 MiB
/// level-2 blocks with 4K pages, pages with 16K and 64K, never their 32 MiB
/// or 512 MiB level-2 blocks), and nothing else. Read from the matrix boot.
#[test_matrix(
    [
        "4.10-4K-39", "4.10-4K-48", "4.10-16K-47", "4.10-16K-48", "4.10-64K-42", "4.10-64K-48",
        "6.12-4K-39", "6.12-4K-48", "6.12-16K-47", "6.12-16K-48", "6.12-64K-42", "6.12-64K-48"
    ],
    ["1G", "64G"])]
fn every_flavour_identity_maps_only_the_image_and_the_tree(name: &str, ram: &str) {
    let c = matrix(name, ram);
    check_idmap(name, &c);
}

/// The address printed right after `needle` in `c` (`0x0000_0000_4020_0000`).
fn hex_after(c: &str, needle: &str) -> u64 {
    let at = c.find(needle).unwrap_or_else(|| panic!("no {needle:?} in:\n{c}")) + needle.len();
    let digits: String =
        c[at..].trim_start_matches("0x").chars().take_while(|ch| ch.is_ascii_hexdigit() || *ch == '_').collect();
    u64::from_str_radix(&digits.replace('_', ""), 16).unwrap_or_else(|e| panic!("{needle:?}: {digits:?}: {e}"))
}

/// `A-B` of two printed addresses.
fn hex_range(s: &str) -> (u64, u64) {
    let (a, b) = s.split_once('-').unwrap_or_else(|| panic!("no range in {s:?}"));
    (hex_after(a, ""), hex_after(b, ""))
}

/// `test=idmap`'s lines in `c` against what the host computes: the image
/// (`_end - _text` from the ELF, at the load address of the boot log) and
/// the device tree (its address and size from the boot log), each rounded
/// out to the flavour's `swapper_block_size`, merged where they touch; the
/// self-test's expectation is that, its runs are all made of entries of
/// that size, lie inside it and add up to it.
fn check_idmap(name: &str, c: &str) {
    let l = layout(name);
    let unit = l.swapper_block_size();
    let level = if unit == l.page_size() { 3 } else { 2 };
    assert!(c.contains("selftest idmap: PASS"), "{name}:\n{c}");
    let size = kernel_checked(name).image_size;
    let pa_text = hex_after(c, "Kernel image loaded at PA ");
    let dtb = hex_after(c, "DTB at PA ");
    let dtb_size: u64 = c[c.find("DTB at PA ").unwrap()..]
        .split_once(" (")
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{name}: no device tree size in the boot log:\n{c}"));
    let round = |base: u64, len: u64| (base / unit * unit, (base + len).div_ceil(unit) * unit);
    let mut want = vec![round(pa_text, size), round(dtb, dtb_size)];
    want.sort();
    if want[1].0 <= want[0].1 {
        want = vec![(want[0].0, want[0].1.max(want[1].1))];
    }
    let lines = |tag: &str| -> Vec<String> {
        c.lines().filter_map(|x| x.split_once(tag).map(|(_, rest)| rest.to_string())).collect()
    };
    let expect: Vec<(u64, u64)> = lines("idmap: expect ").iter().map(|x| hex_range(x)).collect();
    assert_eq!(expect, want, "{name}: the self-test expected other ranges:\n{c}");
    assert!(c.contains(&format!("idmap: entries of {} at level {level}", vakern::mm::fmt::Size(unit))), "{name}:\n{c}");
    let runs = lines("idmap: run ");
    assert!(!runs.is_empty(), "{name}: no runs:\n{c}");
    let mut covered = 0;
    for run in &runs {
        let (range, lvl) = run.split_once(" level ").unwrap_or_else(|| panic!("{name}: {run:?}"));
        let (a, b) = hex_range(range);
        assert_eq!(lvl.trim(), level.to_string(), "{name}: run {run:?} is not made of {unit:#x}-byte entries");
        assert!(want.iter().any(|w| w.0 <= a && b <= w.1), "{name}: run {run:?} is outside {want:x?}");
        covered += b - a;
    }
    assert_eq!(covered, want.iter().map(|w| w.1 - w.0).sum::<u64>(), "{name}: runs {runs:?} vs {want:x?}");
}

/// 52-bit VAs: one image, and `vabits_actual` follows the CPU. `-cpu max`
/// has FEAT_LVA (52), cortex-a72 does not (48): `PAGE_OFFSET` stays put,
/// the linear map starts at `_PAGE_OFFSET(vabits_actual)` and
/// `memstart_addr` is lowered to match, as the boot log says; both boot,
/// map all RAM with the fewest tables, identity-map only the image and the
/// device tree with pages, and dump their tables, at 1 GiB and
/// 64 GiB, with nothing misused (the matrix boot, shared with the
/// `translate` and corpus tests below).
#[test_matrix(["max", "cortex-a72"], ["1G", "64G"])]
fn va_52_follows_the_cpu(cpu: &str, ram: &str) {
    let name = "6.12-64K-52";
    let l = layout(name);
    let va = if cpu == "max" { 52 } else { 48 };
    let c = matrix_on(name, cpu, ram);
    check_idmap(name, &c);
    let memstart = l.memstart_addr(0x4000_0000, va);
    has(
        &c,
        &[
            &format!("Layout flavour {name}:"),
            &format!("PAGE_OFFSET {}", Addr(l.page_offset())),
            &format!("memstart_addr (PHYS_OFFSET) = {}", Addr(memstart)),
            &format!(
                "vabits_actual = {va} (ID_AA64MMFR2_EL1.VARange: {}); linear map starts at {}; memstart_addr lowered by {}",
                if va == 52 { "FEAT_LVA" } else { "no FEAT_LVA" },
                Addr(l.linear_start(va)),
                Addr(l.memstart_offset(va))
            ),
            &format!("Linear map: {} ..", Addr(l.linear_start(va))),
            &format!("     memory : {} - ", Addr(l.linear_start(va))),
            &format!("    vmalloc : {} - {}", Addr(l.vmalloc_start()), Addr(l.vmalloc_end(va))),
            &format!("       user : 0x0000_0000_0000_0000 - {}", Addr(1 << va)),
            "---[ Linear mapping ]---",
            "selftest linear: PASS",
            // vmalloc's space ends at VMALLOC_END for the VA size in use.
            "selftest vmalloc: PASS",
        ],
    );
    let start = format!("0x{:016x}-", l.linear_start(va));
    assert!(c.lines().any(|x| x.starts_with(&start)), "{cpu}: no ptdump run at {start}:\n{c}");
}

/// The monitor's `va` and `walk` with 52-bit VAs on both CPUs: `__va` of
/// the first RAM byte is the linear map's start for the VA size in use
/// (the lowered `memstart_addr` on a 48-bit CPU is not where it starts),
/// the byte below RAM has no linear address, and the walk of that address
/// reaches the page the MMU uses.
#[test_matrix(["max", "cortex-a72"])]
fn va_52_monitor_follows_the_cpu(cpu: &str) {
    let name = "6.12-64K-52";
    let l = layout(name);
    let va = if cpu == "max" { 52 } else { 48 };
    let start = l.linear_start(va);
    let k = kernel_in(name, false);
    let input = format!("va 0x4000_0000\nva 0x3fff_0000\nwalk {:#x}\npa {:#x}\n", start + 0x1_0000, start + 0x1_0000);
    let m = Machine { cpu: cpu.into(), ..machine() };
    let out = m.run_with_input(&k.image, Some(input.as_bytes())).unwrap();
    out.expect_code(0).unwrap_or_else(|e| panic!("{cpu}: {e}"));
    let c = &out.console;
    has(
        c,
        &[
            &format!("__va(0x0000_0000_4000_0000) = {}", Addr(start)),
            &format!("MMU (AT S1E1R) of {}: 0x0000_0000_4000_0000", Addr(start)),
            "__va: no linear address: PA is below memstart_addr ",
            &format!("[{:016x}] pgd=", start + 0x1_0000),
            &format!("__pa({}) = 0x0000_0000_4001_0000 (linear rule)", Addr(start + 0x1_0000)),
            "MMU (AT S1E1R): 0x0000_0000_4001_0000",
        ],
    );
    let lowered = if va == 52 { "" } else { " + the 52-bit lowering" };
    assert!(
        c.contains(&format!("below memstart_addr {}{lowered} (", Addr(l.memstart_addr(0x4000_0000, va)))),
        "{cpu}:\n{c}"
    );
    assert!(!c.contains("MISMATCH"), "{cpu}:\n{c}");
}

/// `translate` passes with 52-bit VAs on both CPUs, at 1 GiB and 64 GiB.
#[test_matrix(["max", "cortex-a72"], ["1G", "64G"])]
fn va_52_translates(cpu: &str, ram: &str) {
    let c = matrix_on("6.12-64K-52", cpu, ram);
    assert!(c.contains("selftest translate: PASS"), "{cpu} at {ram}:\n{c}");
}

/// The corpus cases that report and carry on, in the order the matrix
/// boots run them after `linear` and `translate`.
const CARRY_ON: [&str; 12] = [
    "pa-image-symbol",
    "pa-vmalloc",
    "pa-module",
    "pa-fixmap",
    "pa-ioremap",
    "pa-user-bit47",
    "pa-null",
    "pa-noncanonical",
    "pa-beyond-ram",
    "va-non-ram",
    "populate-image-table",
    "boundaries",
];

/// The corpus cases that stop the kernel, one boot each: the first three
/// before memory is set up, the others once the boot is complete.
const STOPS: [&str; 7] = [
    "phys-offset-early",
    "pa-linear-before-memstart",
    "lm-alias-early",
    "pa-symbol-linear",
    "pa-symbol-heap",
    "pa-symbol-end-plus-1",
    "lm-alias-end-plus-1",
];

/// The two lists above hold every case of the kernel's corpus, each in the
/// list of how it ends there (read from the corpus's own table).
#[test]
fn the_corpus_lists_name_every_case() {
    let src = include_str!("../kernel/src/selftest/dv_corpus.rs");
    let table = &src[src.find("pub const CASES").unwrap()..];
    let table = &table[..table.find("\n];").unwrap()];
    let (mut carry_on, mut stops, mut early) = (Vec::new(), Vec::new(), Vec::new());
    for (i, _) in table.match_indices("Ends::") {
        let kind = table[i + 6..].split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap();
        let end = table[..i].rfind('"').unwrap();
        let name = &table[table[..end].rfind('"').unwrap() + 1..end];
        match kind {
            "CarriesOn" => carry_on.push(name),
            "Stops" => stops.push(name),
            "StopsEarly" => early.push(name),
            k => panic!("{name}: unknown kind {k}"),
        }
    }
    let sorted = |v: &[&str]| {
        let mut v: Vec<String> = v.iter().map(|x| x.to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(sorted(&CARRY_ON), sorted(&carry_on));
    assert_eq!(sorted(&STOPS[..3]), sorted(&early));
    assert_eq!(sorted(&STOPS[3..]), sorted(&stops));
}

/// What one case of the corpus did, as its lines on the console say.
#[derive(Debug, PartialEq)]
struct Verdict {
    /// The boot's exit code (a case that carries on: its list's, 0).
    code: Option<i32>,
    /// How many reports (WARNING lines) and stops (kernel BUG lines).
    warnings: usize,
    bugs: usize,
    /// The count on the case's result line; None if it stopped first.
    reports: Option<u64>,
    /// The region each report or stop names, in order.
    regions: Vec<String>,
    /// `boundaries`: each probe's name and the reports it made.
    probes: Vec<(String, u64)>,
}

/// The lines of `case` in console `c`: from its first `dv CASE:` line to
/// its result line, or to the end of the console if it stopped.
fn section<'a>(c: &'a str, case: &str) -> &'a str {
    let tag = format!("dv {case}: ");
    let at = c.find(&tag).unwrap_or_else(|| panic!("dv:{case} did not run:\n{c}"));
    let start = c[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = match c[start..].find(&format!("{tag}result ")) {
        Some(i) => c[start + i..].find('\n').map_or(c.len(), |j| start + i + j + 1),
        None => c.len(),
    };
    &c[start..end]
}

fn verdict(code: Option<i32>, section: &str) -> Verdict {
    let reports = section.lines().find_map(|l| {
        l.split_once("; debug_virtual reports: ").map(|(_, n)| n.trim().parse::<u64>().expect("report count"))
    });
    let regions = section
        .lines()
        .filter(|l| l.contains(" used for ") || l.contains(" used before ") || l.contains(" read before "))
        .map(|l| l.split(" (").nth(1).map_or("", |r| r.split(')').next().unwrap()).to_string())
        .collect();
    let probes = section
        .lines()
        .filter_map(|l| l.split_once("] dvb ").map(|(_, r)| r))
        .map(|r| {
            let f: Vec<&str> = r.split_whitespace().collect();
            assert_eq!(f.len(), 3, "bad probe line {r:?}");
            (f[0].to_string(), f[2].trim_start_matches('+').parse().expect("probe report count"))
        })
        .collect();
    Verdict {
        code,
        warnings: count(section, "WARNING: "),
        bugs: count(section, "kernel BUG at "),
        reports,
        regions,
        probes,
    }
}

/// The address each report or stop line of `section` names (None for a
/// stop that names none), in the order of [`Verdict::regions`].
fn reported_addresses(section: &str) -> Vec<Option<u64>> {
    section
        .lines()
        .filter(|l| l.contains(" used for ") || l.contains(" used before ") || l.contains(" read before "))
        .map(|l| {
            let a = &l[l.find(": 0x")? + 2..][..21];
            Some(u64::from_str_radix(&a[2..].replace('_', ""), 16).unwrap_or_else(|e| panic!("{a:?}: {e}")))
        })
        .collect()
}

/// The first address a report of `section` names.
fn reported_address(section: &str) -> u64 {
    reported_addresses(section)
        .into_iter()
        .next()
        .flatten()
        .unwrap_or_else(|| panic!("no reported address in:\n{section}"))
}

/// The verdict 4.10-4K-48's verdict `old` stands for in flavour `l` using
/// `va` bits, whose case printed `section`: the same, except that a report
/// of an address outside `l`'s VA space names it non-canonical (bit 47 of a
/// user address, `PAGE_OFFSET - 1` below a 6.12 linear map).
fn as_in(old: &Verdict, l: &Layout, va: u32, section: &str) -> Verdict {
    let addresses = reported_addresses(section);
    let regions = old
        .regions
        .iter()
        .enumerate()
        .map(|(i, r)| match addresses.get(i).copied().flatten() {
            Some(a) if !l.is_canonical(a, va) => "non-canonical".to_string(),
            _ => r.clone(),
        })
        .collect();
    Verdict { regions, probes: old.probes.clone(), ..*old }
}

fn ram_bytes(ram: &str) -> u64 {
    ram.strip_suffix('G').and_then(|g| g.parse::<u64>().ok()).expect("RAM in GiB") << 30
}

/// Every case that carries on gives in `name` (on `cpu`, with `ram`) the
/// verdict it gives in 4.10-4K-48 on `-cpu max` with the same RAM: exit 0,
/// as many reports, naming the same regions (but for addresses that are not
/// canonical in the flavour, see [`as_in`]), and in `boundaries` the same
/// reports probe by probe. Nothing else in the boot reports. The addresses
/// the reports name are the flavour's own, computed from its [`Layout`].
fn corpus_carries_on_as_4_10(name: &str, cpu: &str, ram: &str) {
    let old = matrix("4.10-4K-48", ram);
    let new = matrix_on(name, cpu, ram);
    let mut differ = Vec::new();
    let l = layout(name);
    let va = l.vabits_actual(cpu == "max");
    for case in CARRY_ON {
        let o = verdict(Some(0), section(&old, case));
        assert_eq!(o.warnings as u64, o.reports.unwrap(), "4.10-4K-48 dv:{case}: {o:?}");
        assert!(o.warnings > 0, "4.10-4K-48 dv:{case} reported nothing:\n{}", section(&old, case));
        let (want, n) = (as_in(&o, &l, va, section(&new, case)), verdict(Some(0), section(&new, case)));
        if want != n {
            differ.push(format!("dv:{case}: want {want:?}\n{name} {n:?}\n{}", section(&new, case)));
        }
    }
    assert!(differ.is_empty(), "{name} on {cpu} at {ram}:\n{}", differ.join("\n"));
    let sum: usize = CARRY_ON.iter().map(|case| count(section(&new, case), "WARNING: ")).sum();
    assert_eq!(count(&new, "WARNING: "), sum, "{name}: a report outside the corpus's cases:\n{new}");

    let memstart = l.memstart_addr(0x4000_0000, va);
    let page = l.page_size();
    let at = |case: &str| reported_address(section(&new, case));
    let elf = vakern::elf::Elf::parse(std::fs::read(kernel_checked(name).elf).unwrap()).unwrap();
    let image = elf.symbol("_text").unwrap()..elf.symbol("_end").unwrap();
    let vmalloc = l.vmalloc_start()..l.vmalloc_end(va);
    assert_eq!(at("pa-module"), l.modules_vaddr() + page, "{name}: pa-module");
    assert_eq!(at("pa-beyond-ram"), l.phys_to_virt(0x4000_0000 + ram_bytes(ram), memstart) + page, "{name}");
    assert!(image.contains(&at("pa-image-symbol")), "{name}: pa-image-symbol outside {image:x?}");
    assert!(vmalloc.contains(&at("pa-vmalloc")), "{name}: pa-vmalloc outside {vmalloc:x?}");
    assert!(vmalloc.contains(&at("pa-ioremap")), "{name}: pa-ioremap outside {vmalloc:x?}");
    let fixmap = l.fixaddr_start()..l.fixaddr_top();
    assert!(fixmap.contains(&at("pa-fixmap")), "{name}: pa-fixmap outside {fixmap:x?}");
}

/// Every flavour, at 1 GiB and 64 GiB: the corpus cases that report and
/// carry on give 4.10-4K-48's verdicts (the matrix boot runs them all).
#[test_matrix(
    [
        "4.10-4K-39", "4.10-4K-48", "4.10-16K-47", "4.10-16K-48", "4.10-64K-42", "4.10-64K-48",
        "6.12-4K-39", "6.12-4K-48", "6.12-16K-47", "6.12-16K-48", "6.12-64K-42", "6.12-64K-48", "6.12-64K-52"
    ],
    ["1G", "64G"])]
fn every_flavour_carries_on_where_4_10_does(name: &str, ram: &str) {
    corpus_carries_on_as_4_10(name, "max", ram);
}

/// The same with 52-bit VAs on a CPU without FEAT_LVA.
#[test_matrix(["1G", "64G"])]
fn va_52_on_48_bits_carries_on_where_4_10_does(ram: &str) {
    corpus_carries_on_as_4_10("6.12-64K-52", "cortex-a72", ram);
}

/// Boot case `case` alone in `name`'s checked kernel, once for every test
/// that asks.
fn stop_boot(name: &str, cpu: &str, ram: &str, case: &str) -> (Option<i32>, String) {
    shared(&format!("dv-stop {name} {cpu} {ram} {case}"), || {
        let m = Machine { cpu: cpu.into(), ram: ram.into(), append: format!("test=dv:{case}"), ..machine() };
        let out = m.run(&kernel_checked(name).image).unwrap_or_else(|e| panic!("{e}"));
        assert!(!out.timed_out, "{name} dv:{case} timed out:\n{}", out.tail(20));
        (out.code, out.console)
    })
}

/// Case `case` stops the kernel in `name` (on `cpu`, with `ram`) as it does
/// in 4.10-4K-48 on `-cpu max`: exit code 5, a BUG line naming the same
/// region (as [`as_in`] reads it), no report and no result line.
fn corpus_stops_as_4_10(name: &str, cpu: &str, ram: &str, case: &str) {
    let (code, old) = stop_boot("4.10-4K-48", "max", ram, case);
    let o = verdict(code, section(&old, case));
    assert_eq!((o.code, o.bugs, o.reports), (Some(5), 1, None), "4.10-4K-48 dv:{case}:\n{old}");
    let (code, new) = stop_boot(name, cpu, ram, case);
    let l = layout(name);
    let want = as_in(&o, &l, l.vabits_actual(cpu == "max"), section(&new, case));
    assert_eq!(want, verdict(code, section(&new, case)), "{name} on {cpu} dv:{case}:\n{new}");
}

/// Every flavour at 1 GiB and 64 GiB: the corpus cases that stop the
/// kernel stop it as in 4.10-4K-48.
#[test_matrix(
    [
        "4.10-4K-39", "4.10-4K-48", "4.10-16K-47", "4.10-16K-48", "4.10-64K-42", "4.10-64K-48",
        "6.12-4K-39", "6.12-4K-48", "6.12-16K-47", "6.12-16K-48", "6.12-64K-42", "6.12-64K-48", "6.12-64K-52"
    ],
    [
        "phys-offset-early", "pa-linear-before-memstart", "lm-alias-early", "pa-symbol-linear", "pa-symbol-heap",
        "pa-symbol-end-plus-1", "lm-alias-end-plus-1"
    ],
    ["1G", "64G"])]
fn every_flavour_stops_where_4_10_does(name: &str, case: &str, ram: &str) {
    corpus_stops_as_4_10(name, "max", ram, case);
}

/// The same with 52-bit VAs on a CPU without FEAT_LVA.
#[test_matrix(
    [
        "phys-offset-early", "pa-linear-before-memstart", "lm-alias-early", "pa-symbol-linear", "pa-symbol-heap",
        "pa-symbol-end-plus-1", "lm-alias-end-plus-1"
    ],
    ["1G", "64G"])]
fn va_52_on_48_bits_stops_where_4_10_does(case: &str, ram: &str) {
    corpus_stops_as_4_10("6.12-64K-52", "cortex-a72", ram, case);
}

/// With 64 KiB pages a board's UART sits far into its page (the Pi's mini
/// UART at PA 0x3f21_5040 is 0x5040 into its 64 KiB page, past a 4 KiB
/// window counted from the page): the console is ioremapped from where it
/// is, and the boards boot and translate in the two-level flavour and the
/// 52-bit one (the boards' Cortex-A53s have no FEAT_LVA).
#[test_matrix(["4.10-64K-42", "6.12-64K-52"], ["raspi3b", "zcu102"])]
fn granule_64k_on_the_boards(name: &str, board: &str) {
    let b = vakern::boards::board(board).unwrap_or_else(|e| panic!("{e}"));
    let m = Machine { board: b, ram: "1G".into(), append: "test=translate".into(), ..machine() };
    let out = m.run(&kernel_checked(name).image).unwrap_or_else(|e| panic!("{e}"));
    out.expect_code(0).unwrap_or_else(|e| panic!("{name} on {board}: {e}"));
    has(&out.console, &["selftest translate: PASS", "debug_pgtable: 0 unsafe write(s) to live tables during boot"]);
}

/// Every flavour: the unchecked translations are branch-free and call
/// nothing, in at most as many instructions as the version's rule needs.
/// 4.10's `__pa` indexes one of two offsets by bit `VA_BITS - 1` (`adrp`,
/// `ubfx`, `ldr`, `sub`: 4). 6.12's is Linux's exact range check, as the
/// count of the address's leading ones indexing 65 offsets (`adrp`, `mvn`,
/// `clz`, `ldr`, `sub`: 5, with a fixed VA size and with 52 bits alike).
/// `__va`, `__pa_symbol` and `lm_alias` are the same arithmetic in every
/// flavour.
#[test_matrix(
    [
        "4.10-4K-39", "4.10-4K-48", "4.10-16K-47", "4.10-16K-48", "4.10-64K-42", "4.10-64K-48",
        "6.12-4K-39", "6.12-4K-48", "6.12-16K-47", "6.12-16K-48", "6.12-64K-42", "6.12-64K-48", "6.12-64K-52"
    ],
    ["probe_pa", "probe_va", "probe_pa_symbol", "probe_lm_alias"]
)]
fn unchecked_translation_is_branch_free(name: &str, f: &str) {
    let l = layout(name);
    let elf = vakern::elf::Elf::parse(std::fs::read(kernel_in(name, false).elf).unwrap()).unwrap();
    let s = vakern::disasm::shape(&elf, f).unwrap();
    assert_eq!(s.calls, 0, "{name}: {f} calls something:\n{s}");
    assert_eq!(s.branches, 0, "{name}: {f} branches:\n{s}");
    let max = match (f, l.version()) {
        ("probe_pa", Version::V6_12) => 5,
        _ => 4,
    };
    assert!(s.body <= max, "{name}: {f} is {} instructions, more than {max}:\n{s}", s.body);
}

/// The matrices over all 13 flavours name every flavour, and the stop
/// matrices every case that stops.
#[test]
fn the_all_flavour_matrices_list_every_flavour() {
    let src = include_str!("layouts.rs");
    let head = |f: &str| {
        let start = src.find(&format!("fn {f}(")).unwrap();
        &src[src[..start].rfind("#[test_matrix(").unwrap()..start]
    };
    for f in [
        "unchecked_translation_is_branch_free",
        "every_flavour_carries_on_where_4_10_does",
        "every_flavour_stops_where_4_10_does",
    ] {
        for l in FLAVOURS {
            assert!(head(f).contains(&format!("\"{l}\"")), "{l} is not in the matrix of {f}");
        }
    }
    for f in ["every_flavour_stops_where_4_10_does", "va_52_on_48_bits_stops_where_4_10_does"] {
        for case in STOPS {
            assert!(head(f).contains(&format!("\"{case}\"")), "{case} is not in the matrix of {f}");
        }
    }
}

/// Each flavour's build writes its own layout table for the GDB helpers,
/// next to its own ELF.
#[test]
fn each_build_writes_its_own_gdb_layout_table() {
    for name in ["4.10-4K-48", V612] {
        let l = layout(name);
        let elf = kernel_in(name, false).elf;
        let path = elf.parent().unwrap().join(vakern::gdb_layout::FILE_NAME);
        let j = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(j.contains(&format!("\"flavour\": \"{name}\"")), "{name}: {j}");
        assert!(j.contains(&format!("\"PAGE_OFFSET\": \"{:#x}\"", l.page_offset())), "{name}: {j}");
        assert!(j.contains(&format!("\"KIMAGE_VADDR\": \"{:#x}\"", l.kimage_vaddr())), "{name}: {j}");
    }
}

/// RAM wholly above the CPU's physical address size (cortex-a72: 44 bits)
/// stops the boot with exit code 6 and names both.
#[test]
fn ram_beyond_the_pa_range_stops_with_exit_6() {
    let mem =
        "\tmemory@100000000000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x1000 0x00 0x00 0x40000000>;\n\t};\n";
    let dtb = custom_dtb("all-beyond-pa", "1G", mem, "poweroff");
    let out = raw(machine(), dtb).run(&kernel(false).image).unwrap();
    out.expect_code(6).unwrap_or_else(|e| panic!("{e}"));
    has(&out.console, &["CPU check: RAM ends at 0x0000_1000_4000_0000, above the CPU's 44-bit physical address space"]);
}
