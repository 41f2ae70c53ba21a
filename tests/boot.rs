//! Boot tests: a pass means the Image boots under QEMU at EL1 and EL2, runs
//! in the upper half at KIMAGE_VADDR with a correct kimage_voffset and
//! relocated pointers, and that every failure (panic, hang, wrong exit code,
//! missing or broken device tree, bad command line) is reported, not hidden.

mod common;
use common::*;
use std::time::Duration;
use test_case::test_matrix;
use vakern::qemu::{DtbSource, Machine};

#[test]
fn image_header_is_arm64_boot_protocol() {
    let k = kernel(false);
    let b = std::fs::read(&k.image).unwrap();
    assert_eq!(&b[56..60], b"ARM\x64", "magic");
    assert_eq!(u64::from_le_bytes(b[8..16].try_into().unwrap()), 0, "text_offset");
    let size = u64::from_le_bytes(b[16..24].try_into().unwrap());
    assert_eq!(size, k.image_size, "image_size covers the image and .bss");
    assert!(size > b.len() as u64, "image_size must include .bss beyond the file");
    assert_eq!(u64::from_le_bytes(b[24..32].try_into().unwrap()), 0b1010, "flags: LE, 4K pages, anywhere");
    // code0 is a branch (B imm26) over the header.
    assert_eq!(u32::from_le_bytes(b[0..4].try_into().unwrap()) >> 26, 0b000101);
}

#[test]
fn boots_at_el1_in_the_upper_half() {
    let c = selftest(machine(), "layout", 0, false);
    assert!(c.contains("Entered at EL1"), "{c}");
    assert!(c.contains("_text  0xffff_0000_0800_0000"), "{c}");
    assert!(c.contains("kimage_voffset 0xfffe_ffff_c7e0_0000"), "{c}");
    assert!(c.contains("Kernel image loaded at PA 0x0000_0000_4020_0000"), "{c}");
}

#[test]
fn boots_at_el2_and_drops_to_el1() {
    let c = selftest(Machine { el2: true, ..machine() }, "layout", 0, false);
    assert!(c.contains("Entered at EL2 (left EL2 for EL1)"), "{c}");
}

/// QEMU's own DTB for 1 GiB with `bootargs`, handed over verbatim, with the
/// Image loaded at `pa` by the boot loader shim.
fn at_load_address(pa: u64, bootargs: &str) -> Machine {
    let memory =
        "\tmemory@40000000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x40000000 0x00 0x40000000>;\n\t};\n";
    let dtb = custom_dtb(&format!("load-{pa:x}"), "1G", memory, bootargs);
    Machine { kernel_pa: pa, ..raw(machine(), dtb) }
}

// 2 MiB-aligned load addresses across RAM, and one only 64 KiB aligned:
// _text keeps the load address modulo 2 MiB, kimage_voffset follows the real
// PA (checked inside against the CPU's own translation), and the relocated
// pointers work.
#[test_matrix([0x4780_0000, 0x7fc0_0000, 0x4021_0000], ["layout", "reloc"])]
fn runs_wherever_it_is_loaded(pa: u64, test: &str) {
    let group = ["layout", "reloc"];
    let c = selftest_of_with(&format!("load-{pa:x}"), test, &group, false, || {
        at_load_address(pa, &format!("test={}", group.join(",")))
    });
    let text = 0xffff_0000_0800_0000u64 + (pa & 0x1f_ffff);
    let want = format!("_text  {}", vakern::mm::fmt::Addr(text));
    assert!(c.contains(&want), "loaded at {pa:#x}: missing {want:?}\n{c}");
    let voff = format!("kimage_voffset {}", vakern::mm::fmt::Addr(text.wrapping_sub(pa)));
    assert!(c.contains(&voff), "loaded at {pa:#x}: missing {voff:?}");
}

#[test]
fn relocated_pointers_point_high_and_work() {
    let c = selftest(machine(), "reloc", 0, false);
    assert!(c.contains("selftest reloc: PASS"), "{c}");
}

