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

fn clean(m: Machine, test: &str) {
    let c = selftest(m.clone(), test, 0, true);
    assert!(c.contains("debug_virtual: on"), "{c}");
    assert!(c.contains("debug_virtual: 0 report(s) during boot"), "{}: {c}", describe(&m));
    assert!(!c.contains("virt_to_phys used") && !c.contains("phys_to_virt used"), "{}: {c}", describe(&m));
}

#[test_matrix(["128M", "1G", "4G", "16G"], ["linear", "alloc", "vmalloc", "translate"])]
fn clean_boot_reports_nothing(ram: &str, test: &str) {
    clean(Machine { ram: ram.into(), ..machine() }, test);
}

#[test]
fn clean_boot_at_el2_reports_nothing() {
    clean(Machine { el2: true, ..machine() }, "translate");
}

#[test]
fn clean_boot_on_two_numa_nodes_reports_nothing() {
    clean(Machine { ram: "2G".into(), numa: vec!["1G".into(), "1G".into()], ..machine() }, "linear");
}

#[test]
fn clean_boot_with_64g_reports_nothing() {
    clean(Machine { ram: "64G".into(), ..machine() }, "linear");
}

/// RAM with a hole and a no-map region (the full check path of __pa/__va).
#[test_matrix(["linear", "alloc", "vmalloc", "translate"])]
fn clean_boot_with_holes_reports_nothing(test: &str) {
    let holes = "\tmemory@40000000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x40000000 0x00 0x10000000 0x00 0x60000000 0x00 0x10000000>;\n\t};\n\
\treserved-memory {\n\t\t#address-cells = <0x02>;\n\t\t#size-cells = <0x02>;\n\t\tranges;\n\
\t\tsecure@4c000000 {\n\t\t\treg = <0x00 0x4c000000 0x00 0x00400000>;\n\t\t\tno-map;\n\t\t};\n\t};\n";
    let dtb = custom_dtb(&format!("dv-holes-{test}"), "1G", holes, &format!("test={test}"));
    clean(raw(machine(), dtb), test);
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
