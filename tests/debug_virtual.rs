//! debug_virtual tests: a pass means every deliberate misuse in the corpus
//! is reported (or stops the kernel) with the right message when the kernel
//! is built with `debug_virtual`, that the same misuse goes unreported and
//! gives the documented unchecked result without it, that clean boots in
//! every configuration report nothing, and that without the flag the
//! translations compile to a few instructions with no call or branch.

mod common;
use common::*;
use test_case::{test_case, test_matrix};
use vakern::disasm;
use vakern::elf::Elf;
use vakern::qemu::Machine;

fn run_case(case: &str, debug_virtual: bool) -> (Option<i32>, String) {
    let m = Machine { append: format!("test=dv:{case}"), ..machine() };
    let out = boot(&m, debug_virtual);
    assert!(!out.timed_out, "dv:{case} timed out:\n{}", out.tail(20));
    (out.code, out.console)
}

/// What `debug_virtual` does with a misuse: report it and carry on (exit 0,
/// one report), or stop the kernel (exit 5), as Linux's BUG does.
#[derive(Clone, Copy, Debug)]
enum Verdict {
    Report,
    Stop,
}
use Verdict::{Report, Stop};

#[test_case("pa-image-symbol", Report, "virt_to_phys used for non-linear address: 0xffff_0000_080" ; "pa-image-symbol")]
#[test_case("pa-vmalloc", Report, "(vmalloc) at" ; "pa-vmalloc")]
#[test_case("pa-module", Report, "virt_to_phys used for non-linear address: 0xffff_0000_0000_1000 (modules)" ; "pa-module")]
#[test_case("pa-fixmap", Report, "(fixmap) at" ; "pa-fixmap")]
#[test_case("pa-ioremap", Report, "virt_to_phys used for non-linear address: 0xffff_0000_08" ; "pa-ioremap")]
#[test_case("pa-user-bit47", Report, "virt_to_phys used for non-linear address: 0x0000_8000_0000_1000 (user)" ; "pa-user-bit47")]
#[test_case("pa-null", Report, "virt_to_phys used for non-linear address: 0x0000_0000_0000_0000 (user)" ; "pa-null")]
#[test_case("pa-noncanonical",
    Report,
    "virt_to_phys used for non-linear address: 0x1234_0000_0000_0000 (non-canonical)" ; "pa-noncanonical")]
#[test_case("pa-beyond-ram",
    Report,
    "virt_to_phys used for linear address beyond RAM: 0xffff_8000_4000_1000 (linear map beyond end of RAM)" ; "pa-beyond-ram")]
#[test_case("va-non-ram", Report, "phys_to_virt used for non-RAM physical address: 0x0000_0000_0900_0000" ; "va-non-ram")]
#[test_case("populate-image-table", Report, "(kernel image) at src/selftest/dv_corpus.rs" ; "populate-image-table")]
#[test_case("pa-symbol-linear", Stop, "__pa_symbol used for address outside the kernel image" ; "pa-symbol-linear")]
#[test_case("pa-symbol-heap", Stop, "(linear map)" ; "pa-symbol-heap")]
#[test_case("pa-symbol-end-plus-1", Stop, "__pa_symbol used for address outside the kernel image" ; "pa-symbol-end-plus-1")]
#[test_case("lm-alias-end-plus-1", Stop, "__pa_symbol used for address outside the kernel image" ; "lm-alias-end-plus-1")]
#[test_case("phys-offset-early", Stop, "PHYS_OFFSET read before memstart_addr was set" ; "phys-offset-early")]
#[test_case("lm-alias-early", Stop, "used before the linear map exists" ; "lm-alias-early")]
#[test_case("pa-linear-before-memstart",
    Stop,
    "__pa(0xffff_8000_0000_1000) of a linear address before memstart_addr was set" ; "pa-linear-before-memstart")]
