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
    if let Some(c) = cmdline(args) {
        return c;
    }
    match seed {
        Some((s, off)) => Choice { source: SOURCE_DTB, seed: s, seed_offset: Some(off) },
        None => Choice::of(SOURCE_NONE),
    }
}

/// The offset for `seed`: one of the `window / step` slots, picked after
/// spreading the seed's bits (a splitmix64 finaliser), so nearby seeds land
/// far apart.
#[inline(always)]
pub fn offset_for(seed: u64, window: u64, step: u64) -> u64 {
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    x = (x ^ (x >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 29;
    let slots = (window / step).max(1);
    (x % slots) * step
}
