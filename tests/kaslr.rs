//! KASLR tests: a pass means the image moves with the seed (two seeds, two
//! addresses, the same behaviour), stays at KIMAGE_VADDR without a seed or
//! with `nokaslr`, that QEMU's own seed is used and wiped from the device
//! tree, and that every address the kernel prints or checks stays
//! consistent with where the image really is.

mod common;
use common::*;
use vakern::mm::fmt::Addr;
use vakern::qemu::{Kaslr, Machine};

fn text_of(c: &str) -> u64 {
    let l = c.lines().find(|l| l.contains("_text  0x")).unwrap_or_else(|| panic!("no _text in:\n{c}"));
    u64::from_str_radix(&l.split("0x").nth(1).unwrap().replace('_', "")[..16], 16).unwrap()
}

#[test]
fn two_seeds_two_addresses_same_behaviour() {
    let mut texts = Vec::new();
    for seed in [1u64, 2] {
        let m = Machine { kaslr: Kaslr::Seed(seed), ..machine() };
        let mut all = String::new();
        for t in ["layout", "reloc", "kaslr", "translate", "linear", "vmalloc"] {
            all += &selftest(m.clone(), t, 0, false);
        }
        let text = text_of(&all);
        // Everything the kernel prints agrees with where the image is.
        assert!(all.contains(&format!("      .text : {}", Addr(text))), "layout table disagrees:\n{all}");
        assert!(all.contains("seed from kaslr_seed= on the command line"), "{all}");
        let voff = all.lines().find_map(|l| l.split("kimage_voffset ").nth(1)).unwrap();
        assert!(voff.starts_with(&format!("{}", Addr(text.wrapping_sub(0x4020_0000)))), "{voff}");
        texts.push(text);
    }
    assert_ne!(texts[0], texts[1], "two seeds gave the same _text");
    for t in &texts {
        assert_eq!(t & 0x1f_ffff, 0);
        assert!(*t >= 0xffff_0000_0800_0000 && *t < 0xffff_0000_2800_0000, "{t:#x} outside the window");
    }
}

#[test]
fn same_seed_same_address() {
    let m = Machine { kaslr: Kaslr::Seed(12345), append: "poweroff".into(), ..machine() };
    let a = text_of(&boot(&m, false).console);
    let b = text_of(&boot(&m, false).console);
    assert_eq!(a, b);
}

#[test]
fn nokaslr_and_no_seed_keep_the_fixed_address() {
    let m = Machine { kaslr: Kaslr::Seed(99), append: "nokaslr poweroff".into(), ..machine() };
    let c = boot(&m, false).console;
    assert_eq!(text_of(&c), 0xffff_0000_0800_0000, "{c}");
    assert!(c.contains("KASLR: off (disabled by nokaslr)"), "{c}");
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