fn corpus_with_debug_virtual(case: &str, verdict: Verdict, message: &str) {
    let (code, c) = run_case(case, true);
    assert!(c.contains(message), "dv:{case}: missing {message:?} in:\n{c}");
    match verdict {
        Report => {
            assert_eq!(code, Some(0), "dv:{case} should carry on:\n{c}");
            assert!(c.contains(&format!("dv {case}: result")), "dv:{case}: no result line:\n{c}");
            assert!(c.contains("debug_virtual reports: 1"), "dv:{case}: expected exactly one report:\n{c}");
            assert_eq!(count(&c, "WARNING: "), 1, "dv:{case}: one warning line expected:\n{c}");
        }
        Stop => {
            assert_eq!(code, Some(5), "dv:{case} should stop with DEBUG_VIRTUAL_BUG:\n{c}");
            assert!(c.contains("kernel BUG at src/"), "dv:{case}: no BUG line with the caller:\n{c}");
            assert!(!c.contains(&format!("dv {case}: result")), "dv:{case} carried on:\n{c}");
        }
    }
}

/// The same corpus without the flag: silent, and where it is documented, the
/// bare arithmetic's result.
// pa-image-symbol: the image rule is right for an image address
#[test_case("pa-image-symbol", Some("result 0x0000_0000_40") ; "pa-image-symbol")]
#[test_case("pa-vmalloc", None ; "pa-vmalloc")]
#[test_case("pa-module", None ; "pa-module")]
#[test_case("pa-fixmap", None ; "pa-fixmap")]
#[test_case("pa-ioremap", None ; "pa-ioremap")]
#[test_case("pa-user-bit47", None ; "pa-user-bit47")]
// pa-null: 0 - kimage_voffset
#[test_case("pa-null", Some("result 0x0001_0000_3820_0000") ; "pa-null")]
#[test_case("pa-noncanonical", None ; "pa-noncanonical")]
#[test_case("pa-beyond-ram", None ; "pa-beyond-ram")]
// va-non-ram: PAGE_OFFSET | (0x0900_0000 - 0x4000_0000), wrapped
#[test_case("va-non-ram", Some("result 0xffff_ffff_c900_0000") ; "va-non-ram")]
#[test_case("populate-image-table", None ; "populate-image-table")]
#[test_case("pa-symbol-linear", None ; "pa-symbol-linear")]
#[test_case("pa-symbol-heap", None ; "pa-symbol-heap")]
// pa-symbol-end-plus-1: _end + 1 by the image rule
#[test_case("pa-symbol-end-plus-1", Some("result 0x0000_0000_40") ; "pa-symbol-end-plus-1")]
// lm-alias-end-plus-1: the linear alias of _end + 1 (RAM at 0x4000_0000)
#[test_case("lm-alias-end-plus-1", Some("result 0xffff_8000_00") ; "lm-alias-end-plus-1")]
// phys-offset-early: the sentinel, read as if it were an address
#[test_case("phys-offset-early", Some("result 0xffff_ffff_ffff_ffff") ; "phys-offset-early")]
#[test_case("lm-alias-early", None ; "lm-alias-early")]
// pa-linear-before-memstart: the linear rule with the sentinel, va - PAGE_OFFSET - 1
#[test_case("pa-linear-before-memstart", Some("result 0x0000_0000_0000_0fff") ; "pa-linear-before-memstart")]
fn corpus_without_debug_virtual(case: &str, want: Option<&str>) {
    let (code, c) = run_case(case, false);
    assert_eq!(code, Some(0), "dv:{case} without the flag must run to the end:\n{c}");
    assert!(c.contains("debug_virtual: off"), "{c}");
    assert!(c.contains("debug_virtual reports: 0"), "dv:{case}: {c}");
    assert!(!c.contains("virt_to_phys used") && !c.contains("kernel BUG"), "dv:{case} reported without the flag:\n{c}");
    if let Some(w) = want {
        assert!(c.contains(&format!("dv {case}: {w}")), "dv:{case}: expected {w:?} in:\n{c}");
    }
}

/// The self-tests one clean boot runs (each `#[test]` reads its own part).
const CLEAN: [&str; 4] = ["linear", "alloc", "vmalloc", "translate"];

fn clean(m: Machine, test: &str, group: &[&str]) {
    let what = describe(&m);
    let c = selftest_of(m, test, group, true);
    check_clean(&what, &c);
}

fn check_clean(what: &str, c: &str) {
    assert!(c.contains("debug_virtual: on"), "{c}");
    assert!(c.contains("debug_virtual: 0 report(s) during boot"), "{what}: {c}");
    assert!(!c.contains("virt_to_phys used") && !c.contains("phys_to_virt used"), "{what}: {c}");
}

