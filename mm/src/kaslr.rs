//! The KASLR decision the early code makes before relocation (boot stage 3):
//! read `/chosen/kaslr-seed` and `/chosen/bootargs` from the device tree
//! through the one walker ([`fdt_walk`](crate::fdt_walk)), honour `nokaslr`
//! and `kaslr_seed=N`, and turn the seed into an offset.
//!
//! Like the walker, everything here is `#[inline(always)]`, panic-free and
//! library-call-free, so the early code can run it from the identity map.
//! A tree that fails any check gives [`SOURCE_NO_TREE`]: the image stays at
//! KIMAGE_VADDR and the full parse in `start_kernel` rejects the tree with
//! a message (exit code 2).

use crate::fdt_walk::{be64, bytes_eq, Header, RawToken, Walker};
use crate::layout;

/// No seed anywhere: the image stays at KIMAGE_VADDR.
pub const SOURCE_NONE: u64 = 0;
/// The seed came from `/chosen/kaslr-seed` (the caller wipes it).
pub const SOURCE_DTB: u64 = 1;
/// The seed came from `kaslr_seed=N` on the command line.
pub const SOURCE_CMDLINE: u64 = 2;
/// `nokaslr` on the command line.
pub const SOURCE_DISABLED: u64 = 3;
/// No device tree the early code could trust.
pub const SOURCE_NO_TREE: u64 = 4;

/// What the scan found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice {
    /// One of the `SOURCE_*` values.
    pub source: u64,
    /// The seed (0 unless the source is [`SOURCE_DTB`] or [`SOURCE_CMDLINE`]).
    pub seed: u64,
    /// For [`SOURCE_DTB`]: the offset of the seed's 8 bytes in the blob, to wipe.
    pub seed_offset: Option<usize>,
}

impl Choice {
    #[inline(always)]
    const fn of(source: u64) -> Choice {
        Choice { source, seed: 0, seed_offset: None }
    }
}

/// True if `args` has `word` at `i` at the start of a word.
#[inline(always)]
fn word_at(args: &[u8], i: usize, word: &[u8]) -> bool {
    let starts_word = i == 0 || args.get(i - 1) == Some(&b' ');
    starts_word && args.get(i..i.saturating_add(word.len())).is_some_and(|w| bytes_eq(w, word))
}

/// Look for `nokaslr` (a whole word) and `kaslr_seed=N` in the command line
/// (a property value, NUL-terminated or not).
#[inline(always)]
fn cmdline(args: &[u8]) -> Option<Choice> {
    let mut seed = None;
    let mut i = 0;
    while i < args.len() {
        if word_at(args, i, b"nokaslr") && matches!(args.get(i + 7), None | Some(b' ') | Some(0)) {
            return Some(Choice::of(SOURCE_DISABLED));
        }
        if word_at(args, i, b"kaslr_seed=") {
            let mut v = 0u64;
            let mut k = i + 11;
            while let Some(d) = args.get(k).filter(|d| d.is_ascii_digit()) {
                v = v.wrapping_mul(10).wrapping_add((d - b'0') as u64);
                k += 1;
            }
            seed = Some(v);
        }
        i += 1;
    }
    seed.map(|s| Choice { source: SOURCE_CMDLINE, seed: s, seed_offset: None })
}

/// Scan the device tree at the start of `bytes` (everything the caller has
/// mapped from its first byte on). The whole tree is walked and checked
/// before anything found in it is used.
#[inline(always)]
pub fn scan(bytes: &[u8]) -> Choice {
    let Ok(header) = Header::check(bytes) else { return Choice::of(SOURCE_NO_TREE) };
    let (_, structs, strings) = header.blocks(bytes);
    let mut w = Walker::new(structs, strings);
    let mut in_chosen = false;
    let (mut seed, mut args): (Option<(u64, usize)>, &[u8]) = (None, &[]);
    loop {
        match w.next_token() {
            Err(_) => return Choice::of(SOURCE_NO_TREE),
            Ok(None) => break,
            Ok(Some((RawToken::Begin(name), depth))) => in_chosen = depth == 2 && bytes_eq(name, b"chosen"),
            Ok(Some((RawToken::End, _))) => in_chosen = false,
            Ok(Some((RawToken::Prop { name, value, value_offset }, _))) if in_chosen => {
                if bytes_eq(name, b"kaslr-seed") && value.len() == 8 {
                    seed = be64(value, 0).map(|s| (s, header.structs.0 + value_offset));
                } else if bytes_eq(name, b"bootargs") {
                    args = value;
                }
            }
            Ok(Some(_)) => {}
        }
    }
    // The seed's place is reported whatever the command line says, so the
    // caller wipes it on every path (`nokaslr` and `kaslr_seed=` included),
    // as Linux reads and wipes it before it looks at the command line.
    let seed_offset = seed.map(|(_, off)| off);
    if let Some(c) = cmdline(args) {
        return Choice { seed_offset, ..c };
    }
    match seed {
        Some((s, off)) => Choice { source: SOURCE_DTB, seed: s, seed_offset: Some(off) },
        None => Choice::of(SOURCE_NONE),
    }
}

