//! KASLR, SMP, W^X, the fault reports and the monitor in every layout flavour: a pass
//! means that each of the 13 flavours, booted on `-cpu max` (every granule,
//! FEAT_LVA for the 52-bit one) with `debug_virtual` and `debug_pgtable`, places its image at a
//! KASLR offset inside its window and still translates every image page,
//! brings up a second CPU that translates as the first and sees a mapping
//! change after broadcast TLB maintenance, had a boot identity map of only
//! the image and the device tree (`idmap`), passes the W^X check and catches
//! a deliberate W+X page, and reports four kinds of fault in its own layout:
//! a read of an unmapped vmalloc address (the flavour's own address, its page
//! size and VA size in the walk's header), a write to read-only data and a
//! jump into data (permission faults on the image's pages), and a stack
//! overflow into a vmalloc stack's guard page; and that the monitor's `pa`,
//! `va`, `walk`, `ptdump` and `layout` answer in the flavour's layout.
//!
//! Expected addresses come from each flavour's own [`Layout`], never retyped.

mod common;
use common::*;
use test_case::test_matrix;
use vakern::mm::flavour::{parse, Layout};
use vakern::mm::fmt::Addr;
use vakern::qemu::{Kaslr, Machine};

/// The seed every flavour boots with: its offset is not 0 in the window.
const SEED: u64 = 0x5eed_1234_abcd_0077;

fn layout(name: &str) -> Layout {
    parse(name).unwrap()
}

/// Boot `name`'s checked kernel (`debug_virtual` and `debug_pgtable`, the
/// build the layout tests boot) on `-cpu max` with `m`'s settings.
fn boot(name: &str, m: Machine) -> vakern::qemu::Outcome {
    let m = Machine { cpu: "max".into(), ..m };
    m.run(&kernel_checked(name).image).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// KASLR, two CPUs and the W^X check in one boot per flavour.
#[test_matrix([
    "4.10-4K-39", "4.10-4K-48", "4.10-16K-47", "4.10-16K-48", "4.10-64K-42", "4.10-64K-48",
    "6.12-4K-39", "6.12-4K-48", "6.12-16K-47", "6.12-16K-48", "6.12-64K-42", "6.12-64K-48", "6.12-64K-52"
])]
fn kaslr_smp_and_wx_in_every_flavour(name: &str) {
    let l = layout(name);
    let m = Machine { smp: 2, kaslr: Kaslr::Seed(SEED), append: "test=kaslr,smp,smp-tlb,idmap".into(), ..machine() };
    let out = boot(name, m);
    out.expect_code(0).unwrap_or_else(|e| panic!("{name}: {e}"));
    let c = &out.console;
    has(
        c,
        &[
            "selftest kaslr: PASS",
            "selftest smp: PASS",
            "selftest smp-tlb: PASS",
            "selftest idmap: PASS",
            "Checked W+X mappings: passed, no W+X pages found",
            "debug_virtual: 0 report(s) during boot",
        ],
    );
    // The offset the kernel chose, and the image there: `_text` is
    // KIMAGE_VADDR plus the offset plus the image's place in its 2 MiB.
    let offset = c
        .lines()
        .find_map(|x| x.split("kaslr: offset ").nth(1))
        .and_then(|x| u64::from_str_radix(x.split(',').next()?.trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| panic!("{name}: no KASLR offset:\n{c}"));
    assert!(offset != 0, "{name}: the seed gave offset 0:\n{c}");
    let text = c
        .lines()
        .find_map(|x| x.split("  _text  ").nth(1))
        .and_then(|x| u64::from_str_radix(&x.split_whitespace().next()?.replace('_', "")[2..], 16).ok())
        .unwrap_or_else(|| panic!("{name}: no _text line:\n{c}"));
    assert_eq!(text & !((2 << 20) - 1), l.kimage_vaddr() + offset, "{name}: _text {text:#x}, offset {offset:#x}");
}

/// A deliberate W+X page stops every flavour.
#[test_matrix([
    "4.10-4K-39", "4.10-4K-48", "4.10-16K-47", "4.10-16K-48", "4.10-64K-42", "4.10-64K-48",
    "6.12-4K-39", "6.12-4K-48", "6.12-16K-47", "6.12-16K-48", "6.12-64K-42", "6.12-64K-48", "6.12-64K-52"
])]
fn wx_checker_catches_a_page_in_every_flavour(name: &str) {
    let out = boot(name, Machine { append: "test=wx-violation".into(), ..machine() });
    out.expect_code(3).unwrap_or_else(|e| panic!("{name}: {e}"));
    has(&out.console, &["Checked W+X mappings: FAILED, 1 W+X pages found", "Kernel panic - not syncing: W^X violated"]);
}