#[test_matrix(["128M", "1G", "4G", "16G"], ["linear", "alloc", "vmalloc", "translate"])]
fn clean_boot_reports_nothing(ram: &str, test: &str) {
    clean(Machine { ram: ram.into(), ..machine() }, test, &CLEAN);
}

#[test]
fn clean_boot_at_el2_reports_nothing() {
    clean(Machine { el2: true, ..machine() }, "translate", &["translate"]);
}

#[test]
fn clean_boot_on_two_numa_nodes_reports_nothing() {
    clean(Machine { ram: "2G".into(), numa: vec!["1G".into(), "1G".into()], ..machine() }, "linear", &["linear"]);
}

#[test]
fn clean_boot_with_64g_reports_nothing() {
    clean(Machine { ram: "64G".into(), ..machine() }, "linear", &["linear"]);
}

/// RAM with a hole and a no-map region (the full check path of __pa/__va).
#[test_matrix(["linear", "alloc", "vmalloc", "translate"])]
fn clean_boot_with_holes_reports_nothing(test: &str) {
    let holes = "\tmemory@40000000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x40000000 0x00 0x10000000 0x00 0x60000000 0x00 0x10000000>;\n\t};\n\
\treserved-memory {\n\t\t#address-cells = <0x02>;\n\t\t#size-cells = <0x02>;\n\t\tranges;\n\
\t\tsecure@4c000000 {\n\t\t\treg = <0x00 0x4c000000 0x00 0x00400000>;\n\t\t\tno-map;\n\t\t};\n\t};\n";
    let c = selftest_of_with("holes", test, &CLEAN, true, || {
        raw(machine(), custom_dtb("dv-holes", "1G", holes, &format!("test={}", CLEAN.join(","))))
    });
    check_clean("RAM with holes", &c);
}

fn kernel_elf(debug_virtual: bool) -> Elf {
    Elf::parse(std::fs::read(kernel(debug_virtual).elf).unwrap()).unwrap()
}

#[test_matrix(["probe_pa", "probe_va", "probe_pa_symbol", "probe_lm_alias"])]
fn without_the_flag_translation_is_bare_arithmetic(f: &str) {
    let s = disasm::shape(&kernel_elf(false), f).unwrap();
    assert_eq!(s.calls, 0, "{f} calls something:\n{s}");
    assert_eq!(s.branches, 0, "{f} branches:\n{s}");
    assert!(s.body <= 4, "{f} is {} instructions, more than 4:\n{s}", s.body);
}

#[test_matrix(["probe_pa", "probe_va", "probe_pa_symbol", "probe_lm_alias"])]
fn with_the_flag_translation_calls_its_check(f: &str) {
    let s = disasm::shape(&kernel_elf(true), f).unwrap();
    assert!(s.calls + s.branches > 0, "{f} has no check:\n{s}");
}

/// A RAM layout for the `boundaries` case: QEMU's 1 GiB machine with its
/// memory node replaced, the Image loaded at `kernel_pa`, and what the
/// kernel must make of it.
struct Layout {
    name: &'static str,
    /// DTS text for the memory node(s) (None: QEMU's own tree).
    memory: Option<&'static str>,
    kernel_pa: u64,
    /// Expected RAM in the linear map, as ranges.
    mapped: &'static [(u64, u64)],
}

const HOLES_DTS: &str = "\tmemory@40000000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x40000000 0x00 0x10000000 0x00 0x60000000 0x00 0x10000000>;\n\t};\n\
\treserved-memory {\n\t\t#address-cells = <0x02>;\n\t\t#size-cells = <0x02>;\n\t\tranges;\n\
\t\tsecure@4c000000 {\n\t\t\treg = <0x00 0x4c000000 0x00 0x00400000>;\n\t\t\tno-map;\n\t\t};\n\t};\n";