#[test]
fn poweroff_boot_prints_layout_and_exits_zero() {
    let m = Machine { append: "poweroff".into(), ..machine() };
    let out = boot(&m, false);
    out.expect_code(0).unwrap();
    let c = &out.console;
    for needle in [
        "Virtual kernel memory layout:",
        "    modules : 0xffff_0000_0000_0000 - 0xffff_0000_0800_0000",
        "    vmalloc : 0xffff_0000_0800_0000 - 0xffff_7dff_bfff_0000",
        "      fixed : 0xffff_7dff_fe60_0000 - 0xffff_7dff_fec0_0000",
        "    PCI I/O : 0xffff_7dff_fee0_0000 - 0xffff_7dff_ffe0_0000",
        "    vmemmap : 0xffff_7e00_0000_0000 - 0xffff_8000_0000_0000",
        "     memory : 0xffff_8000_0000_0000 - 0xffff_8000_4000_0000",
        "Kernel command line: poweroff",
        "DTB at PA 0x0000_0000_4800_0000 (1048576 bytes)",
        "Boot complete.",
    ] {
        assert!(c.contains(needle), "missing {needle:?} in:\n{c}");
    }
}

#[test]
fn panic_exits_with_the_panic_code() {
    let c = selftest(machine(), "panic", 3, false);
    assert!(c.contains("Kernel panic - not syncing: deliberate panic"), "{c}");
    assert!(c.contains("selftest/mod.rs"), "panic location missing: {c}");
}

#[test]
fn harness_catches_a_hang() {
    let m = Machine { append: "test=hang".into(), timeout: Duration::from_secs(3), ..machine() };
    let out = boot(&m, false);
    assert!(out.timed_out, "a hanging kernel was not timed out");
    assert_eq!(out.code, None);
    let err = out.expect_code(0).unwrap_err();
    assert!(err.contains("timed out") && err.contains("hanging on purpose"), "{err}");
}

#[test]
fn harness_catches_a_wrong_exit_code() {
    let out = boot(&Machine { append: "test=exit:7".into(), ..machine() }, false);
    assert_eq!(out.code, Some(7));
    let err = out.expect_code(0).unwrap_err();
    assert!(err.contains("exit code 7"), "{err}");
    assert!(out.expect_code(7).is_ok());
}

#[test]
fn missing_dtb_is_a_boot_error() {
    let out = boot(&Machine { dtb: DtbSource::None, ..machine() }, false);
    out.expect_code(2).unwrap();
    assert!(out.console.contains("no device tree: x0 was 0 at entry"), "{}", out.console);
}

#[test]
fn dtb_with_bad_magic_is_a_boot_error() {
    let dir = scratch("boot");
    let bad = dir.join("bad-magic.dtb");
    std::fs::write(&bad, [0x12u8; 256]).unwrap();
    let out = boot(&raw(machine(), bad), false);
    out.expect_code(2).unwrap();
    assert!(out.console.contains("bad device tree magic 0x12121212"), "{}", out.console);
}

#[test]
fn unknown_selftest_is_a_boot_error() {
    let out = boot(&Machine { append: "test=nonesuch".into(), ..machine() }, false);
    out.expect_code(2).unwrap();
    assert!(out.console.contains("test=nonesuch: no such self-test"), "{}", out.console);
}

/// A list of self-tests takes only tests that return: `panic` stops the
/// kernel, so `test=linear,panic` is refused before anything runs.
#[test]
fn a_list_of_selftests_refuses_one_that_stops_the_kernel() {
    let out = boot(&Machine { append: "test=linear,panic".into(), ..machine() }, false);
    out.expect_code(2).unwrap();
    assert!(out.console.contains("test=linear,panic: no such self-test"), "{}", out.console);
    assert!(out.console.contains("a list a,b,c of the ones that return"), "{}", out.console);
    assert!(!out.console.contains("selftest linear: checking"), "{}", out.console);
}

#[test]
fn unknown_command_line_options_are_warned_about() {
    let out = boot(&Machine { append: "poweroff bogus=1 loglevel=x".into(), ..machine() }, false);
    out.expect_code(0).unwrap();
    assert!(out.console.contains("Unknown kernel command line parameter \"bogus=1\""), "{}", out.console);
    assert!(out.console.contains("loglevel: \"x\" is not a level"), "{}", out.console);
}

