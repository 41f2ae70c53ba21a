//! Passing means: the early KASLR scan (`vakern_mm::kaslr::scan`, run by
//! the kernel before relocation) finds `/chosen/kaslr-seed` and its offset
//! in the blob, honours `nokaslr` and `kaslr_seed=N` as whole words, ignores
//! properties of other nodes, distrusts a tree that does not fit the mapped
//! window or fails a check, reports the seed's place to wipe on every path,
//! and turns seeds into Linux 4.10's positions: 2 MiB aligned offsets in
//! the lower `2^(VA_BITS - 2)` of the vmalloc area, never crossing a
//! level-2 table, with the entropy counted.

use crate::common;

use common::{fixture, put32, Draws, FdtBuilder, DTB_FIXTURES};
use vakern_mm::dtb::{parse_memory, Dtb};
use vakern_mm::kaslr::*;
use vakern_mm::layout::{self, KIMAGE_VADDR, VMALLOC_END};

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
    assert_eq!((c.source, c.seed), (SOURCE_CMDLINE, 123_456));
    // The seed in the tree is still found, to be wiped, on every path: its
    // place holds the tree's seed (0, 7).
    for args in ["", "earlycon kaslr_seed=123456", "nokaslr", "kaslr_seed=5 nokaslr"] {
        let blob = tree(|b| {
            b.prop_str("bootargs", args).prop_u32("kaslr-seed", &[0, 7]);
        });
        let off = scan(&blob).seed_offset.unwrap_or_else(|| panic!("{args:?} hides the seed to wipe"));
        assert_eq!(blob[off..off + 8], [0, 0, 0, 0, 0, 0, 0, 7], "{args:?}");
    }
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

/// Image sizes and load offsets within 2 MiB to place: a small image, one
/// just under the early tables' 4 MiB limit, odd load offsets.
const IMAGES: [(u64, u64); 4] = [(0x2f_2000, 0), (0x2f_2000, 0x1_0000), (0x3f_f000, 0x1f_f000), (0x10_0000, 0x8_0000)];

/// Every position is in the window, 2 MiB aligned (plus the kept load
/// offset), and the image never crosses a level-2 table's span.
fn valid(o: u64, size: u64, modulo: u64) -> bool {
    let start = KIMAGE_VADDR + o + modulo;
    o < KASLR_WINDOW
        && o.is_multiple_of(KASLR_ALIGN)
        && start / KASLR_TABLE_SPAN == (start + size - 1) / KASLR_TABLE_SPAN
        && start + size <= VMALLOC_END
}

#[test]
fn offsets_are_aligned_slots_of_the_window_and_never_cross_a_table() {
    let mut rng = Draws::new(0x6b61_736c);
    for &(size, modulo) in &IMAGES {
        for _ in 0..20_000 {
            let seed = rng.next_u64();
            let o = offset_for_image(seed, size, modulo);
            assert!(valid(o, size, modulo), "seed {seed:#x}: offset {o:#x} for {size:#x}+{modulo:#x}");
        }
        // The slots next to every table line, exhaustively.
        let slots_per_span = KASLR_TABLE_SPAN / KASLR_ALIGN;
        for line in 0..(KASLR_WINDOW / KASLR_TABLE_SPAN).min(64) {
            for back in 0..4 {
                let bits = (line + 1) * slots_per_span * KASLR_ALIGN - back * KASLR_ALIGN;
                let o = position(bits.wrapping_sub(KIMAGE_VADDR % KASLR_TABLE_SPAN), size, modulo);
                assert!(valid(o, size, modulo), "bits {bits:#x}: offset {o:#x}");
            }
        }
    }
    // Nearby command-line seeds land far apart.
    let (a, b) = (offset_for_image(1, 0x2f_2000, 0), offset_for_image(2, 0x2f_2000, 0));
    assert_ne!(a, b);
}

/// The entropy, counted: over every value of the seed bits the position
/// uses, how many distinct positions come out (mixing is a bijection of the
/// seed, so a random seed reaches each with the same probability as
/// Linux's raw seed). With 48-bit VAs: 2^25 slots of 2 MiB in 64 TiB, less
/// the few that would cross a 1 GiB line, which fold onto their neighbours.
#[test]
fn distinct_positions_give_at_least_linux_4_10s_entropy() {
    let slots = KASLR_WINDOW / KASLR_ALIGN;
    for &(size, modulo) in &IMAGES {
        let mut seen = vec![0u64; (slots as usize).div_ceil(64)];
        let mut distinct = 0u64;
        for slot in 0..slots {
            let o = position(slot * KASLR_ALIGN, size, modulo);
            let k = (o / KASLR_ALIGN) as usize;
            if seen[k / 64] & (1 << (k % 64)) == 0 {
                seen[k / 64] |= 1 << (k % 64);
                distinct += 1;
            }
        }
        let bits = (distinct as f64).log2();
        println!("image {size:#x} at +{modulo:#x}: {distinct} distinct positions of {slots}: {bits:.3} bits");
        // Linux 4.10 for this layout: VA_BITS - 2 - 21 bits of 2 MiB slots,
        // less the crossing slots; never fewer than 99% of them.
        assert!(distinct * 100 >= slots * 99, "{distinct} of {slots}");
        assert!(bits >= (layout::VA_BITS_MIN - 2 - 21) as f64 - 0.02, "{bits} bits");
    }
    // And over random seeds through the mixer: nearly all distinct.
    let mut rng = Draws::new(7);
    let mut set = std::collections::BTreeSet::new();
    for _ in 0..100_000 {
        set.insert(offset_for_image(rng.next_u64(), 0x2f_2000, 0));
    }
    assert!(set.len() > 99_000, "{} distinct of 100000 random seeds", set.len());
}