/// Where the image may go: `[KIMAGE_VADDR, KIMAGE_VADDR + KASLR_WINDOW)`.
/// Linux 4.10 takes the seed's bits under `VA_BITS - 2`, that is the lower
/// part of the vmalloc area, a quarter of the kernel half of the address
/// space (64 TiB of the ~126 TiB vmalloc area with 48-bit VAs).
pub const KASLR_WINDOW: u64 = 1 << (layout::VA_BITS_MIN - 2);
/// The step: 2 MiB whatever the page size (Linux rounds to 2 MiB so that
/// the image can still be mapped with blocks and contiguous runs).
pub const KASLR_ALIGN: u64 = 2 << 20;
/// The span of one level-2 table: the early code maps the image with a
/// single one, so the image may not cross a multiple of it (Linux's
/// `SWAPPER_TABLE_SHIFT` rule). With two levels the root is the level-2
/// table and spans the whole kernel half, so there is no line to avoid.
pub const KASLR_TABLE_SPAN: u64 = if layout::ROOT_LEVEL < 2 { layout::PUD_SIZE } else { 1 << layout::VA_BITS };

/// The largest image the early tables map (`linker.ld` checks it).
const MAX_IMAGE: u64 = layout::MAX_IMAGE_SIZE;
// Wherever the seed puts it, the image (moved up by at most its own size
// past a table line) stays inside the vmalloc area, and a level-2 table
// spans more than the largest image.
const _: () = assert!(layout::KIMAGE_VADDR + KASLR_WINDOW + 2 * MAX_IMAGE <= layout::VMALLOC_END);
const _: () = assert!(KASLR_TABLE_SPAN > 2 * MAX_IMAGE);

/// Spread the seed's bits (a splitmix64 finaliser). A bijection of `u64`:
/// a uniformly random seed stays uniformly random, so the positions keep
/// exactly the entropy Linux's raw seed gives, and small command-line
/// seeds (`kaslr_seed=1`, `2`) land far apart.
#[inline(always)]
pub const fn mix(seed: u64) -> u64 {
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    x = (x ^ (x >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^ (x >> 29)
}

/// Linux 4.10's placement for `bits` (the mixed seed): the offset from
/// KIMAGE_VADDR is `bits` masked to the window in 2 MiB steps; if the image
/// (`size` bytes, starting `modulo` bytes into its 2 MiB, the load
/// address's own offset, which is kept) would then cross a level-2 table's
/// span, it moves up by its size rounded to 2 MiB, wrapping in the window.
#[inline(always)]
pub const fn position(bits: u64, size: u64, modulo: u64) -> u64 {
    let mask = (KASLR_WINDOW - 1) & !(KASLR_ALIGN - 1);
    let offset = bits & mask;
    let start = layout::KIMAGE_VADDR + offset + modulo;
    let last = start + size - 1;
    if start / KASLR_TABLE_SPAN != last / KASLR_TABLE_SPAN {
        let rounded = (size + KASLR_ALIGN - 1) & !(KASLR_ALIGN - 1);
        (offset + rounded) & mask
    } else {
        offset
    }
}

/// The KASLR offset for `seed` and an image of `size` bytes loaded `modulo`
/// bytes into a 2 MiB block: [`position`] of [`mix`]`(seed)`.
#[inline(always)]
pub const fn offset_for_image(seed: u64, size: u64, modulo: u64) -> u64 {
    position(mix(seed), size, modulo)
}
