//! debug_virtual tests: a pass means every deliberate misuse in the corpus
//! is reported (or stops the kernel) with the right message when the kernel
//! is built with `debug_virtual`, that the same misuse goes unreported and
//! gives the documented unchecked result without it, that clean boots in
//! every configuration report nothing, and that without the flag the
//! translations compile to a few instructions with no call or branch.

mod common;
use common::*;
use vakern::disasm;
use vakern::elf::Elf;
use vakern::qemu::Machine;

/// (case, kind, message with the flag). Kinds: R = report and carry on
/// (exit 0, one report), S = stop (exit 5).
const CORPUS: &[(&str, char, &str)] = &[
    ("pa-image-symbol", 'R', "virt_to_phys used for non-linear address: 0xffff_0000_080"),
    ("pa-vmalloc", 'R', "(vmalloc) at"),
    ("pa-module", 'R', "virt_to_phys used for non-linear address: 0xffff_0000_0000_1000 (modules)"),
    ("pa-fixmap", 'R', "(fixmap) at"),
    ("pa-ioremap", 'R', "virt_to_phys used for non-linear address: 0xffff_0000_08"),
    ("pa-user-bit47", 'R', "virt_to_phys used for non-linear address: 0x0000_8000_0000_1000 (user)"),
    ("pa-null", 'R', "virt_to_phys used for non-linear address: 0x0000_0000_0000_0000 (user)"),
    ("pa-noncanonical", 'R', "virt_to_phys used for non-linear address: 0x1234_0000_0000_0000 (non-canonical)"),
    (
        "pa-beyond-ram",
        'R',
        "virt_to_phys used for linear address beyond RAM: 0xffff_8000_4000_1000 (linear map beyond end of RAM)",
    ),
    ("va-non-ram", 'R', "phys_to_virt used for non-RAM physical address: 0x0000_0000_0900_0000"),
    ("populate-image-table", 'R', "(kernel image) at src/selftest/dv_corpus.rs"),
    ("pa-symbol-linear", 'S', "__pa_symbol used for address outside the kernel image"),
    ("pa-symbol-heap", 'S', "(linear map)"),
    ("pa-symbol-end-plus-1", 'S', "__pa_symbol used for address outside the kernel image"),
    ("phys-offset-early", 'S', "PHYS_OFFSET read before memstart_addr was set"),
    ("lm-alias-early", 'S', "used before the linear map exists"),
];

fn run_case(case: &str, debug_virtual: bool) -> (Option<i32>, String) {
    let m = Machine { append: format!("test=dv:{case}"), ..machine() };
    let out = boot(&m, debug_virtual);
    assert!(!out.timed_out, "dv:{case} timed out:\n{}", out.tail(20));
    (out.code, out.console)
}

#[test]
fn corpus_with_debug_virtual_reports_or_stops() {
    for &(case, kind, message) in CORPUS {
        let (code, c) = run_case(case, true);
        assert!(c.contains(message), "dv:{case}: missing {message:?} in:\n{c}");
        match kind {
            'R' => {
                assert_eq!(code, Some(0), "dv:{case} should carry on:\n{c}");
                assert!(c.contains(&format!("dv {case}: result")), "dv:{case}: no result line:\n{c}");
                assert!(c.contains("debug_virtual reports: 1"), "dv:{case}: expected exactly one report:\n{c}");
                assert_eq!(count(&c, "WARNING: "), 1, "dv:{case}: one warning line expected:\n{c}");
            }
            _ => {
                assert_eq!(code, Some(5), "dv:{case} should stop with DEBUG_VIRTUAL_BUG:\n{c}");
                assert!(c.contains("kernel BUG at src/"), "dv:{case}: no BUG line with the caller:\n{c}");
                assert!(!c.contains(&format!("dv {case}: result")), "dv:{case} carried on:\n{c}");
            }
        }
    }
}

