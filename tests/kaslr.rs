//! KASLR tests: a pass means the image moves with the seed (two seeds, two
//! addresses, the same behaviour), stays at KIMAGE_VADDR without a seed or
//! with `nokaslr`, that QEMU's own seed is used and wiped from the device
//! tree, and that every address the kernel prints or checks stays
//! consistent with where the image really is.

mod common;
use common::*;
use test_case::test_matrix;
use vakern::mm::fmt::Addr;
use vakern::qemu::{Kaslr, Machine};

fn text_of(c: &str) -> u64 {
    let l = c.lines().find(|l| l.contains("_text  0x")).unwrap_or_else(|| panic!("no _text in:\n{c}"));
    u64::from_str_radix(&l.split("0x").nth(1).unwrap().replace('_', "")[..16], 16).unwrap()
}

/// With seed `seed`, the self-test `test` passes and everything the kernel
/// prints agrees with where the image is.
#[test_matrix([1, 2], ["layout", "reloc", "kaslr", "translate", "linear", "vmalloc"])]
fn a_seed_moves_the_image_consistently(seed: u64, test: &str) {
    let group = ["layout", "reloc", "kaslr", "translate", "linear", "vmalloc"];
    let c = selftest_of(Machine { kaslr: Kaslr::Seed(seed), ..machine() }, test, &group, false);
    let text = text_of(&c);
    assert_eq!(text & 0x1f_ffff, 0);
    // Linux 4.10's window with 48-bit VAs: 2^46 bytes from KIMAGE_VADDR.
    assert!((0xffff_0000_0800_0000..0xffff_4000_0800_0000).contains(&text), "{text:#x} outside the window");
    assert!(c.contains(&format!("      .text : {}", Addr(text))), "layout table disagrees:\n{c}");
    assert!(c.contains("seed from kaslr_seed= on the command line"), "{c}");
    let voff = c.lines().find_map(|l| l.split("kimage_voffset ").nth(1)).unwrap();
    assert!(voff.starts_with(&format!("{}", Addr(text.wrapping_sub(0x4020_0000)))), "{voff}");
}

#[test]
fn two_seeds_two_addresses() {
    let at = |seed| {
        text_of(&boot(&Machine { kaslr: Kaslr::Seed(seed), append: "poweroff".into(), ..machine() }, false).console)
    };
    assert_ne!(at(1), at(2), "two seeds gave the same _text");
}

#[test]
fn same_seed_same_address() {
    let m = Machine { kaslr: Kaslr::Seed(12345), append: "poweroff".into(), ..machine() };
    let a = text_of(&boot(&m, false).console);
    let b = text_of(&boot(&m, false).console);
    assert_eq!(a, b);
}

#[test]
fn nokaslr_keeps_the_fixed_address() {
    let m = Machine { kaslr: Kaslr::Seed(99), append: "nokaslr poweroff".into(), ..machine() };
    let c = boot(&m, false).console;
    assert_eq!(text_of(&c), 0xffff_0000_0800_0000, "{c}");
    assert!(c.contains("KASLR: off (disabled by nokaslr)"), "{c}");
}

/// QEMU's random `/chosen/kaslr-seed` is wiped even when `nokaslr` says not
/// to use it (Linux wipes it before it reads the command line).
#[test]
fn nokaslr_still_wipes_the_seed() {
    let m = Machine { kaslr: Kaslr::Random, append: "nokaslr".into(), ..machine() };
    let c = selftest(m, "kaslr", 0, false);
    assert!(c.contains("KASLR: off (disabled by nokaslr)"), "{c}");
    assert!(c.contains("kaslr-seed after the early code: 0x0"), "{c}");
}

/// A few boots with random seeds: each lands on its own 2 MiB slot of the
/// window (2^25 of them: a repeat among 6 would be a 1 in 10^6 event).
#[test]
fn random_seeds_spread_over_the_window() {
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let c = boot(&Machine { kaslr: Kaslr::Random, append: "poweroff".into(), ..machine() }, false).console;
        let text = text_of(&c);
        assert!((0xffff_0000_0800_0000..0xffff_4000_0800_0000).contains(&text), "{text:#x}");
        seen.insert(text);
    }
    assert_eq!(seen.len(), 6, "{seen:x?}");
}

#[test]
fn no_seed_keeps_the_fixed_address() {
    let c = selftest(machine(), "kaslr", 0, false);
    assert_eq!(text_of(&c), 0xffff_0000_0800_0000);
    assert!(c.contains("KASLR: off (no seed in the device tree)"), "{c}");
}

#[test]
fn qemu_seed_is_used_and_wiped() {
    let m = Machine { kaslr: Kaslr::Random, ..machine() };
    let c = selftest(m, "kaslr", 0, false);
    assert!(c.contains("seed from /chosen/kaslr-seed (wiped from the device tree)"), "{c}");
}

#[test]
fn debug_virtual_is_clean_under_kaslr() {
    let m = Machine { kaslr: Kaslr::Seed(3), ..machine() };
    let c = selftest(m, "translate", 0, true);
    assert!(c.contains("debug_virtual: 0 report(s) during boot"), "{c}");
}

#[test]
fn monitor_translates_under_kaslr() {
    let k = kernel(false);
    let m = Machine { kaslr: Kaslr::Seed(5), ..machine() };
    let out = m.run_with_input(&k.image, Some(b"pa _text\n")).unwrap();
    out.expect_code(0).unwrap();
    let text = text_of(&out.console);
    assert!(
        out.console.contains(&format!("__pa({}) = 0x0000_0000_4020_0000 (image rule)", Addr(text))),
        "{}",
        out.console
    );
    assert!(!out.console.contains("MISMATCH"));
}
