//! Passing means: the early KASLR scan (`vakern_mm::kaslr::scan`, run by
//! the kernel before relocation) finds `/chosen/kaslr-seed` and its offset
//! in the blob, honours `nokaslr` and `kaslr_seed=N` as whole words, ignores
//! properties of other nodes, distrusts a tree that does not fit the mapped
//! window or fails a check, and turns seeds into aligned offsets inside the
//! window, spread over its slots.

mod common;

use common::{fixture, put32, FdtBuilder, DTB_FIXTURES};
use std::collections::BTreeSet;
use vakern_mm::dtb::{parse_memory, Dtb};
use vakern_mm::kaslr::*;

fn tree(chosen: impl FnOnce(&mut FdtBuilder)) -> Vec<u8> {
    let mut b = FdtBuilder::new();
    b.begin("").prop_u32("#address-cells", &[2]).prop_u32("#size-cells", &[2]);
    b.begin("memory@40000000").prop_str("device_type", "memory").reg((2, 2), &[(0x4000_0000, 1 << 30)]).end();
    b.nop();
    b.begin("chosen");
    chosen(&mut b);
    b.end();
    b.end();
    b.finish()
}

#[test]
fn seed_from_the_device_tree_with_its_place() {
    let blob = tree(|b| {
        b.prop_str("bootargs", "console=ttyAMA0 earlycon").prop_u32("kaslr-seed", &[0x1234_5678, 0x9abc_def0]);
    });
    let c = scan(&blob);
    assert_eq!((c.source, c.seed), (SOURCE_DTB, 0x1234_5678_9abc_def0));
    let off = c.seed_offset.expect("offset of the seed");
    assert_eq!(blob[off..off + 8], 0x1234_5678_9abc_def0u64.to_be_bytes());
    // The full parser reads the same seed; once wiped, it reads zero.
    assert_eq!(parse_memory(&Dtb::new(&blob).unwrap()).unwrap().kaslr_seed, Some(c.seed));
    let mut wiped = blob.clone();
    wiped[off..off + 8].fill(0);
    assert_eq!(parse_memory(&Dtb::new(&wiped).unwrap()).unwrap().kaslr_seed, Some(0));
}

#[test]
fn command_line_words() {
    let with_args = |args: &str| {
        let args = args.to_string();
        scan(&tree(move |b| {
            b.prop_str("bootargs", &args).prop_u32("kaslr-seed", &[0, 7]);
        }))
    };
    assert_eq!(with_args("nokaslr").source, SOURCE_DISABLED);
    assert_eq!(with_args("console=ttyAMA0 nokaslr loglevel=7").source, SOURCE_DISABLED);
    assert_eq!(with_args("kaslr_seed=5 nokaslr").source, SOURCE_DISABLED);
    // Not whole words: the device tree's seed is used.
    assert_eq!(with_args("nokaslrx").source, SOURCE_DTB);
    assert_eq!(with_args("xnokaslr").source, SOURCE_DTB);
    let c = with_args("earlycon kaslr_seed=123456");
    assert_eq!((c.source, c.seed, c.seed_offset), (SOURCE_CMDLINE, 123_456, None));
    assert_eq!(with_args("kaslr_seed=1 kaslr_seed=2").seed, 2, "the last one counts");
    assert_eq!(with_args("mykaslr_seed=9").source, SOURCE_DTB);
    // No seed at all.
    assert_eq!(
        scan(&tree(|b| {
            b.prop_str("bootargs", "earlycon");
        }))
        .source,
        SOURCE_NONE
    );
}

#[test]
fn only_chosen_counts() {
    let mut b = FdtBuilder::new();
    b.begin("").prop_u32("#address-cells", &[2]).prop_u32("#size-cells", &[2]);
    b.begin("memory@40000000").prop_str("device_type", "memory").reg((2, 2), &[(0x4000_0000, 1 << 30)]).end();
    b.begin("other").prop_u32("kaslr-seed", &[0, 9]).prop_str("bootargs", "nokaslr").end();
    b.begin("chosen").begin("chosen").prop_str("bootargs", "nokaslr").end().end();
    b.end();
    assert_eq!(scan(&b.finish()).source, SOURCE_NONE);
    // A seed that is not 8 bytes is no seed.
    assert_eq!(
        scan(&tree(|b| {
            b.prop_u32("kaslr-seed", &[7]);
        }))
        .source,
        SOURCE_NONE
    );
}

#[test]
fn untrusted_trees_are_left_for_the_parser() {
    let blob = tree(|b| {
        b.prop_u32("kaslr-seed", &[0, 7]);
    });
    assert_eq!(scan(&blob).source, SOURCE_DTB);
    // The mapped window ends before totalsize.
    assert_eq!(scan(&blob[..blob.len() - 1]).source, SOURCE_NO_TREE);
    assert_eq!(scan(&blob[..20]).source, SOURCE_NO_TREE);
    assert_eq!(scan(&[]).source, SOURCE_NO_TREE);
    // A broken structure after /chosen: nothing is used, even the seed found first.
    let mut b = FdtBuilder::new();
    b.begin("").begin("chosen").prop_u32("kaslr-seed", &[0, 7]).end();
    b.raw(0x77);
    let bad = b.finish();
    assert!(Dtb::new(&bad).is_err());
    assert_eq!(scan(&bad).source, SOURCE_NO_TREE);
    // A property length that runs past the block.
    let mut long = blob.clone();
    let pos = long.windows(4).position(|w| w == [0, 0, 0, 3]).unwrap();
    put32(&mut long, pos + 4, 0x7fff_fff0);
    assert_eq!(scan(&long).source, SOURCE_NO_TREE);
}

#[test]
fn qemu_trees_are_trusted() {
    for name in DTB_FIXTURES {
        let blob = fixture(name);
        let c = scan(&blob);
        assert_ne!(c.source, SOURCE_NO_TREE, "{name}");
        let info = parse_memory(&Dtb::new(&blob).unwrap()).unwrap();
        assert_eq!(c.source == SOURCE_DTB, info.kaslr_seed.is_some(), "{name}");
    }
}

#[test]
fn offsets_are_aligned_slots_of_the_window() {
    let (window, step) = (512u64 << 20, 2u64 << 20);
    let mut seen = BTreeSet::new();
    for seed in 0..2000u64 {
        let o = offset_for(seed, window, step);
        assert!(o < window && o.is_multiple_of(step), "seed {seed}: offset {o:#x}");
        seen.insert(o);
    }
    // 2000 consecutive seeds over 256 slots: nearly all slots are hit.
    assert!(seen.len() > 240, "only {} of 256 slots used", seen.len());
    assert_ne!(offset_for(1, window, step), offset_for(2, window, step));
}