#[test]
fn every_name_in_the_kernel_symbol_table_is_demangled() {
    use vakern::elf::Elf;
    let elf = Elf::parse(std::fs::read(kernel(false).elf).unwrap()).unwrap();
    let k = elf.find_symbol("KALLSYMS").unwrap();
    let t = &elf.data()[elf.symbol_file_range(k).unwrap()];
    assert_eq!(&t[..4], b"KSYM");
    let word = |o: usize| u32::from_le_bytes(t[o..o + 4].try_into().unwrap()) as usize;
    let n = word(4);
    assert!(n > 100, "only {n} symbols");
    let names: Vec<&str> = (0..n)
        .map(|i| {
            let at = word(8 + 12 * i + 8);
            let len = t[at..].iter().position(|&b| b == 0).unwrap();
            std::str::from_utf8(&t[at..at + len]).unwrap()
        })
        .collect();
    for name in &names {
        // Legacy (_ZN…E) and v0 (_R…) mangled names, or a leftover hash.
        let last = name.rsplit("::").next().unwrap();
        let hash = last.len() == 17 && last.starts_with('h') && last[1..].bytes().all(|b| b.is_ascii_hexdigit());
        let mangled = name.starts_with("_ZN") || name.starts_with("_R") || hash || name.contains('$');
        assert!(!mangled, "{name:?} is not demangled");
    }
    // The kernel's own (legacy-mangled) and the precompiled core's (v0) alike.
    for want in ["vakern::debug::fault_inject::trigger", "core::fmt::write", "<core::fmt::Formatter>::pad"] {
        assert!(names.contains(&want), "{want} missing from the table");
    }
}

/// The image builder's boot-stub check (src/boot_rules.rs) passes on the
/// real stub and rejects a stub with any one of the rules' instructions
/// missing or out of place (what QEMU, with no caches, would never show).
#[test]
fn boot_stub_check_rejects_a_stub_missing_a_rule() {
    use vakern::boot_rules::{check_stub, stub_listing, Insn};
    let elf = vakern::elf::Elf::parse(std::fs::read(kernel(false).elf).unwrap()).unwrap();
    let list = stub_listing(&elf).unwrap();
    check_stub(&list).unwrap();
    let without = |text: &str, nth: usize| -> Vec<Insn> {
        let at = list.iter().enumerate().filter(|(_, i)| i.text == text).nth(nth).map(|(k, _)| k);
        let at = at.unwrap_or_else(|| panic!("the stub has no {nth}th `{text}`"));
        let mut l = list.clone();
        let gone = l.remove(at);
        l[at].label = l[at].label.take().or(gone.label); // the routine keeps its label
        l
    };
    for (text, nth, why) in [
        ("ic iallu", 0, "ic iallu"),
        ("dc ivac", 0, "dc ivac"),
        ("bl dcache_inval_poc", 0, "invalidated to the PoC before and after"),
        ("bl dcache_inval_poc", 1, "invalidated to the PoC before and after"),
        ("dmb sy", 0, "dmb sy"),
        ("tlbi vmalle1is", 0, "tlbi vmalle1is"),
        ("mrs ctr_el0", 0, "ctr_el0"),
    ] {
        let e = check_stub(&without(text, nth)).expect_err(text);
        assert!(e.contains(why), "without {text} #{nth}: {e}");
    }
    // .bss cleared with the MMU still off, first thing, as the stub used to.
    let mut l = list.clone();
    let e = l.iter().position(|i| i.text == "bl dcache_inval_poc").unwrap();
    let addr = l[e].addr;
    for text in ["stp xzr, xzr, [x0], #0x10", "addr __bss_stop|_end", "addr __early_tables_end|__bss_start"] {
        l.insert(e, Insn { addr, label: None, text: text.into() });
    }
    let err = check_stub(&l).unwrap_err();
    assert!(err.contains("cleared before the MMU is on"), "{err}");
}