/// Four fault kinds in every flavour, each reported in the flavour's terms.
#[test_matrix(
    [
        "4.10-4K-39", "4.10-4K-48", "4.10-16K-47", "4.10-16K-48", "4.10-64K-42", "4.10-64K-48",
        "6.12-4K-39", "6.12-4K-48", "6.12-16K-47", "6.12-16K-48", "6.12-64K-42", "6.12-64K-48", "6.12-64K-52"
    ],
    ["unmapped-read", "rodata-write", "exec-data", "stack-overflow"]
)]
fn faults_are_reported_in_every_flavour(name: &str, kind: &str) {
    let l = layout(name);
    let out = boot(name, Machine { append: format!("test=fault:{kind}"), ..machine() });
    out.expect_code(4).unwrap_or_else(|e| panic!("{name} fault:{kind}: {e}"));
    let c = &out.console;
    let header = format!("swapper pgtable: {}k pages, {}-bit VAs", l.page_size() >> 10, l.va_bits());
    let expect: Vec<String> = match kind {
        "unmapped-read" => {
            // The kernel's choice, from the flavour's vmalloc area.
            let (start, end) = (l.vmalloc_start(), l.vmalloc_end(l.va_bits()));
            let va = if end - start > 2 << 40 {
                start + (1 << 40)
            } else {
                (start + (end - start) / 4 * 3) & !(l.page_size() - 1)
            };
            vec![
                format!("Unable to handle kernel paging request at virtual address {va:016x}"),
                "translation fault".into(),
                "is in: vmalloc".into(),
                header,
                format!("[{va:016x}] "),
            ]
        }
        "rodata-write" => vec![
            "Unable to handle kernel write to read-only memory at virtual address".into(),
            "level 3 permission fault".into(),
            "WnR = 1".into(),
            "is in: kernel image".into(),
            header,
        ],
        "exec-data" => vec![
            "Unable to handle kernel execute from non-executable memory".into(),
            "EC = 0x21: IABT (current EL)".into(),
            "level 3 permission fault".into(),
            header,
        ],
        "stack-overflow" => vec![
            "Insufficient stack space to handle exception!".into(),
            "kernel stack overflow".into(),
            "its guard page is below it".into(),
            "level 3 translation fault".into(),
        ],
        _ => unreachable!(),
    };
    has(c, &expect.iter().map(String::as_str).collect::<Vec<_>>());
    has(c, &["Call trace:", "stopping: kernel fault (exit code 4)"]);
}

/// The monitor's translation and table commands in every flavour: `pa` of
/// a linear address agrees with the MMU, `va` gives the linear map's start,
/// `walk` starts at the flavour's root, and `ptdump` and `layout` print the
/// flavour's regions.
#[test_matrix([
    "4.10-4K-39", "4.10-4K-48", "4.10-16K-47", "4.10-16K-48", "4.10-64K-42", "4.10-64K-48",
    "6.12-4K-39", "6.12-4K-48", "6.12-16K-47", "6.12-16K-48", "6.12-64K-42", "6.12-64K-48", "6.12-64K-52"
])]
fn monitor_works_in_every_flavour(name: &str) {
    let l = layout(name);
    let lin = l.page_offset() + 0x1000;
    let input = format!("pa {lin:#x}\nva 0x4000_0000\npa _text\nwalk {lin:#x}\nptdump\nlayout\n");
    let m = Machine { cpu: "max".into(), ..machine() };
    let out = m.run_with_input(&kernel_checked(name).image, Some(input.as_bytes())).unwrap();
    out.expect_code(0).unwrap_or_else(|e| panic!("{name}: {e}"));
    let c = &out.console;
    has(
        c,
        &[
            &format!("__pa({}) = 0x0000_0000_4000_1000 (linear rule)", Addr(lin)),
            "MMU (AT S1E1R): 0x0000_0000_4000_1000",
            &format!("__va(0x0000_0000_4000_0000) = {}", Addr(l.page_offset())),
            &format!("__pa({}) = 0x0000_0000_4", Addr(l.kimage_vaddr())),
            "(image rule)",
            &format!("[{lin:016x}] "),
            "---[ Linear mapping ]---",
            "Virtual kernel memory layout:",
            &format!("    vmalloc : {} - {}", Addr(l.vmalloc_start()), Addr(l.vmalloc_end(l.va_bits()))),
        ],
    );
    assert!(!c.contains("MISMATCH"), "{name}: {c}");
}

/// Every matrix above names every flavour, so that a flavour added later
/// cannot be left out of these checks unnoticed.
#[test]
fn every_matrix_lists_every_flavour() {
    let src = include_str!("flavour_features.rs");
    let starts: Vec<usize> = src.match_indices("\n#[test_matrix(").map(|(i, _)| i).collect();
    assert_eq!(starts.len(), 4, "matrices in this file");
    for start in starts {
        let head = &src[start..start + src[start..].find("\nfn ").unwrap()];
        for l in vakern::mm::flavour::FLAVOURS {
            assert!(head.contains(&format!("\"{l}\"")), "{l} is missing from:\n{head}");
        }
    }
}