/// Undo `x ^ (x >> s)`: each pass recovers `s` more of the high bits.
fn unshift(y: u64, s: u32) -> u64 {
    let mut x = y;
    for _ in 0..64 / s {
        x = y ^ (x >> s);
    }
    x
}

/// The inverse of an odd number modulo 2^64 (Newton's iteration: each step
/// doubles the number of correct low bits).
fn inverse_mod_2_64(a: u64) -> u64 {
    let mut x = a;
    for _ in 0..6 {
        x = x.wrapping_mul(2u64.wrapping_sub(a.wrapping_mul(x)));
    }
    assert_eq!(a.wrapping_mul(x), 1);
    x
}

/// `mix` is the bijection its documentation says, step by step: undoing
/// the final xor-shift by 29, the multiplication by 0xbf58_476d_1ce4_e5b9,
/// the xor-shift by 31 and the xor with 0x9e37_79b9_7f4a_7c15 gives the
/// seed back, for random seeds and at the edges.
#[test]
fn mix_is_undone_by_its_inverse() {
    let m_inv = inverse_mod_2_64(0xbf58_476d_1ce4_e5b9);
    let unmix = |y: u64| unshift(unshift(y, 29).wrapping_mul(m_inv), 31) ^ 0x9e37_79b9_7f4a_7c15;
    let mut rng = Draws::new(0x006d_6978);
    let edges = [0, 1, 2, u64::MAX, 1 << 63, 0x9e37_79b9_7f4a_7c15];
    for seed in edges.into_iter().chain((0..10_000).map(|_| rng.next_u64())) {
        assert_eq!(unmix(mix(seed)), seed, "seed {seed:#x}");
    }
    // The seed 0x9e37_79b9_7f4a_7c15 is zero after the first step, and
    // every later step keeps zero.
    assert_eq!(mix(0x9e37_79b9_7f4a_7c15), 0);
}

/// At a level-2 table's line (1 GiB with the host build's 4 KiB pages): an
/// image that would cross it moves up by its size rounded to 2 MiB, one
/// that ends just before it stays, with the load offset kept in both.
#[test]
fn an_image_crossing_a_table_line_moves_up_by_its_rounded_size() {
    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;
    assert_eq!(KASLR_TABLE_SPAN, GIB);
    // The first line above the image's base, as an offset from it.
    let line = layout::align_up(KIMAGE_VADDR + 1, GIB) - KIMAGE_VADDR;
    let images = [
        (0x2f_2000, 0, 4 * MIB),
        (0x2f_2000, 0x1_0000, 4 * MIB),
        (0x10_0000, 0x8_0000, 2 * MIB),
        (2 * MIB, 0x1000, 2 * MIB),
        (2 * MIB + 0x1000, 0, 4 * MIB),
    ];
    for (size, modulo, rounded) in images {
        // Starts 2 MiB below the line: crosses it unless it fits in 2 MiB.
        let o = line - 2 * MIB;
        let crosses = modulo + size > 2 * MIB;
        let want = if crosses { o + rounded } else { o };
        assert_eq!(position(o, size, modulo), want, "{size:#x}+{modulo:#x}");
        // The bits above the window and below 2 MiB are dropped first.
        assert_eq!(position(o | (KASLR_ALIGN - 1) | KASLR_WINDOW, size, modulo), want);
        // Ends on the line at the latest: stays.
        let o = line - 4 * MIB;
        assert_eq!(position(o, size, modulo), o, "{size:#x}+{modulo:#x}");
    }
    // The last byte exactly on the line's last byte stays; one more crosses.
    let o = line - 4 * MIB;
    assert_eq!(position(o, 4 * MIB, 0), o);
    assert_eq!(position(o, 4 * MIB, 0x1000), o + 4 * MIB);
    // The top slot of the window, far from any line, stays.
    let top = KASLR_WINDOW - KASLR_ALIGN;
    assert_eq!(position(u64::MAX, 0x2f_2000, 0), top);
    assert_eq!(offset_for_image(5, 0x2f_2000, 0), position(mix(5), 0x2f_2000, 0));
}

/// A pass means in every flavour a level-2 table spans one level-1 entry,
/// which with two levels is the whole kernel half: the span the placement
/// keeps the image from crossing.
#[test]
fn a_level_2_table_spans_one_level_1_entry_in_every_flavour() {
    for l in vakern_mm::flavour::FLAVOURS {
        let level2_table = (1u64 << l.bits_per_level()) * l.pmd_size();
        let span = if l.root_level() == 2 { 1 << l.va_bits() } else { level2_table };
        assert_eq!(l.pud_size(), span, "{l}");
    }
}