#[test]
fn corpus_without_debug_virtual_is_silent_and_unchecked() {
    for &(case, _, _) in CORPUS {
        let (code, c) = run_case(case, false);
        assert_eq!(code, Some(0), "dv:{case} without the flag must run to the end:\n{c}");
        assert!(c.contains("debug_virtual: off"), "{c}");
        assert!(c.contains("debug_virtual reports: 0"), "dv:{case}: {c}");
        assert!(
            !c.contains("virt_to_phys used") && !c.contains("kernel BUG"),
            "dv:{case} reported without the flag:\n{c}"
        );
        // The documented unchecked results.
        let want = match case {
            // The image rule is right for an image address.
            "pa-image-symbol" => Some("result 0x0000_0000_40"),
            // __pa(NULL) = 0 - kimage_voffset.
            "pa-null" => Some("result 0x0001_0000_3820_0000"),
            // The sentinel, read as if it were an address.
            "phys-offset-early" => Some("result 0xffff_ffff_ffff_ffff"),
            // __va of the UART: PAGE_OFFSET | (0x0900_0000 - 0x4000_0000), wrapped.
            "va-non-ram" => Some("result 0xffff_ffff_c900_0000"),
            // _end + 1 by the image rule.
            "pa-symbol-end-plus-1" => Some("result 0x0000_0000_40"),
            _ => None,
        };
        if let Some(w) = want {
            assert!(c.contains(&format!("dv {case}: {w}")), "dv:{case}: expected {w:?} in:\n{c}");
        }
    }
}

fn clean(m: Machine, test: &str) {
    let c = selftest(m.clone(), test, 0, true);
    assert!(c.contains("debug_virtual: on"), "{c}");
    assert!(c.contains("debug_virtual: 0 report(s) during boot"), "{}: {c}", describe(&m));
    assert!(!c.contains("virt_to_phys used") && !c.contains("phys_to_virt used"), "{}: {c}", describe(&m));
}

#[test]
fn clean_boots_report_nothing() {
    for ram in ["128M", "1G", "4G", "16G"] {
        for t in ["linear", "alloc", "vmalloc", "translate"] {
            clean(Machine { ram: ram.into(), ..machine() }, t);
        }
    }
    clean(Machine { el2: true, ..machine() }, "translate");
    clean(Machine { ram: "2G".into(), numa: vec!["1G".into(), "1G".into()], ..machine() }, "linear");
    clean(Machine { ram: "64G".into(), ..machine() }, "linear");
    // RAM with a hole and a no-map region (the full check path of __pa/__va).
    let holes = "\tmemory@40000000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x40000000 0x00 0x10000000 0x00 0x60000000 0x00 0x10000000>;\n\t};\n\
\treserved-memory {\n\t\t#address-cells = <0x02>;\n\t\t#size-cells = <0x02>;\n\t\tranges;\n\
\t\tsecure@4c000000 {\n\t\t\treg = <0x00 0x4c000000 0x00 0x00400000>;\n\t\t\tno-map;\n\t\t};\n\t};\n";
    for t in ["linear", "alloc", "vmalloc", "translate"] {
        let dtb = custom_dtb(&format!("dv-holes-{t}"), "1G", holes, &format!("test={t}"));
        clean(raw(machine(), dtb), t);
    }
}

fn kernel_elf(debug_virtual: bool) -> Elf {
    Elf::parse(std::fs::read(kernel(debug_virtual).elf).unwrap()).unwrap()
}

#[test]
fn without_the_flag_translations_are_bare_arithmetic() {
    let elf = kernel_elf(false);
    for f in ["probe_pa", "probe_va", "probe_pa_symbol", "probe_lm_alias"] {
        let s = disasm::shape(&elf, f).unwrap();
        assert_eq!(s.calls, 0, "{f} calls something: {s:x?}");
        assert_eq!(s.branches, 0, "{f} branches: {s:x?}");
        assert!(s.body <= 4, "{f} is {} instructions, more than 4: {s:x?}", s.body);
    }
}

#[test]
fn with_the_flag_translations_call_their_checks() {
    let elf = kernel_elf(true);
    for f in ["probe_pa", "probe_va", "probe_pa_symbol", "probe_lm_alias"] {
        let s = disasm::shape(&elf, f).unwrap();
        assert!(s.calls + s.branches > 0, "{f} has no check: {s:x?}");
    }
}