const LAYOUTS: &[Layout] = &[
    Layout { name: "qemu-1g", memory: None, kernel_pa: 0x4020_0000, mapped: &[(0x4000_0000, 0x8000_0000)] },
    // Two holes: a no-map range and a gap between two memory ranges.
    Layout {
        name: "holes",
        memory: Some(HOLES_DTS),
        kernel_pa: 0x4020_0000,
        mapped: &[(0x4000_0000, 0x4c00_0000), (0x4c40_0000, 0x5000_0000), (0x6000_0000, 0x7000_0000)],
    },
    // RAM 1 MiB past a 1 GiB boundary: memstart_addr rounds down to
    // MEMSTART_ALIGN (1 GiB in the default flavour: 0x4000_0000), not to the
    // page (0x4010_0000) nor up (0x8000_0000).
    Layout {
        name: "ram-at-0x4010_0000",
        memory: Some(
            "\tmemory@40100000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x40100000 0x00 0x3ff00000>;\n\t};\n",
        ),
        kernel_pa: 0x4020_0000,
        mapped: &[(0x4010_0000, 0x8000_0000)],
    },
    // RAM half-way through a 1 GiB block: still 0x4000_0000 by default.
    Layout {
        name: "ram-at-0x6000_0000",
        memory: Some(
            "\tmemory@60000000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x60000000 0x00 0x20000000>;\n\t};\n",
        ),
        kernel_pa: 0x6020_0000,
        mapped: &[(0x6000_0000, 0x8000_0000)],
    },
];

/// `memstart_addr` for RAM starting at `lowest`: rounded down to
/// MEMSTART_ALIGN, written out for the default flavour's 1 GiB so that a
/// change of the rounding cannot hide behind the same expression.
fn memstart_of(lowest: u64) -> u64 {
    let align = vakern::mm::layout::MEMSTART_ALIGN;
    if align == 1 << 30 {
        match lowest {
            0x4000_0000 | 0x4010_0000 | 0x6000_0000 => 0x4000_0000,
            _ => panic!("no written-out memstart_addr for RAM at {lowest:#x}"),
        }
    } else {
        lowest & !(align - 1)
    }
}

/// The `dvb NAME VALUE +N` lines of a console, in order (after the
/// timestamp: the case's first line names the format in passing).
fn dvb_lines(c: &str) -> Vec<(String, u64, u64)> {
    c.lines()
        .filter_map(|l| l.split_once("] dvb ").map(|(_, r)| r))
        .map(|r| {
            let f: Vec<&str> = r.split_whitespace().collect();
            assert_eq!(f.len(), 3, "bad probe line {r:?}");
            let v = u64::from_str_radix(&f[1].trim_start_matches("0x").replace('_', ""), 16).unwrap();
            (f[0].to_string(), v, f[2].trim_start_matches('+').parse().unwrap())
        })
        .collect()
}

/// What every probe of the `boundaries` case must print on `l` with
/// `debug_virtual` (without it, the same values and no reports).
fn expected(l: &Layout, kimage_voffset: u64, image_size: u64, table: u64) -> Vec<(String, u64, u64)> {
    let (ram_start, ram_end) = (l.mapped[0].0, l.mapped[l.mapped.len() - 1].1);
    let memstart = memstart_of(ram_start);
    let lin = |pa: u64| vakern::mm::addr::phys_to_virt(pa, memstart);
    let po = vakern::mm::layout::PAGE_OFFSET;
    let mut e: Vec<(String, u64, u64)> = Vec::new();
    let mut p = |n: &str, v: u64, r: u64| e.push((n.to_string(), v, r));
    p("memstart", memstart, 0);
    p("kimage_voffset", kimage_voffset, 0);
    p("ram-start", ram_start, 0);
    p("ram-end", ram_end, 0);
    // PAGE_OFFSET is RAM only where RAM starts at memstart_addr; elsewhere
    // its verdict is not this table's business.
    let page_offset_reports = if ram_start == memstart { 0 } else { u64::MAX };
    p("pa-page-offset", memstart, page_offset_reports);
    p("pa-page-offset-1", (po - 1).wrapping_sub(kimage_voffset), 1);
    p("pa-ram-start", ram_start, 0);
    p("pa-ram-end-1", ram_end - 1, 0);
    p("pa-ram-end", ram_end, 1);
    p("va-ram-start-1", lin(ram_start - 1), 1);
    p("va-ram-start", lin(ram_start), 0);
    p("va-ram-end-1", lin(ram_end - 1), 0);
    p("va-ram-end", lin(ram_end), 1);
    p("pa-va-ram-end-1", ram_end - 1, 0);
    p("pa-va-ram-end", ram_end, 2);
    p("valid-ram-start-1", 0, 0);
    p("valid-ram-start", 1, 0);
    p("valid-ram-end-1", 1, 0);
    p("valid-ram-end", 0, 0);
    p("pfn-valid-ram-start-1", 0, 0);
    p("pfn-valid-ram-start", 1, 0);
    p("pfn-valid-ram-end-1", 1, 0);
    p("pfn-valid-ram-end", 0, 0);
    for (i, w) in l.mapped.windows(2).enumerate() {
        let (hs, he) = (w[0].1, w[1].0);
        for (what, pa, inside) in
            [("start-1", hs - 1, false), ("start", hs, true), ("end-1", he - 1, true), ("end", he, false)]
        {
            p(&format!("pa-hole{i}-{what}"), pa, inside as u64);
            p(&format!("va-hole{i}-{what}"), lin(pa), inside as u64);
            p(&format!("valid-hole{i}-{what}"), !inside as u64, 0);
        }
    }
    p("pa-symbol-text", l.kernel_pa, 0);
    p("pa-symbol-end", l.kernel_pa + image_size, 0);
    p("lm-alias-text", lin(l.kernel_pa), 0);
    p("lm-alias-end", lin(l.kernel_pa + image_size), 0);
    p("pa-symbol-image-table", table, 0);
    for level in 0..3 {
        p(&format!("populate{level}-image"), table, 1);
        p(&format!("populate{level}-alias"), table, 0);
    }
    e
}

