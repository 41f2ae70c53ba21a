//! debug_pgtable tests: a pass means the kernel built with `debug_pgtable`
//! catches each kind of unsafe write to a live table in the `pgt:` corpus
//! (one report naming the entry, the old and new descriptor, the reason and
//! the caller; a count of 1; exit code 0), that without the feature the same
//! writes go uncounted, and that clean boots report none. Every boot made
//! through `common::boot`/`selftest` (boot, SMP, KASLR, linear map,
//! debug_virtual tests) runs this kernel and fails on any report.

mod common;
use common::*;
use test_case::test_case;
use vakern::qemu::Machine;

fn run_case(case: &str, debug_pgtable: bool) -> (Option<i32>, String) {
    let m = Machine { append: format!("test=pgt:{case}"), ..machine() };
    let k = if debug_pgtable { kernel_pgt(false) } else { kernel(false) };
    let out = m.run(&k.image).unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.timed_out, "pgt:{case} timed out:\n{}", out.tail(20));
    (out.code, out.console)
}

#[test_case("output-address", "output address changed" ; "output address")]
#[test_case("block-size", "block size changed" ; "block size")]
#[test_case("contiguous", "contiguous bit flipped on a live entry" ; "contiguous")]
#[test_case("attributes", "attributes changed in place" ; "attributes")]
fn each_kind_of_violation_is_caught(case: &str, reason: &str) {
    let (code, c) = run_case(case, true);
    assert_eq!(code, Some(0), "pgt:{case}:\n{c}");
    assert_eq!(count(&c, "debug_pgtable: unsafe write to a live table"), 1, "pgt:{case}: one report expected:\n{c}");
    let report = c.lines().find(|l| l.contains("debug_pgtable: unsafe write")).unwrap();
    assert!(report.contains(reason), "pgt:{case}: reason {reason:?} missing: {report}");
    assert!(report.contains(&format!("[{case}]")), "{report}");
    assert!(report.contains("from src/selftest/pgt_corpus.rs:"), "pgt:{case}: no caller: {report}");
    assert!(report.contains(" old 0x") && report.contains(" new 0x"), "{report}");
    assert!(c.contains(&format!("pgt {case}: entry ")) && c.contains("debug_pgtable violations: 1"), "{c}");
}

#[test_case("output-address" ; "output address")]
#[test_case("attributes" ; "attributes")]
fn without_the_feature_nothing_is_counted(case: &str) {
    let (code, c) = run_case(case, false);
    assert_eq!(code, Some(0), "{c}");
    assert!(c.contains("debug_pgtable violations: 0"), "{c}");
    assert!(!c.contains("debug_pgtable: unsafe write"), "{c}");
}

#[test]
fn clean_boots_report_no_unsafe_write() {
    for m in [
        Machine { append: "poweroff".into(), ..machine() },
        Machine { el2: true, smp: 2, append: "poweroff".into(), ..machine() },
    ] {
        let c = boot(&m, false).console;
        assert!(c.contains("debug_pgtable: 0 unsafe write(s) to live tables during boot"), "{c}");
    }
}

#[test]
fn an_unknown_case_is_a_boot_error() {
    let (code, c) = run_case("nonsense", true);
    assert_eq!(code, Some(2), "{c}");
    assert!(c.contains("test=pgt:nonsense: no such self-test"), "{c}");
}