/// Boot the `boundaries` case on `l` and compare every probe line.
fn check_boundaries(l: &Layout, debug_virtual: bool) {
    let m = Machine { append: "test=dv:boundaries".into(), kernel_pa: l.kernel_pa, ..machine() };
    let m = match l.memory {
        Some(mem) => raw(m, custom_dtb(&format!("dvb-{}", l.name), "1G", mem, "test=dv:boundaries")),
        None => m,
    };
    let out = boot(&m, debug_virtual);
    assert!(!out.timed_out, "{}: timed out:\n{}", l.name, out.tail(20));
    let c = &out.console;
    assert_eq!(out.code, Some(0), "{}: dv:boundaries must run to the end:\n{c}", l.name);
    let got = dvb_lines(c);
    // The kernel `boot` ran (the debug_pgtable build), not the plain one.
    let elf = Elf::parse(std::fs::read(kernel_pgt(debug_virtual).elf).unwrap()).unwrap();
    let (text, end) = (elf.symbol("_text").unwrap(), elf.symbol("_end").unwrap());
    let kimage_voffset = text.wrapping_sub(l.kernel_pa);
    let table = got.iter().find(|g| g.0 == "pa-symbol-image-table").expect("pa-symbol-image-table line").1;
    assert!(
        table % 4096 == 0 && (l.kernel_pa..l.kernel_pa + (end - text)).contains(&table),
        "{}: table PA {table:#x}",
        l.name
    );
    let want = expected(l, kimage_voffset, end - text, table);
    let names = |v: &[(String, u64, u64)]| v.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&got), names(&want), "{}: the probes printed are not the probes expected:\n{c}", l.name);
    for (g, w) in got.iter().zip(&want) {
        let reports = if debug_virtual { w.2 } else { 0 };
        assert_eq!(g.1, w.1, "{} ({}): {} = {:#x}, want {:#x}", l.name, describe(&m), g.0, g.1, w.1);
        if w.2 != u64::MAX {
            assert_eq!(g.2, reports, "{}: {} made {} report(s), want {reports}:\n{c}", l.name, g.0, g.2);
        }
    }
}

#[test_case(0 ; "qemu-1g")]
#[test_case(1 ; "holes")]
#[test_case(2 ; "ram-at-0x4010_0000")]
#[test_case(3 ; "ram-at-0x6000_0000")]
fn every_check_on_its_boundary(layout: usize) {
    check_boundaries(&LAYOUTS[layout], true);
}

/// Without the flag: the same values, and not one report.
#[test]
fn every_boundary_without_the_flag() {
    check_boundaries(&LAYOUTS[1], false);
}
